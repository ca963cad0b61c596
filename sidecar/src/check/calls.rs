//! How the promise-returning primitives are called: `floating-promise` (a result nobody awaits)
//! and `eager-parallel` (calls handed to `parallel` where it needs thunks).

use oxc_ast::AstKind;
use oxc_ast::ast::{
    ArrowFunctionExpression, CallExpression, Expression, ExpressionStatement, FunctionBody,
    Program, Statement,
};
use oxc_ast_visit::{Visit, walk};
use oxc_semantic::{IsGlobalReference, Scoping};
use oxc_span::{GetSpan, Span};

use super::Dialect;
use super::dialect::strip;
use super::findings::Findings;
use crate::primitives;

/// Reports dropped promises and eager `parallel` inputs.
pub fn check(program: &Program, scoping: &Scoping, dialect: Dialect, findings: &mut Findings) {
    let mut visitor = Calls {
        scoping,
        dialect,
        async_stack: Vec::new(),
        findings,
    };
    visitor.visit_program(program);
}

/// A call of an unshadowed promise-returning global.
pub struct PromiseCall<'c> {
    /// The whole call expression.
    pub call: Span,
    /// The callee identifier.
    pub callee: Span,
    /// The global's name (`agent`, `parallel`, …).
    pub name: &'c str,
}

/// Recognises `agent(…)`, `parallel(…)`, … (parentheses ignored) when the name is not shadowed.
pub fn promise_call<'c>(expr: &'c Expression, scoping: &Scoping) -> Option<PromiseCall<'c>> {
    let Expression::CallExpression(call) = strip(expr) else {
        return None;
    };
    let Expression::Identifier(callee) = strip(&call.callee) else {
        return None;
    };
    let name = callee.name.as_str();
    (primitives::returns_promise(name) && callee.is_global_reference(scoping)).then_some(
        PromiseCall {
            call: call.span,
            callee: callee.span,
            name,
        },
    )
}

struct Calls<'s, 'f, 'l> {
    scoping: &'s Scoping,
    dialect: Dialect,
    /// Whether each enclosing function is `async`, innermost last: decides if `await` can be offered.
    async_stack: Vec<bool>,
    findings: &'f mut Findings<'l>,
}

impl Calls<'_, '_, '_> {
    fn can_await(&self) -> bool {
        self.async_stack
            .last()
            .copied()
            .unwrap_or(self.dialect == Dialect::Meta)
    }

    fn floating(&mut self, stmt: &ExpressionStatement) {
        let Some(PromiseCall { call, callee, name }) = promise_call(&stmt.expression, self.scoping)
        else {
            return;
        };
        let fix = self.can_await().then(|| {
            let edit = (Span::empty(call.start), "await ".to_string());
            self.findings.fix("add `await`", &[edit])
        });
        self.findings
            .warning(
                callee,
                "floating-promise",
                format!(
                    "the promise from `{name}(…)` is dropped: its result and errors are lost and \
                     the run may end before it finishes; `await` it, `return` it, or pass it on"
                ),
            )
            .fix = fix;
    }

    fn eager_parallel(&mut self, call: &CallExpression) {
        let Some(input) = call.arguments.first().and_then(|a| a.as_expression()) else {
            return;
        };
        let mut eager: Vec<PromiseCall> = Vec::new();
        let mut fixable = true;
        match strip(input) {
            Expression::ArrayExpression(array) => {
                for element in array.elements.iter().filter_map(|e| e.as_expression()) {
                    eager.extend(promise_call(element, self.scoping));
                }
            }
            Expression::CallExpression(map) if is_map_call(map) => {
                let Some(callback) = map.arguments.first().and_then(|a| a.as_expression()) else {
                    return;
                };
                match strip(callback) {
                    Expression::ArrowFunctionExpression(arrow) => {
                        fixable = !arrow.r#async;
                        self.returned_calls(arrow, &mut eager);
                    }
                    Expression::FunctionExpression(function) => {
                        fixable = !function.r#async && !function.generator;
                        if let Some(body) = &function.body {
                            self.returned_from_body(body, &mut eager);
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        let Some(first) = eager.first().map(|c| c.name) else {
            return;
        };
        // Wrapping a call inside an `async` callback would resolve to a function, not a result.
        let fix = fixable.then(|| {
            let edits: Vec<_> = eager
                .iter()
                .map(|c| (Span::empty(c.call.start), "() => ".to_string()))
                .collect();
            self.findings
                .fix("wrap the calls in `() =>` thunks", &edits)
        });
        self.findings
            .warning(
                input.span(),
                "eager-parallel",
                format!(
                    "`parallel` gets calls, not thunks: these calls start at once and ignore \
                     maxConcurrency; pass thunks: `() => {first}(…)`"
                ),
            )
            .fix = fix;
    }

    fn returned_calls<'c>(
        &self,
        arrow: &'c ArrowFunctionExpression<'c>,
        out: &mut Vec<PromiseCall<'c>>,
    ) {
        match arrow.get_expression() {
            Some(body) => out.extend(promise_call(body, self.scoping)),
            None => {
                if let Some(body) = arrow.get_function_body() {
                    self.returned_from_body(body, out);
                }
            }
        }
    }

    fn returned_from_body<'c>(&self, body: &'c FunctionBody<'c>, out: &mut Vec<PromiseCall<'c>>) {
        for stmt in &body.statements {
            if let Statement::ReturnStatement(ret) = stmt
                && let Some(arg) = &ret.argument
            {
                out.extend(promise_call(arg, self.scoping));
            }
        }
    }
}

fn is_map_call(call: &CallExpression) -> bool {
    strip(&call.callee)
        .as_member_expression()
        .and_then(|m| m.static_property_name())
        == Some("map")
}

impl<'a> Visit<'a> for Calls<'_, '_, '_> {
    fn enter_node(&mut self, kind: AstKind<'a>) {
        match kind {
            AstKind::Function(f) => self.async_stack.push(f.r#async),
            AstKind::ArrowFunctionExpression(a) => self.async_stack.push(a.r#async),
            _ => {}
        }
    }

    fn leave_node(&mut self, kind: AstKind<'a>) {
        if matches!(
            kind,
            AstKind::Function(_) | AstKind::ArrowFunctionExpression(_)
        ) {
            self.async_stack.pop();
        }
    }

    fn visit_expression_statement(&mut self, it: &ExpressionStatement<'a>) {
        self.floating(it);
        walk::walk_expression_statement(self, it);
    }

    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        if let Expression::Identifier(callee) = strip(&it.callee)
            && callee.name == "parallel"
            && callee.is_global_reference(self.scoping)
        {
            self.eager_parallel(it);
        }
        walk::walk_call_expression(self, it);
    }
}

#[cfg(test)]
mod tests {
    use crate::check::{CheckOptions, check};
    use odw_protocol::{Diagnostic, Position, Severity};

    fn found(source: &str, code: &str) -> Vec<Diagnostic> {
        check(source, &CheckOptions::default())
            .diagnostics
            .into_iter()
            .filter(|d| d.code == code)
            .collect()
    }

    /// Applies a fix whose edits are all on one line.
    fn apply(line: &str, diag: &Diagnostic) -> String {
        let mut out: Vec<u16> = line.encode_utf16().collect();
        let mut edits = diag.fix.as_ref().expect("a fix").edits.clone();
        edits.sort_by_key(|e| std::cmp::Reverse(e.range.start.character));
        for e in edits {
            let (s, end) = (
                e.range.start.character as usize,
                e.range.end.character as usize,
            );
            out.splice(s..end, e.new_text.encode_utf16());
        }
        String::from_utf16(&out).unwrap()
    }

    #[test]
    fn dropped_promise_is_a_warning_with_await_fix_where_legal() {
        let src = "export const meta = {};\nagent('a');\nconst f = () => { verify({}); };\n";
        let d = found(src, "floating-promise");
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].severity, Severity::Warning);
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
                character: 5
            }
        );
        assert_eq!(apply("agent('a');", &d[0]), "await agent('a');");
        assert!(d[1].message.contains("`verify(…)`"));
        assert!(d[1].fix.is_none(), "no `await` inside a non-async arrow");
    }

    #[test]
    fn execute_dialect_top_level_has_no_await_fix() {
        let src = "workflow('x', {});\nasync function execute() { pipeline([], f); }\n\
                   module.exports = { execute };";
        let d = found(src, "floating-promise");
        assert_eq!(d.len(), 2);
        assert!(d[0].fix.is_none());
        assert!(d[1].fix.is_some());
    }

    #[test]
    fn used_promises_are_fine() {
        let src = "export const meta = {};\n\
                   const a = agent('a'); await agent('b'); agent('c').then(log);\n\
                   agent('d').catch(() => null); log(agent('e')); const xs = [agent('f')];\n\
                   const o = { p: summarize('t') }; void agent('g'); compact({}, {});\n\
                   function agentLike() {} agentLike();\n\
                   const g = () => agent('h');\n\
                   return parallel([() => agent('i')]);";
        assert!(
            found(src, "floating-promise").is_empty(),
            "{:?}",
            found(src, "floating-promise")
        );
    }

    #[test]
    fn shadowed_primitives_are_not_promises() {
        let src = "export const meta = {};\nconst agent = (x) => x;\nagent('a');";
        assert!(found(src, "floating-promise").is_empty());
    }

    #[test]
    fn eager_map_gets_thunk_fix() {
        let line =
            "const r = await parallel(files.map(f => agent(`Check ${f}`)), { maxConcurrency: 4 });";
        let src = format!("export const meta = {{}};\nconst files = [];\n{line}");
        let d = found(&src, "eager-parallel");
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].severity, Severity::Warning);
        assert!(
            d[0].message
                .contains("ignore maxConcurrency; pass thunks: `() => agent(…)`")
        );
        assert_eq!(
            d[0].range.start,
            Position {
                line: 2,
                character: 25
            }
        );
        assert_eq!(
            apply(line, &d[0]),
            "const r = await parallel(files.map(f => () => agent(`Check ${f}`)), { maxConcurrency: 4 });"
        );
    }

    #[test]
    fn eager_array_and_block_bodies() {
        let line = "await parallel([agent('a'), () => agent('b'), (verify({})), 3]);";
        let d = found(
            &format!("export const meta = {{}};\n{line}"),
            "eager-parallel",
        );
        assert_eq!(d.len(), 1);
        assert_eq!(
            apply(line, &d[0]),
            "await parallel([() => agent('a'), () => agent('b'), (() => verify({})), 3]);"
        );

        let line = "await parallel(xs.map(function (x) { const p = String(x); return workflow(p, {}); }));";
        let d = found(
            &format!("export const meta = {{}};\nconst xs = [];\n{line}"),
            "eager-parallel",
        );
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("`() => workflow(…)`"));
        assert!(apply(line, &d[0]).contains("return () => workflow(p, {});"));
    }

    #[test]
    fn async_callbacks_warn_without_a_fix() {
        let src =
            "export const meta = {};\nconst xs = [];\nawait parallel(xs.map(async x => agent(x)));";
        let d = found(src, "eager-parallel");
        assert_eq!(d.len(), 1);
        assert!(d[0].fix.is_none());
    }

    #[test]
    fn thunks_are_fine() {
        let src = "export const meta = {};\nconst xs = [];\n\
                   await parallel(xs.map(x => () => agent(x)));\n\
                   await parallel([() => agent('a'), 'value']);\n\
                   await parallel(xs.map(x => { return () => agent(x); }));\n\
                   await Promise.all(xs.map(x => agent(x)));";
        assert!(found(src, "eager-parallel").is_empty());
    }
}
