//! Who is executing a run, and whether that process is still alive.
//!
//! An owner is `pid:<pid>@<hostname>:<starttime>`. The start time (field 22 of `/proc/<pid>/stat`,
//! in clock ticks since boot) makes pid reuse harmless: a new process that got the same pid has a
//! different start time, so it is never mistaken for the owner.

use std::fmt;
use std::sync::OnceLock;

/// How long a running run may go without a heartbeat before its owner counts as gone.
pub const HEARTBEAT_STALE_MS: u64 = 30_000;

/// How often the engine should call `Journal::heartbeat` for each run it executes.
pub const HEARTBEAT_INTERVAL_MS: u64 = 5_000;

/// The process executing a run, as recorded in `runs.owner`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Owner(String);

/// What can be said about an owner's process from this machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessState {
    /// The process exists on this host with the recorded start time.
    Alive,
    /// The process is gone, or its pid now belongs to another process.
    Dead,
    /// Another host, or an owner string this build cannot parse: only the heartbeat can tell.
    Unknown,
}

impl Owner {
    /// The owner string of the current process (computed once).
    pub fn current() -> Owner {
        static CURRENT: OnceLock<Owner> = OnceLock::new();
        CURRENT
            .get_or_init(|| {
                let pid = std::process::id();
                let start = process_start_time(pid).unwrap_or(0);
                Owner::new(pid, &hostname(), start)
            })
            .clone()
    }

    /// Builds an owner from its parts (tests use it to fake other processes).
    pub fn new(pid: u32, host: &str, start_time: u64) -> Owner {
        Owner(format!("pid:{pid}@{host}:{start_time}"))
    }

    /// Wraps an owner string read back from the journal.
    pub fn from_string(s: String) -> Owner {
        Owner(s)
    }

    /// The owner string as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The pid, when the string has the expected shape.
    pub fn pid(&self) -> Option<u32> {
        self.parts().map(|(pid, _, _)| pid)
    }

    /// Splits `pid:<pid>@<host>:<start>`; the host may not contain ':'.
    fn parts(&self) -> Option<(u32, &str, u64)> {
        let rest = self.0.strip_prefix("pid:")?;
        let (pid, rest) = rest.split_once('@')?;
        let (host, start) = rest.rsplit_once(':')?;
        Some((pid.parse().ok()?, host, start.parse().ok()?))
    }

    /// Checks the owner's process on this machine.
    pub fn process_state(&self) -> ProcessState {
        let Some((pid, host, start)) = self.parts() else {
            return ProcessState::Unknown;
        };
        if host != hostname() {
            return ProcessState::Unknown;
        }
        if !process_exists(pid) {
            return ProcessState::Dead;
        }
        // A start time of 0 means it could not be read when the owner was recorded; then the pid
        // alone has to do.
        match process_start_time(pid) {
            Some(now) if start != 0 && now != start => ProcessState::Dead,
            _ => ProcessState::Alive,
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// True when a `running` run's owner may still be executing it, so nobody else may claim it:
/// the process is not known to be dead and its heartbeat is recent.
pub fn holds_run(owner: Option<&Owner>, heartbeat_ms: u64, now_ms: u64) -> bool {
    let recent = now_ms.saturating_sub(heartbeat_ms) < HEARTBEAT_STALE_MS;
    match owner.map(Owner::process_state) {
        Some(ProcessState::Alive) | Some(ProcessState::Unknown) => recent,
        Some(ProcessState::Dead) => false,
        // No owner recorded: only a recent heartbeat keeps it.
        None => recent,
    }
}

/// True when a `running` run was abandoned and should become `interrupted`. Stricter than
/// `!holds_run`: a process seen alive on this host keeps its run even with a stale heartbeat
/// (it may be stalled, not dead), so a start-up sweep never relabels a run that is still going.
pub fn abandoned(owner: Option<&Owner>, heartbeat_ms: u64, now_ms: u64) -> bool {
    let stale = now_ms.saturating_sub(heartbeat_ms) >= HEARTBEAT_STALE_MS;
    match owner.map(Owner::process_state) {
        Some(ProcessState::Alive) => false,
        Some(ProcessState::Dead) => true,
        Some(ProcessState::Unknown) | None => stale,
    }
}

fn hostname() -> String {
    static HOST: OnceLock<String> = OnceLock::new();
    HOST.get_or_init(|| {
        let mut buf = [0u8; 256];
        // SAFETY: the buffer is valid for its length; gethostname NUL-terminates on success
        // (and we stop at the buffer end if it truncates without one).
        let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
        if rc != 0 {
            return "localhost".to_string();
        }
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        // ':' separates the start time, so it must not appear in the host part.
        String::from_utf8_lossy(&buf[..end]).replace(':', "_")
    })
    .clone()
}

#[cfg(target_os = "linux")]
fn process_exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

#[cfg(not(target_os = "linux"))]
fn process_exists(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks for existence and permission; nothing is delivered.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Field 22 of `/proc/<pid>/stat`: the start time in clock ticks since boot.
#[cfg(target_os = "linux")]
pub(crate) fn process_start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn process_start_time(_pid: u32) -> Option<u64> {
    None
}

/// Field 2 (`comm`) is parenthesised and may hold spaces and ')', so fields are counted from
/// the last ')': the next field is field 3, which makes field 22 the 20th after it.
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
fn parse_start_time(stat: &str) -> Option<u64> {
    let after = &stat[stat.rfind(')')? + 1..];
    after.split_whitespace().nth(22 - 3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_start_time_despite_odd_comm() {
        let stat = "4242 (we ird) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 \
                    1000 10 18446744073709551615";
        assert_eq!(parse_start_time(stat), Some(987654));
    }

    #[test]
    fn owner_round_trips_its_parts() {
        let o = Owner::new(77, "box", 12345);
        assert_eq!(o.as_str(), "pid:77@box:12345");
        assert_eq!(o.parts(), Some((77, "box", 12345)));
        assert_eq!(
            Owner::from_string("garbage".into()).process_state(),
            ProcessState::Unknown
        );
    }

    #[test]
    fn current_process_is_alive_and_a_reused_pid_is_not() {
        let me = Owner::current();
        assert_eq!(me.pid(), Some(std::process::id()));
        assert_eq!(me.process_state(), ProcessState::Alive);
        if cfg!(target_os = "linux") {
            let start = process_start_time(std::process::id()).unwrap();
            let impostor = Owner::new(std::process::id(), &hostname(), start + 1);
            assert_eq!(impostor.process_state(), ProcessState::Dead);
        }
    }

    #[test]
    fn liveness_rules() {
        let now = 1_000_000;
        let me = Owner::current();
        let other_host = Owner::new(1, "some-other-host", 5);
        assert!(holds_run(Some(&me), now - 1_000, now));
        assert!(!holds_run(Some(&me), now - HEARTBEAT_STALE_MS, now));
        assert!(!abandoned(Some(&me), now - HEARTBEAT_STALE_MS, now));
        assert!(holds_run(Some(&other_host), now, now));
        assert!(abandoned(Some(&other_host), now - HEARTBEAT_STALE_MS, now));
        assert!(abandoned(None, 0, now));
    }
}
