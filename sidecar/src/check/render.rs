//! Human-readable diagnostics for terminals, in the style of rustc and ruff.

use std::fmt::Write;

use odw_protocol::{Diagnostic, Severity};

use super::position::LineIndex;

/// Renders each diagnostic as `path:LINE:COL: error[code]: message` (1-based, columns in
/// characters), then the source line with a caret underline and the fix, if any.
pub fn render_human(path: &str, source: &str, diags: &[Diagnostic]) -> String {
    let lines = LineIndex::new(source);
    let mut out = String::new();
    for (i, diag) in diags.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        render_one(&mut out, path, &lines, diag);
    }
    out
}

fn render_one(out: &mut String, path: &str, lines: &LineIndex, diag: &Diagnostic) {
    let start = diag.range.start;
    let line_no = start.line as usize;
    let text = lines.line_text(line_no);
    let start_byte = lines.offset(start)
        - lines.offset(odw_protocol::Position {
            line: start.line,
            character: 0,
        });
    // A range that runs past this line is underlined to the line's end.
    let end_byte = if diag.range.end.line == start.line {
        (lines.offset(diag.range.end)
            - lines.offset(odw_protocol::Position {
                line: start.line,
                character: 0,
            }))
        .max(start_byte)
    } else {
        text.len()
    };
    let column = text[..start_byte].chars().count() + 1;
    let severity = match diag.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
        Severity::Information => "info",
        Severity::Hint => "hint",
    };
    let _ = writeln!(
        out,
        "{path}:{}:{column}: {severity}[{}]: {}",
        line_no + 1,
        diag.code,
        diag.message
    );
    let gutter = (line_no + 1).to_string();
    let pad = " ".repeat(gutter.len());
    let _ = writeln!(out, "{pad} |");
    // A long line (minified or generated code) is shown around the column only, so one
    // diagnostic is a few lines, not megabytes.
    let text = text.trim_end();
    let end_byte = end_byte.min(text.len()).max(start_byte.min(text.len()));
    let start_byte = start_byte.min(text.len());
    let (from, to) = window(text, start_byte);
    let (open, close) = (
        if from > 0 { "…" } else { "" },
        if to < text.len() { "…" } else { "" },
    );
    let _ = writeln!(out, "{gutter} | {open}{}{close}", &text[from..to]);
    // Tabs are copied so the carets line up however the terminal expands them.
    let indent: String = open
        .chars()
        .map(|_| ' ')
        .chain(
            text[from..start_byte]
                .chars()
                .map(|c| if c == '\t' { '\t' } else { ' ' }),
        )
        .collect();
    let carets = "^".repeat(
        text[start_byte..end_byte.min(to).max(start_byte)]
            .chars()
            .count()
            .max(1),
    );
    let _ = writeln!(out, "{pad} | {indent}{carets}");
    if let Some(fix) = &diag.fix {
        let _ = writeln!(out, "{pad} = help: {}", fix.title);
    }
}

/// Lines longer than this many characters are shown around the column only.
const MAX_SHOWN: usize = 160;

/// The byte range of `text` to show for a diagnostic at `at`: all of it when short, else
/// `MAX_SHOWN` characters around `at`.
fn window(text: &str, at: usize) -> (usize, usize) {
    if text.chars().count() <= MAX_SHOWN {
        return (0, text.len());
    }
    let before: Vec<usize> = text[..at].char_indices().map(|(i, _)| i).collect();
    let from = before
        .len()
        .checked_sub(MAX_SHOWN / 2)
        .map_or(0, |k| before[k]);
    let to = text[at..]
        .char_indices()
        .nth(MAX_SHOWN / 2)
        .map_or(text.len(), |(i, _)| at + i);
    (from, to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::{CheckOptions, check};

    #[test]
    fn long_lines_are_shown_around_the_column() {
        let src = format!(
            "export const meta = {{}};\nconst x = {};\n",
            "[".repeat(3000)
        );
        let report = check(&src, &CheckOptions::default());
        let text = render_human("wf.js", &src, &report.diagnostics[..1]);
        assert!(
            text.starts_with("wf.js:2:1011: error[syntax]: brackets nested"),
            "{text}"
        );
        assert!(text.len() < 1000, "{} bytes: {text}", text.len());
        let lines: Vec<&str> = text.lines().collect();
        let caret = lines[3].find('^').unwrap();
        assert_eq!(&lines[2][caret..caret + 1], "[", "{text}");
    }

    #[test]
    fn renders_location_line_and_carets() {
        let src = "export const meta = {};\nconst s = \"é\"; await agnet(s);\n";
        let report = check(src, &CheckOptions::default());
        let text = render_human("wf.js", src, &report.diagnostics);
        let expected = "wf.js:2:22: error[unknown-global]: unknown global `agnet`: did you mean `agent`?\n  \
                        |\n\
                        2 | const s = \"é\"; await agnet(s);\n  \
                        |                      ^^^^^\n  \
                        = help: replace with `agent`\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn multi_line_ranges_stop_at_line_end_and_empty_ranges_get_one_caret() {
        let src = "abc\ndef";
        let d = |start: (u32, u32), end: (u32, u32)| Diagnostic {
            range: odw_protocol::Range {
                start: odw_protocol::Position {
                    line: start.0,
                    character: start.1,
                },
                end: odw_protocol::Position {
                    line: end.0,
                    character: end.1,
                },
            },
            severity: Severity::Warning,
            code: "x".into(),
            message: "m".into(),
            fix: None,
        };
        let text = render_human("f", src, &[d((0, 1), (1, 2)), d((1, 3), (1, 3))]);
        assert_eq!(
            text,
            "f:1:2: warning[x]: m\n  |\n1 | abc\n  |  ^^\n\nf:2:4: warning[x]: m\n  |\n2 | def\n  |    ^\n"
        );
    }
}
