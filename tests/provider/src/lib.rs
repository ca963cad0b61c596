//! A loopback model provider for odw's tests and benchmarks.
//!
//! [`TestProvider`] binds `127.0.0.1:0` and speaks three wire formats:
//!
//! | wire | route | request | reply |
//! |---|---|---|---|
//! | OpenAI Chat Completions | `POST /v1/chat/completions`, `POST /chat/completions` | `{model, messages, max_tokens \| max_completion_tokens, temperature?, response_format?, stream?, stream_options?, tools?, tool_choice?}` | `{id, object: "chat.completion", created, model, choices: [{index: 0, message: {role: "assistant", content, tool_calls?}, finish_reason: "stop" \| "tool_calls"}], usage: {prompt_tokens, completion_tokens, total_tokens}}` |
//! | Anthropic Messages | `POST /v1/messages` (requires the `anthropic-version` header and `max_tokens`) | `{model, max_tokens, system?, messages, temperature?, stream?, tools?, tool_choice?}` | `{id, type: "message", role: "assistant", model, content: [{type: "text", text}] \| [{type: "tool_use", id, name, input}, …], stop_reason: "end_turn" \| "tool_use", usage: {input_tokens, output_tokens}}` |
//! | Ollama | `POST /api/chat` | `{model, messages, stream, options?: {temperature, num_predict}, format?, tools?}` | `{model, created_at, message: {role: "assistant", content, tool_calls?}, done: true, done_reason: "stop", prompt_eval_count, eval_count}` |
//!
//! plus `GET /_stats` (the [`Stats`] as JSON), `POST /_reset` and `GET /health`.
//!
//! Streaming is supported too: `stream: true` gives OpenAI `data:` chunks ending in
//! `data: [DONE]` (with a usage chunk when `stream_options.include_usage`), Anthropic's
//! `message_start … message_stop` events, and Ollama NDJSON lines. **Ollama streams unless the
//! request says `"stream": false`**, like the real server.
//!
//! # Replies
//! Replies are deterministic. The *prompt* is the text of the last `user` message (string content,
//! or the concatenated `text` of its parts; an Anthropic user message made only of `tool_result`
//! blocks does not count, so in a tool loop the prompt stays the original question). The *system
//! prompt* is OpenAI/Ollama `system` (and `developer`) messages joined by a blank line, or
//! Anthropic's top-level `system`.
//!
//! 0. a scripted tool-call turn, when there is one (see [Tool calls](#tool-calls));
//! 1. `[[reply:TEXT]]` → exactly `TEXT`; `[[json:…]]` → exactly that JSON text;
//!    `[[echo-tools]]` → the conversation's tool results as a JSON array (see below);
//! 2. `[[echo-system]]` → the system prompt (empty if none);
//! 3. if the request carries a **schema** → a JSON value generated to conform to it
//!    ([`generate`]: objects with all properties, strings = first enum value or the property
//!    name, numbers 1 or the nearest bound, booleans `true`, arrays of `max(minItems, 1)` items).
//!    The schema comes from OpenAI `response_format: {type: "json_schema", json_schema: {schema}}`,
//!    Ollama `format` (an object), Anthropic `output_format`/`output_config.format`
//!    (`{type: "json_schema", schema}`), or — on any wire — a user message (or the system prompt)
//!    containing a line exactly [`SCHEMA_MARKER`]
//!    (`Respond with only a JSON value that conforms to this JSON Schema, with no prose and no code fences:`)
//!    followed on the next line by the schema as one-line JSON;
//! 4. JSON mode without a schema (OpenAI `json_object`, Ollama `format: "json"`) →
//!    `{"echo": PROMPT}`;
//! 5. otherwise → `echo: PROMPT` (the full prompt, directives included).
//!
//! Usage: input tokens = ceil(chars of the system prompt, every message's text, each tool
//! definition (as JSON), each tool call's name and arguments text, and each tool result / 4),
//! output tokens = ceil(chars of the reply — for tool calls, names plus arguments text — / 4),
//! each at least 1.
//!
//! # Directives
//! Written anywhere in the prompt (the last user message) as `[[…]]`; anything else in double
//! brackets is ignored. The tool directives (`call`, `call+`, `badargs`, `echo-tools`) are read
//! from the first user message too (see [Tool calls](#tool-calls)).
//!
//! | directive | effect |
//! |---|---|
//! | `[[reply:TEXT]]` | reply exactly `TEXT` (up to the first `]]`) |
//! | `[[json:{…}]]` | reply exactly this JSON text; objects/arrays are scanned with balanced brackets, so `]` and `]]` inside the JSON are fine |
//! | `[[latency:MS]]` | sleep `MS` milliseconds before replying, on top of [`ProviderOptions::latency`]; several add up |
//! | `[[fail:STATUS xN]]` | e.g. `[[fail:429 x2]]`, `[[fail:500 x1]]`, `[[fail:401 x99]]`: fail with that status and the wire's error JSON; 429s carry `Retry-After: 1` |
//! | `[[retry-after:SECS]]` | integer seconds for the `Retry-After` header of injected failures (`0` allowed; when given it is sent with any status) |
//! | `[[hang xN]]` | never reply (sleeps an hour, or until the provider shuts down) — for timeouts |
//! | `[[malformed xN]]` | 200 with a body that is not JSON |
//! | `[[truncated xN]]` | 200 declaring a `Content-Length` larger than what is sent, then the connection is dropped |
//! | `[[slowbody xN]]` | the full reply, in 20 pieces 50 ms apart |
//! | `[[gate]]` | waits until the test calls [`TestProvider::open_gate`] |
//! | `[[usage:IN,OUT]]` | the reply claims these token counts, whatever was used |
//! | `[[length]]` | the reply says it stopped at the token limit (`finish_reason: "length"`, `stop_reason: "max_tokens"`, `done_reason: "length"`) |
//! | `[[reset xN]]` | status and headers, then the connection dropped before any body byte |
//! | `[[badschema xN]]` | reply JSON that violates the request's schema ([`violate`]: an object without its first required key plus `"wrong": true`; `{"wrong": true}` when there is no schema) |
//! | `[[echo-system]]` | reply with the system prompt |
//! | `[[key:NAME]]` | count the faults of this request under `NAME` instead of under its prompt text |
//! | `[[call:NAME ARGS]]` | one tool-call turn calling tool `NAME` with `ARGS`, a JSON object (balanced-bracket scan like `[[json:…]]`; optional, default `{}`); `NAME` runs to the first whitespace, `{` or `]` |
//! | `[[call+:NAME ARGS]]` | one more call in the turn before it (a turn of its own when it comes first) |
//! | `[[badargs]]` | the first call turn's arguments are broken: OpenAI `arguments` = `{"path": ` (invalid JSON); Anthropic `input` / Ollama `arguments` = the arguments' JSON text as a JSON *string* |
//! | `[[echo-tools]]` | reply with every tool result in the conversation, in order, as a JSON array of `{"name", "id", "content", "is_error"}` |
//!
//! `xN` is optional (default 1). In a multi-turn request (a schema re-ask) whose last user message
//! carries no fault directive, the faults (and fault counter) of the first user message apply. **Faults count per (model, prompt text)** — or per (model,
//! `[[key:NAME]]`) — over every request that reached the fault logic: the first `N` such requests
//! get the fault, later ones succeed. Several faults in one prompt apply one after another in the
//! order written: `[[fail:429 x2]] [[badschema x1]]` gives 429, 429, a schema violation, then good
//! replies. A re-ask that sends the correction as a new user message has a different prompt and
//! so is not affected by the first prompt's directives (unless it repeats them).
//!
//! # Tool calls
//! Tool directives are read from the **first** user message (later user messages carry tool
//! results); if it has no `[[call…]]`, the prompt's apply. The request's *turn* is the number of
//! assistant messages with tool calls in its history (OpenAI/Ollama assistant `tool_calls`,
//! Anthropic assistant `tool_use` blocks). When the request declares tools (`tools`, non-empty),
//! its tool choice does not forbid them (OpenAI `tool_choice: "none"`, Anthropic
//! `tool_choice: {type: "none"}`; Ollama has none) and turn < the number of `[[call:…]]` turns,
//! the reply is that turn's calls:
//!
//! * OpenAI: `message: {role: "assistant", content: null, tool_calls: [{id: "call_<turn>_<i>",
//!   type: "function", function: {name, arguments: "<JSON text>"}}]}`, `finish_reason: "tool_calls"`;
//!   streamed as a `tool_calls` delta with id and name, then the arguments in pieces;
//! * Anthropic: `content: [{type: "tool_use", id: "toolu_<turn>_<i>", name, input}]`,
//!   `stop_reason: "tool_use"`; streamed as `tool_use` blocks with `input_json_delta`s;
//! * Ollama: `message: {role: "assistant", content: "", tool_calls: [{function: {name,
//!   arguments}}]}` (no ids, like the real server); streamed whole in one line before the done line.
//!
//! `<turn>` and `<i>` count from 0. A name not among the declared tools is sent all the same.
//! Otherwise the reply rules above apply. A `[[badschema]]` fault replaces a call turn with its
//! bad text like any reply.
//!
//! `[[echo-tools]]` lists OpenAI `tool` messages as `{name, id: tool_call_id, content,
//! is_error: false}` (the name of the call they answer), Anthropic `tool_result` blocks as `{name,
//! id: tool_use_id, content (a string, or its text blocks joined), is_error}`, Ollama `tool`
//! messages as `{name: tool_name, id: tool_call_id or null, content, is_error: false}`.
//!
//! Requests are checked as the real APIs check them (400 with the wire's error JSON):
//! * OpenAI: each `tool` message must follow (after only other `tool` messages) an assistant
//!   message whose `tool_calls` include its `tool_call_id`, and every call id must be answered
//!   before the next non-`tool` message (or the end of the conversation);
//! * Anthropic: each `tool_result` must answer a `tool_use` id of the message right before it,
//!   every `tool_use` must be answered in the next message, and a request with `tool_use` or
//!   `tool_result` blocks must declare `tools`;
//! * Ollama: no checks.
//!
//! Faults and their counters work across a tool loop: every request of the loop has the same
//! prompt, so `[[fail:429 x1]] [[call:f]]` fails the first request only.
//!
//! # Options
//! [`ProviderOptions::latency`] delays every reply. With [`ProviderOptions::require_key`] set,
//! OpenAI and Anthropic requests whose key (`Authorization: Bearer …` or `x-api-key`) differs get a
//! 401 whose message **echoes the key received** — a realistic provider mistake that odw must
//! scrub from its output. (Ollama has no authentication and is never checked.) Injected
//! `[[fail:401]]` errors echo the received key the same way.
//!
//! # Statistics
//! [`Stats`] has total requests, counts per wire, the current and maximum number of requests in
//! flight, a count per prompt text, the number of injected faults, and the recorded requests
//! (capped at [`ProviderOptions::max_recorded`]) — with the tools declared, whether tool choice
//! was `none`, the tool-call turn, the tool results received and the tool calls replied, so a
//! test can assert that a loop's last turn was sent with tools off. A request is in flight from
//! the moment its handler starts (after its body was read) until the response is handed to the
//! HTTP layer, or until its client disconnects (for a hanging request): never longer than the
//! client sees it, so `max_in_flight <= limit` is a sound assertion.
//!
//! # Use
//! ```no_run
//! # async fn demo() {
//! use odw_test_provider::{ProviderOptions, TestProvider};
//! let provider = TestProvider::start(ProviderOptions::default()).await;
//! let url = provider.base_url(); // http://127.0.0.1:PORT
//! // … run odw against `url` …
//! assert_eq!(provider.stats().total, 0);
//! # }
//! ```
//! From a plain `#[test]`, [`TestProvider::spawn`] runs the server on its own thread and runtime;
//! dropping the handle shuts it down. The `odw-test-provider` binary serves the same on a fixed or
//! free port (`odw-test-provider [--port P] [--latency-ms L] [--require-key K]`).

mod directives;
pub mod raw;
mod schemagen;
mod server;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

pub use directives::{Directives, Fault, FaultKind, ToolCall};
pub use schemagen::{generate, violate};
pub use server::SCHEMA_MARKER;

/// How a [`TestProvider`] behaves.
#[derive(Clone, Debug)]
pub struct ProviderOptions {
    /// Added before every reply.
    pub latency: Duration,
    /// When set, OpenAI/Anthropic requests must present this key (see the crate docs).
    pub require_key: Option<String>,
    /// Record each request in [`Stats::requests`] (default true).
    pub record_requests: bool,
    /// At most this many recorded requests (default 100,000).
    pub max_recorded: usize,
    /// Port on 127.0.0.1; 0 (the default) picks a free one.
    pub port: u16,
}

impl Default for ProviderOptions {
    fn default() -> Self {
        ProviderOptions {
            latency: Duration::ZERO,
            require_key: None,
            record_requests: true,
            max_recorded: 100_000,
            port: 0,
        }
    }
}

impl ProviderOptions {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = latency;
        self
    }

    pub fn latency_ms(self, ms: u64) -> Self {
        self.latency(Duration::from_millis(ms))
    }

    pub fn require_key(mut self, key: impl Into<String>) -> Self {
        self.require_key = Some(key.into());
        self
    }

    pub fn record_requests(mut self, record: bool) -> Self {
        self.record_requests = record;
        self
    }

    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
}

/// A wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Wire {
    #[serde(rename = "openai")]
    OpenAi,
    #[serde(rename = "anthropic")]
    Anthropic,
    #[serde(rename = "ollama")]
    Ollama,
}

/// Requests per wire.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WireCounts {
    pub openai: u64,
    pub anthropic: u64,
    pub ollama: u64,
}

/// One request as the provider saw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordedRequest {
    pub wire: Wire,
    pub path: String,
    pub model: String,
    pub system: Option<String>,
    /// Text of the last user message.
    pub prompt: String,
    pub has_schema: bool,
    /// An `Authorization` or `x-api-key` header was present.
    pub auth_header_present: bool,
    pub stream: bool,
    pub max_tokens: Option<u64>,
    pub temperature: Option<f64>,
    /// How many tools the request declared (`tools`).
    #[serde(default)]
    pub tools: usize,
    /// The request forbade tool calls (OpenAI `tool_choice: "none"`, Anthropic
    /// `tool_choice: {type: "none"}`).
    #[serde(default)]
    pub tool_choice_none: bool,
    /// Assistant messages with tool calls in the request's history: the tool-call turn it is at.
    #[serde(default)]
    pub tool_turn: usize,
    /// Tool results in the request's history.
    #[serde(default)]
    pub tool_results: usize,
    /// Tool calls in the reply (0 for a text reply, or when a fault replaced the reply).
    #[serde(default)]
    pub tool_calls: usize,
    /// `ok`, `unauthorized`, `fail:STATUS`, `hang`, `malformed`, `truncated`, `badschema`,
    /// `slowbody` or `reset`.
    pub outcome: String,
}

/// What the provider has seen since it started or was last reset.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Every chat request, including malformed ones (400s).
    pub total: u64,
    pub by_wire: WireCounts,
    pub in_flight: u64,
    pub max_in_flight: u64,
    /// Requests per prompt text (last user message).
    pub by_prompt: HashMap<String, u64>,
    /// Requests that got an injected fault or a 401 from `require_key`.
    pub faults: u64,
    pub requests: Vec<RecordedRequest>,
}

impl Stats {
    /// Requests whose prompt was exactly `prompt`.
    pub fn count(&self, prompt: &str) -> u64 {
        self.by_prompt.get(prompt).copied().unwrap_or(0)
    }

    /// Requests whose prompt contains `needle`.
    pub fn count_containing(&self, needle: &str) -> u64 {
        self.by_prompt
            .iter()
            .filter(|(p, _)| p.contains(needle))
            .map(|(_, n)| n)
            .sum()
    }
}

/// A running loopback provider. Dropping it shuts the server down.
pub struct TestProvider {
    addr: SocketAddr,
    shared: Arc<server::Shared>,
    shutdown: watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestProvider {
    /// Starts the provider on the current tokio runtime.
    ///
    /// # Panics
    /// If it cannot bind 127.0.0.1; see [`TestProvider::try_start`].
    pub async fn start(opts: ProviderOptions) -> TestProvider {
        Self::try_start(opts)
            .await
            .expect("odw-test-provider: cannot bind 127.0.0.1")
    }

    pub async fn try_start(opts: ProviderOptions) -> std::io::Result<TestProvider> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = watch::channel(false);
        let shared = Arc::new(server::Shared::new(opts, rx.clone()));
        tokio::spawn(serve(listener, shared.clone(), rx));
        Ok(TestProvider {
            addr,
            shared,
            shutdown: tx,
            thread: None,
        })
    }

    /// Starts the provider on a thread of its own with its own runtime, for plain `#[test]`s
    /// and synchronous code.
    ///
    /// # Panics
    /// If it cannot bind 127.0.0.1; see [`TestProvider::try_spawn`].
    pub fn spawn(opts: ProviderOptions) -> TestProvider {
        Self::try_spawn(opts).expect("odw-test-provider: cannot bind 127.0.0.1")
    }

    pub fn try_spawn(opts: ProviderOptions) -> std::io::Result<TestProvider> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", opts.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (tx, rx) = watch::channel(false);
        let shared = Arc::new(server::Shared::new(opts, rx.clone()));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("odw-test-provider".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            eprintln!("odw-test-provider: {e}");
                            return;
                        }
                    };
                    let mut stop = rx.clone();
                    tokio::select! {
                        _ = serve(listener, thread_shared, rx) => {}
                        // Give handlers a moment to answer 503, then drop everything.
                        _ = async {
                            let _ = stop.wait_for(|v| *v).await;
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        } => {}
                    }
                });
                runtime.shutdown_background();
            })?;
        Ok(TestProvider {
            addr,
            shared,
            shutdown: tx,
            thread: Some(thread),
        })
    }

    /// Serves until the process ends (for the binary).
    pub async fn run_forever(
        opts: ProviderOptions,
        on_ready: impl FnOnce(SocketAddr),
    ) -> std::io::Result<()> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", opts.port)).await?;
        let addr = listener.local_addr()?;
        let (_tx, rx) = watch::channel(false);
        let shared = Arc::new(server::Shared::new(opts, rx.clone()));
        on_ready(addr);
        serve(listener, shared, rx).await;
        Ok(())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT` (no trailing slash, no `/v1`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `base_url()` followed by `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats()
    }

    /// Clears the statistics and the fault counters.
    pub fn reset(&self) {
        self.shared.reset()
    }

    /// Lets `[[gate]]` requests through: they wait, however long, until the test says so, so
    /// ordering tests need no wall-clock margins.
    pub fn open_gate(&self) {
        self.shared.open_gate()
    }

    pub fn options(&self) -> &ProviderOptions {
        &self.shared.opts
    }

    /// Stops the server (the same as dropping it).
    pub fn shutdown(self) {}
}

impl Drop for TestProvider {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn serve(
    listener: tokio::net::TcpListener,
    shared: Arc<server::Shared>,
    mut stop: watch::Receiver<bool>,
) {
    let app = server::router(shared);
    let result = axum::serve(listener, app)
        .with_graceful_shutdown(async move {
            let _ = stop.wait_for(|v| *v).await;
        })
        .await;
    if let Err(e) = result {
        eprintln!("odw-test-provider: {e}");
    }
}
