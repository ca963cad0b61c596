//! `odw integrate` and `odw doctor` end to end: the real binary, with HOME and
//! XDG_CONFIG_HOME pointing at a temp dir, registering itself with every agent.

use crate::support::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn odw(home: &Path, args: &[&str]) -> Output {
    clean_command()
        .args(args)
        .current_dir(home.join("proj"))
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join("xdg"))
        .env_remove("CODEX_HOME")
        .output()
        .unwrap()
}

fn exe() -> String {
    Path::new(odw_bin())
        .canonicalize()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

#[test]
fn integrate_every_agent_then_doctor() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    std::fs::create_dir_all(home.join("proj")).unwrap();
    std::fs::create_dir_all(home.join(".codex")).unwrap();
    let codex =
        "# my settings\nmodel = \"o3\" # pinned\n\n[mcp_servers.other]\ncommand = \"npx\"\n";
    std::fs::write(home.join(".codex/config.toml"), codex).unwrap();

    // A dry run shows the change and writes nothing.
    let out = odw(home, &["integrate", "codex", "--dry-run"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let diff = stdout(&out);
    assert!(diff.contains("+[mcp_servers.odw]"), "{diff}");
    assert!(
        diff.contains(&format!("+command = \"{}\"", exe())),
        "{diff}"
    );
    assert_eq!(
        std::fs::read_to_string(home.join(".codex/config.toml")).unwrap(),
        codex
    );

    for agent in ["claude", "codex", "opencode", "gemini", "cursor", "zed"] {
        let out = odw(home, &["integrate", agent]);
        assert!(out.status.success(), "{agent}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("registered odw with"),
            "{}",
            stdout(&out)
        );
        let out = odw(home, &["integrate", agent]);
        assert!(out.status.success());
        assert!(
            stdout(&out).contains("already registered"),
            "{}",
            stdout(&out)
        );
    }
    let toml = std::fs::read_to_string(home.join(".codex/config.toml")).unwrap();
    assert!(toml.starts_with(codex), "{toml}");
    assert!(toml.contains("[mcp_servers.odw]"));
    let backups = std::fs::read_dir(home.join(".codex"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("config.toml.odw-backup-")
        })
        .count();
    assert_eq!(backups, 1);
    let claude: Value =
        serde_json::from_str(&std::fs::read_to_string(home.join("proj/.mcp.json")).unwrap())
            .unwrap();
    assert_eq!(claude["mcpServers"]["odw"]["command"], exe());
    assert_eq!(claude["mcpServers"]["odw"]["args"][0], "mcp");
    assert!(home.join("xdg/zed/settings.json").is_file());
    assert!(home.join(".gemini/settings.json").is_file());
    assert!(home.join("proj/.cursor/mcp.json").is_file());
    assert!(home.join("proj/opencode.json").is_file());

    // Doctor finds all six, each pointing at this binary, and really asks it `initialize`.
    let out = odw(home, &["doctor", "--json"]);
    let v: Value = serde_json::from_str(&stdout(&out)).expect("doctor --json prints JSON");
    let agents = v["agents"].as_array().unwrap();
    assert_eq!(agents.len(), 6);
    assert_eq!(v["registered"], 6);
    for a in agents {
        assert_eq!(a["registered"], true, "{a}");
        assert_eq!(a["executable"], true, "{a}");
        assert_eq!(a["server"]["command"], exe());
        // Every entry starts the real `odw mcp`, which answers `initialize`.
        assert_eq!(a["mcp"], true, "{a}");
    }
    assert_eq!(v["ok"], true);
    assert!(out.status.success(), "{}", stderr(&out));

    let out = odw(home, &["doctor"]);
    let table = stdout(&out);
    assert!(table.starts_with("AGENT"), "{table}");
    for name in [
        "Claude Code",
        "Codex",
        "OpenCode",
        "Gemini CLI",
        "Cursor",
        "Zed",
    ] {
        assert!(table.contains(name), "{table}");
    }
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn an_invalid_file_fails_with_its_line_and_is_not_touched() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    std::fs::create_dir_all(home.join("proj/.cursor")).unwrap();
    let broken = "{\n  \"mcpServers\": {\n    \"a\": {},\n  }\n}\n";
    std::fs::write(home.join("proj/.cursor/mcp.json"), broken).unwrap();
    let out = odw(home, &["integrate", "cursor"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(".cursor/mcp.json:4:"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(
        std::fs::read_to_string(home.join("proj/.cursor/mcp.json")).unwrap(),
        broken
    );

    // Nothing registered anywhere else: doctor reports the broken file and exits 1.
    let out = odw(home, &["doctor"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("unreadable"), "{}", stdout(&out));
}

#[test]
fn project_flag_and_unknown_agent() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path();
    std::fs::create_dir_all(home.join("proj")).unwrap();
    let other = home.join("elsewhere");
    let out = odw(
        home,
        &["integrate", "claude", "--project", other.to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(other.join(".mcp.json").is_file());
    assert!(!home.join("proj/.mcp.json").exists());

    let out: Output = Command::new(odw_bin())
        .args(["integrate", "vscode"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("claude"), "{}", stderr(&out));
}
