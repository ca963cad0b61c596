//! A run's events folded into what `$/progress` shows: a title, a one-line report such as
//! `Audit · 12/40 agents · 3 failed · $0.04` with a rising percentage, and an end message.
//! Pure, so the wording and the arithmetic are unit-tested.

use crate::engine::tally::Tally;
use odw_protocol::{EventKind, RunResult, RunState};
use std::path::Path;

/// How the editor shows one run; the counts come from the run's [`Tally`].
#[derive(Debug, Clone, Default)]
pub struct RunProgress {
    name: String,
    dry_run: bool,
    percent: u32,
}

impl RunProgress {
    /// Progress for a script shown as `fallback_name` until the run says better.
    pub fn new(fallback_name: &str) -> Self {
        RunProgress {
            name: fallback_name.to_string(),
            ..Default::default()
        }
    }

    /// Takes the run's name from its start. Returns whether the report may have changed.
    pub fn apply(&mut self, kind: &EventKind) -> bool {
        if let EventKind::RunStarted {
            script,
            name,
            dry_run,
            ..
        } = kind
        {
            self.name = name.clone().unwrap_or_else(|| script_name(script));
            self.dry_run = *dry_run;
        }
        Tally::moves(kind)
    }

    /// The script's name: clients already prefix progress with the server's name (`odw`).
    pub fn title(&self) -> String {
        self.name.clone()
    }

    /// The script's name (its `meta.name`, else its file name).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `Audit · 12/40 agents · 3 failed · $0.04`.
    pub fn message(&self, t: &Tally) -> String {
        let mut parts = Vec::new();
        if self.dry_run {
            parts.push("dry run".to_string());
        }
        if let Some(p) = &t.phase {
            parts.push(p.clone());
        }
        // `0/0 agents` reads like a stuck run; nothing is queued until the script calls agent().
        if t.queued == 0 {
            parts.push("starting".to_string());
        } else {
            parts.push(format!("{}/{} agents", t.done(), t.queued));
        }
        if t.failed > 0 {
            parts.push(format!("{} failed", t.failed));
        }
        if t.cancelled > 0 {
            parts.push(format!("{} cancelled", t.cancelled));
        }
        if t.cost_usd > 0.0 {
            parts.push(usd(t.cost_usd));
        }
        parts.join(" · ")
    }

    /// Ended calls over queued calls, never falling, and below 100 until the run ends
    /// (more calls may still be queued).
    pub fn percentage(&mut self, t: &Tally) -> u32 {
        if let Some(now) = (t.done().min(t.queued) * 100).checked_div(t.queued) {
            self.percent = self.percent.max(now.min(99) as u32);
        }
        self.percent
    }
}

/// The `end` message: the outcome in a few words.
pub fn end_message(r: &RunResult) -> String {
    let mut parts = vec![state_words(r.state).to_string()];
    if let Some(est) = &r.estimate {
        parts.push(format!("≈{} agents · ≈{}", est.agents, usd(est.cost_usd)));
    } else {
        parts.push(format!("{} agents", r.usage.agents));
        if r.usage.failed > 0 {
            parts.push(format!("{} failed", r.usage.failed));
        }
        if r.usage.cancelled > 0 {
            parts.push(format!("{} cancelled", r.usage.cancelled));
        }
        if r.usage.cost_usd > 0.0 {
            parts.push(usd(r.usage.cost_usd));
        }
    }
    parts.join(" · ")
}

/// The `window/showMessage` text at the end of a run: one line that reads well in a status
/// line, so the short, workspace-relative result path comes before the (long) preview.
pub fn final_message(name: &str, r: &RunResult, workspace: &Path) -> String {
    let mut text = format!("odw: {name} {}", end_message(r));
    if let Some(p) = &r.result_path {
        let p = Path::new(p);
        let shown = p.strip_prefix(workspace).unwrap_or(p);
        text.push_str(&format!(" → {}", shown.display()));
    }
    match (r.state, &r.error) {
        (RunState::Succeeded, _) => {
            if let Some(preview) = preview(&r.result) {
                text.push_str(&format!(": {preview}"));
            }
        }
        (_, Some(e)) => text.push_str(&format!(": {}", error_summary(e))),
        _ => {}
    }
    text
}

/// The label of the `Dry run` lens after an estimate: `Dry run: ≈N agents · ≈$X`.
pub fn dry_run_label(est: &odw_protocol::run::Estimate) -> String {
    format!("Dry run: ≈{} agents · ≈{}", est.agents, usd(est.cost_usd))
}

fn state_words(s: RunState) -> &'static str {
    match s {
        RunState::Running => "running",
        RunState::Succeeded => "succeeded",
        RunState::Failed => "failed",
        RunState::Cancelled => "cancelled",
        RunState::BudgetExhausted => "budget exhausted",
        RunState::Interrupted => "interrupted",
        RunState::Paused => "paused",
    }
}

/// Dollars with cents, or with four decimals below a cent so small runs do not show `$0.00`.
pub fn usd(x: f64) -> String {
    if x > 0.0 && x < 0.01 {
        format!("${x:.4}")
    } else {
        format!("${x:.2}")
    }
}

/// The first 80 characters of the result's first line.
fn preview(v: &serde_json::Value) -> Option<String> {
    let text = match v {
        serde_json::Value::Null => return None,
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    let line = first_line(&text);
    let short: String = line.chars().take(80).collect();
    Some(
        if short.len() < line.len() || text.lines().nth(1).is_some() {
            format!("{short}…")
        } else {
            short
        },
    )
}

/// The error's first line, and the next one when the first only introduces it ("…did not
/// run:"), so the message says what is wrong.
fn error_summary(e: &str) -> String {
    let mut lines = e.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("");
    match lines.next() {
        Some(next) if first.ends_with(':') => format!("{first} {next}"),
        _ => first.to_string(),
    }
}

fn first_line(s: &str) -> &str {
    s.lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim()
}

/// `audit.workflow.js` for `/w/audit.workflow.js`.
pub fn script_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use odw_protocol::{AgentErrorCode, RunId, Usage};

    fn fold(p: &mut RunProgress, t: &mut Tally, kind: EventKind) -> bool {
        t.apply_kind(&kind);
        p.apply(&kind)
    }

    fn queued(phase: Option<&str>) -> EventKind {
        EventKind::AgentQueued {
            call: 1,
            label: "l".into(),
            phase: phase.map(str::to_string),
            model: "m".into(),
        }
    }

    fn finished(cost: f64) -> EventKind {
        EventKind::AgentFinished {
            call: 1,
            label: "l".into(),
            tokens_in: 1,
            tokens_out: 1,
            cost_usd: cost,
            duration_ms: 1,
        }
    }

    #[test]
    fn report_reads_like_the_protocol_example() {
        let mut t = Tally::default();
        let mut p = RunProgress::new("x.workflow.js");
        fold(
            &mut p,
            &mut t,
            EventKind::RunStarted {
                script: "/w/audit.workflow.js".into(),
                dialect: "meta".into(),
                name: Some("audit".into()),
                phases: vec![],
                resumed: false,
                dry_run: false,
            },
        );
        assert_eq!(p.title(), "audit");
        assert_eq!(p.message(&t), "starting");
        for _ in 0..40 {
            fold(&mut p, &mut t, queued(Some("Audit")));
        }
        for _ in 0..9 {
            fold(&mut p, &mut t, finished(0.004));
        }
        for _ in 0..3 {
            fold(
                &mut p,
                &mut t,
                EventKind::AgentFailed {
                    call: 1,
                    label: "l".into(),
                    code: AgentErrorCode::Timeout,
                    message: "t".into(),
                },
            );
        }
        assert_eq!(p.message(&t), "Audit · 12/40 agents · 3 failed · $0.04");
        assert_eq!(p.percentage(&t), 30);
        assert!(!fold(
            &mut p,
            &mut t,
            EventKind::Log {
                level: "info".into(),
                message: "m".into()
            }
        ));
    }

    #[test]
    fn calls_stopped_by_a_cancel_are_cancelled_not_failed() {
        let mut t = Tally::default();
        let mut p = RunProgress::new("x");
        for _ in 0..3 {
            fold(&mut p, &mut t, queued(None));
        }
        fold(&mut p, &mut t, finished(0.0));
        for _ in 0..2 {
            fold(
                &mut p,
                &mut t,
                EventKind::AgentFailed {
                    call: 1,
                    label: "l".into(),
                    code: AgentErrorCode::Cancelled,
                    message: "cancelled".into(),
                },
            );
        }
        assert_eq!(p.message(&t), "3/3 agents · 2 cancelled");
    }

    #[test]
    fn percentage_rises_and_stays_below_100_while_running() {
        let mut t = Tally::default();
        let mut p = RunProgress::new("x");
        assert_eq!(p.percentage(&t), 0);
        fold(&mut p, &mut t, queued(None));
        fold(&mut p, &mut t, finished(0.0));
        assert_eq!(p.percentage(&t), 99);
        for _ in 0..9 {
            fold(&mut p, &mut t, queued(None));
        }
        // 1/10 done now, but the bar never goes back.
        assert_eq!(p.percentage(&t), 99);
        assert_eq!(p.message(&t), "1/10 agents");
    }

    #[test]
    fn end_and_final_messages() {
        let mut r = RunResult {
            run_id: RunId("r1".into()),
            state: RunState::Succeeded,
            result: serde_json::json!("echo: hi\nsecond line"),
            error: None,
            usage: Usage {
                agents: 2,
                cost_usd: 0.0012,
                ..Default::default()
            },
            failures: vec![],
            result_path: Some("/w/.odw/runs/r1/result.md".into()),
            estimate: None,
        };
        assert_eq!(end_message(&r), "succeeded · 2 agents · $0.0012");
        let w = Path::new("/w");
        assert_eq!(
            final_message("audit", &r, w),
            "odw: audit succeeded · 2 agents · $0.0012 → .odw/runs/r1/result.md: echo: hi…"
        );
        r.state = RunState::Cancelled;
        r.error = Some("the run was cancelled\nmore".into());
        r.result_path = None;
        r.usage.cancelled = 8;
        assert_eq!(
            final_message("audit", &r, w),
            "odw: audit cancelled · 2 agents · 8 cancelled · $0.0012: the run was cancelled"
        );
        r.state = RunState::Failed;
        r.error = Some(
            "the script has errors and did not run:\n/w/a.js:2:4: error[syntax]: x\n  |".into(),
        );
        r.usage.cancelled = 0;
        assert_eq!(
            final_message("audit", &r, w),
            "odw: audit failed · 2 agents · $0.0012: the script has errors and did not run: /w/a.js:2:4: error[syntax]: x"
        );
    }

    #[test]
    fn usd_formatting() {
        assert_eq!(usd(0.0), "$0.00");
        assert_eq!(usd(0.04), "$0.04");
        assert_eq!(usd(0.00123), "$0.0012");
        assert_eq!(usd(12.346), "$12.35");
    }
}
