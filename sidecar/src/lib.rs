//! odw: a local-first engine for dynamic multi-agent LLM workflows.
//!
//! The engine (`engine`, `sandbox`, `scheduler`, `providers`, `journal`, `check`) knows nothing
//! about LSP, MCP or terminals; `cli`, `lsp` and `mcp` are thin adapters over it.

pub mod budget;
pub mod check;
pub mod cli;
pub mod config;
pub mod engine;
pub mod journal;
pub mod json;
pub mod lsp;
pub mod mcp;
pub mod plan;
pub mod pricing;
pub mod primitives;
pub mod providers;
pub mod runtime;
pub mod sandbox;
pub mod scheduler;
pub mod spelling;
pub mod tools;

#[cfg(test)]
mod fuzz;
