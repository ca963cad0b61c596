//! Call starts held back by the writer (`journal::starts`): a call that ends soon is one row,
//! and a start is written on its own once it is due or something needs it.

use super::*;
use crate::journal::starts::START_DELAY;
use std::time::Duration;

use super::call_start as start;

fn calls(j: &Journal, run: &str) -> Vec<CallRow> {
    j.load_calls(&RunId::from(run)).unwrap()
}

#[test]
fn a_call_that_ends_soon_is_one_row_with_its_start_and_its_end() {
    let (_dir, j) = temp_journal();
    j.create_run(&new_run("r-1", Owner::current())).unwrap();
    j.call_started(start("r-1", "a", 7));
    j.call_finished(succeeded("r-1", "a", 0, json!("done")));
    j.flush().unwrap();
    let rows = calls(&j, "r-1");
    assert_eq!(rows.len(), 1);
    let row = &rows[0];
    assert_eq!(row.status, CallStatus::Succeeded);
    assert_eq!(row.result, Some(json!("done")));
    assert_eq!((row.call_seq, row.label.as_str()), (7, "label 7"));
    assert_eq!(row.phase.as_deref(), Some("map"));
    assert_eq!(row.started_ms, Some(1_007));
    assert!(row.finished_ms.is_some());
}

#[test]
fn a_start_is_written_once_due_even_when_nothing_else_is_queued() {
    let (_dir, j) = temp_journal();
    j.create_run(&new_run("r-1", Owner::current())).unwrap();
    j.call_started(start("r-1", "a", 1));
    // No flush: the writer wakes by itself when the start falls due and commits it.
    let deadline = Instant::now() + START_DELAY + Duration::from_secs(10);
    let rows = loop {
        let rows = calls(&j, "r-1");
        if !rows.is_empty() || Instant::now() > deadline {
            break rows;
        }
        std::thread::sleep(START_DELAY / 4);
    };
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].status, CallStatus::Running);
    // Its end later updates the same row.
    j.call_finished(succeeded("r-1", "a", 0, json!(1)));
    j.flush().unwrap();
    assert_eq!(calls(&j, "r-1")[0].status, CallStatus::Succeeded);
}

#[test]
fn a_step_or_a_state_change_writes_the_held_start_first() {
    let (_dir, j) = temp_journal();
    j.create_run(&new_run("r-1", Owner::current())).unwrap();
    j.call_started(start("r-1", "tooled", 1));
    j.call_started(start("r-1", "other", 2));
    j.record_step(Step {
        run_id: RunId::from("r-1"),
        identity: "tooled".into(),
        occurrence: 0,
        turn: 0,
        index: Some(0),
        input: Some(json!({"cmd": "ls"})),
        output: None,
        tokens_in: 0,
        tokens_out: 0,
        cost_usd: 0.0,
        time_ms: 5,
    });
    j.flush().unwrap();
    let rows = calls(&j, "r-1");
    assert_eq!(rows.len(), 1, "only the call with a step: {rows:?}");
    assert_eq!(rows[0].identity, "tooled");
    assert_eq!(rows[0].status, CallStatus::Running);
    // The run ends (cancelled, say) with a call still running: its row is there.
    j.set_state(
        &RunId::from("r-1"),
        RunState::Cancelled,
        Some("cancelled"),
        None,
    );
    j.flush().unwrap();
    assert_eq!(calls(&j, "r-1").len(), 2);
}

#[test]
fn closing_the_journal_writes_the_starts_it_holds() {
    let (dir, j) = temp_journal();
    j.create_run(&new_run("r-1", Owner::current())).unwrap();
    j.call_started(start("r-1", "a", 1));
    j.call_started(start("r-1", "b", 2));
    drop(j);
    let j = Journal::open(&dir.path().join(".odw/odw.db")).unwrap();
    let rows = calls(&j, "r-1");
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|r| r.status == CallStatus::Running));
}

#[test]
fn a_held_start_never_overwrites_a_recorded_success() {
    let (_dir, j) = temp_journal();
    j.create_run(&new_run("r-1", Owner::current())).unwrap();
    j.call_finished(succeeded("r-1", "a", 0, json!("first")));
    j.flush().unwrap();
    // A later execution starts and fails the same call within one batch.
    j.call_started(start("r-1", "a", 9));
    j.call_finished(CallEnd {
        outcome: CallOutcome::Failed {
            code: AgentErrorCode::Timeout,
            message: "late".into(),
        },
        ..succeeded("r-1", "a", 0, json!(null))
    });
    j.flush().unwrap();
    let row = &calls(&j, "r-1")[0];
    assert_eq!(row.status, CallStatus::Succeeded);
    assert_eq!(row.result, Some(json!("first")));
}
