//! `write_file`: creating or replacing one file inside the root.
//!
//! Readers (the user's editor, a build running beside the agent) must never see half a file, so
//! content goes to a temporary file in the same directory, is fsynced and renamed over the target.
//! Confinement is decided once, when the parent directory is opened (`openat2` with
//! `RESOLVE_BENEATH`, or opened first and then checked, as reads do); everything after that —
//! creating missing directories, the temporary file, the rename — is relative to that descriptor,
//! so a directory swapped for a symlink mid-write cannot send the bytes outside the root.

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use serde::Serialize;

use super::open::open_beneath;
use super::{ToolError, Workspace};

/// Largest content `write_file` accepts: 10 MiB.
pub const MAX_WRITE_BYTES: usize = 10 << 20;

/// What `write_file` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Written {
    /// The file written, relative to the root (a symlink's target when the path was a symlink).
    pub path: String,
    /// Bytes written.
    pub bytes: usize,
    /// Whether the file is new.
    pub created: bool,
}

impl Workspace {
    /// Writes `content` to `path` (root-relative, or absolute inside the root) atomically,
    /// creating missing parent directories and keeping a replaced file's permissions.
    pub fn write_file(&self, path: &str, content: &str) -> Result<Written, ToolError> {
        if path.is_empty() || path.contains('\0') || path.ends_with('/') {
            return Err(ToolError::InvalidArgument {
                tool: "write_file",
                message: format!(
                    "{path:?} is not a file path; pass a path relative to the workspace root"
                ),
            });
        }
        if content.len() > MAX_WRITE_BYTES {
            return Err(ToolError::WriteTooLarge {
                path: path.into(),
                size: content.len(),
            });
        }
        let relative = self.lexically_inside(path)?;
        self.write_relative(path, &relative, content.as_bytes(), true)
    }

    fn write_relative(
        &self,
        shown: &str,
        relative: &Path,
        content: &[u8],
        follow_symlink: bool,
    ) -> Result<Written, ToolError> {
        let write_error = |source| ToolError::Write {
            path: shown.into(),
            source,
        };
        let (Some(parent), Some(name)) = (relative.parent(), relative.file_name()) else {
            // Only the root itself has no file name once `..` and `.` are resolved.
            return Err(ToolError::IsDirectory { path: shown.into() });
        };
        let dir = self.open_parent(shown, parent)?;
        let name = c_name(name)?;

        let mode = match stat_at(&dir, &name) {
            Ok(stat) => match stat.st_mode & libc::S_IFMT {
                libc::S_IFREG => Some(stat.st_mode & 0o7777),
                libc::S_IFDIR => return Err(ToolError::IsDirectory { path: shown.into() }),
                libc::S_IFLNK if follow_symlink => {
                    return self.write_through_symlink(shown, relative, content);
                }
                libc::S_IFLNK => {
                    return Err(write_error(io::Error::other(
                        "the file was replaced by a symbolic link while being written; try again",
                    )));
                }
                _ => return Err(ToolError::SpecialFile { path: shown.into() }),
            },
            Err(err) if err.raw_os_error() == Some(libc::ENOENT) => None,
            Err(err) => return Err(write_error(err)),
        };

        let (mut temp, temp_name) = create_temp(&dir, mode).map_err(write_error)?;
        let filled = (|| {
            if let Some(mode) = mode {
                temp.set_permissions(std::fs::Permissions::from_mode(mode))?;
            }
            temp.write_all(content)?;
            temp.sync_all()?;
            rename_at(&dir, &temp_name, &name)
        })();
        if let Err(err) = filled {
            let _ = unlink_at(&dir, &temp_name);
            return Err(match err.raw_os_error() {
                // The target turned into a directory after the check.
                Some(libc::EISDIR | libc::ENOTEMPTY | libc::EEXIST) => {
                    ToolError::IsDirectory { path: shown.into() }
                }
                _ => write_error(err),
            });
        }
        // The rename is durable only once the directory entry is; some filesystems cannot fsync
        // a directory, and the file itself is already safe there.
        if let Err(err) = dir.sync_all()
            && !matches!(err.raw_os_error(), Some(libc::EINVAL | libc::ENOTSUP))
        {
            return Err(write_error(err));
        }
        Ok(Written {
            path: relative.to_string_lossy().into_owned(),
            bytes: content.len(),
            created: mode.is_none(),
        })
    }

    /// Writes to where the symlink at `relative` leads, if that is inside the root: replacing the
    /// link with a file would surprise whoever made it.
    fn write_through_symlink(
        &self,
        shown: &str,
        relative: &Path,
        content: &[u8],
    ) -> Result<Written, ToolError> {
        let link = relative.to_string_lossy();
        let real = match self.confine(&link) {
            Ok(real) => real,
            Err(ToolError::NotFound { .. }) => {
                return Err(ToolError::DanglingSymlink { path: shown.into() });
            }
            Err(ToolError::Escape { .. }) => return Err(ToolError::Escape { path: shown.into() }),
            Err(other) => return Err(other),
        };
        let target = real
            .strip_prefix(self.root())
            .map_err(|_| ToolError::Escape { path: shown.into() })?;
        self.write_relative(shown, target, content, false)
    }

    /// Opens the directory `parent` (root-relative) confined, creating what is missing of it.
    fn open_parent(&self, shown: &str, parent: &Path) -> Result<File, ToolError> {
        match self.open_dir(parent) {
            Ok(dir) => return Ok(dir),
            Err(DirError::Missing | DirError::NotADirectory) => {}
            Err(other) => return Err(other.into_tool_error(shown, parent)),
        }
        // Walk down from the root, so that each directory is created inside one already opened
        // confined, and an error names the component at fault.
        let mut dir = self
            .open_dir(Path::new(""))
            .map_err(|err| err.into_tool_error(shown, Path::new("")))?;
        let mut prefix = PathBuf::new();
        for component in parent.components() {
            let Component::Normal(name) = component else {
                continue;
            };
            prefix.push(name);
            dir = match self.open_dir(&prefix) {
                Ok(next) => next,
                Err(DirError::Missing) => {
                    let c_name = c_name(name)?;
                    match mkdir_at(&dir, &c_name) {
                        Ok(()) => {}
                        Err(err) if err.raw_os_error() == Some(libc::EEXIST) => {}
                        Err(source) => {
                            return Err(ToolError::Write {
                                path: shown.into(),
                                source,
                            });
                        }
                    }
                    match self.open_dir(&prefix) {
                        Ok(next) => next,
                        // Something is there yet cannot be opened: a symlink to nothing.
                        Err(DirError::Missing) => {
                            return Err(ToolError::Write {
                                path: shown.into(),
                                source: io::Error::other(format!(
                                    "{} cannot be opened as a directory: a symbolic link to nothing, or it changed while being written",
                                    prefix.display()
                                )),
                            });
                        }
                        Err(other) => return Err(other.into_tool_error(shown, &prefix)),
                    }
                }
                Err(other) => return Err(other.into_tool_error(shown, &prefix)),
            };
        }
        Ok(dir)
    }

    /// Opens the directory at `relative` (empty for the root) without leaving the root.
    fn open_dir(&self, relative: &Path) -> Result<File, DirError> {
        let relative = if relative.as_os_str().is_empty() {
            Path::new(".")
        } else {
            relative
        };
        match open_beneath(self.root(), relative, DIR_FLAGS) {
            Ok(dir) => Ok(dir),
            // An absolute symlink, or one leaving the root, or no openat2: open, then check.
            Err(err)
                if matches!(
                    err.raw_os_error(),
                    Some(libc::EXDEV | libc::ENOSYS | libc::EPERM)
                ) =>
            {
                self.open_dir_then_check(relative)
            }
            Err(err) => Err(DirError::from_io(err)),
        }
    }

    fn open_dir_then_check(&self, relative: &Path) -> Result<File, DirError> {
        use std::os::unix::fs::OpenOptionsExt;
        let dir = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(self.root().join(relative))
            .map_err(DirError::from_io)?;
        let real = std::fs::read_link(format!("/proc/self/fd/{}", dir.as_raw_fd()))
            .map_err(DirError::Io)?;
        if real.starts_with(self.root()) {
            Ok(dir)
        } else {
            Err(DirError::Escape)
        }
    }
}

const DIR_FLAGS: libc::c_int = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;

/// Why a directory on the way could not be opened.
enum DirError {
    Missing,
    NotADirectory,
    Escape,
    Io(io::Error),
}

impl DirError {
    fn from_io(err: io::Error) -> Self {
        match err.raw_os_error() {
            Some(libc::ENOENT) => Self::Missing,
            Some(libc::ENOTDIR) => Self::NotADirectory,
            _ => Self::Io(err),
        }
    }

    fn into_tool_error(self, shown: &str, dir: &Path) -> ToolError {
        match self {
            Self::Escape => ToolError::Escape { path: shown.into() },
            Self::NotADirectory => ToolError::ParentNotDirectory {
                path: shown.into(),
                parent: dir.display().to_string(),
            },
            Self::Missing => ToolError::Write {
                path: shown.into(),
                source: io::Error::from(io::ErrorKind::NotFound),
            },
            Self::Io(source) => ToolError::Write {
                path: shown.into(),
                source,
            },
        }
    }
}

fn c_name(name: &OsStr) -> Result<CString, ToolError> {
    // The path was checked for NUL bytes before it got here.
    CString::new(name.as_bytes()).map_err(|_| ToolError::InvalidArgument {
        tool: "write_file",
        message: "the path contains a NUL byte".into(),
    })
}

fn cvt(result: libc::c_int) -> io::Result<libc::c_int> {
    if result < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(result)
    }
}

/// `lstat` of `name` inside `dir`.
fn stat_at(dir: &File, name: &CString) -> io::Result<libc::stat> {
    // SAFETY: stat is plain integers, filled in by fstatat before it is read.
    let mut stat: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid directory descriptor, a NUL-terminated name and a stat we own.
    cvt(unsafe {
        libc::fstatat(
            dir.as_raw_fd(),
            name.as_ptr(),
            &mut stat,
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })?;
    Ok(stat)
}

/// Creates a new, uniquely named file in `dir`. A file that replaces another starts private and
/// gets the other's mode before any byte is written; a new one gets the usual `0666 & !umask`.
fn create_temp(dir: &File, replaces: Option<libc::mode_t>) -> io::Result<(File, CString)> {
    let mode: libc::mode_t = if replaces.is_some() { 0o600 } else { 0o666 };
    let flags = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    let mut attempts = 0;
    loop {
        let name = CString::new(format!(".odw-write-{:016x}.tmp", rand::random::<u64>()))
            .expect("no NUL in a formatted name");
        // SAFETY: a valid directory descriptor and NUL-terminated name; O_CREAT takes the mode.
        let fd = unsafe {
            libc::openat(
                dir.as_raw_fd(),
                name.as_ptr(),
                flags,
                libc::c_uint::from(mode),
            )
        };
        if fd >= 0 {
            // SAFETY: a fresh descriptor that nothing else owns.
            return Ok((unsafe { File::from_raw_fd(fd) }, name));
        }
        let err = io::Error::last_os_error();
        attempts += 1;
        if err.raw_os_error() != Some(libc::EEXIST) || attempts >= 8 {
            return Err(err);
        }
    }
}

fn rename_at(dir: &File, from: &CString, to: &CString) -> io::Result<()> {
    let fd = dir.as_raw_fd();
    // SAFETY: a valid directory descriptor and NUL-terminated names.
    cvt(unsafe { libc::renameat(fd, from.as_ptr(), fd, to.as_ptr()) }).map(drop)
}

fn unlink_at(dir: &File, name: &CString) -> io::Result<()> {
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    cvt(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), 0) }).map(drop)
}

fn mkdir_at(dir: &File, name: &CString) -> io::Result<()> {
    // SAFETY: a valid directory descriptor and a NUL-terminated name.
    cvt(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), 0o777) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn workspace() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        let workspace = Workspace::new(dir.path()).unwrap();
        (dir, workspace)
    }

    /// Every entry of `dir`, so that a test can see no temporary file was left behind.
    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn creates_a_new_file() {
        let (dir, ws) = workspace();
        let written = ws.write_file("notes.md", "héllo\n").unwrap();
        assert_eq!(
            written,
            Written {
                path: "notes.md".into(),
                bytes: 7,
                created: true
            }
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("notes.md")).unwrap(),
            "héllo\n"
        );
        assert_eq!(entries(dir.path()), ["notes.md"]);
        // A new file gets the usual mode: readable, never executable.
        let new_mode = mode(&dir.path().join("notes.md"));
        assert_eq!(new_mode & 0o111, 0);
        assert_eq!(new_mode & 0o600, 0o600);
    }

    #[test]
    fn replaces_a_file_and_keeps_its_permissions() {
        let (dir, ws) = workspace();
        let script = dir.path().join("run.sh");
        fs::write(&script, "old contents that are longer\n").unwrap();
        fs::set_permissions(&script, fs::Permissions::from_mode(0o750)).unwrap();
        let written = ws.write_file("./run.sh", "#!/bin/sh\n").unwrap();
        assert!(!written.created);
        assert_eq!(written.path, "run.sh");
        assert_eq!(written.bytes, 10);
        assert_eq!(fs::read_to_string(&script).unwrap(), "#!/bin/sh\n");
        assert_eq!(mode(&script), 0o750);
        assert_eq!(entries(dir.path()), ["run.sh"]);
        // Read-only files are replaced too (the directory decides), and stay read-only.
        fs::set_permissions(&script, fs::Permissions::from_mode(0o444)).unwrap();
        ws.write_file("run.sh", "echo hi\n").unwrap();
        assert_eq!(fs::read_to_string(&script).unwrap(), "echo hi\n");
        assert_eq!(mode(&script), 0o444);
    }

    #[test]
    fn creates_missing_parent_directories() {
        let (dir, ws) = workspace();
        fs::create_dir(dir.path().join("src")).unwrap();
        let written = ws.write_file("src/deep/er/mod.rs", "").unwrap();
        assert_eq!(written.path, "src/deep/er/mod.rs");
        assert!(written.created);
        assert_eq!(written.bytes, 0);
        assert!(dir.path().join("src/deep/er/mod.rs").is_file());
    }

    #[test]
    fn absolute_paths_inside_the_root_are_written() {
        let (dir, ws) = workspace();
        let absolute = ws.root().join("a/b.txt");
        let written = ws.write_file(absolute.to_str().unwrap(), "x").unwrap();
        assert_eq!(written.path, "a/b.txt");
        assert_eq!(fs::read_to_string(dir.path().join("a/b.txt")).unwrap(), "x");
        // Spelled through a symlinked root, as a user's shell would.
        let links = tempfile::tempdir().unwrap();
        let via = links.path().join("checkout");
        symlink(dir.path(), &via).unwrap();
        let through = Workspace::new(&via).unwrap();
        let written = through
            .write_file(via.join("c.txt").to_str().unwrap(), "y")
            .unwrap();
        assert_eq!(written.path, "c.txt");
        assert_eq!(fs::read_to_string(dir.path().join("c.txt")).unwrap(), "y");
    }

    #[test]
    fn paths_outside_the_root_are_refused() {
        let (dir, ws) = workspace();
        let outside = tempfile::tempdir().unwrap();
        let escape = |path: &str| matches!(ws.write_file(path, "x"), Err(ToolError::Escape { .. }));
        assert!(escape("../x"));
        assert!(escape("src/../../x"));
        let absolute = outside.path().join("x");
        assert!(escape(absolute.to_str().unwrap()));
        assert!(entries(outside.path()).is_empty());
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn symlinked_directories_leading_out_are_refused() {
        let (dir, ws) = workspace();
        let outside = tempfile::tempdir().unwrap();
        symlink(outside.path(), dir.path().join("out")).unwrap();
        // Relative links that climb out are refused the same way.
        symlink("../../..", dir.path().join("up")).unwrap();
        for path in ["out/x.txt", "out/new/dir/x.txt", "up/x.txt"] {
            let err = ws.write_file(path, "x").unwrap_err();
            assert!(matches!(err, ToolError::Escape { .. }), "{path}: {err}");
        }
        assert!(entries(outside.path()).is_empty());
        assert_eq!(entries(dir.path()), ["out", "up"]);
    }

    #[test]
    fn symlinked_directories_inside_are_followed() {
        let (dir, ws) = workspace();
        fs::create_dir(dir.path().join("src")).unwrap();
        symlink("src", dir.path().join("code")).unwrap();
        // Absolute links back into the root take the open-then-check path.
        symlink(ws.root().join("src"), dir.path().join("abs")).unwrap();
        ws.write_file("code/a.rs", "a").unwrap();
        ws.write_file("abs/b.rs", "b").unwrap();
        ws.write_file("abs/new/c.rs", "c").unwrap();
        assert_eq!(
            fs::read_to_string(dir.path().join("src/a.rs")).unwrap(),
            "a"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("src/b.rs")).unwrap(),
            "b"
        );
        assert_eq!(
            fs::read_to_string(dir.path().join("src/new/c.rs")).unwrap(),
            "c"
        );
    }

    #[test]
    fn a_symlinked_file_is_written_through_when_it_stays_inside() {
        let (dir, ws) = workspace();
        fs::create_dir(dir.path().join("src")).unwrap();
        fs::write(dir.path().join("src/real.txt"), "old").unwrap();
        symlink("src/real.txt", dir.path().join("alias.txt")).unwrap();
        let written = ws.write_file("alias.txt", "new").unwrap();
        assert_eq!(written.path, "src/real.txt");
        assert!(!written.created);
        assert_eq!(
            fs::read_to_string(dir.path().join("src/real.txt")).unwrap(),
            "new"
        );
        assert!(
            fs::symlink_metadata(dir.path().join("alias.txt"))
                .unwrap()
                .is_symlink()
        );
    }

    #[test]
    fn a_symlinked_file_leading_out_or_nowhere_is_refused() {
        let (dir, ws) = workspace();
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "s3cret").unwrap();
        symlink(outside.path().join("secret"), dir.path().join("leak")).unwrap();
        symlink("missing.txt", dir.path().join("dangling")).unwrap();
        let err = ws.write_file("leak", "x").unwrap_err();
        assert!(matches!(err, ToolError::Escape { .. }), "{err}");
        assert_eq!(
            fs::read_to_string(outside.path().join("secret")).unwrap(),
            "s3cret"
        );
        let err = ws.write_file("dangling", "x").unwrap_err();
        assert!(matches!(err, ToolError::DanglingSymlink { .. }), "{err}");
        assert!(
            err.to_string()
                .starts_with("cannot write dangling: it is a symbolic link")
        );
        assert_eq!(entries(dir.path()), ["dangling", "leak"]);
    }

    #[test]
    fn directories_and_special_files_are_refused() {
        let (dir, ws) = workspace();
        fs::create_dir(dir.path().join("src")).unwrap();
        for path in ["src", ".", "src/.."] {
            let err = ws.write_file(path, "x").unwrap_err();
            assert!(
                matches!(err, ToolError::IsDirectory { .. }),
                "{path}: {err}"
            );
        }
        assert_eq!(
            ws.write_file("src", "x").unwrap_err().to_string(),
            "cannot write src: it is a directory; give the path of a file"
        );
        let fifo = std::ffi::CString::new(dir.path().join("pipe").to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let err = ws.write_file("pipe", "x").unwrap_err();
        assert!(matches!(err, ToolError::SpecialFile { .. }), "{err}");
        for path in ["", "src/", "a\0b"] {
            let err = ws.write_file(path, "x").unwrap_err();
            assert!(
                matches!(err, ToolError::InvalidArgument { .. }),
                "{path:?}: {err}"
            );
        }
        assert_eq!(entries(dir.path()), ["pipe", "src"]);
    }

    #[test]
    fn a_file_in_the_way_of_a_directory_is_named() {
        let (dir, ws) = workspace();
        fs::create_dir(dir.path().join("src")).unwrap();
        fs::write(dir.path().join("src/a.txt"), "").unwrap();
        let err = ws.write_file("src/a.txt/b/c.txt", "x").unwrap_err();
        assert!(matches!(err, ToolError::ParentNotDirectory { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "cannot write src/a.txt/b/c.txt: src/a.txt is a file, not a directory"
        );
    }

    #[test]
    fn content_over_ten_mebibytes_is_refused() {
        let (dir, ws) = workspace();
        let limit = "a".repeat(MAX_WRITE_BYTES);
        assert_eq!(
            ws.write_file("limit.txt", &limit).unwrap().bytes,
            MAX_WRITE_BYTES
        );
        let over = "a".repeat(MAX_WRITE_BYTES + 1);
        let err = ws.write_file("over.txt", &over).unwrap_err();
        assert!(matches!(err, ToolError::WriteTooLarge { .. }), "{err}");
        assert_eq!(
            err.to_string(),
            "content too large to write: 10.1 MiB (limit 10 MiB): over.txt"
        );
        assert_eq!(entries(dir.path()), ["limit.txt"]);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let (dir, ws) = workspace();
        fs::create_dir(dir.path().join("ro")).unwrap();
        fs::write(dir.path().join("ro/a.txt"), "old").unwrap();
        fs::set_permissions(dir.path().join("ro"), fs::Permissions::from_mode(0o555)).unwrap();
        let result = ws.write_file("ro/a.txt", "new");
        fs::set_permissions(dir.path().join("ro"), fs::Permissions::from_mode(0o755)).unwrap();
        // Root ignores directory permissions; the point then is only that nothing is left over.
        if let Err(err) = result {
            assert!(matches!(err, ToolError::Write { .. }), "{err}");
            assert!(
                err.to_string().starts_with("cannot write ro/a.txt: "),
                "{err}"
            );
            assert_eq!(
                fs::read_to_string(dir.path().join("ro/a.txt")).unwrap(),
                "old"
            );
        }
        assert_eq!(entries(&dir.path().join("ro")), ["a.txt"]);
    }

    #[test]
    fn a_directory_swapped_for_a_symlink_during_writes_never_escapes() {
        let outside = tempfile::tempdir().unwrap();
        let (dir, ws) = workspace();
        let sub = dir.path().join("sub");
        fs::create_dir(&sub).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let swapper = {
            let (stop, sub, out) = (stop.clone(), sub.clone(), outside.path().to_path_buf());
            std::thread::spawn(move || {
                let aside = sub.with_extension("aside");
                while !stop.load(Ordering::Relaxed) {
                    let _ = fs::rename(&sub, &aside);
                    let _ = symlink(&out, &sub);
                    let _ = fs::remove_file(&sub);
                    let _ = fs::rename(&aside, &sub);
                    // Leave the real directory in place for a moment now and then, or on a busy
                    // machine no write may ever find it there.
                    std::thread::sleep(std::time::Duration::from_micros(20));
                }
            })
        };
        let mut written = 0;
        let mut refusals = std::collections::BTreeMap::new();
        // On a busy machine the swapper can be descheduled with `sub` a symlink for longer than
        // a thousand writes take, so go on (for a while) until one has found the directory.
        let started = std::time::Instant::now();
        let mut i = 0;
        while i < 1_000 || (written == 0 && started.elapsed() < std::time::Duration::from_secs(20))
        {
            i += 1;
            match ws.write_file("sub/f", &format!("{i}")) {
                Ok(_) => written += 1,
                Err(
                    e @ (ToolError::Escape { .. }
                    | ToolError::Write { .. }
                    | ToolError::IsDirectory { .. }),
                ) => {
                    *refusals.entry(e.to_string()).or_insert(0) += 1;
                }
                Err(e) => panic!("{e}"),
            }
            assert!(
                entries(outside.path()).is_empty(),
                "wrote outside the workspace"
            );
        }
        stop.store(true, Ordering::Relaxed);
        swapper.join().unwrap();
        assert!(written > 0, "the file was never written: {refusals:?}");
    }
}
