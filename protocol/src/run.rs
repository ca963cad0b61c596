//! Runs: identity, state, usage and the final result.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A run's identifier, e.g. `r-20261128-042501-7f3a`. Shared, not copied: every event and
/// journal write of a run carries it, and a clone is a reference count, not an allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub Arc<str>);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for RunId {
    fn from(s: &str) -> Self {
        RunId(s.into())
    }
}

impl From<String> for RunId {
    fn from(s: String) -> Self {
        RunId(s.into())
    }
}

impl RunId {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The state of a run. `Running` is the only non-terminal state besides `Interrupted`,
/// which marks a run whose process died, and `Paused`, a run stopped on request after its
/// calls in flight finished: both wait for a resume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    Running,
    Succeeded,
    Failed,
    Cancelled,
    BudgetExhausted,
    Interrupted,
    Paused,
}

impl RunState {
    /// True for states a run never leaves by itself.
    pub fn is_terminal(self) -> bool {
        !matches!(self, RunState::Running)
    }

    /// The snake_case name used on the wire and in the journal.
    pub fn as_str(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Succeeded => "succeeded",
            RunState::Failed => "failed",
            RunState::Cancelled => "cancelled",
            RunState::BudgetExhausted => "budget_exhausted",
            RunState::Interrupted => "interrupted",
            RunState::Paused => "paused",
        }
    }

    /// Parses the wire name back.
    pub fn parse(s: &str) -> Option<RunState> {
        Some(match s {
            "running" => RunState::Running,
            "succeeded" => RunState::Succeeded,
            "failed" => RunState::Failed,
            "cancelled" => RunState::Cancelled,
            "budget_exhausted" => RunState::BudgetExhausted,
            "interrupted" => RunState::Interrupted,
            "paused" => RunState::Paused,
            _ => return None,
        })
    }
}

impl fmt::Display for RunState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why an `agent()` call or a `context.tools` call failed: the one table of the codes a script
/// sees as `err.code`, shared by the sandbox, the engine, the scheduler and the faces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentErrorCode {
    Timeout,
    RateLimit,
    ProviderError,
    AuthFailed,
    ContextOverflow,
    SchemaInvalid,
    BudgetExhausted,
    Cancelled,
    /// A `context.tools` call failed (a missing file, a bad argument, a refused git flag).
    ToolError,
    /// A tool that changes the machine was refused: by the user, a policy or a timeout.
    Denied,
}

impl AgentErrorCode {
    /// The snake_case name the script sees as `err.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentErrorCode::Timeout => "timeout",
            AgentErrorCode::RateLimit => "rate_limit",
            AgentErrorCode::ProviderError => "provider_error",
            AgentErrorCode::AuthFailed => "auth_failed",
            AgentErrorCode::ContextOverflow => "context_overflow",
            AgentErrorCode::SchemaInvalid => "schema_invalid",
            AgentErrorCode::BudgetExhausted => "budget_exhausted",
            AgentErrorCode::Cancelled => "cancelled",
            AgentErrorCode::ToolError => "tool_error",
            AgentErrorCode::Denied => "denied",
        }
    }

    /// Fatal codes end the run: `parallel` and `pipeline` let them propagate.
    pub fn is_fatal(self) -> bool {
        matches!(
            self,
            AgentErrorCode::BudgetExhausted | AgentErrorCode::Cancelled
        )
    }
}

impl fmt::Display for AgentErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Token and dollar usage of a run (or of one call).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// `agent()` calls that finished, failed or were replayed.
    pub agents: u64,
    /// HTTP requests sent to providers, retries and re-asks included.
    pub requests: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    /// Calls answered from the journal without a request (resume).
    #[serde(default)]
    pub cached: u64,
    /// Calls that failed.
    #[serde(default)]
    pub failed: u64,
    /// Calls that were in flight when the run was cancelled (not counted as failed).
    #[serde(default)]
    pub cancelled: u64,
}

/// Per-run caps. `None` means no cap.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Budget {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usd: Option<f64>,
}

/// One failed `agent()` call, listed in the final report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    pub call: u64,
    pub label: String,
    pub code: AgentErrorCode,
    pub message: String,
}

/// The outcome of a run: what `odw run --json` prints and `odw/result` returns.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    pub run_id: RunId,
    pub state: RunState,
    /// The script's return value (JSON), `null` when it failed.
    pub result: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub usage: Usage,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<Failure>,
    /// Where the readable result was written, when it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_path: Option<String>,
    /// Dry runs only: the estimate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<Estimate>,
}

/// A dry run's estimate: agents per phase, tokens and cost.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Estimate {
    pub agents: u64,
    pub phases: Vec<PhaseEstimate>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    /// Models the estimate priced, with their per-million-token prices.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub models: Vec<String>,
}

/// Agents and tokens in one phase of a dry run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PhaseEstimate {
    pub phase: String,
    pub agents: u64,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
}

pub use Estimate as RunEstimate;

/// The two script dialects (README, "Writing a workflow"): the checker detects which one a
/// script uses, the sandbox runs it accordingly.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    /// `execute(context)` exported through `module.exports` / `exports.execute` / a bare function.
    Execute,
    /// `export const meta = {…}` first, then a top-level body with `await` and `return`.
    Meta,
}

impl Dialect {
    /// The name `odw check --json` prints and events carry (`execute` or `meta`).
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Execute => "execute",
            Dialect::Meta => "meta",
        }
    }
}
