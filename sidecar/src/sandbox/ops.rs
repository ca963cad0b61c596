//! The host operations the prelude calls, as the names it passes over the bridge: parsed once
//! at the boundary, so the engine matches on variants, never on strings.

/// Operations answered at once, on the run's thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncOp {
    Log,
    Phase,
    Checkpoint,
    Budget,
    Args,
    /// `Date.now()`: replayed from the journal on resume.
    Now,
    /// `Math.random()`: replayed from the journal on resume.
    Random,
}

/// Operations whose result arrives later, through a [`super::Completer`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsyncOp {
    Agent,
    Tool,
    Workflow,
}

impl SyncOp {
    /// Every operation with the name the prelude uses.
    pub const ALL: &[(&str, SyncOp)] = &[
        ("log", SyncOp::Log),
        ("phase", SyncOp::Phase),
        ("checkpoint", SyncOp::Checkpoint),
        ("budget", SyncOp::Budget),
        ("args", SyncOp::Args),
        ("now", SyncOp::Now),
        ("random", SyncOp::Random),
    ];

    pub fn parse(name: &str) -> Option<SyncOp> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, op)| *op)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, op)| *op == self)
            .map(|(n, _)| *n)
            .expect("every operation has a name")
    }
}

impl AsyncOp {
    pub const ALL: &[(&str, AsyncOp)] = &[
        ("agent", AsyncOp::Agent),
        ("tool", AsyncOp::Tool),
        ("workflow", AsyncOp::Workflow),
    ];

    pub fn parse(name: &str) -> Option<AsyncOp> {
        Self::ALL
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, op)| *op)
    }

    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(_, op)| *op == self)
            .map(|(n, _)| *n)
            .expect("every operation has a name")
    }
}

impl std::fmt::Display for SyncOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl std::fmt::Display for AsyncOp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prelude calls exactly the operations of the tables: a new `sync("x")` or `call("x")`
    /// without a variant fails here rather than at run time.
    #[test]
    fn the_prelude_uses_exactly_these_operations() {
        let prelude = include_str!("prelude.js");
        let used = |marker: &str| -> Vec<String> {
            let mut names: Vec<String> = prelude
                .match_indices(marker)
                .map(|(i, _)| {
                    prelude[i + marker.len()..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric())
                        .collect()
                })
                .collect();
            names.sort();
            names.dedup();
            names
        };
        let mut sync: Vec<String> = SyncOp::ALL.iter().map(|(n, _)| n.to_string()).collect();
        sync.sort();
        let mut call: Vec<String> = AsyncOp::ALL.iter().map(|(n, _)| n.to_string()).collect();
        call.sort();
        assert_eq!(used("sync(\""), sync);
        assert_eq!(used("call(\""), call);
        for (name, op) in SyncOp::ALL {
            assert_eq!(SyncOp::parse(name), Some(*op));
            assert_eq!(op.name(), *name);
        }
        assert_eq!(SyncOp::parse("finish"), None);
        assert_eq!(AsyncOp::parse("agent"), Some(AsyncOp::Agent));
    }
}
