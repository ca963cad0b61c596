//! A scripted planning model on 127.0.0.1: answers OpenAI Chat Completions requests with a fixed
//! sequence of replies (the last one repeats) and records every request body. The loopback test
//! provider reads directives from the last user message only, which a repair request replaces;
//! this server lets a test choose each round's reply.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

pub struct Scripted {
    pub url: String,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl Scripted {
    /// Serves `replies` in order on a free port, in a thread that lives as long as the test.
    pub fn spawn(replies: Vec<String>) -> Scripted {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/v1", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let seen = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let body = match read_request(&stream) {
                    Some(b) => b,
                    None => continue,
                };
                let n = {
                    let mut s = seen.lock().unwrap();
                    s.push(body);
                    s.len()
                };
                let text = replies[(n - 1).min(replies.len() - 1)].clone();
                respond(stream, &text);
            }
        });
        Scripted { url, requests }
    }

    /// Every request body so far, in order.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().unwrap().clone()
    }

    /// The `odw.toml` that routes the `planning` alias here (and the default model to `default`).
    pub fn toml(&self, default_model: &str) -> String {
        format!(
            "[models]\ndefault = \"{default_model}\"\nplanning = \"plan:m\"\n\n\
             [providers.plan]\nbase_url = \"{}\"\n\n[limits]\nbackoff_base_ms = 5\nbackoff_max_ms = 20\n",
            self.url
        )
    }
}

/// The last user message of a recorded request.
pub fn last_user(req: &Value) -> String {
    req["messages"]
        .as_array()
        .unwrap()
        .iter()
        .rev()
        .find(|m| m["role"] == "user")
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn read_request(stream: &TcpStream) -> Option<Value> {
    let mut reader = BufReader::new(stream);
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    serde_json::from_slice(&body).ok()
}

fn respond(mut stream: TcpStream, text: &str) {
    let body = json!({
        "id": "chatcmpl-plan", "object": "chat.completion", "created": 0, "model": "m",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 100, "completion_tokens": 50, "total_tokens": 150},
    })
    .to_string();
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
}
