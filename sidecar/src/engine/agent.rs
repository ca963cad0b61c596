//! From the options a script passed to `agent()` to a scheduled call.

use crate::config::Config;
use crate::pricing;
use crate::providers::{Route, RouteError, route, structured};
use crate::tools::ToolName;
use serde::Deserialize;
use serde_json::Value;
use std::sync::Arc;

/// The options `agent()` accepts (README, "Writing a workflow"). Unknown keys are ignored here; the checker
/// warns about them before the script runs.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentOpts {
    pub prompt: String,
    pub role: Option<String>,
    pub model: Option<String>,
    pub system: Option<String>,
    pub schema: Option<Value>,
    pub max_tokens: Option<u32>,
    pub temperature: Option<f64>,
    pub label: Option<String>,
    pub phase: Option<String>,
    pub key: Option<Value>,
    pub timeout_ms: Option<u64>,
    pub retries: Option<u32>,
    pub tools: Option<Vec<String>>,
    pub max_tool_iterations: Option<u32>,
    pub fallback: Option<String>,
}

/// Rounds of tool calls an agent gets before it is told to answer (`maxToolIterations`).
pub const DEFAULT_MAX_TOOL_ITERATIONS: u32 = 8;

impl AgentOpts {
    /// A short label for events: the explicit label, else the role, else the prompt's start
    /// (its first 48 characters of its first line). Shared by every event and record of the call.
    pub fn display_label(&self) -> Arc<str> {
        if let Some(l) = self.label.as_deref().filter(|l| !l.is_empty()) {
            return l.into();
        }
        if let Some(r) = self
            .role
            .as_deref()
            .filter(|r| !r.is_empty() && *r != "agent")
        {
            return r.into();
        }
        let first = self.prompt.lines().next().unwrap_or("").trim();
        match first.char_indices().nth(48) {
            None => first.into(),
            Some((cut, _)) => format!("{}…", &first[..cut]).into(),
        }
    }

    /// The tools the script gave this agent, checked against the table.
    pub fn tool_names(&self) -> Result<Vec<ToolName>, String> {
        let mut out = Vec::new();
        for name in self.tools.iter().flatten() {
            let tool = ToolName::parse(name).ok_or_else(|| {
                format!(
                    "agent: unknown tool \"{name}\" in `tools`; the tools are {}",
                    crate::tools::catalog::tool_list()
                )
            })?;
            if !out.contains(&tool) {
                out.push(tool);
            }
        }
        Ok(out)
    }

    /// The JSON Schema of the call, shorthand expanded.
    pub fn normalized_schema(&self) -> Result<Option<Value>, String> {
        match &self.schema {
            None | Some(Value::Null) => Ok(None),
            Some(s) => structured::normalize_schema(s).map(Some),
        }
    }
}

/// The model id a call uses: its own, else the run's `--model`, else the configured default;
/// aliases resolved.
pub fn model_id(opts_model: Option<&str>, run_model: Option<&str>, config: &Config) -> String {
    let id = opts_model
        .or(run_model)
        .unwrap_or_else(|| config.default_model());
    config.resolve_alias(id).to_string()
}

/// Resolves a route; a dry run's is answered by the simulated provider.
pub fn route_for(model_id: &str, config: &Config, dry_run: bool) -> Result<Route, RouteError> {
    if dry_run {
        route::resolve_simulated(model_id, config)
    } else {
        route::resolve(model_id, config)
    }
}

/// The price of a route.
pub fn price_of(route: &Route, config: &Config) -> crate::config::Price {
    pricing::price_for(&route.model_id, route.wire, &route.base_url, config)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(json: Value) -> AgentOpts {
        serde_json::from_value(json).unwrap()
    }

    #[test]
    fn the_label_is_the_label_then_the_role_then_the_prompts_first_48_characters() {
        let label = |v| opts(v).display_label();
        assert_eq!(
            &*label(serde_json::json!({"prompt": "p", "label": "L", "role": "r"})),
            "L"
        );
        assert_eq!(
            &*label(serde_json::json!({"prompt": "p", "label": "", "role": "r"})),
            "r"
        );
        assert_eq!(
            &*label(serde_json::json!({"prompt": "  first  \nsecond", "role": "agent"})),
            "first"
        );
        let exact = "é".repeat(48);
        assert_eq!(&*label(serde_json::json!({"prompt": exact})), exact);
        let long = format!("{exact}x and more");
        assert_eq!(
            &*label(serde_json::json!({"prompt": long})),
            format!("{exact}…")
        );
    }
}
