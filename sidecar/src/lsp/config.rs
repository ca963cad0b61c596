//! The server's settings: `initializationOptions` and `workspace/didChangeConfiguration` (the
//! `odw` section), merged over each workspace's `odw.toml` and the user's config file.

use crate::config::{Config, Env};
use globset::{Glob, GlobSet, GlobSetBuilder};
use odw_protocol::lsp::InitializationOptions;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// Where workflow scripts live unless the settings say otherwise.
pub const DEFAULT_GLOBS: &[&str] = &["**/*.workflow.js", "**/workflows/*.js", ".odw/**/*.js"];

/// The editor's settings, parsed.
#[derive(Debug, Clone)]
pub struct Settings {
    pub model: Option<String>,
    pub concurrency: Option<u32>,
    pub run_events: Option<bool>,
    /// Open a succeeded run's result document without being asked.
    pub open_result: bool,
    /// `odw.toml`-shaped overrides.
    pub overrides: toml::Table,
    pub globs: GlobSet,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: None,
            concurrency: None,
            run_events: None,
            open_result: false,
            overrides: toml::Table::new(),
            globs: build_globs(DEFAULT_GLOBS.iter().copied()).unwrap_or_else(|_| GlobSet::empty()),
        }
    }
}

impl Settings {
    /// Parses settings sent by the editor. Accepts the options themselves or `{"odw": {…}}`.
    pub fn from_json(value: &Value) -> Result<Settings, String> {
        let value = match value.get("odw") {
            Some(inner) if inner.is_object() => inner,
            _ => value,
        };
        if value.is_null() {
            return Ok(Settings::default());
        }
        let opts: InitializationOptions = serde_json::from_value(value.clone())
            .map_err(|e| format!("invalid odw settings: {e}"))?;
        let overrides = match opts.config {
            None | Some(Value::Null) => toml::Table::new(),
            Some(c) => {
                let table: toml::Table = serde_json::from_value(c)
                    .map_err(|e| format!("invalid odw settings: config: {e}"))?;
                // Validate the shape now, so a typo is reported when it is made.
                toml::Value::Table(table.clone())
                    .try_into::<Config>()
                    .map_err(|e| format!("invalid odw settings: config: {}", e.message()))?;
                table
            }
        };
        let globs = match &opts.workflow_globs {
            Some(g) => build_globs(g.iter().map(String::as_str))?,
            None => Settings::default().globs,
        };
        Ok(Settings {
            model: opts.model,
            concurrency: opts.concurrency,
            run_events: opts.run_events,
            open_result: opts.open_result.unwrap_or(false),
            overrides,
            globs,
        })
    }

    /// Whether a path matches the workflow globs.
    pub fn is_workflow_path(&self, path: &Path) -> bool {
        self.globs.is_match(path)
    }
}

/// Globs are matched against absolute paths, so relative ones match at any depth.
fn build_globs<'a>(globs: impl Iterator<Item = &'a str>) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for g in globs {
        let anchored = if g.starts_with('/') || g.starts_with("**/") {
            g.to_string()
        } else {
            format!("**/{g}")
        };
        b.add(Glob::new(&anchored).map_err(|e| format!("invalid workflow glob {g:?}: {e}"))?);
    }
    b.build().map_err(|e| e.to_string())
}

/// The effective configuration of a workspace: user file, then `odw.toml`, then the editor's
/// overrides, then the environment (keys and `ODW_MODEL`, as `Config::load` does).
pub fn load(workspace: &Path, env: &Env, overrides: &toml::Table) -> Result<Config, String> {
    if overrides.is_empty() {
        return Config::load(workspace, env).map_err(|e| e.to_string());
    }
    // `Config` cannot be merged after parsing, so the layers are merged as tables here, in the
    // same order `Config::load` uses.
    let mut merged = toml::Table::new();
    for path in [user_config_path(env), Some(workspace.join("odw.toml"))]
        .into_iter()
        .flatten()
        .filter(|p| p.is_file())
    {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            format!(
                "invalid configuration in {}: {}",
                path.display(),
                e.message()
            )
        })?;
        merge(&mut merged, table);
    }
    merge(&mut merged, overrides.clone());
    let mut config: Config = toml::Value::Table(merged)
        .try_into()
        .map_err(|e: toml::de::Error| format!("invalid configuration: {}", e.message()))?;
    config.apply_env(env);
    Ok(config)
}

fn user_config_path(env: &Env) -> Option<PathBuf> {
    if let Some(x) = env.get("XDG_CONFIG_HOME") {
        return Some(Path::new(x).join("odw/config.toml"));
    }
    env.get("HOME")
        .map(|h| Path::new(h).join(".config/odw/config.toml"))
}

fn merge(base: &mut toml::Table, top: toml::Table) {
    for (k, v) in top {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t)) => merge(b, t),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_accept_both_shapes_and_reject_typos() {
        let s = Settings::from_json(&json!({"odw": {"model": "m", "runEvents": true}})).unwrap();
        assert_eq!(s.model.as_deref(), Some("m"));
        assert_eq!(s.run_events, Some(true));
        let s = Settings::from_json(&json!({"config": {"limits": {"retries": 1}}})).unwrap();
        assert_eq!(s.overrides["limits"]["retries"].as_integer(), Some(1));
        let e = Settings::from_json(&json!({"config": {"limits": {"retires": 1}}})).unwrap_err();
        assert!(e.contains("retires"), "{e}");
    }

    #[test]
    fn overrides_win_over_the_workspace_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("odw.toml"),
            "[models]\ndefault = \"a:b\"\n[limits]\nretries = 5\n",
        )
        .unwrap();
        let s = Settings::from_json(&json!({"config": {"models": {"default": "c:d"}}})).unwrap();
        let c = load(dir.path(), &Env::default(), &s.overrides).unwrap();
        assert_eq!(c.default_model(), "c:d");
        assert_eq!(c.limits.retries, 5);
    }

    #[test]
    fn default_globs() {
        let s = Settings::default();
        assert!(s.is_workflow_path(Path::new("/w/a/audit.workflow.js")));
        assert!(s.is_workflow_path(Path::new("/w/workflows/x.js")));
        assert!(s.is_workflow_path(Path::new("/w/.odw/plans/x.js")));
        assert!(!s.is_workflow_path(Path::new("/w/src/index.js")));
    }
}
