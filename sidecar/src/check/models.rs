//! Which models a script will ask for, as far as its text says: the `model:` literals of its
//! `agent()` calls, and whether any call relies on the default model. The engine checks routes
//! and keys for exactly these before the first agent runs.

use oxc_allocator::Allocator;
use oxc_ast::ast::{CallExpression, Expression, ObjectExpression, ObjectPropertyKind};
use oxc_ast_visit::{Visit, walk};
use oxc_semantic::{IsGlobalReference, Scoping};

use super::LineIndex;
use super::dialect::strip;

/// The models a script names, and whether it also uses the default model.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ModelUse {
    /// String literals given as `model:` or `fallback:` of `agent()` calls, in order, deduplicated.
    pub literals: Vec<String>,
    /// Some call may use the default model: an `agent()` without a literal `model`, or a
    /// `verify`/`summarize` (their agents take the default unless told otherwise).
    pub default: bool,
}

/// Scans `source`; a script that does not parse conservatively "uses the default model".
pub fn model_use(source: &str) -> ModelUse {
    super::with_stack(|| model_use_here(source))
}

fn model_use_here(source: &str) -> ModelUse {
    let lines = LineIndex::new(source);
    let allocator = Allocator::default();
    let parsed = super::syntax::parse(&allocator, source, &lines);
    let Some(scoping) = parsed.scoping else {
        return ModelUse {
            literals: vec![],
            default: true,
        };
    };
    let mut v = Scan {
        scoping: &scoping,
        out: ModelUse::default(),
    };
    v.visit_program(parsed.program);
    v.out
}

struct Scan<'s> {
    scoping: &'s Scoping,
    out: ModelUse,
}

impl Scan<'_> {
    /// Records the literal `model`/`fallback` of an options object; false when the object does
    /// not pin a model (no `model` key, a computed one, or a spread that might carry one).
    fn options(&mut self, o: &ObjectExpression) -> bool {
        let mut pinned = false;
        for p in &o.properties {
            let ObjectPropertyKind::ObjectProperty(prop) = p else {
                return false;
            };
            let Some(name) = prop.key.static_name() else {
                continue;
            };
            if name != "model" && name != "fallback" {
                continue;
            }
            match strip(&prop.value) {
                Expression::StringLiteral(s) => {
                    let m = s.value.to_string();
                    if !self.out.literals.contains(&m) {
                        self.out.literals.push(m);
                    }
                    if name == "model" {
                        pinned = true;
                    }
                }
                // A model chosen at run time: only the run knows it.
                _ if name == "model" => pinned = true,
                _ => {}
            }
        }
        pinned
    }
}

impl<'a> Visit<'a> for Scan<'_> {
    fn visit_call_expression(&mut self, it: &CallExpression<'a>) {
        if let Expression::Identifier(callee) = strip(&it.callee)
            && callee.is_global_reference(self.scoping)
        {
            match callee.name.as_str() {
                "agent" => {
                    let object = it.arguments.iter().take(2).find_map(|a| {
                        match a.as_expression().map(strip) {
                            Some(Expression::ObjectExpression(o)) => Some(&**o),
                            _ => None,
                        }
                    });
                    let pinned = object.is_some_and(|o| self.options(o));
                    self.out.default |= !pinned;
                }
                "verify" | "summarize" => self.out.default = true,
                _ => {}
            }
        }
        walk::walk_call_expression(self, it);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_default_use() {
        let u = model_use(
            "agent('a', { model: 'gpt-5', fallback: 'ollama:q' }); agent({ prompt: 'b', model: \"gpt-5\" });",
        );
        assert_eq!(u.literals, vec!["gpt-5", "ollama:q"]);
        assert!(!u.default);
        assert!(model_use("agent('a');").default);
        assert!(model_use("agent('a', { label: 'x' });").default);
        assert!(!model_use("agent('a', { model: pick() });").default);
        assert!(model_use("verify({ target: 1, critics: ['x'] });").default);
        // A local function named agent is not the primitive.
        assert!(!model_use("function agent() {} agent('x');").default);
    }
}
