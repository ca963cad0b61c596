//! `odw lsp` diagnostics end to end: every checker rule on didOpen and didChange with the right
//! versions, debounced edits never publishing a stale version, quick fixes, hover and
//! completion, configuration changes, and clearing on close.

use crate::lsp_client::Lsp;
use crate::support::Ws;
use serde_json::{Value, json};

fn uri(ws: &Ws, name: &str) -> String {
    format!("file://{}", ws.path().join(name).display())
}

fn start(ws: &Ws) -> Lsp {
    let lsp = Lsp::spawn(ws);
    let init = lsp.initialize(ws, json!({}), Value::Null);
    assert!(init.get("error").is_none(), "{init}");
    lsp
}

fn open(lsp: &Lsp, uri: &str, text: &str) {
    lsp.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "javascript", "version": 1, "text": text}}),
    );
}

fn change(lsp: &Lsp, uri: &str, version: i64, changes: Value) {
    lsp.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": uri, "version": version}, "contentChanges": changes}),
    );
}

/// Every publish for `uri` so far, in arrival order.
fn publishes(lsp: &Lsp, uri: &str) -> Vec<Value> {
    lsp.received("textDocument/publishDiagnostics")
        .into_iter()
        .filter(|p| p["uri"] == uri)
        .collect()
}

fn wait_version(lsp: &Lsp, uri: &str, version: i64) -> Vec<Value> {
    let p = lsp.wait_for(&format!("diagnostics of {uri} v{version}"), |m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["uri"] == uri
            && m["params"]["version"] == version
    });
    p["params"]["diagnostics"].as_array().unwrap().clone()
}

fn codes(diags: &[Value]) -> Vec<String> {
    diags
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn each_rule_is_published_with_its_version_and_cleared_on_fix() {
    let ws = Ws::new();
    let mut lsp = start(&ws);
    let meta = "export const meta = {};\n";
    // (file, text, the rule it trips, a fixed text)
    let cases = [
        ("syntax", format!("{meta}const a = ;\n"), "syntax"),
        (
            "api",
            format!("{meta}const fs = require('fs');\n"),
            "forbidden-api",
        ),
        (
            "import",
            "import x from 'y';\nasync function execute() {}\n".to_string(),
            "forbidden-import",
        ),
        (
            "export",
            format!("{meta}export default 1;\n"),
            "forbidden-export",
        ),
        (
            "misplaced",
            "const x = 1;\nexport const meta = {};\n".to_string(),
            "misplaced-meta",
        ),
        (
            "invalid-meta",
            "export const meta = 5;\nreturn 1;\n".to_string(),
            "invalid-meta",
        ),
        (
            "missing",
            "// nothing here\nconst x = 1;\n".to_string(),
            "missing-execute",
        ),
        (
            "top",
            "await agent('x');\nasync function execute() {}\n".to_string(),
            "execute-top-level",
        ),
        (
            "global",
            format!("{meta}await agnet('x');\n"),
            "unknown-global",
        ),
        (
            "floating",
            format!("{meta}agent('x');\nreturn 1;\n"),
            "floating-promise",
        ),
        (
            "eager",
            format!("{meta}return await parallel(args.xs.map(x => agent(x)));\n"),
            "eager-parallel",
        ),
        (
            "option",
            format!("{meta}return await agent('x', {{ modle: 'a' }});\n"),
            "unknown-option",
        ),
        (
            "schema",
            format!("{meta}return await agent('x', {{ schema: {{ a: 'strin' }} }});\n"),
            "invalid-schema",
        ),
        (
            "model",
            format!("{meta}return await agent('x', {{ model: 'nope:m' }});\n"),
            "unknown-model",
        ),
    ];
    for (name, text, _) in &cases {
        open(&lsp, &uri(&ws, &format!("{name}.workflow.js")), text);
    }
    for (name, text, code) in &cases {
        let u = uri(&ws, &format!("{name}.workflow.js"));
        let diags = wait_version(&lsp, &u, 1);
        assert!(
            codes(&diags).contains(&code.to_string()),
            "{name}: {diags:?}"
        );
        assert!(diags.iter().all(|d| d["source"] == "odw"), "{diags:?}");
        // Replace everything with a clean script: version 2 has no findings.
        let end = text.lines().count() + 1;
        change(
            &lsp,
            &u,
            2,
            json!([{"range": {"start": {"line": 0, "character": 0}, "end": {"line": end, "character": 0}},
                                    "text": "export const meta = {};\nreturn await agent('ok');\n"}]),
        );
    }
    for (name, _, _) in &cases {
        let u = uri(&ws, &format!("{name}.workflow.js"));
        assert_eq!(wait_version(&lsp, &u, 2), Vec::<Value>::new(), "{name}");
    }

    // A burst of edits: the last version is published, never an older one after a newer one.
    let u = uri(&ws, "global.workflow.js");
    for v in 3..=8 {
        let text = if v % 2 == 0 { "agnet" } else { "agent" };
        change(
            &lsp,
            &u,
            v,
            json!([{"range": {"start": {"line": 1, "character": 13}, "end": {"line": 1, "character": 18}}, "text": text}]),
        );
    }
    assert_eq!(codes(&wait_version(&lsp, &u, 8)), ["unknown-global"]);
    let versions: Vec<i64> = publishes(&lsp, &u)
        .iter()
        .map(|p| p["version"].as_i64().unwrap())
        .collect();
    assert!(versions.windows(2).all(|w| w[0] <= w[1]), "{versions:?}");

    // Closing clears.
    lsp.notify("textDocument/didClose", json!({"textDocument": {"uri": u}}));
    lsp.wait_for("cleared diagnostics", |m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["uri"] == u
            && m["params"].get("version").is_none()
    });
    assert_eq!(lsp.shutdown_and_exit(), 0);
}

#[test]
fn quick_fix_hover_completion_and_non_workflow_files() {
    let ws = Ws::new();
    let mut lsp = start(&ws);
    let u = uri(&ws, "eager.workflow.js");
    let text = "export const meta = {};\nreturn await parallel(args.xs.map(x => agent(x, { maxTokens: 9 })));\n";
    open(&lsp, &u, text);
    let diags = wait_version(&lsp, &u, 1);
    let eager = diags
        .iter()
        .find(|d| d["code"] == "eager-parallel")
        .expect("eager-parallel");
    let actions = lsp.request(
        "textDocument/codeAction",
        json!({"textDocument": {"uri": u}, "range": eager["range"], "context": {"diagnostics": [eager]}}),
    );
    let action = &actions["result"][0];
    assert_eq!(action["kind"], "quickfix", "{actions}");
    let edits = action["edit"]["changes"][&u].as_array().unwrap();
    assert!(
        edits
            .iter()
            .any(|e| e["newText"].as_str().unwrap().contains("() =>")),
        "{edits:?}"
    );

    let hover = |line: u32, character: u32| {
        lsp.request(
            "textDocument/hover",
            json!({"textDocument": {"uri": u}, "position": {"line": line, "character": character}}),
        )["result"]
            .clone()
    };
    assert!(
        hover(1, 15)["contents"]["value"]
            .as_str()
            .unwrap()
            .contains("maxConcurrency")
    );
    assert!(
        hover(1, 54)["contents"]["value"]
            .as_str()
            .unwrap()
            .starts_with("`maxTokens")
    );
    assert!(hover(1, 30).is_null(), "`args.xs` is not documented");

    let complete = |line: u32, character: u32| -> Vec<String> {
        let r = lsp.request(
            "textDocument/completion",
            json!({"textDocument": {"uri": u}, "position": {"line": line, "character": character}}),
        );
        r["result"].as_array().map_or(vec![], |a| {
            a.iter()
                .map(|i| i["label"].as_str().unwrap().to_string())
                .collect()
        })
    };
    let in_options = complete(1, 50);
    assert!(
        in_options.contains(&"schema".to_string()) && !in_options.contains(&"parallel".to_string()),
        "{in_options:?}"
    );
    let at_start = complete(1, 0);
    assert!(at_start.contains(&"pipeline".to_string()), "{at_start:?}");

    // A plain JavaScript file is not a workflow: no diagnostics, no hover.
    let plain = uri(&ws, "src/util.js");
    open(
        &lsp,
        &plain,
        "export function agnet() { return require('x'); }\n",
    );
    let h = lsp.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": plain}, "position": {"line": 0, "character": 18}}),
    );
    assert!(h["result"].is_null(), "{h}");
    // One that defines `execute` is.
    let exec = uri(&ws, "src/job.js");
    open(
        &lsp,
        &exec,
        "async function execute(context) { return agnet('x'); }\nmodule.exports = { execute };\n",
    );
    assert_eq!(codes(&wait_version(&lsp, &exec, 1)), ["unknown-global"]);
    assert!(publishes(&lsp, &plain).is_empty());
    assert_eq!(lsp.shutdown_and_exit(), 0);
}

#[test]
fn configuration_changes_recheck_open_documents() {
    let ws = Ws::new();
    let lsp = Lsp::spawn(&ws);
    let init = lsp.initialize(
        &ws,
        json!({}),
        json!({"config": {"providers": {"other": {"base_url": "http://127.0.0.1:9"}}}}),
    );
    assert!(init.get("error").is_none(), "{init}");
    let u = uri(&ws, "models.workflow.js");
    open(
        &lsp,
        &u,
        "export const meta = {};\nawait agent('x', { model: 'other:m' });\nreturn await agent('y', { model: 'nope:m' });\n",
    );
    let first = wait_version(&lsp, &u, 1);
    // `other:` is routed by initializationOptions, `nope:` by nothing.
    assert_eq!(codes(&first), ["unknown-model"]);
    assert!(
        first[0]["message"].as_str().unwrap().contains("nope:m"),
        "{first:?}"
    );
    lsp.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"odw": {"config": {"providers": {"nope": {"base_url": "http://127.0.0.1:9"}}}}}}),
    );
    lsp.wait_until("a re-check after the configuration change", |all| {
        all.iter()
            .filter(|m| m["method"] == "textDocument/publishDiagnostics" && m["params"]["uri"] == u)
            .count()
            >= 2
    });
    let second = publishes(&lsp, &u)[1].clone();
    assert_eq!(second["version"], 1);
    // The new settings replace the old: now `other:` has no route and `nope:` has one.
    assert_eq!(
        codes(second["diagnostics"].as_array().unwrap()),
        ["unknown-model"]
    );
    assert!(
        second["diagnostics"][0]["message"]
            .as_str()
            .unwrap()
            .contains("other:m"),
        "{second}"
    );
    // A typo in the settings is reported, not silently ignored.
    lsp.notify(
        "workspace/didChangeConfiguration",
        json!({"settings": {"odw": {"config": {"limits": {"retires": 1}}}}}),
    );
    let msg = lsp.wait_for("a settings error", |m| m["method"] == "window/showMessage");
    assert!(
        msg["params"]["message"]
            .as_str()
            .unwrap()
            .contains("retires"),
        "{msg}"
    );
}
