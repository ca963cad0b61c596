//! Run events: numbered, timestamped, and fanned out per run to whoever follows that run.
//!
//! Memory stays bounded and the engine never waits for a face: each run has a broadcast
//! channel of [`CAPACITY`] events. A subscriber that falls further behind loses the oldest
//! events it had not read (counted in [`RunEvents::skipped`]) and its tally is replaced by the
//! engine's own, which folds every event as it is emitted; so progress stays exact, and only
//! the skipped events' lines (a log line, an `odw/runEvent`) are missing. The run's last event
//! is never skipped: it is the newest.

use super::tally::Tally;
use odw_protocol::{EventKind, RunEvent, RunId};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, watch};

/// Events a subscriber may fall behind by before it skips some.
pub const CAPACITY: usize = 1024;
/// Events kept for a subscriber that arrives after the run began (a face subscribes right
/// after `start` returns, by when the run may have emitted its first events).
const BACKLOG: usize = 256;

/// Hook called with every event of a run, in order (the journal).
pub type Sink = Arc<dyn Fn(&RunEvent) + Send + Sync>;

/// One run's fan-out, shared by its emitter and the engine.
pub struct Channel {
    run_id: RunId,
    first_seq: u64,
    /// Held while numbering and sending, so every subscriber sees events in `seq` order.
    state: Mutex<State>,
    tally: watch::Sender<Tally>,
}

struct State {
    seq: u64,
    tx: broadcast::Sender<RunEvent>,
    /// The run's first event, kept for as long as the run: it names what the run is.
    head: Option<RunEvent>,
    /// The latest events after the first.
    backlog: VecDeque<RunEvent>,
}

impl Channel {
    /// A channel whose first event is numbered `first_seq + 1` (a resume continues the run's
    /// numbering).
    pub fn new(run_id: RunId, first_seq: u64) -> Arc<Self> {
        Arc::new(Channel {
            run_id,
            first_seq,
            state: Mutex::new(State {
                seq: first_seq,
                tx: broadcast::channel(CAPACITY).0,
                head: None,
                backlog: VecDeque::new(),
            }),
            tally: watch::channel(Tally::default()).0,
        })
    }

    /// Follows the run from its first event still kept on.
    pub fn subscribe(&self) -> RunEvents {
        let state = self.state.lock().unwrap();
        let backlog: VecDeque<RunEvent> =
            state.head.iter().chain(&state.backlog).cloned().collect();
        RunEvents {
            skipped: (state.seq - self.first_seq).saturating_sub(backlog.len() as u64),
            backlog,
            rx: state.tx.subscribe(),
            // Taken under the lock: it has folded exactly the events sent so far, so the
            // backlog replays lines without counting them twice.
            tally: self.tally.borrow().clone(),
            engine_tally: self.tally.subscribe(),
            ended: false,
        }
    }

    /// The run's progress, updated as each event is emitted.
    pub fn tally(&self) -> watch::Receiver<Tally> {
        self.tally.subscribe()
    }
}

/// Emits the events of one run.
pub struct Emitter {
    channel: Arc<Channel>,
    sink: Option<Sink>,
}

impl Emitter {
    pub fn new(channel: Arc<Channel>, sink: Option<Sink>) -> Self {
        Emitter { channel, sink }
    }

    /// Numbers, stamps and sends one event.
    pub fn emit(&self, kind: EventKind) {
        let mut state = self.channel.state.lock().unwrap();
        state.seq += 1;
        let event = RunEvent {
            run_id: self.channel.run_id.clone(),
            seq: state.seq,
            time_ms: now_ms(),
            kind,
        };
        if let Some(sink) = &self.sink {
            sink(&event);
        }
        self.channel.tally.send_modify(|t| t.apply(&event));
        if state.head.is_none() {
            state.head = Some(event.clone());
        } else if matches!(event.kind, EventKind::RunFinished { .. }) {
            // A finished run is kept for its result; a late subscriber needs only how it
            // began and how it ended.
            state.backlog = VecDeque::from([event.clone()]);
        } else {
            state.backlog.push_back(event.clone());
            if state.backlog.len() > BACKLOG {
                state.backlog.pop_front();
            }
        }
        // No receiver is not an error: nobody follows this run.
        let _ = state.tx.send(event);
    }
}

/// One subscriber's view of one run: its events in order, and its progress.
pub struct RunEvents {
    backlog: VecDeque<RunEvent>,
    rx: broadcast::Receiver<RunEvent>,
    tally: Tally,
    engine_tally: watch::Receiver<Tally>,
    skipped: u64,
    ended: bool,
}

impl RunEvents {
    /// The next event; `None` after the run's last one.
    pub async fn recv(&mut self) -> Option<RunEvent> {
        if self.ended {
            return None;
        }
        let event = match self.backlog.pop_front() {
            Some(e) => e,
            None => loop {
                match self.rx.recv().await {
                    Ok(e) => break e,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        self.skipped += n;
                        self.tally = self.engine_tally.borrow().clone();
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            },
        };
        self.tally.apply(&event);
        self.ended = matches!(event.kind, EventKind::RunFinished { .. });
        Some(event)
    }

    /// The run's progress as of the events received so far (or later, after a lag).
    pub fn tally(&self) -> &Tally {
        &self.tally
    }

    /// Events this subscriber never saw: it fell more than [`CAPACITY`] events behind, or
    /// subscribed after they were dropped from the backlog.
    pub fn skipped(&self) -> u64 {
        self.skipped
    }
}

/// Milliseconds since the Unix epoch: the journal's clock, so events and rows agree.
pub use crate::journal::now_ms;

#[cfg(test)]
mod tests;
