//! `odw-test-provider [--port P] [--latency-ms L] [--require-key K] [--threads N]`: serves the
//! loopback test provider until killed. Prints `listening on http://127.0.0.1:PORT` first.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use odw_test_provider::{ProviderOptions, TestProvider};

const USAGE: &str =
    "usage: odw-test-provider [--port P] [--latency-ms L] [--require-key K] [--threads N]

Serves OpenAI (/v1/chat/completions), Anthropic (/v1/messages) and Ollama (/api/chat) chat
endpoints on 127.0.0.1 with deterministic replies and [[...]] fault directives in prompts;
GET /_stats, POST /_reset. --port 0 (the default) picks a free port.";

fn main() -> ExitCode {
    let mut opts = ProviderOptions::default();
    let mut threads = 1usize;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (arg.clone(), None),
        };
        if name == "-h" || name == "--help" {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        let Some(value) = inline.or_else(|| args.next()) else {
            eprintln!("odw-test-provider: {name} needs a value\n{USAGE}");
            return ExitCode::from(2);
        };
        let bad = |what: &str| {
            eprintln!("odw-test-provider: {name}: {what}: {value:?}\n{USAGE}");
            ExitCode::from(2)
        };
        match name.as_str() {
            "--port" => match value.parse() {
                Ok(p) => opts.port = p,
                Err(_) => return bad("not a port"),
            },
            "--latency-ms" => match value.parse() {
                Ok(ms) => opts.latency = Duration::from_millis(ms),
                Err(_) => return bad("not a number of milliseconds"),
            },
            "--require-key" => opts.require_key = Some(value),
            "--threads" => match value.parse::<usize>() {
                Ok(n) if n > 0 => threads = n,
                _ => return bad("not a positive number"),
            },
            _ => {
                eprintln!("odw-test-provider: unknown argument {name}\n{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    // A benchmark makes many requests: don't keep them all.
    opts.max_recorded = 10_000;
    let runtime = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("odw-test-provider: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(TestProvider::run_forever(opts, |addr| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "listening on http://{addr}");
        let _ = out.flush();
    }));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("odw-test-provider: {e}");
            ExitCode::FAILURE
        }
    }
}
