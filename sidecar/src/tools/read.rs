//! `read_file`: one text file from inside the root, with the size and binary checks that
//! `search` shares.

use std::io::Read;
use std::path::Path;

use super::{ToolError, Workspace};

/// Largest file `read_file` returns and `search` looks into: 1 MiB.
pub const MAX_FILE_BYTES: u64 = 1 << 20;

impl Workspace {
    /// Reads a file (root-relative, or absolute inside the root) as UTF-8 text; invalid UTF-8 is
    /// replaced with U+FFFD, and files with NUL bytes or over [`MAX_FILE_BYTES`] are refused.
    pub fn read_file(&self, path: &str) -> Result<String, ToolError> {
        if path.is_empty() || path.contains('\0') {
            return Err(ToolError::InvalidArgument {
                tool: "read_file",
                message: format!(
                    "{path:?} is not a file path; pass a path relative to the workspace root"
                ),
            });
        }
        let file = self.confine(path)?;
        let bytes = self.read_capped(&file, path)?;
        if is_binary(&bytes) {
            return Err(ToolError::Binary { path: path.into() });
        }
        Ok(match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(err) => String::from_utf8_lossy(err.as_bytes()).into_owned(),
        })
    }
}

impl Workspace {
    /// Reads a regular file of at most [`MAX_FILE_BYTES`]; `shown` is the path as errors print it.
    /// The open is confined and never blocks (see `open.rs`): a FIFO or device is refused.
    pub(super) fn read_capped(&self, file: &Path, shown: &str) -> Result<Vec<u8>, ToolError> {
        let io_error = |source| ToolError::Io {
            path: shown.into(),
            source,
        };
        let mut handle = self.open_inside(file, shown)?;
        let meta = handle.metadata().map_err(io_error)?;
        let too_large = |size| ToolError::TooLarge {
            path: shown.into(),
            size,
        };
        if meta.len() > MAX_FILE_BYTES {
            return Err(too_large(meta.len()));
        }
        // The file may grow between the stat and the read, so the read is capped as well.
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        handle
            .by_ref()
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(io_error)?;
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(too_large(bytes.len() as u64));
        }
        Ok(bytes)
    }
}

/// The same test git and ripgrep use: text never contains NUL.
pub(super) fn is_binary(bytes: &[u8]) -> bool {
    bytes.contains(&0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn workspace() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::new(dir.path()).unwrap();
        (dir, workspace)
    }

    #[test]
    fn reads_text_and_replaces_invalid_utf8() {
        let (dir, ws) = workspace();
        fs::write(dir.path().join("a.txt"), "héllo\n").unwrap();
        fs::write(dir.path().join("latin1.txt"), b"caf\xe9\n").unwrap();
        assert_eq!(ws.read_file("a.txt").unwrap(), "héllo\n");
        assert_eq!(ws.read_file("latin1.txt").unwrap(), "caf\u{fffd}\n");
    }

    #[test]
    fn refuses_files_over_one_mebibyte() {
        let (dir, ws) = workspace();
        fs::write(
            dir.path().join("limit.txt"),
            vec![b'a'; MAX_FILE_BYTES as usize],
        )
        .unwrap();
        assert_eq!(ws.read_file("limit.txt").unwrap().len(), 1 << 20);
        let size = MAX_FILE_BYTES * 32 / 10;
        fs::write(dir.path().join("big.json"), vec![b' '; size as usize]).unwrap();
        let err = ws.read_file("big.json").unwrap_err();
        assert!(matches!(err, ToolError::TooLarge { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "file too large: 3.2 MiB (limit 1 MiB): big.json"
        );
    }

    #[test]
    fn refuses_binary_files() {
        let (dir, ws) = workspace();
        fs::write(
            dir.path().join("image.png"),
            b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
        )
        .unwrap();
        let err = ws.read_file("image.png").unwrap_err();
        assert!(matches!(err, ToolError::Binary { .. }), "{err}");
        assert!(err.to_string().starts_with("binary file: image.png"));
    }

    #[test]
    fn refuses_directories_and_empty_paths() {
        let (dir, ws) = workspace();
        fs::create_dir(dir.path().join("src")).unwrap();
        assert!(matches!(
            ws.read_file("src"),
            Err(ToolError::NotAFile { .. })
        ));
        assert!(matches!(
            ws.read_file(""),
            Err(ToolError::InvalidArgument { .. })
        ));
    }

    #[test]
    fn refuses_paths_outside_the_root() {
        let (_dir, ws) = workspace();
        assert!(matches!(
            ws.read_file("../x"),
            Err(ToolError::Escape { .. })
        ));
        assert!(matches!(
            ws.read_file("/etc/hostname"),
            Err(ToolError::Escape { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_checked_by_where_they_lead() {
        use std::os::unix::fs::symlink;
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "s3cret").unwrap();
        let (dir, ws) = workspace();
        fs::write(dir.path().join("real.txt"), "inside").unwrap();
        symlink(outside.path().join("secret"), dir.path().join("leak")).unwrap();
        symlink(dir.path().join("real.txt"), dir.path().join("alias.txt")).unwrap();
        assert!(matches!(
            ws.read_file("leak"),
            Err(ToolError::Escape { .. })
        ));
        assert_eq!(ws.read_file("alias.txt").unwrap(), "inside");
    }
}
