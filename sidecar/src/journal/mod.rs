//! The run journal in embedded SQLite (WAL): runs, calls, events, checkpoints and recorded
//! nondeterminism, so a run can be resumed exactly and shown afterwards.
//!
//! Writes are queued to one writer thread that commits whatever has piled up in a single
//! transaction (group commit); most write methods return at once and report failures through
//! the next [`Journal::flush`]. Reads use their own connection and see committed data only.
//! Every method except [`Journal::flush_async`] may block (SQLite, the busy timeout): call them
//! from async code through `tokio::task::spawn_blocking`.

mod checkpoint;
mod error;
mod events;
mod owner;
mod read;
mod schema;
mod starts;
mod types;
mod writer;
mod writes;

#[cfg(test)]
mod tests;

pub use error::JournalError;
pub use owner::{HEARTBEAT_INTERVAL_MS, HEARTBEAT_STALE_MS, Owner, ProcessState};
pub use types::{
    CachedCall, CallEnd, CallKey, CallOutcome, CallRow, CallStart, CallStatus, Checkpoint, NewRun,
    NondetValue, RunRow, Step, Trace, now_ms,
};

use futures::channel::oneshot;
use odw_protocol::{Budget, RunEvent, RunId, RunState, Usage};
use rusqlite::Connection;
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use writer::{Queue, Reply, Reset, Write, WriteOp, Writer};

/// Where a workspace keeps its journal when neither `--db` nor `ODW_DB` says otherwise.
pub fn default_path(workspace: &Path) -> PathBuf {
    workspace.join(".odw").join("odw.db")
}

/// A handle on one journal database; clones share the writer thread and read connection.
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    queue: Arc<Queue>,
    reader: Mutex<Connection>,
    writer: Option<JoinHandle<()>>,
    /// Declared after `reader`: it stops last, so its connection is the one that closes the
    /// database (and checkpoints what is left).
    _checkpointer: checkpoint::Checkpointer,
}

impl Drop for Inner {
    /// Closing the queue lets the writer commit what is left and exit; waiting for it means
    /// nothing queued is lost when the last handle goes away.
    fn drop(&mut self) {
        self.queue.close();
        if let Some(handle) = self.writer.take()
            && handle.join().is_err()
        {
            tracing::error!(path = %self.path.display(), "the journal writer panicked");
        }
    }
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl Journal {
    /// Opens (or creates) the journal at `path`, creating parent directories and migrating it.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| JournalError::CreateDir {
                dir: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = schema::open_writer(path)?;
        let reader = schema::open_reader(path)?;
        let (checkpointer, nudge) = checkpoint::Checkpointer::start(path)?;
        let queue = Arc::new(Queue::new());
        let writer = Writer::new(conn, path.to_path_buf(), queue.clone(), nudge);
        let handle = std::thread::Builder::new()
            .name("odw-journal".into())
            .spawn(move || writer.run())
            .map_err(JournalError::Thread)?;
        Ok(Journal {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                queue,
                reader: Mutex::new(reader),
                writer: Some(handle),
                _checkpointer: checkpointer,
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// Background checkpoints completed, and the WAL frames the last one left copied.
    #[cfg(test)]
    fn checkpoints(&self) -> (u64, u64) {
        self.inner._checkpointer.stats()
    }

    fn stopped(&self) -> JournalError {
        JournalError::WriterStopped {
            path: self.inner.path.clone(),
        }
    }

    fn enqueue(&self, op: WriteOp) -> Result<(), JournalError> {
        match self.inner.queue.push(op) {
            true => Ok(()),
            false => Err(self.stopped()),
        }
    }

    /// Queues a write whose failure is reported by the next flush (or logged here if the
    /// writer is gone, since nothing will flush successfully then either).
    fn write(&self, write: Write) {
        if let Err(e) = self.enqueue(WriteOp::Write(write)) {
            tracing::error!("{e}");
        }
    }

    /// Queues a request and blocks until the writer has committed it.
    fn request<T>(
        &self,
        op: impl FnOnce(Reply<Result<T, JournalError>>) -> WriteOp,
    ) -> Result<T, JournalError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.enqueue(op(Reply::Blocking(tx)))?;
        rx.recv().map_err(|_| self.stopped())?
    }

    fn reader(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a connection half-updated.
        self.inner
            .reader
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    // ---- writes -------------------------------------------------------------------------

    /// Records a new run in state `running`; waits until it is committed, so the snapshot is
    /// durable before the run does any work.
    pub fn create_run(&self, run: &NewRun) -> Result<(), JournalError> {
        let run = Box::new(run.clone());
        self.request(|reply| WriteOp::CreateRun(run, reply))
    }

    /// Sets the run's state, error and result; a state other than `running` also sets
    /// `finished_ms`. Queued.
    pub fn set_state(
        &self,
        run_id: &RunId,
        state: RunState,
        error: Option<&str>,
        result: Option<&Value>,
    ) {
        self.write(Write::SetState {
            run_id: run_id.clone(),
            state,
            error: error.map(str::to_string),
            result: result.map(Value::to_string),
            time_ms: now_ms(),
        });
    }

    /// Stores the run's usage totals (absolute, not a delta). Queued.
    pub fn update_usage(&self, run_id: &RunId, usage: &Usage) {
        if let Err(e) = self.enqueue(WriteOp::Usage(run_id.clone(), usage.clone())) {
            tracing::error!("{e}");
        }
    }

    /// Appends an event; its `seq` must be new for the run (see [`Journal::last_event_seq`]).
    /// Queued.
    pub fn append_event(&self, event: &RunEvent) {
        let queued = events::serialize(event, |item| self.inner.queue.push_event(event, item));
        match queued {
            Ok(true) => {}
            Ok(false) => tracing::error!("{}", self.stopped()),
            Err(e) => {
                tracing::error!(run = %event.run_id, seq = event.seq, "unserializable event: {e}")
            }
        }
    }

    /// Records a call as `running` (a call that already succeeded is left alone). Queued, and
    /// held back for a moment (up to 100 ms) in case the call ends: then one row records
    /// both, and a flush does not wait for the start alone. A step of the call, the run
    /// changing state or the journal closing writes it at once.
    pub fn call_started(&self, call: CallStart) {
        self.write(Write::CallStarted(call));
    }

    /// Records a call's outcome and usage; a succeeded result is never overwritten. Takes the
    /// value so the result is not copied. Queued.
    pub fn call_finished(&self, call: CallEnd) {
        self.write(Write::CallFinished(call));
    }

    /// Records the `seq`-th nondeterministic value of a run (the first value for a seq wins).
    /// Queued.
    /// Queues a tool-loop step (see [`Step`]); flush before acting on it.
    pub fn record_step(&self, step: Step) {
        self.write(Write::Step(step));
    }

    pub fn record_nondeterminism(&self, run_id: &RunId, seq: u64, kind: &str, value: NondetValue) {
        self.write(Write::Nondet {
            run_id: run_id.clone(),
            seq,
            kind: kind.to_string(),
            value,
        });
    }

    /// Records a `checkpoint(data)`. Queued.
    pub fn add_checkpoint(&self, checkpoint: Checkpoint) {
        self.write(Write::Checkpoint(checkpoint));
    }

    /// Refreshes the run's heartbeat, if `owner` still owns it and it is running. Queued;
    /// call it every [`HEARTBEAT_INTERVAL_MS`].
    pub fn heartbeat(&self, run_id: &RunId, owner: &Owner) {
        self.write(Write::Heartbeat(run_id.clone(), owner.clone(), now_ms()));
    }

    /// Makes `owner` the run's executor. Refuses unknown and succeeded runs, and a running run
    /// whose recorded owner is another live process with a recent heartbeat.
    pub fn claim_run(&self, run_id: &RunId, owner: &Owner) -> Result<(), JournalError> {
        self.claim(run_id, owner, None)
    }

    /// Claims the run (as [`Journal::claim_run`]) and makes it `running` again for a resume:
    /// clears error, result and `finished_ms`, restarts `started_ms`, and replaces the budget
    /// when `budget` is given. Usage, calls and events are kept.
    pub fn reset_run_for_resume(
        &self,
        run_id: &RunId,
        owner: &Owner,
        budget: Option<&Budget>,
    ) -> Result<(), JournalError> {
        let reset = Reset {
            budget: budget.cloned(),
        };
        self.claim(run_id, owner, Some(reset))
    }

    fn claim(
        &self,
        run_id: &RunId,
        owner: &Owner,
        reset: Option<Reset>,
    ) -> Result<(), JournalError> {
        self.request(|reply| WriteOp::Claim {
            run_id: run_id.clone(),
            owner: owner.clone(),
            reset,
            reply,
        })
    }

    /// Marks every `running` run whose owner process is gone as `interrupted` and returns them.
    /// Call it when an engine starts; nothing is resumed.
    pub fn mark_interrupted_runs(&self) -> Result<Vec<RunId>, JournalError> {
        self.request(WriteOp::MarkInterrupted)
    }

    /// Blocks until every write queued so far is committed (call starts held back excepted,
    /// see [`Journal::call_started`]); reports writes that failed since the previous flush (of
    /// any handle).
    pub fn flush(&self) -> Result<(), JournalError> {
        self.request(WriteOp::Flush)
    }

    /// [`Journal::flush`] for async code: queues the flush now and resolves once it is done,
    /// without blocking a runtime thread.
    pub fn flush_async(&self) -> impl Future<Output = Result<(), JournalError>> + Send + 'static {
        let (tx, rx) = oneshot::channel();
        let queued = self.enqueue(WriteOp::Flush(Reply::Async(tx)));
        let stopped = self.stopped();
        async move {
            queued?;
            rx.await.map_err(|_| stopped)?
        }
    }

    // ---- reads --------------------------------------------------------------------------

    /// Everything recorded about a run (what a resume needs), or `None` if unknown.
    pub fn load_run(&self, run_id: &RunId) -> Result<Option<RunRow>, JournalError> {
        read::load_run(&self.reader(), self.path(), run_id)
    }

    /// A run's recorded state, or `None` if unknown; cheaper than [`Journal::load_run`].
    pub fn load_state(&self, run_id: &RunId) -> Result<Option<RunState>, JournalError> {
        read::load_state(&self.reader(), self.path(), run_id)
    }

    /// The newest `limit` runs, newest first.
    pub fn list_runs(&self, limit: usize) -> Result<Vec<RunRow>, JournalError> {
        read::list_runs(&self.reader(), self.path(), limit)
    }

    /// The recorded result of one succeeded call, if any.
    pub fn finished_call(
        &self,
        run_id: &RunId,
        identity: &str,
        occurrence: u32,
    ) -> Result<Option<CachedCall>, JournalError> {
        read::finished_call(&self.reader(), self.path(), run_id, identity, occurrence)
    }

    /// Every succeeded call of a run, by (identity, occurrence), in one query: the resume cache.
    pub fn load_finished_calls(
        &self,
        run_id: &RunId,
    ) -> Result<HashMap<CallKey, CachedCall>, JournalError> {
        read::load_finished_calls(&self.reader(), self.path(), run_id)
    }

    /// Every call of a run in call order.
    /// Every recorded tool-loop step of a run, by call.
    pub fn load_traces(&self, run_id: &RunId) -> Result<HashMap<CallKey, Trace>, JournalError> {
        read::load_traces(&self.reader(), &self.inner.path, run_id)
    }

    pub fn load_calls(&self, run_id: &RunId) -> Result<Vec<CallRow>, JournalError> {
        read::load_calls(&self.reader(), self.path(), run_id)
    }

    /// The run's events with `seq > after_seq`, in order.
    pub fn load_events(
        &self,
        run_id: &RunId,
        after_seq: u64,
    ) -> Result<Vec<RunEvent>, JournalError> {
        read::load_events(&self.reader(), self.path(), run_id, after_seq)
    }

    /// The run's highest event seq (0 if none), so a resume can continue numbering.
    pub fn last_event_seq(&self, run_id: &RunId) -> Result<u64, JournalError> {
        read::last_event_seq(&self.reader(), self.path(), run_id)
    }

    /// The run's checkpoints in order.
    pub fn load_checkpoints(&self, run_id: &RunId) -> Result<Vec<Checkpoint>, JournalError> {
        read::load_checkpoints(&self.reader(), self.path(), run_id)
    }

    /// The run's recorded nondeterministic values in order, as `(kind, value)`.
    pub fn load_nondeterminism(
        &self,
        run_id: &RunId,
    ) -> Result<Vec<(String, NondetValue)>, JournalError> {
        read::load_nondeterminism(&self.reader(), self.path(), run_id)
    }

    /// Runs `PRAGMA integrity_check`: `"ok"` when the database is sound.
    pub fn integrity_check(&self) -> Result<String, JournalError> {
        read::integrity_check(&self.reader(), self.path())
    }
}
