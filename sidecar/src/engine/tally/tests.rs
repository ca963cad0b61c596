use super::Tally;
use odw_protocol::{
    AgentErrorCode, ApprovalDecision, DecidedBy, EventKind, RunEvent, RunId, RunState, Usage,
};

fn queued(call: u64) -> EventKind {
    EventKind::AgentQueued {
        call,
        label: "x".into(),
        phase: Some("Map".into()),
        model: "m".into(),
    }
}

fn finished(call: u64, cost_usd: f64) -> EventKind {
    EventKind::AgentFinished {
        call,
        label: "x".into(),
        tokens_in: 1,
        tokens_out: 1,
        cost_usd,
        duration_ms: 1,
    }
}

fn failed(call: u64, code: AgentErrorCode) -> EventKind {
    EventKind::AgentFailed {
        call,
        label: "x".into(),
        code,
        message: "m".into(),
    }
}

fn started() -> EventKind {
    EventKind::RunStarted {
        script: "s".into(),
        dialect: "d".into(),
        name: None,
        phases: vec![],
        resumed: true,
        dry_run: false,
    }
}

fn event(seq: u64, kind: EventKind) -> RunEvent {
    RunEvent {
        run_id: RunId("r".into()),
        seq,
        time_ms: 0,
        kind,
    }
}

#[test]
fn every_ended_call_is_done_and_failures_exclude_cancels() {
    let mut t = Tally::default();
    for call in 1..=5 {
        t.apply_kind(&queued(call));
    }
    t.apply_kind(&EventKind::AgentStarted {
        call: 1,
        attempt: 1,
    });
    assert_eq!(
        (t.queued, t.waiting(), t.in_flight(), t.done()),
        (5, 4, 1, 0)
    );
    t.apply_kind(&finished(1, 0.5));
    t.apply_kind(&EventKind::AgentCached {
        call: 2,
        label: "x".into(),
    });
    t.apply_kind(&failed(3, AgentErrorCode::Timeout));
    t.apply_kind(&failed(4, AgentErrorCode::Cancelled));
    assert_eq!((t.finished, t.cached, t.failed, t.cancelled), (1, 1, 1, 1));
    // A failed agent counts as done for the bar; so do replayed and stopped ones.
    assert_eq!((t.done(), t.completed(), t.queued), (4, 2, 5));
    assert_eq!((t.waiting(), t.in_flight()), (1, 0));
    assert_eq!(t.phase.as_deref(), Some("Map"));
    assert_eq!(t.cost_usd, 0.5);
}

#[test]
fn the_run_end_settles_cost_and_clears_what_was_pending() {
    let mut t = Tally::default();
    t.apply_kind(&queued(1));
    t.apply_kind(&finished(1, 0.25));
    t.apply_kind(&queued(2));
    t.apply_kind(&EventKind::RunFinished {
        state: RunState::Paused,
        error: None,
        usage: Usage {
            cost_usd: 0.75,
            ..Usage::default()
        },
    });
    assert!(t.ended);
    assert_eq!((t.cost_usd, t.waiting(), t.in_flight()), (0.75, 0, 0));
    // A call that never ended is not done, even once the run is over.
    assert_eq!((t.done(), t.queued), (1, 2));
}

#[test]
fn a_resume_starts_afresh_but_keeps_its_place_in_the_stream() {
    let mut t = Tally::default();
    t.apply(&event(1, queued(1)));
    t.apply(&event(2, finished(1, 1.0)));
    t.apply(&event(3, started()));
    assert_eq!(
        t,
        Tally {
            seq: 3,
            ..Tally::default()
        }
    );
}

#[test]
fn events_already_folded_are_ignored() {
    let mut t = Tally::default();
    t.apply(&event(1, queued(1)));
    t.apply(&event(2, queued(2)));
    // What a lagging subscriber still has queued after resynchronising from the engine.
    let snapshot = t.clone();
    t.apply(&event(2, queued(2)));
    t.apply(&event(1, queued(1)));
    assert_eq!(t, snapshot);
    t.apply(&event(3, finished(1, 0.0)));
    assert_eq!((t.done(), t.seq), (1, 3));
}

#[test]
fn approvals_pending_are_questions_without_an_answer() {
    let mut t = Tally::default();
    let requested = EventKind::ApprovalRequested {
        tool: "run_bash".into(),
        detail: "ls".into(),
        call: Some(1),
        label: None,
    };
    let decided = |by| EventKind::ApprovalDecided {
        tool: "run_bash".into(),
        decision: ApprovalDecision::AllowOnce,
        by,
        call: Some(1),
    };
    t.apply_kind(&requested);
    t.apply_kind(&requested);
    assert_eq!(t.approvals_pending, 2);
    // A policy decision answers no question.
    t.apply_kind(&decided(DecidedBy::Policy));
    assert_eq!(t.approvals_pending, 2);
    t.apply_kind(&decided(DecidedBy::User));
    t.apply_kind(&decided(DecidedBy::Timeout));
    assert_eq!(t.approvals_pending, 0);
}

#[test]
fn recorded_events_tally_the_latest_execution() {
    let events = vec![
        event(1, started()),
        event(2, queued(1)),
        event(3, failed(1, AgentErrorCode::Timeout)),
        event(4, started()),
        event(5, queued(1)),
        event(6, finished(1, 0.1)),
    ];
    let t = Tally::of_events(&events);
    assert_eq!((t.queued, t.finished, t.failed, t.seq), (1, 1, 0, 6));
}
