//! What the sandbox's host operations do for one run: events, budget, time, agent calls and
//! tools. Shared state of the run lives in [`RunShared`].

use super::RunRequest;
use super::agent::{self, AgentOpts};
use super::events::Emitter;
use super::identity::{CallInputs, call_identity};
use super::run::Replay;
use crate::budget::Budget;
use crate::config::Config;
use crate::journal::{CachedCall, CallEnd, CallKey, CallOutcome, CallStart, Journal, NondetValue};
use crate::providers::RouteError;
use crate::sandbox::ops::{AsyncOp, SyncOp};
use crate::sandbox::{Completer, Host, HostError};
use crate::scheduler::{CallObserver, CallSpec, Scheduler};
use odw_protocol::run::{Estimate, PhaseEstimate};
use odw_protocol::{AgentErrorCode, EventKind, Failure, RunId, Usage};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// State of one run, shared by its thread, its calls and its driver.
pub(super) struct RunShared {
    pub id: RunId,
    key: u64,
    pub cancel: CancellationToken,
    emitter: Emitter,
    scheduler: Scheduler,
    io: tokio::runtime::Handle,
    budget: Budget,
    pub(super) config: Config,
    model: Option<String>,
    args: Value,
    pub(super) cwd: PathBuf,
    pub(super) dry_run: bool,
    run_cap: usize,
    call_seq: AtomicU64,
    budget_hit: AtomicBool,
    /// Set by a pause: calls not yet started are refused, those in flight finish.
    paused: AtomicBool,
    /// The first error no retry can fix (a rejected API key): it ends the run at once, failed.
    fatal: Mutex<Option<String>>,
    waker: crate::sandbox::Waker,
    usage: Mutex<Usage>,
    failures: Mutex<Vec<Failure>>,
    /// Dry runs: the estimate per phase, in the order phases were first seen.
    estimate: Mutex<Vec<PhaseEstimate>>,
    models_used: Mutex<Vec<String>>,
    journal: Option<Journal>,
    /// Finished calls of earlier executions of this run, by identity and occurrence.
    cached: HashMap<CallKey, CachedCall>,
    /// How many calls with each identity this execution has made.
    pub(super) occurrences: Mutex<HashMap<String, u32>>,
    nondet: Mutex<Nondet>,
    /// Agent calls waiting to become tasks (see [`RunShared::admit`]).
    admission: Mutex<Admission>,
    /// Sandbox limits of every script of this run (nested ones too).
    pub limits: crate::sandbox::Limits,
    /// Agent calls still running (the script may have stopped awaiting them).
    in_flight: tokio::sync::watch::Sender<u64>,
    /// The script's file name, for approval prompts.
    pub(super) script_name: String,
    pub(super) approvals: super::approve::Approvals,
    /// Whether this run's git writes already moved to its own branch.
    pub(super) git_branch: tokio::sync::Mutex<bool>,
    /// Tool-loop steps an earlier execution recorded, by call.
    pub(super) traces: HashMap<CallKey, crate::journal::Trace>,
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

/// A run's agent calls beyond what can use a slot soon wait here as a payload and a completer
/// (about a hundred bytes) instead of as a spawned task (a few kilobytes each): a fan-out of
/// 10,000 calls keeps its memory flat.
#[derive(Default)]
struct Admission {
    tasks: usize,
    waiting: std::collections::VecDeque<(String, Completer)>,
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

/// `Date.now()`/`Math.random()` values: replayed in order from the journal, then recorded.
struct Nondet {
    recorded: Vec<(String, NondetValue)>,
    next: u64,
    diverged: bool,
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
        // A resumed run keeps what it spent, so its caps still hold across executions; call
        // counts start afresh (replayed calls are counted as cached).
        let usage = Usage {
            tokens_in: prior.tokens_in,
            tokens_out: prior.tokens_out,
            cost_usd: prior.cost_usd,
            requests: prior.requests,
            ..Usage::default()
        };
        RunShared {
            id,
            key,
            cancel,
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
            budget_hit: AtomicBool::new(false),
            paused: AtomicBool::new(false),
            fatal: Mutex::new(None),
            waker,
            usage: Mutex::new(usage),
            failures: Mutex::new(Vec::new()),
            estimate: Mutex::new(Vec::new()),
            models_used: Mutex::new(Vec::new()),
            journal,
            cached,
            occurrences: Mutex::new(HashMap::new()),
            nondet: Mutex::new(Nondet {
                recorded: nondet,
                next: 0,
                diverged: false,
            }),
            in_flight: tokio::sync::watch::channel(0).0,
            admission: Mutex::new(Admission::default()),
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
            traces,
        }
    }

    /// Runs an agent call as a task now, or queues it while the run already has enough tasks
    /// to keep every slot it could get busy.
    fn admit(self: &Arc<Self>, payload: String, done: Completer) {
        let limit = (2 * self.scheduler.limit()).max(64);
        {
            let mut a = self.admission.lock().unwrap();
            if a.tasks >= limit {
                a.waiting.push_back((payload, done));
                return;
            }
            a.tasks += 1;
        }
        self.spawn_agent(payload, done);
    }

    fn spawn_agent(self: &Arc<Self>, payload: String, done: Completer) {
        let shared = self.clone();
        self.io.spawn(async move {
            let r = shared.run_agent(payload).await;
            shared.in_flight.send_modify(|n| *n -= 1);
            done.complete(r);
            let next = {
                let mut a = shared.admission.lock().unwrap();
                let next = a.waiting.pop_front();
                if next.is_none() {
                    a.tasks -= 1;
                }
                next
            };
            if let Some((payload, done)) = next {
                shared.spawn_agent(payload, done);
            }
        });
    }

    /// Waits until every agent call this run started has ended, so its spend and result are
    /// counted and journaled before the run settles (they are paid for either way).
    pub async fn drain(&self) {
        let mut rx = self.in_flight.subscribe();
        let _ = rx.wait_for(|n| *n == 0).await;
    }

    pub fn journal(&self) -> Option<&Journal> {
        self.journal.as_ref()
    }

    /// The next nondeterministic value of `kind`: the recorded one while the script asks for
    /// the same things in the same order as before, a fresh (and recorded) one after that.
    fn nondet(&self, kind: &str, fresh: impl FnOnce() -> f64) -> f64 {
        let mut n = self.nondet.lock().unwrap();
        let seq = n.next;
        n.next += 1;
        if !n.diverged {
            match n.recorded.get(seq as usize) {
                Some((k, NondetValue::Number(v))) if k == kind => return *v,
                Some(_) => n.diverged = true,
                None => {}
            }
        }
        let v = fresh();
        if let Some(j) = &self.journal {
            j.record_nondeterminism(&self.id, seq, kind, NondetValue::Number(v));
        }
        v
    }

    /// Records a call's end and waits until it is committed, so a result the script has seen
    /// is never asked for again after a crash. When the journal cannot record it, the run
    /// stops: the script never receives a value that a resume would not find.
    async fn journal_end(&self, end: CallEnd, label: &str) -> Result<(), HostError> {
        let Some(j) = &self.journal else {
            return Ok(());
        };
        j.call_finished(end);
        match j.flush_async().await {
            Ok(()) => Ok(()),
            Err(e) => {
                let message = format!(
                    "journal: {e} (recording the result of agent \"{label}\"); the run stops so \
                     that nothing unrecorded is used: free space or fix the journal, then \
                     `odw resume {}` continues from what was recorded",
                    self.id
                );
                self.stop(&message);
                Err(HostError::with_code(AgentErrorCode::Cancelled, message))
            }
        }
    }

    /// Ends the run at once, failed with `message` (the first such error wins): for errors no
    /// retry can fix, such as a rejected API key or a journal that cannot write.
    pub(super) fn stop(&self, message: &str) {
        let first = {
            let mut fatal = self.fatal.lock().unwrap();
            let first = fatal.is_none();
            fatal.get_or_insert_with(|| message.to_string());
            first
        };
        if first {
            tracing::error!(run = %self.id, "{message}");
            self.emit(EventKind::Log {
                level: "error".into(),
                message: format!("stopping the run: {message}"),
            });
        }
        self.cancel.cancel();
        self.waker.cancel();
    }

    pub fn emit(&self, kind: EventKind) {
        self.emitter.emit(kind);
    }

    /// Stops admitting agent calls; true the first time.
    pub fn pause(&self) -> bool {
        !self.paused.swap(true, Ordering::SeqCst)
    }

    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }

    pub fn budget_exhausted(&self) -> bool {
        self.budget_hit.load(Ordering::SeqCst)
    }

    /// The error no retry can fix that stopped the run, if one did.
    pub fn fatal_error(&self) -> Option<String> {
        self.fatal.lock().unwrap().clone()
    }

    pub fn usage(&self) -> Usage {
        self.usage.lock().unwrap().clone()
    }

    pub fn failures(&self) -> Vec<Failure> {
        self.failures.lock().unwrap().clone()
    }

    /// The dry run's estimate; `None` for live runs.
    pub fn estimate(&self) -> Option<Estimate> {
        if !self.dry_run {
            return None;
        }
        let phases: Vec<PhaseEstimate> = self.estimate.lock().unwrap().clone();
        Some(Estimate {
            agents: phases.iter().map(|p| p.agents).sum(),
            tokens_in: phases.iter().map(|p| p.tokens_in).sum(),
            tokens_out: phases.iter().map(|p| p.tokens_out).sum(),
            cost_usd: phases.iter().map(|p| p.cost_usd).sum(),
            phases,
            models: self.models_used.lock().unwrap().clone(),
        })
    }

    fn fail_call(
        &self,
        call: u64,
        label: &str,
        code: AgentErrorCode,
        message: String,
    ) -> HostError {
        if code == AgentErrorCode::BudgetExhausted {
            self.budget_hit.store(true, Ordering::SeqCst);
        }
        // A rejected key fails every other call too: stop now instead of paying for a fan-out
        // of failures that would end `succeeded` with nulls.
        if code == AgentErrorCode::AuthFailed {
            self.stop(&message);
        }
        {
            let mut u = self.usage.lock().unwrap();
            u.agents += 1;
            if code == AgentErrorCode::Cancelled {
                u.cancelled += 1;
            } else {
                u.failed += 1;
            }
        }
        self.failures.lock().unwrap().push(Failure {
            call,
            label: label.to_string(),
            code,
            message: message.clone(),
        });
        self.emit(EventKind::AgentFailed {
            call,
            label: label.to_string(),
            code,
            message: message.clone(),
        });
        HostError {
            code: Some(code),
            message: format!("agent \"{label}\" failed ({code}): {message}"),
            reported: true,
        }
    }

    /// One `agent()` call, from the script's options to the JSON of its value.
    async fn run_agent(&self, payload: String) -> Result<String, HostError> {
        let opts: AgentOpts = parse("agent", &payload)?;
        // The script author picks the tools, never the model: a name outside the table is the
        // script's mistake, thrown at the call.
        let tools = opts.tool_names().map_err(HostError::new)?;
        let call = self.call_seq.fetch_add(1, Ordering::SeqCst) + 1;
        let label = opts.display_label();
        let model = agent::model_id(opts.model.as_deref(), self.model.as_deref(), &self.config);
        self.emit(EventKind::AgentQueued {
            call,
            label: label.clone(),
            phase: opts.phase.clone(),
            model: model.clone(),
        });
        let schema = opts.normalized_schema().map_err(|e| {
            self.fail_call(
                call,
                &label,
                AgentErrorCode::SchemaInvalid,
                format!("invalid schema: {e}"),
            )
        })?;
        let max_tokens = opts
            .max_tokens
            .unwrap_or(self.config.limits.max_tokens)
            .max(1);
        let identity = call_identity(&CallInputs {
            model: &model,
            system: opts.system.as_deref(),
            prompt: &opts.prompt,
            schema: schema.as_ref(),
            tools: opts.tools.as_deref(),
            temperature: opts.temperature,
            max_tokens,
            key: opts.key.as_ref(),
        });
        let occurrence = {
            let mut occ = self.occurrences.lock().unwrap();
            let n = occ.entry(identity.clone()).or_insert(0);
            *n += 1;
            *n
        };
        if let Some(hit) = self.cached.get(&(identity.clone(), occurrence)) {
            {
                let mut u = self.usage.lock().unwrap();
                u.agents += 1;
                u.cached += 1;
            }
            self.emit(EventKind::AgentCached { call, label });
            return Ok(hit.result.to_string());
        }
        if self.budget_exhausted() {
            return Err(self.fail_call(
                call,
                &label,
                AgentErrorCode::BudgetExhausted,
                "the run's budget is exhausted".into(),
            ));
        }
        if self.cancel.is_cancelled() || self.paused() {
            let why = if self.paused() {
                "run paused"
            } else {
                "run cancelled"
            };
            return Err(self.fail_call(call, &label, AgentErrorCode::Cancelled, why.into()));
        }
        let route = agent::route_for(&model, &self.config, self.dry_run).map_err(|e| {
            let code = match e {
                RouteError::MissingKey { .. } => AgentErrorCode::AuthFailed,
                _ => AgentErrorCode::ProviderError,
            };
            self.fail_call(call, &label, code, e.to_string())
        })?;
        let fallback_id = opts
            .fallback
            .clone()
            .or_else(|| self.config.models.fallback.clone())
            .map(|f| self.config.resolve_alias(&f).to_string())
            .filter(|f| *f != model);
        let fallback = match fallback_id {
            Some(f) => match agent::route_for(&f, &self.config, self.dry_run) {
                Ok(r) => {
                    let p = agent::price_of(&r, &self.config);
                    Some((r, p))
                }
                Err(e) => {
                    self.emit(EventKind::Log {
                        level: "warn".into(),
                        message: format!("fallback model {f} is unusable: {e}"),
                    });
                    None
                }
            },
            None => None,
        };
        let limits = &self.config.limits;
        let spec = CallSpec {
            run: self.key,
            run_cap: self.run_cap,
            call,
            label: label.clone(),
            price: agent::price_of(&route, &self.config),
            route,
            fallback,
            system: opts.system.clone(),
            prompt: opts.prompt.clone(),
            schema,
            max_tokens,
            temperature: opts.temperature,
            timeout: Duration::from_millis(
                opts.timeout_ms.unwrap_or(limits.call_timeout_ms).max(1),
            ),
            retries: opts.retries.unwrap_or(limits.retries),
            schema_retries: limits.schema_retries,
            backoff_base: Duration::from_millis(limits.backoff_base_ms),
            backoff_max: Duration::from_millis(limits.backoff_max_ms),
            tools: tools.iter().map(|t| t.spec().definition()).collect(),
            max_tool_iterations: opts
                .max_tool_iterations
                .unwrap_or(super::agent::DEFAULT_MAX_TOOL_ITERATIONS),
        };
        let started = std::time::Instant::now();
        if let Some(j) = &self.journal {
            j.call_started(CallStart {
                run_id: self.id.clone(),
                call_seq: call,
                identity: identity.clone(),
                occurrence,
                label: label.clone(),
                phase: opts.phase.clone(),
                model: model.clone(),
                started_ms: super::events::now_ms(),
            });
        }
        let key = (identity.clone(), occurrence);
        let agent_tools = super::act::AgentTools {
            shared: self,
            trace: self.traces.get(&key),
            key,
            call,
            label: label.clone(),
            allowed: tools,
        };
        let outcome = self
            .scheduler
            .execute(&spec, self, &self.budget, &self.cancel, Some(&agent_tools))
            .await;
        let (usage, cost, requests, end) = match &outcome {
            Ok(o) => (
                o.usage,
                o.cost_usd,
                o.requests,
                CallOutcome::Succeeded {
                    result: o.value.clone(),
                },
            ),
            Err(f) => (
                f.usage,
                f.cost_usd,
                f.requests,
                CallOutcome::Failed {
                    code: f.code,
                    message: f.message.clone(),
                },
            ),
        };
        let recorded = self
            .journal_end(
                CallEnd {
                    run_id: self.id.clone(),
                    identity,
                    occurrence,
                    outcome: end,
                    tokens_in: usage.input,
                    tokens_out: usage.output,
                    cost_usd: cost,
                    attempts: requests,
                    finished_ms: super::events::now_ms(),
                },
                &label,
            )
            .await;
        if let Err(e) = recorded {
            // Spent, but not usable: counted, never returned.
            let mut u = self.usage.lock().unwrap();
            u.requests += requests as u64;
            u.tokens_in += usage.input;
            u.tokens_out += usage.output;
            u.cost_usd += cost;
            return Err(e);
        }
        match outcome {
            Ok(o) => {
                {
                    let mut u = self.usage.lock().unwrap();
                    u.agents += 1;
                    u.requests += o.requests as u64;
                    u.tokens_in += o.usage.input;
                    u.tokens_out += o.usage.output;
                    u.cost_usd += o.cost_usd;
                }
                if self.dry_run {
                    let phase = opts.phase.clone().unwrap_or_else(|| "(no phase)".into());
                    let mut est = self.estimate.lock().unwrap();
                    let i = match est.iter().position(|p| p.phase == phase) {
                        Some(i) => i,
                        None => {
                            est.push(PhaseEstimate {
                                phase,
                                ..PhaseEstimate::default()
                            });
                            est.len() - 1
                        }
                    };
                    let p = &mut est[i];
                    p.agents += 1;
                    p.tokens_in += o.usage.input;
                    p.tokens_out += o.usage.output;
                    p.cost_usd += o.cost_usd;
                    let mut models = self.models_used.lock().unwrap();
                    if !models.contains(&o.model) {
                        models.push(o.model.clone());
                    }
                }
                self.emit(EventKind::AgentFinished {
                    call,
                    label,
                    tokens_in: o.usage.input,
                    tokens_out: o.usage.output,
                    cost_usd: o.cost_usd,
                    duration_ms: started.elapsed().as_millis() as u64,
                });
                Ok(o.value.to_string())
            }
            Err(f) => {
                {
                    let mut u = self.usage.lock().unwrap();
                    u.requests += f.requests as u64;
                    u.tokens_in += f.usage.input;
                    u.tokens_out += f.usage.output;
                    u.cost_usd += f.cost_usd;
                }
                Err(self.fail_call(call, &label, f.code, f.message))
            }
        }
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
                shared.in_flight.send_modify(|n| *n += 1);
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
                shared.in_flight.send_modify(|n| *n += 1);
                self.shared.io.spawn(async move {
                    let r = super::nested::run_nested(shared.clone(), payload, depth).await;
                    shared.in_flight.send_modify(|n| *n -= 1);
                    done.complete(r);
                });
            }
        }
    }
}
