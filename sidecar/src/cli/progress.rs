//! Progress on stderr: a live bar on a terminal, plain lines otherwise (throttled, so a
//! 10,000-agent run does not print 10,000 lines).

use crate::engine::events::RunEvents;
use crate::engine::tally::Tally;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use odw_protocol::{ApprovalDecision, DecidedBy, EventKind, RunState};

/// Who decided, as the progress line says it.
fn by_text(by: DecidedBy) -> &'static str {
    match by {
        DecidedBy::User => "by the user",
        DecidedBy::Policy => "by policy",
        DecidedBy::Run => "for this run",
        DecidedBy::Timeout => "no answer in time",
        DecidedBy::NoChannel => "no terminal to ask; use --allow",
    }
}
use std::io::IsTerminal;
use std::time::{Duration, Instant};

/// Renders one run's events until it finishes.
pub struct Progress {
    show: bool,
    started: Instant,
    last_line: Instant,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(show: bool) -> Self {
        let tty = std::io::stderr().is_terminal();
        let bar = (show && tty).then(|| {
            let b = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            b.set_style(
                ProgressStyle::with_template(
                    "{spinner} {wide_msg} [{bar:30}] {pos}/{len} {elapsed}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            b.enable_steady_tick(Duration::from_millis(120));
            b
        });
        Progress {
            show,
            bar,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    /// The live bar, when there is one (the terminal prompt hides it while it asks).
    pub fn bar(&self) -> Option<ProgressBar> {
        self.bar.clone()
    }

    pub async fn render(mut self, mut events: RunEvents) {
        let bar = self.bar.take();
        while let Some(e) = events.recv().await {
            let done = matches!(e.kind, EventKind::RunFinished { .. });
            if let Some(line) = self.line(&e.kind) {
                self.say(bar.as_ref(), &line);
            }
            let t = events.tally();
            if let Some(b) = &bar {
                b.set_length(t.queued);
                b.set_position(t.done());
                b.set_message(summary(t));
            } else if self.show && self.last_line.elapsed() >= Duration::from_secs(2) && !done {
                self.last_line = Instant::now();
                eprintln!("odw: {}", summary(t));
            }
        }
        if let Some(b) = bar {
            b.finish_and_clear();
        }
    }

    fn say(&self, bar: Option<&ProgressBar>, line: &str) {
        if !self.show {
            return;
        }
        match bar {
            Some(b) => b.println(line),
            None => eprintln!("{line}"),
        }
    }

    /// A line worth printing on its own for this event.
    fn line(&self, kind: &EventKind) -> Option<String> {
        match kind {
            EventKind::RunStarted {
                script,
                dialect,
                dry_run,
                ..
            } => Some(format!(
                "odw: running {script} ({dialect} dialect{})",
                if *dry_run { ", dry run" } else { "" }
            )),
            EventKind::PhaseStarted { phase } => Some(format!("odw: phase {phase}")),
            EventKind::AgentQueued { .. }
            | EventKind::AgentFinished { .. }
            | EventKind::AgentCached { .. } => None,
            EventKind::AgentFailed {
                call,
                label,
                code,
                message,
            } => Some(format!(
                "odw: agent #{call} \"{label}\" failed ({code}): {message}"
            )),
            EventKind::AgentRetrying {
                call,
                attempt,
                code,
                delay_ms,
                ..
            } => Some(format!(
                "odw: agent #{call} retrying (attempt {attempt}, {code}) in {delay_ms} ms"
            )),
            EventKind::Log { level, message } => Some(format!("[{level}] {message}")),
            EventKind::Checkpoint { name, .. } => Some(format!("odw: checkpoint {name}")),
            EventKind::BudgetWarning {
                percent_used,
                cost_usd,
                tokens_used,
            } => Some(format!(
                "odw: budget warning: {percent_used}% used ({tokens_used} tokens, ${cost_usd:.4})"
            )),
            // The terminal prompt shows the question itself.
            EventKind::ApprovalRequested { .. } => None,
            EventKind::ApprovalDecided {
                tool, decision, by, ..
            } => match (decision, by) {
                (ApprovalDecision::Deny, by) => {
                    Some(format!("odw: {tool} denied ({})", by_text(*by)))
                }
                (_, DecidedBy::User) => Some(format!(
                    "odw: {tool} allowed {}",
                    if *decision == ApprovalDecision::AllowForRun {
                        "for this run"
                    } else {
                        "once"
                    }
                )),
                _ => None,
            },
            EventKind::ToolStarted { tool, detail, call } => {
                let first = detail.lines().next().unwrap_or("");
                Some(match call {
                    Some(call) => format!("odw: agent #{call} {tool}: {first}"),
                    None => format!("odw: script {tool}: {first}"),
                })
            }
            EventKind::ToolFinished { .. } => None,
            EventKind::AgentStarted { .. } => None,
            EventKind::RunFinished { state, usage, .. } => Some(format!(
                "odw: run {} · {} agents · {} requests · {} tokens · ${:.4} · {:.1}s",
                match state {
                    RunState::Succeeded => "succeeded",
                    other => other.as_str(),
                },
                usage.agents,
                usage.requests,
                usage.tokens_in + usage.tokens_out,
                usage.cost_usd,
                self.started.elapsed().as_secs_f64()
            )),
        }
    }
}

/// `Map · 12/40 agents · 3 failed · 1 cancelled · 2 replayed · $0.0400`.
fn summary(t: &Tally) -> String {
    let mut s = String::new();
    if let Some(p) = &t.phase {
        s.push_str(p);
        s.push_str(" · ");
    }
    s.push_str(&format!("{}/{} agents", t.done(), t.queued));
    if t.failed > 0 {
        s.push_str(&format!(" · {} failed", t.failed));
    }
    if t.cancelled > 0 {
        s.push_str(&format!(" · {} cancelled", t.cancelled));
    }
    if t.cached > 0 {
        s.push_str(&format!(" · {} replayed", t.cached));
    }
    if t.cost_usd > 0.0 {
        s.push_str(&format!(" · ${:.4}", t.cost_usd));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use odw_protocol::AgentErrorCode;

    #[test]
    fn failed_and_cancelled_agents_count_as_done_and_are_named_apart() {
        let mut t = Tally::default();
        for call in 1..=4 {
            t.apply_kind(&EventKind::AgentQueued {
                call,
                label: "x".into(),
                phase: Some("Map".into()),
                model: "m".into(),
            });
        }
        for (call, code) in [(1, AgentErrorCode::Timeout), (2, AgentErrorCode::Cancelled)] {
            t.apply_kind(&EventKind::AgentFailed {
                call,
                label: "x".into(),
                code,
                message: "m".into(),
            });
        }
        t.apply_kind(&EventKind::AgentCached {
            call: 3,
            label: "x".into(),
        });
        assert_eq!(
            summary(&t),
            "Map · 3/4 agents · 1 failed · 1 cancelled · 1 replayed"
        );
    }
}
