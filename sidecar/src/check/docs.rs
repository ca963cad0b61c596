//! Hover and completion text for the workflow globals and the `agent()` options, condensed from
//! the README's contract so editors show the same contract the runtime implements.

/// Every workflow global with a one-paragraph markdown doc that starts with its signature.
pub fn globals_docs() -> &'static [(&'static str, &'static str)] {
    GLOBALS
}

/// Every `agent()` option key with a one-line markdown doc.
pub fn agent_option_docs() -> &'static [(&'static str, &'static str)] {
    AGENT_OPTIONS
}

/// The option keys `agent()` accepts, in documentation order.
pub fn agent_option_names() -> impl Iterator<Item = &'static str> {
    AGENT_OPTIONS.iter().map(|(name, _)| *name)
}

const GLOBALS: &[(&str, &str)] = &[
    (
        "agent",
        "```js\nagent(prompt, opts?) / agent({ prompt, ...opts })\n```\nOne model call. Options: \
         `role`, `model` (id or alias `planning`/`default`/`fallback`), `system`/`systemPrompt`, \
         `schema` (JSON Schema, or the shorthand `{key: \"type\"}` with all keys required), \
         `maxTokens`, `temperature`, `label`, `phase`, `key`, `timeoutMs`, `retries`, `tools`. \
         Resolves to the reply text, or to the validated value when `schema` is given. Rejects \
         with an `Error` whose `.code` is `timeout`, `rate_limit`, `provider_error`, \
         `auth_failed`, `context_overflow`, `schema_invalid`, `budget_exhausted` or `cancelled`.",
    ),
    (
        "parallel",
        "```js\nparallel(thunks, { maxConcurrency }?)\n```\nBarrier: runs the thunks (non-functions \
         pass through as values) and keeps input order. Never rejects because one item failed: \
         that slot is `null` and the failure is an event; `cancelled` and `budget_exhausted` \
         still propagate. Pass thunks (`() => agent(…)`), not calls, so `maxConcurrency` applies.",
    ),
    (
        "pipeline",
        "```js\npipeline(items, ...stages) / pipeline(items, [stages], { maxConcurrency }?)\n```\n\
         No barrier: each item flows through the stages on its own as `stage(prev, item, index)`, \
         the first stage getting `prev = item`. A failed item becomes `null`; fatal errors \
         propagate.",
    ),
    (
        "loop",
        "```js\nloop(cond, body, { maxIterations = 100 }?)\n```\nRuns `body()` until `cond()` is \
         truthy and returns the last body result; throws past `maxIterations`.",
    ),
    (
        "verify",
        "```js\nverify({ target, critics, mode, consensusThreshold, minConfidence })\n```\nCritics \
         are agents that return `{approved, confidence, critique, rejectedItems}`. `mode: \
         \"adversarial\"` passes unless enough confident critics reject; `\"consensus\"` needs \
         enough confident approvals. Returns `{passed, kept, rejected, verdicts, …}`; when \
         `target` is an array, `kept` is the target without the items a quorum rejected.",
    ),
    (
        "phase",
        "```js\nphase(title)\n```\nNames the current phase for events and the journal, per call \
         chain (not a shared global that races).",
    ),
    (
        "log",
        "```js\nlog(message, level?)\n```\nEmits a `log` run event. Never writes to stdout.",
    ),
    (
        "console",
        "```js\nconsole.log(…) / console.warn(…) / console.error(…)\n```\nEmit `log` run events \
         at the matching level. Never write to stdout.",
    ),
    (
        "checkpoint",
        "```js\ncheckpoint(data)\n```\nA journaled, named snapshot, shown to the user.",
    ),
    (
        "budget",
        "```js\nbudget.total / budget.spent() / budget.remaining() / budget()\n```\nToken budget of \
         the run. Calling `budget()` returns `{tokensUsed, costUsd, maxTokens, maxCostUsd, \
         percentUsed}`.",
    ),
    (
        "args",
        "```js\nargs\n```\nThe run's arguments (an object). In the `execute` dialect \
         `context.args()` returns the same.",
    ),
    (
        "workflow",
        "```js\nworkflow(nameOrPath, args)\n```\nRuns another workflow script inside this run (one \
         level deep), sharing concurrency, budget and journal.",
    ),
    (
        "compact",
        "```js\ncompact(value, { maxChars })\n```\nShrinks data for a prompt by dropping whole \
         items, so the result stays valid JSON.",
    ),
    (
        "summarize",
        "```js\nsummarize(text, opts)\n```\nShrinks text for a prompt with a map-reduce over \
         agents.",
    ),
    (
        "context",
        "```js\ncontext.tools.glob(pattern?) / read_file(path) / search(pattern, glob?)\n\
         context.tools.write_file(path, content) / run_bash(command) / git(args) / web_fetch(url)\n```\n\
         The agents' tools, called by the script itself. Paths are confined to the workspace \
         root; `write_file`, `run_bash` and `git` are asked for under `[approvals]` (`allow`, \
         `ask`, `deny`; `timeout_ms`) and journaled, so a resumed run never repeats one. \
         `context.args()` returns the run's arguments.",
    ),
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

const AGENT_OPTIONS: &[(&str, &str)] = &[
    (
        "prompt",
        "`prompt: string` — the user message (required unless given as the first argument).",
    ),
    (
        "role",
        "`role: string` — who the agent is (e.g. `\"auditor\"`); shown in events.",
    ),
    (
        "model",
        "`model: string` — a model id (`claude-*`, `gpt-*`, `ollama:<model>`, …) or an alias: \
         `default`, `planning`, `fallback`.",
    ),
    ("system", "`system: string` — the system prompt."),
    ("systemPrompt", "`systemPrompt: string` — same as `system`."),
    (
        "schema",
        "`schema: object` — JSON Schema, or the shorthand `{key: \"type\"}` (all keys required; \
         types `string`, `number`, `integer`, `boolean`, `array`, `object`, `null`, `type[]`). \
         The call then resolves to the validated value.",
    ),
    (
        "maxTokens",
        "`maxTokens: number` — the reply's token limit.",
    ),
    (
        "temperature",
        "`temperature: number` — sampling temperature.",
    ),
    (
        "label",
        "`label: string` — a short name for this call in progress and events.",
    ),
    (
        "phase",
        "`phase: string` — the phase this call belongs to (defaults to the current `phase()`).",
    ),
    (
        "key",
        "`key: string` — explicit identity for replay, when the prompt alone does not identify \
         the call.",
    ),
    (
        "timeoutMs",
        "`timeoutMs: number` — per-call timeout in milliseconds.",
    ),
    (
        "retries",
        "`retries: number` — how often a retryable failure is retried.",
    ),
    (
        "tools",
        "`tools: string[]` — the tools the model may call, in a loop, before it answers: `glob`, \
         `read_file`, `search` (the workspace, read-only), `write_file`, `run_bash`, `git` (they \
         change the machine: asked first, under `[approvals]` in odw.toml — `allow`, `ask` or \
         `deny` per tool — or `--allow`/`--deny`), `web_fetch` (public http(s) only).",
    ),
    (
        "fallback",
        "`fallback: string` — a model id or alias to use when `model` fails.",
    ),
    (
        "maxToolIterations",
        "`maxToolIterations: number` — rounds of tool calls before the model is told to answer \
         (default 8).",
    ),
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::globals::WORKFLOW_GLOBALS;

    #[test]
    fn tool_docs_name_every_tool() {
        let doc = |name: &str| {
            AGENT_OPTIONS
                .iter()
                .chain(GLOBALS.iter())
                .find(|(n, _)| *n == name)
                .map(|(_, d)| *d)
                .unwrap()
        };
        for t in crate::tools::TOOLS {
            assert!(doc("tools").contains(&format!("`{}`", t.id)), "{}", t.id);
            assert!(doc("context").contains(t.id), "{}", t.id);
        }
    }

    #[test]
    fn every_global_is_documented() {
        for name in WORKFLOW_GLOBALS {
            assert!(
                globals_docs().iter().any(|(n, _)| n == name),
                "{name} has no doc"
            );
        }
        assert_eq!(globals_docs().len(), WORKFLOW_GLOBALS.len());
        assert_eq!(agent_option_names().count(), 16);
    }
}
