//! One row per call without a unique index (schema V7, `writes::CallRows`).

use super::*;

use super::call_start as start;

fn failed(run: &str, identity: &str) -> CallEnd {
    CallEnd {
        outcome: CallOutcome::Failed {
            code: AgentErrorCode::Timeout,
            message: "slow".into(),
        },
        ..succeeded(run, identity, 0, json!(null))
    }
}

#[test]
fn a_call_keeps_one_row_across_writers_and_executions() {
    let (dir, j) = temp_journal();
    let id = RunId::from("r-1");
    j.create_run(&new_run("r-1", Owner::current())).unwrap();
    j.call_started(start("r-1", "a", 1));
    j.call_finished(failed("r-1", "a"));
    j.call_started(start("r-1", "b", 2));
    drop(j);
    // Another process (a new writer that has not seen the rows) resumes the run.
    let j = Journal::open(&dir.path().join(".odw/odw.db")).unwrap();
    j.claim(&id, &Owner::current(), None).unwrap();
    j.call_started(start("r-1", "a", 5));
    j.call_finished(succeeded("r-1", "a", 0, json!("second try")));
    j.call_finished(succeeded("r-1", "b", 0, json!("b")));
    j.flush().unwrap();
    let calls = j.load_calls(&id).unwrap();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert_eq!(calls[0].identity, "b", "ordered by call_seq");
    assert_eq!(calls[1].call_seq, 5);
    assert_eq!(calls[1].result, Some(json!("second try")));
    // A success stays.
    j.call_started(start("r-1", "a", 9));
    j.call_finished(failed("r-1", "a"));
    j.flush().unwrap();
    let a = &j.load_calls(&id).unwrap()[1];
    assert_eq!((a.status, a.call_seq), (CallStatus::Succeeded, 5));
    let conn = Connection::open(dir.path().join(".odw/odw.db")).unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM calls", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
}

#[test]
fn should_a_call_have_two_rows_its_first_success_wins() {
    let (dir, j) = temp_journal();
    let id = RunId::from("r-1");
    j.create_run(&new_run("r-1", Owner::current())).unwrap();
    j.flush().unwrap();
    // As if two processes had both recorded call "a" (a stale owner woke up).
    let conn = Connection::open(dir.path().join(".odw/odw.db")).unwrap();
    for (status, result) in [
        ("failed", None),
        ("succeeded", Some("\"first\"")),
        ("succeeded", Some("\"second\"")),
    ] {
        conn.execute(
            "INSERT INTO calls (run_id, call_seq, identity, occurrence, label, model, status, \
             result) VALUES ('r-1', 1, 'a', 0, 'a', 'm', ?1, ?2)",
            rusqlite::params![status, result],
        )
        .unwrap();
    }
    assert_eq!(
        j.load_finished_calls(&id).unwrap()[&("a".into(), 0)].result,
        json!("first")
    );
    assert_eq!(
        j.finished_call(&id, "a", 0).unwrap().unwrap().result,
        json!("first")
    );
    let calls = j.load_calls(&id).unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].result, Some(json!("first")));
    // The writer does not add a fourth row or touch the success.
    j.call_finished(succeeded("r-1", "a", 0, json!("third")));
    j.flush().unwrap();
    let n: i64 = conn
        .query_row("SELECT count(*) FROM calls", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 3);
    assert_eq!(j.load_calls(&id).unwrap()[0].result, Some(json!("first")));
}

#[test]
fn a_v6_journal_keeps_its_calls_without_the_random_order_index() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("odw.db");
    {
        let conn = Connection::open(&path).unwrap();
        conn.pragma_update(None, "foreign_keys", "ON").unwrap();
        for m in &schema::MIGRATIONS[..6] {
            conn.execute_batch(m).unwrap();
        }
        conn.pragma_update(None, "user_version", 6).unwrap();
        conn.execute_batch(
            "INSERT INTO runs (run_id, script_path, script_text, dialect, args, cwd, config, \
             model_map, state, heartbeat_ms, created_ms, started_ms) VALUES ('r-old', 'a.js', \
             '', 'execute', '{}', '/', '{}', '{}', 'failed', 0, 0, 0); \
             INSERT INTO calls (run_id, call_seq, identity, occurrence, label, model, status, \
             result) VALUES ('r-old', 2, 'b', 0, 'b', 'm', 'succeeded', '\"kept\"'); \
             INSERT INTO calls (run_id, call_seq, identity, occurrence, label, model, status) \
             VALUES ('r-old', 1, 'a', 0, 'a', 'm', 'failed');",
        )
        .unwrap();
    }
    let j = Journal::open(&path).unwrap();
    let id = RunId::from("r-old");
    let calls = j.load_calls(&id).unwrap();
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[1].result, Some(json!("kept")));
    // The failed call is still the same row when it is recorded again.
    j.call_finished(succeeded("r-old", "a", 0, json!("now")));
    j.flush().unwrap();
    assert_eq!(j.load_finished_calls(&id).unwrap().len(), 2);
    assert_eq!(j.integrity_check().unwrap(), "ok");
    drop(j);
    let conn = Connection::open(&path).unwrap();
    let indexes: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name = 'calls'")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(indexes, vec!["calls_by_run".to_string()]);
    let n: i64 = conn
        .query_row("SELECT count(*) FROM calls", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 2);
}
