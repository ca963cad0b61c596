//! The command-line face of odw: a thin adapter over the engine (README, "CLI").

mod agents;
mod approve;
pub mod check;
mod doctor;
mod integrate;
mod logging;
mod plan;
mod progress;
mod run;
mod runs;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

/// odw: dynamic multi-agent LLM workflows, local-first.
#[derive(Parser, Debug)]
#[command(name = "odw", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a workflow script.
    Run(run::RunArgs),
    /// Resume an interrupted, paused, failed, cancelled or budget-stopped run from the journal.
    Resume(runs::ResumeArgs),
    /// List recent runs.
    Runs(runs::ListArgs),
    /// Show a run: state, phases, calls with status and cost, checkpoints and the result.
    Show(runs::ShowArgs),
    /// Check workflow scripts for errors without running them (exit 1 when any error is found).
    Check {
        /// Files to check.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Print one JSON object per file instead of human-readable diagnostics.
        #[arg(long)]
        json: bool,
    },
    /// Run the language server on stdio
    Lsp,
    /// Run the MCP server on stdio (for coding agents)
    Mcp,
    /// Write a checked, estimated workflow script for a one-line task (never runs it).
    Plan(plan::PlanArgs),
    /// Write a topology's starting script.
    New(plan::NewArgs),
    /// Register odw (`odw mcp`) as an MCP server with a coding agent.
    Integrate(integrate::IntegrateArgs),
    /// Check odw's registration with every coding agent (exit 1 when a registered entry fails).
    Doctor(doctor::DoctorArgs),
}

/// Entry point of the `odw` binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    logging::init();
    // Listing commands behave like other Unix tools when their reader goes away
    // (`odw runs | head`): end quietly instead of panicking on a broken pipe. Commands that own
    // a run keep the default so a closed pipe never kills a run mid-way.
    if matches!(
        cli.command,
        Command::Runs(_) | Command::Show(_) | Command::Check { .. } | Command::New(_)
    ) {
        #[cfg(unix)]
        // SAFETY: restores the default disposition before any other thread exists.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match cli.command {
        Command::Run(args) => run::main(args),
        Command::Resume(args) => runs::resume(args),
        Command::Runs(args) => runs::list(args),
        Command::Show(args) => runs::show(args),
        Command::Check { files, json } => check::main(&files, json),
        Command::Lsp => crate::lsp::main(),
        Command::Mcp => crate::mcp::main(),
        Command::Plan(args) => plan::main(args),
        Command::New(args) => plan::new(args),
        Command::Integrate(args) => integrate::main(args),
        Command::Doctor(args) => doctor::main(args),
    }
}

/// Prints an error the way every odw command does, and returns exit status 2.
fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("odw: error: {message}");
    ExitCode::from(2)
}
