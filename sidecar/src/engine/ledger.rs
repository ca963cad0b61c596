//! What a run has spent and how its calls ended: usage, failures and, for dry runs, the
//! estimate. One lock, so a reader never sees a call counted in one book and not the other.

use crate::providers::TokenUsage;
use odw_protocol::run::{Estimate, PhaseEstimate};
use odw_protocol::{AgentErrorCode, Failure, Usage};
use std::sync::Mutex;

/// The run's books.
pub(super) struct Ledger {
    dry_run: bool,
    books: Mutex<Books>,
}

#[derive(Default)]
struct Books {
    usage: Usage,
    failures: Vec<Failure>,
    /// Dry runs: the estimate per phase, in the order phases were first seen.
    estimate: Vec<PhaseEstimate>,
    models_used: Vec<String>,
}

/// What one call's requests cost.
pub(super) struct Spend {
    pub requests: u32,
    pub usage: TokenUsage,
    pub cost_usd: f64,
}

impl Books {
    fn spend(&mut self, s: &Spend) {
        let u = &mut self.usage;
        u.requests += s.requests as u64;
        u.tokens_in += s.usage.input;
        u.tokens_out += s.usage.output;
        u.cost_usd += s.cost_usd;
    }
}

impl Ledger {
    /// A resumed run keeps what it spent (`prior`), so its caps still hold across executions;
    /// call counts start afresh (replayed calls are counted as cached).
    pub fn new(dry_run: bool, prior: &Usage) -> Self {
        let usage = Usage {
            tokens_in: prior.tokens_in,
            tokens_out: prior.tokens_out,
            cost_usd: prior.cost_usd,
            requests: prior.requests,
            ..Usage::default()
        };
        Ledger {
            dry_run,
            books: Mutex::new(Books {
                usage,
                ..Books::default()
            }),
        }
    }

    pub fn usage(&self) -> Usage {
        self.books.lock().unwrap().usage.clone()
    }

    pub fn failures(&self) -> Vec<Failure> {
        self.books.lock().unwrap().failures.clone()
    }

    /// The dry run's estimate; `None` for live runs.
    pub fn estimate(&self) -> Option<Estimate> {
        if !self.dry_run {
            return None;
        }
        let books = self.books.lock().unwrap();
        let phases = books.estimate.clone();
        Some(Estimate {
            agents: phases.iter().map(|p| p.agents).sum(),
            tokens_in: phases.iter().map(|p| p.tokens_in).sum(),
            tokens_out: phases.iter().map(|p| p.tokens_out).sum(),
            cost_usd: phases.iter().map(|p| p.cost_usd).sum(),
            phases,
            models: books.models_used.clone(),
        })
    }

    /// A call answered from an earlier execution.
    pub fn cached(&self) {
        let u = &mut self.books.lock().unwrap().usage;
        u.agents += 1;
        u.cached += 1;
    }

    /// Requests paid for, whether or not the call they served counts.
    pub fn spent(&self, s: &Spend) {
        self.books.lock().unwrap().spend(s);
    }

    /// A call that ended with a value, in `phase`, answered by `model`.
    pub fn succeeded(&self, s: &Spend, phase: Option<&str>, model: &str) {
        let mut books = self.books.lock().unwrap();
        books.usage.agents += 1;
        books.spend(s);
        if !self.dry_run {
            return;
        }
        let phase = phase.unwrap_or("(no phase)");
        let i = match books.estimate.iter().position(|p| p.phase == phase) {
            Some(i) => i,
            None => {
                books.estimate.push(PhaseEstimate {
                    phase: phase.to_string(),
                    ..PhaseEstimate::default()
                });
                books.estimate.len() - 1
            }
        };
        let p = &mut books.estimate[i];
        p.agents += 1;
        p.tokens_in += s.usage.input;
        p.tokens_out += s.usage.output;
        p.cost_usd += s.cost_usd;
        if !books.models_used.iter().any(|m| m == model) {
            books.models_used.push(model.to_string());
        }
    }

    /// A call that ended without a value.
    pub fn failed(&self, failure: Failure) {
        let mut books = self.books.lock().unwrap();
        if failure.code == AgentErrorCode::Cancelled {
            books.usage.cancelled += 1;
        } else {
            books.usage.failed += 1;
        }
        books.usage.agents += 1;
        books.failures.push(failure);
    }
}
