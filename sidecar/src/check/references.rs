//! `forbidden-api` and `unknown-global`: every name the script uses without declaring it must be
//! something the sandbox provides.

use oxc_ast::AstKind;
use oxc_ast::ast::{Expression, IdentifierReference, Program, UnaryExpression, UnaryOperator};
use oxc_ast_visit::{Visit, walk};
use oxc_semantic::{IsGlobalReference, Scoping};

use super::Dialect;
use super::findings::Findings;
use super::globals;

/// Reports unresolved references that the sandbox does not provide.
pub fn check(program: &Program, scoping: &Scoping, dialect: Dialect, findings: &mut Findings) {
    let mut visitor = References {
        scoping,
        dialect,
        plain_function_depth: 0,
        findings,
    };
    visitor.visit_program(program);
}

struct References<'s, 'f, 'l> {
    scoping: &'s Scoping,
    dialect: Dialect,
    /// Non-arrow functions we are inside, where `arguments` exists without a declaration.
    plain_function_depth: u32,
    findings: &'f mut Findings<'l>,
}

impl References<'_, '_, '_> {
    fn report(&mut self, ident: &IdentifierReference) {
        let name = ident.name.as_str();
        if let Some(hint) = globals::forbidden_hint(name) {
            self.findings.error(
                ident.span,
                "forbidden-api",
                format!("`{name}` is not available in workflow scripts: {hint}"),
            );
            return;
        }
        if globals::is_known(name, self.dialect)
            || (name == "arguments" && self.plain_function_depth > 0)
        {
            return;
        }
        if let Some(hint) = globals::absent_hint(name, self.dialect) {
            self.findings.error(
                ident.span,
                "unknown-global",
                format!("unknown global `{name}`: {hint}"),
            );
            return;
        }
        match globals::suggest_global(name, self.dialect) {
            Some(suggestion) => {
                let fix = self.findings.fix(
                    format!("replace with `{suggestion}`"),
                    &[(ident.span, suggestion.to_string())],
                );
                self.findings
                    .error(
                        ident.span,
                        "unknown-global",
                        format!("unknown global `{name}`: did you mean `{suggestion}`?"),
                    )
                    .fix = Some(fix);
            }
            None => {
                self.findings.error(
                    ident.span,
                    "unknown-global",
                    format!(
                        "unknown global `{name}`: declare it with `const`/`let`/`function`, or \
                         use a workflow global (`agent`, `parallel`, `args`, …)"
                    ),
                );
            }
        }
    }
}

impl<'a> Visit<'a> for References<'_, '_, '_> {
    fn enter_node(&mut self, kind: AstKind<'a>) {
        if matches!(kind, AstKind::Function(_)) {
            self.plain_function_depth += 1;
        }
    }

    fn leave_node(&mut self, kind: AstKind<'a>) {
        if matches!(kind, AstKind::Function(_)) {
            self.plain_function_depth -= 1;
        }
    }

    fn visit_identifier_reference(&mut self, it: &IdentifierReference<'a>) {
        if it.is_global_reference(self.scoping) {
            self.report(it);
        }
    }

    fn visit_unary_expression(&mut self, it: &UnaryExpression<'a>) {
        // `typeof process === "undefined"` is how portable code probes for a global: not a use.
        if it.operator == UnaryOperator::Typeof
            && matches!(it.argument.without_parentheses(), Expression::Identifier(_))
        {
            return;
        }
        walk::walk_unary_expression(self, it);
    }
}

#[cfg(test)]
mod tests {
    use crate::check::{CheckOptions, check};
    use odw_protocol::{Diagnostic, Position};

    const EXEC_TAIL: &str = "\nmodule.exports = { execute };";

    fn found(source: &str, code: &str) -> Vec<Diagnostic> {
        check(source, &CheckOptions::default())
            .diagnostics
            .into_iter()
            .filter(|d| d.code == code)
            .collect()
    }

    #[test]
    fn forbidden_apis_are_errors() {
        let src = format!(
            "async function execute() {{ const fs = require('fs'); fetch('x'); setTimeout(f, 1); \
             return process.env.X; }}{EXEC_TAIL}"
        );
        let d = found(&src, "forbidden-api");
        let names: Vec<_> = d
            .iter()
            .map(|d| d.message.split('`').nth(1).unwrap())
            .collect();
        assert_eq!(names, ["require", "fetch", "setTimeout", "process"]);
        assert!(d[0].message.contains("workflow("));
    }

    #[test]
    fn declared_names_shadow_forbidden_ones() {
        let src = "export const meta = {};\nconst fetch = (u) => agent(u);\nfunction require() {}\n\
                   await fetch('a'); require();";
        assert!(found(src, "forbidden-api").is_empty());
    }

    #[test]
    fn typo_gets_a_suggestion_and_a_fix() {
        let src = "export const meta = {};\nconst é = 1; await agnet(`${é}`);";
        let d = found(src, "unknown-global");
        assert_eq!(d.len(), 1);
        assert_eq!(
            d[0].message,
            "unknown global `agnet`: did you mean `agent`?"
        );
        // "é" is one UTF-16 unit, so `agnet` starts at column 19 on line 1.
        assert_eq!(
            d[0].range.start,
            Position {
                line: 1,
                character: 19
            }
        );
        assert_eq!(
            d[0].range.end,
            Position {
                line: 1,
                character: 24
            }
        );
        let fix = d[0].fix.as_ref().unwrap();
        assert_eq!(fix.edits.len(), 1);
        assert_eq!(fix.edits[0].range, d[0].range);
        assert_eq!(fix.edits[0].new_text, "agent");
    }

    #[test]
    fn known_globals_and_locals_are_fine() {
        let src = "export const meta = {};\nconst xs = args.items ?? [];\n\
                   const r = await parallel(xs.map(x => () => agent(String(x))));\n\
                   phase('x'); log(JSON.stringify(r)); console.log(Math.max(1, 2));\n\
                   function f() { return arguments.length; }\n\
                   if (typeof window === 'undefined') checkpoint({ n: budget.remaining() });\n\
                   return new Map([[1, Promise.resolve(performance.now())]]);";
        assert!(found(src, "unknown-global").is_empty());
        assert!(found(src, "forbidden-api").is_empty());
    }

    #[test]
    fn quickjs_gaps_and_dialect_specific_names() {
        let d = found(
            "export const meta = {};\nreturn Intl.NumberFormat;",
            "unknown-global",
        );
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("QuickJS has no `Intl`"));
        let d = found(
            "export const meta = {};\nmodule.exports = {};",
            "unknown-global",
        );
        assert_eq!(d.len(), 1);
        assert!(d[0].message.contains("CommonJS"));
        assert!(
            found(
                &format!("function execute() {{}}{EXEC_TAIL}"),
                "unknown-global"
            )
            .is_empty()
        );
        let d = found(
            "export const meta = {};\nreturn frobnicate;",
            "unknown-global",
        );
        assert!(d[0].fix.is_none() && d[0].message.contains("declare it"));
    }
}
