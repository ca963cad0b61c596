//! Call starts the writer holds back for a moment, so that a call that ends soon after it
//! starts costs one row write instead of two.
//!
//! A start row only says "this call is running" (for `odw show` and the editors); nothing that
//! makes a resume exact depends on it: a result is written with its end, a tool call's step
//! before it runs. So a start is written [`START_DELAY`] after it was queued, or at once when
//! something needs the row: a step of the call, the run changing state, the writer closing.
//! A call that ends before then is written once, start and end together. Profiled on a
//! 10,000-agent fan-out, the start rows were a fifth of the writer's time.

use super::types::CallStart;
use odw_protocol::RunId;
use std::collections::{HashMap, VecDeque};
use std::hash::BuildHasher;
use std::time::{Duration, Instant};

/// How long a start waits for its end before it is written on its own. Short enough that a
/// call shows as running almost at once; longer than an agent call takes on a fast local
/// model or when the journal is the bottleneck.
pub(super) const START_DELAY: Duration = Duration::from_millis(100);

/// The starts not written yet.
#[derive(Default)]
pub(super) struct PendingStarts {
    /// By a hash of the call's key; a collision shares the vector.
    by_key: HashMap<u64, Vec<Held>>,
    /// When each start is due, in the order they were queued (so deadlines are ordered).
    due: VecDeque<(Instant, u64)>,
    hasher: std::hash::RandomState,
}

struct Held {
    start: CallStart,
    due: Instant,
}

impl PendingStarts {
    fn key(&self, run_id: &RunId, identity: &str, occurrence: u32) -> u64 {
        self.hasher.hash_one((run_id, identity, occurrence))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// Holds a start; a second start of the same call replaces the first (its row would have
    /// been overwritten).
    pub(super) fn hold(&mut self, start: CallStart, now: Instant) {
        let key = self.key(&start.run_id, &start.identity, start.occurrence);
        let due = now + START_DELAY;
        let held = self.by_key.entry(key).or_default();
        held.retain(|h| !same_call(&h.start, &start));
        held.push(Held { start, due });
        self.due.push_back((due, key));
    }

    /// Takes the held start of a call, if any.
    pub(super) fn take(
        &mut self,
        run_id: &RunId,
        identity: &str,
        occurrence: u32,
    ) -> Option<CallStart> {
        let key = self.key(run_id, identity, occurrence);
        let held = self.by_key.get_mut(&key)?;
        let i = held.iter().position(|h| {
            h.start.run_id == *run_id
                && h.start.identity == identity
                && h.start.occurrence == occurrence
        })?;
        let start = held.swap_remove(i).start;
        if held.is_empty() {
            self.by_key.remove(&key);
        }
        Some(start)
    }

    /// Takes every start that is due at `now`.
    pub(super) fn take_due(&mut self, now: Instant) -> Vec<CallStart> {
        let mut out = Vec::new();
        while let Some(&(due, key)) = self.due.front() {
            if due > now {
                break;
            }
            self.due.pop_front();
            // The start may have ended (taken) or been replaced by a later one since.
            if let Some(held) = self.by_key.get_mut(&key) {
                let (ready, wait): (Vec<Held>, Vec<Held>) =
                    held.drain(..).partition(|h| h.due <= now);
                *held = wait;
                if held.is_empty() {
                    self.by_key.remove(&key);
                }
                out.extend(ready.into_iter().map(|h| h.start));
            }
        }
        out
    }

    /// Takes every start of one run.
    pub(super) fn take_run(&mut self, run_id: &RunId) -> Vec<CallStart> {
        let mut out = Vec::new();
        self.by_key.retain(|_, held| {
            let (mine, rest): (Vec<Held>, Vec<Held>) =
                held.drain(..).partition(|h| h.start.run_id == *run_id);
            out.extend(mine.into_iter().map(|h| h.start));
            *held = rest;
            !held.is_empty()
        });
        out
    }

    /// When the next start falls due, if any is held.
    pub(super) fn next_due(&mut self) -> Option<Instant> {
        // Entries whose start was taken are skipped lazily here and in `take_due`.
        while let Some(&(due, key)) = self.due.front() {
            if self.by_key.contains_key(&key) {
                return Some(due);
            }
            self.due.pop_front();
        }
        None
    }
}

fn same_call(a: &CallStart, b: &CallStart) -> bool {
    a.run_id == b.run_id && a.identity == b.identity && a.occurrence == b.occurrence
}
