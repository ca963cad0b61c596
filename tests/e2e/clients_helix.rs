//! The Helix integration (clients/helix): the snippets parse and use only keys Helix knows, and a
//! client that behaves as Helix does gets runs started, progress and outcomes from `odw lsp`.
//!
//! Helix speaks only standard LSP: `:lsp-workspace-command` sends `workspace/executeCommand`
//! without a progress token and drops the result, requests time out after 20 s, and custom
//! notifications have no handler. [`Helix`] reproduces that against the real server.

use crate::lsp_client::{frame, read_frame};
use crate::support::*;
use odw_protocol::lsp::COMMANDS;
use serde_json::{Value, json};
use std::io::{BufReader, Read, Write};
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
            // Only what Helix 25.07.1 (the release) expands: `%{file_path_absolute}` is newer.
            assert!(
                !rest.contains("%{file_path_absolute}"),
                "{key}: Helix 25.07.1 does not know %{{file_path_absolute}}: {line}"
            );
            let args = rest[command.len()..].replace("%{buffer_name}", "a.workflow.js");
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

/// Reads the server's messages with the e2e client's strict framing (a malformed frame fails
/// the test instead of being skipped).
fn read_messages(out: impl Read, tx: std::sync::mpsc::Sender<Value>) {
    let mut r = BufReader::new(out);
    loop {
        match read_frame(&mut r) {
            Ok(Some(msg)) => {
                if tx.send(msg).is_err() {
                    return;
                }
            }
            Ok(None) => return,
            Err(e) => panic!("odw lsp wrote a malformed frame: {e}"),
        }
    }
}

impl Helix {
    /// Starts `odw lsp` in the workspace and initializes it with Helix's capabilities (its
    /// `initialize` in helix-lsp/src/client.rs, trimmed to what matters here).
    fn start(ws: &Ws, work_done_progress: bool) -> Helix {
        Helix::start_with(ws, work_done_progress, false, Value::Null)
    }

    /// As [`Helix::start`]; `show_document` as Helix master declares it (25.07.1 does not), and
    /// `options` as `[language-server.odw] config` sends them.
    fn start_with(ws: &Ws, work_done_progress: bool, show_document: bool, options: Value) -> Helix {
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
            window["workDoneProgress"] = json!(true);
        }
        if show_document {
            window["showDocument"] = json!({"support": true});
        }
        let r = h.request(
            "initialize",
            json!({
                "processId": std::process::id(),
                "rootUri": root,
                "rootPath": ws.path(),
                "workspaceFolders": [{"uri": root, "name": "ws"}],
                "clientInfo": {"name": "helix", "version": "25.07"},
                "initializationOptions": options,
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
            "window/showDocument" => Ok(json!({"success": true})),
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

/// The result file a `showMessage` names (`… → .odw/runs/<id>/result.md: preview`), relative
/// to the workspace so it fits in a status line.
fn result_path(ws: &Ws, message: &str) -> PathBuf {
    let start = message
        .find(" → ")
        .expect("the message names the result file")
        + " → ".len();
    let rest = &message[start..];
    let end = rest.find(".md").expect("a result.md path") + 3;
    let relative = Path::new(&rest[..end]);
    assert!(relative.is_relative(), "{message}");
    ws.path().join(relative)
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
    let result = std::fs::read_to_string(result_path(&ws, &message)).unwrap();
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
    // Helix prefixes progress with the server's name itself: `odw: hello`, not `odw: odw: hello`.
    assert_eq!(begin["title"], "hello", "{begin}");

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
    assert!(result_path(&ws, &message).is_file(), "{message}");
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
    // The call in flight was stopped, not failed.
    assert!(message.contains("1 cancelled"), "{message}");
    assert!(!message.contains("failed"), "{message}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "cancelling took {:?}",
        started.elapsed()
    );
    assert_eq!(hx.messages().len(), 1, "{:?}", hx.messages());
    hx.quit();
}

/// The request's error message, or panics when it succeeded.
fn error_of(r: &Value) -> String {
    r["error"]["message"]
        .as_str()
        .unwrap_or_else(|| panic!("expected an error: {r}"))
        .to_string()
}

#[test]
fn helix_buffer_names_resolve_and_ambiguity_is_an_error() {
    let ws = Ws::new();
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello.workflow.js"),
    )
    .unwrap();
    let a = ws.write("a/hello.workflow.js", &text);
    let b = ws.write("b/hello.workflow.js", &text);
    let mut hx = Helix::start(&ws, true);
    hx.open(&a);
    hx.open(&b);
    // `%{buffer_name}` of hx started in `a/`: ambiguous with `b/` open too.
    let r = hx.request(
        "workspace/executeCommand",
        json!({"command": "odw.run", "arguments": ["hello.workflow.js"]}),
    );
    let e = error_of(&r);
    assert!(e.contains("ambiguous"), "{e}");
    assert!(
        e.contains("a/hello.workflow.js") && e.contains("b/hello.workflow.js"),
        "{e}"
    );
    // hx started in `b/`, buffer in `a/`: `../a/hello.workflow.js`.
    hx.workspace_command("odw.run", json!(["../a/hello.workflow.js"]));
    hx.wait_for_message("succeeded");
    let r = hx.request(
        "workspace/executeCommand",
        json!({"command": "odw.run", "arguments": ["nowhere.workflow.js"]}),
    );
    assert!(error_of(&r).contains("no open document"), "{r}");
    hx.quit();
}

#[test]
fn helix_runs_from_a_code_action_with_the_estimate_in_its_title() {
    let ws = Ws::new();
    let script = hello(&ws);
    let mut hx = Helix::start(&ws, true);
    hx.open(&script);
    // `space a` anywhere in the file (Helix has no code lenses).
    let titles_and_commands = |hx: &mut Helix| -> Vec<(String, Value)> {
        let r = hx.request(
            "textDocument/codeAction",
            json!({
                "textDocument": {"uri": uri(&script)},
                "range": {"start": {"line": 3, "character": 0}, "end": {"line": 3, "character": 0}},
                "context": {"diagnostics": []},
            }),
        );
        r["result"]
            .as_array()
            .unwrap_or_else(|| panic!("code actions: {r}"))
            .iter()
            .map(|a| {
                (
                    a["title"].as_str().unwrap().to_string(),
                    a["command"].clone(),
                )
            })
            .collect()
    };
    // The estimate is computed on the simulated provider in the background: it shows at once
    // or on a later request.
    let deadline = Instant::now() + WAIT;
    let actions = loop {
        let actions = titles_and_commands(&mut hx);
        if actions
            .iter()
            .any(|(t, _)| t.starts_with("odw: Dry run: ≈1 agents · ≈$"))
        {
            break actions;
        }
        assert!(Instant::now() < deadline, "no estimate in {actions:?}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let (_, run) = actions
        .iter()
        .find(|(t, _)| t == "odw: ▶ Run")
        .unwrap_or_else(|| panic!("{actions:?}"));
    // Choosing the action makes Helix send its command.
    hx.workspace_command(run["command"].as_str().unwrap(), run["arguments"].clone());
    hx.wait_for_message("succeeded");
    // Estimating did not add a run: only the real one is listed.
    let out = ws.cmd(&["runs", "--json"]).output().unwrap();
    let runs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 1, "{runs}");
    let after = titles_and_commands(&mut hx);
    assert!(
        after
            .iter()
            .any(|(t, _)| t.starts_with("odw: Open result of r-")),
        "{after:?}"
    );
    hx.quit();
}

#[test]
fn helix_master_declares_show_document_but_results_open_only_when_asked() {
    let ws = Ws::new();
    let script = hello(&ws);
    let slow = ws.write(
        "slow.workflow.js",
        "export const meta = { name: \"slow\" };\n\
         return await agent(\"[[latency:30000]] take your time\", { label: \"slow\" });\n",
    );
    let mut hx = Helix::start_with(&ws, true, true, Value::Null);
    hx.open(&script);
    hx.workspace_command("odw.run", json!([script.display().to_string()]));
    hx.wait_for_message("succeeded");
    hx.workspace_command(
        "odw.run",
        json!([{"uri": script.display().to_string(), "dryRun": true}]),
    );
    hx.wait_for_message("≈1 agents");
    hx.workspace_command("odw.run", json!([slow.display().to_string()]));
    hx.wait_for("the slow agent under way", WAIT, |m| {
        m["method"] == "$/progress"
            && m["params"]["value"]["message"]
                .as_str()
                .is_some_and(|s| s.contains("0/1 agents"))
    });
    hx.workspace_command("odw.cancel", json!([]));
    hx.wait_for_message("cancelled");
    // Nothing replaced the user's view: not the success, not the dry run, not the cancel.
    assert!(
        hx.methods("window/showDocument").is_empty(),
        "{}",
        hx.transcript()
    );
    // `:lsp-workspace-command odw.result`: the newest finished run that is not a dry run (the
    // cancelled one), opened because the user asked.
    let r = hx.request(
        "workspace/executeCommand",
        json!({"command": "odw.result", "arguments": []}),
    );
    assert_eq!(r["result"]["state"], "cancelled", "{r}");
    let shown = hx.wait_for("showDocument after odw.result", WAIT, |m| {
        m["method"] == "window/showDocument"
    });
    assert!(
        shown["params"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("/result.md"),
        "{shown}"
    );
    hx.quit();

    // With `openResult`, a run that succeeded opens its result; a dry run still does not.
    let mut hx = Helix::start_with(&ws, true, true, json!({"openResult": true}));
    hx.open(&script);
    hx.workspace_command(
        "odw.run",
        json!([{"uri": script.display().to_string(), "dryRun": true}]),
    );
    hx.wait_for_message("≈1 agents");
    assert!(hx.methods("window/showDocument").is_empty());
    hx.workspace_command("odw.run", json!([script.display().to_string()]));
    hx.wait_for_message("succeeded");
    hx.wait_for("showDocument of the result", WAIT, |m| {
        m["method"] == "window/showDocument"
    });
    hx.quit();
}

#[test]
fn dry_runs_are_marked_in_listings_and_skipped_as_the_last_result() {
    let ws = Ws::new();
    let script = hello(&ws);
    let run = |args: &[&str]| {
        let out = ws.cmd(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let path = script.display().to_string();
    assert!(run(&["run", &path]).0);
    assert!(run(&["run", &path, "--dry-run"]).0);
    let (_, listing) = run(&["runs"]);
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 2, "{listing}");
    assert!(lines[0].contains("succeeded (dry run)"), "{listing}");
    assert!(!lines[1].contains("dry run"), "{listing}");
    let (_, json) = run(&["runs", "--json"]);
    let v: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v[0]["dryRun"], true, "{v}");
    assert!(v[1].get("dryRun").is_none(), "{v}");
    let real = v[1]["runId"].as_str().unwrap();
    // The newest result that is a real one, for `space o o`.
    let (ok, last) = run(&["runs", "--last-result"]);
    assert!(ok);
    assert!(
        last.trim().ends_with(&format!("{real}/result.md")),
        "{last}"
    );
    let (_, show) = run(&["show", v[0]["runId"].as_str().unwrap()]);
    assert!(show.contains("dry run"), "{show}");
}
