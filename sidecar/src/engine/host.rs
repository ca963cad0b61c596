//! What the sandbox's host operations do for one run: events, budget, time, agent calls and
//! tools. Shared state of the run lives in [`RunShared`].

use super::RunRequest;
use super::agent::{self, AgentOpts};
use super::events::Emitter;
use crate::budget::Budget;
use crate::config::Config;
use crate::providers::RouteError;
use crate::sandbox::{Completer, Host, HostError};
use crate::scheduler::{CallObserver, CallSpec, Scheduler};
use odw_protocol::run::{Estimate, PhaseEstimate};
use odw_protocol::{AgentErrorCode, EventKind, Failure, RunId, Usage};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
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
    config: Config,
    model: Option<String>,
    args: Value,
    cwd: PathBuf,
    dry_run: bool,
    run_cap: usize,
    call_seq: AtomicU64,
    budget_hit: AtomicBool,
    usage: Mutex<Usage>,
    failures: Mutex<Vec<Failure>>,
    estimate: Mutex<BTreeMap<String, PhaseEstimate>>,
    models_used: Mutex<Vec<String>>,
}

impl RunShared {
    pub fn new(
        id: RunId,
        key: u64,
        req: &RunRequest,
        scheduler: Scheduler,
        emitter: Emitter,
        cancel: CancellationToken,
        io: tokio::runtime::Handle,
    ) -> Self {
        let mut caps = req.budget.clone();
        if caps.tokens.is_none() {
            caps.tokens = req.config.budget.tokens;
        }
        if caps.usd.is_none() {
            caps.usd = req.config.budget.usd;
        }
        RunShared {
            id,
            key,
            cancel,
            emitter,
            scheduler,
            io,
            budget: Budget::new(caps, 0, 0.0),
            config: req.config.clone(),
            model: req.model.clone(),
            args: req.args.clone(),
            cwd: req.cwd.clone(),
            dry_run: req.dry_run,
            run_cap: req.concurrency.map(|c| c as usize).unwrap_or(usize::MAX),
            call_seq: AtomicU64::new(0),
            budget_hit: AtomicBool::new(false),
            usage: Mutex::new(Usage::default()),
            failures: Mutex::new(Vec::new()),
            estimate: Mutex::new(BTreeMap::new()),
            models_used: Mutex::new(Vec::new()),
        }
    }

    pub fn emit(&self, kind: EventKind) {
        self.emitter.emit(kind);
    }

    pub fn budget_exhausted(&self) -> bool {
        self.budget_hit.load(Ordering::SeqCst)
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
        let phases: Vec<PhaseEstimate> = self.estimate.lock().unwrap().values().cloned().collect();
        Some(Estimate {
            agents: phases.iter().map(|p| p.agents).sum(),
            tokens_in: phases.iter().map(|p| p.tokens_in).sum(),
            tokens_out: phases.iter().map(|p| p.tokens_out).sum(),
            cost_usd: phases.iter().map(|p| p.cost_usd).sum(),
            phases,
            models: self.models_used.lock().unwrap().clone(),
        })
    }

    fn fail_call(&self, call: u64, label: &str, code: AgentErrorCode, message: String) -> HostError {
        if code == AgentErrorCode::BudgetExhausted {
            self.budget_hit.store(true, Ordering::SeqCst);
        }
        {
            let mut u = self.usage.lock().unwrap();
            u.agents += 1;
            u.failed += 1;
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
            code: Some(code.as_str().to_string()),
            message: format!("agent \"{label}\" failed ({code}): {message}"),
            reported: true,
        }
    }

    /// One `agent()` call, from the script's options to the JSON of its value.
    async fn run_agent(&self, payload: String) -> Result<String, HostError> {
        let opts: AgentOpts = serde_json::from_str(&payload)
            .map_err(|e| HostError::new(format!("agent: invalid options: {e}")))?;
        let call = self.call_seq.fetch_add(1, Ordering::SeqCst) + 1;
        let label = opts.display_label();
        let model = agent::model_id(opts.model.as_deref(), self.model.as_deref(), &self.config);
        self.emit(EventKind::AgentQueued {
            call,
            label: label.clone(),
            phase: opts.phase.clone(),
            model: model.clone(),
        });
        if self.budget_exhausted() {
            return Err(self.fail_call(
                call,
                &label,
                AgentErrorCode::BudgetExhausted,
                "the run's budget is exhausted".into(),
            ));
        }
        if self.cancel.is_cancelled() {
            return Err(self.fail_call(call, &label, AgentErrorCode::Cancelled, "run cancelled".into()));
        }
        let schema = opts.normalized_schema().map_err(|e| {
            self.fail_call(call, &label, AgentErrorCode::SchemaInvalid, format!("invalid schema: {e}"))
        })?;
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
            max_tokens: opts.max_tokens.unwrap_or(limits.max_tokens).max(1),
            temperature: opts.temperature,
            timeout: Duration::from_millis(opts.timeout_ms.unwrap_or(limits.call_timeout_ms).max(1)),
            retries: opts.retries.unwrap_or(limits.retries),
            schema_retries: limits.schema_retries,
            backoff_base: Duration::from_millis(limits.backoff_base_ms),
            backoff_max: Duration::from_millis(limits.backoff_max_ms),
            simulated: self.dry_run,
        };
        let started = std::time::Instant::now();
        match self.scheduler.execute(&spec, self, &self.budget, &self.cancel).await {
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
                    let p = est.entry(phase.clone()).or_insert_with(|| PhaseEstimate {
                        phase,
                        ..PhaseEstimate::default()
                    });
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
    shared: std::sync::Arc<RunShared>,
}

impl RunHost {
    pub fn new(shared: std::sync::Arc<RunShared>) -> Self {
        RunHost { shared }
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

fn parse<T: serde::de::DeserializeOwned>(op: &str, payload: &str) -> Result<T, HostError> {
    serde_json::from_str(payload).map_err(|e| HostError::new(format!("{op}: invalid arguments: {e}")))
}

impl Host for RunHost {
    fn sync_op(&mut self, op: &str, payload: &str) -> Result<String, HostError> {
        let s = &self.shared;
        match op {
            "log" => {
                let m: LogMsg = parse(op, payload)?;
                let level = m.level.unwrap_or_else(|| "info".into());
                let message: String = m.message.chars().take(8000).collect();
                s.emit(EventKind::Log { level, message });
                Ok("null".into())
            }
            "phase" => {
                let m: PhaseMsg = parse(op, payload)?;
                s.emit(EventKind::PhaseStarted { phase: m.title });
                Ok("null".into())
            }
            "checkpoint" => {
                let m: CheckpointMsg = parse(op, payload)?;
                s.emit(EventKind::Checkpoint {
                    name: m.name.unwrap_or_else(|| "checkpoint".into()),
                    data: m.data,
                });
                Ok("null".into())
            }
            "budget" => Ok(serde_json::to_string(&s.budget.snapshot()).unwrap_or_default()),
            "args" => Ok(s.args.to_string()),
            "now" => Ok((super::events::now_ms() as f64).to_string()),
            "random" => Ok(rand::random::<f64>().to_string()),
            _ => Err(HostError::new(format!("unknown host operation `{op}`"))),
        }
    }

    fn start_op(&mut self, op: &str, payload: String, done: Completer) {
        let shared = self.shared.clone();
        match op {
            "agent" => {
                self.shared.io.spawn(async move {
                    let r = shared.run_agent(payload).await;
                    done.complete(r);
                });
            }
            "tool" => {
                self.shared.io.spawn(async move {
                    let r = match parse::<ToolMsg>("tool", &payload) {
                        Err(e) => Err(e),
                        Ok(m) => {
                            let cwd = shared.cwd.clone();
                            tokio::task::spawn_blocking(move || {
                                crate::tools::Workspace::new(&cwd)
                                    .and_then(|ws| ws.call(&m.name, &m.args))
                                    .map(|v| v.to_string())
                                    .map_err(|e| HostError::with_code("tool_error", e.to_string()))
                            })
                            .await
                            .unwrap_or_else(|e| Err(HostError::new(format!("tool task failed: {e}"))))
                        }
                    };
                    done.complete(r);
                });
            }
            "workflow" => done.complete(Err(HostError::new(
                "workflow() is not available in this version of odw yet",
            ))),
            _ => done.complete(Err(HostError::new(format!("unknown host operation `{op}`")))),
        }
    }
}
