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

    /// Waits until every call that started has ended.
    pub async fn drain(&self) {
        let mut rx = self.in_flight.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }
}
