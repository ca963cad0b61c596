//! `odw lsp` runs end to end against the loopback provider: progress begin/report/end, run
//! events and the final message; resume; cancellation three ways; five runs at once while hover
//! and diagnostics keep answering; shutdown with a live run.

use crate::lsp_client::Lsp;
use crate::lsp_scenario::*;
use crate::support::Ws;
use serde_json::{Value, json};

#[test]
fn a_run_reports_progress_events_and_its_result() {
    let ws = Ws::new();
    let file = "trio.workflow.js";
    // On disk a different script: the run must use the editor's unsaved buffer.
    ws.write(file, "export const meta = {};\nreturn 'from disk';\n");
    let mut lsp = Lsp::spawn(&ws);
    // `openResult`: this user wants the result document opened after a run that succeeded.
    started(
        &lsp,
        &ws,
        full_caps(),
        json!({"model": "testo:llama", "openResult": true}),
    );
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
    assert_eq!(values[0]["title"], "trio");
    assert_eq!(values[0]["cancellable"], true);
    let reports: Vec<&Value> = values.iter().filter(|v| v["kind"] == "report").collect();
    assert!(!reports.is_empty(), "{values:?}");
    let percents: Vec<u64> = reports
        .iter()
        .filter_map(|r| r["percentage"].as_u64())
        .collect();
    assert!(percents.windows(2).all(|w| w[0] <= w[1]), "{percents:?}");
    // `starting` until the first agent is queued, then `n/m agents`; never `0/0 agents`.
    assert!(
        reports.iter().all(|r| {
            let m = r["message"].as_str().unwrap();
            (m.ends_with("starting") || m.contains(" agents")) && !m.contains("0/0 agents")
        }),
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
    // The engine settles the result just after the event; the progress end comes after both.
    wait_progress_end(&lsp, &run);
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
    let token = format!("odw/run/{run}");
    lsp.wait_until("the resumed run's progress end", |all| {
        all.iter()
            .filter(|m| m["params"]["token"] == token && m["params"]["value"]["kind"] == "end")
            .count()
            == 2
    });
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
