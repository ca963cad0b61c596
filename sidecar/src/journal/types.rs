//! The typed rows the journal stores and returns.

use super::owner::Owner;
use odw_protocol::{AgentErrorCode, Budget, RunId, RunState, Usage};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

/// Where a call result is found: its identity hash (hex sha256) and occurrence number.
pub type CallKey = (Arc<str>, u32);

/// Everything a resume needs, recorded by `create_run` before the run does any work.
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub run_id: RunId,
    pub script_path: PathBuf,
    pub script_text: String,
    pub dialect: String,
    /// The script's `args`, exactly as it saw them.
    pub args: Value,
    /// Stored as text; a non-UTF-8 path is stored lossily.
    pub cwd: PathBuf,
    /// A snapshot of the effective config with secrets already removed by the caller.
    pub config: Value,
    pub model_map: Value,
    pub budget: Budget,
    pub dry_run: bool,
    /// The process that will execute the run (usually `Owner::current()`).
    pub owner: Owner,
    pub created_ms: u64,
}

/// One run as stored: its snapshot, state, usage and outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRow {
    pub run_id: RunId,
    pub script_path: PathBuf,
    pub script_text: String,
    pub dialect: String,
    pub args: Value,
    pub cwd: PathBuf,
    pub config: Value,
    pub model_map: Value,
    pub budget: Budget,
    pub dry_run: bool,
    pub state: RunState,
    pub error: Option<String>,
    pub result: Option<Value>,
    pub owner: Option<Owner>,
    pub heartbeat_ms: u64,
    pub created_ms: u64,
    /// When the latest execution (the first run or the latest resume) started.
    pub started_ms: u64,
    pub finished_ms: Option<u64>,
    pub usage: Usage,
}

impl RunRow {
    /// The one-line view of the run used by `odw runs` and `odw/runs`.
    pub fn summary(&self) -> odw_protocol::lsp::RunSummary {
        odw_protocol::lsp::RunSummary {
            run_id: self.run_id.clone(),
            state: self.state,
            script: self.script_path.display().to_string(),
            started_at: self.created_ms,
            finished_at: self.finished_ms,
            agents: self.usage.agents,
            tokens: self.usage.tokens_in + self.usage.tokens_out,
            cost_usd: self.usage.cost_usd,
            dry_run: self.dry_run,
        }
    }
}

/// An `agent()` call that is about to be sent (recorded as `running`).
#[derive(Debug, Clone, PartialEq)]
pub struct CallStart {
    pub run_id: RunId,
    /// The n-th `agent()` call of this execution, for display only.
    pub call_seq: u64,
    pub identity: Arc<str>,
    pub occurrence: u32,
    pub label: Arc<str>,
    pub phase: Option<String>,
    pub model: Arc<str>,
    pub started_ms: u64,
}

/// How an `agent()` call ended.
#[derive(Debug, Clone, PartialEq)]
pub enum CallOutcome {
    /// The exact JSON text returned to the script.
    Succeeded { result: crate::json::JsonText },
    /// The error the script saw.
    Failed {
        code: AgentErrorCode,
        message: String,
    },
}

/// The end of an `agent()` call, with what it cost (failed calls may have spent tokens too).
#[derive(Debug, Clone, PartialEq)]
pub struct CallEnd {
    pub run_id: RunId,
    pub identity: Arc<str>,
    pub occurrence: u32,
    pub outcome: CallOutcome,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    /// HTTP requests made for this call, retries included.
    pub attempts: u32,
    pub finished_ms: u64,
}

/// A finished call's result, replayed on resume instead of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedCall {
    pub result: Value,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
}

/// One step of an agent's tool loop: a model reply that asked for tools (`index` `None`) or
/// one tool call of that turn.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub run_id: RunId,
    pub identity: Arc<str>,
    pub occurrence: u32,
    pub turn: u32,
    pub index: Option<u32>,
    /// The tool call's input (absent for replies).
    pub input: Option<Value>,
    /// The reply, or the tool's result; `None` when recording that a tool call starts.
    pub output: Option<Value>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    pub time_ms: u64,
}

/// The recorded steps of one agent call, replayed by a resume instead of run again.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trace {
    /// Model replies by turn.
    pub replies: std::collections::BTreeMap<u32, Value>,
    /// Tool calls by (turn, index): `Some(result)` when it finished, `None` when only its start
    /// was recorded (its outcome is unknown).
    pub tools: HashMap<(u32, u32), Option<Value>>,
}

/// A call's status in the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallStatus {
    Running,
    Succeeded,
    Failed,
}

impl CallStatus {
    /// The name stored in `calls.status`.
    pub fn as_str(self) -> &'static str {
        match self {
            CallStatus::Running => "running",
            CallStatus::Succeeded => "succeeded",
            CallStatus::Failed => "failed",
        }
    }

    /// Parses a stored status.
    pub fn parse(s: &str) -> Option<CallStatus> {
        Some(match s {
            "running" => CallStatus::Running,
            "succeeded" => CallStatus::Succeeded,
            "failed" => CallStatus::Failed,
            _ => return None,
        })
    }
}

/// One call as stored, for `odw show`.
#[derive(Debug, Clone, PartialEq)]
pub struct CallRow {
    pub call_seq: u64,
    pub identity: String,
    pub occurrence: u32,
    pub label: String,
    pub phase: Option<String>,
    pub model: String,
    pub status: CallStatus,
    pub result: Option<Value>,
    /// `None` also when the stored code is unknown to this build.
    pub error_code: Option<AgentErrorCode>,
    pub error: Option<String>,
    pub tokens_in: u64,
    pub tokens_out: u64,
    pub cost_usd: f64,
    pub attempts: u32,
    pub started_ms: Option<u64>,
    pub finished_ms: Option<u64>,
}

/// A `checkpoint(data)` of a run; `seq` orders it (the engine passes its event seq).
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub run_id: RunId,
    pub seq: u64,
    pub name: String,
    pub data: Value,
    pub time_ms: u64,
}

/// A recorded nondeterministic value (`Date.now()`, `Math.random()`, …).
#[derive(Debug, Clone, PartialEq)]
pub enum NondetValue {
    Number(f64),
    Text(String),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// SQLite integers are i64; counters never come near the limit, so clamping is enough.
pub(crate) fn to_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The reverse of `to_i64`; negative values (never written by us) read as 0.
pub(crate) fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Parses an error code by its wire name.
pub(crate) fn parse_error_code(s: &str) -> Option<AgentErrorCode> {
    serde_json::from_value(Value::String(s.to_string())).ok()
}
