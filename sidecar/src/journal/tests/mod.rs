//! Journal tests: schema, round trips and write failures here; batching and liveness beside.

mod batching;
mod call_rows;
mod held_starts;
mod liveness;

use super::*;
use odw_protocol::{AgentErrorCode, EventKind};
use serde_json::json;
use std::time::Instant;

fn temp_journal() -> (tempfile::TempDir, Journal) {
    let dir = tempfile::tempdir().unwrap();
    let journal = Journal::open(&dir.path().join(".odw/odw.db")).unwrap();
    (dir, journal)
}

fn new_run(id: &str, owner: Owner) -> NewRun {
    NewRun {
        run_id: RunId::from(id),
        script_path: PathBuf::from("flows/review.js"),
        script_text: "export default async () => agent('hi')".into(),
        dialect: "odw/1".into(),
        args: json!({"files": ["a.rs", "b.rs"], "n": 3}),
        cwd: PathBuf::from("/work/project"),
        config: json!({"models": {"default": "claude-sonnet-4-6"}}),
        model_map: json!({"fast": "claude-haiku-4-5"}),
        budget: Budget {
            tokens: Some(100_000),
            usd: Some(2.5),
        },
        dry_run: false,
        owner,
        created_ms: now_ms(),
    }
}

fn event(run: &str, seq: u64, kind: EventKind) -> RunEvent {
    RunEvent {
        run_id: RunId::from(run),
        seq,
        time_ms: 1_000 + seq,
        kind,
    }
}

/// A call's start with a label and start time derived from `seq`.
fn call_start(run: &str, identity: &str, seq: u64) -> CallStart {
    CallStart {
        run_id: RunId::from(run),
        call_seq: seq,
        identity: identity.into(),
        occurrence: 0,
        label: format!("label {seq}").into(),
        phase: Some("map".into()),
        model: "m".into(),
        started_ms: 1_000 + seq,
    }
}

fn succeeded(run: &str, identity: &str, occurrence: u32, result: Value) -> CallEnd {
    CallEnd {
        run_id: RunId::from(run),
        identity: identity.into(),
        occurrence,
        outcome: CallOutcome::Succeeded {
            result: crate::json::JsonText::of(&result),
        },
        tokens_in: 100,
        tokens_out: 20,
        cost_usd: 0.001,
        attempts: 1,
        finished_ms: now_ms(),
    }
}

/// A pid that belonged to a process that has exited.
fn dead_pid() -> u32 {
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let pid = child.id();
    child.wait().unwrap();
    pid
}

fn user_version(path: &Path) -> i64 {
    let conn = Connection::open(path).unwrap();
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap()
}

#[test]
fn migrations_apply_once_and_reopen_keeps_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dirs/odw.db");
    let journal = Journal::open(&path).unwrap();
    journal
        .create_run(&new_run("r-1", Owner::current()))
        .unwrap();
    drop(journal);
    assert_eq!(user_version(&path), schema::MIGRATIONS.len() as i64);

    for _ in 0..2 {
        let journal = Journal::open(&path).unwrap();
        assert_eq!(journal.list_runs(10).unwrap().len(), 1);
        assert_eq!(journal.integrity_check().unwrap(), "ok");
    }
    assert_eq!(user_version(&path), schema::MIGRATIONS.len() as i64);
    let mode: String = Connection::open(&path)
        .unwrap()
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
}

#[test]
fn a_newer_schema_is_refused_with_advice() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odw.db");
    drop(Journal::open(&path).unwrap());
    Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 99)
        .unwrap();
    let err = Journal::open(&path).unwrap_err();
    assert!(
        matches!(err, JournalError::TooNew { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("upgrade odw"), "{err}");
}

#[test]
fn a_non_database_file_is_reported_as_corrupt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odw.db");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    let err = Journal::open(&path).unwrap_err();
    assert!(matches!(err, JournalError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("move it aside"), "{err}");
}

#[test]
fn run_snapshot_round_trips() {
    let (_dir, j) = temp_journal();
    let run = new_run("r-snap", Owner::current());
    j.create_run(&run).unwrap();
    let err = j.create_run(&run).unwrap_err();
    assert!(matches!(err, JournalError::RunExists(_)), "{err}");

    let usage = Usage {
        agents: 3,
        requests: 4,
        tokens_in: 300,
        tokens_out: 60,
        cost_usd: 0.25,
        cached: 1,
        failed: 1,
        cancelled: 2,
    };
    j.update_usage(&run.run_id, &Usage::default());
    j.update_usage(&run.run_id, &usage);
    j.set_state(
        &run.run_id,
        RunState::Failed,
        Some("boom"),
        Some(&json!({"partial": [1, 2]})),
    );
    j.flush().unwrap();

    let row = j.load_run(&run.run_id).unwrap().unwrap();
    assert_eq!(row.script_text, run.script_text);
    assert_eq!(row.script_path, run.script_path);
    assert_eq!(row.args, run.args);
    assert_eq!(row.cwd, run.cwd);
    assert_eq!(row.config, run.config);
    assert_eq!(row.model_map, run.model_map);
    assert_eq!(row.budget, run.budget);
    assert_eq!(row.dialect, "odw/1");
    assert_eq!(row.state, RunState::Failed);
    assert_eq!(row.error.as_deref(), Some("boom"));
    assert_eq!(row.result, Some(json!({"partial": [1, 2]})));
    assert_eq!(row.usage, usage);
    assert_eq!(row.owner, Some(Owner::current()));
    assert!(row.finished_ms.is_some());
    assert!(j.load_run(&RunId::from("r-nope")).unwrap().is_none());
}

#[test]
fn calls_events_checkpoints_and_nondeterminism_round_trip() {
    let (_dir, j) = temp_journal();
    let id = RunId::from("r-rt");
    j.create_run(&new_run("r-rt", Owner::current())).unwrap();

    j.call_started(CallStart {
        run_id: id.clone(),
        call_seq: 1,
        identity: "aa".into(),
        occurrence: 0,
        label: "review a.rs".into(),
        phase: Some("review".into()),
        model: "claude-haiku-4-5".into(),
        started_ms: 5,
    });
    j.call_finished(succeeded("r-rt", "aa", 0, json!({"ok": true, "n": 1.5})));
    // A later end for a succeeded call must not replace its result.
    j.call_finished(CallEnd {
        outcome: CallOutcome::Failed {
            code: AgentErrorCode::Timeout,
            message: "late".into(),
        },
        ..succeeded("r-rt", "aa", 0, Value::Null)
    });
    j.call_finished(CallEnd {
        outcome: CallOutcome::Failed {
            code: AgentErrorCode::SchemaInvalid,
            message: "missing field".into(),
        },
        attempts: 3,
        ..succeeded("r-rt", "bb", 0, Value::Null)
    });
    j.append_event(&event(
        "r-rt",
        1,
        EventKind::PhaseStarted {
            phase: "review".into(),
        },
    ));
    j.append_event(&event(
        "r-rt",
        2,
        EventKind::AgentCached {
            call: 1,
            label: "review a.rs".into(),
        },
    ));
    j.add_checkpoint(Checkpoint {
        run_id: id.clone(),
        seq: 2,
        name: "after review".into(),
        data: json!({"done": 1}),
        time_ms: 9,
    });
    j.record_nondeterminism(&id, 1, "now", NondetValue::Number(1_764_000_000_123.0));
    j.record_nondeterminism(&id, 2, "random", NondetValue::Number(0.25));
    j.record_nondeterminism(&id, 3, "date", NondetValue::Text("2026-11-28".into()));
    // Re-recording a replayed value keeps the first one.
    j.record_nondeterminism(&id, 2, "random", NondetValue::Number(0.75));
    j.flush().unwrap();

    let cached = j.finished_call(&id, "aa", 0).unwrap().unwrap();
    assert_eq!(cached.result, json!({"ok": true, "n": 1.5}));
    assert_eq!((cached.tokens_in, cached.tokens_out), (100, 20));
    assert!(j.finished_call(&id, "bb", 0).unwrap().is_none());
    assert!(j.finished_call(&id, "aa", 1).unwrap().is_none());

    let calls = j.load_calls(&id).unwrap();
    assert_eq!(calls.len(), 2);
    let bb = calls.iter().find(|c| c.identity == "bb").unwrap();
    assert_eq!(bb.status, CallStatus::Failed);
    assert_eq!(bb.error_code, Some(AgentErrorCode::SchemaInvalid));
    assert_eq!(bb.attempts, 3);
    let aa = calls.iter().find(|c| c.identity == "aa").unwrap();
    assert_eq!(aa.status, CallStatus::Succeeded);
    assert_eq!(aa.label, "review a.rs");
    assert_eq!(aa.phase.as_deref(), Some("review"));

    let events = j.load_events(&id, 0).unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1], event("r-rt", 2, events[1].kind.clone()));
    assert!(matches!(
        events[1].kind,
        EventKind::AgentCached { call: 1, .. }
    ));
    assert_eq!(j.load_events(&id, 1).unwrap().len(), 1);
    assert_eq!(j.last_event_seq(&id).unwrap(), 2);

    let cps = j.load_checkpoints(&id).unwrap();
    assert_eq!(cps.len(), 1);
    assert_eq!(cps[0].data, json!({"done": 1}));

    let nondet = j.load_nondeterminism(&id).unwrap();
    assert_eq!(
        nondet,
        vec![
            ("now".to_string(), NondetValue::Number(1_764_000_000_123.0)),
            ("random".to_string(), NondetValue::Number(0.25)),
            ("date".to_string(), NondetValue::Text("2026-11-28".into())),
        ]
    );
}

#[test]
fn failed_writes_are_reported_by_the_next_flush_only() {
    let (_dir, j) = temp_journal();
    j.create_run(&new_run("r-dup", Owner::current())).unwrap();
    let e = event("r-dup", 1, EventKind::PhaseStarted { phase: "a".into() });
    j.append_event(&e);
    j.append_event(&e);
    // An event for a run that does not exist breaks the foreign key.
    j.append_event(&event(
        "r-ghost",
        1,
        EventKind::PhaseStarted { phase: "a".into() },
    ));
    j.append_event(&event(
        "r-dup",
        2,
        EventKind::PhaseStarted { phase: "b".into() },
    ));
    let err = j.flush().unwrap_err();
    match &err {
        JournalError::WriteFailed { count, first, .. } => {
            assert_eq!(*count, 2);
            assert!(first.contains("event 1"), "{first}");
        }
        other => panic!("unexpected {other}"),
    }
    j.flush().unwrap();
    // The good writes of the same batch were kept.
    assert_eq!(j.last_event_seq(&RunId::from("r-dup")).unwrap(), 2);
}

#[test]
fn events_already_recorded_are_refused_one_by_one_and_the_rest_kept() {
    let (_dir, j) = temp_journal();
    let id = RunId::from("r-seq");
    j.create_run(&new_run("r-seq", Owner::current())).unwrap();
    let phase =
        |seq, name: &str| event("r-seq", seq, EventKind::PhaseStarted { phase: name.into() });
    j.append_event(&phase(1, "a"));
    j.append_event(&phase(2, "b"));
    j.flush().unwrap();
    // In order among themselves, but 2 is in the journal already.
    j.append_event(&phase(2, "again"));
    j.append_event(&phase(3, "c"));
    match j.flush().unwrap_err() {
        JournalError::WriteFailed { count, first, .. } => {
            assert_eq!(count, 1);
            assert!(first.contains("event 2 (phaseStarted)"), "{first}");
        }
        other => panic!("unexpected {other}"),
    }
    let events = j.load_events(&id, 0).unwrap();
    let phases: Vec<_> = events
        .iter()
        .map(|e| match &e.kind {
            EventKind::PhaseStarted { phase } => (e.seq, phase.as_str()),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(phases, [(1, "a"), (2, "b"), (3, "c")]);
}

#[test]
fn resumed_calls_restart_but_succeeded_results_stay() {
    let (_dir, j) = temp_journal();
    let id = RunId::from("r-re");
    j.create_run(&new_run("r-re", Owner::current())).unwrap();
    let start = |seq| CallStart {
        run_id: id.clone(),
        call_seq: seq,
        identity: "cc".into(),
        occurrence: 0,
        label: "x".into(),
        phase: None,
        model: "m".into(),
        started_ms: seq,
    };
    j.call_started(start(1));
    j.call_finished(succeeded("r-re", "cc", 0, json!("first")));
    j.call_started(start(7));
    j.flush().unwrap();
    let calls = j.load_calls(&id).unwrap();
    assert_eq!(calls[0].status, CallStatus::Succeeded);
    assert_eq!(calls[0].result, Some(json!("first")));
    assert_eq!(calls[0].call_seq, 1);
}

/// Every schema object as SQLite stores it, by name.
fn schema_of(conn: &Connection) -> Vec<(String, String, String, Option<String>)> {
    let mut st = conn
        .prepare("SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY name")
        .unwrap();
    st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

#[test]
fn a_new_journal_gets_the_migrated_schema() {
    let dir = tempfile::tempdir().unwrap();
    // Every migration, one after the other, as an odw that has seen each release has them.
    let migrated = dir.path().join("migrated.db");
    {
        let conn = Connection::open(&migrated).unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
        conn.pragma_update(None, "user_version", 1).unwrap();
    }
    drop(Journal::open(&migrated).unwrap());
    // A journal created from nothing takes the current schema in one step.
    let fresh = dir.path().join("fresh.db");
    drop(Journal::open(&fresh).unwrap());
    let (migrated, fresh) = (
        Connection::open(&migrated).unwrap(),
        Connection::open(&fresh).unwrap(),
    );
    let expected = schema_of(&migrated);
    assert!(expected.len() > 10, "{expected:?}");
    assert_eq!(schema_of(&fresh), expected);
    for conn in [&migrated, &fresh] {
        let version: i64 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .unwrap();
        assert_eq!(version, schema::MIGRATIONS.len() as i64);
    }
}

#[test]
fn a_database_with_other_tables_is_migrated_not_recreated() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared.db");
    Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE notes (text TEXT); INSERT INTO notes VALUES ('kept');")
        .unwrap();
    let j = Journal::open(&path).unwrap();
    j.create_run(&new_run("r-1", Owner::current())).unwrap();
    drop(j);
    let conn = Connection::open(&path).unwrap();
    let note: String = conn
        .query_row("SELECT text FROM notes", [], |r| r.get(0))
        .unwrap();
    assert_eq!(note, "kept");
    assert_eq!(user_version(&path), schema::MIGRATIONS.len() as i64);
}

#[test]
fn a_v2_journal_learns_the_paused_state_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odw.db");
    // A journal as an odw with two migrations left it, with a run, a call and an event.
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        conn.execute_batch(schema::MIGRATIONS[0]).unwrap();
        conn.execute_batch(schema::MIGRATIONS[1]).unwrap();
        conn.pragma_update(None, "user_version", 2).unwrap();
    }
    let j = Journal::open(&path).unwrap();
    let id = RunId::from("r-old");
    j.create_run(&new_run("r-old", Owner::current())).unwrap();
    j.append_event(&event(
        "r-old",
        1,
        EventKind::PhaseStarted { phase: "a".into() },
    ));
    j.set_state(&id, RunState::Paused, Some("paused"), None);
    j.flush().unwrap();
    drop(j);
    assert_eq!(user_version(&path), schema::MIGRATIONS.len() as i64);
    let j = Journal::open(&path).unwrap();
    assert_eq!(j.load_run(&id).unwrap().unwrap().state, RunState::Paused);
    assert_eq!(j.load_events(&id, 0).unwrap().len(), 1);
    assert_eq!(j.integrity_check().unwrap(), "ok");
    // The constraint still refuses what is not a state.
    let conn = Connection::open(&path).unwrap();
    let bad = conn.execute("UPDATE runs SET state = 'bogus' WHERE run_id = 'r-old'", []);
    assert!(bad.is_err(), "{bad:?}");
}

#[test]
fn a_v4_journal_checks_call_status_without_a_temporary_table_and_keeps_its_rows() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odw.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        for m in &schema::MIGRATIONS[..4] {
            conn.execute_batch(m).unwrap();
        }
        conn.pragma_update(None, "user_version", 4).unwrap();
    }
    let j = Journal::open(&path).unwrap();
    let id = RunId::from("r-old");
    j.create_run(&new_run("r-old", Owner::current())).unwrap();
    j.call_finished(succeeded("r-old", "abc", 0, json!("kept")));
    j.flush().unwrap();
    drop(j);
    assert_eq!(user_version(&path), schema::MIGRATIONS.len() as i64);
    let j = Journal::open(&path).unwrap();
    assert_eq!(j.load_calls(&id).unwrap()[0].result, Some(json!("kept")));
    assert_eq!(j.integrity_check().unwrap(), "ok");
    let conn = Connection::open(&path).unwrap();
    let sql: String = conn
        .query_row(
            "SELECT sql FROM sqlite_schema WHERE type = 'table' AND name = 'calls'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(sql.contains("status = 'running' OR"), "{sql}");
    // No statement that records a call builds a temporary table for the constraint.
    let plan: Vec<String> = conn
        .prepare(
            "EXPLAIN INSERT INTO calls (run_id, call_seq, identity, occurrence, label, model, \
             status) VALUES ('r-old', 1, 'x', 0, '', '', 'running')",
        )
        .unwrap()
        .query_map([], |r| r.get::<_, String>(1))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(!plan.iter().any(|op| op == "OpenEphemeral"), "{plan:?}");
    // The constraint still refuses what is not a status.
    let bad = conn.execute(
        "UPDATE calls SET status = 'bogus' WHERE run_id = 'r-old'",
        [],
    );
    assert!(bad.is_err(), "{bad:?}");
}

#[test]
fn a_v5_journal_moves_its_events_into_chunks_and_keeps_the_events_view() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odw.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        for m in &schema::MIGRATIONS[..5] {
            conn.execute_batch(m).unwrap();
        }
        conn.pragma_update(None, "user_version", 5).unwrap();
    }
    let j = Journal::open(&path).unwrap();
    j.create_run(&new_run("r-old", Owner::current())).unwrap();
    drop(j);
    // Two events as a V5 odw stored them, one row each; then migrate.
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "user_version", 5).unwrap();
        conn.execute_batch(
            "DROP VIEW events; DROP TABLE event_chunks; \
             CREATE TABLE events (run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE, \
             seq INTEGER NOT NULL, time_ms INTEGER NOT NULL, kind TEXT NOT NULL, \
             payload TEXT NOT NULL, PRIMARY KEY (run_id, seq)) STRICT, WITHOUT ROWID; \
             INSERT INTO events VALUES ('r-old', 1, 10, 'phaseStarted', '{\"kind\":\"phaseStarted\",\"phase\":\"a\"}'); \
             INSERT INTO events VALUES ('r-old', 2, 11, 'phaseStarted', '{\"kind\":\"phaseStarted\",\"phase\":\"b\"}');",
        )
        .unwrap();
    }
    let j = Journal::open(&path).unwrap();
    let id = RunId::from("r-old");
    let events = j.load_events(&id, 0).unwrap();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(
        events[1].kind,
        EventKind::PhaseStarted { phase: "b".into() }
    );
    assert_eq!(j.last_event_seq(&id).unwrap(), 2);
    // New events go after them, several to one row.
    for seq in 3..=5 {
        j.append_event(&event(
            "r-old",
            seq,
            EventKind::PhaseStarted {
                phase: format!("p{seq}"),
            },
        ));
    }
    j.flush().unwrap();
    assert_eq!(j.load_events(&id, 2).unwrap().len(), 3);
    // From inside a chunk: only what follows.
    let seqs = |after| -> Vec<u64> {
        j.load_events(&id, after)
            .unwrap()
            .iter()
            .map(|e| e.seq)
            .collect()
    };
    assert_eq!(seqs(0), vec![1, 2, 3, 4, 5]);
    assert_eq!(seqs(1), vec![2, 3, 4, 5]);
    assert_eq!(seqs(3), vec![4, 5]);
    assert_eq!(seqs(4), vec![5]);
    assert!(seqs(5).is_empty());
    assert!(seqs(9).is_empty());
    assert_eq!(j.last_event_seq(&id).unwrap(), 5);
    assert_eq!(j.integrity_check().unwrap(), "ok");
    let conn = Connection::open(&path).unwrap();
    let chunks: i64 = conn
        .query_row("SELECT count(*) FROM event_chunks", [], |r| r.get(0))
        .unwrap();
    assert_eq!(chunks, 3, "two migrated rows and one batch");
    // The view still answers queries written against the old table.
    let rows: Vec<(i64, String, String)> = conn
        .prepare(
            "SELECT seq, kind, payload FROM events WHERE run_id = 'r-old' AND seq > 3 ORDER BY seq",
        )
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].0, 4);
    assert_eq!(rows[0].1, "phaseStarted");
    let payload: Value = serde_json::from_str(&rows[0].2).unwrap();
    assert_eq!(payload["phase"], "p4");
}
