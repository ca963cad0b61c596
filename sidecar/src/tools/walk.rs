//! Walking the workspace: the file list behind `glob` and `search`.

use std::ffi::OsStr;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};
use ignore::{DirEntry, WalkBuilder};

use super::{ToolError, Workspace};

/// The pattern `glob` and `search` use when the script gives none: every file.
pub const DEFAULT_GLOB: &str = "**/*";
/// Longest glob pattern accepted, in characters.
pub const MAX_PATTERN_CHARS: usize = 500;
/// Most paths `glob` returns; the walk stops at this many matches.
pub const MAX_GLOB_RESULTS: usize = 2_000;

/// Directories below the pattern's literal prefix that are never entered (besides any hidden
/// one): tool state, dependencies and build output would drown the project's own files.
const SKIPPED_DIRS: &[&str] = &[".git", "node_modules", "target", ".odw"];

/// A compiled, root-relative glob pattern.
pub(super) struct FileGlob {
    matcher: GlobMatcher,
    /// The leading components without wildcards (`src/api` for `src/api/**/*.ts`): the walk
    /// enters only these, and enters them even when hidden or skipped, since the pattern names
    /// them.
    prefix: Vec<String>,
}

impl FileGlob {
    /// Compiles `pattern`; `*`, `?` and `[..]` stay within one path component, `**` crosses
    /// them, `{a,b}` is an alternation.
    pub(super) fn new(pattern: &str, root: &Path) -> Result<Self, ToolError> {
        let invalid = |reason: &str| ToolError::InvalidGlob {
            pattern: pattern.into(),
            reason: reason.into(),
        };
        let chars = pattern.chars().count();
        if chars > MAX_PATTERN_CHARS {
            return Err(invalid(&format!(
                "{chars} characters is over the limit of {MAX_PATTERN_CHARS}"
            )));
        }
        let relative = root_relative(pattern, root).ok_or_else(|| {
            invalid(
                "absolute patterns must point inside the workspace root; write them relative to it",
            )
        })?;
        if relative.is_empty() {
            return Err(invalid("the pattern is empty; \"**/*\" matches every file"));
        }
        if relative.split('/').any(|component| component == "..") {
            return Err(invalid(
                "`..` would leave the workspace root; patterns match paths inside it",
            ));
        }
        let matcher = GlobBuilder::new(relative)
            .literal_separator(true)
            .backslash_escape(true)
            .build()
            .map_err(|err| invalid(&err.kind().to_string()))?
            .compile_matcher();
        let prefix = relative
            .split('/')
            .take_while(|component| !component.is_empty() && !has_wildcard(component))
            .map(str::to_owned)
            .collect();
        Ok(Self { matcher, prefix })
    }
}

/// `pattern` relative to the root: `./` dropped, an absolute root prefix stripped; `None` for an
/// absolute pattern elsewhere.
fn root_relative<'a>(pattern: &'a str, root: &Path) -> Option<&'a str> {
    let mut relative = pattern;
    if relative.starts_with('/') {
        let root = root.to_str()?;
        relative = relative.strip_prefix(root)?.strip_prefix('/')?;
    }
    while let Some(rest) = relative.strip_prefix("./") {
        relative = rest;
    }
    Some(relative)
}

fn has_wildcard(component: &str) -> bool {
    component.contains(['*', '?', '[', ']', '{', '}', '\\'])
}

/// Whether the walk stays out of a directory it was not told to enter.
fn is_skipped_dir(name: &OsStr) -> bool {
    name.to_str()
        .is_none_or(|name| name.starts_with('.') || SKIPPED_DIRS.contains(&name))
}

impl Workspace {
    /// Root-relative POSIX paths of the files matching `pattern`, sorted. Honours `.gitignore`
    /// and `.ignore` files inside the root, skips hidden directories, `node_modules` and `target`
    /// unless the pattern names them, and lists a symlink only if it leads to a file inside the
    /// root. At most [`MAX_GLOB_RESULTS`]: past that, the first ones in walk order (each
    /// directory read in name order) are kept.
    pub fn glob(&self, pattern: &str) -> Result<Vec<String>, ToolError> {
        let glob = FileGlob::new(pattern, &self.root)?;
        let mut paths = Vec::new();
        self.walk_files(&glob, |relative, _| {
            paths.push(relative);
            if paths.len() < MAX_GLOB_RESULTS {
                ControlFlow::Continue(())
            } else {
                tracing::debug!(pattern, "glob stopped at {MAX_GLOB_RESULTS} matches");
                ControlFlow::Break(())
            }
        });
        paths.sort_unstable();
        Ok(paths)
    }

    /// Calls `visit(relative path, path to open)` for each file matching `glob`, in walk order,
    /// until it breaks.
    pub(super) fn walk_files(
        &self,
        glob: &FileGlob,
        mut visit: impl FnMut(String, PathBuf) -> ControlFlow<()>,
    ) {
        for entry in self.walker(glob) {
            let entry = match entry {
                Ok(entry) => entry,
                // An unreadable directory or ignore file should not sink the whole listing.
                Err(err) => {
                    tracing::debug!(%err, "skipped during workspace walk");
                    continue;
                }
            };
            let Some(relative) = self.relative(&entry) else {
                continue;
            };
            if !glob.matcher.is_match(&relative) {
                continue;
            }
            let Some(file) = self.openable(&entry) else {
                continue;
            };
            if visit(relative, file).is_break() {
                return;
            }
        }
    }

    fn walker(&self, glob: &FileGlob) -> ignore::Walk {
        let prefix = glob.prefix.clone();
        WalkBuilder::new(&self.root)
            // Hidden directories are filtered below, where the literal prefix can override it;
            // hidden files are ordinary project files (`.eslintrc.js`).
            .hidden(false)
            .ignore(true)
            .git_ignore(true)
            .git_exclude(true)
            // Only ignore files inside the root count: the user's global gitignore or one in a
            // directory above would make results depend on the machine and read outside the root.
            .git_global(false)
            .parents(false)
            .require_git(false)
            .follow_links(false)
            .sort_by_file_name(Ord::cmp)
            .filter_entry(move |entry| {
                let depth = entry.depth();
                if depth == 0 {
                    return true;
                }
                if let Some(named) = prefix.get(depth - 1) {
                    return entry.file_name() == OsStr::new(named);
                }
                let is_dir = entry.file_type().is_some_and(|kind| kind.is_dir());
                !(is_dir && is_skipped_dir(entry.file_name()))
            })
            .build()
    }

    /// The entry's root-relative POSIX path; `None` for the root itself and for names that are
    /// not UTF-8, which a script could not pass back to `read_file`.
    fn relative(&self, entry: &DirEntry) -> Option<String> {
        let relative = entry.path().strip_prefix(&self.root).ok()?;
        let parts: Option<Vec<&str>> = relative.iter().map(OsStr::to_str).collect();
        let parts = parts.filter(|parts| !parts.is_empty())?;
        Some(parts.join("/"))
    }

    /// Where to read the entry: a regular file as is, a symlink only when it leads to a regular
    /// file inside the root (the same rule `read_file` applies).
    fn openable(&self, entry: &DirEntry) -> Option<PathBuf> {
        let kind = entry.file_type()?;
        if kind.is_file() {
            return Some(entry.path().to_path_buf());
        }
        if !kind.is_symlink() {
            return None;
        }
        let real = entry.path().canonicalize().ok()?;
        (real.starts_with(&self.root) && real.is_file()).then_some(real)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A workspace holding `files` (with "x" as content).
    fn workspace(files: &[&str]) -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        for file in files {
            let path = dir.path().join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, "x").unwrap();
        }
        let workspace = Workspace::new(dir.path()).unwrap();
        (dir, workspace)
    }

    #[test]
    fn matches_stars_questions_classes_and_braces() {
        let (_dir, ws) = workspace(&[
            "a.ts",
            "src/b.ts",
            "src/c.js",
            "src/deep/d.tsx",
            "src/deep/e.md",
            "f1.txt",
            "f22.txt",
        ]);
        assert_eq!(ws.glob("*.ts").unwrap(), ["a.ts"]);
        assert_eq!(ws.glob("**/*.ts").unwrap(), ["a.ts", "src/b.ts"]);
        assert_eq!(ws.glob("src/*").unwrap(), ["src/b.ts", "src/c.js"]);
        assert_eq!(
            ws.glob("src/**/*.{ts,tsx,js}").unwrap(),
            ["src/b.ts", "src/c.js", "src/deep/d.tsx"]
        );
        assert_eq!(ws.glob("f?.txt").unwrap(), ["f1.txt"]);
        assert_eq!(ws.glob("f[0-9][0-9].txt").unwrap(), ["f22.txt"]);
        assert_eq!(ws.glob("./src/deep/e.md").unwrap(), ["src/deep/e.md"]);
        assert_eq!(ws.glob(DEFAULT_GLOB).unwrap().len(), 7);
    }

    #[test]
    fn results_are_sorted_posix_paths() {
        let (_dir, ws) = workspace(&["b/z.txt", "a-b/y.txt", "a/x.txt", "A.txt"]);
        assert_eq!(
            ws.glob("**/*").unwrap(),
            ["A.txt", "a-b/y.txt", "a/x.txt", "b/z.txt"]
        );
    }

    #[test]
    fn honours_gitignore_and_ignore_files() {
        let (dir, ws) = workspace(&[
            "keep.js",
            "debug.log",
            "dist/out.js",
            "src/gen/g.js",
            "src/s.js",
            "scratch/note.md",
        ]);
        fs::write(dir.path().join(".gitignore"), "*.log\ndist/\n").unwrap();
        fs::write(dir.path().join("src/.gitignore"), "gen/\n").unwrap();
        fs::write(dir.path().join(".ignore"), "scratch/\n").unwrap();
        assert_eq!(
            ws.glob("**/*.{js,log,md}").unwrap(),
            ["keep.js", "src/s.js"]
        );
        // The ignore files themselves are ordinary hidden files.
        assert_eq!(
            ws.glob("**/.*").unwrap(),
            [".gitignore", ".ignore", "src/.gitignore"]
        );
    }

    #[test]
    fn skips_hidden_and_heavy_directories_unless_named() {
        let (_dir, ws) = workspace(&[
            "src/a.js",
            ".git/config",
            ".odw/runs/r.js",
            ".cache/c.js",
            "node_modules/lib/index.js",
            "target/debug/build.js",
            "src/node_modules/x.js",
            ".github/workflows/ci.yml",
            ".eslintrc.js",
        ]);
        assert_eq!(ws.glob("**/*.js").unwrap(), [".eslintrc.js", "src/a.js"]);
        assert_eq!(
            ws.glob(".github/**/*.yml").unwrap(),
            [".github/workflows/ci.yml"]
        );
        assert_eq!(
            ws.glob("node_modules/lib/*.js").unwrap(),
            ["node_modules/lib/index.js"]
        );
    }

    #[test]
    fn rejects_bad_patterns() {
        let (_dir, ws) = workspace(&[]);
        let err = ws.glob("[").unwrap_err();
        assert!(matches!(err, ToolError::InvalidGlob { .. }));
        assert!(err.to_string().starts_with("invalid glob \"[\": "), "{err}");
        for pattern in ["", "../*", "src/../../x", "/etc/*"] {
            assert!(
                matches!(ws.glob(pattern), Err(ToolError::InvalidGlob { .. })),
                "{pattern}"
            );
        }
        let long = "a".repeat(MAX_PATTERN_CHARS + 1);
        assert!(
            ws.glob(&long)
                .unwrap_err()
                .to_string()
                .contains("501 characters")
        );
        assert!(ws.glob(&"a".repeat(MAX_PATTERN_CHARS)).unwrap().is_empty());
    }

    #[test]
    fn absolute_patterns_inside_the_root_work() {
        let (_dir, ws) = workspace(&["src/a.ts"]);
        let pattern = format!("{}/src/*.ts", ws.root().display());
        assert_eq!(ws.glob(&pattern).unwrap(), ["src/a.ts"]);
    }

    #[test]
    fn caps_the_result_count() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..MAX_GLOB_RESULTS + 5 {
            fs::write(dir.path().join(format!("f{i:05}.txt")), "").unwrap();
        }
        let ws = Workspace::new(dir.path()).unwrap();
        let paths = ws.glob("*.txt").unwrap();
        assert_eq!(paths.len(), MAX_GLOB_RESULTS);
        assert_eq!(paths.first().unwrap(), "f00000.txt");
        assert_eq!(paths.last().unwrap(), "f01999.txt");
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_listed_only_when_they_lead_inside() {
        use std::os::unix::fs::symlink;
        let outside = tempfile::tempdir().unwrap();
        fs::write(outside.path().join("secret.txt"), "s").unwrap();
        fs::create_dir(outside.path().join("more")).unwrap();
        fs::write(outside.path().join("more/other.txt"), "o").unwrap();
        let (dir, ws) = workspace(&["real.txt", "sub/inner.txt"]);
        symlink(
            outside.path().join("secret.txt"),
            dir.path().join("leak.txt"),
        )
        .unwrap();
        symlink(outside.path().join("more"), dir.path().join("more")).unwrap();
        symlink(dir.path().join("real.txt"), dir.path().join("alias.txt")).unwrap();
        // A symlinked directory is not entered even when it points inside: no cycles, no dupes.
        symlink(dir.path().join("sub"), dir.path().join("sub-link")).unwrap();
        assert_eq!(
            ws.glob("**/*.txt").unwrap(),
            ["alias.txt", "real.txt", "sub/inner.txt"]
        );
    }
}
