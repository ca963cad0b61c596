use super::*;

const EXE: &str = "/opt/odw/bin/odw";

fn places(dir: &Path) -> Places {
    Places {
        project: dir.join("proj"),
        home: Some(dir.join("home")),
        xdg_config_home: None,
        codex_home: None,
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn every_agent_creates_its_file_with_parent_directories() {
    let tmp = tempfile::tempdir().unwrap();
    let places = places(tmp.path());
    for agent in Agent::ALL {
        let r = integrate(agent, &places, EXE, false).unwrap();
        assert_eq!(r.outcome, Outcome::Added, "{agent:?}");
        assert!(r.backup.is_none());
        let text = std::fs::read_to_string(&r.path).unwrap();
        assert!(text.contains(EXE), "{agent:?}: {text}");
        let again = integrate(agent, &places, EXE, false).unwrap();
        assert_eq!(again.outcome, Outcome::AlreadyRegistered);
        assert!(describe(&again).contains("already registered"));
        assert_eq!(std::fs::read_to_string(&r.path).unwrap(), text);
    }
    // No temp files or backups left behind.
    assert_eq!(
        files_in(&tmp.path().join("home/.codex")),
        vec!["config.toml"]
    );
}

#[test]
fn changing_a_file_backs_it_up_first() {
    let tmp = tempfile::tempdir().unwrap();
    let places = places(tmp.path());
    let dir = tmp.path().join("home/.codex");
    std::fs::create_dir_all(&dir).unwrap();
    let original = "# mine\nmodel = \"o3\" # keep\n";
    std::fs::write(dir.join("config.toml"), original).unwrap();
    let r = integrate(Agent::Codex, &places, EXE, false).unwrap();
    let backup = r.backup.clone().expect("a backup");
    let name = backup.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("config.toml.odw-backup-"), "{name}");
    assert!(
        name["config.toml.odw-backup-".len()..]
            .parse::<u64>()
            .is_ok()
    );
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), original);
    let now = std::fs::read_to_string(dir.join("config.toml")).unwrap();
    assert!(now.starts_with(original));
    assert!(describe(&r).contains("kept as"));

    // A replacement in the same second gets its own backup.
    let r2 = integrate(Agent::Codex, &places, "/new/odw", false).unwrap();
    assert_eq!(r2.outcome, Outcome::Replaced);
    let b2 = r2.backup.clone().unwrap();
    assert_ne!(b2, backup);
    assert_eq!(std::fs::read_to_string(&b2).unwrap(), now);
    assert!(describe(&r2).contains("replaced the existing odw entry"));
}

#[test]
fn a_dry_run_prints_a_diff_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let places = places(tmp.path());
    let zed = tmp.path().join("home/.config/zed");
    std::fs::create_dir_all(&zed).unwrap();
    let original = "// mine\n{\n  \"theme\": \"One Dark\",\n}\n";
    std::fs::write(zed.join("settings.json"), original).unwrap();
    let r = integrate(Agent::Zed, &places, EXE, true).unwrap();
    let diff = r.diff.clone().unwrap();
    assert!(diff.starts_with(&format!("--- {}", zed.join("settings.json").display())));
    assert!(diff.contains("+  \"context_servers\": {"), "{diff}");
    assert!(
        diff.contains(&format!("+      \"command\": \"{EXE}\"")),
        "{diff}"
    );
    assert!(describe(&r).contains("dry run: would register"));
    assert_eq!(
        std::fs::read_to_string(zed.join("settings.json")).unwrap(),
        original
    );
    assert_eq!(files_in(&zed), vec!["settings.json"]);

    // A file that does not exist yet: diffed against /dev/null, and still not created.
    let r = integrate(Agent::Cursor, &places, EXE, true).unwrap();
    assert!(r.diff.unwrap().starts_with("--- /dev/null\n"));
    assert!(!tmp.path().join("proj").exists());
}

#[test]
fn an_invalid_file_is_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let places = places(tmp.path());
    let proj = tmp.path().join("proj");
    std::fs::create_dir_all(&proj).unwrap();
    let broken = "{\n  \"mcpServers\": {\n    \"a\": 1,\n  }\n}\n";
    std::fs::write(proj.join(".mcp.json"), broken).unwrap();
    let e = integrate(Agent::Claude, &places, EXE, false).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.starts_with(&format!("{}:4:", proj.join(".mcp.json").display())),
        "{msg}"
    );
    assert_eq!(
        std::fs::read_to_string(proj.join(".mcp.json")).unwrap(),
        broken
    );
    assert_eq!(files_in(&proj), vec![".mcp.json"]);
}

#[cfg(unix)]
#[test]
fn a_symlinked_file_stays_a_symlink_and_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    let places = places(tmp.path());
    let dotfiles = tmp.path().join("dotfiles");
    std::fs::create_dir_all(&dotfiles).unwrap();
    let real = dotfiles.join("settings.json");
    std::fs::write(&real, "{\"theme\": \"dark\"}\n").unwrap();
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o600)).unwrap();
    let gemini = tmp.path().join("home/.gemini");
    std::fs::create_dir_all(&gemini).unwrap();
    std::os::unix::fs::symlink(&real, gemini.join("settings.json")).unwrap();
    integrate(Agent::Gemini, &places, EXE, false).unwrap();
    let link = std::fs::symlink_metadata(gemini.join("settings.json")).unwrap();
    assert!(link.file_type().is_symlink());
    assert!(std::fs::read_to_string(&real).unwrap().contains(EXE));
    let mode = std::fs::metadata(&real).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
}
