//! Model providers: one HTTP request per attempt, in the provider's own wire format.
//!
//! The scheduler owns retries, budgets and concurrency; this module only turns a [`ModelRequest`]
//! into a request on the wire and the response into a [`ModelReply`] or a classified
//! [`ProviderError`]. Routing by model id lives in [`route`].

pub mod anthropic;
mod http;
pub mod ollama;
pub mod openai;
pub mod route;
pub mod simulated;
pub mod spec;
pub mod structured;

use odw_protocol::AgentErrorCode;
use std::time::Duration;

pub use route::{Route, RouteError, Wire};
pub use spec::ProviderSpec;

/// Who said a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    User,
    Assistant,
}

/// One message of the conversation sent to the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub role: Role,
    pub content: String,
    /// Assistant messages: the tools the model asked for in this turn.
    pub tool_calls: Vec<ToolCall>,
    /// User messages: the results of the previous turn's tool calls, in the order asked.
    pub tool_results: Vec<ToolResult>,
}

impl Message {
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_results: Vec::new(),
        }
    }

    pub fn assistant(content: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            content: content.into(),
            tool_calls: Vec::new(),
            tool_results: Vec::new(),
        }
    }
}

/// A tool the model may call: its name, what it does and a JSON Schema of its arguments.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolDef {
    pub name: String,
    pub description: String,
    pub parameters: serde_json::Value,
}

/// One tool call the model made.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call (synthesised where the wire has none, as Ollama's).
    pub id: String,
    pub name: String,
    /// The arguments as the model sent them.
    pub arguments: ToolArguments,
}

/// A call's arguments: a JSON object, or the text the model sent when it was not one (sent
/// back to the model as an error result, never an exception).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolArguments {
    Object(serde_json::Map<String, serde_json::Value>),
    Malformed(String),
}

impl ToolArguments {
    /// From a JSON value (Anthropic `input`, Ollama `arguments`) or a JSON text inside a string
    /// (OpenAI `arguments`, some Ollama-compatible servers).
    pub fn from_value(value: Option<&serde_json::Value>) -> Self {
        match value {
            None | Some(serde_json::Value::Null) => ToolArguments::Object(Default::default()),
            Some(serde_json::Value::Object(map)) => ToolArguments::Object(map.clone()),
            Some(serde_json::Value::String(text)) if text.trim().is_empty() => {
                ToolArguments::Object(Default::default())
            }
            Some(serde_json::Value::String(text)) => match crate::json::parse(text) {
                Ok(serde_json::Value::Object(map)) => ToolArguments::Object(map),
                _ => ToolArguments::Malformed(text.clone()),
            },
            Some(other) => ToolArguments::Malformed(other.to_string()),
        }
    }

    /// The arguments as the JSON text a wire echoes back in the assistant turn.
    pub fn to_json_text(&self) -> String {
        match self {
            ToolArguments::Object(map) => serde_json::Value::Object(map.clone()).to_string(),
            ToolArguments::Malformed(text) => text.clone(),
        }
    }

    /// The arguments as a JSON object for wires that want one (Anthropic, Ollama); malformed
    /// text is wrapped so the conversation stays valid.
    pub fn to_object(&self) -> serde_json::Value {
        match self {
            ToolArguments::Object(map) => serde_json::Value::Object(map.clone()),
            ToolArguments::Malformed(text) => serde_json::json!({ "_malformed": text }),
        }
    }
}

/// What a tool call gave, as the model reads it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ToolResult {
    /// The [`ToolCall::id`] it answers.
    pub id: String,
    pub name: String,
    pub content: String,
    /// The call failed or was refused (Anthropic `is_error`; prefixed text on the other wires).
    pub is_error: bool,
}

/// One request to a model, provider-neutral.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelRequest {
    pub system: Option<String>,
    /// User first; a schema re-ask appends the bad assistant reply and a user correction.
    pub messages: Vec<Message>,
    pub max_tokens: u32,
    pub temperature: Option<f64>,
    /// A normalized JSON Schema when the call wants structured output. Providers with a native
    /// mode use it (OpenAI `response_format`, Ollama `format`); the others get it in the prompt
    /// (see [`structured::schema_instruction`]), which the caller adds.
    pub schema: Option<serde_json::Value>,
    /// Tools the model may call (empty: a plain completion).
    pub tools: Vec<ToolDef>,
    /// The tool-call limit is reached: the tools stay declared (Anthropic refuses a history
    /// with tool blocks otherwise) but the model is told to answer without calling them.
    pub tools_off: bool,
}

/// Tokens a request consumed, as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub input: u64,
    pub output: u64,
}

/// A successful reply.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelReply {
    pub text: String,
    /// The tools the model asked for; empty when it answered.
    pub tool_calls: Vec<ToolCall>,
    pub usage: TokenUsage,
    /// The model stopped at `maxTokens` (OpenAI `finish_reason: "length"`, Anthropic
    /// `stop_reason: "max_tokens"`, Ollama `done_reason: "length"`): the text is incomplete.
    pub cut_off: bool,
}

/// A failed request, classified. Messages never contain the API key.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct ProviderError {
    pub kind: ErrorKind,
    pub message: String,
    /// From a `Retry-After` header (seconds or an HTTP date), when the provider sent one.
    pub retry_after: Option<Duration>,
}

/// How the scheduler treats a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// 429.
    RateLimit,
    /// 408, 504, or our own per-call timeout.
    Timeout,
    /// 5xx other than 504, connection refused/reset, a truncated or unreadable body.
    Unavailable,
    /// 401, 403.
    Auth,
    /// The prompt does not fit the model's context window.
    ContextOverflow,
    /// Anything else: a 4xx the request itself caused, a reply we cannot parse.
    Invalid,
}

impl ErrorKind {
    /// Worth another attempt after a back-off.
    pub fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorKind::RateLimit | ErrorKind::Timeout | ErrorKind::Unavailable
        )
    }

    /// The code the script sees.
    pub fn code(self) -> AgentErrorCode {
        match self {
            ErrorKind::RateLimit => AgentErrorCode::RateLimit,
            ErrorKind::Timeout => AgentErrorCode::Timeout,
            ErrorKind::Auth => AgentErrorCode::AuthFailed,
            ErrorKind::ContextOverflow => AgentErrorCode::ContextOverflow,
            ErrorKind::Unavailable | ErrorKind::Invalid => AgentErrorCode::ProviderError,
        }
    }
}

impl ProviderError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        ProviderError {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// Sends one request to whoever answers the route. No retries here.
pub async fn send(
    client: &reqwest::Client,
    route: &Route,
    req: &ModelRequest,
) -> Result<ModelReply, ProviderError> {
    match route.transport {
        Wire::OpenAi => openai::send(client, route, req).await,
        Wire::Anthropic => anthropic::send(client, route, req).await,
        Wire::Ollama => ollama::send(client, route, req).await,
        Wire::Simulated => Ok(simulated::reply(req)),
    }
}

/// The shared HTTP client: rustls with the ring provider, connection pooling, no proxies
/// read from the environment beyond reqwest's defaults.
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        // A redirect to another host would carry `x-api-key` along (reqwest strips only
        // `Authorization`); model APIs do not redirect, so follow none.
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(1024)
        .tcp_nodelay(true)
        .build()
        .expect("building the HTTP client cannot fail with these options")
}
