//! Prices per model, for budgets and estimates.

use crate::config::{Config, Price};
use crate::providers::spec::{self, ModelPrefix, Pricing};
use crate::providers::{TokenUsage, Wire};
use std::net::IpAddr;

/// List prices in USD per million tokens (input, output).
const TABLE: &[(&str, f64, f64)] = &[
    // Anthropic.
    ("claude-opus-4-8", 5.0, 25.0),
    ("claude-opus-4-7", 5.0, 25.0),
    ("claude-opus-4-6", 5.0, 25.0),
    ("claude-opus-4-5", 5.0, 25.0),
    ("claude-opus-4-1", 15.0, 75.0),
    ("claude-opus-4-0", 15.0, 75.0),
    ("claude-opus-4", 15.0, 75.0),
    ("claude-sonnet-4-6", 3.0, 15.0),
    ("claude-sonnet-4-5", 3.0, 15.0),
    ("claude-sonnet-4-0", 3.0, 15.0),
    ("claude-sonnet-4", 3.0, 15.0),
    ("claude-haiku-4-5", 1.0, 5.0),
    ("claude-3-7-sonnet", 3.0, 15.0),
    ("claude-3-5-sonnet", 3.0, 15.0),
    ("claude-3-5-haiku", 0.8, 4.0),
    ("claude-3-opus", 15.0, 75.0),
    ("claude-3-haiku", 0.25, 1.25),
    // OpenAI.
    ("gpt-5", 1.25, 10.0),
    ("gpt-5.1", 1.25, 10.0),
    ("gpt-5-mini", 0.25, 2.0),
    ("gpt-5-nano", 0.05, 0.4),
    ("gpt-4.1", 2.0, 8.0),
    ("gpt-4.1-mini", 0.4, 1.6),
    ("gpt-4.1-nano", 0.1, 0.4),
    ("gpt-4o", 2.5, 10.0),
    ("gpt-4o-mini", 0.15, 0.6),
    ("o1", 15.0, 60.0),
    ("o3", 2.0, 8.0),
    ("o3-mini", 1.1, 4.4),
    ("o4-mini", 1.1, 4.4),
];

/// Point releases newer than the table, priced like the family's current generation.
const FAMILIES: &[(&str, f64, f64)] = &[
    ("claude-opus-4-", 5.0, 25.0),
    ("claude-sonnet-4-", 3.0, 15.0),
    ("claude-haiku-4-", 1.0, 5.0),
];

const FREE: Price = Price {
    input_per_mtok: 0.0,
    output_per_mtok: 0.0,
};

/// What an unknown remote model costs when `[budget]` does not say: mid-range list prices, so a
/// budget still trips rather than running free.
const UNKNOWN_INPUT_PER_MTOK: f64 = 3.0;
const UNKNOWN_OUTPUT_PER_MTOK: f64 = 15.0;

/// The price of `model_id` (as the script names it, aliases resolved) reached over `wire`.
/// Local models (a [`Pricing::Free`] kind, and endpoints on loopback) cost nothing unless
/// configured.
pub fn price_for(model_id: &str, wire: Wire, base_url: &str, config: &Config) -> Price {
    let unprefixed = strip_provider(model_id);
    for id in [model_id, unprefixed, strip_date(unprefixed)] {
        if let Some(p) = config.pricing.get(id) {
            return *p;
        }
    }
    if wire.spec().pricing == Pricing::Free || is_local(base_url) || model_id.ends_with("-free") {
        return FREE;
    }
    if let Some(p) = builtin(unprefixed) {
        return p;
    }
    Price {
        input_per_mtok: config
            .budget
            .unknown_input_per_mtok
            .unwrap_or(UNKNOWN_INPUT_PER_MTOK),
        output_per_mtok: config
            .budget
            .unknown_output_per_mtok
            .unwrap_or(UNKNOWN_OUTPUT_PER_MTOK),
    }
}

/// The built-in list price, matching dated snapshots (`-20250514`, `-2024-08-06`), `-latest`
/// aliases and gateway ids such as `anthropic/claude-sonnet-4-6`.
fn builtin(id: &str) -> Option<Price> {
    let id = id.to_ascii_lowercase();
    let id = id.rsplit('/').next().unwrap_or(&id);
    let id = id.strip_suffix("-latest").unwrap_or(id);
    let id = strip_date(id);
    let price = |(_, i, o): &(&str, f64, f64)| Price {
        input_per_mtok: *i,
        output_per_mtok: *o,
    };
    if let Some(row) = TABLE.iter().find(|(name, ..)| *name == id) {
        return Some(price(row));
    }
    FAMILIES
        .iter()
        .find(|(prefix, ..)| {
            id.strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        })
        .map(price)
}

/// `name:model` → `model`, and an alias tag (`ollama/model`) → `model`. Only a plain name
/// counts as a prefix, so `qwen2.5:7b` keeps its tag.
fn strip_provider(id: &str) -> &str {
    match id.split_once(':') {
        Some((name, rest))
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
        {
            rest
        }
        _ => spec::SPECS
            .iter()
            .flat_map(|s| s.prefixes)
            .find_map(|p| match p {
                ModelPrefix::AliasTag(tag) => id.strip_prefix(tag),
                _ => None,
            })
            .unwrap_or(id),
    }
}

/// Drops a trailing `-YYYYMMDD` or `-YYYY-MM-DD`.
fn strip_date(id: &str) -> &str {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if let Some((head, tail)) = id.rsplit_once('-')
        && tail.len() == 8
        && digits(tail)
    {
        return head;
    }
    if id.len() > 11 {
        let (head, tail) = id.split_at(id.len() - 11);
        let parts: Vec<&str> = tail.split('-').collect();
        if let ["", y, m, d] = parts.as_slice()
            && y.len() == 4
            && m.len() == 2
            && d.len() == 2
            && [y, m, d].iter().all(|p| digits(p))
        {
            return head;
        }
    }
    id
}

/// Whether `base_url` points at this machine (loopback or the unspecified address).
fn is_local(base_url: &str) -> bool {
    let rest = base_url.split_once("://").map_or(base_url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = match host_port.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host_port.split(':').next().unwrap_or(""),
    };
    let host = host.to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.parse::<IpAddr>()
        .is_ok_and(|ip| ip.is_loopback() || ip.is_unspecified())
}

/// Dollars for `usage` at `price`.
pub fn cost(price: Price, usage: TokenUsage) -> f64 {
    (usage.input as f64 * price.input_per_mtok + usage.output as f64 * price.output_per_mtok)
        / 1_000_000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    const REMOTE: &str = "https://api.example.com/v1";

    fn price(input: f64, output: f64) -> Price {
        Price {
            input_per_mtok: input,
            output_per_mtok: output,
        }
    }

    fn p(id: &str) -> Price {
        price_for(id, Wire::OpenAi, REMOTE, &Config::default())
    }

    #[test]
    fn builtin_prices() {
        assert_eq!(
            price_for(
                "claude-sonnet-4-6",
                Wire::Anthropic,
                "https://api.anthropic.com",
                &Config::default()
            ),
            price(3.0, 15.0)
        );
        assert_eq!(p("claude-opus-4-7"), price(5.0, 25.0));
        assert_eq!(p("claude-haiku-4-5"), price(1.0, 5.0));
        assert_eq!(p("gpt-5"), price(1.25, 10.0));
        assert_eq!(p("gpt-5-mini"), price(0.25, 2.0));
        assert_eq!(p("gpt-4.1"), price(2.0, 8.0));
        assert_eq!(p("gpt-4.1-mini"), price(0.4, 1.6));
        assert_eq!(p("gpt-4.1-nano"), price(0.1, 0.4));
        assert_eq!(p("gpt-4o"), price(2.5, 10.0));
        assert_eq!(p("gpt-4o-mini"), price(0.15, 0.6));
        assert_eq!(p("o3"), price(2.0, 8.0));
        assert_eq!(p("o4-mini"), price(1.1, 4.4));
    }

    #[test]
    fn dated_snapshots_and_gateway_ids_match() {
        assert_eq!(p("claude-haiku-4-5-20251001"), price(1.0, 5.0));
        assert_eq!(p("claude-opus-4-20250514"), price(15.0, 75.0));
        assert_eq!(p("claude-opus-4-1-20250805"), price(15.0, 75.0));
        assert_eq!(p("gpt-4o-2024-08-06"), price(2.5, 10.0));
        assert_eq!(p("gpt-4o-mini-2024-07-18"), price(0.15, 0.6));
        assert_eq!(p("claude-3-5-haiku-latest"), price(0.8, 4.0));
        assert_eq!(
            p("openrouter:anthropic/claude-sonnet-4-6"),
            price(3.0, 15.0)
        );
        assert_eq!(
            p("claude-opus-4-9"),
            price(5.0, 25.0),
            "future point release"
        );
    }

    #[test]
    fn local_models_are_free() {
        let c = Config::default();
        assert_eq!(
            price_for("ollama:llama3", Wire::Ollama, "http://gpu-box:11434", &c),
            FREE
        );
        for base in [
            "http://127.0.0.1:8000/v1",
            "http://localhost:1234",
            "http://[::1]:8080/v1",
            "http://127.5.0.1",
            "http://0.0.0.0:9",
            "http://user:pw@LOCALHOST:3/x",
        ] {
            assert_eq!(
                price_for("vllm:llama", Wire::OpenAi, base, &c),
                FREE,
                "{base}"
            );
        }
        // Even a well-known id costs nothing through a local proxy unless configured.
        assert_eq!(
            price_for("gpt-4o", Wire::OpenAi, "http://127.0.0.1:9", &c),
            FREE
        );
        assert_eq!(p("openrouter:some-model-free"), FREE);
    }

    #[test]
    fn unknown_remote_models_use_the_configured_or_default_price() {
        assert_eq!(p("mistral-large"), price(3.0, 15.0));
        assert_eq!(
            price_for(
                "lab:x",
                Wire::OpenAi,
                "http://127.0.0.2.example.com",
                &Config::default()
            ),
            price(3.0, 15.0),
            "a hostname that merely starts like an address is remote"
        );
        let c = Config::from_toml("[budget]\nunknown_input_per_mtok = 0.5\n").unwrap();
        assert_eq!(price_for("x", Wire::OpenAi, REMOTE, &c), price(0.5, 15.0));
    }

    #[test]
    fn config_prices_win() {
        let c = Config::from_toml(
            "[pricing.\"gpt-4o\"]\ninput_per_mtok = 1.0\noutput_per_mtok = 2.0\n\
             [pricing.\"qwen2.5:7b\"]\ninput_per_mtok = 0.1\noutput_per_mtok = 0.2\n\
             [pricing.\"llama\"]\ninput_per_mtok = 0.3\noutput_per_mtok = 0.4\n",
        )
        .unwrap();
        assert_eq!(
            price_for("gpt-4o", Wire::OpenAi, REMOTE, &c),
            price(1.0, 2.0)
        );
        assert_eq!(
            price_for("gpt-4o-2024-08-06", Wire::OpenAi, REMOTE, &c),
            price(1.0, 2.0)
        );
        assert_eq!(
            price_for(
                "ollama:qwen2.5:7b",
                Wire::Ollama,
                "http://localhost:11434",
                &c
            ),
            price(0.1, 0.2)
        );
        assert_eq!(
            price_for("vllm:llama", Wire::OpenAi, "http://127.0.0.1:1", &c),
            price(0.3, 0.4)
        );
    }

    #[test]
    fn cost_is_per_million() {
        let usage = TokenUsage {
            input: 1_000_000,
            output: 500_000,
        };
        assert!((cost(price(3.0, 15.0), usage) - 10.5).abs() < 1e-9);
    }
}
