//! A small LSP client for the end-to-end tests: spawns the real `odw lsp`, speaks framed
//! JSON-RPC over its pipes, reads every message on a background thread while checking that every
//! byte of stdout is a well-framed JSON-RPC message, and answers the server's own requests like
//! an editor would.

#![allow(dead_code)]

use crate::support::Ws;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, ExitStatus, Stdio};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// How long any single wait may take before the test fails (runs share two cores).
pub const TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Inbox {
    messages: Vec<Value>,
    /// Anything on stdout that was not a framed JSON-RPC message.
    impurities: Vec<String>,
    closed: bool,
}

type Shared = Arc<(Mutex<Inbox>, Condvar)>;

/// How the client answers `window/showMessageRequest`, one entry per request in order:
/// `Some(title)` picks that action, `None` never answers. With none left, it never answers.
pub type Dialogs = Arc<Mutex<std::collections::VecDeque<Option<String>>>>;

/// A running `odw lsp` and its conversation so far.
pub struct Lsp {
    child: Child,
    stdin: Arc<Mutex<Option<ChildStdin>>>,
    inbox: Shared,
    stderr: Arc<Mutex<Vec<u8>>>,
    next_id: AtomicI64,
    /// The answers to approval dialogs (see [`Dialogs`]).
    pub dialogs: Dialogs,
}

impl Lsp {
    /// Starts `odw lsp` in the workspace with a clean environment.
    pub fn spawn(ws: &Ws) -> Lsp {
        Lsp::spawn_command(ws.cmd(&["lsp"]))
    }

    /// Starts a prepared `odw lsp` command (its stdio is taken over here).
    pub fn spawn_command(mut cmd: std::process::Command) -> Lsp {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn odw lsp");
        let stdin = Arc::new(Mutex::new(child.stdin.take()));
        let inbox: Shared = Arc::default();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let out = child.stdout.take().unwrap();
        let dialogs: Dialogs = Arc::default();
        {
            let (inbox, stdin, dialogs) = (inbox.clone(), stdin.clone(), dialogs.clone());
            std::thread::spawn(move || read_stdout(out, inbox, stdin, dialogs));
        }
        {
            let mut err = child.stderr.take().unwrap();
            let stderr = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    stderr.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        Lsp {
            child,
            stdin,
            inbox,
            stderr,
            next_id: AtomicI64::new(1),
            dialogs,
        }
    }

    /// `initialize` (then `initialized`) with these client capabilities and options.
    pub fn initialize(&self, ws: &Ws, capabilities: Value, options: Value) -> Value {
        let root = format!("file://{}", ws.path().display());
        let r = self.request(
            "initialize",
            json!({
                "processId": null,
                "rootUri": root,
                "workspaceFolders": [{"uri": root, "name": "ws"}],
                "capabilities": capabilities,
                "initializationOptions": options,
            }),
        );
        self.notify("initialized", json!({}));
        r
    }

    /// Closes the server's stdin (the client went away).
    pub fn close_stdin(&self) {
        self.stdin.lock().unwrap().take();
    }

    /// Writes raw bytes to the server's stdin.
    pub fn send_raw(&self, bytes: &[u8]) {
        write_to(&self.stdin, bytes);
    }

    /// Sends a request and returns its id.
    pub fn send_request(&self, method: &str, params: Value) -> i64 {
        let id = self.next_id.fetch_add(1, Ordering::SeqCst);
        let msg = json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params});
        write_to(&self.stdin, &frame(&msg));
        id
    }

    /// Sends a request and waits for its response (the whole response message).
    pub fn request(&self, method: &str, params: Value) -> Value {
        let id = self.send_request(method, params);
        self.response(id)
    }

    /// The response to request `id`.
    pub fn response(&self, id: i64) -> Value {
        self.wait_for(&format!("the response to request {id}"), |m| {
            m["id"] == json!(id) && m.get("method").is_none()
        })
    }

    /// Sends a notification.
    pub fn notify(&self, method: &str, params: Value) {
        let msg = json!({"jsonrpc": "2.0", "method": method, "params": params});
        write_to(&self.stdin, &frame(&msg));
    }

    /// The first message (from the start of the conversation) that matches, waiting for it.
    pub fn wait_for(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let found = self.wait_until(what, |all| all.iter().any(&pred));
        found.into_iter().find(|m| pred(m)).unwrap()
    }

    /// Waits until `cond` holds for the whole conversation so far, and returns it. (`cond` runs
    /// under the inbox lock: it must not call back into the client.)
    pub fn wait_until(&self, what: &str, cond: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + TIMEOUT;
        let (lock, cvar) = &*self.inbox;
        let mut inbox = lock.lock().unwrap();
        loop {
            if cond(&inbox.messages) {
                return inbox.messages.clone();
            }
            let now = Instant::now();
            if now >= deadline || inbox.closed {
                let tail: Vec<String> = inbox
                    .messages
                    .iter()
                    .rev()
                    .take(15)
                    .map(|m| m.to_string())
                    .collect();
                drop(inbox);
                panic!(
                    "timed out waiting for {what}\nlast messages (newest first):\n{}\nstderr:\n{}",
                    tail.join("\n"),
                    self.stderr()
                );
            }
            inbox = cvar.wait_timeout(inbox, deadline - now).unwrap().0;
        }
    }

    /// Every message received so far.
    pub fn messages(&self) -> Vec<Value> {
        self.inbox.0.lock().unwrap().messages.clone()
    }

    /// The params of every notification (or server request) with this method so far.
    pub fn received(&self, method: &str) -> Vec<Value> {
        self.messages()
            .into_iter()
            .filter(|m| m["method"] == method)
            .map(|m| m["params"].clone())
            .collect()
    }

    /// What the server wrote to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Fails the test if anything on stdout was not framed JSON-RPC.
    pub fn assert_pure(&self) {
        let inbox = self.inbox.0.lock().unwrap();
        assert!(
            inbox.impurities.is_empty(),
            "stdout is not pure JSON-RPC: {:?}",
            inbox.impurities
        );
    }

    /// `shutdown` then `exit`; returns the exit code.
    pub fn shutdown_and_exit(&mut self) -> i32 {
        let r = self.request("shutdown", Value::Null);
        assert!(r.get("error").is_none(), "shutdown failed: {r}");
        self.notify("exit", Value::Null);
        self.wait_exit()
    }

    /// Waits for the process to end and returns its exit code.
    pub fn wait_exit(&mut self) -> i32 {
        let status = self.wait_status(TIMEOUT).expect("odw lsp did not exit");
        self.assert_pure();
        status.code().expect("odw lsp was killed by a signal")
    }

    fn wait_status(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(s) = self.child.try_wait().unwrap() {
                return Some(s);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Lsp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if !std::thread::panicking() {
            self.assert_pure();
        }
    }
}

/// Frames a message.
pub fn frame(msg: &Value) -> Vec<u8> {
    let body = serde_json::to_vec(msg).unwrap();
    let mut out = format!("Content-Length: {}\r\n\r\n", body.len()).into_bytes();
    out.extend_from_slice(&body);
    out
}

/// Reads one message strictly: headers, a blank line, exactly Content-Length bytes of JSON.
/// `Ok(None)` at a clean end of stream; anything malformed is an error naming what was wrong.
pub fn read_frame(r: &mut impl BufRead) -> Result<Option<Value>, String> {
    let mut length = None;
    let mut first = true;
    loop {
        let mut line = Vec::new();
        let n = r.read_until(b'\n', &mut line).map_err(|e| e.to_string())?;
        if n == 0 {
            return if first {
                Ok(None)
            } else {
                Err("stdout ended inside a header".into())
            };
        }
        first = false;
        let text = String::from_utf8(line).map_err(|_| "a header is not UTF-8".to_string())?;
        let Some(text) = text.strip_suffix("\r\n") else {
            return Err(format!("a header line does not end in CRLF: {text:?}"));
        };
        if text.is_empty() {
            break;
        }
        let (name, value) = text
            .split_once(": ")
            .ok_or(format!("not a header: {text:?}"))?;
        match name {
            "Content-Length" => {
                length = Some(
                    value
                        .parse::<usize>()
                        .map_err(|_| format!("bad length {value:?}"))?,
                )
            }
            "Content-Type" => {}
            _ => return Err(format!("unexpected header {text:?}")),
        }
    }
    let length = length.ok_or("no Content-Length")?;
    let mut body = vec![0u8; length];
    r.read_exact(&mut body)
        .map_err(|e| format!("short body: {e}"))?;
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| format!("body is not JSON ({e}): {}", String::from_utf8_lossy(&body)))
}

fn write_to(stdin: &Mutex<Option<ChildStdin>>, bytes: &[u8]) {
    if let Some(s) = stdin.lock().unwrap().as_mut() {
        // The server may have exited already (e.g. after `exit`); that is for the test to judge.
        let _ = s.write_all(bytes).and_then(|()| s.flush());
    }
}

/// Reads stdout strictly: headers, a blank line, exactly Content-Length bytes of one JSON-RPC
/// object. Anything else is recorded as an impurity and ends the reading.
fn read_stdout(
    out: impl Read,
    inbox: Shared,
    stdin: Arc<Mutex<Option<ChildStdin>>>,
    dialogs: Dialogs,
) {
    let mut r = BufReader::new(out);
    let result = (|| -> Result<(), String> {
        loop {
            let Some(msg) = read_frame(&mut r)? else {
                return Ok(());
            };
            if msg["jsonrpc"] != "2.0" || !msg.is_object() {
                return Err(format!("not a JSON-RPC 2.0 message: {msg}"));
            }
            if let (Some(method), Some(id)) = (msg["method"].as_str(), msg.get("id")) {
                let reply = match method {
                    "window/showMessageRequest" => match dialogs.lock().unwrap().pop_front() {
                        Some(Some(title)) => json!({"result": {"title": title}}),
                        // Never answered, like a user who walked away.
                        _ => Value::Null,
                    },
                    "window/workDoneProgress/create" | "workspace/codeLens/refresh" => {
                        json!({"result": null})
                    }
                    "window/showDocument" => json!({"result": {"success": true}}),
                    _ => {
                        json!({"error": {"code": -32601, "message": "unhandled in the test client"}})
                    }
                };
                if let Some(reply) = reply.as_object() {
                    let mut reply = reply.clone();
                    reply.insert("jsonrpc".into(), json!("2.0"));
                    reply.insert("id".into(), id.clone());
                    write_to(&stdin, &frame(&Value::Object(reply)));
                }
            }
            let (lock, cvar) = &*inbox;
            lock.lock().unwrap().messages.push(msg);
            cvar.notify_all();
        }
    })();
    let (lock, cvar) = &*inbox;
    let mut i = lock.lock().unwrap();
    if let Err(e) = result {
        i.impurities.push(e);
    }
    i.closed = true;
    cvar.notify_all();
}
