//! The names a workflow script may use without declaring them (the workflow primitives come
//! from [`crate::primitives`]), the ones it must not, and the "did you mean" search over them.

use super::Dialect;
use crate::primitives;
pub use crate::spelling::nearest;

/// CommonJS-style export objects, which only the `execute` dialect has.
pub const EXECUTE_ONLY_GLOBALS: &[&str] = &["module", "exports"];

/// ECMAScript globals that QuickJS provides. `Intl` and `structuredClone` are absent on purpose.
pub const STANDARD_GLOBALS: &[&str] = &[
    "globalThis",
    "undefined",
    "NaN",
    "Infinity",
    "Object",
    "Function",
    "Array",
    "String",
    "Number",
    "Boolean",
    "Symbol",
    "BigInt",
    "Math",
    "JSON",
    "Date",
    "RegExp",
    "Promise",
    "Map",
    "Set",
    "WeakMap",
    "WeakSet",
    "WeakRef",
    "FinalizationRegistry",
    "Reflect",
    "Proxy",
    "Error",
    "EvalError",
    "RangeError",
    "ReferenceError",
    "SyntaxError",
    "TypeError",
    "URIError",
    "AggregateError",
    "ArrayBuffer",
    "SharedArrayBuffer",
    "Atomics",
    "DataView",
    "Int8Array",
    "Uint8Array",
    "Uint8ClampedArray",
    "Int16Array",
    "Uint16Array",
    "Int32Array",
    "Uint32Array",
    "BigInt64Array",
    "BigUint64Array",
    "Float32Array",
    "Float64Array",
    "parseInt",
    "parseFloat",
    "isNaN",
    "isFinite",
    "encodeURIComponent",
    "decodeURIComponent",
    "encodeURI",
    "decodeURI",
    "escape",
    "unescape",
    "eval",
    "queueMicrotask",
    "performance",
];

/// Host APIs a script might reach for, each with what to do instead.
pub const FORBIDDEN_APIS: &[(&str, &str)] = &[
    (
        "require",
        "scripts cannot load modules; inline the code, or run another workflow script with `workflow(path, args)`",
    ),
    (
        "process",
        "read the run's inputs from `args`; environment and process access are not available",
    ),
    (
        "fs",
        "read files with `context.tools.read_file`, `context.tools.glob` or `context.tools.search`",
    ),
    (
        "fetch",
        "scripts have no network access; call models with `agent()`",
    ),
    (
        "XMLHttpRequest",
        "scripts have no network access; call models with `agent()`",
    ),
    (
        "WebSocket",
        "scripts have no network access; call models with `agent()`",
    ),
    (
        "setTimeout",
        "scripts have no timers; sequence work with `await` and bound calls with the `timeoutMs` option of `agent()`",
    ),
    (
        "setInterval",
        "scripts have no timers; repeat work with `loop(cond, body)`",
    ),
    (
        "setImmediate",
        "scripts have no timers; sequence work with `await`",
    ),
    (
        "clearTimeout",
        "scripts have no timers; sequence work with `await`",
    ),
    (
        "clearInterval",
        "scripts have no timers; repeat work with `loop(cond, body)`",
    ),
    (
        "Deno",
        "the script runs in odw's QuickJS sandbox, not in Deno; use the workflow globals",
    ),
    (
        "Bun",
        "the script runs in odw's QuickJS sandbox, not in Bun; use the workflow globals",
    ),
    (
        "__dirname",
        "scripts have no file location; use paths relative to the workspace root with `context.tools`",
    ),
    (
        "__filename",
        "scripts have no file location; use paths relative to the workspace root with `context.tools`",
    ),
];

/// Names people expect from browsers or Node that QuickJS lacks, with the replacement.
const ABSENT_HINTS: &[(&str, &str)] = &[
    (
        "Intl",
        "QuickJS has no `Intl`; format with `toFixed`, `toISOString` or `padStart`",
    ),
    (
        "structuredClone",
        "QuickJS has no `structuredClone`; copy plain data with `JSON.parse(JSON.stringify(value))`",
    ),
    ("global", "use `globalThis`"),
    ("window", "there is no browser window; use `globalThis`"),
    ("self", "use `globalThis`"),
    (
        "Buffer",
        "there is no `Buffer`; work with strings or `Uint8Array`",
    ),
];

/// Why `name` is forbidden and what to use instead, when it is a forbidden host API.
pub fn forbidden_hint(name: &str) -> Option<&'static str> {
    FORBIDDEN_APIS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, hint)| *hint)
}

/// Whether `name` is provided by the runtime in `dialect`.
pub fn is_known(name: &str, dialect: Dialect) -> bool {
    primitives::primitive(name).is_some()
        || STANDARD_GLOBALS.contains(&name)
        || (dialect == Dialect::Execute && EXECUTE_ONLY_GLOBALS.contains(&name))
}

/// A hint for an unknown global that has a well-known replacement (not a typo).
pub fn absent_hint(name: &str, dialect: Dialect) -> Option<&'static str> {
    if dialect == Dialect::Meta && EXECUTE_ONLY_GLOBALS.contains(&name) {
        return Some(
            "a script that starts with `export const meta` has no CommonJS exports; \
             its top-level body is the workflow, and `return` gives the result",
        );
    }
    ABSENT_HINTS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, hint)| *hint)
}

/// The known global closest to an unknown `name`, if it is close enough to be a typo.
pub fn suggest_global(name: &str, dialect: Dialect) -> Option<&'static str> {
    let execute_only = if dialect == Dialect::Execute {
        EXECUTE_ONLY_GLOBALS
    } else {
        &[]
    };
    let candidates = execute_only.iter().chain(STANDARD_GLOBALS).copied();
    nearest(name, primitives::names().chain(candidates))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        assert_eq!(suggest_global("agnet", Dialect::Execute), Some("agent"));
        assert_eq!(suggest_global("json", Dialect::Meta), Some("JSON"));
        assert_eq!(suggest_global("moduel", Dialect::Execute), Some("module"));
        assert_eq!(suggest_global("moduel", Dialect::Meta), None);
        assert_eq!(suggest_global("frobnicate", Dialect::Execute), None);
    }

    #[test]
    fn dialect_decides_module_and_exports() {
        assert!(is_known("module", Dialect::Execute));
        assert!(!is_known("module", Dialect::Meta));
        assert!(absent_hint("exports", Dialect::Meta).is_some());
        assert!(!is_known("Intl", Dialect::Execute));
        assert!(!is_known("structuredClone", Dialect::Meta));
    }
}
