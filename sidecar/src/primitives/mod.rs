//! The workflow primitives (`agent`, `parallel`, …) as one table: the checker's known globals and
//! option names, hover, completion and the README's globals table all derive from it, so adding
//! a primitive means a row here, its implementation in `sandbox/prelude.js` (or
//! `topologies.js`) and a test. The drift test in `tests.rs` keeps the scripts and the table in
//! step.

mod agent;
mod readme;
mod table;
#[cfg(test)]
mod tests;

pub use agent::AGENT_OPTIONS;
pub use readme::readme_table;
pub use table::{CONTEXT_EXTRAS, PRIMITIVES};

/// One global a workflow script can use without declaring it.
#[derive(Debug, Clone, Copy)]
pub struct Primitive {
    pub name: &'static str,
    pub shape: Shape,
    /// The file of `sandbox/` that defines it.
    pub source: Source,
    /// How it is called, as the hover's code block shows it; ` / ` separates alternatives.
    pub signature: &'static str,
    /// The hover paragraph after the signature.
    pub doc: &'static str,
    /// The README's one-line description.
    pub summary: &'static str,
    /// What it does under `--dry-run` (simulated provider, nothing changed or asked).
    pub dry_run: &'static str,
    /// Also reachable as `context.<name>` in the `execute` dialect.
    pub in_context: bool,
}

/// What a script gets when it names the primitive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A function that returns its result.
    Sync,
    /// A function that starts work and returns a promise that must be used: dropping it loses
    /// the result and errors (`floating-promise`).
    Promise,
    /// A function that returns a promise which may be dropped without losing anything the
    /// checker could point at, so `floating-promise` ignores it.
    LenientPromise,
    /// An object (`console`, `context`).
    Object,
    /// A function that also carries properties (`budget()` and `budget.total`).
    CallableObject,
}

/// Where a primitive is implemented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Prelude,
    Topologies,
}

/// One option key of `agent()`.
#[derive(Debug, Clone, Copy)]
pub struct AgentOption {
    pub name: &'static str,
    /// Its type as TypeScript would write it (`string`, `number`, `string[]`, `object`).
    pub ty: &'static str,
    pub doc: &'static str,
    /// Another spelling of an option the README already lists (`systemPrompt`).
    pub alias: bool,
}

impl Primitive {
    /// The hover and completion doc: the signature as a code block, then the paragraph.
    pub fn hover(&self) -> String {
        format!("```js\n{}\n```\n{}", self.signature, self.doc)
    }

    /// Whether completion offers it as a value rather than a function.
    pub fn is_value(&self) -> bool {
        matches!(self.shape, Shape::Object | Shape::CallableObject)
    }
}

impl AgentOption {
    /// The hover and completion doc: `name: type`, then the sentence.
    pub fn hover(&self) -> String {
        format!("`{}: {}` — {}", self.name, self.ty, self.doc)
    }
}

/// The primitive called `name`.
pub fn primitive(name: &str) -> Option<&'static Primitive> {
    PRIMITIVES.iter().find(|p| p.name == name)
}

/// Every primitive's name, in table order.
pub fn names() -> impl Iterator<Item = &'static str> {
    PRIMITIVES.iter().map(|p| p.name)
}

/// The names of the primitives defined in `source`.
pub fn names_from(source: Source) -> impl Iterator<Item = &'static str> {
    PRIMITIVES
        .iter()
        .filter(move |p| p.source == source)
        .map(|p| p.name)
}

/// Whether a call of the global `name` returns a promise its caller must use.
pub fn returns_promise(name: &str) -> bool {
    primitive(name).is_some_and(|p| p.shape == Shape::Promise)
}

/// The `agent()` option called `name`.
pub fn agent_option(name: &str) -> Option<&'static AgentOption> {
    AGENT_OPTIONS.iter().find(|o| o.name == name)
}

/// The option keys `agent()` accepts, in documentation order.
pub fn agent_option_names() -> impl Iterator<Item = &'static str> {
    AGENT_OPTIONS.iter().map(|o| o.name)
}
