//! The tools agents and scripts call: glob, read_file, search, write_file, run_bash, git and
//! web_fetch ([`catalog`] is the table of them).
//!
//! The file tools are blocking; the engine calls them through `tokio::task::spawn_blocking`.
//! `bash` and `git` run child processes in process groups of their own; [`web::web_fetch`]
//! reaches the network, not the workspace. Paths are confined to the workspace root, both
//! lexically and through symlinks. Approvals and the journal are the engine's
//! (`engine/act.rs`): this module only does what it is told.

pub mod bash;
mod blocked;
pub mod catalog;
mod confine;
pub(crate) mod dispatch;
mod error;
pub mod git;
mod open;
mod process;
mod read;
mod search;
mod walk;
pub mod web;
mod write;

use std::path::{Path, PathBuf};

pub use catalog::{TOOLS, ToolInput, ToolName, ToolSpec};
pub use error::ToolError;
pub use read::MAX_FILE_BYTES;
pub use search::{MAX_MATCH_TEXT_CHARS, MAX_SEARCH_MATCHES, Match};
pub use walk::{DEFAULT_GLOB, MAX_GLOB_RESULTS, MAX_PATTERN_CHARS};
pub use write::{MAX_WRITE_BYTES, Written};

/// The directory a run's tools see; every path they take or return is relative to it.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// Canonical (symlink-free, absolute) root: the reference for every confinement check.
    root: PathBuf,
    /// The root as the caller spelled it, made absolute, when that differs from `root` (a
    /// symlinked checkout, macOS `/tmp`): absolute paths written against it are accepted too.
    alias: Option<PathBuf>,
}

impl Workspace {
    /// Opens `root`, which must be an existing directory.
    pub fn new(root: impl AsRef<Path>) -> Result<Self, ToolError> {
        let given = root.as_ref();
        let root_error = |reason: String| ToolError::Root {
            path: given.display().to_string(),
            reason,
        };
        let canonical = given
            .canonicalize()
            .map_err(|err| root_error(err.to_string()))?;
        if !canonical.is_dir() {
            return Err(root_error("not a directory".into()));
        }
        let alias = std::path::absolute(given)
            .ok()
            .filter(|absolute| *absolute != canonical);
        Ok(Self {
            root: canonical,
            alias,
        })
    }

    /// The canonical workspace root.
    pub fn root(&self) -> &Path {
        &self.root
    }
}
