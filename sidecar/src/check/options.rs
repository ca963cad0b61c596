//! The literal options of `agent()` calls: `unknown-option`, `invalid-schema` and
//! `unknown-model`. Only what is written literally is checked; computed values pass.

use oxc_ast::ast::{
    CallExpression, Expression, ObjectExpression, ObjectProperty, Program, PropertyKey,
};
use oxc_ast_visit::{Visit, walk};
use oxc_semantic::{IsGlobalReference, Scoping};
use oxc_span::{GetSpan, Span};

use super::CheckOptions;
use super::dialect::strip;
use super::findings::Findings;
use super::globals::nearest;
use crate::primitives::agent_option_names;

use crate::providers::structured::shorthand::{self, BadType, Form, Problem, Written};

const MODEL_ALIASES: &[&str] = &["default", "planning", "fallback"];

/// Checks the options object of every `agent()` call.
pub fn check(program: &Program, scoping: &Scoping, opts: &CheckOptions, findings: &mut Findings) {
    let mut visitor = AgentOptions {
        scoping,
        opts,
        findings,
    };
    visitor.visit_program(program);
}

struct AgentOptions<'s, 'f, 'l> {
    scoping: &'s Scoping,
    opts: &'s CheckOptions,
    findings: &'f mut Findings<'l>,
}

impl AgentOptions<'_, '_, '_> {
    fn options(&mut self, options: &ObjectExpression) {
        for prop in options.properties.iter().filter_map(|p| p.as_property()) {
            if prop.computed {
                continue;
            }
            let Some(name) = prop.key.static_name() else {
                continue;
            };
            match name.as_ref() {
                "model" | "fallback" => self.model(&prop.value),
                "tools" => self.tools(&prop.value),
                "schema" => {
                    if let Expression::ObjectExpression(_) = strip(&prop.value) {
                        self.schema(&prop.value);
                    }
                }
                _ => {}
            }
            if !agent_option_names().any(|known| known == name) {
                self.unknown_option(prop, &name);
            }
        }
    }

    fn unknown_option(&mut self, prop: &ObjectProperty, name: &str) {
        let key = prop.key.span();
        let Some(suggestion) = nearest(name, agent_option_names()) else {
            let known: Vec<_> = agent_option_names().collect();
            self.findings.warning(
                key,
                "unknown-option",
                format!(
                    "unknown `agent()` option `{name}`: remove it or use one of {}",
                    known.join(", ")
                ),
            );
            return;
        };
        let edit = match &prop.key {
            // `{ modle }` also names a variable: keep the value, rename only the key.
            _ if prop.shorthand => (key, format!("{suggestion}: {name}")),
            PropertyKey::StringLiteral(_) => (inner(key), suggestion.to_string()),
            _ => (key, suggestion.to_string()),
        };
        let fix = self
            .findings
            .fix(format!("rename to `{suggestion}`"), &[edit]);
        self.findings
            .warning(
                key,
                "unknown-option",
                format!("unknown `agent()` option `{name}`: did you mean `{suggestion}`?"),
            )
            .fix = Some(fix);
    }

    /// `tools: [...]`: every literal name must be a tool of the table.
    fn tools(&mut self, value: &Expression) {
        let Expression::ArrayExpression(list) = strip(value) else {
            return;
        };
        let names = || crate::tools::TOOLS.iter().map(|t| t.id);
        for element in &list.elements {
            let Some(expr) = element.as_expression() else {
                continue;
            };
            let Some((span, name)) = string_literal(expr) else {
                continue;
            };
            if crate::tools::ToolName::parse(name).is_some() {
                continue;
            }
            match nearest(name, names()) {
                Some(suggestion) => {
                    let fix = self.findings.fix(
                        format!("rename to `{suggestion}`"),
                        &[(inner(span), suggestion.to_string())],
                    );
                    self.findings
                        .error(
                            span,
                            "unknown-tool",
                            format!("unknown tool `{name}`: did you mean `{suggestion}`?"),
                        )
                        .fix = Some(fix);
                }
                None => {
                    self.findings.error(
                        span,
                        "unknown-tool",
                        format!(
                            "unknown tool `{name}`: the tools are {}",
                            crate::tools::catalog::tool_list()
                        ),
                    );
                }
            }
        }
    }

    fn model(&mut self, value: &Expression) {
        let Some(known_model) = &self.opts.known_model else {
            return;
        };
        let Some((span, id)) = string_literal(value) else {
            return;
        };
        if MODEL_ALIASES.contains(&id) || known_model(id) {
            return;
        }
        self.findings.warning(
            span,
            "unknown-model",
            format!(
                "no route for model `{id}`: use an id odw can route ({}, or \
                 `<provider>:<model>` with `[providers.<provider>]` in odw.toml) or an alias: \
                 `default`, `planning`, `fallback`",
                crate::providers::spec::prefix_help()
            ),
        );
    }

    /// A literal schema: walked as the runtime expands it, each problem a diagnostic.
    fn schema(&mut self, schema: &Expression) {
        shorthand::expand(schema, &mut |place, problem| match problem {
            Problem::BadType { node, name, bad } => {
                self.type_name(strip(node).span(), name, place.field, bad)
            }
            Problem::ManyItems { node, .. } => {
                self.findings.error(
                    strip(node).span(),
                    "invalid-schema",
                    format!(
                        "invalid schema shorthand for `{}`: an array takes exactly one \
                         element, the schema of its items (`[\"string\"]`); for a choice of \
                         types write full JSON Schema with `anyOf`",
                        place.field
                    ),
                );
            }
            Problem::NotAType { node } => {
                self.findings.error(
                    strip(node).span(),
                    "invalid-schema",
                    format!(
                        "invalid schema shorthand for `{}`: values are type names as strings \
                         (\"string\", \"number\", \"integer\", \"boolean\", \"array\", \"object\", \
                         \"null\", or \"type[]\")",
                        place.field
                    ),
                );
            }
        });
    }

    fn type_name(&mut self, span: Span, ty: &str, field: &str, bad: BadType) {
        let suffix = "[]".repeat(bad.depth);
        let help = "shorthand types are string, number, integer, boolean, array, object and \
                    null, `type[]` for a list of them, or write full JSON Schema";
        let fix = bad.suggestion.map(|s| {
            let replacement = format!("{s}{suffix}");
            self.findings.fix(
                format!("use `{replacement}`"),
                &[(inner(span), replacement)],
            )
        });
        let message = match bad.suggestion {
            Some(s) => {
                format!(
                    "invalid schema type `{ty}` for `{field}`: did you mean `{s}{suffix}`? {help}"
                )
            }
            None => format!("invalid schema type `{ty}` for `{field}`: {help}"),
        };
        self.findings.error(span, "invalid-schema", message).fix = fix;
    }
}

/// A schema literal as the shorthand walker reads it: what is written literally is read, the
/// rest is not known before run time.
impl<'a> Written for Expression<'a> {
    fn form(&self) -> Form<'_, Self> {
        if let Some((_, name)) = string_literal(self) {
            return Form::Type(name);
        }
        match strip(self) {
            Expression::ObjectExpression(object) => Form::Object(
                object
                    .properties
                    .iter()
                    .filter_map(|p| p.as_property())
                    .map(|p| (p.key.static_name(), &p.value))
                    .collect(),
            ),
            Expression::ArrayExpression(array) => {
                Form::Array(array.elements.iter().map(|e| e.as_expression()).collect())
            }
            Expression::BooleanLiteral(b) => Form::Bool(b.value),
            Expression::NumericLiteral(_) | Expression::NullLiteral(_) => Form::NotAType,
            _ => Form::Unknown,
        }
    }

    fn json(&self) -> Option<serde_json::Value> {
        // The checker only reads the problems, never the expansion.
        None
    }
}

impl<'a> Visit<'a> for AgentOptions<'_, '_, '_> {
    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        if let Expression::Identifier(callee) = strip(&it.callee)
            && callee.name == "agent"
            && callee.is_global_reference(self.scoping)
        {
            let object =
                it.arguments
                    .iter()
                    .take(2)
                    .find_map(|arg| match arg.as_expression().map(strip) {
                        Some(Expression::ObjectExpression(object)) => Some(&**object),
                        _ => None,
                    });
            if let Some(object) = object {
                self.options(object);
            }
        }
        walk::walk_call_expression(self, it);
    }
}

/// The value of a string literal or a template without substitutions, with its span.
fn string_literal<'e>(expr: &'e Expression) -> Option<(Span, &'e str)> {
    match strip(expr) {
        Expression::StringLiteral(s) => Some((s.span, s.value.as_str())),
        Expression::TemplateLiteral(t) if t.expressions.is_empty() => {
            Some((t.span, t.quasis.first()?.value.cooked.as_ref()?.as_str()))
        }
        _ => None,
    }
}

/// The span between the quotes of a string literal.
fn inner(span: Span) -> Span {
    Span::new(span.start + 1, span.end - 1)
}

#[cfg(test)]
#[path = "options_tests.rs"]
mod tests;
