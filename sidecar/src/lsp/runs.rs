//! Run lifecycle: start runs for the editor, follow each run's events into `$/progress`,
//! `odw/runEvent` and the final messages, and remember each file's runs for the code lenses.
//! Everything here happens in spawned tasks; handlers only start runs and return.

use super::progress::{self, RunProgress};
use super::session::Session;
use super::to_proto::{self, RunEventNotification};
use crate::engine::events::RunEvents;
use crate::engine::{Engine, RunRequest};
use odw_protocol::lsp::{ResumeParams, RunParams};
use odw_protocol::run::Estimate;
use odw_protocol::{EventKind, RunId, RunResult, RunState};
use serde_json::json;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tower_lsp_server::jsonrpc::{Error, ErrorCode};
use tower_lsp_server::ls_types::{self as lsp, Uri};

/// At most one progress report per run in this interval, so thousands of agents do not flood
/// the editor (the `end` is always sent).
const REPORT_INTERVAL: Duration = Duration::from_millis(100);
/// How long to wait for the client to answer a request of ours before going on without it.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);

/// The runs this server started, and each script's history.
#[derive(Default)]
pub struct Runs {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Every run in start order.
    started: Vec<RunId>,
    /// The script (URI) of each run started from one.
    file_of: HashMap<RunId, String>,
    files: HashMap<String, FileRuns>,
    followers: Vec<JoinHandle<()>>,
}

/// What this session knows about a script's runs.
#[derive(Debug, Clone, Default)]
pub struct FileRuns {
    pub live: Vec<RunId>,
    /// The last finished run that was not a dry run.
    pub last: Option<(RunId, RunState)>,
    /// The last dry run's estimate.
    pub estimate: Option<Estimate>,
}

impl Runs {
    /// The runs of a script (by URI).
    pub fn file(&self, uri: &str) -> FileRuns {
        self.inner
            .lock()
            .unwrap()
            .files
            .get(uri)
            .cloned()
            .unwrap_or_default()
    }

    /// The most recently started run that is still live.
    pub fn newest_live(&self, engine: &Engine) -> Option<RunId> {
        let live = engine.live_runs();
        let inner = self.inner.lock().unwrap();
        inner
            .started
            .iter()
            .rev()
            .find(|id| live.contains(id))
            .cloned()
    }

    /// Follows a run the engine just started.
    fn register(
        &self,
        session: &Arc<Session>,
        engine: &Engine,
        id: &RunId,
        file: Option<String>,
        name: String,
        workspace: PathBuf,
    ) {
        let Some(events) = engine.events(id) else {
            return;
        };
        let mut inner = self.inner.lock().unwrap();
        inner.started.push(id.clone());
        if let Some(f) = file {
            inner
                .files
                .entry(f.clone())
                .or_default()
                .live
                .push(id.clone());
            inner.file_of.insert(id.clone(), f);
        }
        inner.followers.retain(|f| !f.is_finished());
        let task = tokio::spawn(follow(session.clone(), id.clone(), name, workspace, events));
        inner.followers.push(task);
    }

    fn finished(&self, id: &RunId, result: Option<&RunResult>) {
        let mut inner = self.inner.lock().unwrap();
        let Some(file) = inner.file_of.get(id).cloned() else {
            return;
        };
        let runs = inner.files.entry(file).or_default();
        runs.live.retain(|r| r != id);
        match result {
            Some(r) if r.estimate.is_some() => runs.estimate = r.estimate.clone(),
            Some(r) => runs.last = Some((id.clone(), r.state)),
            None => {}
        }
    }
}

/// A JSON-RPC error for a request that was well-formed but could not be carried out.
pub fn request_failed(message: impl Into<String>) -> Error {
    Error {
        code: ErrorCode::ServerError(-32803),
        message: message.into().into(),
        data: None,
    }
}

/// The script a run request names.
struct Script {
    text: String,
    path: Option<PathBuf>,
    cwd: PathBuf,
    /// The URI, for the per-file history.
    key: Option<String>,
    name: String,
}

async fn resolve_script(session: &Session, params: &RunParams) -> Result<Script, Error> {
    let Some(raw) = params.uri.as_deref() else {
        let text = params
            .text
            .clone()
            .ok_or_else(|| Error::invalid_params("odw.run needs a `uri` or a `text`"))?;
        return Ok(Script {
            text,
            path: None,
            cwd: session.default_workspace(),
            key: None,
            name: "inline script".into(),
        });
    };
    let uri = parse_uri(session, raw)?;
    let path = (uri.scheme().as_str() == "file")
        .then(|| uri.to_file_path().map(|p| p.into_owned()))
        .flatten();
    let text = match (&params.text, session.documents.get(&uri), &path) {
        (Some(t), _, _) => t.clone(),
        // The editor's buffer, unsaved edits included.
        (None, Some(doc), _) => doc.text.to_string(),
        (None, None, Some(p)) => tokio::fs::read_to_string(p)
            .await
            .map_err(|e| Error::invalid_params(format!("cannot read {}: {e}", p.display())))?,
        (None, None, None) => {
            return Err(Error::invalid_params(format!(
                "{raw} is neither open nor a file"
            )));
        }
    };
    let cwd = path
        .as_deref()
        .map(|p| session.workspace_of(p))
        .unwrap_or_else(|| session.default_workspace());
    let name = progress::script_name(uri.path().as_str());
    Ok(Script {
        text,
        path,
        cwd,
        key: Some(uri.as_str().to_string()),
        name,
    })
}

/// A URI, or a plain path: absolute, or relative as editors hand it over (Helix's
/// `%{buffer_name}` is relative to the directory `hx` was started in, which the server does not
/// know). A relative path is matched against the open documents and the workspace folders; it
/// must name exactly one file.
fn parse_uri(session: &Session, raw: &str) -> Result<Uri, Error> {
    if let Ok(uri) = raw.parse::<Uri>()
        && uri.scheme().as_str().len() > 1
    {
        return Ok(uri);
    }
    let path = Path::new(raw);
    if path.is_absolute() {
        return Uri::from_file_path(path)
            .ok_or_else(|| Error::invalid_params(format!("not a usable path: {raw}")));
    }
    let open: Vec<PathBuf> = session
        .documents
        .uris()
        .iter()
        .filter_map(|u| u.to_file_path().map(|p| p.into_owned()))
        .collect();
    let found = match_relative(path, &open, &session.folders())?;
    match found.as_slice() {
        [one] => Uri::from_file_path(one)
            .ok_or_else(|| Error::invalid_params(format!("not a usable path: {raw}"))),
        [] => Err(Error::invalid_params(format!(
            "{raw}: no open document and no file in the workspace has this path; \
             give an absolute path or a file:// URI"
        ))),
        many => Err(Error::invalid_params(format!(
            "{raw} is ambiguous: it names {}; give an absolute path or a file:// URI",
            many.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The files a relative path may name: open documents whose path ends with it, and files of
/// that name under each workspace folder, without duplicates. Leading `./` and `../` are
/// dropped, since the directory they are relative to is the editor's, not ours.
fn match_relative(
    relative: &Path,
    open: &[PathBuf],
    folders: &[PathBuf],
) -> Result<Vec<PathBuf>, Error> {
    use std::path::Component;
    let tail: PathBuf = relative
        .components()
        .skip_while(|c| matches!(c, Component::CurDir | Component::ParentDir))
        .collect();
    if tail.as_os_str().is_empty()
        || tail
            .components()
            .any(|c| !matches!(c, Component::Normal(_)))
    {
        return Err(Error::invalid_params(format!(
            "{}: not a file path",
            relative.display()
        )));
    }
    let mut found: Vec<PathBuf> = open
        .iter()
        .filter(|p| p.ends_with(&tail))
        .cloned()
        .collect();
    for folder in folders {
        let candidate = folder.join(&tail);
        if candidate.is_file() {
            found.push(candidate);
        }
    }
    // The same file may be reached as an open document and through a folder, or through a
    // symlinked folder.
    let mut seen = std::collections::HashSet::new();
    found.retain(|p| seen.insert(std::fs::canonicalize(p).unwrap_or_else(|_| p.clone())));
    Ok(found)
}

/// Starts a run and its follower; returns at once.
pub async fn start(session: &Arc<Session>, params: &RunParams) -> Result<RunId, Error> {
    let engine = session.engine().await;
    let script = resolve_script(session, params).await?;
    let config = session.config_for(&script.cwd).map_err(request_failed)?;
    let settings = session.settings();
    let req = RunRequest {
        script_path: script.path,
        script_text: script.text,
        args: params.args.clone().unwrap_or_else(|| json!({})),
        cwd: script.cwd.clone(),
        model: params.model.clone().or_else(|| settings.model.clone()),
        budget: params.budget.clone().unwrap_or_default(),
        concurrency: params.concurrency,
        dry_run: params.dry_run,
        config,
        approver: session.approver(),
        allow: Vec::new(),
        deny: Vec::new(),
    };
    let id = engine
        .start(req)
        .await
        .map_err(|e| request_failed(e.to_string()))?;
    session
        .runs
        .register(session, &engine, &id, script.key, script.name, script.cwd);
    Ok(id)
}

/// Resumes a run from the journal; the new run is followed like any other.
pub async fn resume(session: &Arc<Session>, params: &ResumeParams) -> Result<RunId, Error> {
    let engine = session.engine().await;
    // Read first, so the new run is registered as soon as it starts.
    let row = engine.recorded_run(&params.run_id).await.ok().flatten();
    let id = engine
        .resume(
            &params.run_id,
            crate::engine::ResumeOptions {
                budget: params.budget.clone(),
                approver: session.approver(),
                ..Default::default()
            },
        )
        .await
        .map_err(|e| request_failed(e.to_string()))?;
    let known = session
        .runs
        .inner
        .lock()
        .unwrap()
        .file_of
        .get(&params.run_id)
        .cloned();
    // A run of an earlier session: its script's path is in the journal.
    let file = known.or_else(|| {
        let row = row.as_ref()?;
        Uri::from_file_path(&row.script_path).map(|u| u.as_str().to_string())
    });
    let name = file
        .as_deref()
        .map(progress::script_name)
        .unwrap_or_else(|| format!("resume of {}", params.run_id));
    let workspace = row.map_or_else(|| session.default_workspace(), |r| r.cwd);
    session
        .runs
        .register(session, &engine, &id, file, name, workspace);
    Ok(id)
}

/// Cancels every live run, without waiting.
pub fn cancel_all(session: &Session) {
    if let Some(engine) = session.started_engine() {
        for id in engine.live_runs() {
            engine.cancel(&id);
        }
    }
}

/// Cancels every live run and waits (at most `timeout`) until they ended and their followers
/// told the client.
pub async fn finish_all(session: &Arc<Session>, timeout: Duration) {
    let Some(engine) = session.started_engine() else {
        return;
    };
    let live = engine.live_runs();
    for id in &live {
        engine.cancel(id);
    }
    let followers = std::mem::take(&mut session.runs.inner.lock().unwrap().followers);
    let _ = tokio::time::timeout(timeout, async {
        for id in &live {
            engine.wait(id).await;
        }
        for f in followers {
            let _ = f.await;
        }
    })
    .await;
}

/// Cancels a run when dropped, unless disarmed: `odw/run` with `wait: true` holds one, so a
/// `$/cancelRequest` (which drops the handler's future) cancels the run.
pub struct CancelOnDrop {
    engine: Engine,
    id: Option<RunId>,
}

impl CancelOnDrop {
    /// Arms the guard for `id`.
    pub fn new(engine: Engine, id: RunId) -> Self {
        CancelOnDrop {
            engine,
            id: Some(id),
        }
    }

    /// The run ended by itself: nothing to cancel.
    pub fn disarm(mut self) {
        self.id = None;
    }
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            self.engine.cancel(&id);
        }
    }
}

/// Follows one run: progress begin/report/end, `odw/runEvent`s, then the final message, the
/// result document and a code lens refresh.
async fn follow(
    session: Arc<Session>,
    id: RunId,
    name: String,
    workspace: PathBuf,
    mut events: RunEvents,
) {
    let client = session.client.clone();
    let caps = session.caps();
    let run_events = session.run_events();
    let token = to_proto::progress_token(&id);
    let mut progress = RunProgress::new(&name);
    let mut done = false;

    // The first event (`runStarted`) names the script for the progress title.
    if let Some(first) = events.recv().await {
        if run_events {
            client
                .send_notification::<RunEventNotification>(first.clone())
                .await;
        }
        progress.apply(&first.kind);
        done = matches!(first.kind, EventKind::RunFinished { .. });
    }
    let shown = caps.work_done_progress
        && matches!(
            tokio::time::timeout(
                CLIENT_TIMEOUT,
                client.create_work_done_progress(token.clone())
            )
            .await,
            Ok(Ok(()))
        );
    if shown {
        let begin = lsp::WorkDoneProgressBegin {
            title: progress.title(),
            cancellable: Some(true),
            message: Some(progress.message(events.tally())),
            percentage: Some(progress.percentage(events.tally())),
        };
        send_progress(&session, &token, lsp::WorkDoneProgress::Begin(begin)).await;
    }

    let mut dirty = false;
    let mut next_report = Instant::now();
    while !done {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                if run_events {
                    client.send_notification::<RunEventNotification>(event.clone()).await;
                }
                dirty |= progress.apply(&event.kind);
                done = matches!(event.kind, EventKind::RunFinished { .. });
            }
            () = tokio::time::sleep_until(next_report), if dirty && shown => {
                let report = lsp::WorkDoneProgressReport {
                    cancellable: Some(true),
                    message: Some(progress.message(events.tally())),
                    percentage: Some(progress.percentage(events.tally())),
                };
                send_progress(&session, &token, lsp::WorkDoneProgress::Report(report)).await;
                dirty = false;
                next_report = Instant::now() + REPORT_INTERVAL;
            }
        }
    }

    let result = match session.started_engine() {
        Some(engine) => engine.wait(&id).await,
        None => None,
    };
    session.runs.finished(&id, result.as_ref());
    if shown {
        let message = result.as_ref().map(progress::end_message);
        send_progress(
            &session,
            &token,
            lsp::WorkDoneProgress::End(lsp::WorkDoneProgressEnd { message }),
        )
        .await;
    }
    let Some(result) = result else {
        return;
    };
    tell_outcome(&session, progress.name(), &workspace, &result).await;
}

/// The final `showMessage`, the result document (only when the user asked for it with the
/// `openResult` setting, and only for a run that succeeded) and a code lens refresh.
async fn tell_outcome(session: &Arc<Session>, name: &str, workspace: &Path, result: &RunResult) {
    let caps = session.caps();
    let kind = if result.state == RunState::Succeeded {
        lsp::MessageType::INFO
    } else {
        lsp::MessageType::ERROR
    };
    session
        .client
        .show_message(kind, progress::final_message(name, result, workspace))
        .await;
    // Opening a document replaces what the user is looking at (Helix shows it in the current
    // view), so it happens only when asked for; never for a dry run (simulated replies), a run
    // that did not succeed, or a client that is shutting down.
    if caps.show_document
        && session.settings().open_result
        && result.state == RunState::Succeeded
        && result.estimate.is_none()
        && !session.shutdown_requested()
        && let Some(path) = &result.result_path
    {
        show_document(session, path);
    }
    if caps.code_lens_refresh {
        let client = session.client.clone();
        // Never wait for the client inside the run's follower: the refresh is fire-and-forget.
        tokio::spawn(async move {
            let _ = tokio::time::timeout(CLIENT_TIMEOUT, client.code_lens_refresh()).await;
        });
    }
}

/// Asks the client to open a file, without waiting for the answer.
pub fn show_document(session: &Arc<Session>, path: &str) {
    let Some(uri) = Uri::from_file_path(path) else {
        return;
    };
    let client = session.client.clone();
    tokio::spawn(async move {
        let params = lsp::ShowDocumentParams {
            uri,
            external: None,
            take_focus: None,
            selection: None,
        };
        let _ = tokio::time::timeout(CLIENT_TIMEOUT, client.show_document(params)).await;
    });
}

async fn send_progress(
    session: &Session,
    token: &lsp::ProgressToken,
    value: lsp::WorkDoneProgress,
) {
    let params = lsp::ProgressParams {
        token: token.clone(),
        value: lsp::ProgressParamsValue::WorkDone(value),
    };
    session
        .client
        .send_notification::<lsp::notification::Progress>(params)
        .await;
}

#[cfg(test)]
mod tests {
    use super::match_relative;
    use std::path::Path;

    #[test]
    fn relative_paths_resolve_against_open_documents_and_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        for f in ["a/x.workflow.js", "b/x.workflow.js", "a/only.workflow.js"] {
            std::fs::create_dir_all(root.join(f).parent().unwrap()).unwrap();
            std::fs::write(root.join(f), "").unwrap();
        }
        let open = vec![root.join("a/x.workflow.js"), root.join("b/x.workflow.js")];
        let folders = vec![root.clone()];
        let one = |p: &str| match_relative(Path::new(p), &open, &folders).unwrap();
        // Started in the project root: `a/x.workflow.js`, an open document and a file.
        assert_eq!(one("a/x.workflow.js"), [root.join("a/x.workflow.js")]);
        // Started in `a/`: `x.workflow.js` is both open documents' tail.
        assert_eq!(one("x.workflow.js").len(), 2);
        // Started in `b/` with `a/` open: `../a/x.workflow.js`.
        assert_eq!(one("../a/x.workflow.js"), [root.join("a/x.workflow.js")]);
        // Not open, but in the workspace.
        assert_eq!(
            one("./a/only.workflow.js"),
            [root.join("a/only.workflow.js")]
        );
        assert!(one("nope.workflow.js").is_empty());
        assert!(match_relative(Path::new(".."), &open, &folders).is_err());
    }
}
