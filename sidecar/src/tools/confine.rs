//! Confinement: turning a script-supplied path into a file path that is inside the root.

use std::io;
use std::path::{Component, Path, PathBuf};

use super::{ToolError, Workspace};

impl Workspace {
    /// Resolves `path` (root-relative, or absolute inside the root) to its canonical location,
    /// refusing anything that leaves the root lexically (`..`) or through a symlink.
    pub(super) fn confine(&self, path: &str) -> Result<PathBuf, ToolError> {
        let escape = || ToolError::Escape { path: path.into() };
        let inside = self.root.join(self.lexically_inside(path)?);

        // The lexical check cannot see symlinks, so ask the filesystem where the path really
        // leads. For a path that does not exist, the deepest ancestor that does decides: a
        // missing file under a symlink to `/etc` is an escape, not a "no such file".
        match inside.canonicalize() {
            Ok(real) if real.starts_with(&self.root) => Ok(real),
            Ok(_) => Err(escape()),
            Err(err) if is_missing(&err) => {
                let ancestor_inside = inside
                    .ancestors()
                    .skip(1)
                    .find_map(|ancestor| ancestor.canonicalize().ok())
                    .is_some_and(|real| real.starts_with(&self.root));
                if ancestor_inside {
                    Err(ToolError::NotFound { path: path.into() })
                } else {
                    Err(escape())
                }
            }
            Err(source) => Err(ToolError::Io {
                path: path.into(),
                source,
            }),
        }
    }
}

impl Workspace {
    /// `path` made root-relative without touching the filesystem: `.` and `..` resolved, and an
    /// escape refused. Symlinks are left for the caller (`confine`, or a confined open) to judge.
    pub(super) fn lexically_inside(&self, path: &str) -> Result<PathBuf, ToolError> {
        let escape = || ToolError::Escape { path: path.into() };
        let given = Path::new(path);
        let joined = if given.is_absolute() {
            given.to_path_buf()
        } else {
            self.root.join(given)
        };
        let normalized = normalize(&joined);
        if let Ok(rest) = normalized.strip_prefix(&self.root) {
            return Ok(rest.to_path_buf());
        }
        // An absolute path spelled with the root's non-canonical name is still inside.
        self.alias
            .as_deref()
            .and_then(|alias| normalized.strip_prefix(alias).ok())
            .map(Path::to_path_buf)
            .ok_or_else(escape)
    }
}

/// Removes `.` and resolves `..` without touching the filesystem; `..` at the top stays at `/`.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// A path that does not exist, including one that runs through a regular file (`a.txt/b`).
fn is_missing(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn workspace() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("src")).unwrap();
        fs::write(dir.path().join("src/a.ts"), "export {}\n").unwrap();
        let workspace = Workspace::new(dir.path()).unwrap();
        (dir, workspace)
    }

    fn is_escape(result: Result<PathBuf, ToolError>) -> bool {
        matches!(result, Err(ToolError::Escape { .. }))
    }

    #[test]
    fn relative_and_absolute_paths_inside_resolve() {
        let (_dir, ws) = workspace();
        let expected = ws.root().join("src/a.ts");
        assert_eq!(ws.confine("src/a.ts").unwrap(), expected);
        assert_eq!(ws.confine("./src/../src/a.ts").unwrap(), expected);
        let absolute = ws.root().join("src/a.ts");
        assert_eq!(ws.confine(absolute.to_str().unwrap()).unwrap(), expected);
    }

    #[test]
    fn dot_dot_and_outside_absolute_paths_escape() {
        let (_dir, ws) = workspace();
        assert!(is_escape(ws.confine("../x")));
        assert!(is_escape(ws.confine("src/../../x")));
        assert!(is_escape(ws.confine("/etc/passwd")));
        let err = ws.confine("../x").unwrap_err();
        assert_eq!(err.to_string(), "path escapes the workspace root: ../x");
    }

    #[test]
    fn dot_dot_that_comes_back_inside_is_allowed() {
        let (_dir, ws) = workspace();
        let name = ws.root().file_name().unwrap().to_str().unwrap().to_owned();
        let back_in = format!("../{name}/src/a.ts");
        assert_eq!(ws.confine(&back_in).unwrap(), ws.root().join("src/a.ts"));
    }

    #[test]
    fn missing_files_are_not_found() {
        let (_dir, ws) = workspace();
        let err = ws.confine("src/b.ts").unwrap_err();
        assert!(matches!(err, ToolError::NotFound { .. }), "{err}");
        assert!(err.to_string().starts_with("no such file: src/b.ts"));
        assert!(matches!(
            ws.confine("src/a.ts/inner"),
            Err(ToolError::NotFound { .. })
        ));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_out_of_the_root_escape() {
        use std::os::unix::fs::symlink;
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret"), "s3cret").unwrap();
        let (_dir, ws) = workspace();
        symlink(outside.path().join("secret"), ws.root().join("link")).unwrap();
        symlink(outside.path(), ws.root().join("out")).unwrap();
        assert!(is_escape(ws.confine("link")));
        assert!(is_escape(ws.confine("out/secret")));
        // Missing files behind an outward symlink must not reveal anything either.
        assert!(is_escape(ws.confine("out/missing")));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_within_the_root_are_followed() {
        use std::os::unix::fs::symlink;
        let (_dir, ws) = workspace();
        symlink(ws.root().join("src/a.ts"), ws.root().join("alias.ts")).unwrap();
        symlink("src", ws.root().join("code")).unwrap();
        assert_eq!(ws.confine("alias.ts").unwrap(), ws.root().join("src/a.ts"));
        assert_eq!(ws.confine("code/a.ts").unwrap(), ws.root().join("src/a.ts"));
    }

    #[cfg(unix)]
    #[test]
    fn absolute_paths_through_a_symlinked_root_are_inside() {
        use std::os::unix::fs::symlink;
        let (dir, ws) = workspace();
        let links = tempfile::tempdir().unwrap();
        let via = links.path().join("checkout");
        symlink(dir.path(), &via).unwrap();
        let through = Workspace::new(&via).unwrap();
        assert_eq!(through.root(), ws.root());
        let spelled = via.join("src/a.ts");
        assert_eq!(
            through.confine(spelled.to_str().unwrap()).unwrap(),
            ws.root().join("src/a.ts")
        );
    }
}
