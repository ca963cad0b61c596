//! Agent calls waiting for their end to be committed before the script gets their value.
//!
//! One task per run waits on one journal flush for every call whose end was queued before it,
//! then answers them all; calls that end meanwhile wait for the next flush. Waiting per call
//! instead (a flush, a wake and a context switch each, memory freed on another thread) was
//! most of what journaling cost the runtime's threads in a 10,000-agent fan-out. A waiting
//! call gives its task slot to a queued call, up to the scheduler's limit of them, so commit
//! latency does not starve the scheduler and a stalled journal still stops new requests.

use super::call::Recorded;
use super::host::RunShared;
use crate::sandbox::Completer;
use std::sync::{Arc, Mutex};

/// The calls of one run waiting for a commit.
#[derive(Default)]
pub(super) struct Commits {
    state: Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    /// Each with whether it gave its task slot away while waiting (see `Admission`).
    calls: Vec<(Box<Recorded>, Completer, bool)>,
    /// A task is flushing for them (or about to).
    draining: bool,
}

impl RunShared {
    /// Answers `done` once the call's end, already queued, is committed. `apart`: the call
    /// already gave its task slot to a queued call.
    pub(super) fn after_commit(
        self: &Arc<Self>,
        recorded: Box<Recorded>,
        done: Completer,
        apart: bool,
    ) {
        let start = {
            let mut w = self.commits.lock();
            w.calls.push((recorded, done, apart));
            !std::mem::replace(&mut w.draining, true)
        };
        if start {
            let shared = self.clone();
            self.io.spawn(async move { shared.drain_commits().await });
        }
    }

    async fn drain_commits(self: Arc<Self>) {
        let Some(journal) = self.journal.clone() else {
            return;
        };
        loop {
            let calls = {
                let mut w = self.commits.lock();
                if w.calls.is_empty() {
                    w.draining = false;
                    return;
                }
                std::mem::take(&mut w.calls)
            };
            // Every end in `calls` was queued before this flush.
            let committed = journal.flush_async().await.map_err(|e| e.to_string());
            for (recorded, done, apart) in calls {
                let r = self.settle(
                    recorded,
                    committed.as_ref().map(|_| ()).map_err(String::as_str),
                );
                match apart {
                    true => {
                        self.admission.ended();
                        self.admission.committed_apart();
                        done.complete(r);
                    }
                    false => self.agent_done(r, done),
                }
            }
        }
    }
}

impl Commits {
    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        // A list and a flag, consistent at every unlock.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}
