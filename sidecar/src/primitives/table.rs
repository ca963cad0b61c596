//! The rows of the primitives table, in the order hover, completion and the README list them.

use super::{Primitive, Shape, Source};

/// Runs the same as in a live run: it calls no model and changes nothing by itself.
const PLAIN: &str = "runs as in a live run";

pub const PRIMITIVES: &[Primitive] = &[
    Primitive {
        name: "agent",
        shape: Shape::Promise,
        source: Source::Prelude,
        signature: "agent(prompt, opts?) / agent({ prompt, ...opts })",
        doc: "One model call. Options: `role`, `model` (id or alias `planning`/`default`/`fallback`), \
              `system`/`systemPrompt`, `schema` (JSON Schema, or the shorthand `{key: \"type\"}` with \
              all keys required), `maxTokens`, `temperature`, `label`, `phase`, `key`, `timeoutMs`, \
              `retries`, `tools`. Resolves to the reply text, or to the validated value when \
              `schema` is given. Rejects with an `Error` whose `.code` is `timeout`, `rate_limit`, \
              `provider_error`, `auth_failed`, `context_overflow`, `schema_invalid`, \
              `budget_exhausted` or `cancelled`.",
        summary: "one model call. Options: `role`, `model` (id or alias \
                  `default`/`planning`/`fallback`), `system`, `schema` (JSON Schema or shorthand \
                  `{key: \"type\"}`), `maxTokens`, `temperature`, `label`, `phase`, `key`, \
                  `timeoutMs`, `retries`, `fallback`, `tools`, `maxToolIterations` (see [Agents \
                  that act](#agents-that-act-tools-and-approvals)). Resolves to the text, or the \
                  validated value with a schema; rejects with `err.code` ∈ `timeout, rate_limit, \
                  provider_error, auth_failed, context_overflow, schema_invalid, \
                  budget_exhausted, cancelled`",
        dry_run: "answered by the simulated provider with a value that fits `schema` (text \
                  otherwise); a tool agent gets one simulated tool turn; tokens and cost are \
                  estimated per phase",
        in_context: true,
    },
    Primitive {
        name: "parallel",
        shape: Shape::Promise,
        source: Source::Prelude,
        signature: "parallel(thunks, { maxConcurrency }?)",
        doc: "Barrier: runs the thunks (non-functions pass through as values) and keeps input \
              order. Never rejects because one item failed: that slot is `null` and the failure \
              is an event; `cancelled` and `budget_exhausted` still propagate. Pass thunks \
              (`() => agent(…)`), not calls, so `maxConcurrency` applies.",
        summary: "a barrier, input order kept; a failed item becomes `null` (and an \
                  `agentFailed` event); `cancelled`/`budget_exhausted` propagate",
        dry_run: PLAIN,
        in_context: true,
    },
    Primitive {
        name: "pipeline",
        shape: Shape::Promise,
        source: Source::Prelude,
        signature: "pipeline(items, ...stages) / pipeline(items, [stages], { maxConcurrency }?)",
        doc: "No barrier: each item flows through the stages on its own as `stage(prev, item, \
              index)`, the first stage getting `prev = item`. A failed item becomes `null`; fatal \
              errors propagate.",
        summary: "each item flows through the stages on its own (`stage(prev, item, index)`), no \
                  barrier; failed items become `null`",
        dry_run: PLAIN,
        in_context: true,
    },
    Primitive {
        name: "loop",
        // `floating-promise` has never covered `loop`; kept so existing scripts check the same.
        shape: Shape::LenientPromise,
        source: Source::Prelude,
        signature: "loop(cond, body, { maxIterations = 100 }?)",
        doc: "Runs `body()` until `cond()` is truthy and returns the last body result; throws \
              past `maxIterations`.",
        summary: "runs `body` until `cond()` is truthy",
        dry_run: PLAIN,
        in_context: false,
    },
    Primitive {
        name: "verify",
        shape: Shape::Promise,
        source: Source::Prelude,
        signature: "verify({ target, critics, mode, consensusThreshold, minConfidence })",
        doc: "Critics are agents that return `{approved, confidence, critique, rejectedItems}`. \
              `mode: \"adversarial\"` passes unless enough confident critics reject; \
              `\"consensus\"` needs enough confident approvals. Returns `{passed, kept, rejected, \
              verdicts, …}`; when `target` is an array, `kept` is the target without the items a \
              quorum rejected.",
        summary: "critics are agents returning `{approved, confidence, critique, \
                  rejectedItems}`; returns `{passed, kept, rejected, verdicts, …}`, and `kept` is \
                  the target without the items a quorum rejected",
        dry_run: "the critics are simulated agents, so their verdicts are placeholders",
        in_context: true,
    },
    Primitive {
        name: "phase",
        shape: Shape::Sync,
        source: Source::Prelude,
        signature: "phase(title)",
        doc: "Names the current phase for events and the journal, per call chain (not a shared \
              global that races).",
        summary: "names the current phase for events, the journal and the estimate",
        dry_run: "groups the estimate's agents per phase",
        in_context: true,
    },
    Primitive {
        name: "log",
        shape: Shape::Sync,
        source: Source::Prelude,
        signature: "log(message, level?)",
        doc: "Emits a `log` run event. Never writes to stdout.",
        summary: "a `log` event, never stdout",
        dry_run: PLAIN,
        in_context: true,
    },
    Primitive {
        name: "console",
        shape: Shape::Object,
        source: Source::Prelude,
        signature: "console.log(…) / console.warn(…) / console.error(…)",
        doc: "Emit `log` run events at the matching level. Never write to stdout.",
        summary: "`log` events at the matching level, never stdout",
        dry_run: PLAIN,
        in_context: false,
    },
    Primitive {
        name: "checkpoint",
        // Recorded synchronously (a failure throws at the call), so the promise carries nothing.
        shape: Shape::LenientPromise,
        source: Source::Prelude,
        signature: "checkpoint(data)",
        doc: "A journaled, named snapshot, shown to the user.",
        summary: "a journaled snapshot, shown by `odw show`",
        dry_run: PLAIN,
        in_context: true,
    },
    Primitive {
        name: "budget",
        shape: Shape::CallableObject,
        source: Source::Prelude,
        signature: "budget.total / budget.spent() / budget.remaining() / budget()",
        doc: "Token budget of the run. Calling `budget()` returns `{tokensUsed, costUsd, \
              maxTokens, maxCostUsd, percentUsed}`.",
        summary: "the run's spend against its caps",
        dry_run: "counts the simulated agents' estimated tokens",
        in_context: true,
    },
    Primitive {
        name: "args",
        shape: Shape::CallableObject,
        source: Source::Prelude,
        signature: "args",
        doc: "The run's arguments (an object). In the `execute` dialect `context.args()` returns \
              the same.",
        summary: "the run's arguments (`context.args()` in the `execute` dialect)",
        dry_run: PLAIN,
        in_context: true,
    },
    Primitive {
        name: "workflow",
        shape: Shape::Promise,
        source: Source::Prelude,
        signature: "workflow(nameOrPath, args)",
        doc: "Runs another workflow script inside this run (one level deep), sharing \
              concurrency, budget and journal.",
        summary: "runs another script inside this run (one level), sharing concurrency, budget \
                  and journal",
        dry_run: "the other script runs dry too, within the same run",
        in_context: false,
    },
    Primitive {
        name: "compact",
        shape: Shape::Sync,
        source: Source::Prelude,
        signature: "compact(value, { maxChars })",
        doc: "Shrinks data for a prompt by dropping whole items, so the result stays valid JSON.",
        summary: "shrinks data for a prompt, keeping valid JSON",
        dry_run: PLAIN,
        in_context: false,
    },
    Primitive {
        name: "summarize",
        shape: Shape::Promise,
        source: Source::Prelude,
        signature: "summarize(text, opts)",
        doc: "Shrinks text for a prompt with a map-reduce over agents.",
        summary: "shrinks text for a prompt with a map-reduce over agents",
        dry_run: "its agents are simulated and estimated like any other",
        in_context: false,
    },
    Primitive {
        name: "context",
        shape: Shape::Object,
        source: Source::Prelude,
        signature: "context.tools.glob(pattern?) / read_file(path) / search(pattern, glob?)\n\
                    context.tools.write_file(path, content) / run_bash(command) / git(args) / \
                    web_fetch(url)",
        doc: "The agents' tools, called by the script itself. Paths are confined to the \
              workspace root; `write_file`, `run_bash` and `git` are asked for under \
              `[approvals]` (`allow`, `ask`, `deny`; `timeout_ms`) and journaled, so a resumed \
              run never repeats one. `context.args()` returns the run's arguments.",
        summary: "the agents' tools, called by the script itself under the same policy: \
                  confined to the workspace root (lexically and through symlinks), honouring \
                  `.gitignore`; the three that change the machine are approved first and \
                  journaled (a resumed script never repeats one); a failure or denial throws \
                  with `err.code` ∈ `tool_error, denied, timeout`",
        dry_run: "`glob`, `read_file` and `search` read the workspace; `write_file`, \
                  `run_bash`, `git` and `web_fetch` are not run and answer `(dry run: … was not \
                  run)`",
        in_context: false,
    },
    Primitive {
        name: "vote",
        shape: Shape::Sync,
        source: Source::Topologies,
        signature: "vote(ballots, { weights?, quorum = 0.5, minConfidence = 0, byConfidence?, \
                    key?, label? })",
        doc: "Consensus: a weighted vote, synchronous. A ballot is `{choice, confidence?}` (or \
              `answer` / `approved` in place of `choice`), a bare value (confidence 1), or \
              `null` (a failed evaluator: abstains). Ballots under `minConfidence` abstain. The \
              leader must be unique and carry at least `quorum` of the total weight \
              (abstentions count against it). Returns `{decided, winner, leader, share, tie, \
              total, counted, abstained, tally: [{choice, weight, votes, share}]}`; the tally is \
              logged and checkpointed (name `label`, default `\"vote\"`).",
        summary: "a weighted vote over ballots (`{choice, confidence?}`, a bare value, or \
                  `null` to abstain); the leader needs `quorum` of the weight; returns \
                  `{decided, winner, tally, …}`",
        dry_run: PLAIN,
        in_context: false,
    },
    Primitive {
        name: "beamSearch",
        shape: Shape::Promise,
        source: Source::Topologies,
        signature: "beamSearch({ root, expand, score, goal?, width = 3, depth = 3, maxNodes = 50, \
                    minScore?, label? })",
        doc: "Tree search, best-first: `expand(node, depth, path)` returns children, \
              `score(node, depth, path)` a number (higher is better; `null` or a failure \
              prunes). Always expands the best open node, keeps at most `width` open (so it \
              backtracks when another branch scores higher), never expands nodes at `depth`, \
              scores at most `maxNodes` nodes, and stops early when `goal(node, score, depth)` \
              is truthy. Resolves to `{best: {node, score, depth, path}, stoppedBy, nodes, \
              expansions, pruned, backtracks}`; each step is checkpointed with the frontier \
              (name `label`, default `\"beam\"`).",
        summary: "best-first tree search: `expand` and `score` nodes, keep `width` open, \
                  backtrack when another branch scores higher; resolves to `{best, stoppedBy, \
                  …}`",
        dry_run: "runs as in a live run; scores that come from agents are simulated values",
        in_context: false,
    },
];

/// Members of `context` that are not primitives of their own, with what they are.
pub const CONTEXT_EXTRAS: &[(&str, &str)] = &[
    ("tools", "the agents' tools, called by the script itself"),
    (
        "strategy",
        "an empty object, kept for scripts of the original engine",
    ),
];
