//! Approvals in the editor: `window/showMessageRequest` with the actions `Allow once`, `Allow
//! for this run` and `Deny`, one dialog at a time per client. Editors show it with their own
//! dialog (Neovim's `vim.ui.select` through the plugin, Helix and Zed natively).

use crate::engine::approve::{Answer, ApprovalRequest, Approver};
use futures::future::BoxFuture;
use std::sync::Arc;
use tower_lsp_server::Client;
use tower_lsp_server::ls_types::{MessageActionItem, MessageType};

/// The action titles, exactly as the client shows them.
pub const ALLOW_ONCE: &str = "Allow once";
pub const ALLOW_FOR_RUN: &str = "Allow for this run";
pub const DENY: &str = "Deny";

/// Asks through one client.
pub struct EditorApprover {
    client: Client,
    /// One dialog at a time: a second question waits for the first answer (which may allow the
    /// tool for the whole run and so answer it).
    dialog: Arc<tokio::sync::Mutex<()>>,
}

impl EditorApprover {
    pub fn new(client: Client, dialog: Arc<tokio::sync::Mutex<()>>) -> Self {
        EditorApprover { client, dialog }
    }
}

/// The answer an action title stands for; anything else (a dismissed dialog) is no.
pub fn answer_of(title: Option<&str>) -> Answer {
    match title {
        Some(ALLOW_ONCE) => Answer::Once,
        Some(ALLOW_FOR_RUN) => Answer::ForRun,
        _ => Answer::Deny,
    }
}

impl Approver for EditorApprover {
    fn ask(&self, req: ApprovalRequest) -> Option<BoxFuture<'static, Option<Answer>>> {
        let client = self.client.clone();
        let dialog = self.dialog.clone();
        Some(Box::pin(async move {
            let _one_at_a_time = dialog.lock().await;
            let actions = [ALLOW_ONCE, ALLOW_FOR_RUN, DENY]
                .map(|title| MessageActionItem {
                    title: title.into(),
                    properties: Default::default(),
                })
                .to_vec();
            match client
                .show_message_request(MessageType::WARNING, req.message(), Some(actions))
                .await
            {
                Ok(item) => Some(answer_of(item.as_ref().map(|i| i.title.as_str()))),
                Err(e) => {
                    tracing::warn!("approval request failed: {e}");
                    None
                }
            }
        }))
    }
}
