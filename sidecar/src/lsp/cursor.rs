//! What is at the cursor: a light forward scan of the JavaScript before it that knows strings,
//! comments, template literals and brackets. Hover and completion use it instead of a parser
//! because the code being typed is usually incomplete, which a parser recovers from poorly.

/// The syntactic context of a byte offset.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Context {
    /// Code, not a string, template text or comment.
    pub in_code: bool,
    /// Directly inside the options object of an `agent(…)` call.
    pub in_agent_options: bool,
    /// The last significant character before the offset (code only).
    pub previous: Option<char>,
}

impl Context {
    /// Where a property key of the innermost object would go (after `{` or `,`).
    pub fn at_key(&self) -> bool {
        matches!(self.previous, Some('{' | ','))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Open {
    Paren { agent: bool },
    Brace { agent_options: bool, template: bool },
    Bracket,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Code,
    LineComment,
    BlockComment,
    Quote(u8),
    Template,
}

/// Scans `text` up to byte offset `end` and returns the context there.
pub fn context_at(text: &str, end: usize) -> Context {
    let bytes = &text.as_bytes()[..end.min(text.len())];
    let mut state = State::Code;
    let mut stack: Vec<Open> = Vec::new();
    let mut previous: Option<char> = None;
    // The identifier just before the current position and the significant char before it.
    let mut word = String::new();
    let mut word_prev: Option<char> = None;
    let mut last_word = String::new();
    let mut last_word_prev: Option<char> = None;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        match state {
            State::LineComment => {
                if b == b'\n' {
                    state = State::Code;
                }
            }
            State::BlockComment => {
                if b == b'*' && next == Some(b'/') {
                    state = State::Code;
                    i += 1;
                }
            }
            State::Quote(q) => {
                if b == b'\\' {
                    i += 1;
                } else if b == q || b == b'\n' {
                    state = State::Code;
                    previous = Some(q as char);
                }
            }
            State::Template => {
                if b == b'\\' {
                    i += 1;
                } else if b == b'`' {
                    state = State::Code;
                    previous = Some('`');
                } else if b == b'$' && next == Some(b'{') {
                    stack.push(Open::Brace {
                        agent_options: false,
                        template: true,
                    });
                    state = State::Code;
                    previous = Some('{');
                    i += 1;
                }
            }
            State::Code => {
                let is_ident = b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80;
                if is_ident {
                    if word.is_empty() {
                        word_prev = previous;
                    }
                    word.push(b as char);
                    i += 1;
                    continue;
                }
                if !word.is_empty() {
                    last_word = std::mem::take(&mut word);
                    last_word_prev = word_prev;
                    previous = Some('a');
                }
                match b {
                    b'/' if next == Some(b'/') => {
                        state = State::LineComment;
                        i += 1;
                    }
                    b'/' if next == Some(b'*') => {
                        state = State::BlockComment;
                        i += 1;
                    }
                    b'\'' | b'"' => state = State::Quote(b),
                    b'`' => state = State::Template,
                    b'(' => {
                        let agent = previous == Some('a')
                            && last_word == "agent"
                            && last_word_prev != Some('.');
                        stack.push(Open::Paren { agent });
                        previous = Some('(');
                    }
                    b'{' => {
                        let agent_options = matches!(previous, Some('(' | ','))
                            && matches!(stack.last(), Some(Open::Paren { agent: true }));
                        stack.push(Open::Brace {
                            agent_options,
                            template: false,
                        });
                        previous = Some('{');
                    }
                    b'[' => {
                        stack.push(Open::Bracket);
                        previous = Some('[');
                    }
                    b')' | b']' => {
                        stack.pop();
                        previous = Some(b as char);
                    }
                    b'}' => {
                        if let Some(Open::Brace { template: true, .. }) = stack.pop() {
                            state = State::Template;
                        }
                        previous = Some('}');
                    }
                    b if b.is_ascii_whitespace() => {}
                    b => previous = Some(b as char),
                }
            }
        }
        i += 1;
    }
    if !word.is_empty() {
        previous = Some('a');
    }
    Context {
        in_code: state == State::Code,
        in_agent_options: matches!(
            stack.last(),
            Some(Open::Brace {
                agent_options: true,
                ..
            })
        ),
        previous,
    }
}

/// The identifier around byte offset `at`: its start and end.
pub fn word_at(text: &str, at: usize) -> Option<(usize, usize)> {
    let bytes = text.as_bytes();
    let at = at.min(bytes.len());
    let is_ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'$';
    let mut start = at;
    while start > 0 && is_ident(bytes[start - 1]) {
        start -= 1;
    }
    let mut end = at;
    while end < bytes.len() && is_ident(bytes[end]) {
        end += 1;
    }
    (start < end && !bytes[start].is_ascii_digit()).then_some((start, end))
}

/// The first non-space character at or after `at`.
pub fn next_char(text: &str, at: usize) -> Option<char> {
    text[at.min(text.len())..]
        .chars()
        .find(|c| !c.is_whitespace())
}

/// The last non-space character before `at`.
pub fn previous_char(text: &str, at: usize) -> Option<char> {
    text[..at.min(text.len())]
        .chars()
        .rev()
        .find(|c| !c.is_whitespace())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_marker(src: &str) -> Context {
        let at = src.find('|').unwrap();
        let text = src.replacen('|', "", 1);
        context_at(&text, at)
    }

    #[test]
    fn agent_options_object() {
        let c = at_marker("const x = await agent({ role: 'a', |");
        assert!(c.in_code && c.in_agent_options && c.at_key(), "{c:?}");
        let c = at_marker("agent('prompt', { |");
        assert!(c.in_agent_options && c.at_key());
        let c = at_marker("agent({ schema: { |");
        assert!(!c.in_agent_options);
        let c = at_marker("agent({ schema: { a: 'string' }, |");
        assert!(c.in_agent_options && c.at_key());
        let c = at_marker("agent({ role: |");
        assert!(c.in_agent_options && !c.at_key());
        let c = at_marker("foo.agent({ |");
        assert!(!c.in_agent_options);
        let c = at_marker("parallel(xs.map(x => () => agent({ prompt: `${x}`, |");
        assert!(c.in_agent_options && c.at_key(), "{c:?}");
    }

    #[test]
    fn strings_comments_and_templates() {
        assert!(!at_marker("agent('a { |").in_code);
        assert!(!at_marker("// agent({ |").in_code);
        assert!(!at_marker("/* agent({ |").in_code);
        assert!(!at_marker("`text |").in_code);
        assert!(at_marker("`text ${ |").in_code);
        assert!(at_marker("`a ${b}` + |").in_code);
        assert!(at_marker("'it\\'s' + |").in_code);
    }

    #[test]
    fn words() {
        assert_eq!(word_at("await agnet(x)", 8), Some((6, 11)));
        assert_eq!(word_at("a  b", 2), None);
        assert_eq!(word_at("x 12", 3), None);
    }
}
