//! What the server advertises, and what it may send the client: every server→client request and
//! custom notification is gated on the client having declared it can handle it.

use odw_protocol::lsp::{COMMANDS, RUN_EVENTS_CAPABILITY};
use tower_lsp_server::ls_types::*;

/// The client's declared abilities that change what the server sends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCaps {
    /// `window.workDoneProgress`: server-created `$/progress`.
    pub work_done_progress: bool,
    /// `window.showDocument.support`.
    pub show_document: bool,
    /// `workspace.codeLens.refreshSupport`.
    pub code_lens_refresh: bool,
    /// `experimental.odwRunEvents`.
    pub run_events: bool,
    /// `window.showMessage.messageActionItem`: `window/showMessageRequest` with actions, which
    /// approvals need.
    pub message_actions: bool,
}

impl ClientCaps {
    /// Reads the capabilities from `initialize`.
    pub fn from_client(c: &ClientCapabilities) -> Self {
        let window = c.window.as_ref();
        ClientCaps {
            work_done_progress: window.and_then(|w| w.work_done_progress) == Some(true),
            show_document: window
                .and_then(|w| w.show_document.as_ref())
                .is_some_and(|s| s.support),
            code_lens_refresh: c
                .workspace
                .as_ref()
                .and_then(|w| w.code_lens.as_ref())
                .and_then(|l| l.refresh_support)
                == Some(true),
            message_actions: window
                .and_then(|w| w.show_message.as_ref())
                .is_some_and(|s| s.message_action_item.is_some()),
            run_events: c
                .experimental
                .as_ref()
                .and_then(|e| e.get(RUN_EVENTS_CAPABILITY))
                .and_then(|v| v.as_bool())
                == Some(true),
        }
    }
}

/// The server's capabilities: incremental sync, push diagnostics (no pull), code actions, code
/// lenses, hover, completion and the `odw.*` commands.
pub fn server() -> ServerCapabilities {
    ServerCapabilities {
        position_encoding: Some(PositionEncodingKind::UTF16),
        text_document_sync: Some(TextDocumentSyncCapability::Options(
            TextDocumentSyncOptions {
                open_close: Some(true),
                change: Some(TextDocumentSyncKind::INCREMENTAL),
                ..Default::default()
            },
        )),
        hover_provider: Some(HoverProviderCapability::Simple(true)),
        completion_provider: Some(CompletionOptions {
            trigger_characters: Some(vec!["{".into(), ",".into()]),
            ..Default::default()
        }),
        code_action_provider: Some(CodeActionProviderCapability::Options(CodeActionOptions {
            code_action_kinds: Some(vec![CodeActionKind::QUICKFIX, CodeActionKind::SOURCE]),
            ..Default::default()
        })),
        code_lens_provider: Some(CodeLensOptions {
            resolve_provider: Some(false),
        }),
        execute_command_provider: Some(ExecuteCommandOptions {
            commands: COMMANDS.iter().map(|c| c.to_string()).collect(),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_client_capabilities() {
        let c: ClientCapabilities = serde_json::from_value(json!({
            "window": {"workDoneProgress": true, "showDocument": {"support": true}},
            "workspace": {"codeLens": {"refreshSupport": true}},
            "experimental": {"odwRunEvents": true}
        }))
        .unwrap();
        let caps = ClientCaps::from_client(&c);
        assert!(caps.work_done_progress && caps.show_document);
        assert!(caps.code_lens_refresh && caps.run_events);
        let helix = ClientCaps::from_client(&ClientCapabilities::default());
        assert_eq!(helix, ClientCaps::default());
    }

    #[test]
    fn no_pull_diagnostics() {
        let v = serde_json::to_value(server()).unwrap();
        assert!(v.get("diagnosticProvider").is_none());
        assert_eq!(v["textDocumentSync"]["change"], 2);
        assert_eq!(v["executeCommandProvider"]["commands"][0], "odw.run");
    }
}
