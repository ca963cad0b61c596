//! The one error type of the workspace tools; its messages reach scripts and models verbatim.

use super::read::MAX_FILE_BYTES;

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
    /// A tool that needs approval was called in a run that cannot ask for it.
    #[error(
        "`{tool}` needs approval, and this run has no approval channel; it is denied by the default policy"
    )]
    Gated { tool: &'static str },
    /// No tool has this name.
    #[error("unknown tool `{name}`: the tools are {}", super::dispatch::TOOL_NAMES.join(", "))]
    UnknownTool { name: String },
    /// The operating system refused a read.
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

const MIB: u64 = 1 << 20;

// The `TooLarge` message spells the limit as "1 MiB"; this keeps it honest.
const _: () = assert!(MAX_FILE_BYTES == MIB);

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
    fn gated_message_names_the_tool() {
        let message = ToolError::Gated { tool: "write_file" }.to_string();
        assert_eq!(
            message,
            "`write_file` needs approval, and this run has no approval channel; it is denied by the default policy"
        );
    }
}
