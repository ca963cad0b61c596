//! What earlier executions of a run recorded, and how far this execution has got through it:
//! finished calls and tool-loop traces by call identity and occurrence, and the `Date.now()` /
//! `Math.random()` values in the order the script asked for them.

use crate::journal::{CachedCall, CallKey, NondetValue, Trace};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A run's replay bookkeeping.
pub(super) struct Recall {
    /// Finished calls of earlier executions of this run, by identity and occurrence.
    cached: HashMap<CallKey, CachedCall>,
    /// Tool-loop steps an earlier execution recorded, by call.
    traces: HashMap<CallKey, Trace>,
    progress: Mutex<Progress>,
}

struct Progress {
    /// How many calls with each identity this execution has made.
    occurrences: HashMap<Arc<str>, u32>,
    recorded: Vec<(String, NondetValue)>,
    next: u64,
    diverged: bool,
}

impl Recall {
    pub fn new(
        cached: HashMap<CallKey, CachedCall>,
        traces: HashMap<CallKey, Trace>,
        nondet: Vec<(String, NondetValue)>,
    ) -> Self {
        Recall {
            cached,
            traces,
            progress: Mutex::new(Progress {
                occurrences: HashMap::new(),
                recorded: nondet,
                next: 0,
                diverged: false,
            }),
        }
    }

    /// The key of the next call with `identity`: the same inputs made again are a new call.
    pub fn next_key(&self, identity: Arc<str>) -> CallKey {
        let mut p = self.progress.lock().unwrap();
        let n = p.occurrences.entry(identity.clone()).or_insert(0);
        *n += 1;
        (identity, *n)
    }

    pub fn cached(&self, key: &CallKey) -> Option<&CachedCall> {
        self.cached.get(key)
    }

    pub fn trace(&self, key: &CallKey) -> Option<&Trace> {
        self.traces.get(key)
    }

    /// The next nondeterministic value of `kind`: the recorded one while the script asks for
    /// the same things in the same order as before, a fresh one after that, handed to
    /// `record` with its sequence number (under the lock, so records keep the script's order).
    pub fn nondet(
        &self,
        kind: &str,
        fresh: impl FnOnce() -> f64,
        record: impl FnOnce(u64, f64),
    ) -> f64 {
        let mut p = self.progress.lock().unwrap();
        let seq = p.next;
        p.next += 1;
        if !p.diverged {
            match p.recorded.get(seq as usize) {
                Some((k, NondetValue::Number(v))) if k == kind => return *v,
                Some(_) => p.diverged = true,
                None => {}
            }
        }
        let v = fresh();
        record(seq, v);
        v
    }
}
