//! `odw lsp`: the language server on stdio, a thin adapter over the engine built on
//! tower-lsp-server. protocol/README.md documents what it speaks.

mod approve;
mod capabilities;
mod code_lens;
mod commands;
mod completion;
mod config;
mod cursor;
mod diagnostics;
mod documents;
pub(crate) mod framing;
mod hover;
mod plan;
mod progress;
mod run_actions;
mod runs;
mod scripts;
mod server;
mod session;
pub(crate) mod stdio;
mod to_proto;
pub(crate) mod transport;

use odw_protocol::lsp as proto;
use server::Backend;
use std::process::ExitCode;
use std::time::Duration;
use tower_lsp_server::LspService;

/// Handlers in flight at once. `odw/run` with `wait: true` holds one for the whole run, so this
/// is well above tower-lsp-server's default of 4.
const MAX_CONCURRENT_HANDLERS: usize = 64;
/// How long runs still live after `exit` get to settle before the process ends.
const EXIT_GRACE: Duration = Duration::from_secs(3);

/// Runs the language server on stdio until `exit` (or the end of input). Exit status 0 after
/// `shutdown` then `exit`, 1 otherwise, as the specification asks.
pub fn main() -> ExitCode {
    let (stdio, runtime) = match stdio::start_server("ODW_LSP_TEST_STRAY_PRINT") {
        Ok(started) => started,
        Err(code) => return code,
    };
    let transport = match transport::start(stdio) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("odw: error: cannot start the stdio threads: {e}");
            return ExitCode::from(2);
        }
    };
    let transport::Transport {
        input,
        output,
        flush,
        closed,
    } = transport;
    let env = crate::config::Env::from_process();
    let clean = runtime.block_on(async move {
        let (service, socket) = LspService::build(|client| Backend::new(client, env))
            .custom_method(proto::REQ_RUN, Backend::odw_run)
            .custom_method(proto::REQ_CANCEL, Backend::odw_cancel)
            .custom_method(proto::REQ_RESUME, Backend::odw_resume)
            .custom_method(proto::REQ_PLAN, Backend::odw_plan)
            .custom_method(proto::REQ_RUNS, Backend::odw_runs)
            .custom_method(proto::REQ_RESULT, Backend::odw_result)
            .custom_method("window/workDoneProgress/cancel", Backend::progress_cancel)
            .finish();
        let session = service.inner().session();
        // Without `exit`, tower-lsp-server waits for the handlers in flight when stdin ends; an
        // `odw/run` with `wait: true` would keep the process alive until its run ended.
        let cancel_on_close = {
            let session = session.clone();
            tokio::spawn(async move {
                closed.notified().await;
                runs::cancel_all(&session);
            })
        };
        tower_lsp_server::Server::new(input, output, socket)
            .concurrency_level(MAX_CONCURRENT_HANDLERS)
            .serve(service)
            .await;
        cancel_on_close.abort();
        // `exit` without `shutdown`, or the client went away: still end live runs cleanly.
        runs::finish_all(&session, EXIT_GRACE).await;
        session.shutdown_requested()
    });
    flush.wait(Duration::from_secs(2));
    // Script threads and the stdin reader may still be blocked; they end with the process.
    runtime.shutdown_timeout(Duration::from_millis(200));
    if clean {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
