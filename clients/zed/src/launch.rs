//! How Zed starts `odw lsp`: which binary, with which arguments and environment, and what goes
//! into `initializationOptions`. Plain data in, plain data out, so it is tested on the host.

use zed_extension_api::serde_json::{Value, json};
use zed_extension_api::settings::{CommandSettings, LspSettings};

/// The binary looked up on the worktree's PATH when the settings name none.
pub const BINARY: &str = "odw";
/// The arguments when the settings give none.
pub const DEFAULT_ARGS: &[&str] = &["lsp"];

/// The command Zed runs for the language server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub command: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
}

/// Builds the launch from `lsp.odw.binary` (if any), a PATH lookup and the worktree's shell
/// environment.
pub fn launch(
    binary: Option<&CommandSettings>,
    which: impl FnOnce(&str) -> Option<String>,
    shell_env: Vec<(String, String)>,
) -> Result<Launch, String> {
    Ok(Launch {
        command: resolve_binary(binary, which)?,
        args: arguments(binary),
        env: environment(shell_env, binary),
    })
}

/// `lsp.odw.binary.path` when set, else `odw` on the worktree's PATH (the PATH of the user's
/// shell in that directory, so version managers and `~/.cargo/bin` work).
pub fn resolve_binary(
    binary: Option<&CommandSettings>,
    which: impl FnOnce(&str) -> Option<String>,
) -> Result<String, String> {
    if let Some(path) = binary
        .and_then(|b| b.path.as_deref())
        .filter(|p| !p.trim().is_empty())
    {
        return Ok(path.to_string());
    }
    which(BINARY).ok_or_else(|| {
        format!(
            "cannot find `{BINARY}` on this worktree's PATH: install odw (see clients/zed/README.md) \
             or set \"lsp\": {{\"odw\": {{\"binary\": {{\"path\": \"/path/to/odw\"}}}}}} in Zed's settings"
        )
    })
}

/// `lsp.odw.binary.arguments` when set (used as given), else `["lsp"]`.
pub fn arguments(binary: Option<&CommandSettings>) -> Vec<String> {
    match binary.and_then(|b| b.arguments.as_ref()) {
        Some(args) => args.clone(),
        None => DEFAULT_ARGS.iter().map(|a| a.to_string()).collect(),
    }
}

/// The worktree's shell environment (where the user exports `ANTHROPIC_API_KEY` and friends),
/// with `lsp.odw.binary.env` on top; sorted, so the command is the same from one start to the next.
pub fn environment(
    shell_env: Vec<(String, String)>,
    binary: Option<&CommandSettings>,
) -> Vec<(String, String)> {
    let mut env: std::collections::BTreeMap<String, String> = shell_env.into_iter().collect();
    if let Some(extra) = binary.and_then(|b| b.env.as_ref()) {
        env.extend(extra.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    env.into_iter().collect()
}

/// `lsp.odw.initialization_options`, with `runEvents` off unless the user asks: Zed has no
/// handler for the custom `odw/runEvent` notification, and progress arrives through `$/progress`.
pub fn initialization_options(settings: LspSettings) -> Option<Value> {
    let mut options = settings.initialization_options.unwrap_or_else(|| json!({}));
    if let Some(map) = options.as_object_mut() {
        map.entry("runEvents").or_insert(Value::Bool(false));
    }
    Some(options)
}

/// The arguments of the context server (`odw mcp`) when the settings give none.
pub const MCP_ARGS: &[&str] = &["mcp"];

/// How Zed's agent panel starts odw as a context server: `context_servers.odw.command` when
/// set, else `odw mcp` (Zed runs the command with its own PATH; a project has no worktree PATH
/// to search).
pub fn context_server(command: Option<&CommandSettings>) -> Launch {
    let path = command
        .and_then(|c| c.path.as_deref())
        .filter(|p| !p.trim().is_empty())
        .unwrap_or(BINARY);
    let args = match command.and_then(|c| c.arguments.as_ref()) {
        Some(args) => args.clone(),
        None => MCP_ARGS.iter().map(|a| a.to_string()).collect(),
    };
    let mut env: Vec<(String, String)> = command
        .and_then(|c| c.env.clone())
        .map(|e| e.into_iter().collect())
        .unwrap_or_default();
    env.sort();
    Launch {
        command: path.to_string(),
        args,
        env,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zed_extension_api::serde_json;

    /// `lsp.odw` exactly as a user writes it in Zed's settings.json.
    fn settings(v: Value) -> LspSettings {
        serde_json::from_value(v).expect("valid lsp settings")
    }

    fn no_path(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn finds_odw_on_the_worktree_path_by_default() {
        let mut asked = None;
        let l = launch(
            None,
            |name| {
                asked = Some(name.to_string());
                Some("/home/u/.cargo/bin/odw".into())
            },
            vec![],
        )
        .unwrap();
        assert_eq!(asked.as_deref(), Some("odw"));
        assert_eq!(l.command, "/home/u/.cargo/bin/odw");
        assert_eq!(l.args, ["lsp"]);
    }

    #[test]
    fn a_path_in_the_settings_wins_over_the_path_lookup() {
        let s = settings(json!({"binary": {"path": "/opt/odw/bin/odw"}}));
        let l = launch(
            s.binary.as_ref(),
            |_| panic!("no PATH lookup needed"),
            vec![],
        )
        .unwrap();
        assert_eq!(l.command, "/opt/odw/bin/odw");
        assert_eq!(l.args, ["lsp"]);
    }

    #[test]
    fn a_blank_path_falls_back_to_the_path_lookup() {
        let s = settings(json!({"binary": {"path": "  "}}));
        let l = launch(s.binary.as_ref(), |_| Some("/usr/bin/odw".into()), vec![]).unwrap();
        assert_eq!(l.command, "/usr/bin/odw");
    }

    #[test]
    fn a_missing_binary_says_what_to_do() {
        let e = launch(None, no_path, vec![]).unwrap_err();
        assert!(e.contains("cannot find `odw`"), "{e}");
        assert!(e.contains("\"binary\": {\"path\""), "{e}");
    }

    #[test]
    fn arguments_from_the_settings_are_used_as_given() {
        let s = settings(json!({"binary": {"arguments": ["lsp", "--verbose"]}}));
        assert_eq!(arguments(s.binary.as_ref()), ["lsp", "--verbose"]);
        let s = settings(json!({"binary": {"path": "/x/odw"}}));
        assert_eq!(arguments(s.binary.as_ref()), ["lsp"]);
    }

    #[test]
    fn settings_env_overrides_the_shell_env_and_the_result_is_sorted() {
        let s = settings(json!({"binary": {"env": {"ODW_MODEL": "claude-sonnet-4-6", "B": "2"}}}));
        let shell = vec![
            ("PATH".to_string(), "/usr/bin".to_string()),
            ("ODW_MODEL".to_string(), "gpt-4o".to_string()),
        ];
        let env = environment(shell, s.binary.as_ref());
        assert_eq!(
            env,
            [
                ("B".to_string(), "2".to_string()),
                ("ODW_MODEL".to_string(), "claude-sonnet-4-6".to_string()),
                ("PATH".to_string(), "/usr/bin".to_string()),
            ]
        );
    }

    #[test]
    fn initialization_options_pass_through_without_run_events() {
        let s = settings(
            json!({"initialization_options": {"model": "test:m", "config": {"limits": {"retries": 1}}}}),
        );
        assert_eq!(
            initialization_options(s),
            Some(
                json!({"model": "test:m", "config": {"limits": {"retries": 1}}, "runEvents": false})
            )
        );
        assert_eq!(
            initialization_options(LspSettings::default()),
            Some(json!({"runEvents": false}))
        );
        let s = settings(json!({"initialization_options": {"runEvents": true}}));
        assert_eq!(initialization_options(s), Some(json!({"runEvents": true})));
    }

    #[test]
    fn the_context_server_is_odw_mcp_unless_configured() {
        let default = context_server(None);
        assert_eq!(default.command, "odw");
        assert_eq!(default.args, vec!["mcp".to_string()]);
        let configured: CommandSettings = zed_extension_api::serde_json::from_value(json!({
            "path": "/opt/odw/bin/odw",
            "arguments": ["mcp", "--verbose"],
            "env": {"ODW_LOG": "debug"}
        }))
        .unwrap();
        let l = context_server(Some(&configured));
        assert_eq!(l.command, "/opt/odw/bin/odw");
        assert_eq!(l.args, vec!["mcp".to_string(), "--verbose".to_string()]);
        assert_eq!(l.env, vec![("ODW_LOG".to_string(), "debug".to_string())]);
    }

    #[test]
    fn empty_settings_parse() {
        let s = settings(json!({}));
        assert!(s.binary.is_none() && s.initialization_options.is_none() && s.settings.is_none());
    }
}
