//! `odw mcp`: a Model Context Protocol server on stdio for coding agents, built on rmcp.
//!
//! Like the language server, it is a thin adapter over the engine: its tools start runs, follow
//! their events, pause, resume and stop them and read their results; runs are resources and the
//! six topologies are prompts. It opens the same journal (`.odw/odw.db` of the workspace, or
//! `ODW_DB`) and the same configuration (`odw.toml`, then the user's file) as the CLI, so a run
//! started here shows in `odw runs` and resumes from any face.
//!
//! Approvals for gated tools reach the client as MCP elicitation when it declared the
//! capability ([`approve`]); otherwise the configured policy decides, never a wait.

mod approve;
mod check;
mod plan;
mod prompts;
mod reply;
mod resources;
mod runs;
mod server;
mod session;
mod stdio;
mod tools;

use std::process::ExitCode;
use std::time::Duration;

/// How long runs still live when the client goes away get to settle (they end `cancelled`,
/// resumable) before the process ends.
const EXIT_GRACE: Duration = Duration::from_secs(3);

/// Serves MCP on stdio until the client closes it.
pub fn main() -> ExitCode {
    // stdout carries MCP messages only: the real one is kept private and fd 1 points at stderr.
    let (stdio, runtime) = match crate::lsp::stdio::start_server("ODW_MCP_TEST_STRAY_PRINT") {
        Ok(started) => started,
        Err(code) => return code,
    };
    let home = match std::env::current_dir() {
        Ok(d) => d,
        Err(e) => {
            eprintln!("odw: error: cannot determine the current directory: {e}");
            return ExitCode::from(2);
        }
    };
    let env = crate::config::Env::from_process();
    let code = runtime.block_on(async move {
        let (input, output, writer) = match stdio::bridge(stdio) {
            Ok(b) => b,
            Err(e) => {
                eprintln!("odw: error: cannot start the stdio threads: {e}");
                return ExitCode::from(2);
            }
        };
        let session = std::sync::Arc::new(session::Session::new(env, home));
        let served =
            rmcp::ServiceExt::serve(server::Server::new(session.clone()), (input, output)).await;
        match served {
            Ok(running) => {
                if let Err(e) = running.waiting().await {
                    tracing::warn!("the MCP service ended abnormally: {e}");
                }
            }
            Err(e) => tracing::warn!("the MCP client did not initialize: {e}"),
        }
        session.finish_all(EXIT_GRACE).await;
        // Everything the server wrote reaches the client before the process ends.
        let flushed = tokio::task::spawn_blocking(move || writer.join());
        let _ = tokio::time::timeout(Duration::from_secs(2), flushed).await;
        ExitCode::SUCCESS
    });
    // Script threads and the stdin reader may still be blocked; they end with the process.
    runtime.shutdown_timeout(Duration::from_millis(200));
    code
}
