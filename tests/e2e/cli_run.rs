//! `odw run` end to end against the loopback provider: primitives, dialects, wire formats,
//! retries, re-asks, limits and bad input, with exact request counts.

use crate::support::*;
use odw_test_provider::ProviderOptions;
use serde_json::json;
use std::time::Duration;

#[test]
fn hello_one_agent() {
    let ws = Ws::new();
    let (v, out) = ws.run_json(
        "async function execute(context) { return agent('Say hi'); }\nmodule.exports = { execute };",
        &[],
    );
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    assert_eq!(v["result"], "echo: Say hi");
    assert_eq!(v["usage"]["agents"], 1);
    assert_eq!(v["usage"]["requests"], 1);
    assert!(v["usage"]["tokensIn"].as_u64().unwrap() > 0);
    assert_eq!(ws.provider.stats().total, 1);
    assert!(out.status.success());
    // The readable result is on disk.
    let path = v["resultPath"].as_str().unwrap();
    assert!(
        std::fs::read_to_string(path)
            .unwrap()
            .contains("echo: Say hi")
    );
}

#[test]
fn plain_output_is_the_result_on_stdout() {
    let ws = Ws::new();
    let f = ws.write(
        "hello.workflow.js",
        "export const meta = { name: 'hello' };\nreturn await agent('plain');\n",
    );
    let out = ws.odw(&["run", f.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "echo: plain\n");
    assert!(stderr(&out).contains("succeeded"), "{}", stderr(&out));
}

#[test]
fn meta_dialect_with_args_parallel_and_phases() {
    let ws = Ws::new();
    let (v, out) = ws.run_json(
        r#"export const meta = { name: "audit", phases: [{ title: "Audit" }] };
phase("Audit");
const results = await parallel(args.files.map(f => () => agent(`Check ${f}`, { label: f })));
return results.filter(Boolean).join("\n");
"#,
        &["--args", r#"{"files":["a.ts","b.ts","c.ts"]}"#],
    );
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    assert_eq!(
        v["result"],
        "echo: Check a.ts\necho: Check b.ts\necho: Check c.ts"
    );
    assert_eq!(ws.provider.stats().total, 3);
}

#[test]
fn each_wire_format_with_structured_output() {
    let ws = Ws::new();
    for model in ["test:m", "testa:claude-like", "testo:llama"] {
        let (v, out) = ws.run_json(
            &format!(
                "async function execute() {{ return agent({{ prompt: 'Rate it', model: '{model}', schema: {{ score: 'number', tags: ['string'], ok: 'boolean' }} }}); }}"
            ),
            &[],
        );
        assert_eq!(v["state"], "succeeded", "{model}: {}", stderr(&out));
        let r = &v["result"];
        assert!(r["score"].is_number(), "{model}: {r}");
        assert!(r["tags"].is_array(), "{model}: {r}");
        assert!(r["ok"].is_boolean(), "{model}: {r}");
    }
    let s = ws.provider.stats();
    assert_eq!(
        (s.by_wire.openai, s.by_wire.anthropic, s.by_wire.ollama),
        (1, 1, 1)
    );
    // Native structured output where the wire has it; the prompt instruction elsewhere.
    for r in &s.requests {
        assert!(r.has_schema, "{r:?}");
    }
}

#[test]
fn rate_limits_are_retried_honouring_retry_after_and_reported() {
    let ws = Ws::new();
    let (v, out) = ws.run_json(
        "async function execute() { return agent('limited [[fail:429 x2]] [[retry-after:0]]'); }",
        &[],
    );
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    assert_eq!(v["usage"]["requests"], 3);
    assert_eq!(ws.provider.stats().total, 3);
    assert!(stderr(&out).contains("retrying"), "{}", stderr(&out));
}

#[test]
fn retry_after_is_waited_for() {
    let ws = Ws::new();
    let started = std::time::Instant::now();
    let (v, _) = ws.run_json(
        "async function execute() { return agent('slow down [[fail:429 x1]] [[retry-after:1]]'); }",
        &[],
    );
    assert_eq!(v["state"], "succeeded");
    // Back-off here is at most 20 ms; only Retry-After explains a wait of a second.
    assert!(started.elapsed() >= Duration::from_millis(1000));
}

#[test]
fn server_errors_malformed_and_truncated_bodies_are_retried() {
    let ws = Ws::new();
    for fault in [
        "[[fail:500 x1]]",
        "[[fail:503 x2]]",
        "[[malformed x1]]",
        "[[truncated x1]]",
    ] {
        let before = ws.provider.stats().total;
        let (v, out) = ws.run_json(
            &format!("async function execute() {{ return agent('fault {fault}'); }}"),
            &[],
        );
        assert_eq!(v["state"], "succeeded", "{fault}: {}", stderr(&out));
        assert!(
            v["result"].as_str().unwrap().starts_with("echo: fault"),
            "{fault}"
        );
        let n = if fault.contains("x2") { 3 } else { 2 };
        assert_eq!(ws.provider.stats().total - before, n, "{fault}");
    }
}

#[test]
fn a_hung_request_times_out_and_is_retried() {
    let ws = Ws::new();
    let (v, out) = ws.run_json(
        "async function execute() { return agent('stuck [[hang x1]]', { timeoutMs: 300 }); }",
        &[],
    );
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    assert_eq!(v["usage"]["requests"], 2);
    assert!(stderr(&out).contains("timeout"), "{}", stderr(&out));
}

#[test]
fn a_reply_that_fails_the_schema_is_re_asked_with_the_errors() {
    let ws = Ws::new();
    let (v, out) = ws.run_json(
        "async function execute() { return agent({ prompt: 'Give [[badschema x1]]', schema: { answer: 'string' } }); }",
        &[],
    );
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    assert!(v["result"]["answer"].is_string());
    let s = ws.provider.stats();
    assert_eq!(s.total, 2);
    // The re-ask quotes the validation error.
    let reask = &s.requests[1].prompt;
    assert!(reask.contains("answer"), "{reask}");
}

#[test]
fn schema_reasks_have_their_own_counter() {
    let ws = Ws::with(ProviderOptions::default(), "schema_retries = 1\n");
    let (v, out) = ws.run_json(
        "async function execute() { return agent({ prompt: 'Bad [[badschema x5]] [[key:bad]]', schema: { answer: 'string' } }); }",
        &[],
    );
    assert_eq!(v["state"], "failed", "{}", stderr(&out));
    assert!(
        v["error"].as_str().unwrap().contains("schema_invalid"),
        "{v}"
    );
    // One request and one re-ask; transient retries were not spent on the schema.
    assert_eq!(ws.provider.stats().total, 2);
}

#[test]
fn failed_items_settle_to_null_and_are_listed() {
    let ws = Ws::with(ProviderOptions::default(), "retries = 1\n");
    let (v, out) = ws.run_json(
        "async function execute() { return parallel([() => agent('good'), () => agent('bad [[fail:500 x99]]'), () => agent('fine')]); }",
        &[],
    );
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    assert_eq!(v["result"], json!(["echo: good", null, "echo: fine"]));
    let failures = v["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0]["code"], "provider_error");
    // One try plus one retry for the failing call.
    assert_eq!(ws.provider.stats().total, 4);
}

#[test]
fn fallback_model_answers_when_the_primary_gives_up() {
    // The primary endpoint refuses connections (nothing listens on port 1 of loopback).
    let ws = Ws::with(
        ProviderOptions::default(),
        "retries = 1\n\n[providers.dead]\nbase_url = \"http://127.0.0.1:1/v1\"\n",
    );
    let (v, out) = ws.run_json(
        "async function execute() { return agent('Primary down', { model: 'dead:primary', fallback: 'test:backup' }); }",
        &[],
    );
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    assert_eq!(v["result"], "echo: Primary down");
    assert!(
        stderr(&out).contains("fallback model test:backup"),
        "{}",
        stderr(&out)
    );
    // Two refused attempts on the primary, one answered request on the fallback.
    assert_eq!(v["usage"]["requests"], 3);
    let s = ws.provider.stats();
    assert_eq!(s.total, 1);
    assert_eq!(s.requests[0].model, "backup");
}

#[test]
fn concurrency_limit_holds_at_the_provider() {
    let ws = Ws::with(ProviderOptions::default().latency_ms(30), "");
    let (v, out) = ws.run_json(
        "async function execute() { return (await parallel(Array.from({length: 40}, (_, i) => () => agent('item ' + i)))).length; }",
        &["--concurrency", "4"],
    );
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    assert_eq!(v["result"], 40);
    let s = ws.provider.stats();
    assert_eq!(s.total, 40);
    assert!(s.max_in_flight <= 4, "max in flight {}", s.max_in_flight);
    assert!(
        s.max_in_flight >= 2,
        "no concurrency at all: {}",
        s.max_in_flight
    );
}

#[test]
fn max_concurrency_of_parallel_bounds_a_fan_out() {
    let ws = Ws::with(ProviderOptions::default().latency_ms(30), "");
    let (v, _) = ws.run_json(
        "async function execute() { return (await parallel(Array.from({length: 12}, (_, i) => () => agent('bounded ' + i)), { maxConcurrency: 2 })).length; }",
        &[],
    );
    assert_eq!(v["result"], 12);
    assert!(ws.provider.stats().max_in_flight <= 2);
}

#[test]
fn pipeline_loop_and_verify_run_against_the_provider() {
    let ws = Ws::new();
    let (v, out) = ws.run_json(
        r#"async function execute() {
  const staged = await pipeline(["x", "y"], (item) => agent("draft " + item), (prev) => agent("polish " + prev));
  let n = 0;
  const last = await loop(() => n >= 2, async () => { n++; return agent("round " + n); });
  const checked = await verify({ target: ["keep me", "drop me"], critics: [
      { prompt: 'Judge [[json:{"approved":false,"confidence":0.9,"critique":"no","rejectedItems":[1]}]]' },
      { prompt: 'Judge again [[json:{"approved":false,"confidence":0.8,"critique":"no","rejectedItems":["drop me"]}]]' } ],
    consensusThreshold: 2 });
  return { staged, last, kept: checked.kept, passed: checked.passed };
}"#,
        &[],
    );
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    let r = &v["result"];
    assert_eq!(
        r["staged"],
        json!(["echo: polish echo: draft x", "echo: polish echo: draft y"])
    );
    assert_eq!(r["last"], "echo: round 2");
    assert_eq!(r["kept"], json!(["keep me"]));
    assert_eq!(r["passed"], false);
    assert_eq!(ws.provider.stats().total, 4 + 2 + 2);
}

#[test]
fn a_missing_key_fails_before_the_first_agent_and_names_the_variable() {
    let ws = Ws::new();
    let (v, out) = ws.run_json(
        "async function execute() { return agent('x', { model: 'claude-sonnet-4-6' }); }",
        &[],
    );
    assert_eq!(v["state"], "failed");
    let err = v["error"].as_str().unwrap();
    assert!(err.contains("ANTHROPIC_API_KEY"), "{err}");
    assert_eq!(ws.provider.stats().total, 0);
    assert!(!out.status.success());
}

#[test]
fn an_api_key_never_appears_in_any_output() {
    let secret = "sk-odw-TOPSECRET-4242";
    let ws = Ws::with(
        ProviderOptions::default().require_key("sk-the-right-one"),
        "",
    );
    // Point the OpenAI route of the workspace at the provider with a wrong (recognisable) key.
    let file = ws.write(
        "k.workflow.js",
        "async function execute() { return parallel([() => agent('one', {model: 'gpt-5'}), () => agent('two', {model: 'gpt-5', retries: 0})]); }",
    );
    let out = ws
        .cmd(&["run", file.to_str().unwrap(), "--json"])
        .env("OPENAI_API_KEY", secret)
        .env("OPENAI_BASE_URL", format!("{}/v1", ws.provider.base_url()))
        .env("ODW_LOG", "debug")
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    // A rejected key ends the run at once, failed (not `succeeded` with nulls).
    assert_eq!(v["state"], "failed", "{}", stderr(&out));
    assert!(!out.status.success());
    // The other call may be recorded first, stopped (`cancelled`) by the rejection.
    let codes: Vec<&str> = v["failures"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["code"].as_str())
        .collect();
    assert!(codes.contains(&"auth_failed"), "{codes:?}");
    // The provider echoed the key back in its error body; odw must have scrubbed it.
    let mut everything = stdout(&out) + &stderr(&out);
    for entry in walk(ws.path().join(".odw")) {
        everything.push_str(&String::from_utf8_lossy(&std::fs::read(entry).unwrap()));
    }
    assert!(
        !everything.contains(secret),
        "the key leaked:\n{everything}"
    );
    assert!(!everything.contains("TOPSECRET"));
}

fn walk(dir: std::path::PathBuf) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(&dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walk(p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[test]
fn a_syntax_error_shows_file_line_column_and_the_line() {
    let ws = Ws::new();
    let f = ws.write(
        "broken.workflow.js",
        "async function execute() {\n  const x = ;\n}\n",
    );
    let out = ws.odw(&["run", f.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("broken.workflow.js:2:"), "{err}");
    assert!(err.contains("const x = ;"), "{err}");
    assert_eq!(ws.provider.stats().total, 0);
}

#[test]
fn a_runtime_exception_shows_the_js_stack() {
    let ws = Ws::new();
    let (v, _) = ws.run_json(
        "async function execute() {\n  await agent('first');\n  const o = undefined;\n  return o.field;\n}\n",
        &[],
    );
    assert_eq!(v["state"], "failed");
    let err = v["error"].as_str().unwrap();
    assert!(err.contains("TypeError"), "{err}");
    assert!(err.contains("t.workflow.js:4"), "{err}");
}

#[test]
fn a_busy_loop_is_interrupted_and_finished_results_are_kept() {
    let ws = Ws::with(ProviderOptions::default(), "cpu_slice_ms = 300\n");
    let (v, _) = ws.run_json(
        "async function execute() { const a = await agent('before'); while (true) {} }",
        &[],
    );
    assert_eq!(v["state"], "failed");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("exceeded 300 ms of CPU"),
        "{v}"
    );
    assert_eq!(v["usage"]["agents"], 1);
}

#[test]
fn require_and_import_are_refused() {
    let ws = Ws::new();
    let (v, _) = ws.run_json(
        "async function execute() { const fs = require('fs'); return 1; }",
        &[],
    );
    assert_eq!(v["state"], "failed");
    assert!(v["error"].as_str().unwrap().contains("require"), "{v}");
    let (v, _) = ws.run_json("import fs from 'fs';\nexport const meta = {};\n", &[]);
    assert_eq!(v["state"], "failed");
}

#[test]
fn dry_run_sends_nothing_and_estimates_per_phase() {
    let ws = Ws::new();
    let (v, out) = ws.run_json(
        r#"async function execute() {
  phase("Scan");
  const xs = await parallel([1,2,3].map(i => () => agent({ prompt: "look at " + i, schema: { issues: ["string"], severity: "number" } })));
  phase("Report");
  return agent({ prompt: "write it up: " + JSON.stringify(xs), model: "claude-sonnet-4-6" });
}"#,
        &["--dry-run"],
    );
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    assert_eq!(ws.provider.stats().total, 0);
    let est = &v["estimate"];
    assert_eq!(est["agents"], 4);
    let phases = est["phases"].as_array().unwrap();
    let scan = phases.iter().find(|p| p["phase"] == "Scan").unwrap();
    assert_eq!(scan["agents"], 3);
    let report = phases.iter().find(|p| p["phase"] == "Report").unwrap();
    assert!(
        report["costUsd"].as_f64().unwrap() > 0.0,
        "a Sonnet call costs money: {est}"
    );
}

#[test]
fn context_tools_read_the_workspace_and_nothing_outside() {
    let ws = Ws::new();
    ws.write(
        "src/a.ts",
        "export function handler() { /* TODO auth */ }\n",
    );
    ws.write("src/b.ts", "export const x = 1;\n");
    let (v, out) = ws.run_json(
        r#"async function execute(context) {
  const files = await context.tools.glob("src/**/*.ts");
  const text = await context.tools.read_file(files[0]);
  const hits = await context.tools.search("todo", "src/**");
  let escaped = null;
  try { await context.tools.read_file("../../etc/passwd"); } catch (e) { escaped = e.message; }
  return { files, text, hits: hits.map(h => h.file + ":" + h.line), escaped };
}"#,
        &[],
    );
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    let r = &v["result"];
    assert_eq!(r["files"], json!(["src/a.ts", "src/b.ts"]));
    assert!(r["text"].as_str().unwrap().contains("handler"));
    assert_eq!(r["hits"], json!(["src/a.ts:1"]));
    assert!(r["escaped"].as_str().unwrap().contains("escapes"), "{r}");
}

#[test]
fn console_output_never_reaches_stdout() {
    let ws = Ws::new();
    let f = ws.write(
        "c.workflow.js",
        "async function execute() { console.log('noise'); log('more noise'); return 'only this'; }",
    );
    let out = ws.odw(&["run", f.to_str().unwrap()]);
    assert_eq!(stdout(&out), "only this\n");
    assert!(stderr(&out).contains("noise"));
}

#[test]
fn workflow_runs_a_nested_script_in_the_same_run() {
    let ws = Ws::new();
    ws.write(
        "child.workflow.js",
        "export const meta = { name: 'child' };\nconst r = await agent(`child got ${args.x}`);\nlet nested = null;\ntry { await workflow('child', {}); } catch (e) { nested = e.message; }\nreturn { r, nested };\n",
    );
    let (v, out) = ws.run_json(
        "async function execute() { const c = await workflow('child', { x: 7 }); const own = await agent('parent'); return { c, own }; }",
        &[],
    );
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    assert_eq!(v["result"]["c"]["r"], "echo: child got 7");
    assert!(
        v["result"]["c"]["nested"]
            .as_str()
            .unwrap()
            .contains("one level"),
        "{v}"
    );
    assert_eq!(v["result"]["own"], "echo: parent");
    // Both scripts' calls count in the one run.
    assert_eq!(v["usage"]["agents"], 2);
    let (v, _) = ws.run_json(
        "async function execute() { return workflow('missing'); }",
        &[],
    );
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("no script named missing"),
        "{v}"
    );
}

#[test]
fn summarize_maps_and_reduces_long_text() {
    let ws = Ws::new();
    let (v, out) = ws.run_json(
        "async function execute() { const short = await summarize('tiny'); const long = await summarize('word '.repeat(6000), { chunkSize: 12000, maxChars: 20000 }); return { short, parts: long.split('\\n').length }; }",
        &[],
    );
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    assert_eq!(v["result"]["short"], "tiny");
    // 30,000 characters in chunks of 12,000: three summarizer calls; the echoed summaries are
    // still longer than maxChars, so one reduce call.
    assert_eq!(ws.provider.stats().total, 4);
}

#[test]
fn the_default_model_needs_no_key_when_every_call_names_its_own() {
    let ws = Ws::with(ProviderOptions::default(), "");
    let (v, out) = ws.run_json(
        "async function execute() { return agent('pinned', { model: 'test:m' }); }",
        &["--model", "claude-sonnet-4-6"],
    );
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    let (v, _) = ws.run_json(
        "async function execute() { await agent('pinned', { model: 'test:m' }); return agent('default'); }",
        &["--model", "claude-sonnet-4-6"],
    );
    assert_eq!(v["state"], "failed");
    assert!(v["error"].as_str().unwrap().contains("ANTHROPIC_API_KEY"));
}
