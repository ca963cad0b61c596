//! The real Helix, driven through tmux: the shipped snippets (clients/helix) on whichever `hx`
//! is found (`ODW_HX`, else `hx` on the PATH; `HELIX_RUNTIME` is passed on when set). Prints
//! SKIP when there is no `hx` or no `tmux`; CI has neither built, and the Helix-like stand-in
//! client (clients_helix.rs) covers the protocol there.

use crate::support::*;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long a step may take: a debug `hx` and `odw` on two busy cores.
const STEP: Duration = Duration::from_secs(60);

fn find_hx() -> Result<PathBuf, String> {
    let hx = match std::env::var_os("ODW_HX") {
        Some(p) => PathBuf::from(p),
        None => std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
            .map(|d| d.join("hx"))
            .find(|p| p.is_file())
            .ok_or("no hx on the PATH (set ODW_HX to a Helix binary)")?,
    };
    let out = Command::new(&hx)
        .arg("--version")
        .output()
        .map_err(|e| format!("{} does not run: {e}", hx.display()))?;
    if !out.status.success() {
        return Err(format!("{} --version failed", hx.display()));
    }
    let ok = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        return Err("no tmux".into());
    }
    Ok(hx)
}

/// One `hx` in a tmux server of its own.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn tmux(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("tmux runs")
    }

    /// Keys as tmux names them; each is sent on its own, so `Escape` is never read as Alt.
    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.tmux(&["send-keys", "-t", "hx", k]);
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// A typable command, `:` to Enter.
    fn command(&self, line: &str) {
        self.keys(&[":"]);
        self.tmux(&["send-keys", "-t", "hx", "-l", line]);
        self.keys(&["Enter"]);
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.tmux(&["capture-pane", "-p", "-t", "hx"]).stdout).into_owned()
    }

    fn wait_screen(&self, what: &str, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let s = self.screen();
            if pred(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "no {what} on the screen:\n{s}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn alive(&self) -> bool {
        self.tmux(&["has-session", "-t", "hx"]).status.success()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        self.tmux(&["kill-server"]);
    }
}

fn runs(ws: &Ws) -> Vec<Value> {
    let out = ws.odw(&["runs", "--json"]);
    serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
}

fn wait_runs(ws: &Ws, what: &str, pred: impl Fn(&[Value]) -> bool) -> Vec<Value> {
    let deadline = Instant::now() + STEP;
    loop {
        let r = runs(ws);
        if pred(&r) {
            return r;
        }
        assert!(Instant::now() < deadline, "no {what}: {r:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn real_helix_runs_checks_and_exits_with_the_shipped_snippets() {
    let hx = match find_hx() {
        Ok(hx) => hx,
        Err(why) => {
            eprintln!("SKIP: real Helix test: {why}");
            return;
        }
    };
    let ws = Ws::new();
    let helix = Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/helix");
    let config = ws.path().join(".config/helix");
    std::fs::create_dir_all(&config).unwrap();
    for f in ["languages.toml", "config.toml"] {
        std::fs::copy(helix.join(f), config.join(f)).unwrap();
    }
    let hello = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/hello.workflow.js"),
    )
    .unwrap();
    ws.write("flows/hello.workflow.js", &hello);
    ws.write(
        "flows/broken.workflow.js",
        "export const meta = { name: \"broken\" };\nconst fs = require(\"fs\");\nreturn 1;\n",
    );

    let odw_dir = Path::new(odw_bin()).parent().unwrap();
    let path = std::env::join_paths(std::iter::once(odw_dir.to_path_buf()).chain(
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()),
    ))
    .unwrap();
    let tmux = Tmux {
        socket: format!("odw-hx-{}", std::process::id()),
    };
    // `env -i`: the editor, and so the server, see only this environment.
    let mut line = vec![
        "env".to_string(),
        "-i".into(),
        format!("HOME={}", ws.path().display()),
        format!("XDG_CONFIG_HOME={}", ws.path().join(".config").display()),
        format!("PATH={}", path.to_string_lossy()),
        "TERM=xterm-256color".into(),
    ];
    if let Some(rt) = std::env::var_os("HELIX_RUNTIME") {
        line.push(format!("HELIX_RUNTIME={}", rt.to_string_lossy()));
    }
    // `%{buffer_name}` is relative to where hx starts: the project root here.
    line.push(hx.display().to_string());
    line.push("flows/hello.workflow.js".into());
    let started = tmux.tmux(&[
        "new-session",
        "-d",
        "-x",
        "160",
        "-y",
        "40",
        "-s",
        "hx",
        "-c",
        ws.path().to_str().unwrap(),
        &line.join(" "),
    ]);
    assert!(started.status.success(), "tmux: {started:?}");
    tmux.wait_screen("the script in Helix", |s| {
        s.contains("flows/hello.workflow.js")
    });

    // `space o r`: the shipped binding runs this buffer.
    tmux.keys(&["Space", "o", "r"]);
    let s = tmux.wait_screen("the run's outcome", |s| s.contains("odw: hello succeeded"));
    assert!(
        s.contains("→ .odw/runs/r-"),
        "a short, relative result path: {s}"
    );
    let r = wait_runs(&ws, "a finished run", |r| r.len() == 1);
    assert_eq!(r[0]["state"], "succeeded", "{r:?}");

    // `space a`: the run actions, the dry run with its estimate.
    tmux.keys(&["Space", "a"]);
    let s = tmux.wait_screen("the run code actions", |s| {
        s.contains("odw: ▶ Run") && s.contains("odw: Dry run: ≈1 agents")
    });
    let rows: Vec<&str> = s.lines().filter(|l| l.contains("odw: ")).collect();
    let dry = rows
        .iter()
        .position(|l| l.contains("odw: Dry run"))
        .unwrap();
    let run = rows.iter().position(|l| l.contains("odw: ▶ Run")).unwrap();
    for _ in run..dry {
        tmux.keys(&["Down"]);
    }
    tmux.keys(&["Enter"]);
    let r = wait_runs(&ws, "the dry run", |r| r.len() == 2);
    assert_eq!(r[0]["dryRun"], true, "{r:?}");
    // Nothing replaced the script in the view.
    let s = tmux.wait_screen("the dry run's message", |s| s.contains("≈1 agents"));
    assert!(s.contains("flows/hello.workflow.js"), "{s}");
    assert!(!s.contains("result.md "), "{s}");

    // Diagnostics on a broken script, in the picker (`space d`).
    tmux.command("open flows/broken.workflow.js");
    tmux.wait_screen("the broken script", |s| {
        s.contains("flows/broken.workflow.js")
    });
    let deadline = Instant::now() + STEP;
    loop {
        tmux.keys(&["Space", "d"]);
        std::thread::sleep(Duration::from_millis(500));
        let s = tmux.screen();
        if s.contains("forbidden-api") {
            break;
        }
        tmux.keys(&["Escape"]);
        assert!(
            Instant::now() < deadline,
            "no diagnostic in the picker:\n{s}"
        );
    }
    tmux.keys(&["Escape"]);

    // `:quit-all!`: Helix shuts the server down and ends.
    tmux.command("qa!");
    let deadline = Instant::now() + STEP;
    while tmux.alive() {
        assert!(
            Instant::now() < deadline,
            "hx did not exit:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
