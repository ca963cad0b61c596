//! Approvals of the tools that change the machine: the policy (`[approvals]`, `--allow`,
//! `--deny`), the face that asks (an editor dialog, a terminal prompt), and the per-run memory
//! of "Allow for this run". The engine decides; faces only ask.

use crate::config::{ApprovalsConfig, Policy};
use crate::tools::ToolName;
use futures::future::BoxFuture;
use odw_protocol::{ApprovalDecision, DecidedBy, EventKind, RunId};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One question to the user.
#[derive(Debug, Clone)]
pub struct ApprovalRequest {
    pub run_id: RunId,
    /// The script's file name, so the user knows which run asks.
    pub script: String,
    pub tool: ToolName,
    /// Exactly what it will do (see [`crate::tools::ToolInput::describe`]).
    pub detail: String,
    /// The agent asking, when it is an agent.
    pub label: Option<String>,
}

impl ApprovalRequest {
    /// The question as one text, for dialogs and prompts.
    pub fn message(&self) -> String {
        let who = match &self.label {
            Some(label) => format!("agent \"{label}\""),
            None => "the script".to_string(),
        };
        format!(
            "odw run {} ({}): {who} wants to use {}: {}",
            self.run_id, self.script, self.tool, self.detail
        )
    }
}

/// The user's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Once,
    ForRun,
    Deny,
}

/// A face that can ask the user.
pub trait Approver: Send + Sync {
    /// Asks; `None` when this face has no way to ask (no terminal, a client without message
    /// actions). The future's `None` is a dismissed question. The engine bounds the wait.
    fn ask(&self, req: ApprovalRequest) -> Option<BoxFuture<'static, Option<Answer>>>;
}

/// An approver in a [`super::RunRequest`] (which is `Debug` and `Clone`).
#[derive(Clone)]
pub struct ApproverHandle(pub Arc<dyn Approver>);

impl std::fmt::Debug for ApproverHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApproverHandle")
    }
}

/// The policy of each gated tool: the configuration, with `--allow`/`--deny` on top.
#[derive(Debug, Clone)]
pub struct ApprovalPolicy {
    write_file: Policy,
    run_bash: Policy,
    git: Policy,
    pub timeout: Duration,
}

/// A `--allow`/`--deny` value that is not a gated tool.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("`{0}` is not a tool; the tools that need approval are write_file, run_bash, git")]
    Unknown(String),
    #[error("`{0}` never needs approval; the tools that do are write_file, run_bash, git")]
    NotGated(String),
}

impl ApprovalPolicy {
    pub fn new(config: &ApprovalsConfig, allow: &[ToolName], deny: &[ToolName]) -> Self {
        let mut p = ApprovalPolicy {
            write_file: config.write_file,
            run_bash: config.run_bash,
            git: config.git,
            timeout: Duration::from_millis(config.timeout_ms.max(1)),
        };
        for (tools, policy) in [(allow, Policy::Allow), (deny, Policy::Deny)] {
            for t in tools {
                if let Some(slot) = p.slot(*t) {
                    *slot = policy;
                }
            }
        }
        p
    }

    fn slot(&mut self, tool: ToolName) -> Option<&mut Policy> {
        match tool {
            ToolName::WriteFile => Some(&mut self.write_file),
            ToolName::RunBash => Some(&mut self.run_bash),
            ToolName::Git => Some(&mut self.git),
            _ => None,
        }
    }

    /// The policy of `tool`; tools that do not change the machine are always allowed.
    pub fn of(&self, tool: ToolName) -> Policy {
        match tool {
            ToolName::WriteFile => self.write_file,
            ToolName::RunBash => self.run_bash,
            ToolName::Git => self.git,
            _ => Policy::Allow,
        }
    }

    /// Parses a `--allow`/`--deny` list: `write_file,run_bash`.
    pub fn parse_tools(list: &[String]) -> Result<Vec<ToolName>, PolicyError> {
        let mut out = Vec::new();
        for name in list.iter().flat_map(|l| l.split(',')).map(str::trim) {
            if name.is_empty() {
                continue;
            }
            let tool = ToolName::parse(name).ok_or_else(|| PolicyError::Unknown(name.into()))?;
            if !tool.spec().gated {
                return Err(PolicyError::NotGated(name.into()));
            }
            out.push(tool);
        }
        Ok(out)
    }
}

/// What the engine does with one gated call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Denied, with the text the model (or the script) reads.
    Denied(String),
}

/// One run's approvals.
pub struct Approvals {
    policy: ApprovalPolicy,
    approver: Option<Arc<dyn Approver>>,
    allowed_for_run: Mutex<HashSet<ToolName>>,
    /// One question at a time per run: a second ask for the same tool waits, then finds the
    /// first one's "Allow for this run".
    asking: tokio::sync::Mutex<()>,
}

impl Approvals {
    pub fn new(policy: ApprovalPolicy, approver: Option<Arc<dyn Approver>>) -> Self {
        Approvals {
            policy,
            approver,
            allowed_for_run: Mutex::new(HashSet::new()),
            asking: tokio::sync::Mutex::new(()),
        }
    }

    /// Decides whether a gated call runs, asking the user when the policy says so. Every
    /// decision is an event (and so journaled); nothing waits longer than the timeout.
    pub async fn decide(
        &self,
        req: ApprovalRequest,
        call: Option<u64>,
        emit: &(dyn Fn(EventKind) + Send + Sync),
    ) -> Verdict {
        let tool = req.tool;
        let decided = |decision, by| {
            emit(EventKind::ApprovalDecided {
                tool: tool.to_string(),
                decision,
                by,
                call,
            })
        };
        match self.policy.of(tool) {
            Policy::Allow => {
                decided(ApprovalDecision::AllowOnce, DecidedBy::Policy);
                return Verdict::Allowed;
            }
            Policy::Deny => {
                decided(ApprovalDecision::Deny, DecidedBy::Policy);
                return Verdict::Denied(format!(
                    "denied by policy ([approvals] {tool} = \"deny\" or --deny {tool})"
                ));
            }
            Policy::Ask => {}
        }
        if self.allowed_for_run.lock().unwrap().contains(&tool) {
            decided(ApprovalDecision::AllowForRun, DecidedBy::Run);
            return Verdict::Allowed;
        }
        let no_channel = || {
            Verdict::Denied(format!(
                "denied: no approval channel; allow with --allow {tool} or [approvals] {tool} = \"allow\""
            ))
        };
        let Some(approver) = &self.approver else {
            decided(ApprovalDecision::Deny, DecidedBy::NoChannel);
            return no_channel();
        };
        let _turn = self.asking.lock().await;
        if self.allowed_for_run.lock().unwrap().contains(&tool) {
            decided(ApprovalDecision::AllowForRun, DecidedBy::Run);
            return Verdict::Allowed;
        }
        emit(EventKind::ApprovalRequested {
            tool: tool.to_string(),
            detail: req.detail.clone(),
            call,
            label: req.label.clone(),
        });
        let Some(question) = approver.ask(req) else {
            decided(ApprovalDecision::Deny, DecidedBy::NoChannel);
            return no_channel();
        };
        match tokio::time::timeout(self.policy.timeout, question).await {
            Ok(Some(Answer::Once)) => {
                decided(ApprovalDecision::AllowOnce, DecidedBy::User);
                Verdict::Allowed
            }
            Ok(Some(Answer::ForRun)) => {
                self.allowed_for_run.lock().unwrap().insert(tool);
                decided(ApprovalDecision::AllowForRun, DecidedBy::User);
                Verdict::Allowed
            }
            Ok(Some(Answer::Deny)) | Ok(None) => {
                decided(ApprovalDecision::Deny, DecidedBy::User);
                Verdict::Denied("denied by the user".into())
            }
            Err(_) => {
                decided(ApprovalDecision::Deny, DecidedBy::Timeout);
                let ms = self.policy.timeout.as_millis();
                let within = if ms.is_multiple_of(1000) {
                    format!("{} s", ms / 1000)
                } else {
                    format!("{ms} ms")
                };
                Verdict::Denied(format!(
                    "denied: no answer within {within} ([approvals] timeout_ms)"
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Scripted {
        answer: Option<Answer>,
        asked: AtomicUsize,
        delay: Duration,
    }

    impl Approver for Scripted {
        fn ask(&self, _req: ApprovalRequest) -> Option<BoxFuture<'static, Option<Answer>>> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            let (answer, delay) = (self.answer, self.delay);
            Some(Box::pin(async move {
                tokio::time::sleep(delay).await;
                answer
            }))
        }
    }

    fn request(tool: ToolName) -> ApprovalRequest {
        ApprovalRequest {
            run_id: RunId("r1".into()),
            script: "w.js".into(),
            tool,
            detail: "run `true`".into(),
            label: Some("fixer".into()),
        }
    }

    fn approvals(answer: Option<Answer>, delay_ms: u64, timeout_ms: u64) -> Arc<Approvals> {
        let config = ApprovalsConfig {
            timeout_ms,
            ..ApprovalsConfig::default()
        };
        Arc::new(Approvals::new(
            ApprovalPolicy::new(&config, &[], &[]),
            Some(Arc::new(Scripted {
                answer,
                asked: AtomicUsize::new(0),
                delay: Duration::from_millis(delay_ms),
            })),
        ))
    }

    fn events() -> (
        Arc<Mutex<Vec<EventKind>>>,
        impl Fn(EventKind) + Send + Sync + Clone,
    ) {
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        (log, move |e| l.lock().unwrap().push(e))
    }

    #[tokio::test]
    async fn allow_for_run_answers_the_waiting_asks_of_the_same_tool() {
        let a = approvals(Some(Answer::ForRun), 50, 5_000);
        let (log, emit) = events();
        let mut joins = Vec::new();
        for _ in 0..3 {
            let (a, emit) = (a.clone(), emit.clone());
            joins.push(tokio::spawn(async move {
                a.decide(request(ToolName::RunBash), Some(1), &emit).await
            }));
        }
        for j in joins {
            assert_eq!(j.await.unwrap(), Verdict::Allowed);
        }
        let log = log.lock().unwrap().clone();
        let asked = log
            .iter()
            .filter(|e| matches!(e, EventKind::ApprovalRequested { .. }))
            .count();
        assert_eq!(asked, 1, "{log:?}");
        let by_run = log
            .iter()
            .filter(|e| {
                matches!(
                    e,
                    EventKind::ApprovalDecided {
                        by: DecidedBy::Run,
                        ..
                    }
                )
            })
            .count();
        assert_eq!(by_run, 2);
        // Another tool is still asked.
        let (_, emit) = events();
        assert_eq!(
            a.decide(request(ToolName::Git), None, &emit).await,
            Verdict::Allowed
        );
    }

    #[tokio::test]
    async fn no_answer_in_time_is_a_denial() {
        let a = approvals(Some(Answer::Once), 10_000, 50);
        let (log, emit) = events();
        let v = a.decide(request(ToolName::WriteFile), None, &emit).await;
        assert_eq!(
            v,
            Verdict::Denied("denied: no answer within 50 ms ([approvals] timeout_ms)".into())
        );
        assert!(log.lock().unwrap().iter().any(|e| matches!(
            e,
            EventKind::ApprovalDecided {
                by: DecidedBy::Timeout,
                decision: ApprovalDecision::Deny,
                ..
            }
        )));
    }

    #[tokio::test]
    async fn policies_and_flags_decide_without_asking() {
        let config = ApprovalsConfig {
            run_bash: Policy::Deny,
            ..ApprovalsConfig::default()
        };
        let allow = ApprovalPolicy::parse_tools(&["run_bash,git".into()]).unwrap();
        let a = Approvals::new(ApprovalPolicy::new(&config, &allow, &[]), None);
        let (_, emit) = events();
        assert_eq!(
            a.decide(request(ToolName::RunBash), None, &emit).await,
            Verdict::Allowed
        );
        // Ask with no way to ask: denied, and the model is told how to allow it.
        let v = a.decide(request(ToolName::WriteFile), None, &emit).await;
        assert_eq!(
            v,
            Verdict::Denied(
                "denied: no approval channel; allow with --allow write_file or [approvals] write_file = \"allow\"".into()
            )
        );
        let deny = ApprovalPolicy::parse_tools(&["git".into()]).unwrap();
        let a = Approvals::new(ApprovalPolicy::new(&config, &allow, &deny), None);
        assert!(matches!(
            a.decide(request(ToolName::Git), None, &emit).await,
            Verdict::Denied(m) if m.starts_with("denied by policy")
        ));
        assert!(matches!(
            ApprovalPolicy::parse_tools(&["read_file".into()]),
            Err(PolicyError::NotGated(_))
        ));
        assert!(matches!(
            ApprovalPolicy::parse_tools(&["rm".into()]),
            Err(PolicyError::Unknown(_))
        ));
    }

    #[tokio::test]
    async fn a_user_denial_is_told_as_such() {
        let a = approvals(Some(Answer::Deny), 0, 5_000);
        let (_, emit) = events();
        assert_eq!(
            a.decide(request(ToolName::Git), None, &emit).await,
            Verdict::Denied("denied by the user".into())
        );
    }
}
