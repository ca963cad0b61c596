//! The openai wire format: Chat Completions, non-streaming. Also spoken by most self-hosted
//! servers (vLLM, llama.cpp, LM Studio) and by gateways, so it reads replies leniently.

use super::http;
use super::spec;
use super::{ModelReply, ModelRequest, ProviderError, Route};
use serde_json::{Value, json};
use std::time::Duration;

/// Sends one request.
pub async fn send(
    client: &reqwest::Client,
    route: &Route,
    req: &ModelRequest,
) -> Result<ModelReply, ProviderError> {
    let url = format!("{}/chat/completions", route.base_url);
    let raw = http::post_authed(client, route, &url, &[], &build_body(route, req)).await?;
    parse_response(route, raw.status, raw.retry_after, &raw.body)
}

/// The request body.
pub fn build_body(route: &Route, req: &ModelRequest) -> Value {
    let messages = http::chat_messages(req, http::ChatDialect::OpenAi);
    let mut body = json!({"model": route.model, "messages": messages});
    if !req.tools.is_empty() {
        body["tools"] = json!(http::function_tools(req));
        if req.tools_off {
            body["tool_choice"] = json!("none");
        }
    }
    // Reasoning models reject `max_tokens`; older and compatible servers only know it.
    let max_key = if uses_max_completion_tokens(&route.model) {
        "max_completion_tokens"
    } else {
        "max_tokens"
    };
    body[max_key] = json!(req.max_tokens);
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(schema) = &req.schema {
        // Not strict: strict mode rejects common schemas (optional properties, open objects),
        // and we validate the reply ourselves anyway.
        body["response_format"] = json!({
            "type": "json_schema",
            "json_schema": {"name": "output", "schema": schema, "strict": false},
        });
    }
    body
}

/// `^(o\d|gpt-5|gpt-4\.1)`.
fn uses_max_completion_tokens(model: &str) -> bool {
    let b = model.as_bytes();
    (b.len() >= 2 && b[0] == b'o' && b[1].is_ascii_digit())
        || model.starts_with("gpt-5")
        || model.starts_with("gpt-4.1")
}

/// Reads a response: the reply on 2xx, a classified error otherwise.
pub fn parse_response(
    route: &Route,
    status: u16,
    retry_after: Option<Duration>,
    body: &[u8],
) -> Result<ModelReply, ProviderError> {
    http::parse_with(route, status, retry_after, body, read_reply)
}

fn read_reply(json: &Value) -> Result<ModelReply, String> {
    let message = json
        .get("choices")
        .and_then(|c| c.get(0))
        .and_then(|c| c.get("message"))
        .ok_or("no choices[0].message")?;
    let text = match message.get("content") {
        Some(Value::String(s)) => s.clone(),
        // Some servers send content as parts, like the request side allows.
        Some(Value::Array(parts)) => parts
            .iter()
            .filter_map(|p| p.get("text").and_then(Value::as_str))
            .collect(),
        // A reasoning model that spent its whole budget thinking answers with null content.
        Some(Value::Null) | None => match message.get("refusal").and_then(Value::as_str) {
            Some(refusal) => return Err(format!("the model refused: {refusal}")),
            // A turn that only calls tools has null content too.
            None => String::new(),
        },
        Some(other) => return Err(format!("content is {other}, not text")),
    };
    let finish = json
        .pointer("/choices/0/finish_reason")
        .and_then(Value::as_str);
    Ok(ModelReply {
        cut_off: finish == Some("length"),
        tool_calls: http::function_calls(message)?,
        text,
        usage: spec::OPENAI.usage.read(json),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::providers::{ErrorKind, Message, TokenUsage, Wire};
    use odw_test_provider::raw::{http, serve};

    fn route(model: &str, key: Option<&str>) -> Route {
        Route {
            wire: Wire::OpenAi,
            transport: Wire::OpenAi,
            provider: "openai".into(),
            base_url: "https://api.openai.com/v1".into(),
            api_key: key.map(Secret::new),
            model: model.into(),
            model_id: model.into(),
            max_response_bytes: crate::providers::http::DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    fn request() -> ModelRequest {
        ModelRequest {
            system: Some("be brief".into()),
            messages: vec![
                Message::user("hi"),
                Message::assistant("{"),
                Message::user("fix it"),
            ],
            max_tokens: 100,
            temperature: None,
            schema: None,
            ..ModelRequest::default()
        }
    }

    #[test]
    fn body_puts_system_first_and_uses_max_tokens() {
        let body = build_body(&route("gpt-4o", None), &request());
        assert_eq!(
            body,
            json!({
                "model": "gpt-4o",
                "messages": [
                    {"role": "system", "content": "be brief"},
                    {"role": "user", "content": "hi"},
                    {"role": "assistant", "content": "{"},
                    {"role": "user", "content": "fix it"},
                ],
                "max_tokens": 100,
            })
        );
    }

    #[test]
    fn newer_models_use_max_completion_tokens() {
        for m in ["o3", "o4-mini", "gpt-5-mini", "gpt-4.1-nano"] {
            let body = build_body(&route(m, None), &request());
            assert_eq!(body["max_completion_tokens"], 100, "{m}");
            assert!(body.get("max_tokens").is_none(), "{m}");
        }
        for m in ["gpt-4o", "gpt-4", "omni", "llama3"] {
            let body = build_body(&route(m, None), &request());
            assert_eq!(body["max_tokens"], 100, "{m}");
        }
    }

    #[test]
    fn temperature_and_schema_are_sent_when_set() {
        let mut req = request();
        req.system = None;
        req.temperature = Some(0.2);
        req.schema = Some(json!({"type": "object"}));
        let body = build_body(&route("gpt-4o", None), &req);
        assert_eq!(body["temperature"], 0.2);
        assert_eq!(body["messages"][0]["role"], "user");
        assert_eq!(
            body["response_format"],
            json!({"type": "json_schema", "json_schema": {"name": "output", "schema": {"type": "object"}, "strict": false}})
        );
    }

    #[test]
    fn parses_text_and_usage() {
        let body = br#"{"id":"x","choices":[{"index":0,"message":{"role":"assistant","content":"Hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}"#;
        let reply = parse_response(&route("gpt-4o", None), 200, None, body).unwrap();
        assert_eq!(reply.text, "Hello");
        assert_eq!(
            reply.usage,
            TokenUsage {
                input: 12,
                output: 3
            }
        );
    }

    #[test]
    fn tolerates_missing_usage_and_null_content() {
        let body = br#"{"choices":[{"message":{"role":"assistant","content":null}}]}"#;
        let reply = parse_response(&route("o3", None), 200, None, body).unwrap();
        assert_eq!(reply.text, "");
        assert_eq!(reply.usage, TokenUsage::default());
    }

    #[test]
    fn a_refusal_is_an_error() {
        let body = br#"{"choices":[{"message":{"content":null,"refusal":"I can't help"}}]}"#;
        let e = parse_response(&route("gpt-4o", None), 200, None, body).unwrap_err();
        assert!(e.message.contains("refused: I can't help"), "{}", e.message);
    }

    #[test]
    fn malformed_success_is_retryable() {
        for body in [
            &b"{\"choices\":[]}"[..],
            b"not json",
            b"{\"error\":{\"message\":\"x\"}}",
        ] {
            let e = parse_response(&route("gpt-4o", None), 200, None, body).unwrap_err();
            assert_eq!(e.kind, ErrorKind::Unavailable);
            assert!(
                e.message.starts_with("malformed response from openai"),
                "{}",
                e.message
            );
        }
    }

    #[test]
    fn error_statuses_are_classified() {
        let r = route("gpt-4o", Some("sk-live-abc"));
        let e = parse_response(
            &r,
            400,
            None,
            br#"{"error":{"message":"This model's maximum context length is 128000 tokens.","code":"context_length_exceeded"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::ContextOverflow);
        assert!(e.message.starts_with("openai HTTP 400: "), "{}", e.message);
        let e = parse_response(
            &r,
            401,
            None,
            br#"{"error":{"message":"Incorrect API key provided: sk-live-abc"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(e.message.contains("OPENAI_API_KEY"));
        assert!(!e.message.contains("sk-live-abc"));
        let e = parse_response(&r, 429, Some(Duration::from_secs(2)), b"slow down").unwrap_err();
        assert_eq!(e.kind, ErrorKind::RateLimit);
        assert_eq!(e.retry_after, Some(Duration::from_secs(2)));
    }

    #[tokio::test]
    async fn send_posts_with_bearer_and_reads_retry_after() {
        let ok = r#"{"choices":[{"message":{"content":"pong"}}],"usage":{"prompt_tokens":5,"completion_tokens":1}}"#;
        let (base, server) = serve(vec![
            http("200 OK", "", ok),
            http("429 Too Many Requests", "retry-after: 3\r\n", "{}"),
        ]);
        let mut r = route("gpt-4o", Some("sk-test-1"));
        r.base_url = base;
        let client = crate::providers::http_client();
        let reply = send(&client, &r, &request()).await.unwrap();
        assert_eq!(reply.text, "pong");
        assert_eq!(
            reply.usage,
            TokenUsage {
                input: 5,
                output: 1
            }
        );
        let e = send(&client, &r, &request()).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::RateLimit);
        assert_eq!(e.retry_after, Some(Duration::from_secs(3)));
        let seen = server.join().unwrap();
        assert!(
            seen[0].starts_with("POST /chat/completions HTTP/1.1"),
            "{}",
            seen[0]
        );
        assert!(
            seen[0]
                .to_ascii_lowercase()
                .contains("authorization: bearer sk-test-1")
        );
        assert!(seen[0].contains(r#""max_tokens":100"#));
    }

    #[tokio::test]
    async fn send_without_key_sends_no_authorization() {
        let (base, server) = serve(vec![http(
            "200 OK",
            "",
            r#"{"choices":[{"message":{"content":"x"}}]}"#,
        )]);
        let mut r = route("local", None);
        r.base_url = base;
        send(&crate::providers::http_client(), &r, &request())
            .await
            .unwrap();
        let seen = server.join().unwrap();
        assert!(!seen[0].to_ascii_lowercase().contains("authorization"));
    }

    #[tokio::test]
    async fn truncated_body_and_refused_connection_are_unavailable() {
        let mut truncated = http("200 OK", "", r#"{"choices":[]}"#);
        // Promise more bytes than we send, then close.
        let text = String::from_utf8(truncated.clone())
            .unwrap()
            .replace("content-length: 14", "content-length: 400");
        truncated = text.into_bytes();
        let (base, server) = serve(vec![truncated]);
        let mut r = route("gpt-4o", Some("sk-test-2"));
        r.base_url = base;
        let client = crate::providers::http_client();
        let e = send(&client, &r, &request()).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable, "{}", e.message);
        server.join().unwrap();

        // Bind then drop, so nothing listens on the port.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        r.base_url = format!("http://127.0.0.1:{port}");
        let e = send(&client, &r, &request()).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable, "{}", e.message);
        assert!(!e.message.contains("sk-test-2"));
    }
}
