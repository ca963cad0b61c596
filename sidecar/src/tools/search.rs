//! `search`: a regex over the text files that match a glob, via ripgrep's searcher.

use std::ops::ControlFlow;

use grep_regex::{RegexMatcher, RegexMatcherBuilder};
use grep_searcher::sinks::Lossy;
use grep_searcher::{BinaryDetection, SearcherBuilder};
use serde::Serialize;

use super::read::is_binary;
use super::walk::{DEFAULT_GLOB, FileGlob};
use super::{ToolError, Workspace};

/// Most matches `search` returns; the search stops there.
pub const MAX_SEARCH_MATCHES: usize = 500;
/// Longest `Match::text`, in characters.
pub const MAX_MATCH_TEXT_CHARS: usize = 400;

/// Compiled-size cap for a script's regex, so `(\w{500}){500}` fails fast instead of taking
/// grep-regex's 100 MiB default.
const REGEX_SIZE_LIMIT: usize = 10 << 20;

/// One matching line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Match {
    /// Root-relative POSIX path, as `glob` returns it.
    pub file: String,
    /// 1-based line number.
    pub line: u64,
    /// The line without its terminator, cut to [`MAX_MATCH_TEXT_CHARS`].
    pub text: String,
}

impl Workspace {
    /// Lines matching the regex `pattern` (case-insensitive unless it starts with `(?-i)`) in the
    /// files `glob` selects (default every file, with `glob`'s rules), skipping binary files and
    /// files over 1 MiB; at most [`MAX_SEARCH_MATCHES`], sorted by file and line.
    pub fn search(&self, pattern: &str, glob: Option<&str>) -> Result<Vec<Match>, ToolError> {
        let matcher = compile(pattern)?;
        let files = FileGlob::new(glob.unwrap_or(DEFAULT_GLOB), &self.root)?;
        let mut searcher = SearcherBuilder::new()
            .line_number(true)
            // `is_binary` already ruled on the whole file before the searcher sees it.
            .binary_detection(BinaryDetection::none())
            .build();
        let mut matches = Vec::new();
        self.walk_files(&files, |relative, path| {
            // Unreadable, oversized and binary files are skipped, as ripgrep does.
            let bytes = match self.read_capped(&path, &relative) {
                Ok(bytes) if !is_binary(&bytes) => bytes,
                _ => return ControlFlow::Continue(()),
            };
            let sink = Lossy(|line, text| {
                matches.push(Match {
                    file: relative.clone(),
                    line,
                    text: cut(text),
                });
                Ok(matches.len() < MAX_SEARCH_MATCHES)
            });
            if let Err(err) = searcher.search_slice(&matcher, &bytes, sink) {
                tracing::debug!(%err, file = relative, "search skipped a file");
            }
            if matches.len() < MAX_SEARCH_MATCHES {
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        });
        matches.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        Ok(matches)
    }
}

/// grep-regex runs in linear time (no backtracking), so a script's regex cannot hang the search.
fn compile(pattern: &str) -> Result<RegexMatcher, ToolError> {
    RegexMatcherBuilder::new()
        .case_insensitive(true)
        // Matches never span lines; it also lets the searcher take its line-oriented fast path.
        .line_terminator(Some(b'\n'))
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build(pattern)
        .map_err(|err| {
            let mut reason = reason(&err.to_string());
            if reason.contains(r#""\n""#) {
                reason.push_str("; search matches one line at a time");
            }
            ToolError::InvalidRegex {
                pattern: pattern.into(),
                reason,
            }
        })
}

/// The gist of a regex error: the parser's multi-line report (pattern, caret, `error: …`)
/// reduced to its last `error:` line, since the pattern is already in the message.
fn reason(message: &str) -> String {
    match message.rsplit_once("error: ") {
        Some((_, gist)) => gist.trim().to_owned(),
        None => message.trim().to_owned(),
    }
}

/// The matched line without its terminator, cut to [`MAX_MATCH_TEXT_CHARS`] characters.
fn cut(line: &str) -> String {
    let line = line.trim_end_matches(['\n', '\r']);
    match line.char_indices().nth(MAX_MATCH_TEXT_CHARS) {
        Some((end, _)) => line[..end].to_owned(),
        None => line.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn workspace(files: &[(&str, &[u8])]) -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        for (file, content) in files {
            let path = dir.path().join(file);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, content).unwrap();
        }
        let workspace = Workspace::new(dir.path()).unwrap();
        (dir, workspace)
    }

    fn found(matches: &[Match]) -> Vec<(&str, u64)> {
        matches.iter().map(|m| (m.file.as_str(), m.line)).collect()
    }

    #[test]
    fn finds_lines_case_insensitively_with_line_numbers() {
        let (_dir, ws) = workspace(&[
            ("src/a.rs", b"fn main() {\n    // TODO: parse\r\n}\n"),
            ("src/b.ts", b"// todo later\n"),
            ("README.md", b"nothing here\n"),
        ]);
        let matches = ws.search("todo", None).unwrap();
        assert_eq!(found(&matches), [("src/a.rs", 2), ("src/b.ts", 1)]);
        assert_eq!(matches[0].text, "    // TODO: parse");
        assert!(ws.search("(?-i)todo", None).unwrap().len() == 1);
    }

    #[test]
    fn the_glob_selects_files() {
        let (_dir, ws) = workspace(&[
            ("src/a.rs", b"needle\n"),
            ("src/b.ts", b"needle\n"),
            ("docs/c.md", b"needle\n"),
        ]);
        let matches = ws.search("needle", Some("**/*.{rs,md}")).unwrap();
        assert_eq!(found(&matches), [("docs/c.md", 1), ("src/a.rs", 1)]);
        assert!(ws.search("needle", Some("*.rs")).unwrap().is_empty());
        assert!(matches!(
            ws.search("needle", Some("{")),
            Err(ToolError::InvalidGlob { .. })
        ));
    }

    #[test]
    fn skips_binary_large_and_ignored_files() {
        let big = [b"needle\n".as_slice(), &vec![b'a'; 1 << 20]].concat();
        let (dir, ws) = workspace(&[
            ("text.txt", b"needle\n"),
            ("blob.bin", b"needle\n\0\x01\x02"),
            ("big.txt", &big),
            ("out/gen.txt", b"needle\n"),
        ]);
        fs::write(dir.path().join(".gitignore"), "out/\n").unwrap();
        let matches = ws.search("needle", None).unwrap();
        assert_eq!(found(&matches), [("text.txt", 1)]);
    }

    #[test]
    fn stops_at_the_match_cap() {
        let many = "hit\n".repeat(MAX_SEARCH_MATCHES + 100);
        let (_dir, ws) = workspace(&[("a.txt", many.as_bytes()), ("b.txt", b"hit\n")]);
        let matches = ws.search("hit", None).unwrap();
        assert_eq!(matches.len(), MAX_SEARCH_MATCHES);
        assert!(matches.iter().all(|m| m.file == "a.txt"));
        assert_eq!(matches.last().unwrap().line, MAX_SEARCH_MATCHES as u64);
    }

    #[test]
    fn long_lines_are_cut_on_a_char_boundary() {
        let line = format!("match {}\n", "é".repeat(1000));
        let (_dir, ws) = workspace(&[("a.txt", line.as_bytes())]);
        let matches = ws.search("match", None).unwrap();
        assert_eq!(matches[0].text.chars().count(), MAX_MATCH_TEXT_CHARS);
    }

    #[test]
    fn bad_regexes_say_why() {
        let (_dir, ws) = workspace(&[]);
        let err = ws.search("(", None).unwrap_err();
        assert!(matches!(err, ToolError::InvalidRegex { .. }));
        assert!(!err.to_string().contains('\n'), "{err}");
        assert!(
            err.to_string().starts_with("invalid regex \"(\": "),
            "{err}"
        );
        let newline = ws.search(r"a\nb", None).unwrap_err().to_string();
        assert!(
            newline.ends_with("search matches one line at a time"),
            "{newline}"
        );
        let huge = ws.search(r"(\w{500}){500}", None).unwrap_err();
        assert!(matches!(huge, ToolError::InvalidRegex { .. }), "{huge}");
    }

    #[test]
    fn matches_serialize_as_plain_objects() {
        let m = Match {
            file: "a.ts".into(),
            line: 3,
            text: "x".into(),
        };
        assert_eq!(
            serde_json::to_value(&m).unwrap(),
            serde_json::json!({"file": "a.ts", "line": 3, "text": "x"})
        );
    }
}
