//! Approvals at the terminal: `odw run` and `odw resume` ask on stderr and read the answer
//! from stdin, when both are a terminal. Without one there is nobody to ask, and the engine
//! denies (`--allow` and `[approvals]` decide instead).

use crate::engine::approve::{Answer, ApprovalRequest, Approver, ApproverHandle};
use futures::future::BoxFuture;
use indicatif::{ProgressBar, ProgressDrawTarget};
use std::io::{BufRead, IsTerminal, Write};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Asks one question at a time on the terminal.
pub struct TerminalApprover {
    /// Lines typed on stdin, read by one thread for the life of the process: a question that
    /// timed out leaves no reader behind that would swallow the next answer.
    lines: Arc<Mutex<Receiver<String>>>,
    bar: Option<ProgressBar>,
    timeout: Duration,
}

impl TerminalApprover {
    /// An approver when stdin and stderr are a terminal; `None` otherwise.
    pub fn for_terminal(bar: Option<ProgressBar>, timeout: Duration) -> Option<ApproverHandle> {
        if !(std::io::stdin().is_terminal() && std::io::stderr().is_terminal()) {
            return None;
        }
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("odw-stdin".into())
            .spawn(move || {
                for line in std::io::stdin().lock().lines() {
                    let Ok(line) = line else { break };
                    if tx.send(line).is_err() {
                        break;
                    }
                }
            })
            .ok()?;
        Some(ApproverHandle(Arc::new(TerminalApprover {
            lines: Arc::new(Mutex::new(rx)),
            bar,
            timeout,
        })))
    }
}

/// `y`/`yes` → once, `a`/`all` → for this run, anything else (Enter included) → no.
pub fn parse_answer(line: &str) -> Answer {
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Answer::Once,
        "a" | "all" => Answer::ForRun,
        _ => Answer::Deny,
    }
}

impl Approver for TerminalApprover {
    fn ask(&self, req: ApprovalRequest) -> Option<BoxFuture<'static, Option<Answer>>> {
        let lines = self.lines.clone();
        let bar = self.bar.clone();
        let timeout = self.timeout;
        let (tx, rx) = futures::channel::oneshot::channel();
        std::thread::spawn(move || {
            let lines = lines.lock().unwrap_or_else(|p| p.into_inner());
            // Whatever was typed before the question is not its answer.
            while lines.try_recv().is_ok() {}
            if let Some(b) = &bar {
                b.set_draw_target(ProgressDrawTarget::hidden());
            }
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\n{}\n  [y]es / [a]ll in this run / [N]o: ",
                req.message()
            );
            let _ = err.flush();
            drop(err);
            let answer = match lines.recv_timeout(timeout) {
                Ok(line) => Some(parse_answer(&line)),
                Err(RecvTimeoutError::Timeout) => {
                    eprintln!("\nodw: no answer in {} s: denied", timeout.as_secs());
                    None
                }
                Err(RecvTimeoutError::Disconnected) => None,
            };
            if let Some(b) = &bar {
                b.set_draw_target(ProgressDrawTarget::stderr());
            }
            let _ = tx.send(answer);
        });
        Some(Box::pin(async move { rx.await.ok().flatten() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_and_default_to_no() {
        assert_eq!(parse_answer("y\n"), Answer::Once);
        assert_eq!(parse_answer(" YES "), Answer::Once);
        assert_eq!(parse_answer("a"), Answer::ForRun);
        assert_eq!(parse_answer("all"), Answer::ForRun);
        for no in ["", "n", "no", "maybe", "yy"] {
            assert_eq!(parse_answer(no), Answer::Deny, "{no:?}");
        }
    }
}
