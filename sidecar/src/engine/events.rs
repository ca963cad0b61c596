//! Run events: numbered, timestamped, fanned out to every subscriber (CLI, LSP) in order.

use odw_protocol::{EventKind, RunEvent, RunId};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc::UnboundedSender;

/// Subscribers to every run's events, shared by the engine.
pub type Subscribers = Arc<Mutex<Vec<UnboundedSender<RunEvent>>>>;

/// Hook called with every event of a run, in order (the journal).
pub type Sink = Arc<dyn Fn(&RunEvent) + Send + Sync>;

/// Emits the events of one run.
pub struct Emitter {
    run_id: RunId,
    subscribers: Subscribers,
    sink: Option<Sink>,
    /// Held while numbering and sending, so every subscriber sees events in `seq` order.
    seq: Mutex<u64>,
}

impl Emitter {
    pub fn new(
        run_id: RunId,
        subscribers: Subscribers,
        sink: Option<Sink>,
        first_seq: u64,
    ) -> Self {
        Emitter {
            run_id,
            subscribers,
            sink,
            seq: Mutex::new(first_seq),
        }
    }

    /// Numbers, stamps and sends one event.
    pub fn emit(&self, kind: EventKind) {
        let mut seq = self.seq.lock().unwrap();
        *seq += 1;
        let event = RunEvent {
            run_id: self.run_id.clone(),
            seq: *seq,
            time_ms: now_ms(),
            kind,
        };
        if let Some(sink) = &self.sink {
            sink(&event);
        }
        let mut subs = self.subscribers.lock().unwrap();
        subs.retain(|s| s.send(event.clone()).is_ok());
    }
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
