//! The host operations the prelude calls, as the names it passes over the bridge: parsed once
//! at the boundary, so the engine matches on variants, never on strings.

/// Declares an operation enum with the names the prelude passes, and `ALL`, `parse`, `name`
/// and `Display` from that one list.
macro_rules! operations {
    ($(#[$doc:meta])* $ty:ident { $($(#[$vdoc:meta])* $variant:ident = $name:literal,)* }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum $ty {
            $($(#[$vdoc])* $variant,)*
        }

        impl $ty {
            /// Every operation with the name the prelude uses.
            pub const ALL: &[(&str, $ty)] = &[$(($name, $ty::$variant),)*];

            pub fn parse(name: &str) -> Option<$ty> {
                Self::ALL.iter().find(|(n, _)| *n == name).map(|(_, op)| *op)
            }

            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)*
                }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.name())
            }
        }
    };
}

operations! {
    /// Operations answered at once, on the run's thread.
    SyncOp {
        Log = "log",
        Phase = "phase",
        Checkpoint = "checkpoint",
        Budget = "budget",
        Args = "args",
        /// `Date.now()`: replayed from the journal on resume.
        Now = "now",
        /// `Math.random()`: replayed from the journal on resume.
        Random = "random",
    }
}

operations! {
    /// Operations whose result arrives later, through a [`super::Completer`].
    AsyncOp {
        Agent = "agent",
        Tool = "tool",
        Workflow = "workflow",
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
