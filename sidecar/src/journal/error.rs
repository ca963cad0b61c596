//! Journal errors. Each message says what went wrong and what to do about it.

use odw_protocol::RunId;
use std::path::{Path, PathBuf};

/// What can go wrong in the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The directory for the database could not be created.
    #[error(
        "cannot create the journal directory {}: {source}; check its permissions or pass another journal with --db",
        dir.display()
    )]
    CreateDir {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// Another process held the write lock past the busy timeout.
    #[error(
        "the journal at {} is locked by another odw process{}; wait for it to finish or stop it, or pass another journal with --db",
        path.display(),
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    Locked { path: PathBuf, holder: Option<u32> },

    /// The database has a schema version this build does not know.
    #[error(
        "the journal at {} was written by a newer odw (schema v{found}, this build knows v{known}); upgrade odw or pass another journal with --db",
        path.display()
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        known: usize,
    },

    /// The file is not a SQLite database, or is damaged.
    #[error(
        "the journal at {} is not a usable database ({message}); move it aside and odw will start a fresh journal",
        path.display()
    )]
    Corrupt { path: PathBuf, message: String },

    /// No run with this id.
    #[error("run {0} not found: list runs with `odw runs`")]
    RunNotFound(RunId),

    /// `create_run` with an id already in the journal.
    #[error("run {0} already exists in the journal: start the run again to get a fresh id")]
    RunExists(RunId),

    /// The run is being executed by another live process.
    #[error(
        "run {run_id} is running in another odw process ({owner}); wait for it to finish, or stop that process and then `odw resume {run_id}`"
    )]
    LiveElsewhere { run_id: RunId, owner: String },

    /// Succeeded runs are never re-run.
    #[error("run {0} already succeeded and is never re-run: see its result with `odw show {0}`")]
    AlreadySucceeded(RunId),

    /// Writes enqueued since the last flush failed (they are also logged as they happen).
    #[error(
        "{count} journal write(s) to {} failed; the first: {first}",
        path.display()
    )]
    WriteFailed {
        path: PathBuf,
        count: usize,
        first: String,
    },

    /// The writer thread could not be started.
    #[error(
        "cannot start the journal writer thread: {0}; the system may be out of processes or memory"
    )]
    Thread(#[source] std::io::Error),

    /// The writer thread is gone, so nothing more can be written.
    #[error(
        "the journal writer for {} has stopped (see the log for why); restart odw",
        path.display()
    )]
    WriterStopped { path: PathBuf },

    /// A stored value could not be decoded.
    #[error(
        "the journal at {} holds an unreadable {what}: {message}; the journal may come from another odw version",
        path.display()
    )]
    BadData {
        path: PathBuf,
        what: &'static str,
        message: String,
    },

    /// Any other SQLite failure.
    #[error("journal error at {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

impl JournalError {
    /// Maps a SQLite error, turning lock and corruption codes into their own variants.
    pub(crate) fn sqlite(path: &Path, err: rusqlite::Error) -> JournalError {
        use rusqlite::ErrorCode;
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => JournalError::Locked {
                path: path.to_path_buf(),
                holder: None,
            },
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => JournalError::Corrupt {
                path: path.to_path_buf(),
                message: err.to_string(),
            },
            _ => JournalError::Sqlite {
                path: path.to_path_buf(),
                source: err,
            },
        }
    }

    /// A decoding failure of a stored value.
    pub(crate) fn bad_data(path: &Path, what: &'static str, message: impl ToString) -> Self {
        JournalError::BadData {
            path: path.to_path_buf(),
            what,
            message: message.to_string(),
        }
    }
}
