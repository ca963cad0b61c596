//! The life of one run: prepare the script, check routes and keys, run it on a thread of its
//! own, and settle exactly one terminal state with everything finished kept.

use super::events::{Emitter, Subscribers};
use super::host::{RunHost, RunShared};
use super::{RunRequest, StartError};
use crate::check::{self, Dialect};
use crate::sandbox::{self, Limits, ScriptError, ScriptErrorKind};
use crate::scheduler::Scheduler;
use odw_protocol::{AgentErrorCode, EventKind, RunId, RunResult, RunState};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

pub(super) type CancelFn = Box<dyn Fn() + Send + Sync>;

/// Starts the run's driver task; returns the function that cancels it.
pub(super) fn start(
    id: RunId,
    key: u64,
    req: RunRequest,
    scheduler: Scheduler,
    subscribers: Subscribers,
    done: watch::Sender<Option<RunResult>>,
) -> Result<CancelFn, StartError> {
    if !req.cwd.is_dir() {
        return Err(StartError::Invalid(format!(
            "the workspace directory {} does not exist",
            req.cwd.display()
        )));
    }
    let cancel = CancellationToken::new();
    let (waker, inbox) = sandbox::channel();
    let emitter = Emitter::new(id.clone(), subscribers, None, 0);
    let shared = Arc::new(RunShared::new(
        id,
        key,
        &req,
        scheduler,
        emitter,
        cancel.clone(),
        tokio::runtime::Handle::current(),
    ));
    let cancel_fn: CancelFn = {
        let cancel = cancel.clone();
        Box::new(move || {
            cancel.cancel();
            waker.cancel();
        })
    };
    tokio::spawn(drive(shared, req, inbox, done));
    Ok(cancel_fn)
}

async fn drive(
    shared: Arc<RunShared>,
    req: RunRequest,
    inbox: sandbox::Inbox,
    done: watch::Sender<Option<RunResult>>,
) {
    let filename = req
        .script_path
        .as_deref()
        .and_then(Path::file_name)
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| "workflow.js".to_string());
    let shown_path = req
        .script_path
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| filename.clone());

    let outcome = match check::prepare(&req.script_text) {
        Err(diags) => {
            shared.emit(EventKind::RunStarted {
                script: shown_path.clone(),
                dialect: "unknown".into(),
                name: None,
                phases: vec![],
                resumed: false,
                dry_run: req.dry_run,
            });
            let rendered = check::render_human(&shown_path, &req.script_text, &diags);
            Err(ScriptError {
                code: None,
                message: format!("the script has errors and did not run:\n{}", rendered.trim_end()),
                stack: None,
                kind: ScriptErrorKind::Thrown,
            })
        }
        Ok(prepared) => {
            let meta = prepared.meta.clone().unwrap_or_default();
            shared.emit(EventKind::RunStarted {
                script: shown_path.clone(),
                dialect: prepared.dialect.as_str().into(),
                name: meta["name"].as_str().map(str::to_string),
                phases: meta["phases"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .filter_map(|p| p["title"].as_str().or(p.as_str()))
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                resumed: false,
                dry_run: req.dry_run,
            });
            match preflight(&req) {
                Err(message) => Err(ScriptError {
                    code: Some(AgentErrorCode::AuthFailed.as_str().into()),
                    message,
                    stack: None,
                    kind: ScriptErrorKind::Thrown,
                }),
                Ok(()) => {
                    let script = sandbox::Script {
                        filename: filename.clone(),
                        source: req.script_text.clone(),
                        dialect: prepared.dialect,
                        meta_export: prepared.meta_export,
                    };
                    execute(&shared, script, &req, inbox).await
                }
            }
        }
    };
    let result = settle(&shared, outcome, &req.cwd);
    shared.emit(EventKind::RunFinished {
        state: result.state,
        error: result.error.clone(),
        usage: result.usage.clone(),
    });
    let _ = done.send(Some(result));
}

/// Runs the script on a dedicated thread and waits for it without blocking the runtime.
async fn execute(
    shared: &Arc<RunShared>,
    script: sandbox::Script,
    req: &RunRequest,
    inbox: sandbox::Inbox,
) -> Result<String, ScriptError> {
    let l = &req.config.limits;
    let limits = Limits {
        memory_bytes: (l.memory_mb as usize) << 20,
        stack_bytes: 1 << 20,
        cpu_slice: Duration::from_millis(l.cpu_slice_ms.max(10)),
        wall: Duration::from_secs(l.run_timeout_s.max(1)),
    };
    let host = RunHost::new(shared.clone());
    let (tx, rx) = oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name(format!("odw-run-{}", shared.id))
        // QuickJS's own limit (1 MiB) trips long before this stack does.
        .stack_size(16 << 20)
        .spawn(move || {
            let r = sandbox::run(&script, Box::new(host), &limits, inbox);
            let _ = tx.send(r);
        });
    if let Err(e) = spawned {
        return Err(ScriptError {
            code: None,
            message: format!("could not start the run's thread: {e}"),
            stack: None,
            kind: ScriptErrorKind::Internal,
        });
    }
    rx.await.unwrap_or_else(|_| {
        Err(ScriptError {
            code: None,
            message: "the run's thread ended without a result".into(),
            stack: None,
            kind: ScriptErrorKind::Internal,
        })
    })
}

/// Fails early, before any agent runs, when a model the script will use has no route or key.
fn preflight(req: &RunRequest) -> Result<(), String> {
    if req.dry_run {
        return Ok(());
    }
    let text = &req.script_text;
    let mut models = Vec::new();
    if ["agent(", "verify(", "summarize("]
        .iter()
        .any(|p| text.contains(p))
    {
        models.push(super::agent::model_id(None, req.model.as_deref(), &req.config));
    }
    models.extend(literal_models(text).into_iter().map(|m| req.config.resolve_alias(&m).to_string()));
    models.dedup();
    for m in models {
        super::agent::route_for(&m, &req.config, false).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// `model: "…"` literals in the script text.
fn literal_models(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("model") {
        rest = &rest[i + 5..];
        let t = rest.trim_start();
        let Some(t) = t.strip_prefix(':') else {
            continue;
        };
        let t = t.trim_start();
        let Some(q) = t.chars().next().filter(|c| *c == '"' || *c == '\'') else {
            continue;
        };
        if let Some(end) = t[1..].find(q) {
            let m = &t[1..1 + end];
            if !m.is_empty() && !m.contains(char::is_whitespace) && !out.iter().any(|x| x == m) {
                out.push(m.to_string());
            }
        }
    }
    out
}

/// Turns the script's outcome into the run's one terminal state and writes the readable result.
fn settle(shared: &RunShared, outcome: Result<String, ScriptError>, cwd: &Path) -> RunResult {
    let budget_hit = shared.budget_exhausted();
    let (state, result, error) = match outcome {
        Ok(json) => {
            let value = serde_json::from_str(&json).unwrap_or(serde_json::Value::Null);
            if budget_hit {
                (
                    RunState::BudgetExhausted,
                    value,
                    Some("the run's budget is exhausted; finished results are kept".to_string()),
                )
            } else {
                (RunState::Succeeded, value, None)
            }
        }
        Err(e) => {
            let state = if shared.cancel.is_cancelled()
                || e.kind == ScriptErrorKind::Cancelled
                || e.code.as_deref() == Some("cancelled")
            {
                RunState::Cancelled
            } else if budget_hit || e.code.as_deref() == Some("budget_exhausted") {
                RunState::BudgetExhausted
            } else {
                RunState::Failed
            };
            (state, serde_json::Value::Null, Some(e.to_string()))
        }
    };
    let mut r = RunResult {
        run_id: shared.id.clone(),
        state,
        result,
        error,
        usage: shared.usage(),
        failures: shared.failures(),
        result_path: None,
        estimate: shared.estimate(),
    };
    match write_result_file(cwd, &r) {
        Ok(p) => r.result_path = Some(p),
        Err(e) => tracing::warn!("could not write the result file: {e}"),
    }
    r
}

fn write_result_file(cwd: &Path, r: &RunResult) -> std::io::Result<String> {
    let dir = cwd.join(".odw").join("runs").join(&r.run_id.0);
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("result.md");
    let mut text = format!(
        "<!-- odw run {} · {} · {} agents · {} requests · ${:.4} -->\n\n",
        r.run_id, r.state, r.usage.agents, r.usage.requests, r.usage.cost_usd
    );
    match &r.result {
        serde_json::Value::String(s) => text.push_str(s),
        serde_json::Value::Null => {}
        v => {
            text.push_str("```json\n");
            text.push_str(&serde_json::to_string_pretty(v).unwrap_or_default());
            text.push_str("\n```");
        }
    }
    text.push('\n');
    if let Some(e) = &r.error {
        text.push_str(&format!("\n**{}**: {}\n", r.state, e));
    }
    if !r.failures.is_empty() {
        text.push_str(&format!("\n## {} failed call(s)\n", r.failures.len()));
        for f in &r.failures {
            text.push_str(&format!("- #{} {} — {}: {}\n", f.call, f.label, f.code, f.message));
        }
    }
    std::fs::write(&path, text)?;
    Ok(path.display().to_string())
}

#[allow(dead_code)]
fn _dialect_is_used(d: Dialect) -> &'static str {
    d.as_str()
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_model_literals() {
        let m = super::literal_models(
            "agent('x', {model: 'ollama:llama3'}); agent({ model : \"gpt-5\" }); const model = 3;",
        );
        assert_eq!(m, vec!["ollama:llama3", "gpt-5"]);
    }
}
