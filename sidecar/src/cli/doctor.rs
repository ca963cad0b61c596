//! `odw doctor [--project DIR] [--json]`: for every agent, whether odw is registered and
//! whether the registered command really answers an MCP `initialize` on stdio.

use super::agents::{Agent, Places, ServerCommand, read_entry};
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long a registered server gets to answer `initialize`.
pub const MCP_TIMEOUT: Duration = Duration::from_secs(5);

/// The one request the probe sends.
const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"odw-doctor","version":"1"}}}"#;

#[derive(clap::Args, Debug)]
pub struct DoctorArgs {
    /// The project whose project-scoped files are checked (Claude Code, OpenCode, Cursor);
    /// default: here.
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// One agent's findings.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentStatus {
    pub agent: &'static str,
    pub name: &'static str,
    /// The configuration file, or why there is none (no HOME).
    pub config: String,
    pub exists: bool,
    /// Why the file could not be read or parsed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config_error: Option<String>,
    pub registered: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server: Option<ServerCommand>,
    /// Whether the entry's command is an existing executable file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executable: Option<bool>,
    /// Whether `command args…` answered `initialize` in time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mcp: Option<bool>,
    /// What went wrong, or the server's name and version when it answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl AgentStatus {
    /// A registered entry that does not work, or a file that cannot be read.
    pub fn is_broken(&self) -> bool {
        self.config_error.is_some() || (self.registered && self.mcp != Some(true))
    }
}

pub fn main(args: DoctorArgs) -> ExitCode {
    let project = args
        .project
        .clone()
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    let project = std::path::absolute(&project).unwrap_or(project);
    let places = Places::from_env(project);
    let statuses: Vec<AgentStatus> = Agent::ALL
        .iter()
        .map(|a| check(*a, &places, MCP_TIMEOUT))
        .collect();
    let ok = !statuses.iter().any(AgentStatus::is_broken);
    let registered = statuses.iter().filter(|s| s.registered).count();
    if args.json {
        let out = serde_json::json!({ "ok": ok, "registered": registered, "agents": statuses });
        println!("{out}");
    } else {
        print!("{}", table(&statuses));
        if registered == 0 {
            println!("odw is not registered with any agent: run `odw integrate AGENT`");
        } else if ok {
            println!("every registered entry answers MCP initialize");
        } else {
            println!("some registered entries do not work (see above)");
        }
    }
    let _ = std::io::stdout().flush();
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Checks one agent: file, entry, command, and a real `initialize` round trip.
pub fn check(agent: Agent, places: &Places, timeout: Duration) -> AgentStatus {
    let mut s = AgentStatus {
        agent: agent.id(),
        name: agent.title(),
        config: String::new(),
        exists: false,
        config_error: None,
        registered: false,
        server: None,
        executable: None,
        mcp: None,
        detail: None,
    };
    let path = match agent.config_path(places) {
        Ok(p) => p,
        Err(e) => {
            s.config = format!("({e})");
            return s;
        }
    };
    s.config = path.display().to_string();
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return s,
        Err(e) => {
            s.exists = path.exists();
            s.config_error = Some(format!("cannot read {}: {e}", path.display()));
            return s;
        }
    };
    s.exists = true;
    let server = match read_entry(agent, &path, &text) {
        Ok(Some(server)) => server,
        Ok(None) => return s,
        Err(e) => {
            s.config_error = Some(e.to_string());
            return s;
        }
    };
    s.registered = true;
    let cwd = if agent.project_scoped() {
        places.project.clone()
    } else {
        std::env::temp_dir()
    };
    match executable(&server.command) {
        Err(why) => {
            s.executable = Some(false);
            s.detail = Some(why);
        }
        Ok(()) => {
            s.executable = Some(true);
            match probe(&server, &cwd, timeout) {
                Ok(who) => {
                    s.mcp = Some(true);
                    s.detail = Some(who);
                }
                Err(why) => {
                    s.mcp = Some(false);
                    s.detail = Some(why);
                }
            }
        }
    }
    s.server = Some(server);
    s
}

/// Whether `command` names an executable file (agents start it without a shell; a bare name
/// is looked up on PATH as they would).
fn executable(command: &str) -> Result<(), String> {
    if command.is_empty() {
        return Err("the entry has no command".into());
    }
    let path = Path::new(command);
    let found = if path.components().count() > 1 {
        Some(path.to_path_buf())
    } else {
        std::env::var_os("PATH").and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join(command))
                .find(|c| c.is_file())
        })
    };
    let Some(found) = found else {
        return Err(format!("{command} is not on PATH"));
    };
    let meta = std::fs::metadata(&found)
        .map_err(|e| format!("{}: {e}; run `odw integrate` again", found.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a file", found.display()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o111 == 0 {
            return Err(format!("{} is not executable", found.display()));
        }
    }
    Ok(())
}

/// Starts the server, sends `initialize` and waits for the answer to id 1; the child is
/// killed afterwards whatever happened. Returns the server's name and version.
pub fn probe(server: &ServerCommand, cwd: &Path, timeout: Duration) -> Result<String, String> {
    let shown = format!("{} {}", server.command, server.args.join(" "));
    let mut child = Command::new(&server.command)
        .args(&server.args)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start `{}`: {e}", shown.trim()))?;
    let mut stdin = child.stdin.take();
    if let Some(w) = stdin.as_mut() {
        // A server that exits at once closes the pipe: that shows below as no answer.
        let _ = writeln!(w, "{INITIALIZE}");
        let _ = w.flush();
    }
    let (tx, rx) = mpsc::channel();
    let stdout = child.stdout.take();
    std::thread::spawn(move || {
        let Some(out) = stdout else { return };
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let stderr = child.stderr.take();
    let (err_tx, err_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(e) = stderr {
            // Bounded: a chatty server cannot grow this without limit.
            let _ = e.take(64 * 1024).read_to_end(&mut buf);
        }
        let _ = err_tx.send(String::from_utf8_lossy(&buf).into_owned());
    });
    let deadline = Instant::now() + timeout;
    let outcome = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                let Ok(msg) = serde_json::from_str::<serde_json::Value>(&line) else {
                    continue;
                };
                if msg.get("id") != Some(&serde_json::json!(1)) {
                    continue;
                }
                if let Some(result) = msg.get("result") {
                    let info = &result["serverInfo"];
                    let name = info["name"].as_str().unwrap_or("an MCP server");
                    let version = info["version"].as_str().unwrap_or("");
                    break Ok(format!("answered initialize: {name} {version}")
                        .trim_end()
                        .to_string());
                }
                let error = msg
                    .get("error")
                    .map(|e| e["message"].as_str().unwrap_or("").to_string())
                    .unwrap_or_default();
                break Err(format!(
                    "`{}` answered initialize with an error: {error}",
                    shown.trim()
                ));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                break Err(format!(
                    "`{}` did not answer initialize within {} s",
                    shown.trim(),
                    timeout.as_secs_f64()
                ));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err(format!(
                    "`{}` closed its output without answering initialize",
                    shown.trim()
                ));
            }
        }
    };
    drop(stdin);
    let _ = child.kill();
    let status = child.wait().ok();
    // A grandchild may still hold stderr open: wait briefly, not for it to end.
    let stderr = err_rx
        .recv_timeout(Duration::from_millis(500))
        .unwrap_or_default();
    outcome.map_err(|mut why| {
        if let Some(code) = status.filter(|s| !s.success()).and_then(|s| s.code()) {
            why.push_str(&format!(" (exit status {code})"));
        }
        // clap and most servers put the cause on a line starting with "error"; else the last.
        let lines: Vec<&str> = stderr
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect();
        let cause = lines
            .iter()
            .find(|l| l.to_ascii_lowercase().starts_with("error"))
            .or(lines.last());
        if let Some(cause) = cause {
            why.push_str(&format!(": {cause}"));
        }
        why
    })
}

/// The human-readable table.
pub fn table(statuses: &[AgentStatus]) -> String {
    let rows: Vec<[String; 5]> = statuses
        .iter()
        .map(|s| {
            let config = if s.exists {
                s.config.clone()
            } else {
                format!("{} (none)", s.config)
            };
            let entry = if s.config_error.is_some() {
                "unreadable"
            } else if s.registered {
                "yes"
            } else {
                "no"
            };
            let command = match s.executable {
                Some(true) => "ok",
                Some(false) => "missing",
                None => "-",
            };
            let mcp = match s.mcp {
                Some(true) => "ok",
                Some(false) => "FAILED",
                None if s.registered => "FAILED",
                None => "-",
            };
            [
                s.name.to_string(),
                config,
                entry.to_string(),
                command.to_string(),
                mcp.to_string(),
            ]
        })
        .collect();
    let header = ["AGENT", "CONFIG", "ODW ENTRY", "COMMAND", "MCP"].map(String::from);
    let mut widths = header.clone().map(|h| h.chars().count());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in std::iter::once(&header).chain(&rows) {
        let cells: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    let notes: Vec<String> = statuses
        .iter()
        .filter_map(|s| {
            let why = s
                .config_error
                .as_ref()
                .or(s.detail.as_ref().filter(|_| s.is_broken()))?;
            Some(format!("{}: {why}\n", s.name))
        })
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        out.extend(notes);
    }
    out
}

#[cfg(test)]
#[path = "doctor_tests.rs"]
mod tests;
