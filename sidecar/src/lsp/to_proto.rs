//! Engine and protocol types to ls-types: the one place the LSP shapes are built.

use odw_protocol as odw;
use tower_lsp_server::ls_types as lsp;

/// A protocol position (already zero-based UTF-16) as an LSP position.
pub fn position(p: odw::Position) -> lsp::Position {
    lsp::Position::new(p.line, p.character)
}

/// A protocol range as an LSP range.
pub fn range(r: odw::Range) -> lsp::Range {
    lsp::Range::new(position(r.start), position(r.end))
}

/// A checker severity as an LSP severity.
pub fn severity(s: odw::Severity) -> lsp::DiagnosticSeverity {
    match s {
        odw::Severity::Error => lsp::DiagnosticSeverity::ERROR,
        odw::Severity::Warning => lsp::DiagnosticSeverity::WARNING,
        odw::Severity::Information => lsp::DiagnosticSeverity::INFORMATION,
        odw::Severity::Hint => lsp::DiagnosticSeverity::HINT,
    }
}

/// A checker finding as an LSP diagnostic (`source: "odw"`, the rule's stable code).
pub fn diagnostic(d: &odw::Diagnostic) -> lsp::Diagnostic {
    lsp::Diagnostic {
        range: range(d.range),
        severity: Some(severity(d.severity)),
        code: Some(lsp::NumberOrString::String(d.code.clone())),
        source: Some("odw".into()),
        message: d.message.clone(),
        ..Default::default()
    }
}

/// A checker fix as a quick-fix code action for `uri`.
pub fn quick_fix(uri: &lsp::Uri, d: &odw::Diagnostic, fix: &odw::check::Fix) -> lsp::CodeAction {
    let edits = fix
        .edits
        .iter()
        .map(|e| lsp::TextEdit::new(range(e.range), e.new_text.clone()))
        .collect();
    lsp::CodeAction {
        title: fix.title.clone(),
        kind: Some(lsp::CodeActionKind::QUICKFIX),
        diagnostics: Some(vec![diagnostic(d)]),
        edit: Some(lsp::WorkspaceEdit {
            changes: Some([(uri.clone(), edits)].into_iter().collect()),
            ..Default::default()
        }),
        is_preferred: Some(true),
        ..Default::default()
    }
}

/// Whether two LSP ranges share at least a position.
pub fn overlaps(a: lsp::Range, b: lsp::Range) -> bool {
    a.start <= b.end && b.start <= a.end
}

/// `message` as markdown hover contents.
pub fn markdown(text: &str) -> lsp::MarkupContent {
    lsp::MarkupContent {
        kind: lsp::MarkupKind::Markdown,
        value: text.to_string(),
    }
}

/// The progress token of a run: `odw/run/<runId>`.
pub fn progress_token(id: &odw::RunId) -> lsp::ProgressToken {
    lsp::NumberOrString::String(format!("{}{id}", odw::lsp::PROGRESS_TOKEN_PREFIX))
}

/// The run a progress token belongs to.
pub fn run_of_token(token: &lsp::ProgressToken) -> Option<odw::RunId> {
    match token {
        lsp::NumberOrString::String(s) => s
            .strip_prefix(odw::lsp::PROGRESS_TOKEN_PREFIX)
            .map(|id| odw::RunId::from(id.to_string())),
        lsp::NumberOrString::Number(_) => None,
    }
}

/// The `odw/runEvent` notification.
pub enum RunEventNotification {}

impl lsp::notification::Notification for RunEventNotification {
    type Params = odw::RunEvent;
    const METHOD: &'static str = odw::lsp::RUN_EVENT_NOTIFICATION;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let id = odw::RunId("r-1".into());
        let t = progress_token(&id);
        assert_eq!(t, lsp::NumberOrString::String("odw/run/r-1".into()));
        assert_eq!(run_of_token(&t), Some(id));
        assert_eq!(run_of_token(&lsp::NumberOrString::Number(1)), None);
    }
}
