//! `odw resume`, `odw runs` and `odw show`: the journal's face in the shell.

use super::run::{drive, finish, runtime};
use crate::config::Env;
use crate::engine::{Engine, EngineOptions, ResumeOptions};
use odw_protocol::{Budget, RunId};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(clap::Args, Debug)]
pub struct ResumeArgs {
    /// The run to resume (see `odw runs`).
    pub run_id: String,
    /// A new cap on the run's total spend in US dollars (a top-up).
    #[arg(long, value_name = "X")]
    pub budget_usd: Option<f64>,
    /// A new cap on the run's total tokens.
    #[arg(long, value_name = "N")]
    pub budget_tokens: Option<u64>,
    /// Requests in flight at once (default from [limits] concurrency).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub concurrency: Option<u32>,
    /// Print one JSON object with the outcome.
    #[arg(long)]
    pub json: bool,
    /// No progress on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// The run journal (default: .odw/odw.db here; also ODW_DB).
    #[arg(long, value_name = "PATH", env = "ODW_DB")]
    pub db: Option<PathBuf>,
    #[command(flatten)]
    pub approvals: super::run::ApprovalFlags,
}

#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// Print JSON (an array of run summaries).
    #[arg(long)]
    pub json: bool,
    /// At most this many runs, newest first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print only the path of the newest finished run's result file (dry runs and runs still
    /// going are skipped), for editors: `:open %sh{odw runs --last-result}` in Helix.
    #[arg(long, conflicts_with = "json")]
    pub last_result: bool,
    #[arg(long, value_name = "PATH", env = "ODW_DB")]
    pub db: Option<PathBuf>,
}

#[derive(clap::Args, Debug)]
pub struct ShowArgs {
    pub run_id: String,
    /// Print JSON: the run, its calls, checkpoints and result.
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_name = "PATH", env = "ODW_DB")]
    pub db: Option<PathBuf>,
}

/// The journal `odw resume`, `odw runs` and `odw show` read: `db`, else `.odw/odw.db` here. It
/// must exist: these commands never create one.
fn journal_path(db: Option<&Path>) -> Result<PathBuf, String> {
    let here = std::env::current_dir().map_err(|e| e.to_string())?;
    let path = db
        .map(Path::to_path_buf)
        .unwrap_or_else(|| crate::journal::default_path(&here));
    if !path.exists() {
        return Err(format!(
            "no run journal at {}: run odw from the workspace where the runs were started, or pass --db",
            path.display()
        ));
    }
    Ok(path)
}

/// An engine opened only to read the journal at `path` (opening it also marks runs whose
/// process died as interrupted, so none shows as running forever), and what `f` read with it.
/// The engine is dropped outside the runtime: closing its journal waits for the writer.
fn read<T>(
    rt: &tokio::runtime::Runtime,
    path: PathBuf,
    f: impl AsyncFnOnce(&Engine) -> T,
) -> Result<T, String> {
    let (engine, out) = rt.block_on(async {
        let engine = Engine::open(EngineOptions {
            concurrency: 1,
            env: Env::from_process(),
            journal: Some(path),
        })
        .await
        .map_err(|e| e.to_string())?;
        let out = f(&engine).await;
        Ok::<_, String>((engine, out))
    })?;
    drop(engine);
    Ok(out)
}

pub fn resume(a: ResumeArgs) -> ExitCode {
    let path = match journal_path(a.db.as_deref()) {
        Ok(p) => p,
        Err(e) => return super::usage_error(e),
    };
    let rt = match runtime() {
        Ok(rt) => rt,
        Err(e) => return super::usage_error(e),
    };
    let id = RunId::from(a.run_id.clone());
    let recorded = match read(&rt, path.clone(), async |e| e.recorded_run(&id).await) {
        Ok(r) => r.ok().flatten(),
        Err(e) => return super::usage_error(e),
    };
    let env = Env::from_process();
    // Without --concurrency, the run's own configuration decides, as it did the first time.
    let concurrency =
        a.concurrency
            .map(u64::from)
            .or_else(|| recorded.as_ref()?.config["limits"]["concurrency"].as_u64())
            .unwrap_or(u64::from(crate::config::Limits::default().concurrency)) as usize;
    let (allow, deny) = match a.approvals.parse() {
        Ok(flags) => flags,
        Err(e) => return super::usage_error(e),
    };
    // The recorded run's configuration decides how long an ask waits; the current one is
    // the fallback for a run that cannot be read here (the resume then reports why).
    let approval_timeout = std::time::Duration::from_millis(
        recorded
            .as_ref()
            .and_then(|r| {
                r.config
                    .pointer("/approvals/timeout_ms")
                    .and_then(|v| v.as_u64())
            })
            .unwrap_or(crate::config::ApprovalsConfig::default().timeout_ms)
            .max(1),
    );
    let top_up = (a.budget_usd.is_some() || a.budget_tokens.is_some()).then_some(Budget {
        tokens: a.budget_tokens,
        usd: a.budget_usd,
    });
    let dry = recorded.as_ref().is_some_and(|r| r.dry_run);
    let result = rt.block_on(drive(
        EngineOptions {
            concurrency,
            env,
            journal: Some(path),
        },
        !a.quiet,
        approval_timeout,
        async |engine, approver| {
            engine
                .resume(
                    &id,
                    ResumeOptions {
                        budget: top_up,
                        approver,
                        allow,
                        deny,
                    },
                )
                .await
        },
    ));
    rt.shutdown_timeout(super::run::SHUTDOWN_GRACE);
    finish(result, a.json, dry)
}

pub fn list(a: ListArgs) -> ExitCode {
    let rows = match journal_path(a.db.as_deref())
        .and_then(|path| Ok((path, runtime().map_err(|e| e.to_string())?)))
        .and_then(|(path, rt)| read(&rt, path, async |e| e.list_runs(a.limit).await))
    {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => return super::usage_error(e),
        Err(e) => return super::usage_error(e),
    };
    if a.last_result {
        let newest = rows.iter().find_map(|r| {
            let path = crate::engine::result_path(&r.cwd, &r.run_id);
            (!r.dry_run && r.state != odw_protocol::RunState::Running && path.is_file())
                .then_some(path)
        });
        return match newest {
            Some(path) => {
                println!("{}", path.display());
                ExitCode::SUCCESS
            }
            None => super::usage_error("no finished run with a result yet (dry runs do not count)"),
        };
    }
    let summaries: Vec<odw_protocol::lsp::RunSummary> = rows.iter().map(|r| r.summary()).collect();
    if a.json {
        println!("{}", serde_json::to_string(&summaries).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    if summaries.is_empty() {
        eprintln!("odw: no runs yet");
    }
    for s in summaries {
        // A dry run's replies are simulated: say so wherever its state is shown.
        let state = if s.dry_run {
            format!("{} (dry run)", s.state)
        } else {
            s.state.to_string()
        };
        println!(
            "{}  {:<22} {:>5} agents {:>9} tokens  ${:<8.4} {}",
            s.run_id, state, s.agents, s.tokens, s.cost_usd, s.script
        );
    }
    ExitCode::SUCCESS
}

pub fn show(a: ShowArgs) -> ExitCode {
    let id = RunId::from(a.run_id.clone());
    let detail = match journal_path(a.db.as_deref())
        .and_then(|path| Ok((path, runtime().map_err(|e| e.to_string())?)))
        .and_then(|(path, rt)| read(&rt, path, async |e| e.run_detail(&id).await))
    {
        Ok(Ok(Some(d))) => d,
        Ok(Ok(None)) => {
            return super::usage_error(format!("run {id} not found: list runs with `odw runs`"));
        }
        Ok(Err(e)) => return super::usage_error(e),
        Err(e) => return super::usage_error(e),
    };
    let crate::engine::RunDetail {
        run,
        calls,
        checkpoints,
        events,
    } = detail;
    let phases: Vec<String> = events
        .iter()
        .filter_map(|e| match &e.kind {
            odw_protocol::EventKind::PhaseStarted { phase } => Some(phase.clone()),
            _ => None,
        })
        .collect();
    let attempts = attempts(&events);
    if a.json {
        let v = serde_json::json!({
            "attempts": attempts.iter().map(|t| serde_json::json!({
                "startedAt": t.started_ms, "resumed": t.resumed,
                "state": t.end.as_ref().map(|(s, _)| s.to_string()),
                "usage": t.end.as_ref().map(|(_, u)| u),
            })).collect::<Vec<_>>(),
            "runId": run.run_id,
            "state": run.state,
            "dryRun": run.dry_run,
            "script": run.script_path,
            "cwd": run.cwd,
            "args": run.args,
            "dialect": run.dialect,
            "budget": run.budget,
            "createdAt": run.created_ms,
            "finishedAt": run.finished_ms,
            "usage": run.usage,
            "error": run.error,
            "result": run.result,
            "phases": phases,
            "calls": calls.iter().map(|c| serde_json::json!({
                "call": c.call_seq, "label": c.label, "phase": c.phase, "model": c.model,
                "status": c.status.as_str(), "identity": c.identity, "occurrence": c.occurrence,
                "tokensIn": c.tokens_in, "tokensOut": c.tokens_out, "costUsd": c.cost_usd,
                "attempts": c.attempts, "errorCode": c.error_code, "error": c.error,
            })).collect::<Vec<_>>(),
            "checkpoints": checkpoints.iter().map(|c| serde_json::json!({
                "seq": c.seq, "name": c.name, "data": c.data, "timeMs": c.time_ms,
            })).collect::<Vec<_>>(),
            "events": events.len(),
        });
        println!("{v}");
        return ExitCode::SUCCESS;
    }
    println!("run      {}", run.run_id);
    if run.dry_run {
        println!(
            "state    {} (dry run: simulated replies, no request sent)",
            run.state
        );
    } else {
        println!("state    {}", run.state);
    }
    println!("script   {}", run.script_path.display());
    println!("cwd      {}", run.cwd.display());
    println!(
        "usage    {} agents · {} requests · {} tokens · ${:.4}",
        run.usage.agents,
        run.usage.requests,
        run.usage.tokens_in + run.usage.tokens_out,
        run.usage.cost_usd
    );
    // Each execution (the first, then each resume) with what it did itself.
    for (n, t) in attempts.iter().enumerate() {
        let outcome = match &t.end {
            Some((state, u)) => format!(
                "{state} · {} agents ({} replayed from the journal)",
                u.agents, u.cached
            ),
            None => "did not finish (the process ended)".to_string(),
        };
        let kind = if t.resumed { "resume" } else { "run" };
        println!("attempt  {} ({kind}): {outcome}", n + 1);
    }
    if !phases.is_empty() {
        println!("phases   {}", phases.join(" → "));
    }
    if let Some(e) = &run.error {
        println!("error    {e}");
    }
    if !calls.is_empty() {
        println!("\ncalls");
        for c in &calls {
            println!(
                "  #{:<4} {:<10} {:<28} {:<20} {:>7} tok  ${:.4}{}",
                c.call_seq,
                c.status.as_str(),
                truncate(&c.label, 28),
                truncate(&c.model, 20),
                c.tokens_in + c.tokens_out,
                c.cost_usd,
                c.error
                    .as_deref()
                    .map(|e| format!("  {}", truncate(e, 60)))
                    .unwrap_or_default()
            );
        }
    }
    if !checkpoints.is_empty() {
        println!("\ncheckpoints");
        for c in &checkpoints {
            println!("  {} {}", c.name, truncate(&c.data.to_string(), 100));
        }
    }
    if let Some(r) = &run.result {
        println!("\nresult");
        match r {
            serde_json::Value::String(s) => println!("{s}"),
            v => println!("{}", serde_json::to_string_pretty(v).unwrap_or_default()),
        }
    }
    ExitCode::SUCCESS
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// One execution of a run, from its events: `runStarted`, then `runFinished` unless the
/// process died first.
struct Attempt {
    started_ms: u64,
    resumed: bool,
    end: Option<(odw_protocol::RunState, odw_protocol::Usage)>,
}

fn attempts(events: &[odw_protocol::RunEvent]) -> Vec<Attempt> {
    let mut out: Vec<Attempt> = Vec::new();
    for e in events {
        match &e.kind {
            odw_protocol::EventKind::RunStarted { resumed, .. } => out.push(Attempt {
                started_ms: e.time_ms,
                resumed: *resumed,
                end: None,
            }),
            odw_protocol::EventKind::RunFinished { state, usage, .. } => {
                if let Some(last) = out.last_mut() {
                    last.end = Some((*state, usage.clone()));
                }
            }
            _ => {}
        }
    }
    out
}
