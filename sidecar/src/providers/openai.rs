//! The openai wire format.

use super::{ModelReply, ModelRequest, ProviderError, Route};

/// Sends one request.
pub async fn send(
    client: &reqwest::Client,
    route: &Route,
    req: &ModelRequest,
) -> Result<ModelReply, ProviderError> {
    let _ = (client, route, req);
    todo!()
}
