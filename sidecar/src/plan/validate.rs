//! Whether a script is good enough to write: it checks clean, and its dry run (simulated
//! provider, `args = {}`) finishes; the dry run gives the estimate.

use crate::check;
use crate::config::{Config, Env};
use crate::engine::{Engine, RunRequest};
use odw_protocol::run::Estimate;
use odw_protocol::{Budget, Diagnostic, RunState, Severity};
use std::path::Path;
use std::time::Duration;

/// A generated script gets this long to finish its dry run; a script that takes longer with a
/// provider that answers at once is looping.
const DRY_RUN_LIMIT: Duration = Duration::from_secs(120);

/// The outcome of [`validate`].
pub enum Verdict {
    /// Checks clean (warnings allowed) and the dry run succeeded.
    Clean {
        estimate: Estimate,
        warnings: Vec<Diagnostic>,
    },
    /// What to tell the model (and the user, if no round is left).
    Broken { diagnostics: String },
}

/// Checks `script` and dry-runs it in `cwd`. `shown` names the file in diagnostics.
pub async fn validate(
    script: &str,
    shown: &Path,
    cwd: &Path,
    config: &Config,
    env: &Env,
) -> Verdict {
    let options = check::options_for(config);
    let diagnostics = check::check(script, &options).diagnostics;
    let name = shown.display().to_string();
    if diagnostics.iter().any(|d| d.severity == Severity::Error) {
        return Verdict::Broken {
            diagnostics: check::render_human(&name, script, &diagnostics),
        };
    }
    match dry_run_estimate(script, shown, cwd, config, env).await {
        Ok(estimate) => Verdict::Clean {
            estimate,
            warnings: diagnostics,
        },
        Err(message) => Verdict::Broken {
            diagnostics: format!(
                "{name}: the script checks clean, but its dry run (simulated provider, args {{}}) \
                 {message}"
            ),
        },
    }
}

/// The dry-run estimate of a script (simulated provider, `args = {}`, nothing journaled), with
/// its phases in `meta.phases` order; or why the dry run failed.
pub async fn dry_run_estimate(
    script: &str,
    shown: &Path,
    cwd: &Path,
    config: &Config,
    env: &Env,
) -> Result<Estimate, String> {
    let mut estimate = dry_run(script, shown, cwd, config, env).await?;
    order_phases(script, &mut estimate);
    Ok(estimate)
}

/// Runs the script with the simulated provider and returns its estimate, or why it failed.
async fn dry_run(
    script: &str,
    shown: &Path,
    cwd: &Path,
    config: &Config,
    env: &Env,
) -> Result<Estimate, String> {
    // A plan's dry run is not a run of the user's: it stays out of `odw runs`.
    let engine = Engine::unjournaled(config.limits.concurrency as usize, env.clone());
    let id = engine
        .start(RunRequest {
            script_path: Some(shown.to_path_buf()),
            script_text: script.to_string(),
            args: serde_json::json!({}),
            cwd: cwd.to_path_buf(),
            model: None,
            budget: Budget::default(),
            concurrency: None,
            dry_run: true,
            config: config.clone(),
            approver: None,
            allow: Vec::new(),
            deny: Vec::new(),
        })
        .await
        .map_err(|e| format!("could not start: {e}"))?;
    let result = match tokio::time::timeout(DRY_RUN_LIMIT, engine.wait(&id)).await {
        Ok(Some(r)) => r,
        Ok(None) => return Err("vanished".into()),
        Err(_) => {
            engine.cancel(&id);
            return Err(format!(
                "did not finish within {} s: bound every loop and fan-out",
                DRY_RUN_LIMIT.as_secs()
            ));
        }
    };
    match result.state {
        RunState::Succeeded => Ok(result.estimate.unwrap_or_default()),
        state => Err(format!(
            "ended {state}: {}",
            result.error.as_deref().unwrap_or("no error message")
        )),
    }
}

/// Lists the estimate's phases in the order of `meta.phases` (the engine lists them in the order
/// they were first seen), phases the script did not declare last.
fn order_phases(script: &str, estimate: &mut Estimate) {
    let declared: Vec<String> = check::prepare(script)
        .ok()
        .and_then(|p| p.meta)
        .and_then(|m| m.get("phases").cloned())
        .and_then(|p| p.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|p| p.get("title").and_then(|t| t.as_str()).map(str::to_string))
        .collect();
    // Declared phases without agents still show, so the estimate reads as the script's outline.
    for title in &declared {
        if !estimate.phases.iter().any(|p| p.phase == *title) {
            estimate.phases.push(odw_protocol::run::PhaseEstimate {
                phase: title.clone(),
                ..Default::default()
            });
        }
    }
    estimate.phases.sort_by_key(|p| {
        declared
            .iter()
            .position(|t| *t == p.phase)
            .unwrap_or(usize::MAX)
    });
}
