//! `run_bash`: one shell command in the workspace root, for a run whose policy approved it.
//!
//! A shell, not argv, because that is what models write; what makes it tolerable is around it:
//! the approval before it runs, the blocked-command guard (`blocked.rs`), a scrubbed environment,
//! and a process group that is killed whole on timeout, cancellation, or once bash exits.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::ToolError;
use super::blocked::find_blocked;
use super::process::{self, Limits};

/// Commands blocked unless the user's configuration says otherwise.
pub const DEFAULT_BLOCKED: &[&str] = &[
    "sudo", "su", "doas", "shutdown", "reboot", "halt", "poweroff", "mkfs", "dd",
];

/// How one command may run.
#[derive(Debug, Clone)]
pub struct BashOptions {
    /// After this long the command's whole process group is killed.
    pub timeout: Duration,
    /// Cap on each of stdout and stderr; the rest is read and dropped.
    pub max_output_bytes: usize,
    /// Entries (`sudo`, `git push`) refused as the start of any simple command.
    pub blocked_commands: Vec<String>,
    /// Variables kept from the command besides those named like secrets.
    pub scrub_env: Vec<String>,
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How a command ended and what it printed; a non-zero exit is an outcome, not an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BashOutcome {
    /// The exit status, when the command exited rather than being killed.
    pub exit_code: Option<i32>,
    /// The signal that ended the command (9 after a timeout or cancellation).
    pub signal: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Whether stdout or stderr went past the cap.
    pub truncated: bool,
    pub timed_out: bool,
    pub cancelled: bool,
}

/// Runs `bash -c command` in `root`, refusing blocked commands; every complete output line goes
/// to `on_line` as it arrives. On cancellation or timeout, and once bash exits, everything left
/// in its process group is killed.
pub async fn run_bash(
    root: &Path,
    command: &str,
    opts: &BashOptions,
    cancel: &CancellationToken,
    on_line: &(dyn Fn(Stream, &str) + Send + Sync),
) -> Result<BashOutcome, ToolError> {
    if let Some((entry, simple)) = find_blocked(command, &opts.blocked_commands) {
        return Err(ToolError::Blocked {
            entry: entry.into(),
            command: simple,
        });
    }
    let mut child = process::command("bash", root, &opts.scrub_env)?;
    child.arg("-c").arg(command);
    let limits = Limits {
        timeout: opts.timeout,
        max_output_bytes: opts.max_output_bytes,
    };
    process::run("bash", child, &limits, cancel, on_line).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::time::Instant;

    fn options() -> BashOptions {
        BashOptions {
            timeout: Duration::from_secs(20),
            max_output_bytes: 1 << 20,
            blocked_commands: DEFAULT_BLOCKED.iter().map(|s| s.to_string()).collect(),
            scrub_env: Vec::new(),
        }
    }

    async fn bash(root: &Path, command: &str, opts: &BashOptions) -> BashOutcome {
        run_bash(root, command, opts, &CancellationToken::new(), &|_, _| {})
            .await
            .unwrap()
    }

    fn is_gone(pid: i32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with(['Z', 'X'])),
        }
    }

    async fn wait_gone(pid: i32) -> bool {
        for _ in 0..100 {
            if is_gone(pid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    #[tokio::test]
    async fn a_blocked_command_is_refused_with_how_to_allow_it() {
        let dir = tempfile::tempdir().unwrap();
        let err = run_bash(
            dir.path(),
            "echo hi && touch made && sudo ls",
            &options(),
            &CancellationToken::new(),
            &|_, _| {},
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ToolError::Blocked { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "command blocked: `sudo ls` matches \"sudo\" in the blocked commands; to allow it, remove \"sudo\" from [tools.bash] blocked_commands in odw.toml"
        );
        assert!(
            !dir.path().join("made").exists(),
            "nothing runs when blocked"
        );
    }

    #[tokio::test]
    async fn runs_in_the_root_and_reports_the_exit() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("here.txt"), "").unwrap();
        let outcome = bash(dir.path(), "ls; echo oops >&2; exit 3", &options()).await;
        assert_eq!(
            outcome,
            BashOutcome {
                exit_code: Some(3),
                signal: None,
                stdout: "here.txt\n".into(),
                stderr: "oops\n".into(),
                truncated: false,
                timed_out: false,
                cancelled: false,
            }
        );
        let outcome = bash(
            dir.path(),
            "if read line; then echo got; else echo eof; fi",
            &options(),
        )
        .await;
        assert_eq!(outcome.stdout, "eof\n", "stdin is empty");
    }

    #[tokio::test]
    async fn lines_stream_as_they_arrive() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Mutex::new(Vec::new());
        let on_line = |stream: Stream, line: &str| {
            seen.lock().unwrap().push((stream, line.to_owned()));
        };
        let outcome = run_bash(
            dir.path(),
            "echo one; echo two >&2; printf 'thr\\xffee\\r\\nlast'",
            &options(),
            &CancellationToken::new(),
            &on_line,
        )
        .await
        .unwrap();
        assert_eq!(outcome.stdout, "one\nthr\u{fffd}ee\r\nlast");
        // Each stream's lines in order; how the two interleave is up to the scheduler.
        let seen = seen.into_inner().unwrap();
        let of = |stream| {
            seen.iter()
                .filter(|(s, _)| *s == stream)
                .map(|(_, line)| line.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(of(Stream::Stdout), ["one", "thr\u{fffd}ee", "last"]);
        assert_eq!(of(Stream::Stderr), ["two"]);
    }

    #[tokio::test]
    async fn output_is_capped_while_the_command_runs_to_its_end() {
        let dir = tempfile::tempdir().unwrap();
        let opts = BashOptions {
            max_output_bytes: 1000,
            ..options()
        };
        // 2 MB through each pipe: far past the pipe buffer, so a reader that stopped would hang it.
        let outcome = bash(
            dir.path(),
            "head -c 2000000 /dev/zero | tr '\\0' a; head -c 2000000 /dev/zero >&2; echo done >&2; exit 7",
            &opts,
        )
        .await;
        assert_eq!(outcome.exit_code, Some(7));
        assert!(outcome.truncated);
        assert_eq!(outcome.stdout, "a".repeat(1000));
        assert_eq!(outcome.stderr.len(), 1000);
        assert!(!outcome.timed_out);
    }

    #[tokio::test]
    async fn a_timeout_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let opts = BashOptions {
            timeout: Duration::from_millis(500),
            ..options()
        };
        let started = Instant::now();
        let outcome = bash(dir.path(), "sleep 1000 & echo $!; sleep 1000", &opts).await;
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(outcome.timed_out);
        assert!(!outcome.cancelled);
        assert_eq!(outcome.exit_code, None);
        assert_eq!(outcome.signal, Some(libc::SIGKILL));
        let grandchild: i32 = outcome.stdout.trim().parse().unwrap();
        assert!(
            wait_gone(grandchild).await,
            "background sleep {grandchild} survived"
        );
    }

    #[tokio::test]
    async fn cancelling_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancellationToken::new();
        let pid = Mutex::new(None);
        let on_line = |_: Stream, line: &str| {
            *pid.lock().unwrap() = line.parse::<i32>().ok();
            cancel.cancel();
        };
        let started = Instant::now();
        let outcome = run_bash(
            dir.path(),
            "sleep 1000 & echo $!; wait",
            &options(),
            &cancel,
            &on_line,
        )
        .await
        .unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));
        assert!(outcome.cancelled);
        assert!(!outcome.timed_out);
        assert_eq!(outcome.signal, Some(libc::SIGKILL));
        let grandchild = pid.lock().unwrap().expect("the pid was printed");
        assert!(
            wait_gone(grandchild).await,
            "background sleep {grandchild} survived"
        );
    }

    #[tokio::test]
    async fn dropping_the_call_kills_the_whole_group() {
        let dir = tempfile::tempdir().unwrap();
        let (pid_tx, pid_rx) = std::sync::mpsc::channel();
        let pid_tx = Mutex::new(pid_tx);
        let on_line = |_: Stream, line: &str| {
            let _ = pid_tx.lock().unwrap().send(line.parse::<i32>().unwrap());
        };
        let opts = options();
        let never = CancellationToken::new();
        let call = run_bash(
            dir.path(),
            "sleep 1000 & echo $!; wait",
            &opts,
            &never,
            &on_line,
        );
        let printed = async {
            loop {
                if let Ok(pid) = pid_rx.try_recv() {
                    return pid;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        // The engine giving up on a call drops its future.
        let grandchild = tokio::select! {
            _ = call => panic!("the command ended by itself"),
            pid = printed => pid,
        };
        assert!(
            wait_gone(grandchild).await,
            "background sleep {grandchild} survived"
        );
    }

    #[tokio::test]
    async fn background_children_do_not_hold_the_call_open() {
        let dir = tempfile::tempdir().unwrap();
        let started = Instant::now();
        // The grandchild keeps stdout and stderr open; bash exits at once.
        let outcome = bash(dir.path(), "sleep 1000 & echo $!", &options()).await;
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(outcome.exit_code, Some(0));
        let grandchild: i32 = outcome.stdout.trim().parse().unwrap();
        assert!(
            wait_gone(grandchild).await,
            "background sleep {grandchild} survived"
        );
        // One that left the group cannot be killed with it, but no longer holds the call either.
        let started = Instant::now();
        let outcome = bash(dir.path(), "setsid sleep 3 & echo started", &options()).await;
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(outcome.stdout, "started\n");
    }

    #[tokio::test]
    async fn secrets_are_not_passed_on() {
        let dir = tempfile::tempdir().unwrap();
        let opts = BashOptions {
            scrub_env: vec!["HOME".into()],
            ..options()
        };
        let outcome = bash(dir.path(), "env -0", &opts).await;
        let child: Vec<&str> = outcome
            .stdout
            .split('\0')
            .filter_map(|entry| entry.split_once('=').map(|(name, _)| name))
            .collect();
        assert!(child.contains(&"PATH"));
        assert!(!child.contains(&"HOME"));
        for name in &child {
            assert!(!process::is_scrubbed(name, &[]), "{name} reached the child");
        }
        // Everything else of ours is passed on (bash adds a few variables of its own).
        let identifier = |name: &str| {
            name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !["OLDPWD", "_"].contains(&name)
        };
        for (name, _) in std::env::vars() {
            if identifier(&name) && !process::is_scrubbed(&name, &opts.scrub_env) {
                assert!(child.contains(&name.as_str()), "{name} is missing");
            }
        }
    }

    #[tokio::test]
    async fn a_missing_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("gone");
        let err = run_bash(
            &missing,
            "true",
            &options(),
            &CancellationToken::new(),
            &|_, _| {},
        )
        .await
        .unwrap_err();
        assert!(matches!(err, ToolError::Root { .. }), "{err}");
    }

    #[test]
    fn outcomes_serialize_in_camel_case() {
        let outcome = BashOutcome {
            exit_code: Some(0),
            signal: None,
            stdout: "x".into(),
            stderr: String::new(),
            truncated: false,
            timed_out: false,
            cancelled: false,
        };
        assert_eq!(
            serde_json::to_value(&outcome).unwrap(),
            serde_json::json!({
                "exitCode": 0, "signal": null, "stdout": "x", "stderr": "",
                "truncated": false, "timedOut": false, "cancelled": false
            })
        );
        assert_eq!(serde_json::to_value(Stream::Stderr).unwrap(), "stderr");
    }
}
