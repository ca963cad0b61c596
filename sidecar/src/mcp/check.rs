//! `odw_check`: the checker `odw check` and the editor use, on a script's text or a file.

use super::reply::{Reply, parse};
use super::session::Session;
use crate::check;
use odw_protocol::Severity;
use serde_json::{Map, Value, json};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    script: Option<String>,
    path: Option<String>,
    cwd: Option<String>,
}

pub fn check(session: &Session, args: Option<Map<String, Value>>) -> Reply {
    let a: Args = parse("odw_check", args)?;
    let workspace = session.workspace(a.cwd.as_deref())?;
    let source = match (a.script, a.path) {
        (Some(s), None) => s,
        (None, Some(p)) => read_script(&workspace, &p)?.1,
        _ => {
            return Err(
                "odw_check: give exactly one of `script` (the text) or `path` (a file)".into(),
            );
        }
    };
    // Routes come from the workspace's configuration; a broken odw.toml skips that rule.
    let options = session
        .config_for(&workspace)
        .map(|c| check::options_for(&c))
        .unwrap_or_default();
    let report = check::check(&source, &options);
    let count = |s: Severity| {
        report
            .diagnostics
            .iter()
            .filter(|d| d.severity == s)
            .count()
    };
    let diagnostics: Vec<Value> = report
        .diagnostics
        .iter()
        .map(|d| {
            json!({
                "line": d.range.start.line + 1,
                "column": d.range.start.character + 1,
                "severity": d.severity,
                "message": d.message,
                "code": d.code,
            })
        })
        .collect();
    Ok(json!({
        "diagnostics": diagnostics,
        "errors": count(Severity::Error),
        "warnings": count(Severity::Warning),
    }))
}

/// A script file named relative to the workspace: its full path and text.
pub fn read_script(
    workspace: &std::path::Path,
    path: &str,
) -> Result<(std::path::PathBuf, String), String> {
    let full = workspace.join(path);
    match std::fs::read_to_string(&full) {
        Ok(text) => Ok((full, text)),
        Err(e) => Err(format!("cannot read {}: {e}", full.display())),
    }
}
