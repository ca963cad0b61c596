//! The CPU slice: how much CPU the guest has used since it last yielded to the host (a settled
//! host call, or the start of a host operation such as `agent()`). Measured as this thread's CPU
//! time minus the time spent inside host functions, so a run that waits on providers for an hour
//! is never mistaken for a busy loop, host work per item (a 1M-item fan-out) is never charged to
//! the guest, and a busy loop is caught however loaded the machine is.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

#[derive(Clone)]
pub(super) struct Slice {
    limit_ns: u64,
    started_ns: Rc<Cell<u64>>,
    /// CPU spent in host functions since the slice started: not the guest's.
    host_ns: Rc<Cell<u64>>,
}

impl Slice {
    pub(super) fn new(limit: Duration) -> Self {
        Slice {
            limit_ns: limit.as_nanos().min(u64::MAX as u128) as u64,
            started_ns: Rc::new(Cell::new(thread_cpu_ns())),
            host_ns: Rc::new(Cell::new(0)),
        }
    }

    /// Starts a new slice: called each time the guest yields to the host.
    pub(super) fn start(&self) {
        self.started_ns.set(thread_cpu_ns());
        self.host_ns.set(0);
    }

    /// Runs `f` (a host function called by the guest) without charging its CPU to the guest.
    pub(super) fn host<R>(&self, f: impl FnOnce() -> R) -> R {
        let before = thread_cpu_ns();
        let r = f();
        let spent = thread_cpu_ns().saturating_sub(before);
        self.host_ns.set(self.host_ns.get().saturating_add(spent));
        r
    }

    /// The guest's CPU in the current slice.
    pub(super) fn guest_ns(&self) -> u64 {
        thread_cpu_ns()
            .saturating_sub(self.started_ns.get())
            .saturating_sub(self.host_ns.get())
    }

    /// True once the current slice used more CPU than allowed.
    pub(super) fn exceeded(&self) -> bool {
        self.guest_ns() > self.limit_ns
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
