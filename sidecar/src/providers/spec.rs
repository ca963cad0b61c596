//! Everything odw knows about each kind of provider, in one table (issue 10: one table per
//! concern). Routing, configuration, the wire formats, pricing and the checker read it; none of
//! them matches on provider names of its own. A `[providers.<name>]` endpoint is an instance of
//! one of these kinds, picked by its `wire`.

use super::{TokenUsage, Wire};
use serde_json::Value;

/// How a model id selects a provider kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelPrefix {
    /// Ids starting with this belong to the kind and go to it unchanged (`claude-…`).
    Family(&'static str),
    /// `o` then a digit (`o1`, `o4-mini`): a bare `o` prefix would catch `omni`.
    OSeries,
    /// This prefix names the kind and is stripped (`ollama:qwen3`).
    Tag(&'static str),
    /// Another spelling of a tag, accepted but not advertised (`ollama/qwen3`).
    AliasTag(&'static str),
}

impl ModelPrefix {
    /// The provider's model name when `id` has this prefix.
    fn strip(self, id: &str) -> Option<&str> {
        match self {
            ModelPrefix::Family(p) => id.starts_with(p).then_some(id),
            ModelPrefix::OSeries => {
                let rest = id.strip_prefix('o')?;
                rest.starts_with(|c: char| c.is_ascii_digit()).then_some(id)
            }
            ModelPrefix::Tag(p) | ModelPrefix::AliasTag(p) => id.strip_prefix(p),
        }
    }

    fn help(self) -> Option<String> {
        match self {
            ModelPrefix::Family(p) => Some(format!("`{p}*`")),
            ModelPrefix::OSeries => Some("`o<digit>*`".into()),
            ModelPrefix::Tag(p) => Some(format!("`{p}<model>`")),
            ModelPrefix::AliasTag(_) => None,
        }
    }
}

/// How the key travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// `x-api-key: <key>`.
    XApiKey,
    /// `Authorization: Bearer <key>`, when there is a key.
    Bearer,
    /// Nothing is sent anywhere.
    None,
}

/// How a call that wants JSON asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Structured {
    /// OpenAI `response_format: json_schema`.
    ResponseFormat,
    /// Ollama `format: <schema>`.
    Format,
    /// No native parameter: the schema goes into the prompt (`structured::schema_instruction`).
    PromptInstruction,
    /// The simulated provider builds a conforming value from the schema itself.
    Sampled,
}

/// What tool calling the kind offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tools {
    /// Tools, and `tool_choice: none` to stop the model calling them past the limit.
    WithChoice,
    /// Tools without `tool_choice`: past the limit they are not offered at all.
    WithoutChoice,
}

/// Which price applies when `[pricing]` does not name the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pricing {
    /// The built-in list prices (`pricing::TABLE`), else the unknown-model price; loopback
    /// endpoints are free.
    BuiltIn,
    /// Local models: $0.
    Free,
}

/// Where a reply reports its token counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    Reported {
        /// The object holding the counts; `None`: the reply's top level.
        object: Option<&'static str>,
        /// Summed: some providers report cached prompt tokens apart, and they are billed too.
        input: &'static [&'static str],
        output: &'static str,
    },
    /// Nothing reports them: estimated from the text.
    Estimated,
}

impl Usage {
    /// The counts in a reply; absent fields count 0.
    pub fn read(self, reply: &Value) -> TokenUsage {
        let Usage::Reported {
            object,
            input,
            output,
        } = self
        else {
            return TokenUsage::default();
        };
        let at = object.map_or(reply, |o| reply.get(o).unwrap_or(&Value::Null));
        TokenUsage {
            input: input.iter().map(|k| super::http::count(at, k)).sum(),
            output: super::http::count(at, output),
        }
    }
}

/// One provider kind.
#[derive(Debug)]
pub struct ProviderSpec {
    /// Its `[providers.<name>]` table and the `wire = "<name>"` that selects its format.
    pub name: &'static str,
    pub wire: Wire,
    /// Model ids routed to it; empty: reached only by `<name>:`, `wire` or a dry run.
    pub prefixes: &'static [ModelPrefix],
    /// The variable holding its key. `Some`: a key is required; `None`: optional (local servers).
    pub key_env: Option<&'static str>,
    pub base_url_env: Option<&'static str>,
    /// The base-URL variable may be a bare `host:port`, taken as `http://` (`OLLAMA_HOST`).
    pub bare_host_env: bool,
    pub default_base_url: &'static str,
    pub auth: Auth,
    pub structured: Structured,
    pub tools: Tools,
    pub pricing: Pricing,
    pub usage: Usage,
}

pub const ANTHROPIC: ProviderSpec = ProviderSpec {
    name: "anthropic",
    wire: Wire::Anthropic,
    prefixes: &[ModelPrefix::Family("claude-")],
    key_env: Some("ANTHROPIC_API_KEY"),
    base_url_env: Some("ANTHROPIC_BASE_URL"),
    bare_host_env: false,
    default_base_url: "https://api.anthropic.com",
    auth: Auth::XApiKey,
    structured: Structured::PromptInstruction,
    tools: Tools::WithChoice,
    pricing: Pricing::BuiltIn,
    usage: Usage::Reported {
        object: Some("usage"),
        input: &[
            "input_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
        ],
        output: "output_tokens",
    },
};

pub const OPENAI: ProviderSpec = ProviderSpec {
    name: "openai",
    wire: Wire::OpenAi,
    prefixes: &[ModelPrefix::Family("gpt-"), ModelPrefix::OSeries],
    key_env: Some("OPENAI_API_KEY"),
    base_url_env: Some("OPENAI_BASE_URL"),
    bare_host_env: false,
    default_base_url: "https://api.openai.com/v1",
    auth: Auth::Bearer,
    structured: Structured::ResponseFormat,
    tools: Tools::WithChoice,
    pricing: Pricing::BuiltIn,
    usage: Usage::Reported {
        object: Some("usage"),
        input: &["prompt_tokens"],
        output: "completion_tokens",
    },
};

pub const OLLAMA: ProviderSpec = ProviderSpec {
    name: "ollama",
    wire: Wire::Ollama,
    prefixes: &[
        ModelPrefix::Tag("ollama:"),
        ModelPrefix::AliasTag("ollama/"),
    ],
    key_env: None,
    base_url_env: Some("OLLAMA_HOST"),
    bare_host_env: true,
    default_base_url: "http://localhost:11434",
    // Ollama itself wants no key, but one behind an authenticating proxy may.
    auth: Auth::Bearer,
    structured: Structured::Format,
    tools: Tools::WithoutChoice,
    pricing: Pricing::Free,
    // Both counts are absent when the prompt came from Ollama's cache.
    usage: Usage::Reported {
        object: None,
        input: &["prompt_eval_count"],
        output: "eval_count",
    },
};

/// The dry-run provider: answers every route of a dry run without any network.
pub const SIMULATED: ProviderSpec = ProviderSpec {
    name: "dry-run",
    wire: Wire::Simulated,
    prefixes: &[],
    key_env: None,
    base_url_env: None,
    bare_host_env: false,
    default_base_url: "",
    auth: Auth::None,
    structured: Structured::Sampled,
    tools: Tools::WithChoice,
    pricing: Pricing::Free,
    usage: Usage::Estimated,
};

/// Every kind, in routing order.
pub const SPECS: &[&ProviderSpec] = &[&ANTHROPIC, &OPENAI, &OLLAMA, &SIMULATED];

/// The wire a `[providers.<name>]` endpoint speaks when it names none: most self-hosted servers
/// and gateways speak OpenAI's.
pub const CONFIGURED_DEFAULT_WIRE: Wire = Wire::OpenAi;

impl Wire {
    pub fn spec(self) -> &'static ProviderSpec {
        match self {
            Wire::Anthropic => &ANTHROPIC,
            Wire::OpenAi => &OPENAI,
            Wire::Ollama => &OLLAMA,
            Wire::Simulated => &SIMULATED,
        }
    }
}

/// The built-in kind a `[providers.<name>]` table configures, when it is one.
pub fn by_name(name: &str) -> Option<&'static ProviderSpec> {
    configurable().find(|s| s.name == name)
}

/// The kind a `wire = "…"` value (any case) selects.
pub fn by_wire_name(wire: &str) -> Option<&'static ProviderSpec> {
    configurable().find(|s| s.name.eq_ignore_ascii_case(wire))
}

/// The simulated provider is no endpoint: nothing configures it.
fn configurable() -> impl Iterator<Item = &'static ProviderSpec> {
    SPECS.iter().copied().filter(|s| s.wire != Wire::Simulated)
}

/// The kind whose prefix `id` carries, and the provider's model name.
pub fn by_model(id: &str) -> Option<(&'static ProviderSpec, &str)> {
    SPECS.iter().copied().find_map(|s| {
        s.prefixes
            .iter()
            .find_map(|p| p.strip(id))
            .map(|model| (s, model))
    })
}

/// The routable id forms, for messages: "`claude-*`, `gpt-*`, `o<digit>*`, `ollama:<model>`".
pub fn prefix_help() -> String {
    SPECS
        .iter()
        .flat_map(|s| s.prefixes.iter().filter_map(|p| p.help()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The `wire = "…"` values a configured endpoint accepts, for messages.
pub fn wire_names() -> String {
    let names: Vec<String> = configurable().map(|s| format!("\"{}\"", s.name)).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.concat(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_wire_has_its_own_entry() {
        for s in SPECS {
            assert_eq!(s.wire.spec().name, s.name);
        }
    }

    #[test]
    fn messages_list_the_table() {
        assert_eq!(
            prefix_help(),
            "`claude-*`, `gpt-*`, `o<digit>*`, `ollama:<model>`"
        );
        assert_eq!(wire_names(), "\"anthropic\", \"openai\" or \"ollama\"");
    }
}
