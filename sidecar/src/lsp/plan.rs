//! `odw.plan` / `odw/plan`: the planner writes a checked, estimated workflow script, which is
//! then shown with `window/showDocument`. Planning asks a model and can take a while, so it runs
//! in a task of its own with `$/progress`; the request waits for that task, and a client that
//! gives up early still gets the document and a `window/showMessage` when it is done.

use super::runs::request_failed;
use super::session::Session;
use crate::plan::{self, ACCEPTED_TOPOLOGIES, PlanRequest, Topology};
use odw_protocol::lsp::{PlanParams, PlanResult};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::mpsc;
use tower_lsp_server::jsonrpc::{Error, Result};
use tower_lsp_server::ls_types::{self as lsp, MessageType, NumberOrString, Uri};

const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

static NEXT_PLAN: AtomicU64 = AtomicU64::new(1);

/// Plans `params.task` in the first workspace folder and returns `{uri, topology, estimate}`.
pub async fn plan(session: &Arc<Session>, params: PlanParams) -> Result<PlanResult> {
    let topology = match params.topology.as_deref() {
        None => None,
        Some(t) => Some(Topology::parse(t).ok_or_else(|| {
            Error::invalid_params(format!("unknown topology {t:?}: use {ACCEPTED_TOPOLOGIES}"))
        })?),
    };
    let cwd = session.default_workspace();
    let config = session.config_for(&cwd).map_err(request_failed)?;
    let mut req = PlanRequest::new(params.task, cwd, config, session.env.clone());
    req.topology = topology;
    req.use_model = !params.no_model;
    req.scheduler = Some(session.engine().await.scheduler());
    let (steps_tx, steps) = mpsc::unbounded_channel::<String>();
    req.progress = Some(Arc::new(move |step: &str| {
        let _ = steps_tx.send(step.to_string());
    }));
    let task = tokio::spawn(run(session.clone(), req, steps));
    task.await
        .map_err(|e| request_failed(format!("the planner stopped: {e}")))?
}

/// Plans with progress, then shows the script (or the error) whether or not anyone still waits.
async fn run(
    session: Arc<Session>,
    req: PlanRequest,
    mut steps: mpsc::UnboundedReceiver<String>,
) -> Result<PlanResult> {
    let client = session.client.clone();
    let token = NumberOrString::String(format!(
        "odw/plan/{}",
        NEXT_PLAN.fetch_add(1, Ordering::Relaxed)
    ));
    let shown = session.caps().work_done_progress
        && matches!(
            tokio::time::timeout(
                CLIENT_TIMEOUT,
                client.create_work_done_progress(token.clone())
            )
            .await,
            Ok(Ok(()))
        );
    let send = |value: lsp::WorkDoneProgress| {
        let (client, token) = (client.clone(), token.clone());
        async move {
            if shown {
                let params = lsp::ProgressParams {
                    token,
                    value: lsp::ProgressParamsValue::WorkDone(value),
                };
                client
                    .send_notification::<lsp::notification::Progress>(params)
                    .await;
            }
        }
    };
    send(lsp::WorkDoneProgress::Begin(lsp::WorkDoneProgressBegin {
        title: "odw: planning".into(),
        ..Default::default()
    }))
    .await;
    let planning = plan::plan(req);
    tokio::pin!(planning);
    let outcome = loop {
        tokio::select! {
            outcome = &mut planning => break outcome,
            Some(step) = steps.recv() => {
                send(lsp::WorkDoneProgress::Report(lsp::WorkDoneProgressReport {
                    message: Some(step),
                    ..Default::default()
                }))
                .await;
            }
        }
    };
    let end = match &outcome {
        Ok(o) => format!("wrote {}", o.path.display()),
        Err(_) => "failed".to_string(),
    };
    send(lsp::WorkDoneProgress::End(lsp::WorkDoneProgressEnd {
        message: Some(end),
    }))
    .await;
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            client
                .show_message(MessageType::ERROR, format!("odw: planning failed: {e}"))
                .await;
            return Err(request_failed(e.to_string()));
        }
    };
    let uri = Uri::from_file_path(&outcome.path).ok_or_else(|| {
        request_failed(format!("cannot name {} as a URI", outcome.path.display()))
    })?;
    let mut text = format!(
        "odw: wrote {} ({}, ≈{} agents · ≈${:.2})",
        outcome.path.display(),
        outcome.topology,
        outcome.estimate.agents,
        outcome.estimate.cost_usd
    );
    if let Some(n) = &outcome.notice {
        text.push_str(&format!("; {n}"));
    }
    client.show_message(MessageType::INFO, text).await;
    if session.caps().show_document {
        let params = lsp::ShowDocumentParams {
            uri: uri.clone(),
            external: None,
            take_focus: Some(true),
            selection: None,
        };
        let client = client.clone();
        tokio::spawn(async move {
            let _ = tokio::time::timeout(CLIENT_TIMEOUT, client.show_document(params)).await;
        });
    }
    Ok(PlanResult {
        uri: uri.as_str().to_string(),
        topology: outcome.topology.as_str().to_string(),
        estimate: outcome.estimate,
    })
}
