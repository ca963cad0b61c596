//! Completion: `agent()` option keys inside an `agent({…})` options object, the workflow
//! globals elsewhere in code. Never inside strings or comments, nor after a `.`.

use super::cursor;
use super::to_proto;
use crate::primitives;
use tower_lsp_server::ls_types::{
    CompletionItem, CompletionItemKind, CompletionResponse, Documentation,
};

/// Completion items for the cursor at byte `offset` of `text`. `by_trigger` is set when the
/// editor asked because `{` or `,` was typed: then only option keys are offered, since those
/// characters start an object or an argument far more often than a global.
pub fn complete(text: &str, offset: usize, by_trigger: bool) -> Option<CompletionResponse> {
    let start = cursor::word_at(text, offset).map_or(offset, |(s, _)| s.min(offset));
    if let Some(items) = tool_names(text, start) {
        return Some(CompletionResponse::Array(items));
    }
    let ctx = cursor::context_at(text, start);
    if !ctx.in_code {
        return None;
    }
    let items: Vec<CompletionItem> = if ctx.in_agent_options && ctx.at_key() {
        primitives::AGENT_OPTIONS
            .iter()
            .map(|o| item(o.name, &o.hover(), CompletionItemKind::PROPERTY))
            .collect()
    } else if ctx.previous == Some('.') || by_trigger {
        return None;
    } else {
        primitives::PRIMITIVES
            .iter()
            .map(|p| {
                let kind = if p.is_value() {
                    CompletionItemKind::VARIABLE
                } else {
                    CompletionItemKind::FUNCTION
                };
                item(p.name, &p.hover(), kind)
            })
            .collect()
    };
    Some(CompletionResponse::Array(items))
}

/// Tool names inside the string being typed in a `tools: [...]` list, documented from the tool
/// table (what each does, its arguments, whether it is asked for under `[approvals]`).
fn tool_names(text: &str, start: usize) -> Option<Vec<CompletionItem>> {
    let before = text.get(..start)?;
    let quote = before.rfind(['"', '\'', '`'])?;
    // The cursor is in a string that starts right after the quote and has no closing quote yet.
    if before[quote + 1..].contains(['"', '\'', '`', '\n']) {
        return None;
    }
    let list = before[..quote].trim_end_matches(|c: char| {
        c.is_ascii_alphanumeric() || matches!(c, '_' | ',' | ' ' | '\t' | '"' | '\'' | '`')
    });
    let list = list.strip_suffix('[')?.trim_end();
    let list = list.strip_suffix(':')?.trim_end();
    if !list.ends_with("tools") {
        return None;
    }
    Some(
        crate::tools::TOOLS
            .iter()
            .map(|t| {
                let gate = if t.gated {
                    "Changes the machine: asked for under `[approvals]` in odw.toml (`allow`, \
                     `ask`, `deny`) or `--allow`/`--deny`."
                } else {
                    "Not gated."
                };
                let doc = format!("```js\n{}\n```\n{}\n\n{gate}", t.signature(), t.description);
                item(t.id, &doc, CompletionItemKind::ENUM_MEMBER)
            })
            .collect(),
    )
}

fn item(name: &str, doc: &str, kind: CompletionItemKind) -> CompletionItem {
    CompletionItem {
        label: name.to_string(),
        kind: Some(kind),
        detail: Some("odw".into()),
        documentation: Some(Documentation::MarkupContent(to_proto::markdown(doc))),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(src: &str) -> Vec<String> {
        let at = src.find('|').unwrap();
        let text = src.replacen('|', "", 1);
        match complete(&text, at, false) {
            Some(CompletionResponse::Array(items)) => items.into_iter().map(|i| i.label).collect(),
            Some(_) => unreachable!(),
            None => vec![],
        }
    }

    #[test]
    fn option_keys_inside_agent_options_and_globals_elsewhere() {
        let keys = labels("await agent({ prompt: 'x', ma|");
        assert!(keys.contains(&"maxTokens".to_string()), "{keys:?}");
        assert!(!keys.contains(&"parallel".to_string()));
        let globals = labels("const r = await par|");
        assert!(globals.contains(&"parallel".to_string()));
        assert!(globals.contains(&"agent".to_string()));
        assert!(labels("const s = 'par|").is_empty());
        assert!(labels("foo.|").is_empty());
        assert!(complete("const o = {", 11, true).is_none());
        assert!(complete("agent('p', {", 12, true).is_some());
    }

    #[test]
    fn tool_names_inside_a_tools_list() {
        let tools = labels("await agent('p', { tools: ['read_file', 'wr|");
        assert!(tools.contains(&"write_file".to_string()), "{tools:?}");
        assert!(tools.contains(&"web_fetch".to_string()));
        assert_eq!(tools.len(), crate::tools::TOOLS.len());
        assert_eq!(labels("await agent('p', { tools: [\"|").len(), 7);
        assert!(labels("await agent('p', { label: 'wr|").is_empty());
        assert!(labels("await agent('p', { tools: ['a'], label: '|").is_empty());
    }
}
