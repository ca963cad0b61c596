//! The module-level rules that decide whether a script can run at all: no `import`, no `export`
//! besides a leading `meta`, and no top-level `await`/`return` in the `execute` dialect.

use oxc_ast::AstKind;
use oxc_ast::ast::{
    AwaitExpression, ForOfStatement, ImportExpression, ImportMeta, ModuleDeclaration, Program,
    ReturnStatement, Statement,
};
use oxc_ast_visit::{Visit, walk};
use oxc_span::{GetSpan, Span};

use super::Dialect;
use super::findings::Findings;

const NO_MODULES: &str = "workflow scripts have no modules; inline the code, or run another workflow script with \
     `workflow(path, args)`";

/// Reports everything that stops `program` from running in `dialect`.
pub fn check(program: &Program, dialect: Dialect, findings: &mut Findings) {
    for (index, stmt) in program.body.iter().enumerate() {
        check_module_item(stmt, index == 0 && dialect == Dialect::Meta, findings);
    }
    let mut visitor = TopLevel {
        dialect,
        function_depth: 0,
        findings,
    };
    visitor.visit_program(program);
}

fn check_module_item(stmt: &Statement, is_meta_header: bool, findings: &mut Findings) {
    if is_meta_header {
        return;
    }
    if let Some(meta) = super::dialect::meta_declaration(stmt) {
        if meta.object.is_none() {
            findings.error(
                meta.span,
                "invalid-meta",
                "`meta` must be a `const` bound to an object literal: \
                 `export const meta = { name: \"…\", description: \"…\" };`",
            );
        } else {
            findings.error(
                meta.span,
                "misplaced-meta",
                "`export const meta` must be the first statement: move it to the top of the file",
            );
        }
        return;
    }
    let Some(decl) = stmt.as_module_declaration() else {
        return;
    };
    let span = decl.span();
    match decl {
        ModuleDeclaration::ImportDeclaration(_) => {
            findings.error(
                span,
                "forbidden-import",
                format!("`import` is not available: {NO_MODULES}"),
            );
        }
        _ => {
            let keyword = Span::sized(span.start, "export".len() as u32);
            findings.error(
                keyword,
                "forbidden-export",
                "`export` is not available: remove it; only `export const meta = { … }` as the \
                 first statement may be exported, and `execute` scripts export with \
                 `module.exports = { execute }`",
            );
        }
    }
}

/// Finds what only makes sense at the top level of a module body.
struct TopLevel<'f, 'l> {
    dialect: Dialect,
    function_depth: u32,
    findings: &'f mut Findings<'l>,
}

impl TopLevel<'_, '_> {
    fn top_level(&mut self, span: Span, what: &str) {
        if self.function_depth == 0 && self.dialect == Dialect::Execute {
            self.findings.error(
                span,
                "execute-top-level",
                format!(
                    "top-level {what} is not allowed in an `execute` script: move this code into \
                     `async function execute(context)`, or start the file with \
                     `export const meta = {{ … }}` to write the workflow as top-level code"
                ),
            );
        }
    }
}

impl<'a> Visit<'a> for TopLevel<'_, '_> {
    fn enter_node(&mut self, kind: AstKind<'a>) {
        if matches!(
            kind,
            AstKind::Function(_) | AstKind::ArrowFunctionExpression(_)
        ) {
            self.function_depth += 1;
        }
    }

    fn leave_node(&mut self, kind: AstKind<'a>) {
        if matches!(
            kind,
            AstKind::Function(_) | AstKind::ArrowFunctionExpression(_)
        ) {
            self.function_depth -= 1;
        }
    }

    fn visit_await_expression(&mut self, it: &AwaitExpression<'a>) {
        self.top_level(Span::sized(it.span.start, "await".len() as u32), "`await`");
        walk::walk_await_expression(self, it);
    }

    fn visit_for_of_statement(&mut self, it: &ForOfStatement<'a>) {
        if it.r#await {
            self.top_level(
                Span::sized(it.span.start, "for await".len() as u32),
                "`for await`",
            );
        }
        walk::walk_for_of_statement(self, it);
    }

    fn visit_return_statement(&mut self, it: &ReturnStatement<'a>) {
        self.top_level(
            Span::sized(it.span.start, "return".len() as u32),
            "`return`",
        );
        walk::walk_return_statement(self, it);
    }

    fn visit_import_expression(&mut self, it: &ImportExpression<'a>) {
        self.findings.error(
            it.span,
            "forbidden-import",
            format!("dynamic `import()` is not available: {NO_MODULES}"),
        );
        walk::walk_import_expression(self, it);
    }

    fn visit_import_meta(&mut self, it: &ImportMeta) {
        self.findings.error(
            it.span,
            "forbidden-import",
            "`import.meta` is not available: workflow scripts are not modules; use `args` for \
             inputs and `context.tools` for files",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::position::LineIndex;
    use crate::check::syntax::parse;
    use odw_protocol::{Diagnostic, Position};
    use oxc_allocator::Allocator;

    fn run(source: &str) -> Vec<Diagnostic> {
        let allocator = Allocator::default();
        let lines = LineIndex::new(source);
        let parsed = parse(&allocator, source, &lines);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        let dialect = crate::check::dialect::detect(parsed.program).0;
        let mut findings = Findings::new(&lines);
        check(parsed.program, dialect, &mut findings);
        findings.into_sorted()
    }

    fn codes(source: &str) -> Vec<String> {
        run(source).into_iter().map(|d| d.code).collect()
    }

    #[test]
    fn imports_are_forbidden() {
        assert_eq!(codes("import fs from 'fs';"), ["forbidden-import"]);
        assert_eq!(
            codes("async function execute() { await import('x'); }"),
            ["forbidden-import"]
        );
        assert_eq!(codes("const u = import.meta.url;"), ["forbidden-import"]);
    }

    #[test]
    fn exports_other_than_leading_meta_are_forbidden() {
        assert!(codes("export const meta = {};\nreturn 1;").is_empty());
        let d = run("export const meta = {};\nexport function f() {}");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, "forbidden-export");
        assert_eq!(
            d[0].range.start,
            Position {
                line: 1,
                character: 0
            }
        );
        assert_eq!(
            d[0].range.end,
            Position {
                line: 1,
                character: 6
            }
        );
        assert_eq!(codes("export default 1;"), ["forbidden-export"]);
        assert_eq!(codes("const a = 1; export { a };"), ["forbidden-export"]);
    }

    #[test]
    fn meta_must_come_first_and_be_a_literal() {
        assert_eq!(
            codes("const a = 1;\nexport const meta = {};"),
            ["misplaced-meta"]
        );
        assert_eq!(codes("export const meta = build();"), ["invalid-meta"]);
    }

    #[test]
    fn execute_dialect_rejects_top_level_await_and_return() {
        let d = run("const x = await agent('a');\nreturn x;\nmodule.exports = {};");
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|d| d.code == "execute-top-level"));
        assert!(d[0].message.contains("`await`") && d[0].message.contains("execute"));
        assert_eq!(
            d[1].range.start,
            Position {
                line: 1,
                character: 0
            }
        );
        assert_eq!(codes("for await (const x of xs) {}"), ["execute-top-level"]);
    }

    #[test]
    fn await_and_return_inside_functions_are_fine() {
        let src = "async function execute() { const f = async () => { return await agent('a'); };\n\
                   return f(); }";
        assert!(codes(src).is_empty());
    }

    #[test]
    fn meta_dialect_allows_top_level_await_and_return() {
        assert!(
            codes("export const meta = {};\nconst x = await agent('a');\nreturn x;").is_empty()
        );
    }
}
