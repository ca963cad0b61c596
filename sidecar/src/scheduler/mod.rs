//! The one place an `agent()` call becomes requests: budget reservation, a fair concurrency
//! slot, the provider request with a timeout, structured-output validation with re-asks,
//! transient retries with back-off (outside the slot), and the fallback model.

pub mod backoff;
pub mod slots;

use crate::budget::Budget;
use crate::config::Price;
use crate::pricing;
use crate::providers::{
    self, ErrorKind, Message, ModelReply, ModelRequest, ProviderError, Route, TokenUsage, ToolCall,
    ToolDef, ToolResult, simulated, spec::Structured, structured,
};
use futures::future::BoxFuture;
use odw_protocol::{AgentErrorCode, EventKind};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub use slots::Slots;

/// Everything one `agent()` call needs, resolved by the engine.
#[derive(Debug, Clone)]
pub struct CallSpec {
    /// The run's key in the fair queue.
    pub run: u64,
    /// Most slots this run may hold at once.
    pub run_cap: usize,
    /// The call's number in the run (for events).
    pub call: u64,
    pub label: std::sync::Arc<str>,
    pub route: Route,
    pub price: Price,
    /// Tried once after the primary route's retries are exhausted.
    pub fallback: Option<(Route, Price)>,
    pub system: Option<String>,
    pub prompt: String,
    /// Normalized JSON Schema, when the call wants structured output.
    pub schema: Option<Value>,
    pub max_tokens: u32,
    pub temperature: Option<f64>,
    pub timeout: Duration,
    pub retries: u32,
    pub schema_retries: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Tools the model may call (empty: a plain completion).
    pub tools: Vec<ToolDef>,
    /// Rounds of tool calls before the model is told to answer.
    pub max_tool_iterations: u32,
}

/// Where a call's tool loop runs its tools and records its turns (the engine: approvals, the
/// journal, the workspace). The scheduler only drives the conversation.
pub trait ToolLoop: Send + Sync {
    /// The reply an earlier execution recorded for `turn`: replayed instead of asked again.
    fn replayed(&self, turn: u32) -> Option<ModelReply>;
    /// Records a reply that asks for tools, before any of them runs; an error stops the call.
    fn record_reply<'a>(
        &'a self,
        turn: u32,
        reply: &'a ModelReply,
        cost_usd: f64,
    ) -> BoxFuture<'a, Result<(), String>>;
    /// Runs (or replays) the `index`-th call of `turn`. Never fails: errors and denials are
    /// results the model reads.
    fn run<'a>(&'a self, turn: u32, index: u32, call: &'a ToolCall) -> BoxFuture<'a, ToolResult>;
}

/// The conversation of one call: carried from the primary model to the fallback, so tools
/// that already ran are not run again.
struct Conversation<'a> {
    req: Option<ModelRequest>,
    /// Rounds of tool calls so far.
    turn: u32,
    /// Turns before the call's prompt (a multi-turn caller such as the planner); empty for an
    /// `agent()` call.
    earlier: &'a [Message],
}

/// A finished call.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    /// The text, or the validated value when the call had a schema.
    pub value: Value,
    pub usage: TokenUsage,
    pub cost_usd: f64,
    pub requests: u32,
    /// The model that answered (the fallback's id when it was used).
    pub model: String,
}

/// A failed call.
#[derive(Debug, Clone)]
pub struct CallFailure {
    pub code: AgentErrorCode,
    pub message: String,
    pub usage: TokenUsage,
    pub cost_usd: f64,
    pub requests: u32,
}

/// Where a call reports its progress (the engine turns these into run events).
pub trait CallObserver: Send + Sync {
    fn event(&self, kind: EventKind);
}

/// The process-wide scheduler: one HTTP client, one pool of slots.
#[derive(Clone)]
pub struct Scheduler {
    client: reqwest::Client,
    slots: Slots,
}

impl Scheduler {
    /// The most requests in flight any face may ask for.
    pub const MAX_CONCURRENCY: usize = 1024;

    /// A scheduler allowing `concurrency` requests in flight across all runs, bounded to
    /// 1..=[`Self::MAX_CONCURRENCY`] here, the one place, whichever face asked for it.
    pub fn new(concurrency: usize) -> Self {
        Scheduler {
            client: providers::http_client(),
            slots: Slots::new(concurrency.clamp(1, Self::MAX_CONCURRENCY)),
        }
    }

    /// Requests allowed in flight at once.
    pub fn limit(&self) -> usize {
        self.slots.limit()
    }

    /// The most requests ever in flight at once.
    pub fn max_in_flight(&self) -> usize {
        self.slots.max_in_flight()
    }

    /// Runs one call to completion: retries, re-asks and the fallback included.
    pub async fn execute(
        &self,
        spec: &CallSpec,
        obs: &dyn CallObserver,
        budget: &Budget,
        cancel: &CancellationToken,
        tools: Option<&dyn ToolLoop>,
    ) -> Result<CallOutcome, CallFailure> {
        self.run_call(spec, &[], obs, budget, cancel, tools).await
    }

    /// Runs one call that continues a conversation: `earlier` (alternating user and assistant
    /// turns) is sent before `spec.prompt`, which is the newest user turn. Retries, timeouts,
    /// slots and the budget are those of [`Scheduler::execute`]; there is no tool loop.
    pub async fn execute_after(
        &self,
        spec: &CallSpec,
        earlier: &[Message],
        obs: &dyn CallObserver,
        budget: &Budget,
        cancel: &CancellationToken,
    ) -> Result<CallOutcome, CallFailure> {
        self.run_call(spec, earlier, obs, budget, cancel, None)
            .await
    }

    async fn run_call(
        &self,
        spec: &CallSpec,
        earlier: &[Message],
        obs: &dyn CallObserver,
        budget: &Budget,
        cancel: &CancellationToken,
        tools: Option<&dyn ToolLoop>,
    ) -> Result<CallOutcome, CallFailure> {
        let mut acc = Tally::default();
        let mut conv = Conversation {
            req: None,
            turn: 0,
            earlier,
        };
        let ctx = Ctx {
            spec,
            obs,
            budget,
            cancel,
            tools: tools.filter(|_| !spec.tools.is_empty()),
        };
        let primary = self
            .attempts(&ctx, &spec.route, spec.price, &mut conv, &mut acc)
            .await;
        let failure = match primary {
            Ok(o) => return Ok(o),
            Err(f) => f,
        };
        let fallback_applies = matches!(
            failure.code,
            AgentErrorCode::Timeout
                | AgentErrorCode::RateLimit
                | AgentErrorCode::ProviderError
                | AgentErrorCode::ContextOverflow
        );
        match &spec.fallback {
            Some((route, price)) if fallback_applies => {
                obs.event(EventKind::Log {
                    level: "warn".into(),
                    message: format!(
                        "{}: {} failed ({}); trying fallback model {}",
                        spec.label, spec.route.model_id, failure.code, route.model_id
                    ),
                });
                self.attempts(&ctx, route, *price, &mut conv, &mut acc)
                    .await
            }
            _ => Err(failure),
        }
    }

    async fn attempts(
        &self,
        ctx: &Ctx<'_>,
        route: &Route,
        price: Price,
        conv: &mut Conversation<'_>,
        acc: &mut Tally,
    ) -> Result<CallOutcome, CallFailure> {
        let Ctx {
            spec, obs, cancel, ..
        } = *ctx;
        // A fallback continues the conversation where the primary model left it; one that has
        // not started yet is built for this route's wire (the schema instruction differs).
        let mut req = match conv.req.take() {
            Some(req) if conv.turn > 0 => req,
            _ => build_request(spec, route, conv.earlier),
        };
        let mut retries_left = spec.retries;
        let mut reasks_left = spec.schema_retries;
        let mut retry_no = 0u32;
        let mut attempt = 0u32;
        loop {
            let replayed = ctx.tools.and_then(|t| t.replayed(conv.turn));
            let fresh = replayed.is_none();
            let reply = match replayed {
                Some(reply) => Ok(reply),
                None => {
                    attempt += 1;
                    conv.req = Some(req.clone());
                    self.one_request(ctx, route, price, &req, attempt, acc)
                        .await
                }
            };
            let reply = match (reply, ctx.tools) {
                (Ok(reply), Some(tools)) if !reply.tool_calls.is_empty() && !req.tools_off => {
                    if fresh {
                        tools
                            .record_reply(conv.turn, &reply, acc.last_cost)
                            .await
                            .map_err(|message| acc.fail(AgentErrorCode::Cancelled, message))?;
                    }
                    self.tool_turn(ctx, tools, &mut req, reply, conv, acc)
                        .await?;
                    conv.req = Some(req.clone());
                    retries_left = spec.retries;
                    continue;
                }
                (reply, _) => reply,
            };
            let err = match reply {
                Ok(reply) => match interpret(spec, &reply) {
                    Ok(value) => {
                        // An answer cut at maxTokens is kept (it is what was paid for), but the
                        // user hears about it rather than reading half an answer as a whole one.
                        if reply.cut_off && spec.schema.is_none() {
                            obs.event(EventKind::Log {
                                level: "warn".into(),
                                message: format!(
                                    "{}: the reply was cut off at maxTokens ({}); raise maxTokens \
                                     for the whole answer",
                                    spec.label, spec.max_tokens
                                ),
                            });
                        }
                        return Ok(CallOutcome {
                            value,
                            usage: acc.usage,
                            cost_usd: acc.cost,
                            requests: acc.requests,
                            model: route.model_id.clone(),
                        });
                    }
                    Err(mut errors) => {
                        let schema = spec.schema.as_ref().expect("only schemas fail validation");
                        if reply.cut_off {
                            errors.insert(
                                0,
                                format!(
                                    "the reply was cut off at the {}-token limit: answer more briefly",
                                    spec.max_tokens
                                ),
                            );
                        }
                        if reasks_left == 0 {
                            return Err(acc.fail(
                                AgentErrorCode::SchemaInvalid,
                                format!(
                                    "the model's reply did not match the schema after {} re-ask(s): {}",
                                    spec.schema_retries,
                                    errors.join("; ")
                                ),
                            ));
                        }
                        reasks_left -= 1;
                        obs.event(EventKind::AgentRetrying {
                            call: spec.call,
                            attempt: attempt + 1,
                            code: AgentErrorCode::SchemaInvalid,
                            delay_ms: 0,
                            message: errors.join("; "),
                        });
                        req.messages.push(Message::assistant(reply.text.clone()));
                        req.messages
                            .push(Message::user(structured::correction_message(
                                &errors,
                                &reply.text,
                                schema,
                            )));
                        continue;
                    }
                },
                Err(e) => e,
            };
            match err {
                Attempt::Fatal(f) => return Err(f),
                Attempt::Provider(e) if e.kind.is_transient() && retries_left > 0 => {
                    retries_left -= 1;
                    let delay = backoff::delay(
                        retry_no,
                        spec.backoff_base,
                        spec.backoff_max,
                        e.retry_after,
                    );
                    retry_no += 1;
                    obs.event(EventKind::AgentRetrying {
                        call: spec.call,
                        attempt: attempt + 1,
                        code: e.kind.code(),
                        delay_ms: delay.as_millis() as u64,
                        message: e.message.clone(),
                    });
                    // The wait holds no slot: other calls use it meanwhile.
                    tokio::select! {
                        _ = tokio::time::sleep(delay) => {}
                        _ = cancel.cancelled() => return Err(acc.fail(AgentErrorCode::Cancelled, "run cancelled".into())),
                    }
                }
                Attempt::Provider(e) => {
                    let mut message = e.message;
                    if e.kind.is_transient() && spec.retries > 0 {
                        message = format!("{message} (after {} retries)", spec.retries);
                    }
                    return Err(acc.fail(e.kind.code(), message));
                }
            }
        }
    }

    /// One round of tool calls (the reply asking for them is already recorded): run one after
    /// another, and their results appended for the next turn. Past `maxToolIterations` the
    /// calls are not run and the model is told to answer.
    async fn tool_turn(
        &self,
        ctx: &Ctx<'_>,
        tools: &dyn ToolLoop,
        req: &mut ModelRequest,
        reply: ModelReply,
        conv: &mut Conversation<'_>,
        acc: &mut Tally,
    ) -> Result<(), CallFailure> {
        let spec = ctx.spec;
        let turn = conv.turn;
        let results: Vec<ToolResult> = if turn >= spec.max_tool_iterations {
            req.tools_off = true;
            reply
                .tool_calls
                .iter()
                .map(|c| ToolResult {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    content: format!(
                        "not run: the limit of {} tool rounds is reached",
                        spec.max_tool_iterations
                    ),
                    is_error: true,
                })
                .collect()
        } else {
            let mut results = Vec::with_capacity(reply.tool_calls.len());
            for (i, call) in reply.tool_calls.iter().enumerate() {
                if ctx.cancel.is_cancelled() {
                    return Err(acc.fail(AgentErrorCode::Cancelled, "run cancelled".into()));
                }
                results.push(tools.run(turn, i as u32, call).await);
            }
            if ctx.cancel.is_cancelled() {
                return Err(acc.fail(AgentErrorCode::Cancelled, "run cancelled".into()));
            }
            results
        };
        conv.turn += 1;
        let mut assistant = Message::assistant(reply.text);
        assistant.tool_calls = reply.tool_calls;
        req.messages.push(assistant);
        let mut answer = Message::user(if req.tools_off {
            "You have reached the limit of tool calls. Answer now, without calling tools."
        } else {
            ""
        });
        answer.tool_results = results;
        req.messages.push(answer);
        Ok(())
    }

    async fn one_request(
        &self,
        ctx: &Ctx<'_>,
        route: &Route,
        price: Price,
        req: &ModelRequest,
        attempt: u32,
        acc: &mut Tally,
    ) -> Result<ModelReply, Attempt> {
        let Ctx {
            spec,
            obs,
            budget,
            cancel,
            ..
        } = *ctx;
        let worst_in = worst_case_input(req);
        let worst = TokenUsage {
            input: worst_in,
            output: req.max_tokens as u64,
        };
        let reservation = budget
            .reserve(worst.input + worst.output, pricing::cost(price, worst))
            .map_err(|e| {
                Attempt::Fatal(acc.fail(AgentErrorCode::BudgetExhausted, e.to_string()))
            })?;
        let permit = tokio::select! {
            biased;
            _ = cancel.cancelled() => {
                budget.settle(reservation, 0, 0.0);
                return Err(Attempt::Fatal(acc.fail(AgentErrorCode::Cancelled, "run cancelled".into())));
            }
            p = self.slots.acquire(spec.run, spec.run_cap) => p,
        };
        // The run may have been stopped while this call waited for its slot.
        if cancel.is_cancelled() {
            drop(permit);
            budget.settle(reservation, 0, 0.0);
            return Err(Attempt::Fatal(
                acc.fail(AgentErrorCode::Cancelled, "run cancelled".into()),
            ));
        }
        obs.event(EventKind::AgentStarted {
            call: spec.call,
            attempt,
        });
        acc.requests += 1;
        let started = Instant::now();
        let result = tokio::select! {
            // Boxed: thousands of calls wait for a slot at once, and the request future is
            // the largest part of a call's state; it exists only once a slot is held.
            r = tokio::time::timeout(spec.timeout, Box::pin(providers::send(&self.client, route, req))) => match r {
                Ok(r) => r,
                Err(_) => Err(ProviderError::new(
                    ErrorKind::Timeout,
                    format!("{} did not answer within {} ms", route.provider, spec.timeout.as_millis()),
                )),
            },
            _ = cancel.cancelled() => {
                drop(permit);
                budget.settle(reservation, 0, 0.0);
                return Err(Attempt::Fatal(acc.fail(AgentErrorCode::Cancelled, "run cancelled".into())));
            }
        };
        // A rejected key fails every call of the run: stop the run before this slot goes to
        // the next call (the engine records why).
        if matches!(&result, Err(e) if e.kind == ErrorKind::Auth) {
            cancel.cancel();
        }
        drop(permit);
        let used = match &result {
            // A provider that reports no usage (some local servers) is estimated, so budgets
            // still hold.
            Ok(r) if r.usage == TokenUsage::default() && !r.text.is_empty() => TokenUsage {
                input: req
                    .messages
                    .iter()
                    .map(|m| simulated::estimate_tokens(&m.content))
                    .sum::<u64>()
                    + req.system.as_deref().map_or(0, simulated::estimate_tokens),
                output: simulated::estimate_tokens(&r.text),
            },
            Ok(r) => r.usage,
            Err(_) => TokenUsage::default(),
        };
        let cost = pricing::cost(price, used);
        acc.last_cost = cost;
        acc.usage.input += used.input;
        acc.usage.output += used.output;
        acc.cost += cost;
        if let Some(snap) = budget.settle(reservation, used.input + used.output, cost) {
            obs.event(EventKind::BudgetWarning {
                percent_used: snap.percent_used,
                tokens_used: snap.tokens_used,
                cost_usd: snap.cost_usd,
            });
        }
        tracing::debug!(
            call = spec.call,
            attempt,
            ms = started.elapsed().as_millis() as u64,
            ok = result.is_ok(),
            "request"
        );
        result.map_err(Attempt::Provider)
    }
}

/// What every step of one call needs.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    spec: &'a CallSpec,
    obs: &'a dyn CallObserver,
    budget: &'a Budget,
    cancel: &'a CancellationToken,
    tools: Option<&'a dyn ToolLoop>,
}

/// Totals across every request of one call.
#[derive(Default)]
struct Tally {
    usage: TokenUsage,
    cost: f64,
    requests: u32,
    /// The cost of the latest request (recorded with a tool turn).
    last_cost: f64,
}

impl Tally {
    fn fail(&self, code: AgentErrorCode, message: String) -> CallFailure {
        CallFailure {
            code,
            message,
            usage: self.usage,
            cost_usd: self.cost,
            requests: self.requests,
        }
    }
}

enum Attempt {
    Provider(ProviderError),
    Fatal(CallFailure),
}

fn build_request(spec: &CallSpec, route: &Route, earlier: &[Message]) -> ModelRequest {
    let mut prompt = spec.prompt.clone();
    if let Some(schema) = &spec.schema
        && route.wire.spec().structured == Structured::PromptInstruction
    {
        prompt.push_str("\n\n");
        prompt.push_str(&structured::schema_instruction(schema));
    }
    ModelRequest {
        system: spec.system.clone(),
        messages: earlier
            .iter()
            .cloned()
            .chain([Message::user(prompt)])
            .collect(),
        max_tokens: spec.max_tokens,
        temperature: spec.temperature,
        schema: spec.schema.clone(),
        tools: spec.tools.clone(),
        tools_off: false,
    }
}

/// Tokenizers used by today's models emit at most one token per byte (byte-level BPE and byte
/// fallback), plus a few per message for the chat template: a bound, not an estimate, so a
/// reservation can never be exceeded by the real count.
fn worst_case_input(req: &ModelRequest) -> u64 {
    let tool_bytes = |m: &Message| -> usize {
        m.tool_calls
            .iter()
            .map(|c| c.id.len() + c.name.len() + c.arguments.to_json_text().len())
            .sum::<usize>()
            + m.tool_results
                .iter()
                .map(|r| r.id.len() + r.name.len() + r.content.len())
                .sum::<usize>()
    };
    let bytes: usize = req.system.as_deref().map_or(0, str::len)
        + req
            .messages
            .iter()
            .map(|m| m.content.len() + tool_bytes(m))
            .sum::<usize>()
        + req
            .tools
            .iter()
            .map(|t| t.name.len() + t.description.len() + t.parameters.to_string().len())
            .sum::<usize>();
    let parts: usize = req
        .messages
        .iter()
        .map(|m| 1 + m.tool_calls.len() + m.tool_results.len())
        .sum::<usize>()
        + req.tools.len();
    bytes as u64 + 16 * (parts as u64 + 1)
}

/// The value a reply gives the script, or the schema errors that call for a re-ask.
fn interpret(spec: &CallSpec, reply: &ModelReply) -> Result<Value, Vec<String>> {
    let Some(schema) = &spec.schema else {
        return Ok(Value::String(reply.text.clone()));
    };
    let Some(value) = structured::extract_json(&reply.text) else {
        return Err(vec![
            "the reply contains no JSON value (expected JSON matching the schema)".to_string(),
        ]);
    };
    structured::validate(schema, &value).map(|()| value)
}
