//! The ollama wire format: `/api/chat`, non-streaming, with the schema as native `format`.

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
    let url = format!("{}/api/chat", route.base_url);
    let raw = http::post_authed(client, route, &url, &[], &build_body(route, req)).await?;
    parse_response(route, raw.status, raw.retry_after, &raw.body)
}

/// The request body.
pub fn build_body(route: &Route, req: &ModelRequest) -> Value {
    let messages = http::chat_messages(req, http::ChatDialect::Ollama);
    let mut options = json!({"num_predict": req.max_tokens});
    if let Some(t) = req.temperature {
        options["temperature"] = json!(t);
    }
    let mut body = json!({
        "model": route.model,
        "messages": messages,
        "stream": false,
        "options": options,
    });
    if let Some(schema) = &req.schema {
        body["format"] = schema.clone();
    }
    // Without `tool_choice`, past the limit the tools are simply not offered (Ollama accepts a
    // history with tool calls either way).
    let offered = !req.tools_off || spec::OLLAMA.tools == spec::Tools::WithChoice;
    if !req.tools.is_empty() && offered {
        body["tools"] = json!(http::function_tools(req));
    }
    body
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
    let message = json.get("message").ok_or("no message")?;
    let tool_calls = http::function_calls(message)?;
    let text = match message.get("content") {
        Some(Value::String(text)) => text.as_str(),
        Some(Value::Null) | None if !tool_calls.is_empty() => "",
        _ => return Err("no message.content".into()),
    };
    Ok(ModelReply {
        tool_calls,
        cut_off: json.get("done_reason").and_then(Value::as_str) == Some("length"),
        text: text.to_string(),
        usage: spec::OLLAMA.usage.read(json),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::{ErrorKind, Message, TokenUsage, Wire};
    use odw_test_provider::raw::{http, serve};

    fn route() -> Route {
        Route {
            wire: Wire::Ollama,
            transport: Wire::Ollama,
            provider: "ollama".into(),
            base_url: "http://localhost:11434".into(),
            api_key: None,
            model: "qwen2.5:7b".into(),
            model_id: "ollama:qwen2.5:7b".into(),
            max_response_bytes: crate::providers::http::DEFAULT_MAX_RESPONSE_BYTES,
        }
    }

    fn request() -> ModelRequest {
        ModelRequest {
            system: Some("sys".into()),
            messages: vec![Message::user("hi")],
            max_tokens: 256,
            temperature: Some(0.0),
            schema: Some(json!({"type": "object", "properties": {"a": {"type": "string"}}})),
            ..ModelRequest::default()
        }
    }

    #[test]
    fn body_sends_num_predict_temperature_and_format() {
        assert_eq!(
            build_body(&route(), &request()),
            json!({
                "model": "qwen2.5:7b",
                "messages": [
                    {"role": "system", "content": "sys"},
                    {"role": "user", "content": "hi"},
                ],
                "stream": false,
                "options": {"num_predict": 256, "temperature": 0.0},
                "format": {"type": "object", "properties": {"a": {"type": "string"}}},
            })
        );
        let mut req = request();
        req.schema = None;
        req.temperature = None;
        let body = build_body(&route(), &req);
        assert!(body.get("format").is_none());
        assert_eq!(body["options"], json!({"num_predict": 256}));
    }

    #[test]
    fn parses_text_and_counts() {
        let body = br#"{"model":"qwen2.5:7b","message":{"role":"assistant","content":"hey"},"done":true,"prompt_eval_count":26,"eval_count":3}"#;
        let reply = parse_response(&route(), 200, None, body).unwrap();
        assert_eq!(reply.text, "hey");
        assert_eq!(
            reply.usage,
            TokenUsage {
                input: 26,
                output: 3
            }
        );
        let cached = br#"{"message":{"role":"assistant","content":"hey"},"done":true}"#;
        let reply = parse_response(&route(), 200, None, cached).unwrap();
        assert_eq!(reply.usage, TokenUsage::default());
    }

    #[test]
    fn unknown_model_says_how_to_pull_it() {
        let e = parse_response(
            &route(),
            404,
            None,
            br#"{"error":"model \"qwen2.5:7b\" not found, try pulling it first"}"#,
        )
        .unwrap_err();
        assert_eq!(e.kind, ErrorKind::Invalid);
        assert!(
            e.message.contains("ollama pull qwen2.5:7b"),
            "{}",
            e.message
        );
    }

    #[test]
    fn malformed_success_is_retryable() {
        let e = parse_response(&route(), 200, None, br#"{"done":true}"#).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Unavailable);
    }

    #[tokio::test]
    async fn send_posts_to_api_chat() {
        let ok = r#"{"message":{"role":"assistant","content":"{\"a\":\"x\"}"},"prompt_eval_count":9,"eval_count":5}"#;
        let (base, server) = serve(vec![http("200 OK", "", ok)]);
        let mut r = route();
        r.base_url = base;
        let reply = send(&crate::providers::http_client(), &r, &request())
            .await
            .unwrap();
        assert_eq!(reply.text, r#"{"a":"x"}"#);
        let seen = server.join().unwrap();
        assert!(
            seen[0].starts_with("POST /api/chat HTTP/1.1"),
            "{}",
            seen[0]
        );
        assert!(seen[0].contains(r#""stream":false"#));
    }
}
