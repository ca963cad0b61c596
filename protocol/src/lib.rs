//! Wire types for odw: run requests and results, run events, diagnostics and the LSP extensions.
//!
//! Plain serde data with no I/O, shared by the `odw` binary, its tests and any future client.
//! `protocol/README.md` documents the same contract for client authors.

pub mod check;
pub mod event;
pub mod lsp;
pub mod run;

pub use check::{Diagnostic, Position, Range, Severity};
pub use event::{ApprovalDecision, DecidedBy, EventKind, RunEvent};
pub use run::{AgentErrorCode, Budget, Dialect, Failure, RunId, RunResult, RunState, Usage};
