//! What the sandbox's host operations do for one run: events, budget, time, agent calls and
//! tools. Shared state of the run lives in [`RunShared`]; an agent call's steps in `call`.

use super::RunRequest;
use super::admission::Admission;
use super::call::AgentStep;
use super::commits::Commits;
use super::events::Emitter;
use super::ledger::Ledger;
use super::lifecycle::Lifecycle;
use super::recall::Recall;
use super::run::Replay;
use crate::budget::Budget;
use crate::config::Config;
use crate::journal::{Journal, NondetValue};
use crate::sandbox::ops::{AsyncOp, SyncOp};
use crate::sandbox::{Completer, Host, HostError};
use crate::scheduler::{CallObserver, Scheduler};
use odw_protocol::{EventKind, RunId, Usage};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// State of one run, shared by its thread, its calls and its driver. Each piece that changes
/// while the run goes guards itself; the rest is fixed when the run starts.
pub(super) struct RunShared {
    pub id: RunId,
    pub(super) key: u64,
    emitter: Emitter,
    pub(super) scheduler: Scheduler,
    pub(super) io: tokio::runtime::Handle,
    pub(super) budget: Budget,
    pub(super) config: Config,
    pub(super) model: Option<String>,
    args: Value,
    pub(super) cwd: PathBuf,
    pub(super) dry_run: bool,
    pub(super) run_cap: usize,
    pub(super) call_seq: AtomicU64,
    pub(super) lifecycle: Lifecycle,
    pub(super) ledger: Ledger,
    pub(super) journal: Option<Journal>,
    pub(super) recall: Recall,
    pub(super) admission: Admission,
    /// Calls waiting for their end to be committed.
    pub(super) commits: Commits,
    /// Sandbox limits of every script of this run (nested ones too).
    pub limits: crate::sandbox::Limits,
    /// The script's file name, for approval prompts.
    pub(super) script_name: String,
    pub(super) approvals: super::approve::Approvals,
    /// Whether this run's git writes already moved to its own branch.
    pub(super) git_branch: tokio::sync::Mutex<bool>,
}

/// The sandbox limits the configuration asks for.
fn limits_of(config: &Config) -> crate::sandbox::Limits {
    let l = &config.limits;
    crate::sandbox::Limits {
        memory_bytes: (l.memory_mb as usize) << 20,
        stack_bytes: 1 << 20,
        cpu_slice: Duration::from_millis(l.cpu_slice_ms.max(10)),
        wall: Duration::from_secs(l.run_timeout_s.max(1)),
    }
}

/// What a run is made of besides its request.
pub(super) struct Parts {
    pub id: RunId,
    pub key: u64,
    pub scheduler: Scheduler,
    pub emitter: Emitter,
    pub cancel: CancellationToken,
    pub io: tokio::runtime::Handle,
    pub journal: Option<Journal>,
    pub replay: Option<Replay>,
    /// Interrupts the run's script (with `cancel`, for errors no retry can fix).
    pub waker: crate::sandbox::Waker,
}

impl RunShared {
    pub fn new(req: &RunRequest, parts: Parts) -> Self {
        let Parts {
            id,
            key,
            scheduler,
            emitter,
            cancel,
            io,
            journal,
            replay,
            waker,
        } = parts;
        let mut caps = req.budget.clone();
        if caps.tokens.is_none() {
            caps.tokens = req.config.budget.tokens;
        }
        if caps.usd.is_none() {
            caps.usd = req.config.budget.usd;
        }
        let (cached, traces, nondet, prior) = match replay {
            Some(r) => (r.cached, r.traces, r.nondet, r.prior),
            None => (HashMap::new(), HashMap::new(), Vec::new(), Usage::default()),
        };
        RunShared {
            id,
            key,
            emitter,
            scheduler,
            io,
            budget: Budget::new(caps, prior.tokens_in + prior.tokens_out, prior.cost_usd),
            config: req.config.clone(),
            model: req.model.clone(),
            args: req.args.clone(),
            cwd: req.cwd.clone(),
            dry_run: req.dry_run,
            run_cap: req.concurrency.map(|c| c as usize).unwrap_or(usize::MAX),
            call_seq: AtomicU64::new(0),
            lifecycle: Lifecycle::new(cancel, waker),
            ledger: Ledger::new(req.dry_run, &prior),
            journal,
            recall: Recall::new(cached, traces, nondet),
            admission: Admission::new(),
            commits: Commits::default(),
            limits: limits_of(&req.config),
            script_name: req
                .script_path
                .as_deref()
                .and_then(|p| p.file_name())
                .map_or_else(
                    || "<inline>".to_string(),
                    |n| n.to_string_lossy().into_owned(),
                ),
            approvals: super::approve::Approvals::new(
                super::approve::ApprovalPolicy::new(&req.config.approvals, &req.allow, &req.deny),
                req.approver.as_ref().map(|h| h.0.clone()),
            ),
            git_branch: tokio::sync::Mutex::new(false),
        }
    }

    /// Runs an agent call as a task now, or queues it while the run already has enough tasks
    /// to keep every slot it could get busy.
    fn admit(self: &Arc<Self>, payload: String, done: Completer) {
        let limit = (2 * self.scheduler.limit()).max(64);
        if let Some((payload, done)) = self.admission.admit((payload, done), limit) {
            self.spawn_agent(payload, done);
        }
    }

    fn spawn_agent(self: &Arc<Self>, payload: String, done: Completer) {
        let shared = self.clone();
        self.io.spawn(async move {
            match shared.run_agent(payload).await {
                AgentStep::Done(r) => shared.agent_done(r, done),
                AgentStep::Recorded(recorded) => {
                    // Waiting for the commit needs no task slot: a queued call may have it.
                    let apart = shared.admission.wait_apart(shared.scheduler.limit());
                    if apart {
                        shared.hand_on();
                    }
                    shared.after_commit(recorded, done, apart);
                }
            }
        });
    }

    /// Hands a call's answer to the script and its task to the next queued call.
    pub(super) fn agent_done(self: &Arc<Self>, r: Result<String, HostError>, done: Completer) {
        self.admission.ended();
        done.complete(r);
        self.hand_on();
    }

    /// Gives a finished call's task to the next queued call, if any.
    pub(super) fn hand_on(self: &Arc<Self>) {
        if let Some((payload, done)) = self.admission.next() {
            self.spawn_agent(payload, done);
        }
    }

    pub fn journal(&self) -> Option<&Journal> {
        self.journal.as_ref()
    }

    /// The next nondeterministic value of `kind`, replayed or fresh and recorded.
    fn nondet(&self, kind: &str, fresh: impl FnOnce() -> f64) -> f64 {
        self.recall.nondet(kind, fresh, |seq, v| {
            if let Some(j) = &self.journal {
                j.record_nondeterminism(&self.id, seq, kind, NondetValue::Number(v));
            }
        })
    }

    /// Ends the run at once, failed with `message` (the first such error wins): for errors no
    /// retry can fix, such as a rejected API key or a journal that cannot write.
    pub(super) fn stop(&self, message: &str) {
        self.lifecycle.stop(message, || {
            tracing::error!(run = %self.id, "{message}");
            self.emit(EventKind::Log {
                level: "error".into(),
                message: format!("stopping the run: {message}"),
            });
        });
    }

    pub fn emit(&self, kind: EventKind) {
        self.emitter.emit(kind);
    }
}

impl CallObserver for RunShared {
    fn event(&self, kind: EventKind) {
        self.emit(kind);
    }
}

/// The sandbox's view of the engine for one run.
pub(super) struct RunHost {
    pub(super) shared: std::sync::Arc<RunShared>,
    /// The `args` this script sees (a nested workflow has its own).
    pub(super) args: Value,
    /// 0 for the run's script, 1 inside `workflow()`.
    pub(super) depth: u8,
}

impl RunHost {
    pub fn new(shared: std::sync::Arc<RunShared>) -> Self {
        let args = shared.args.clone();
        RunHost {
            shared,
            args,
            depth: 0,
        }
    }
}

#[derive(serde::Deserialize)]
struct LogMsg {
    message: String,
    #[serde(default)]
    level: Option<String>,
}

#[derive(serde::Deserialize)]
struct PhaseMsg {
    title: String,
}

#[derive(serde::Deserialize)]
struct CheckpointMsg {
    #[serde(default)]
    data: Value,
    #[serde(default)]
    name: Option<String>,
}

#[derive(serde::Deserialize)]
struct ToolMsg {
    name: String,
    #[serde(default)]
    args: Vec<Value>,
}

pub(super) fn parse<T: serde::de::DeserializeOwned>(
    op: &str,
    payload: &str,
) -> Result<T, HostError> {
    crate::json::parse(payload).map_err(|e| HostError::new(format!("{op}: invalid arguments: {e}")))
}

impl Host for RunHost {
    fn sync_op(&mut self, op: SyncOp, payload: &str) -> Result<String, HostError> {
        let s = &self.shared;
        let op_name = op.name();
        match op {
            SyncOp::Log => {
                let m: LogMsg = parse(op_name, payload)?;
                let level = m.level.unwrap_or_else(|| "info".into());
                let message: String = m.message.chars().take(8000).collect();
                s.emit(EventKind::Log { level, message });
                Ok("null".into())
            }
            SyncOp::Phase => {
                let m: PhaseMsg = parse(op_name, payload)?;
                s.emit(EventKind::PhaseStarted { phase: m.title });
                Ok("null".into())
            }
            SyncOp::Checkpoint => {
                let m: CheckpointMsg = parse(op_name, payload)?;
                s.emit(EventKind::Checkpoint {
                    name: m.name.unwrap_or_else(|| "checkpoint".into()),
                    data: m.data,
                });
                Ok("null".into())
            }
            SyncOp::Budget => Ok(serde_json::to_string(&s.budget.snapshot()).unwrap_or_default()),
            SyncOp::Args => Ok(self.args.to_string()),
            SyncOp::Now => Ok(s
                .nondet("now", || super::events::now_ms() as f64)
                .to_string()),
            SyncOp::Random => Ok(s.nondet("random", rand::random::<f64>).to_string()),
        }
    }

    fn start_op(&mut self, op: AsyncOp, payload: String, done: Completer) {
        let shared = self.shared.clone();
        match op {
            AsyncOp::Agent => {
                shared.admission.started();
                shared.admit(payload, done);
            }
            AsyncOp::Tool => {
                self.shared.io.spawn(async move {
                    let r = match parse::<ToolMsg>("tool", &payload) {
                        Err(e) => Err(e),
                        Ok(m) => shared.script_tool(m.name, m.args).await,
                    };
                    done.complete(r);
                });
            }
            AsyncOp::Workflow => {
                let depth = self.depth;
                shared.admission.started();
                self.shared.io.spawn(async move {
                    let r = super::nested::run_nested(shared.clone(), payload, depth).await;
                    shared.admission.ended();
                    done.complete(r);
                });
            }
        }
    }
}
