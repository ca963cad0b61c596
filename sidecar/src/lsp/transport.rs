//! The JSON-RPC pipes between the real stdio and tower-lsp-server.
//!
//! Input: a thread reads the private stdin, frames it with [`Framer`], and answers what is not a
//! JSON-RPC message itself (`-32700` parse error, `-32600` invalid request), so tower-lsp-server
//! only ever sees well-formed messages (its own decoder stops serving at the first bad one).
//! Output: whole messages, from tower-lsp-server and from the input thread alike, go through one
//! writer thread, so they never interleave mid-message on stdout.

use super::framing::{self, Frame, Framer};
use super::stdio::Stdio;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, mpsc};
use tower_lsp_server::jsonrpc::{Request, Response};

/// Custom requests whose params may be omitted; tower-lsp-server insists on a params field for
/// handlers that take one, so the transport supplies `{}`.
const OPTIONAL_PARAMS: &[&str] = &[odw_protocol::lsp::REQ_CANCEL, odw_protocol::lsp::REQ_RUNS];

enum Out {
    Message(Vec<u8>),
    Flush(std_mpsc::Sender<()>),
}

/// The two ends tower-lsp-server serves on, and a handle to flush what is still queued.
pub struct Transport {
    pub input: InputReader,
    pub output: OutputWriter,
    pub flush: Flush,
    /// Notified when stdin ends (the client is gone, with or without `exit`).
    pub closed: Arc<Notify>,
}

/// Starts the reader and writer threads.
pub fn start(stdio: Stdio) -> std::io::Result<Transport> {
    let (out_tx, out_rx) = std_mpsc::channel::<Out>();
    let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>(64);
    let Stdio { input, output } = stdio;
    std::thread::Builder::new()
        .name("odw-lsp-write".into())
        .spawn(move || write_loop(output, out_rx))?;
    let errors = out_tx.clone();
    let closed = Arc::new(Notify::new());
    let on_close = closed.clone();
    std::thread::Builder::new()
        .name("odw-lsp-read".into())
        .spawn(move || {
            read_loop(input, in_tx, errors);
            on_close.notify_one();
        })?;
    Ok(Transport {
        input: InputReader {
            rx: in_rx,
            pending: Vec::new(),
            pos: 0,
        },
        output: OutputWriter {
            framer: Framer::default(),
            out: out_tx.clone(),
        },
        flush: Flush { out: out_tx },
        closed,
    })
}

fn write_loop(mut output: Box<dyn Write + Send>, rx: std_mpsc::Receiver<Out>) {
    let mut broken = false;
    for out in rx {
        match out {
            Out::Message(bytes) if !broken => {
                if output
                    .write_all(&bytes)
                    .and_then(|()| output.flush())
                    .is_err()
                {
                    // The client is gone; keep draining so senders never block or fail.
                    broken = true;
                }
            }
            Out::Message(_) => {}
            Out::Flush(ack) => {
                let _ = ack.send(());
            }
        }
    }
}

fn read_loop(
    mut input: Box<dyn Read + Send>,
    valid: mpsc::Sender<Vec<u8>>,
    errors: std_mpsc::Sender<Out>,
) {
    let mut framer = Framer::default();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match input.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                tracing::warn!("reading stdin failed: {e}");
                break;
            }
        };
        framer.push(&chunk[..n]);
        while let Some(frame) = framer.next_frame() {
            match frame {
                Frame::Body(body) => match check_message(&body) {
                    Checked::Forward(bytes) => {
                        if valid.blocking_send(framing::encode(&bytes)).is_err() {
                            return;
                        }
                    }
                    Checked::Reject(reply) => {
                        if reply.code == PARSE_ERROR {
                            framer.recover(&body);
                        }
                        tracing::debug!("rejected a message: {}", reply.message);
                        let _ = errors.send(Out::Message(framing::encode(&reply.to_bytes())));
                    }
                },
                Frame::Malformed(why) => {
                    tracing::debug!("skipped a malformed frame: {why}");
                    let reply = Reply::new(Value::Null, PARSE_ERROR, format!("Parse error: {why}"));
                    let _ = errors.send(Out::Message(framing::encode(&reply.to_bytes())));
                }
            }
        }
    }
}

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;

/// An error response the transport sends itself.
#[derive(Debug)]
pub(crate) struct Reply {
    id: Value,
    code: i64,
    message: String,
}

impl Reply {
    fn new(id: Value, code: i64, message: String) -> Reply {
        Reply { id, code, message }
    }

    fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "jsonrpc": "2.0",
            "id": self.id,
            "error": {"code": self.code, "message": self.message},
        }))
        .unwrap_or_default()
    }
}

#[derive(Debug)]
pub(crate) enum Checked {
    Forward(Vec<u8>),
    Reject(Reply),
}

/// Decides whether a body is a JSON-RPC message tower-lsp-server accepts, exactly as it parses
/// them (a response first, then a request or notification).
pub(crate) fn check_message(body: &[u8]) -> Checked {
    let value: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => {
            return Checked::Reject(Reply::new(
                Value::Null,
                PARSE_ERROR,
                format!("Parse error: {e}"),
            ));
        }
    };
    let invalid = |id: Value, why: &str| {
        Checked::Reject(Reply::new(
            id,
            INVALID_REQUEST,
            format!("Invalid request: {why}"),
        ))
    };
    let Value::Object(mut object) = value else {
        return if value.is_array() {
            invalid(
                Value::Null,
                "batches are not supported by the Language Server Protocol",
            )
        } else {
            invalid(Value::Null, "a message must be a JSON object")
        };
    };
    let id = match object.get("id") {
        Some(id @ (Value::Number(_) | Value::String(_))) => id.clone(),
        _ => Value::Null,
    };
    if object.get("jsonrpc") != Some(&json!("2.0")) {
        return invalid(id, "\"jsonrpc\" must be \"2.0\"");
    }
    let is_response = object.contains_key("result") || object.contains_key("error");
    if !is_response {
        let Some(method) = object.get("method").and_then(Value::as_str) else {
            return invalid(id, "\"method\" must be a string");
        };
        // `$/` methods are notifications that may be ignored; a *request* for one must be
        // answered MethodNotFound (the specification), which tower-lsp-server never does.
        if method.starts_with("$/") && object.contains_key("id") {
            return Checked::Reject(Reply::new(
                id,
                METHOD_NOT_FOUND,
                format!("Method not found: {method} is not a request"),
            ));
        }
        if OPTIONAL_PARAMS.contains(&method) && object.get("params").is_none_or(Value::is_null) {
            object.insert("params".into(), json!({}));
        }
    }
    let value = Value::Object(object);
    let accepted = if is_response {
        serde_json::from_value::<Response>(value.clone()).is_ok()
    } else {
        serde_json::from_value::<Request>(value.clone()).is_ok()
    };
    if !accepted {
        return invalid(id, "not a valid request, notification or response");
    }
    Checked::Forward(serde_json::to_vec(&value).unwrap_or_default())
}

/// tower-lsp-server's stdin: validated, re-framed messages.
pub struct InputReader {
    rx: mpsc::Receiver<Vec<u8>>,
    pending: Vec<u8>,
    pos: usize,
}

impl AsyncRead for InputReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        if self.pos == self.pending.len() {
            match self.rx.poll_recv(cx) {
                Poll::Ready(Some(bytes)) => {
                    self.pending = bytes;
                    self.pos = 0;
                }
                // The reader thread ended: end of input.
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = buf.remaining().min(self.pending.len() - self.pos);
        let start = self.pos;
        buf.put_slice(&self.pending[start..start + n]);
        self.pos += n;
        Poll::Ready(Ok(()))
    }
}

/// tower-lsp-server's stdout: cut back into whole messages and queued for the writer thread.
pub struct OutputWriter {
    framer: Framer,
    out: std_mpsc::Sender<Out>,
}

impl AsyncWrite for OutputWriter {
    fn poll_write(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.framer.push(buf);
        while let Some(frame) = self.framer.next_frame() {
            if let Frame::Body(body) = frame {
                let _ = self.out.send(Out::Message(framing::encode(&body)));
            }
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

/// Waits until everything queued so far is written.
pub struct Flush {
    out: std_mpsc::Sender<Out>,
}

impl Flush {
    /// Blocks the calling thread until the queue is written or `timeout` passes.
    pub fn wait(&self, timeout: Duration) {
        let (tx, rx) = std_mpsc::channel();
        if self.out.send(Out::Flush(tx)).is_ok() {
            let _ = rx.recv_timeout(timeout);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reject(body: &str) -> Reply {
        match check_message(body.as_bytes()) {
            Checked::Reject(r) => r,
            Checked::Forward(b) => panic!("forwarded {}", String::from_utf8_lossy(&b)),
        }
    }

    fn forward(body: &str) -> Value {
        match check_message(body.as_bytes()) {
            Checked::Forward(b) => serde_json::from_slice(&b).unwrap(),
            Checked::Reject(r) => panic!("rejected: {r:?}"),
        }
    }

    #[test]
    fn good_messages_pass() {
        forward(r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"capabilities":{}}}"#);
        forward(r#"{"jsonrpc":"2.0","method":"initialized","params":{}}"#);
        forward(r#"{"jsonrpc":"2.0","id":"a","result":null}"#);
        forward(r#"{"jsonrpc":"2.0","id":3,"error":{"code":-1,"message":"no"}}"#);
        let v = forward(r#"{"jsonrpc":"2.0","id":4,"method":"odw/cancel"}"#);
        assert_eq!(v["params"], json!({}));
    }

    #[test]
    fn bad_messages_get_the_right_error() {
        let r = reject("{\"jsonrpc\":");
        assert_eq!((r.code, r.id.clone()), (PARSE_ERROR, Value::Null));
        let r = reject(r#"[{"jsonrpc":"2.0","id":1,"method":"x"}]"#);
        assert_eq!(r.code, INVALID_REQUEST);
        let r = reject(r#"{"jsonrpc":"2.0","id":7}"#);
        assert_eq!((r.code, r.id.clone()), (INVALID_REQUEST, json!(7)));
        let r = reject(r#"{"jsonrpc":"1.0","id":8,"method":"x"}"#);
        assert_eq!((r.code, r.id.clone()), (INVALID_REQUEST, json!(8)));
        let r = reject(r#"{"jsonrpc":"2.0","id":{},"method":"x"}"#);
        assert_eq!((r.code, r.id.clone()), (INVALID_REQUEST, Value::Null));
        let r = reject("42");
        assert_eq!(r.code, INVALID_REQUEST);
        let r = reject(r#"{"jsonrpc":"2.0","id":9,"method":"$/setTrace","params":{}}"#);
        assert_eq!((r.code, r.id.clone()), (METHOD_NOT_FOUND, json!(9)));
        forward(r#"{"jsonrpc":"2.0","method":"$/setTrace","params":{"value":"off"}}"#);
    }
}
