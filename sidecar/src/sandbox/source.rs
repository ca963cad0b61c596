//! From the user's file to the code QuickJS evaluates, and from QuickJS errors back to the
//! user's file: dialect wrapping that keeps line numbers, and import denial.

use super::{Script, ScriptError, ScriptErrorKind};
use odw_protocol::Dialect;
use rquickjs::loader::{ImportAttributes, Loader, Resolver};
use rquickjs::module::Declared;
use rquickjs::{Ctx, Module};

/// The code to evaluate. The meta dialect's body becomes an async function (so top-level
/// `await` and `return` work) written on the first line, and `export` of `export const meta` is
/// blanked, so every line keeps its number and every column after line 1 stays put.
pub fn guest_source(script: &Script) -> String {
    // A `#!` line is a comment to the checker (and Node); QuickJS accepts it only as the very
    // first bytes of a script, which the meta wrapper moves. `//` keeps every column.
    let source = match script.source.strip_prefix("#!") {
        Some(rest) => format!("//{rest}"),
        None => script.source.clone(),
    };
    match script.dialect {
        Dialect::Execute => source,
        Dialect::Meta => {
            let mut body = source;
            if let Some((start, end)) = script.meta_export
                && end <= body.len()
                && body.is_char_boundary(start)
                && body.is_char_boundary(end)
            {
                body.replace_range(start..end, &" ".repeat(end - start));
            }
            format!("globalThis.__odw_main = async function () {{{body}\n}};")
        }
    }
}

/// Turns what QuickJS reported (`Name: message` then stack lines) into a script error whose stack
/// points into the user's file.
pub fn script_error_from_js(text: &str, script: &Script) -> ScriptError {
    let mut e = error_from_text(text);
    if e.stack.is_none() {
        e.stack = Some(format!("    at {}", script.filename));
    }
    e
}

/// Parses `Name: message` and stack lines, dropping the prelude's own frames.
pub fn error_from_text(text: &str) -> ScriptError {
    let mut lines = text.lines();
    let message = lines.next().unwrap_or("error").to_string();
    let stack: Vec<&str> = lines
        .filter(|l| {
            !l.trim().is_empty()
                && !l.contains("odw:prelude.js")
                && !l.contains("odw:topologies.js")
        })
        .collect();
    let kind = if message.contains("out of memory") {
        ScriptErrorKind::OutOfMemory
    } else {
        ScriptErrorKind::Thrown
    };
    ScriptError {
        code: None,
        message,
        stack: (!stack.is_empty()).then(|| stack.join("\n")),
        kind,
    }
}

/// Resolver and loader that refuse every module: workflows have no imports.
pub struct DenyImports;

const NO_IMPORTS: &str = "imports are not available in workflow scripts: everything a workflow needs (agent, parallel, pipeline, context.tools, …) is already in scope";

impl Resolver for DenyImports {
    fn resolve<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        base: &str,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<String> {
        Err(rquickjs::Error::new_resolving_message(
            base, name, NO_IMPORTS,
        ))
    }
}

impl Loader for DenyImports {
    fn load<'js>(
        &mut self,
        _ctx: &Ctx<'js>,
        name: &str,
        _attributes: Option<ImportAttributes<'js>>,
    ) -> rquickjs::Result<Module<'js, Declared>> {
        Err(rquickjs::Error::new_loading_message(name, NO_IMPORTS))
    }
}

/// `Name: message` and the stack of what the guest threw.
pub fn caught_text(e: &rquickjs::CaughtError<'_>) -> String {
    match e {
        rquickjs::CaughtError::Exception(ex) => {
            let name = ex
                .as_object()
                .get::<_, Option<String>>("name")
                .ok()
                .flatten()
                .unwrap_or_else(|| "Error".to_string());
            let message = ex.message().unwrap_or_default();
            let stack = ex.stack().unwrap_or_default();
            format!("{name}: {message}\n{stack}")
        }
        rquickjs::CaughtError::Value(v) => {
            let shown = v
                .as_string()
                .and_then(|s| s.to_string().ok())
                .unwrap_or_else(|| format!("{:?}", v.type_of()));
            format!("Uncaught: {shown}")
        }
        rquickjs::CaughtError::Error(e) => e.to_string(),
    }
}
