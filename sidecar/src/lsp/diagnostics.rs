//! Push diagnostics: the checker's findings for each open workflow script, published with the
//! document version. A lone edit is checked at once; a burst of edits is checked at most once per
//! [`DEBOUNCE`] and always for its last version. A publish happens only for the version that is
//! still current, under one lock, so a stale version is never published after a newer one.

use super::scripts;
use super::session::Session;
use super::to_proto;
use crate::check;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::AbortHandle;
use tower_lsp_server::ls_types::Uri;

/// The least time between two checks of one document while it is being edited.
pub const DEBOUNCE: Duration = Duration::from_millis(150);

/// Pending checks, when each document was last checked, and the publish lock.
#[derive(Default)]
pub struct Diagnostics {
    pending: Mutex<HashMap<Uri, AbortHandle>>,
    checked_at: Mutex<HashMap<Uri, Instant>>,
    publish: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Diagnostics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Diagnostics").finish_non_exhaustive()
    }
}

/// Checks `uri` and publishes, replacing any check still pending for it: at once when it was
/// not checked within `spacing`, else when `spacing` has passed since that check.
pub fn schedule(session: &Arc<Session>, uri: Uri, spacing: Duration) {
    let last = session
        .diagnostics
        .checked_at
        .lock()
        .unwrap()
        .get(&uri)
        .copied();
    let delay = last.map_or(Duration::ZERO, |t| spacing.saturating_sub(t.elapsed()));
    let task = {
        let (session, uri) = (session.clone(), uri.clone());
        tokio::spawn(async move {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            session
                .diagnostics
                .checked_at
                .lock()
                .unwrap()
                .insert(uri.clone(), Instant::now());
            publish(&session, &uri).await;
        })
    };
    let previous = session
        .diagnostics
        .pending
        .lock()
        .unwrap()
        .insert(uri, task.abort_handle());
    if let Some(p) = previous {
        p.abort();
    }
}

/// Re-checks every open document (after a configuration change).
pub fn schedule_all(session: &Arc<Session>) {
    for uri in session.documents.uris() {
        schedule(session, uri, Duration::ZERO);
    }
}

/// `didClose`: drops a pending check and clears the document's diagnostics.
pub fn clear(session: &Arc<Session>, uri: Uri) {
    if let Some(p) = session.diagnostics.pending.lock().unwrap().remove(&uri) {
        p.abort();
    }
    session.diagnostics.checked_at.lock().unwrap().remove(&uri);
    let session = session.clone();
    tokio::spawn(async move {
        let _guard = session.diagnostics.publish.lock().await;
        // Reopened meanwhile: the new document's own publish is authoritative.
        if session.documents.get(&uri).is_none() {
            session.client.publish_diagnostics(uri, vec![], None).await;
        }
    });
}

async fn publish(session: &Arc<Session>, uri: &Uri) {
    let Some(doc) = session.documents.get(uri) else {
        return;
    };
    let version = doc.version;
    let settings = session.settings();
    if !scripts::is_workflow(uri, &doc.language_id, &doc.text, &settings) {
        // It stopped being a workflow script: take back what was published for it.
        if doc.published {
            let _guard = session.diagnostics.publish.lock().await;
            if session
                .documents
                .update_if_current(uri, version, |d| d.published = false)
                .is_some()
            {
                session
                    .client
                    .publish_diagnostics(uri.clone(), vec![], Some(version))
                    .await;
            }
        }
        return;
    }
    let path = uri.to_file_path().map(|p| p.into_owned());
    let options = session.check_options_for(path.as_deref());
    let text = doc.text.clone();
    // The checker is CPU work: keep it off the threads that serve requests.
    let Ok(report) = tokio::task::spawn_blocking(move || check::check(&text, &options)).await
    else {
        return;
    };
    let found = Arc::new(report.diagnostics);
    let _guard = session.diagnostics.publish.lock().await;
    let current = session.documents.update_if_current(uri, version, |d| {
        d.checked = Some((version, found.clone()));
        d.published = true;
    });
    if current.is_none() {
        // A newer version arrived; its own check publishes.
        return;
    }
    let diagnostics = found.iter().map(to_proto::diagnostic).collect();
    session
        .client
        .publish_diagnostics(uri.clone(), diagnostics, Some(version))
        .await;
}
