//! Tools in a run: an agent's tool loop and the script's `context.tools`, under one policy.
//!
//! A tool call is checked against the catalog, approved when it changes the machine, journaled
//! before it runs when it does (so a crash can never make it run twice), run with a deadline,
//! and reported as events. Errors and denials are results: the model reads them and goes on.

use super::approve::{ApprovalRequest, Verdict};
use super::host::RunShared;
use crate::journal::{CallKey, Step, Trace};
use crate::providers::{ModelReply, ToolArguments, ToolCall, ToolResult};
use crate::scheduler::ToolLoop;
use crate::tools::{ToolError, ToolInput, ToolName, Workspace};
use futures::future::BoxFuture;
use odw_protocol::{AgentErrorCode, EventKind};
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// Who called a tool.
#[derive(Debug, Clone)]
pub(super) struct Origin {
    /// The agent call, for an agent's tool loop.
    pub call: Option<u64>,
    pub label: Option<String>,
}

/// How often a `run_bash` call's output lines become `log` events before they are only kept
/// in its result: enough to follow a test run, not enough to flood an editor.
const MAX_LOGGED_LINES: usize = 200;

/// The text a resume gives the model for a call that started before a crash and whose end was
/// never recorded.
pub const INTERRUPTED: &str = "interrupted; outcome unknown (the run stopped while this call was running, and odw never runs a call that changes the machine twice: check its effect before repeating it)";

impl RunShared {
    /// Runs one tool call: approval, then the tool, with events around it.
    pub(super) async fn invoke_tool(
        &self,
        origin: &Origin,
        input: ToolInput,
    ) -> Result<Value, ToolError> {
        let tool = input.name();
        let detail = input.describe();
        self.emit(EventKind::ToolStarted {
            tool: tool.to_string(),
            detail: detail.clone(),
            call: origin.call,
        });
        let started = Instant::now();
        let result = self.invoke_approved(origin, input, detail).await;
        self.emit(EventKind::ToolFinished {
            tool: tool.to_string(),
            call: origin.call,
            error: result.is_err(),
            duration_ms: started.elapsed().as_millis() as u64,
        });
        result
    }

    async fn invoke_approved(
        &self,
        origin: &Origin,
        input: ToolInput,
        detail: String,
    ) -> Result<Value, ToolError> {
        let tool = input.name();
        if self.dry_run && (tool.spec().gated || tool == ToolName::WebFetch) {
            // A dry run reads the workspace like a run would, but changes nothing, sends
            // nothing and asks nobody.
            return Ok(Value::String(format!("(dry run: {tool} was not run)")));
        }
        if tool.spec().gated {
            let request = ApprovalRequest {
                run_id: self.id.clone(),
                script: self.script_name.clone(),
                tool,
                detail,
                label: origin.label.clone(),
            };
            let emit = |kind| self.emit(kind);
            if let Verdict::Denied(reason) =
                self.approvals.decide(request, origin.call, &emit).await
            {
                return Err(ToolError::Denied {
                    tool: tool.as_str(),
                    reason,
                });
            }
        }
        self.run_tool(origin, input).await
    }

    /// The tool itself, with its deadline.
    async fn run_tool(&self, origin: &Origin, input: ToolInput) -> Result<Value, ToolError> {
        let root = self.cwd.clone();
        let tools = &self.config.tools;
        match input {
            ToolInput::RunBash { command } => {
                let opts = crate::tools::bash::BashOptions {
                    timeout: Duration::from_millis(tools.bash.timeout_ms.max(1)),
                    max_output_bytes: (tools.bash.max_output_kb.max(1) as usize) << 10,
                    blocked_commands: tools.bash.blocked_commands.clone(),
                    scrub_env: self.secret_env_names(),
                };
                let logged = std::sync::atomic::AtomicUsize::new(0);
                let prefix = match origin.call {
                    Some(call) => format!("#{call} $ "),
                    None => "$ ".to_string(),
                };
                let on_line = |_stream: crate::tools::bash::Stream, line: &str| {
                    let n = logged.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if n < MAX_LOGGED_LINES {
                        self.emit(EventKind::Log {
                            level: "info".into(),
                            message: format!("{prefix}{}", truncate(line, 400)),
                        });
                    } else if n == MAX_LOGGED_LINES {
                        self.emit(EventKind::Log {
                            level: "info".into(),
                            message: format!("{prefix}… (more output in the tool's result)"),
                        });
                    }
                };
                let out = crate::tools::bash::run_bash(
                    &root,
                    &command,
                    &opts,
                    &self.lifecycle.cancel,
                    &on_line,
                )
                .await?;
                Ok(serde_json::to_value(out).expect("a bash outcome serializes"))
            }
            ToolInput::Git { args } => {
                let command = crate::tools::git::check_git_args(&args)?;
                let opts = crate::tools::git::GitOptions {
                    timeout: Duration::from_millis(self.config.limits.tool_timeout_ms.max(1)),
                    max_output_bytes: (tools.bash.max_output_kb.max(1) as usize) << 10,
                };
                if command.writes && self.config.git.branch {
                    self.own_branch(&root, &opts).await?;
                }
                let out =
                    crate::tools::git::run_git(&root, &args, &opts, &self.lifecycle.cancel).await?;
                Ok(serde_json::to_value(out).expect("a git outcome serializes"))
            }
            ToolInput::WebFetch { url } => {
                let web = &tools.web;
                let opts = crate::tools::web::WebOptions {
                    allow_private: web.allow_private,
                    allow: web.allow.clone(),
                    timeout: Duration::from_millis(web.timeout_ms.max(1)),
                    max_bytes: (web.max_kb.max(1) as usize) << 10,
                    ..crate::tools::web::WebOptions::default()
                };
                let fetched = tokio::select! {
                    r = crate::tools::web::web_fetch(&url, &opts) => r?,
                    _ = self.lifecycle.cancel.cancelled() => return Err(ToolError::Denied {
                        tool: "web_fetch",
                        reason: "run cancelled".into(),
                    }),
                };
                Ok(serde_json::to_value(fetched).expect("a fetched page serializes"))
            }
            file_tool => {
                let name = file_tool.name();
                let work = tokio::task::spawn_blocking(move || {
                    let ws = Workspace::new(&root)?;
                    match &file_tool {
                        ToolInput::WriteFile { path, content } => {
                            let w = ws.write_file(path, content)?;
                            Ok(json!({"path": w.path, "bytes": w.bytes, "created": w.created}))
                        }
                        other => ws.read_only(other),
                    }
                });
                // Every file tool call has a deadline: an error, never a hang, whatever the file
                // system does.
                let deadline = Duration::from_millis(self.config.limits.tool_timeout_ms.max(1));
                match tokio::time::timeout(deadline, work).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => Err(ToolError::Denied {
                        tool: name.as_str(),
                        reason: format!("the tool failed: {e}"),
                    }),
                    Err(_) => Err(ToolError::Timeout {
                        tool: name.as_str(),
                        ms: deadline.as_millis() as u64,
                    }),
                }
            }
        }
    }

    /// The first git write of a run moves to `odw/<run id>`, so the user's branch is never
    /// committed to.
    async fn own_branch(
        &self,
        root: &std::path::Path,
        opts: &crate::tools::git::GitOptions,
    ) -> Result<(), ToolError> {
        let mut done = self.git_branch.lock().await;
        if *done {
            return Ok(());
        }
        let branch = format!("odw/{}", self.id);
        let switch = crate::tools::git::ensure_branch(root, &branch, opts).await?;
        use crate::tools::git::BranchSwitch;
        let message = match switch {
            BranchSwitch::Already => None,
            BranchSwitch::Created { from } => {
                Some(format!("git: created branch {branch} from {from}"))
            }
            BranchSwitch::Switched { from } => {
                Some(format!("git: switched to {branch} from {from}"))
            }
        };
        if let Some(message) = message {
            self.emit(EventKind::Log {
                level: "info".into(),
                message,
            });
        }
        *done = true;
        Ok(())
    }

    /// `context.tools.NAME(...args)`: the same tools under the same policy. A tool that changes
    /// the machine is journaled like an agent's, so a resumed script never repeats it: its
    /// recorded result is returned instead, or, when it was interrupted, an error saying so.
    pub(super) async fn script_tool(
        &self,
        name: String,
        args: Vec<Value>,
    ) -> Result<String, crate::sandbox::HostError> {
        use crate::sandbox::HostError;
        let tool_error = |e: ToolError| HostError::with_code(code_of(&e), e.to_string());
        let tool = ToolName::parse(&name).ok_or_else(|| tool_error(ToolName::unknown(&name)))?;
        let input = ToolInput::from_positional(tool, &args).map_err(tool_error)?;
        let origin = Origin {
            call: None,
            label: None,
        };
        if !tool.spec().gated || self.dry_run || self.journal().is_none() {
            return self
                .invoke_tool(&origin, input)
                .await
                .map(|v| v.to_string())
                .map_err(tool_error);
        }
        let input_json = serde_json::to_value(&input).expect("tool input serializes");
        let identity = {
            use sha2::Digest;
            format!(
                "tool:{}",
                hex::encode(sha2::Sha256::digest(input_json.to_string().as_bytes()))
            )
        };
        let (identity, occurrence) = self.recall.next_key(identity.into());
        let step = |input: Option<Value>, output: Option<Value>| Step {
            run_id: self.id.clone(),
            identity: identity.clone(),
            occurrence,
            turn: 0,
            index: Some(0),
            input,
            output,
            tokens_in: 0,
            tokens_out: 0,
            cost_usd: 0.0,
            time_ms: super::events::now_ms(),
        };
        let recorded = self
            .recall
            .trace(&(identity.clone(), occurrence))
            .and_then(|t| t.tools.get(&(0, 0)));
        let outcome: Result<Value, ToolError> = match recorded {
            Some(Some(output)) => {
                return match output.get("error").and_then(Value::as_str) {
                    Some(message) => Err(HostError::with_code(
                        output
                            .get("code")
                            .and_then(|c| serde_json::from_value(c.clone()).ok())
                            .unwrap_or(AgentErrorCode::ToolError),
                        message.to_string(),
                    )),
                    None => Ok(output
                        .get("value")
                        .cloned()
                        .unwrap_or(Value::Null)
                        .to_string()),
                };
            }
            Some(None) => Err(ToolError::Interrupted {
                tool: tool.as_str(),
            }),
            None => {
                self.record_step(
                    step(Some(input_json.clone()), None),
                    &format!("the start of {tool}"),
                    true,
                )
                .await
                .map_err(|m| HostError::with_code(AgentErrorCode::Cancelled, m))?;
                self.invoke_tool(&origin, input).await
            }
        };
        let output = match &outcome {
            Ok(v) => json!({"value": v}),
            Err(e) => json!({"error": e.to_string(), "code": code_of(e)}),
        };
        // The script sees the value next: it must be on disk first.
        self.record_step(
            step(Some(input_json), Some(output)),
            &format!("the result of {tool}"),
            true,
        )
        .await
        .map_err(|m| HostError::with_code(AgentErrorCode::Cancelled, m))?;
        outcome.map(|v| v.to_string()).map_err(tool_error)
    }

    /// Names of environment variables holding provider keys, scrubbed from tool processes on
    /// top of every `*_API_KEY`, `*_TOKEN` and `*_SECRET`.
    fn secret_env_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .config
            .providers
            .values()
            .filter_map(|p| p.api_key_env.clone())
            .collect();
        names.extend(
            crate::providers::spec::SPECS
                .iter()
                .filter_map(|s| s.key_env)
                .map(str::to_string),
        );
        names
    }

    /// Records a step. A `durable` one is waited for until committed, and when the journal
    /// cannot record it the run stops (nothing unrecorded may change the machine); the others
    /// only guard work that is safe to repeat, so they ride on the writer's next group commit.
    pub(super) async fn record_step(
        &self,
        step: Step,
        what: &str,
        durable: bool,
    ) -> Result<(), String> {
        let Some(j) = self.journal() else {
            return Ok(());
        };
        j.record_step(step);
        if !durable {
            return Ok(());
        }
        j.flush_async().await.map_err(|e| {
            let message = format!(
                "journal: {e} (recording {what}); the run stops so that nothing unrecorded \
                 happens: free space or fix the journal, then `odw resume {}` continues",
                self.id
            );
            self.stop(&message);
            message
        })
    }
}

/// One agent call's tool loop, as the scheduler sees it.
pub(super) struct AgentTools<'a> {
    pub shared: &'a RunShared,
    pub key: CallKey,
    pub call: u64,
    pub label: std::sync::Arc<str>,
    /// The tools the script gave this agent.
    pub allowed: Vec<ToolName>,
    /// What an earlier execution recorded for this call.
    pub trace: Option<&'a Trace>,
}

impl AgentTools<'_> {
    fn step(&self, turn: u32, index: Option<u32>) -> Step {
        Step {
            run_id: self.shared.id.clone(),
            identity: self.key.0.clone(),
            occurrence: self.key.1,
            turn,
            index,
            input: None,
            output: None,
            tokens_in: 0,
            tokens_out: 0,
            cost_usd: 0.0,
            time_ms: super::events::now_ms(),
        }
    }

    fn error(call: &ToolCall, content: String) -> ToolResult {
        ToolResult {
            id: call.id.clone(),
            name: call.name.clone(),
            content,
            is_error: true,
        }
    }

    async fn run_call(&self, turn: u32, index: u32, call: &ToolCall) -> ToolResult {
        let names = || {
            self.allowed
                .iter()
                .map(|t| t.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        let tool = match ToolName::parse(&call.name) {
            Some(t) if self.allowed.contains(&t) => t,
            _ => {
                return Self::error(
                    call,
                    format!(
                        "unknown tool `{}`: the tools you have are {}",
                        call.name,
                        names()
                    ),
                );
            }
        };
        let input = match &call.arguments {
            ToolArguments::Malformed(text) => {
                return Self::error(
                    call,
                    format!(
                        "the arguments are not a JSON object ({}); call {tool} again with \
                         arguments matching its schema",
                        truncate(text, 200)
                    ),
                );
            }
            ToolArguments::Object(map) => match ToolInput::from_object(tool, map) {
                Ok(input) => input,
                Err(e) => return Self::error(call, e.to_string()),
            },
        };
        let gated = tool.spec().gated;
        if let Some(recorded) = self.trace.and_then(|t| t.tools.get(&(turn, index))) {
            match recorded {
                Some(output) => return result_from_record(call, output),
                // Started but never ended: it may have happened. Never run it again.
                None if gated => {
                    let result = Self::error(call, INTERRUPTED.to_string());
                    self.finish(turn, index, &input, &result).await;
                    return result;
                }
                None => {}
            }
        }
        if gated && !self.shared.dry_run {
            let mut start = self.step(turn, Some(index));
            start.input = Some(serde_json::to_value(&input).expect("tool input serializes"));
            if let Err(message) = self
                .shared
                .record_step(start, &format!("the start of {tool}"), true)
                .await
            {
                return Self::error(call, message);
            }
        }
        let origin = Origin {
            call: Some(self.call),
            label: Some(self.label.to_string()),
        };
        let result = match self.shared.invoke_tool(&origin, input.clone()).await {
            Ok(Value::String(text)) => ToolResult {
                id: call.id.clone(),
                name: call.name.clone(),
                content: text,
                is_error: false,
            },
            Ok(value) => ToolResult {
                id: call.id.clone(),
                name: call.name.clone(),
                content: value.to_string(),
                is_error: false,
            },
            Err(e) => Self::error(call, e.to_string()),
        };
        self.finish(turn, index, &input, &result).await;
        result
    }

    /// Records how a call ended, so a resume replays it instead of running it.
    async fn finish(&self, turn: u32, index: u32, input: &ToolInput, result: &ToolResult) {
        if self.shared.dry_run {
            return;
        }
        let mut end = self.step(turn, Some(index));
        end.input = Some(serde_json::to_value(input).expect("tool input serializes"));
        end.output = Some(json!({"content": result.content, "isError": result.is_error}));
        let tool = input.name();
        // The end of a call that changed the machine is committed before the model reads it; a
        // read-only result lost in a crash is simply read again.
        let _ = self
            .shared
            .record_step(end, &format!("the result of {tool}"), tool.spec().gated)
            .await;
    }
}

/// A recorded tool result, as the model reads it again.
fn result_from_record(call: &ToolCall, output: &Value) -> ToolResult {
    ToolResult {
        id: call.id.clone(),
        name: call.name.clone(),
        content: output
            .get("content")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        is_error: output
            .get("isError")
            .and_then(Value::as_bool)
            .unwrap_or(false),
    }
}

impl ToolLoop for AgentTools<'_> {
    fn replayed(&self, turn: u32) -> Option<ModelReply> {
        let recorded = self.trace?.replies.get(&turn)?;
        let text = recorded.get("text").and_then(Value::as_str)?.to_string();
        let tool_calls: Vec<ToolCall> =
            serde_json::from_value(recorded.get("toolCalls")?.clone()).ok()?;
        Some(ModelReply {
            text,
            tool_calls,
            ..ModelReply::default()
        })
    }

    fn record_reply<'a>(
        &'a self,
        turn: u32,
        reply: &'a ModelReply,
        cost_usd: f64,
    ) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            if self.shared.dry_run {
                return Ok(());
            }
            let mut step = self.step(turn, None);
            step.output = Some(json!({"text": reply.text, "toolCalls": reply.tool_calls}));
            step.tokens_in = reply.usage.input;
            step.tokens_out = reply.usage.output;
            step.cost_usd = cost_usd;
            // Only a turn that changes the machine must be on disk before its tools run: a lost
            // read-only turn is asked again.
            let acts = reply
                .tool_calls
                .iter()
                .any(|c| ToolName::parse(&c.name).is_some_and(|t| t.spec().gated));
            self.shared
                .record_step(
                    step,
                    &format!("turn {turn} of agent \"{}\"", self.label),
                    acts,
                )
                .await
        })
    }

    fn run<'a>(&'a self, turn: u32, index: u32, call: &'a ToolCall) -> BoxFuture<'a, ToolResult> {
        Box::pin(self.run_call(turn, index, call))
    }
}

/// The `err.code` a script sees for a failed tool call.
fn code_of(e: &ToolError) -> AgentErrorCode {
    match e {
        ToolError::Denied { .. } => AgentErrorCode::Denied,
        ToolError::Timeout { .. } => AgentErrorCode::Timeout,
        _ => AgentErrorCode::ToolError,
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut s: String = text.chars().take(max).collect();
    s.push('…');
    s
}
