//! The Helix integration (clients/helix): the snippets parse and use only keys Helix knows, and a
//! client that behaves as Helix does gets runs started, progress and outcomes from `odw lsp`.
//!
//! Helix speaks only standard LSP: `:lsp-workspace-command` sends `workspace/executeCommand`
//! without a progress token and drops the result, requests time out after 20 s, and custom
//! notifications have no handler. [`Helix`] reproduces that against the real server.

use crate::support::*;
use odw_protocol::lsp::COMMANDS;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

fn helix_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/helix")
}

fn read_toml(name: &str) -> toml::Table {
    let text = std::fs::read_to_string(helix_dir().join(name)).unwrap();
    text.parse()
        .unwrap_or_else(|e| panic!("clients/helix/{name} is not TOML: {e}"))
}

/// `[[language]]` keys in Helix's book (languages.md, 24.x–25.x).
const LANGUAGE_KEYS: &[&str] = &[
    "name",
    "language-id",
    "scope",
    "injection-regex",
    "file-types",
    "shebangs",
    "roots",
    "auto-format",
    "comment-token",
    "comment-tokens",
    "block-comment-tokens",
    "diagnostic-severity",
    "indent",
    "language-servers",
    "grammar",
    "formatter",
    "soft-wrap",
    "text-width",
    "rulers",
    "workspace-lsp-roots",
    "persistent-diagnostic-sources",
    "path-completion",
    "word-completion",
    "auto-pairs",
    "debugger",
];
/// `[language-server.<name>]` keys.
const LANGUAGE_SERVER_KEYS: &[&str] = &[
    "command",
    "args",
    "environment",
    "config",
    "timeout",
    "required-root-patterns",
];
/// Keys of a table entry in `language-servers`.
const LANGUAGE_SERVERS_ENTRY_KEYS: &[&str] = &["name", "only-features", "except-features"];
/// `[editor.lsp]` keys in config.toml.
const EDITOR_LSP_KEYS: &[&str] = &[
    "enable",
    "display-messages",
    "display-progress-messages",
    "auto-signature-help",
    "display-inlay-hints",
    "display-color-swatches",
    "display-signature-help-docs",
    "snippets",
    "goto-reference-include-declaration",
    "inlay-hints-length-limit",
];

fn unknown<'a>(table: &'a toml::Table, known: &[&str]) -> Vec<&'a str> {
    table
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect()
}

#[test]
fn languages_snippet_parses_and_uses_only_keys_helix_knows() {
    let t = read_toml("languages.toml");
    assert_eq!(
        unknown(
            &t,
            &["language", "language-server", "grammar", "use-grammars"]
        ),
        Vec::<&str>::new()
    );
    let servers = t["language-server"].as_table().unwrap();
    let odw = servers["odw"].as_table().expect("[language-server.odw]");
    assert_eq!(unknown(odw, LANGUAGE_SERVER_KEYS), Vec::<&str>::new());
    assert_eq!(odw["command"].as_str(), Some("odw"));
    assert_eq!(odw["args"].as_array().unwrap(), &[toml::Value::from("lsp")]);

    let languages = t["language"].as_array().unwrap();
    let js = languages
        .iter()
        .filter_map(toml::Value::as_table)
        .find(|l| l["name"].as_str() == Some("javascript"))
        .expect("a [[language]] for javascript");
    for l in languages.iter().filter_map(toml::Value::as_table) {
        assert_eq!(unknown(l, LANGUAGE_KEYS), Vec::<&str>::new());
    }
    let names: Vec<&str> = js["language-servers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| match s {
            toml::Value::String(s) => s.as_str(),
            toml::Value::Table(e) => {
                assert_eq!(unknown(e, LANGUAGE_SERVERS_ENTRY_KEYS), Vec::<&str>::new());
                e["name"].as_str().unwrap()
            }
            other => panic!("not a language server: {other:?}"),
        })
        .collect();
    // The list replaces Helix's default, so the default JavaScript server must be kept.
    assert_eq!(names, ["typescript-language-server", "odw"]);
}

#[test]
fn config_snippet_uses_known_keys_and_real_commands() {
    let t = read_toml("config.toml");
    let lsp = t["editor"]["lsp"].as_table().unwrap();
    assert_eq!(unknown(lsp, EDITOR_LSP_KEYS), Vec::<&str>::new());
    assert_eq!(lsp["display-progress-messages"].as_bool(), Some(true));
    assert_eq!(lsp["display-messages"].as_bool(), Some(true));
    let menu = t["keys"]["normal"]["space"]["o"].as_table().unwrap();
    assert!(!menu.is_empty());
    for (key, binding) in menu {
        let line = binding.as_str().unwrap();
        assert!(line.starts_with(':'), "{key}: a typable command: {line}");
        if let Some(rest) = line.strip_prefix(":lsp-workspace-command ") {
            let command = rest.split_whitespace().next().unwrap();
            assert!(
                COMMANDS.contains(&command),
                "{key}: {command} is not an odw command"
            );
            // After the command Helix reads a stream of JSON values (once expanded).
            let args = rest[command.len()..].replace("%{file_path_absolute}", "/w/a.workflow.js");
            for v in serde_json::Deserializer::from_str(&args).into_iter::<Value>() {
                v.unwrap_or_else(|e| panic!("{key}: arguments are not JSON: {e}: {args}"));
            }
        }
    }
    let readme = std::fs::read_to_string(helix_dir().join("README.md")).unwrap();
    for needle in [
        "replaces",
        "display-progress-messages",
        ":lsp-workspace-command odw.run",
    ] {
        assert!(readme.contains(needle), "the README explains {needle}");
    }
}

/// How long Helix waits for a response before giving up on a request.
const HELIX_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a test waits for the server to tell it something (runs share two cores).
const WAIT: Duration = Duration::from_secs(60);

/// A language client that behaves as Helix does, over the real `odw lsp`'s pipes.
struct Helix {
    child: Child,
    stdin: ChildStdin,
    inbox: Receiver<Value>,
    /// Everything the server sent, in order.
    seen: Vec<Value>,
    next_id: i64,
    stderr_path: PathBuf,
}

fn frame(msg: &Value) -> Vec<u8> {
    let body = msg.to_string();
    format!("Content-Length: {}\r\n\r\n{body}", body.len()).into_bytes()
}

fn read_messages(out: impl Read, tx: std::sync::mpsc::Sender<Value>) {
    let mut r = BufReader::new(out);
    loop {
        let mut len = None;
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some(v) = line.strip_prefix("Content-Length: ") {
                len = v.parse::<usize>().ok();
            }
        }
        let mut body = vec![0; len.expect("a Content-Length header")];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        let msg: Value = serde_json::from_slice(&body).expect("a JSON body");
        if tx.send(msg).is_err() {
            return;
        }
    }
}

impl Helix {
    /// Starts `odw lsp` in the workspace and initializes it with Helix's capabilities (its
    /// `initialize` in helix-lsp/src/client.rs, trimmed to what matters here).
    fn start(ws: &Ws, work_done_progress: bool) -> Helix {
        let stderr_path = ws.path().join("odw-lsp.stderr");
        let mut child = ws
            .cmd(&["lsp"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr_path).unwrap())
            .spawn()
            .expect("spawn odw lsp");
        let (tx, inbox) = channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || read_messages(out, tx));
        let stdin = child.stdin.take().unwrap();
        let mut h = Helix {
            child,
            stdin,
            inbox,
            seen: vec![],
            next_id: 0,
            stderr_path,
        };
        let root = uri(ws.path());
        let mut window = json!({});
        if work_done_progress {
            window = json!({"workDoneProgress": true});
        }
        let r = h.request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "rootUri": root,
                "rootPath": ws.path(),
                "workspaceFolders": [{"uri": root, "name": "ws"}],
                "clientInfo": {"name": "helix", "version": "25.07"},
                "capabilities": {
                    "workspace": {
                        "configuration": true,
                        "didChangeConfiguration": {"dynamicRegistration": false},
                        "workspaceFolders": true,
                        "applyEdit": true,
                        "executeCommand": {"dynamicRegistration": false},
                        "didChangeWatchedFiles": {"dynamicRegistration": true},
                    },
                    "textDocument": {
                        "publishDiagnostics": {"versionSupport": true},
                        "hover": {"contentFormat": ["markdown"]},
                    },
                    "window": window,
                    "general": {"positionEncodings": ["utf-8", "utf-32", "utf-16"]},
                },
            }),
        );
        assert!(r.get("error").is_none(), "initialize failed: {r}");
        h.notify("initialized", json!({}));
        h
    }

    fn send(&mut self, msg: &Value) {
        self.stdin.write_all(&frame(msg)).unwrap();
        self.stdin.flush().unwrap();
    }

    fn notify(&mut self, method: &str, params: Value) {
        self.send(&json!({"jsonrpc": "2.0", "method": method, "params": params}));
    }

    /// Answers a request from the server the way Helix does.
    fn answer(&mut self, req: &Value) {
        let result = match req["method"].as_str().unwrap_or("") {
            "window/workDoneProgress/create" | "client/registerCapability" => Ok(Value::Null),
            "workspace/configuration" => {
                let n = req["params"]["items"].as_array().map_or(0, Vec::len);
                Ok(Value::Array(vec![Value::Null; n]))
            }
            "workspace/workspaceFolders" => Ok(json!([])),
            _ => Err(json!({"code": -32601, "message": "Method not found"})),
        };
        let msg = match result {
            Ok(r) => json!({"jsonrpc": "2.0", "id": req["id"], "result": r}),
            Err(e) => json!({"jsonrpc": "2.0", "id": req["id"], "error": e}),
        };
        self.send(&msg);
    }

    /// Reads messages (answering the server's requests) until one matches, or panics after
    /// `timeout`.
    fn wait_for(&mut self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        if let Some(m) = self.seen.iter().find(|m| pred(m)) {
            return m.clone();
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let msg = match self.inbox.recv_timeout(left) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => panic!(
                    "no {what} within {timeout:?}\nseen:\n{}\nstderr:\n{}",
                    self.transcript(),
                    self.stderr()
                ),
                Err(RecvTimeoutError::Disconnected) => panic!(
                    "the server closed stdout before {what}\nseen:\n{}\nstderr:\n{}",
                    self.transcript(),
                    self.stderr()
                ),
            };
            if msg.get("method").is_some() && msg.get("id").is_some() {
                self.answer(&msg);
            }
            self.seen.push(msg.clone());
            if pred(&msg) {
                return msg;
            }
        }
    }

    /// A request with Helix's 20 s timeout; returns the whole response.
    fn request(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        self.send(&json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}));
        let what = format!("response to {method} (Helix gives up after 20 s)");
        self.wait_for(&what, HELIX_TIMEOUT, |m| {
            m["id"] == json!(id) && m.get("method").is_none()
        })
    }

    /// `:lsp-workspace-command COMMAND ARGS…`: no progress token, and the result is dropped
    /// (only an error would show, in the statusline).
    fn workspace_command(&mut self, command: &str, arguments: Value) {
        let started = Instant::now();
        let r = self.request(
            "workspace/executeCommand",
            json!({"command": command, "arguments": arguments}),
        );
        assert!(r.get("error").is_none(), "{command} failed: {r}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{command} must answer at once, took {:?}",
            started.elapsed()
        );
    }

    fn open(&mut self, path: &Path) {
        let text = std::fs::read_to_string(path).unwrap();
        self.notify(
            "textDocument/didOpen",
            json!({"textDocument": {"uri": uri(path), "languageId": "javascript", "version": 0, "text": text}}),
        );
    }

    /// The `window/showMessage` texts so far.
    fn messages(&self) -> Vec<String> {
        self.seen
            .iter()
            .filter(|m| m["method"] == "window/showMessage")
            .map(|m| m["params"]["message"].as_str().unwrap_or("").to_string())
            .collect()
    }

    fn wait_for_message(&mut self, needle: &str) -> String {
        let what = format!("showMessage containing {needle:?}");
        let m = self.wait_for(&what, WAIT, |m| {
            m["method"] == "window/showMessage"
                && m["params"]["message"]
                    .as_str()
                    .is_some_and(|s| s.contains(needle))
        });
        m["params"]["message"].as_str().unwrap().to_string()
    }

    fn methods(&self, method: &str) -> Vec<&Value> {
        self.seen.iter().filter(|m| m["method"] == method).collect()
    }

    fn transcript(&self) -> String {
        let lines: Vec<String> = self.seen.iter().map(Value::to_string).collect();
        lines.join("\n")
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// `:quit`: shutdown, exit, and the server ends.
    fn quit(mut self) {
        let r = self.request("shutdown", Value::Null);
        assert!(r.get("error").is_none(), "shutdown failed: {r}");
        self.notify("exit", Value::Null);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                assert!(status.success(), "odw lsp exited with {status}");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        panic!("odw lsp did not exit after shutdown and exit");
    }
}

impl Drop for Helix {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn uri(path: &Path) -> String {
    format!("file://{}", path.display())
}

fn hello(ws: &Ws) -> PathBuf {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello.workflow.js"),
    )
    .unwrap();
    ws.write("hello.workflow.js", &text)
}

/// The result file named at the end of a `showMessage` (`… (result: PATH)`).
fn result_path(message: &str) -> PathBuf {
    let start = message
        .rfind("(result: ")
        .expect("the message names the result file")
        + 9;
    PathBuf::from(message[start..].trim_end_matches(')'))
}

#[test]
fn helix_runs_a_script_and_reads_progress_and_the_outcome() {
    let ws = Ws::new();
    let script = hello(&ws);
    let mut hx = Helix::start(&ws, true);
    hx.open(&script);
    // `:lsp-workspace-command odw.run "%{file_path_absolute}"`: one JSON string, a plain path.
    hx.workspace_command("odw.run", json!([script.display().to_string()]));

    let message = hx.wait_for_message("succeeded");
    assert!(message.starts_with("odw: hello succeeded"), "{message}");
    let result = std::fs::read_to_string(result_path(&message)).unwrap();
    assert!(
        result.contains("echo: Write one short, friendly sentence"),
        "{result}"
    );

    // Progress: created by the server with an `odw/run/<id>` token, then begin … end.
    let created = hx.methods("window/workDoneProgress/create");
    assert_eq!(created.len(), 1, "{}", hx.transcript());
    let token = created[0]["params"]["token"].clone();
    assert!(token.as_str().unwrap().starts_with("odw/run/"), "{token}");
    let end = |m: &Value| m["method"] == "$/progress" && m["params"]["value"]["kind"] == "end";
    hx.wait_for("the progress end", WAIT, end);
    let kinds: Vec<&str> = hx
        .methods("$/progress")
        .iter()
        .filter(|m| m["params"]["token"] == token)
        .map(|m| m["params"]["value"]["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"begin"), "{kinds:?}");
    assert_eq!(kinds.last(), Some(&"end"), "{kinds:?}");
    let begin = &hx.methods("$/progress")[0]["params"]["value"];
    assert_eq!(begin["title"], "odw: hello", "{begin}");

    // Nothing Helix cannot handle: no custom notifications, no showDocument it did not declare.
    assert!(hx.methods("odw/runEvent").is_empty(), "{}", hx.transcript());
    assert!(
        hx.methods("window/showDocument").is_empty(),
        "{}",
        hx.transcript()
    );
    hx.quit();
}

#[test]
fn helix_without_progress_support_still_gets_runs_and_outcomes() {
    let ws = Ws::new();
    let script = hello(&ws);
    let mut hx = Helix::start(&ws, false);
    hx.open(&script);
    // `%{buffer_name}` from the project root: a path relative to the workspace.
    hx.workspace_command("odw.run", json!(["hello.workflow.js"]));
    let message = hx.wait_for_message("succeeded");
    assert!(result_path(&message).is_file(), "{message}");
    // A dry run with the object form of the arguments.
    hx.workspace_command(
        "odw.run",
        json!([{"uri": script.display().to_string(), "dryRun": true}]),
    );
    hx.wait_for_message("≈1 agents");
    assert!(hx.methods("window/workDoneProgress/create").is_empty());
    assert!(hx.methods("$/progress").is_empty());
    assert!(hx.methods("odw/runEvent").is_empty());
    hx.quit();
}

#[test]
fn helix_cancels_the_newest_run_with_a_bare_command() {
    let ws = Ws::new();
    let script = ws.write(
        "slow.workflow.js",
        "export const meta = { name: \"slow\" };\n\
         return await agent(\"[[latency:30000]] take your time\", { label: \"slow\" });\n",
    );
    let mut hx = Helix::start(&ws, true);
    hx.open(&script);
    hx.workspace_command("odw.run", json!([script.display().to_string()]));
    hx.wait_for("the agent under way", WAIT, |m| {
        m["method"] == "$/progress"
            && m["params"]["value"]["message"]
                .as_str()
                .is_some_and(|s| s.contains("0/1 agents"))
    });
    let started = Instant::now();
    // `:lsp-workspace-command odw.cancel`: no arguments at all.
    hx.workspace_command("odw.cancel", json!([]));
    let message = hx.wait_for_message("cancelled");
    assert!(message.starts_with("odw: slow cancelled"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cancelling took {:?}",
        started.elapsed()
    );
    assert_eq!(hx.messages().len(), 1, "{:?}", hx.messages());
    hx.quit();
}
