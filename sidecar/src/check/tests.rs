//! End-to-end behaviour of [`prepare`] and [`check`] on whole scripts in both dialects.

use super::*;
use odw_protocol::Position;
use serde_json::json;

const EXECUTE_EXAMPLE: &str = r#"async function execute(context) {
  phase("Audit");
  const files = await context.tools.glob("src/**/*.ts");
  const findings = await parallel(files.map(f => () => agent({
    role: "auditor", prompt: `Check ${f} for missing auth`, schema: { findings: "array" } })),
    { maxConcurrency: 16 });
  return agent({ role: "writer", prompt: `Report: ${JSON.stringify(findings)}` });
}
module.exports = { execute };
"#;

const META_EXAMPLE: &str = r#"export const meta = { name: "audit", description: "…", phases: [{ title: "Audit" }] };
const files = args.files;
const results = await parallel(files.map(f => () => agent(`Check ${f}`, { label: f, phase: "Audit" })));
return results.filter(Boolean).join("\n");
"#;

#[test]
fn design_examples_are_clean() {
    for (src, dialect) in [
        (EXECUTE_EXAMPLE, Dialect::Execute),
        (META_EXAMPLE, Dialect::Meta),
    ] {
        let report = check(src, &CheckOptions::default());
        assert_eq!(report.dialect, Some(dialect));
        assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
        assert!(!report.has_errors());
    }
}

#[test]
fn prepare_meta_dialect() {
    let prepared = prepare(META_EXAMPLE).unwrap();
    assert_eq!(prepared.dialect, Dialect::Meta);
    assert_eq!(prepared.meta_export, Some((0, 6)));
    assert_eq!(&META_EXAMPLE[0..6], "export");
    assert_eq!(
        prepared.meta,
        Some(json!({"name": "audit", "description": "…", "phases": [{"title": "Audit"}]}))
    );
}

#[test]
fn prepare_execute_dialect() {
    let prepared = prepare(EXECUTE_EXAMPLE).unwrap();
    assert_eq!(
        prepared,
        Prepared {
            dialect: Dialect::Execute,
            meta_export: None,
            meta: None
        }
    );
}

#[test]
fn prepare_keeps_meta_none_when_not_plain() {
    let prepared = prepare("export const meta = { name: NAME };\nreturn 1;").unwrap();
    assert_eq!(prepared.dialect, Dialect::Meta);
    assert_eq!(prepared.meta, None);
    assert_eq!(prepared.meta_export, Some((0, 6)));
}

#[test]
fn prepare_rejects_what_cannot_run() {
    for (src, code) in [
        ("const a = ;", "syntax"),
        (
            "import x from 'y';\nmodule.exports = {};",
            "forbidden-import",
        ),
        (
            "export const meta = {};\nexport default 1;",
            "forbidden-export",
        ),
        ("const x = 1;\nexport const meta = {};", "misplaced-meta"),
        ("await agent('x');", "execute-top-level"),
    ] {
        let errors = prepare(src).unwrap_err();
        assert!(errors.iter().any(|d| d.code == code), "{src}: {errors:?}");
    }
    // Lint findings are for `check`, not reasons to refuse a run.
    assert!(prepare("export const meta = {};\nagnet('x');").is_ok());
}

#[test]
fn syntax_errors_come_first_and_rules_still_run() {
    let src = "export const meta = {};\nagnet('x');\nlet a = 1; let a = 2;\n";
    let report = check(src, &CheckOptions::default());
    let codes: Vec<_> = report.diagnostics.iter().map(|d| d.code.as_str()).collect();
    assert_eq!(codes, ["syntax", "unknown-global"]);
    assert_eq!(
        report.diagnostics[0].range.start,
        Position {
            line: 2,
            character: 15
        }
    );
}

#[test]
fn parser_panic_stops_after_syntax() {
    let report = check("function (", &CheckOptions::default());
    assert_eq!(report.dialect, None);
    assert!(!report.diagnostics.is_empty());
    assert!(report.diagnostics.iter().all(|d| d.code == "syntax"));
    assert!(report.has_errors());
}

#[test]
fn missing_execute_only_in_execute_dialect() {
    let report = check("// a workflow\nconst x = 1;\n", &CheckOptions::default());
    let d: Vec<_> = report
        .diagnostics
        .iter()
        .filter(|d| d.code == "missing-execute")
        .collect();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, Severity::Error);
    assert_eq!(
        d[0].range.end,
        Position {
            line: 0,
            character: 13
        }
    );
    assert!(d[0].message.contains("module.exports = { execute }"));
    let report = check(
        "export const meta = {};\nreturn 1;",
        &CheckOptions::default(),
    );
    assert!(report.diagnostics.is_empty());
    let report = check("exports.execute = async () => 1;", &CheckOptions::default());
    assert!(report.diagnostics.is_empty(), "{:?}", report.diagnostics);
}

#[test]
fn utf16_ranges_after_astral_characters() {
    let src = "export const meta = { name: \"😀 audit\" };\nconst s = \"😀😀\"; await agnet(s);";
    let report = check(src, &CheckOptions::default());
    let d = &report.diagnostics[0];
    assert_eq!(d.code, "unknown-global");
    // Each emoji is two UTF-16 units: `const s = "` (11) + 4 + `"; await ` (9) = 24.
    assert_eq!(
        d.range.start,
        Position {
            line: 1,
            character: 24
        }
    );
    assert_eq!(
        d.range.end,
        Position {
            line: 1,
            character: 29
        }
    );
}
