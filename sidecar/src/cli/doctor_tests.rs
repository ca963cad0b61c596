use super::*;

#[cfg(unix)]
fn script(dir: &Path, name: &str, body: &str) -> String {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path.to_str().unwrap().to_string()
}

fn server(command: &str) -> ServerCommand {
    ServerCommand {
        command: command.into(),
        args: vec!["mcp".into()],
    }
}

const SHORT: Duration = Duration::from_millis(1500);

/// `probe`, retried while the kernel says the script just written is still open for writing
/// (ETXTBSY): another test's fork may hold a copy of our write descriptor until its exec.
fn probe_written(server: &ServerCommand, cwd: &Path, timeout: Duration) -> Result<String, String> {
    for _ in 0..100 {
        match probe(server, cwd, timeout) {
            Err(e) if e.contains("Text file busy") => std::thread::sleep(Duration::from_millis(20)),
            other => return other,
        }
    }
    probe(server, cwd, timeout)
}

/// A fake MCP server: reads the request, logs a notification first, then answers id 1.
#[cfg(unix)]
const ANSWERS: &str = r#"read line
case "$line" in *'"method":"initialize"'*) ;; *) exit 3 ;; esac
echo '{"jsonrpc":"2.0","method":"notifications/message","params":{}}'
echo '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{},"serverInfo":{"name":"fake","version":"9"}}}'
exec sleep 30"#;

#[cfg(unix)]
#[test]
fn probe_accepts_a_server_that_answers_initialize() {
    let tmp = tempfile::tempdir().unwrap();
    let cmd = script(tmp.path(), "good", ANSWERS);
    let started = Instant::now();
    let who = probe_written(&server(&cmd), tmp.path(), SHORT).unwrap();
    assert_eq!(who, "answered initialize: fake 9");
    // The child is killed, not waited for.
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[cfg(unix)]
#[test]
fn probe_reports_each_way_of_failing() {
    let tmp = tempfile::tempdir().unwrap();
    let exits = script(
        tmp.path(),
        "exits",
        "echo \"error: unrecognized subcommand 'mcp'\" >&2\necho 'Usage: x' >&2\nexit 2",
    );
    let why = probe_written(&server(&exits), tmp.path(), SHORT).unwrap_err();
    assert!(why.contains("closed its output without answering"), "{why}");
    assert!(why.contains("(exit status 2)"), "{why}");
    assert!(
        why.ends_with("error: unrecognized subcommand 'mcp'"),
        "{why}"
    );

    let silent = script(tmp.path(), "silent", "exec sleep 30");
    let started = Instant::now();
    let why = probe_written(&server(&silent), tmp.path(), SHORT).unwrap_err();
    assert!(
        why.contains("did not answer initialize within 1.5 s"),
        "{why}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));

    let refuses = script(
        tmp.path(),
        "refuses",
        r#"read line; echo '{"jsonrpc":"2.0","id":1,"error":{"code":-32602,"message":"bad version"}}'"#,
    );
    let why = probe_written(&server(&refuses), tmp.path(), SHORT).unwrap_err();
    assert!(
        why.contains("answered initialize with an error: bad version"),
        "{why}"
    );

    let why = probe_written(&server("/nonexistent/odw"), tmp.path(), SHORT).unwrap_err();
    assert!(why.starts_with("cannot start"), "{why}");
}

#[cfg(unix)]
#[test]
fn check_walks_file_entry_command_and_server() {
    let tmp = tempfile::tempdir().unwrap();
    let places = Places {
        project: tmp.path().join("proj"),
        home: Some(tmp.path().join("home")),
        xdg_config_home: None,
        codex_home: None,
    };
    // Nothing configured: not registered, not broken.
    let s = check(Agent::Cursor, &places, SHORT);
    assert!(!s.exists && !s.registered && !s.is_broken());

    let good = script(tmp.path(), "good", ANSWERS);
    std::fs::create_dir_all(tmp.path().join("proj/.cursor")).unwrap();
    std::fs::write(
        tmp.path().join("proj/.cursor/mcp.json"),
        format!(r#"{{"mcpServers": {{"odw": {{"command": "{good}", "args": ["mcp"]}}}}}}"#),
    )
    .unwrap();
    let s = check(Agent::Cursor, &places, SHORT);
    assert!(s.exists && s.registered, "{s:?}");
    assert_eq!(s.executable, Some(true));
    assert_eq!(s.mcp, Some(true), "{s:?}");
    assert!(!s.is_broken());

    // An entry whose binary is gone.
    std::fs::create_dir_all(tmp.path().join("home/.codex")).unwrap();
    std::fs::write(
        tmp.path().join("home/.codex/config.toml"),
        "[mcp_servers.odw]\ncommand = \"/gone/odw\"\nargs = [\"mcp\"]\n",
    )
    .unwrap();
    let s = check(Agent::Codex, &places, SHORT);
    assert!(s.registered && s.is_broken());
    assert_eq!(s.executable, Some(false));
    assert_eq!(s.mcp, None);

    // A file that cannot be parsed.
    std::fs::create_dir_all(tmp.path().join("home/.gemini")).unwrap();
    std::fs::write(tmp.path().join("home/.gemini/settings.json"), "{\n  oops\n").unwrap();
    let s = check(Agent::Gemini, &places, SHORT);
    assert!(s.is_broken());
    assert!(
        s.config_error
            .as_deref()
            .unwrap()
            .contains("settings.json:")
    );

    let t = table(&[
        check(Agent::Cursor, &places, SHORT),
        check(Agent::Codex, &places, SHORT),
    ]);
    let lines: Vec<&str> = t.lines().collect();
    assert!(lines[0].starts_with("AGENT"), "{t}");
    assert!(
        lines[1].starts_with("Cursor") && lines[1].ends_with("yes        ok       ok"),
        "{t}"
    );
    assert!(lines[2].ends_with("missing  FAILED"), "{t}");
    assert!(t.contains("Codex: /gone/odw"), "{t}");
}

#[test]
fn a_missing_command_is_named() {
    assert!(executable("").is_err());
    let why = executable("/definitely/not/here/odw").unwrap_err();
    assert!(why.contains("/definitely/not/here/odw"), "{why}");
    assert!(
        executable("definitely-not-a-command-odw")
            .unwrap_err()
            .contains("not on PATH")
    );
}
