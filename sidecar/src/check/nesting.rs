//! A bound on how deeply a script nests, checked on the raw text before anything recursive
//! (oxc's parser and visitors, QuickJS's compiler) sees it: each nesting level costs a stack
//! frame there, and a 3,000-deep array literal or a 200,000-term `1+1+…` chain would overflow
//! the stack and abort the process. The scan is a light lexer: it skips comments, strings and
//! template text, and counts bracket depth and the operators of one expression.

/// Brackets (`(`, `[`, `{`, `${`) open at once. Real workflow scripts nest a few dozen deep.
pub const MAX_BRACKET_DEPTH: usize = 1_000;
/// Operators in one expression (between `;`, `,`, `{` and `}`): a chain of `a + b + …` is one
/// AST level per operator.
pub const MAX_CHAIN: usize = 10_000;

/// Where the script first nests too deeply, and how: `(byte offset, message)`.
pub fn too_deep(source: &str) -> Option<(usize, String)> {
    let bytes = source.as_bytes();
    let mut depth = 0usize;
    let mut chain = 0usize;
    // For each open `${`, the depth of its template, to resume the template at its `}`.
    let mut templates: Vec<usize> = Vec::new();
    let mut i = 0;
    let mut prev_op = false;
    while i < bytes.len() {
        let b = bytes[i];
        let start = i;
        i += 1;
        match b {
            b'/' if bytes.get(i) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'/' if bytes.get(i) == Some(&b'*') => {
                i += 1;
                while i + 1 < bytes.len() && !(bytes[i] == b'*' && bytes[i + 1] == b'/') {
                    i += 1;
                }
                i += 2;
                continue;
            }
            b'"' | b'\'' => {
                while i < bytes.len() && bytes[i] != b && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                prev_op = false;
                continue;
            }
            b'`' => {
                i = skip_template(bytes, i, &mut depth, &mut templates);
            }
            b'}' if templates.last() == Some(&depth) => {
                templates.pop();
                depth = depth.saturating_sub(1);
                i = skip_template(bytes, i, &mut depth, &mut templates);
                prev_op = false;
                continue;
            }
            b'(' | b'[' | b'{' => {
                depth += 1;
                if b == b'{' {
                    chain = 0;
                }
            }
            b')' | b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if b == b'}' {
                    chain = 0;
                }
            }
            b';' | b',' => chain = 0,
            b'+' | b'-' | b'*' | b'/' | b'%' | b'&' | b'|' | b'^' | b'<' | b'>' | b'?' | b':'
            | b'=' | b'!' => {
                // `a + b` and `a >>>= b` are one operator each.
                if !prev_op {
                    chain += 1;
                }
                prev_op = true;
                if chain > MAX_CHAIN {
                    return Some((
                        start,
                        format!(
                            "this expression chains more than {MAX_CHAIN} operators; odw does not \
                             parse scripts nested this deeply (split it into smaller expressions)"
                        ),
                    ));
                }
                continue;
            }
            _ => {}
        }
        prev_op = false;
        if depth > MAX_BRACKET_DEPTH {
            return Some((
                start,
                format!(
                    "brackets nested more than {MAX_BRACKET_DEPTH} deep; odw does not parse \
                     scripts nested this deeply"
                ),
            ));
        }
    }
    None
}

/// Skips template text from `i` (just after a backtick or a `${…}`'s closing brace) to the end
/// of the template, or into its next `${`, which opens a bracket level.
fn skip_template(
    bytes: &[u8],
    mut i: usize,
    depth: &mut usize,
    templates: &mut Vec<usize>,
) -> usize {
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'`' => return i + 1,
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                *depth += 1;
                templates.push(*depth);
                return i + 2;
            }
            _ => i += 1,
        }
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_scripts_pass() {
        let s = "const x = [[1, 2], {a: `t ${f({b: [3]})} u`}]; // (((\n/* [[[ */ const s = '((('; return a + b * c;";
        assert_eq!(too_deep(s), None);
        let chain = format!("const x = {};", vec!["1"; MAX_CHAIN].join(" + "));
        assert_eq!(too_deep(&chain), None);
    }

    #[test]
    fn deep_brackets_and_long_chains_are_found() {
        let deep = format!("const x = {}{};", "[".repeat(3000), "]".repeat(3000));
        let (at, why) = too_deep(&deep).unwrap();
        assert_eq!(at, 10 + MAX_BRACKET_DEPTH);
        assert!(why.contains("nested more than 1000 deep"), "{why}");
        let chain = format!("const x = {};", vec!["1"; 200_000].join("+"));
        assert!(too_deep(&chain).unwrap().1.contains("chains more than"));
        // Each statement starts afresh.
        let many = "a + b;\n".repeat(50_000);
        assert_eq!(too_deep(&many), None);
        // Template substitutions count as brackets.
        let t = format!("const x = {}1{};", "`${".repeat(1200), "}`".repeat(1200));
        assert!(too_deep(&t).is_some());
    }
}
