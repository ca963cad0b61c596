//! A run's events folded into what `odw_status`, `odw_health` and progress notifications report:
//! the phase, agents known, finished and failed, calls queued and in flight, and the cost. Pure
//! folding, shared by live runs (from the engine's events) and journaled ones (from their
//! recorded events).

use odw_protocol::{AgentErrorCode, EventKind, RunEvent, RunId};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use tokio::sync::watch;

/// Where one execution of a run stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub phase: Option<String>,
    /// Agent calls the run has made so far (more may come).
    pub total: u64,
    /// Calls that finished or were replayed from the journal.
    pub completed: u64,
    /// Calls that failed (calls stopped by a cancel or a pause are not failures).
    pub failed: u64,
    /// Calls stopped by a cancel or a pause.
    pub stopped: u64,
    pub cost_usd: f64,
    waiting: HashSet<u64>,
    running: HashSet<u64>,
}

impl Tally {
    /// Folds one event in; a new execution (a resume) starts the count afresh.
    pub fn apply(&mut self, kind: &EventKind) {
        match kind {
            EventKind::RunStarted { .. } => *self = Tally::default(),
            EventKind::PhaseStarted { phase } => self.phase = Some(phase.clone()),
            EventKind::AgentQueued { call, phase, .. } => {
                self.total += 1;
                self.waiting.insert(*call);
                if phase.is_some() {
                    self.phase = phase.clone();
                }
            }
            EventKind::AgentStarted { call, .. } => {
                self.waiting.remove(call);
                self.running.insert(*call);
            }
            EventKind::AgentFinished { call, cost_usd, .. } => {
                self.completed += 1;
                self.cost_usd += cost_usd;
                self.end(*call);
            }
            EventKind::AgentCached { call, .. } => {
                self.completed += 1;
                self.end(*call);
            }
            EventKind::AgentFailed { call, code, .. } => {
                if *code == AgentErrorCode::Cancelled {
                    self.stopped += 1;
                } else {
                    self.failed += 1;
                }
                self.end(*call);
            }
            EventKind::RunFinished { usage, .. } => {
                self.cost_usd = usage.cost_usd;
                self.waiting.clear();
                self.running.clear();
            }
            _ => {}
        }
    }

    fn end(&mut self, call: u64) {
        self.waiting.remove(&call);
        self.running.remove(&call);
    }

    /// Takes the final count of ended calls from the run's result (its last events may not
    /// have been folded in yet).
    pub fn settle(&mut self, ended: u64) {
        let missing = ended.saturating_sub(self.finished());
        self.completed += missing;
        self.total = self.total.max(ended);
        self.waiting.clear();
        self.running.clear();
    }

    /// Calls that ended one way or another.
    pub fn finished(&self) -> u64 {
        self.completed + self.failed + self.stopped
    }

    /// Calls waiting for a slot (or for their first request).
    pub fn queued(&self) -> usize {
        self.waiting.len()
    }

    /// Calls with a request in flight.
    pub fn in_flight(&self) -> usize {
        self.running.len()
    }

    /// The tally of a run's recorded events: its latest execution.
    pub fn of_events(events: &[RunEvent]) -> Tally {
        let mut t = Tally::default();
        for e in events {
            t.apply(&e.kind);
        }
        t
    }
}

/// The tallies of every run this server has seen events of, each watchable.
#[derive(Default)]
pub struct Tallies {
    runs: Mutex<HashMap<RunId, watch::Sender<Tally>>>,
}

impl Tallies {
    /// Folds an engine event into its run's tally.
    pub fn apply(&self, event: &RunEvent) {
        let mut runs = self.runs.lock().unwrap();
        let tx = runs
            .entry(event.run_id.clone())
            .or_insert_with(|| watch::channel(Tally::default()).0);
        tx.send_modify(|t| t.apply(&event.kind));
    }

    /// Follows a run's tally (from its next event on, or its tally so far).
    pub fn watch(&self, id: &RunId) -> watch::Receiver<Tally> {
        let mut runs = self.runs.lock().unwrap();
        runs.entry(id.clone())
            .or_insert_with(|| watch::channel(Tally::default()).0)
            .subscribe()
    }

    /// The tally of a run this server has seen events of.
    pub fn get(&self, id: &RunId) -> Option<Tally> {
        self.runs
            .lock()
            .unwrap()
            .get(id)
            .map(|t| t.borrow().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use odw_protocol::Usage;

    #[test]
    fn counts_calls_by_how_they_end_and_restarts_on_resume() {
        let mut t = Tally::default();
        let queued = |call| EventKind::AgentQueued {
            call,
            label: "x".into(),
            phase: Some("Map".into()),
            model: "m".into(),
        };
        t.apply(&queued(1));
        t.apply(&queued(2));
        t.apply(&queued(3));
        t.apply(&EventKind::AgentStarted {
            call: 1,
            attempt: 1,
        });
        assert_eq!((t.total, t.queued(), t.in_flight()), (3, 2, 1));
        t.apply(&EventKind::AgentFinished {
            call: 1,
            label: "x".into(),
            tokens_in: 1,
            tokens_out: 1,
            cost_usd: 0.5,
            duration_ms: 1,
        });
        t.apply(&EventKind::AgentFailed {
            call: 2,
            label: "x".into(),
            code: AgentErrorCode::Timeout,
            message: "slow".into(),
        });
        t.apply(&EventKind::AgentFailed {
            call: 3,
            label: "x".into(),
            code: AgentErrorCode::Cancelled,
            message: "run paused".into(),
        });
        assert_eq!(
            (t.completed, t.failed, t.stopped, t.finished()),
            (1, 1, 1, 3)
        );
        assert_eq!((t.queued(), t.in_flight()), (0, 0));
        assert_eq!(t.phase.as_deref(), Some("Map"));
        t.apply(&EventKind::RunFinished {
            state: odw_protocol::RunState::Paused,
            error: None,
            usage: Usage {
                cost_usd: 0.75,
                ..Usage::default()
            },
        });
        assert_eq!(t.cost_usd, 0.75);
        t.apply(&EventKind::RunStarted {
            script: "s".into(),
            dialect: "d".into(),
            name: None,
            phases: vec![],
            resumed: true,
            dry_run: false,
        });
        assert_eq!(t, Tally::default());
    }
}
