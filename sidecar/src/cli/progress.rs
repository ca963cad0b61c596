//! Progress on stderr: a live bar on a terminal, plain lines otherwise (throttled, so a
//! 10,000-agent run does not print 10,000 lines).

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use odw_protocol::{ApprovalDecision, DecidedBy, EventKind, RunEvent, RunId, RunState};

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
use tokio::sync::mpsc::UnboundedReceiver;

/// Renders one run's events until it finishes.
pub struct Progress {
    show: bool,
    phase: Option<String>,
    queued: u64,
    finished: u64,
    failed: u64,
    cached: u64,
    cost: f64,
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
            phase: None,
            queued: 0,
            finished: 0,
            failed: 0,
            cached: 0,
            cost: 0.0,
            started: Instant::now(),
            last_line: Instant::now(),
        }
    }

    /// The live bar, when there is one (the terminal prompt hides it while it asks).
    pub fn bar(&self) -> Option<ProgressBar> {
        self.bar.clone()
    }

    pub async fn render(mut self, id: RunId, mut events: UnboundedReceiver<RunEvent>) {
        let bar = self.bar.take();
        while let Some(e) = events.recv().await {
            if e.run_id != id {
                continue;
            }
            let done = matches!(e.kind, EventKind::RunFinished { .. });
            if let Some(line) = self.update(&e.kind) {
                self.say(bar.as_ref(), &line);
            }
            if let Some(b) = &bar {
                b.set_length(self.queued);
                b.set_position(self.finished + self.failed + self.cached);
                b.set_message(self.summary());
            } else if self.show && self.last_line.elapsed() >= Duration::from_secs(2) && !done {
                self.last_line = Instant::now();
                eprintln!("odw: {}", self.summary());
            }
            if done {
                break;
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

    fn summary(&self) -> String {
        let mut s = String::new();
        if let Some(p) = &self.phase {
            s.push_str(p);
            s.push_str(" · ");
        }
        s.push_str(&format!(
            "{}/{} agents",
            self.finished + self.cached,
            self.queued
        ));
        if self.failed > 0 {
            s.push_str(&format!(" · {} failed", self.failed));
        }
        if self.cached > 0 {
            s.push_str(&format!(" · {} replayed", self.cached));
        }
        if self.cost > 0.0 {
            s.push_str(&format!(" · ${:.4}", self.cost));
        }
        s
    }

    /// Updates the counters; returns a line worth printing on its own.
    fn update(&mut self, kind: &EventKind) -> Option<String> {
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
            EventKind::PhaseStarted { phase } => {
                self.phase = Some(phase.clone());
                Some(format!("odw: phase {phase}"))
            }
            EventKind::AgentQueued { .. } => {
                self.queued += 1;
                None
            }
            EventKind::AgentFinished { cost_usd, .. } => {
                self.finished += 1;
                self.cost += cost_usd;
                None
            }
            EventKind::AgentCached { .. } => {
                self.cached += 1;
                None
            }
            EventKind::AgentFailed {
                call,
                label,
                code,
                message,
            } => {
                self.failed += 1;
                Some(format!(
                    "odw: agent #{call} \"{label}\" failed ({code}): {message}"
                ))
            }
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
