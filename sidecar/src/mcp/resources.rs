//! Runs as MCP resources: `odw://runs/<id>` reads as JSON with the run's outcome and every event
//! it recorded, so an agent can inspect a run without a tool call.

use super::session::Session;
use odw_protocol::RunId;
use rmcp::ErrorData;
use rmcp::model::{Resource, ResourceContents, ResourceTemplate};
use serde_json::json;

const PREFIX: &str = "odw://runs/";
/// How many runs `resources/list` shows; older ones stay readable by URI.
const LISTED: usize = 50;

pub async fn list(session: &Session) -> Vec<Resource> {
    let mut runs = Vec::new();
    for engine in session.engines().await {
        runs.extend(engine.runs(LISTED).await);
    }
    runs.sort_by_key(|r| std::cmp::Reverse(r.started_at));
    runs.truncate(LISTED);
    runs.iter()
        .map(|r| {
            Resource::new(format!("{PREFIX}{}", r.run_id), r.run_id.to_string())
                .with_title(format!("{} · {} · {}", r.run_id, r.state, r.script))
                .with_description(format!(
                    "odw run of {}: {}, {} agents, ${:.4}",
                    r.script, r.state, r.agents, r.cost_usd
                ))
                .with_mime_type("application/json")
        })
        .collect()
}

pub fn templates() -> Vec<ResourceTemplate> {
    vec![
        ResourceTemplate::new(format!("{PREFIX}{{workflowId}}"), "run")
            .with_title("An odw run")
            .with_description("A run's state, result, usage and events, as JSON")
            .with_mime_type("application/json"),
    ]
}

pub async fn read(session: &Session, uri: &str) -> Result<ResourceContents, ErrorData> {
    let not_found = || {
        ErrorData::resource_not_found(
            format!("no such run resource: {uri} (list them with resources/list)"),
            Some(json!({"uri": uri})),
        )
    };
    let id = RunId::from(uri.strip_prefix(PREFIX).ok_or_else(not_found)?.to_string());
    let engine = session.find(&id).await.map_err(|_| not_found())?;
    let live = engine.live_runs().contains(&id);
    let result = match live {
        true => None,
        false => super::runs::settled(&engine, &id).await,
    };
    let events = engine.recorded_events(&id).await;
    let body = json!({
        "workflowId": id,
        "status": if live { odw_protocol::RunState::Running } else {
            result.as_ref().map_or(odw_protocol::RunState::Running, |r| r.state)
        },
        "result": result.as_ref().map(|r| &r.result),
        "error": result.as_ref().and_then(|r| r.error.as_ref()),
        "usage": result.as_ref().map(|r| &r.usage),
        "events": events,
    });
    Ok(ResourceContents::text(body.to_string(), uri).with_mime_type("application/json"))
}
