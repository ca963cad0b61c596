//! `odw_plan`: the planner `odw plan` uses, writing the script server-side under
//! `.odw/plans/<planId>.workflow.js` so that `odw_run {planId}` runs exactly what was estimated.

use super::reply::{Reply, parse};
use super::session::Session;
use crate::plan::{self, ACCEPTED_TOPOLOGIES, PlanRequest, Topology};
use serde_json::{Map, Value, json};
use std::path::{Path, PathBuf};

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct Args {
    prompt: String,
    topology: Option<String>,
    max_agents: Option<u64>,
    cwd: Option<String>,
}

/// Where a plan's script lives in its workspace.
pub fn plan_path(workspace: &Path, plan_id: &str) -> Result<PathBuf, String> {
    let ok = plan_id.starts_with("p-")
        && plan_id.len() <= 64
        && plan_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !ok {
        return Err(format!(
            "unknown planId {plan_id:?}: use the planId odw_plan returned"
        ));
    }
    Ok(workspace
        .join(".odw")
        .join("plans")
        .join(format!("{plan_id}.workflow.js")))
}

pub async fn tool(session: &Session, args: Option<Map<String, Value>>) -> Reply {
    let a: Args = parse("odw_plan", args)?;
    let workspace = session.workspace(a.cwd.as_deref())?;
    let topology = match a.topology.as_deref() {
        None => None,
        Some(t) => Some(Topology::parse(t).ok_or_else(|| {
            format!("odw_plan: unknown topology {t:?}: use {ACCEPTED_TOPOLOGIES}")
        })?),
    };
    let (plan_id, _) = make(session, &workspace, &a.prompt, topology, a.max_agents).await?;
    Ok(plan_id)
}

/// Plans `task` into a new plan file; returns the tool's reply and the script's path.
pub async fn make(
    session: &Session,
    workspace: &Path,
    task: &str,
    topology: Option<Topology>,
    max_agents: Option<u64>,
) -> Result<(Value, PathBuf), String> {
    if task.trim().is_empty() {
        return Err("odw_plan: `prompt` is empty: say what the workflow should do".into());
    }
    let config = session.config_for(workspace)?;
    let plan_id = crate::engine::ids::new_run_id().0.replacen("r-", "p-", 1);
    let path = plan_path(workspace, &plan_id)?;
    // The planner has no agent cap of its own: the cap travels with the task, and the estimate
    // says whether the plan kept to it.
    let task = match max_agents {
        Some(n) => format!("{}\n\nUse at most {n} agent calls in total.", task.trim()),
        None => task.to_string(),
    };
    let mut req = PlanRequest::new(task, workspace.to_path_buf(), config, session.env.clone());
    req.topology = topology;
    req.scheduler = Some(session.engine_for(workspace).await?.scheduler());
    req.output = Some(path.clone());
    req.force = true;
    let outcome = plan::plan(req)
        .await
        .map_err(|e| format!("planning failed: {e}"))?;
    let est = &outcome.estimate;
    let mut reply = json!({
        "planId": plan_id,
        "topology": outcome.topology.as_str(),
        "totalAgents": est.agents,
        "estCostUSD": est.cost_usd,
        "phases": est.phases.iter().map(|p| json!({
            "phase": p.phase, "agents": p.agents, "costUSD": p.cost_usd,
        })).collect::<Vec<_>>(),
        "reason": outcome.reason,
    });
    if let Some(n) = &outcome.notice {
        reply["notice"] = json!(n);
    }
    if let Some(max) = max_agents
        && est.agents > max
    {
        reply["warning"] = json!(format!(
            "the dry run made {} agent calls, more than maxAgents {max}",
            est.agents
        ));
    }
    Ok((reply, outcome.path))
}
