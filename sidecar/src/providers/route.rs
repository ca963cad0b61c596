//! Routing by model id (protocol.md): `claude-*` → Anthropic; `gpt-*`, `o<digit>*` → OpenAI;
//! `ollama:<model>` → Ollama; `<name>:<model>` with `[providers.<name>]` → that endpoint;
//! anything else → `[providers.default]`.

use crate::config::{Config, Secret};

/// The wire format of an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    OpenAi,
    Anthropic,
    Ollama,
}

/// Where one model id goes.
#[derive(Debug, Clone)]
pub struct Route {
    pub wire: Wire,
    /// The provider's name as configured (`anthropic`, `openai`, `ollama`, or a `[providers.X]`).
    pub provider: String,
    pub base_url: String,
    pub api_key: Option<Secret>,
    /// The model id the provider expects (prefix stripped).
    pub model: String,
    /// The model id as the script wrote it (after alias resolution), for pricing and events.
    pub model_id: String,
}

#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RouteError {
    #[error("no API key for {model}: set {env_var} or [providers.{provider}] api_key in odw.toml")]
    MissingKey {
        model: String,
        provider: String,
        env_var: String,
    },
    #[error(
        "no route for model \"{model}\": use claude-*, gpt-*, o1…, ollama:<model>, <name>:<model> with [providers.<name>] base_url, or set [providers.default] base_url"
    )]
    NoRoute { model: String },
}

/// Resolves a model id (aliases already resolved) to a route. Pure: no network.
pub fn resolve(model_id: &str, config: &Config) -> Result<Route, RouteError> {
    let _ = (model_id, config);
    todo!("implemented by the providers work")
}
