//! `odw run FILE`: runs a workflow, shows progress on stderr, prints the result on stdout.

use super::progress::Progress;
use crate::config::{Config, Env};
use crate::engine::approve::{ApprovalPolicy, ApproverHandle};
use crate::engine::{Engine, EngineOptions, RunRequest};
use crate::tools::ToolName;
use odw_protocol::{Budget, RunResult, RunState};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The workflow script.
    pub file: PathBuf,
    /// The run's arguments as JSON (`args` in the script).
    #[arg(long, value_name = "JSON")]
    pub args: Option<String>,
    /// Model for calls that name none (overrides ODW_MODEL and [models] default).
    #[arg(long, value_name = "ID")]
    pub model: Option<String>,
    /// Requests in flight at once (1–1024; default from [limits] concurrency, 16).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: Option<u32>,
    /// Cap on the run's spend in US dollars.
    #[arg(long, value_name = "X")]
    pub budget_usd: Option<f64>,
    /// Cap on the run's tokens (input + output).
    #[arg(long, value_name = "N")]
    pub budget_tokens: Option<u64>,
    /// Execute with a simulated provider (no network) and report agents, tokens and cost.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON object with the outcome instead of the bare result.
    #[arg(long)]
    pub json: bool,
    /// The workspace root (tools are confined to it; default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// No progress on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// The run journal (default: .odw/odw.db in the workspace; also ODW_DB).
    #[arg(long, value_name = "PATH", env = "ODW_DB")]
    pub db: Option<PathBuf>,
    /// Do not journal the run (it cannot be resumed or listed). For benchmarks.
    #[arg(long, hide = true)]
    pub no_journal: bool,
    #[command(flatten)]
    pub approvals: ApprovalFlags,
}

/// `--allow` and `--deny`, shared by `odw run` and `odw resume`.
#[derive(clap::Args, Debug, Default)]
pub struct ApprovalFlags {
    /// Run these tools without asking (write_file, run_bash, git; comma-separated or repeated).
    #[arg(long, value_name = "TOOL[,TOOL…]")]
    pub allow: Vec<String>,
    /// Never run these tools; the model is told they were denied. Wins over --allow.
    #[arg(long, value_name = "TOOL[,TOOL…]")]
    pub deny: Vec<String>,
}

impl ApprovalFlags {
    /// The allowed and denied tools, or the usage error to print.
    pub fn parse(&self) -> Result<(Vec<ToolName>, Vec<ToolName>), String> {
        let allow =
            ApprovalPolicy::parse_tools(&self.allow).map_err(|e| format!("--allow: {e}"))?;
        let deny = ApprovalPolicy::parse_tools(&self.deny).map_err(|e| format!("--deny: {e}"))?;
        Ok((allow, deny))
    }
}

pub fn main(a: RunArgs) -> ExitCode {
    let cwd = match a.cwd.clone().map(Ok).unwrap_or_else(std::env::current_dir) {
        Ok(d) => d,
        Err(e) => {
            return super::usage_error(format!("cannot determine the current directory: {e}"));
        }
    };
    // The workspace must exist: creating it (and `.odw/` in it) for a mistyped path would run
    // the script somewhere nobody looks.
    if !cwd.is_dir() {
        return super::usage_error(format!(
            "--cwd {}: no such directory (odw does not create it)",
            cwd.display()
        ));
    }
    let text = match std::fs::read_to_string(&a.file) {
        Ok(t) => t,
        Err(e) => return super::usage_error(format!("cannot read {}: {e}", a.file.display())),
    };
    let env = Env::from_process();
    let config = match Config::load(&cwd, &env) {
        Ok(c) => c,
        Err(e) => return super::usage_error(e),
    };
    let args = match a.args.as_deref().map(serde_json::from_str).transpose() {
        Ok(v) => v.unwrap_or_else(|| serde_json::json!({})),
        Err(e) => return super::usage_error(format!("--args is not valid JSON: {e}")),
    };
    if a.budget_usd.is_some_and(|x| !x.is_finite() || x < 0.0) {
        return super::usage_error("--budget-usd must be a non-negative number");
    }
    let (allow, deny) = match a.approvals.parse() {
        Ok(flags) => flags,
        Err(e) => return super::usage_error(e),
    };
    let approval_timeout = std::time::Duration::from_millis(config.approvals.timeout_ms.max(1));
    let concurrency = a.concurrency.unwrap_or(config.limits.concurrency);
    let journal = (!a.no_journal).then(|| {
        a.db.clone()
            .unwrap_or_else(|| crate::journal::default_path(&cwd))
    });
    let req = RunRequest {
        script_path: Some(a.file.clone()),
        script_text: text,
        args,
        cwd,
        model: a.model.clone(),
        budget: Budget {
            tokens: a.budget_tokens,
            usd: a.budget_usd,
        },
        concurrency: None,
        dry_run: a.dry_run,
        config,
        approver: None,
        allow,
        deny,
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return super::usage_error(format!("cannot start the runtime: {e}")),
    };
    let show = !a.quiet;
    let result = rt.block_on(drive(
        EngineOptions {
            concurrency: concurrency as usize,
            env,
            journal,
        },
        show,
        approval_timeout,
        async |engine, approver| {
            let mut req = req;
            req.approver = approver;
            engine.start(req).await
        },
    ));
    // A tool call stuck in the kernel must not keep the process from exiting.
    rt.shutdown_timeout(SHUTDOWN_GRACE);
    finish(result, a.json, a.dry_run)
}

/// Starts a run (or a resume) on a fresh engine, shows its progress, cancels it on Ctrl-C, and
/// returns its result.
pub async fn drive(
    opts: EngineOptions,
    show: bool,
    approval_timeout: std::time::Duration,
    start: impl AsyncFnOnce(
        &Engine,
        Option<ApproverHandle>,
    ) -> Result<odw_protocol::RunId, crate::engine::StartError>,
) -> Result<RunResult, String> {
    {
        let engine = Engine::open(opts).await.map_err(|e| e.to_string())?;
        let progress = Progress::new(show);
        let approver =
            super::approve::TerminalApprover::for_terminal(progress.bar(), approval_timeout);
        let id = start(&engine, approver).await.map_err(|e| e.to_string())?;
        let events = engine.events(&id).ok_or("the run vanished")?;
        let progress = tokio::spawn(progress.render(events));
        let cancel = {
            let (engine, id) = (engine.clone(), id.clone());
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    eprintln!("\nodw: cancelling run {id} (Ctrl-C again to quit at once)");
                    // The second Ctrl-C must end the process whatever the runtime is doing
                    // (stuck tasks, a shutdown waiting on them): the default action, not a task.
                    // SAFETY: restoring the default disposition of SIGINT.
                    unsafe {
                        libc::signal(libc::SIGINT, libc::SIG_DFL);
                    }
                    engine.cancel(&id);
                }
            })
        };
        let result = engine.wait(&id).await.ok_or("the run vanished")?;
        let _ = progress.await;
        cancel.abort();
        Ok::<RunResult, String>(result)
    }
}

/// Prints the outcome and picks the exit status: 0 only when the run succeeded.
pub fn finish(result: Result<RunResult, String>, json: bool, dry_run: bool) -> ExitCode {
    let result = match result {
        Ok(r) => r,
        Err(e) => return super::usage_error(e),
    };
    print_result(&result, json, dry_run);
    if result.state == RunState::Succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// How long the runtime waits for leftover tasks once the command is done.
pub const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// The runtime for I/O and engine tasks (the same for every face).
pub use crate::runtime::build as runtime;

fn print_result(r: &RunResult, json: bool, dry_run: bool) {
    if json {
        println!("{}", serde_json::to_string(r).unwrap_or_default());
        return;
    }
    if dry_run && let Some(est) = &r.estimate {
        println!("Dry run (simulated provider, nothing was sent):");
        for p in &est.phases {
            println!(
                "  {:<24} {:>5} agents  ≈{:>8} tokens in  ≈{:>8} out  ≈${:.4}",
                p.phase, p.agents, p.tokens_in, p.tokens_out, p.cost_usd
            );
        }
        println!(
            "  {:<24} {:>5} agents  ≈{:>8} tokens in  ≈{:>8} out  ≈${:.4}",
            "total", est.agents, est.tokens_in, est.tokens_out, est.cost_usd
        );
        if !est.models.is_empty() {
            println!("  models: {}", est.models.join(", "));
        }
        if let Some(e) = &r.error {
            eprintln!("odw: the dry run ended {}: {e}", r.state);
        }
        return;
    }
    match &r.result {
        serde_json::Value::String(s) => println!("{s}"),
        serde_json::Value::Null if r.state != RunState::Succeeded => {}
        v => println!("{}", serde_json::to_string_pretty(v).unwrap_or_default()),
    }
    if !r.failures.is_empty() {
        eprintln!("odw: {} call(s) failed:", r.failures.len());
        for f in &r.failures {
            eprintln!("  #{} {} — {}: {}", f.call, f.label, f.code, f.message);
        }
    }
    if let Some(e) = &r.error {
        eprintln!("odw: run {} {}: {e}", r.run_id, r.state);
    }
    if let Some(p) = &r.result_path {
        eprintln!("odw: result written to {p}");
    }
}
