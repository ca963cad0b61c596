//! Collects the rules' diagnostics, converting oxc spans to LSP ranges as they arrive.

use odw_protocol::check::{Fix, TextEdit};
use odw_protocol::{Diagnostic, Severity};
use oxc_span::Span;

use super::position::LineIndex;

/// The diagnostics found so far in one source text.
pub struct Findings<'l> {
    lines: &'l LineIndex<'l>,
    list: Vec<Diagnostic>,
}

impl<'l> Findings<'l> {
    /// An empty collection for the text indexed by `lines`.
    pub fn new(lines: &'l LineIndex<'l>) -> Self {
        Self {
            lines,
            list: Vec::new(),
        }
    }

    /// Records an error at `span`.
    pub fn error(&mut self, span: Span, code: &str, message: impl Into<String>) -> &mut Diagnostic {
        self.push(span, Severity::Error, code, message.into())
    }

    /// Records a warning at `span`.
    pub fn warning(
        &mut self,
        span: Span,
        code: &str,
        message: impl Into<String>,
    ) -> &mut Diagnostic {
        self.push(span, Severity::Warning, code, message.into())
    }

    /// A fix made of `(span, replacement)` edits.
    pub fn fix(&self, title: impl Into<String>, edits: &[(Span, String)]) -> Fix {
        let edits = edits
            .iter()
            .map(|(span, text)| TextEdit {
                range: self.lines.range(*span),
                new_text: text.clone(),
            })
            .collect();
        Fix {
            title: title.into(),
            edits,
        }
    }

    /// Whether any error (not warning) was recorded.
    pub fn has_errors(&self) -> bool {
        self.list.iter().any(|d| d.severity == Severity::Error)
    }

    /// The diagnostics in source order (rules run one after another, not in position order).
    pub fn into_sorted(mut self) -> Vec<Diagnostic> {
        self.list
            .sort_by_key(|d| (d.range.start.line, d.range.start.character));
        self.list
    }

    fn push(
        &mut self,
        span: Span,
        severity: Severity,
        code: &str,
        message: String,
    ) -> &mut Diagnostic {
        let range = self.lines.range(span);
        self.list.push(Diagnostic {
            range,
            severity,
            code: code.into(),
            message,
            fix: None,
        });
        self.list.last_mut().expect("just pushed")
    }
}
