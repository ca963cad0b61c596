//! Approvals for runs started by a coding agent: MCP elicitation (a form with one choice), when
//! the client declared it; otherwise nobody can be asked and the configured policy decides.

use crate::engine::approve::{Answer, ApprovalRequest, Approver, ApproverHandle};
use futures::future::BoxFuture;
use rmcp::RoleServer;
use rmcp::model::{ElicitRequestParams, ElicitationAction, ElicitationSchema};
use rmcp::service::{ElicitationMode, Peer};
use serde_json::json;
use std::sync::Arc;

const ALLOW_ONCE: &str = "Allow once";
const ALLOW_FOR_RUN: &str = "Allow for this run";
const DENY: &str = "Deny";

/// Asks through the client that started the run.
struct ElicitingApprover {
    peer: Peer<RoleServer>,
    /// One question at a time.
    dialog: Arc<tokio::sync::Mutex<()>>,
}

/// An approver for runs started through `peer`, when it can show forms.
pub fn for_peer(peer: &Peer<RoleServer>) -> Option<ApproverHandle> {
    if !peer
        .supported_elicitation_modes()
        .contains(&ElicitationMode::Form)
    {
        return None;
    }
    Some(ApproverHandle(Arc::new(ElicitingApprover {
        peer: peer.clone(),
        dialog: Arc::default(),
    })))
}

/// The form: one required choice among the three answers.
fn schema() -> ElicitationSchema {
    serde_json::from_value(json!({
        "type": "object",
        "properties": {
            "decision": {
                "type": "string",
                "title": "Decision",
                "enum": [ALLOW_ONCE, ALLOW_FOR_RUN, DENY],
            }
        },
        "required": ["decision"],
    }))
    .expect("the approval form is a valid elicitation schema")
}

impl Approver for ElicitingApprover {
    fn ask(&self, req: ApprovalRequest) -> Option<BoxFuture<'static, Option<Answer>>> {
        let peer = self.peer.clone();
        let dialog = self.dialog.clone();
        Some(Box::pin(async move {
            let _one_at_a_time = dialog.lock().await;
            let params = ElicitRequestParams::FormElicitationParams {
                meta: None,
                message: req.message(),
                requested_schema: schema(),
            };
            match peer.create_elicitation(params).await {
                Ok(r) if r.action == ElicitationAction::Accept => {
                    let decision = r
                        .content
                        .as_ref()
                        .and_then(|c| c.get("decision"))
                        .and_then(|d| d.as_str());
                    Some(match decision {
                        Some(ALLOW_ONCE) => Answer::Once,
                        Some(ALLOW_FOR_RUN) => Answer::ForRun,
                        _ => Answer::Deny,
                    })
                }
                Ok(_) => Some(Answer::Deny),
                Err(e) => {
                    tracing::warn!("approval elicitation failed: {e}");
                    None
                }
            }
        }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_form_is_a_valid_schema() {
        let s = serde_json::to_value(super::schema()).unwrap();
        assert_eq!(s["required"][0], "decision");
        assert_eq!(
            s["properties"]["decision"]["enum"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
    }
}
