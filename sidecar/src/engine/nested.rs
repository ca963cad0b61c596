//! Finding the script of `workflow(nameOrPath, args)`, confined to the workspace.

use std::path::{Path, PathBuf};

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
