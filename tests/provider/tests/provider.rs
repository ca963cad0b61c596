//! The test provider over real loopback HTTP, with a minimal hand-written HTTP/1.1 client.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use odw_test_provider::{ProviderOptions, Stats, TestProvider, Wire, generate};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The body length the headers declared, when they did.
    fn declared_len(&self) -> Option<usize> {
        self.header("content-length").and_then(|v| v.parse().ok())
    }
}

fn encode(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        req.push_str("Content-Type: application/json\r\n");
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    req.push_str(body);
    req.into_bytes()
}

fn decode(raw: &[u8]) -> Resp {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Resp {
        status,
        headers,
        body,
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size_line = String::from_utf8_lossy(&data[..eol]);
        let Ok(size) = usize::from_str_radix(size_line.split(';').next().unwrap().trim(), 16)
        else {
            break;
        };
        if size == 0 || data.len() < eol + 2 + size {
            out.extend_from_slice(&data[(eol + 2).min(data.len())..]);
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[(eol + 4 + size).min(data.len())..];
    }
    out
}

async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Resp {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(&encode(method, path, headers, body))
        .await
        .unwrap();
    let mut raw = Vec::new();
    // A truncated response ends in a reset or an early EOF: keep what arrived.
    let mut buf = [0u8; 8192];
    loop {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
        }
    }
    decode(&raw)
}

async fn post(addr: SocketAddr, path: &str, body: Value) -> Resp {
    send(addr, "POST", path, &[], &body.to_string()).await
}

async fn anthropic(addr: SocketAddr, body: Value) -> Resp {
    send(
        addr,
        "POST",
        "/v1/messages",
        &[("anthropic-version", "2023-06-01"), ("x-api-key", "k")],
        &body.to_string(),
    )
    .await
}

fn openai_body(prompt: &str) -> Value {
    json!({"model": "gpt-test", "messages": [{"role": "user", "content": prompt}], "max_tokens": 64})
}

fn openai_content(r: &Resp) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["choices"][0]["message"]["content"]
        .as_str()
        .unwrap()
        .to_string()
}

async fn start() -> TestProvider {
    TestProvider::start(ProviderOptions::default()).await
}

#[tokio::test]
async fn openai_echo_and_usage() {
    let p = start().await;
    assert!(p.base_url().starts_with("http://127.0.0.1:"));
    let body = json!({
        "model": "gpt-test",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": [{"type": "text", "text": "Say "}, {"type": "text", "text": "hello"}]}
        ],
        "max_completion_tokens": 10,
        "temperature": 0
    });
    let r = post(p.addr(), "/v1/chat/completions", body).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    let v = r.json();
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["model"], "gpt-test");
    assert_eq!(v["choices"][0]["index"], 0);
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    assert_eq!(v["choices"][0]["message"]["content"], "echo: Say hello");
    assert_eq!(v["choices"][0]["finish_reason"], "stop");
    // chars: "Be brief." 9 + "first" 5 + "ok" 2 + "Say hello" 9 = 25 → 7 tokens; reply 15 chars → 4.
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 7, "completion_tokens": 4, "total_tokens": 11})
    );

    // The path without /v1 works too.
    let r = post(p.addr(), "/chat/completions", openai_body("x")).await;
    assert_eq!(openai_content(&r), "echo: x");

    let s = p.stats();
    assert_eq!(s.total, 2);
    assert_eq!(s.by_wire.openai, 2);
    assert_eq!(s.count("Say hello"), 1);
    let rec = &s.requests[0];
    assert_eq!(rec.wire, Wire::OpenAi);
    assert_eq!(rec.path, "/v1/chat/completions");
    assert_eq!(rec.model, "gpt-test");
    assert_eq!(rec.system.as_deref(), Some("Be brief."));
    assert_eq!(rec.max_tokens, Some(10));
    assert_eq!(rec.temperature, Some(0.0));
    assert!(!rec.has_schema && !rec.auth_header_present && !rec.stream);
    assert_eq!(rec.outcome, "ok");
    assert_eq!(s.requests[1].path, "/chat/completions");
}

#[tokio::test]
async fn anthropic_messages() {
    let p = start().await;
    let r = anthropic(
        p.addr(),
        json!({"model": "claude-test", "max_tokens": 32, "system": "You are terse.",
               "messages": [{"role": "user", "content": "Say hello"}], "temperature": 0}),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["type"], "message");
    assert_eq!(v["role"], "assistant");
    assert_eq!(v["model"], "claude-test");
    assert_eq!(
        v["content"],
        json!([{"type": "text", "text": "echo: Say hello"}])
    );
    assert_eq!(v["stop_reason"], "end_turn");
    assert_eq!(v["usage"], json!({"input_tokens": 6, "output_tokens": 4}));

    // [[echo-system]] with a system given as blocks.
    let r = anthropic(
        p.addr(),
        json!({"model": "claude-test", "max_tokens": 32, "system": [{"type": "text", "text": "SYS PROMPT"}],
               "messages": [{"role": "user", "content": "[[echo-system]]"}]}),
    )
    .await;
    assert_eq!(r.json()["content"][0]["text"], "SYS PROMPT");

    // The real API's validation.
    let no_version = send(
        p.addr(),
        "POST",
        "/v1/messages",
        &[],
        &json!({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}]})
            .to_string(),
    )
    .await;
    assert_eq!(no_version.status, 400);
    assert_eq!(no_version.json()["type"], "error");
    assert_eq!(no_version.json()["error"]["type"], "invalid_request_error");
    let no_max = anthropic(
        p.addr(),
        json!({"model": "m", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await;
    assert_eq!(no_max.status, 400);
    assert!(no_max.text().contains("max_tokens"));
    let s = p.stats();
    assert_eq!(s.by_wire.anthropic, 4);
    assert!(s.requests[0].auth_header_present);
}

#[tokio::test]
async fn ollama_chat_and_default_streaming() {
    let p = start().await;
    let r = post(
        p.addr(),
        "/api/chat",
        json!({"model": "llama-test", "stream": false, "options": {"temperature": 0, "num_predict": 20},
               "messages": [{"role": "system", "content": "sys"}, {"role": "user", "content": "Say hello"}]}),
    )
    .await;
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["model"], "llama-test");
    assert_eq!(
        v["message"],
        json!({"role": "assistant", "content": "echo: Say hello"})
    );
    assert_eq!(v["done"], true);
    assert_eq!(v["prompt_eval_count"], 3);
    assert_eq!(v["eval_count"], 4);
    assert!(v["created_at"].as_str().unwrap().ends_with('Z'));
    let rec = &p.stats().requests[0];
    assert_eq!(
        (rec.max_tokens, rec.temperature, rec.system.as_deref()),
        (Some(20), Some(0.0), Some("sys"))
    );

    // Without "stream": false, Ollama streams NDJSON.
    let r = post(
        p.addr(),
        "/api/chat",
        json!({"model": "llama-test", "messages": [{"role": "user", "content": "a b c"}]}),
    )
    .await;
    assert_eq!(r.header("content-type"), Some("application/x-ndjson"));
    let lines: Vec<Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let text: String = lines
        .iter()
        .map(|l| l["message"]["content"].as_str().unwrap())
        .collect();
    assert_eq!(text, "echo: a b c");
    assert_eq!(lines.last().unwrap()["done"], true);
    assert!(lines[..lines.len() - 1].iter().all(|l| l["done"] == false));
}

#[tokio::test]
async fn streaming_openai_and_anthropic() {
    let p = start().await;
    let mut body = openai_body("one two three");
    body["stream"] = json!(true);
    body["stream_options"] = json!({"include_usage": true});
    let r = post(p.addr(), "/v1/chat/completions", body).await;
    assert_eq!(r.header("content-type"), Some("text/event-stream"));
    let text = r.text();
    let data: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .collect();
    assert_eq!(*data.last().unwrap(), "[DONE]");
    let chunks: Vec<Value> = data[..data.len() - 1]
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let content: String = chunks
        .iter()
        .filter_map(|c| {
            c["choices"]
                .get(0)
                .and_then(|ch| ch["delta"]["content"].as_str())
        })
        .collect();
    assert_eq!(content, "echo: one two three");
    assert_eq!(chunks.last().unwrap()["usage"]["completion_tokens"], 5);

    let r = anthropic(
        p.addr(),
        json!({"model": "c", "max_tokens": 10, "stream": true, "messages": [{"role": "user", "content": "hi there"}]}),
    )
    .await;
    let text = r.text();
    let events: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("event: "))
        .collect();
    assert_eq!(events.first(), Some(&"message_start"));
    assert_eq!(events.last(), Some(&"message_stop"));
    let content: String = text
        .lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .map(|d| serde_json::from_str::<Value>(d).unwrap())
        .filter(|v| v["type"] == "content_block_delta")
        .map(|v| v["delta"]["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(content, "echo: hi there");
}

#[tokio::test]
async fn schema_replies_on_every_wire() {
    let p = start().await;
    let schema = json!({"type": "object", "properties": {"answer": {"type": "string"}, "n": {"type": "integer", "minimum": 2}},
                        "required": ["answer", "n"], "additionalProperties": false});
    let expected = json!({"answer": "answer", "n": 2});
    assert_eq!(generate(&schema), expected);

    let mut body = openai_body("What?");
    body["response_format"] = json!({"type": "json_schema", "json_schema": {"name": "r", "schema": schema, "strict": true}});
    let r = post(p.addr(), "/v1/chat/completions", body).await;
    assert_eq!(
        serde_json::from_str::<Value>(&openai_content(&r)).unwrap(),
        expected
    );

    let r = post(
        p.addr(),
        "/api/chat",
        json!({"model": "m", "stream": false, "format": schema, "messages": [{"role": "user", "content": "What?"}]}),
    )
    .await;
    let content = r.json()["message"]["content"].as_str().unwrap().to_string();
    assert_eq!(serde_json::from_str::<Value>(&content).unwrap(), expected);

    // The schema embedded in the prompt, on the line after the marker.
    let prompt = format!("What?\n\n{}\n{}", odw_test_provider::SCHEMA_MARKER, schema);
    let r = anthropic(
        p.addr(),
        json!({"model": "c", "max_tokens": 64, "messages": [{"role": "user", "content": prompt}]}),
    )
    .await;
    let text = r.json()["content"][0]["text"].as_str().unwrap().to_string();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), expected);
    assert!(p.stats().requests.iter().all(|r| r.has_schema));

    // JSON mode without a schema.
    let mut body = openai_body("hey");
    body["response_format"] = json!({"type": "json_object"});
    let r = post(p.addr(), "/v1/chat/completions", body).await;
    assert_eq!(
        serde_json::from_str::<Value>(&openai_content(&r)).unwrap(),
        json!({"echo": "hey"})
    );
}

#[tokio::test]
async fn reply_and_json_directives() {
    let p = start().await;
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        openai_body("x [[reply:Hello, world!]] y"),
    )
    .await;
    assert_eq!(openai_content(&r), "Hello, world!");
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        openai_body(r#"[[json:{"items":[[1],[2]],"s":"]]"}]]"#),
    )
    .await;
    assert_eq!(openai_content(&r), r#"{"items":[[1],[2]],"s":"]]"}"#);
    // [[json]] wins over a schema.
    let mut body = openai_body(r#"[[json:{"answer":"forced"}]]"#);
    body["response_format"] =
        json!({"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "object"}}});
    let r = post(p.addr(), "/v1/chat/completions", body).await;
    assert_eq!(openai_content(&r), r#"{"answer":"forced"}"#);
}

#[tokio::test]
async fn fail_then_succeed_with_retry_after() {
    let p = start().await;
    let prompt = "flaky [[fail:429 x2]]";
    for _ in 0..2 {
        let r = post(p.addr(), "/v1/chat/completions", openai_body(prompt)).await;
        assert_eq!(r.status, 429);
        assert_eq!(r.header("retry-after"), Some("1"));
        assert_eq!(r.json()["error"]["code"], "rate_limit_exceeded");
    }
    let r = post(p.addr(), "/v1/chat/completions", openai_body(prompt)).await;
    assert_eq!(openai_content(&r), format!("echo: {prompt}"));
    // Counted per model + prompt: another model starts afresh.
    let mut other = openai_body(prompt);
    other["model"] = json!("other-model");
    assert_eq!(
        post(p.addr(), "/v1/chat/completions", other).await.status,
        429
    );

    let r = anthropic(
        p.addr(),
        json!({"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "[[fail:429 x1]] [[retry-after:0]]"}]}),
    )
    .await;
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("0"));
    assert_eq!(r.json()["error"]["type"], "rate_limit_error");

    let r = post(
        p.addr(),
        "/api/chat",
        json!({"model": "m", "stream": false, "messages": [{"role": "user", "content": "[[fail:500 x1]]"}]}),
    )
    .await;
    assert_eq!(r.status, 500);
    assert!(r.header("retry-after").is_none());
    assert!(r.json()["error"].is_string());

    // Faults apply in sequence.
    let seq = "[[fail:503 x1]] [[malformed x1]] [[badschema x1]]";
    let statuses: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(
                post(p.addr(), "/v1/chat/completions", openai_body(seq))
                    .await
                    .status,
            );
        }
        v
    };
    assert_eq!(statuses, [503, 200, 200, 200]);
    let s = p.stats();
    assert_eq!(s.count(prompt), 4);
    let outcomes: Vec<&str> = s
        .requests
        .iter()
        .filter(|r| r.prompt == seq)
        .map(|r| r.outcome.as_str())
        .collect();
    assert_eq!(outcomes, ["fail:503", "malformed", "badschema", "ok"]);
    assert_eq!(s.faults, 2 + 1 + 1 + 1 + 3);

    // reset() clears counters too: the fault comes back.
    p.reset();
    assert_eq!(p.stats(), Stats::default());
    assert_eq!(
        post(p.addr(), "/v1/chat/completions", openai_body(prompt))
            .await
            .status,
        429
    );
}

#[tokio::test]
async fn key_directive_groups_faults() {
    let p = start().await;
    assert_eq!(
        post(
            p.addr(),
            "/v1/chat/completions",
            openai_body("a [[key:k]] [[fail:500 x1]]")
        )
        .await
        .status,
        500
    );
    // A different prompt with the same key: second request for the key, so no fault.
    assert_eq!(
        post(
            p.addr(),
            "/v1/chat/completions",
            openai_body("b [[key:k]] [[fail:500 x1]]")
        )
        .await
        .status,
        200
    );
}

#[tokio::test]
async fn malformed_and_truncated() {
    let p = start().await;
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        openai_body("[[malformed x1]]"),
    )
    .await;
    assert_eq!(r.status, 200);
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    assert_eq!(
        post(
            p.addr(),
            "/v1/chat/completions",
            openai_body("[[malformed x1]]")
        )
        .await
        .status,
        200
    );

    let r = post(
        p.addr(),
        "/v1/chat/completions",
        openai_body("[[truncated x1]]"),
    )
    .await;
    assert_eq!(r.status, 200);
    let declared = r.declared_len().expect("a Content-Length");
    assert!(
        r.body.len() < declared,
        "got {} of {declared} bytes",
        r.body.len()
    );
    assert!(serde_json::from_slice::<Value>(&r.body).is_err());
    // The second time it is whole.
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        openai_body("[[truncated x1]]"),
    )
    .await;
    assert_eq!(r.body.len(), r.declared_len().unwrap());
    assert_eq!(openai_content(&r), "echo: [[truncated x1]]");
}

#[tokio::test]
async fn badschema_then_valid() {
    let p = start().await;
    let schema = json!({"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]});
    let mut body = openai_body("Q [[badschema x1]]");
    body["response_format"] =
        json!({"type": "json_schema", "json_schema": {"name": "r", "schema": schema}});
    let first: Value = serde_json::from_str(&openai_content(
        &post(p.addr(), "/v1/chat/completions", body.clone()).await,
    ))
    .unwrap();
    assert!(first.get("answer").is_none());
    let second: Value = serde_json::from_str(&openai_content(
        &post(p.addr(), "/v1/chat/completions", body).await,
    ))
    .unwrap();
    assert_eq!(second, json!({"answer": "answer"}));
}

#[tokio::test]
async fn hang_until_client_gives_up() {
    let p = start().await;
    let addr = p.addr();
    let t = Instant::now();
    let res = tokio::time::timeout(
        Duration::from_millis(300),
        post(addr, "/v1/chat/completions", openai_body("[[hang x1]]")),
    )
    .await;
    assert!(res.is_err(), "a hanging request must not answer");
    assert!(t.elapsed() < Duration::from_secs(2));
    // The client went away: the request is no longer in flight.
    let deadline = Instant::now() + Duration::from_secs(5);
    while p.stats().in_flight != 0 {
        assert!(
            Instant::now() < deadline,
            "in_flight stuck at {}",
            p.stats().in_flight
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(p.stats().max_in_flight, 1);
    // The second request answers.
    assert_eq!(
        openai_content(&post(addr, "/v1/chat/completions", openai_body("[[hang x1]]")).await),
        "echo: [[hang x1]]"
    );
}

#[tokio::test]
async fn require_key_echoes_the_wrong_key() {
    let p = TestProvider::start(ProviderOptions::default().require_key("sk-right")).await;
    let body = openai_body("hi").to_string();
    let r = send(
        p.addr(),
        "POST",
        "/v1/chat/completions",
        &[("Authorization", "Bearer sk-WRONG-123")],
        &body,
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r.text().contains("sk-WRONG-123"), "{}", r.text());
    let r = send(
        p.addr(),
        "POST",
        "/v1/chat/completions",
        &[("Authorization", "Bearer sk-right")],
        &body,
    )
    .await;
    assert_eq!(openai_content(&r), "echo: hi");
    let r = send(p.addr(), "POST", "/v1/chat/completions", &[], &body).await;
    assert_eq!(r.status, 401);

    let ab =
        json!({"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]})
            .to_string();
    let r = send(
        p.addr(),
        "POST",
        "/v1/messages",
        &[
            ("anthropic-version", "2023-06-01"),
            ("x-api-key", "sk-ant-BAD"),
        ],
        &ab,
    )
    .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json()["error"]["type"], "authentication_error");
    assert!(r.text().contains("sk-ant-BAD"));
    let r = send(
        p.addr(),
        "POST",
        "/v1/messages",
        &[
            ("anthropic-version", "2023-06-01"),
            ("x-api-key", "sk-right"),
        ],
        &ab,
    )
    .await;
    assert_eq!(r.status, 200);

    // Ollama has no keys.
    let r = post(
        p.addr(),
        "/api/chat",
        json!({"model": "m", "stream": false, "messages": [{"role": "user", "content": "hi"}]}),
    )
    .await;
    assert_eq!(r.status, 200);
    let s = p.stats();
    assert_eq!(s.faults, 3);
    assert_eq!(
        s.requests
            .iter()
            .filter(|r| r.outcome == "unauthorized")
            .count(),
        3
    );

    // [[fail:401]] echoes the key it got, too.
    let r = send(
        p.addr(),
        "POST",
        "/v1/chat/completions",
        &[("Authorization", "Bearer sk-right")],
        &openai_body("[[fail:401 x99]]").to_string(),
    )
    .await;
    assert_eq!(r.status, 401);
    assert!(r.text().contains("sk-right"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn latency_and_max_in_flight() {
    let p = TestProvider::start(ProviderOptions::default().latency_ms(150)).await;
    let addr = p.addr();
    let t = Instant::now();
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            tokio::spawn(async move {
                post(addr, "/v1/chat/completions", openai_body(&format!("p{i}"))).await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().status, 200);
    }
    // The latency is served concurrently: all 20 were in flight at once (a lower bound on the
    // time is safe on any machine; an upper one is not).
    assert!(t.elapsed() >= Duration::from_millis(150));
    let s = p.stats();
    assert_eq!(s.max_in_flight, 20);
    assert_eq!(s.in_flight, 0);
    assert_eq!(s.by_prompt.len(), 20);

    // A per-prompt latency adds to the global one.
    let t = Instant::now();
    post(addr, "/v1/chat/completions", openai_body("[[latency:200]]")).await;
    assert!(t.elapsed() >= Duration::from_millis(350));
}

#[tokio::test]
async fn stats_and_reset_endpoints() {
    let p = start().await;
    post(p.addr(), "/v1/chat/completions", openai_body("hello")).await;
    let r = send(p.addr(), "GET", "/_stats", &[], "").await;
    let stats: Stats = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(stats.total, 1);
    assert_eq!(stats.count("hello"), 1);
    assert_eq!(r.json()["requests"][0]["wire"], "openai");
    let r = send(p.addr(), "POST", "/_reset", &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(p.stats().total, 0);
    assert_eq!(send(p.addr(), "GET", "/health", &[], "").await.status, 200);
    let r = send(p.addr(), "POST", "/v1/nope", &[], "{}").await;
    assert_eq!(r.status, 404);
    let r = send(p.addr(), "POST", "/v1/chat/completions", &[], "{not json").await;
    assert_eq!(r.status, 400);
    assert!(
        r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );
}

fn blocking_post(addr: SocketAddr, path: &str, body: &Value) -> std::io::Result<Resp> {
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.write_all(&encode("POST", path, &[], &body.to_string()))?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    Ok(decode(&raw))
}

#[test]
fn spawn_from_a_plain_test_and_drop() {
    let p = TestProvider::spawn(ProviderOptions::default());
    let addr = p.addr();
    let r = blocking_post(addr, "/v1/chat/completions", &openai_body("sync")).unwrap();
    assert_eq!(openai_content(&r), "echo: sync");
    assert_eq!(p.stats().total, 1);
    // A hanging request does not keep the provider alive.
    let hang = std::thread::spawn(move || {
        blocking_post(addr, "/v1/chat/completions", &openai_body("[[hang x1]]"))
    });
    std::thread::sleep(Duration::from_millis(100));
    let t = Instant::now();
    drop(p);
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "drop took {:?}",
        t.elapsed()
    );
    let _ = hang.join();
    assert!(
        std::net::TcpStream::connect(addr).is_err()
            || blocking_post(addr, "/v1/chat/completions", &openai_body("x")).is_err()
    );
}

#[test]
fn binary_prints_its_address_and_serves() {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_odw-test-provider"))
        .args(["--port", "0", "--latency-ms", "1"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("{line:?}"));
    let addr: SocketAddr = url.parse().unwrap();
    let r = blocking_post(
        addr,
        "/api/chat",
        &json!({"model": "m", "stream": false, "messages": [{"role": "user", "content": "bin"}]}),
    );
    child.kill().unwrap();
    let _ = child.wait();
    assert_eq!(r.unwrap().json()["message"]["content"], "echo: bin");
}
