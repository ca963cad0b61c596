//! The tools this server offers, with their input and output schemas. Written out by hand: they
//! are the contract agents read, and the end-to-end tests validate every result against them.

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};
use std::sync::Arc;

fn object(v: Value) -> Arc<JsonObject> {
    match v {
        Value::Object(m) => Arc::new(m),
        _ => unreachable!("schemas are objects"),
    }
}

fn tool(name: &'static str, description: &'static str, input: Value, output: Value) -> Tool {
    Tool::new(name, description, object(input)).with_raw_output_schema(object(output))
}

const STATES: [&str; 7] = [
    "running",
    "succeeded",
    "failed",
    "cancelled",
    "budget_exhausted",
    "interrupted",
    "paused",
];

fn status() -> Value {
    json!({"type": "string", "enum": STATES, "description": "the run's state, as `odw runs` prints it"})
}

fn usage() -> Value {
    json!({
        "type": "object",
        "properties": {
            "agents": {"type": "integer"}, "requests": {"type": "integer"},
            "tokensIn": {"type": "integer"}, "tokensOut": {"type": "integer"},
            "costUsd": {"type": "number"}, "cached": {"type": "integer"},
            "failed": {"type": "integer"}, "cancelled": {"type": "integer"}
        },
        "required": ["agents", "requests", "tokensIn", "tokensOut", "costUsd"]
    })
}

fn workflow_id() -> Value {
    json!({"type": "string", "description": "a run id such as r-20261128-042501-7f3a (odw_list)"})
}

/// Every tool, in the order they are listed.
pub fn all() -> Vec<Tool> {
    vec![
        tool(
            "odw_health",
            "The server's version, active runs, and agent calls in flight and queued.",
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
            json!({
                "type": "object",
                "properties": {
                    "version": {"type": "string"},
                    "workspace": {"type": "string"},
                    "activeRuns": {"type": "integer"},
                    "agentsInFlight": {"type": "integer"},
                    "agentsQueued": {"type": "integer"}
                },
                "required": ["version", "activeRuns", "agentsInFlight", "agentsQueued"]
            }),
        )
        .annotate(ToolAnnotations::new().read_only(true)),
        tool(
            "odw_check",
            "Checks a workflow script without running it. Give the script's text (`script`) or a \
             file (`path`, relative to the workspace). Returns the diagnostics (1-based lines and \
             columns); a script with errors is still a successful call.",
            json!({
                "type": "object",
                "properties": {
                    "script": {"type": "string", "description": "the script's text"},
                    "path": {"type": "string", "description": "a script file"},
                    "cwd": {"type": "string", "description": "the workspace (default: the server's directory)"}
                },
                "additionalProperties": false
            }),
            json!({
                "type": "object",
                "properties": {
                    "diagnostics": {"type": "array", "items": {
                        "type": "object",
                        "properties": {
                            "line": {"type": "integer", "minimum": 1},
                            "column": {"type": "integer", "minimum": 1},
                            "severity": {"type": "string", "enum": ["error", "warning", "information", "hint"]},
                            "message": {"type": "string"},
                            "code": {"type": "string"}
                        },
                        "required": ["line", "column", "severity", "message"]
                    }},
                    "errors": {"type": "integer"},
                    "warnings": {"type": "integer"}
                },
                "required": ["diagnostics", "errors", "warnings"]
            }),
        )
        .annotate(ToolAnnotations::new().read_only(true)),
        tool(
            "odw_plan",
            "Plans a workflow for a one-line task: picks one of the six topologies, writes a \
             checked script server-side and dry-runs it for an estimate. Run it with \
             odw_run {planId}.",
            json!({
                "type": "object",
                "properties": {
                    "prompt": {"type": "string", "description": "the task in your words"},
                    "topology": {"type": "string", "description": "mapreduce, pipeline, adversarial, consensus, tree or hybrid (default: chosen for the task)"},
                    "maxAgents": {"type": "integer", "minimum": 1, "description": "a cap on agent calls the plan should respect"},
                    "cwd": {"type": "string", "description": "the workspace (default: the server's directory)"}
                },
                "required": ["prompt"],
                "additionalProperties": false
            }),
            json!({
                "type": "object",
                "properties": {
                    "planId": {"type": "string"},
                    "topology": {"type": "string"},
                    "totalAgents": {"type": "integer"},
                    "estCostUSD": {"type": "number"},
                    "phases": {"type": "array", "items": {
                        "type": "object",
                        "properties": {
                            "phase": {"type": "string"}, "agents": {"type": "integer"},
                            "costUSD": {"type": "number"}
                        },
                        "required": ["phase", "agents", "costUSD"]
                    }},
                    "reason": {"type": "string"},
                    "notice": {"type": "string"},
                    "warning": {"type": "string"}
                },
                "required": ["planId", "topology", "totalAgents", "estCostUSD", "phases"]
            }),
        ),
        tool(
            "odw_run",
            "Runs a workflow: exactly one of `script` (its text), `path` (a file), `prompt` (a \
             task: planned, then run) or `planId` (from odw_plan). Returns at once with the \
             workflowId, or with `wait: true` when the run ends (progress notifications while \
             it runs; cancelling the request cancels the run, which stays resumable).",
            json!({
                "type": "object",
                "properties": {
                    "script": {"type": "string"},
                    "path": {"type": "string"},
                    "prompt": {"type": "string"},
                    "planId": {"type": "string"},
                    "args": {"type": "object", "description": "the script's `args`"},
                    "cwd": {"type": "string", "description": "the workspace (default: the server's directory)"},
                    "wait": {"type": "boolean", "default": false},
                    "model": {"type": "string", "description": "the model of calls that name none"},
                    "budgetUsd": {"type": "number", "minimum": 0},
                    "budgetTokens": {"type": "integer", "minimum": 0}
                },
                "additionalProperties": false
            }),
            json!({
                "type": "object",
                "properties": {
                    "workflowId": {"type": "string"},
                    "status": status(),
                    "result": {},
                    "error": {"type": "string"},
                    "usage": usage()
                },
                "required": ["workflowId", "status"]
            }),
        ),
        tool(
            "odw_status",
            "Where a run stands: its state, phase, agent calls and cost so far.",
            json!({
                "type": "object",
                "properties": {"workflowId": workflow_id()},
                "required": ["workflowId"],
                "additionalProperties": false
            }),
            json!({
                "type": "object",
                "properties": {
                    "workflowId": {"type": "string"},
                    "status": status(),
                    "phase": {"type": ["string", "null"]},
                    "agents": {
                        "type": "object",
                        "properties": {
                            "total": {"type": "integer"}, "completed": {"type": "integer"},
                            "failed": {"type": "integer"}
                        },
                        "required": ["total", "completed", "failed"]
                    },
                    "costUSD": {"type": "number"},
                    "error": {"type": "string"}
                },
                "required": ["workflowId", "status", "phase", "agents", "costUSD"]
            }),
        )
        .annotate(ToolAnnotations::new().read_only(true)),
        tool(
            "odw_result",
            "A run's result and usage; with `wait: true`, waits for a live run to end.",
            json!({
                "type": "object",
                "properties": {
                    "workflowId": workflow_id(),
                    "wait": {"type": "boolean", "default": false}
                },
                "required": ["workflowId"],
                "additionalProperties": false
            }),
            json!({
                "type": "object",
                "properties": {
                    "workflowId": {"type": "string"},
                    "status": status(),
                    "result": {},
                    "error": {"type": "string"},
                    "usage": usage(),
                    "resultPath": {"type": "string"}
                },
                "required": ["workflowId", "status", "result", "usage"]
            }),
        )
        .annotate(ToolAnnotations::new().read_only(true)),
        tool(
            "odw_control",
            "Pauses (no new agent call starts; those in flight finish and are kept), resumes \
             (a paused, cancelled, failed or interrupted run, replaying finished calls) or \
             stops (cancels, resumable) a run. Returns the new status.",
            json!({
                "type": "object",
                "properties": {
                    "workflowId": workflow_id(),
                    "action": {"type": "string", "enum": ["pause", "resume", "stop"]}
                },
                "required": ["workflowId", "action"],
                "additionalProperties": false
            }),
            json!({
                "type": "object",
                "properties": {
                    "workflowId": {"type": "string"},
                    "status": status(),
                    "pausing": {"type": "boolean"}
                },
                "required": ["workflowId", "status"]
            }),
        ),
        tool(
            "odw_list",
            "Recent runs, newest first.",
            json!({"type": "object", "properties": {}, "additionalProperties": false}),
            json!({
                "type": "object",
                "properties": {
                    "runs": {"type": "array", "items": {
                        "type": "object",
                        "properties": {
                            "workflowId": {"type": "string"},
                            "status": status(),
                            "script": {"type": "string"},
                            "startedAt": {"type": "integer", "description": "milliseconds since the Unix epoch"},
                            "agents": {"type": "integer"},
                            "costUSD": {"type": "number"},
                            "dryRun": {"type": "boolean"}
                        },
                        "required": ["workflowId", "status", "script", "startedAt", "agents", "costUSD"]
                    }}
                },
                "required": ["runs"]
            }),
        )
        .annotate(ToolAnnotations::new().read_only(true)),
    ]
}
