//! Hostile input and failure: each test here is the regression test of a defect that once made
//! odw abort, hang, or report success after losing something.

use crate::lsp_client::Lsp;
use crate::lsp_scenario::*;
use crate::support::*;
use serde_json::{Value, json};

fn deep_array() -> String {
    format!(
        "export const meta = {{ name: \"deep\" }};\nconst x = {}{};\nreturn 1;\n",
        "[".repeat(3000),
        "]".repeat(3000)
    )
}

fn long_chain() -> String {
    format!(
        "export const meta = {{ name: \"chain\" }};\nconst x = {};\nreturn x;\n",
        vec!["1"; 200_000].join("+")
    )
}

#[test]
fn deep_nesting_is_a_diagnostic_not_an_abort() {
    let ws = Ws::new();
    for (name, text, what) in [
        (
            "deep.workflow.js",
            deep_array(),
            "nested more than 1000 deep",
        ),
        (
            "chain.workflow.js",
            long_chain(),
            "chains more than 10000 operators",
        ),
    ] {
        let file = ws.write(name, &text);
        let out = ws.odw(&["check", file.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let shown = stdout(&out) + &stderr(&out);
        assert!(
            shown.contains(&format!("{name}:2:")) && shown.contains(what),
            "{shown}"
        );
        // One diagnostic is a few lines, not the whole generated line.
        assert!(shown.len() < 2_000, "{} bytes", shown.len());
        let out = ws.odw(&["run", file.to_str().unwrap(), "--json"]);
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(v["state"], "failed");
        assert!(v["error"].as_str().unwrap().contains(what), "{v}");
    }

    // The language server publishes the diagnostic and keeps serving.
    let lsp = Lsp::spawn(&ws);
    started(&lsp, &ws, full_caps(), Value::Null);
    for (name, text) in [
        ("deep.workflow.js", deep_array()),
        ("chain.workflow.js", long_chain()),
    ] {
        let u = uri(&ws, name);
        open(&lsp, &u, &text, 1);
        let d = lsp.wait_for("the nesting diagnostic", |m| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == u
                && m["params"]["diagnostics"]
                    .as_array()
                    .is_some_and(|d| !d.is_empty())
        });
        let first = &d["params"]["diagnostics"][0];
        assert_eq!(first["severity"], 1, "{first}");
        assert!(
            first["message"].as_str().unwrap().contains("deeply"),
            "{first}"
        );
    }
    let u = uri(&ws, "ok.workflow.js");
    open(
        &lsp,
        &u,
        "export const meta = {};\nreturn await agent(\"hi\");\n",
        1,
    );
    let hover = lsp.request(
        "textDocument/hover",
        json!({"textDocument": {"uri": u}, "position": {"line": 1, "character": 15}}),
    );
    assert!(hover["result"]["contents"].is_object(), "{hover}");
    lsp.assert_pure();
}

#[test]
fn scripts_see_no_host_internals() {
    let ws = Ws::new();
    let (v, _) = ws.run_json(
        "export const meta = { name: \"probe\" };\n\
         return Object.getOwnPropertyNames(globalThis).filter(n => /^__odw|^__/.test(n));\n",
        &[],
    );
    assert_eq!(v["state"], "succeeded", "{v}");
    assert_eq!(v["result"], json!([]), "{v}");
}

#[test]
fn a_large_fan_out_with_default_options_finishes() {
    let ws = Ws::new();
    let (v, out) = ws.run_json(
        "export const meta = { name: \"wide\" };\n\
         const items = Array.from({ length: 20000 }, (_, i) => i);\n\
         const out = await parallel(items.map((i) => () => agent(`item ${i}`, { maxTokens: 1 })));\n\
         return out.filter((x) => typeof x === \"string\").length;\n",
        &["--concurrency", "256"],
    );
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    assert_eq!(v["result"], 20000);
}
