//! The identity of an `agent()` call: a content hash of everything that decides its answer,
//! plus an occurrence number. Order-independent under fan-out, unlike start-order keys.

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The semantic inputs of a call (README, "Durable runs and budgets").
pub struct CallInputs<'a> {
    pub model: &'a str,
    pub system: Option<&'a str>,
    pub prompt: &'a str,
    pub schema: Option<&'a Value>,
    pub tools: Option<&'a [String]>,
    pub temperature: Option<f64>,
    pub max_tokens: u32,
    pub key: Option<&'a Value>,
}

/// `sha256(canonical JSON of {model, system, prompt, schema, tools, temperature, maxTokens, key})`
/// as lowercase hex. Keys are sorted explicitly, so the hash does not depend on serde_json's
/// map ordering features.
pub fn call_identity(c: &CallInputs<'_>) -> Arc<str> {
    let doc = json!({
        "model": c.model,
        "system": c.system,
        "prompt": c.prompt,
        "schema": c.schema,
        "tools": c.tools,
        "temperature": c.temperature,
        "maxTokens": c.max_tokens,
        "key": c.key,
    });
    let mut text = String::new();
    canonical(&doc, &mut text);
    hex_digest(Sha256::digest(text.as_bytes()).into())
}

/// Lowercase hex, straight into the shared string (no intermediate `String`).
fn hex_digest(digest: [u8; 32]) -> Arc<str> {
    let mut hex = [0u8; 64];
    match hex::encode_to_slice(digest, &mut hex).map(|()| std::str::from_utf8(&hex)) {
        Ok(Ok(text)) => Arc::from(text),
        _ => unreachable!("32 bytes are 64 ASCII hex digits"),
    }
}

fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> CallInputs<'static> {
        CallInputs {
            model: "m",
            system: None,
            prompt: "p",
            schema: None,
            tools: None,
            temperature: None,
            max_tokens: 100,
            key: None,
        }
    }

    #[test]
    fn every_semantic_input_changes_the_identity() {
        let a = call_identity(&base());
        assert_eq!(a, call_identity(&base()), "stable");
        let schema = json!({"type": "object"});
        let key = json!("k");
        let variants = [
            CallInputs {
                model: "n",
                ..base()
            },
            CallInputs {
                system: Some("s"),
                ..base()
            },
            CallInputs {
                prompt: "q",
                ..base()
            },
            CallInputs {
                schema: Some(&schema),
                ..base()
            },
            CallInputs {
                temperature: Some(0.0),
                ..base()
            },
            CallInputs {
                max_tokens: 101,
                ..base()
            },
            CallInputs {
                key: Some(&key),
                ..base()
            },
        ];
        for v in variants {
            assert_ne!(call_identity(&v), a);
        }
    }

    #[test]
    fn key_order_of_a_schema_does_not_matter() {
        let s1: Value = serde_json::from_str(r#"{"a":1,"b":2}"#).unwrap();
        let s2: Value = serde_json::from_str(r#"{"b":2,"a":1}"#).unwrap();
        let x = call_identity(&CallInputs {
            schema: Some(&s1),
            ..base()
        });
        let y = call_identity(&CallInputs {
            schema: Some(&s2),
            ..base()
        });
        assert_eq!(x, y);
    }
}
