//! End-to-end tests: the real `odw` binary, driven over its CLI (and later its LSP stdio),
//! against the loopback test provider and real files on disk.

mod support;

mod cli_run;
mod clients;
mod durable;
mod examples;
mod fault_matrix;
mod hardening;
mod integrate;
mod interop;
mod lsp;
mod lsp_approvals;
mod lsp_bench;
mod lsp_client;
mod lsp_diagnostics;
mod lsp_runs;
mod lsp_scenario;
mod mcp;
mod plan;
mod tools;
