//! `odw lsp` end to end: the real binary over pipes, against the loopback provider. Runs with
//! progress, events and results; cancellation three ways; diagnostics with versions; hover,
//! completion, code actions and lenses; clients with and without capabilities; malformed input;
//! shutdown and exit codes. Every test also asserts that stdout carried nothing but JSON-RPC.

use crate::lsp_client::Lsp;
use crate::support::Ws;
use serde_json::{Value, json};

/// An editor with every capability odw uses, opting in to `odw/runEvent`.
fn full_caps() -> Value {
    json!({
        "window": {"workDoneProgress": true, "showDocument": {"support": true}},
        "workspace": {"codeLens": {"refreshSupport": true}},
        "experimental": {"odwRunEvents": true},
    })
}

/// Three quick agents in one phase.
const TRIO: &str = r#"export const meta = { name: "trio", phases: [{ title: "Ask" }] };
phase("Ask");
const r = await parallel(["a", "b", "c"].map(x => () => agent(`Say ${x}`, { label: x })));
return r.join(" | ");
"#;

/// Ten sequential two-second agents: long enough to cancel mid-run.
const SLOW: &str = r#"export const meta = { name: "slow" };
const out = [];
for (let i = 0; i < 10; i++) out.push(await agent(`step ${i} [[latency:2000]]`));
return out.join(",");
"#;

fn uri(ws: &Ws, name: &str) -> String {
    format!("file://{}", ws.path().join(name).display())
}

fn started(lsp: &Lsp, ws: &Ws, caps: Value, options: Value) -> Value {
    let init = lsp.initialize(ws, caps, options);
    assert!(init.get("error").is_none(), "{init}");
    init
}

fn open(lsp: &Lsp, uri: &str, text: &str, version: i64) {
    lsp.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "javascript", "version": version, "text": text}}),
    );
}

fn run_events(lsp: &Lsp, run: &str) -> Vec<Value> {
    lsp.received("odw/runEvent")
        .into_iter()
        .filter(|e| e["runId"] == run)
        .collect()
}

fn wait_event(lsp: &Lsp, run: &str, kind: &str) -> Value {
    lsp.wait_for(&format!("{kind} of {run}"), |m| {
        m["method"] == "odw/runEvent" && m["params"]["runId"] == run && m["params"]["kind"] == kind
    })["params"]
        .clone()
}

fn progress(lsp: &Lsp, run: &str) -> Vec<Value> {
    let token = format!("odw/run/{run}");
    lsp.received("$/progress")
        .into_iter()
        .filter(|p| p["token"] == token)
        .map(|p| p["value"].clone())
        .collect()
}

fn wait_progress_end(lsp: &Lsp, run: &str) -> Value {
    let token = format!("odw/run/{run}");
    lsp.wait_for(&format!("the progress end of {run}"), |m| {
        m["method"] == "$/progress"
            && m["params"]["token"] == token
            && m["params"]["value"]["kind"] == "end"
    })["params"]["value"]
        .clone()
}

/// The final `showMessage` of a run (it names the run's result file).
fn wait_message(lsp: &Lsp, run: &str) -> Value {
    lsp.wait_for(&format!("the final message of {run}"), |m| {
        m["method"] == "window/showMessage"
            && m["params"]["message"]
                .as_str()
                .is_some_and(|t| t.contains(run))
    })["params"]
        .clone()
}

fn run_id(response: &Value) -> String {
    response["result"]["runId"]
        .as_str()
        .unwrap_or_else(|| panic!("no runId in {response}"))
        .to_string()
}

fn execute(lsp: &Lsp, command: &str, args: Value) -> Value {
    lsp.request(
        "workspace/executeCommand",
        json!({"command": command, "arguments": args}),
    )
}

fn lens_titles(lsp: &Lsp, uri: &str) -> Vec<String> {
    let r = lsp.request(
        "textDocument/codeLens",
        json!({"textDocument": {"uri": uri}}),
    );
    r["result"]
        .as_array()
        .unwrap_or_else(|| panic!("no lenses: {r}"))
        .iter()
        .map(|l| l["command"]["title"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn initialize_advertises_capabilities_and_commands() {
    let ws = Ws::new();
    let mut lsp = Lsp::spawn(&ws);
    let init = started(&lsp, &ws, full_caps(), json!({}));
    let caps = &init["result"]["capabilities"];
    assert_eq!(caps["positionEncoding"], "utf-16");
    assert_eq!(caps["textDocumentSync"]["openClose"], true);
    assert_eq!(caps["textDocumentSync"]["change"], 2, "incremental sync");
    assert_eq!(caps["hoverProvider"], true);
    assert!(caps["completionProvider"].is_object());
    assert_eq!(
        caps["codeActionProvider"]["codeActionKinds"],
        json!(["quickfix"])
    );
    assert_eq!(caps["codeLensProvider"]["resolveProvider"], false);
    assert_eq!(
        caps["executeCommandProvider"]["commands"],
        json!([
            "odw.run",
            "odw.cancel",
            "odw.resume",
            "odw.plan",
            "odw.runs",
            "odw.result"
        ])
    );
    assert!(
        caps.get("diagnosticProvider").is_none(),
        "push diagnostics only: {caps}"
    );
    assert_eq!(init["result"]["serverInfo"]["name"], "odw");
    // Nothing was created in the workspace just by starting the server.
    assert!(!ws.path().join(".odw").exists());
    assert_eq!(lsp.shutdown_and_exit(), 0);
}

#[test]
fn plan_writes_a_script_and_shows_it() {
    let ws = Ws::new();
    let mut lsp = Lsp::spawn(&ws);
    started(&lsp, &ws, full_caps(), json!({}));
    let bad = lsp.request("odw/plan", json!({"task": "x", "topology": "spiral"}));
    assert_eq!(bad["error"]["code"], -32602, "{bad}");
    let plan = execute(
        &lsp,
        "odw.plan",
        json!([{"task": "Should we adopt a monorepo?", "topology": "map-reduce", "noModel": true}]),
    );
    let r = &plan["result"];
    assert_eq!(r["topology"], "mapreduce", "{plan}");
    // An empty workspace has nothing to map over, but the estimate names the phases.
    assert!(
        !r["estimate"]["phases"].as_array().unwrap().is_empty(),
        "{plan}"
    );
    let u = r["uri"].as_str().unwrap();
    assert!(u.ends_with(".workflow.js"), "{u}");
    let path = u.strip_prefix("file://").unwrap();
    assert!(std::fs::read_to_string(path).unwrap().contains("monorepo"));
    lsp.wait_for("the plan shown", |m| {
        m["method"] == "window/showDocument" && m["params"]["uri"] == u
    });
    let ends: Vec<Value> = lsp
        .received("$/progress")
        .into_iter()
        .filter(|p| p["token"].as_str().unwrap().starts_with("odw/plan/"))
        .collect();
    assert_eq!(ends.first().unwrap()["value"]["title"], "odw: planning");
    assert_eq!(ends.last().unwrap()["value"]["kind"], "end");
    // Nothing was sent to a model.
    assert_eq!(ws.provider.stats().total, 0);
    assert_eq!(lsp.shutdown_and_exit(), 0);
}

#[test]
fn a_run_reports_progress_events_and_its_result() {
    let ws = Ws::new();
    let file = "trio.workflow.js";
    // On disk a different script: the run must use the editor's unsaved buffer.
    ws.write(file, "export const meta = {};\nreturn 'from disk';\n");
    let mut lsp = Lsp::spawn(&ws);
    started(&lsp, &ws, full_caps(), json!({"model": "testo:llama"}));
    let u = uri(&ws, file);
    open(&lsp, &u, TRIO, 1);
    let run = run_id(&execute(&lsp, "odw.run", json!([u])));

    let end = wait_progress_end(&lsp, &run);
    assert!(
        end["message"]
            .as_str()
            .unwrap()
            .starts_with("succeeded · 3 agents"),
        "{end}"
    );
    let create = lsp.received("window/workDoneProgress/create");
    assert!(
        create
            .iter()
            .any(|c| c["token"] == format!("odw/run/{run}")),
        "{create:?}"
    );
    let values = progress(&lsp, &run);
    assert_eq!(values[0]["kind"], "begin");
    assert_eq!(values[0]["title"], "odw: trio");
    assert_eq!(values[0]["cancellable"], true);
    let reports: Vec<&Value> = values.iter().filter(|v| v["kind"] == "report").collect();
    assert!(!reports.is_empty(), "{values:?}");
    let percents: Vec<u64> = reports
        .iter()
        .filter_map(|r| r["percentage"].as_u64())
        .collect();
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "{percents:?}");
    assert!(
        reports
            .iter()
            .any(|r| r["message"].as_str().unwrap().contains("agents")),
        "{reports:?}"
    );
    assert_eq!(values.last().unwrap()["kind"], "end");

    // Every event, in order, from runStarted to runFinished.
    wait_event(&lsp, &run, "runFinished");
    let events = run_events(&lsp, &run);
    let seqs: Vec<u64> = events.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(events[0]["kind"], "runStarted");
    assert!(events[0]["timeMs"].as_u64().unwrap() > 0);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["kind"] == "agentFinished")
            .count(),
        3
    );
    assert_eq!(events.last().unwrap()["kind"], "runFinished");
    assert_eq!(events.last().unwrap()["state"], "succeeded");

    let msg = wait_message(&lsp, &run);
    assert_eq!(msg["type"], 3, "info: {msg}");
    assert!(
        msg["message"].as_str().unwrap().contains("echo: Say a"),
        "{msg}"
    );
    let shown = lsp.wait_for("showDocument", |m| m["method"] == "window/showDocument");
    let doc = shown["params"]["uri"].as_str().unwrap();
    assert!(
        doc.ends_with(&format!(".odw/runs/{run}/result.md")),
        "{doc}"
    );
    lsp.wait_for("a code lens refresh", |m| {
        m["method"] == "workspace/codeLens/refresh"
    });
    // The model came from initializationOptions: the Ollama wire answered.
    assert_eq!(ws.provider.stats().by_wire.ollama, 3);

    let result = lsp.request("odw/result", json!({"runId": run}));
    assert_eq!(result["result"]["state"], "succeeded", "{result}");
    assert_eq!(
        result["result"]["result"],
        "echo: Say a | echo: Say b | echo: Say c"
    );
    assert_eq!(result["result"]["usage"]["agents"], 3);
    let runs = lsp.request("odw/runs", Value::Null);
    assert!(
        runs["result"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["runId"] == run),
        "{runs}"
    );

    // A dry run through `odw/run` with `wait`: the estimate lands in the lens.
    assert_eq!(lens_titles(&lsp, &u), ["▶ Run", "Dry run"]);
    let dry = lsp.request("odw/run", json!({"uri": u, "dryRun": true, "wait": true}));
    assert_eq!(dry["result"]["state"], "succeeded", "{dry}");
    assert_eq!(dry["result"]["estimate"]["agents"], 3);
    let dry_run = dry["result"]["runId"].as_str().unwrap().to_string();
    wait_progress_end(&lsp, &dry_run);
    assert!(
        lens_titles(&lsp, &u)[1].starts_with("Dry run: ≈3 agents · ≈$"),
        "{:?}",
        lens_titles(&lsp, &u)
    );
    assert_eq!(ws.provider.stats().total, 3, "a dry run sends nothing");
    assert_eq!(lsp.shutdown_and_exit(), 0);
}

#[test]
fn a_failed_run_offers_resume_and_says_why() {
    let ws = Ws::new();
    let mut lsp = Lsp::spawn(&ws);
    started(&lsp, &ws, full_caps(), json!({}));
    let u = uri(&ws, "boom.workflow.js");
    ws.write(
        "boom.workflow.js",
        "export const meta = { name: 'boom' };\nawait agent('x');\nthrow new Error('kaboom');\n",
    );
    let run = run_id(&execute(&lsp, "odw.run", json!([{"uri": u}])));
    let msg = wait_message(&lsp, &run);
    assert_eq!(msg["type"], 1, "error: {msg}");
    assert!(msg["message"].as_str().unwrap().contains("kaboom"), "{msg}");
    open(
        &lsp,
        &u,
        &std::fs::read_to_string(ws.path().join("boom.workflow.js")).unwrap(),
        1,
    );
    wait_progress_end(&lsp, &run);
    let titles = lens_titles(&lsp, &u);
    assert_eq!(
        titles.last().unwrap(),
        &format!("⟳ Resume {run}"),
        "{titles:?}"
    );
    assert_eq!(lsp.shutdown_and_exit(), 0);
}

#[test]
fn cancel_mid_run_three_ways() {
    let ws = Ws::new();
    ws.write("slow.workflow.js", SLOW);
    let u = uri(&ws, "slow.workflow.js");
    let mut lsp = Lsp::spawn(&ws);
    started(&lsp, &ws, full_caps(), json!({}));

    // 1. `odw.cancel` without arguments: the newest live run.
    let run = run_id(&execute(&lsp, "odw.run", json!([u])));
    wait_event(&lsp, &run, "agentStarted");
    let c = execute(&lsp, "odw.cancel", json!([]));
    assert_eq!(c["result"]["cancelled"], true, "{c}");
    assert_eq!(wait_event(&lsp, &run, "runFinished")["state"], "cancelled");
    assert!(
        wait_progress_end(&lsp, &run)["message"]
            .as_str()
            .unwrap()
            .starts_with("cancelled")
    );
    assert_eq!(wait_message(&lsp, &run)["type"], 1);

    // 2. The progress's cancel button.
    let run = run_id(&lsp.request("odw/run", json!({"uri": u})));
    wait_event(&lsp, &run, "agentStarted");
    lsp.notify(
        "window/workDoneProgress/cancel",
        json!({"token": format!("odw/run/{run}")}),
    );
    assert_eq!(wait_event(&lsp, &run, "runFinished")["state"], "cancelled");

    // 3. `$/cancelRequest` on an `odw/run` that waits for the run.
    let before: Vec<Value> = lsp.received("odw/runEvent");
    let req = lsp.send_request("odw/run", json!({"uri": u, "wait": true}));
    let started = lsp.wait_for("a new run's first agent", |m| {
        m["method"] == "odw/runEvent"
            && m["params"]["kind"] == "agentStarted"
            && !before.iter().any(|b| b["runId"] == m["params"]["runId"])
    });
    let run = started["params"]["runId"].as_str().unwrap().to_string();
    lsp.notify("$/cancelRequest", json!({"id": req}));
    assert_eq!(lsp.response(req)["error"]["code"], -32800);
    assert_eq!(wait_event(&lsp, &run, "runFinished")["state"], "cancelled");
    let r = lsp.request("odw/result", json!([run]));
    assert_eq!(r["result"]["state"], "cancelled", "{r}");
    // Cancelling mid-run stopped it: nowhere near ten calls per run.
    assert!(
        ws.provider.stats().total < 12,
        "{}",
        ws.provider.stats().total
    );
    assert_eq!(lsp.shutdown_and_exit(), 0);
}

#[test]
fn five_runs_at_once_do_not_block_hover_or_diagnostics() {
    let ws = Ws::new();
    let script = "export const meta = { name: 'busy' };\nfor (let i = 0; i < 3; i++) await agent(`busy ${i} [[latency:1500]]`);\nreturn 'done';\n";
    ws.write("busy.workflow.js", script);
    let busy = uri(&ws, "busy.workflow.js");
    let mut lsp = Lsp::spawn(&ws);
    started(&lsp, &ws, full_caps(), json!({}));
    let runs: Vec<String> = (0..5)
        .map(|_| run_id(&execute(&lsp, "odw.run", json!([busy]))))
        .collect();

    let doc = uri(&ws, "edit.workflow.js");
    open(
        &lsp,
        &doc,
        "export const meta = {};\nawait agnet('x');\n",
        1,
    );
    let hover = lsp.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": doc}, "position": {"line": 1, "character": 8}}),
    );
    assert!(hover["result"].is_null(), "agnet is not a global: {hover}");
    lsp.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": doc, "version": 2},
               "contentChanges": [{"range": {"start": {"line": 1, "character": 6}, "end": {"line": 1, "character": 11}}, "text": "parallel"}]}),
    );
    let hover = lsp.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": doc}, "position": {"line": 1, "character": 8}}),
    );
    assert!(
        hover["result"]["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("parallel("),
        "{hover}"
    );
    lsp.wait_for("diagnostics for version 2", |m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["uri"] == doc
            && m["params"]["version"] == 2
    });
    let finished = lsp
        .received("odw/runEvent")
        .iter()
        .filter(|e| e["kind"] == "runFinished")
        .count();
    assert_eq!(
        finished, 0,
        "hover and diagnostics answered only after runs finished"
    );
    for run in &runs {
        assert_eq!(wait_event(&lsp, run, "runFinished")["state"], "succeeded");
    }
    assert_eq!(lsp.shutdown_and_exit(), 0);
}

#[test]
fn a_client_without_progress_or_custom_messages_still_gets_the_result() {
    let ws = Ws::new();
    ws.write("trio.workflow.js", TRIO);
    let mut lsp = Lsp::spawn(&ws);
    // As Helix: no workDoneProgress, no showDocument, no experimental opt-in.
    started(&lsp, &ws, json!({}), Value::Null);
    let run = run_id(&execute(
        &lsp,
        "odw.run",
        json!([uri(&ws, "trio.workflow.js")]),
    ));
    let msg = wait_message(&lsp, &run);
    assert_eq!(msg["type"], 3);
    assert!(
        msg["message"].as_str().unwrap().contains("succeeded"),
        "{msg}"
    );
    // Lenses still work; then make sure nothing else was sent meanwhile.
    let _ = lsp.request("odw/runs", json!({"limit": 5}));
    for m in lsp.messages() {
        let method = m["method"].as_str().unwrap_or("");
        assert!(
            !matches!(
                method,
                "$/progress"
                    | "odw/runEvent"
                    | "window/workDoneProgress/create"
                    | "window/showDocument"
                    | "workspace/codeLens/refresh"
            ),
            "sent {method} to a client that did not ask for it: {m}"
        );
    }
    assert_eq!(lsp.shutdown_and_exit(), 0);
}

#[test]
fn stdout_stays_pure_when_a_script_misbehaves() {
    let ws = Ws::new();
    let noisy = r#"export const meta = { name: "noisy" };
for (let i = 0; i < 300; i++) console.log("spam " + i + " Content-Length: 3\r\n\r\n{}");
Promise.reject(new Error("unhandled in a promise job"));
(async () => { throw new Error("thrown inside an async job"); })();
new Promise(() => { throw new Error("thrown in an executor"); });
return await agent("after the noise");
"#;
    ws.write("noisy.workflow.js", noisy);
    ws.write("throws.workflow.js", "export const meta = {};\nawait Promise.resolve().then(() => { throw new Error('late'); });\n");
    let mut lsp = Lsp::spawn(&ws);
    started(&lsp, &ws, full_caps(), json!({"runEvents": true}));
    let r = lsp.request(
        "odw/run",
        json!({"uri": uri(&ws, "noisy.workflow.js"), "wait": true}),
    );
    assert!(r["result"]["state"].is_string(), "{r}");
    let r = lsp.request(
        "odw/run",
        json!({"uri": uri(&ws, "throws.workflow.js"), "wait": true}),
    );
    assert_eq!(r["result"]["state"], "failed", "{r}");
    assert!(
        r["result"]["error"].as_str().unwrap().contains("late"),
        "{r}"
    );
    lsp.assert_pure();
    assert_eq!(lsp.shutdown_and_exit(), 0);
}

#[test]
fn malformed_input_gets_json_rpc_errors_and_the_server_keeps_serving() {
    let ws = Ws::new();
    let mut lsp = Lsp::spawn(&ws);
    started(&lsp, &ws, json!({}), Value::Null);
    let parse_errors = |all: &[Value]| {
        all.iter()
            .filter(|m| m["id"].is_null() && m["error"]["code"] == -32700)
            .count()
    };
    lsp.send_raw(b"Content-Length: abc\r\n\r\n{}");
    lsp.wait_for("a parse error for a bad length", |m| {
        m["id"].is_null() && m["error"]["code"] == -32700
    });
    lsp.send_raw(b"Content-Length: 9\r\n\r\n{\"jsonrpc");
    lsp.wait_until("a second parse error", |all| parse_errors(all) >= 2);
    lsp.send_raw(b"garbage without any header\r\n\r\n");
    lsp.wait_until("a third parse error", |all| parse_errors(all) >= 3);
    lsp.send_raw(&crate::lsp_client::frame(
        &json!([{"jsonrpc": "2.0", "id": 90, "method": "x"}]),
    ));
    lsp.wait_for("a batch refused", |m| {
        m["id"].is_null() && m["error"]["code"] == -32600
    });
    lsp.send_raw(&crate::lsp_client::frame(
        &json!({"jsonrpc": "2.0", "id": 91}),
    ));
    assert_eq!(lsp.response(91)["error"]["code"], -32600);

    let unknown = lsp.request("odw/nope", json!({}));
    assert_eq!(unknown["error"]["code"], -32601, "{unknown}");
    let wrong = lsp.request("textDocument/hover", json!({"nope": 1}));
    assert_eq!(wrong["error"]["code"], -32602, "{wrong}");
    let wrong = lsp.request("odw/run", json!({"uri": 5}));
    assert_eq!(wrong["error"]["code"], -32602, "{wrong}");
    let wrong = lsp.request("odw/run", json!({"uri": uri(&ws, "missing.workflow.js")}));
    assert_eq!(wrong["error"]["code"], -32602, "{wrong}");
    let wrong = lsp.request("workspace/executeCommand", json!({"command": "odw.nope"}));
    assert_eq!(wrong["error"]["code"], -32602, "{wrong}");
    // Unknown notifications are ignored without an answer.
    lsp.notify("odw/unknownNotification", json!({}));

    // Still serving.
    let doc = uri(&ws, "ok.workflow.js");
    open(
        &lsp,
        &doc,
        "export const meta = {};\nreturn await agent('x');\n",
        1,
    );
    let hover = lsp.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": doc}, "position": {"line": 1, "character": 15}}),
    );
    assert!(
        hover["result"]["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("agent("),
        "{hover}"
    );
    // A length too large swallows the next message; it is recovered and answered.
    lsp.send_raw(b"Content-Length: 60\r\n\r\n{\"a\":");
    let id = 4242;
    lsp.send_raw(&crate::lsp_client::frame(&json!({
        "jsonrpc": "2.0", "id": id, "method": "textDocument/hover",
        "params": {"textDocument": {"uri": doc}, "position": {"line": 1, "character": 15}},
    })));
    assert!(lsp.response(id)["result"]["contents"].is_object());
    lsp.wait_until("a parse error for the long frame", |all| {
        parse_errors(all) >= 4
    });
    assert_eq!(lsp.shutdown_and_exit(), 0);
}

#[test]
fn exit_codes_follow_the_specification() {
    let ws = Ws::new();
    // `exit` without `shutdown`: 1.
    let mut lsp = Lsp::spawn(&ws);
    started(&lsp, &ws, json!({}), Value::Null);
    lsp.notify("exit", Value::Null);
    assert_eq!(lsp.wait_exit(), 1);
    // The client closes the pipe without a word: 1.
    let mut lsp = Lsp::spawn(&ws);
    started(&lsp, &ws, json!({}), Value::Null);
    lsp.close_stdin();
    assert_eq!(lsp.wait_exit(), 1);
    // `shutdown` then `exit`: 0; requests after shutdown are refused.
    let mut lsp = Lsp::spawn(&ws);
    started(&lsp, &ws, json!({}), Value::Null);
    assert!(lsp.request("shutdown", Value::Null).get("error").is_none());
    let after = lsp.request("odw/runs", json!({}));
    assert_eq!(after["error"]["code"], -32600, "{after}");
    lsp.notify("exit", Value::Null);
    assert_eq!(lsp.wait_exit(), 0);
}

#[test]
fn shutdown_cancels_a_live_run_cleanly() {
    let ws = Ws::new();
    ws.write("slow.workflow.js", SLOW);
    let mut lsp = Lsp::spawn(&ws);
    started(&lsp, &ws, full_caps(), json!({}));
    let run = run_id(&execute(
        &lsp,
        "odw.run",
        json!([uri(&ws, "slow.workflow.js")]),
    ));
    wait_event(&lsp, &run, "agentStarted");
    let id = lsp.send_request("shutdown", Value::Null);
    let reply = lsp.response(id);
    assert!(reply.get("error").is_none(), "{reply}");
    // The run ended (and the editor heard) before the shutdown was answered.
    let messages = lsp.messages();
    let at = |pred: &dyn Fn(&Value) -> bool| messages.iter().position(pred);
    let finished =
        at(&|m| m["params"]["runId"] == run && m["params"]["kind"] == "runFinished").unwrap();
    let reply_at = at(&|m| m["id"] == id && m.get("method").is_none()).unwrap();
    assert!(finished < reply_at);
    assert_eq!(messages[finished]["params"]["state"], "cancelled");
    lsp.notify("exit", Value::Null);
    assert_eq!(lsp.wait_exit(), 0);
    let result =
        std::fs::read_to_string(ws.path().join(format!(".odw/runs/{run}/result.md"))).unwrap();
    assert!(result.contains("cancelled"), "{result}");
}

#[test]
fn a_cancelled_run_resumes_from_its_lens() {
    let ws = Ws::new();
    let script = "export const meta = { name: 'steps' };\nconst a = await agent('first');\nconst b = await agent('second [[latency:3000]]');\nreturn a + ' / ' + b;\n";
    ws.write("steps.workflow.js", script);
    let u = uri(&ws, "steps.workflow.js");
    let mut lsp = Lsp::spawn(&ws);
    started(&lsp, &ws, full_caps(), json!({}));
    open(&lsp, &u, script, 1);
    let run = run_id(&execute(&lsp, "odw.run", json!([u])));
    wait_event(&lsp, &run, "agentFinished");
    let c = lsp.request("odw/cancel", json!({"runId": run}));
    assert_eq!(c["result"]["cancelled"], true, "{c}");
    assert_eq!(wait_event(&lsp, &run, "runFinished")["state"], "cancelled");
    wait_progress_end(&lsp, &run);

    // The lens offers the resume; its command is what the editor would run.
    let lenses = lsp.request("textDocument/codeLens", json!({"textDocument": {"uri": u}}));
    let resume = lenses["result"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["command"]["title"] == format!("⟳ Resume {run}"))
        .unwrap_or_else(|| panic!("no resume lens: {lenses}"))["command"]
        .clone();
    let again = execute(
        &lsp,
        resume["command"].as_str().unwrap(),
        resume["arguments"].clone(),
    );
    assert_eq!(run_id(&again), run, "a resumed run keeps its id");
    let done = lsp.wait_for("the resumed run's end", |m| {
        m["method"] == "odw/runEvent"
            && m["params"]["runId"] == run
            && m["params"]["kind"] == "runFinished"
            && m["params"]["state"] == "succeeded"
    });
    assert_eq!(done["params"]["usage"]["cached"], 1, "{done}");
    let r = lsp.request("odw/result", json!({"runId": run}));
    assert_eq!(
        r["result"]["result"], "echo: first / echo: second [[latency:3000]]",
        "{r}"
    );
    // `first` was replayed from the journal, not asked again.
    assert_eq!(ws.provider.stats().by_prompt.get("first").copied(), Some(1));
    assert_eq!(lens_titles(&lsp, &u), ["▶ Run", "Dry run"]);
    assert_eq!(lsp.shutdown_and_exit(), 0);
}
