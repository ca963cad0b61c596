//! The topology helpers `sandbox/topologies.js` defines for every script, with the hover docs the
//! checker's globals list should carry for them.

/// The globals `topologies.js` defines.
pub const NAMES: &[&str] = &["vote", "beamSearch"];

/// Hover and completion text for each helper, in the style of `check::globals_docs()`.
pub const DOCS: &[(&str, &str)] = &[
    (
        "vote",
        "```js\nvote(ballots, { weights?, quorum = 0.5, minConfidence = 0, byConfidence?, key?, label? })\n```\n\
         Consensus: a weighted vote, synchronous. A ballot is `{choice, confidence?}` (or `answer` / \
         `approved` in place of `choice`), a bare value (confidence 1), or `null` (a failed \
         evaluator: abstains). Ballots under `minConfidence` abstain. The leader must be unique and \
         carry at least `quorum` of the total weight (abstentions count against it). Returns \
         `{decided, winner, leader, share, tie, total, counted, abstained, tally: [{choice, weight, \
         votes, share}]}`; the tally is logged and checkpointed (name `label`, default `\"vote\"`).",
    ),
    (
        "beamSearch",
        "```js\nbeamSearch({ root, expand, score, goal?, width = 3, depth = 3, maxNodes = 50, minScore?, label? })\n```\n\
         Tree search, best-first: `expand(node, depth, path)` returns children, `score(node, depth, \
         path)` a number (higher is better; `null` or a failure prunes). Always expands the best \
         open node, keeps at most `width` open (so it backtracks when another branch scores \
         higher), never expands nodes at `depth`, scores at most `maxNodes` nodes, and stops early \
         when `goal(node, score, depth)` is truthy. Resolves to `{best: {node, score, depth, path}, \
         stoppedBy, nodes, expansions, pruned, backtracks}`; each step is checkpointed with the \
         frontier (name `label`, default `\"beam\"`).",
    ),
];
