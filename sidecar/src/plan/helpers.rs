//! The topology helpers `sandbox/topologies.js` defines for every script, as the primitives
//! table lists them (their docs are there too).

use crate::primitives::{self, Source};

/// The globals `topologies.js` defines.
pub fn names() -> impl Iterator<Item = &'static str> {
    primitives::names_from(Source::Topologies)
}
