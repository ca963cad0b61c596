use super::*;
use odw_protocol::Usage;

fn queued(call: u64) -> EventKind {
    EventKind::AgentQueued {
        call,
        label: "x".into(),
        phase: None,
        model: "m".into(),
    }
}

fn run_finished() -> EventKind {
    EventKind::RunFinished {
        state: odw_protocol::RunState::Succeeded,
        error: None,
        usage: Usage::default(),
    }
}

fn setup(first_seq: u64) -> (Arc<Channel>, Emitter) {
    let channel = Channel::new(RunId("r".into()), first_seq);
    let emitter = Emitter::new(channel.clone(), None);
    (channel, emitter)
}

#[tokio::test]
async fn a_subscriber_just_after_the_start_sees_every_event() {
    let (channel, emitter) = setup(7);
    emitter.emit(queued(1));
    let mut events = channel.subscribe();
    emitter.emit(queued(2));
    emitter.emit(run_finished());
    let mut seqs = Vec::new();
    while let Some(e) = events.recv().await {
        seqs.push(e.seq);
    }
    assert_eq!(seqs, [8, 9, 10]);
    assert_eq!((events.tally().queued, events.skipped()), (2, 0));
    assert!(events.tally().ended);
}

#[tokio::test]
async fn a_lagging_subscriber_skips_events_but_keeps_an_exact_tally() {
    let (channel, emitter) = setup(0);
    let mut events = channel.subscribe();
    let n = CAPACITY as u64 * 3;
    for call in 1..=n {
        emitter.emit(queued(call));
    }
    emitter.emit(run_finished());
    let mut received = 0;
    let mut last = None;
    while let Some(e) = events.recv().await {
        received += 1;
        last = Some(e.kind);
    }
    assert!(matches!(last, Some(EventKind::RunFinished { .. })));
    assert_eq!(received + events.skipped(), n + 1);
    assert!(events.skipped() > 0);
    assert_eq!(events.tally().queued, n);
    assert_eq!(*events.tally(), *channel.tally().borrow());
}

#[tokio::test]
async fn a_late_subscriber_sees_how_the_run_began_and_ended() {
    let (channel, emitter) = setup(0);
    emitter.emit(EventKind::PhaseStarted { phase: "A".into() });
    for call in 1..=(BACKLOG as u64 * 2) {
        emitter.emit(queued(call));
    }
    emitter.emit(run_finished());
    let mut events = channel.subscribe();
    let first = events.recv().await.unwrap();
    assert!(matches!(first.kind, EventKind::PhaseStarted { .. }));
    let last = events.recv().await.unwrap();
    assert!(matches!(last.kind, EventKind::RunFinished { .. }));
    assert!(events.recv().await.is_none());
    assert_eq!(events.skipped(), BACKLOG as u64 * 2);
    assert_eq!(events.tally().queued, BACKLOG as u64 * 2);
}
