//! The language server's latency figures (issue 4, "Performance"): time from spawning `odw lsp`
//! to the `initialize` response, and from a one-character edit of a 2,000-line workflow script to
//! its published diagnostics. Ignored by default; run it on a release build:
//! `cargo test --release -p odw --test e2e lsp_bench -- --ignored --nocapture`.

use crate::lsp_client::Lsp;
use crate::support::Ws;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A realistic 2,000-line script: phases, fan-outs with thunks, schemas, loops and helpers.
fn big_script() -> String {
    let mut s =
        String::from("export const meta = { name: \"big\", phases: [{ title: \"Audit\" }] };\n");
    let mut i = 0;
    while s.lines().count() < 2000 {
        s.push_str(&format!(
            "phase(\"Audit {i}\");\n\
             const files{i} = await context.tools.glob(\"src/part{i}/**/*.ts\");\n\
             const found{i} = await parallel(files{i}.map(f => () => agent({{\n\
             \x20 role: \"auditor\", prompt: `Check ${{f}} for missing auth ({i})`,\n\
             \x20 schema: {{ findings: \"array\", ok: \"boolean\" }}, label: f, maxTokens: 800,\n\
             }})), {{ maxConcurrency: 8 }});\n\
             const kept{i} = found{i}.filter(Boolean).filter(r => !r.ok);\n\
             if (kept{i}.length > 0) {{\n\
             \x20 log(`part {i}: ${{kept{i}.length}} findings`);\n\
             \x20 checkpoint({{ part: {i}, findings: kept{i}.length }});\n\
             }}\n"
        ));
        i += 1;
    }
    s.push_str("return \"done\";\n");
    s
}

fn median(mut xs: Vec<Duration>) -> Duration {
    xs.sort();
    xs[xs.len() / 2]
}

#[test]
#[ignore = "a benchmark: run with --ignored --nocapture on a release build"]
fn lsp_bench() {
    let ws = Ws::new();
    let mut starts = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let mut lsp = Lsp::spawn(&ws);
        let init = lsp.initialize(&ws, json!({}), Value::Null);
        starts.push(t.elapsed());
        assert!(init.get("error").is_none());
        assert_eq!(lsp.shutdown_and_exit(), 0);
    }

    let mut lsp = Lsp::spawn(&ws);
    lsp.initialize(&ws, json!({}), Value::Null);
    let text = big_script();
    let lines = text.lines().count();
    let uri = format!("file://{}", ws.path().join("big.workflow.js").display());
    lsp.notify(
        "textDocument/didOpen",
        json!({"textDocument": {"uri": uri, "languageId": "javascript", "version": 1, "text": text}}),
    );
    let published = |lsp: &Lsp, version: i64| {
        lsp.wait_for(&format!("v{version}"), |m| {
            m["method"] == "textDocument/publishDiagnostics"
                && m["params"]["uri"] == uri
                && m["params"]["version"] == version
        })
    };
    let first = published(&lsp, 1);
    assert!(
        first["params"]["diagnostics"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{first}"
    );
    let mut edits = Vec::new();
    for v in 2..=41i64 {
        // Past the debounce spacing, so each edit is a lone edit, as when typing pauses.
        std::thread::sleep(Duration::from_millis(170));
        let line = 1 + (v as u32 * 37) % 1900;
        let t = Instant::now();
        lsp.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": uri, "version": v},
                   "contentChanges": [{"range": {"start": {"line": line, "character": 0}, "end": {"line": line, "character": 0}}, "text": " "}]}),
        );
        published(&lsp, v);
        edits.push(t.elapsed());
    }
    eprintln!(
        "spawn → initialize response: p50 {:?} (min {:?}, max {:?}) over {} starts",
        median(starts.clone()),
        starts.iter().min().unwrap(),
        starts.iter().max().unwrap(),
        starts.len()
    );
    eprintln!(
        "one-character edit → diagnostics, {lines}-line script: p50 {:?} (min {:?}, max {:?}) over {} edits",
        median(edits.clone()),
        edits.iter().min().unwrap(),
        edits.iter().max().unwrap(),
        edits.len()
    );
    assert_eq!(lsp.shutdown_and_exit(), 0);
}
