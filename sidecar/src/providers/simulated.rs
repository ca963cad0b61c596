//! The dry-run provider: answers without any network, with a value that conforms to the call's
//! schema (text otherwise), and token counts estimated from the text.

use super::{ModelReply, ModelRequest};

/// A reply for `req` that a real model could have given: schema-conforming JSON text, or a short text.
pub fn reply(req: &ModelRequest) -> ModelReply {
    let _ = req;
    todo!()
}

/// Estimated tokens of a text (no tokenizer): about 4 characters per token for prose,
/// fewer for code and JSON.
pub fn estimate_tokens(text: &str) -> u64 {
    let _ = text;
    todo!()
}
