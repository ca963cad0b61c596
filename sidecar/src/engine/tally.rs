//! A run's progress folded from its events: the one count every face shows (the CLI's bar, the
//! editor's `$/progress`, MCP's progress notifications and `odw_status`), so the faces cannot
//! disagree about what "12/40 agents" means.
//!
//! Semantics, pinned by the tests below:
//! - `queued` is every agent call the run has made so far; more may come, so it is the bar's
//!   length, not a fixed total.
//! - A call is *done* once it ended in any way: finished, replayed from the journal (`cached`),
//!   failed, or stopped by a cancel or a pause (`cancelled`). A failed agent is done: the bar
//!   measures how much of the work is behind the run, not how much succeeded; failures are
//!   reported next to it.
//! - `failed` never counts calls stopped by a cancel or a pause: those were not the agent's fault.
//! - A resume is a new execution: its `runStarted` starts the count afresh.
//! - Events at or below the last folded `seq` are ignored, so a subscriber that resynchronised
//!   from the engine's tally (after it lagged) can keep folding the events still queued for it.

use odw_protocol::{AgentErrorCode, DecidedBy, EventKind, RunEvent};
use std::collections::HashSet;

/// Where one execution of a run stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub phase: Option<String>,
    /// Agent calls queued so far.
    pub queued: u64,
    pub finished: u64,
    /// Calls replayed from the journal by a resume.
    pub cached: u64,
    /// Calls that failed on their own.
    pub failed: u64,
    /// Calls stopped by a cancel or a pause.
    pub cancelled: u64,
    pub cost_usd: f64,
    /// Questions to the user about tools that have no answer yet.
    pub approvals_pending: u64,
    /// The run's end has been folded in.
    pub ended: bool,
    /// The last event folded in.
    pub seq: u64,
    waiting: HashSet<u64>,
    running: HashSet<u64>,
}

impl Tally {
    /// Folds one event in, unless it was already (see the module's notes on `seq`).
    pub fn apply(&mut self, event: &RunEvent) {
        if event.seq <= self.seq {
            return;
        }
        self.apply_kind(&event.kind);
        self.seq = event.seq;
    }

    /// Folds one event in, whatever its `seq`.
    pub fn apply_kind(&mut self, kind: &EventKind) {
        match kind {
            EventKind::RunStarted { .. } => {
                *self = Tally {
                    seq: self.seq,
                    ..Tally::default()
                }
            }
            EventKind::PhaseStarted { phase } => self.phase = Some(phase.clone()),
            EventKind::AgentQueued { call, phase, .. } => {
                self.queued += 1;
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
                self.finished += 1;
                self.cost_usd += cost_usd;
                self.end(*call);
            }
            EventKind::AgentCached { call, .. } => {
                self.cached += 1;
                self.end(*call);
            }
            EventKind::AgentFailed { call, code, .. } => {
                if *code == AgentErrorCode::Cancelled {
                    self.cancelled += 1;
                } else {
                    self.failed += 1;
                }
                self.end(*call);
            }
            EventKind::ApprovalRequested { .. } => self.approvals_pending += 1,
            // Decisions by policy or by an earlier "allow for this run" answer no question.
            EventKind::ApprovalDecided { by, .. } => {
                if matches!(
                    by,
                    DecidedBy::User | DecidedBy::Timeout | DecidedBy::NoChannel
                ) {
                    self.approvals_pending = self.approvals_pending.saturating_sub(1);
                }
            }
            EventKind::RunFinished { usage, .. } => {
                // The run's own accounting includes what no agent event carries (retries).
                self.cost_usd = usage.cost_usd;
                self.approvals_pending = 0;
                self.ended = true;
                self.waiting.clear();
                self.running.clear();
            }
            _ => {}
        }
    }

    /// Whether an event of this kind can change what a progress report shows.
    pub fn moves(kind: &EventKind) -> bool {
        matches!(
            kind,
            EventKind::RunStarted { .. }
                | EventKind::PhaseStarted { .. }
                | EventKind::AgentQueued { .. }
                | EventKind::AgentFinished { .. }
                | EventKind::AgentCached { .. }
                | EventKind::AgentFailed { .. }
                | EventKind::RunFinished { .. }
        )
    }

    fn end(&mut self, call: u64) {
        self.waiting.remove(&call);
        self.running.remove(&call);
    }

    /// Calls that ended one way or another: the bar's position.
    pub fn done(&self) -> u64 {
        self.finished + self.cached + self.failed + self.cancelled
    }

    /// Calls that produced a result, live or replayed.
    pub fn completed(&self) -> u64 {
        self.finished + self.cached
    }

    /// Calls waiting for a slot (or for their first request).
    pub fn waiting(&self) -> usize {
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
            t.apply(e);
        }
        t
    }
}

#[cfg(test)]
mod tests;
