//! The SQL of each write. Runs on the writer thread, inside the batch's transaction.

use super::error::JournalError;
use super::owner::{Owner, abandoned, holds_run};
use super::types::{
    CallEnd, CallOutcome, CallStart, NewRun, NondetValue, Step, now_ms, to_i64, to_u64,
};
use super::writer::{Reset, Write};
use odw_protocol::{RunId, RunState, Usage};
use rusqlite::types::{ToSql, ToSqlOutput};
use rusqlite::{CachedStatement, Connection, OptionalExtension, params};
use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::hash::BuildHasher;
use std::path::Path;
use std::sync::Arc;

impl ToSql for NondetValue {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            NondetValue::Number(n) => n.to_sql(),
            NondetValue::Text(s) => s.to_sql(),
        }
    }
}

/// The statements a batch runs once per call, each taken from rusqlite's cache once per batch
/// instead of once per call: a lookup there allocates (its key and its LRU node) and hashes
/// the SQL text; per call, that was a quarter of the writer's allocations in a 10,000-agent
/// fan-out. Statements go back to the cache when the batch ends.
pub(super) struct Stmts<'c> {
    pub(super) conn: &'c Connection,
    held: Vec<(&'static str, CachedStatement<'c>)>,
}

impl<'c> Stmts<'c> {
    pub(super) fn new(conn: &'c Connection) -> Stmts<'c> {
        Stmts {
            conn,
            held: Vec::new(),
        }
    }

    /// The prepared statement of `sql`, one of the statics below (found by address, which a
    /// static's value keeps).
    fn get(&mut self, sql: &'static str) -> rusqlite::Result<&mut CachedStatement<'c>> {
        let i = match self.held.iter().position(|(s, _)| std::ptr::eq(*s, sql)) {
            Some(i) => i,
            None => {
                self.held.push((sql, self.conn.prepare_cached(sql)?));
                self.held.len() - 1
            }
        };
        Ok(&mut self.held[i].1)
    }
}

static INSERT_START: &str = "INSERT INTO calls (run_id, call_seq, identity, occurrence, label, \
     phase, model, status, started_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?8)";

static RESTART_CALL: &str = "UPDATE calls SET call_seq = ?2, label = ?3, phase = ?4, \
     model = ?5, status = 'running', result = NULL, error_code = NULL, error = NULL, \
     tokens_in = 0, tokens_out = 0, cost_usd = 0, attempts = 0, started_ms = ?6, \
     finished_ms = NULL WHERE rowid = ?1";

static UPDATE_END: &str = "UPDATE calls SET status = ?2, result = ?3, error_code = ?4, \
     error = ?5, tokens_in = ?6, tokens_out = ?7, cost_usd = ?8, attempts = ?9, \
     finished_ms = ?10, call_seq = coalesce(?11, call_seq), label = coalesce(?12, label), \
     phase = CASE WHEN ?11 IS NULL THEN phase ELSE ?13 END, model = coalesce(?14, model), \
     started_ms = coalesce(?15, started_ms) WHERE rowid = ?1";

static INSERT_END: &str = "INSERT INTO calls (run_id, call_seq, identity, occurrence, label, \
     phase, model, status, result, error_code, error, tokens_in, tokens_out, cost_usd, \
     attempts, started_ms, finished_ms) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)";

/// Inserts a new run in state `running`; `false` when the id is taken.
pub(super) fn create_run(conn: &Connection, run: &NewRun) -> rusqlite::Result<bool> {
    let exists = conn
        .prepare_cached("SELECT 1 FROM runs WHERE run_id = ?1")?
        .query_row([&run.run_id.0], |_| Ok(()))
        .optional()?
        .is_some();
    if exists {
        return Ok(false);
    }
    let now = to_i64(now_ms());
    conn.prepare_cached(
        "INSERT INTO runs (run_id, script_path, script_text, dialect, args, cwd, config, \
         model_map, budget_tokens, budget_usd, dry_run, state, owner, heartbeat_ms, created_ms, \
         started_ms) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'running', ?12, ?13, ?14, ?14)",
    )?
    .execute(params![
        run.run_id.0,
        run.script_path.to_string_lossy(),
        run.script_text,
        run.dialect,
        run.args.to_string(),
        run.cwd.to_string_lossy(),
        run.config.to_string(),
        run.model_map.to_string(),
        run.budget.tokens.map(to_i64),
        run.budget.usd,
        run.dry_run,
        run.owner.as_str(),
        now,
        to_i64(run.created_ms),
    ])?;
    Ok(true)
}

/// Writes absolute usage totals.
pub(super) fn write_usage(conn: &Connection, run_id: &RunId, u: &Usage) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "UPDATE runs SET agents = ?2, requests = ?3, tokens_in = ?4, tokens_out = ?5, \
         cost_usd = ?6, cached = ?7, failed = ?8, cancelled = ?9 WHERE run_id = ?1",
    )?
    .execute(params![
        run_id.0,
        to_i64(u.agents),
        to_i64(u.requests),
        to_i64(u.tokens_in),
        to_i64(u.tokens_out),
        u.cost_usd,
        to_i64(u.cached),
        to_i64(u.failed),
        to_i64(u.cancelled),
    ])?;
    Ok(())
}

/// Checks that `owner` may execute the run and records it; with `reset`, also re-opens the
/// run for a resume. Succeeded runs and runs held by another live process are refused.
pub(super) fn claim(
    conn: &Connection,
    path: &Path,
    run_id: &RunId,
    owner: &Owner,
    reset: Option<&Reset>,
) -> Result<(), JournalError> {
    let sql = |e| JournalError::sqlite(path, e);
    let row = conn
        .prepare_cached("SELECT state, owner, heartbeat_ms FROM runs WHERE run_id = ?1")
        .map_err(sql)?
        .query_row([&run_id.0], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .optional()
        .map_err(sql)?;
    let Some((state, current, heartbeat)) = row else {
        return Err(JournalError::RunNotFound(run_id.clone()));
    };
    let state =
        RunState::parse(&state).ok_or_else(|| JournalError::bad_data(path, "run state", &state))?;
    if state == RunState::Succeeded {
        return Err(JournalError::AlreadySucceeded(run_id.clone()));
    }
    let current = current.map(Owner::from_string);
    let now = now_ms();
    // Only a `running` run is held: a failed or cancelled run's last owner may well still be
    // alive (an editor session), and that must not block a resume from elsewhere.
    if state == RunState::Running
        && current.as_ref() != Some(owner)
        && holds_run(current.as_ref(), to_u64(heartbeat), now)
    {
        return Err(JournalError::LiveElsewhere {
            run_id: run_id.clone(),
            owner: current.map(|o| o.to_string()).unwrap_or_default(),
        });
    }
    let now = to_i64(now);
    let changed = match reset {
        None => conn
            .prepare_cached("UPDATE runs SET owner = ?2, heartbeat_ms = ?3 WHERE run_id = ?1")
            .and_then(|mut st| st.execute(params![run_id.0, owner.as_str(), now])),
        Some(reset) => conn
            .prepare_cached(
                "UPDATE runs SET state = 'running', error = NULL, result = NULL, \
                 finished_ms = NULL, owner = ?2, heartbeat_ms = ?3, started_ms = ?3 \
                 WHERE run_id = ?1",
            )
            .and_then(|mut st| st.execute(params![run_id.0, owner.as_str(), now]))
            .and_then(|n| match &reset.budget {
                None => Ok(n),
                Some(b) => conn
                    .prepare_cached(
                        "UPDATE runs SET budget_tokens = ?2, budget_usd = ?3 WHERE run_id = ?1",
                    )
                    .and_then(|mut st| st.execute(params![run_id.0, b.tokens.map(to_i64), b.usd])),
            }),
    };
    changed.map(|_| ()).map_err(sql)
}

/// Turns every `running` run whose owner is gone into `interrupted`; returns their ids.
pub(super) fn mark_interrupted(conn: &Connection) -> rusqlite::Result<Vec<RunId>> {
    let now = now_ms();
    let candidates: Vec<(String, Option<String>, i64)> = conn
        .prepare_cached("SELECT run_id, owner, heartbeat_ms FROM runs WHERE state = 'running'")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut marked = Vec::new();
    for (run_id, owner, heartbeat) in candidates {
        let owner = owner.map(Owner::from_string);
        if !abandoned(owner.as_ref(), to_u64(heartbeat), now) {
            continue;
        }
        let who = owner.map_or_else(|| "an unknown process".to_string(), |o| o.to_string());
        let error = format!(
            "interrupted: the odw process running it ({who}) stopped; \
             continue it with `odw resume {run_id}`"
        );
        // The last heartbeat is the best estimate of when it stopped.
        let n = conn
            .prepare_cached(
                "UPDATE runs SET state = 'interrupted', error = ?2, finished_ms = heartbeat_ms \
                 WHERE run_id = ?1 AND state = 'running'",
            )?
            .execute(params![run_id, error])?;
        if n > 0 {
            marked.push(RunId::from(run_id));
        }
    }
    Ok(marked)
}

/// Applies one fire-and-forget write; the error says which write failed.
pub(super) fn apply_write(
    sql: &mut Stmts<'_>,
    rows: &mut CallRows,
    write: &Write,
) -> Result<(), String> {
    let conn = sql.conn;
    match write {
        Write::SetState {
            run_id,
            state,
            error,
            result,
            time_ms,
        } => {
            let n = conn
                .prepare_cached(
                    "UPDATE runs SET state = ?2, error = ?3, result = ?4, \
                     finished_ms = CASE WHEN ?2 = 'running' THEN NULL ELSE ?5 END \
                     WHERE run_id = ?1",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        run_id.0,
                        state.as_str(),
                        error,
                        result,
                        to_i64(*time_ms)
                    ])
                })
                .map_err(|e| format!("state {state} of run {run_id}: {e}"))?;
            if n == 0 {
                return Err(format!("state {state} of run {run_id}: no such run"));
            }
            Ok(())
        }
        Write::CallStarted(c) => call_started(sql, rows, c)
            .map_err(|e| format!("start of call {} of run {}: {e}", c.call_seq, c.run_id)),
        Write::CallFinished(c) => record_end(sql, rows, c, None),
        Write::Nondet {
            run_id,
            seq,
            kind,
            value,
        } => conn
            // The first value recorded for a seq wins: a resume that records a replayed value
            // again changes nothing.
            .prepare_cached(
                "INSERT INTO nondeterminism (run_id, seq, kind, value) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (run_id, seq) DO NOTHING",
            )
            .and_then(|mut st| st.execute(params![run_id.0, to_i64(*seq), kind, value]))
            .map(drop)
            .map_err(|e| format!("{kind} value {seq} of run {run_id}: {e}")),
        Write::Checkpoint(c) => conn
            .prepare_cached(
                "INSERT INTO checkpoints (run_id, seq, name, data, time_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    c.run_id.0,
                    to_i64(c.seq),
                    c.name,
                    c.data.to_string(),
                    to_i64(c.time_ms)
                ])
            })
            .map(drop)
            .map_err(|e| format!("checkpoint {} of run {}: {e}", c.seq, c.run_id)),
        // Only the recorded owner's heartbeat counts, so a process that lost the run to a
        // resume elsewhere cannot keep it looking alive.
        Write::Heartbeat(run_id, owner, time_ms) => conn
            .prepare_cached(
                "UPDATE runs SET heartbeat_ms = ?3 \
                 WHERE run_id = ?1 AND owner = ?2 AND state = 'running'",
            )
            .and_then(|mut st| st.execute(params![run_id.0, owner.as_str(), to_i64(*time_ms)]))
            .map(drop)
            .map_err(|e| format!("heartbeat of run {run_id}: {e}")),
        Write::Step(s) => step(conn, s).map_err(|e| {
            format!(
                "step {}.{} of call {}#{} of run {}: {e}",
                s.turn,
                s.index.map_or(-1, i64::from),
                s.identity,
                s.occurrence,
                s.run_id
            )
        }),
    }
}

/// Records a step's start (no output) or end. The first recorded output wins: a step is
/// recorded exactly once, and a start never erases an end.
fn step(conn: &Connection, s: &Step) -> rusqlite::Result<()> {
    conn.prepare_cached(
        "INSERT INTO steps (run_id, identity, occurrence, turn, idx, input, output, tokens_in,          tokens_out, cost_usd, started_ms, finished_ms)          VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, CASE WHEN ?7 IS NULL THEN NULL ELSE ?11 END)          ON CONFLICT (run_id, identity, occurrence, turn, idx) DO UPDATE SET          output = excluded.output, tokens_in = excluded.tokens_in,          tokens_out = excluded.tokens_out, cost_usd = excluded.cost_usd,          finished_ms = excluded.finished_ms          WHERE steps.output IS NULL AND excluded.output IS NOT NULL",
    )?
    .execute(params![
        s.run_id.0,
        s.identity,
        s.occurrence,
        s.turn,
        s.index.map_or(-1, i64::from),
        s.input.as_ref().map(|v| v.to_string()),
        s.output.as_ref().map(|v| v.to_string()),
        to_i64(s.tokens_in),
        to_i64(s.tokens_out),
        s.cost_usd,
        to_i64(s.time_ms),
    ])?;
    Ok(())
}

/// The call rows of the runs this writer touched: `calls` has no unique index (schema V7),
/// so the writer itself keeps one row per call, finding it here instead of in an index. A
/// run's rows are loaded on first use and forgotten when another process may have written
/// them (a claim), when the run ends, and after a batch that did not commit.
#[derive(Default)]
pub(super) struct CallRows {
    runs: HashMap<RunId, RunCalls>,
    hasher: foldhash::fast::RandomState,
}

/// One run's calls, by a hash of (identity, occurrence).
#[derive(Default)]
struct RunCalls {
    by_key: HashMap<u64, Known, foldhash::fast::RandomState>,
    /// Calls whose hash another call of the run already has (practically never).
    collided: Vec<Known>,
}

impl RunCalls {
    fn get_mut(&mut self, key: u64, identity: &str, occurrence: u32) -> Option<&mut Known> {
        match self.by_key.get_mut(&key) {
            Some(k) if k.is(identity, occurrence) => Some(k),
            Some(_) => self
                .collided
                .iter_mut()
                .find(|k| k.is(identity, occurrence)),
            None => None,
        }
    }

    fn insert(&mut self, key: u64, known: Known) {
        match self.by_key.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(known);
            }
            Entry::Occupied(_) => self.collided.push(known),
        }
    }
}

struct Known {
    /// Shared with the call's records: noting a call copies nothing.
    identity: Arc<str>,
    occurrence: u32,
    rowid: i64,
    succeeded: bool,
}

impl Known {
    fn is(&self, identity: &str, occurrence: u32) -> bool {
        self.occurrence == occurrence && *self.identity == *identity
    }
}

impl CallRows {
    /// Forgets what is known of one run's rows.
    pub(super) fn forget(&mut self, run_id: &RunId) {
        self.runs.remove(run_id);
    }

    /// Forgets every run's rows (a batch rolled back: rows it inserted do not exist).
    pub(super) fn forget_all(&mut self) {
        self.runs.clear();
    }

    fn key(&self, identity: &str, occurrence: u32) -> u64 {
        self.hasher.hash_one((identity, occurrence))
    }

    /// The row of a call: `Ok(None)` when it has none yet.
    fn find(
        &mut self,
        conn: &Connection,
        run_id: &RunId,
        identity: &str,
        occurrence: u32,
    ) -> rusqlite::Result<Option<(i64, bool)>> {
        let key = self.key(identity, occurrence);
        if !self.runs.contains_key(run_id) {
            let loaded = self.load(conn, run_id)?;
            self.runs.insert(run_id.clone(), loaded);
        }
        Ok(self
            .runs
            .get_mut(run_id)
            .and_then(|run| run.get_mut(key, identity, occurrence))
            .map(|k| (k.rowid, k.succeeded)))
    }

    /// Reads a run's rows. Should two processes ever have written one call twice, the first
    /// success is its row (a success is never replaced), or else the latest row.
    fn load(&self, conn: &Connection, run_id: &RunId) -> rusqlite::Result<RunCalls> {
        let mut calls = RunCalls::default();
        let mut st = conn.prepare_cached(
            "SELECT rowid, identity, occurrence, status FROM calls WHERE run_id = ?1 \
             ORDER BY rowid",
        )?;
        let mut rows = st.query([&run_id.0])?;
        while let Some(r) = rows.next()? {
            let (rowid, occurrence): (i64, u32) = (r.get(0)?, r.get(2)?);
            let identity = r.get_ref(1)?.as_str()?;
            let succeeded = r.get_ref(3)?.as_str()? == "succeeded";
            let key = self.key(identity, occurrence);
            match calls.get_mut(key, identity, occurrence) {
                Some(k) if k.succeeded => {}
                Some(k) => (k.rowid, k.succeeded) = (rowid, succeeded),
                None => calls.insert(
                    key,
                    Known {
                        identity: identity.into(),
                        occurrence,
                        rowid,
                        succeeded,
                    },
                ),
            }
        }
        Ok(calls)
    }

    /// Notes a row this writer inserted or updated.
    fn note(
        &mut self,
        run_id: &RunId,
        identity: &Arc<str>,
        occurrence: u32,
        rowid: i64,
        succeeded: bool,
    ) {
        let key = self.key(identity, occurrence);
        let Some(run) = self.runs.get_mut(run_id) else {
            return;
        };
        match run.get_mut(key, identity, occurrence) {
            Some(k) => (k.rowid, k.succeeded) = (rowid, succeeded),
            None => run.insert(
                key,
                Known {
                    identity: identity.clone(),
                    occurrence,
                    rowid,
                    succeeded,
                },
            ),
        }
    }
}

/// Records a call as running. A call that already succeeded is left alone: results are
/// recorded exactly once. Counters describe the latest execution, so they restart at zero.
pub(super) fn call_started(
    sql: &mut Stmts<'_>,
    rows: &mut CallRows,
    c: &CallStart,
) -> rusqlite::Result<()> {
    match rows.find(sql.conn, &c.run_id, &c.identity, c.occurrence)? {
        Some((_, true)) => Ok(()),
        Some((rowid, false)) => {
            let changed = sql.get(RESTART_CALL)?.execute(params![
                rowid,
                to_i64(c.call_seq),
                c.label,
                c.phase,
                c.model,
                to_i64(c.started_ms),
            ])?;
            match changed {
                0 => {
                    retry_after_reload(sql, rows, &c.run_id, |sql, rows| call_started(sql, rows, c))
                }
                _ => Ok(()),
            }
        }
        None => {
            sql.get(INSERT_START)?.execute(params![
                c.run_id.0,
                to_i64(c.call_seq),
                c.identity,
                c.occurrence,
                c.label,
                c.phase,
                c.model,
                to_i64(c.started_ms),
            ])?;
            let rowid = sql.conn.last_insert_rowid();
            rows.note(&c.run_id, &c.identity, c.occurrence, rowid, false);
            Ok(())
        }
    }
}

/// A row that was there is gone (deleted by someone else): learn the run's rows again and
/// write once more.
fn retry_after_reload<'c>(
    sql: &mut Stmts<'c>,
    rows: &mut CallRows,
    run_id: &RunId,
    write: impl FnOnce(&mut Stmts<'c>, &mut CallRows) -> rusqlite::Result<()>,
) -> rusqlite::Result<()> {
    rows.forget(run_id);
    write(sql, rows)
}

/// Records how a call ended, with its held start when there is one (see `starts`): one row
/// per call, and a succeeded row is never overwritten. Without a start row or a held start
/// it still inserts one (with empty label and model), so a result is never lost.
pub(super) fn record_end(
    sql: &mut Stmts<'_>,
    rows: &mut CallRows,
    end: &CallEnd,
    start: Option<&CallStart>,
) -> Result<(), String> {
    write_end(sql, rows, end, start, true).map_err(|e| {
        format!(
            "end of call {}#{} of run {}: {e}",
            end.identity, end.occurrence, end.run_id
        )
    })
}

fn write_end(
    sql: &mut Stmts<'_>,
    rows: &mut CallRows,
    e: &CallEnd,
    start: Option<&CallStart>,
    may_retry: bool,
) -> rusqlite::Result<()> {
    let (status, result, code, error) = outcome_columns(&e.outcome);
    let succeeded = status == "succeeded";
    match rows.find(sql.conn, &e.run_id, &e.identity, e.occurrence)? {
        Some((_, true)) => Ok(()),
        Some((rowid, false)) => {
            // Without a held start the start's columns stay as they are (`?11` is NULL).
            let changed = sql.get(UPDATE_END)?.execute(params![
                rowid,
                status,
                result,
                code,
                error,
                to_i64(e.tokens_in),
                to_i64(e.tokens_out),
                e.cost_usd,
                e.attempts,
                to_i64(e.finished_ms),
                start.map(|c| to_i64(c.call_seq)),
                start.map(|c| &*c.label),
                start.and_then(|c| c.phase.as_deref()),
                start.map(|c| &*c.model),
                start.map(|c| to_i64(c.started_ms)),
            ])?;
            if changed == 0 && may_retry {
                return retry_after_reload(sql, rows, &e.run_id, |sql, rows| {
                    write_end(sql, rows, e, start, false)
                });
            }
            rows.note(&e.run_id, &e.identity, e.occurrence, rowid, succeeded);
            Ok(())
        }
        None => {
            let (call_seq, label, phase, model, started_ms) = match start {
                Some(c) => (
                    to_i64(c.call_seq),
                    &*c.label,
                    c.phase.as_deref(),
                    &*c.model,
                    Some(to_i64(c.started_ms)),
                ),
                None => (0, "", None, "", None),
            };
            sql.get(INSERT_END)?.execute(params![
                e.run_id.0,
                call_seq,
                e.identity,
                e.occurrence,
                label,
                phase,
                model,
                status,
                result,
                code,
                error,
                to_i64(e.tokens_in),
                to_i64(e.tokens_out),
                e.cost_usd,
                e.attempts,
                started_ms,
                to_i64(e.finished_ms),
            ])?;
            let rowid = sql.conn.last_insert_rowid();
            rows.note(&e.run_id, &e.identity, e.occurrence, rowid, succeeded);
            Ok(())
        }
    }
}

type OutcomeColumns<'a> = (
    &'static str,
    Option<&'a str>,
    Option<&'static str>,
    Option<&'a str>,
);

/// The status, result, error code and message of an outcome.
fn outcome_columns(outcome: &CallOutcome) -> OutcomeColumns<'_> {
    match outcome {
        CallOutcome::Succeeded { result } => ("succeeded", Some(result.as_str()), None, None),
        CallOutcome::Failed { code, message } => {
            ("failed", None, Some(code.as_str()), Some(message.as_str()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(identity: &str, occurrence: u32, rowid: i64) -> Known {
        Known {
            identity: identity.into(),
            occurrence,
            rowid,
            succeeded: false,
        }
    }

    #[test]
    fn calls_that_share_a_hash_keep_their_own_rows() {
        let a = "ab".repeat(32);
        let b = "cd".repeat(32);
        let mut run = RunCalls::default();
        run.insert(7, known(&a, 0, 1));
        run.insert(7, known(&b, 0, 2));
        run.insert(7, known(&a, 1, 3));
        assert_eq!(run.get_mut(7, &a, 0).map(|k| k.rowid), Some(1));
        assert_eq!(run.get_mut(7, &b, 0).map(|k| k.rowid), Some(2));
        assert_eq!(run.get_mut(7, &a, 1).map(|k| k.rowid), Some(3));
        assert!(run.get_mut(7, &b, 1).is_none());
        assert!(run.get_mut(8, &a, 0).is_none());
        // Identities compare exactly: the same digest in uppercase is another identity.
        assert!(run.get_mut(7, &a.to_uppercase(), 0).is_none());
    }
}
