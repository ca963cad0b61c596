//! The HTTP plumbing the three wire formats share — the POST, `Retry-After`, status
//! classification, key scrubbing — so that every provider fails the same way.

use super::route::{Route, Wire};
use super::spec::{self, Auth};
use super::{ErrorKind, ModelReply, ProviderError};
use crate::config::Secret;
use serde_json::Value;
use std::time::{Duration, SystemTime};

/// Messages in the OpenAI/Ollama shape: the system prompt first, then the conversation.
pub(crate) fn chat_messages(req: &super::ModelRequest, dialect: ChatDialect) -> Vec<Value> {
    use serde_json::json;
    let mut messages = Vec::with_capacity(req.messages.len() + 1);
    if let Some(system) = req.system.as_deref().filter(|s| !s.is_empty()) {
        messages.push(json!({"role": "system", "content": system}));
    }
    for m in &req.messages {
        // Tool results answer the previous assistant turn: they come first, one message each.
        for r in &m.tool_results {
            let content = tool_result_text(r);
            messages.push(match dialect {
                ChatDialect::OpenAi => {
                    json!({"role": "tool", "tool_call_id": r.id, "content": content})
                }
                ChatDialect::Ollama => {
                    json!({"role": "tool", "tool_name": r.name, "content": content})
                }
            });
        }
        match m.role {
            super::Role::User if m.content.is_empty() && !m.tool_results.is_empty() => {}
            super::Role::User => messages.push(json!({"role": "user", "content": m.content})),
            super::Role::Assistant if m.tool_calls.is_empty() => {
                messages.push(json!({"role": "assistant", "content": m.content}))
            }
            super::Role::Assistant => {
                let calls: Vec<Value> = m
                    .tool_calls
                    .iter()
                    .map(|c| match dialect {
                        ChatDialect::OpenAi => json!({
                            "id": c.id,
                            "type": "function",
                            "function": {"name": c.name, "arguments": c.arguments.to_json_text()},
                        }),
                        ChatDialect::Ollama => json!({
                            "function": {"name": c.name, "arguments": c.arguments.to_object()},
                        }),
                    })
                    .collect();
                let content = if m.content.is_empty() && dialect == ChatDialect::OpenAi {
                    Value::Null
                } else {
                    Value::String(m.content.clone())
                };
                messages
                    .push(json!({"role": "assistant", "content": content, "tool_calls": calls}));
            }
        }
    }
    messages
}

/// Which flavour of the chat-messages format: they differ only in how tool turns look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ChatDialect {
    OpenAi,
    Ollama,
}

/// A tool result as text, for wires without an error flag.
pub(crate) fn tool_result_text(r: &super::ToolResult) -> String {
    if r.is_error {
        format!("error: {}", r.content)
    } else {
        r.content.clone()
    }
}

/// The `tools` array of the OpenAI and Ollama wires.
pub(crate) fn function_tools(req: &super::ModelRequest) -> Vec<Value> {
    req.tools
        .iter()
        .map(|t| {
            serde_json::json!({
                "type": "function",
                "function": {"name": t.name, "description": t.description, "parameters": t.parameters},
            })
        })
        .collect()
}

/// Tool calls of an OpenAI or Ollama `message.tool_calls`; ids synthesised where missing.
pub(crate) fn function_calls(message: &Value) -> Result<Vec<super::ToolCall>, String> {
    let Some(calls) = message.get("tool_calls") else {
        return Ok(Vec::new());
    };
    let Some(calls) = calls.as_array() else {
        return if calls.is_null() {
            Ok(Vec::new())
        } else {
            Err(format!("tool_calls is {calls}, not an array"))
        };
    };
    calls
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let function = c.get("function").ok_or("a tool call without `function`")?;
            let name = function
                .get("name")
                .and_then(Value::as_str)
                .ok_or("a tool call without a function name")?;
            let id = c
                .get("id")
                .and_then(Value::as_str)
                .filter(|id| !id.is_empty())
                .map_or_else(|| format!("call_{i}"), str::to_string);
            Ok(super::ToolCall {
                id,
                name: name.to_string(),
                arguments: super::ToolArguments::from_value(function.get("arguments")),
            })
        })
        .collect()
}

/// POSTs `body` to `url` with `headers` and the route's key, sent the way its wire wants.
pub(crate) async fn post_authed(
    client: &reqwest::Client,
    route: &Route,
    url: &str,
    headers: &[(&'static str, &str, bool)],
    body: &serde_json::Value,
) -> Result<RawResponse, ProviderError> {
    let mut headers = headers.to_vec();
    let bearer;
    match (route.wire.spec().auth, &route.api_key) {
        (Auth::XApiKey, Some(k)) => headers.push(("x-api-key", k.expose(), true)),
        (Auth::Bearer, Some(k)) => {
            bearer = format!("Bearer {}", k.expose());
            headers.push(("authorization", bearer.as_str(), true));
        }
        _ => {}
    }
    post_json(client, route, url, &headers, body).await
}

/// `[limits] max_response_mb` unless configured: 32 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 32 << 20;

/// What came back from one POST, before the wire format reads it.
pub(crate) struct RawResponse {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// POSTs `body` as JSON to `url` with `headers` (name, value, whether the value is a secret),
/// reading the whole response. Transport failures come back classified; HTTP statuses are left
/// to the wire format's `parse_response`.
pub(crate) async fn post_json(
    client: &reqwest::Client,
    route: &Route,
    url: &str,
    headers: &[(&'static str, &str, bool)],
    body: &serde_json::Value,
) -> Result<RawResponse, ProviderError> {
    let mut request = client.post(url).json(body);
    for &(name, value, sensitive) in headers {
        let mut value = reqwest::header::HeaderValue::from_str(value).map_err(|_| {
            ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "{}: the {name} header value is not valid (check the API key for stray characters)",
                    route.provider
                ),
            )
        })?;
        // Keeps the key out of any `Debug` output of the request.
        value.set_sensitive(sensitive);
        request = request.header(name, value);
    }
    let response = request
        .send()
        .await
        .map_err(|e| transport_error(route, &e))?;
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers(), SystemTime::now());
    // Read in chunks up to the cap: a misbehaving endpoint must not fill the memory.
    let mut response = response;
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| transport_error(route, &e))?
    {
        if body.len() + chunk.len() > route.max_response_bytes {
            return Err(ProviderError::new(
                ErrorKind::Invalid,
                format!(
                    "{} sent a response larger than {} MiB (HTTP {status}); raise [limits] \
                     max_response_mb if it is expected",
                    route.provider,
                    route.max_response_bytes >> 20
                ),
            ));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(RawResponse {
        status,
        retry_after,
        body,
    })
}

/// Classifies a reqwest failure: timeouts are `Timeout`, a request we could not even build is
/// `Invalid`, and everything else on the way (refused, reset, truncated body) is `Unavailable`.
fn transport_error(route: &Route, e: &reqwest::Error) -> ProviderError {
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !detail.contains(&text) {
            detail.push_str(": ");
            detail.push_str(&text);
        }
        source = s.source();
    }
    let detail = scrub(&detail, route.api_key.as_ref());
    let (kind, what) = if e.is_timeout() {
        (ErrorKind::Timeout, "timed out")
    } else if e.is_builder() {
        (ErrorKind::Invalid, "request could not be built")
    } else if e.is_body() || e.is_decode() {
        (ErrorKind::Unavailable, "response body could not be read")
    } else if e.is_connect() {
        (ErrorKind::Unavailable, "connection failed")
    } else {
        (ErrorKind::Unavailable, "request failed")
    };
    ProviderError::new(kind, format!("{} {what}: {detail}", route.provider))
}

/// `Retry-After` in seconds or as an HTTP date; OpenAI's `retry-after-ms` when present wins,
/// being the more precise of the two.
pub(crate) fn retry_after(
    headers: &reqwest::header::HeaderMap,
    now: SystemTime,
) -> Option<Duration> {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = header("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    parse_retry_after(header("retry-after")?, now)
}

/// One `Retry-After` value: delta-seconds (fractions tolerated) or an HTTP date.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Phrases providers use when the prompt does not fit the context window.
const OVERFLOW_PHRASES: &[&str] = &[
    "context_length_exceeded",
    "context length",
    "context window",
    "context_window",
    "prompt is too long",
    "maximum context length",
    "too many tokens",
    "exceed context limit",
    "exceeds the context",
    "exceeds the available context",
    "exceed_context_size",
    "input is too long",
    "input length",
    "reduce the length",
    "request_too_large",
    "string_above_max_length",
    "maximum number of tokens",
];

/// Turns a non-2xx response into a classified error whose message quotes the body (scrubbed of
/// the key, cut to 300 characters).
pub(crate) fn classify_status(
    route: &Route,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> ProviderError {
    let text = body_excerpt(route, body, 300);
    let provider = &route.provider;
    // OpenAI answers an exhausted account with 429 too; waiting does not refill it.
    let out_of_credit =
        status == 429 && String::from_utf8_lossy(body).contains("insufficient_quota");
    let kind = match status {
        429 if out_of_credit => ErrorKind::Invalid,
        429 => ErrorKind::RateLimit,
        408 | 504 => ErrorKind::Timeout,
        500.. => ErrorKind::Unavailable,
        401 | 403 => ErrorKind::Auth,
        400 | 413 if mentions_overflow(body) => ErrorKind::ContextOverflow,
        _ => ErrorKind::Invalid,
    };
    let message = match kind {
        ErrorKind::Auth => format!(
            "{provider} rejected the API key (HTTP {status}): {}; provider said: {text}",
            key_hint(route)
        ),
        _ if route.wire == Wire::Ollama && status == 404 && text.contains("not found") => {
            format!(
                "{provider} HTTP {status}: {text} (pull it first: `ollama pull {}`)",
                route.model
            )
        }
        _ if out_of_credit => format!(
            "{provider} HTTP {status}: the account has no credit left (retrying will not help): {text}"
        ),
        _ => format!("{provider} HTTP {status}: {text}"),
    };
    ProviderError {
        kind,
        message,
        retry_after: retry_after.filter(|_| kind.is_transient()),
    }
}

fn mentions_overflow(body: &[u8]) -> bool {
    let lower = String::from_utf8_lossy(body).to_lowercase();
    OVERFLOW_PHRASES.iter().any(|p| lower.contains(p))
}

/// What to check after a 401/403, naming the variable without ever showing its value.
fn key_hint(route: &Route) -> String {
    let name = &route.provider;
    match (spec::by_name(name).and_then(|s| s.key_env), &route.api_key) {
        (Some(var), _) => format!("check {var} or [providers.{name}] api_key"),
        (None, None) => format!("no key was sent; set [providers.{name}] api_key or api_key_env"),
        (None, Some(_)) => format!("check [providers.{name}] api_key or api_key_env"),
    }
}

/// The error of a 2xx body we cannot read. Retried: proxies and overloaded servers produce these.
pub(crate) fn malformed(route: &Route, why: &str, body: &[u8]) -> ProviderError {
    ProviderError::new(
        ErrorKind::Unavailable,
        format!(
            "malformed response from {}: {why}; body: {}",
            route.provider,
            body_excerpt(route, body, 300)
        ),
    )
}

/// Parses a 2xx body as JSON and hands it to `read`, or classifies the failure.
pub(crate) fn parse_with(
    route: &Route,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
    read: impl FnOnce(&serde_json::Value) -> Result<ModelReply, String>,
) -> Result<ModelReply, ProviderError> {
    if !(200..300).contains(&status) {
        return Err(classify_status(route, status, retry_after, body));
    }
    let json: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| malformed(route, &format!("not JSON ({e})"), body))?;
    read(&json).map_err(|why| malformed(route, &why, body))
}

/// The body as one line of at most `max` characters, with the key scrubbed before cutting so a
/// cut cannot leave a prefix of it behind.
fn body_excerpt(route: &Route, body: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(body);
    let text = scrub(&text, route.api_key.as_ref());
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.is_empty() {
        return "(empty body)".to_string();
    }
    match one_line.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &one_line[..cut]),
        None => one_line,
    }
}

/// Removes the key from `text`: the whole key, and any word that shows part of it, the way
/// providers echo a rejected key (`Incorrect API key provided: sk-odw-T**********4242`). A word
/// is redacted when it holds a run of masking stars or `…`, or shares a 4-character prefix or
/// suffix with the key. Keys too short to be real (test placeholders) are left alone rather
/// than starring out ordinary words.
pub(crate) fn scrub(text: &str, key: Option<&Secret>) -> String {
    let Some(key) = key.map(Secret::expose).filter(|k| k.len() >= 8) else {
        return text.to_string();
    };
    let text = text.replace(key, "***");
    let is_key_char =
        |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '*' | '.' | '…');
    let shows_part = |word: &str| {
        let bare = word.trim_matches(|c| c == '.' || c == '…');
        if bare.len() < 4 || bare == "***" {
            return false;
        }
        let masked = word.contains("***") || word.contains('…') || word.contains("...");
        let head: String = bare
            .chars()
            .take_while(|c| *c != '*' && *c != '.')
            .collect();
        let tail: String = {
            let t: Vec<char> = bare
                .chars()
                .rev()
                .take_while(|c| *c != '*' && *c != '.')
                .collect();
            t.into_iter().rev().collect()
        };
        let prefix = head.len() >= 4 && key.starts_with(&head);
        let suffix = tail.len() >= 4 && key.ends_with(&tail);
        (masked && (prefix || suffix)) || (head.len() >= 8 && prefix) || (tail.len() >= 8 && suffix)
    };
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    for c in text.chars().chain(std::iter::once('\0')) {
        if c != '\0' && is_key_char(c) {
            word.push(c);
            continue;
        }
        if shows_part(&word) {
            out.push_str("[redacted]");
        } else {
            out.push_str(&word);
        }
        word.clear();
        if c != '\0' {
            out.push(c);
        }
    }
    out
}

/// A JSON token count that may be missing or null; missing counts as zero.
pub(crate) fn count(v: &serde_json::Value, key: &str) -> u64 {
    v.get(key).and_then(serde_json::Value::as_u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_part_of_a_key_survives_scrubbing() {
        let key = Secret::new("sk-odw-TOPSECRET-4242");
        let k = Some(&key);
        for echoed in [
            "Incorrect API key provided: sk-odw-T**********4242. You can find…",
            "invalid x-api-key sk-odw-TOPSECRET-4242",
            "key sk-odw-TOPS... rejected",
            "key ...ET-4242 rejected",
            "key sk-odw-TOPSECR rejected",
        ] {
            let s = scrub(echoed, k);
            assert!(!s.contains("4242") && !s.contains("TOPS"), "{echoed} → {s}");
        }
        // Ordinary words stay.
        assert_eq!(
            scrub("model not found: gpt-5. Check the key.", k),
            "model not found: gpt-5. Check the key."
        );
    }

    fn route_with_key(key: Option<&str>, provider: &str) -> Route {
        Route {
            wire: Wire::OpenAi,
            transport: Wire::OpenAi,
            provider: provider.into(),
            base_url: "http://127.0.0.1:1".into(),
            api_key: key.map(Secret::new),
            model: "m".into(),
            model_id: "m".into(),
            max_response_bytes: crate::providers::http::DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    #[test]
    fn statuses_are_classified() {
        let r = route_with_key(Some("sk-secret-123"), "openai");
        let kind = |s: u16, b: &str| classify_status(&r, s, None, b.as_bytes()).kind;
        assert_eq!(kind(429, ""), ErrorKind::RateLimit);
        assert_eq!(
            kind(429, r#"{"error":{"code":"insufficient_quota"}}"#),
            ErrorKind::Invalid
        );
        assert_eq!(kind(408, ""), ErrorKind::Timeout);
        assert_eq!(kind(504, ""), ErrorKind::Timeout);
        assert_eq!(kind(500, ""), ErrorKind::Unavailable);
        assert_eq!(kind(503, ""), ErrorKind::Unavailable);
        assert_eq!(kind(529, ""), ErrorKind::Unavailable);
        assert_eq!(kind(401, ""), ErrorKind::Auth);
        assert_eq!(kind(403, ""), ErrorKind::Auth);
        assert_eq!(kind(400, "bad temperature"), ErrorKind::Invalid);
        assert_eq!(kind(404, "no such model"), ErrorKind::Invalid);
        assert_eq!(kind(413, "too big"), ErrorKind::Invalid);
        for body in [
            r#"{"error":{"code":"context_length_exceeded"}}"#,
            r#"{"error":{"message":"prompt is too long: 210000 tokens > 200000 maximum"}}"#,
            "This model's maximum context length is 8192 tokens",
            "Too many tokens in request",
            r#"{"type":"request_too_large"}"#,
        ] {
            assert_eq!(kind(400, body), ErrorKind::ContextOverflow, "{body}");
        }
        assert_eq!(kind(413, "prompt is too long"), ErrorKind::ContextOverflow);
        assert_eq!(kind(422, "prompt is too long"), ErrorKind::Invalid);
    }

    #[test]
    fn retry_after_is_kept_only_for_transient_errors() {
        let r = route_with_key(None, "openai");
        let d = Some(Duration::from_secs(7));
        assert_eq!(classify_status(&r, 429, d, b"").retry_after, d);
        assert_eq!(classify_status(&r, 503, d, b"").retry_after, d);
        assert_eq!(classify_status(&r, 400, d, b"").retry_after, None);
    }

    #[test]
    fn messages_quote_the_body_cut_and_scrubbed() {
        let r = route_with_key(Some("sk-secret-123"), "vllm");
        let body = format!("bad key sk-secret-123 {}", "x".repeat(500));
        let e = classify_status(&r, 500, None, body.as_bytes());
        assert!(
            e.message.starts_with("vllm HTTP 500: bad key *** xxx"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("sk-secret"));
        assert!(e.message.chars().count() < 330, "{}", e.message);
        // A key straddling the 300-character cut leaves no prefix behind.
        let body = format!("{}sk-secret-123", "y".repeat(295));
        let e = classify_status(&r, 500, None, body.as_bytes());
        assert!(!e.message.contains("sk-se"), "{}", e.message);
    }

    #[test]
    fn auth_errors_say_what_to_check_without_the_key() {
        let r = route_with_key(Some("sk-ant-SECRET"), "anthropic");
        let e = classify_status(
            &r,
            401,
            None,
            br#"{"error":{"message":"invalid x-api-key sk-ant-SECRET"}}"#,
        );
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(
            e.message
                .starts_with("anthropic rejected the API key (HTTP 401): check ANTHROPIC_API_KEY"),
            "{}",
            e.message
        );
        assert!(!e.message.contains("SECRET"));
        let e = classify_status(&route_with_key(None, "lab"), 401, None, b"");
        assert!(
            e.message.contains("[providers.lab] api_key"),
            "{}",
            e.message
        );
    }

    #[test]
    fn malformed_bodies_are_unavailable() {
        let r = route_with_key(None, "openai");
        let e = parse_with(&r, 200, None, b"<html>", |_| unreachable!()).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(
            e.message
                .starts_with("malformed response from openai: not JSON"),
            "{}",
            e.message
        );
        let e = parse_with(&r, 200, None, b"{}", |_| Err("no choices".into())).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(e.message.contains("no choices; body: {}"), "{}", e.message);
    }

    #[test]
    fn retry_after_parses_seconds_dates_and_ms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        assert_eq!(parse_retry_after("12", now), Some(Duration::from_secs(12)));
        assert_eq!(
            parse_retry_after(" 1.5 ", now),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_retry_after("-3", now), None);
        assert_eq!(parse_retry_after("soon", now), None);
        let later = httpdate::fmt_http_date(now + Duration::from_secs(30));
        assert_eq!(
            parse_retry_after(&later, now),
            Some(Duration::from_secs(30))
        );
        let earlier = httpdate::fmt_http_date(now - Duration::from_secs(30));
        assert_eq!(parse_retry_after(&earlier, now), Some(Duration::ZERO));

        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", "20".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(20)));
        h.insert("retry-after-ms", "250".parse().unwrap());
        assert_eq!(retry_after(&h, now), Some(Duration::from_millis(250)));
        assert_eq!(retry_after(&reqwest::header::HeaderMap::new(), now), None);
    }
}

/// Every wire against the loopback test provider: routing, request shape, replies, and faults.
#[cfg(test)]
mod interop_tests {
    use super::*;
    use crate::config::Config;
    use crate::providers::route::resolve;
    use crate::providers::structured::{normalize_schema, schema_instruction, validate};
    use crate::providers::{Message, ModelRequest, send};
    use odw_test_provider::{ProviderOptions, TestProvider};

    const KEY: &str = "sk-interop-SECRET-42";

    fn config(base: &str) -> Config {
        Config::from_toml(&format!(
            "[providers.anthropic]\nbase_url = \"{base}\"\napi_key = \"{KEY}\"\n\
             [providers.openai]\nbase_url = \"{base}/v1/\"\napi_key = \"{KEY}\"\n\
             [providers.ollama]\nbase_url = \"{base}\"\n"
        ))
        .unwrap()
    }

    fn ask(prompt: &str, schema: Option<&serde_json::Value>, wire: Wire) -> ModelRequest {
        let mut prompt = prompt.to_string();
        if let Some(s) = schema
            && wire.spec().structured == spec::Structured::PromptInstruction
        {
            prompt = format!("{prompt}\n\n{}", schema_instruction(s));
        }
        ModelRequest {
            system: Some("sys".into()),
            messages: vec![Message::user(prompt)],
            max_tokens: 128,
            temperature: Some(0.0),
            schema: schema.cloned(),
            ..ModelRequest::default()
        }
    }

    #[tokio::test]
    async fn all_wires_round_trip_and_classify_faults() {
        let provider = TestProvider::start(ProviderOptions::new().require_key(KEY)).await;
        let config = config(&provider.base_url());
        let client = crate::providers::http_client();
        let schema =
            normalize_schema(&serde_json::json!({"title": "string", "n": "integer"})).unwrap();
        for id in ["claude-sonnet-4-6", "gpt-4.1-mini", "ollama:qwen3"] {
            let route = resolve(id, &config).unwrap();

            let reply = send(&client, &route, &ask("hello", None, route.wire))
                .await
                .unwrap();
            assert!(reply.text.contains("hello"), "{id}: {}", reply.text);
            assert!(reply.usage.input > 0 && reply.usage.output > 0, "{id}");

            let req = ask("give me json", Some(&schema), route.wire);
            let reply = send(&client, &route, &req).await.unwrap();
            let value: serde_json::Value = serde_json::from_str(&reply.text).unwrap();
            assert_eq!(validate(&schema, &value), Ok(()), "{id}: {value}");

            let fault = |p: &str| ask(p, None, route.wire);
            let e = send(&client, &route, &fault("[[fail:429]] a"))
                .await
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::RateLimit, "{id}: {}", e.message);
            assert_eq!(e.retry_after, Some(Duration::from_secs(1)), "{id}");
            let e = send(&client, &route, &fault("[[fail:503]] b"))
                .await
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::Unavailable, "{id}: {}", e.message);
            let e = send(&client, &route, &fault("[[malformed]] c"))
                .await
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::Unavailable, "{id}: {}", e.message);
            let e = send(&client, &route, &fault("[[truncated]] d"))
                .await
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::Unavailable, "{id}: {}", e.message);
            if route.wire.spec().key_env.is_some() {
                let e = send(&client, &route, &fault("[[fail:401]] e"))
                    .await
                    .unwrap_err();
                assert_eq!(e.kind, ErrorKind::Auth, "{id}: {}", e.message);
                assert!(!e.message.contains("SECRET"), "{id}: {}", e.message);
            }
        }
    }

    #[tokio::test]
    async fn a_wrong_key_is_never_echoed() {
        let provider =
            TestProvider::start(ProviderOptions::new().require_key("the-right-key")).await;
        let config = config(&provider.base_url());
        let client = crate::providers::http_client();
        for id in ["claude-haiku-4-5", "gpt-5"] {
            let route = resolve(id, &config).unwrap();
            let e = send(&client, &route, &ask("hi", None, route.wire))
                .await
                .unwrap_err();
            assert_eq!(e.kind, ErrorKind::Auth, "{id}: {}", e.message);
            assert!(!e.message.contains(KEY), "{id}: {}", e.message);
            assert!(!format!("{e:?}").contains(KEY), "{id}");
        }
    }
}
