//! The server's shared state: the client handle, the engine, open documents, settings and the
//! workspace folders. Handlers read it and return; background tasks hold an `Arc` of it.

use super::capabilities::ClientCaps;
use super::config::{self, Settings};
use super::diagnostics::Diagnostics;
use super::documents::Documents;
use super::run_actions::Estimates;
use super::runs::Runs;
use crate::check::CheckOptions;
use crate::config::{Config, Env};
use crate::engine::{Engine, EngineOptions};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::SystemTime;
use tower_lsp_server::Client;

/// Everything the handlers and background tasks share.
pub struct Session {
    pub client: Client,
    pub env: Env,
    pub documents: Documents,
    pub diagnostics: Diagnostics,
    pub runs: Arc<Runs>,
    /// Dry-run estimates for the run code actions, per document version.
    pub estimates: Estimates,
    /// Created on first use, so opening an editor never creates `.odw/` by itself.
    engine: tokio::sync::OnceCell<Engine>,
    caps: OnceLock<ClientCaps>,
    settings: RwLock<Arc<Settings>>,
    /// Bumped on every settings change, so cached configurations are rebuilt.
    generation: AtomicU64,
    folders: RwLock<Vec<PathBuf>>,
    configs: Mutex<HashMap<PathBuf, Cached>>,
    shutdown: AtomicBool,
    /// A problem with `initializationOptions`, told to the user once `initialized` arrives.
    notice: Mutex<Option<String>>,
    /// Held while an approval dialog is open: one at a time per client.
    dialog: Arc<tokio::sync::Mutex<()>>,
}

/// A workspace's configuration and what it was built from.
struct Cached {
    stamp: (u64, Option<SystemTime>, Option<SystemTime>),
    config: Config,
}

impl Session {
    /// A session before `initialize`.
    pub fn new(client: Client, env: Env) -> Self {
        Session {
            client,
            env,
            documents: Documents::default(),
            diagnostics: Diagnostics::default(),
            runs: Arc::new(Runs::default()),
            estimates: Estimates::default(),
            engine: tokio::sync::OnceCell::new(),
            caps: OnceLock::new(),
            settings: RwLock::new(Arc::new(Settings::default())),
            generation: AtomicU64::new(0),
            folders: RwLock::new(Vec::new()),
            configs: Mutex::new(HashMap::new()),
            shutdown: AtomicBool::new(false),
            notice: Mutex::new(None),
            dialog: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// How runs started from this client ask for approvals: its dialogs, when it declared it
    /// can show actions; otherwise nobody can be asked.
    pub fn approver(&self) -> Option<crate::engine::approve::ApproverHandle> {
        self.caps().message_actions.then(|| {
            crate::engine::approve::ApproverHandle(Arc::new(super::approve::EditorApprover::new(
                self.client.clone(),
                self.dialog.clone(),
            )))
        })
    }

    /// Records what `initialize` said. Called once.
    pub fn initialize(&self, caps: ClientCaps, settings: Settings, folders: Vec<PathBuf>) {
        let _ = self.caps.set(caps);
        self.set_settings(settings);
        *self.folders.write().unwrap() = folders;
    }

    /// Keeps a message for the user until the client can be told (after `initialize`).
    pub fn set_notice(&self, message: String) {
        *self.notice.lock().unwrap() = Some(message);
    }

    /// The message kept by [`set_notice`](Self::set_notice), once.
    pub fn take_notice(&self) -> Option<String> {
        self.notice.lock().unwrap().take()
    }

    /// The engine, created on first use with the journal of the first workspace folder
    /// (`ODW_DB` overrides).
    pub async fn engine(&self) -> Engine {
        self.engine.get_or_init(|| self.open_engine()).await.clone()
    }

    async fn open_engine(&self) -> Engine {
        let root = self.default_workspace();
        let concurrency =
            self.settings()
                .concurrency
                .or_else(|| self.config_for(&root).ok().map(|c| c.limits.concurrency))
                .unwrap_or(crate::config::Limits::default().concurrency) as usize;
        let db = self
            .env
            .get("ODW_DB")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::journal::default_path(&root));
        let opts = EngineOptions {
            concurrency,
            env: self.env.clone(),
            journal: Some(db),
        };
        match Engine::open(opts).await {
            Ok(engine) => engine,
            Err(e) => {
                tracing::warn!("runs will not be journaled (no resume): {e}");
                Engine::unjournaled(concurrency, self.env.clone())
            }
        }
    }

    /// The engine if a run or a query has created it.
    pub fn started_engine(&self) -> Option<Engine> {
        self.engine.get().cloned()
    }

    /// The client's capabilities (all false before `initialize`).
    pub fn caps(&self) -> ClientCaps {
        self.caps.get().copied().unwrap_or_default()
    }

    /// The current settings.
    pub fn settings(&self) -> Arc<Settings> {
        self.settings.read().unwrap().clone()
    }

    /// Replaces the settings (`workspace/didChangeConfiguration`).
    pub fn set_settings(&self, settings: Settings) {
        *self.settings.write().unwrap() = Arc::new(settings);
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether this client gets `odw/runEvent`: the setting when given, else the capability.
    pub fn run_events(&self) -> bool {
        self.settings().run_events.unwrap_or(self.caps().run_events)
    }

    /// Marks that `shutdown` was received (the exit code depends on it).
    pub fn set_shutdown(&self) {
        self.shutdown.store(true, Ordering::SeqCst);
    }

    /// Whether `shutdown` was received.
    pub fn shutdown_requested(&self) -> bool {
        self.shutdown.load(Ordering::SeqCst)
    }

    /// The workspace folder containing `path` (the innermost); else the nearest directory above
    /// it with an `odw.toml` or `.odw/` (a client that sent no folder still finds the project's
    /// configuration); else its directory.
    pub fn workspace_of(&self, path: &Path) -> PathBuf {
        let folders = self.folders.read().unwrap();
        folders
            .iter()
            .filter(|f| path.starts_with(f))
            .max_by_key(|f| f.as_os_str().len())
            .cloned()
            .or_else(|| {
                path.ancestors()
                    .skip(1)
                    .find(|d| d.join("odw.toml").is_file() || d.join(".odw").is_dir())
                    .map(Path::to_path_buf)
            })
            .or_else(|| path.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| self.default_workspace())
    }

    /// The workspace folders, else the server's current directory.
    pub fn folders(&self) -> Vec<PathBuf> {
        let folders = self.folders.read().unwrap().clone();
        if folders.is_empty() {
            vec![self.default_workspace()]
        } else {
            folders
        }
    }

    /// The first workspace folder, else the server's current directory.
    pub fn default_workspace(&self) -> PathBuf {
        self.folders
            .read()
            .unwrap()
            .first()
            .cloned()
            .or_else(|| std::env::current_dir().ok())
            .unwrap_or_else(|| PathBuf::from("."))
    }

    /// The effective configuration of a workspace, rebuilt when its files or the settings change.
    pub fn config_for(&self, workspace: &Path) -> Result<Config, String> {
        let mtime = |p: PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
        let user = self
            .env
            .get("XDG_CONFIG_HOME")
            .map(|x| Path::new(x).join("odw/config.toml"))
            .or_else(|| {
                self.env
                    .get("HOME")
                    .map(|h| Path::new(h).join(".config/odw/config.toml"))
            });
        let stamp = (
            self.generation.load(Ordering::SeqCst),
            mtime(workspace.join("odw.toml")),
            user.and_then(mtime),
        );
        if let Some(c) = self.configs.lock().unwrap().get(workspace)
            && c.stamp == stamp
        {
            return Ok(c.config.clone());
        }
        let config = config::load(workspace, &self.env, &self.settings().overrides)?;
        self.configs.lock().unwrap().insert(
            workspace.to_path_buf(),
            Cached {
                stamp,
                config: config.clone(),
            },
        );
        Ok(config)
    }

    /// Checker options for a script at `path` (routes from its workspace's configuration).
    pub fn check_options_for(&self, path: Option<&Path>) -> CheckOptions {
        let workspace = match path {
            Some(p) => self.workspace_of(p),
            None => self.default_workspace(),
        };
        match self.config_for(&workspace) {
            Ok(c) => crate::check::options_for(&c),
            // A broken odw.toml is reported when a run starts; the checker skips routes meanwhile.
            Err(_) => CheckOptions::default(),
        }
    }
}
