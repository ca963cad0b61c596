//! The one error type of the workspace tools; its messages reach scripts and models verbatim.

use std::net::IpAddr;
use std::time::Duration;

use super::git::GIT_SUBCOMMANDS;
use super::read::MAX_FILE_BYTES;
use super::write::MAX_WRITE_BYTES;

/// Why a tool call failed, worded for the script author (or model) who made it.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The workspace root could not be opened.
    #[error("cannot use {path} as the workspace root: {reason}")]
    Root { path: String, reason: String },
    /// A path resolves (lexically or through a symlink) outside the root.
    #[error("path escapes the workspace root: {path}")]
    Escape { path: String },
    /// Nothing exists at the path.
    #[error("no such file: {path} (paths are relative to the workspace root; glob lists files)")]
    NotFound { path: String },
    /// The path exists but is a directory or a special file.
    #[error("not a regular file: {path} (to list a directory, use glob(\"{path}/**/*\"))")]
    NotAFile { path: String },
    /// The file is over [`MAX_FILE_BYTES`].
    #[error("file too large: {} (limit 1 MiB): {path}", mebibytes(*size))]
    TooLarge { path: String, size: u64 },
    /// The file holds NUL bytes, so it is not text.
    #[error("binary file: {path} contains NUL bytes, and read_file returns text only")]
    Binary { path: String },
    /// A glob pattern did not parse or is not allowed.
    #[error("invalid glob \"{pattern}\": {reason}")]
    InvalidGlob { pattern: String, reason: String },
    /// A regex did not parse or compiles too large.
    #[error("invalid regex \"{pattern}\": {reason}")]
    InvalidRegex { pattern: String, reason: String },
    /// A tool was called with missing or mistyped arguments.
    #[error("{tool}: {message}")]
    InvalidArgument { tool: &'static str, message: String },
    /// A tool that needs the engine (approvals, the network) was called outside a run.
    #[error(
        "`{tool}` needs approval, and this run has no approval channel; it is denied by the default policy"
    )]
    Gated { tool: &'static str },
    /// A tool call did not finish within its deadline.
    #[error("{tool}: no answer within {ms} ms ([limits] tool_timeout_ms)")]
    Timeout { tool: &'static str, ms: u64 },
    /// A tool that changes the machine was running when the run stopped, and its end was never
    /// recorded: it is not run again.
    #[error("{tool}: {}", crate::engine::INTERRUPTED)]
    Interrupted { tool: &'static str },
    /// The user, the policy or a timeout refused a tool that changes the machine.
    #[error("{tool}: {reason}")]
    Denied { tool: &'static str, reason: String },
    /// No tool has this name.
    #[error("unknown tool `{name}`: the tools are {}", super::catalog::tool_list())]
    UnknownTool { name: String },
    /// `web_fetch` will not fetch this URL: it does not parse, is not http(s), or carries
    /// credentials.
    #[error("web_fetch cannot fetch {url}: {reason}")]
    WebUrl { url: String, reason: String },
    /// The host is, or resolves to, an address outside the public internet.
    #[error(
        "web_fetch refused {host}:{port}: its address {address} is {kind}; to allow it, set \
         `[tools.web] allow_private = true` or `allow = [\"{host}:{port}\"]` in odw.toml"
    )]
    WebBlocked {
        host: String,
        port: u16,
        address: IpAddr,
        kind: &'static str,
    },
    /// The redirect chain is longer than the limit (or loops).
    #[error("web_fetch gave up at {url}: more than {max} redirects (a redirect loop?)")]
    WebRedirects { url: String, max: usize },
    /// The whole fetch, redirects and body included, ran past its deadline.
    #[error(
        "web_fetch timed out after {} s fetching {url}: the server is slow or not answering; try again later or another source",
        timeout.as_secs_f64()
    )]
    WebTimeout { url: String, timeout: Duration },
    /// The connection or the HTTP exchange failed.
    #[error("web_fetch could not fetch {url}: {reason}")]
    WebRequest { url: String, reason: String },
    /// The operating system refused a read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// `write_file` content over [`MAX_WRITE_BYTES`].
    #[error("content too large to write: {} (limit 10 MiB): {path}", mebibytes(*size as u64))]
    WriteTooLarge { path: String, size: usize },
    /// `write_file` was given a directory.
    #[error("cannot write {path}: it is a directory; give the path of a file")]
    IsDirectory { path: String },
    /// `write_file` was given a FIFO, socket or device, which a rename would silently replace.
    #[error("cannot write {path}: it is a FIFO, socket or device, not a regular file")]
    SpecialFile { path: String },
    /// `write_file` was given a symlink to nothing; which file to create would be a guess.
    #[error(
        "cannot write {path}: it is a symbolic link to a file that does not exist; write to the path it should point at instead"
    )]
    DanglingSymlink { path: String },
    /// A directory on the way to the file is a file.
    #[error("cannot write {path}: {parent} is a file, not a directory")]
    ParentNotDirectory { path: String, parent: String },
    /// The operating system refused a write.
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    /// A program (bash, git) could not be started.
    #[error("cannot start {program}: {source} (is it installed and on PATH?)")]
    Spawn {
        program: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// Reading a child's output or waiting for it failed.
    #[error("{program} failed while running: {source}")]
    Process {
        program: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// A bash command matched an entry of the blocked commands.
    #[error(
        "command blocked: `{command}` matches \"{entry}\" in the blocked commands; to allow it, remove \"{entry}\" from [tools.bash] blocked_commands in odw.toml"
    )]
    Blocked { entry: String, command: String },
    /// A git subcommand outside the git tool's allowlist.
    #[error("git {subcommand} is not allowed: the git tool runs {}; use run_bash for anything else", GIT_SUBCOMMANDS.join(", "))]
    GitSubcommand { subcommand: String },
    /// A git option the git tool refuses.
    #[error("git option {option} is not allowed: {reason}")]
    GitOption {
        option: String,
        reason: &'static str,
    },
    /// The workspace is not inside a git work tree.
    #[error(
        "{path} is not inside a git work tree; run `git init` there, or use a workspace that is one"
    )]
    NotARepository { path: String },
    /// A git command the tools run on their own behalf failed.
    #[error("`git {command}` failed: {message}")]
    GitFailed { command: String, message: String },
}

const MIB: u64 = 1 << 20;

// The `TooLarge` message spells the limit as "1 MiB"; this keeps it honest.
const _: () = assert!(MAX_FILE_BYTES == MIB);
// And `WriteTooLarge` spells its limit as "10 MiB".
const _: () = assert!(MAX_WRITE_BYTES as u64 == 10 * MIB);

/// `size` in MiB with one decimal, rounded up so that anything over the limit never reads "1.0".
fn mebibytes(size: u64) -> String {
    let tenths = (u128::from(size) * 10).div_ceil(u128::from(MIB));
    format!("{}.{} MiB", tenths / 10, tenths % 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_up_to_a_tenth() {
        assert_eq!(mebibytes(MIB + 1), "1.1 MiB");
        assert_eq!(mebibytes(MIB * 32 / 10), "3.2 MiB");
        assert_eq!(mebibytes(MIB * 2), "2.0 MiB");
    }

    #[test]
    fn blocked_message_says_how_to_allow() {
        let message = ToolError::WebBlocked {
            host: "localhost".into(),
            port: 8080,
            address: IpAddr::from([127, 0, 0, 1]),
            kind: "loopback",
        }
        .to_string();
        assert_eq!(
            message,
            "web_fetch refused localhost:8080: its address 127.0.0.1 is loopback; to allow it, set \
             `[tools.web] allow_private = true` or `allow = [\"localhost:8080\"]` in odw.toml"
        );
    }

    #[test]
    fn gated_message_names_the_tool() {
        let message = ToolError::Gated { tool: "write_file" }.to_string();
        assert_eq!(
            message,
            "`write_file` needs approval, and this run has no approval channel; it is denied by the default policy"
        );
    }
}
