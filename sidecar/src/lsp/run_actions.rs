//! `▶ Run` / `Dry run` / `■ Cancel` / `⟳ Resume` / `Open result` as code actions on a workflow
//! script: the code lenses' commands for editors that show no lenses (Helix: `space a`).
//! The dry run's title carries its estimate, computed in the background on the simulated
//! provider (no journal entry, no request) and kept per document version.

use super::code_lens;
use super::session::Session;
use odw_protocol::lsp::{CMD_RESULT, CMD_RUN};
use odw_protocol::run::Estimate;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use tower_lsp_server::ls_types::{CodeAction, CodeActionKind, CodeActionOrCommand, Command, Uri};

/// How long a code action request waits for a fresh estimate before answering without it; the
/// estimate goes on in the background and shows the next time.
const ESTIMATE_WAIT: Duration = Duration::from_millis(1500);

/// `None` while the dry run is going; then its estimate, `None` when it failed.
type Pending = watch::Receiver<Option<Option<Estimate>>>;

/// The estimate of each document version, or the dry run computing it.
#[derive(Default)]
pub struct Estimates {
    by_uri: Mutex<HashMap<String, (i32, Pending)>>,
}

/// The run actions for a workflow document at `version`. `clean` is false when the checker
/// found errors: the script would not run, so there is nothing to estimate.
pub async fn actions(
    session: &Arc<Session>,
    uri: &Uri,
    text: &str,
    version: i32,
    clean: bool,
) -> Vec<CodeActionOrCommand> {
    let mut runs = session.runs.file(uri.as_str());
    if clean && let Some(estimate) = estimate(session, uri, text, version).await {
        runs.estimate = Some(estimate);
    }
    // The lenses need an entry line; actions are offered anywhere in the document.
    let mut commands: Vec<Command> = code_lens::lenses(uri, text, &runs)
        .into_iter()
        .filter_map(|l| l.command)
        .collect();
    if commands.is_empty() {
        commands.push(Command {
            title: "▶ Run".into(),
            command: CMD_RUN.into(),
            arguments: Some(vec![json!(uri.as_str())]),
        });
        commands.push(Command {
            title: "Dry run".into(),
            command: CMD_RUN.into(),
            arguments: Some(vec![json!({"uri": uri.as_str(), "dryRun": true})]),
        });
    }
    if let Some((id, _)) = &runs.last {
        commands.push(Command {
            title: format!("Open result of {id}"),
            command: CMD_RESULT.into(),
            arguments: Some(vec![json!(id.0)]),
        });
    }
    commands
        .into_iter()
        .map(|mut command| {
            // Listed among other servers' actions, each says whose it is.
            command.title = format!("odw: {}", command.title);
            CodeActionOrCommand::CodeAction(CodeAction {
                title: command.title.clone(),
                kind: Some(CodeActionKind::SOURCE),
                command: Some(command),
                ..Default::default()
            })
        })
        .collect()
}

/// The dry-run estimate of this version of the document, waiting at most [`ESTIMATE_WAIT`].
async fn estimate(session: &Arc<Session>, uri: &Uri, text: &str, version: i32) -> Option<Estimate> {
    let mut rx = {
        let mut by_uri = session.estimates.by_uri.lock().unwrap();
        match by_uri.get(uri.as_str()) {
            Some((v, rx)) if *v == version => rx.clone(),
            _ => {
                let (tx, rx) = watch::channel(None);
                by_uri.insert(uri.as_str().to_string(), (version, rx.clone()));
                tokio::spawn(compute(session.clone(), uri.clone(), text.to_string(), tx));
                rx
            }
        }
    };
    let ready = tokio::time::timeout(ESTIMATE_WAIT, rx.wait_for(Option::is_some)).await;
    match ready {
        Ok(Ok(value)) => value.clone().flatten(),
        _ => None,
    }
}

async fn compute(
    session: Arc<Session>,
    uri: Uri,
    text: String,
    tx: watch::Sender<Option<Option<Estimate>>>,
) {
    let Some(path) = uri.to_file_path().map(|p| p.into_owned()) else {
        let _ = tx.send(Some(None));
        return;
    };
    let cwd = session.workspace_of(&path);
    let estimate = match session.config_for(&cwd) {
        Ok(config) => crate::plan::dry_run_estimate(&text, &path, &cwd, &config, &session.env)
            .await
            .ok(),
        Err(_) => None,
    };
    let _ = tx.send(Some(estimate));
}
