//! Where the CLI keeps its run journal.

use crate::journal::{Journal, JournalError};
use std::path::Path;

/// Opens the journal: `db` if given, else `.odw/odw.db` under `workspace`.
pub fn open(workspace: &Path, db: Option<&Path>) -> Result<Journal, JournalError> {
    match db {
        Some(p) => Journal::open(p),
        None => Journal::open(&crate::journal::default_path(workspace)),
    }
}
