//! `odw mcp` end to end: the real binary over stdio, driven by rmcp's client against the
//! loopback provider. Every tool, its schemas, progress, cancellation, pause and resume across
//! faces, every error case, and a stdout that carries nothing but JSON-RPC.

use crate::lsp_scenario::TRIO;
use crate::support::Ws;
use odw_test_provider::ProviderOptions;
use rmcp::model::{
    CallToolRequest, CallToolRequestParams, CallToolResult, ClientRequest,
    ProgressNotificationParam, ProtocolVersion, ReadResourceRequestParams,
};
use rmcp::service::{NotificationContext, PeerRequestOptions, RunningService};
use rmcp::transport::TokioChildProcess;
use rmcp::{ClientHandler, RoleClient, ServiceExt};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Records the progress notifications the server sends.
#[derive(Clone, Default)]
struct Recorder {
    progress: Arc<Mutex<Vec<ProgressNotificationParam>>>,
}

impl ClientHandler for Recorder {
    async fn on_progress(
        &self,
        params: ProgressNotificationParam,
        _context: NotificationContext<RoleClient>,
    ) {
        self.progress.lock().unwrap().push(params);
    }
}

type Client = RunningService<RoleClient, Recorder>;

async fn connect(ws: &Ws) -> (Client, Recorder) {
    let cmd = tokio::process::Command::from(ws.cmd(&["mcp"]));
    let transport = TokioChildProcess::new(cmd).unwrap();
    let recorder = Recorder::default();
    let client = recorder.clone().serve(transport).await.unwrap();
    (client, recorder)
}

fn params(name: &str, args: Value) -> CallToolRequestParams {
    let mut p = CallToolRequestParams::new(name.to_string());
    p.arguments = match args {
        Value::Object(m) => Some(m),
        _ => None,
    };
    p
}

async fn call(c: &Client, name: &str, args: Value) -> CallToolResult {
    c.call_tool(params(name, args)).await.unwrap()
}

/// A successful result: the same JSON in `structuredContent` and `content[0].text`.
fn ok(r: &CallToolResult) -> Value {
    assert_ne!(r.is_error, Some(true), "{r:?}");
    let structured = r.structured_content.clone().expect("structuredContent");
    let text = r.content[0].as_text().expect("text content").text.clone();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), structured);
    structured
}

/// An `isError` result's message.
fn err(r: &CallToolResult) -> String {
    assert_eq!(r.is_error, Some(true), "{r:?}");
    r.content[0].as_text().expect("text content").text.clone()
}

/// Calls a tool and checks its result against the tool's declared output schema.
struct Tools {
    schemas: HashMap<String, Value>,
}

impl Tools {
    async fn load(c: &Client) -> Tools {
        let tools = c.list_all_tools().await.unwrap();
        let schemas = tools
            .iter()
            .map(|t| {
                let out = t.output_schema.as_ref().expect("outputSchema");
                (t.name.to_string(), Value::Object((**out).clone()))
            })
            .collect();
        Tools { schemas }
    }

    async fn ok(&self, c: &Client, name: &str, args: Value) -> Value {
        let v = ok(&call(c, name, args).await);
        let validator = jsonschema::validator_for(&self.schemas[name]).unwrap();
        let errors: Vec<String> = validator.iter_errors(&v).map(|e| e.to_string()).collect();
        assert!(
            errors.is_empty(),
            "{name}: {v} violates its schema: {errors:?}"
        );
        v
    }
}

async fn wait_status(c: &Client, id: &str, want: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = ok(&call(c, "odw_status", json!({"workflowId": id})).await);
        if s["status"] == want {
            return s;
        }
        assert!(Instant::now() < deadline, "never {want}: {s}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn wait_in_flight(c: &Client, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let h = ok(&call(c, "odw_health", json!({})).await);
        if h["agentsInFlight"].as_u64() == Some(n) {
            return;
        }
        assert!(Instant::now() < deadline, "never {n} in flight: {h}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_answers_with_its_schema_and_runs_show_on_every_face() {
    let ws = Ws::new();
    // A planning model without a key: the planner fills its template, deterministically.
    let toml = std::fs::read_to_string(ws.path().join("odw.toml")).unwrap();
    let toml = toml.replacen(
        "default = \"test:m\"",
        "default = \"test:m\"\nplanning = \"claude-sonnet-4-6\"",
        1,
    );
    ws.write("odw.toml", &toml);
    ws.write("trio.workflow.js", TRIO);
    let (c, _) = connect(&ws).await;
    let info = c.peer_info().unwrap();
    assert_eq!(info.protocol_version, ProtocolVersion::V_2025_06_18);
    assert_eq!(info.server_info.as_ref().unwrap().name, "odw");

    let listed = c.list_all_tools().await.unwrap();
    let names: Vec<&str> = listed.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(
        names,
        [
            "odw_health",
            "odw_check",
            "odw_plan",
            "odw_run",
            "odw_status",
            "odw_result",
            "odw_control",
            "odw_list"
        ]
    );
    for t in &listed {
        assert_eq!(t.input_schema["type"], "object", "{}", t.name);
        assert_eq!(t.output_schema.as_ref().unwrap()["type"], "object");
        assert!(t.description.as_deref().is_some_and(|d| !d.is_empty()));
    }
    let run_props = &listed[3].input_schema["properties"];
    for arg in [
        "script",
        "path",
        "prompt",
        "planId",
        "args",
        "cwd",
        "wait",
        "model",
        "budgetUsd",
        "budgetTokens",
    ] {
        assert!(run_props.get(arg).is_some(), "odw_run lacks {arg}");
    }
    let tools = Tools::load(&c).await;

    let h = tools.ok(&c, "odw_health", json!({})).await;
    assert_eq!(h["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(h["activeRuns"], 0);

    // A script with errors is a successful check with diagnostics, 1-based.
    let bad = tools
        .ok(
            &c,
            "odw_check",
            json!({"script": "const x = ;\nreturn agent(\"hi\");\n"}),
        )
        .await;
    assert!(bad["errors"].as_u64().unwrap() >= 1, "{bad}");
    let d = &bad["diagnostics"][0];
    assert_eq!(
        (d["line"].as_u64(), d["severity"].as_str()),
        (Some(1), Some("error"))
    );
    assert!(d["column"].as_u64().unwrap() >= 1);
    let good = tools
        .ok(&c, "odw_check", json!({"path": "trio.workflow.js"}))
        .await;
    assert_eq!(good["errors"], 0, "{good}");

    // wait: true answers with the outcome.
    let done = tools
        .ok(&c, "odw_run", json!({"script": TRIO, "wait": true}))
        .await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["result"], "echo: Say a | echo: Say b | echo: Say c");
    assert_eq!(done["usage"]["agents"], 3);
    let inline = done["workflowId"].as_str().unwrap().to_string();

    // wait: false answers at once; odw_result waits.
    let started = tools
        .ok(
            &c,
            "odw_run",
            json!({"path": "trio.workflow.js", "args": {"n": 1}, "model": "testo:llama"}),
        )
        .await;
    assert_eq!(started["status"], "running");
    let file_run = started["workflowId"].as_str().unwrap().to_string();
    let r = tools
        .ok(
            &c,
            "odw_result",
            json!({"workflowId": file_run, "wait": true}),
        )
        .await;
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(ws.provider.stats().by_wire.ollama, 3);

    let s = tools
        .ok(&c, "odw_status", json!({"workflowId": file_run}))
        .await;
    assert_eq!(s["phase"], "Ask");
    assert_eq!(
        s["agents"],
        json!({"total": 3, "completed": 3, "failed": 0})
    );

    let list = tools.ok(&c, "odw_list", json!({})).await;
    let ids: Vec<&str> = list["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["workflowId"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids[..2],
        [file_run.as_str(), inline.as_str()],
        "newest first"
    );

    // The same journal as the CLI's.
    let out = ws.odw(&["runs", "--json"]);
    let cli: Value = serde_json::from_slice(&out.stdout).unwrap();
    let cli_ids: Vec<&str> = cli
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["runId"].as_str().unwrap())
        .collect();
    assert!(cli_ids.contains(&file_run.as_str()) && cli_ids.contains(&inline.as_str()));

    // Runs are resources.
    let resources = c.list_all_resources().await.unwrap();
    let uri = format!("odw://runs/{file_run}");
    assert!(resources.iter().any(|r| r.uri == uri), "{resources:?}");
    let read = c
        .read_resource(ReadResourceRequestParams::new(uri.clone()))
        .await
        .unwrap();
    let text = match &read.contents[0] {
        rmcp::model::ResourceContents::TextResourceContents { text, .. } => text.clone(),
        other => panic!("{other:?}"),
    };
    let body: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(body["status"], "succeeded");
    assert_eq!(
        body["events"].as_array().unwrap().last().unwrap()["kind"],
        "runFinished"
    );
    let missing = c
        .read_resource(ReadResourceRequestParams::new("odw://runs/r-nope"))
        .await;
    assert!(missing.is_err());

    // The six topologies are prompts.
    let prompts = c.list_all_prompts().await.unwrap();
    let names: Vec<&str> = prompts.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "mapreduce",
            "pipeline",
            "adversarial",
            "consensus",
            "tree",
            "hybrid"
        ]
    );
    let mut get = rmcp::model::GetPromptRequestParams::new("tree");
    get.arguments = json!({"task": "why is CI flaky?"}).as_object().cloned();
    let prompt = c.get_prompt(get).await.unwrap();
    let text = format!("{:?}", prompt.messages[0]);
    assert!(
        text.contains("why is CI flaky?") && text.contains("beamSearch"),
        "{text}"
    );

    // A plan stays server-side and runs by id.
    let plan = tools
        .ok(
            &c,
            "odw_plan",
            json!({"prompt": "vote on whether we should adopt tabs", "topology": "consensus", "maxAgents": 50}),
        )
        .await;
    assert_eq!(plan["topology"], "consensus", "{plan}");
    assert!(plan["totalAgents"].as_u64().unwrap() >= 1, "{plan}");
    assert!(plan["estCostUSD"].is_number() && plan["phases"].is_array());
    let plan_id = plan["planId"].as_str().unwrap();
    assert!(
        ws.path()
            .join(format!(".odw/plans/{plan_id}.workflow.js"))
            .is_file()
    );
    let planned = tools
        .ok(&c, "odw_run", json!({"planId": plan_id, "wait": true}))
        .await;
    assert_eq!(planned["status"], "succeeded", "{planned}");

    c.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_tool_error_and_the_server_keeps_serving() {
    let ws = Ws::new();
    ws.write("trio.workflow.js", TRIO);
    let (c, _) = connect(&ws).await;
    let cases: Vec<(&str, Value, &str)> = vec![
        (
            "odw_status",
            json!({"workflowId": "r-nope"}),
            "unknown workflowId r-nope",
        ),
        (
            "odw_result",
            json!({"workflowId": "r-nope"}),
            "unknown workflowId",
        ),
        (
            "odw_control",
            json!({"workflowId": "r-nope", "action": "pause"}),
            "unknown workflowId",
        ),
        ("odw_run", json!({"path": "missing.js"}), "cannot read"),
        (
            "odw_run",
            json!({"script": TRIO, "path": "trio.workflow.js"}),
            "exactly one of `script`, `path`, `prompt` or `planId` (2 given)",
        ),
        ("odw_run", json!({}), "(0 given)"),
        (
            "odw_run",
            json!({"script": TRIO, "args": 5}),
            "`args` must be a JSON object",
        ),
        (
            "odw_run",
            json!({"script": TRIO, "args": "{not json"}),
            "`args` must be a JSON object",
        ),
        (
            "odw_run",
            json!({"script": TRIO, "cwd": "nowhere"}),
            "no such directory",
        ),
        (
            "odw_run",
            json!({"script": TRIO, "budgetUsd": -1}),
            "budgetUsd",
        ),
        (
            "odw_run",
            json!({"script": TRIO, "wait": "yes"}),
            "invalid arguments",
        ),
        (
            "odw_run",
            json!({"script": TRIO, "colour": "red"}),
            "unknown field `colour`",
        ),
        (
            "odw_run",
            json!({"planId": "../../etc/passwd"}),
            "unknown planId",
        ),
        (
            "odw_run",
            json!({"planId": "p-20260101-000000-0000"}),
            "unknown planId",
        ),
        (
            "odw_check",
            json!({"script": "x", "path": "trio.workflow.js"}),
            "exactly one of `script`",
        ),
        ("odw_check", json!({"path": "missing.js"}), "cannot read"),
        ("odw_plan", json!({"prompt": "  "}), "is empty"),
        (
            "odw_plan",
            json!({"prompt": "x", "topology": "star"}),
            "unknown topology",
        ),
        ("odw_status", json!({}), "missing field `workflowId`"),
    ];
    for (tool, args, expected) in cases {
        let message = err(&call(&c, tool, args.clone()).await);
        assert!(
            message.contains(expected),
            "{tool} {args}: {message:?} lacks {expected:?}"
        );
    }
    let done = ok(&call(
        &c,
        "odw_run",
        json!({"path": "trio.workflow.js", "wait": true}),
    )
    .await);
    let id = done["workflowId"].as_str().unwrap();
    let m = err(&call(
        &c,
        "odw_control",
        json!({"workflowId": id, "action": "jump"}),
    )
    .await);
    assert!(m.contains("unknown action"), "{m}");
    let m = err(&call(
        &c,
        "odw_control",
        json!({"workflowId": id, "action": "pause"}),
    )
    .await);
    assert!(m.contains("not running here (status: succeeded)"), "{m}");
    let m = err(&call(
        &c,
        "odw_control",
        json!({"workflowId": id, "action": "resume"}),
    )
    .await);
    assert!(m.contains("already succeeded"), "{m}");
    // An unknown tool is a protocol error; the server still answers afterwards.
    assert!(c.call_tool(params("odw_nope", json!({}))).await.is_err());
    let h = ok(&call(&c, "odw_health", json!({})).await);
    assert_eq!(h["activeRuns"], 0);
    c.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiting_run_reports_progress_and_cancelling_the_request_cancels_the_run() {
    let ws = Ws::new();
    let (c, recorder) = connect(&ws).await;
    let script = r#"export const meta = { name: "steps" };
phase("Work");
const out = [];
for (let i = 0; i < 3; i++) out.push(await agent(`step ${i} [[latency:150]]`));
return out.join(",");
"#;
    let done = ok(&call(&c, "odw_run", json!({"script": script, "wait": true})).await);
    assert_eq!(done["status"], "succeeded", "{done}");
    // The server sends the last progress before the response, but rmcp's client hands
    // notifications to the handler on a task of their own: wait for it to be recorded.
    let deadline = Instant::now() + Duration::from_secs(10);
    while recorder
        .progress
        .lock()
        .unwrap()
        .last()
        .is_none_or(|p| p.progress < 3.0)
        && Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let progress = recorder.progress.lock().unwrap().clone();
    assert!(!progress.is_empty());
    let values: Vec<f64> = progress.iter().map(|p| p.progress).collect();
    assert!(values.windows(2).all(|w| w[0] <= w[1]), "{values:?}");
    let last = progress.last().unwrap();
    assert_eq!(
        (last.progress, last.total),
        (3.0, Some(3.0)),
        "{progress:?}"
    );
    assert_eq!(last.message.as_deref(), Some("Work"));

    // notifications/cancelled for a waiting odw_run cancels the run; it stays resumable.
    let gated = r#"export const meta = {};
const a = await agent("first [[gate]]");
const b = await agent("second");
return a + " / " + b;
"#;
    let request = ClientRequest::CallToolRequest(CallToolRequest::new(params(
        "odw_run",
        json!({"script": gated, "wait": true}),
    )));
    let handle = c
        .peer()
        .send_cancellable_request(request, PeerRequestOptions::no_options())
        .await
        .unwrap();
    wait_in_flight(&c, 1).await;
    let list = ok(&call(&c, "odw_list", json!({})).await);
    let id = list["runs"][0]["workflowId"].as_str().unwrap().to_string();
    handle.cancel(Some("changed my mind".into())).await.unwrap();
    wait_status(&c, &id, "cancelled").await;
    let resumed = ok(&call(
        &c,
        "odw_control",
        json!({"workflowId": id, "action": "resume"}),
    )
    .await);
    assert_eq!(resumed["status"], "running");
    ws.provider.open_gate();
    let r = ok(&call(&c, "odw_result", json!({"workflowId": id, "wait": true})).await);
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["result"], "echo: first [[gate]] / echo: second");
    c.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_lets_calls_in_flight_finish_and_the_cli_resumes_the_run() {
    let ws = Ws::with(ProviderOptions::default(), "");
    let (c, _) = connect(&ws).await;
    let script = r#"export const meta = { name: "pausable" };
const a = await parallel([() => agent("one [[gate]]"), () => agent("two [[gate]]")]);
const b = await agent("three");
return [...a, b].join(",");
"#;
    let started = ok(&call(&c, "odw_run", json!({"script": script})).await);
    let id = started["workflowId"].as_str().unwrap().to_string();
    wait_in_flight(&c, 2).await;
    let pause = {
        let (peer, id) = (c.peer().clone(), id.clone());
        tokio::spawn(async move {
            peer.call_tool(params(
                "odw_control",
                json!({"workflowId": id, "action": "pause"}),
            ))
            .await
            .unwrap()
        })
    };
    // The pause has reached the run when the gate opens: the calls in flight finish, no new
    // one starts.
    tokio::time::sleep(Duration::from_millis(300)).await;
    ws.provider.open_gate();
    let paused = ok(&pause.await.unwrap());
    assert_eq!(paused["status"], "paused", "{paused}");
    let stats = ws.provider.stats();
    assert_eq!(
        (
            stats.count("one [[gate]]"),
            stats.count("two [[gate]]"),
            stats.count("three")
        ),
        (1, 1, 0)
    );
    let s = ok(&call(&c, "odw_status", json!({"workflowId": id})).await);
    assert_eq!(s["status"], "paused");
    assert_eq!(s["agents"]["completed"], 2, "{s}");
    let out = ws.odw(&["runs"]);
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("paused")),
        "{listing}"
    );

    // Another face resumes it: finished calls replay from the journal, only the rest runs.
    let out = ws.odw(&["resume", &id, "--json", "--quiet"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["state"], "succeeded", "{v}");
    assert_eq!(
        v["result"],
        "echo: one [[gate]],echo: two [[gate]],echo: three"
    );
    assert_eq!(v["usage"]["cached"], 2);
    let stats = ws.provider.stats();
    assert_eq!((stats.count("one [[gate]]"), stats.count("three")), (1, 1));
    let r = ok(&call(&c, "odw_result", json!({"workflowId": id})).await);
    assert_eq!(r["status"], "succeeded");

    // Pause then resume, both from here.
    let started = ok(&call(&c, "odw_run", json!({"script": "export const meta = {};\nconst a = await agent(\"solo [[latency:300]]\");\nconst b = await agent(\"duo\");\nreturn a + b;\n"})).await);
    let id = started["workflowId"].as_str().unwrap().to_string();
    wait_in_flight(&c, 1).await;
    let paused = ok(&call(
        &c,
        "odw_control",
        json!({"workflowId": id, "action": "pause"}),
    )
    .await);
    assert_eq!(paused["status"], "paused", "{paused}");
    let resumed = ok(&call(
        &c,
        "odw_control",
        json!({"workflowId": id, "action": "resume"}),
    )
    .await);
    assert_eq!(resumed["status"], "running");
    let r = ok(&call(&c, "odw_result", json!({"workflowId": id, "wait": true})).await);
    assert_eq!(r["status"], "succeeded", "{r}");
    assert_eq!(r["usage"]["cached"], 1);

    // stop cancels at once.
    let started = ok(&call(&c, "odw_run", json!({"script": "export const meta = {};\nreturn await agent(\"long [[latency:20000]]\");"})).await);
    let id = started["workflowId"].as_str().unwrap().to_string();
    wait_in_flight(&c, 1).await;
    let stopped = ok(&call(
        &c,
        "odw_control",
        json!({"workflowId": id, "action": "stop"}),
    )
    .await);
    assert_eq!(stopped["status"], "cancelled", "{stopped}");
    c.cancel().await.unwrap();
}

#[test]
fn stdout_carries_only_json_rpc_and_older_protocols_are_negotiated() {
    let ws = Ws::new();
    let mut child = ws
        .cmd(&["mcp"])
        .env("ODW_MCP_TEST_STRAY_PRINT", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in stdout.lines() {
            let line = line.unwrap();
            tx.send(line).unwrap();
        }
    });
    let mut send = |v: Value| {
        writeln!(stdin, "{v}").unwrap();
        stdin.flush().unwrap();
    };
    let next = |id: u64| loop {
        let line = rx.recv_timeout(Duration::from_secs(30)).expect("an answer");
        let v: Value = serde_json::from_str(&line).unwrap();
        if v["id"] == id {
            return v;
        }
    };
    send(
        json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2024-11-05", "capabilities": {},
        "clientInfo": {"name": "raw", "version": "0"}}}),
    );
    let init = next(1);
    assert_eq!(init["result"]["protocolVersion"], "2024-11-05", "{init}");
    send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
    send(
        json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "odw_run", "arguments": {"script": "export const meta = {};\nlog(\"hello\");\nreturn await agent(\"hi\");\n", "wait": true}}}),
    );
    let run = next(2);
    assert_eq!(
        run["result"]["structuredContent"]["status"], "succeeded",
        "{run}"
    );
    drop(stdin);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    reader.join().unwrap();
    let mut rest = Vec::new();
    while let Ok(line) = rx.try_recv() {
        rest.push(line);
    }
    for line in rest {
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not JSON on stdout ({e}): {line:?}"));
        assert_eq!(v["jsonrpc"], "2.0", "{line}");
    }
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(
        err.contains("a stray print that must land on stderr"),
        "{err}"
    );
}

/// A client that answers approval forms with one decision and records the questions.
#[derive(Clone)]
struct Approving {
    decision: Option<&'static str>,
    asked: Arc<Mutex<Vec<String>>>,
}

impl ClientHandler for Approving {
    fn get_info(&self) -> rmcp::model::ClientConfig {
        serde_json::from_value(json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {"elicitation": {}},
            "clientInfo": {"name": "odw-e2e", "version": "1"},
        }))
        .unwrap()
    }

    async fn create_elicitation(
        &self,
        request: rmcp::model::ElicitRequestParams,
        _context: rmcp::service::RequestContext<RoleClient>,
    ) -> Result<rmcp::model::ElicitResult, rmcp::ErrorData> {
        if let rmcp::model::ElicitRequestParams::FormElicitationParams {
            message,
            requested_schema,
            ..
        } = request
        {
            let schema = serde_json::to_value(&requested_schema).unwrap();
            self.asked
                .lock()
                .unwrap()
                .push(format!("{message} {schema}"));
        }
        Ok(serde_json::from_value(match self.decision {
            Some(d) => json!({"action": "accept", "content": {"decision": d}}),
            None => json!({"action": "decline"}),
        })
        .unwrap())
    }
}

const WRITER: &str = r#"export const meta = { name: "writer" };
const text = await agent('[[call:write_file {"path": "out.txt", "content": "from mcp"}]] [[echo-tools]]', { tools: ["write_file"], label: "writer" });
return JSON.parse(text)[0].content;
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_are_asked_with_elicitation_when_the_client_can_answer() {
    for (decision, written) in [(Some("Allow once"), true), (None, false)] {
        let ws = Ws::new();
        let transport =
            TokioChildProcess::new(tokio::process::Command::from(ws.cmd(&["mcp"]))).unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let client = Approving {
            decision,
            asked: asked.clone(),
        }
        .serve(transport)
        .await
        .unwrap();
        let r = client
            .call_tool(params("odw_run", json!({"script": WRITER, "wait": true})))
            .await
            .unwrap();
        let v = ok(&r);
        assert_eq!(v["status"], "succeeded", "{v}");
        assert_eq!(
            ws.path().join("out.txt").exists(),
            written,
            "{decision:?}: {v}"
        );
        if !written {
            assert_eq!(v["result"], "error: write_file: denied by the user", "{v}");
        }
        let asked = asked.lock().unwrap().clone();
        assert_eq!(asked.len(), 1, "{asked:?}");
        assert!(
            asked[0].contains("wants to use write_file: write out.txt"),
            "{asked:?}"
        );
        assert!(asked[0].contains("Allow for this run"), "{asked:?}");
        client.cancel().await.unwrap();
    }
    // A client without elicitation is never asked: the policy decides, and says how to allow.
    let ws = Ws::new();
    let (client, _) = connect(&ws).await;
    let v = ok(&call(&client, "odw_run", json!({"script": WRITER, "wait": true})).await);
    assert!(
        v["result"]
            .as_str()
            .unwrap()
            .contains("no approval channel"),
        "{v}"
    );
    assert!(!ws.path().join("out.txt").exists());
    client.cancel().await.unwrap();
}
