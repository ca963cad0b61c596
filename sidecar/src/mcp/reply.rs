//! Tool results: the JSON value in `structuredContent` and, for clients that read only text,
//! the same JSON in `content[0].text`; bad input becomes an `isError` result with a message that
//! says what to fix, never a protocol error, so the agent can correct itself.

use rmcp::model::{CallToolResult, ContentBlock};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// What a tool handler returns: the structured result, or a message for the caller.
pub type Reply = Result<Value, String>;

/// The tool result of a handler's reply.
pub fn to_result(reply: Reply) -> CallToolResult {
    match reply {
        Ok(value) => {
            let mut r = CallToolResult::success(vec![ContentBlock::text(value.to_string())]);
            r.structured_content = Some(value);
            r
        }
        Err(message) => CallToolResult::error(vec![ContentBlock::text(message)]),
    }
}

/// A tool's arguments as `T`; unknown or mistyped arguments are named in the error.
pub fn parse<T: DeserializeOwned>(
    tool: &str,
    args: Option<Map<String, Value>>,
) -> Result<T, String> {
    serde_json::from_value(Value::Object(args.unwrap_or_default()))
        .map_err(|e| format!("{tool}: invalid arguments: {e}"))
}
