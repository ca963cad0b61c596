//! The engine: start, cancel and wait for runs. Knows nothing about LSP or terminals; adapters
//! follow a run's [`RunEvent`]s and [`tally::Tally`], and read [`RunResult`]s.
//!
//! It is the faces' only way to the journal: whatever may block on SQLite (opening it, creating
//! or claiming a run, every read) runs on `spawn_blocking` behind an async method, so LSP and
//! MCP handlers never stall the executor. Writes of a running run stay queued to the journal's
//! writer thread.

mod act;
mod admission;
pub use act::INTERRUPTED;
pub mod agent;
pub mod approve;
mod call;
mod commits;
pub mod events;
mod host;
pub mod identity;
pub mod ids;
mod ledger;
mod lifecycle;
mod nested;
mod recall;
mod run;
pub mod tally;

use crate::config::{Config, Env};
use crate::journal::{CallRow, Checkpoint, Journal, JournalError, NewRun, Owner, RunRow};
use crate::scheduler::Scheduler;
use odw_protocol::{Budget, RunEvent, RunId, RunResult};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// Where a run's readable result is written: `.odw/runs/<id>/result.md` in its workspace.
pub fn result_path(workspace: &std::path::Path, run: &RunId) -> PathBuf {
    workspace
        .join(".odw")
        .join("runs")
        .join(run.as_str())
        .join("result.md")
}

/// What to run.
#[derive(Debug, Clone)]
pub struct RunRequest {
    /// The script's path, when it came from a file (shown in events and errors).
    pub script_path: Option<PathBuf>,
    pub script_text: String,
    pub args: serde_json::Value,
    /// The workspace root: `context.tools` are confined to it, results are written under it.
    pub cwd: PathBuf,
    /// `--model`: the model of calls that name none.
    pub model: Option<String>,
    pub budget: Budget,
    /// At most this many of the run's calls in flight (besides the global limit).
    pub concurrency: Option<u32>,
    pub dry_run: bool,
    /// The effective configuration for this run.
    pub config: Config,
    /// The face that asks the user about tools that change the machine; `None`: nobody can be
    /// asked, and `ask` means deny.
    pub approver: Option<approve::ApproverHandle>,
    /// `--allow`/`--deny`: on top of `[approvals]`.
    pub allow: Vec<crate::tools::ToolName>,
    pub deny: Vec<crate::tools::ToolName>,
}

/// What a resume may change: the caps, and how tools are approved (the face resuming asks,
/// not the one that started the run).
#[derive(Debug, Clone, Default)]
pub struct ResumeOptions {
    /// Replaces the recorded caps.
    pub budget: Option<Budget>,
    pub approver: Option<approve::ApproverHandle>,
    pub allow: Vec<crate::tools::ToolName>,
    pub deny: Vec<crate::tools::ToolName>,
}

/// Why a run could not even start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Invalid(String),
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
}

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Requests in flight across all runs.
    pub concurrency: usize,
    pub env: Env,
    /// The journal database runs are recorded in; without one, runs cannot be resumed or
    /// listed later.
    pub journal: Option<PathBuf>,
}

/// Everything the journal holds about one run, for `odw show`.
#[derive(Debug, Clone)]
pub struct RunDetail {
    pub run: RunRow,
    pub calls: Vec<CallRow>,
    pub checkpoints: Vec<Checkpoint>,
    pub events: Vec<RunEvent>,
}

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    scheduler: Scheduler,
    runs: Mutex<HashMap<RunId, LiveRun>>,
    next_key: AtomicU64,
    env: Env,
    journal: Option<Journal>,
    owner: Owner,
}

/// A run this engine is executing or has finished.
struct LiveRun {
    script: String,
    dry_run: bool,
    started_at: u64,
    controls: run::Controls,
    done: watch::Receiver<Option<RunResult>>,
    events: Arc<events::Channel>,
}

impl Engine {
    /// An engine with its own scheduler, recording runs in `opts.journal` (opened, and runs whose
    /// process died marked interrupted, on a blocking thread). Must be called inside a tokio
    /// runtime: runs are driven by tasks on it (the scripts themselves run on threads of their
    /// own).
    pub async fn open(opts: EngineOptions) -> Result<Self, JournalError> {
        // The journal opens on its blocking thread while the scheduler's HTTP client (and its
        // TLS roots) is built here: two independent milliseconds or so each, at every start.
        let opening = opts.journal.map(|path| {
            let at = path.clone();
            (path, tokio::task::spawn_blocking(move || open_journal(&at)))
        });
        let scheduler = Scheduler::new(opts.concurrency);
        let journal = match opening {
            None => None,
            Some((path, opening)) => Some(joined(path, opening).await?),
        };
        Ok(Engine::with_parts(scheduler, opts.env, journal))
    }

    /// An engine that journals nothing (its runs cannot be resumed or listed later). Must be
    /// created inside a tokio runtime.
    pub fn unjournaled(concurrency: usize, env: Env) -> Self {
        Engine::with_parts(Scheduler::new(concurrency), env, None)
    }

    fn with_parts(scheduler: Scheduler, env: Env, journal: Option<Journal>) -> Self {
        Engine {
            inner: Arc::new(Inner {
                scheduler,
                runs: Mutex::new(HashMap::new()),
                next_key: AtomicU64::new(1),
                env,
                journal,
                owner: Owner::current(),
            }),
        }
    }

    /// Follows one run this engine executes (or executed): its events in order from the first
    /// still kept, and its progress. `None` for a run that is not this engine's.
    pub fn events(&self, id: &RunId) -> Option<events::RunEvents> {
        let runs = self.inner.runs.lock().unwrap();
        Some(runs.get(id)?.events.subscribe())
    }

    /// A run's progress, updated as it emits events; the last execution's, once it ended.
    /// `None` for a run this engine did not execute.
    pub fn tally(&self, id: &RunId) -> Option<watch::Receiver<tally::Tally>> {
        let runs = self.inner.runs.lock().unwrap();
        Some(runs.get(id)?.events.tally())
    }

    /// The engine's scheduler, for work that is not a run but must wait in the same fair
    /// queue and under the same global limit (the planner's model calls).
    pub fn scheduler(&self) -> Scheduler {
        self.inner.scheduler.clone()
    }

    /// Starts a run and returns its id once it is recorded (the run goes on in the background).
    pub async fn start(&self, req: RunRequest) -> Result<RunId, StartError> {
        let id = ids::new_run_id();
        if let Some(j) = self.inner.journal.clone() {
            let run = NewRun {
                run_id: id.clone(),
                script_path: req
                    .script_path
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("<inline>")),
                script_text: req.script_text.clone(),
                dialect: crate::check::prepare(&req.script_text)
                    .map(|p| p.dialect.as_str())
                    .unwrap_or("unknown")
                    .to_string(),
                args: req.args.clone(),
                cwd: req.cwd.clone(),
                config: req.config.snapshot(),
                model_map: serde_json::json!({
                    "model": req.model,
                    "default": req.config.default_model(),
                    "planning": req.config.resolve_alias("planning"),
                    "fallback": req.config.models.fallback,
                }),
                budget: req.budget.clone(),
                dry_run: req.dry_run,
                owner: self.inner.owner.clone(),
                created_ms: events::now_ms(),
            };
            // Waits for the commit: the snapshot is durable before the run does any work.
            blocking(j.path().to_path_buf(), move || j.create_run(&run)).await?;
        }
        self.launch(id, req, None)
    }

    /// Resumes an unfinished run from the journal: the script runs again from the top with its
    /// saved text, args, cwd and configuration; finished calls replay their journaled results
    /// without a request, and only unfinished work runs live. `budget` replaces the caps.
    pub async fn resume(&self, id: &RunId, opts: ResumeOptions) -> Result<RunId, StartError> {
        let ResumeOptions {
            budget,
            approver,
            allow,
            deny,
        } = opts;
        let j = self.inner.journal.clone().ok_or_else(|| {
            StartError::Invalid(format!(
                "cannot resume {id}: this engine has no run journal"
            ))
        })?;
        if self.live_runs().contains(id) {
            return Err(StartError::Invalid(format!("run {id} is still running")));
        }
        let (owner, env, run_id) = (self.inner.owner.clone(), self.inner.env.clone(), id.clone());
        let path = j.path().to_path_buf();
        let prepared = blocking(path, move || {
            Ok(prepare_resume(&j, &run_id, &owner, &env, budget))
        });
        let (req, replay) = prepared.await??;
        let req = RunRequest {
            approver,
            allow,
            deny,
            ..req
        };
        self.launch(id.clone(), req, Some(replay))
    }

    fn launch(
        &self,
        id: RunId,
        req: RunRequest,
        replay: Option<run::Replay>,
    ) -> Result<RunId, StartError> {
        let key = self.inner.next_key.fetch_add(1, Ordering::Relaxed);
        let script = req
            .script_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<inline>".into());
        let (done_tx, done_rx) = watch::channel(None);
        let dry_run = req.dry_run;
        let first_seq = replay.as_ref().map_or(0, |r| r.first_seq);
        let channel = events::Channel::new(id.clone(), first_seq);
        let started = run::start(
            run::Launch {
                id: id.clone(),
                key,
                scheduler: self.inner.scheduler.clone(),
                events: channel.clone(),
                journal: self.inner.journal.clone(),
                owner: self.inner.owner.clone(),
                replay,
            },
            req,
            done_tx,
        );
        let started = match started {
            Ok(s) => s,
            Err(e) => {
                if let Some(j) = &self.inner.journal {
                    j.set_state(
                        &id,
                        odw_protocol::RunState::Failed,
                        Some(&e.to_string()),
                        None,
                    );
                }
                return Err(e);
            }
        };
        self.inner.runs.lock().unwrap().insert(
            id.clone(),
            LiveRun {
                script,
                dry_run,
                started_at: events::now_ms(),
                controls: started,
                done: done_rx,
                events: channel,
            },
        );
        Ok(id)
    }

    /// Cancels a live run. False when the run is unknown or already finished.
    pub fn cancel(&self, id: &RunId) -> bool {
        let runs = self.inner.runs.lock().unwrap();
        match runs.get(id) {
            Some(r) if r.done.borrow().is_none() => {
                (r.controls.cancel)();
                true
            }
            _ => false,
        }
    }

    /// Pauses a live run: no new agent call starts, those in flight finish and are journaled,
    /// then the run ends `paused`, resumable from any face. False when the run is unknown or
    /// already finished.
    pub fn pause(&self, id: &RunId) -> bool {
        let runs = self.inner.runs.lock().unwrap();
        match runs.get(id) {
            Some(r) if r.done.borrow().is_none() => {
                (r.controls.pause)();
                true
            }
            _ => false,
        }
    }

    /// Ids of runs still executing, oldest first.
    pub fn live_runs(&self) -> Vec<RunId> {
        let runs = self.inner.runs.lock().unwrap();
        let mut ids: Vec<RunId> = runs
            .iter()
            .filter(|(_, r)| r.done.borrow().is_none())
            .map(|(id, _)| id.clone())
            .collect();
        ids.sort();
        ids
    }

    /// Waits for a run this engine started to finish.
    pub async fn wait(&self, id: &RunId) -> Option<RunResult> {
        let mut rx = self.inner.runs.lock().unwrap().get(id)?.done.clone();
        loop {
            if let Some(r) = rx.borrow().clone() {
                return Some(r);
            }
            if rx.changed().await.is_err() {
                return rx.borrow().clone();
            }
        }
    }

    /// The result of a finished run: one this engine executed, else one from the journal.
    pub async fn result(&self, id: &RunId) -> Option<RunResult> {
        let live = self
            .inner
            .runs
            .lock()
            .unwrap()
            .get(id)
            .and_then(|r| r.done.borrow().clone());
        if live.is_some() {
            return live;
        }
        self.recorded_result(id).await
    }

    /// A run's outcome as its journal records it, whichever process ran it last (a run this
    /// engine finished may have been resumed elsewhere since).
    pub async fn recorded_result(&self, id: &RunId) -> Option<RunResult> {
        let row = self.recorded_run(id).await.ok()??;
        Some(RunResult {
            run_id: row.run_id.clone(),
            state: row.state,
            result: row.result.unwrap_or(serde_json::Value::Null),
            error: row.error,
            usage: row.usage,
            failures: vec![],
            result_path: Some(result_path(&row.cwd, &row.run_id).display().to_string()),
            estimate: None,
        })
    }

    /// A run's journal row; `None` when the journal does not have it, or there is no journal.
    pub async fn recorded_run(&self, id: &RunId) -> Result<Option<RunRow>, JournalError> {
        let Some(j) = self.inner.journal.clone() else {
            return Ok(None);
        };
        let id = id.clone();
        blocking(j.path().to_path_buf(), move || j.load_run(&id)).await
    }

    /// Whether this engine executes the run or its journal has it.
    pub async fn knows(&self, id: &RunId) -> bool {
        self.live_runs().contains(id) || matches!(self.recorded_run(id).await, Ok(Some(_)))
    }

    /// The events a run recorded, in order; empty without a journal or when it cannot be read.
    pub async fn recorded_events(&self, id: &RunId) -> Vec<RunEvent> {
        let Some(j) = self.inner.journal.clone() else {
            return Vec::new();
        };
        let id = id.clone();
        blocking(j.path().to_path_buf(), move || j.load_events(&id, 0))
            .await
            .unwrap_or_default()
    }

    /// Recent runs as the journal records them, newest first; empty without a journal.
    pub async fn list_runs(&self, limit: usize) -> Result<Vec<RunRow>, JournalError> {
        let Some(j) = self.inner.journal.clone() else {
            return Ok(Vec::new());
        };
        blocking(j.path().to_path_buf(), move || j.list_runs(limit)).await
    }

    /// A run's row, calls, checkpoints and events from the journal (`odw show`); `None` for a
    /// run it does not have. Only the row must be readable: the rest is empty when it is not.
    pub async fn run_detail(&self, id: &RunId) -> Result<Option<RunDetail>, JournalError> {
        let Some(j) = self.inner.journal.clone() else {
            return Ok(None);
        };
        let id = id.clone();
        blocking(j.path().to_path_buf(), move || {
            let Some(run) = j.load_run(&id)? else {
                return Ok(None);
            };
            Ok(Some(RunDetail {
                run,
                calls: j.load_calls(&id).unwrap_or_default(),
                checkpoints: j.load_checkpoints(&id).unwrap_or_default(),
                events: j.load_events(&id, 0).unwrap_or_default(),
            }))
        })
        .await
    }

    /// Recent runs, newest first: from the journal, else the runs of this process.
    pub async fn runs(&self, limit: usize) -> Vec<odw_protocol::lsp::RunSummary> {
        if self.inner.journal.is_some() {
            match self.list_runs(limit).await {
                Ok(rows) => {
                    return rows.iter().map(|r| r.summary()).collect();
                }
                Err(e) => tracing::warn!("cannot list runs from the journal: {e}"),
            }
        }
        let runs = self.inner.runs.lock().unwrap();
        let mut out: Vec<_> = runs
            .iter()
            .map(|(id, r)| {
                let done = r.done.borrow().clone();
                odw_protocol::lsp::RunSummary {
                    run_id: id.clone(),
                    state: done
                        .as_ref()
                        .map(|d| d.state)
                        .unwrap_or(odw_protocol::RunState::Running),
                    script: r.script.clone(),
                    started_at: r.started_at,
                    finished_at: done.as_ref().map(|_| r.started_at),
                    agents: done.as_ref().map_or(0, |d| d.usage.agents),
                    tokens: done
                        .as_ref()
                        .map_or(0, |d| d.usage.tokens_in + d.usage.tokens_out),
                    cost_usd: done.as_ref().map_or(0.0, |d| d.usage.cost_usd),
                    dry_run: r.dry_run,
                }
            })
            .collect();
        out.sort_by(|a, b| b.run_id.cmp(&a.run_id));
        out.truncate(limit);
        out
    }

    /// The most requests that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.inner.scheduler.max_in_flight()
    }
}

/// Runs journal work on a blocking thread: SQLite and the writer's replies may block, and the
/// runtime's threads must not. A panic there is the caller's; the work is only dropped unrun
/// when the runtime shuts down, which reads as a stopped journal.
async fn blocking<T: Send + 'static>(
    path: PathBuf,
    f: impl FnOnce() -> Result<T, JournalError> + Send + 'static,
) -> Result<T, JournalError> {
    joined(path, tokio::task::spawn_blocking(f)).await
}

/// Waits for journal work started with `spawn_blocking`, as [`blocking`] does.
async fn joined<T>(
    path: PathBuf,
    work: tokio::task::JoinHandle<Result<T, JournalError>>,
) -> Result<T, JournalError> {
    match work.await {
        Ok(r) => r,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(JournalError::WriterStopped { path }),
    }
}

/// Opens a journal and marks the runs whose process died: they are never resumed by
/// themselves. Blocks.
fn open_journal(path: &std::path::Path) -> Result<Journal, JournalError> {
    let j = Journal::open(path)?;
    match j.mark_interrupted_runs() {
        Ok(ids) if !ids.is_empty() => tracing::info!(
            "{} run(s) were interrupted by a crash; resume them with `odw resume`",
            ids.len()
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!("could not check for interrupted runs: {e}"),
    }
    Ok(j)
}

/// Claims a recorded run for a resume and reads what it replays; the request has no approver
/// and no extra rules yet. Blocks.
fn prepare_resume(
    j: &Journal,
    id: &RunId,
    owner: &Owner,
    env: &Env,
    budget: Option<Budget>,
) -> Result<(RunRequest, run::Replay), StartError> {
    let row = j.load_run(id)?.ok_or_else(|| {
        StartError::Invalid(format!("run {id} not found: list runs with `odw runs`"))
    })?;
    if row.state == odw_protocol::RunState::Succeeded {
        return Err(StartError::Invalid(format!(
            "run {id} already succeeded and is never re-run; see its result with `odw show {id}`"
        )));
    }
    let caps = Budget {
        tokens: budget.as_ref().and_then(|b| b.tokens).or(row.budget.tokens),
        usd: budget.as_ref().and_then(|b| b.usd).or(row.budget.usd),
    };
    j.reset_run_for_resume(id, owner, Some(&caps))?;
    let current = Config::load(&row.cwd, env).unwrap_or_default();
    let config = Config::from_snapshot(&row.config, &current)
        .map_err(|e| StartError::Invalid(e.to_string()))?;
    let replay = run::Replay {
        cached: j.load_finished_calls(id)?,
        traces: j.load_traces(id)?,
        nondet: j.load_nondeterminism(id)?,
        prior: row.usage.clone(),
        first_seq: j.last_event_seq(id)?,
    };
    let req = RunRequest {
        script_path: Some(row.script_path.clone()),
        script_text: row.script_text,
        args: row.args,
        cwd: row.cwd,
        model: row.model_map["model"].as_str().map(str::to_string),
        budget: caps,
        concurrency: None,
        dry_run: row.dry_run,
        config,
        approver: None,
        allow: Vec::new(),
        deny: Vec::new(),
    };
    Ok((req, replay))
}
