//! The conversation with the planning model: the versioned system prompt, the task message, the
//! repair messages, and one request per round (transient failures retried).

use super::Topology;
use crate::config::Config;
use crate::providers::{self, Message, ModelRequest, Route, TokenUsage};
use std::path::Path;
use std::time::Duration;

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

/// A conversation with the planning model.
pub struct Conversation<'a> {
    pub route: &'a Route,
    pub config: &'a Config,
    pub client: reqwest::Client,
    pub messages: Vec<Message>,
    pub usage: TokenUsage,
}

impl Conversation<'_> {
    /// Sends the conversation, appends the reply, and returns it. Rate limits, timeouts and
    /// server errors are retried like agent calls (`[limits] retries`, with back-off).
    pub async fn ask(&mut self) -> Result<String, String> {
        let req = ModelRequest {
            system: Some(system_prompt()),
            messages: self.messages.clone(),
            max_tokens: MAX_TOKENS,
            temperature: Some(0.0),
            schema: None,
            ..ModelRequest::default()
        };
        let limits = &self.config.limits;
        let timeout = Duration::from_millis(limits.call_timeout_ms.max(1000));
        let mut retry = 0;
        loop {
            let outcome =
                tokio::time::timeout(timeout, providers::send(&self.client, self.route, &req))
                    .await;
            let err = match outcome {
                Ok(Ok(reply)) => {
                    self.usage.input += reply.usage.input;
                    self.usage.output += reply.usage.output;
                    self.messages.push(Message::assistant(reply.text.clone()));
                    return Ok(reply.text);
                }
                Ok(Err(e)) => e,
                Err(_) => providers::ProviderError::new(
                    providers::ErrorKind::Timeout,
                    format!("no reply within {} s", timeout.as_secs()),
                ),
            };
            if !err.kind.is_transient() || retry >= limits.retries {
                return Err(err.message);
            }
            let wait = crate::scheduler::backoff::delay(
                retry,
                Duration::from_millis(limits.backoff_base_ms),
                Duration::from_millis(limits.backoff_max_ms),
                err.retry_after,
            );
            tracing::info!(
                "planning request failed ({}); retrying in {wait:?}",
                err.message
            );
            tokio::time::sleep(wait).await;
            retry += 1;
        }
    }

    /// Adds the user's next message.
    pub fn say(&mut self, content: String) {
        self.messages.push(Message::user(content));
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
