//! Shared vocabulary of the `odw lsp` end-to-end tests: client capabilities, scripts, and waits
//! for the messages a run produces.

use crate::lsp_client::Lsp;
use crate::support::Ws;
use serde_json::{Value, json};

/// An editor with every capability odw uses, opting in to `odw/runEvent`.
pub fn full_caps() -> Value {
    json!({
        "window": {"workDoneProgress": true, "showDocument": {"support": true}},
        "workspace": {"codeLens": {"refreshSupport": true}},
        "experimental": {"odwRunEvents": true},
    })
}

/// Three quick agents in one phase.
pub const TRIO: &str = r#"export const meta = { name: "trio", phases: [{ title: "Ask" }] };
phase("Ask");
const r = await parallel(["a", "b", "c"].map(x => () => agent(`Say ${x}`, { label: x })));
return r.join(" | ");
"#;

/// Ten sequential two-second agents: long enough to cancel mid-run.
pub const SLOW: &str = r#"export const meta = { name: "slow" };
const out = [];
for (let i = 0; i < 10; i++) out.push(await agent(`step ${i} [[latency:2000]]`));
return out.join(",");
"#;

pub fn uri(ws: &Ws, name: &str) -> String {
    format!("file://{}", ws.path().join(name).display())
}

pub fn started(lsp: &Lsp, ws: &Ws, caps: Value, options: Value) -> Value {
    let init = lsp.initialize(ws, caps, options);
    assert!(init.get("error").is_none(), "{init}");
    init
}

pub fn open(lsp: &Lsp, uri: &str, text: &str, version: i64) {
    lsp.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "javascript", "version": version, "text": text}}),
    );
}

pub fn run_events(lsp: &Lsp, run: &str) -> Vec<Value> {
    lsp.received("odw/runEvent")
        .into_iter()
        .filter(|e| e["runId"] == run)
        .collect()
}

pub fn wait_event(lsp: &Lsp, run: &str, kind: &str) -> Value {
    lsp.wait_for(&format!("{kind} of {run}"), |m| {
        m["method"] == "odw/runEvent" && m["params"]["runId"] == run && m["params"]["kind"] == kind
    })["params"]
        .clone()
}

pub fn progress(lsp: &Lsp, run: &str) -> Vec<Value> {
    let token = format!("odw/run/{run}");
    lsp.received("$/progress")
        .into_iter()
        .filter(|p| p["token"] == token)
        .map(|p| p["value"].clone())
        .collect()
}

pub fn wait_progress_end(lsp: &Lsp, run: &str) -> Value {
    let token = format!("odw/run/{run}");
    lsp.wait_for(&format!("the progress end of {run}"), |m| {
        m["method"] == "$/progress"
            && m["params"]["token"] == token
            && m["params"]["value"]["kind"] == "end"
    })["params"]["value"]
        .clone()
}

/// The final `showMessage` of a run (it names the run's result file).
pub fn wait_message(lsp: &Lsp, run: &str) -> Value {
    lsp.wait_for(&format!("the final message of {run}"), |m| {
        m["method"] == "window/showMessage"
            && m["params"]["message"]
                .as_str()
                .is_some_and(|t| t.contains(run))
    })["params"]
        .clone()
}

pub fn run_id(response: &Value) -> String {
    response["result"]["runId"]
        .as_str()
        .unwrap_or_else(|| panic!("no runId in {response}"))
        .to_string()
}

pub fn execute(lsp: &Lsp, command: &str, args: Value) -> Value {
    lsp.request(
        "workspace/executeCommand",
        json!({"command": command, "arguments": args}),
    )
}

pub fn lens_titles(lsp: &Lsp, uri: &str) -> Vec<String> {
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
