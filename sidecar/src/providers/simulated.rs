//! The dry-run provider: answers without any network, with a value that conforms to the call's
//! schema (text otherwise), and token counts estimated from the text.

use super::{ModelReply, ModelRequest, Role, TokenUsage};
use serde_json::{Map, Value, json};

/// How deep `$ref`s and nesting may go before a recursive schema gets its smallest value.
const MAX_DEPTH: usize = 8;

/// A reply for `req` that a real model could have given: schema-conforming JSON text, or a short text.
pub fn reply(req: &ModelRequest) -> ModelReply {
    let input = req.system.as_deref().map_or(0, estimate_tokens)
        + req
            .messages
            .iter()
            .map(|m| estimate_tokens(&m.content))
            .sum::<u64>();
    // An agent with tools uses one of them once, so a dry run counts a tool turn per tool
    // agent (the engine does not run it).
    let used_tools = req.messages.iter().any(|m| !m.tool_calls.is_empty());
    if let Some(tool) = req.tools.first().filter(|_| !used_tools && !req.tools_off) {
        let arguments = sample(&tool.parameters, &tool.parameters, 0, 0);
        let call = super::ToolCall {
            id: "dry_run_0".into(),
            name: tool.name.clone(),
            arguments: super::ToolArguments::from_value(Some(&arguments)),
        };
        let defs: u64 = req
            .tools
            .iter()
            .map(|t| estimate_tokens(&t.description) + estimate_tokens(&t.parameters.to_string()))
            .sum();
        return ModelReply {
            usage: TokenUsage {
                input: input + defs,
                output: estimate_tokens(&arguments.to_string()) + 8,
            },
            tool_calls: vec![call],
            ..ModelReply::default()
        };
    }
    let text = match &req.schema {
        Some(schema) => sample(schema, schema, 0, 0).to_string(),
        None => prose_reply(req),
    };
    ModelReply {
        tool_calls: Vec::new(),
        cut_off: false,
        usage: TokenUsage {
            input,
            output: estimate_tokens(&text),
        },
        text,
    }
}

fn prose_reply(req: &ModelRequest) -> String {
    let prompt = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map_or("", |m| m.content.as_str());
    let topic: String = prompt
        .split_whitespace()
        .take(12)
        .collect::<Vec<_>>()
        .join(" ");
    if topic.is_empty() {
        "Dry run: a model would answer here.".to_string()
    } else {
        format!("Dry run: a model would answer here about \"{topic}\".")
    }
}

/// A value valid under `schema`; `variant` makes array items differ when `uniqueItems` asks.
fn sample(schema: &Value, root: &Value, depth: usize, variant: usize) -> Value {
    let Value::Object(s) = schema else {
        // `true` accepts anything; `false` accepts nothing, so any value will do as well as another.
        return json!({});
    };
    if let Some(v) = s.get("const") {
        return v.clone();
    }
    if let Some(first) = s
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    if let Some(target) = s.get("$ref").and_then(Value::as_str) {
        return match resolve_ref(root, target) {
            Some(t) if depth < MAX_DEPTH => sample(t, root, depth + 1, variant),
            _ => Value::Null,
        };
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(first) = s.get(key).and_then(Value::as_array).and_then(|b| b.first()) {
            return sample(first, root, depth + 1, variant);
        }
    }
    if let Some(parts) = s.get("allOf").and_then(Value::as_array) {
        return sample(&merge_all_of(s, parts), root, depth + 1, variant);
    }
    if let Some(v) = s.get("default") {
        return v.clone();
    }
    match type_of(s) {
        "object" => sample_object(s, root, depth),
        "array" => sample_array(s, root, depth),
        "integer" => sample_number(s, true, variant),
        "number" => sample_number(s, false, variant),
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        _ => Value::String(sample_string(s, variant)),
    }
}

/// The declared type (the first non-null one of a list), else one inferred from the keywords.
fn type_of(s: &Map<String, Value>) -> &str {
    match s.get("type") {
        Some(Value::String(t)) => return t,
        Some(Value::Array(ts)) => {
            let names: Vec<&str> = ts.iter().filter_map(Value::as_str).collect();
            if let Some(t) = names.iter().find(|t| **t != "null").or(names.first()) {
                return t;
            }
        }
        _ => {}
    }
    let has = |keys: &[&str]| keys.iter().any(|k| s.contains_key(*k));
    if has(&["properties", "required", "additionalProperties"]) {
        "object"
    } else if has(&["items", "prefixItems", "minItems", "maxItems"]) {
        "array"
    } else if has(&[
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
    ]) {
        "number"
    } else {
        "string"
    }
}

fn sample_object(s: &Map<String, Value>, root: &Value, depth: usize) -> Value {
    let mut out = Map::new();
    if depth >= MAX_DEPTH {
        return Value::Object(out);
    }
    if let Some(props) = s.get("properties").and_then(Value::as_object) {
        for (name, sub) in props {
            out.insert(name.clone(), sample(sub, root, depth + 1, 0));
        }
    }
    for name in s
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(name) = name.as_str()
            && !out.contains_key(name)
        {
            out.insert(name.to_string(), json!("…"));
        }
    }
    Value::Object(out)
}

fn sample_array(s: &Map<String, Value>, root: &Value, depth: usize) -> Value {
    let min = s.get("minItems").and_then(Value::as_u64).unwrap_or(1);
    let max = s
        .get("maxItems")
        .and_then(Value::as_u64)
        .unwrap_or(u64::MAX);
    let len = min.max(1).min(max) as usize;
    if depth >= MAX_DEPTH {
        return json!([]);
    }
    let tuple = s.get("prefixItems").and_then(Value::as_array);
    let items = s.get("items").filter(|i| i.is_object() || i.is_boolean());
    let len = len.max(tuple.map_or(0, Vec::len).min(max as usize));
    let any = json!({});
    // Identical items would break `uniqueItems`; otherwise the plain value reads better.
    let unique = s.get("uniqueItems").and_then(Value::as_bool) == Some(true);
    (0..len)
        .map(|i| {
            let item = tuple.and_then(|t| t.get(i)).or(items).unwrap_or(&any);
            sample(item, root, depth + 1, if unique { i } else { 0 })
        })
        .collect()
}

fn sample_number(s: &Map<String, Value>, integer: bool, variant: usize) -> Value {
    let num = |k: &str| s.get(k).and_then(Value::as_f64);
    let step = if integer { 1.0 } else { 0.5 };
    let lo = num("minimum").or(num("exclusiveMinimum").map(|x| x + step));
    let hi = num("maximum").or(num("exclusiveMaximum").map(|x| x - step));
    let mut v = match (lo, hi) {
        (Some(lo), Some(hi)) if !integer => (lo + hi) / 2.0,
        (Some(lo), _) => lo,
        (None, Some(hi)) => hi.min(if integer { 1.0 } else { 0.5 }),
        (None, None) => {
            if integer {
                1.0
            } else {
                0.5
            }
        }
    };
    v += variant as f64 * step;
    if let Some(hi) = hi {
        v = v.min(hi);
    }
    if let Some(m) = num("multipleOf").filter(|m| *m > 0.0) {
        v = (v / m).ceil() * m;
    }
    if integer {
        let v = if lo.is_some() { v.ceil() } else { v.floor() };
        json!(v as i64)
    } else {
        json!(v)
    }
}

fn sample_string(s: &Map<String, Value>, variant: usize) -> String {
    let by_format = match s.get("format").and_then(Value::as_str) {
        Some("date-time") => Some("2025-01-01T00:00:00Z"),
        Some("date") => Some("2025-01-01"),
        Some("time") => Some("00:00:00Z"),
        Some("email") => Some("user@example.com"),
        Some("uri" | "url" | "iri") => Some("https://example.com/"),
        Some("uuid") => Some("00000000-0000-4000-8000-000000000000"),
        Some("hostname") => Some("example.com"),
        Some("ipv4") => Some("192.0.2.1"),
        Some("ipv6") => Some("2001:db8::1"),
        _ => None,
    };
    let mut text = match by_format {
        Some(f) => f.to_string(),
        None if variant == 0 => "…".to_string(),
        None => format!("…{variant}"),
    };
    let min = s.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = s
        .get("maxLength")
        .and_then(Value::as_u64)
        .map(|m| m as usize);
    let have = text.chars().count();
    if have < min {
        text.extend(std::iter::repeat_n('x', min - have));
    }
    if let Some(max) = max {
        text = text.chars().take(max).collect();
    }
    text
}

/// A local `#/…` JSON pointer into the root schema.
fn resolve_ref<'a>(root: &'a Value, target: &str) -> Option<&'a Value> {
    let pointer = target.strip_prefix('#')?;
    root.pointer(pointer)
}

/// `allOf` folded into one schema: properties and required lists unite, other keywords overwrite.
fn merge_all_of(base: &Map<String, Value>, parts: &[Value]) -> Value {
    let mut merged = base.clone();
    merged.remove("allOf");
    for part in parts.iter().filter_map(Value::as_object) {
        for (k, v) in part {
            match (k.as_str(), merged.get_mut(k), v) {
                ("properties", Some(Value::Object(have)), Value::Object(add)) => {
                    have.extend(add.iter().map(|(k, v)| (k.clone(), v.clone())));
                }
                ("required", Some(Value::Array(have)), Value::Array(add)) => {
                    have.extend(add.iter().cloned());
                }
                _ => {
                    merged.insert(k.clone(), v.clone());
                }
            }
        }
    }
    Value::Object(merged)
}

/// Estimated tokens of a text (no tokenizer): about 4 characters per token for prose,
/// fewer for code and JSON.
pub fn estimate_tokens(text: &str) -> u64 {
    let chars = text.chars().count();
    if chars == 0 {
        return 0;
    }
    let per_token = match sniff(text, chars) {
        Kind::Cjk | Kind::Json => 3.0,
        Kind::Code => 3.5,
        Kind::Prose => 4.0,
    };
    ((chars as f64 / per_token).ceil() as u64).max(1)
}

enum Kind {
    Prose,
    Code,
    Json,
    Cjk,
}

/// The kind of a text as reference-odw.md §3.5 sniffs it: >20% non-ASCII is CJK, a bracketed
/// whole is JSON, fences or >5% symbols is code.
fn sniff(text: &str, chars: usize) -> Kind {
    let non_ascii = text.chars().filter(|c| !c.is_ascii()).count();
    if non_ascii * 5 > chars {
        return Kind::Cjk;
    }
    let t = text.trim();
    if (t.starts_with('{') && t.ends_with('}')) || (t.starts_with('[') && t.ends_with(']')) {
        return Kind::Json;
    }
    let symbols = text
        .chars()
        .filter(|c| "{}[]()<>;=+*/\\&|%^~$#@_`".contains(*c))
        .count();
    if text.contains("```") || symbols * 20 > chars {
        Kind::Code
    } else {
        Kind::Prose
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::Message;
    use crate::providers::structured::{normalize_schema, validate};

    fn req(schema: Option<Value>) -> ModelRequest {
        ModelRequest {
            system: Some("You are a careful reviewer.".into()),
            messages: vec![Message::user("Review the auth module for missing checks.")],
            max_tokens: 512,
            temperature: None,
            schema,
            ..ModelRequest::default()
        }
    }

    fn conforms(schema: Value) -> Value {
        let schema = normalize_schema(&schema).unwrap();
        let r = reply(&req(Some(schema.clone())));
        let value: Value = serde_json::from_str(&r.text).unwrap();
        assert_eq!(validate(&schema, &value), Ok(()), "{value}");
        value
    }

    #[test]
    fn shorthand_schemas_get_conforming_values() {
        let v = conforms(json!({
            "findings": [{"file": "string", "line": "integer", "severe": "boolean"}],
            "confidence": "number",
            "tags": "string[]",
        }));
        assert_eq!(v["findings"][0]["severe"], true);
        assert_eq!(v["tags"], json!(["…"]));
    }

    #[test]
    fn constraints_are_respected() {
        let v = conforms(json!({
            "type": "object",
            "properties": {
                "level": {"enum": ["low", "high"]},
                "kind": {"const": "audit"},
                "score": {"type": "number", "minimum": 0, "maximum": 1},
                "count": {"type": "integer", "minimum": 3},
                "odd": {"type": "integer", "exclusiveMinimum": 10, "multipleOf": 7},
                "below": {"type": "integer", "maximum": -5},
                "name": {"type": "string", "minLength": 5, "maxLength": 8},
                "when": {"type": "string", "format": "date-time"},
                "ids": {"type": "array", "items": {"type": "string"}, "minItems": 3, "uniqueItems": true},
                "nums": {"type": "array", "items": {"type": "integer", "maximum": 100}, "minItems": 2, "uniqueItems": true},
                "none": {"type": "array", "maxItems": 0},
                "maybe": {"type": ["null", "string"]},
                "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
                "both": {"allOf": [
                    {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "boolean"}}, "required": ["b"]},
                ]},
                "pair": {"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}]},
            },
            "required": ["level", "kind", "score", "count", "extra"],
        }));
        assert_eq!(v["level"], "low");
        assert_eq!(v["kind"], "audit");
        assert_eq!(v["score"], 0.5);
        assert_eq!(v["count"], 3);
        assert_eq!(v["odd"], 14);
        assert_eq!(v["below"], -5);
        assert_eq!(v["ids"].as_array().unwrap().len(), 3);
        assert_eq!(v["none"], json!([]));
        assert_eq!(v["maybe"], "…");
        assert_eq!(v["either"], 1);
        assert_eq!(v["pair"], json!(["…", 1]));
        assert!(v.get("extra").is_some());
    }

    #[test]
    fn refs_and_recursion_terminate() {
        conforms(json!({
            "$defs": {"node": {"type": "object", "properties": {
                "name": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
            }, "required": ["name"]}},
            "$ref": "#/$defs/node",
        }));
    }

    #[test]
    fn text_reply_without_schema_and_usage_is_estimated() {
        let r = reply(&req(None));
        assert!(r.text.starts_with("Dry run"), "{}", r.text);
        assert!(r.text.contains("Review the auth module"));
        assert_eq!(
            r.usage.input,
            estimate_tokens("You are a careful reviewer.")
                + estimate_tokens("Review the auth module for missing checks.")
        );
        assert_eq!(r.usage.output, estimate_tokens(&r.text));
        assert!(r.usage.input > 0 && r.usage.output > 0);
    }

    #[test]
    fn estimates_by_kind() {
        assert_eq!(estimate_tokens(""), 0);
        assert_eq!(estimate_tokens("a"), 1);
        // Prose: 40 chars / 4.
        assert_eq!(
            estimate_tokens("the quick brown fox jumps over a lazy do"),
            10
        );
        // JSON: 12 chars / 3.
        assert_eq!(estimate_tokens("{\"a\":[1,2]} "), 4);
        // CJK: 6 chars / 3.
        assert_eq!(estimate_tokens("日本語のテキ"), 2);
        // Code: 35 chars / 3.5.
        assert_eq!(estimate_tokens("fn main() { let x = a * b + c; }  "), 10);
        assert_eq!(estimate_tokens("```\nx\n```"), 3);
    }
}
