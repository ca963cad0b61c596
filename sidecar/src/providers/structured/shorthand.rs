//! The schema shorthand (`{key: "type"}`, `["type"]`, `"type[]"`) and its expansion into JSON
//! Schema, walked in one place for every reader: the runtime expands JSON values
//! ([`super::normalize_schema`]), the checker walks the literal in the script and turns the same
//! problems into diagnostics with spans.

use serde_json::{Map, Value, json};
use std::borrow::Cow;

/// Keys that mark an object as JSON Schema already rather than shorthand: such an object
/// passes unchanged (and unchecked).
pub const SCHEMA_MARKERS: &[&str] = &[
    "type",
    "$ref",
    "$schema",
    "anyOf",
    "oneOf",
    "allOf",
    "properties",
    "enum",
    "const",
];

/// The type names the shorthand accepts.
pub const TYPE_NAMES: &[&str] = &[
    "string", "number", "integer", "boolean", "array", "object", "null",
];

/// Type names from other languages, mapped to the JSON Schema name the author meant.
const TYPE_ALIASES: &[(&str, &str)] = &[
    ("str", "string"),
    ("text", "string"),
    ("int", "integer"),
    ("float", "number"),
    ("double", "number"),
    ("bool", "boolean"),
    ("list", "array"),
    ("dict", "object"),
    ("map", "object"),
    ("obj", "object"),
];

/// One shorthand value as written, whatever holds it.
pub enum Form<'a, W: ?Sized> {
    /// An object: its keys (`None`: computed) and values.
    Object(Vec<(Option<Cow<'a, str>>, &'a W)>),
    /// An array: its elements (`None`: one not known before run time, such as a spread).
    Array(Vec<Option<&'a W>>),
    /// A type name such as `"string"` or `"integer[]"`.
    Type(&'a str),
    /// `true` (anything) or `false` (nothing): valid schemas as they are.
    Bool(bool),
    /// A number or `null`: not a type.
    NotAType,
    /// Not known before run time (a variable, a call): passes unread.
    Unknown,
}

/// Something that holds shorthand: a JSON value, or a literal in a script.
pub trait Written {
    /// What this value is, as shorthand.
    fn form(&self) -> Form<'_, Self>;
    /// The value as JSON, for full JSON Schema that passes unchanged; `None` when it cannot be
    /// known before run time.
    fn json(&self) -> Option<Value>;
}

impl Written for Value {
    fn form(&self) -> Form<'_, Self> {
        match self {
            Value::Object(map) => Form::Object(
                map.iter()
                    .map(|(k, v)| (Some(Cow::Borrowed(k.as_str())), v))
                    .collect(),
            ),
            Value::Array(items) => Form::Array(items.iter().map(Some).collect()),
            Value::String(name) => Form::Type(name),
            Value::Bool(b) => Form::Bool(*b),
            Value::Null | Value::Number(_) => Form::NotAType,
        }
    }

    fn json(&self) -> Option<Value> {
        Some(self.clone())
    }
}

/// What is wrong with one part of a shorthand; `node` is the part.
pub enum Problem<'a, W: ?Sized> {
    /// A type name that is none of [`TYPE_NAMES`].
    BadType {
        node: &'a W,
        name: &'a str,
        bad: BadType,
    },
    /// An array shorthand with more than one element.
    ManyItems { node: &'a W, count: usize },
    /// A number or `null` where a type belongs.
    NotAType { node: &'a W },
}

/// Where a problem is: the JSON Pointer from the root, and the nearest property's name.
pub struct Place<'p> {
    pub pointer: &'p str,
    pub field: &'p str,
}

/// A type name that is not one.
pub struct BadType {
    /// The innermost name, trimmed, as written.
    pub base: String,
    /// How many trailing `[]` it had.
    pub depth: usize,
    /// The type the author most likely meant.
    pub suggestion: Option<&'static str>,
}

/// Reads a type name: trimmed, in any case, each trailing `[]` one level of array. Gives the
/// JSON Schema type and the array depth.
pub fn parse_type(name: &str) -> Result<(&'static str, usize), BadType> {
    let mut base = name.trim();
    let mut depth = 0;
    while let Some(element) = base.strip_suffix("[]") {
        base = element.trim();
        depth += 1;
    }
    if let Some(t) = TYPE_NAMES.iter().find(|t| t.eq_ignore_ascii_case(base)) {
        return Ok((t, depth));
    }
    let suggestion = TYPE_ALIASES
        .iter()
        .find(|(alias, _)| alias.eq_ignore_ascii_case(base))
        .map(|(_, real)| *real)
        .or_else(|| {
            crate::spelling::nearest(&base.to_ascii_lowercase(), TYPE_NAMES.iter().copied())
        });
    Err(BadType {
        base: base.to_string(),
        depth,
        suggestion,
    })
}

/// Expands shorthand into JSON Schema (all keys required; nested objects recurse; `[x]` is an
/// array of x); full JSON Schema passes unchanged. Every problem goes to `report` and the walk
/// goes on, so a checker sees them all. `None` when a part is broken or not known.
pub fn expand<'a, W: Written + ?Sized>(
    written: &'a W,
    report: &mut dyn FnMut(Place<'_>, Problem<'a, W>),
) -> Option<Value> {
    walk(written, "", "", report)
}

fn walk<'a, W: Written + ?Sized>(
    w: &'a W,
    pointer: &str,
    field: &str,
    report: &mut dyn FnMut(Place<'_>, Problem<'a, W>),
) -> Option<Value> {
    let place = Place { pointer, field };
    match w.form() {
        Form::Object(entries)
            if entries
                .iter()
                .any(|(k, _)| k.as_deref().is_some_and(|k| SCHEMA_MARKERS.contains(&k))) =>
        {
            w.json()
        }
        Form::Object(entries) => {
            let mut properties = Some(Map::new());
            for (key, sub) in &entries {
                let name = key.as_deref().unwrap_or("?");
                let sub_pointer = format!("{pointer}/{}", escape_pointer(name));
                let schema = walk(*sub, &sub_pointer, name, report);
                // A computed key is not known before run time: nothing to expand.
                match (properties.as_mut(), schema, key) {
                    (Some(p), Some(schema), Some(_)) => {
                        p.insert(name.to_string(), schema);
                    }
                    _ => properties = None,
                }
            }
            let required: Vec<Value> = entries
                .iter()
                .filter_map(|(k, _)| Some(Value::String(k.as_deref()?.to_string())))
                .collect();
            Some(json!({"type": "object", "properties": properties?, "required": required}))
        }
        Form::Array(items) => match items.as_slice() {
            [] => Some(json!({"type": "array"})),
            [item] => {
                let items = walk((*item)?, &format!("{pointer}/0"), field, report)?;
                Some(json!({"type": "array", "items": items}))
            }
            _ => {
                let count = items.len();
                report(place, Problem::ManyItems { node: w, count });
                None
            }
        },
        Form::Type(name) => match parse_type(name) {
            Ok((base, depth)) => Some((0..depth).fold(
                json!({"type": base}),
                |items, _| json!({"type": "array", "items": items}),
            )),
            Err(bad) => {
                report(place, Problem::BadType { node: w, name, bad });
                None
            }
        },
        Form::Bool(b) => Some(Value::Bool(b)),
        Form::NotAType => {
            report(place, Problem::NotAType { node: w });
            None
        }
        Form::Unknown => None,
    }
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_read_the_same_for_runtime_and_checker() {
        assert_eq!(parse_type(" String [] []").ok(), Some(("string", 2)));
        let bad = parse_type("int[]").unwrap_err();
        assert_eq!((bad.base.as_str(), bad.depth), ("int", 1));
        assert_eq!(bad.suggestion, Some("integer"));
        assert_eq!(parse_type("strnig").unwrap_err().suggestion, Some("string"));
        assert_eq!(parse_type("nope").unwrap_err().suggestion, None);
    }

    #[test]
    fn every_problem_is_reported_not_only_the_first() {
        let v = json!({"a": "strng", "b": [1], "c": ["x", "y"], "d": {"type": "bogus"}});
        let mut seen = Vec::new();
        let out = expand(&v, &mut |place, p| {
            let kind = match p {
                Problem::BadType { .. } => "type",
                Problem::ManyItems { .. } => "many",
                Problem::NotAType { .. } => "not",
            };
            seen.push(format!("{kind} {} {}", place.pointer, place.field));
        });
        assert!(out.is_none());
        assert_eq!(seen, ["type /a a", "not /b/0 b", "many /c c"]);
    }
}
