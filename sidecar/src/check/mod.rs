//! Static analysis of workflow scripts: syntax (oxc), dialect detection and workflow lint rules.
//! The same diagnostics serve `odw check` and the language server; the sandbox uses [`prepare`]
//! before it runs a script.

use odw_protocol::Diagnostic;

/// The two script dialects (primitives.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `execute(context)` exported through `module.exports` / `exports.execute` / a bare function.
    Execute,
    /// `export const meta = {…}` first, then a top-level body with `await` and `return`.
    Meta,
}

impl Dialect {
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Execute => "execute",
            Dialect::Meta => "meta",
        }
    }
}

/// What the sandbox needs to run a script that parsed cleanly.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
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
    let _ = source;
    todo!("implemented by the checker work")
}
