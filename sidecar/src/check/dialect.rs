//! Which of the two dialects a script uses, its static `meta`, and whether an `execute` dialect
//! script exports the `execute` function the runtime calls.

use oxc_ast::ast::{
    AssignmentTarget, Declaration, Expression, ObjectExpression, Program, PropertyKey,
    PropertyKind, Statement, UnaryOperator, VariableDeclarationKind,
};
use oxc_span::Span;
use serde_json::{Map, Number, Value};

use super::Dialect;
use super::findings::Findings;

/// An `export const meta = …` / `export let meta = …` statement, wherever it appears.
pub struct MetaDeclaration<'p, 'a> {
    /// The whole statement.
    pub span: Span,
    /// The `export` keyword.
    pub export: Span,
    /// `const` with exactly one declarator and an object-literal initializer: the dialect's form.
    pub object: Option<&'p ObjectExpression<'a>>,
}

/// Recognises a statement that exports a binding named `meta`.
pub fn meta_declaration<'p, 'a>(stmt: &'p Statement<'a>) -> Option<MetaDeclaration<'p, 'a>> {
    let Statement::ExportDeclaration(export) = stmt else {
        return None;
    };
    let Declaration::VariableDeclaration(decl) = &export.declaration else {
        return None;
    };
    let declares_meta = decl
        .declarations
        .iter()
        .any(|d| d.id.get_identifier_name().is_some_and(|n| n == "meta"));
    if !declares_meta {
        return None;
    }
    let object = match (decl.kind, decl.declarations.as_slice()) {
        (VariableDeclarationKind::Const, [only]) => match only.init.as_ref().map(strip) {
            Some(Expression::ObjectExpression(object)) => Some(&**object),
            _ => None,
        },
        _ => None,
    };
    let export_keyword = Span::sized(export.span.start, "export".len() as u32);
    Some(MetaDeclaration {
        span: export.span,
        export: export_keyword,
        object,
    })
}

/// The dialect: `Meta` exactly when the first statement is `export const meta = {…}`.
pub fn detect<'p, 'a>(program: &'p Program<'a>) -> (Dialect, Option<MetaDeclaration<'p, 'a>>) {
    match program.body.first().and_then(meta_declaration) {
        Some(meta) if meta.object.is_some() => (Dialect::Meta, Some(meta)),
        _ => (Dialect::Execute, None),
    }
}

/// Evaluates a literal to JSON; `None` as soon as anything needs running code to know its value.
pub fn literal_json(expr: &Expression) -> Option<Value> {
    Some(match strip(expr) {
        Expression::NullLiteral(_) => Value::Null,
        Expression::BooleanLiteral(b) => Value::Bool(b.value),
        Expression::StringLiteral(s) => Value::String(s.value.to_string()),
        Expression::TemplateLiteral(t) => Value::String(t.single_quasi()?.to_string()),
        Expression::NumericLiteral(n) => number(n.value)?,
        Expression::UnaryExpression(u) if u.operator == UnaryOperator::UnaryNegation => {
            match strip(&u.argument) {
                Expression::NumericLiteral(n) => number(-n.value)?,
                _ => return None,
            }
        }
        Expression::ArrayExpression(array) => Value::Array(
            array
                .elements
                .iter()
                .map(|el| el.as_expression().and_then(literal_json))
                .collect::<Option<_>>()?,
        ),
        Expression::ObjectExpression(object) => object_json(object)?,
        _ => return None,
    })
}

/// Evaluates an object literal to JSON (see [`literal_json`]).
pub fn object_json(object: &ObjectExpression) -> Option<Value> {
    let mut map = Map::new();
    for prop in &object.properties {
        let prop = prop.as_property()?;
        if prop.computed || prop.method || prop.shorthand || prop.kind != PropertyKind::Init {
            return None;
        }
        map.insert(
            prop.key.static_name()?.into_owned(),
            literal_json(&prop.value)?,
        );
    }
    Some(Value::Object(map))
}

fn number(value: f64) -> Option<Value> {
    // Integers stay integers in JSON (`1`, not `1.0`), as JSON.stringify would print them.
    if value.fract() == 0.0 && value.abs() < 9.0e15 {
        Some(Value::Number(Number::from(value as i64)))
    } else {
        Number::from_f64(value).map(Value::Number)
    }
}

/// Removes the parentheses the parser keeps (`preserve_parens` is on by default).
pub fn strip<'p, 'a>(expr: &'p Expression<'a>) -> &'p Expression<'a> {
    expr.without_parentheses()
}

/// `missing-execute`: an `execute` dialect script must define or export `execute`.
pub fn check_execute(program: &Program, findings: &mut Findings) {
    if program.body.iter().any(provides_execute) {
        return;
    }
    let first_line = program
        .source_text
        .find(['\n', '\r'])
        .unwrap_or(program.source_text.len());
    findings.error(
        Span::new(0, first_line as u32),
        "missing-execute",
        "no `execute` function: define `async function execute(context) { … }` and export it \
         with `module.exports = { execute }`, or start the file with `export const meta = { … }` \
         and write the workflow as top-level code",
    );
}

fn provides_execute(stmt: &Statement) -> bool {
    match stmt {
        Statement::FunctionDeclaration(f) => f.id.as_ref().is_some_and(|id| id.name == "execute"),
        Statement::VariableDeclaration(decl) => decl.declarations.iter().any(|d| {
            d.init.is_some() && d.id.get_identifier_name().is_some_and(|n| n == "execute")
        }),
        Statement::ExpressionStatement(stmt) => {
            let Expression::AssignmentExpression(assign) = strip(&stmt.expression) else {
                return false;
            };
            let Some(member) = assign.left.as_member_expression() else {
                return false;
            };
            let target = member.static_property_name();
            let object = member.object();
            // `module.exports.execute = …` / `exports.execute = …`
            if target == Some("execute")
                && (object.is_specific_id("exports")
                    || object.is_specific_member_access("module", "exports"))
            {
                return true;
            }
            // `module.exports = { execute }`
            let exports_object =
                matches!(&assign.left, AssignmentTarget::StaticMemberExpression(_))
                    && object.is_specific_id("module")
                    && target == Some("exports");
            exports_object
                && matches!(strip(&assign.right), Expression::ObjectExpression(o)
                    if o.properties.iter().any(|p| p.as_property().is_some_and(|p| is_key(&p.key, "execute"))))
        }
        _ => false,
    }
}

/// Whether a non-computed property key is `name`.
pub fn is_key(key: &PropertyKey, name: &str) -> bool {
    !matches!(key, PropertyKey::PrivateIdentifier(_))
        && key.static_name().is_some_and(|n| n == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::position::LineIndex;
    use crate::check::syntax::parse;
    use oxc_allocator::Allocator;
    use serde_json::json;

    fn with_program<T>(source: &str, f: impl FnOnce(&Program) -> T) -> T {
        let allocator = Allocator::default();
        let lines = LineIndex::new(source);
        let parsed = parse(&allocator, source, &lines);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        f(parsed.program)
    }

    fn dialect(source: &str) -> Dialect {
        with_program(source, |p| detect(p).0)
    }

    #[test]
    fn detects_both_dialects() {
        assert_eq!(
            dialect("export const meta = { name: 'x' };\nreturn 1;"),
            Dialect::Meta
        );
        assert_eq!(dialect("export const meta = ({});"), Dialect::Meta);
        assert_eq!(dialect("async function execute() {}"), Dialect::Execute);
        assert_eq!(
            dialect("const a = 1;\nexport const meta = {};"),
            Dialect::Execute
        );
        assert_eq!(dialect("export const meta = make();"), Dialect::Execute);
        assert_eq!(dialect("export let meta = {};"), Dialect::Execute);
    }

    #[test]
    fn meta_export_span_is_the_keyword() {
        with_program("\n  export const meta = {};", |p| {
            let (_, meta) = detect(p);
            assert_eq!(meta.unwrap().export, Span::new(3, 9));
        });
    }

    #[test]
    fn evaluates_plain_literals() {
        let src = "export const meta = { name: 'audit', n: 3, x: -1.5, ok: true, none: null, \
                   'quoted key': `t`, phases: [{ title: \"A\" }] };";
        with_program(src, |p| {
            let (_, meta) = detect(p);
            let object = meta.unwrap().object.unwrap();
            let value = object_json(object).unwrap();
            assert_eq!(
                value,
                json!({"name": "audit", "n": 3, "x": -1.5, "ok": true, "none": null,
                       "quoted key": "t", "phases": [{"title": "A"}]})
            );
        });
    }

    #[test]
    fn non_literal_meta_has_no_value() {
        for src in [
            "export const meta = { name: NAME };",
            "export const meta = { name: `a${b}` };",
            "export const meta = { ...base };",
            "export const meta = { f() {} };",
            "export const meta = { [k]: 1 };",
        ] {
            with_program(src, |p| {
                let object = detect(p).1.unwrap().object.unwrap();
                assert_eq!(object_json(object), None, "{src}");
            });
        }
    }

    #[test]
    fn finds_execute_in_every_form() {
        for src in [
            "async function execute(context) {}",
            "const execute = async () => {};",
            "module.exports = { execute };",
            "module.exports = { execute: run };",
            "module.exports = { async execute(ctx) {} };",
            "module.exports.execute = run;",
            "exports.execute = run;",
        ] {
            assert!(
                with_program(src, |p| p.body.iter().any(provides_execute)),
                "{src}"
            );
        }
        for src in [
            "function run() {}",
            "module.exports = { run };",
            "exports.run = run;",
            "let execute;",
        ] {
            assert!(
                !with_program(src, |p| p.body.iter().any(provides_execute)),
                "{src}"
            );
        }
    }
}
