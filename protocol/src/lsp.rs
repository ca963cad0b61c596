//! The LSP extensions: `odw/*` requests, their parameters and results, and command names.
//! See protocol/README.md for the contract.

use crate::run::{Budget, Estimate, RunId, RunState, Usage};
use serde::{Deserialize, Serialize};

pub const CMD_RUN: &str = "odw.run";
pub const CMD_CANCEL: &str = "odw.cancel";
pub const CMD_RESUME: &str = "odw.resume";
pub const CMD_PLAN: &str = "odw.plan";
pub const CMD_RUNS: &str = "odw.runs";
pub const CMD_RESULT: &str = "odw.result";
/// Every command the server offers, in the order it advertises them.
pub const COMMANDS: &[&str] = &[
    CMD_RUN, CMD_CANCEL, CMD_RESUME, CMD_PLAN, CMD_RUNS, CMD_RESULT,
];

/// The notification that carries every `RunEvent`.
pub const RUN_EVENT_NOTIFICATION: &str = "odw/runEvent";

/// `odw.run` as a request (accepts `wait`).
pub const REQ_RUN: &str = "odw/run";
/// `odw.cancel` as a request.
pub const REQ_CANCEL: &str = "odw/cancel";
/// `odw.resume` as a request.
pub const REQ_RESUME: &str = "odw/resume";
/// `odw.plan` as a request.
pub const REQ_PLAN: &str = "odw/plan";
/// `odw.runs` as a request.
pub const REQ_RUNS: &str = "odw/runs";
/// `odw.result` as a request.
pub const REQ_RESULT: &str = "odw/result";
/// Every custom request the server answers, in the order of [`COMMANDS`].
pub const REQUESTS: &[&str] = &[
    REQ_RUN, REQ_CANCEL, REQ_RESUME, REQ_PLAN, REQ_RUNS, REQ_RESULT,
];

/// The prefix of a run's work-done progress token: `odw/run/<runId>`.
pub const PROGRESS_TOKEN_PREFIX: &str = "odw/run/";

/// The client capability (under `experimental`) that opts in to `odw/runEvent` notifications.
pub const RUN_EVENTS_CAPABILITY: &str = "odwRunEvents";

/// `initializationOptions`, and the `odw` section of `workspace/didChangeConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializationOptions {
    /// The model of calls that name none (like `odw run --model`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// Requests in flight at once across all runs (read once, at `initialize`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Send `odw/runEvent` notifications.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_events: Option<bool>,
    /// Configuration in the shape of `odw.toml`, merged over the workspace's file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<serde_json::Value>,
    /// Globs of workflow scripts (default `**/*.workflow.js`, `**/workflows/*.js`, `.odw/**/*.js`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow_globs: Option<Vec<String>>,
    /// Open `.odw/runs/<id>/result.md` with `window/showDocument` after a run that succeeded
    /// (default off: a result replaces the view only when the user asks, with `odw.result`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_result: Option<bool>,
}

/// `odw/run` and `odw.run`: a file by `uri`, or inline `text`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
    #[serde(default)]
    pub dry_run: bool,
    /// `odw/run` only: keep the request open until the run ends and answer with its
    /// `RunResult`; a `$/cancelRequest` for it cancels the run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub wait: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunStarted {
    pub run_id: RunId,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<RunId>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelResult {
    pub cancelled: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResumeParams {
    pub run_id: RunId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<Budget>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanParams {
    pub task: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topology: Option<String>,
    /// Never ask a model: fill the built-in template (`odw plan --no-model`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub no_model: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanResult {
    pub uri: String,
    pub topology: String,
    pub estimate: Estimate,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunsParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One row of `odw/runs` and `odw runs --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    pub run_id: RunId,
    pub state: RunState,
    pub script: String,
    pub started_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<u64>,
    pub agents: u64,
    pub tokens: u64,
    pub cost_usd: f64,
    /// A dry run: simulated replies, no request was sent.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultParams {
    pub run_id: RunId,
}

/// `odw/result`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultReply {
    pub state: RunState,
    pub result: serde_json::Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub usage: Usage,
}
