//! Per-run budgets in tokens and dollars. Every request reserves its worst case before it is
//! sent and settles the real usage when it returns, so concurrent calls can never together
//! overshoot a cap: spend ≤ cap holds, at the price of refusing a call that might have fit, as
//! long as a provider reports no more than a request's own bound (prompt + maxTokens). One that
//! reports more is charged what it reports (the ledger never hides spend), and no further call
//! can reserve once the cap is crossed.

use odw_protocol::Budget as Caps;
use std::sync::Mutex;

/// What a run has spent and may still spend.
#[derive(Debug)]
pub struct Budget {
    caps: Mutex<Caps>,
    state: Mutex<Spent>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Spent {
    tokens: u64,
    usd: f64,
    reserved_tokens: u64,
    reserved_usd: f64,
    warned: bool,
}

/// A reservation held while a request is in flight.
#[derive(Debug)]
#[must_use = "a reservation must be settled"]
pub struct Reservation {
    tokens: u64,
    usd: f64,
}

/// The call would exceed the cap.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
#[error(
    "budget exhausted: this call could need {need}, and only {left} is left of the run's cap of {cap}; raise it with --budget-usd/--budget-tokens, or `odw resume RUN_ID --budget-usd X` to continue"
)]
pub struct Exhausted {
    pub need: String,
    pub left: String,
    pub cap: String,
}

/// The budget as `budget()` shows it to a script.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    pub tokens_used: u64,
    pub cost_usd: f64,
    pub max_tokens: Option<u64>,
    pub max_cost_usd: Option<f64>,
    pub percent_used: f64,
}

/// Crossing this share of a cap emits one `budgetWarning`.
const WARN_AT: f64 = 0.8;

impl Budget {
    /// A budget with these caps and what was already spent (a resumed run keeps its spend).
    pub fn new(caps: Caps, tokens_spent: u64, usd_spent: f64) -> Self {
        Budget {
            caps: Mutex::new(caps),
            state: Mutex::new(Spent {
                tokens: tokens_spent,
                usd: usd_spent,
                ..Spent::default()
            }),
        }
    }

    /// Reserves the worst case of one request.
    pub fn reserve(&self, tokens: u64, usd: f64) -> Result<Reservation, Exhausted> {
        let caps = self.caps.lock().unwrap().clone();
        let mut s = self.state.lock().unwrap();
        if let Some(cap) = caps.tokens {
            let committed = s.tokens + s.reserved_tokens;
            if committed + tokens > cap {
                return Err(Exhausted {
                    need: format!("{tokens} tokens"),
                    left: format!("{} tokens", cap.saturating_sub(committed)),
                    cap: format!("{cap} tokens"),
                });
            }
        }
        if let Some(cap) = caps.usd {
            let committed = s.usd + s.reserved_usd;
            // A tiny epsilon keeps float rounding from refusing a call that fits exactly.
            if committed + usd > cap + 1e-12 {
                return Err(Exhausted {
                    need: format!("${usd:.4}"),
                    left: format!("${:.4}", (cap - committed).max(0.0)),
                    cap: format!("${cap:.4}"),
                });
            }
        }
        s.reserved_tokens += tokens;
        s.reserved_usd += usd;
        Ok(Reservation { tokens, usd })
    }

    /// Replaces a reservation by what the request really used. Returns a snapshot when this
    /// settlement crossed the warning threshold for the first time.
    pub fn settle(&self, r: Reservation, tokens: u64, usd: f64) -> Option<Snapshot> {
        let crossed = {
            let mut s = self.state.lock().unwrap();
            s.reserved_tokens -= r.tokens;
            s.reserved_usd = (s.reserved_usd - r.usd).max(0.0);
            s.tokens += tokens;
            s.usd += usd;
            let share = self.share(&s);
            if share >= WARN_AT && !s.warned {
                s.warned = true;
                true
            } else {
                false
            }
        };
        crossed.then(|| self.snapshot())
    }

    /// Adds usage that had no reservation (replayed calls cost nothing new; kept for totals).
    pub fn add_spent(&self, tokens: u64, usd: f64) {
        let mut s = self.state.lock().unwrap();
        s.tokens += tokens;
        s.usd += usd;
    }

    /// Raises (or sets) the caps, e.g. on resume with a top-up.
    pub fn set_caps(&self, caps: Caps) {
        *self.caps.lock().unwrap() = caps;
        self.state.lock().unwrap().warned = false;
    }

    /// The caps in force.
    pub fn caps(&self) -> Caps {
        self.caps.lock().unwrap().clone()
    }

    /// What a script sees from `budget()`.
    pub fn snapshot(&self) -> Snapshot {
        let caps = self.caps.lock().unwrap().clone();
        let s = *self.state.lock().unwrap();
        Snapshot {
            tokens_used: s.tokens,
            cost_usd: (s.usd * 10_000.0).round() / 10_000.0,
            max_tokens: caps.tokens,
            max_cost_usd: caps.usd,
            percent_used: (self.share(&s) * 1000.0).round() / 10.0,
        }
    }

    fn share(&self, s: &Spent) -> f64 {
        let caps = self.caps.lock().unwrap();
        let t = caps.tokens.map(|c| s.tokens as f64 / c.max(1) as f64);
        let u = caps.usd.map(|c| if c > 0.0 { s.usd / c } else { 1.0 });
        t.into_iter().chain(u).fold(0.0, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_never_let_spend_pass_the_cap() {
        let b = Budget::new(
            Caps {
                tokens: Some(100),
                usd: None,
            },
            0,
            0.0,
        );
        let a = b.reserve(60, 0.0).unwrap();
        assert!(b.reserve(50, 0.0).is_err(), "60 reserved + 50 > 100");
        assert!(b.settle(a, 30, 0.0).is_none());
        let c = b.reserve(50, 0.0).unwrap();
        let warn = b.settle(c, 50, 0.0);
        assert_eq!(warn.unwrap().percent_used, 80.0);
        assert!(b.reserve(21, 0.0).is_err());
        assert!(b.reserve(20, 0.0).is_ok());
    }

    #[test]
    fn dollars_cap_and_message() {
        let b = Budget::new(
            Caps {
                tokens: None,
                usd: Some(0.01),
            },
            0,
            0.009,
        );
        let e = b.reserve(10, 0.002).unwrap_err();
        assert!(e.to_string().contains("--budget-usd"), "{e}");
        b.set_caps(Caps {
            tokens: None,
            usd: Some(1.0),
        });
        assert!(b.reserve(10, 0.002).is_ok());
    }
}
