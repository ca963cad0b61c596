//! Approvals through the editor: `window/showMessageRequest` answered `Allow once`, `Allow for
//! this run`, `Deny`, or never; and a client that cannot show actions is never asked.

use crate::lsp_client::Lsp;
use crate::lsp_scenario::*;
use crate::support::Ws;
use odw_test_provider::ProviderOptions;
use serde_json::{Value, json};

/// Three agents in a row, each writing one file.
const WRITERS: &str = r#"export const meta = { name: "writers" };
const out = [];
for (const f of ["a.txt", "b.txt", "c.txt"]) {
  const text = await agent(`[[call:write_file {"path": "${f}", "content": "${f}"}]] [[echo-tools]]`, { tools: ["write_file"], label: f });
  out.push(JSON.parse(text)[0]);
}
return out;
"#;

fn caps_with_dialogs() -> Value {
    let mut caps = full_caps();
    caps["window"]["showMessage"] =
        json!({"messageActionItem": {"additionalPropertiesSupport": false}});
    caps
}

fn result(lsp: &Lsp, run: &str) -> Value {
    wait_event(lsp, run, "runFinished");
    wait_progress_end(lsp, run);
    let r = lsp.request("odw/result", json!([run]));
    assert_eq!(r["result"]["state"], "succeeded", "{r}");
    r["result"]["result"].clone()
}

fn dialogs(lsp: &Lsp) -> Vec<Value> {
    lsp.received("window/showMessageRequest")
}

#[test]
fn allow_once_allow_for_this_run_and_deny() {
    let ws = Ws::new();
    ws.write("w.workflow.js", WRITERS);
    let u = uri(&ws, "w.workflow.js");
    let mut lsp = Lsp::spawn(&ws);
    started(&lsp, &ws, caps_with_dialogs(), json!({}));
    open(&lsp, &u, WRITERS, 1);

    // Allow once, then Deny, then Allow once again.
    lsp.dialogs.lock().unwrap().extend([
        Some("Allow once".to_string()),
        Some("Deny".to_string()),
        Some("Allow once".to_string()),
    ]);
    let run = run_id(&execute(&lsp, "odw.run", json!([u])));
    let r = result(&lsp, &run);
    assert_eq!(r[0]["is_error"], false, "{r}");
    assert_eq!(
        r[1]["content"], "error: write_file: denied by the user",
        "{r}"
    );
    assert_eq!(r[2]["is_error"], false, "{r}");
    assert!(ws.path().join("a.txt").exists());
    assert!(!ws.path().join("b.txt").exists());
    assert!(ws.path().join("c.txt").exists());
    let asked = dialogs(&lsp);
    assert_eq!(asked.len(), 3);
    let first = &asked[0];
    assert_eq!(first["type"], 2, "a warning: {first}");
    let message = first["message"].as_str().unwrap();
    assert!(message.contains(&run), "{message}");
    assert!(message.contains("agent \"a.txt\""), "{message}");
    assert!(message.contains("write a.txt (5 bytes)"), "{message}");
    let titles: Vec<&str> = first["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Allow once", "Allow for this run", "Deny"]);
    let decided: Vec<Value> = run_events(&lsp, &run)
        .into_iter()
        .filter(|e| e["kind"] == "approvalDecided")
        .collect();
    let decisions: Vec<&str> = decided
        .iter()
        .map(|d| d["decision"].as_str().unwrap())
        .collect();
    assert_eq!(decisions, ["allowOnce", "deny", "allowOnce"]);
    assert!(decided.iter().all(|d| d["by"] == "user"));
    assert!(
        run_events(&lsp, &run)
            .iter()
            .any(|e| e["kind"] == "approvalRequested" && e["tool"] == "write_file")
    );

    // Allow for this run: one dialog, three writes.
    for f in ["a.txt", "b.txt", "c.txt"] {
        let _ = std::fs::remove_file(ws.path().join(f));
    }
    let before = dialogs(&lsp).len();
    lsp.dialogs
        .lock()
        .unwrap()
        .push_back(Some("Allow for this run".into()));
    let run = run_id(&execute(&lsp, "odw.run", json!([u])));
    let r = result(&lsp, &run);
    assert!(
        r.as_array().unwrap().iter().all(|x| x["is_error"] == false),
        "{r}"
    );
    assert_eq!(dialogs(&lsp).len(), before + 1);
    for f in ["a.txt", "b.txt", "c.txt"] {
        assert!(ws.path().join(f).exists(), "{f}");
    }
    assert_eq!(lsp.shutdown_and_exit(), 0);
}

#[test]
fn an_unanswered_dialog_times_out_as_a_denial() {
    let ws = Ws::with(
        ProviderOptions::default(),
        "[approvals]\ntimeout_ms = 300\n",
    );
    ws.write("w.workflow.js", WRITERS);
    let u = uri(&ws, "w.workflow.js");
    let mut lsp = Lsp::spawn(&ws);
    started(&lsp, &ws, caps_with_dialogs(), json!({}));
    // No answers queued: the user never answers.
    let run = run_id(&execute(&lsp, "odw.run", json!([u])));
    let r = result(&lsp, &run);
    for x in r.as_array().unwrap() {
        assert_eq!(
            x["content"],
            "error: write_file: denied: no answer within 300 ms ([approvals] timeout_ms)",
            "{r}"
        );
    }
    assert!(!ws.path().join("a.txt").exists());
    assert!(
        run_events(&lsp, &run)
            .iter()
            .any(|e| e["kind"] == "approvalDecided" && e["by"] == "timeout")
    );
    assert_eq!(lsp.shutdown_and_exit(), 0);
}

#[test]
fn a_client_without_message_actions_is_never_asked() {
    let ws = Ws::new();
    ws.write("w.workflow.js", WRITERS);
    let u = uri(&ws, "w.workflow.js");
    let mut lsp = Lsp::spawn(&ws);
    started(&lsp, &ws, full_caps(), json!({}));
    let run = run_id(&execute(&lsp, "odw.run", json!([u])));
    let r = result(&lsp, &run);
    assert!(
        r[0]["content"]
            .as_str()
            .unwrap()
            .contains("no approval channel"),
        "{r}"
    );
    assert!(dialogs(&lsp).is_empty());
    assert_eq!(lsp.shutdown_and_exit(), 0);
}
