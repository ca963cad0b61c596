//! The `odw.*` commands (`workspace/executeCommand`) and the matching `odw/*` requests. Both
//! take the same arguments (protocol/README.md) and return at once; runs happen in tasks.

use super::runs::{self, CancelOnDrop, request_failed};
use super::session::Session;
use odw_protocol::lsp::{
    self as proto, CancelParams, CancelResult, PlanParams, ResultParams, ResultReply, ResumeParams,
    RunParams, RunStarted, RunsParams,
};
use odw_protocol::{RunId, RunState, Usage};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;
use tower_lsp_server::jsonrpc::{Error, Result};

/// How many runs `odw.runs` lists when no limit is given.
const DEFAULT_RUNS_LIMIT: usize = 20;

/// Runs a command by name with `workspace/executeCommand` arguments.
pub async fn execute(session: &Arc<Session>, command: &str, args: Vec<Value>) -> Result<Value> {
    match command {
        // A command cannot hold the request open; `wait` belongs to the `odw/run` request.
        proto::CMD_RUN => run(session, args, false).await,
        proto::CMD_CANCEL => cancel(session, args),
        proto::CMD_RESUME => resume(session, args).await,
        proto::CMD_PLAN => plan(session, args).await,
        proto::CMD_RUNS => list(session, args).await,
        proto::CMD_RESULT => result(session, args).await,
        other => Err(Error::invalid_params(format!(
            "unknown command {other:?}; the server offers {}",
            proto::COMMANDS.join(", ")
        ))),
    }
}

/// The arguments of a custom request: positional when `params` is an array, else one object.
pub fn request_args(params: Value) -> Vec<Value> {
    match params {
        Value::Array(items) => items,
        Value::Null => vec![],
        other => vec![other],
    }
}

/// `odw.run` / `odw/run`: `uri` or `{uri or text, args?, model?, concurrency?, budget?,
/// dryRun?, wait?}` → `{runId}`, or the `RunResult` when `wait` is set.
pub async fn run(session: &Arc<Session>, args: Vec<Value>, allow_wait: bool) -> Result<Value> {
    let params: RunParams = match args.first() {
        Some(Value::String(uri)) => RunParams {
            uri: Some(uri.clone()),
            ..Default::default()
        },
        Some(v @ Value::Object(_)) => parse(v)?,
        _ => {
            return Err(Error::invalid_params(
                "odw.run needs a `uri` or `{uri or text, …}`",
            ));
        }
    };
    let id = runs::start(session, &params).await?;
    if !(allow_wait && params.wait) {
        return to_value(RunStarted { run_id: id });
    }
    let engine = session.engine().await;
    let guard = CancelOnDrop::new(engine.clone(), id.clone());
    let result = engine.wait(&id).await;
    guard.disarm();
    match result {
        Some(r) => to_value(r),
        None => Err(request_failed(format!("run {id} vanished"))),
    }
}

/// `odw.cancel`: `runId`, or none for the newest live run → `{cancelled}`.
fn cancel(session: &Arc<Session>, args: Vec<Value>) -> Result<Value> {
    let params: CancelParams = match args.first() {
        None | Some(Value::Null) => CancelParams::default(),
        Some(Value::String(id)) => CancelParams {
            run_id: Some(RunId::from(id.clone())),
        },
        Some(v) => parse(v)?,
    };
    let Some(engine) = session.started_engine() else {
        return to_value(CancelResult { cancelled: false });
    };
    let id = params.run_id.or_else(|| session.runs.newest_live(&engine));
    let cancelled = id.is_some_and(|id| engine.cancel(&id));
    to_value(CancelResult { cancelled })
}

/// `odw.resume`: `runId` (and an optional budget top-up) → `{runId}`.
async fn resume(session: &Arc<Session>, args: Vec<Value>) -> Result<Value> {
    let params: ResumeParams = match args.as_slice() {
        [Value::String(id), rest @ ..] => ResumeParams {
            run_id: RunId::from(id.clone()),
            budget: rest.first().map(parse).transpose()?,
        },
        [v @ Value::Object(_), ..] => parse(v)?,
        _ => return Err(Error::invalid_params("odw.resume needs a `runId`")),
    };
    let id = runs::resume(session, &params).await?;
    to_value(RunStarted { run_id: id })
}

/// `odw.plan`: `task` or `{task, topology?, noModel?}` → `{uri, topology, estimate}`.
async fn plan(session: &Arc<Session>, args: Vec<Value>) -> Result<Value> {
    let params: PlanParams = match args.first() {
        Some(Value::String(task)) => PlanParams {
            task: task.clone(),
            topology: None,
            no_model: false,
        },
        Some(v) => parse(v)?,
        None => return Err(Error::invalid_params("odw.plan needs `{task, topology?}`")),
    };
    to_value(super::plan::plan(session, params).await?)
}

/// `odw.runs`: `{limit?}` → the runs of this session, newest first.
async fn list(session: &Arc<Session>, args: Vec<Value>) -> Result<Value> {
    let params: RunsParams = match args.first() {
        None | Some(Value::Null) => RunsParams::default(),
        Some(Value::Number(n)) => RunsParams {
            limit: n.as_u64().map(|n| n.min(u32::MAX as u64) as u32),
        },
        Some(v) => parse(v)?,
    };
    let limit = params.limit.map_or(DEFAULT_RUNS_LIMIT, |l| l as usize);
    let runs = session.engine().await.runs(limit).await;
    to_value(runs)
}

/// `odw.result`: `runId`, or none for the newest finished run that is not a dry run →
/// `{state, result, error?, usage}`, and opens the result file (the user asked for it).
async fn result(session: &Arc<Session>, args: Vec<Value>) -> Result<Value> {
    let engine = session.engine().await;
    let params: ResultParams = match args.first() {
        Some(Value::String(id)) => ResultParams {
            run_id: RunId::from(id.clone()),
        },
        Some(v @ Value::Object(_)) => parse(v)?,
        None | Some(Value::Null) => ResultParams {
            run_id: engine
                .runs(DEFAULT_RUNS_LIMIT)
                .await
                .into_iter()
                .find(|r| !r.dry_run && r.state != RunState::Running)
                .map(|r| r.run_id)
                .ok_or_else(|| request_failed("no finished run yet (dry runs do not count)"))?,
        },
        _ => return Err(Error::invalid_params("odw.result needs a `runId`")),
    };
    let id = &params.run_id;
    let Some(r) = engine.result(id).await else {
        if engine.live_runs().contains(id) {
            return to_value(ResultReply {
                state: RunState::Running,
                result: Value::Null,
                error: None,
                usage: Usage::default(),
            });
        }
        return Err(request_failed(format!("no run {id} in this session")));
    };
    if session.caps().show_document
        && let Some(path) = &r.result_path
    {
        runs::show_document(session, path);
    }
    to_value(ResultReply {
        state: r.state,
        result: r.result,
        error: r.error,
        usage: r.usage,
    })
}

fn parse<T: DeserializeOwned>(v: &Value) -> Result<T> {
    serde_json::from_value(v.clone())
        .map_err(|e| Error::invalid_params(format!("invalid arguments: {e}")))
}

fn to_value<T: serde::Serialize>(v: T) -> Result<Value> {
    serde_json::to_value(v).map_err(|e| request_failed(e.to_string()))
}
