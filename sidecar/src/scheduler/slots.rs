//! Concurrency slots shared fairly between runs: one global limit, and when calls wait, the
//! runs that wait take turns (round robin) so one big fan-out cannot starve a small run.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tokio::sync::oneshot;

/// The global pool of slots.
#[derive(Clone)]
pub struct Slots {
    inner: Arc<Mutex<State>>,
}

struct State {
    limit: usize,
    in_flight: usize,
    max_seen: usize,
    runs: HashMap<u64, RunQueue>,
    /// Runs with waiters, in turn order.
    order: VecDeque<u64>,
}

#[derive(Default)]
struct RunQueue {
    in_flight: usize,
    cap: usize,
    waiters: VecDeque<oneshot::Sender<Permit>>,
}

/// One slot, held while a request is on the wire. Dropping it frees the slot.
pub struct Permit {
    slots: Slots,
    run: u64,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.slots.release(self.run);
    }
}

impl Slots {
    /// A pool of `limit` slots.
    pub fn new(limit: usize) -> Self {
        Slots {
            inner: Arc::new(Mutex::new(State {
                limit: limit.max(1),
                in_flight: 0,
                max_seen: 0,
                runs: HashMap::new(),
                order: VecDeque::new(),
            })),
        }
    }

    /// Waits for a slot for `run`, which may hold at most `run_cap` slots at once.
    /// Cancel-safe: dropping the future gives up the place in the queue (or the slot).
    pub async fn acquire(&self, run: u64, run_cap: usize) -> Permit {
        let rx = {
            let mut s = self.inner.lock().unwrap();
            let cap = run_cap.max(1);
            let q = s.runs.entry(run).or_default();
            q.cap = cap;
            let free = q.waiters.is_empty() && q.in_flight < cap;
            let nobody_waits = s.order.is_empty();
            if free && nobody_waits && s.in_flight < s.limit {
                s.take(run);
                return Permit {
                    slots: self.clone(),
                    run,
                };
            }
            let (tx, rx) = oneshot::channel();
            let q = s.runs.get_mut(&run).expect("inserted above");
            q.waiters.push_back(tx);
            if q.waiters.len() == 1 {
                s.order.push_back(run);
            }
            let handed = s.dispatch(self);
            drop(s);
            drop(handed);
            rx
        };
        match rx.await {
            Ok(p) => p,
            // The sender is only dropped with the pool itself, which outlives every caller.
            Err(_) => unreachable!("slot pool dropped while a call waited"),
        }
    }

    /// How many slots the pool has.
    pub fn limit(&self) -> usize {
        self.inner.lock().unwrap().limit
    }

    /// The most slots ever in use at once (for tests and benchmarks).
    pub fn max_in_flight(&self) -> usize {
        self.inner.lock().unwrap().max_seen
    }

    fn release(&self, run: u64) {
        let mut s = self.inner.lock().unwrap();
        s.in_flight -= 1;
        if let Some(q) = s.runs.get_mut(&run) {
            q.in_flight -= 1;
            if q.in_flight == 0 && q.waiters.is_empty() {
                s.runs.remove(&run);
            }
        }
        let handed = s.dispatch(self);
        drop(s);
        drop(handed);
    }
}

impl State {
    fn take(&mut self, run: u64) {
        self.in_flight += 1;
        self.max_seen = self.max_seen.max(self.in_flight);
        if let Some(q) = self.runs.get_mut(&run) {
            q.in_flight += 1;
        }
    }

    /// Hands free slots to waiters, one run at a time in turn. Returns permits whose waiter had
    /// gone away, to be dropped after the lock is released (dropping one re-enters `release`).
    fn dispatch(&mut self, slots: &Slots) -> Vec<Permit> {
        let mut orphans = Vec::new();
        let mut skipped = 0;
        while self.in_flight < self.limit && skipped < self.order.len() {
            let Some(run) = self.order.pop_front() else {
                break;
            };
            let q = self.runs.get_mut(&run).expect("queued runs exist");
            if q.in_flight >= q.cap {
                self.order.push_back(run);
                skipped += 1;
                continue;
            }
            skipped = 0;
            let tx = q.waiters.pop_front().expect("queued runs have waiters");
            if !q.waiters.is_empty() {
                self.order.push_back(run);
            }
            self.take(run);
            let permit = Permit {
                slots: slots.clone(),
                run,
            };
            if let Err(p) = tx.send(permit) {
                orphans.push(p);
            }
        }
        orphans
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn never_more_than_the_limit_in_flight() {
        let slots = Slots::new(4);
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..200u64 {
            let (slots, now, peak) = (slots.clone(), now.clone(), peak.clone());
            tasks.push(tokio::spawn(async move {
                let _p = slots.acquire(i % 3, usize::MAX).await;
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(1)).await;
                now.fetch_sub(1, Ordering::SeqCst);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        assert!(peak.load(Ordering::SeqCst) <= 4);
        assert_eq!(slots.max_in_flight(), 4);
    }

    #[tokio::test]
    async fn waiting_runs_take_turns() {
        let slots = Slots::new(1);
        let first = slots.acquire(1, usize::MAX).await;
        // Run 1 queues ten calls, then run 2 queues one: run 2 must not wait behind all ten.
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for (run, n) in [(1u64, 10), (2u64, 1)] {
            for _ in 0..n {
                let (slots, order) = (slots.clone(), order.clone());
                tasks.push(tokio::spawn(async move {
                    let _p = slots.acquire(run, usize::MAX).await;
                    order.lock().unwrap().push(run);
                }));
                tokio::task::yield_now().await;
            }
        }
        drop(first);
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap();
        let pos = order.iter().position(|&r| r == 2).unwrap();
        assert!(pos <= 1, "run 2 waited behind {pos} calls: {order:?}");
    }

    #[tokio::test]
    async fn a_dropped_waiter_does_not_leak_its_slot() {
        let slots = Slots::new(1);
        let p = slots.acquire(1, usize::MAX).await;
        let waiting = {
            let slots = slots.clone();
            tokio::spawn(async move {
                let _p = slots.acquire(1, usize::MAX).await;
            })
        };
        tokio::task::yield_now().await;
        waiting.abort();
        let _ = waiting.await;
        drop(p);
        let again = tokio::time::timeout(Duration::from_secs(1), slots.acquire(2, 1)).await;
        assert!(again.is_ok(), "slot leaked");
    }

    #[tokio::test]
    async fn per_run_cap_holds() {
        let slots = Slots::new(10);
        let a = slots.acquire(1, 1).await;
        let blocked = tokio::time::timeout(Duration::from_millis(50), slots.acquire(1, 1)).await;
        assert!(blocked.is_err());
        let other = tokio::time::timeout(Duration::from_millis(50), slots.acquire(2, 1)).await;
        assert!(other.is_ok());
        drop(a);
    }
}
