use super::*;

const EXE: &str = "/opt/odw/bin/odw";

fn edit(agent: Agent, text: Option<&str>) -> Edit {
    register(agent, Path::new("/cfg/file"), text, EXE).expect("registers")
}

fn json(text: &str) -> Value {
    jsonc_parser::cst::CstRootNode::parse(text, &ParseOptions::default())
        .unwrap()
        .to_serde_value()
        .unwrap()
}

/// Registering twice: the second time changes nothing and says so.
fn assert_idempotent(agent: Agent, text: &str) {
    let again = edit(agent, Some(text));
    assert_eq!(again.outcome, Outcome::AlreadyRegistered, "{agent:?}");
    assert_eq!(again.text, text);
}

const MCP_JSON: &str = r#"{
  "mcpServers": {
    "github": {
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": { "GITHUB_TOKEN": "x" }
    }
  },
  "zzz": 1,
  "aaa": [1, 2]
}
"#;

#[test]
fn claude_merges_into_mcp_servers_keeping_the_rest_in_order() {
    let e = edit(Agent::Claude, Some(MCP_JSON));
    assert_eq!(e.outcome, Outcome::Added);
    let v = json(&e.text);
    assert_eq!(
        v["mcpServers"]["odw"],
        serde_json::json!({"type": "stdio", "command": EXE, "args": ["mcp"]})
    );
    assert_eq!(v["mcpServers"]["github"]["env"]["GITHUB_TOKEN"], "x");
    // The untouched part of the file is byte for byte the same, key order included.
    assert!(
        e.text
            .starts_with("{\n  \"mcpServers\": {\n    \"github\": {")
    );
    assert!(e.text.ends_with("  \"zzz\": 1,\n  \"aaa\": [1, 2]\n}\n"));
    let order: Vec<usize> = ["\"type\"", "\"command\"", "\"args\""]
        .iter()
        .map(|k| e.text.rfind(k).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{}", e.text);
    assert_idempotent(Agent::Claude, &e.text);
}

#[test]
fn a_missing_file_gets_a_fresh_one() {
    for agent in [
        Agent::Claude,
        Agent::Cursor,
        Agent::Gemini,
        Agent::Opencode,
        Agent::Zed,
    ] {
        let e = edit(agent, None);
        assert_eq!(e.outcome, Outcome::Added);
        assert!(e.text.ends_with("}\n"), "{agent:?}: {}", e.text);
        assert!(json(&e.text)[agent.servers_key()]["odw"].is_object());
        assert_idempotent(agent, &e.text);
    }
    let e = edit(Agent::Codex, None);
    assert_eq!(
        e.text,
        format!("[mcp_servers.odw]\ncommand = \"{EXE}\"\nargs = [\"mcp\"]\n")
    );
}

#[test]
fn cursor_and_gemini_use_command_and_args() {
    for agent in [Agent::Cursor, Agent::Gemini] {
        let e = edit(agent, Some(MCP_JSON));
        let v = json(&e.text);
        assert_eq!(
            v["mcpServers"]["odw"],
            serde_json::json!({"command": EXE, "args": ["mcp"]})
        );
        assert!(v["mcpServers"]["github"].is_object());
        assert_eq!(v["aaa"], serde_json::json!([1, 2]));
        assert_idempotent(agent, &e.text);
    }
}

#[test]
fn opencode_uses_a_local_command_array() {
    let text = r#"{
  "$schema": "https://opencode.ai/config.json",
  // opencode reads comments
  "model": "anthropic/claude-sonnet-4-5",
  "mcp": { "other": { "type": "remote", "url": "https://x" } }
}
"#;
    let e = edit(Agent::Opencode, Some(text));
    let v = json(&e.text);
    assert_eq!(
        v["mcp"]["odw"],
        serde_json::json!({"type": "local", "command": [EXE, "mcp"], "enabled": true})
    );
    assert_eq!(v["mcp"]["other"]["type"], "remote");
    assert!(e.text.contains("// opencode reads comments"));
    assert_idempotent(Agent::Opencode, &e.text);
    let read = read_entry(Agent::Opencode, Path::new("f"), &e.text)
        .unwrap()
        .unwrap();
    assert_eq!(read.command, EXE);
    assert_eq!(read.args, vec!["mcp"]);
}

const ZED: &str = r#"// Zed settings
//
// For information on how to configure Zed, see the Zed documentation.
{
  "theme": "One Dark", // the dark one
  /* block comment */
  "context_servers": {
    "postgres": { "source": "extension", "settings": {} },
  },
  "vim_mode": true,
}
"#;

#[test]
fn zed_keeps_comments_and_trailing_commas() {
    let e = edit(Agent::Zed, Some(ZED));
    assert_eq!(e.outcome, Outcome::Added);
    for kept in [
        "// Zed settings",
        "\"theme\": \"One Dark\", // the dark one",
        "/* block comment */",
        "\"postgres\": { \"source\": \"extension\", \"settings\": {} },",
        "\"vim_mode\": true,\n}",
    ] {
        assert!(e.text.contains(kept), "lost {kept:?}:\n{}", e.text);
    }
    let v = json(&e.text);
    assert_eq!(
        v["context_servers"]["odw"],
        serde_json::json!({"command": EXE, "args": ["mcp"]})
    );
    assert_idempotent(Agent::Zed, &e.text);
}

#[test]
fn zed_without_context_servers_gets_the_key() {
    let e = edit(Agent::Zed, Some("// empty\n{\n  \"ui_font_size\": 16\n}\n"));
    let v = json(&e.text);
    assert_eq!(v["ui_font_size"], 16);
    assert_eq!(v["context_servers"]["odw"]["command"], EXE);
    assert!(e.text.starts_with("// empty\n"));
}

#[test]
fn a_different_odw_entry_is_replaced_and_extra_keys_of_ours_are_kept_when_equal() {
    let old = r#"{"mcpServers": {"odw": {"command": "/old/odw", "args": ["mcp"]}, "b": {}}}"#;
    let e = edit(Agent::Cursor, Some(old));
    assert_eq!(e.outcome, Outcome::Replaced);
    let v = json(&e.text);
    assert_eq!(v["mcpServers"]["odw"]["command"], EXE);
    assert!(v["mcpServers"]["b"].is_object());
    assert_eq!(e.text.matches("\"odw\"").count(), 1);

    // The user's own `env` on an otherwise identical entry is not a reason to rewrite.
    let with_env = format!(
        r#"{{"mcpServers": {{"odw": {{"command": "{EXE}", "args": ["mcp"], "env": {{"A": "1"}}}}}}}}"#
    );
    assert_eq!(
        edit(Agent::Cursor, Some(&with_env)).outcome,
        Outcome::AlreadyRegistered
    );
}

const CODEX: &str = r#"# Codex configuration (hand-written)
model = "o3"            # the model
approval_policy = "on-request"

# servers I use
[mcp_servers.github]
command = "npx"
args    = ["-y", "@modelcontextprotocol/server-github"]   # aligned on purpose
env = { GITHUB_TOKEN = "x" }

# profiles below
[profiles.fast]
model = "o4-mini"
"#;

#[test]
fn codex_keeps_comments_formatting_and_other_tables() {
    let e = edit(Agent::Codex, Some(CODEX));
    assert_eq!(e.outcome, Outcome::Added);
    // Everything that was there is still there, byte for byte, in order.
    let mut rest = e.text.as_str();
    for line in CODEX.lines() {
        let at = rest
            .find(line)
            .unwrap_or_else(|| panic!("lost {line:?}:\n{}", e.text));
        rest = &rest[at + line.len()..];
    }
    let doc: toml::Table = toml::from_str(&e.text).unwrap();
    let odw = &doc["mcp_servers"]["odw"];
    assert_eq!(odw["command"].as_str(), Some(EXE));
    assert_eq!(odw["args"].as_array().unwrap()[0].as_str(), Some("mcp"));
    assert_eq!(
        doc["mcp_servers"]["github"]["command"].as_str(),
        Some("npx")
    );
    assert!(e.text.contains("[mcp_servers.odw]\n"));
    assert!(!e.text.contains("[mcp_servers]\n"));
    assert_idempotent(Agent::Codex, &e.text);

    let read = read_entry(Agent::Codex, Path::new("f"), &e.text)
        .unwrap()
        .unwrap();
    assert_eq!(
        read,
        ServerCommand {
            command: EXE.into(),
            args: vec!["mcp".into()]
        }
    );
}

#[test]
fn codex_replaces_a_stale_entry_and_handles_inline_tables() {
    let stale = "[mcp_servers.odw]\ncommand = \"/old/odw\"\nargs = [\"mcp\"]\n";
    let e = edit(Agent::Codex, Some(stale));
    assert_eq!(e.outcome, Outcome::Replaced);
    assert!(e.text.contains(EXE) && !e.text.contains("/old/odw"));

    let inline = "mcp_servers = { other = { command = \"x\" } }\n";
    let e = edit(Agent::Codex, Some(inline));
    let doc: toml::Table = toml::from_str(&e.text).unwrap();
    assert_eq!(doc["mcp_servers"]["odw"]["command"].as_str(), Some(EXE));
    assert_eq!(doc["mcp_servers"]["other"]["command"].as_str(), Some("x"));
    assert_idempotent(Agent::Codex, &e.text);
}

fn error(agent: Agent, text: &str) -> String {
    register(agent, Path::new("/cfg/file"), Some(text), EXE)
        .expect_err("refused")
        .to_string()
}

#[test]
fn invalid_files_are_refused_with_file_and_line() {
    // Claude Code and Cursor read plain JSON: a trailing comma there is an error.
    let e = error(Agent::Claude, "{\n  \"mcpServers\": {},\n}\n");
    assert!(e.starts_with("/cfg/file:3:"), "{e}");
    let e = error(Agent::Cursor, "{\n  // no comments in plain JSON\n}\n");
    assert!(e.starts_with("/cfg/file:2:"), "{e}");
    // JSONC files still have to be JSONC.
    let e = error(Agent::Zed, "{\n  \"a\": 1\n  \"b\": [\n}\n");
    assert!(e.starts_with("/cfg/file:"), "{e}");
    assert!(e.contains("nothing was written"), "{e}");
    // Wrong shapes.
    let e = error(
        Agent::Gemini,
        "{\n  \"theme\": 1,\n  \"mcpServers\": []\n}\n",
    );
    assert_eq!(
        e,
        "/cfg/file:3: \"mcpServers\" is not an object; fix the file (nothing was written)"
    );
    let e = error(Agent::Opencode, "[1]\n");
    assert!(e.contains("top level is not a JSON object"), "{e}");
    // TOML.
    let e = error(Agent::Codex, "model = \"o3\"\n[mcp_servers\n");
    assert!(e.starts_with("/cfg/file:2:"), "{e}");
    assert!(e.contains("not valid TOML"), "{e}");
    let e = error(Agent::Codex, "# c\nmcp_servers = 3\n");
    assert!(e.starts_with("/cfg/file:2:"), "{e}");
}

#[test]
fn read_entry_understands_every_form() {
    let none = read_entry(Agent::Claude, Path::new("f"), MCP_JSON).unwrap();
    assert_eq!(none, None);
    let old_zed =
        r#"{"context_servers": {"odw": {"command": {"path": "/x/odw", "args": ["mcp"]}}}}"#;
    let r = read_entry(Agent::Zed, Path::new("f"), old_zed)
        .unwrap()
        .unwrap();
    assert_eq!(r.command, "/x/odw");
    assert_eq!(r.args, vec!["mcp"]);
    assert!(read_entry(Agent::Claude, Path::new("f"), "{").is_err());
}

#[test]
fn places_follow_the_environment() {
    let places = Places {
        project: PathBuf::from("/p"),
        home: Some(PathBuf::from("/h")),
        xdg_config_home: None,
        codex_home: None,
    };
    let path = |a: Agent, p: &Places| a.config_path(p).unwrap();
    assert_eq!(path(Agent::Claude, &places), Path::new("/p/.mcp.json"));
    assert_eq!(
        path(Agent::Opencode, &places),
        Path::new("/p/opencode.json")
    );
    assert_eq!(
        path(Agent::Cursor, &places),
        Path::new("/p/.cursor/mcp.json")
    );
    assert_eq!(
        path(Agent::Codex, &places),
        Path::new("/h/.codex/config.toml")
    );
    assert_eq!(
        path(Agent::Gemini, &places),
        Path::new("/h/.gemini/settings.json")
    );
    assert_eq!(
        path(Agent::Zed, &places),
        Path::new("/h/.config/zed/settings.json")
    );
    let xdg = Places {
        xdg_config_home: Some(PathBuf::from("/x")),
        ..places.clone()
    };
    assert_eq!(path(Agent::Zed, &xdg), Path::new("/x/zed/settings.json"));
    let no_home = Places {
        home: None,
        ..places
    };
    assert!(matches!(
        Agent::Gemini.config_path(&no_home),
        Err(AgentError::NoHome)
    ));
}
