//! Running a program for a tool: its own process group, a scrubbed environment, output captured
//! up to a cap and streamed line by line.
//!
//! Why a process group: `bash -c` starts grandchildren (`make`, `sleep 1000 &`) that killing bash
//! alone would orphan, still holding the output pipes; a group is killed as one. Why reading stops
//! shortly after the child exits: a grandchild that left the group (`setsid`) would otherwise keep
//! a pipe, and the call, open forever. Why the environment is scrubbed: the engine holds provider
//! keys in its environment, and a command a model wrote must not be able to print them.

use std::ffi::OsString;
use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use super::ToolError;
use super::bash::{BashOutcome, Stream};

/// How long output is still read after the child has exited and its group was killed: what is
/// in the pipes is read at once, so this only bounds the wait on a process that escaped the group.
const DRAIN_GRACE: Duration = Duration::from_millis(500);

/// Variable-name endings that mark a secret, compared case-insensitively.
const SECRET_SUFFIXES: &[&str] = &["_API_KEY", "_TOKEN", "_SECRET"];

/// Bounds on one run.
pub(super) struct Limits {
    pub timeout: Duration,
    pub max_output_bytes: usize,
}

/// Whether a variable is kept out of a tool's child: its name ends like a secret's, or is listed.
pub(super) fn is_scrubbed(name: &str, extra: &[String]) -> bool {
    let upper = name.to_ascii_uppercase();
    SECRET_SUFFIXES.iter().any(|suffix| upper.ends_with(suffix))
        || extra.iter().any(|listed| listed == name)
}

/// `vars` without the scrubbed ones.
pub(super) fn scrub_env(
    vars: impl IntoIterator<Item = (OsString, OsString)>,
    extra: &[String],
) -> Vec<(OsString, OsString)> {
    vars.into_iter()
        .filter(|(name, _)| !is_scrubbed(&name.to_string_lossy(), extra))
        .collect()
}

/// A command for `program` in `cwd`, with this process's environment minus the scrubbed
/// variables, no stdin, piped output, and a process group of its own. Callers add arguments and
/// further variables.
pub(super) fn command(program: &str, cwd: &Path, scrub: &[String]) -> Result<Command, ToolError> {
    // Checked here because a missing directory would otherwise read as a missing program.
    if !cwd.is_dir() {
        return Err(ToolError::Root {
            path: cwd.display().to_string(),
            reason: "not a directory".into(),
        });
    }
    let mut command = Command::new(program);
    command
        .current_dir(cwd)
        .env_clear()
        .envs(scrub_env(std::env::vars_os(), scrub))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    Ok(command)
}

/// Runs `command` (made by [`command`]) to completion, timeout or cancellation, passing each
/// complete output line to `on_line`. `program` names it in errors.
pub(super) async fn run(
    program: &'static str,
    mut command: Command,
    limits: &Limits,
    cancel: &CancellationToken,
    on_line: &(dyn Fn(Stream, &str) + Send + Sync),
) -> Result<BashOutcome, ToolError> {
    let process_error = |source| ToolError::Process { program, source };
    let mut child = command
        .spawn()
        .map_err(|source| ToolError::Spawn { program, source })?;
    let mut group = Group {
        // The child leads its group, so the group id is its pid.
        pgid: child.id().and_then(|pid| i32::try_from(pid).ok()),
    };
    let stdout = child.stdout.take().expect("stdout is piped");
    let stderr = child.stderr.take().expect("stderr is piped");
    let max = limits.max_output_bytes;
    let mut out = Capture::new(Stream::Stdout);
    let mut err = Capture::new(Stream::Stderr);

    let mut status: Option<ExitStatus> = None;
    let (mut timed_out, mut cancelled) = (false, false);
    let mut read_result = Ok(());
    {
        let reading = async {
            let (a, b) = tokio::join!(
                read_into(stdout, &mut out, max, on_line),
                read_into(stderr, &mut err, max, on_line)
            );
            a.and(b)
        };
        tokio::pin!(reading);
        let deadline = tokio::time::sleep(limits.timeout);
        tokio::pin!(deadline);
        // Armed once the child is gone: reading is given up when it runs out.
        let drain = tokio::time::sleep(Duration::MAX);
        tokio::pin!(drain);
        let (mut read_done, mut draining) = (false, false);
        loop {
            tokio::select! {
                result = &mut reading, if !read_done => {
                    read_done = true;
                    read_result = result;
                }
                exit = child.wait(), if status.is_none() => {
                    status = Some(exit.map_err(process_error)?);
                    // Whatever bash left running in the background goes with it.
                    group.kill();
                    draining = true;
                    drain.as_mut().reset(tokio::time::Instant::now() + DRAIN_GRACE);
                }
                () = cancel.cancelled(), if status.is_none() && !cancelled && !timed_out => {
                    group.kill();
                    cancelled = true;
                }
                () = &mut deadline, if status.is_none() && !cancelled && !timed_out => {
                    group.kill();
                    timed_out = true;
                }
                () = &mut drain, if draining && !read_done => break,
            }
            if read_done && status.is_some() {
                break;
            }
        }
    }
    read_result.map_err(process_error)?;
    out.finish(on_line);
    err.finish(on_line);

    let status = status.expect("the loop ends only once the child is reaped");
    use std::os::unix::process::ExitStatusExt;
    Ok(BashOutcome {
        exit_code: status.code(),
        signal: status.signal(),
        stdout: String::from_utf8_lossy(&out.bytes).into_owned(),
        stderr: String::from_utf8_lossy(&err.bytes).into_owned(),
        truncated: out.truncated || err.truncated,
        timed_out,
        cancelled,
    })
}

/// The child's process group; killed once, at the latest when the run is dropped.
struct Group {
    pgid: Option<i32>,
}

impl Group {
    fn kill(&mut self) {
        if let Some(pgid) = self.pgid.take() {
            // SAFETY: killpg has no memory effects; ESRCH (the group is already empty) is fine.
            unsafe { libc::killpg(pgid, libc::SIGKILL) };
        }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One output stream as captured so far.
struct Capture {
    stream: Stream,
    bytes: Vec<u8>,
    /// Where the line not yet passed to `on_line` starts in `bytes`.
    line_start: usize,
    truncated: bool,
}

impl Capture {
    fn new(stream: Stream) -> Self {
        Self {
            stream,
            bytes: Vec::new(),
            line_start: 0,
            truncated: false,
        }
    }

    /// Keeps what fits under `max` and passes on the lines it completes; the rest is dropped, so
    /// the reader keeps draining the pipe and the child never blocks on a full one.
    fn push(&mut self, chunk: &[u8], max: usize, on_line: &(dyn Fn(Stream, &str) + Send + Sync)) {
        let room = max.saturating_sub(self.bytes.len());
        if chunk.len() > room {
            self.truncated = true;
        }
        let scan_from = self.bytes.len();
        self.bytes
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
        let mut from = scan_from;
        while let Some(offset) = self.bytes[from..].iter().position(|&b| b == b'\n') {
            let end = from + offset;
            emit(self.stream, &self.bytes[self.line_start..end], on_line);
            self.line_start = end + 1;
            from = end + 1;
        }
    }

    /// Passes on a last line without a newline; one cut by the cap is not a line.
    fn finish(&mut self, on_line: &(dyn Fn(Stream, &str) + Send + Sync)) {
        if !self.truncated && self.line_start < self.bytes.len() {
            emit(self.stream, &self.bytes[self.line_start..], on_line);
            self.line_start = self.bytes.len();
        }
    }
}

fn emit(stream: Stream, line: &[u8], on_line: &(dyn Fn(Stream, &str) + Send + Sync)) {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    on_line(stream, &String::from_utf8_lossy(line));
}

async fn read_into(
    mut reader: impl AsyncRead + Unpin,
    capture: &mut Capture,
    max: usize,
    on_line: &(dyn Fn(Stream, &str) + Send + Sync),
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = reader.read(&mut buf).await?;
        if n == 0 {
            return Ok(());
        }
        capture.push(&buf[..n], max, on_line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    fn collect(lines: &Mutex<Vec<String>>) -> impl Fn(Stream, &str) + Send + Sync + '_ {
        move |_, line| lines.lock().unwrap().push(line.to_owned())
    }

    #[test]
    fn lines_are_passed_on_as_they_complete() {
        let lines = Mutex::new(Vec::new());
        let on_line = collect(&lines);
        let mut capture = Capture::new(Stream::Stdout);
        capture.push(b"one\ntw", 100, &on_line);
        assert_eq!(*lines.lock().unwrap(), ["one"]);
        capture.push(b"o\r\nthr", 100, &on_line);
        assert_eq!(*lines.lock().unwrap(), ["one", "two"]);
        capture.push(b"ee \xff", 100, &on_line);
        capture.finish(&on_line);
        assert_eq!(*lines.lock().unwrap(), ["one", "two", "three \u{fffd}"]);
        assert_eq!(capture.bytes, b"one\ntwo\r\nthree \xff");
        assert!(!capture.truncated);
    }

    #[test]
    fn output_past_the_cap_is_dropped_and_marked() {
        let lines = Mutex::new(Vec::new());
        let on_line = collect(&lines);
        let mut capture = Capture::new(Stream::Stderr);
        capture.push(b"12345\n789", 8, &on_line);
        capture.push(b"more\n", 8, &on_line);
        capture.finish(&on_line);
        assert_eq!(capture.bytes, b"12345\n78");
        assert!(capture.truncated);
        assert_eq!(*lines.lock().unwrap(), ["12345"]);
    }

    #[test]
    fn secrets_are_scrubbed_by_name() {
        let vars = [
            ("PATH", "/bin"),
            ("OPENAI_API_KEY", "sk"),
            ("github_token", "ghp"),
            ("Client_Secret", "s"),
            ("TOKEN_COUNT", "3"),
            ("DATABASE_URL", "postgres://"),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let kept = scrub_env(vars, &["DATABASE_URL".into()]);
        let names: Vec<_> = kept.iter().map(|(k, _)| k.to_str().unwrap()).collect();
        assert_eq!(names, ["PATH", "TOKEN_COUNT", "HOME"]);
    }
}
