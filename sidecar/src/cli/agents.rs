//! The coding agents odw registers with as an MCP server: where each keeps its configuration,
//! what odw's entry looks like there, and how to add it to (or read it from) that file while
//! keeping everything else the user wrote, comments and formatting included.

use jsonc_parser::cst::{CstInputValue, CstRootNode};
use jsonc_parser::{CollectOptions, ParseOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The name odw's entry has in every agent's server map.
pub const SERVER_NAME: &str = "odw";

/// A coding agent with an MCP client.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Agent {
    /// Claude Code: `<project>/.mcp.json`.
    Claude,
    /// OpenAI Codex CLI: `$HOME/.codex/config.toml`.
    Codex,
    /// OpenCode: `<project>/opencode.json`.
    Opencode,
    /// Gemini CLI: `$HOME/.gemini/settings.json`.
    Gemini,
    /// Cursor: `<project>/.cursor/mcp.json`.
    Cursor,
    /// Zed: `$XDG_CONFIG_HOME/zed/settings.json`.
    Zed,
}

/// How a configuration file is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// Plain JSON: the agent rejects comments and trailing commas, so we do too.
    Json,
    /// JSON with comments and trailing commas, which are kept on rewrite.
    Jsonc,
    /// TOML, edited in place with `toml_edit`.
    Toml,
}

impl Agent {
    pub const ALL: [Agent; 6] = [
        Agent::Claude,
        Agent::Codex,
        Agent::Opencode,
        Agent::Gemini,
        Agent::Cursor,
        Agent::Zed,
    ];

    /// The agent's name as its users know it.
    pub fn title(self) -> &'static str {
        match self {
            Agent::Claude => "Claude Code",
            Agent::Codex => "Codex",
            Agent::Opencode => "OpenCode",
            Agent::Gemini => "Gemini CLI",
            Agent::Cursor => "Cursor",
            Agent::Zed => "Zed",
        }
    }

    /// The name used on the command line and in `--json` output.
    pub fn id(self) -> &'static str {
        match self {
            Agent::Claude => "claude",
            Agent::Codex => "codex",
            Agent::Opencode => "opencode",
            Agent::Gemini => "gemini",
            Agent::Cursor => "cursor",
            Agent::Zed => "zed",
        }
    }

    pub fn dialect(self) -> Dialect {
        match self {
            Agent::Claude | Agent::Cursor => Dialect::Json,
            // Gemini CLI strips comments from its settings, OpenCode and Zed read JSONC.
            Agent::Opencode | Agent::Gemini | Agent::Zed => Dialect::Jsonc,
            Agent::Codex => Dialect::Toml,
        }
    }

    /// Whether the file lives in the project rather than in the user's home.
    pub fn project_scoped(self) -> bool {
        matches!(self, Agent::Claude | Agent::Opencode | Agent::Cursor)
    }

    /// The configuration file odw's entry goes into.
    pub fn config_path(self, places: &Places) -> Result<PathBuf, AgentError> {
        Ok(match self {
            Agent::Claude => places.project.join(".mcp.json"),
            Agent::Opencode => places.project.join("opencode.json"),
            Agent::Cursor => places.project.join(".cursor").join("mcp.json"),
            Agent::Codex => match &places.codex_home {
                Some(dir) => dir.join("config.toml"),
                None => places.home()?.join(".codex").join("config.toml"),
            },
            Agent::Gemini => places.home()?.join(".gemini").join("settings.json"),
            Agent::Zed => match &places.xdg_config_home {
                Some(dir) => dir.join("zed").join("settings.json"),
                None => places
                    .home()?
                    .join(".config")
                    .join("zed")
                    .join("settings.json"),
            },
        })
    }

    /// The key of the map holding the agent's MCP servers (JSON agents).
    fn servers_key(self) -> &'static str {
        match self {
            Agent::Claude | Agent::Cursor | Agent::Gemini => "mcpServers",
            Agent::Opencode => "mcp",
            Agent::Zed => "context_servers",
            Agent::Codex => "mcp_servers",
        }
    }

    /// odw's entry for this agent, keys in the order they are written.
    fn entry(self, exe: &str) -> Vec<(&'static str, Want)> {
        let command = Want::Str(exe.to_string());
        let args = Want::List(vec!["mcp".to_string()]);
        match self {
            Agent::Claude => vec![
                ("type", Want::Str("stdio".into())),
                ("command", command),
                ("args", args),
            ],
            Agent::Opencode => vec![
                ("type", Want::Str("local".into())),
                (
                    "command",
                    Want::List(vec![exe.to_string(), "mcp".to_string()]),
                ),
                ("enabled", Want::Bool(true)),
            ],
            // Zed's current form (docs/ai/mcp): a flat custom server; the older `"source":
            // "custom"` key is removed by Zed's own settings migration, so we do not write it.
            Agent::Codex | Agent::Gemini | Agent::Cursor | Agent::Zed => {
                vec![("command", command), ("args", args)]
            }
        }
    }
}

/// Where configuration files are looked for: the environment, read once.
#[derive(Clone, Debug)]
pub struct Places {
    pub project: PathBuf,
    pub home: Option<PathBuf>,
    pub xdg_config_home: Option<PathBuf>,
    pub codex_home: Option<PathBuf>,
}

impl Places {
    /// Reads `HOME`, `XDG_CONFIG_HOME` and `CODEX_HOME` (empty values count as unset).
    pub fn from_env(project: PathBuf) -> Places {
        let var = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Places {
            project,
            home: var("HOME"),
            xdg_config_home: var("XDG_CONFIG_HOME"),
            codex_home: var("CODEX_HOME"),
        }
    }

    fn home(&self) -> Result<&Path, AgentError> {
        self.home.as_deref().ok_or(AgentError::NoHome)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("HOME is not set: set it to your home directory")]
    NoHome,
    #[error("{path}:{line}:{column}: {message}; fix the file (nothing was written)")]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}:{line}: {message}; fix the file (nothing was written)")]
    Shape {
        path: String,
        line: usize,
        message: String,
    },
}

/// What registering did (or would do) to a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The file already has exactly this entry: nothing to write.
    AlreadyRegistered,
    /// A new `odw` entry was added.
    Added,
    /// An `odw` entry with other values was replaced.
    Replaced,
}

/// A file's text after registering odw in it.
#[derive(Debug)]
pub struct Edit {
    pub outcome: Outcome,
    pub text: String,
}

/// The command line an agent would start for odw's entry.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ServerCommand {
    pub command: String,
    pub args: Vec<String>,
}

/// A value odw's entry wants at a key.
#[derive(Clone, Debug)]
enum Want {
    Str(String),
    List(Vec<String>),
    Bool(bool),
}

impl Want {
    fn matches(&self, v: &Value) -> bool {
        match (self, v) {
            (Want::Str(s), Value::String(t)) => s == t,
            (Want::Bool(b), Value::Bool(c)) => b == c,
            (Want::List(l), Value::Array(a)) => {
                l.len() == a.len() && l.iter().zip(a).all(|(s, v)| v.as_str() == Some(s))
            }
            _ => false,
        }
    }

    fn to_cst(&self) -> CstInputValue {
        match self {
            Want::Str(s) => CstInputValue::String(s.clone()),
            Want::Bool(b) => CstInputValue::Bool(*b),
            Want::List(l) => {
                CstInputValue::Array(l.iter().cloned().map(CstInputValue::String).collect())
            }
        }
    }

    fn to_toml(&self) -> toml_edit::Value {
        match self {
            Want::Str(s) => s.as_str().into(),
            Want::Bool(b) => (*b).into(),
            Want::List(l) => toml_edit::Value::Array(l.iter().map(String::as_str).collect()),
        }
    }
}

/// Whether an existing entry already says everything odw's entry says (extra keys the user
/// added, such as `env`, are theirs to keep).
fn json_entry_matches(want: &[(&str, Want)], have: &Value) -> bool {
    want.iter()
        .all(|(k, w)| have.get(k).is_some_and(|v| w.matches(v)))
}

/// Registers odw in `text` (the file's current contents, `None` when it does not exist).
/// `path` only names the file in errors.
pub fn register(
    agent: Agent,
    path: &Path,
    text: Option<&str>,
    exe: &str,
) -> Result<Edit, AgentError> {
    match agent.dialect() {
        Dialect::Toml => register_toml(agent, path, text.unwrap_or(""), exe),
        dialect => register_json(agent, dialect, path, text, exe),
    }
}

/// Reads odw's entry from `text`: `Ok(None)` when the file has none.
pub fn read_entry(
    agent: Agent,
    path: &Path,
    text: &str,
) -> Result<Option<ServerCommand>, AgentError> {
    if agent.dialect() == Dialect::Toml {
        let doc = parse_toml(path, text)?;
        let Some(entry) = doc
            .get(agent.servers_key())
            .and_then(|s| s.get(SERVER_NAME))
        else {
            return Ok(None);
        };
        let command = entry
            .get("command")
            .and_then(|c| c.as_str())
            .unwrap_or_default()
            .to_string();
        let args = entry
            .get("args")
            .and_then(|a| a.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        return Ok(Some(ServerCommand { command, args }));
    }
    let root = parse_json(agent.dialect(), path, text)?;
    let Some(entry) = root
        .and_then(|r| r.get(agent.servers_key()).cloned())
        .and_then(|s| s.get(SERVER_NAME).cloned())
    else {
        return Ok(None);
    };
    let strings = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    Ok(Some(match entry.get("command") {
        // OpenCode: one array, program first.
        Some(Value::Array(_)) => {
            let mut all = strings(entry.get("command"));
            let command = if all.is_empty() {
                String::new()
            } else {
                all.remove(0)
            };
            ServerCommand { command, args: all }
        }
        // Zed before its flat form: `"command": {"path": …, "args": […]}`.
        Some(Value::Object(o)) => ServerCommand {
            command: o
                .get("path")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            args: strings(o.get("args")),
        },
        other => ServerCommand {
            command: other
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            args: strings(entry.get("args")),
        },
    }))
}

fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// Parses a JSON/JSONC file to a value (`None` for an empty file), checking the agent's
/// dialect: errors carry the file and line.
fn parse_json(dialect: Dialect, path: &Path, text: &str) -> Result<Option<Value>, AgentError> {
    let shown = path.display().to_string();
    if text.trim().is_empty() {
        return Ok(None);
    }
    if dialect == Dialect::Json {
        return match serde_json::from_str::<Value>(text) {
            Ok(v) => Ok(Some(v)),
            Err(e) => Err(AgentError::Parse {
                path: shown,
                line: e.line(),
                column: e.column(),
                message: format!("not valid JSON: {e}"),
            }),
        };
    }
    let root =
        CstRootNode::parse(text, &ParseOptions::default()).map_err(|e| AgentError::Parse {
            path: shown.clone(),
            line: e.line_display(),
            column: e.column_display(),
            message: format!("not valid JSON with comments: {}", e.kind()),
        })?;
    Ok(root.to_serde_value())
}

fn register_json(
    agent: Agent,
    dialect: Dialect,
    path: &Path,
    text: Option<&str>,
    exe: &str,
) -> Result<Edit, AgentError> {
    let shown = path.display().to_string();
    let original = text.unwrap_or("");
    let value = parse_json(dialect, path, original)?;
    let key = agent.servers_key();
    let want = agent.entry(exe);

    // The shape the edit relies on, checked on the AST so errors can name a line.
    let mut existing = None;
    if value.is_some() {
        let ast = jsonc_parser::parse_to_ast(
            original,
            &CollectOptions::default(),
            &ParseOptions::default(),
        )
        .map_err(|e| AgentError::Parse {
            path: shown.clone(),
            line: e.line_display(),
            column: e.column_display(),
            message: e.kind().to_string(),
        })?;
        match ast.value {
            Some(jsonc_parser::ast::Value::Object(root)) => {
                if let Some(prop) = root.get(key) {
                    let jsonc_parser::ast::Value::Object(servers) = &prop.value else {
                        return Err(AgentError::Shape {
                            path: shown,
                            line: line_of(original, prop.range.start),
                            message: format!("\"{key}\" is not an object"),
                        });
                    };
                    existing = servers.get(SERVER_NAME).map(|p| p.range.start);
                }
            }
            Some(_) => {
                return Err(AgentError::Shape {
                    path: shown,
                    line: 1,
                    message: "the top level is not a JSON object".into(),
                });
            }
            None => {}
        }
    }
    if existing.is_some() {
        let have = value
            .as_ref()
            .and_then(|v| v.get(key))
            .and_then(|s| s.get(SERVER_NAME));
        if have.is_some_and(|h| json_entry_matches(&want, h)) {
            return Ok(Edit {
                outcome: AlreadyRegistered,
                text: original.to_string(),
            });
        }
    }

    let source = if original.trim().is_empty() {
        "{}\n"
    } else {
        original
    };
    let root =
        CstRootNode::parse(source, &ParseOptions::default()).map_err(|e| AgentError::Parse {
            path: shown.clone(),
            line: e.line_display(),
            column: e.column_display(),
            message: e.kind().to_string(),
        })?;
    let servers = root.object_value_or_set().object_value_or_set(key);
    let input = CstInputValue::Object(
        want.iter()
            .map(|(k, w)| ((*k).to_string(), w.to_cst()))
            .collect(),
    );
    let outcome = match servers.get(SERVER_NAME) {
        Some(prop) => {
            prop.set_value(input);
            Outcome::Replaced
        }
        None => {
            servers.append(SERVER_NAME, input);
            Outcome::Added
        }
    };
    let mut out = root.to_string();
    if !out.ends_with('\n') && (text.is_none() || original.ends_with('\n')) {
        out.push('\n');
    }
    Ok(Edit { outcome, text: out })
}

use Outcome::AlreadyRegistered;

fn parse_toml(path: &Path, text: &str) -> Result<toml_edit::DocumentMut, AgentError> {
    text.parse::<toml_edit::DocumentMut>().map_err(|e| {
        let (line, column) = e
            .span()
            .map(|s| {
                let line = line_of(text, s.start);
                let start_of_line = text[..s.start].rfind('\n').map_or(0, |i| i + 1);
                (line, s.start - start_of_line + 1)
            })
            .unwrap_or((1, 1));
        AgentError::Parse {
            path: path.display().to_string(),
            line,
            column,
            message: format!("not valid TOML: {}", e.message()),
        }
    })
}

fn register_toml(agent: Agent, path: &Path, text: &str, exe: &str) -> Result<Edit, AgentError> {
    use toml_edit::{InlineTable, Item, Table};
    let mut doc = parse_toml(path, text)?;
    let key = agent.servers_key();
    let want = agent.entry(exe);
    let shape_error = |message: String| {
        let line = text
            .lines()
            .position(|l| l.trim_start().starts_with(key) || l.contains(&format!("[{key}")))
            .map_or(1, |i| i + 1);
        AgentError::Shape {
            path: path.display().to_string(),
            line,
            message,
        }
    };
    let servers = doc.as_table_mut().entry(key).or_insert_with(|| {
        // `[mcp_servers.odw]` alone, without an empty `[mcp_servers]` header above it.
        let mut t = Table::new();
        t.set_implicit(true);
        Item::Table(t)
    });
    let existing = servers.get(SERVER_NAME);
    let matches = |item: &Item| {
        want.iter().all(|(k, w)| {
            item.get(k)
                .and_then(Item::as_value)
                .is_some_and(|v| match (w, v) {
                    (Want::Str(s), v) => v.as_str() == Some(s),
                    (Want::Bool(b), v) => v.as_bool() == Some(*b),
                    (Want::List(l), v) => v.as_array().is_some_and(|a| {
                        a.len() == l.len() && a.iter().zip(l).all(|(v, s)| v.as_str() == Some(s))
                    }),
                })
        })
    };
    let outcome = match existing {
        Some(item) if matches(item) => {
            return Ok(Edit {
                outcome: AlreadyRegistered,
                text: text.to_string(),
            });
        }
        Some(_) => Outcome::Replaced,
        None => Outcome::Added,
    };
    match servers {
        Item::Table(t) => {
            let mut entry = Table::new();
            for (k, w) in &want {
                entry.insert(k, Item::Value(w.to_toml()));
            }
            t.insert(SERVER_NAME, Item::Table(entry));
        }
        Item::Value(toml_edit::Value::InlineTable(t)) => {
            let mut entry = InlineTable::new();
            for (k, w) in &want {
                entry.insert(*k, w.to_toml());
            }
            t.insert(SERVER_NAME, toml_edit::Value::InlineTable(entry));
        }
        _ => return Err(shape_error(format!("\"{key}\" is not a table"))),
    }
    Ok(Edit {
        outcome,
        text: doc.to_string(),
    })
}

#[cfg(test)]
#[path = "agents_tests.rs"]
mod tests;
