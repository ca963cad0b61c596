//! Structured output: schema shorthand, tolerant JSON extraction, validation with compiled
//! schemas cached per schema, and the correction prompt of a re-ask.

use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};

pub mod shorthand;

pub use shorthand::{SCHEMA_MARKERS, TYPE_NAMES};

/// The first line of [`schema_instruction`]. The loopback test provider looks for it verbatim.
pub const INSTRUCTION_LINE: &str = "Respond with only a JSON value that conforms to this JSON Schema, with no prose and no code fences:";

const MAX_ERRORS: usize = 5;
const MAX_ERROR_CHARS: usize = 200;
const MAX_QUOTED_REPLY_CHARS: usize = 1500;
/// A long-lived language server sees few distinct schemas; the cap only guards against a script
/// that builds schemas in a loop.
const MAX_CACHED_VALIDATORS: usize = 1024;

/// Expands the shorthand `{key: "type"}` (all keys required; nested objects recurse; `[x]` is an
/// array of x) into JSON Schema. A value that already looks like JSON Schema passes unchanged.
pub fn normalize_schema(schema: &Value) -> Result<Value, String> {
    let normalized = expand(schema)?;
    // Compiling here rejects a broken schema before any tokens are spent on it, and warms the
    // cache that `validate` uses.
    compiled(&normalized).map_err(|e| format!("invalid JSON Schema: {e}"))?;
    Ok(normalized)
}

fn expand(schema: &Value) -> Result<Value, String> {
    use shorthand::Problem;
    // The runtime stops at the first problem; the walk reports them in order.
    let mut first = None;
    let expanded = shorthand::expand(schema, &mut |place, problem| {
        if first.is_some() {
            return;
        }
        let at = at(place.pointer);
        first = Some(match problem {
            Problem::BadType { name, bad, .. } => {
                let suggestion = bad
                    .suggestion
                    .map(|t| format!("; did you mean \"{t}\"?"))
                    .unwrap_or_default();
                format!(
                    "invalid schema shorthand at {at}: \"{name}\" is not a type (use string, number, integer, boolean, array, object, null, or T[] for an array of T){suggestion}"
                )
            }
            Problem::ManyItems { count, .. } => format!(
                "invalid schema shorthand at {at}: an array shorthand takes exactly one element, the schema of its items (got {count})"
            ),
            Problem::NotAType { node } => format!(
                "invalid schema shorthand at {at}: {node} is not a type; use a type name such as \"string\", [type] for an array, or an object"
            ),
        });
    });
    match (first, expanded) {
        (Some(message), _) => Err(message),
        (None, Some(schema)) => Ok(schema),
        (None, None) => Err("invalid schema shorthand: a part of it is not a schema".into()),
    }
}

fn at(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

/// The instruction appended to the prompt for providers without a native structured mode.
pub fn schema_instruction(schema: &Value) -> String {
    format!("{INSTRUCTION_LINE}\n{schema}")
}

/// Finds the JSON value in a model's reply: the whole text, a ```json fence, or the first balanced
/// object/array; each tried raw, then with trailing commas removed, then with a light repair.
pub fn extract_json(text: &str) -> Option<Value> {
    let without_thinking = strip_thinking(text);
    let text = without_thinking
        .trim()
        .trim_start_matches('\u{feff}')
        .trim();
    if text.is_empty() {
        return None;
    }
    if let Some(v) = parse_lenient(text) {
        return Some(v);
    }
    if let Some(fenced) = fenced_block(text)
        && let Some(v) = parse_lenient(fenced.trim())
    {
        return Some(v);
    }
    // Bounded so a long reply full of brackets cannot cost quadratic time.
    const MAX_STARTS: usize = 32;
    text.char_indices()
        .filter(|(_, c)| *c == '{' || *c == '[')
        .take(MAX_STARTS)
        .find_map(|(start, _)| {
            balanced_end(text, start).and_then(|end| parse_lenient(&text[start..end]))
        })
}

/// Drops `<think>…</think>` blocks that reasoning models served through Ollama or vLLM put
/// before their answer; their braces would otherwise be found first.
fn strip_thinking(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains("<think>") {
        return text.into();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("<think>") {
        out.push_str(&rest[..open]);
        match rest[open..].find("</think>") {
            Some(close) => rest = &rest[open + close + "</think>".len()..],
            None => {
                rest = "";
                break;
            }
        }
    }
    out.push_str(rest);
    out.into()
}

/// The body of the first ```json fence, else of the first fence of any kind. An unclosed fence
/// (a reply cut by `max_tokens`) runs to the end.
fn fenced_block(text: &str) -> Option<&str> {
    let lower = text.to_ascii_lowercase();
    let open = lower.find("```json").or_else(|| lower.find("```"))?;
    let after_ticks = &text[open + 3..];
    let body_start = after_ticks.find('\n').map_or(after_ticks.len(), |n| n + 1);
    let body = &after_ticks[body_start..];
    Some(body.find("```").map_or(body, |close| &body[..close]))
}

/// The byte index just past the bracket that closes the one at `start`, skipping brackets inside
/// single- or double-quoted strings. None when unbalanced or mismatched.
fn balanced_end(text: &str, start: usize) -> Option<usize> {
    let mut stack = Vec::new();
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, c) in text[start..].char_indices() {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == q {
                quote = None;
            }
            continue;
        }
        match c {
            '"' | '\'' => quote = Some(c),
            '{' => stack.push('}'),
            '[' => stack.push(']'),
            '}' | ']' => {
                if stack.pop() != Some(c) {
                    return None;
                }
                if stack.is_empty() {
                    return Some(start + i + 1);
                }
            }
            _ => {}
        }
    }
    None
}

fn parse_lenient(candidate: &str) -> Option<Value> {
    if let Ok(v) = serde_json::from_str(candidate) {
        return Some(v);
    }
    let without_commas = strip_trailing_commas(candidate);
    if let Ok(v) = serde_json::from_str(&without_commas) {
        return Some(v);
    }
    serde_json::from_str(&strip_trailing_commas(&repair(candidate))).ok()
}

/// Removes commas followed (after whitespace) by `}` or `]`, outside double-quoted strings.
fn strip_trailing_commas(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
        } else if c == ','
            && chars[i + 1..]
                .iter()
                .find(|c| !c.is_whitespace())
                .is_some_and(|&next| next == '}' || next == ']')
        {
            continue;
        }
        out.push(c);
    }
    out
}

/// The light repair for JSON written like Python or JavaScript: single-quoted strings become
/// double-quoted, bare keys get quoted, `True`/`False`/`None` become JSON literals, and
/// comments go.
fn repair(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 16);
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' => {
                let end = string_end(&chars, i, '"');
                out.extend(&chars[i..end]);
                i = end;
            }
            '\'' => {
                out.push('"');
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    match chars[i] {
                        '\\' if chars.get(i + 1) == Some(&'\'') => {
                            out.push('\'');
                            i += 1;
                        }
                        '\\' => {
                            out.push('\\');
                            if let Some(&next) = chars.get(i + 1) {
                                out.push(next);
                                i += 1;
                            }
                        }
                        '"' => out.push_str("\\\""),
                        other => out.push(other),
                    }
                    i += 1;
                }
                out.push('"');
                i += 1;
            }
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                i += 2;
                while i < chars.len() && !(chars[i] == '*' && chars.get(i + 1) == Some(&'/')) {
                    i += 1;
                }
                i += 2;
            }
            c if c.is_alphabetic() || c == '_' || c == '$' => {
                let start = i;
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '$' | '-'))
                {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let is_key = chars[i..]
                    .iter()
                    .find(|c| !c.is_whitespace())
                    .is_some_and(|&c| c == ':');
                if is_key {
                    out.push('"');
                    out.push_str(&word);
                    out.push('"');
                } else {
                    out.push_str(match word.as_str() {
                        "True" => "true",
                        "False" => "false",
                        "None" | "undefined" => "null",
                        w => w,
                    });
                }
            }
            other => {
                out.push(other);
                i += 1;
            }
        }
    }
    out
}

/// Index just past the closing quote of the string opening at `start` (or the end of input).
fn string_end(chars: &[char], start: usize, quote: char) -> usize {
    let mut i = start + 1;
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            c if c == quote => return i + 1,
            _ => i += 1,
        }
    }
    chars.len()
}

type Cache = Mutex<HashMap<String, Arc<jsonschema::Validator>>>;

static VALIDATORS: LazyLock<Cache> = LazyLock::new(Default::default);

/// The compiled validator of `schema`, from the cache when this exact schema was seen before.
/// serde_json keeps object keys sorted here, so the compact text is a canonical key.
fn compiled(schema: &Value) -> Result<Arc<jsonschema::Validator>, String> {
    let key = schema.to_string();
    let lock = || {
        VALIDATORS
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    };
    if let Some(v) = lock().get(&key) {
        return Ok(Arc::clone(v));
    }
    // Compiled outside the lock: two callers may race to compile the same schema, which only
    // costs one redundant compile, while holding the lock would serialise every validation.
    let validator = Arc::new(jsonschema::validator_for(schema).map_err(|e| e.to_string())?);
    let mut cache = lock();
    if cache.len() >= MAX_CACHED_VALIDATORS {
        cache.clear();
    }
    Ok(Arc::clone(cache.entry(key).or_insert(validator)))
}

/// Validates `value` against `schema`, compiling each distinct schema once (process-wide cache).
/// Errors are short human strings like `/findings: "x" is not of type "array"`.
pub fn validate(schema: &Value, value: &Value) -> Result<(), Vec<String>> {
    let validator =
        compiled(schema).map_err(|e| vec![format!("/: the schema itself is invalid: {e}")])?;
    let mut errors = Vec::new();
    let mut total = 0usize;
    for error in validator.iter_errors(value) {
        total += 1;
        if errors.len() < MAX_ERRORS {
            let message = cut(&error.to_string(), MAX_ERROR_CHARS);
            errors.push(format!("{}: {message}", at(error.instance_path().as_str())));
        }
    }
    if total == 0 {
        return Ok(());
    }
    if total > MAX_ERRORS {
        errors.push(format!("… and {} more", total - MAX_ERRORS));
    }
    Err(errors)
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_string(),
    }
}

/// The user message of a re-ask: quotes the validation errors and the bad reply (cut to 1500 chars).
pub fn correction_message(errors: &[String], bad_reply: &str, schema: &Value) -> String {
    let mut msg =
        String::from("Your previous reply did not match the required JSON Schema.\nErrors:\n");
    if errors.is_empty() {
        msg.push_str("- the reply contained no JSON value\n");
    }
    for e in errors {
        msg.push_str("- ");
        msg.push_str(e);
        msg.push('\n');
    }
    msg.push_str("Your previous reply was:\n<previous_reply>\n");
    msg.push_str(&cut(bad_reply.trim(), MAX_QUOTED_REPLY_CHARS));
    msg.push_str("\n</previous_reply>\nReply again with the corrected JSON only.\n");
    // The instruction again, so it stays the last thing the model reads.
    msg.push_str(&schema_instruction(schema));
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shorthand_expands_with_all_keys_required() {
        let s = normalize_schema(&json!({"findings": "array", "confidence": "number"})).unwrap();
        assert_eq!(
            s,
            json!({
                "type": "object",
                "properties": {"findings": {"type": "array"}, "confidence": {"type": "number"}},
                "required": ["confidence", "findings"],
            })
        );
    }

    #[test]
    fn shorthand_nests_arrays_and_typed_arrays() {
        let s = normalize_schema(&json!({
            "items": [{"name": "string", "tags": "string[]"}],
            "meta": {"ok": "boolean", "count": "integer"},
            "notes": "String",
        }))
        .unwrap();
        assert_eq!(
            s["properties"]["items"],
            json!({"type": "array", "items": {
                "type": "object",
                "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}}},
                "required": ["name", "tags"],
            }})
        );
        assert_eq!(s["properties"]["meta"]["required"], json!(["count", "ok"]));
        assert_eq!(s["properties"]["notes"], json!({"type": "string"}));
        assert_eq!(
            normalize_schema(&json!("integer[][]")).unwrap(),
            json!({"type": "array", "items": {"type": "array", "items": {"type": "integer"}}})
        );
        assert_eq!(
            normalize_schema(&json!(["number"])).unwrap(),
            json!({"type": "array", "items": {"type": "number"}})
        );
        assert_eq!(
            normalize_schema(&json!([])).unwrap(),
            json!({"type": "array"})
        );
    }

    #[test]
    fn real_schemas_pass_unchanged() {
        for s in [
            json!({"type": "object", "properties": {"a": {"type": "string"}}}),
            json!({"enum": ["a", "b"]}),
            json!({"anyOf": [{"type": "string"}, {"type": "null"}]}),
            json!({"oneOf": [{"type": "string"}, {"type": "number"}]}),
            json!({"properties": {"a": {"type": "string"}}}),
            json!({"$ref": "#/$defs/a", "$defs": {"a": {"type": "string"}}}),
            json!(true),
        ] {
            assert_eq!(normalize_schema(&s).unwrap(), s);
        }
        // Shorthand values may be full schemas too.
        let s = normalize_schema(&json!({"level": {"enum": ["low", "high"]}})).unwrap();
        assert_eq!(s["properties"]["level"], json!({"enum": ["low", "high"]}));
    }

    #[test]
    fn bad_shorthand_is_a_clear_error() {
        let err = normalize_schema(&json!({"a": "strnig"})).unwrap_err();
        assert!(err.contains("at /a"), "{err}");
        assert!(err.contains("\"strnig\" is not a type"), "{err}");
        assert!(err.contains("did you mean \"string\""), "{err}");
        let err = normalize_schema(&json!({"a": {"b": ["numbr"]}})).unwrap_err();
        assert!(err.contains("at /a/b/0"), "{err}");
        assert!(
            normalize_schema(&json!({"a": 3}))
                .unwrap_err()
                .contains("3 is not a type")
        );
        assert!(normalize_schema(&json!({"a": null})).is_err());
        assert!(
            normalize_schema(&json!({"a": ["string", "number"]}))
                .unwrap_err()
                .contains("exactly one element")
        );
        assert!(normalize_schema(&json!("whatever")).is_err());
        let err = normalize_schema(&json!({"type": "strnig"})).unwrap_err();
        assert!(err.starts_with("invalid JSON Schema"), "{err}");
    }

    #[test]
    fn instruction_is_two_lines_with_compact_schema() {
        let s = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        let text = schema_instruction(&s);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(
            lines[0],
            "Respond with only a JSON value that conforms to this JSON Schema, with no prose and no code fences:"
        );
        assert_eq!(serde_json::from_str::<Value>(lines[1]).unwrap(), s);
        assert!(!lines[1].contains(' '));
    }

    #[test]
    fn extracts_plain_json_and_scalars() {
        assert_eq!(extract_json(" {\"a\": 1} \n"), Some(json!({"a": 1})));
        assert_eq!(extract_json("[1,2]"), Some(json!([1, 2])));
        assert_eq!(extract_json("42"), Some(json!(42)));
        assert_eq!(extract_json("\"hi\""), Some(json!("hi")));
        assert_eq!(extract_json(""), None);
        assert_eq!(extract_json("no json here"), None);
    }

    #[test]
    fn extracts_from_fences() {
        let t = "Here you go:\n```json\n{\"a\": [1, 2,]}\n```\nAnything else?";
        assert_eq!(extract_json(t), Some(json!({"a": [1, 2]})));
        let t = "```\n[\"x\"]\n```";
        assert_eq!(extract_json(t), Some(json!(["x"])));
        let t = "```JSON\n{\"a\": 1}\n```";
        assert_eq!(extract_json(t), Some(json!({"a": 1})));
        // Cut by max_tokens: the fence never closes, and the object is incomplete.
        assert_eq!(extract_json("```json\n{\"a\": 1, \"b\": "), None);
    }

    #[test]
    fn extracts_the_first_balanced_value_string_aware() {
        let t = r#"Sure! The result is {"msg": "a } inside [ a string", "n": 2} and that's all."#;
        assert_eq!(
            extract_json(t),
            Some(json!({"msg": "a } inside [ a string", "n": 2}))
        );
        let t = r#"Result: [{"a": "x\"}"}] done"#;
        assert_eq!(extract_json(t), Some(json!([{"a": "x\"}"}])));
        // An unbalanced opener is skipped for the next one.
        let t = r#"{ oops. Then: {"a": 1}"#;
        assert_eq!(extract_json(t), Some(json!({"a": 1})));
    }

    #[test]
    fn repairs_trailing_commas_and_python_style() {
        assert_eq!(
            extract_json("{\"a\": [1, 2, ], \"b\": {\"c\": 1,},}"),
            Some(json!({"a": [1, 2], "b": {"c": 1}}))
        );
        assert_eq!(
            extract_json("{'name': 'O\\'Brien', 'ok': True, 'none': None, 'no': False}"),
            Some(json!({"name": "O'Brien", "ok": true, "none": null, "no": false}))
        );
        assert_eq!(
            extract_json("{name: \"x\", count: 3, nested: {deep_key: 'say \"hi\"'}}"),
            Some(json!({"name": "x", "count": 3, "nested": {"deep_key": "say \"hi\""}}))
        );
        assert_eq!(
            extract_json("{\n  // the answer\n  \"a\": 1, /* why */ \"b\": \"http://x\"\n}"),
            Some(json!({"a": 1, "b": "http://x"}))
        );
        // A comma inside a string is not a trailing comma.
        assert_eq!(extract_json(r#"{"a": "x,}", }"#), Some(json!({"a": "x,}"})));
    }

    #[test]
    fn skips_thinking_blocks() {
        let t = "<think>maybe {\"a\": 1}?</think>\n{\"a\": 2}";
        assert_eq!(extract_json(t), Some(json!({"a": 2})));
    }

    #[test]
    fn validates_with_short_errors() {
        let schema =
            normalize_schema(&json!({"findings": "array", "confidence": "number"})).unwrap();
        assert_eq!(
            validate(&schema, &json!({"findings": [], "confidence": 0.5})),
            Ok(())
        );
        let errors = validate(&schema, &json!({"findings": "x"})).unwrap_err();
        assert!(
            errors.contains(&"/findings: \"x\" is not of type \"array\"".to_string()),
            "{errors:?}"
        );
        assert!(
            errors.contains(&"/: \"confidence\" is a required property".to_string()),
            "{errors:?}"
        );
    }

    #[test]
    fn error_lists_are_capped_and_cut() {
        let schema = json!({"type": "array", "items": {"type": "string"}});
        let errors = validate(&schema, &json!([1, 2, 3, 4, 5, 6, 7, 8])).unwrap_err();
        assert_eq!(errors.len(), MAX_ERRORS + 1);
        assert_eq!(errors.last().unwrap(), "… and 3 more");
        let big = json!({"blob": "x".repeat(5000)});
        let errors = validate(&json!({"type": "array"}), &big).unwrap_err();
        assert!(
            errors[0].chars().count() < MAX_ERROR_CHARS + 10,
            "{errors:?}"
        );
    }

    #[test]
    fn validators_are_compiled_once_per_schema() {
        let schema =
            json!({"type": "object", "properties": {"cache_probe_8f1": {"type": "string"}}});
        let a = compiled(&schema).unwrap();
        let b = compiled(&schema.clone()).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        let other =
            json!({"type": "object", "properties": {"cache_probe_8f2": {"type": "string"}}});
        assert!(!Arc::ptr_eq(&a, &compiled(&other).unwrap()));
    }

    #[test]
    fn an_invalid_schema_is_reported_not_panicked() {
        let errors = validate(&json!({"type": 12}), &json!(1)).unwrap_err();
        assert!(
            errors[0].starts_with("/: the schema itself is invalid"),
            "{errors:?}"
        );
        // Remote references are never fetched.
        assert!(validate(&json!({"$ref": "http://127.0.0.1:1/s.json"}), &json!(1)).is_err());
    }

    #[test]
    fn correction_quotes_errors_reply_and_schema() {
        let schema = json!({"type": "object"});
        let bad = format!("oops {}", "z".repeat(3000));
        let msg = correction_message(&["/: 1 is not of type \"object\"".into()], &bad, &schema);
        assert!(msg.contains("- /: 1 is not of type \"object\"\n"), "{msg}");
        assert!(msg.contains("<previous_reply>\noops zzz"));
        let quoted = msg
            .split("<previous_reply>\n")
            .nth(1)
            .unwrap()
            .split("\n</previous_reply>")
            .next()
            .unwrap();
        assert_eq!(quoted.chars().count(), MAX_QUOTED_REPLY_CHARS + 1);
        assert!(msg.ends_with(&schema_instruction(&schema)));
        assert!(msg.contains(INSTRUCTION_LINE));
    }
}
