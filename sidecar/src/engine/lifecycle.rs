//! Whether a run may still start work: cancelled, paused, stopped by a fatal error, or out of
//! budget. Flags only, no lock: each is read on every agent call.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use tokio_util::sync::CancellationToken;

/// The stop conditions of one run.
pub(super) struct Lifecycle {
    pub cancel: CancellationToken,
    /// Interrupts the run's script (with `cancel`, for errors no retry can fix).
    waker: crate::sandbox::Waker,
    budget_hit: AtomicBool,
    /// Set by a pause: calls not yet started are refused, those in flight finish.
    paused: AtomicBool,
    /// The first error no retry can fix (a rejected API key): it ends the run at once, failed.
    fatal: OnceLock<String>,
}

impl Lifecycle {
    pub fn new(cancel: CancellationToken, waker: crate::sandbox::Waker) -> Self {
        Lifecycle {
            cancel,
            waker,
            budget_hit: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            fatal: OnceLock::new(),
        }
    }

    /// Ends the run with `message` as its error; `first` runs only for the first such error,
    /// before anything is interrupted, so its report precedes what the interruption causes.
    pub fn stop(&self, message: &str, first: impl FnOnce()) {
        if self.fatal.set(message.to_string()).is_ok() {
            first();
        }
        self.cancel.cancel();
        self.waker.cancel();
    }

    /// The error no retry can fix that stopped the run, if one did.
    pub fn fatal_error(&self) -> Option<String> {
        self.fatal.get().cloned()
    }

    /// Stops admitting agent calls; true the first time.
    pub fn pause(&self) -> bool {
        !self.paused.swap(true, Ordering::SeqCst)
    }

    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    pub fn hit_budget(&self) {
        self.budget_hit.store(true, Ordering::SeqCst);
    }

    pub fn budget_exhausted(&self) -> bool {
        self.budget_hit.load(Ordering::SeqCst)
    }

    /// Why a new agent call is refused now, if it is: budget first, then cancel or pause.
    pub fn refusal(&self) -> Option<(odw_protocol::AgentErrorCode, &'static str)> {
        use odw_protocol::AgentErrorCode;
        if self.budget_exhausted() {
            Some((
                AgentErrorCode::BudgetExhausted,
                "the run's budget is exhausted",
            ))
        } else if self.paused() {
            Some((AgentErrorCode::Cancelled, "run paused"))
        } else if self.cancel.is_cancelled() {
            Some((AgentErrorCode::Cancelled, "run cancelled"))
        } else {
            None
        }
    }
}
