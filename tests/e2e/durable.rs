//! Durable runs: a real SIGKILL mid-run, exact resume from the journal, replayed time and
//! randomness, budgets that hold, and run states that never resume by themselves.

use crate::support::*;
use odw_test_provider::ProviderOptions;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};

const FAN_OUT: &str = r#"async function execute(context) {
  const n = context.args().n;
  // Items from 150 on wait at the provider's gate, so a run cannot finish before the test
  // kills it, however slow or fast the machine is.
  const xs = await parallel(Array.from({ length: n }, (_, i) => () => agent(i >= 150 ? `item ${i} [[gate]]` : `item ${i}`, { label: `item-${i}` })));
  return { count: xs.filter(Boolean).length, first: xs[0], last: xs[n - 1] };
}
module.exports = { execute };
"#;

fn db(ws: &Ws) -> rusqlite::Connection {
    rusqlite::Connection::open(ws.path().join(".odw/odw.db")).unwrap()
}

fn succeeded_labels(ws: &Ws, run: &str) -> Vec<String> {
    let c = db(ws);
    let mut st = c
        .prepare("SELECT label FROM calls WHERE run_id = ?1 AND status = 'succeeded'")
        .unwrap();
    st.query_map([run], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn show(ws: &Ws, run: &str) -> Value {
    let out = ws.odw(&["show", run, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    serde_json::from_str(stdout(&out).trim()).unwrap()
}

fn resume(ws: &Ws, run: &str, extra: &[&str]) -> (Value, std::process::Output) {
    let mut args = vec!["resume", run, "--json"];
    args.extend_from_slice(extra);
    let out = ws.odw(&args);
    let v = serde_json::from_str(stdout(&out).trim())
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&out), stderr(&out)));
    (v, out)
}

#[test]
// The child is killed and waited for on the success path; a failing assertion ends the test
// process, which reaps it.
#[allow(clippy::zombie_processes)]
fn sigkill_mid_run_then_resume_pays_for_nothing_twice() {
    // The uninterrupted reference run.
    let reference = Ws::with(ProviderOptions::default(), "");
    reference.provider.open_gate();
    let (expected, _) =
        reference.run_json(FAN_OUT, &["--args", r#"{"n":200}"#, "--concurrency", "8"]);
    assert_eq!(expected["state"], "succeeded");

    let ws = Ws::with(ProviderOptions::default(), "");
    let file = ws.write("fan.workflow.js", FAN_OUT);
    let mut child = ws
        .cmd(&[
            "run",
            file.to_str().unwrap(),
            "--args",
            r#"{"n":200}"#,
            "--concurrency",
            "8",
            "--quiet",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until about half the calls are journaled as finished, then kill without warning.
    let deadline = Instant::now() + Duration::from_secs(60);
    let run_id = loop {
        assert!(Instant::now() < deadline, "the run never got halfway");
        std::thread::sleep(Duration::from_millis(20));
        let Ok(c) = rusqlite::Connection::open(ws.path().join(".odw/odw.db")) else {
            continue;
        };
        let row: Option<(String, i64)> = c
            .query_row(
                "SELECT run_id, (SELECT count(*) FROM calls k WHERE k.run_id = r.run_id AND k.status = 'succeeded') FROM runs r",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .ok();
        if let Some((id, n)) = row
            && n >= 100
        {
            child.kill().unwrap();
            child.wait().unwrap();
            break id;
        }
    };
    let finished_before = succeeded_labels(&ws, &run_id);
    assert!(
        finished_before.len() >= 100 && finished_before.len() < 200,
        "{}",
        finished_before.len()
    );
    let requests_before = ws.provider.stats().total;
    ws.provider.open_gate();

    // The dead process's run is reported as interrupted, and nothing resumed it.
    assert_eq!(show(&ws, &run_id)["state"], "interrupted");

    let (v, out) = resume(&ws, &run_id, &[]);
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    assert_eq!(v["result"], expected["result"]);
    assert!(v["usage"]["cached"].as_u64().unwrap() >= finished_before.len() as u64);

    // No call that had finished before the kill was requested again.
    let stats = ws.provider.stats();
    for label in &finished_before {
        let i: usize = label.trim_start_matches("item-").parse().unwrap();
        assert_eq!(
            stats.count(&format!("item {i}")),
            1,
            "{label} was requested twice"
        );
    }
    // Everything else was requested at most once more (those in flight at the kill) .
    assert!(stats.total - requests_before <= 200 - finished_before.len() as u64);
    let ok: String = db(&ws)
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
    assert_eq!(show(&ws, &run_id)["state"], "succeeded");
}

const ORDERED: &str = r#"async function execute(context) {
  const order = (await context.tools.read_file("order.txt")).trim();
  let items = Array.from({ length: 12 }, (_, i) => i);
  if (order === "desc") items = items.reverse();
  const xs = await parallel(items.map((i) => () => agent(`ordered ${i}`)), { maxConcurrency: 1 });
  if ((await context.tools.read_file("mode.txt")).trim() === "fail") throw new Error("planned failure");
  return xs.length;
}
"#;

#[test]
fn a_resumed_fan_out_replays_every_call_whatever_the_start_order() {
    let ws = Ws::new();
    ws.write("order.txt", "asc");
    ws.write("mode.txt", "fail");
    let (v, _) = ws.run_json(ORDERED, &[]);
    assert_eq!(v["state"], "failed");
    assert!(v["error"].as_str().unwrap().contains("planned failure"));
    assert_eq!(ws.provider.stats().total, 12);
    let run = v["runId"].as_str().unwrap().to_string();

    ws.write("order.txt", "desc");
    ws.write("mode.txt", "ok");
    let (v, out) = resume(&ws, &run, &[]);
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    assert_eq!(v["result"], 12);
    assert_eq!(v["usage"]["cached"], 12);
    assert_eq!(
        ws.provider.stats().total,
        12,
        "a replayed call was requested again"
    );
}

#[test]
fn date_and_random_in_prompts_replay_with_zero_extra_requests() {
    let ws = Ws::new();
    ws.write("mode.txt", "fail");
    let script = r#"async function execute(context) {
  const stamp = Date.now();
  const xs = await parallel([0, 1, 2].map((i) => () => agent(`at ${stamp} roll ${Math.random()} perf ${performance.now() >= 0} date ${new Date().toISOString()}`)));
  if ((await context.tools.read_file("mode.txt")).trim() === "fail") throw new Error("planned failure");
  return xs;
}
"#;
    let (first, _) = ws.run_json(script, &[]);
    assert_eq!(first["state"], "failed");
    assert_eq!(ws.provider.stats().total, 3);
    std::thread::sleep(Duration::from_millis(5));
    ws.write("mode.txt", "ok");
    let (v, out) = resume(&ws, first["runId"].as_str().unwrap(), &[]);
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    assert_eq!(
        ws.provider.stats().total,
        3,
        "time or randomness was not replayed"
    );
    assert_eq!(v["usage"]["cached"], 3);
}

#[test]
fn budget_caps_hold_and_a_top_up_finishes_without_repaying() {
    // $10 per million tokens: about $0.00012 per call here, and a worst-case reservation of
    // about $0.0007, so 16 calls in flight hold about $0.011 of the cap.
    let ws = Ws::with(
        ProviderOptions::default().latency_ms(10),
        "\n[pricing.\"test:m\"]\ninput_per_mtok = 10.0\noutput_per_mtok = 10.0\n",
    );
    let script = r#"async function execute() {
  const xs = await parallel(Array.from({ length: 120 }, (_, i) => () => agent(`budget item ${i}`, { maxTokens: 20 })));
  return xs.filter(Boolean).length;
}
"#;
    let cap = 0.014;
    let (v, out) = ws.run_json(script, &["--budget-usd", "0.014", "--concurrency", "16"]);
    assert_eq!(v["state"], "budget_exhausted", "{}", stderr(&out));
    let spent = v["usage"]["costUsd"].as_f64().unwrap();
    assert!(spent <= cap, "spent {spent} over the cap {cap}");
    let run = v["runId"].as_str().unwrap().to_string();
    let paid_before = succeeded_labels(&ws, &run).len();
    assert!(
        (10..120).contains(&paid_before),
        "{paid_before} calls finished"
    );
    let requests_before = ws.provider.stats().total;
    // The provider was paid for exactly the journaled calls.
    assert_eq!(requests_before as usize, paid_before);

    // A later, unrelated run does not resume it.
    let other = ws.write(
        "other.workflow.js",
        "async function execute() { return 1; }",
    );
    assert!(
        ws.odw(&["run", other.to_str().unwrap(), "--quiet"])
            .status
            .success()
    );
    assert_eq!(show(&ws, &run)["state"], "budget_exhausted");

    let (v, out) = resume(&ws, &run, &["--budget-usd", "1"]);
    assert_eq!(v["state"], "succeeded", "{}", stderr(&out));
    assert_eq!(v["result"], 120);
    assert_eq!(v["usage"]["cached"].as_u64().unwrap() as usize, paid_before);
    assert_eq!(
        ws.provider.stats().total as usize,
        120,
        "a paid call was repeated"
    );
    assert!(v["usage"]["costUsd"].as_f64().unwrap() <= 1.0);
}

#[test]
fn succeeded_runs_refuse_resume_and_cancelled_runs_wait_for_the_user() {
    let ws = Ws::new();
    let (v, _) = ws.run_json("async function execute() { return agent('done'); }", &[]);
    assert_eq!(v["state"], "succeeded");
    let out = ws.odw(&["resume", v["runId"].as_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("already succeeded"),
        "{}",
        stderr(&out)
    );

    // A run cancelled with Ctrl-C (SIGINT) ends cancelled and stays so.
    let ws = Ws::with(ProviderOptions::default().latency_ms(3000), "");
    let file = ws.write(
        "slow.workflow.js",
        "async function execute() { return parallel([1,2,3].map(i => () => agent('slow ' + i))); }",
    );
    let child = ws
        .cmd(&["run", file.to_str().unwrap(), "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while ws.provider.stats().in_flight < 3 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    unsafe { libc::kill(child.id() as i32, libc::SIGINT) };
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(v["state"], "cancelled");
    let run = v["runId"].as_str().unwrap();
    let again = ws.write(
        "again.workflow.js",
        "async function execute() { return 2; }",
    );
    assert!(
        ws.odw(&["run", again.to_str().unwrap(), "--quiet"])
            .status
            .success()
    );
    assert_eq!(show(&ws, run)["state"], "cancelled");
    let list = ws.odw(&["runs", "--json"]);
    let runs: Value = serde_json::from_str(stdout(&list).trim()).unwrap();
    assert_eq!(runs.as_array().unwrap().len(), 2);
    assert!(
        runs.as_array()
            .unwrap()
            .iter()
            .any(|r| r["runId"] == json!(run) && r["state"] == "cancelled")
    );
}

#[test]
fn show_lists_phases_calls_checkpoints_and_the_result() {
    let ws = Ws::new();
    let (v, _) = ws.run_json(
        "async function execute() { phase('One'); const a = await agent('first'); await checkpoint({ phase: 'One', a }); phase('Two'); return agent('second'); }",
        &[],
    );
    let s = show(&ws, v["runId"].as_str().unwrap());
    assert_eq!(s["state"], "succeeded");
    assert_eq!(s["phases"], json!(["One", "Two"]));
    assert_eq!(s["calls"].as_array().unwrap().len(), 2);
    assert_eq!(s["calls"][0]["status"], "succeeded");
    assert_eq!(s["checkpoints"][0]["name"], "One");
    assert_eq!(s["checkpoints"][0]["data"]["a"], "echo: first");
    assert_eq!(s["result"], "echo: second");
    let text = stdout(&ws.odw(&["show", v["runId"].as_str().unwrap()]));
    assert!(
        text.contains("One → Two") && text.contains("checkpoints"),
        "{text}"
    );
}
