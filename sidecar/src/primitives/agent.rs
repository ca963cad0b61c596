//! The options of `agent()`: names, types and docs. The checker's `unknown-option` list, option
//! hover and completion read this.

use super::AgentOption;

const fn opt(name: &'static str, ty: &'static str, doc: &'static str) -> AgentOption {
    AgentOption {
        name,
        ty,
        doc,
        alias: false,
    }
}

pub const AGENT_OPTIONS: &[AgentOption] = &[
    opt(
        "prompt",
        "string",
        "the user message (required unless given as the first argument).",
    ),
    opt(
        "role",
        "string",
        "who the agent is (e.g. `\"auditor\"`); shown in events.",
    ),
    opt(
        "model",
        "string",
        "a model id (`claude-*`, `gpt-*`, `ollama:<model>`, …) or an alias: `default`, \
         `planning`, `fallback`.",
    ),
    opt("system", "string", "the system prompt."),
    AgentOption {
        alias: true,
        ..opt("systemPrompt", "string", "same as `system`.")
    },
    opt(
        "schema",
        "object",
        "JSON Schema, or the shorthand `{key: \"type\"}` (all keys required; types `string`, \
         `number`, `integer`, `boolean`, `array`, `object`, `null`, `type[]`). The call then \
         resolves to the validated value.",
    ),
    opt("maxTokens", "number", "the reply's token limit."),
    opt("temperature", "number", "sampling temperature."),
    opt(
        "label",
        "string",
        "a short name for this call in progress and events.",
    ),
    opt(
        "phase",
        "string",
        "the phase this call belongs to (defaults to the current `phase()`).",
    ),
    opt(
        "key",
        "string",
        "explicit identity for replay, when the prompt alone does not identify the call.",
    ),
    opt("timeoutMs", "number", "per-call timeout in milliseconds."),
    opt(
        "retries",
        "number",
        "how often a retryable failure is retried.",
    ),
    opt(
        "tools",
        "string[]",
        "the tools the model may call, in a loop, before it answers: `glob`, `read_file`, \
         `search` (the workspace, read-only), `write_file`, `run_bash`, `git` (they change the \
         machine: asked first, under `[approvals]` in odw.toml — `allow`, `ask` or `deny` per \
         tool — or `--allow`/`--deny`), `web_fetch` (public http(s) only).",
    ),
    opt(
        "fallback",
        "string",
        "a model id or alias to use when `model` fails.",
    ),
    opt(
        "maxToolIterations",
        "number",
        "rounds of tool calls before the model is told to answer (default 8).",
    ),
];
