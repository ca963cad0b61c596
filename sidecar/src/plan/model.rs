//! The conversation with the planning model: the versioned system prompt, the task message, the
//! repair messages, and one scheduled call per round (transient failures retried).

use super::Topology;
use crate::budget::Budget;
use crate::config::Config;
use crate::pricing;
use crate::providers::{Message, Route, TokenUsage};
use crate::scheduler::{CallObserver, CallSpec, Scheduler};
use odw_protocol::EventKind;
use std::path::Path;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The system prompt's version, named in every plan's header.
pub const PROMPT_VERSION: &str = "planner-v1";
const PROMPT: &str = include_str!("../../../prompts/planner-v1.md");
/// The topologies the system prompt shows in full; others go in the task message when asked for.
const EXAMPLES: [Topology; 3] = [
    Topology::MapReduce,
    Topology::Adversarial,
    Topology::TreeSearch,
];
/// A script of a few hundred lines, with room to spare.
const MAX_TOKENS: u32 = 8192;

/// The system prompt with the example templates filled in.
pub fn system_prompt() -> String {
    EXAMPLES.iter().fold(PROMPT.to_string(), |text, t| {
        text.replace(
            &format!("{{{{example:{}}}}}", t.as_str()),
            t.template().trim_end(),
        )
    })
}

/// The first user message: the task, the topology if the user chose one, and what the
/// workspace holds (so globs in the script match real files).
pub fn task_message(task: &str, topology: Option<Topology>, workspace: &str) -> String {
    let mut m = format!("Task: {task}\n\n");
    match topology {
        Some(t) => {
            m.push_str(&format!(
                "Use the `{}` topology ({}).\n",
                t.as_str(),
                t.summary()
            ));
            if !EXAMPLES.contains(&t) {
                m.push_str(&format!(
                    "Start from this {} template and adapt it to the task:\n\n```js\n{}```\n",
                    t.title(),
                    t.template()
                ));
            }
        }
        None => {
            m.push_str("Pick the topology that fits the task best and name it on the first line.\n")
        }
    }
    if !workspace.is_empty() {
        m.push_str(&format!("\nThe workspace root holds: {workspace}\n"));
    }
    m.push_str("\nReply with the complete script in one ```js block.");
    m
}

/// A repair request: the diagnostics, quoted, and the task again so the model keeps to it.
pub fn repair_message(task: &str, diagnostics: &str, round: u32, rounds: u32) -> String {
    format!(
        "Your script does not pass odw's checks (repair round {round} of {rounds}):\n\n```\n{diagnostics}\n```\n\n\
         Fix every error and reply with the complete corrected script in one ```js block. \
         The task is unchanged: {task}"
    )
}

/// A conversation with the planning model. Every request goes through the scheduler, like an
/// `agent()` call: a fair concurrency slot, the budget, the timeout and `[limits] retries` with
/// back-off.
pub struct Conversation<'a> {
    route: &'a Route,
    config: &'a Config,
    scheduler: &'a Scheduler,
    budget: &'a Budget,
    /// The finished turns, alternating user and assistant.
    turns: Vec<Message>,
    /// The user's message the next request ends with.
    next: String,
    /// Tokens every request so far used.
    pub usage: TokenUsage,
}

/// The planner's key in the scheduler's fair queue: runs are numbered from 1.
const PLANNER_RUN: u64 = 0;

impl<'a> Conversation<'a> {
    /// A conversation whose first request is `first`.
    pub fn new(
        route: &'a Route,
        config: &'a Config,
        scheduler: &'a Scheduler,
        budget: &'a Budget,
        first: String,
    ) -> Self {
        Conversation {
            route,
            config,
            scheduler,
            budget,
            turns: Vec::new(),
            next: first,
            usage: TokenUsage::default(),
        }
    }

    /// Sends the conversation, appends the reply, and returns it.
    pub async fn ask(&mut self) -> Result<String, String> {
        let limits = &self.config.limits;
        let replies = self.turns.len() / 2;
        let spec = CallSpec {
            run: PLANNER_RUN,
            run_cap: (limits.concurrency as usize).max(1),
            call: replies as u64 + 1,
            label: format!("planning reply {}", replies + 1).into(),
            route: self.route.clone(),
            price: pricing::price_for(
                &self.route.model_id,
                self.route.wire,
                &self.route.base_url,
                self.config,
            ),
            fallback: None,
            system: Some(system_prompt()),
            prompt: self.next.clone(),
            schema: None,
            max_tokens: MAX_TOKENS,
            temperature: Some(0.0),
            // A planning reply is long: never less than a second, whatever the agent default.
            timeout: Duration::from_millis(limits.call_timeout_ms.max(1000)),
            retries: limits.retries,
            schema_retries: 0,
            backoff_base: Duration::from_millis(limits.backoff_base_ms),
            backoff_max: Duration::from_millis(limits.backoff_max_ms),
            tools: Vec::new(),
            max_tool_iterations: 0,
        };
        // Per request: a rejected key cancels the token, and the planner stops on that error.
        let cancel = CancellationToken::new();
        let outcome = self
            .scheduler
            .execute_after(&spec, &self.turns, &Logged, self.budget, &cancel)
            .await
            .map_err(|f| f.message)?;
        self.usage.input += outcome.usage.input;
        self.usage.output += outcome.usage.output;
        let text = match outcome.value {
            serde_json::Value::String(text) => text,
            // Only a call with a schema answers with a value; this one has none.
            other => other.to_string(),
        };
        self.turns
            .push(Message::user(std::mem::take(&mut self.next)));
        self.turns.push(Message::assistant(text.clone()));
        Ok(text)
    }

    /// Sets the user's next message.
    pub fn say(&mut self, content: String) {
        self.next = content;
    }
}

/// The planner has no run to report to: what the scheduler tells it goes to the log.
struct Logged;

impl CallObserver for Logged {
    fn event(&self, kind: EventKind) {
        match kind {
            EventKind::AgentRetrying {
                message, delay_ms, ..
            } => tracing::info!("planning request failed ({message}); retrying in {delay_ms} ms"),
            EventKind::Log { message, .. } => tracing::warn!("{message}"),
            EventKind::BudgetWarning { percent_used, .. } => {
                tracing::warn!("planning has used {percent_used:.0}% of its budget")
            }
            _ => {}
        }
    }
}

/// A one-line picture of the workspace for the task message: files per top-level folder and per
/// extension, the most common first.
pub fn describe_workspace(cwd: &Path) -> String {
    let Ok(ws) = crate::tools::Workspace::new(cwd) else {
        return String::new();
    };
    let Ok(paths) = ws.glob("**/*") else {
        return String::new();
    };
    if paths.is_empty() {
        return "no files".into();
    }
    let mut tops: Vec<(String, usize)> = Vec::new();
    let mut exts: Vec<(String, usize)> = Vec::new();
    let bump = |list: &mut Vec<(String, usize)>, key: String| match list
        .iter_mut()
        .find(|(k, _)| *k == key)
    {
        Some((_, n)) => *n += 1,
        None => list.push((key, 1)),
    };
    for p in &paths {
        let top = match p.split_once('/') {
            Some((dir, _)) => format!("{dir}/"),
            None => p.clone(),
        };
        bump(&mut tops, top);
        if let Some((_, ext)) = p.rsplit('/').next().unwrap_or(p).rsplit_once('.') {
            bump(&mut exts, format!(".{ext}"));
        }
    }
    let show = |mut list: Vec<(String, usize)>, n: usize| {
        list.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        let more = list.len().saturating_sub(n);
        let mut parts: Vec<String> = list
            .into_iter()
            .take(n)
            .map(|(k, c)| {
                if k.ends_with('/') {
                    format!("{k} ({c} file{})", if c == 1 { "" } else { "s" })
                } else if c > 1 {
                    format!("{k} ({c})")
                } else {
                    k
                }
            })
            .collect();
        if more > 0 {
            parts.push(format!("{more} more"));
        }
        parts.join(", ")
    };
    format!(
        "{} file(s): {}; by extension: {}",
        paths.len(),
        show(tops, 12),
        show(exts, 8)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_prompt_carries_the_examples_and_the_helpers() {
        let p = system_prompt();
        assert!(!p.contains("{{example:"), "unfilled placeholder");
        for t in EXAMPLES {
            assert!(p.contains(t.template().trim_end()), "{t}");
        }
        for name in super::super::helpers::names() {
            assert!(p.contains(name), "{name}");
        }
    }

    #[test]
    fn the_task_message_adds_a_template_the_prompt_lacks() {
        let m = task_message("vote on it", Some(Topology::Consensus), "");
        assert!(m.contains(Topology::Consensus.template()));
        let m = task_message("audit", Some(Topology::MapReduce), "3 file(s)");
        assert!(!m.contains(Topology::MapReduce.template()));
        assert!(m.contains("3 file(s)"));
    }

    fn simulated() -> (Config, Route) {
        let config = Config::default();
        let route =
            crate::providers::route::resolve_simulated("claude-sonnet-4-6", &config).unwrap();
        (config, route)
    }

    #[tokio::test]
    async fn a_planning_budget_stops_the_request_before_it_is_sent() {
        let (config, route) = simulated();
        let scheduler = Scheduler::new(1);
        let caps = odw_protocol::Budget {
            tokens: Some(100),
            usd: None,
        };
        let budget = Budget::new(caps, 0, 0.0);
        let mut chat = Conversation::new(&route, &config, &scheduler, &budget, "plan".into());
        let err = chat.ask().await.unwrap_err();
        assert!(err.contains("budget exhausted"), "{err}");
        assert_eq!(chat.usage, TokenUsage::default());
        assert!(chat.turns.is_empty());
    }

    #[tokio::test]
    async fn each_reply_joins_the_conversation_and_its_usage_is_counted() {
        let (config, route) = simulated();
        let scheduler = Scheduler::new(1);
        let budget = Budget::new(odw_protocol::Budget::default(), 0, 0.0);
        let mut chat = Conversation::new(&route, &config, &scheduler, &budget, "plan".into());
        let first = chat.ask().await.unwrap();
        let after_one = chat.usage;
        assert!(after_one.input > 0 && after_one.output > 0);
        chat.say("repair it".into());
        chat.ask().await.unwrap();
        assert!(chat.usage.input > after_one.input);
        let roles: Vec<_> = chat
            .turns
            .iter()
            .map(|m| (m.role, m.content.as_str()))
            .collect();
        assert_eq!(roles.len(), 4);
        assert_eq!(roles[0], (crate::providers::Role::User, "plan"));
        assert_eq!(
            roles[1],
            (crate::providers::Role::Assistant, first.as_str())
        );
        assert_eq!(roles[2], (crate::providers::Role::User, "repair it"));
        assert_eq!(scheduler.max_in_flight(), 1);
    }

    #[test]
    fn the_workspace_is_described_by_folder_and_extension() {
        let dir = tempfile::tempdir().unwrap();
        for f in ["src/a.ts", "src/b.ts", "lib/c.py", "README.md"] {
            let p = dir.path().join(f);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x").unwrap();
        }
        assert_eq!(
            describe_workspace(dir.path()),
            "4 file(s): src/ (2 files), README.md, lib/ (1 file); by extension: .ts (2), .md, .py"
        );
    }
}
