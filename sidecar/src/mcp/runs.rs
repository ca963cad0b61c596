//! The run tools: `odw_run`, `odw_status`, `odw_result`, `odw_control`, `odw_list` and
//! `odw_health`. Each starts or asks the engine and returns; only `wait: true` stays with a run,
//! forwarding its progress and turning a cancelled request into a cancelled (resumable) run.

use super::check::read_script;
use super::reply::{Reply, parse};
use super::session::Session;
use crate::engine::tally::Tally;
use crate::engine::{Engine, RunRequest};
use odw_protocol::{Budget, RunId, RunResult, RunState};
use rmcp::RoleServer;
use rmcp::model::{ProgressNotificationParam, ProgressToken};
use rmcp::service::{Peer, RequestContext};
use serde_json::{Map, Value, json};
use std::time::Duration;
use tokio::time::Instant;

/// At most one progress notification per run in this interval (the last state is always sent).
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);
/// How long `odw_control` waits for a paused or stopped run to settle before answering.
const CONTROL_WAIT: Duration = Duration::from_secs(10);

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RunArgs {
    script: Option<String>,
    path: Option<String>,
    prompt: Option<String>,
    plan_id: Option<String>,
    args: Option<Value>,
    cwd: Option<String>,
    #[serde(default)]
    wait: bool,
    model: Option<String>,
    budget_usd: Option<f64>,
    budget_tokens: Option<u64>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct IdArgs {
    workflow_id: String,
    #[serde(default)]
    wait: bool,
    action: Option<String>,
}

pub async fn run(
    session: &Session,
    args: Option<Map<String, Value>>,
    ctx: &RequestContext<RoleServer>,
) -> Reply {
    let a: RunArgs = parse("odw_run", args)?;
    let given = [&a.script, &a.path, &a.prompt, &a.plan_id]
        .iter()
        .filter(|s| s.is_some())
        .count();
    if given != 1 {
        return Err(format!(
            "odw_run: give exactly one of `script`, `path`, `prompt` or `planId` ({given} given)"
        ));
    }
    let workspace = session.workspace(a.cwd.as_deref())?;
    let script_args = match a.args {
        None => json!({}),
        Some(v @ Value::Object(_)) => v,
        // Agents often send JSON as a string; take it when it is an object.
        Some(Value::String(s)) => match serde_json::from_str::<Value>(&s) {
            Ok(v @ Value::Object(_)) => v,
            _ => return Err("odw_run: `args` must be a JSON object".into()),
        },
        Some(_) => return Err("odw_run: `args` must be a JSON object".into()),
    };
    if a.budget_usd.is_some_and(|x| !x.is_finite() || x < 0.0) {
        return Err("odw_run: `budgetUsd` must be a non-negative number".into());
    }
    let config = session.config_for(&workspace)?;
    let (script_path, script_text) = if let Some(text) = a.script {
        (None, text)
    } else if let Some(p) = &a.path {
        let (path, text) = read_script(&workspace, p)?;
        (Some(path), text)
    } else if let Some(id) = &a.plan_id {
        let path = super::plan::plan_path(&workspace, id)?;
        let text = std::fs::read_to_string(&path)
            .map_err(|_| format!("unknown planId {id}: plan one with odw_plan"))?;
        (Some(path), text)
    } else {
        let task = a.prompt.as_deref().unwrap_or_default();
        let (_, path) = super::plan::make(session, &workspace, task, None, None).await?;
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read the plan {}: {e}", path.display()))?;
        (Some(path), text)
    };
    let engine = session.engine_for(&workspace).await?;
    let req = RunRequest {
        script_path,
        script_text,
        args: script_args,
        cwd: workspace,
        model: a.model,
        budget: Budget {
            tokens: a.budget_tokens,
            usd: a.budget_usd,
        },
        concurrency: None,
        dry_run: false,
        config,
        approver: super::approve::for_peer(&ctx.peer),
        allow: Vec::new(),
        deny: Vec::new(),
    };
    let id = engine.start(req).await.map_err(|e| e.to_string())?;
    if !a.wait {
        return Ok(json!({"workflowId": id, "status": RunState::Running}));
    }
    let r = follow(&engine, &id, ctx).await?;
    Ok(outcome(&r))
}

/// Waits for a run, sending progress when the request asked for it and cancelling the run when
/// the request is cancelled.
async fn follow(
    engine: &Engine,
    id: &RunId,
    ctx: &RequestContext<RoleServer>,
) -> Result<RunResult, String> {
    let mut events = engine
        .events(id)
        .ok_or_else(|| format!("run {id} vanished"))?;
    let token = ctx.meta.get_progress_token();
    let done = engine.wait(id);
    tokio::pin!(done);
    let mut last_sent: Option<(u64, u64, Option<String>)> = None;
    let mut next_at = Instant::now();
    let mut pending = false;
    let mut following = true;
    loop {
        tokio::select! {
            r = &mut done => {
                let r = r.ok_or_else(|| format!("run {id} vanished"))?;
                // The engine's tally has folded every call's end by now; this subscriber may
                // not have received them all yet.
                if let Some(token) = &token
                    && let Some(t) = engine.tally(id)
                {
                    let t = t.borrow().clone();
                    notify(&ctx.peer, token, &t, &mut last_sent).await;
                }
                return Ok(r);
            }
            _ = ctx.ct.cancelled() => {
                engine.cancel(id);
                return engine.wait(id).await.ok_or_else(|| format!("run {id} vanished"));
            }
            event = events.recv(), if token.is_some() && following => {
                match event {
                    Some(e) => pending |= Tally::moves(&e.kind),
                    // The run's end: its result is on its way.
                    None => following = false,
                }
            }
            _ = tokio::time::sleep_until(next_at), if pending => {}
        }
        if pending
            && Instant::now() >= next_at
            && let Some(token) = &token
        {
            notify(&ctx.peer, token, events.tally(), &mut last_sent).await;
            pending = false;
            next_at = Instant::now() + PROGRESS_INTERVAL;
        }
    }
}

/// One `notifications/progress`: agents finished of agents known, the phase as the message.
/// Sent only when something moved, so `progress` never repeats a value with nothing new.
async fn notify(
    peer: &Peer<RoleServer>,
    token: &ProgressToken,
    t: &Tally,
    last: &mut Option<(u64, u64, Option<String>)>,
) {
    let now = (t.done(), t.queued, t.phase.clone());
    // Nothing to count before the first agent() call; never a repeat.
    if t.queued == 0 || last.as_ref() == Some(&now) {
        return;
    }
    let mut p =
        ProgressNotificationParam::new(token.clone(), t.done() as f64).with_total(t.queued as f64);
    p = p.with_message(t.phase.clone().unwrap_or_else(|| "running".into()));
    if let Err(e) = peer.notify_progress(p).await {
        tracing::debug!("progress not sent: {e}");
    }
    *last = Some(now);
}

fn outcome(r: &RunResult) -> Value {
    let mut v = json!({
        "workflowId": r.run_id,
        "status": r.state,
        "result": r.result,
        "usage": r.usage,
    });
    if let Some(e) = &r.error {
        v["error"] = json!(e);
    }
    if let Some(p) = &r.result_path {
        v["resultPath"] = json!(p);
    }
    v
}

/// The outcome of a run that is not live here: the journal's, since another face may have
/// resumed it after this one finished it; else what this engine kept.
pub async fn settled(engine: &Engine, id: &RunId) -> Option<RunResult> {
    match engine.recorded_result(id).await {
        Some(r) => Some(r),
        None => engine.result(id).await,
    }
}

/// The state of a run the engine knows: live here, else as recorded.
async fn state_of(engine: &Engine, id: &RunId) -> Option<RunState> {
    if engine.live_runs().contains(id) {
        return Some(RunState::Running);
    }
    settled(engine, id).await.map(|r| r.state)
}

pub async fn status(session: &Session, args: Option<Map<String, Value>>) -> Reply {
    let a: IdArgs = parse("odw_status", args)?;
    let id = RunId::from(a.workflow_id);
    let engine = session.find(&id).await?;
    let state = state_of(&engine, &id)
        .await
        .ok_or_else(|| format!("unknown workflowId {id}"))?;
    let tally = match engine.tally(&id) {
        Some(t) => t.borrow().clone(),
        None => Tally::of_events(&engine.recorded_events(&id).await),
    };
    let finished = match state {
        RunState::Running => None,
        _ => settled(&engine, &id).await,
    };
    let mut v = json!({
        "workflowId": id,
        "status": state,
        "phase": tally.phase,
        "agents": {"total": tally.queued, "completed": tally.completed(), "failed": tally.failed},
        "costUSD": finished.as_ref().map_or(tally.cost_usd, |r| r.usage.cost_usd),
    });
    if let Some(e) = finished.and_then(|r| r.error) {
        v["error"] = json!(e);
    }
    Ok(v)
}

pub async fn result(session: &Session, args: Option<Map<String, Value>>) -> Reply {
    let a: IdArgs = parse("odw_result", args)?;
    let id = RunId::from(a.workflow_id);
    let engine = session.find(&id).await?;
    if engine.live_runs().contains(&id) {
        if a.wait {
            let r = engine
                .wait(&id)
                .await
                .ok_or_else(|| format!("run {id} vanished"))?;
            return Ok(outcome(&r));
        }
        let usage = odw_protocol::Usage::default();
        return Ok(
            json!({"workflowId": id, "status": RunState::Running, "result": null, "usage": usage}),
        );
    }
    let r = settled(&engine, &id)
        .await
        .ok_or_else(|| format!("unknown workflowId {id}"))?;
    Ok(outcome(&r))
}

pub async fn control(
    session: &Session,
    args: Option<Map<String, Value>>,
    ctx: &RequestContext<RoleServer>,
) -> Reply {
    let a: IdArgs = parse("odw_control", args)?;
    let id = RunId::from(a.workflow_id);
    let action = a
        .action
        .ok_or("odw_control: `action` is required: pause, resume or stop")?;
    let engine = session.find(&id).await?;
    let not_live = async |engine: &Engine| {
        let state = state_of(engine, &id)
            .await
            .map_or("unknown".into(), |s| s.to_string());
        format!("run {id} is not running here (status: {state})")
    };
    match action.as_str() {
        "pause" | "stop" => {
            let pausing = action == "pause";
            let stopped = if pausing {
                engine.pause(&id)
            } else {
                engine.cancel(&id)
            };
            if !stopped {
                return Err(not_live(&engine).await);
            }
            // Calls in flight may take a while to finish: answer with what is true by then.
            match tokio::time::timeout(CONTROL_WAIT, engine.wait(&id)).await {
                Ok(Some(r)) => Ok(json!({"workflowId": id, "status": r.state})),
                _ => Ok(json!({"workflowId": id, "status": RunState::Running, "pausing": pausing})),
            }
        }
        "resume" => {
            let opts = crate::engine::ResumeOptions {
                approver: super::approve::for_peer(&ctx.peer),
                ..Default::default()
            };
            engine.resume(&id, opts).await.map_err(|e| e.to_string())?;
            Ok(json!({"workflowId": id, "status": RunState::Running}))
        }
        other => Err(format!(
            "odw_control: unknown action {other:?}: use pause, resume or stop"
        )),
    }
}

pub async fn list(session: &Session, args: Option<Map<String, Value>>) -> Reply {
    let _: Map<String, Value> = parse("odw_list", args)?;
    let mut runs = Vec::new();
    for engine in session.engines().await {
        runs.extend(engine.runs(100).await);
    }
    runs.sort_by(|a, b| {
        b.started_at
            .cmp(&a.started_at)
            .then_with(|| b.run_id.cmp(&a.run_id))
    });
    runs.dedup_by(|a, b| a.run_id == b.run_id);
    let runs: Vec<Value> = runs
        .iter()
        .map(|r| {
            json!({
                "workflowId": r.run_id,
                "status": r.state,
                "script": r.script,
                "startedAt": r.started_at,
                "agents": r.agents,
                "costUSD": r.cost_usd,
                "dryRun": r.dry_run,
            })
        })
        .collect();
    Ok(json!({"runs": runs}))
}

pub async fn health(session: &Session, args: Option<Map<String, Value>>) -> Reply {
    let _: Map<String, Value> = parse("odw_health", args)?;
    let (mut active, mut in_flight, mut queued) = (0, 0, 0);
    for engine in session.engines().await {
        for id in engine.live_runs() {
            active += 1;
            if let Some(t) = engine.tally(&id) {
                let t = t.borrow();
                in_flight += t.in_flight();
                queued += t.waiting();
            }
        }
    }
    Ok(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "workspace": session.home.display().to_string(),
        "activeRuns": active,
        "agentsInFlight": in_flight,
        "agentsQueued": queued,
    }))
}
