//! The six topology templates: `odw new` writes them; each checks clean, runs in dry-run and
//! against the loopback provider, and shows its shape in the run's events.

use crate::support::*;
use odw::plan::Topology;
use serde_json::{Value, json};
use std::path::Path;

/// `odw check --json FILE` finds nothing.
pub fn assert_checks_clean(ws: &Ws, file: &Path) {
    let out = ws.odw(&["check", "--json", file.to_str().unwrap()]);
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(
        v["diagnostics"],
        serde_json::json!([]),
        "{}",
        file.display()
    );
}

/// A workspace with a few source files for the templates that glob.
fn ws_with_sources() -> Ws {
    let ws = Ws::new();
    ws.write("src/a.js", "export function a(req) { return req.user; }\n");
    ws.write("src/b.py", "def b(request):\n    return request.user\n");
    ws.write("lib/c.rs", "pub fn c() {}\n");
    ws
}

fn write_template(ws: &Ws, t: Topology) -> String {
    let name = format!("{}.workflow.js", t.as_str());
    let out = ws.odw(&["new", "--topology", t.as_str()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), name);
    name
}

/// Runs `file` with `args` and returns the `--json` outcome.
fn run(ws: &Ws, file: &str, args: Value, extra: &[&str]) -> Value {
    let a = args.to_string();
    let mut argv = vec!["run", file, "--json", "--args", &a];
    argv.extend_from_slice(extra);
    let out = ws.odw(&argv);
    let v: Value = serde_json::from_str(stdout(&out).trim())
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    assert_eq!(v["state"], "succeeded", "{file}: {v}\n{}", stderr(&out));
    v
}

/// The run's events from the journal, as `{kind, …}` objects in order.
fn events(ws: &Ws, run_id: &str) -> Vec<Value> {
    let db = rusqlite::Connection::open(ws.path().join(".odw/odw.db")).unwrap();
    let mut st = db
        .prepare("SELECT payload FROM events WHERE run_id = ?1 ORDER BY seq")
        .unwrap();
    st.query_map([run_id], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|p| serde_json::from_str(&p.unwrap()).unwrap())
        .collect()
}

fn checkpoints(events: &[Value], name: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["kind"] == "checkpoint" && e["name"] == name)
        .map(|e| e["data"].clone())
        .collect()
}

fn finished_labels(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["kind"] == "agentFinished")
        .map(|e| e["label"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn odw_new_writes_every_topology_by_any_accepted_name() {
    let ws = Ws::new();
    for spelling in odw::plan::ACCEPTED_TOPOLOGIES.split('|') {
        let t = Topology::parse(spelling).unwrap();
        let file = format!("{spelling}.js");
        let out = ws.odw(&["new", "--topology", spelling, "-o", &file]);
        assert!(out.status.success(), "{spelling}: {}", stderr(&out));
        assert_eq!(
            std::fs::read_to_string(ws.path().join(&file)).unwrap(),
            odw::plan::new_script(t)
        );
    }
    let out = ws.odw(&["new", "-t", "tree", "-o", "-"]);
    assert_eq!(stdout(&out), odw::plan::new_script(Topology::TreeSearch));
    assert_eq!(write_template(&ws, Topology::Hybrid), "hybrid.workflow.js");
    let again = ws.odw(&["new", "--topology", "hybrid"]);
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    let bad = ws.odw(&["new", "--topology", "star"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[test]
fn every_template_checks_clean_and_runs_in_dry_run_and_against_the_provider() {
    let ws = ws_with_sources();
    for t in Topology::ALL {
        let file = write_template(&ws, t);
        assert_checks_clean(&ws, &ws.path().join(&file));
        let before = ws.provider.stats().total;
        let dry = run(&ws, &file, json!({}), &["--dry-run"]);
        assert_eq!(
            ws.provider.stats().total,
            before,
            "{t}: a dry run sends nothing"
        );
        assert!(
            dry["estimate"]["agents"].as_u64().unwrap() >= 2,
            "{t}: {dry}"
        );
        let live = run(&ws, &file, json!({}), &[]);
        assert!(
            live["usage"]["agents"].as_u64().unwrap() >= 2,
            "{t}: {live}"
        );
        assert!(live["result"]["task"].is_string(), "{t}: {live}");
    }
}

#[test]
fn mapreduce_maps_every_item_within_its_concurrency_then_reduces_once() {
    let ws = Ws::new();
    let file = write_template(&ws, Topology::MapReduce);
    let items: Vec<String> = (0..6).map(|i| format!("item {i} [[latency:60]]")).collect();
    let v = run(
        &ws,
        &file,
        json!({"items": items, "concurrency": 2, "task": "Check it"}),
        &[],
    );
    assert_eq!(v["result"]["items"], 6);
    let ev = events(&ws, v["runId"].as_str().unwrap());
    let labels = finished_labels(&ev);
    assert_eq!(labels.len(), 7);
    assert_eq!(
        labels.last().unwrap(),
        "report",
        "the reduce comes after every map"
    );
    assert_eq!(checkpoints(&ev, "Map")[0]["succeeded"], 6);
    assert!(
        ws.provider.stats().max_in_flight <= 2,
        "{}",
        ws.provider.stats().max_in_flight
    );
}

#[test]
fn pipeline_lets_a_fast_item_finish_every_stage_before_a_slow_one_finishes_its_first() {
    let ws = Ws::new();
    let file = write_template(&ws, Topology::Pipeline);
    // The slow item's calls wait at the provider's gate, which opens only once the fast item
    // has finished its last stage: an ordering by construction, not by a latency margin.
    let v = std::thread::scope(|s| {
        s.spawn(|| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
            loop {
                let done = rusqlite::Connection::open(ws.path().join(".odw/odw.db"))
                    .and_then(|db| {
                        db.query_row(
                            "SELECT count(*) FROM events WHERE kind = 'agentFinished' \
                             AND payload LIKE '%\"label\":\"fix fast\"%'",
                            [],
                            |r| r.get::<_, i64>(0),
                        )
                    })
                    .unwrap_or(0);
                if done > 0 || std::time::Instant::now() > deadline {
                    ws.provider.open_gate();
                    return;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        });
        run(
            &ws,
            &file,
            json!({"items": ["fast", "slow [[gate]]"], "task": "Polish it"}),
            &[],
        )
    });
    let labels = finished_labels(&events(&ws, v["runId"].as_str().unwrap()));
    let at = |l: &str| {
        labels
            .iter()
            .position(|x| x == l)
            .unwrap_or_else(|| panic!("{l} in {labels:?}"))
    };
    let slow = "slow [[gate]]";
    assert!(at("fix fast") < at(&format!("change {slow}")), "{labels:?}");
    assert!(at(&format!("change {slow}")) < at(&format!("check {slow}")));
    assert_eq!(labels.last().unwrap(), "summary");
    assert_eq!(v["result"]["results"].as_array().unwrap().len(), 2);
}

#[test]
fn adversarial_stops_when_the_critics_pass_or_the_rounds_run_out() {
    let ws = Ws::new();
    let file = write_template(&ws, Topology::Adversarial);
    // The loopback critics approve (a generated verdict): one round, no fix.
    let v = run(&ws, &file, json!({"task": "Explain WAL"}), &[]);
    assert_eq!(
        (v["result"]["passed"].clone(), v["result"]["rounds"].clone()),
        (json!(true), json!(1))
    );
    let ev = events(&ws, v["runId"].as_str().unwrap());
    assert_eq!(checkpoints(&ev, "round 1")[0]["passed"], true);
    assert!(!finished_labels(&ev).iter().any(|l| l.starts_with("fix")));
    // Critics told to reject: every round fails, the fixer runs between rounds, then it stops.
    let reject = r#"Reject it. [[json:{"approved":false,"confidence":0.9,"critique":"wrong","rejectedItems":[]}]]"#;
    let v = run(
        &ws,
        &file,
        json!({"task": "Explain WAL", "rounds": 2, "critics": [reject, reject]}),
        &[],
    );
    assert_eq!(
        (v["result"]["passed"].clone(), v["result"]["rounds"].clone()),
        (json!(false), json!(2))
    );
    let ev = events(&ws, v["runId"].as_str().unwrap());
    assert_eq!(checkpoints(&ev, "round 2")[0]["rejections"], 2);
    assert!(checkpoints(&ev, "round 3").is_empty());
    let labels = finished_labels(&ev);
    assert_eq!(
        labels.iter().filter(|l| l.starts_with("fix")).count(),
        1,
        "{labels:?}"
    );
    assert_eq!(labels.len(), 1 + 2 * 2 + 1, "{labels:?}");
}

#[test]
fn consensus_reports_a_weighted_vote_with_quorum_and_confidence_floor() {
    let ws = Ws::new();
    let file = write_template(&ws, Topology::Consensus);
    let ballot = |choice: &str, confidence: f64| {
        format!(
            r#"a voter [[json:{{"choice":"{choice}","confidence":{confidence},"reasoning":"r"}}]]"#
        )
    };
    let evaluators = json!([
        {"perspective": ballot("no", 0.9), "weight": 1},
        {"perspective": ballot("no", 0.9), "weight": 1},
        {"perspective": ballot("yes", 0.9), "weight": 3},
        {"perspective": ballot("no", 0.2), "weight": 2},
    ]);
    let v = run(
        &ws,
        &file,
        json!({"task": "Ship it?", "evaluators": evaluators, "minConfidence": 0.5}),
        &[],
    );
    assert_eq!(
        v["result"]["decided"], false,
        "yes has 3 of 7 weight: under the quorum"
    );
    let ev = events(&ws, v["runId"].as_str().unwrap());
    let vote = &checkpoints(&ev, "vote")[0];
    assert_eq!(
        vote["tally"],
        json!([
            {"choice": "yes", "weight": 3, "votes": 1, "share": 0.429},
            {"choice": "no", "weight": 2, "votes": 2, "share": 0.286},
        ])
    );
    assert_eq!(
        (vote["abstained"].clone(), vote["total"].clone()),
        (json!(1), json!(7))
    );
    assert!(
        ev.iter().any(|e| e["kind"] == "log"
            && e["message"]
                .as_str()
                .unwrap()
                .starts_with("vote: yes 3 (43%) · no 2 (29%) · 1 abstained → no decision")),
        "{ev:?}"
    );
    // A lower quorum decides.
    let v = run(
        &ws,
        &file,
        json!({"task": "Ship it?", "evaluators": evaluators, "minConfidence": 0.5, "quorum": 0.4}),
        &[],
    );
    assert_eq!(
        (
            v["result"]["decided"].clone(),
            v["result"]["decision"].clone()
        ),
        (json!(true), json!("yes"))
    );
}

#[test]
fn tree_search_never_holds_more_than_its_beam_width_and_respects_its_bounds() {
    let ws = Ws::new();
    let file = write_template(&ws, Topology::TreeSearch);
    // Every expansion proposes three hypotheses; every score is the loopback's 1, under `accept`.
    let three = r#"[[json:{"hypotheses":[{"hypothesis":"h1","evidence":"e"},{"hypothesis":"h2","evidence":"e"},{"hypothesis":"h3","evidence":"e"}]}]]"#;
    let v = run(
        &ws,
        &file,
        json!({"task": "Why?", "context": three, "width": 2, "depth": 3, "maxNodes": 14, "accept": 2}),
        &[],
    );
    let r = &v["result"];
    assert_eq!(r["stoppedBy"], "maxNodes", "{r}");
    assert!(r["nodes"].as_u64().unwrap() <= 14, "{r}");
    let steps = checkpoints(&events(&ws, v["runId"].as_str().unwrap()), "search");
    assert_eq!(steps.len() as u64, r["expansions"].as_u64().unwrap());
    assert!(steps.len() >= 4, "{steps:?}");
    for s in &steps {
        assert!(s["frontierSize"].as_u64().unwrap() <= 2, "{s}");
        assert!(
            s["frontier"]
                .as_array()
                .unwrap()
                .iter()
                .all(|n| n["depth"].as_u64().unwrap() < 3),
            "{s}"
        );
    }
    assert!(
        steps.iter().any(|s| s["pruned"].as_u64().unwrap() > 0),
        "the beam pruned something"
    );
    // A reachable `accept` ends the search at the first expansion.
    let v = run(
        &ws,
        &file,
        json!({"task": "Why?", "context": three, "accept": 0.5}),
        &[],
    );
    assert_eq!(
        (
            v["result"]["stoppedBy"].clone(),
            v["result"]["expansions"].clone()
        ),
        (json!("goal"), json!(1))
    );
}

#[test]
fn hybrid_runs_its_phases_in_order_composing_the_other_shapes() {
    let ws = ws_with_sources();
    let file = write_template(&ws, Topology::Hybrid);
    let v = run(
        &ws,
        &file,
        json!({"task": "Add logging", "files": "src/**/*"}),
        &[],
    );
    let ev = events(&ws, v["runId"].as_str().unwrap());
    let phases: Vec<&str> = ev
        .iter()
        .filter(|e| e["kind"] == "phaseStarted")
        .map(|e| e["phase"].as_str().unwrap())
        .collect();
    assert_eq!(phases, ["Survey", "Work", "Verify", "Report"]);
    assert_eq!(checkpoints(&ev, "Survey")[0]["files"], 2);
    assert!(!checkpoints(&ev, "Verify").is_empty());
    let labels = finished_labels(&ev);
    for prefix in ["src/", "draft ", "review ", "critic ", "report"] {
        assert!(
            labels.iter().any(|l| l.starts_with(prefix)),
            "{prefix} in {labels:?}"
        );
    }
}
