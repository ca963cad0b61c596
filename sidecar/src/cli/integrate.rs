//! `odw integrate AGENT [--project DIR] [--dry-run]`: registers odw as an MCP server
//! (`odw mcp` on stdio) in a coding agent's configuration.

use super::agents::{Agent, AgentError, Outcome, Places, register};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(clap::Args, Debug)]
pub struct IntegrateArgs {
    /// The agent to register odw with.
    #[arg(value_enum)]
    pub agent: Agent,
    /// The project for project-scoped files (Claude Code, OpenCode, Cursor); default: here.
    #[arg(long, value_name = "DIR")]
    pub project: Option<PathBuf>,
    /// Print a diff of what would change and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum IntegrateError {
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error("cannot find the running odw binary: {0}")]
    Exe(std::io::Error),
    #[error("the odw binary's path {0} is not UTF-8, which agent configurations cannot hold")]
    ExeNotUtf8(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}; nothing was changed")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

/// What `integrate` did, for the message and for tests.
#[derive(Debug)]
pub struct Report {
    pub agent: Agent,
    pub path: PathBuf,
    pub outcome: Outcome,
    /// The backup of the previous file, when one was changed.
    pub backup: Option<PathBuf>,
    /// The unified diff, on a dry run.
    pub diff: Option<String>,
}

pub fn main(args: IntegrateArgs) -> ExitCode {
    let project = args
        .project
        .clone()
        .or_else(|| std::env::current_dir().ok())
        .unwrap_or_else(|| PathBuf::from("."));
    let places = Places::from_env(absolute(&project));
    let result = current_exe().and_then(|exe| integrate(args.agent, &places, &exe, args.dry_run));
    match result {
        Ok(report) => {
            print!("{}", describe(&report));
            let _ = std::io::stdout().flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("odw: error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The running binary, canonicalized: what agents will start.
pub fn current_exe() -> Result<String, IntegrateError> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(IntegrateError::Exe)?;
    exe.to_str()
        .map(String::from)
        .ok_or(IntegrateError::ExeNotUtf8(exe))
}

fn absolute(p: &Path) -> PathBuf {
    std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf())
}

/// The message `odw integrate` prints.
pub fn describe(r: &Report) -> String {
    let path = r.path.display();
    let title = r.agent.title();
    let mut out = String::new();
    if let Some(diff) = &r.diff {
        out.push_str(diff);
    }
    let line = match (r.outcome, r.diff.is_some()) {
        (Outcome::AlreadyRegistered, _) => {
            format!("odw: already registered with {title} in {path}; nothing to change\n")
        }
        (Outcome::Added, true) => {
            format!("odw: dry run: would register odw with {title} in {path}\n")
        }
        (Outcome::Replaced, true) => {
            format!("odw: dry run: would replace the existing odw entry for {title} in {path}\n")
        }
        (Outcome::Added, false) => format!("odw: registered odw with {title} in {path}\n"),
        (Outcome::Replaced, false) => {
            format!("odw: replaced the existing odw entry for {title} in {path}\n")
        }
    };
    out.push_str(&line);
    if let Some(b) = &r.backup {
        out.push_str(&format!(
            "odw: the previous file is kept as {}\n",
            b.display()
        ));
    }
    out
}

/// Registers odw (`exe mcp`) with `agent`, or on a dry run computes the diff only.
pub fn integrate(
    agent: Agent,
    places: &Places,
    exe: &str,
    dry_run: bool,
) -> Result<Report, IntegrateError> {
    let path = agent.config_path(places)?;
    // A dotfiles symlink stays a symlink: the file it points at is the one rewritten.
    let target = match std::fs::symlink_metadata(&path) {
        Ok(m) if m.file_type().is_symlink() => path.canonicalize().unwrap_or(path.clone()),
        _ => path.clone(),
    };
    let old = match std::fs::read_to_string(&target) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(IntegrateError::Read {
                path: path.display().to_string(),
                source: e,
            });
        }
    };
    let edit = register(agent, &path, old.as_deref(), exe)?;
    let mut report = Report {
        agent,
        path: path.clone(),
        outcome: edit.outcome,
        backup: None,
        diff: None,
    };
    if edit.outcome == Outcome::AlreadyRegistered {
        return Ok(report);
    }
    if dry_run {
        let shown = path.display().to_string();
        let old_name = if old.is_some() {
            shown.clone()
        } else {
            "/dev/null".to_string()
        };
        let old_text = old.as_deref().unwrap_or("");
        report.diff = Some(
            similar::TextDiff::from_lines(old_text, &edit.text)
                .unified_diff()
                .context_radius(3)
                .header(&old_name, &shown)
                .to_string(),
        );
        return Ok(report);
    }
    let write_err = |source| IntegrateError::Write {
        path: target.display().to_string(),
        source,
    };
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent).map_err(write_err)?;
    }
    if old.is_some() {
        report.backup = Some(backup(&target).map_err(write_err)?);
    }
    write_atomically(&target, &edit.text).map_err(write_err)?;
    Ok(report)
}

/// Copies `path` to `<path>.odw-backup-<unix-seconds>` (with `-N` appended if that exists).
fn backup(path: &Path) -> std::io::Result<PathBuf> {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let base = format!("{}.odw-backup-{secs}", path.display());
    let mut candidate = PathBuf::from(&base);
    let mut n = 1;
    loop {
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&candidate)
        {
            Ok(mut f) => {
                f.write_all(&std::fs::read(path)?)?;
                f.sync_all()?;
                // The backup may hold secrets (API keys in env blocks): same permissions.
                if let Ok(m) = std::fs::metadata(path) {
                    let _ = std::fs::set_permissions(&candidate, m.permissions());
                }
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                candidate = PathBuf::from(format!("{base}-{n}"));
                n += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Writes through a temporary file in the same directory and a rename, so an agent never
/// reads a half-written configuration; an existing file's permissions are kept.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.odw-tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        if let Ok(m) = std::fs::metadata(path) {
            std::fs::set_permissions(&tmp, m.permissions())?;
        }
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
#[path = "integrate_tests.rs"]
mod tests;
