//! Background checkpoints: a thread of its own copies the WAL into the database while runs
//! write, so the copy and its `fsync`s overlap the run instead of following it.
//!
//! Without it the writer's autocheckpoint (every 16,000 pages) rarely fires during a run, and
//! the last connection to close copies the whole WAL and syncs both files: on a 10,000-agent
//! fan-out that was about 30 ms at the end of every `odw run`, after the answer was ready. A
//! passive checkpoint never waits for the writer or readers, and once it has copied every
//! frame the writer's next transaction starts the WAL over from its beginning, so the file
//! stays a few megabytes and its pages stay in the page cache.
//!
//! A failed checkpoint loses nothing: the frames stay in the WAL for the next one, the
//! writer's own autocheckpoint, or the close.

use super::error::JournalError;
use super::schema;
use rusqlite::Connection;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Committed writes between checkpoints: about 600 agents' worth (a call row, three events
/// and a usage update each). Fewer would sync more often for a smaller WAL; a sparse load (a
/// real model, one call every few seconds) does not checkpoint at all before the close.
pub(crate) const EVERY_WRITES: usize = 2048;

/// The least time between two checkpoints, so a burst of large batches does not turn into
/// back-to-back `fsync`s.
const MIN_INTERVAL: Duration = Duration::from_millis(50);

/// The writer's side: it reports each commit here.
#[derive(Clone)]
pub(crate) struct Nudge(Arc<Shared>);

impl Nudge {
    /// Counts `writes` committed; wakes the checkpointer once enough have piled up. `true`
    /// when a background checkpoint has just copied all but the latest commits: the writer
    /// should copy those few itself (see [`finish`]).
    pub(crate) fn committed(&self, writes: usize) -> bool {
        let (wake, finish) = {
            let mut s = self.0.lock();
            s.writes += writes;
            (
                s.writes >= EVERY_WRITES && s.waiting,
                std::mem::take(&mut s.caught_up),
            )
        };
        if wake {
            self.0.wake.notify_one();
        }
        finish
    }
}

/// The checkpoint thread; dropping it stops the thread after the checkpoint in progress.
pub(crate) struct Checkpointer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Default)]
struct State {
    /// Writes committed since the last checkpoint began.
    writes: usize,
    /// The thread is blocked on `wake` (a commit need not signal otherwise).
    waiting: bool,
    closed: bool,
    /// The last checkpoint copied every frame it found: only what was committed meanwhile
    /// is left.
    caught_up: bool,
    /// Checkpoints that completed, and the WAL frames they found copied; for tests and traces.
    done: u64,
    copied: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A counter and flags: consistent at every unlock.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Checkpointer {
    /// Opens a connection of its own on the (already migrated) journal and starts the thread.
    pub(crate) fn start(path: &Path) -> Result<(Checkpointer, Nudge), JournalError> {
        let conn = schema::open_reader(path)?;
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
        });
        let thread = {
            let shared = shared.clone();
            let path = path.to_path_buf();
            std::thread::Builder::new()
                .name("odw-checkpoint".into())
                .spawn(move || run(&conn, &path, &shared))
                .map_err(JournalError::Thread)?
        };
        Ok((
            Checkpointer {
                shared: shared.clone(),
                thread: Some(thread),
            },
            Nudge(shared),
        ))
    }

    /// How many checkpoints have completed, and the frames the last one left copied.
    #[cfg(test)]
    pub(crate) fn stats(&self) -> (u64, u64) {
        let s = self.shared.lock();
        (s.done, s.copied)
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
        // A passive checkpoint waits for no lock, so this waits for at most one copy.
        if let Some(thread) = self.thread.take()
            && thread.join().is_err()
        {
            tracing::error!("the journal's checkpoint thread panicked");
        }
    }
}

fn run(conn: &Connection, path: &Path, shared: &Shared) {
    let mut last: Option<Instant> = None;
    loop {
        {
            let mut s = shared.lock();
            loop {
                if s.closed {
                    return;
                }
                let rested = last.map_or(Duration::MAX, |at| at.elapsed());
                if s.writes >= EVERY_WRITES && rested >= MIN_INTERVAL {
                    break;
                }
                s.waiting = true;
                s = match s.writes >= EVERY_WRITES {
                    true => match shared.wake.wait_timeout(s, MIN_INTERVAL - rested) {
                        Ok((s, _)) => s,
                        Err(p) => p.into_inner().0,
                    },
                    false => shared.wake.wait(s).unwrap_or_else(|p| p.into_inner()),
                };
                s.waiting = false;
            }
            s.writes = 0;
        }
        let started = Instant::now();
        last = Some(started);
        // (busy, frames in the WAL, frames copied): a busy or partial result is normal while
        // the writer commits or a reader holds an older snapshot.
        let outcome = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        });
        match outcome {
            Ok((busy, frames, copied)) => {
                tracing::trace!(busy, frames, copied, elapsed = ?started.elapsed(), "journal checkpoint");
                let mut s = shared.lock();
                s.done += 1;
                s.copied = u64::try_from(copied).unwrap_or(0);
                s.caught_up = frames > 0 && copied == frames;
            }
            Err(e) => tracing::warn!(
                path = %path.display(),
                "journal checkpoint failed (the WAL keeps the frames for the next one): {e}"
            ),
        }
    }
}

/// Copies the frames a background checkpoint left behind, on the writer's own connection
/// between two of its transactions. With every frame copied, the writer's next transaction
/// starts the WAL over from its beginning; under a steady stream of commits the background
/// thread alone never sees that moment, and the WAL would grow for as long as the load lasts.
pub(crate) fn finish(conn: &Connection, path: &Path) {
    if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
        tracing::warn!(
            path = %path.display(),
            "journal checkpoint failed (the WAL keeps the frames for the next one): {e}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames(checkpointer: &Connection) -> i64 {
        checkpointer
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
            .unwrap()
    }

    fn write(conn: &Connection, rows: usize) {
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        for _ in 0..rows {
            conn.execute("INSERT INTO t VALUES (randomblob(3000))", [])
                .unwrap();
        }
        conn.execute_batch("COMMIT").unwrap();
    }

    /// A checkpoint that ends while the writer is inside a transaction leaves that
    /// transaction's frames uncopied, so the writer's next transaction cannot start the WAL
    /// over; `finish` copies them, and then it can.
    #[test]
    fn finish_lets_a_busy_writer_start_the_wal_over() {
        for finishing in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("odw.db");
            let writer = schema::open_writer(&path).unwrap();
            writer.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
            let checkpointer = schema::open_reader(&path).unwrap();
            write(&writer, 50);
            // The checkpoint runs while the writer holds its next transaction open.
            writer.execute_batch("BEGIN IMMEDIATE").unwrap();
            writer
                .execute("INSERT INTO t VALUES (randomblob(3000))", [])
                .unwrap();
            let copied = frames(&checkpointer);
            writer.execute_batch("COMMIT").unwrap();
            if finishing {
                finish(&writer, &path);
            }
            write(&writer, 1);
            let after = frames(&checkpointer);
            match finishing {
                true => assert!(after < 5, "the WAL started over: {after} frames"),
                false => assert!(after > copied, "the WAL kept growing: {after} frames"),
            }
        }
    }

    #[test]
    fn the_writer_is_told_to_finish_once_per_complete_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("odw.db");
        let writer = schema::open_writer(&path).unwrap();
        writer.execute_batch("CREATE TABLE t (x BLOB)").unwrap();
        let (checkpointer, nudge) = Checkpointer::start(&path).unwrap();
        write(&writer, 10);
        assert!(
            !nudge.committed(EVERY_WRITES - 1),
            "not before a checkpoint"
        );
        assert!(!nudge.committed(1), "the checkpoint has not run yet");
        let deadline = Instant::now() + Duration::from_secs(20);
        while checkpointer.stats().0 == 0 {
            assert!(Instant::now() < deadline, "no background checkpoint came");
            std::thread::sleep(Duration::from_millis(2));
        }
        assert!(checkpointer.stats().1 > 0, "it copied the frames");
        assert!(nudge.committed(1), "told once");
        assert!(!nudge.committed(1), "and only once");
        drop(checkpointer);
    }
}
