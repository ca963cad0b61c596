//! The CPU slice: how much CPU the guest has used since it last got control back from the host.
//! Measured as this thread's CPU time, so a run that waits on providers for an hour is never
//! mistaken for a busy loop, and a busy loop is caught however loaded the machine is.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

#[derive(Clone)]
pub(super) struct Slice {
    limit_ns: u64,
    started_ns: Rc<Cell<u64>>,
}

impl Slice {
    pub(super) fn new(limit: Duration) -> Self {
        Slice {
            limit_ns: limit.as_nanos().min(u64::MAX as u128) as u64,
            started_ns: Rc::new(Cell::new(thread_cpu_ns())),
        }
    }

    /// Starts a new slice: called each time the host hands control to the guest.
    pub(super) fn start(&self) {
        self.started_ns.set(thread_cpu_ns());
    }

    /// True once the current slice used more CPU than allowed.
    pub(super) fn exceeded(&self) -> bool {
        thread_cpu_ns().saturating_sub(self.started_ns.get()) > self.limit_ns
    }
}

fn thread_cpu_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own; CLOCK_THREAD_CPUTIME_ID exists on
    // every platform odw supports (Linux, macOS).
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    if rc != 0 {
        return 0;
    }
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}
