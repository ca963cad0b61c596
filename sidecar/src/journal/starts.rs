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
use std::collections::hash_map::Entry;
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
    /// By a hash of the call's key.
    by_key: HashMap<u64, Held, foldhash::fast::RandomState>,
    /// Starts whose key hash another held call already has (practically never).
    collided: Vec<Held>,
    /// When each start is due, in the order they were queued (so deadlines are ordered).
    due: VecDeque<(Instant, u64)>,
}

struct Held {
    start: CallStart,
    due: Instant,
}

impl Held {
    fn is(&self, run_id: &RunId, identity: &str, occurrence: u32) -> bool {
        self.start.occurrence == occurrence
            && *self.start.identity == *identity
            && self.start.run_id == *run_id
    }
}

impl PendingStarts {
    fn key(&self, run_id: &RunId, identity: &str, occurrence: u32) -> u64 {
        self.by_key
            .hasher()
            .hash_one((run_id, identity, occurrence))
    }

    pub(super) fn is_empty(&self) -> bool {
        self.by_key.is_empty() && self.collided.is_empty()
    }

    /// Holds a start; a second start of the same call replaces the first (its row would have
    /// been overwritten).
    pub(super) fn hold(&mut self, start: CallStart, now: Instant) {
        let key = self.key(&start.run_id, &start.identity, start.occurrence);
        let due = now + START_DELAY;
        let held = Held { start, due };
        match self.by_key.entry(key) {
            Entry::Vacant(slot) => {
                slot.insert(held);
            }
            Entry::Occupied(mut slot) => {
                let s = &held.start;
                if slot.get().is(&s.run_id, &s.identity, s.occurrence) {
                    slot.insert(held);
                } else {
                    self.collided
                        .retain(|h| !h.is(&s.run_id, &s.identity, s.occurrence));
                    self.collided.push(held);
                }
            }
        }
        self.due.push_back((due, key));
    }

    /// Takes the held start of a call, if any.
    pub(super) fn take(
        &mut self,
        run_id: &RunId,
        identity: &str,
        occurrence: u32,
    ) -> Option<CallStart> {
        if self.is_empty() {
            return None;
        }
        let key = self.key(run_id, identity, occurrence);
        if let Entry::Occupied(slot) = self.by_key.entry(key)
            && slot.get().is(run_id, identity, occurrence)
        {
            return Some(slot.remove().start);
        }
        let i = self
            .collided
            .iter()
            .position(|h| h.is(run_id, identity, occurrence))?;
        Some(self.collided.swap_remove(i).start)
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
            if let Entry::Occupied(slot) = self.by_key.entry(key)
                && slot.get().due <= now
            {
                out.push(slot.remove().start);
            }
        }
        if !self.collided.is_empty() {
            let (ready, wait) = std::mem::take(&mut self.collided)
                .into_iter()
                .partition(|h| h.due <= now);
            self.collided = wait;
            out.extend(ready.into_iter().map(|h: Held| h.start));
        }
        out
    }

    /// Takes every start of one run.
    pub(super) fn take_run(&mut self, run_id: &RunId) -> Vec<CallStart> {
        let mine = |h: &Held| h.start.run_id == *run_id;
        let mut out: Vec<CallStart> = self
            .by_key
            .extract_if(|_, h| mine(h))
            .map(|(_, h)| h.start)
            .collect();
        out.extend(self.collided.extract_if(.., |h| mine(h)).map(|h| h.start));
        out
    }

    /// When the next start falls due, if any is held.
    pub(super) fn next_due(&mut self) -> Option<Instant> {
        // Entries whose start was taken are skipped lazily here and in `take_due`.
        while let Some(&(due, key)) = self.due.front() {
            if self.by_key.contains_key(&key) || !self.collided.is_empty() {
                return Some(due);
            }
            self.due.pop_front();
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(run: &str, identity: &str) -> CallStart {
        CallStart {
            run_id: RunId::from(run),
            call_seq: 1,
            identity: identity.into(),
            occurrence: 0,
            label: "".into(),
            phase: None,
            model: "".into(),
            started_ms: 0,
        }
    }

    #[test]
    fn held_starts_are_taken_by_call_by_run_and_when_due() {
        let t0 = Instant::now();
        let mut p = PendingStarts::default();
        p.hold(start("r1", "a"), t0);
        p.hold(start("r1", "b"), t0);
        p.hold(start("r2", "a"), t0 + START_DELAY);
        // A second start of the same call replaces the first.
        p.hold(start("r1", "b"), t0);
        assert!(
            p.take(&RunId::from("r1"), "a", 1).is_none(),
            "another occurrence"
        );
        assert_eq!(
            p.take(&RunId::from("r1"), "a", 0).unwrap().identity,
            "a".into()
        );
        assert!(p.take(&RunId::from("r1"), "a", 0).is_none());
        assert_eq!(p.next_due(), Some(t0 + START_DELAY));
        let due: Vec<_> = p
            .take_due(t0 + START_DELAY)
            .into_iter()
            .map(|s| s.run_id)
            .collect();
        assert_eq!(due, vec![RunId::from("r1")]);
        assert_eq!(p.take_run(&RunId::from("r2")).len(), 1);
        assert!(p.is_empty());
        assert_eq!(p.next_due(), None);
    }

    #[test]
    fn a_start_whose_key_hash_is_taken_is_still_found() {
        let t0 = Instant::now();
        let mut p = PendingStarts::default();
        // As if "b" hashed like "a": it waits in the collision list.
        p.hold(start("r1", "a"), t0);
        p.collided.push(Held {
            start: start("r1", "b"),
            due: t0 + START_DELAY,
        });
        assert_eq!(
            p.take(&RunId::from("r1"), "b", 0).unwrap().identity,
            "b".into()
        );
        p.collided.push(Held {
            start: start("r1", "c"),
            due: t0 + START_DELAY,
        });
        assert_eq!(p.take_due(t0 + START_DELAY).len(), 2);
        p.collided.push(Held {
            start: start("r3", "d"),
            due: t0 + START_DELAY,
        });
        assert_eq!(p.take_run(&RunId::from("r3")).len(), 1);
        assert!(p.is_empty());
    }
}
