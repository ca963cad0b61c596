//! Every example checks clean, runs in dry-run, and runs against the loopback provider.

use crate::support::*;
use std::path::{Path, PathBuf};

fn examples_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples")
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

/// (script path relative to examples/, folder to copy as the workspace, if any)
const EXAMPLES: &[(&str, Option<&str>)] = &[
    ("hello.workflow.js", None),
    ("audit/audit.workflow.js", Some("audit")),
    ("pipeline.workflow.js", None),
    ("adversarial.workflow.js", None),
];

fn prepare(ws: &Ws, script: &str, folder: Option<&str>) -> PathBuf {
    match folder {
        Some(f) => {
            copy_dir(&examples_dir().join(f), ws.path());
            ws.path().join(Path::new(script).file_name().unwrap())
        }
        None => {
            let text = std::fs::read_to_string(examples_dir().join(script)).unwrap();
            ws.write(script, &text)
        }
    }
}

#[test]
fn every_example_checks_clean() {
    let files: Vec<String> = EXAMPLES
        .iter()
        .map(|(s, _)| examples_dir().join(s).display().to_string())
        .collect();
    let ws = Ws::new();
    let mut args = vec!["check"];
    args.extend(files.iter().map(String::as_str));
    let out = ws.odw(&args);
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).trim().is_empty(), "{}", stdout(&out));
}

#[test]
fn every_example_runs_in_dry_run_without_network() {
    for (script, folder) in EXAMPLES {
        let ws = Ws::new();
        let file = prepare(&ws, script, *folder);
        let out = ws.odw(&["run", file.to_str().unwrap(), "--dry-run", "--json"]);
        let v: serde_json::Value = serde_json::from_str(stdout(&out).trim())
            .unwrap_or_else(|e| panic!("{script}: {e}\n{}", stderr(&out)));
        assert_eq!(v["state"], "succeeded", "{script}: {}", stderr(&out));
        assert!(
            v["estimate"]["agents"].as_u64().unwrap() >= 1,
            "{script}: {v}"
        );
        assert_eq!(
            ws.provider.stats().total,
            0,
            "{script} sent requests in a dry run"
        );
    }
}

#[test]
fn every_example_runs_against_the_provider() {
    for (script, folder) in EXAMPLES {
        let ws = Ws::new();
        let file = prepare(&ws, script, *folder);
        let out = ws.odw(&["run", file.to_str().unwrap(), "--json"]);
        let v: serde_json::Value = serde_json::from_str(stdout(&out).trim())
            .unwrap_or_else(|e| panic!("{script}: {e}\n{}", stderr(&out)));
        assert_eq!(v["state"], "succeeded", "{script}: {}", stderr(&out));
        assert!(
            v["failures"].as_array().is_none_or(|f| f.is_empty()),
            "{script}: {v}"
        );
        let agents = v["usage"]["agents"].as_u64().unwrap();
        assert_eq!(
            agents,
            ws.provider.stats().total,
            "{script}: one request per agent"
        );
        match *script {
            "hello.workflow.js" => assert_eq!(agents, 1),
            // Two fixture files, one auditor each, then the report.
            "audit/audit.workflow.js" => {
                assert_eq!(agents, 3);
                assert!(
                    v["result"]
                        .as_str()
                        .unwrap()
                        .starts_with("echo: Write a short audit report")
                );
            }
            // Three changes through three stages.
            "pipeline.workflow.js" => {
                assert_eq!(agents, 9);
                let notes = v["result"].as_str().unwrap();
                assert_eq!(
                    notes.lines().filter(|l| l.starts_with("- **")).count(),
                    3,
                    "{notes}"
                );
            }
            // One proposal and two critics that approve at once.
            "adversarial.workflow.js" => {
                assert_eq!(agents, 3);
                assert_eq!(v["result"]["passed"], true);
                assert_eq!(v["result"]["rounds"], 1);
            }
            other => panic!("no expectation for {other}"),
        }
    }
}
