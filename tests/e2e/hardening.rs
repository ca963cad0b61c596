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

#[test]
fn values_cross_the_boundary_exactly_or_fail_loudly() {
    let ws = Ws::new();
    // 300 levels: back exactly, checkpoint included.
    let (v, out) = ws.run_json(
        "export const meta = { name: \"deep\" };\n\
         let x = 1; for (let i = 0; i < 300; i++) x = [x];\n\
         checkpoint(x);\n\
         log(\"lone \\ud800 surrogate\");\n\
         const label = await agent(\"hi\", { label: \"l\\udc00\" });\n\
         return { x, s: \"a\\ud800b\", label };\n",
        &[],
    );
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    let mut inner = &v["result"]["x"];
    for _ in 0..300 {
        inner = &inner[0];
    }
    assert_eq!(inner, &json!(1), "{v}");
    assert_eq!(v["result"]["s"], "a\u{fffd}b");
    let id = v["runId"].as_str().unwrap();
    let show = ws.odw(&["show", id, "--json"]);
    let shown: Value = odw::json::parse(&stdout(&show)).unwrap();
    assert_eq!(shown["checkpoints"].as_array().unwrap().len(), 1, "{shown}");
    assert!(shown["checkpoints"][0]["data"].is_array(), "{shown}");
    // The journal gives back the same deep result.
    let mut inner = &shown["result"]["x"];
    for _ in 0..300 {
        inner = &inner[0];
    }
    assert_eq!(inner, &json!(1));

    // Deeper than odw keeps: the run fails and says why, never `null` and `succeeded`.
    let (v, _) = ws.run_json(
        "export const meta = { name: \"deeper\" };\n\
         let x = 1; for (let i = 0; i < 600; i++) x = [x];\n\
         return x;\n",
        &[],
    );
    assert_eq!(v["state"], "failed", "{v}");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("nested 600 levels deep"),
        "{v}"
    );
    let (v, _) = ws.run_json(
        "export const meta = { name: \"deep checkpoint\" };\n\
         let x = 1; for (let i = 0; i < 600; i++) x = [x];\n\
         checkpoint(x);\n\
         return 1;\n",
        &[],
    );
    assert_eq!(v["state"], "failed", "{v}");
    assert!(v["error"].as_str().unwrap().contains("levels deep"), "{v}");
}

#[test]
fn errors_say_what_happened_and_where() {
    let ws = Ws::new();
    let run = |text: &str| ws.run_json(text, &[]).0;
    // A shebang line: `odw check` and `odw run` agree that it is fine, in both dialects.
    for text in [
        "#!/usr/bin/env odw\nexport const meta = { name: \"sb\" };\nreturn 1;\n",
        "#!/usr/bin/env odw\nasync function execute() { return 1; }\nmodule.exports = { execute };\n",
    ] {
        let file = ws.write("sb.workflow.js", text);
        let out = ws.odw(&["check", file.to_str().unwrap()]);
        assert!(out.status.success(), "{}", stderr(&out));
        let v = run(text);
        assert_eq!(v["state"], "succeeded", "{v}");
        assert_eq!(v["result"], 1);
    }
    let v = run("export const meta = { name: \"t\" };\nthrow null;\n");
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("threw null instead of an Error"), "{e}");
    let v = run(
        "export const meta = { name: \"t\" };\nfunction f() { throw new Error(\"\"); }\nf();\n",
    );
    let e = v["error"].as_str().unwrap();
    assert!(e.starts_with("Error: (an empty message)"), "{e}");
    assert!(e.contains("t.workflow.js:3:"), "where: {e}");
    let v = run(
        "export const meta = { name: \"t\" };\nphase(\"Wait\");\nawait new Promise(() => {});\n",
    );
    let e = v["error"].as_str().unwrap();
    assert!(e.contains("stalled in phase \"Wait\""), "{e}");
    assert!(e.contains("new Promise"), "{e}");
}

#[test]
fn a_missing_cwd_is_refused_not_created() {
    let ws = Ws::new();
    let file = ws.write("t.workflow.js", "export const meta = {};\nreturn 1;\n");
    let missing = ws.path().join("no/such/dir");
    let out = ws.odw(&[
        "run",
        file.to_str().unwrap(),
        "--cwd",
        missing.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("no such directory"),
        "{}",
        stderr(&out)
    );
    assert!(!missing.exists());
    assert!(!ws.path().join("no").exists());
}

#[test]
fn a_wrong_key_across_a_fan_out_fails_the_run_at_once() {
    let ws = Ws::with(
        odw_test_provider::ProviderOptions::default().require_key("sk-the-right-one"),
        "",
    );
    let file = ws.write(
        "fan.workflow.js",
        "export const meta = { name: \"fan\" };\n\
         const items = Array.from({ length: 200 }, (_, i) => i);\n\
         return await parallel(items.map((i) => () => agent(`item ${i}`, { model: \"gpt-5\" })));\n",
    );
    let out = ws
        .cmd(&[
            "run",
            file.to_str().unwrap(),
            "--json",
            "--concurrency",
            "4",
        ])
        .env("OPENAI_API_KEY", "sk-odw-WRONG-KEY-1234")
        .env("OPENAI_BASE_URL", format!("{}/v1", ws.provider.base_url()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["state"], "failed", "{v}");
    let error = v["error"].as_str().unwrap();
    assert!(error.contains("rejected the API key (HTTP 401)"), "{error}");
    assert!(
        !error.contains("1234") && !error.contains("WRONG"),
        "{error}"
    );
    // No retries on a 401, and the run stops at the first rejection, before its slot goes to
    // another call: at most the 4 calls in flight then, of 200.
    let sent = ws.provider.stats().total;
    assert!(sent <= 4, "{sent} requests were sent for a rejected key");
}

#[test]
fn provider_bodies_are_read_up_to_a_cap() {
    let ws = Ws::with(Default::default(), "max_response_mb = 1\n");
    // The test provider echoes the prompt: a 2 MiB prompt gets a 2 MiB reply.
    let (v, _) = ws.run_json(
        "export const meta = { name: \"big\" };\n\
         return await agent(\"x\".repeat(2 * 1024 * 1024), { retries: 0 });\n",
        &[],
    );
    assert_eq!(v["state"], "failed", "{v}");
    let e = v["error"].as_str().unwrap();
    assert!(
        e.contains("larger than 1 MiB") && e.contains("max_response_mb"),
        "{e}"
    );
    // Under the cap, the same call succeeds.
    let (v, _) = ws.run_json(
        "export const meta = { name: \"small\" };\n\
         return (await agent(\"x\".repeat(512 * 1024))).length;\n",
        &[],
    );
    assert_eq!(v["state"], "succeeded", "{v}");
}

#[test]
fn reading_a_fifo_is_an_error_not_a_hang() {
    let ws = Ws::new();
    let fifo = ws.path().join("pipe");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo with a valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let (v, _) = ws.run_json(
        "async function execute(context) {\n\
           try { await context.tools.read_file(\"pipe\"); return \"read\"; }\n\
           catch (e) { return e.message; }\n\
         }\nmodule.exports = { execute };\n",
        &[],
    );
    assert_eq!(v["state"], "succeeded", "{v}");
    assert!(v["result"].as_str().unwrap().contains("pipe"), "{v}");
}

#[test]
fn ctrl_c_ends_the_cli() {
    use std::io::{BufRead, BufReader};
    let ws = Ws::new();
    let file = ws.write(
        "slow.workflow.js",
        "export const meta = { name: \"slow\" };\n\
         return await agent(\"[[latency:60000]] wait\", { label: \"slow\" });\n",
    );
    let mut child = ws
        .cmd(&["run", file.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the agent is under way (the provider has the request).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while ws.provider.stats().in_flight == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the agent never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let pid = child.id() as libc::pid_t;
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid, libc::SIGINT) };
    // The first Ctrl-C is acknowledged on stderr before the second one is sent.
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    while !line.contains("Ctrl-C again") {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "no cancel notice");
    }
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGINT) };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(!status.success(), "{status}");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "odw run did not exit after two Ctrl-C"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn a_journal_that_cannot_write_stops_the_run_and_resume_continues() {
    let ws = Ws::new();
    // 300 calls whose prompts and replies (the provider echoes) fill the journal quickly.
    ws.write(
        "fill.workflow.js",
        "export const meta = { name: \"fill\" };\n\
         const items = Array.from({ length: 300 }, (_, i) => i);\n\
         const out = await parallel(items.map((i) => () => agent(`${i} ` + \"x\".repeat(4000))), { maxConcurrency: 4 });\n\
         return out.filter(Boolean).length;\n",
    );
    // A file-size limit stands in for a full disk: writes past 600 KiB fail with EFBIG (the
    // signal that would otherwise kill the process is ignored, as a full disk sends none).
    let odw = odw_bin();
    let mut cmd = std::process::Command::new("bash");
    cmd.arg("-c")
        .arg("ulimit -f 600; trap '' XFSZ; exec \"$ODW_BIN\" run fill.workflow.js --json")
        .current_dir(ws.path())
        .env("ODW_BIN", odw)
        .env("HOME", ws.path())
        .env("XDG_CONFIG_HOME", ws.path().join(".config"))
        .env_remove("OPENAI_API_KEY")
        .env_remove("ANTHROPIC_API_KEY")
        .stdin(std::process::Stdio::null());
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_str(stdout(&out).trim())
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&out), stderr(&out)));
    assert_eq!(v["state"], "failed", "{v}");
    let error = v["error"].as_str().unwrap();
    assert!(error.starts_with("journal: "), "{error}");
    assert!(error.contains("odw resume"), "{error}");
    let first = ws.provider.stats().total;
    assert!(
        first < 300,
        "the run went on after the journal failed: {first} requests"
    );

    // With room again, the resume pays only for what was not recorded.
    let id = v["runId"].as_str().unwrap();
    let out = ws.odw(&["resume", id, "--json"]);
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    assert_eq!(v["result"], 300);
    let resumed = ws.provider.stats().total - first;
    assert!(
        resumed <= 300 - (first - 8),
        "the resume asked again for recorded calls: {first} then {resumed}"
    );
    let integrity = ws.odw(&["runs"]);
    assert!(integrity.status.success());
}

#[test]
fn counts_and_usage_are_per_run_across_attempts() {
    let ws = Ws::new();
    // Calls 40..60 hang the first time they are asked (`[[hang x1]]`), so the process can be
    // killed with 40 calls recorded; the resume gets answers for them.
    let file = ws.write(
        "half.workflow.js",
        "export const meta = { name: \"half\" };\n\
         const items = Array.from({ length: 60 }, (_, i) => i);\n\
         return (await parallel(items.map((i) => () =>\n\
           agent(i < 40 ? `quick ${i}` : `[[hang x1]] slow ${i}`, { timeoutMs: 600000 })))).length;\n",
    );
    let mut child = ws
        .cmd(&[
            "run",
            file.to_str().unwrap(),
            "--json",
            "--concurrency",
            "64",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let recorded = || {
        let out = ws.odw(&["runs", "--json"]);
        serde_json::from_slice::<Value>(&out.stdout)
            .ok()
            .and_then(|v| v[0]["agents"].as_u64())
    };
    // All 20 slow prompts must have been asked (and hung) before the kill.
    while recorded().unwrap_or(0) < 40 || ws.provider.stats().total < 60 {
        assert!(
            std::time::Instant::now() < deadline,
            "the quick calls never finished"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // Before: 0 agents and no usage for a run whose process died.
    let out = ws.odw(&["runs", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["agents"], 40, "{v}");
    let tokens_before = v[0]["tokens"].as_u64().unwrap();
    assert!(tokens_before > 0, "{v}");
    let id = v[0]["runId"].as_str().unwrap().to_string();

    let out = ws.odw(&["resume", &id, "--json"]);
    let r: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(r["state"], "succeeded", "{}", stderr(&out));
    let out = ws.odw(&["runs", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    // The run's totals cover both executions, not just the resume's new requests.
    assert_eq!(v[0]["agents"], 60, "{v}");
    assert!(v[0]["tokens"].as_u64().unwrap() > tokens_before, "{v}");
    let show = stdout(&ws.odw(&["show", &id]));
    assert!(show.contains("attempt  1 (run): did not finish"), "{show}");
    assert!(
        show.contains("attempt  2 (resume): succeeded · 60 agents (40 replayed from the journal)"),
        "{show}"
    );
}

#[test]
fn crlf_scripts_and_non_ascii_paths_work_end_to_end() {
    let ws = Ws::new();
    // CRLF line endings: positions are right, and the script runs.
    let broken =
        "export const meta = { name: \"crlf\" };\r\nconst x = 1;\r\nawait agnet(\"x\");\r\n";
    let file = ws.write("crlf.workflow.js", broken);
    let out = ws.odw(&["check", file.to_str().unwrap()]);
    let shown = stdout(&out) + &stderr(&out);
    assert!(
        shown.contains("crlf.workflow.js:3:7: error[unknown-global]"),
        "{shown}"
    );
    let (v, _) = ws.run_json(
        "export const meta = { name: \"crlf\" };\r\nconst x = await agent(\"hi\");\r\nreturn x;\r\n",
        &[],
    );
    assert_eq!(v["state"], "succeeded", "{v}");
    assert_eq!(v["result"], "echo: hi");

    // A path with spaces and non-ASCII characters, through the language server's URIs.
    let name = "répertoire à/été x.workflow.js";
    let path = ws.write(
        name,
        "export const meta = { name: \"été\" };\nreturn await agnet(\"hi\");\n",
    );
    let encoded = format!(
        "file://{}",
        path.display()
            .to_string()
            .replace(' ', "%20")
            .replace('é', "%C3%A9")
            .replace('à', "%C3%A0")
    );
    let lsp = Lsp::spawn(&ws);
    started(&lsp, &ws, full_caps(), Value::Null);
    open(&lsp, &encoded, &std::fs::read_to_string(&path).unwrap(), 1);
    let d = lsp.wait_for("diagnostics for the non-ASCII path", |m| {
        m["method"] == "textDocument/publishDiagnostics"
            && m["params"]["uri"] == encoded
            && m["params"]["diagnostics"]
                .as_array()
                .is_some_and(|d| !d.is_empty())
    });
    assert_eq!(
        d["params"]["diagnostics"][0]["code"], "unknown-global",
        "{d}"
    );
    // Fixed in the editor, then run from its URI.
    lsp.notify(
        "textDocument/didChange",
        json!({"textDocument": {"uri": encoded, "version": 2},
               "contentChanges": [{"text": "export const meta = { name: \"été\" };\nreturn await agent(\"hi\");\n"}]}),
    );
    let r = lsp.request("odw/run", json!({"uri": encoded, "wait": true}));
    assert_eq!(r["result"]["state"], "succeeded", "{r}");
    assert_eq!(r["result"]["result"], "echo: hi", "{r}");
    lsp.assert_pure();
}

#[test]
fn a_reply_cut_at_max_tokens_is_said_on_every_wire() {
    let ws = Ws::new();
    for model in ["test:m", "testa:m", "testo:m"] {
        ws.provider.reset();
        let (v, out) = ws.run_json(
            &format!(
                "export const meta = {{ name: \"cut\" }};\n\
                 const text = await agent(\"[[length]] tell a long story\", {{ model: \"{model}\", label: \"story\", maxTokens: 5 }});\n\
                 const data = await agent(\"[[length]] [[badschema x1]] a verdict\", {{ model: \"{model}\", schema: {{ ok: \"boolean\" }} }});\n\
                 return {{ text, data }};\n"
            ),
            &[],
        );
        assert_eq!(v["state"], "succeeded", "{model}: {v}\n{}", stderr(&out));
        // The text is kept, and a warning says it is incomplete.
        assert_eq!(v["result"]["text"], "echo: [[length]] tell a long story");
        let db = rusqlite::Connection::open(ws.path().join(".odw/odw.db")).unwrap();
        let warned: i64 = db
            .query_row(
                "SELECT count(*) FROM events WHERE run_id = ?1 AND kind = 'log' \
                 AND payload LIKE '%story: the reply was cut off at maxTokens (5)%'",
                [v["runId"].as_str().unwrap()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(warned, 1, "{model}: no cut-off warning");
        // A structured reply that was cut and invalid is re-asked, and the re-ask says why.
        let reask = ws
            .provider
            .stats()
            .requests
            .into_iter()
            .filter(|r| r.prompt.contains("cut off at the"))
            .count();
        assert_eq!(reask, 1, "{model}: the re-ask names the cut-off");
        assert!(v["result"]["data"]["ok"].is_boolean(), "{model}: {v}");
    }
}

#[test]
fn budgets_count_what_providers_report_including_failed_attempts() {
    let ws = Ws::new();
    // A provider that claims far more output than maxTokens allows: charged what it reports,
    // and no further call starts once the cap is crossed.
    let (v, out) = ws.run_json(
        "export const meta = { name: \"liar\" };\n\
         const out = [];\n\
         for (let i = 0; i < 5; i++) out.push(await agent(`[[usage:0,3000]] call ${i}`, { maxTokens: 50 }));\n\
         return out;\n",
        &["--budget-tokens", "5000"],
    );
    assert_eq!(v["state"], "budget_exhausted", "{v}\n{}", stderr(&out));
    assert_eq!(
        ws.provider.stats().total,
        2,
        "a call started after the cap was crossed"
    );
    assert_eq!(v["usage"]["tokensOut"], 6000, "{v}");

    // Attempts that failed after spending tokens (re-asks of a reply that broke the schema)
    // are spent too.
    ws.provider.reset();
    let (v, _) = ws.run_json(
        "export const meta = { name: \"reasks\" };\n\
         try { await agent(\"[[usage:100,100]] [[badschema x3]] v\", { schema: { ok: \"boolean\" } }); }\n\
         catch (e) { return e.code; }\n",
        &[],
    );
    assert_eq!(v["result"], "schema_invalid", "{v}");
    assert_eq!(ws.provider.stats().total, 3);
    assert_eq!(v["usage"]["requests"], 3, "{v}");
    // The first attempt claims 100/100; the two re-asks (whose prompts carry no directive)
    // add their own real counts on top.
    assert!(v["usage"]["tokensIn"].as_u64().unwrap() > 100, "{v}");
    assert!(v["usage"]["tokensOut"].as_u64().unwrap() > 100, "{v}");
}

#[test]
fn a_journal_replaced_mid_run_stops_the_run() {
    let ws = Ws::new();
    let file = ws.write(
        "two.workflow.js",
        "export const meta = { name: \"two\" };\n\
         const a = await agent(\"first\");\n\
         const b = await agent(\"second [[gate]]\");\n\
         return [a, b];\n",
    );
    let child = ws
        .cmd(&["run", file.to_str().unwrap(), "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The second call is at the gate: the first result is committed.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while ws.provider.stats().in_flight == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the second call never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Someone restores an old copy of the journal over it (or deletes it) mid-run.
    let db = ws.path().join(".odw/odw.db");
    let copy = ws.path().join("copy.db");
    std::fs::copy(&db, &copy).unwrap();
    std::fs::rename(&copy, &db).unwrap();
    ws.provider.open_gate();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["state"], "failed", "{v}");
    let error = v["error"].as_str().unwrap();
    assert!(
        error.starts_with("journal: ") && error.contains("removed or replaced"),
        "{error}"
    );
}

#[test]
fn a_journal_corrupted_in_place_mid_run_is_never_a_silent_success() {
    let ws = Ws::new();
    let file = ws.write(
        "two.workflow.js",
        "export const meta = { name: \"two\" };\n\
         const a = await agent(\"first\");\n\
         const b = await agent(\"second [[gate]]\");\n\
         return [a, b];\n",
    );
    let child = ws
        .cmd(&["run", file.to_str().unwrap(), "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while ws.provider.stats().in_flight == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the second call never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Garbage over every page but the header, in place (same file), while the run waits.
    let db = ws.path().join(".odw/odw.db");
    let len = std::fs::metadata(&db).unwrap().len() as usize;
    let mut bytes = std::fs::read(&db).unwrap();
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i * 31 % 251) as u8;
    }
    std::fs::write(&db, &bytes[..len]).unwrap();
    let wal = ws.path().join(".odw/odw.db-wal");
    if wal.exists() {
        let n = std::fs::metadata(&wal).unwrap().len() as usize;
        std::fs::write(&wal, vec![0xA5u8; n]).unwrap();
    }
    ws.provider.open_gate();
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap_or(Value::Null);
    // Either the run stops on the journal error, or, if every write it needed still went
    // through, what it reports is true: the journal answers for its result afterwards.
    if v["state"] == "succeeded" {
        let id = v["runId"].as_str().unwrap();
        let shown = ws.odw(&["show", id, "--json"]);
        assert!(
            shown.status.success(),
            "succeeded, but the journal cannot show it: {}",
            stderr(&shown)
        );
    } else {
        assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
        let error = v["error"].as_str().unwrap_or_default().to_string() + &stderr(&out);
        assert!(error.contains("journal"), "{error}");
    }
}

#[test]
fn resume_keeps_the_runs_configured_concurrency() {
    let ws = Ws::with(
        odw_test_provider::ProviderOptions::default().latency_ms(30),
        "concurrency = 2\n",
    );
    ws.write("mode.txt", "fail");
    let (v, _) = ws.run_json(
        "async function execute(context) {\n\
           await parallel([0, 1, 2, 3].map((i) => () => agent(`first ${i}`)));\n\
           if ((await context.tools.read_file(\"mode.txt\")).trim() === \"fail\") throw new Error(\"planned\");\n\
           return (await parallel([0, 1, 2, 3, 4, 5, 6, 7].map((i) => () => agent(`second ${i}`)))).length;\n\
         }\nmodule.exports = { execute };\n",
        &[],
    );
    assert_eq!(v["state"], "failed", "{v}");
    ws.write("mode.txt", "ok");
    ws.provider.reset();
    // No --concurrency: the run's [limits] concurrency (2) holds, not a built-in 16.
    let out = ws.odw(&["resume", v["runId"].as_str().unwrap(), "--json"]);
    let r: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(r["state"], "succeeded", "{}", stderr(&out));
    let s = ws.provider.stats();
    assert_eq!(s.total, 8, "only the second batch is asked");
    assert!(
        s.max_in_flight <= 2,
        "{} in flight at once",
        s.max_in_flight
    );
}
