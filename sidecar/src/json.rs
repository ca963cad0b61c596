//! JSON text that crossed from the sandbox, parsed without silent losses. `serde_json` alone
//! refuses values nested deeper than 128 levels and strings with lone UTF-16 surrogates (which
//! JavaScript strings may hold and `JSON.stringify` writes as `\udXXX` escapes); before this
//! module both came back as `null` while the run reported success. Now a lone surrogate becomes
//! U+FFFD, values up to [`MAX_DEPTH`] levels come back exactly, and deeper ones are an error that
//! says so.

use serde::de::DeserializeOwned;

/// The deepest value kept. Deeper values are refused with [`JsonError::TooDeep`]: recursion
/// over them (serializing, journaling, dropping) would need unbounded stack.
pub const MAX_DEPTH: usize = 512;

/// Why guest JSON could not be read.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error(
        "the value is nested {depth} levels deep; odw keeps values up to {MAX_DEPTH} levels \
         (flatten it, or pass it as a string)"
    )]
    TooDeep { depth: usize },
    #[error("invalid JSON: {0}")]
    Invalid(#[from] serde_json::Error),
}

/// Parses `text` into `T`, as described in the module docs.
pub fn parse<T: DeserializeOwned>(text: &str) -> Result<T, JsonError> {
    let depth = max_depth(text);
    if depth > MAX_DEPTH {
        return Err(JsonError::TooDeep { depth });
    }
    let text = replace_lone_surrogates(text);
    let mut de = serde_json::Deserializer::from_str(&text);
    // Bounded above: at most MAX_DEPTH levels of recursion.
    de.disable_recursion_limit();
    let value = T::deserialize(&mut de)?;
    de.end()?;
    Ok(value)
}

/// A value's JSON text, made once by serializing it: what the script receives and what the
/// journal keeps are the same bytes, and neither side serializes the value again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonText(String);

impl JsonText {
    /// Serializes `value`. Cannot fail: a `Value`'s maps have string keys, and nothing in it
    /// refuses to serialize (its depth is bounded by [`MAX_DEPTH`] when it came from [`parse`]).
    pub fn of(value: &serde_json::Value) -> JsonText {
        match serde_json::to_string(value) {
            Ok(text) => JsonText(text),
            Err(e) => unreachable!("a serde_json::Value failed to serialize: {e}"),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// The deepest nesting of arrays and objects in JSON text (outside strings).
fn max_depth(text: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Rewrites `\uD800`–`\uDFFF` escapes that are not part of a surrogate pair as `\uFFFD`.
fn replace_lone_surrogates(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let surrogate_at = |i: usize| -> Option<u16> {
        let hex = bytes.get(i + 2..i + 6)?;
        if bytes.get(i) != Some(&b'\\') || bytes.get(i + 1) != Some(&b'u') {
            return None;
        }
        let v = u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
        (0xD800..=0xDFFF).contains(&v).then_some(v)
    };
    if !text.contains("\\ud") && !text.contains("\\uD") {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    let mut last = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        // An escape: `\\` and other two-byte escapes are skipped whole, so `\\ud800` (a
        // backslash, then text) is left alone.
        match surrogate_at(i) {
            Some(0xD800..=0xDBFF) => {
                if surrogate_at(i + 6).is_some_and(|low| (0xDC00..=0xDFFF).contains(&low)) {
                    i += 12;
                } else {
                    out.push_str(&text[last..i]);
                    out.push_str("\\ufffd");
                    i += 6;
                    last = i;
                }
            }
            Some(_) => {
                out.push_str(&text[last..i]);
                out.push_str("\\ufffd");
                i += 6;
                last = i;
            }
            None => i += 2,
        }
    }
    out.push_str(&text[last..]);
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn nested(depth: usize) -> String {
        format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
    }

    #[test]
    fn deep_values_come_back_exactly_up_to_the_limit() {
        let v: Value = parse(&nested(300)).unwrap();
        let mut inner = &v;
        for _ in 0..300 {
            inner = &inner[0];
        }
        assert_eq!(inner, &json!(1));
        let e = parse::<Value>(&nested(MAX_DEPTH + 1)).unwrap_err();
        assert!(e.to_string().contains("nested 513 levels deep"), "{e}");
        // Brackets inside strings do not count.
        let v: Value = parse(&format!("\"{}\"", "[".repeat(2000))).unwrap();
        assert_eq!(v.as_str().unwrap().len(), 2000);
    }

    #[test]
    fn lone_surrogates_become_replacement_characters() {
        let v: Value =
            parse(r#"["a\ud800b", "\udc00", "\ud83d\ude00", "\\ud800", "\uD800\uD800"]"#).unwrap();
        assert_eq!(
            v,
            json!([
                "a\u{fffd}b",
                "\u{fffd}",
                "😀",
                "\\ud800",
                "\u{fffd}\u{fffd}"
            ])
        );
    }

    #[test]
    fn invalid_json_is_an_error() {
        assert!(matches!(parse::<Value>("{"), Err(JsonError::Invalid(_))));
        assert!(matches!(parse::<Value>("1 2"), Err(JsonError::Invalid(_))));
    }
}
