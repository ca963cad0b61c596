//! The engine: start, cancel and wait for runs. Knows nothing about LSP or terminals; adapters
//! subscribe to [`RunEvent`]s and read [`RunResult`]s.

pub mod agent;
pub mod events;
mod host;
pub mod ids;
mod run;

use crate::config::{Config, Env};
use crate::scheduler::Scheduler;
use events::Subscribers;
use odw_protocol::{Budget, RunEvent, RunId, RunResult};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, watch};

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
}

/// Why a run could not even start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Invalid(String),
}

/// Engine-wide settings.
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// Requests in flight across all runs.
    pub concurrency: usize,
    pub env: Env,
}

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    scheduler: Scheduler,
    subscribers: Subscribers,
    runs: Mutex<HashMap<RunId, LiveRun>>,
    next_key: AtomicU64,
    #[allow(dead_code)]
    env: Env,
}

/// A run this engine is executing or has finished.
struct LiveRun {
    script: String,
    started_at: u64,
    cancel: Box<dyn Fn() + Send + Sync>,
    done: watch::Receiver<Option<RunResult>>,
}

impl Engine {
    /// An engine with its own scheduler. Must be created inside a tokio runtime: runs are driven
    /// by tasks on it (the scripts themselves run on threads of their own).
    pub fn new(opts: EngineOptions) -> Self {
        Engine {
            inner: Arc::new(Inner {
                scheduler: Scheduler::new(opts.concurrency.clamp(1, 1024)),
                subscribers: Arc::new(Mutex::new(Vec::new())),
                runs: Mutex::new(HashMap::new()),
                next_key: AtomicU64::new(1),
                env: opts.env,
            }),
        }
    }

    /// Every event of every run started after this call, in order per run.
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<RunEvent> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.inner.subscribers.lock().unwrap().push(tx);
        rx
    }

    /// Starts a run and returns its id at once.
    pub fn start(&self, req: RunRequest) -> Result<RunId, StartError> {
        let key = self.inner.next_key.fetch_add(1, Ordering::Relaxed);
        let script = req
            .script_path
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_else(|| "<inline>".into());
        let id = ids::new_run_id();
        let (done_tx, done_rx) = watch::channel(None);
        let started = run::start(
            id.clone(),
            key,
            req,
            self.inner.scheduler.clone(),
            self.inner.subscribers.clone(),
            done_tx,
        )?;
        self.inner.runs.lock().unwrap().insert(
            id.clone(),
            LiveRun {
                script,
                started_at: events::now_ms(),
                cancel: started,
                done: done_rx,
            },
        );
        Ok(id)
    }

    /// Cancels a live run. False when the run is unknown or already finished.
    pub fn cancel(&self, id: &RunId) -> bool {
        let runs = self.inner.runs.lock().unwrap();
        match runs.get(id) {
            Some(r) if r.done.borrow().is_none() => {
                (r.cancel)();
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

    /// The result of a finished run this engine executed.
    pub fn result(&self, id: &RunId) -> Option<RunResult> {
        self.inner
            .runs
            .lock()
            .unwrap()
            .get(id)
            .and_then(|r| r.done.borrow().clone())
    }

    /// Recent runs, newest first. (Runs of this process only until the journal is wired in.)
    pub fn runs(&self, limit: usize) -> Vec<odw_protocol::lsp::RunSummary> {
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
                }
            })
            .collect();
        out.sort_by(|a, b| b.run_id.cmp(&a.run_id));
        out.truncate(limit);
        out
    }

    /// Resumes an unfinished run from the journal: finished calls replay, the rest run live.
    pub fn resume(&self, id: &RunId, budget: Option<Budget>) -> Result<RunId, StartError> {
        let _ = budget;
        Err(StartError::Invalid(format!(
            "cannot resume {id}: this build has no run journal yet"
        )))
    }

    /// The most requests that were in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.inner.scheduler.max_in_flight()
    }
}
