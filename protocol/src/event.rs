//! Run events: everything a run does, in order, with a sequence number and a millisecond time.
//! The journal stores them, the CLI renders them, the LSP forwards them as `odw/runEvent`.

use crate::run::{AgentErrorCode, RunId, RunState, Usage};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// One event of one run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunEvent {
    pub run_id: RunId,
    /// Starts at 1 and rises by one per event of the run.
    pub seq: u64,
    /// Milliseconds since the Unix epoch.
    pub time_ms: u64,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What happened. Serialized with a `kind` tag in camelCase, e.g. `{"kind":"agentFinished",…}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum EventKind {
    RunStarted {
        script: String,
        dialect: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// Phases declared up front (dialect 2 `meta.phases`), when known.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        phases: Vec<String>,
        #[serde(default)]
        resumed: bool,
        #[serde(default)]
        dry_run: bool,
    },
    PhaseStarted {
        phase: String,
    },
    AgentQueued {
        call: u64,
        label: Arc<str>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        phase: Option<String>,
        model: Arc<str>,
    },
    AgentStarted {
        call: u64,
        attempt: u32,
    },
    AgentRetrying {
        call: u64,
        attempt: u32,
        code: AgentErrorCode,
        delay_ms: u64,
        message: String,
    },
    AgentCached {
        call: u64,
        label: Arc<str>,
    },
    AgentFinished {
        call: u64,
        label: Arc<str>,
        tokens_in: u64,
        tokens_out: u64,
        cost_usd: f64,
        duration_ms: u64,
    },
    AgentFailed {
        call: u64,
        label: Arc<str>,
        code: AgentErrorCode,
        message: String,
    },
    Log {
        level: String,
        message: String,
    },
    Checkpoint {
        name: String,
        data: serde_json::Value,
    },
    BudgetWarning {
        percent_used: f64,
        tokens_used: u64,
        cost_usd: f64,
    },
    /// A tool that changes the machine waits for the user's decision.
    ApprovalRequested {
        tool: String,
        /// What it will do: the path and first lines, the command, the git argv.
        detail: String,
        /// The agent call that asked; absent for a script's own `context.tools` call.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        label: Option<String>,
    },
    /// How an approval ended (also when no one was asked: a policy or an earlier
    /// "Allow for this run").
    ApprovalDecided {
        tool: String,
        decision: ApprovalDecision,
        by: DecidedBy,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call: Option<u64>,
    },
    /// A tool call began (an agent's, in its tool loop, or the script's).
    ToolStarted {
        tool: String,
        detail: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call: Option<u64>,
    },
    /// A tool call ended; `error` when it failed or was denied (the model reads that too).
    ToolFinished {
        tool: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        call: Option<u64>,
        error: bool,
        duration_ms: u64,
    },
    RunFinished {
        state: RunState,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        usage: Usage,
    },
}

/// What was decided about a gated tool call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ApprovalDecision {
    /// This call runs.
    AllowOnce,
    /// This call and every later call of the same tool in this run.
    AllowForRun,
    Deny,
}

/// Who (or what) decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DecidedBy {
    /// The user, in the editor's dialog or at the terminal prompt.
    User,
    /// `[approvals]` in odw.toml, or `--allow`/`--deny`.
    Policy,
    /// An earlier "Allow for this run".
    Run,
    /// Nobody answered within `[approvals] timeout_ms`.
    Timeout,
    /// Nobody can be asked (no terminal, a client without message actions).
    NoChannel,
}

impl EventKind {
    /// The camelCase name of the kind, as on the wire.
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::RunStarted { .. } => "runStarted",
            EventKind::PhaseStarted { .. } => "phaseStarted",
            EventKind::AgentQueued { .. } => "agentQueued",
            EventKind::AgentStarted { .. } => "agentStarted",
            EventKind::AgentRetrying { .. } => "agentRetrying",
            EventKind::AgentCached { .. } => "agentCached",
            EventKind::AgentFinished { .. } => "agentFinished",
            EventKind::AgentFailed { .. } => "agentFailed",
            EventKind::Log { .. } => "log",
            EventKind::Checkpoint { .. } => "checkpoint",
            EventKind::BudgetWarning { .. } => "budgetWarning",
            EventKind::ApprovalRequested { .. } => "approvalRequested",
            EventKind::ApprovalDecided { .. } => "approvalDecided",
            EventKind::ToolStarted { .. } => "toolStarted",
            EventKind::ToolFinished { .. } => "toolFinished",
            EventKind::RunFinished { .. } => "runFinished",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_tagged_camel_case() {
        let e = RunEvent {
            run_id: RunId("r1".into()),
            seq: 3,
            time_ms: 10,
            kind: EventKind::AgentRetrying {
                call: 1,
                attempt: 2,
                code: AgentErrorCode::RateLimit,
                delay_ms: 500,
                message: "429".into(),
            },
        };
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["kind"], "agentRetrying");
        assert_eq!(v["runId"], "r1");
        assert_eq!(v["delayMs"], 500);
        let back: RunEvent = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }
}
