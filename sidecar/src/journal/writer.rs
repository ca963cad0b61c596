//! The single writer thread: it owns the read-write connection, drains every queued write and
//! commits them in one transaction (group commit).
//!
//! While one batch commits, the next one queues up, so the number of transactions adapts to
//! the load: one per call when calls are rare, one per thousands when they are not (a busy
//! writer also waits a moment for more, see `Queue::take`). Events of one run in one batch
//! are stored as one row (`writes::EventChunks`). A write
//! that fails is logged, counted and reported by the next `flush`; it does not abort the batch,
//! because SQLite rolls back only the failing statement.

use super::checkpoint::Nudge;
use super::error::JournalError;
use super::events::{EventBuffers, RunEvents};
use super::owner::Owner;
use super::schema::with_holder;
use super::starts::PendingStarts;
use super::types::{CallEnd, CallStart, Checkpoint, NewRun, NondetValue, Step};
use super::writes::{
    CallRows, Stmts, apply_write, call_started, claim, create_run, mark_interrupted, record_end,
    write_usage,
};
use futures::channel::oneshot;
use odw_protocol::{Budget, EventKind, RunEvent, RunId, RunState, Usage};
use rusqlite::Connection;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::mpsc::SyncSender;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

/// A cap on one transaction, so a flood of writes cannot grow it without bound.
const MAX_BATCH: usize = 16_384;

/// How long a busy writer holds a batch open for more writes (see [`Queue::take`]). Measured
/// on a 10,000-agent fan-out (20 alternating rounds against the same build without the
/// journal): 1 ms cost 1.093× the journal-less wall time, 2 ms 1.067×, 3 ms 1.049×; the
/// writer's CPU falls with each step. Only calls that finish under sustained load wait
/// this long for their commit; an idle writer commits at once.
const LINGER: std::time::Duration = std::time::Duration::from_millis(3);

/// A batch this large is committed without waiting out [`LINGER`].
const LINGER_OPS: usize = 4096;

/// How many times to try to begin a transaction (each waits the busy timeout) before the batch
/// is given up as failed.
const BEGIN_ATTEMPTS: usize = 6;

/// Where the answer to a request goes: a blocked thread or an awaiting task.
pub(crate) enum Reply<T> {
    Blocking(SyncSender<T>),
    Async(oneshot::Sender<T>),
}

impl<T> Reply<T> {
    fn send(self, value: T) {
        // The requester may have given up waiting; then nobody needs the answer.
        match self {
            Reply::Blocking(tx) => drop(tx.send(value)),
            Reply::Async(tx) => drop(tx.send(value)),
        }
    }
}

type Done = Reply<Result<(), JournalError>>;

/// One queued request to the writer.
pub(crate) enum WriteOp {
    /// A write that needs no answer.
    Write(Write),
    /// Absolute usage totals; coalesced per batch.
    Usage(RunId, Usage),
    CreateRun(Box<NewRun>, Done),
    /// Takes ownership of a run; with `reset`, also makes it `running` again for a resume.
    Claim {
        run_id: RunId,
        owner: Owner,
        reset: Option<Reset>,
        reply: Done,
    },
    MarkInterrupted(Reply<Result<Vec<RunId>, JournalError>>),
    /// Answered once everything queued before it is committed.
    Flush(Done),
    /// What is left in a batch's slot once the writer has taken the request out of it.
    Taken,
}

/// The writer's inbox: a vector the producers push to and the writer swaps out whole.
///
/// Not a channel, because of who frees what. A write's strings are allocated on the runtime's
/// threads; freed on the writer thread, which allocates little, they overflow its malloc cache
/// and each free then takes the allocating thread's arena lock, which the runtime is busy
/// using: profiled, that was nearly half the writer's time (and a channel also frees one block
/// per 31 writes there). So the writer hands each finished batch back through `spent`, and the
/// next producer drops it on its own thread.
pub(crate) struct Queue {
    state: Mutex<QueueState>,
    ready: Condvar,
}

#[derive(Default)]
struct QueueState {
    ops: Vec<WriteOp>,
    /// The writer's last finished batch, for a producer to drop.
    spent: Vec<WriteOp>,
    /// Events, one chunk per run (see `events`).
    events: EventBuffers,
    /// The writer is blocked in `ready.wait`, so a push must wake it (one syscall saved per
    /// write while it is busy committing).
    waiting: bool,
    /// The writer is holding a batch open for more writes (see [`Queue::take`]); a push wakes
    /// it only with an urgent request or once the batch is full.
    lingering: bool,
    /// A run is being created, claimed or ended, or interrupted runs marked: commit without
    /// lingering.
    urgent: bool,
    /// Every handle is gone: the writer commits what is queued and exits.
    closed: bool,
    /// The writer has exited (or panicked): nothing pushed would ever be written.
    stopped: bool,
}

impl Queue {
    pub(crate) fn new() -> Queue {
        Queue {
            state: Mutex::new(QueueState::default()),
            ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        // The state is a few vectors and flags, consistent at every unlock.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `op`; `false` (and `op` dropped, with any reply in it) when the writer is gone.
    pub(crate) fn push(&self, op: WriteOp) -> bool {
        let (spent, wake) = {
            let mut s = self.lock();
            if s.stopped || s.closed {
                drop(s);
                drop(op);
                return false;
            }
            // A run's final state is its last write: nothing will join the batch for it.
            let request = match &op {
                WriteOp::Write(Write::SetState { state, .. }) => *state != RunState::Running,
                WriteOp::Write(_) | WriteOp::Usage(..) | WriteOp::Flush(_) => false,
                _ => true,
            };
            s.urgent |= request;
            s.ops.push(op);
            let wake = std::mem::take(&mut s.waiting)
                || (s.lingering && (request || s.ops.len() >= LINGER_OPS) && {
                    s.lingering = false;
                    true
                });
            (std::mem::take(&mut s.spent), wake)
        };
        if wake {
            self.ready.notify_one();
        }
        drop(spent);
        true
    }

    /// Queues an event (`item`, serialized by `events::serialize`); `false` when the writer is
    /// gone.
    pub(crate) fn push_event(&self, event: &RunEvent, item: &[u8]) -> bool {
        let wake = {
            let mut s = self.lock();
            if s.stopped || s.closed {
                return false;
            }
            s.events.push(event, item);
            // A run's last event: nothing will join the batch for it.
            let last = matches!(event.kind, EventKind::RunFinished { .. });
            s.urgent |= last;
            std::mem::take(&mut s.waiting)
                || (s.lingering && (last || s.ops.len() + s.events.count >= LINGER_OPS) && {
                    s.lingering = false;
                    true
                })
        };
        if wake {
            self.ready.notify_one();
        }
        true
    }

    /// Lets the writer finish what is queued and exit.
    pub(crate) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_one();
    }

    /// Waits for writes and takes all of them; `None` once closed and drained.
    ///
    /// Under sustained load (writes were already queued when the writer came back from its
    /// last commit) it holds the batch open for up to [`LINGER`] first, as PostgreSQL's
    /// `commit_delay` does: much of a commit's cost is fixed (the lock, the WAL frames of the
    /// same hot pages), so fewer, larger commits write far less. Flushes wait along: every
    /// agent's result is flushed, and one commit answers all of them. Creating, claiming or
    /// ending a run, a full batch or closing ends the wait at once; an idle writer never lingers, so a
    /// lone flush is committed at once.
    ///
    /// With `wake_at` (a held call start falls due then), it returns an empty batch at that
    /// time if nothing was queued.
    fn take(
        &self,
        into: &mut Vec<WriteOp>,
        events: &mut Vec<RunEvents>,
        wake_at: Option<Instant>,
    ) -> Option<()> {
        let mut s = self.lock();
        let busy = !s.ops.is_empty() || !s.events.is_empty();
        while s.ops.is_empty() && s.events.is_empty() {
            if s.closed {
                return None;
            }
            s.waiting = true;
            s = match wake_at {
                None => self.ready.wait(s).unwrap_or_else(|p| p.into_inner()),
                Some(at) => {
                    let now = Instant::now();
                    if now >= at {
                        s.waiting = false;
                        return Some(());
                    }
                    match self.ready.wait_timeout(s, at - now) {
                        Ok((s, _)) => s,
                        Err(p) => p.into_inner().0,
                    }
                }
            };
        }
        if busy {
            let deadline = std::time::Instant::now() + LINGER;
            while !s.urgent && !s.closed && s.ops.len() + s.events.count < LINGER_OPS {
                let now = std::time::Instant::now();
                if now >= deadline {
                    break;
                }
                s.lingering = true;
                s = match self.ready.wait_timeout(s, deadline - now) {
                    Ok((s, _)) => s,
                    Err(p) => p.into_inner().0,
                };
            }
            s.lingering = false;
        }
        s.urgent = false;
        s.events.take(events);
        std::mem::swap(&mut s.ops, into);
        // Producers push under the lock: give them room for a batch like this one, so the
        // vector does not grow (and copy itself) while they wait on each other.
        s.ops = Vec::with_capacity(into.len().min(MAX_BATCH));
        Some(())
    }

    /// Gives a finished batch back for a producer to free; drops it here if the previous one
    /// was not picked up yet (no producer is pushing, so nobody competes for the arena). The
    /// event buffers are kept for reuse.
    fn give_back(&self, batch: Vec<WriteOp>, events: &mut Vec<RunEvents>) {
        let mut s = self.lock();
        s.events.give_back(events);
        if s.spent.is_empty() && !s.stopped {
            s.spent = batch;
        } else {
            drop(s);
            drop(batch);
        }
    }
}

/// Marks the queue stopped when the writer exits, even by a panic, and drops what is queued:
/// the replies inside are dropped, so their requesters see the writer as stopped.
struct StopOnExit<'a>(&'a Queue);

impl Drop for StopOnExit<'_> {
    fn drop(&mut self) {
        let (ops, spent) = {
            let mut s = self.0.lock();
            s.stopped = true;
            s.events = EventBuffers::default();
            (std::mem::take(&mut s.ops), std::mem::take(&mut s.spent))
        };
        drop((ops, spent));
    }
}

/// A fire-and-forget write; a failure is reported by the next flush.
pub(crate) enum Write {
    SetState {
        run_id: RunId,
        state: RunState,
        error: Option<String>,
        result: Option<String>,
        time_ms: u64,
    },
    CallStarted(CallStart),
    CallFinished(CallEnd),
    Nondet {
        run_id: RunId,
        seq: u64,
        kind: String,
        value: NondetValue,
    },
    Checkpoint(Checkpoint),
    Heartbeat(RunId, Owner, u64),
    Step(Step),
}

/// What a resume changes besides the owner.
pub(crate) struct Reset {
    /// `None` keeps the recorded budget.
    pub budget: Option<Budget>,
}

/// An answer to send once the batch's fate is known.
enum Pending {
    Done(Done, Result<(), JournalError>),
    Ids(
        Reply<Result<Vec<RunId>, JournalError>>,
        Result<Vec<RunId>, JournalError>,
    ),
    Flush(Done),
}

/// The writer thread's state.
pub(crate) struct Writer {
    conn: Connection,
    path: PathBuf,
    queue: std::sync::Arc<Queue>,
    failures: usize,
    first_failure: Option<String>,
    /// The database file this connection writes (device, inode): if the path comes to name
    /// another file, or none, commits go to a file nobody will read again.
    file: Option<(u64, u64)>,
    /// Call starts not written yet (see `starts`).
    starts: PendingStarts,
    /// Where each call's row is (see `writes::CallRows`).
    rows: CallRows,
    /// Told about each commit, to copy the WAL into the database meanwhile.
    checkpoints: Nudge,
}

/// The (device, inode) of the file at `path`.
fn file_identity(path: &std::path::Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

impl Writer {
    pub(crate) fn new(
        conn: Connection,
        path: PathBuf,
        queue: std::sync::Arc<Queue>,
        checkpoints: Nudge,
    ) -> Writer {
        Writer {
            file: file_identity(&path),
            conn,
            path,
            queue,
            failures: 0,
            first_failure: None,
            starts: PendingStarts::default(),
            rows: CallRows::default(),
            checkpoints,
        }
    }

    /// Runs until every `Journal` handle is gone, then commits what is left and returns.
    pub(crate) fn run(mut self) {
        let queue = self.queue.clone();
        let _stop = StopOnExit(&queue);
        let (mut batch, mut events) = (Vec::new(), Vec::new());
        while queue
            .take(&mut batch, &mut events, self.starts.next_due())
            .is_some()
        {
            if batch.is_empty() && events.is_empty() {
                // Only held call starts fell due.
                self.commit(&mut batch, &mut events, Instant::now());
                continue;
            }
            loop {
                let rest = match batch.len() > MAX_BATCH {
                    true => batch.split_off(MAX_BATCH),
                    false => Vec::new(),
                };
                let (ops, started) = (batch.len(), Instant::now());
                self.commit(&mut batch, &mut events, started);
                tracing::trace!(ops, elapsed = ?started.elapsed(), "journal batch committed");
                queue.give_back(std::mem::replace(&mut batch, rest), &mut events);
                if batch.is_empty() {
                    break;
                }
            }
        }
        // Closing: the starts of calls still running are written now or never.
        if !self.starts.is_empty() {
            let due = Instant::now() + super::starts::START_DELAY;
            self.commit(&mut batch, &mut events, due);
        }
    }

    fn fail(&mut self, message: String) {
        tracing::error!(path = %self.path.display(), "journal write failed: {message}");
        self.failures += 1;
        self.first_failure.get_or_insert(message);
    }

    /// Commits `batch`, `events` and every held call start due by `due`.
    fn commit(&mut self, batch: &mut [WriteOp], events: &mut [RunEvents], due: Instant) {
        let mut pending = Vec::new();
        let mut failed = Vec::new();
        let mut out = Out {
            pending: &mut pending,
            failed: &mut failed,
        };
        let outcome = apply_batch(
            &self.conn,
            &self.path,
            Batch { ops: batch, events },
            &mut self.starts,
            &mut self.rows,
            due,
            &mut out,
        );
        match outcome {
            Ok(()) => {
                let events: usize = events.iter().map(RunEvents::len).sum();
                if self.checkpoints.committed(batch.len() + events) {
                    super::checkpoint::finish(&self.conn, &self.path);
                }
            }
            // Rows the batch inserted were rolled back with it.
            Err(_) => self.rows.forget_all(),
        }
        for message in failed {
            self.fail(message);
        }
        let error = match outcome {
            Ok(()) => None,
            Err(e) => {
                self.fail(format!("a batch of writes was lost: {e}"));
                Some(e)
            }
        };
        // Before a flush says "durable", check that the file written is still the journal (one
        // stat per flush): a database deleted or replaced under a run would otherwise swallow
        // every write without an error.
        if pending.iter().any(|p| matches!(p, Pending::Flush(_)))
            && self.file.is_some()
            && file_identity(&self.path) != self.file
        {
            self.fail(
                "the database file was removed or replaced while the run was writing to it; \
                 what was written since is lost with the old file"
                    .to_string(),
            );
        }
        for p in pending {
            match p {
                Pending::Done(reply, result) => reply.send(match &error {
                    Some(e) => Err(copy_error(e, &self.path)),
                    None => result,
                }),
                Pending::Ids(reply, result) => reply.send(match &error {
                    Some(e) => Err(copy_error(e, &self.path)),
                    None => result,
                }),
                Pending::Flush(reply) => {
                    let first = self.first_failure.take();
                    let count = std::mem::take(&mut self.failures);
                    reply.send(match first {
                        Some(first) => Err(JournalError::WriteFailed {
                            path: self.path.clone(),
                            count,
                            first,
                        }),
                        None => Ok(()),
                    });
                }
            }
        }
    }
}

/// Keeps the variants callers match on; the rest become a `WriteFailed` with the same message.
fn copy_error(e: &JournalError, path: &std::path::Path) -> JournalError {
    match e {
        JournalError::Locked { path, holder } => JournalError::Locked {
            path: path.clone(),
            holder: *holder,
        },
        other => JournalError::WriteFailed {
            path: path.to_path_buf(),
            count: 1,
            first: other.to_string(),
        },
    }
}

/// Where a batch's answers and per-write failures go.
struct Out<'a> {
    pending: &'a mut Vec<Pending>,
    failed: &'a mut Vec<String>,
}

/// The writes and events taken from the queue together.
struct Batch<'a> {
    ops: &'a mut [WriteOp],
    events: &'a mut [RunEvents],
}

/// Applies a batch, and the held call starts due by `due`, in one transaction. Per-write
/// failures go to `failed`, answers to `pending`; an `Err` means the transaction itself failed
/// and nothing was written. Writes are read in place and requests taken out, so the batch's
/// memory is freed by whoever drops it (call starts are taken and held, see `starts`).
fn apply_batch(
    conn: &Connection,
    path: &std::path::Path,
    Batch { ops: batch, events }: Batch<'_>,
    starts: &mut PendingStarts,
    rows: &mut CallRows,
    due: Instant,
    out: &mut Out<'_>,
) -> Result<(), JournalError> {
    let Out { pending, failed } = out;
    if let Err(e) = begin(conn, path) {
        // Nothing is written; every request still gets an answer (the error, set by the caller).
        for slot in batch.iter_mut() {
            if matches!(slot, WriteOp::Write(_) | WriteOp::Usage(..)) {
                continue;
            }
            match std::mem::replace(slot, WriteOp::Taken) {
                WriteOp::CreateRun(_, reply) | WriteOp::Claim { reply, .. } => {
                    pending.push(Pending::Done(reply, Ok(())));
                }
                WriteOp::MarkInterrupted(reply) => {
                    pending.push(Pending::Ids(reply, Ok(Vec::new())))
                }
                WriteOp::Flush(reply) => pending.push(Pending::Flush(reply)),
                WriteOp::Write(_) | WriteOp::Usage(..) | WriteOp::Taken => {}
            }
        }
        return Err(e);
    }
    // Usage is absolute, so only the last update per run in a batch needs writing.
    let mut sql = Stmts::new(conn);
    let mut usage: HashMap<&RunId, &Usage, foldhash::fast::RandomState> = HashMap::default();
    for slot in batch.iter_mut() {
        match slot {
            WriteOp::Write(Write::CallStarted(_)) => {
                if let WriteOp::Write(Write::CallStarted(start)) =
                    std::mem::replace(slot, WriteOp::Taken)
                {
                    starts.hold(start, due);
                }
                continue;
            }
            WriteOp::Write(Write::CallFinished(end)) => {
                let start = starts.take(&end.run_id, &end.identity, end.occurrence);
                let written = record_end(&mut sql, rows, end, start.as_ref());
                if let Err(message) = written {
                    failed.push(message);
                }
                continue;
            }
            WriteOp::Write(write) => {
                // A step needs its call's row, and a run that changes state its calls'.
                let held = match &*write {
                    Write::Step(s) => starts
                        .take(&s.run_id, &s.identity, s.occurrence)
                        .into_iter()
                        .collect(),
                    Write::SetState { run_id, .. } => starts.take_run(run_id),
                    _ => Vec::new(),
                };
                for start in held {
                    write_start(&mut sql, rows, &start, failed);
                }
                if let Err(message) = apply_write(&mut sql, rows, write) {
                    failed.push(message);
                }
                // An ended run's rows are not needed any more (a later write reloads them).
                if let Write::SetState { run_id, state, .. } = &*write
                    && *state != RunState::Running
                {
                    rows.forget(run_id);
                }
                continue;
            }
            WriteOp::Usage(..) | WriteOp::Taken => continue,
            _ => {}
        }
        match std::mem::replace(slot, WriteOp::Taken) {
            WriteOp::CreateRun(run, reply) => {
                rows.forget(&run.run_id);
                let result = create_run(conn, &run).map_err(|e| JournalError::sqlite(path, e));
                let result = result.and_then(|inserted| match inserted {
                    true => Ok(()),
                    false => Err(JournalError::RunExists(run.run_id.clone())),
                });
                pending.push(Pending::Done(reply, result));
            }
            WriteOp::Claim {
                run_id,
                owner,
                reset,
                reply,
            } => {
                // Another process may have written the run's calls since they were read.
                rows.forget(&run_id);
                let result = claim(conn, path, &run_id, &owner, reset.as_ref());
                pending.push(Pending::Done(reply, result));
            }
            WriteOp::MarkInterrupted(reply) => {
                let result = mark_interrupted(conn).map_err(|e| JournalError::sqlite(path, e));
                pending.push(Pending::Ids(reply, result));
            }
            WriteOp::Flush(reply) => pending.push(Pending::Flush(reply)),
            WriteOp::Write(_) | WriteOp::Usage(..) | WriteOp::Taken => {}
        }
    }
    super::events::write(conn, events, failed);
    for start in starts.take_due(due) {
        write_start(&mut sql, rows, &start, failed);
    }
    for slot in batch.iter() {
        if let WriteOp::Usage(run_id, u) = slot {
            usage.insert(run_id, u);
        }
    }
    for (run_id, u) in usage {
        if let Err(e) = write_usage(conn, run_id, u) {
            failed.push(format!("usage of run {run_id}: {e}"));
        }
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        if !conn.is_autocommit() {
            let _ = conn.execute_batch("ROLLBACK");
        }
        return Err(with_holder(conn, JournalError::sqlite(path, e)));
    }
    Ok(())
}

fn write_start(
    sql: &mut Stmts<'_>,
    rows: &mut CallRows,
    start: &CallStart,
    failed: &mut Vec<String>,
) {
    if let Err(e) = call_started(sql, rows, start) {
        failed.push(format!(
            "start of call {} of run {}: {e}",
            start.call_seq, start.run_id
        ));
    }
}

/// Begins a transaction that holds the write lock from the start (IMMEDIATE), so a batch never
/// fails half-way on a lock upgrade. Plain SQL rather than `rusqlite::Transaction` because the
/// batch outlives any single statement error and commits by hand.
fn begin(conn: &Connection, path: &std::path::Path) -> Result<(), JournalError> {
    let mut attempt = 0;
    loop {
        // Each attempt already waits out the busy timeout inside SQLite.
        match conn.execute_batch("BEGIN IMMEDIATE") {
            Ok(()) => return Ok(()),
            Err(e) => {
                attempt += 1;
                let err = with_holder(conn, JournalError::sqlite(path, e));
                if attempt >= BEGIN_ATTEMPTS || !matches!(err, JournalError::Locked { .. }) {
                    return Err(err);
                }
                tracing::warn!(path = %path.display(), "journal busy, still waiting: {err}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_state(state: RunState) -> WriteOp {
        WriteOp::Write(Write::SetState {
            run_id: RunId::from("r"),
            state,
            error: None,
            result: None,
            time_ms: 0,
        })
    }

    #[test]
    fn a_runs_final_state_ends_the_wait_for_more_writes() {
        let queue = Queue::new();
        let (mut batch, mut events) = (Vec::new(), Vec::new());
        // Writes that more may follow: a busy writer holds the batch open for them.
        queue.push(WriteOp::Usage(RunId::from("r"), Usage::default()));
        queue.push(set_state(RunState::Running));
        assert!(!queue.lock().urgent);
        // The run's end: nothing will join it, so it is committed at once.
        queue.push(set_state(RunState::Succeeded));
        assert!(queue.lock().urgent);
        queue.take(&mut batch, &mut events, None).unwrap();
        assert_eq!(batch.len(), 3);
        assert!(!queue.lock().urgent);
        // Its last event, which the run's final flush waits for, likewise.
        let event = |seq, kind| RunEvent {
            run_id: RunId::from("r"),
            seq,
            time_ms: 0,
            kind,
        };
        let log = EventKind::Log {
            level: "info".into(),
            message: "m".into(),
        };
        queue.push_event(&event(1, log.clone()), b"[1,0,\"log\",{}]");
        assert!(!queue.lock().urgent);
        let finished = EventKind::RunFinished {
            state: RunState::Succeeded,
            error: None,
            usage: Usage::default(),
        };
        queue.push_event(&event(2, finished), b"[2,0,\"runFinished\",{}]");
        assert!(queue.lock().urgent);
    }
}
