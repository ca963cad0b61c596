//! `odw lsp` end to end: the real binary over pipes. Initialization and capabilities, the
//! planner, a client without progress or custom messages, stdout purity, malformed input, exit
//! codes. Every test also asserts that stdout carried nothing but JSON-RPC.

use crate::lsp_client::Lsp;
use crate::lsp_scenario::*;
use crate::support::Ws;
use serde_json::{Value, json};

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
        json!(["quickfix", "source"])
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
    // A round trip after the run, so anything the server sent with it has arrived.
    let runs = lsp.request("odw/runs", json!({"limit": 5}));
    assert_eq!(runs["result"][0]["runId"], run, "{runs}");
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
    // Rejections nobody awaits do not end the run; the noise goes to log events, not stdout.
    assert_eq!(r["result"]["state"], "succeeded", "{r}");
    assert_eq!(r["result"]["result"], "echo: after the noise", "{r}");
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
fn a_stray_print_lands_on_stderr() {
    let ws = Ws::new();
    let mut cmd = ws.cmd(&["lsp"]);
    cmd.env("ODW_LSP_TEST_STRAY_PRINT", "1");
    let mut lsp = Lsp::spawn_command(cmd);
    started(&lsp, &ws, json!({}), Value::Null);
    assert_eq!(lsp.shutdown_and_exit(), 0);
    assert!(
        lsp.stderr()
            .contains("a stray print that must land on stderr"),
        "{}",
        lsp.stderr()
    );
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
    // A request (with an id) for a `$/` method is answered MethodNotFound, not ignored.
    let dollar = lsp.request("$/setTrace", json!({"value": "off"}));
    assert_eq!(dollar["error"]["code"], -32601, "{dollar}");
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
    // The client closes the pipe without a word, while a request waits for a very slow run: 1,
    // at once (the run is cancelled rather than waited for).
    ws.write(
        "glacial.workflow.js",
        "export const meta = {};\nreturn await agent('slow [[latency:300000]]');\n",
    );
    let mut lsp = Lsp::spawn(&ws);
    started(&lsp, &ws, full_caps(), json!({}));
    lsp.send_request(
        "odw/run",
        json!({"uri": uri(&ws, "glacial.workflow.js"), "wait": true}),
    );
    lsp.wait_for("the slow call", |m| m["params"]["kind"] == "agentStarted");
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
