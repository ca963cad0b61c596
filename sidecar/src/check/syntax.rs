//! Parsing with oxc: the AST, the scope tree the rules resolve names against, and every syntax
//! error (parser and semantic early errors) as a diagnostic.

use odw_protocol::{Diagnostic, Severity};
use oxc_allocator::Allocator;
use oxc_ast::ast::Program;
use oxc_diagnostics::OxcDiagnostic;
use oxc_parser::{ParseOptions, Parser};
use oxc_semantic::{Scoping, SemanticBuilder};
use oxc_span::{SourceType, Span};

use super::position::LineIndex;

/// A parsed script. `scoping` is `None` when the parser gave up (nothing to analyse).
pub struct Parsed<'a> {
    /// The AST (empty when the parser gave up).
    pub program: &'a Program<'a>,
    /// Scopes and symbols, to tell globals from the script's own bindings.
    pub scoping: Option<Scoping>,
    /// Parser and semantic syntax errors, code `syntax`.
    pub errors: Vec<Diagnostic>,
}

/// Parses `source` as a module that may `return` at top level (the meta dialect does), then runs
/// oxc's semantic early-error checks, which the parser alone leaves out.
pub fn parse<'a>(allocator: &'a Allocator, source: &'a str, lines: &LineIndex) -> Parsed<'a> {
    if let Some((at, message)) = super::nesting::too_deep(source) {
        let end = source[at..]
            .char_indices()
            .nth(1)
            .map_or(source.len(), |(i, _)| at + i);
        let span = Span::new(at as u32, end as u32);
        return Parsed {
            program: allocator.alloc(
                Parser::new(allocator, "", SourceType::mjs())
                    .parse()
                    .program,
            ),
            scoping: None,
            errors: vec![to_diagnostic(
                &OxcDiagnostic::error(message).with_label(span),
                lines,
            )],
        };
    }
    let options = ParseOptions {
        allow_return_outside_function: true,
        ..ParseOptions::default()
    };
    let ret = Parser::new(allocator, source, SourceType::mjs())
        .with_options(options)
        .parse();
    let program = allocator.alloc(ret.program);
    let mut errors: Vec<Diagnostic> = ret
        .diagnostics
        .iter()
        .map(|d| to_diagnostic(d, lines))
        .collect();
    if ret.panicked {
        return Parsed {
            program,
            scoping: None,
            errors,
        };
    }
    let semantic = SemanticBuilder::new()
        .with_check_syntax_error(true)
        .build(program);
    errors.extend(semantic.diagnostics.iter().map(|d| to_diagnostic(d, lines)));
    Parsed {
        program,
        scoping: Some(semantic.semantic.into_scoping()),
        errors,
    }
}

fn to_diagnostic(d: &OxcDiagnostic, lines: &LineIndex) -> Diagnostic {
    // Without a primary label the later one is the offence (`let x` redeclared, not the first
    // `let x`); the earlier ones point back at context.
    let label = d
        .labels
        .iter()
        .find(|l| l.primary())
        .or_else(|| d.labels.iter().max_by_key(|l| l.offset()));
    let span = label.map_or(Span::empty(0), |l| l.span());
    let message = match &d.help {
        Some(help) => format!("{} (help: {help})", d.message),
        None => d.message.to_string(),
    };
    let severity = match d.severity {
        oxc_diagnostics::Severity::Error => Severity::Error,
        oxc_diagnostics::Severity::Warning => Severity::Warning,
        oxc_diagnostics::Severity::Advice => Severity::Information,
    };
    Diagnostic {
        range: lines.range(span),
        severity,
        code: "syntax".into(),
        message,
        fix: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use odw_protocol::Position;

    fn errors(source: &str) -> Vec<Diagnostic> {
        let allocator = Allocator::default();
        let lines = LineIndex::new(source);
        parse(&allocator, source, &lines).errors
    }

    #[test]
    fn clean_source_has_no_errors() {
        assert!(errors("const a = await agent('x');\nreturn a;\n").is_empty());
    }

    #[test]
    fn reports_every_recoverable_error_with_its_range() {
        let errs = errors("let x = 1;\nlet x = 2;\n");
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert_eq!(errs[0].code, "syntax");
        assert_eq!(
            errs[0].range.start,
            Position {
                line: 1,
                character: 4
            }
        );
        assert_eq!(
            errs[0].range.end,
            Position {
                line: 1,
                character: 5
            }
        );
    }

    #[test]
    fn unrecoverable_error_stops_without_scopes() {
        let allocator = Allocator::default();
        let source = "function (";
        let lines = LineIndex::new(source);
        let parsed = parse(&allocator, source, &lines);
        assert!(parsed.scoping.is_none());
        assert!(!parsed.errors.is_empty());
    }
}
