//! The anthropic wire format: the Messages API, non-streaming. It has no native schema
//! parameter here; the caller appends [`super::structured::schema_instruction`] to the prompt.

use super::http;
use super::spec;
use super::{ModelReply, ModelRequest, ProviderError, Role, Route};
use serde_json::{Value, json};
use std::time::Duration;

const API_VERSION: &str = "2023-06-01";

/// Sends one request.
pub async fn send(
    client: &reqwest::Client,
    route: &Route,
    req: &ModelRequest,
) -> Result<ModelReply, ProviderError> {
    let url = format!("{}/v1/messages", route.base_url);
    let headers = [("anthropic-version", API_VERSION, false)];
    let raw = http::post_authed(client, route, &url, &headers, &build_body(route, req)).await?;
    parse_response(route, raw.status, raw.retry_after, &raw.body)
}

/// The request body.
pub fn build_body(route: &Route, req: &ModelRequest) -> Value {
    let messages: Vec<Value> = req.messages.iter().map(message).collect();
    let mut body = json!({
        "model": route.model,
        "max_tokens": req.max_tokens,
        "messages": messages,
    });
    if let Some(system) = req.system.as_deref().filter(|s| !s.is_empty()) {
        body["system"] = json!(system);
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if !req.tools.is_empty() {
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(|t| json!({"name": t.name, "description": t.description, "input_schema": t.parameters}))
            .collect();
        body["tools"] = json!(tools);
        if req.tools_off {
            body["tool_choice"] = json!({"type": "none"});
        }
    }
    body
}

/// One message: plain text, or content blocks when it carries tool calls or results (all the
/// results of a turn in one user message, as the API requires).
fn message(m: &super::Message) -> Value {
    let role = match m.role {
        Role::User => "user",
        Role::Assistant => "assistant",
    };
    if m.tool_calls.is_empty() && m.tool_results.is_empty() {
        return json!({"role": role, "content": m.content});
    }
    let mut blocks: Vec<Value> = m
        .tool_results
        .iter()
        .map(|r| {
            json!({"type": "tool_result", "tool_use_id": r.id, "content": r.content, "is_error": r.is_error})
        })
        .collect();
    if !m.content.is_empty() {
        blocks.push(json!({"type": "text", "text": m.content}));
    }
    blocks.extend(m.tool_calls.iter().map(|c| {
        json!({"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments.to_object()})
    }));
    json!({"role": role, "content": blocks})
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
    let blocks = json
        .get("content")
        .and_then(Value::as_array)
        .ok_or("no content array")?;
    let text = blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
        .filter_map(|b| b.get("text").and_then(Value::as_str))
        .collect();
    let tool_calls = blocks
        .iter()
        .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
        .enumerate()
        .map(|(i, b)| super::ToolCall {
            id: b
                .get("id")
                .and_then(Value::as_str)
                .map_or_else(|| format!("toolu_{i}"), str::to_string),
            name: b
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            arguments: super::ToolArguments::from_value(b.get("input")),
        })
        .collect();
    Ok(ModelReply {
        tool_calls,
        cut_off: json.get("stop_reason").and_then(Value::as_str) == Some("max_tokens"),
        text,
        usage: spec::ANTHROPIC.usage.read(json),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Secret;
    use crate::providers::{ErrorKind, Message, TokenUsage, Wire};
    use odw_test_provider::raw::{http, serve};

    fn route(key: Option<&str>) -> Route {
        Route {
            wire: Wire::Anthropic,
            transport: Wire::Anthropic,
            provider: "anthropic".into(),
            base_url: "https://api.anthropic.com".into(),
            api_key: key.map(Secret::new),
            model: "claude-sonnet-4-6".into(),
            model_id: "claude-sonnet-4-6".into(),
            max_response_bytes: crate::providers::http::DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    fn request() -> ModelRequest {
        ModelRequest {
            system: Some("be brief".into()),
            messages: vec![Message::user("hi")],
            max_tokens: 64,
            temperature: Some(0.5),
            schema: Some(json!({"type": "object"})),
            ..ModelRequest::default()
        }
    }

    #[test]
    fn cached_prompt_tokens_count_as_input() {
        let body = br#"{"content":[{"type":"text","text":"x"}],"usage":{"input_tokens":1,"cache_read_input_tokens":30,"cache_creation_input_tokens":5,"output_tokens":2}}"#;
        let r = parse_response(&route(None), 200, None, body).unwrap();
        assert_eq!(r.usage.input, 36);
    }

    #[test]
    fn body_has_system_apart_and_no_schema() {
        assert_eq!(
            build_body(&route(None), &request()),
            json!({
                "model": "claude-sonnet-4-6",
                "max_tokens": 64,
                "system": "be brief",
                "temperature": 0.5,
                "messages": [{"role": "user", "content": "hi"}],
            })
        );
        let mut req = request();
        req.system = None;
        req.temperature = None;
        let body = build_body(&route(None), &req);
        assert!(body.get("system").is_none());
        assert!(body.get("temperature").is_none());
    }

    #[test]
    fn parses_text_blocks_and_usage() {
        let body = br#"{"id":"msg_1","type":"message","role":"assistant","content":[{"type":"thinking","thinking":"hmm"},{"type":"text","text":"Hel"},{"type":"text","text":"lo"}],"stop_reason":"end_turn","usage":{"input_tokens":10,"output_tokens":2}}"#;
        let reply = parse_response(&route(None), 200, None, body).unwrap();
        assert_eq!(reply.text, "Hello");
        assert_eq!(
            reply.usage,
            TokenUsage {
                input: 10,
                output: 2
            }
        );
    }

    #[test]
    fn malformed_success_is_retryable() {
        let e = parse_response(&route(None), 200, None, br#"{"type":"message"}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(
            e.message.starts_with("malformed response from anthropic"),
            "{}",
            e.message
        );
    }

    #[test]
    fn error_bodies_are_classified() {
        let r = route(Some("sk-ant-api03-SECRET"));
        let overflow = br#"{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 215000 tokens > 200000 maximum"}}"#;
        let e = parse_response(&r, 400, None, overflow).unwrap_err();
        assert_eq!(e.kind, ErrorKind::ContextOverflow);
        let overloaded =
            br#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#;
        let e = parse_response(&r, 529, None, overloaded).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert!(
            e.message.starts_with("anthropic HTTP 529: "),
            "{}",
            e.message
        );
        let e = parse_response(
            &r,
            401,
            None,
            br#"{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}"#,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Auth);
        assert!(
            e.message.contains("check ANTHROPIC_API_KEY"),
            "{}",
            e.message
        );
    }

    #[tokio::test]
    async fn send_posts_to_messages_with_version_and_key() {
        let ok = r#"{"content":[{"type":"text","text":"pong"}],"usage":{"input_tokens":4,"output_tokens":1}}"#;
        let (base, server) = serve(vec![
            http("200 OK", "", ok),
            http("503 Service Unavailable", "retry-after: 1\r\n", "{}"),
        ]);
        let mut r = route(Some("sk-ant-test"));
        r.base_url = base;
        let client = crate::providers::http_client();
        let reply = send(&client, &r, &request()).await.unwrap();
        assert_eq!(reply.text, "pong");
        let e = send(&client, &r, &request()).await.unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable);
        assert_eq!(e.retry_after, Some(Duration::from_secs(1)));
        let seen = server.join().unwrap();
        let head = seen[0].to_ascii_lowercase();
        assert!(head.starts_with("post /v1/messages http/1.1"), "{head}");
        assert!(head.contains("x-api-key: sk-ant-test"));
        assert!(head.contains("anthropic-version: 2023-06-01"));
        assert!(!head.contains("authorization"));
    }
}
