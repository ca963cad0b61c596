//! Static analysis of workflow scripts: syntax (oxc), dialect detection and workflow lint rules.
//! The same diagnostics serve `odw check` and the language server; the sandbox uses [`prepare`]
//! before it runs a script.

mod calls;
mod dialect;
mod findings;
mod globals;
mod models;
mod nesting;
mod options;
mod position;
mod references;
mod render;
mod structure;
mod syntax;

pub use models::{ModelUse, model_use};

use odw_protocol::{Diagnostic, Severity};
use oxc_allocator::Allocator;

pub use globals::{EXECUTE_ONLY_GLOBALS, FORBIDDEN_APIS, STANDARD_GLOBALS};
pub use position::LineIndex;
pub use render::render_human;

use findings::Findings;

/// The dialect is plain data shared with the sandbox, so it lives in the protocol crate.
pub use odw_protocol::Dialect;

/// What the sandbox needs to run a script that parsed cleanly.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// Which dialect the script is written in.
    pub dialect: Dialect,
    /// Byte range of the `export` keyword of `export const meta` (dialect `Meta` only), so the
    /// sandbox can blank it out without moving any line or column.
    pub meta_export: Option<(usize, usize)>,
    /// `meta` evaluated statically when it is a plain literal (name, description, phases).
    pub meta: Option<serde_json::Value>,
}

/// Parses `source`, detects the dialect, and rejects what cannot run: syntax errors, `import`,
/// `export` other than `meta`. Errors are full diagnostics with exact ranges.
pub fn prepare(source: &str) -> Result<Prepared, Vec<Diagnostic>> {
    with_stack(|| prepare_here(source))
}

fn prepare_here(source: &str) -> Result<Prepared, Vec<Diagnostic>> {
    let lines = LineIndex::new(source);
    let allocator = Allocator::default();
    let parsed = syntax::parse(&allocator, source, &lines);
    let syntax_failed = parsed.errors.iter().any(|d| d.severity == Severity::Error);
    if parsed.scoping.is_none() || syntax_failed {
        return Err(parsed.errors);
    }
    let (dialect, meta) = dialect::detect(parsed.program);
    let mut findings = Findings::new(&lines);
    structure::check(parsed.program, dialect, &mut findings);
    if findings.has_errors() {
        return Err(findings.into_sorted());
    }
    let meta_export = meta
        .as_ref()
        .map(|m| (m.export.start as usize, m.export.end as usize));
    let meta = meta.and_then(|m| m.object).and_then(dialect::object_json);
    Ok(Prepared {
        dialect,
        meta_export,
        meta,
    })
}

/// Answers whether a model id (never an alias) has a route.
pub type KnownModel = Box<dyn Fn(&str) -> bool + Send + Sync>;

/// What the caller knows that the checker cannot: which model ids have a route.
#[derive(Default)]
pub struct CheckOptions {
    /// Asked about each literal `model:`/`fallback:` id; `None` skips `unknown-model`.
    pub known_model: Option<KnownModel>,
}

impl std::fmt::Debug for CheckOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckOptions")
            .field("known_model", &self.known_model.is_some())
            .finish()
    }
}

/// The result of [`check`].
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// The detected dialect; `None` when the parser gave up.
    pub dialect: Option<Dialect>,
    /// Syntax errors first, then the rules' findings in source order.
    pub diagnostics: Vec<Diagnostic>,
}

impl CheckReport {
    /// Whether any diagnostic is an error (`odw check` exits 1).
    pub fn has_errors(&self) -> bool {
        self.diagnostics
            .iter()
            .any(|d| d.severity == Severity::Error)
    }
}

/// Runs every rule on `source`.
pub fn check(source: &str, opts: &CheckOptions) -> CheckReport {
    with_stack(|| check_here(source, opts))
}

/// The stack of the thread that parses and walks a script. Parsing and visiting recurse once per
/// nesting level, and [`nesting`] bounds the levels; this is enough for the deepest script it
/// lets through in a debug build, whatever thread the caller is on (a tokio worker has 2 MiB).
/// It is address space, touched only as deep as a script really goes.
const CHECK_STACK: usize = 256 << 20;

/// Runs `f` on a thread of its own with [`CHECK_STACK`] of stack.
pub(crate) fn with_stack<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|s| {
        let worker = std::thread::Builder::new()
            .name("odw-check".into())
            .stack_size(CHECK_STACK)
            .spawn_scoped(s, f)
            .expect("the checker's thread starts");
        worker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

fn check_here(source: &str, opts: &CheckOptions) -> CheckReport {
    let lines = LineIndex::new(source);
    let allocator = Allocator::default();
    let parsed = syntax::parse(&allocator, source, &lines);
    let mut diagnostics = parsed.errors;
    let Some(scoping) = parsed.scoping else {
        return CheckReport {
            dialect: None,
            diagnostics,
        };
    };
    let program = parsed.program;
    let (dialect, _) = dialect::detect(program);
    let mut findings = Findings::new(&lines);
    structure::check(program, dialect, &mut findings);
    if dialect == Dialect::Execute {
        dialect::check_execute(program, &mut findings);
    }
    references::check(program, &scoping, dialect, &mut findings);
    calls::check(program, &scoping, dialect, &mut findings);
    options::check(program, &scoping, opts, &mut findings);
    diagnostics.extend(findings.into_sorted());
    CheckReport {
        dialect: Some(dialect),
        diagnostics,
    }
}

#[cfg(test)]
mod tests;

/// The checker's view of a configuration: a model id is known when it has a route (a missing
/// key is the run's business, not the checker's). Shared by `odw check`, the language server and
/// the planner.
pub fn options_for(config: &crate::config::Config) -> CheckOptions {
    let config = config.clone();
    CheckOptions {
        known_model: Some(Box::new(move |m: &str| {
            let id = config.resolve_alias(m).to_string();
            !matches!(
                crate::providers::route::resolve(&id, &config),
                Err(crate::providers::RouteError::NoRoute { .. })
            )
        })),
    }
}
