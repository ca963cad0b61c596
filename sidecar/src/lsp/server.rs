//! The `LanguageServer` implementation: thin handlers that read the session and return at once.
//! Notification handlers do their work before their first `.await` (they have none), so
//! document edits are applied in the order they arrive.

use super::capabilities::{self, ClientCaps};
use super::code_lens;
use super::commands;
use super::completion;
use super::config::Settings;
use super::diagnostics::{self, DEBOUNCE};
use super::documents::offset_at;
use super::hover;
use super::runs;
use super::scripts;
use super::session::Session;
use super::to_proto;
use crate::check::LineIndex;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tower_lsp_server::jsonrpc::Result;
use tower_lsp_server::ls_types::*;
use tower_lsp_server::{Client, LanguageServer};

/// How long `shutdown` waits for cancelled runs to settle.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The odw language server.
pub struct Backend {
    session: Arc<Session>,
}

impl Backend {
    /// A server talking to `client`.
    pub fn new(client: Client, env: crate::config::Env) -> Self {
        Backend {
            session: Arc::new(Session::new(client, env)),
        }
    }

    /// The shared session (the process keeps it to settle runs after `exit`).
    pub fn session(&self) -> Arc<Session> {
        self.session.clone()
    }

    /// `odw/run` and the other custom requests: the command with the request's params.
    pub async fn odw_run(&self, params: Value) -> Result<Value> {
        commands::run(&self.session, commands::request_args(params), true).await
    }

    /// `odw/cancel`.
    pub async fn odw_cancel(&self, params: Value) -> Result<Value> {
        self.command(odw_protocol::lsp::CMD_CANCEL, params).await
    }

    /// `odw/resume`.
    pub async fn odw_resume(&self, params: Value) -> Result<Value> {
        self.command(odw_protocol::lsp::CMD_RESUME, params).await
    }

    /// `odw/plan`.
    pub async fn odw_plan(&self, params: Value) -> Result<Value> {
        self.command(odw_protocol::lsp::CMD_PLAN, params).await
    }

    /// `odw/runs`.
    pub async fn odw_runs(&self, params: Value) -> Result<Value> {
        self.command(odw_protocol::lsp::CMD_RUNS, params).await
    }

    /// `odw/result`.
    pub async fn odw_result(&self, params: Value) -> Result<Value> {
        self.command(odw_protocol::lsp::CMD_RESULT, params).await
    }

    /// `window/workDoneProgress/cancel`: cancels the run behind the token.
    pub async fn progress_cancel(&self, params: WorkDoneProgressCancelParams) {
        if let (Some(id), Some(engine)) = (
            to_proto::run_of_token(&params.token),
            self.session.started_engine(),
        ) {
            engine.cancel(&id);
        }
    }

    async fn command(&self, name: &str, params: Value) -> Result<Value> {
        commands::execute(&self.session, name, commands::request_args(params)).await
    }

    /// The document at `uri` when it is an open workflow script.
    fn workflow_doc(&self, uri: &Uri) -> Option<super::documents::Document> {
        let doc = self.session.documents.get(uri)?;
        let settings = self.session.settings();
        scripts::is_workflow(uri, &doc.language_id, &doc.text, &settings).then_some(doc)
    }
}

impl LanguageServer for Backend {
    async fn initialize(&self, params: InitializeParams) -> Result<InitializeResult> {
        let caps = ClientCaps::from_client(&params.capabilities);
        let settings = match params.initialization_options.as_ref() {
            Some(v) => Settings::from_json(v).unwrap_or_else(|e| {
                self.session
                    .set_notice(format!("odw: {e}; using the default settings"));
                Settings::default()
            }),
            None => Settings::default(),
        };
        let mut folders: Vec<PathBuf> = params
            .workspace_folders
            .iter()
            .flatten()
            .filter_map(|f| f.uri.to_file_path().map(|p| p.into_owned()))
            .collect();
        #[allow(deprecated)]
        if folders.is_empty()
            && let Some(root) = params.root_uri.as_ref().and_then(|u| u.to_file_path())
        {
            folders.push(root.into_owned());
        }
        // Helix outside a repository sends no folder and no root URI, only the (deprecated)
        // root path: the directory it was started in.
        #[allow(deprecated)]
        if folders.is_empty()
            && let Some(root) = params.root_path.as_deref().filter(|p| !p.is_empty())
        {
            folders.push(PathBuf::from(root));
        }
        self.session.initialize(caps, settings, folders);
        Ok(InitializeResult {
            capabilities: capabilities::server(),
            server_info: Some(ServerInfo {
                name: "odw".into(),
                version: Some(env!("CARGO_PKG_VERSION").into()),
            }),
            ..Default::default()
        })
    }

    async fn initialized(&self, _: InitializedParams) {
        if let Some(notice) = self.session.take_notice() {
            let client = self.session.client.clone();
            tokio::spawn(async move { client.show_message(MessageType::ERROR, notice).await });
        }
    }

    async fn shutdown(&self) -> Result<()> {
        self.session.set_shutdown();
        // Live runs end `cancelled` (and stay resumable) before the client is told we are done.
        runs::finish_all(&self.session, SHUTDOWN_GRACE).await;
        Ok(())
    }

    async fn did_open(&self, params: DidOpenTextDocumentParams) {
        let d = params.text_document;
        self.session
            .documents
            .open(d.uri.clone(), d.text, d.version, d.language_id);
        diagnostics::schedule(&self.session, d.uri, Duration::ZERO);
    }

    async fn did_change(&self, params: DidChangeTextDocumentParams) {
        let d = params.text_document;
        if self
            .session
            .documents
            .change(&d.uri, d.version, params.content_changes)
        {
            diagnostics::schedule(&self.session, d.uri, DEBOUNCE);
        }
    }

    async fn did_close(&self, params: DidCloseTextDocumentParams) {
        self.session.documents.close(&params.text_document.uri);
        diagnostics::clear(&self.session, params.text_document.uri);
    }

    async fn did_change_configuration(&self, params: DidChangeConfigurationParams) {
        match Settings::from_json(&params.settings) {
            Ok(s) => {
                self.session.set_settings(s);
                diagnostics::schedule_all(&self.session);
            }
            Err(e) => {
                let client = self.session.client.clone();
                tokio::spawn(async move { client.show_message(MessageType::ERROR, e).await });
            }
        }
    }

    async fn hover(&self, params: HoverParams) -> Result<Option<Hover>> {
        let p = params.text_document_position_params;
        let Some(doc) = self.workflow_doc(&p.text_document.uri) else {
            return Ok(None);
        };
        let offset = offset_at(&doc.text, p.position);
        let index = LineIndex::new(&doc.text);
        let to_range = |s: usize, e: usize| {
            Range::new(
                to_proto::position(index.position(s as u32)),
                to_proto::position(index.position(e as u32)),
            )
        };
        Ok(hover::hover(&doc.text, offset, to_range))
    }

    async fn completion(&self, params: CompletionParams) -> Result<Option<CompletionResponse>> {
        let p = params.text_document_position;
        let Some(doc) = self.workflow_doc(&p.text_document.uri) else {
            return Ok(None);
        };
        let by_trigger = params
            .context
            .is_some_and(|c| c.trigger_kind == CompletionTriggerKind::TRIGGER_CHARACTER);
        let offset = offset_at(&doc.text, p.position);
        Ok(completion::complete(&doc.text, offset, by_trigger))
    }

    async fn code_action(&self, params: CodeActionParams) -> Result<Option<CodeActionResponse>> {
        let uri = params.text_document.uri;
        let Some(doc) = self.workflow_doc(&uri) else {
            return Ok(None);
        };
        let found = match doc.checked {
            Some((v, found)) if v == doc.version => found,
            // Not checked yet (the debounce is pending): check now, it is one parse.
            _ => {
                let path = uri.to_file_path().map(|p| p.into_owned());
                let options = self.session.check_options_for(path.as_deref());
                Arc::new(crate::check::check(&doc.text, &options).diagnostics)
            }
        };
        let mut actions: Vec<CodeActionOrCommand> = found
            .iter()
            .filter(|d| to_proto::overlaps(to_proto::range(d.range), params.range))
            .filter_map(|d| d.fix.as_ref().map(|f| to_proto::quick_fix(&uri, d, f)))
            .map(CodeActionOrCommand::CodeAction)
            .collect();
        // Quick fixes only, when that is all the client asked for.
        let wants_source = params.context.only.as_ref().is_none_or(|only| {
            only.iter()
                .any(|k| CodeActionKind::SOURCE.as_str().starts_with(k.as_str()))
        });
        if wants_source {
            let clean = !found
                .iter()
                .any(|d| d.severity == odw_protocol::Severity::Error);
            actions.extend(
                super::run_actions::actions(&self.session, &uri, &doc.text, doc.version, clean)
                    .await,
            );
        }
        Ok(Some(actions))
    }

    async fn code_lens(&self, params: CodeLensParams) -> Result<Option<Vec<CodeLens>>> {
        let uri = params.text_document.uri;
        let Some(doc) = self.workflow_doc(&uri) else {
            return Ok(None);
        };
        let runs = self.session.runs.file(uri.as_str());
        Ok(Some(code_lens::lenses(&uri, &doc.text, &runs)))
    }

    async fn execute_command(&self, params: ExecuteCommandParams) -> Result<Option<Value>> {
        commands::execute(&self.session, &params.command, params.arguments)
            .await
            .map(Some)
    }
}
