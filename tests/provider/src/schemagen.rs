//! Deterministic JSON values generated to conform to (or to violate) a JSON Schema.

use serde_json::{Map, Value, json};

const MAX_DEPTH: usize = 24;

/// A value that conforms to `schema`: objects with all their properties, strings from the first
/// enum value or the property name, numbers 1 or the nearest bound, booleans `true`, arrays with
/// `max(minItems, 1)` items (capped by `maxItems`). Handles `$ref` (local), `const`, `enum`,
/// `anyOf`/`oneOf` (first non-null branch), `allOf` (merged), type arrays and common formats.
pub fn generate(schema: &Value) -> Value {
    gen_value(schema, schema, "value", 0)
}

/// A value that does not conform to `schema`: an object schema with required keys gets the
/// generated value without its first required key and with `"wrong": true`; any other object
/// schema gets an array; anything else gets `{"wrong": true}`.
pub fn violate(schema: &Value) -> Value {
    let resolved = resolve_refs(schema, schema, 0);
    let is_object = schema_type(resolved).as_deref() == Some("object");
    if is_object {
        let required: Vec<String> = resolved
            .get("required")
            .and_then(Value::as_array)
            .map(|r| {
                r.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        if let (Some(first), Value::Object(mut obj)) = (required.first(), generate(schema)) {
            obj.remove(first);
            obj.insert("wrong".into(), Value::Bool(true));
            return Value::Object(obj);
        }
        return json!(["wrong"]);
    }
    json!({"wrong": true})
}

fn resolve_refs<'a>(root: &'a Value, s: &'a Value, depth: usize) -> &'a Value {
    if depth > MAX_DEPTH {
        return s;
    }
    match s
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| lookup(root, r))
    {
        Some(target) => resolve_refs(root, target, depth + 1),
        None => s,
    }
}

fn lookup<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    if pointer.is_empty() {
        return Some(root);
    }
    root.pointer(pointer)
}

fn schema_type(s: &Value) -> Option<String> {
    let m = s.as_object()?;
    match m.get("type") {
        Some(Value::String(t)) => Some(t.clone()),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .or_else(|| ts.iter().filter_map(Value::as_str).next())
            .map(String::from),
        _ => {
            if m.contains_key("properties") || m.contains_key("required") {
                Some("object".into())
            } else if m.contains_key("items") || m.contains_key("prefixItems") {
                Some("array".into())
            } else if [
                "minimum",
                "maximum",
                "exclusiveMinimum",
                "exclusiveMaximum",
                "multipleOf",
            ]
            .iter()
            .any(|k| m.contains_key(*k))
            {
                Some("number".into())
            } else {
                None
            }
        }
    }
}

fn gen_value(root: &Value, s: &Value, name: &str, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    let Some(m) = s.as_object() else {
        // `true` or anything odd: any value is fine.
        return Value::String(name.to_string());
    };
    if let Some(target) = m
        .get("$ref")
        .and_then(Value::as_str)
        .and_then(|r| lookup(root, r))
    {
        return gen_value(root, target, name, depth + 1);
    }
    if let Some(c) = m.get("const") {
        return c.clone();
    }
    if let Some(first) = m
        .get("enum")
        .and_then(Value::as_array)
        .and_then(|e| e.first())
    {
        return first.clone();
    }
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = m.get(key).and_then(Value::as_array) {
            let pick = branches
                .iter()
                .find(|b| {
                    resolve_refs(root, b, 0).get("type").and_then(Value::as_str) != Some("null")
                })
                .or_else(|| branches.first());
            if let Some(pick) = pick {
                return gen_value(root, pick, name, depth + 1);
            }
        }
    }
    if let Some(all) = m.get("allOf").and_then(Value::as_array) {
        let mut merged = m.clone();
        merged.remove("allOf");
        for part in all {
            merge_into(&mut merged, resolve_refs(root, part, 0));
        }
        return gen_value(root, &Value::Object(merged), name, depth + 1);
    }
    match schema_type(s).as_deref() {
        Some("object") => gen_object(root, m, depth),
        Some("array") => gen_array(root, m, name, depth),
        Some("integer") => gen_integer(m),
        Some("number") => gen_number(m),
        Some("boolean") => Value::Bool(true),
        Some("null") => Value::Null,
        _ => gen_string(m, name),
    }
}

fn merge_into(into: &mut Map<String, Value>, part: &Value) {
    let Some(part) = part.as_object() else { return };
    for (k, v) in part {
        match (k.as_str(), into.get_mut(k), v) {
            ("properties", Some(Value::Object(props)), Value::Object(more)) => {
                for (pk, pv) in more {
                    props.insert(pk.clone(), pv.clone());
                }
            }
            ("required", Some(Value::Array(req)), Value::Array(more)) => {
                for r in more {
                    if !req.contains(r) {
                        req.push(r.clone());
                    }
                }
            }
            (_, Some(_), _) => {}
            (_, None, _) => {
                into.insert(k.clone(), v.clone());
            }
        }
    }
}

fn gen_object(root: &Value, m: &Map<String, Value>, depth: usize) -> Value {
    let mut out = Map::new();
    if let Some(props) = m.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            out.insert(k.clone(), gen_value(root, v, k, depth + 1));
        }
    }
    if let Some(required) = m.get("required").and_then(Value::as_array) {
        for r in required.iter().filter_map(Value::as_str) {
            if !out.contains_key(r) {
                out.insert(r.to_string(), Value::String(r.to_string()));
            }
        }
    }
    let additional_ok = !matches!(m.get("additionalProperties"), Some(Value::Bool(false)));
    if let Some(min) = m.get("minProperties").and_then(Value::as_u64) {
        let mut i = 0;
        while additional_ok && (out.len() as u64) < min {
            let extra = m.get("additionalProperties").filter(|v| v.is_object());
            let key = format!("extra{i}");
            let value = match extra {
                Some(schema) => gen_value(root, schema, &key, depth + 1),
                None => Value::String(key.clone()),
            };
            out.insert(key, value);
            i += 1;
        }
    }
    Value::Object(out)
}

fn gen_array(root: &Value, m: &Map<String, Value>, name: &str, depth: usize) -> Value {
    let min = m.get("minItems").and_then(Value::as_u64).unwrap_or(0);
    let mut count = min.max(1);
    if let Some(max) = m.get("maxItems").and_then(Value::as_u64) {
        count = count.min(max);
    }
    let prefix = m.get("prefixItems").and_then(Value::as_array);
    let items = match m.get("items") {
        Some(Value::Array(tuple)) => Some(tuple.as_slice()), // draft 4-7 tuple form
        _ => None,
    };
    let prefix = prefix.map(Vec::as_slice).or(items);
    let item_schema = m.get("items").filter(|v| !v.is_array());
    let unique = m
        .get("uniqueItems")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    if let Some(prefix) = prefix {
        count = count.max(prefix.len() as u64);
        if let Some(max) = m.get("maxItems").and_then(Value::as_u64) {
            count = count.min(max);
        }
    }
    let mut out = Vec::with_capacity(count as usize);
    for i in 0..count as usize {
        let schema = prefix.and_then(|p| p.get(i)).or(item_schema);
        let mut v = match schema {
            Some(s) => gen_value(root, s, name, depth + 1),
            None => Value::String(name.to_string()),
        };
        if unique && i > 0 {
            v = make_distinct(v, i);
        }
        out.push(v);
    }
    Value::Array(out)
}

fn make_distinct(v: Value, i: usize) -> Value {
    match v {
        Value::String(s) => Value::String(format!("{s}{i}")),
        Value::Number(n) => {
            if let Some(x) = n.as_i64() {
                json!(x + i as i64)
            } else {
                json!(n.as_f64().unwrap_or(0.0) + i as f64)
            }
        }
        other => other,
    }
}

fn gen_string(m: &Map<String, Value>, name: &str) -> Value {
    let base = match m.get("format").and_then(Value::as_str) {
        Some("date-time") => "2024-01-01T00:00:00Z".to_string(),
        Some("date") => "2024-01-01".to_string(),
        Some("time") => "00:00:00Z".to_string(),
        Some("email") => "user@example.com".to_string(),
        Some("uri") | Some("url") => "https://example.com/".to_string(),
        Some("uuid") => "00000000-0000-4000-8000-000000000000".to_string(),
        Some("ipv4") => "127.0.0.1".to_string(),
        Some("hostname") => "localhost".to_string(),
        _ => name.to_string(),
    };
    let mut s = base;
    let min = m.get("minLength").and_then(Value::as_u64).unwrap_or(0) as usize;
    while s.chars().count() < min {
        s.push('x');
    }
    if let Some(max) = m.get("maxLength").and_then(Value::as_u64) {
        s = s.chars().take(max as usize).collect();
    }
    Value::String(s)
}

/// Lower and upper bounds as (value, exclusive), drafts 4 (boolean exclusivity) and 6+ (numeric).
type Bound = Option<(f64, bool)>;

fn bounds(m: &Map<String, Value>) -> (Bound, Bound) {
    let excl_bool = |k: &str| m.get(k).and_then(Value::as_bool).unwrap_or(false);
    let mut lo = m
        .get("minimum")
        .and_then(Value::as_f64)
        .map(|v| (v, excl_bool("exclusiveMinimum")));
    let mut hi = m
        .get("maximum")
        .and_then(Value::as_f64)
        .map(|v| (v, excl_bool("exclusiveMaximum")));
    if let Some(v) = m.get("exclusiveMinimum").and_then(Value::as_f64)
        && lo.is_none_or(|(l, _)| v >= l)
    {
        lo = Some((v, true));
    }
    if let Some(v) = m.get("exclusiveMaximum").and_then(Value::as_f64)
        && hi.is_none_or(|(h, _)| v <= h)
    {
        hi = Some((v, true));
    }
    (lo, hi)
}

fn within(x: f64, lo: Bound, hi: Bound) -> bool {
    let lo_ok = lo.is_none_or(|(l, e)| if e { x > l } else { x >= l });
    let hi_ok = hi.is_none_or(|(h, e)| if e { x < h } else { x <= h });
    lo_ok && hi_ok
}

fn multiple_ok(x: f64, m: &Map<String, Value>) -> bool {
    match m.get("multipleOf").and_then(Value::as_f64) {
        Some(step) if step > 0.0 => ((x / step).round() * step - x).abs() < 1e-9,
        _ => true,
    }
}

fn gen_integer(m: &Map<String, Value>) -> Value {
    let (lo, hi) = bounds(m);
    let step = m
        .get("multipleOf")
        .and_then(Value::as_f64)
        .filter(|s| *s >= 1.0 && s.fract() == 0.0);
    let mut candidates: Vec<f64> = vec![1.0];
    if let Some((l, e)) = lo {
        let first = if e { l.floor() + 1.0 } else { l.ceil() };
        candidates.push(first);
    }
    if let Some((h, e)) = hi {
        let last = if e { h.ceil() - 1.0 } else { h.floor() };
        candidates.push(last);
    }
    if let Some(step) = step {
        let base: Vec<f64> = candidates.clone();
        candidates = vec![step];
        for c in base {
            candidates.push((c / step).ceil() * step);
            candidates.push((c / step).floor() * step);
        }
        candidates.push(0.0);
    }
    let pick = candidates
        .into_iter()
        .find(|x| within(*x, lo, hi) && multiple_ok(*x, m))
        .unwrap_or(1.0);
    json!(pick as i64)
}

fn gen_number(m: &Map<String, Value>) -> Value {
    let (lo, hi) = bounds(m);
    let mut candidates = vec![1.0];
    if let Some(step) = m
        .get("multipleOf")
        .and_then(Value::as_f64)
        .filter(|s| *s > 0.0)
    {
        candidates.insert(0, step);
    }
    if let Some((l, e)) = lo {
        candidates.push(if e { l + 1.0 } else { l });
    }
    if let Some((h, e)) = hi {
        candidates.push(if e { h - 1.0 } else { h });
    }
    if let (Some((l, _)), Some((h, _))) = (lo, hi) {
        candidates.push((l + h) / 2.0);
    }
    let pick = candidates
        .into_iter()
        .find(|x| within(*x, lo, hi) && multiple_ok(*x, m))
        .unwrap_or(1.0);
    if pick.fract() == 0.0 && pick.abs() < 1e15 {
        json!(pick as i64)
    } else {
        json!(pick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_with_all_properties() {
        let schema = json!({
            "type": "object",
            "properties": {
                "answer": {"type": "string"},
                "score": {"type": "integer", "minimum": 3, "maximum": 10},
                "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "ok": {"type": "boolean"},
                "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2, "uniqueItems": true},
                "kind": {"enum": ["a", "b"]},
                "maybe": {"type": ["string", "null"]},
                "nested": {"$ref": "#/$defs/Nested"},
                "choice": {"anyOf": [{"type": "null"}, {"type": "integer", "maximum": -5}]},
                "short": {"type": "string", "maxLength": 2},
                "long": {"type": "string", "minLength": 12},
                "when": {"type": "string", "format": "date-time"}
            },
            "required": ["answer"],
            "$defs": {"Nested": {"type": "object", "properties": {"x": {"const": 7}}}}
        });
        let v = generate(&schema);
        assert_eq!(v["answer"], "answer");
        assert_eq!(v["score"], 3);
        assert_eq!(v["ratio"], 0.5);
        assert_eq!(v["ok"], true);
        assert_eq!(v["tags"], json!(["tags", "tags1"]));
        assert_eq!(v["kind"], "a");
        assert_eq!(v["maybe"], "maybe");
        assert_eq!(v["nested"], json!({"x": 7}));
        assert_eq!(v["choice"], -5);
        assert_eq!(v["short"], "sh");
        assert_eq!(v["long"], "longxxxxxxxx");
        assert_eq!(v["when"], "2024-01-01T00:00:00Z");
    }

    #[test]
    fn scalars_and_arrays() {
        assert_eq!(generate(&json!({"type": "string"})), "value");
        assert_eq!(generate(&json!({"type": "integer"})), 1);
        assert_eq!(generate(&json!({"type": "integer", "minimum": 5})), 5);
        assert_eq!(generate(&json!({"type": "integer", "maximum": 0})), 0);
        assert_eq!(
            generate(&json!({"type": "integer", "multipleOf": 5, "minimum": 6})),
            10
        );
        assert_eq!(generate(&json!({"type": "number", "minimum": 2.5})), 2.5);
        assert_eq!(
            generate(&json!({"type": "array", "items": {"type": "integer"}})),
            json!([1])
        );
        assert_eq!(
            generate(&json!({"type": "array", "maxItems": 0})),
            json!([])
        );
        assert_eq!(generate(&json!({})), "value");
        assert_eq!(
            generate(
                &json!({"allOf": [{"properties": {"a": {"type": "integer"}}}, {"properties": {"b": {"type": "boolean"}}}]})
            ),
            json!({"a": 1, "b": true})
        );
    }

    #[test]
    fn violations() {
        let s = json!({"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]});
        assert_eq!(violate(&s), json!({"wrong": true}));
        let s = json!({"type": "object", "properties": {"a": {"type": "string"}}});
        assert_eq!(violate(&s), json!(["wrong"]));
        assert_eq!(violate(&json!({"type": "string"})), json!({"wrong": true}));
    }
}
