//! `workflow(nameOrPath, args)`: finding the script (confined to the workspace) and running it
//! inside the calling run.

use super::host::{RunHost, RunShared, parse};
use crate::sandbox::HostError;
use odw_protocol::EventKind;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Resolves a name (`audit` → `audit.workflow.js`, `workflows/audit.js`, `.odw/workflows/audit.js`)
/// or a relative path inside the workspace root.
pub fn find_script(root: &Path, name_or_path: &str) -> Result<PathBuf, String> {
    if name_or_path.is_empty() {
        return Err("workflow: a script name or path is required".into());
    }
    let root = root.canonicalize().map_err(|e| {
        format!(
            "workflow: the workspace {} is unusable: {e}",
            root.display()
        )
    })?;
    let candidates: Vec<PathBuf> = if name_or_path.ends_with(".js") || name_or_path.contains('/') {
        vec![root.join(name_or_path)]
    } else {
        vec![
            root.join(format!("{name_or_path}.workflow.js")),
            root.join("workflows").join(format!("{name_or_path}.js")),
            root.join("workflows")
                .join(format!("{name_or_path}.workflow.js")),
            root.join(".odw/workflows")
                .join(format!("{name_or_path}.js")),
        ]
    };
    for c in &candidates {
        if let Ok(real) = c.canonicalize() {
            if !real.starts_with(&root) {
                return Err(format!(
                    "workflow: {name_or_path} is outside the workspace root"
                ));
            }
            if real.is_file() {
                return Ok(real);
            }
        }
    }
    Err(format!(
        "workflow: no script named {name_or_path} (looked for {})",
        candidates
            .iter()
            .map(|c| c.strip_prefix(&root).unwrap_or(c).display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

#[derive(serde::Deserialize)]
struct WorkflowMsg {
    script: String,
    #[serde(default)]
    args: Value,
}

/// Runs `workflow(nameOrPath, args)`: another script inside this run, on a thread of its own,
/// sharing the run's budget, concurrency, journal and call identities.
pub(super) async fn run_nested(
    shared: Arc<RunShared>,
    payload: String,
    depth: u8,
) -> Result<String, HostError> {
    if depth >= 1 {
        return Err(HostError::new(
            "workflow() nests one level only: a nested workflow cannot start another",
        ));
    }
    let m: WorkflowMsg = parse("workflow", &payload)?;
    let path = find_script(&shared.cwd, &m.script).map_err(HostError::new)?;
    let source = std::fs::read_to_string(&path)
        .map_err(|e| HostError::new(format!("workflow: cannot read {}: {e}", path.display())))?;
    let prepared = crate::check::prepare(&source).map_err(|diags| {
        HostError::new(format!(
            "workflow: {} has errors:\n{}",
            path.display(),
            crate::check::render_human(&path.display().to_string(), &source, &diags).trim_end()
        ))
    })?;
    let script = crate::sandbox::Script {
        filename: path
            .file_name()
            .map(|f| f.to_string_lossy().into_owned())
            .unwrap_or_default(),
        source,
        dialect: prepared.dialect,
        meta_export: prepared.meta_export,
    };
    shared.emit(EventKind::Log {
        level: "info".into(),
        message: format!("workflow: running {}", path.display()),
    });
    let host = RunHost {
        shared: shared.clone(),
        args: if m.args.is_null() {
            serde_json::json!({})
        } else {
            m.args
        },
        depth: depth + 1,
    };
    let (waker, inbox) = crate::sandbox::channel();
    let limits = shared.limits.clone();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name(format!("odw-run-{}-nested", shared.id))
        .stack_size(16 << 20)
        .spawn(move || {
            let _ = tx.send(crate::sandbox::run(&script, Box::new(host), &limits, inbox));
        })
        .map_err(|e| HostError::new(format!("workflow: cannot start a thread: {e}")))?;
    let cancel = shared.lifecycle.cancel.clone();
    let watcher = tokio::spawn(async move {
        cancel.cancelled().await;
        waker.cancel();
    });
    let r = rx.await;
    watcher.abort();
    match r {
        Ok(Ok(json)) => Ok(json),
        Ok(Err(e)) => Err(HostError {
            // odw's own codes cross into the parent; a code the nested script made up stays
            // in its message.
            code: e
                .code
                .as_deref()
                .and_then(|c| serde_json::from_value(serde_json::Value::String(c.into())).ok()),
            message: format!("workflow {}: {e}", m.script),
            reported: false,
        }),
        Err(_) => Err(HostError::new(
            "workflow: the nested run ended without a result",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_paths_and_escapes() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("workflows")).unwrap();
        std::fs::write(d.path().join("a.workflow.js"), "").unwrap();
        std::fs::write(d.path().join("workflows/b.js"), "").unwrap();
        assert!(
            find_script(d.path(), "a")
                .unwrap()
                .ends_with("a.workflow.js")
        );
        assert!(
            find_script(d.path(), "b")
                .unwrap()
                .ends_with("workflows/b.js")
        );
        assert!(find_script(d.path(), "workflows/b.js").is_ok());
        let e = find_script(d.path(), "c").unwrap_err();
        assert!(e.contains("c.workflow.js"), "{e}");
        std::fs::write(d.path().join("../outside.js"), "").ok();
        assert!(find_script(d.path(), "../outside.js").is_err());
    }
}
