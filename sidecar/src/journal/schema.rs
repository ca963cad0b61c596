//! The schema, its migrations, and how connections are opened.
//!
//! Migrations are versioned by `PRAGMA user_version`: `MIGRATIONS[i]` takes the schema from
//! version `i` to `i + 1`. Append new entries; never edit a released one.

use super::error::JournalError;
use super::owner::{Owner, holds_run};
use super::types::{now_ms, to_u64};
use rusqlite::{Connection, OpenFlags, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

/// How long a statement waits for another process's write lock before giving up.
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// JSON columns are TEXT holding serialized JSON. Tables are STRICT so a wrongly typed write
/// fails loudly instead of being stored as something else.
const V1: &str = r#"
CREATE TABLE runs (
    run_id        TEXT PRIMARY KEY NOT NULL,
    script_path   TEXT NOT NULL,
    script_text   TEXT NOT NULL,
    dialect       TEXT NOT NULL,
    args          TEXT NOT NULL,
    cwd           TEXT NOT NULL,
    config        TEXT NOT NULL,
    model_map     TEXT NOT NULL,
    budget_tokens INTEGER,
    budget_usd    REAL,
    dry_run       INTEGER NOT NULL DEFAULT 0,
    state         TEXT NOT NULL CHECK (state IN
                    ('running','succeeded','failed','cancelled','budget_exhausted','interrupted')),
    error         TEXT,
    result        TEXT,
    owner         TEXT,
    heartbeat_ms  INTEGER NOT NULL,
    created_ms    INTEGER NOT NULL,
    started_ms    INTEGER NOT NULL,
    finished_ms   INTEGER,
    agents        INTEGER NOT NULL DEFAULT 0,
    requests      INTEGER NOT NULL DEFAULT 0,
    tokens_in     INTEGER NOT NULL DEFAULT 0,
    tokens_out    INTEGER NOT NULL DEFAULT 0,
    cost_usd      REAL NOT NULL DEFAULT 0,
    cached        INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0
) STRICT;
-- mark_interrupted_runs looks for running runs; list_runs shows the newest first.
CREATE INDEX runs_by_state ON runs(state);
CREATE INDEX runs_by_created ON runs(created_ms);

CREATE TABLE calls (
    run_id      TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    call_seq    INTEGER NOT NULL,
    identity    TEXT NOT NULL,
    occurrence  INTEGER NOT NULL,
    label       TEXT NOT NULL,
    phase       TEXT,
    model       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('running','succeeded','failed')),
    result      TEXT,
    error_code  TEXT,
    error       TEXT,
    tokens_in   INTEGER NOT NULL DEFAULT 0,
    tokens_out  INTEGER NOT NULL DEFAULT 0,
    cost_usd    REAL NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0,
    started_ms  INTEGER,
    finished_ms INTEGER,
    PRIMARY KEY (run_id, identity, occurrence)
) STRICT;

-- WITHOUT ROWID clusters events by (run_id, seq): appends and `load_events` ranges touch
-- neighbouring pages, and there is no second b-tree to maintain per insert.
CREATE TABLE events (
    run_id  TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    time_ms INTEGER NOT NULL,
    kind    TEXT NOT NULL,
    payload TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE checkpoints (
    run_id  TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    name    TEXT NOT NULL,
    data    TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT;

-- value is REAL for numbers (Date.now, Math.random) and TEXT for anything else.
CREATE TABLE nondeterminism (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    value  ANY NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT;
"#;

/// Calls in flight when a run was cancelled are counted apart from failures.
const V2: &str = "ALTER TABLE runs ADD COLUMN cancelled INTEGER NOT NULL DEFAULT 0;";

/// The steps of an agent's tool loop: each model reply that asked for tools (`idx` -1) and each
/// tool call (`idx` 0, 1, …), keyed by the agent's identity, occurrence and turn. A tool call's
/// row is written before it runs and completed after: a row without `output` is a call whose
/// outcome is unknown, and a resume never runs it again.
const V3: &str = r#"
CREATE TABLE steps (
    run_id      TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    identity    TEXT NOT NULL,
    occurrence  INTEGER NOT NULL,
    turn        INTEGER NOT NULL,
    idx         INTEGER NOT NULL,
    input       TEXT,
    output      TEXT,
    tokens_in   INTEGER NOT NULL DEFAULT 0,
    tokens_out  INTEGER NOT NULL DEFAULT 0,
    cost_usd    REAL NOT NULL DEFAULT 0,
    started_ms  INTEGER NOT NULL,
    finished_ms INTEGER,
    PRIMARY KEY (run_id, identity, occurrence, turn, idx)
) STRICT, WITHOUT ROWID;
"#;

/// `paused` joins the run states. SQLite cannot alter a CHECK constraint, and rebuilding `runs`
/// would cascade-delete its calls and events (foreign keys are on and cannot be switched off
/// inside the migration's transaction), so the table's stored definition is edited in place,
/// the documented way for a constraint that only gets looser
/// (<https://sqlite.org/lang_altertable.html#otheralter>). Every existing row stays valid.
const V4: &str = r#"
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, '''budget_exhausted'',''interrupted'')',
                          '''budget_exhausted'',''interrupted'',''paused'')')
 WHERE type = 'table' AND name = 'runs' AND sql NOT LIKE '%''paused''%';
PRAGMA writable_schema = RESET;
"#;

/// `calls.status`'s CHECK said `status IN (…3 values…)`, which SQLite evaluates by building a
/// temporary b-tree (with its own pager and page cache) on every insert and upsert of a call:
/// profiled, about a sixth of the journal writer's time. The same constraint written as
/// comparisons costs nothing; it is edited in place as in V4, and every row stays valid.
const V5: &str = r#"
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (status IN (''running'',''succeeded'',''failed''))',
                          'CHECK (status = ''running'' OR status = ''succeeded'' OR status = ''failed'')')
 WHERE type = 'table' AND name = 'calls';
PRAGMA writable_schema = RESET;
"#;

/// Events are stored a batch at a time: one row holds every event of one run that one commit
/// wrote, as a JSON array of `[seq, time_ms, kind, payload]`. One row per event was three
/// b-tree inserts per agent, a third of the journal writer's time; now it is one insert per
/// batch. `events` stays, as a view with the old columns, for anyone who queries the journal
/// with `sqlite3`. Old rows move over as chunks of one.
const V6: &str = r#"
CREATE TABLE event_chunks (
    run_id    TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    events    TEXT NOT NULL,
    UNIQUE (run_id, first_seq)
) STRICT;
INSERT INTO event_chunks (run_id, first_seq, last_seq, events)
    SELECT run_id, seq, seq, json_array(json_array(seq, time_ms, kind, json(payload)))
      FROM events ORDER BY run_id, seq;
DROP TABLE events;
CREATE VIEW events (run_id, seq, time_ms, kind, payload) AS
    SELECT c.run_id, e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value -> 3
      FROM event_chunks c, json_each(c.events) e;
"#;

/// `calls` loses its primary key on (run_id, identity, occurrence). Identities are content
/// hashes, so that index took each new call at a random place: in a 10,000-agent fan-out
/// nearly every commit rewrote one index page per call, four fifths of the WAL written. Rows
/// now go in insertion order, found by run through `calls_by_run` (which grows at its end);
/// the writer keeps one row per call itself (see `writes::CallRows`), and readers take the
/// first success of a call should two processes ever have written it.
const V7: &str = r#"
CREATE TABLE calls_v7 (
    run_id      TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    call_seq    INTEGER NOT NULL,
    identity    TEXT NOT NULL,
    occurrence  INTEGER NOT NULL,
    label       TEXT NOT NULL,
    phase       TEXT,
    model       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status = 'running' OR status = 'succeeded' OR status = 'failed'),
    result      TEXT,
    error_code  TEXT,
    error       TEXT,
    tokens_in   INTEGER NOT NULL DEFAULT 0,
    tokens_out  INTEGER NOT NULL DEFAULT 0,
    cost_usd    REAL NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0,
    started_ms  INTEGER,
    finished_ms INTEGER
) STRICT;
INSERT INTO calls_v7 (run_id, call_seq, identity, occurrence, label, phase, model, status,
                      result, error_code, error, tokens_in, tokens_out, cost_usd, attempts,
                      started_ms, finished_ms)
    SELECT run_id, call_seq, identity, occurrence, label, phase, model, status, result,
           error_code, error, tokens_in, tokens_out, cost_usd, attempts, started_ms, finished_ms
      FROM calls ORDER BY run_id, rowid;
DROP TABLE calls;
ALTER TABLE calls_v7 RENAME TO calls;
CREATE INDEX calls_by_run ON calls(run_id);
"#;

/// Every migration in order; the schema version is the number applied.
pub(crate) const MIGRATIONS: &[&str] = &[V1, V2, V3, V4, V5, V6, V7];

/// The schema every migration above leaves, statement for statement as SQLite stores it, for
/// a journal created from nothing: one transaction of ten statements instead of seven that
/// create tables and then rebuild them (about a millisecond of every first run in a new
/// workspace). A new migration changes this too; `tests::a_new_journal_gets_the_migrated_schema`
/// fails until the two agree.
const CURRENT: &str = r#"
CREATE TABLE runs (
    run_id        TEXT PRIMARY KEY NOT NULL,
    script_path   TEXT NOT NULL,
    script_text   TEXT NOT NULL,
    dialect       TEXT NOT NULL,
    args          TEXT NOT NULL,
    cwd           TEXT NOT NULL,
    config        TEXT NOT NULL,
    model_map     TEXT NOT NULL,
    budget_tokens INTEGER,
    budget_usd    REAL,
    dry_run       INTEGER NOT NULL DEFAULT 0,
    state         TEXT NOT NULL CHECK (state IN
                    ('running','succeeded','failed','cancelled','budget_exhausted','interrupted','paused')),
    error         TEXT,
    result        TEXT,
    owner         TEXT,
    heartbeat_ms  INTEGER NOT NULL,
    created_ms    INTEGER NOT NULL,
    started_ms    INTEGER NOT NULL,
    finished_ms   INTEGER,
    agents        INTEGER NOT NULL DEFAULT 0,
    requests      INTEGER NOT NULL DEFAULT 0,
    tokens_in     INTEGER NOT NULL DEFAULT 0,
    tokens_out    INTEGER NOT NULL DEFAULT 0,
    cost_usd      REAL NOT NULL DEFAULT 0,
    cached        INTEGER NOT NULL DEFAULT 0,
    failed        INTEGER NOT NULL DEFAULT 0
, cancelled INTEGER NOT NULL DEFAULT 0) STRICT;

CREATE INDEX runs_by_state ON runs(state);

CREATE INDEX runs_by_created ON runs(created_ms);

CREATE TABLE checkpoints (
    run_id  TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    seq     INTEGER NOT NULL,
    name    TEXT NOT NULL,
    data    TEXT NOT NULL,
    time_ms INTEGER NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT;

CREATE TABLE nondeterminism (
    run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    seq    INTEGER NOT NULL,
    kind   TEXT NOT NULL,
    value  ANY NOT NULL,
    PRIMARY KEY (run_id, seq)
) STRICT;

CREATE TABLE steps (
    run_id      TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    identity    TEXT NOT NULL,
    occurrence  INTEGER NOT NULL,
    turn        INTEGER NOT NULL,
    idx         INTEGER NOT NULL,
    input       TEXT,
    output      TEXT,
    tokens_in   INTEGER NOT NULL DEFAULT 0,
    tokens_out  INTEGER NOT NULL DEFAULT 0,
    cost_usd    REAL NOT NULL DEFAULT 0,
    started_ms  INTEGER NOT NULL,
    finished_ms INTEGER,
    PRIMARY KEY (run_id, identity, occurrence, turn, idx)
) STRICT, WITHOUT ROWID;

CREATE TABLE event_chunks (
    run_id    TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    first_seq INTEGER NOT NULL,
    last_seq  INTEGER NOT NULL,
    events    TEXT NOT NULL,
    UNIQUE (run_id, first_seq)
) STRICT;

CREATE VIEW events (run_id, seq, time_ms, kind, payload) AS
    SELECT c.run_id, e.value ->> 0, e.value ->> 1, e.value ->> 2, e.value -> 3
      FROM event_chunks c, json_each(c.events) e;

CREATE TABLE "calls" (
    run_id      TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
    call_seq    INTEGER NOT NULL,
    identity    TEXT NOT NULL,
    occurrence  INTEGER NOT NULL,
    label       TEXT NOT NULL,
    phase       TEXT,
    model       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status = 'running' OR status = 'succeeded' OR status = 'failed'),
    result      TEXT,
    error_code  TEXT,
    error       TEXT,
    tokens_in   INTEGER NOT NULL DEFAULT 0,
    tokens_out  INTEGER NOT NULL DEFAULT 0,
    cost_usd    REAL NOT NULL DEFAULT 0,
    attempts    INTEGER NOT NULL DEFAULT 0,
    started_ms  INTEGER,
    finished_ms INTEGER
) STRICT;

CREATE INDEX calls_by_run ON calls(run_id);
"#;

/// Turns off SQLite's allocation statistics before its first use (it is a process-wide
/// setting that only takes before initialization; later it is refused, harmlessly). With them
/// on, every allocation SQLite makes takes a global mutex, about 6% of the writer thread in a
/// profile; nothing here reads the statistics.
fn configure_sqlite() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: SQLITE_CONFIG_MEMSTATUS takes one int argument; sqlite3_config is
        // documented as callable before sqlite3_initialize, and returns SQLITE_MISUSE (no
        // effect) when SQLite is already initialized, for example by another connection.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_config(
                rusqlite::ffi::SQLITE_CONFIG_MEMSTATUS,
                0 as std::os::raw::c_int,
            )
        };
        if rc != rusqlite::ffi::SQLITE_OK {
            tracing::debug!(
                rc,
                "SQLite was initialized already; its memory statistics stay on"
            );
        }
    });
}

/// Opens the read-write connection, sets the pragmas and brings the schema up to date.
pub(crate) fn open_writer(path: &Path) -> Result<Connection, JournalError> {
    configure_sqlite();
    let conn = Connection::open(path).map_err(|e| JournalError::sqlite(path, e))?;
    configure(&conn, path)?;
    // WAL lets readers (our read connection, `odw show` in another process) run during writes.
    let mode: String = conn
        .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
        .map_err(|e| with_holder(&conn, JournalError::sqlite(path, e)))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %path.display(), mode, "journal is not in WAL mode");
    }
    // NORMAL is durable against a process crash in WAL mode; only a power cut can lose the
    // latest commits, which costs a repeated call, never a corrupt database.
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| JournalError::sqlite(path, e))?;
    // A checkpoint copies the WAL into the database and syncs both. The journal's checkpoint
    // thread does that beside the writer (see `checkpoint`); the writer's own autocheckpoint is
    // only the fallback should that thread fall behind, so it fires late: every 16,000 pages
    // (64 MB) rather than SQLite's 1,000, which rewrote the same hot pages (the tails of
    // `event_chunks` and `calls`) many times in a large fan-out. The size limit truncates the
    // WAL after a checkpoint so the file does not stay large, and the last connection to
    // close checkpoints what is left and removes it.
    conn.pragma_update(None, "wal_autocheckpoint", 16000)
        .map_err(|e| JournalError::sqlite(path, e))?;
    conn.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)
        .map_err(|e| JournalError::sqlite(path, e))?;
    migrate(&conn, path)?;
    Ok(conn)
}

/// Opens a connection for reads only (the database must already exist and be migrated).
pub(crate) fn open_reader(path: &Path) -> Result<Connection, JournalError> {
    configure_sqlite();
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn =
        Connection::open_with_flags(path, flags).map_err(|e| JournalError::sqlite(path, e))?;
    configure(&conn, path)?;
    // A read-write handle that refuses writes: a read-only one cannot create the WAL index
    // files if it happens to be the first connection after a crash.
    conn.pragma_update(None, "query_only", "ON")
        .map_err(|e| JournalError::sqlite(path, e))?;
    Ok(conn)
}

fn configure(conn: &Connection, path: &Path) -> Result<(), JournalError> {
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| JournalError::sqlite(path, e))?;
    conn.pragma_update(None, "foreign_keys", "ON")
        .map_err(|e| JournalError::sqlite(path, e))?;
    // The writer reuses a dozen statements thousands of times per batch.
    conn.set_prepared_statement_cache_capacity(64);
    Ok(())
}

/// Applies each missing migration in its own transaction. The version is read inside the
/// transaction, so two processes opening a fresh journal at once do not both apply it.
fn migrate(conn: &Connection, path: &Path) -> Result<(), JournalError> {
    let err = |e| with_holder(conn, JournalError::sqlite(path, e));
    // The common case, an up-to-date journal, must not wait for another process's write lock.
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(err)?;
    if usize::try_from(version) == Ok(MIGRATIONS.len()) {
        return Ok(());
    }
    loop {
        let tx = rusqlite::Transaction::new_unchecked(conn, TransactionBehavior::Immediate)
            .map_err(err)?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)?;
        let Ok(applied) = usize::try_from(version) else {
            return Err(JournalError::Corrupt {
                path: path.to_path_buf(),
                message: format!("negative schema version {version}"),
            });
        };
        if applied > MIGRATIONS.len() {
            return Err(JournalError::TooNew {
                path: path.to_path_buf(),
                found: version,
                known: MIGRATIONS.len(),
            });
        }
        if applied == MIGRATIONS.len() {
            return Ok(());
        }
        if applied == 0 && is_empty(&tx).map_err(err)? {
            tx.execute_batch(CURRENT).map_err(err)?;
            tx.pragma_update(None, "user_version", MIGRATIONS.len())
                .map_err(err)?;
            tx.commit().map_err(err)?;
            tracing::debug!(path = %path.display(), version = MIGRATIONS.len(), "journal created");
            return Ok(());
        }
        tx.execute_batch(MIGRATIONS[applied]).map_err(err)?;
        tx.pragma_update(None, "user_version", version + 1)
            .map_err(err)?;
        tx.commit().map_err(err)?;
        tracing::debug!(path = %path.display(), version = version + 1, "journal migrated");
    }
}

/// Whether the database has no schema at all (a new file, not someone else's database).
fn is_empty(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT count(*) = 0 FROM sqlite_schema", [], |r| r.get(0))
}

/// Fills in the pid of a live process running a run in this journal, when a lock error has
/// none: the likely holder of the lock, so the message can name it.
pub(crate) fn with_holder(conn: &Connection, err: JournalError) -> JournalError {
    let JournalError::Locked { path, holder: None } = err else {
        return err;
    };
    let now = now_ms();
    let holder = conn
        .prepare("SELECT owner, heartbeat_ms FROM runs WHERE state = 'running'")
        .and_then(|mut st| {
            let rows = st.query_map([], |r| {
                Ok((r.get::<_, Option<String>>(0)?, r.get::<_, i64>(1)?))
            })?;
            Ok(rows
                .flatten()
                .filter_map(|(owner, hb)| Some((Owner::from_string(owner?), to_u64(hb))))
                .filter(|(owner, _)| owner.pid() != Some(std::process::id()))
                .find(|(owner, hb)| holds_run(Some(owner), *hb, now))
                .and_then(|(owner, _)| owner.pid()))
        })
        .ok()
        .flatten();
    JournalError::Locked { path, holder }
}
