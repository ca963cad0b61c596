//! Hover docs for the workflow globals and for `agent()` option keys.

use super::cursor;
use super::to_proto;
use crate::primitives;
use tower_lsp_server::ls_types::{Hover, HoverContents, Range};

/// The hover for the identifier at byte `offset` of `text`, with `to_range` turning its byte
/// span into an LSP range.
pub fn hover(text: &str, offset: usize, to_range: impl Fn(usize, usize) -> Range) -> Option<Hover> {
    let (start, end) = cursor::word_at(text, offset)?;
    let word = &text[start..end];
    let ctx = cursor::context_at(text, start);
    if !ctx.in_code {
        return None;
    }
    let is_key = ctx.in_agent_options
        && ctx.at_key()
        && matches!(cursor::next_char(text, end), Some(':' | ',' | '}' | '('));
    let doc = if is_key {
        primitives::agent_option(word)?.hover()
    } else if cursor::previous_char(text, start) == Some('.') {
        // A property of something else (`foo.agent`), not the global.
        return None;
    } else {
        primitives::primitive(word)?.hover()
    };
    Some(Hover {
        contents: HoverContents::Markup(to_proto::markdown(&doc)),
        range: Some(to_range(start, end)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower_lsp_server::ls_types::{HoverContents, Position};

    fn at(src: &str) -> Option<String> {
        let at = src.find('|').unwrap();
        let text = src.replacen('|', "", 1);
        let r = |_, _| Range::new(Position::new(0, 0), Position::new(0, 0));
        hover(&text, at, r).map(|h| match h.contents {
            HoverContents::Markup(m) => m.value,
            _ => unreachable!(),
        })
    }

    #[test]
    fn globals_and_option_keys() {
        assert!(
            at("await par|allel([])")
                .unwrap()
                .contains("maxConcurrency")
        );
        assert!(
            at("agent({ sch|ema: { a: 'string' } })")
                .unwrap()
                .starts_with("`schema")
        );
        // `model` inside agent options is the option, elsewhere it is nothing.
        assert!(
            at("agent('p', { mo|del: 'x' })")
                .unwrap()
                .starts_with("`model")
        );
        assert_eq!(at("const mo|del = 1;"), None);
        assert_eq!(at("// agent|"), None);
        assert_eq!(at("x.ag|ent()"), None);
        assert_eq!(at("agent({ role: ro|le })"), None);
    }
}
