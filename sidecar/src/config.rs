//! Configuration: `odw.toml` in the workspace, then `$XDG_CONFIG_HOME/odw/config.toml`, then the
//! environment variables the official SDKs use. The workspace file wins key by key.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// An API key. Its `Debug` and `Display` never show the value, so it cannot leak into logs,
/// events, the journal or errors by accident.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }
    /// The key itself, for the one place that puts it in a request header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A secret serializes as `null`: snapshots of the configuration (the run journal) never hold
/// a key; a resume takes keys from the environment and config files of that moment.
impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_none()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `[providers.<name>]`.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProviderConfig {
    pub base_url: Option<String>,
    pub api_key: Option<Secret>,
    /// Read the key from this environment variable instead.
    pub api_key_env: Option<String>,
    /// Wire format for named endpoints: "openai" (default), "anthropic" or "ollama".
    pub wire: Option<String>,
}

/// `[models]`: aliases a script may use as `model: "planning"` etc.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ModelsConfig {
    pub default: Option<String>,
    pub planning: Option<String>,
    pub fallback: Option<String>,
}

/// `[limits]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Agent calls in flight at once, across all runs of this process.
    pub concurrency: u32,
    /// Per-request timeout.
    pub call_timeout_ms: u64,
    /// Transient retries after the first attempt (429, 5xx, timeouts, connection errors).
    pub retries: u32,
    /// Re-asks after a reply that fails the schema; a separate counter from `retries`.
    pub schema_retries: u32,
    /// Back-off base and cap for retries (full jitter).
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    /// Default `maxTokens` of an agent call.
    pub max_tokens: u32,
    /// Sandbox memory limit.
    pub memory_mb: u64,
    /// CPU the script may use without yielding to the host.
    pub cpu_slice_ms: u64,
    /// Wall-clock limit of a whole run.
    pub run_timeout_s: u64,
    /// The largest provider response body read, in MiB; a larger one fails the call.
    pub max_response_mb: u64,
    /// The deadline of one `context.tools` call.
    pub tool_timeout_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            concurrency: 16,
            call_timeout_ms: 120_000,
            retries: 3,
            schema_retries: 2,
            backoff_base_ms: 500,
            backoff_max_ms: 30_000,
            max_tokens: 4096,
            memory_mb: 256,
            cpu_slice_ms: 1000,
            run_timeout_s: 3600,
            max_response_mb: 32,
            tool_timeout_ms: 60_000,
        }
    }
}

/// `[budget]`: default caps of a run.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BudgetConfig {
    pub tokens: Option<u64>,
    pub usd: Option<f64>,
    /// Price for remote models missing from the pricing table, USD per million tokens.
    pub unknown_input_per_mtok: Option<f64>,
    pub unknown_output_per_mtok: Option<f64>,
}

/// `[pricing."model-id"]`: overrides or additions to the built-in pricing table.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Price {
    pub input_per_mtok: f64,
    pub output_per_mtok: f64,
}

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub models: ModelsConfig,
    pub providers: BTreeMap<String, ProviderConfig>,
    pub limits: Limits,
    pub budget: BudgetConfig,
    pub pricing: BTreeMap<String, Price>,
    pub approvals: ApprovalsConfig,
    pub tools: ToolsConfig,
    pub git: GitConfig,
}

/// What happens when an agent or a script calls a tool that changes the machine.
#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Policy {
    /// Run it without asking.
    Allow,
    /// Ask the user through the face (the editor's dialog, a terminal prompt); denied when
    /// nobody can be asked or nobody answers in time.
    Ask,
    /// Never run it; the model reads the denial as the tool's result.
    Deny,
}

impl Policy {
    pub fn as_str(self) -> &'static str {
        match self {
            Policy::Allow => "allow",
            Policy::Ask => "ask",
            Policy::Deny => "deny",
        }
    }
}

/// `[approvals]`: a policy per gated tool (default `ask`) and how long an ask waits.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalsConfig {
    pub write_file: Policy,
    pub run_bash: Policy,
    pub git: Policy,
    /// An unanswered ask is denied after this long.
    pub timeout_ms: u64,
}

impl Default for ApprovalsConfig {
    fn default() -> Self {
        ApprovalsConfig {
            write_file: Policy::Ask,
            run_bash: Policy::Ask,
            git: Policy::Ask,
            timeout_ms: 120_000,
        }
    }
}

/// `[tools.*]`: limits of the tools that act.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ToolsConfig {
    pub bash: BashConfig,
    pub web: WebConfig,
}

/// `[tools.bash]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BashConfig {
    /// A command still running after this long is killed with its whole process group.
    pub timeout_ms: u64,
    /// stdout and stderr are each cut after this many KiB.
    pub max_output_kb: u64,
    /// Commands refused before they start (a guard against mistakes, not a sandbox): an entry
    /// blocks every simple command whose words start with its words.
    pub blocked_commands: Vec<String>,
}

impl Default for BashConfig {
    fn default() -> Self {
        BashConfig {
            timeout_ms: 120_000,
            max_output_kb: 64,
            blocked_commands: [
                "sudo", "su", "doas", "shutdown", "reboot", "halt", "poweroff", "mkfs", "dd",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// `[tools.web]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Allow loopback, private and link-local addresses (refused by default: an agent reading
    /// a web page must not reach the services of the machine or network it runs in).
    pub allow_private: bool,
    /// `host:port` entries allowed even when private (a local documentation server, say).
    pub allow: Vec<String>,
    pub timeout_ms: u64,
    /// The body is cut after this many KiB.
    pub max_kb: u64,
}

impl Default for WebConfig {
    fn default() -> Self {
        WebConfig {
            allow_private: false,
            allow: Vec::new(),
            timeout_ms: 30_000,
            max_kb: 2048,
        }
    }
}

/// `[git]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct GitConfig {
    /// The first git write of a run creates and switches to `odw/<run id>`, so the user's own
    /// branch is never committed to.
    pub branch: bool,
}

impl Default for GitConfig {
    fn default() -> Self {
        GitConfig { branch: true }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid configuration in {path}: {message}")]
    Parse { path: PathBuf, message: String },
}

/// Where the environment says things are. Captured once so tests and the LSP can inject it.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub vars: BTreeMap<String, String>,
}

impl Env {
    /// The process environment.
    pub fn from_process() -> Self {
        Env {
            vars: std::env::vars().collect(),
        }
    }
    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

impl Config {
    /// Loads `odw.toml` from `workspace` (if present) over the user's config file (if present),
    /// then applies the environment: keys, base URLs and `ODW_MODEL`.
    pub fn load(workspace: &Path, env: &Env) -> Result<Config, ConfigError> {
        let mut layers = Vec::new();
        if let Some(user) = user_config_path(env)
            && user.is_file()
        {
            layers.push(read_layer(&user)?);
        }
        let project = workspace.join("odw.toml");
        if project.is_file() {
            layers.push(read_layer(&project)?);
        }
        let mut merged = toml::Table::new();
        for layer in layers {
            merge_tables(&mut merged, layer);
        }
        let mut config: Config =
            toml::Value::Table(merged)
                .try_into()
                .map_err(|e: toml::de::Error| ConfigError::Parse {
                    path: workspace.join("odw.toml"),
                    message: e.message().to_string(),
                })?;
        config.apply_env(env);
        Ok(config)
    }

    /// Parses one TOML document (no files, no environment). For tests and `initializationOptions`.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::from("<inline>"),
            message: e.message().to_string(),
        })
    }

    /// Fills what the files left open from the standard environment variables.
    pub fn apply_env(&mut self, env: &Env) {
        for kind in crate::providers::spec::SPECS {
            if kind.key_env.is_none() && kind.base_url_env.is_none() {
                continue;
            }
            let entry = self.providers.entry(kind.name.to_string()).or_default();
            if entry.api_key.is_none()
                && let Some(k) = kind.key_env.and_then(|v| env.get(v))
            {
                entry.api_key = Some(Secret::new(k));
            }
            if entry.base_url.is_none()
                && let Some(u) = kind.base_url_env.and_then(|v| env.get(v))
            {
                entry.base_url = Some(if kind.bare_host_env && !u.starts_with("http") {
                    format!("http://{u}")
                } else {
                    u.to_string()
                });
            }
        }
        // Named endpoints may take their key from a variable of their own.
        for p in self.providers.values_mut() {
            if p.api_key.is_none()
                && let Some(var) = &p.api_key_env
                && let Some(k) = env.get(var)
            {
                p.api_key = Some(Secret::new(k));
            }
        }
        if let Some(m) = env.get("ODW_MODEL") {
            self.models.default = Some(m.to_string());
        }
    }

    /// The configuration as JSON with every key removed, for the run journal.
    pub fn snapshot(&self) -> serde_json::Value {
        let mut c = self.clone();
        for p in c.providers.values_mut() {
            p.api_key = None;
        }
        serde_json::to_value(&c).unwrap_or_default()
    }

    /// Rebuilds a run's configuration from its snapshot; keys come from `current` (the
    /// configuration and environment at resume time), never from the journal.
    pub fn from_snapshot(
        snapshot: &serde_json::Value,
        current: &Config,
    ) -> Result<Config, ConfigError> {
        let mut c: Config =
            serde_json::from_value(snapshot.clone()).map_err(|e| ConfigError::Parse {
                path: PathBuf::from("<run snapshot>"),
                message: e.to_string(),
            })?;
        for (name, p) in c.providers.iter_mut() {
            if p.api_key.is_none() {
                p.api_key = current.providers.get(name).and_then(|q| q.api_key.clone());
            }
        }
        Ok(c)
    }

    /// The model a call without `model` uses.
    pub fn default_model(&self) -> &str {
        self.models.default.as_deref().unwrap_or(DEFAULT_MODEL)
    }

    /// Resolves the aliases `default`, `planning` and `fallback`; other ids pass through.
    pub fn resolve_alias<'a>(&'a self, id: &'a str) -> &'a str {
        match id {
            "default" => self.default_model(),
            "planning" => self
                .models
                .planning
                .as_deref()
                .unwrap_or(self.default_model()),
            "fallback" => self
                .models
                .fallback
                .as_deref()
                .unwrap_or(self.default_model()),
            other => other,
        }
    }
}

/// The model used when neither the script, `--model`, `ODW_MODEL` nor `[models] default` names one.
pub const DEFAULT_MODEL: &str = "claude-sonnet-4-6";

fn user_config_path(env: &Env) -> Option<PathBuf> {
    if let Some(x) = env.get("XDG_CONFIG_HOME") {
        return Some(Path::new(x).join("odw/config.toml"));
    }
    env.get("HOME")
        .map(|h| Path::new(h).join(".config/odw/config.toml"))
}

fn read_layer(path: &Path) -> Result<toml::Table, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    text.parse::<toml::Table>().map_err(|e| ConfigError::Parse {
        path: path.to_path_buf(),
        message: e.message().to_string(),
    })
}

fn merge_tables(base: &mut toml::Table, top: toml::Table) {
    for (k, v) in top {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t)) => merge_tables(b, t),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_fills_keys_and_secret_never_prints() {
        let mut env = Env::default();
        env.vars
            .insert("ANTHROPIC_API_KEY".into(), "sk-ant-SECRET".into());
        env.vars.insert("OLLAMA_HOST".into(), "127.0.0.1:9".into());
        let mut c = Config::default();
        c.apply_env(&env);
        let key = c.providers["anthropic"].api_key.clone().unwrap();
        assert_eq!(key.expose(), "sk-ant-SECRET");
        assert!(!format!("{c:?}").contains("SECRET"));
        assert_eq!(
            c.providers["ollama"].base_url.as_deref(),
            Some("http://127.0.0.1:9")
        );
    }

    #[test]
    fn workspace_file_overrides_user_file() {
        let dir = tempfile::tempdir().unwrap();
        let xdg = dir.path().join("xdg");
        std::fs::create_dir_all(xdg.join("odw")).unwrap();
        std::fs::write(
            xdg.join("odw/config.toml"),
            "[models]\ndefault = \"gpt-5\"\nplanning = \"claude-opus-4-7\"\n[limits]\nretries = 1\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("odw.toml"),
            "[models]\ndefault = \"ollama:qwen\"\n",
        )
        .unwrap();
        let mut env = Env::default();
        env.vars
            .insert("XDG_CONFIG_HOME".into(), xdg.display().to_string());
        let c = Config::load(dir.path(), &env).unwrap();
        assert_eq!(c.default_model(), "ollama:qwen");
        assert_eq!(c.resolve_alias("planning"), "claude-opus-4-7");
        assert_eq!(c.limits.retries, 1);
        assert_eq!(c.limits.concurrency, 16);
    }

    #[test]
    fn snapshots_hold_no_keys_and_resume_takes_current_ones() {
        let mut c = Config::from_toml(
            "[providers.x]\nbase_url = \"http://h\"\napi_key = \"sk-x-SECRET\"\n",
        )
        .unwrap();
        c.limits.retries = 7;
        let snap = c.snapshot();
        assert!(!snap.to_string().contains("SECRET"), "{snap}");
        let current = Config::from_toml("[providers.x]\napi_key = \"sk-new\"\n").unwrap();
        let back = Config::from_snapshot(&snap, &current).unwrap();
        assert_eq!(back.limits.retries, 7);
        assert_eq!(
            back.providers["x"].api_key.as_ref().unwrap().expose(),
            "sk-new"
        );
        assert_eq!(back.providers["x"].base_url.as_deref(), Some("http://h"));
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = Config::from_toml("[limits]\nconcurency = 3\n").unwrap_err();
        assert!(err.to_string().contains("concurency"), "{err}");
    }
}
