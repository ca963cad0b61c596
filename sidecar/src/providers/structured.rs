//! Structured output: schema shorthand, tolerant JSON extraction, validation with compiled
//! schemas cached per schema, and the correction prompt of a re-ask.

use serde_json::Value;

/// Expands the shorthand `{key: "type"}` (all keys required; nested objects recurse; `[x]` is an
/// array of x) into JSON Schema. A value that already looks like JSON Schema passes unchanged.
pub fn normalize_schema(schema: &Value) -> Result<Value, String> {
    let _ = schema;
    todo!()
}

/// The instruction appended to the prompt for providers without a native structured mode.
pub fn schema_instruction(schema: &Value) -> String {
    let _ = schema;
    todo!()
}

/// Finds the JSON value in a model's reply: the whole text, a ```json fence, or the first balanced
/// object/array; each tried raw, then with trailing commas removed, then with a light repair.
pub fn extract_json(text: &str) -> Option<Value> {
    let _ = text;
    todo!()
}

/// Validates `value` against `schema`, compiling each distinct schema once (process-wide cache).
/// Errors are short human strings like `/findings: "x" is not of type "array"`.
pub fn validate(schema: &Value, value: &Value) -> Result<(), Vec<String>> {
    let _ = (schema, value);
    todo!()
}

/// The user message of a re-ask: quotes the validation errors and the bad reply (cut to 1500 chars).
pub fn correction_message(errors: &[String], bad_reply: &str, schema: &Value) -> String {
    let _ = (errors, bad_reply, schema);
    todo!()
}
