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

// ---------------------------------------------------------------------------------------------
// Tool calling.

const READ_FILE: &str = r#"{"type": "function", "function": {"name": "read_file", "description": "Reads a file.",
    "parameters": {"type": "object", "properties": {"path": {"type": "string"}}, "required": ["path"]}}}"#;

fn openai_tools() -> Value {
    json!([serde_json::from_str::<Value>(READ_FILE).unwrap()])
}

fn anthropic_tools() -> Value {
    json!([{"name": "read_file", "description": "Reads a file.",
            "input_schema": {"type": "object", "properties": {"path": {"type": "string"}}}}])
}

/// The `data:` JSON events of an SSE body.
fn sse_data(text: &str) -> Vec<Value> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: "))
        .filter(|d| *d != "[DONE]")
        .map(|d| serde_json::from_str(d).unwrap())
        .collect()
}

#[tokio::test]
async fn openai_tool_loop() {
    let p = start().await;
    let prompt = r#"Read a.txt [[call:read_file {"path": "a.txt"}]] [[echo-tools]]"#;
    let mut messages = vec![json!({"role": "user", "content": prompt})];
    let body = |messages: &Vec<Value>| json!({"model": "gpt-test", "max_tokens": 64, "messages": messages, "tools": openai_tools()});

    // Turn 0: the call.
    let r = post(p.addr(), "/v1/chat/completions", body(&messages)).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    let choice = &v["choices"][0];
    assert_eq!(choice["finish_reason"], "tool_calls");
    assert_eq!(choice["message"]["role"], "assistant");
    assert_eq!(choice["message"]["content"], Value::Null);
    let calls = choice["message"]["tool_calls"].as_array().unwrap();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0]["id"], "call_0_0");
    assert_eq!(calls[0]["type"], "function");
    assert_eq!(calls[0]["function"]["name"], "read_file");
    let args: Value =
        serde_json::from_str(calls[0]["function"]["arguments"].as_str().unwrap()).unwrap();
    assert_eq!(args, json!({"path": "a.txt"}));
    // Tool definitions count as input: more than the prompt alone.
    let plain = post(
        p.addr(),
        "/v1/chat/completions",
        json!({"model": "gpt-test", "messages": [{"role": "user", "content": prompt}]}),
    )
    .await;
    assert!(v["usage"]["prompt_tokens"].as_u64() > plain.json()["usage"]["prompt_tokens"].as_u64());
    // Without tools, the same prompt is answered in text.
    assert_eq!(plain.json()["choices"][0]["finish_reason"], "stop");

    // Turn 1: the result, then the final text — with tools off.
    messages.push(choice["message"].clone());
    messages.push(json!({"role": "tool", "tool_call_id": "call_0_0", "content": "hello"}));
    let mut last = body(&messages);
    last["tool_choice"] = json!("none");
    let r = post(p.addr(), "/v1/chat/completions", last).await;
    let echoed: Value = serde_json::from_str(&openai_content(&r)).unwrap();
    assert_eq!(
        echoed,
        json!([{"name": "read_file", "id": "call_0_0", "content": "hello", "is_error": false}])
    );
    assert_eq!(r.json()["choices"][0]["finish_reason"], "stop");

    let s = p.stats();
    assert_eq!(s.count(prompt), 3);
    let (first, last) = (&s.requests[0], &s.requests[2]);
    assert_eq!((first.tools, first.tool_turn, first.tool_calls), (1, 0, 1));
    assert!(!first.tool_choice_none);
    assert_eq!(s.requests[1].tools, 0);
    assert_eq!(
        (
            last.tools,
            last.tool_turn,
            last.tool_results,
            last.tool_calls
        ),
        (1, 1, 1, 0)
    );
    assert!(last.tool_choice_none);
    assert_eq!(last.prompt, prompt);
}

#[tokio::test]
async fn openai_two_calls_validation_and_tool_choice_none() {
    let p = start().await;
    let prompt = r#"[[call:read_file {"path": "a"}]] [[call+:stat]] [[call:read_file {"path": "b"}]] [[reply:done]]"#;
    let body = |messages: Value| json!({"model": "gpt-test", "messages": messages, "tools": openai_tools()});
    let user = json!({"role": "user", "content": prompt});

    // tool_choice "none": text, and the turn is not used up.
    let mut none = body(json!([user]));
    none["tool_choice"] = json!("none");
    let r = post(p.addr(), "/v1/chat/completions", none).await;
    assert_eq!(openai_content(&r), "done");

    let r = post(p.addr(), "/v1/chat/completions", body(json!([user]))).await;
    let msg = r.json()["choices"][0]["message"].clone();
    let calls = msg["tool_calls"].as_array().unwrap();
    let ids: Vec<&str> = calls.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["call_0_0", "call_0_1"]);
    assert_eq!(calls[1]["function"]["name"], "stat"); // not declared: sent all the same
    assert_eq!(calls[1]["function"]["arguments"], "{}");

    let result =
        |id: &str| json!({"role": "tool", "tool_call_id": id, "content": format!("r {id}")});
    // Only one of the two answered.
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        body(json!([user, msg, result("call_0_0")])),
    )
    .await;
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert!(r.text().contains("call_0_1"));
    // … or answered after a user message.
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        body(json!([user, msg, result("call_0_0"), {"role": "user", "content": "x"}, result("call_0_1")])),
    )
    .await;
    assert_eq!(r.status, 400);
    // An unknown id.
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        body(json!([
            user,
            msg,
            result("call_0_0"),
            result("call_0_1"),
            result("call_9")
        ])),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("role 'tool'"));
    // A tool message with no assistant call before it.
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        body(json!([user, result("call_0_0")])),
    )
    .await;
    assert_eq!(r.status, 400);

    // Both answered: turn 1, the second scripted turn.
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        body(json!([user, msg, result("call_0_1"), result("call_0_0")])),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let msg1 = r.json()["choices"][0]["message"].clone();
    assert_eq!(msg1["tool_calls"][0]["id"], "call_1_0");
    assert_eq!(
        msg1["tool_calls"][0]["function"]["arguments"],
        r#"{"path":"b"}"#
    );
    // Turn 2: no more scripted calls, the normal reply.
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        body(json!([
            user,
            msg,
            result("call_0_1"),
            result("call_0_0"),
            msg1,
            result("call_1_0")
        ])),
    )
    .await;
    assert_eq!(openai_content(&r), "done");
}

#[tokio::test]
async fn openai_badargs_streaming_and_faults() {
    let p = start().await;
    let prompt = r#"[[call:read_file {"path": "a"}]] [[badargs]] [[call:read_file {"path": "b"}]]"#;
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        json!({"model": "m", "messages": [{"role": "user", "content": prompt}], "tools": openai_tools()}),
    )
    .await;
    let call = r.json()["choices"][0]["message"]["tool_calls"][0].clone();
    let args = call["function"]["arguments"].as_str().unwrap().to_string();
    assert_eq!(args, r#"{"path": "#);
    assert!(serde_json::from_str::<Value>(&args).is_err());
    // Only the first call turn is broken.
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        json!({"model": "m", "tools": openai_tools(), "messages": [
            {"role": "user", "content": prompt},
            {"role": "assistant", "content": null, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_0_0", "content": "error: bad arguments"}]}),
    )
    .await;
    let args = r.json()["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"].clone();
    assert_eq!(args, r#"{"path":"b"}"#);

    // Streaming: the id and name first, then the arguments in pieces.
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        json!({"model": "m", "stream": true, "stream_options": {"include_usage": true},
               "messages": [{"role": "user", "content": r#"[[call:read_file {"path": "a"}]] [[call+:stat {"deep": true}]]"#}],
               "tools": openai_tools()}),
    )
    .await;
    let chunks = sse_data(&r.text());
    let mut calls: Vec<(String, String, String)> = Vec::new();
    for c in &chunks {
        for tc in c["choices"]
            .get(0)
            .and_then(|ch| ch["delta"]["tool_calls"].as_array())
            .into_iter()
            .flatten()
        {
            let i = tc["index"].as_u64().unwrap() as usize;
            if let Some(id) = tc["id"].as_str() {
                assert_eq!(i, calls.len());
                calls.push((
                    id.into(),
                    tc["function"]["name"].as_str().unwrap().into(),
                    String::new(),
                ));
            }
            calls[i]
                .2
                .push_str(tc["function"]["arguments"].as_str().unwrap());
        }
    }
    assert_eq!(
        calls,
        [
            (
                "call_0_0".into(),
                "read_file".into(),
                r#"{"path":"a"}"#.into()
            ),
            ("call_0_1".into(), "stat".into(), r#"{"deep":true}"#.into())
        ]
    );
    let finish: Vec<&Value> = chunks
        .iter()
        .filter_map(|c| c["choices"].get(0).map(|ch| &ch["finish_reason"]))
        .filter(|f| !f.is_null())
        .collect();
    assert_eq!(finish, [&json!("tool_calls")]);
    assert!(
        chunks.last().unwrap()["usage"]["completion_tokens"]
            .as_u64()
            .unwrap()
            > 0
    );

    // Faults count over the whole loop, keyed by the first user message.
    let prompt = "[[fail:429 x1]] [[call:read_file {}]] [[reply:fin]] [[fail:500 x1]]";
    let user = json!({"role": "user", "content": prompt});
    let body = |m: Value| json!({"model": "m", "tools": openai_tools(), "messages": m});
    let r = post(p.addr(), "/v1/chat/completions", body(json!([user]))).await;
    assert_eq!(r.status, 429);
    let r = post(p.addr(), "/v1/chat/completions", body(json!([user]))).await;
    assert_eq!(r.status, 500);
    let r = post(p.addr(), "/v1/chat/completions", body(json!([user]))).await;
    let msg = r.json()["choices"][0]["message"].clone();
    assert_eq!(msg["tool_calls"][0]["function"]["name"], "read_file");
    let r = post(
        p.addr(),
        "/v1/chat/completions",
        body(json!([user, msg, {"role": "tool", "tool_call_id": "call_0_0", "content": "x"}])),
    )
    .await;
    assert_eq!(openai_content(&r), "fin");
    assert_eq!(p.stats().count(prompt), 4);
}

#[tokio::test]
async fn anthropic_tool_loop_and_validation() {
    let p = start().await;
    let prompt = r#"[[call:read_file {"path": "a"}]] [[call+:stat {"n": 1}]] [[echo-tools]]"#;
    let user = json!({"role": "user", "content": prompt});
    let body = |m: Value| json!({"model": "c", "max_tokens": 64, "tools": anthropic_tools(), "messages": m});

    let r = anthropic(p.addr(), body(json!([user]))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let v = r.json();
    assert_eq!(v["stop_reason"], "tool_use");
    assert_eq!(
        v["content"],
        json!([{"type": "tool_use", "id": "toolu_0_0", "name": "read_file", "input": {"path": "a"}},
               {"type": "tool_use", "id": "toolu_0_1", "name": "stat", "input": {"n": 1}}])
    );
    let assistant = json!({"role": "assistant", "content": v["content"]});
    let results = json!({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_0_0", "content": "hello"},
        {"type": "tool_result", "tool_use_id": "toolu_0_1",
         "content": [{"type": "text", "text": "no "}, {"type": "text", "text": "such file"}], "is_error": true}]});

    // The loop's final turn, tools off.
    let mut last = body(json!([user, assistant, results]));
    last["tool_choice"] = json!({"type": "none"});
    let r = anthropic(p.addr(), last).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["stop_reason"], "end_turn");
    let echoed: Value =
        serde_json::from_str(r.json()["content"][0]["text"].as_str().unwrap()).unwrap();
    assert_eq!(
        echoed,
        json!([{"name": "read_file", "id": "toolu_0_0", "content": "hello", "is_error": false},
               {"name": "stat", "id": "toolu_0_1", "content": "no such file", "is_error": true}])
    );
    let s = p.stats();
    let rec = s.requests.last().unwrap();
    assert_eq!(rec.prompt, prompt);
    assert!(rec.tool_choice_none);
    assert_eq!(
        (rec.tools, rec.tool_turn, rec.tool_results, rec.tool_calls),
        (1, 1, 2, 0)
    );
    assert_eq!(s.requests[0].tool_calls, 2);

    // tool_choice none on the first turn: text.
    let mut none = body(json!([user]));
    none["tool_choice"] = json!({"type": "none"});
    let r = anthropic(p.addr(), none).await;
    assert_eq!(r.json()["content"][0]["type"], "text");

    // Validation, like the real API.
    let bad = |m: Value| body(m);
    let one_result = json!({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_0_0", "content": "hello"}]});
    let r = anthropic(p.addr(), bad(json!([user, assistant, one_result]))).await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["error"]["type"], "invalid_request_error");
    assert!(r.text().contains("toolu_0_1"));
    let wrong_id = json!({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_0_0", "content": "a"},
        {"type": "tool_result", "tool_use_id": "toolu_0_1", "content": "b"},
        {"type": "tool_result", "tool_use_id": "toolu_x", "content": "c"}]});
    let r = anthropic(p.addr(), bad(json!([user, assistant, wrong_id]))).await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("toolu_x"));
    // Results not in the message right after the call.
    let r = anthropic(
        p.addr(),
        bad(json!([user, assistant, {"role": "user", "content": "wait"}, {"role": "assistant", "content": "ok"}, results])),
    )
    .await;
    assert_eq!(r.status, 400);
    // tool_use blocks without tools declared.
    let r = anthropic(
        p.addr(),
        json!({"model": "c", "max_tokens": 5, "messages": [user, assistant, results]}),
    )
    .await;
    assert_eq!(r.status, 400);
    assert!(r.text().contains("must define tools"));
}

#[tokio::test]
async fn anthropic_badargs_and_streaming() {
    let p = start().await;
    let r = anthropic(
        p.addr(),
        json!({"model": "c", "max_tokens": 64, "tools": anthropic_tools(),
               "messages": [{"role": "user", "content": r#"[[badargs]] [[call:read_file {"path": "a"}]]"#}]}),
    )
    .await;
    assert_eq!(r.json()["content"][0]["input"], json!(r#"{"path":"a"}"#));

    let r = anthropic(
        p.addr(),
        json!({"model": "c", "max_tokens": 64, "stream": true, "tools": anthropic_tools(),
               "messages": [{"role": "user", "content": r#"[[call:read_file {"path": "a"}]] [[call+:stat]]"#}]}),
    )
    .await;
    let events = sse_data(&r.text());
    let starts: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "content_block_start")
        .map(|e| &e["content_block"])
        .collect();
    assert_eq!(starts.len(), 2);
    assert_eq!(starts[0]["type"], "tool_use");
    assert_eq!(starts[1]["id"], "toolu_0_1");
    let input = |i: u64| -> Value {
        let text: String = events
            .iter()
            .filter(|e| e["type"] == "content_block_delta" && e["index"] == i)
            .map(|e| e["delta"]["partial_json"].as_str().unwrap())
            .collect();
        serde_json::from_str(&text).unwrap()
    };
    assert_eq!(input(0), json!({"path": "a"}));
    assert_eq!(input(1), json!({}));
    let delta = events
        .iter()
        .find(|e| e["type"] == "message_delta")
        .unwrap();
    assert_eq!(delta["delta"]["stop_reason"], "tool_use");
}

#[tokio::test]
async fn ollama_tool_loop() {
    let p = start().await;
    let prompt = r#"[[call:read_file {"path": "a"}]] [[call+:stat]] [[echo-tools]]"#;
    let user = json!({"role": "user", "content": prompt});
    let body =
        |m: Value| json!({"model": "l", "stream": false, "tools": openai_tools(), "messages": m});
    let r = post(p.addr(), "/api/chat", body(json!([user]))).await;
    assert_eq!(r.status, 200, "{}", r.text());
    let msg = r.json()["message"].clone();
    assert_eq!(
        msg,
        json!({"role": "assistant", "content": "",
               "tool_calls": [{"function": {"name": "read_file", "arguments": {"path": "a"}}},
                              {"function": {"name": "stat", "arguments": {}}}]})
    );
    // Lenient: results matched by name only, no ids needed.
    let r = post(
        p.addr(),
        "/api/chat",
        body(json!([user, msg,
            {"role": "tool", "tool_name": "read_file", "content": "hello"},
            {"role": "tool", "tool_name": "stat", "content": "42"}])),
    )
    .await;
    let echoed: Value =
        serde_json::from_str(r.json()["message"]["content"].as_str().unwrap()).unwrap();
    assert_eq!(
        echoed,
        json!([{"name": "read_file", "id": null, "content": "hello", "is_error": false},
               {"name": "stat", "id": null, "content": "42", "is_error": false}])
    );
    assert!(r.json()["message"].get("tool_calls").is_none());
    let rec = p.stats().requests.last().unwrap().clone();
    assert_eq!(
        (rec.tools, rec.tool_turn, rec.tool_results, rec.tool_calls),
        (1, 1, 2, 0)
    );

    // [[badargs]]: the arguments are a JSON string.
    let r = post(
        p.addr(),
        "/api/chat",
        body(
            json!([{"role": "user", "content": r#"[[call:read_file {"path": "a"}]] [[badargs]]"#}]),
        ),
    )
    .await;
    assert_eq!(
        r.json()["message"]["tool_calls"][0]["function"]["arguments"],
        json!(r#"{"path":"a"}"#)
    );

    // Streaming (the default): the calls in one line, then the done line.
    let r = post(
        p.addr(),
        "/api/chat",
        json!({"model": "l", "tools": openai_tools(), "messages": [user]}),
    )
    .await;
    let lines: Vec<Value> = r
        .text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let calls: Vec<&Value> = lines
        .iter()
        .filter_map(|l| l["message"]["tool_calls"].as_array())
        .flatten()
        .collect();
    assert_eq!(calls.len(), 2);
    assert_eq!(lines.last().unwrap()["done"], true);

    // No tools declared: text.
    let r = post(
        p.addr(),
        "/api/chat",
        json!({"model": "l", "stream": false, "messages": [user]}),
    )
    .await;
    assert_eq!(r.json()["message"]["content"], "[]");
}
