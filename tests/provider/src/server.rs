//! The axum application: wire parsing, replies, faults, statistics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::directives::{Directives, FaultKind, ToolCall};
use crate::schemagen;
use crate::{ProviderOptions, RecordedRequest, Stats, Wire, WireCounts};

/// The line that introduces a schema embedded in a prompt; the schema follows on the next line.
pub const SCHEMA_MARKER: &str = "Respond with only a JSON value that conforms to this JSON Schema, with no prose and no code fences:";

/// The OpenAI `arguments` of a `[[badargs]]` turn: cut-off JSON.
const BAD_ARGS: &str = "{\"path\": ";

const MALFORMED_BODY: &str = "{\"id\":\"malformed\",\"choices\":[{\"index\":0,\"message\":";

pub(crate) struct Shared {
    pub opts: ProviderOptions,
    state: Mutex<Inner>,
    in_flight: AtomicU64,
    max_in_flight: AtomicU64,
    next_id: AtomicU64,
    shutdown: watch::Receiver<bool>,
    /// `[[gate]]` requests wait until this is true (see [`Shared::open_gate`]).
    gate: watch::Sender<bool>,
}

#[derive(Default)]
struct Inner {
    total: u64,
    by_wire: WireCounts,
    by_prompt: HashMap<String, u64>,
    faults: u64,
    requests: Vec<RecordedRequest>,
    /// Requests seen per (model, fault key) — the key is `[[key:…]]` or the prompt text.
    fault_counts: HashMap<(String, String), u64>,
}

impl Shared {
    pub fn new(opts: ProviderOptions, shutdown: watch::Receiver<bool>) -> Self {
        Shared {
            opts,
            state: Mutex::new(Inner::default()),
            in_flight: AtomicU64::new(0),
            max_in_flight: AtomicU64::new(0),
            next_id: AtomicU64::new(1),
            shutdown,
            gate: watch::Sender::new(false),
        }
    }

    /// Lets every `[[gate]]` request (waiting or future) through.
    pub fn open_gate(&self) {
        self.gate.send_replace(true);
    }

    /// Waits until the gate is open; false when the provider shuts down first.
    async fn pass_gate(&self) -> bool {
        let mut gate = self.gate.subscribe();
        let mut rx = self.shutdown.clone();
        tokio::select! {
            r = gate.wait_for(|open| *open) => r.is_ok(),
            _ = rx.wait_for(|v| *v) => false,
        }
    }

    pub fn stats(&self) -> Stats {
        let st = self.state.lock().unwrap();
        Stats {
            total: st.total,
            by_wire: st.by_wire.clone(),
            in_flight: self.in_flight.load(Ordering::SeqCst),
            max_in_flight: self.max_in_flight.load(Ordering::SeqCst),
            by_prompt: st.by_prompt.clone(),
            faults: st.faults,
            requests: st.requests.clone(),
        }
    }

    pub fn reset(&self) {
        let mut st = self.state.lock().unwrap();
        *st = Inner::default();
        self.max_in_flight
            .store(self.in_flight.load(Ordering::SeqCst), Ordering::SeqCst);
    }

    fn next_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Sleeps for `d`, or until the provider shuts down (returns false then).
    async fn sleep(&self, d: Duration) -> bool {
        if d.is_zero() {
            return true;
        }
        let mut rx = self.shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(d) => true,
            _ = rx.wait_for(|v| *v) => false,
        }
    }
}

/// Counts a request in flight from when its handler starts until it returns (or is dropped,
/// e.g. when the client of a hanging request disconnects).
struct InFlight<'a>(&'a Shared);

impl<'a> InFlight<'a> {
    fn enter(s: &'a Shared) -> Self {
        let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        s.max_in_flight.fetch_max(now, Ordering::SeqCst);
        InFlight(s)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/chat/completions", post(openai))
        .route("/chat/completions", post(openai))
        .route("/v1/messages", post(anthropic))
        .route("/api/chat", post(ollama))
        .route("/_stats", get(stats))
        .route("/_reset", post(reset))
        .route("/health", get(|| async { "ok" }))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(256 << 20))
        .with_state(shared)
}

async fn stats(State(s): State<Arc<Shared>>) -> Response {
    json_response(
        StatusCode::OK,
        &serde_json::to_value(s.stats()).unwrap_or(Value::Null),
    )
}

async fn reset(State(s): State<Arc<Shared>>) -> Response {
    s.reset();
    json_response(StatusCode::OK, &json!({"ok": true}))
}

async fn not_found(uri: Uri) -> Response {
    json_response(
        StatusCode::NOT_FOUND,
        &json!({"error": {"message": format!("no route for {}", uri.path()), "type": "not_found_error"}}),
    )
}

async fn openai(
    State(s): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&s, Wire::OpenAi, uri.path(), &headers, &body).await
}

async fn anthropic(
    State(s): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&s, Wire::Anthropic, uri.path(), &headers, &body).await
}

async fn ollama(
    State(s): State<Arc<Shared>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(&s, Wire::Ollama, uri.path(), &headers, &body).await
}

/// One chat request, whatever the wire.
struct ChatRequest {
    model: String,
    system: Option<String>,
    prompt: String,
    /// The conversation's first user message: a re-ask's directives and fault counter come
    /// from it when its own last message carries none.
    first_user: String,
    chars_in: usize,
    schema: Option<Value>,
    json_mode: bool,
    stream: bool,
    include_usage: bool,
    max_tokens: Option<u64>,
    temperature: Option<f64>,
    tools: ToolInfo,
}

/// The tool side of a request.
#[derive(Default)]
struct ToolInfo {
    /// How many tools the request declares.
    declared: usize,
    /// OpenAI `tool_choice: "none"` or Anthropic `tool_choice: {type: "none"}`.
    choice_none: bool,
    /// Assistant messages with tool calls in the history: the next tool-call turn.
    turn: usize,
    /// Every tool result in the conversation, as `[[echo-tools]]` shows it.
    results: Vec<Value>,
    /// Characters of the tool definitions, calls and results, for the usage.
    chars: usize,
}

fn block_type(b: &Value) -> Option<&str> {
    b.get("type").and_then(Value::as_str)
}

/// Blocks of an Anthropic message's content (none when it is a string).
fn blocks(m: &Value) -> &[Value] {
    m.get("content")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// An Anthropic user message that only carries tool results is no prompt.
fn only_tool_results(wire: Wire, m: &Value) -> bool {
    let b = blocks(m);
    wire == Wire::Anthropic
        && !b.is_empty()
        && b.iter().all(|b| block_type(b) == Some("tool_result"))
}

/// A JSON value's text: strings as they are, anything else serialized.
fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Tools, tool calls and tool results of a request, checked the way the real API checks them.
fn parse_tools(
    wire: Wire,
    obj: &serde_json::Map<String, Value>,
    messages: &[Value],
) -> Result<ToolInfo, String> {
    let mut info = ToolInfo::default();
    if let Some(Value::Array(tools)) = obj.get("tools") {
        info.declared = tools.len();
        info.chars += tools
            .iter()
            .map(|t| t.to_string().chars().count())
            .sum::<usize>();
    }
    info.choice_none = match (wire, obj.get("tool_choice")) {
        (Wire::OpenAi, Some(Value::String(c))) => c == "none",
        (Wire::Anthropic, Some(c)) => c.get("type").and_then(Value::as_str) == Some("none"),
        _ => false,
    };
    match wire {
        Wire::OpenAi | Wire::Ollama => {
            // Ids (and names) of the calls the latest assistant message made; those not yet
            // answered by a `tool` message.
            let mut calls: Vec<(String, String)> = Vec::new();
            let mut pending: Vec<String> = Vec::new();
            for (i, m) in messages.iter().enumerate() {
                let role = m.get("role").and_then(Value::as_str).unwrap_or("");
                if role == "tool" {
                    // (Its text is counted with the other messages'.)
                    let content = content_text(m.get("content").unwrap_or(&Value::Null));
                    let id = m.get("tool_call_id").and_then(Value::as_str);
                    if wire == Wire::Ollama {
                        let mut r = json!({"id": id, "content": content, "is_error": false});
                        let name = m.get("tool_name").or_else(|| m.get("name"));
                        if let Some(name) = name.and_then(Value::as_str) {
                            r["name"] = json!(name);
                        }
                        info.results.push(r);
                        continue;
                    }
                    let Some((_, name)) = id.and_then(|id| calls.iter().find(|(c, _)| c == id))
                    else {
                        return Err(format!(
                            "Invalid parameter: messages with role 'tool' must be a response to a \
                             preceeding message with 'tool_calls' (messages.[{i}].tool_call_id: {})",
                            id.unwrap_or("missing")
                        ));
                    };
                    let id = id.unwrap_or_default();
                    pending.retain(|p| p != id);
                    info.results.push(
                        json!({"name": name, "id": id, "content": content, "is_error": false}),
                    );
                    continue;
                }
                if wire == Wire::OpenAi && !pending.is_empty() {
                    return Err(unanswered_calls(&pending));
                }
                calls.clear();
                let tool_calls = m
                    .get("tool_calls")
                    .and_then(Value::as_array)
                    .filter(|c| !c.is_empty());
                if role == "assistant"
                    && let Some(tool_calls) = tool_calls
                {
                    info.turn += 1;
                    for c in tool_calls {
                        let f = c.get("function").unwrap_or(&Value::Null);
                        let name = f.get("name").and_then(Value::as_str).unwrap_or_default();
                        let args = json_text(f.get("arguments").unwrap_or(&Value::Null));
                        info.chars += name.chars().count() + args.chars().count();
                        let id = c.get("id").and_then(Value::as_str).unwrap_or_default();
                        calls.push((id.to_string(), name.to_string()));
                        pending.push(id.to_string());
                    }
                    if wire == Wire::Ollama {
                        pending.clear();
                    }
                }
            }
            if !pending.is_empty() {
                return Err(unanswered_calls(&pending));
            }
        }
        Wire::Anthropic => {
            let mut uses_tools = false;
            // `tool_use` ids (and names) of the previous assistant message.
            let mut calls: Vec<(String, String)> = Vec::new();
            for (i, m) in messages.iter().enumerate() {
                let role = m.get("role").and_then(Value::as_str).unwrap_or("");
                let b = blocks(m);
                let mut answered: Vec<&str> = Vec::new();
                for (j, block) in b.iter().enumerate() {
                    match block_type(block) {
                        Some("tool_result") if role == "user" => {
                            uses_tools = true;
                            let id = block
                                .get("tool_use_id")
                                .and_then(Value::as_str)
                                .unwrap_or_default();
                            let Some((_, name)) = calls.iter().find(|(c, _)| c == id) else {
                                return Err(format!(
                                    "messages.{i}.content.{j}: unexpected `tool_use_id` found in \
                                     `tool_result` blocks: {id}. Each `tool_result` block must \
                                     have a corresponding `tool_use` block in the previous message."
                                ));
                            };
                            answered.push(id);
                            let content =
                                content_text(block.get("content").unwrap_or(&Value::Null));
                            info.chars += content.chars().count();
                            let is_error = block
                                .get("is_error")
                                .and_then(Value::as_bool)
                                .unwrap_or(false);
                            info.results.push(json!({"name": name, "id": id,
                                "content": content, "is_error": is_error}));
                        }
                        Some("tool_use" | "tool_result") => uses_tools = true,
                        _ => {}
                    }
                }
                let missing: Vec<&str> = calls
                    .iter()
                    .map(|(c, _)| c.as_str())
                    .filter(|c| !answered.contains(c))
                    .collect();
                if !missing.is_empty() {
                    return Err(tool_use_without_result(i, &missing));
                }
                calls.clear();
                if role == "assistant" {
                    for block in b.iter().filter(|b| block_type(b) == Some("tool_use")) {
                        let id = block.get("id").and_then(Value::as_str).unwrap_or_default();
                        let name = block
                            .get("name")
                            .and_then(Value::as_str)
                            .unwrap_or_default();
                        let input = json_text(block.get("input").unwrap_or(&Value::Null));
                        info.chars += name.chars().count() + input.chars().count();
                        calls.push((id.to_string(), name.to_string()));
                    }
                    if !calls.is_empty() {
                        info.turn += 1;
                    }
                }
            }
            if !calls.is_empty() {
                let ids: Vec<&str> = calls.iter().map(|(c, _)| c.as_str()).collect();
                return Err(tool_use_without_result(messages.len(), &ids));
            }
            if uses_tools && info.declared == 0 {
                return Err(
                    "Requests which include `tool_use` or `tool_result` blocks must define tools."
                        .into(),
                );
            }
        }
    }
    Ok(info)
}

fn unanswered_calls(ids: &[String]) -> String {
    format!(
        "An assistant message with 'tool_calls' must be followed by tool messages responding to \
         each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
        ids.join(", ")
    )
}

fn tool_use_without_result(i: usize, ids: &[&str]) -> String {
    format!(
        "messages.{i}: `tool_use` ids were found without `tool_result` blocks immediately after: \
         {}. Each `tool_use` block must have a corresponding `tool_result` block in the next message.",
        ids.join(", ")
    )
}

/// Text of a message `content`: a string, or the `text` of each part of an array.
fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts
            .iter()
            .filter_map(|p| match p {
                Value::String(s) => Some(s.as_str()),
                _ => p.get("text").and_then(Value::as_str),
            })
            .collect::<Vec<_>>()
            .join(""),
        _ => String::new(),
    }
}

fn parse_request(wire: Wire, v: &Value) -> Result<ChatRequest, String> {
    let obj = v.as_object().ok_or("request body must be a JSON object")?;
    let model = match obj.get("model") {
        Some(Value::String(m)) if !m.is_empty() => m.clone(),
        _ => return Err("model: field required".into()),
    };
    let messages = match obj.get("messages") {
        Some(Value::Array(m)) if !m.is_empty() => m,
        Some(Value::Array(_)) => return Err("messages: at least one message is required".into()),
        _ => return Err("messages: field required".into()),
    };
    let mut system_parts: Vec<String> = Vec::new();
    let mut chars_in = 0usize;
    if wire == Wire::Anthropic
        && let Some(sys) = obj.get("system")
    {
        let text = content_text(sys);
        chars_in += text.chars().count();
        if !text.is_empty() {
            system_parts.push(text);
        }
    }
    let mut user_texts: Vec<String> = Vec::new();
    for m in messages {
        let role = m
            .get("role")
            .and_then(Value::as_str)
            .ok_or("messages: each message needs a role")?;
        let text = content_text(m.get("content").unwrap_or(&Value::Null));
        chars_in += text.chars().count();
        match role {
            "system" | "developer" if wire != Wire::Anthropic => system_parts.push(text),
            "system" => {
                return Err(
                    "messages: role \"system\" is not allowed; use the top-level system parameter"
                        .into(),
                );
            }
            "user" if only_tool_results(wire, m) => {}
            "user" => user_texts.push(text),
            _ => {}
        }
    }
    let tools = parse_tools(wire, obj, messages)?;
    chars_in += tools.chars;
    let prompt = user_texts
        .last()
        .cloned()
        .ok_or("messages: no user message")?;
    let first_user = user_texts.first().cloned().unwrap_or_default();
    let system = if system_parts.is_empty() {
        None
    } else {
        Some(system_parts.join("\n\n"))
    };

    let max_tokens = match wire {
        Wire::OpenAi => obj
            .get("max_completion_tokens")
            .or_else(|| obj.get("max_tokens"))
            .and_then(Value::as_u64),
        Wire::Anthropic => Some(
            obj.get("max_tokens")
                .and_then(Value::as_u64)
                .ok_or("max_tokens: field required")?,
        ),
        Wire::Ollama => obj
            .get("options")
            .and_then(|o| o.get("num_predict"))
            .and_then(Value::as_u64),
    };
    let temperature = match wire {
        Wire::Ollama => obj
            .get("options")
            .and_then(|o| o.get("temperature"))
            .and_then(Value::as_f64),
        _ => obj.get("temperature").and_then(Value::as_f64),
    };
    let stream = match wire {
        // Ollama streams unless told not to, like the real server.
        Wire::Ollama => obj.get("stream").and_then(Value::as_bool).unwrap_or(true),
        _ => obj.get("stream").and_then(Value::as_bool).unwrap_or(false),
    };
    let include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);

    let mut json_mode = false;
    let mut schema = match wire {
        Wire::OpenAi => match obj.get("response_format") {
            Some(rf) => match rf.get("type").and_then(Value::as_str) {
                Some("json_schema") => Some(
                    rf.get("json_schema")
                        .and_then(|j| j.get("schema"))
                        .cloned()
                        .ok_or("response_format.json_schema.schema: field required")?,
                ),
                Some("json_object") => {
                    json_mode = true;
                    None
                }
                Some("text") | None => None,
                Some(other) => return Err(format!("response_format.type: unknown type {other:?}")),
            },
            None => None,
        },
        Wire::Ollama => match obj.get("format") {
            Some(f @ Value::Object(_)) => Some(f.clone()),
            Some(Value::String(s)) if s == "json" => {
                json_mode = true;
                None
            }
            _ => None,
        },
        Wire::Anthropic => {
            let fmt = obj
                .get("output_format")
                .or_else(|| obj.get("output_config").and_then(|c| c.get("format")));
            fmt.filter(|f| f.get("type").and_then(Value::as_str) == Some("json_schema"))
                .and_then(|f| f.get("schema"))
                .cloned()
        }
    };
    if schema.is_none() {
        let texts = user_texts.iter().rev().chain(system.iter());
        schema = texts.filter_map(|t| embedded_schema(t)).next();
    }
    Ok(ChatRequest {
        first_user,
        model,
        system,
        prompt,
        chars_in,
        schema,
        json_mode,
        stream,
        include_usage,
        max_tokens,
        temperature,
        tools,
    })
}

/// The schema on the line after [`SCHEMA_MARKER`], if the text has one.
fn embedded_schema(text: &str) -> Option<Value> {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim_end() == SCHEMA_MARKER {
            return lines
                .next()
                .and_then(|l| serde_json::from_str(l.trim()).ok());
        }
    }
    None
}

fn tokens(chars: usize) -> u64 {
    (chars as u64).div_ceil(4).max(1)
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    Some(v.strip_prefix("Bearer ").unwrap_or(v).trim().to_string())
}

fn presented_key(wire: Wire, headers: &HeaderMap) -> Option<String> {
    let x_api_key = headers
        .get("x-api-key")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    match wire {
        Wire::Anthropic => x_api_key.or_else(|| bearer(headers)),
        _ => bearer(headers).or(x_api_key),
    }
}

async fn handle(s: &Shared, wire: Wire, path: &str, headers: &HeaderMap, body: &[u8]) -> Response {
    let _in_flight = InFlight::enter(s);
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            count_unparsed(s, wire);
            return error_response(
                s,
                wire,
                400,
                &format!("request body is not valid JSON: {e}"),
                None,
            );
        }
    };
    if wire == Wire::Anthropic && !headers.contains_key("anthropic-version") {
        count_unparsed(s, wire);
        return error_response(s, wire, 400, "anthropic-version: header is required", None);
    }
    let req = match parse_request(wire, &value) {
        Ok(r) => r,
        Err(msg) => {
            count_unparsed(s, wire);
            return error_response(s, wire, 400, &msg, None);
        }
    };
    // Directives live in the prompt; in a multi-turn request (a re-ask) whose last message has
    // none, the first user message's directives and fault counter apply.
    let mut directives = Directives::parse(&req.prompt);
    let mut fault_text = req.prompt.clone();
    if req.first_user != req.prompt {
        let first = Directives::parse(&req.first_user);
        // Tool directives come from the first user message (later ones carry tool results).
        if !first.calls.is_empty() {
            directives.calls = first.calls;
        }
        directives.bad_args |= first.bad_args;
        directives.echo_tools |= first.echo_tools;
        if directives.faults.is_empty() && !first.faults.is_empty() {
            directives.faults = first.faults;
            directives.key = directives.key.or(first.key);
            fault_text = req.first_user.clone();
        }
    }
    // This turn's scripted tool calls, when the request lets the model call tools.
    let turn_calls = (req.tools.declared > 0 && !req.tools.choice_none)
        .then(|| directives.calls.get(req.tools.turn))
        .flatten();
    let key = presented_key(wire, headers);
    let auth_ok = match (&s.opts.require_key, wire) {
        (Some(_), Wire::Ollama) | (None, _) => true,
        (Some(expected), _) => key.as_deref() == Some(expected.as_str()),
    };

    // Count the request; decide its fault.
    let fault = {
        let mut st = s.state.lock().unwrap();
        st.total += 1;
        match wire {
            Wire::OpenAi => st.by_wire.openai += 1,
            Wire::Anthropic => st.by_wire.anthropic += 1,
            Wire::Ollama => st.by_wire.ollama += 1,
        }
        *st.by_prompt.entry(req.prompt.clone()).or_insert(0) += 1;
        let fault = if auth_ok {
            let fault_key = directives.key.clone().unwrap_or_else(|| fault_text.clone());
            let n = st
                .fault_counts
                .entry((req.model.clone(), fault_key))
                .or_insert(0);
            *n += 1;
            directives.fault_for(*n).cloned()
        } else {
            None
        };
        if fault.is_some() || !auth_ok {
            st.faults += 1;
        }
        let outcome = match (&fault, auth_ok) {
            (_, false) => "unauthorized".to_string(),
            (None, _) => "ok".to_string(),
            (Some(FaultKind::Fail(code)), _) => format!("fail:{code}"),
            (Some(FaultKind::Hang), _) => "hang".to_string(),
            (Some(FaultKind::Malformed), _) => "malformed".to_string(),
            (Some(FaultKind::Truncated), _) => "truncated".to_string(),
            (Some(FaultKind::BadSchema), _) => "badschema".to_string(),
            (Some(FaultKind::SlowBody), _) => "slowbody".to_string(),
            (Some(FaultKind::Reset), _) => "reset".to_string(),
        };
        if s.opts.record_requests && st.requests.len() < s.opts.max_recorded {
            st.requests.push(RecordedRequest {
                wire,
                path: path.to_string(),
                model: req.model.clone(),
                system: req.system.clone(),
                prompt: req.prompt.clone(),
                has_schema: req.schema.is_some(),
                auth_header_present: headers.contains_key(header::AUTHORIZATION)
                    || headers.contains_key("x-api-key"),
                stream: req.stream,
                max_tokens: req.max_tokens,
                temperature: req.temperature,
                tools: req.tools.declared,
                tool_choice_none: req.tools.choice_none,
                tool_turn: req.tools.turn,
                tool_results: req.tools.results.len(),
                tool_calls: match (&fault, turn_calls) {
                    (None | Some(FaultKind::Truncated | FaultKind::SlowBody), Some(c))
                        if auth_ok =>
                    {
                        c.len()
                    }
                    _ => 0,
                },
                outcome,
            });
        }
        fault
    };

    if directives.gate && !s.pass_gate().await {
        return shutting_down(s, wire);
    }
    let latency = s.opts.latency + directives.latency.unwrap_or_default();
    if !s.sleep(latency).await {
        return shutting_down(s, wire);
    }

    if !auth_ok {
        let msg = match &key {
            Some(k) => auth_message(wire, k),
            None => "missing API key".to_string(),
        };
        return error_response(s, wire, 401, &msg, None);
    }

    let mut reply_override = None;
    match fault {
        Some(FaultKind::Fail(status)) => {
            let retry_after = directives
                .retry_after
                .or(if status == 429 { Some(1) } else { None });
            let msg = match (status, &key) {
                (401, Some(k)) => auth_message(wire, k),
                _ => default_message(status).to_string(),
            };
            return error_response(s, wire, status, &msg, retry_after);
        }
        Some(FaultKind::Hang) => {
            s.sleep(Duration::from_secs(3600)).await;
            return shutting_down(s, wire);
        }
        Some(FaultKind::Malformed) => {
            let content_type = if req.stream {
                stream_content_type(wire)
            } else {
                "application/json"
            };
            return ([(header::CONTENT_TYPE, content_type)], MALFORMED_BODY).into_response();
        }
        Some(FaultKind::BadSchema) => {
            let bad = match &req.schema {
                Some(schema) => schemagen::violate(schema),
                None => json!({"wrong": true}),
            };
            reply_override = Some(bad.to_string());
        }
        Some(FaultKind::Truncated | FaultKind::SlowBody | FaultKind::Reset) | None => {}
    }

    let reply = match (reply_override, turn_calls) {
        (Some(text), _) => Reply::Text(text),
        (None, Some(calls)) => Reply::Calls(tool_calls(
            wire,
            req.tools.turn,
            calls,
            directives.bad_args && req.tools.turn == 0,
        )),
        (None, None) => Reply::Text(reply_text(&req, &directives)),
    };
    let (status, content_type, mut body) = build_reply(s, wire, &req, &reply);
    if directives.cut_off && !req.stream {
        body = cut_off(wire, &body);
    }
    if let (Some((input, output)), false) = (directives.usage, req.stream) {
        body = report_usage(wire, &body, input, output);
    }
    match fault {
        Some(FaultKind::Truncated) => return truncated(content_type, body),
        Some(FaultKind::SlowBody) => return slow_body(content_type, body),
        Some(FaultKind::Reset) => return connection_reset(content_type),
        _ => {}
    }
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn count_unparsed(s: &Shared, wire: Wire) {
    let mut st = s.state.lock().unwrap();
    st.total += 1;
    match wire {
        Wire::OpenAi => st.by_wire.openai += 1,
        Wire::Anthropic => st.by_wire.anthropic += 1,
        Wire::Ollama => st.by_wire.ollama += 1,
    }
}

fn reply_text(req: &ChatRequest, d: &Directives) -> String {
    if let Some(text) = &d.reply {
        return text.clone();
    }
    if let Some(text) = &d.json {
        return text.clone();
    }
    if d.echo_tools {
        return Value::Array(req.tools.results.clone()).to_string();
    }
    if d.echo_system {
        return req.system.clone().unwrap_or_default();
    }
    if let Some(schema) = &req.schema {
        return schemagen::generate(schema).to_string();
    }
    if req.json_mode {
        return json!({"echo": req.prompt}).to_string();
    }
    format!("echo: {}", req.prompt)
}

fn stream_content_type(wire: Wire) -> &'static str {
    match wire {
        Wire::Ollama => "application/x-ndjson",
        _ => "text/event-stream",
    }
}

/// Splits a reply into a few streaming pieces (words with their trailing whitespace).
fn pieces(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut seen_space = false;
    for (i, c) in text.char_indices() {
        if c.is_whitespace() {
            seen_space = true;
        } else if seen_space {
            out.push(&text[start..i]);
            start = i;
            seen_space = false;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    if out.is_empty() {
        out.push("");
    }
    out
}

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// RFC 3339 UTC timestamp for Ollama's `created_at`.
fn rfc3339_now() -> String {
    let secs = now_unix();
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// What the model says: text, or one turn of tool calls.
enum Reply {
    Text(String),
    Calls(Vec<OutCall>),
}

/// One tool call as a wire sends it.
struct OutCall {
    /// `call_<turn>_<i>` (OpenAI), `toolu_<turn>_<i>` (Anthropic), empty for Ollama.
    id: String,
    name: String,
    /// Anthropic `input` / Ollama `arguments`.
    args: Value,
    /// OpenAI `arguments`, and the streamed argument text on every wire.
    args_text: String,
}

fn tool_calls(wire: Wire, turn: usize, calls: &[ToolCall], bad_args: bool) -> Vec<OutCall> {
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let text = c.args.to_string();
            let (args, args_text) = match (bad_args, wire) {
                (false, _) => (c.args.clone(), text),
                (true, Wire::OpenAi) => (Value::Null, BAD_ARGS.to_string()),
                (true, _) => {
                    let as_string = Value::String(text);
                    let quoted = as_string.to_string();
                    (as_string, quoted)
                }
            };
            OutCall {
                id: match wire {
                    Wire::OpenAi => format!("call_{turn}_{i}"),
                    Wire::Anthropic => format!("toolu_{turn}_{i}"),
                    Wire::Ollama => String::new(),
                },
                name: c.name.clone(),
                args,
                args_text,
            }
        })
        .collect()
}

impl Reply {
    fn output_chars(&self) -> usize {
        match self {
            Reply::Text(t) => t.chars().count(),
            Reply::Calls(calls) => calls
                .iter()
                .map(|c| c.name.chars().count() + c.args_text.chars().count())
                .sum(),
        }
    }

    fn text(&self) -> &str {
        match self {
            Reply::Text(t) => t,
            Reply::Calls(_) => "",
        }
    }

    fn openai_calls(&self) -> Option<Vec<Value>> {
        let Reply::Calls(calls) = self else {
            return None;
        };
        Some(
            calls
                .iter()
                .map(|c| {
                    json!({"id": c.id, "type": "function",
                       "function": {"name": c.name, "arguments": c.args_text}})
                })
                .collect(),
        )
    }

    fn ollama_calls(&self) -> Option<Vec<Value>> {
        let Reply::Calls(calls) = self else {
            return None;
        };
        Some(
            calls
                .iter()
                .map(|c| json!({"function": {"name": c.name, "arguments": c.args}}))
                .collect(),
        )
    }
}

/// Splits `text` into `n` pieces at character boundaries (some may be empty).
fn split_n(text: &str, n: usize) -> Vec<&str> {
    let chars: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
    let step = chars.len().div_ceil(n).max(1);
    let mut out = Vec::new();
    let mut start = 0;
    for k in 1..n {
        let end = chars
            .get(k * step)
            .copied()
            .unwrap_or(text.len())
            .max(start);
        out.push(&text[start..end]);
        start = end;
    }
    out.push(&text[start..]);
    out
}

fn build_reply(
    s: &Shared,
    wire: Wire,
    req: &ChatRequest,
    reply: &Reply,
) -> (StatusCode, &'static str, String) {
    let input = tokens(req.chars_in);
    let output = tokens(reply.output_chars());
    let id = s.next_id();
    let calls = match reply {
        Reply::Calls(c) => c.as_slice(),
        Reply::Text(_) => &[],
    };
    let (finish, stop_reason) = if calls.is_empty() {
        ("stop", "end_turn")
    } else {
        ("tool_calls", "tool_use")
    };
    if !req.stream {
        let body = match wire {
            Wire::OpenAi => {
                let message = match reply.openai_calls() {
                    Some(calls) => json!({"role": "assistant", "content": null, "refusal": null,
                        "tool_calls": calls}),
                    None => json!({"role": "assistant", "content": reply.text(), "refusal": null}),
                };
                json!({
                    "id": format!("chatcmpl-{id}"),
                    "object": "chat.completion",
                    "created": now_unix(),
                    "model": req.model,
                    "choices": [{
                        "index": 0,
                        "message": message,
                        "logprobs": null,
                        "finish_reason": finish
                    }],
                    "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output}
                })
            }
            Wire::Anthropic => {
                let content: Vec<Value> = match reply {
                    Reply::Text(text) => vec![json!({"type": "text", "text": text})],
                    Reply::Calls(calls) => calls
                        .iter()
                        .map(|c| json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.args}))
                        .collect(),
                };
                json!({
                    "id": format!("msg_{id}"),
                    "type": "message",
                    "role": "assistant",
                    "model": req.model,
                    "content": content,
                    "stop_reason": stop_reason,
                    "stop_sequence": null,
                    "usage": {"input_tokens": input, "output_tokens": output}
                })
            }
            Wire::Ollama => {
                let mut message = json!({"role": "assistant", "content": reply.text()});
                if let Some(calls) = reply.ollama_calls() {
                    message["tool_calls"] = json!(calls);
                }
                json!({
                    "model": req.model,
                    "created_at": rfc3339_now(),
                    "message": message,
                    "done": true,
                    "done_reason": "stop",
                    "total_duration": 1000,
                    "load_duration": 0,
                    "prompt_eval_count": input,
                    "prompt_eval_duration": 0,
                    "eval_count": output,
                    "eval_duration": 1000
                })
            }
        };
        return (StatusCode::OK, "application/json", body.to_string());
    }
    let mut out = String::new();
    match wire {
        Wire::OpenAi => {
            let chunk = |delta: Value, finish: Value| {
                json!({
                    "id": format!("chatcmpl-{id}"),
                    "object": "chat.completion.chunk",
                    "created": now_unix(),
                    "model": req.model,
                    "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}]
                })
            };
            let mut events = Vec::new();
            match reply {
                Reply::Text(text) => {
                    events.push(chunk(
                        json!({"role": "assistant", "content": ""}),
                        Value::Null,
                    ));
                    for p in pieces(text) {
                        events.push(chunk(json!({"content": p}), Value::Null));
                    }
                }
                Reply::Calls(calls) => {
                    events.push(chunk(
                        json!({"role": "assistant", "content": null}),
                        Value::Null,
                    ));
                    for (i, c) in calls.iter().enumerate() {
                        events.push(chunk(
                            json!({"tool_calls": [{"index": i, "id": c.id, "type": "function",
                                "function": {"name": c.name, "arguments": ""}}]}),
                            Value::Null,
                        ));
                        for p in split_n(&c.args_text, 3) {
                            events.push(chunk(
                                json!({"tool_calls": [{"index": i, "function": {"arguments": p}}]}),
                                Value::Null,
                            ));
                        }
                    }
                }
            }
            events.push(chunk(json!({}), json!(finish)));
            if req.include_usage {
                events.push(json!({
                    "id": format!("chatcmpl-{id}"),
                    "object": "chat.completion.chunk",
                    "created": now_unix(),
                    "model": req.model,
                    "choices": [],
                    "usage": {"prompt_tokens": input, "completion_tokens": output, "total_tokens": input + output}
                }));
            }
            for e in events {
                out.push_str(&format!("data: {e}\n\n"));
            }
            out.push_str("data: [DONE]\n\n");
        }
        Wire::Anthropic => {
            let mut events: Vec<(&str, Value)> = vec![(
                "message_start",
                json!({"type": "message_start", "message": {
                    "id": format!("msg_{id}"), "type": "message", "role": "assistant", "model": req.model,
                    "content": [], "stop_reason": null, "stop_sequence": null,
                    "usage": {"input_tokens": input, "output_tokens": 1}
                }}),
            )];
            match reply {
                Reply::Text(text) => {
                    events.push((
                        "content_block_start",
                        json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
                    ));
                    events.push(("ping", json!({"type": "ping"})));
                    for p in pieces(text) {
                        events.push((
                            "content_block_delta",
                            json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}),
                        ));
                    }
                    events.push((
                        "content_block_stop",
                        json!({"type": "content_block_stop", "index": 0}),
                    ));
                }
                Reply::Calls(calls) => {
                    events.push(("ping", json!({"type": "ping"})));
                    for (i, c) in calls.iter().enumerate() {
                        events.push((
                            "content_block_start",
                            json!({"type": "content_block_start", "index": i, "content_block":
                                {"type": "tool_use", "id": c.id, "name": c.name, "input": {}}}),
                        ));
                        for p in split_n(&c.args_text, 3) {
                            events.push((
                                "content_block_delta",
                                json!({"type": "content_block_delta", "index": i,
                                    "delta": {"type": "input_json_delta", "partial_json": p}}),
                            ));
                        }
                        events.push((
                            "content_block_stop",
                            json!({"type": "content_block_stop", "index": i}),
                        ));
                    }
                }
            }
            events.push((
                "message_delta",
                json!({"type": "message_delta", "delta": {"stop_reason": stop_reason, "stop_sequence": null},
                       "usage": {"output_tokens": output}}),
            ));
            events.push(("message_stop", json!({"type": "message_stop"})));
            for (name, data) in events {
                out.push_str(&format!("event: {name}\ndata: {data}\n\n"));
            }
        }
        Wire::Ollama => {
            match reply {
                Reply::Text(text) => {
                    for p in pieces(text) {
                        let line = json!({
                            "model": req.model, "created_at": rfc3339_now(),
                            "message": {"role": "assistant", "content": p}, "done": false
                        });
                        out.push_str(&format!("{line}\n"));
                    }
                }
                Reply::Calls(_) => {
                    // Like the real server: the calls arrive whole, in one line.
                    let line = json!({
                        "model": req.model, "created_at": rfc3339_now(),
                        "message": {"role": "assistant", "content": "",
                            "tool_calls": reply.ollama_calls()},
                        "done": false
                    });
                    out.push_str(&format!("{line}\n"));
                }
            }
            let last = json!({
                "model": req.model, "created_at": rfc3339_now(),
                "message": {"role": "assistant", "content": ""},
                "done": true, "done_reason": "stop",
                "total_duration": 1000, "load_duration": 0,
                "prompt_eval_count": input, "prompt_eval_duration": 0,
                "eval_count": output, "eval_duration": 1000
            });
            out.push_str(&format!("{last}\n"));
        }
    }
    (StatusCode::OK, stream_content_type(wire), out)
}

/// The reply with the usage a `[[usage:IN,OUT]]` directive claims, whatever was really used.
fn report_usage(wire: Wire, body: &str, input: u64, output: u64) -> String {
    let Ok(mut v) = serde_json::from_str::<Value>(body) else {
        return body.to_string();
    };
    match wire {
        Wire::OpenAi => {
            v["usage"] = json!({"prompt_tokens": input, "completion_tokens": output,
                "total_tokens": input + output})
        }
        Wire::Anthropic => v["usage"] = json!({"input_tokens": input, "output_tokens": output}),
        Wire::Ollama => {
            v["prompt_eval_count"] = json!(input);
            v["eval_count"] = json!(output);
        }
    }
    v.to_string()
}

/// The reply marked as stopped at the token limit, in each wire's words.
fn cut_off(wire: Wire, body: &str) -> String {
    let Ok(mut v) = serde_json::from_str::<Value>(body) else {
        return body.to_string();
    };
    match wire {
        Wire::OpenAi => v["choices"][0]["finish_reason"] = json!("length"),
        Wire::Anthropic => v["stop_reason"] = json!("max_tokens"),
        Wire::Ollama => v["done_reason"] = json!("length"),
    }
    v.to_string()
}

/// The whole reply, 20 pieces 50 ms apart: a slow but complete body.
fn slow_body(content_type: &'static str, body: String) -> Response {
    let bytes = Bytes::from(body.into_bytes());
    let step = bytes.len().div_ceil(20).max(1);
    let pieces: Vec<Bytes> = (0..bytes.len())
        .step_by(step)
        .map(|i| bytes.slice(i..(i + step).min(bytes.len())))
        .collect();
    let stream = futures_util::stream::unfold(pieces.into_iter(), |mut rest| async move {
        let piece = rest.next()?;
        tokio::time::sleep(Duration::from_millis(50)).await;
        Some((Ok::<Bytes, std::io::Error>(piece), rest))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// Headers, then the connection dropped before any body byte.
fn connection_reset(content_type: &'static str) -> Response {
    let stream = futures_util::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::new(
            std::io::ErrorKind::ConnectionReset,
            "reset by test provider",
        ))
    });
    let mut resp = Response::new(Body::from_stream(stream));
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// A response that declares more bytes than it sends, then drops the connection.
fn truncated(content_type: &'static str, body: String) -> Response {
    let full = body.len();
    let half = Bytes::from(body.into_bytes()).slice(..full / 2);
    // Send half, give the HTTP layer time to flush it, then fail the body: hyper closes the
    // connection short of the declared Content-Length.
    let stream = futures_util::stream::unfold(0u8, move |step| {
        let half = half.clone();
        async move {
            match step {
                0 => Some((Ok(half), 1)),
                1 => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    Some((
                        Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionAborted,
                            "truncated by test provider",
                        )),
                        2,
                    ))
                }
                _ => None,
            }
        }
    });
    let mut resp = Response::new(Body::from_stream(stream));
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(full as u64));
    resp
}

fn shutting_down(s: &Shared, wire: Wire) -> Response {
    error_response(s, wire, 503, "test provider shutting down", None)
}

fn default_message(status: u16) -> &'static str {
    match status {
        400 => "invalid request (injected)",
        401 => "invalid API key (injected)",
        403 => "permission denied (injected)",
        404 => "model not found (injected)",
        408 => "request timeout (injected)",
        413 => "request too large (injected)",
        429 => "rate limit exceeded (injected)",
        500 => "internal server error (injected)",
        502 => "bad gateway (injected)",
        503 => "service unavailable (injected)",
        529 => "overloaded (injected)",
        _ => "error (injected)",
    }
}

/// The realistic mistake: an auth error that quotes the key it received.
fn auth_message(wire: Wire, key: &str) -> String {
    match wire {
        Wire::Anthropic => format!("invalid x-api-key: {key}"),
        _ => format!(
            "Incorrect API key provided: {key}. You can find your API key in your account settings."
        ),
    }
}

fn error_response(
    s: &Shared,
    wire: Wire,
    status: u16,
    message: &str,
    retry_after: Option<u64>,
) -> Response {
    let body = match wire {
        Wire::OpenAi => {
            let (ty, code) = match status {
                400 => ("invalid_request_error", Value::Null),
                401 => ("invalid_request_error", json!("invalid_api_key")),
                403 => ("permission_error", Value::Null),
                404 => ("invalid_request_error", json!("model_not_found")),
                429 => ("requests", json!("rate_limit_exceeded")),
                _ => ("server_error", Value::Null),
            };
            json!({"error": {"message": message, "type": ty, "param": null, "code": code}})
        }
        Wire::Anthropic => {
            let ty = match status {
                400 => "invalid_request_error",
                401 => "authentication_error",
                403 => "permission_error",
                404 => "not_found_error",
                413 => "request_too_large",
                429 => "rate_limit_error",
                529 => "overloaded_error",
                _ => "api_error",
            };
            json!({"type": "error", "error": {"type": ty, "message": message}})
        }
        Wire::Ollama => json!({"error": message}),
    };
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = json_response(code, &body);
    let h = resp.headers_mut();
    if let Some(secs) = retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    let rid = format!("req_{}", s.next_id());
    if let Ok(v) = HeaderValue::from_str(&rid) {
        h.insert(
            if wire == Wire::Anthropic {
                "request-id"
            } else {
                "x-request-id"
            },
            v,
        );
    }
    resp
}

fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}
