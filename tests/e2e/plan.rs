//! `odw plan` end to end: the planning round trip (a broken reply repaired, a reply that never
//! checks clean), the built-in templates without a planning model, and the "done when" task:
//! planned, checked clean, estimated, and run against the loopback provider.

#[path = "plan_server.rs"]
mod server;
#[path = "plan_templates.rs"]
mod templates;

use crate::support::*;
use serde_json::Value;
use server::{Scripted, last_user};
use std::path::Path;

/// A script that checks clean and runs: one phase, one agent.
const GOOD: &str = "// topology: pipeline\nexport const meta = { name: \"hello\", phases: [{ title: \"Greet\" }] };\nphase(\"Greet\");\nreturn await agent(\"Say hello\", { label: \"greet\" });\n";
/// A typo the checker catches (`agnet`), in the meta dialect.
const BROKEN: &str = "// topology: pipeline\nexport const meta = { name: \"hello\", phases: [{ title: \"Greet\" }] };\nphase(\"Greet\");\nreturn await agnet(\"Say hello\");\n";

/// A workspace whose `planning` alias has no key: the planner must use its templates.
fn ws_without_planning_model() -> Ws {
    let ws = Ws::new();
    let toml = std::fs::read_to_string(ws.path().join("odw.toml")).unwrap();
    let toml = toml.replacen(
        "default = \"test:m\"",
        "default = \"test:m\"\nplanning = \"claude-sonnet-4-6\"",
        1,
    );
    std::fs::write(ws.path().join("odw.toml"), toml).unwrap();
    ws
}

/// A workspace whose `planning` alias goes to a scripted server answering `replies` in order.
fn ws_with_planner(replies: &[&str]) -> (Ws, Scripted) {
    let planner = Scripted::spawn(replies.iter().map(|r| r.to_string()).collect());
    let ws = Ws::new();
    std::fs::write(
        ws.path().join("odw.toml"),
        planner.toml("claude-sonnet-4-6"),
    )
    .unwrap();
    (ws, planner)
}

fn workflow_files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".js"))
        .collect();
    v.sort();
    v
}

fn plan_json(ws: &Ws, args: &[&str]) -> Value {
    let mut all = vec!["plan", "--json"];
    all.extend_from_slice(args);
    let out = ws.odw(&all);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    serde_json::from_str(stdout(&out).trim()).unwrap()
}

#[test]
fn done_when_audit_every_handler_plans_checks_estimates_and_runs() {
    let ws = ws_without_planning_model();
    ws.write(
        "src/users.js",
        "export function getUser(req) { return db.users.find(req.params.id); }\n",
    );
    ws.write(
        "src/admin.js",
        "export function deleteUser(req) { requireAdmin(req); db.users.remove(req.params.id); }\n",
    );
    ws.write("src/health.ts", "export const health = () => 'ok';\n");
    let out = ws.odw(&[
        "plan",
        "audit every handler in src/ for missing auth checks",
    ]);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let (so, se) = (stdout(&out), stderr(&out));
    assert!(
        se.contains("no planning model configured (no API key for claude-sonnet-4-6")
            && se.contains("used the built-in template for MapReduce"),
        "{se}"
    );
    let name = "audit-every-handler-src-missing-auth.workflow.js";
    assert!(so.contains(&format!("wrote {name}")), "{so}");
    assert!(so.contains("topology  MapReduce"), "{so}");
    // The estimate: every file is one map agent, plus the reduce.
    assert!(so.contains("estimate  4 agent(s)"), "{so}");
    assert!(so.contains("Map") && so.contains("Reduce"), "{so}");
    let script = std::fs::read_to_string(ws.path().join(name)).unwrap();
    assert!(
        script.starts_with("// odw plan: audit every handler in src/ for missing auth checks\n"),
        "{script}"
    );
    assert!(script.contains("// Topology: MapReduce"), "{script}");
    assert!(script.contains("4 agent(s)"), "{script}");
    assert!(script.contains(r#"args.files ?? "src/**/*."#), "{script}");

    templates::assert_checks_clean(&ws, &ws.path().join(name));
    let run = ws.odw(&["run", name, "--json"]);
    let v: Value =
        serde_json::from_str(stdout(&run).trim()).unwrap_or_else(|_| panic!("{}", stderr(&run)));
    assert_eq!(v["state"], "succeeded", "{}", stderr(&run));
    assert_eq!(v["usage"]["agents"], 4);
    assert_eq!(v["result"]["items"], 3);
    assert_eq!(ws.provider.stats().total, 4);
    // Planning never ran anything: the only run in the journal is the one above.
    let runs = ws.odw(&["runs", "--json"]);
    assert_eq!(
        serde_json::from_str::<Value>(stdout(&runs).trim())
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn without_a_model_the_classifier_picks_and_topology_overrides() {
    let ws = ws_without_planning_model();
    let v = plan_json(
        &ws,
        &["Find the root cause of the intermittent 502s from the gateway"],
    );
    assert_eq!(v["topology"], "tree");
    assert_eq!(v["usedModel"], false);
    assert!(
        v["reason"].as_str().unwrap().contains("\"root cause\" +5"),
        "{v}"
    );
    assert!(
        v["notice"]
            .as_str()
            .unwrap()
            .contains("used the built-in template for Tree search"),
        "{v}"
    );
    let v = plan_json(&ws, &["Should", "we", "adopt", "a", "monorepo?"]);
    assert_eq!(v["topology"], "consensus");
    assert!(
        v["path"]
            .as_str()
            .unwrap()
            .ends_with("adopt-monorepo.workflow.js"),
        "{v}"
    );
    let v = plan_json(
        &ws,
        &[
            "--topology",
            "map-reduce",
            "Should we adopt a monorepo?",
            "--no-model",
        ],
    );
    assert_eq!(v["topology"], "mapreduce");
    assert_eq!(v["reason"], "chosen with --topology");
    // The same task again gets a fresh name instead of overwriting the earlier plan.
    assert!(
        v["path"]
            .as_str()
            .unwrap()
            .ends_with("adopt-monorepo-2.workflow.js"),
        "{v}"
    );
    for t in ["pipeline", "adversarial", "hybrid"] {
        let v = plan_json(&ws, &["-t", t, "do the thing", "-o", &format!("{t}.js")]);
        assert_eq!(v["topology"], t);
        assert!(
            v["estimate"]["phases"].as_array().unwrap().len() >= 2,
            "{v}"
        );
    }
}

#[test]
fn plan_refuses_to_overwrite_without_force_and_rejects_bad_input() {
    let ws = ws_without_planning_model();
    ws.write("mine.js", "// keep me\n");
    let out = ws.odw(&["plan", "audit all files", "-o", "mine.js"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("mine.js already exists"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(ws.path().join("mine.js")).unwrap(),
        "// keep me\n"
    );
    let out = ws.odw(&["plan", "audit all files", "-o", "mine.js", "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        std::fs::read_to_string(ws.path().join("mine.js"))
            .unwrap()
            .contains("odw plan: audit all files")
    );
    let out = ws.odw(&["plan", "--topology", "star", "x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "mapreduce|map-reduce|pipeline|adversarial|consensus|tree|tree-search|hybrid"
        ),
        "{}",
        stderr(&out)
    );
    let out = ws.odw(&["plan", "   "]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("the task is empty"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_broken_first_reply_is_repaired_in_the_next_round() {
    let fenced = |s: &str| format!("Here is the script.\n\n```js\n{s}```\n\nIt greets.");
    let (ws, planner) = ws_with_planner(&[&fenced(BROKEN), &fenced(GOOD)]);
    let v = plan_json(&ws, &["greet the user"]);
    assert_eq!(v["usedModel"], true);
    assert_eq!(v["model"], "plan:m");
    assert_eq!(v["replies"], 2);
    assert_eq!(v["topology"], "pipeline");
    assert_eq!(v["estimate"]["agents"], 1);
    let reqs = planner.requests();
    assert_eq!(reqs.len(), 2);
    // Round 1: the versioned system prompt and the task.
    let system = reqs[0]["messages"][0]["content"].as_str().unwrap();
    assert!(
        system.contains("You are the planner of odw") && system.contains("beamSearch"),
        "{system}"
    );
    assert!(
        last_user(&reqs[0]).starts_with("Task: greet the user"),
        "{}",
        last_user(&reqs[0])
    );
    // Round 2: the broken reply as the assistant's turn, then the quoted diagnostics.
    let msgs = reqs[1]["messages"].as_array().unwrap();
    assert_eq!(msgs[msgs.len() - 2]["role"], "assistant");
    assert!(
        msgs[msgs.len() - 2]["content"]
            .as_str()
            .unwrap()
            .contains("agnet(")
    );
    let repair = last_user(&reqs[1]);
    assert!(repair.contains("repair round 1 of 2"), "{repair}");
    assert!(
        repair.contains("error[unknown-global]: unknown global `agnet`: did you mean `agent`?"),
        "{repair}"
    );
    assert!(
        repair.contains("return await agnet(\"Say hello\");"),
        "{repair}"
    );
    assert!(
        repair.contains("The task is unchanged: greet the user"),
        "{repair}"
    );
    // The file holds the repaired script under its header, and it runs.
    let path = v["path"].as_str().unwrap();
    let text = std::fs::read_to_string(path).unwrap();
    assert!(
        text.contains("planned by plan:m with planner-v1 in 2 replies"),
        "{text}"
    );
    assert!(text.ends_with(GOOD), "{text}");
    assert!(
        !text.contains("It greets"),
        "prose outside the fence is dropped"
    );
    templates::assert_checks_clean(&ws, Path::new(path));
}

#[test]
fn a_reply_that_never_checks_clean_writes_no_file() {
    let (ws, planner) = ws_with_planner(&[BROKEN]);
    let out = ws.odw(&["plan", "greet the user"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("did not produce a script that checks clean in 3 replies"),
        "{err}"
    );
    assert!(err.contains("no file was written"), "{err}");
    assert!(err.contains("unknown global `agnet`"), "{err}");
    assert_eq!(planner.requests().len(), 3);
    assert!(last_user(&planner.requests()[2]).contains("repair round 2 of 2"));
    assert!(
        workflow_files(ws.path()).is_empty(),
        "{:?}",
        workflow_files(ws.path())
    );
}

#[test]
fn a_dry_run_failure_is_fed_back_too() {
    let throws = GOOD.replace(
        "return await",
        "throw new Error(\"boom: no items\");\nreturn await",
    );
    let (ws, planner) = ws_with_planner(&[&throws, GOOD]);
    let v = plan_json(&ws, &["greet the user"]);
    assert_eq!(v["replies"], 2);
    let repair = last_user(&planner.requests()[1]);
    assert!(
        repair.contains("dry run") && repair.contains("boom: no items"),
        "{repair}"
    );
}

#[test]
fn the_loopback_provider_can_play_the_planner_through_the_task_text() {
    // The directive rides in the task, which is the first (and only) user message.
    let ws = Ws::new();
    let task = format!("greet the user [[reply:{GOOD}]]");
    let v = plan_json(&ws, &[&task, "-o", "greet.workflow.js"]);
    assert_eq!(v["usedModel"], true);
    assert_eq!(v["model"], "test:m");
    assert_eq!(v["replies"], 1);
    assert_eq!(ws.provider.stats().total, 1);
    let r = &ws.provider.stats().requests[0];
    assert!(
        r.system.as_deref().unwrap().contains("planner-v1")
            || r.system.as_deref().unwrap().contains("You are the planner")
    );
    let text = std::fs::read_to_string(ws.path().join("greet.workflow.js")).unwrap();
    assert!(text.ends_with(GOOD), "{text}");
}

#[test]
fn a_failing_planning_model_is_an_error_that_says_what_to_do() {
    let ws = Ws::new();
    let out = ws.odw(&["plan", "greet [[fail:401 x9]]"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("the planning model test:m failed"), "{err}");
    assert!(err.contains("--no-model"), "{err}");
    assert!(workflow_files(ws.path()).is_empty());
}
