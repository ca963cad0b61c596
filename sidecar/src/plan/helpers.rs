//! The topology helpers `sandbox/topologies.js` defines for every script (their hover docs are
//! in the checker's globals list, `check::globals_docs()`).

/// The globals `topologies.js` defines.
pub const NAMES: &[&str] = &["vote", "beamSearch"];
