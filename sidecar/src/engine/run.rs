//! The life of one run: prepare the script, check routes and keys, run it on a thread of its
//! own, and settle exactly one terminal state with everything finished kept.

use super::events::{Channel, Emitter, Sink};
use super::host::{Parts, RunHost, RunShared};
use super::{RunRequest, StartError};
use crate::check;
use crate::journal::{CachedCall, CallKey, Checkpoint, Journal, NondetValue, Owner};
use crate::sandbox::{self, ScriptError, ScriptErrorKind};
use crate::scheduler::Scheduler;
use odw_protocol::{AgentErrorCode, EventKind, RunEvent, RunId, RunResult, RunState, Usage};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;

pub(super) type CancelFn = Box<dyn Fn() + Send + Sync>;

/// How the engine stops a live run.
pub(super) struct Controls {
    /// Stops at once: calls in flight are abandoned, the run ends `cancelled`.
    pub cancel: CancelFn,
    /// Stops admitting calls, lets those in flight finish and be journaled, then interrupts the
    /// script: the run ends `paused` and resumes without repaying anything.
    pub pause: CancelFn,
}

/// What the engine hands a run besides the request.
pub(super) struct Launch {
    pub id: RunId,
    pub key: u64,
    pub scheduler: Scheduler,
    pub events: Arc<Channel>,
    pub journal: Option<Journal>,
    pub owner: Owner,
    pub replay: Option<Replay>,
}

/// What a resumed run replays from the journal.
pub(super) struct Replay {
    pub cached: HashMap<CallKey, CachedCall>,
    /// Tool-loop steps of calls that had not finished.
    pub traces: HashMap<CallKey, crate::journal::Trace>,
    pub nondet: Vec<(String, NondetValue)>,
    pub prior: Usage,
    pub first_seq: u64,
}

/// How often a live run tells the journal it is still alive.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// Starts the run's driver task; returns the functions that stop it.
pub(super) fn start(
    launch: Launch,
    req: RunRequest,
    done: watch::Sender<Option<RunResult>>,
) -> Result<Controls, StartError> {
    if !req.cwd.is_dir() {
        return Err(StartError::Invalid(format!(
            "the workspace directory {} does not exist",
            req.cwd.display()
        )));
    }
    let cancel = CancellationToken::new();
    let (waker, inbox) = sandbox::channel();
    let sink: Option<Sink> = launch.journal.clone().map(|j| {
        let sink: Sink = Arc::new(move |e: &RunEvent| {
            j.append_event(e);
            if let EventKind::Checkpoint { name, data } = &e.kind {
                j.add_checkpoint(Checkpoint {
                    run_id: e.run_id.clone(),
                    seq: e.seq,
                    name: name.clone(),
                    data: data.clone(),
                    time_ms: e.time_ms,
                });
            }
        });
        sink
    });
    let emitter = Emitter::new(launch.events, sink);
    let resumed = launch.replay.is_some();
    let shared = Arc::new(RunShared::new(
        &req,
        Parts {
            id: launch.id,
            key: launch.key,
            scheduler: launch.scheduler,
            emitter,
            cancel: cancel.clone(),
            io: tokio::runtime::Handle::current(),
            journal: launch.journal,
            replay: launch.replay,
            waker: waker.clone(),
        },
    ));
    let pause_fn: CancelFn = {
        let (shared, waker) = (shared.clone(), waker.clone());
        let io = tokio::runtime::Handle::current();
        Box::new(move || {
            if shared.lifecycle.pause() {
                let (shared, waker) = (shared.clone(), waker.clone());
                // The script may be awaiting nothing but those calls, or busy elsewhere: once
                // they are recorded, it is interrupted (a resume replays it from the top).
                io.spawn(async move {
                    shared.admission.drain().await;
                    waker.cancel();
                });
            }
        })
    };
    let cancel_fn: CancelFn = {
        let cancel = cancel.clone();
        Box::new(move || {
            cancel.cancel();
            waker.cancel();
        })
    };
    tokio::spawn(drive(shared, req, inbox, done, launch.owner, resumed));
    Ok(Controls {
        cancel: cancel_fn,
        pause: pause_fn,
    })
}

async fn drive(
    shared: Arc<RunShared>,
    req: RunRequest,
    inbox: sandbox::Inbox,
    done: watch::Sender<Option<RunResult>>,
    owner: Owner,
    resumed: bool,
) {
    let heartbeat = shared.journal().map(|j| {
        let (j, id, owner) = (j.clone(), shared.id.clone(), owner.clone());
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(HEARTBEAT).await;
                j.heartbeat(&id, &owner);
            }
        })
    });
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
                resumed,
                dry_run: req.dry_run,
            });
            let rendered = check::render_human(&shown_path, &req.script_text, &diags);
            Err(ScriptError {
                code: None,
                message: format!(
                    "the script has errors and did not run:\n{}",
                    rendered.trim_end()
                ),
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
                resumed,
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
                    execute(&shared, script, inbox).await
                }
            }
        }
    };
    shared.admission.drain().await;
    let mut result = settle(&shared, outcome, &req.cwd);
    if let Some(h) = heartbeat {
        h.abort();
    }
    if let Some(j) = shared.journal() {
        j.update_usage(&shared.id, &result.usage);
        j.set_state(
            &shared.id,
            result.state,
            result.error.as_deref(),
            Some(&result.result),
        );
        // A run is reported as it was recorded, or as failed: the end must be committed and
        // read back (a database damaged under the run fails here, not in a later resume).
        if let Err(problem) = confirm_recorded(j, &shared.id, result.state).await {
            let message = format!(
                "journal: {problem}; the run's outcome was not recorded (its result file, if \
                 any, is still written), so it is reported as failed: fix the journal, then \
                 `odw resume {}` continues from what was recorded",
                shared.id
            );
            tracing::error!(run = %shared.id, "{message}");
            // A run that already failed keeps the error that explains it.
            if result.state != RunState::Failed {
                result.state = RunState::Failed;
                result.error = Some(message);
                j.set_state(&shared.id, result.state, result.error.as_deref(), None);
            }
        }
    }
    // The result is recorded and readable before anyone hears that the run finished.
    let finished = EventKind::RunFinished {
        state: result.state,
        error: result.error.clone(),
        usage: result.usage.clone(),
    };
    let _ = done.send(Some(result));
    shared.emit(finished);
    if let Some(j) = shared.journal() {
        let _ = j.flush_async().await;
    }
}

/// Flushes the journal and reads the run back: its recorded state must be `state`.
async fn confirm_recorded(
    j: &crate::journal::Journal,
    id: &odw_protocol::RunId,
    state: RunState,
) -> Result<(), String> {
    j.flush_async()
        .await
        .map_err(|e| format!("could not record the end of the run: {e}"))?;
    let (j, id) = (j.clone(), id.clone());
    let recorded = tokio::task::spawn_blocking(move || j.load_state(&id))
        .await
        .map_err(|e| format!("reading the run back failed: {e}"))?
        .map_err(|e| format!("cannot read the run back: {e}"))?;
    match recorded {
        Some(s) if s == state => Ok(()),
        Some(s) => Err(format!("the run reads back as {s}, not {state}")),
        None => Err("the run is missing from the journal".to_string()),
    }
}

/// Runs the script on a dedicated thread and waits for it without blocking the runtime.
async fn execute(
    shared: &Arc<RunShared>,
    script: sandbox::Script,
    inbox: sandbox::Inbox,
) -> Result<String, ScriptError> {
    let limits = shared.limits.clone();
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

/// Fails early, before any agent runs, when a model the script will use has no route or key:
/// the models it names, and the default model when some call relies on it.
fn preflight(req: &RunRequest) -> Result<(), String> {
    if req.dry_run {
        return Ok(());
    }
    let uses = check::model_use(&req.script_text);
    let mut models: Vec<String> = Vec::new();
    if uses.default {
        models.push(super::agent::model_id(
            None,
            req.model.as_deref(),
            &req.config,
        ));
    }
    for m in uses.literals {
        let id = req.config.resolve_alias(&m).to_string();
        if !models.contains(&id) {
            models.push(id);
        }
    }
    for m in models {
        super::agent::route_for(&m, &req.config, false).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// Turns the script's outcome into the run's one terminal state and writes the readable result.
fn settle(shared: &RunShared, outcome: Result<String, ScriptError>, cwd: &Path) -> RunResult {
    let budget_hit = shared.lifecycle.budget_exhausted();
    // Paused and stopped by it: either the script was interrupted, or it went on without the
    // calls the pause refused (its result would lack them).
    let paused =
        shared.lifecycle.paused() && (outcome.is_err() || shared.ledger.usage().cancelled > 0);
    // A result that cannot be kept exactly fails the run rather than becoming `null`.
    let outcome = outcome.and_then(|json| {
        crate::json::parse::<serde_json::Value>(&json).map_err(|e| ScriptError {
            code: None,
            message: format!("the workflow's result cannot be kept: {e}"),
            stack: None,
            kind: crate::sandbox::ScriptErrorKind::Thrown,
        })
    });
    let (state, result, error) = match outcome {
        // An error no retry can fix stopped the run: that is its outcome, whatever the script
        // made of the interruption.
        _ if shared.lifecycle.fatal_error().is_some() => (
            RunState::Failed,
            serde_json::Value::Null,
            shared.lifecycle.fatal_error(),
        ),
        _ if paused && !shared.lifecycle.cancel.is_cancelled() => (
            RunState::Paused,
            serde_json::Value::Null,
            Some(format!(
                "paused: calls in flight finished and were recorded; `odw resume {}` continues",
                shared.id
            )),
        ),
        Ok(value) => {
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
            let state = if shared.lifecycle.cancel.is_cancelled()
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
        usage: shared.ledger.usage(),
        failures: shared.ledger.failures(),
        result_path: None,
        estimate: shared.ledger.estimate(),
    };
    match write_result_file(cwd, &r) {
        Ok(p) => r.result_path = Some(p),
        Err(e) => tracing::warn!("could not write the result file: {e}"),
    }
    r
}

fn write_result_file(cwd: &Path, r: &RunResult) -> std::io::Result<String> {
    let path = super::result_path(cwd, &r.run_id);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
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
            text.push_str(&format!(
                "- #{} {} — {}: {}\n",
                f.call, f.label, f.code, f.message
            ));
        }
    }
    std::fs::write(&path, text)?;
    Ok(path.display().to_string())
}
