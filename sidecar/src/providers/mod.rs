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
pub mod structured;

use odw_protocol::AgentErrorCode;
use std::time::Duration;

pub use route::{Route, RouteError, Wire};

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
}

/// One request to a model, provider-neutral.
#[derive(Debug, Clone, PartialEq)]
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
}

/// Tokens a request consumed, as the provider reported them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TokenUsage {
    pub input: u64,
    pub output: u64,
}

/// A successful reply.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelReply {
    pub text: String,
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

/// Sends one request over the route's wire format. No retries here.
pub async fn send(
    client: &reqwest::Client,
    route: &Route,
    req: &ModelRequest,
) -> Result<ModelReply, ProviderError> {
    match route.wire {
        Wire::OpenAi => openai::send(client, route, req).await,
        Wire::Anthropic => anthropic::send(client, route, req).await,
        Wire::Ollama => ollama::send(client, route, req).await,
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
