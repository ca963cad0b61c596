//! Which agent calls of a run become tasks now, and how many of its calls are still running.
//!
//! A run's agent calls beyond what can use a slot soon wait here as a payload and a completer
//! (about a hundred bytes) instead of as a spawned task (a few kilobytes each): a fan-out of
//! 10,000 calls keeps its memory flat.

use crate::sandbox::Completer;
use std::collections::VecDeque;
use std::sync::Mutex;

/// An agent call not yet started: the script's options and where its value goes.
pub(super) type Pending = (String, Completer);

/// A run's admission queue and in-flight count.
pub(super) struct Admission {
    queue: Mutex<Queue>,
    /// Agent calls and nested workflows still running (the script may have stopped awaiting
    /// them).
    in_flight: tokio::sync::watch::Sender<u64>,
    /// Calls waiting for their end to be committed that gave their task to a queued call (see
    /// [`Admission::wait_apart`]).
    apart: std::sync::atomic::AtomicUsize,
}

#[derive(Default)]
struct Queue {
    tasks: usize,
    waiting: VecDeque<Pending>,
}

impl Admission {
    pub fn new() -> Self {
        Admission {
            queue: Mutex::new(Queue::default()),
            in_flight: tokio::sync::watch::channel(0).0,
            apart: std::sync::atomic::AtomicUsize::new(0),
        }
    }

    /// A call started; it counts until [`Admission::ended`].
    pub fn started(&self) {
        self.in_flight.send_modify(|n| *n += 1);
    }

    pub fn ended(&self) {
        self.in_flight.send_modify(|n| *n -= 1);
    }

    /// Gives `call` back when it may become a task now (it then holds one of `limit` tasks);
    /// queues it otherwise.
    pub fn admit(&self, call: Pending, limit: usize) -> Option<Pending> {
        let mut q = self.queue.lock().unwrap();
        if q.tasks >= limit {
            q.waiting.push_back(call);
            return None;
        }
        q.tasks += 1;
        Some(call)
    }

    /// The queued call that takes over a task that finished; none frees the task.
    pub fn next(&self) -> Option<Pending> {
        let mut q = self.queue.lock().unwrap();
        let next = q.waiting.pop_front();
        if next.is_none() {
            q.tasks -= 1;
        }
        next
    }

    /// Whether a call whose request is done may give its task to a queued call while it waits
    /// for its commit: yes while fewer than `cap` do. The cap keeps a stalled journal from
    /// letting requests run on that would be paid for and not recorded. A `true` is followed
    /// by [`Admission::committed_apart`] once the call is answered.
    pub fn wait_apart(&self, cap: usize) -> bool {
        use std::sync::atomic::Ordering;
        self.apart
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < cap).then_some(n + 1)
            })
            .is_ok()
    }

    /// A call that waited apart is answered.
    pub fn committed_apart(&self) {
        self.apart.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Waits until every call that started has ended.
    pub async fn drain(&self) {
        let mut rx = self.in_flight.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}
