//! Routing by model id (README, "Providers and configuration"): `claude-*` → Anthropic; `gpt-*`, `o<digit>*` → OpenAI;
//! `ollama:<model>` → Ollama; `<name>:<model>` with `[providers.<name>]` → that endpoint;
//! anything else → `[providers.default]`.

use super::spec::{self, ProviderSpec};
use crate::config::{Config, ProviderConfig, Secret};

/// The wire format of an endpoint; each has its [`ProviderSpec`](super::spec::ProviderSpec).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wire {
    OpenAi,
    Anthropic,
    Ollama,
    /// The dry-run provider: no network.
    Simulated,
}

/// Where one model id goes.
#[derive(Debug, Clone)]
pub struct Route {
    /// The wire the request is shaped and priced for.
    pub wire: Wire,
    /// Who answers: `wire` itself, or [`Wire::Simulated`] in a dry run, which keeps `wire` so
    /// its prompts and prices are those of the real run.
    pub transport: Wire,
    /// The provider's name as configured (`anthropic`, `openai`, `ollama`, or a `[providers.X]`).
    pub provider: String,
    pub base_url: String,
    pub api_key: Option<Secret>,
    /// The model id the provider expects (prefix stripped).
    pub model: String,
    /// The model id as the script wrote it (after alias resolution), for pricing and events.
    pub model_id: String,
    /// The largest response body read (`[limits] max_response_mb`).
    pub max_response_bytes: usize,
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
        "no route for model \"{model}\": use {}, <name>:<model> with [providers.<name>] base_url, or set [providers.default] base_url",
        spec::prefix_help()
    )]
    NoRoute { model: String },
    #[error(
        "unknown wire \"{wire}\" in [providers.{provider}]: use {}",
        spec::wire_names()
    )]
    UnknownWire { provider: String, wire: String },
}

/// Resolves a model id (aliases already resolved) to a route. Pure: no network.
pub fn resolve(model_id: &str, config: &Config) -> Result<Route, RouteError> {
    let mut route = resolve_route(model_id, config, true)?;
    route.max_response_bytes = config.limits.max_response_mb.saturating_mul(1 << 20) as usize;
    Ok(route)
}

/// The route of a dry run: the one [`resolve`] gives, answered by the simulated provider. A
/// missing key is no error, since nothing is sent.
pub fn resolve_simulated(model_id: &str, config: &Config) -> Result<Route, RouteError> {
    let mut route = resolve_route(model_id, config, false)?;
    route.transport = Wire::Simulated;
    Ok(route)
}

fn resolve_route(model_id: &str, config: &Config, need_key: bool) -> Result<Route, RouteError> {
    let no_route = || RouteError::NoRoute {
        model: model_id.to_string(),
    };
    if model_id.is_empty() {
        return Err(no_route());
    }
    if let Some((kind, model)) = spec::by_model(model_id) {
        if model.is_empty() {
            return Err(no_route());
        }
        return builtin(model_id, model, kind, config, need_key);
    }
    if let Some((name, model)) = split_named(model_id) {
        if let Some(p) = config.providers.get(name)
            && let Some(base) = p.base_url.as_deref()
        {
            let default_wire =
                spec::by_name(name).map_or(spec::CONFIGURED_DEFAULT_WIRE, |s| s.wire);
            return named(model_id, model, name, base, p, default_wire);
        }
        // `anthropic:claude-…` and `openai:gpt-…` reach the built-in endpoints without a
        // configured base URL; pointing them at `[providers.default]` would surprise everyone.
        if let Some(kind) = spec::by_name(name) {
            return builtin(model_id, model, kind, config, need_key);
        }
    }
    if let Some(p) = config.providers.get("default")
        && let Some(base) = p.base_url.as_deref()
    {
        return named(
            model_id,
            model_id,
            "default",
            base,
            p,
            spec::CONFIGURED_DEFAULT_WIRE,
        );
    }
    Err(no_route())
}

/// `<name>:<model>` where name is `[a-z][a-z0-9_-]*` (any case) and model is non-empty.
fn split_named(id: &str) -> Option<(&str, &str)> {
    let (name, model) = id.split_once(':')?;
    let mut chars = name.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    (first_ok && rest_ok && !model.is_empty()).then_some((name, model))
}

/// A route to a built-in provider, with its default base URL and key rule.
fn builtin(
    model_id: &str,
    model: &str,
    kind: &ProviderSpec,
    config: &Config,
    need_key: bool,
) -> Result<Route, RouteError> {
    let name = kind.name;
    let p = config.providers.get(name);
    let api_key = p.and_then(key_of);
    if let Some(default_var) = kind.key_env
        && api_key.is_none()
        && need_key
    {
        let env_var = p
            .and_then(|p| p.api_key_env.clone())
            .unwrap_or_else(|| default_var.to_string());
        return Err(RouteError::MissingKey {
            model: model_id.to_string(),
            provider: name.to_string(),
            env_var,
        });
    }
    let base = p
        .and_then(|p| p.base_url.as_deref())
        .filter(|b| !b.trim().is_empty())
        .unwrap_or(kind.default_base_url);
    Ok(Route {
        wire: kind.wire,
        transport: kind.wire,
        provider: name.to_string(),
        base_url: trim_base(base),
        api_key,
        model: model.to_string(),
        model_id: model_id.to_string(),
        max_response_bytes: crate::providers::http::DEFAULT_MAX_RESPONSE_BYTES,
    })
}

/// A route to a configured endpoint; its key is optional (local servers rarely want one).
fn named(
    model_id: &str,
    model: &str,
    name: &str,
    base: &str,
    p: &ProviderConfig,
    default_wire: Wire,
) -> Result<Route, RouteError> {
    let wire = match p.wire.as_deref().map(str::trim) {
        None | Some("") => default_wire,
        Some(w) => match spec::by_wire_name(w) {
            Some(kind) => kind.wire,
            None => {
                return Err(RouteError::UnknownWire {
                    provider: name.to_string(),
                    wire: w.to_string(),
                });
            }
        },
    };
    Ok(Route {
        wire,
        transport: wire,
        provider: name.to_string(),
        base_url: trim_base(base),
        api_key: key_of(p),
        model: model.to_string(),
        model_id: model_id.to_string(),
        max_response_bytes: crate::providers::http::DEFAULT_MAX_RESPONSE_BYTES,
    })
}

fn key_of(p: &ProviderConfig) -> Option<Secret> {
    p.api_key.clone().filter(|k| !k.expose().trim().is_empty())
}

fn trim_base(base: &str) -> String {
    base.trim().trim_end_matches('/').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(toml: &str) -> Config {
        Config::from_toml(toml).unwrap()
    }

    const KEYS: &str = "[providers.anthropic]\napi_key = \"sk-ant-1\"\n[providers.openai]\napi_key = \"sk-oai-1\"\n";

    #[test]
    fn claude_goes_to_anthropic_with_default_base() {
        let r = resolve("claude-sonnet-4-6", &config(KEYS)).unwrap();
        assert_eq!(r.wire, Wire::Anthropic);
        assert_eq!(r.provider, "anthropic");
        assert_eq!(r.base_url, "https://api.anthropic.com");
        assert_eq!(r.model, "claude-sonnet-4-6");
        assert_eq!(r.model_id, "claude-sonnet-4-6");
        assert_eq!(r.api_key.unwrap().expose(), "sk-ant-1");
    }

    #[test]
    fn claude_uses_configured_base_without_trailing_slash() {
        let c =
            config("[providers.anthropic]\napi_key = \"k\"\nbase_url = \"http://127.0.0.1:9/\"\n");
        assert_eq!(
            resolve("claude-x", &c).unwrap().base_url,
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn claude_without_key_names_the_variable() {
        let err = resolve("claude-sonnet-4-6", &Config::default()).unwrap_err();
        assert_eq!(
            err,
            RouteError::MissingKey {
                model: "claude-sonnet-4-6".into(),
                provider: "anthropic".into(),
                env_var: "ANTHROPIC_API_KEY".into(),
            }
        );
        assert!(err.to_string().contains("set ANTHROPIC_API_KEY"), "{err}");
        // An empty key is no key.
        let c = config("[providers.anthropic]\napi_key = \"\"\n");
        assert!(matches!(
            resolve("claude-x", &c),
            Err(RouteError::MissingKey { .. })
        ));
    }

    #[test]
    fn missing_key_names_a_configured_key_variable() {
        let c = config("[providers.openai]\napi_key_env = \"MY_OPENAI\"\n");
        match resolve("gpt-5", &c).unwrap_err() {
            RouteError::MissingKey { env_var, .. } => assert_eq!(env_var, "MY_OPENAI"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn gpt_and_o_series_go_to_openai() {
        let c = config(KEYS);
        for id in ["gpt-5", "gpt-4.1-mini", "o3", "o4-mini", "o1-preview"] {
            let r = resolve(id, &c).unwrap();
            assert_eq!(r.wire, Wire::OpenAi, "{id}");
            assert_eq!(r.base_url, "https://api.openai.com/v1");
            assert_eq!(r.model, id);
        }
        let err = resolve("gpt-5", &Config::default()).unwrap_err();
        assert!(err.to_string().contains("OPENAI_API_KEY"), "{err}");
    }

    #[test]
    fn o_without_digit_is_not_openai() {
        assert!(matches!(
            resolve("omni", &config(KEYS)),
            Err(RouteError::NoRoute { .. })
        ));
    }

    #[test]
    fn ollama_prefixes_strip_and_need_no_key() {
        for id in ["ollama:qwen2.5:7b", "ollama/qwen2.5:7b"] {
            let r = resolve(id, &Config::default()).unwrap();
            assert_eq!(r.wire, Wire::Ollama);
            assert_eq!(r.base_url, "http://localhost:11434");
            assert_eq!(r.model, "qwen2.5:7b");
            assert_eq!(r.model_id, id);
            assert!(r.api_key.is_none());
        }
        let c = config("[providers.ollama]\nbase_url = \"http://127.0.0.1:5/\"\n");
        assert_eq!(
            resolve("ollama:x", &c).unwrap().base_url,
            "http://127.0.0.1:5"
        );
        assert!(matches!(
            resolve("ollama:", &Config::default()),
            Err(RouteError::NoRoute { .. })
        ));
    }

    #[test]
    fn named_endpoint_defaults_to_openai_wire_and_optional_key() {
        let c = config("[providers.vllm]\nbase_url = \"http://127.0.0.1:8000/v1/\"\n");
        let r = resolve("vllm:meta/llama-3.1-8b", &c).unwrap();
        assert_eq!(r.wire, Wire::OpenAi);
        assert_eq!(r.provider, "vllm");
        assert_eq!(r.base_url, "http://127.0.0.1:8000/v1");
        assert_eq!(r.model, "meta/llama-3.1-8b");
        assert_eq!(r.model_id, "vllm:meta/llama-3.1-8b");
        assert!(r.api_key.is_none());
    }

    #[test]
    fn named_endpoint_wire_and_key() {
        let c = config(
            "[providers.proxy]\nbase_url = \"http://127.0.0.1:1\"\nwire = \"anthropic\"\napi_key = \"pk\"\n\
             [providers.box]\nbase_url = \"http://127.0.0.1:2\"\nwire = \"ollama\"\n\
             [providers.bad]\nbase_url = \"http://127.0.0.1:3\"\nwire = \"gemini\"\n",
        );
        let r = resolve("proxy:claude-sonnet-4-6", &c).unwrap();
        assert_eq!(r.wire, Wire::Anthropic);
        assert_eq!(r.api_key.unwrap().expose(), "pk");
        assert_eq!(resolve("box:llama3", &c).unwrap().wire, Wire::Ollama);
        assert_eq!(
            resolve("bad:x", &c).unwrap_err(),
            RouteError::UnknownWire {
                provider: "bad".into(),
                wire: "gemini".into()
            }
        );
    }

    #[test]
    fn named_prefix_without_base_url_falls_through() {
        let c = config("[providers.nobase]\napi_key = \"k\"\n");
        assert!(matches!(
            resolve("nobase:x", &c),
            Err(RouteError::NoRoute { .. })
        ));
        let c = config(
            "[providers.nobase]\napi_key = \"k\"\n[providers.default]\nbase_url = \"http://127.0.0.1:4\"\n",
        );
        let r = resolve("nobase:x", &c).unwrap();
        assert_eq!(r.provider, "default");
        assert_eq!(r.model, "nobase:x");
    }

    #[test]
    fn builtin_names_as_prefix_use_builtin_endpoints() {
        let c = config(KEYS);
        let r = resolve("anthropic:claude-opus-4-7", &c).unwrap();
        assert_eq!(r.wire, Wire::Anthropic);
        assert_eq!(r.base_url, "https://api.anthropic.com");
        assert_eq!(r.model, "claude-opus-4-7");
        let r = resolve("openai:gpt-4o", &c).unwrap();
        assert_eq!(r.wire, Wire::OpenAi);
        assert_eq!(r.model, "gpt-4o");
        let c =
            config("[providers.anthropic]\nbase_url = \"http://127.0.0.1:7\"\napi_key = \"k\"\n");
        let r = resolve("anthropic:claude-x", &c).unwrap();
        assert_eq!(r.wire, Wire::Anthropic, "a built-in name keeps its wire");
        assert_eq!(r.base_url, "http://127.0.0.1:7");
    }

    #[test]
    fn anything_else_goes_to_default_or_fails() {
        let c = config("[providers.default]\nbase_url = \"http://127.0.0.1:6/v1/\"\n");
        let r = resolve("mistral-large", &c).unwrap();
        assert_eq!(r.wire, Wire::OpenAi);
        assert_eq!(r.provider, "default");
        assert_eq!(r.base_url, "http://127.0.0.1:6/v1");
        assert_eq!(r.model, "mistral-large");
        let err = resolve("mistral-large", &Config::default()).unwrap_err();
        assert_eq!(
            err,
            RouteError::NoRoute {
                model: "mistral-large".into()
            }
        );
        assert!(err.to_string().contains("[providers.default]"));
        assert!(resolve("", &c).is_err());
    }

    #[test]
    fn dry_runs_are_simulated_and_need_no_key() {
        let r = resolve_simulated("claude-sonnet-4-6", &Config::default()).unwrap();
        assert_eq!(r.transport, Wire::Simulated);
        assert_eq!(r.wire, Wire::Anthropic, "shaped and priced as the real run");
        assert_eq!(r.base_url, "https://api.anthropic.com");
        assert!(r.api_key.is_none());
        assert_eq!(
            resolve("gpt-5", &config(KEYS)).unwrap().transport,
            Wire::OpenAi
        );
        assert!(matches!(
            resolve_simulated("mistral-large", &Config::default()),
            Err(RouteError::NoRoute { .. })
        ));
    }

    #[test]
    fn routes_never_print_the_key() {
        let r = resolve("claude-x", &config(KEYS)).unwrap();
        assert!(!format!("{r:?}").contains("sk-ant-1"));
    }
}
