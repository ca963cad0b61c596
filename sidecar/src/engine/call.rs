//! One `agent()` call, step by step: from the script's options to the JSON of its value.

use super::agent::{self, AgentOpts};
use super::host::{RunShared, parse};
use super::identity::{CallInputs, call_identity};
use super::ledger::Spend;
use crate::journal::{CallEnd, CallKey, CallOutcome, CallStart};
use crate::json::JsonText;
use crate::providers::RouteError;
use crate::sandbox::HostError;
use crate::scheduler::{CallFailure, CallSpec};
use crate::tools::ToolName;
use odw_protocol::{AgentErrorCode, EventKind, Failure};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// An agent call once its options are read and its identity known.
struct AgentCall {
    opts: AgentOpts,
    tools: Vec<ToolName>,
    seq: u64,
    label: Arc<str>,
    model: Arc<str>,
    schema: Option<Value>,
    max_tokens: u32,
    key: CallKey,
}

type Executed = Result<Answer, CallFailure>;

/// A call's answer, its value already the JSON text that the script and the journal both get
/// (serialized once, on the call's task).
struct Answer {
    json: JsonText,
    usage: crate::providers::TokenUsage,
    cost_usd: f64,
    requests: u32,
    /// The model that answered (the fallback's id when it was used).
    model: String,
}

impl Answer {
    fn of(o: crate::scheduler::CallOutcome) -> Answer {
        Answer {
            json: JsonText::of(&o.value),
            usage: o.usage,
            cost_usd: o.cost_usd,
            requests: o.requests,
            model: o.model,
        }
    }
}

/// Where an agent call stands when its task is done with it.
pub(super) enum AgentStep {
    /// Its value or error, for the script now.
    Done(Result<String, HostError>),
    /// Its end is queued to the journal; the script gets it once that is committed (see
    /// `commits`).
    Recorded(Box<Recorded>),
}

/// A call whose end waits for its commit.
pub(super) struct Recorded {
    call: AgentCall,
    outcome: Executed,
    started: Instant,
}

impl RunShared {
    /// One `agent()` call, from the script's options to the JSON of its value.
    pub(super) async fn run_agent(&self, payload: String) -> AgentStep {
        let call = match self.identify(&payload) {
            Ok(call) => call,
            Err(e) => return AgentStep::Done(Err(e)),
        };
        match self.replay_or_admit(&call) {
            Ok(Some(value)) => return AgentStep::Done(Ok(value)),
            Ok(None) => {}
            Err(e) => return AgentStep::Done(Err(e)),
        }
        let spec = match self.call_spec(&call) {
            Ok(spec) => spec,
            Err(e) => return AgentStep::Done(Err(e)),
        };
        self.journal_start(&call);
        let started = Instant::now();
        let outcome = self.execute(&call, &spec).await;
        let recorded = Box::new(Recorded {
            call,
            outcome,
            started,
        });
        match self.journal_end(&recorded.call, &recorded.outcome) {
            true => AgentStep::Recorded(recorded),
            false => AgentStep::Done(self.settle(recorded, Ok(()))),
        }
    }

    /// The script's answer for a call once its end is committed, or could not be: then the
    /// run stops, and the script never receives a value that a resume would not find.
    pub(super) fn settle(
        &self,
        recorded: Box<Recorded>,
        committed: Result<(), &str>,
    ) -> Result<String, HostError> {
        let Recorded {
            call,
            outcome,
            started,
        } = *recorded;
        if let Err(e) = committed {
            let message = format!(
                "journal: {e} (recording the result of agent \"{}\"); the run stops so \
                 that nothing unrecorded is used: free space or fix the journal, then \
                 `odw resume {}` continues from what was recorded",
                call.label, self.id
            );
            self.stop(&message);
            // Spent, but not usable: counted, never returned.
            let spend = match &outcome {
                Ok(o) => spend_of(o.requests, o.usage, o.cost_usd),
                Err(f) => spend_of(f.requests, f.usage, f.cost_usd),
            };
            self.ledger.spent(&spend);
            return Err(HostError::with_code(AgentErrorCode::Cancelled, message));
        }
        self.account(call, outcome, started)
    }

    /// Reads the options and announces the call; its identity comes from its stable inputs.
    fn identify(&self, payload: &str) -> Result<AgentCall, HostError> {
        let opts: AgentOpts = parse("agent", payload)?;
        // The script author picks the tools, never the model: a name outside the table is the
        // script's mistake, thrown at the call.
        let tools = opts.tool_names().map_err(HostError::new)?;
        let seq = self.call_seq.fetch_add(1, Ordering::SeqCst) + 1;
        let label = opts.display_label();
        let model: Arc<str> =
            agent::model_id(opts.model.as_deref(), self.model.as_deref(), &self.config).into();
        self.emit(EventKind::AgentQueued {
            call: seq,
            label: label.clone(),
            phase: opts.phase.clone(),
            model: model.clone(),
        });
        let schema = opts.normalized_schema().map_err(|e| {
            self.fail_call(
                seq,
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
        let key = self.recall.next_key(identity);
        Ok(AgentCall {
            opts,
            tools,
            seq,
            label,
            model,
            schema,
            max_tokens,
            key,
        })
    }

    /// The recorded value of a call an earlier execution finished; otherwise refuses the call
    /// when the run takes no new work.
    fn replay_or_admit(&self, call: &AgentCall) -> Result<Option<String>, HostError> {
        if let Some(hit) = self.recall.cached(&call.key) {
            self.ledger.cached();
            self.emit(EventKind::AgentCached {
                call: call.seq,
                label: call.label.clone(),
            });
            return Ok(Some(hit.result.to_string()));
        }
        match self.lifecycle.refusal() {
            Some((code, why)) => Err(self.fail_call(call.seq, &call.label, code, why.into())),
            None => Ok(None),
        }
    }

    /// The route, the fallback and the limits the scheduler runs the call with.
    fn call_spec(&self, call: &AgentCall) -> Result<CallSpec, HostError> {
        let route = agent::route_for(&call.model, &self.config, self.dry_run).map_err(|e| {
            let code = match e {
                RouteError::MissingKey { .. } => AgentErrorCode::AuthFailed,
                _ => AgentErrorCode::ProviderError,
            };
            self.fail_call(call.seq, &call.label, code, e.to_string())
        })?;
        let opts = &call.opts;
        let limits = &self.config.limits;
        Ok(CallSpec {
            run: self.key,
            run_cap: self.run_cap,
            call: call.seq,
            label: call.label.clone(),
            price: agent::price_of(&route, &self.config),
            route,
            fallback: self.fallback(call),
            system: opts.system.clone(),
            prompt: opts.prompt.clone(),
            schema: call.schema.clone(),
            max_tokens: call.max_tokens,
            temperature: opts.temperature,
            timeout: Duration::from_millis(
                opts.timeout_ms.unwrap_or(limits.call_timeout_ms).max(1),
            ),
            retries: opts.retries.unwrap_or(limits.retries),
            schema_retries: limits.schema_retries,
            backoff_base: Duration::from_millis(limits.backoff_base_ms),
            backoff_max: Duration::from_millis(limits.backoff_max_ms),
            tools: call.tools.iter().map(|t| t.spec().definition()).collect(),
            max_tool_iterations: opts
                .max_tool_iterations
                .unwrap_or(agent::DEFAULT_MAX_TOOL_ITERATIONS),
        })
    }

    /// The fallback model's route and price; an unusable one is warned about and skipped,
    /// since the call can still succeed without it.
    fn fallback(
        &self,
        call: &AgentCall,
    ) -> Option<(crate::providers::Route, crate::config::Price)> {
        let f = call
            .opts
            .fallback
            .clone()
            .or_else(|| self.config.models.fallback.clone())
            .map(|f| self.config.resolve_alias(&f).to_string())
            .filter(|f| **f != *call.model)?;
        match agent::route_for(&f, &self.config, self.dry_run) {
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
        }
    }

    fn journal_start(&self, call: &AgentCall) {
        if let Some(j) = &self.journal {
            j.call_started(CallStart {
                run_id: self.id.clone(),
                call_seq: call.seq,
                identity: call.key.0.clone(),
                occurrence: call.key.1,
                label: call.label.clone(),
                phase: call.opts.phase.clone(),
                model: call.model.clone(),
                started_ms: super::events::now_ms(),
            });
        }
    }

    /// Runs the call on the scheduler, its tool loop replaying what an earlier execution did.
    async fn execute(&self, call: &AgentCall, spec: &CallSpec) -> Executed {
        let agent_tools = super::act::AgentTools {
            shared: self,
            trace: self.recall.trace(&call.key),
            key: call.key.clone(),
            call: call.seq,
            label: call.label.clone(),
            allowed: call.tools.clone(),
        };
        self.scheduler
            .execute(
                spec,
                self,
                &self.budget,
                &self.lifecycle.cancel,
                Some(&agent_tools),
            )
            .await
            .map(Answer::of)
    }

    /// Queues a call's end to the journal; `false` when there is none. The script gets the
    /// value only once it is committed (see [`RunShared::settle`]), so a result the script
    /// has seen is never asked for again after a crash.
    fn journal_end(&self, call: &AgentCall, outcome: &Executed) -> bool {
        let Some(j) = &self.journal else {
            return false;
        };
        let (spend, end) = match outcome {
            Ok(o) => (
                spend_of(o.requests, o.usage, o.cost_usd),
                CallOutcome::Succeeded {
                    result: o.json.clone(),
                },
            ),
            Err(f) => (
                spend_of(f.requests, f.usage, f.cost_usd),
                CallOutcome::Failed {
                    code: f.code,
                    message: f.message.clone(),
                },
            ),
        };
        j.call_finished(CallEnd {
            run_id: self.id.clone(),
            identity: call.key.0.clone(),
            occurrence: call.key.1,
            outcome: end,
            tokens_in: spend.usage.input,
            tokens_out: spend.usage.output,
            cost_usd: spend.cost_usd,
            attempts: spend.requests,
            finished_ms: super::events::now_ms(),
        });
        true
    }

    /// Counts the call's spend and outcome and tells the faces how it ended.
    fn account(
        &self,
        call: AgentCall,
        outcome: Executed,
        started: Instant,
    ) -> Result<String, HostError> {
        match outcome {
            Ok(o) => {
                let spend = spend_of(o.requests, o.usage, o.cost_usd);
                self.ledger
                    .succeeded(&spend, call.opts.phase.as_deref(), &o.model);
                self.emit(EventKind::AgentFinished {
                    call: call.seq,
                    label: call.label,
                    tokens_in: o.usage.input,
                    tokens_out: o.usage.output,
                    cost_usd: o.cost_usd,
                    duration_ms: started.elapsed().as_millis() as u64,
                });
                Ok(o.json.into_string())
            }
            Err(f) => {
                self.ledger
                    .spent(&spend_of(f.requests, f.usage, f.cost_usd));
                Err(self.fail_call(call.seq, &call.label, f.code, f.message))
            }
        }
    }

    fn fail_call(
        &self,
        call: u64,
        label: &str,
        code: AgentErrorCode,
        message: String,
    ) -> HostError {
        if code == AgentErrorCode::BudgetExhausted {
            self.lifecycle.hit_budget();
        }
        // A rejected key fails every other call too: stop now instead of paying for a fan-out
        // of failures that would end `succeeded` with nulls.
        if code == AgentErrorCode::AuthFailed {
            self.stop(&message);
        }
        self.ledger.failed(Failure {
            call,
            label: label.into(),
            code,
            message: message.clone(),
        });
        self.emit(EventKind::AgentFailed {
            call,
            label: label.into(),
            code,
            message: message.clone(),
        });
        HostError {
            code: Some(code),
            message: format!("agent \"{label}\" failed ({code}): {message}"),
            reported: true,
        }
    }
}

fn spend_of(requests: u32, usage: crate::providers::TokenUsage, cost_usd: f64) -> Spend {
    Spend {
        requests,
        usage,
        cost_usd,
    }
}
