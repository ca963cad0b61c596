//! `odw plan "TASK"` (a checked, estimated script from a one-line task) and `odw new --topology T`
//! (a topology's starting script).

use crate::config::{Config, Env};
use crate::plan::{self, PlanError, PlanRequest, Topology};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

fn topology(s: &str) -> Result<Topology, String> {
    Topology::parse(s).ok_or_else(|| {
        format!(
            "unknown topology \"{s}\": use {}",
            plan::ACCEPTED_TOPOLOGIES
        )
    })
}

#[derive(clap::Args, Debug)]
pub struct PlanArgs {
    /// What the workflow should do, in one sentence (quotes optional).
    #[arg(required = true, num_args = 1.., value_name = "TASK")]
    pub task: Vec<String>,
    /// The topology to use (default: the planner chooses).
    #[arg(long, short, value_name = "T", value_parser = topology,
          long_help = "The topology to use: mapreduce|map-reduce|pipeline|adversarial|consensus|tree|tree-search|hybrid (default: the planner chooses)")]
    pub topology: Option<Topology>,
    /// Where to write the script (default: <slug>.workflow.js in the workspace).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    pub force: bool,
    /// Fill a built-in template instead of asking the planning model.
    #[arg(long)]
    pub no_model: bool,
    /// Print one JSON object ({path, topology, estimate, …}) instead of text.
    #[arg(long)]
    pub json: bool,
    /// The workspace root (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct NewArgs {
    /// mapreduce|map-reduce|pipeline|adversarial|consensus|tree|tree-search|hybrid
    #[arg(long, short, value_name = "T", value_parser = topology)]
    pub topology: Topology,
    /// Where to write it (default: <topology>.workflow.js; `-` prints it).
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Overwrite FILE if it exists.
    #[arg(long)]
    pub force: bool,
}

/// `odw new`.
pub fn new(a: NewArgs) -> ExitCode {
    let text = plan::new_script(a.topology);
    let path = a
        .output
        .unwrap_or_else(|| PathBuf::from(format!("{}.workflow.js", a.topology.as_str())));
    if path.as_os_str() == "-" {
        print!("{text}");
        return ExitCode::SUCCESS;
    }
    if path.exists() && !a.force {
        return super::usage_error(format!(
            "{} already exists: pick another name with -o, or pass --force to overwrite it",
            path.display()
        ));
    }
    if let Err(e) = std::fs::write(&path, text) {
        return super::usage_error(format!("cannot write {}: {e}", path.display()));
    }
    println!("{}", path.display());
    eprintln!(
        "odw: wrote a {} starting script ({}); try it with `odw run {} --dry-run`",
        a.topology,
        a.topology.summary(),
        path.display()
    );
    ExitCode::SUCCESS
}

/// `odw plan`.
pub fn main(a: PlanArgs) -> ExitCode {
    let cwd = match a.cwd.clone().map(Ok).unwrap_or_else(std::env::current_dir) {
        Ok(d) => d,
        Err(e) => {
            return super::usage_error(format!("cannot determine the current directory: {e}"));
        }
    };
    let env = Env::from_process();
    let config = match Config::load(&cwd, &env) {
        Ok(c) => c,
        Err(e) => return super::usage_error(e),
    };
    let mut req = PlanRequest::new(a.task.join(" "), cwd.clone(), config, env);
    req.topology = a.topology;
    req.output = a.output.clone();
    req.force = a.force;
    req.use_model = !a.no_model;
    req.progress = Some(Arc::new(|step: &str| eprintln!("odw: {step}…")));
    let rt = match super::run::runtime() {
        Ok(rt) => rt,
        Err(e) => return super::usage_error(format!("cannot start the runtime: {e}")),
    };
    let outcome = match rt.block_on(plan::plan(req)) {
        Ok(o) => o,
        Err(e @ (PlanError::EmptyTask | PlanError::Exists { .. })) => {
            return super::usage_error(e);
        }
        Err(e) => {
            eprintln!("odw: error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Some(n) = &outcome.notice {
        eprintln!("odw: {n}");
    }
    if !outcome.warnings.is_empty() {
        let shown = outcome.path.display().to_string();
        eprint!(
            "{}",
            crate::check::render_human(&shown, &outcome.script, &outcome.warnings)
        );
    }
    let shown = outcome
        .path
        .strip_prefix(&cwd)
        .unwrap_or(&outcome.path)
        .display()
        .to_string();
    if a.json {
        let v = serde_json::json!({
            "path": outcome.path,
            "topology": outcome.topology.as_str(),
            "reason": outcome.reason,
            "estimate": outcome.estimate,
            "usedModel": outcome.used_model,
            "model": outcome.model,
            "replies": outcome.replies,
            "planningTokens": outcome.planning_tokens.input + outcome.planning_tokens.output,
            "notice": outcome.notice,
            "warnings": outcome.warnings.len(),
        });
        println!("{v}");
        return ExitCode::SUCCESS;
    }
    let e = &outcome.estimate;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "wrote {shown}");
    let _ = writeln!(out, "  topology  {} ({})", outcome.topology, outcome.reason);
    let made_by = match &outcome.model {
        Some(m) => format!(
            "{m} with {}, {} repl{}, {} tokens",
            plan::PROMPT_VERSION,
            outcome.replies,
            if outcome.replies == 1 { "y" } else { "ies" },
            outcome.planning_tokens.input + outcome.planning_tokens.output
        ),
        None => "the built-in template".into(),
    };
    let _ = writeln!(out, "  made by   {made_by}");
    let _ = writeln!(
        out,
        "  estimate  {} agent(s) · ≈{} tokens in · ≈{} out · ≈${:.4} (dry run with args {{}})",
        e.agents, e.tokens_in, e.tokens_out, e.cost_usd
    );
    for p in &e.phases {
        let _ = writeln!(
            out,
            "    {:<22} {:>5} agents  ≈{:>8} tokens  ≈${:.4}",
            p.phase,
            p.agents,
            p.tokens_in + p.tokens_out,
            p.cost_usd
        );
    }
    let _ = writeln!(out, "next: review it, then `odw run {shown}`");
    ExitCode::SUCCESS
}
