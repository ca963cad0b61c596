//! The server's state: one engine per run journal (a workspace's `.odw/odw.db`, or the one
//! `ODW_DB` names), created on first use the way the CLI opens them.

use crate::config::{Config, Env};
use crate::engine::{Engine, EngineOptions};
use odw_protocol::RunId;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub struct Session {
    pub env: Env,
    /// The workspace of requests without `cwd`: the directory the server was started in.
    pub home: PathBuf,
    /// Engines by journal path, in creation order. An async lock: opening a journal waits on
    /// a blocking thread, and two requests must not open the same one twice.
    engines: tokio::sync::Mutex<Vec<(PathBuf, Engine)>>,
}

impl Session {
    pub fn new(env: Env, home: PathBuf) -> Self {
        Session {
            env,
            home,
            engines: tokio::sync::Mutex::new(Vec::new()),
        }
    }

    /// The workspace a request names (relative to the server's directory), which must exist.
    pub fn workspace(&self, cwd: Option<&str>) -> Result<PathBuf, String> {
        let Some(cwd) = cwd else {
            return Ok(self.home.clone());
        };
        let dir = self.home.join(cwd);
        if !dir.is_dir() {
            return Err(format!(
                "cwd {}: no such directory (odw does not create it)",
                dir.display()
            ));
        }
        Ok(dir.canonicalize().unwrap_or(dir))
    }

    /// The effective configuration of a workspace, as the CLI loads it.
    pub fn config_for(&self, workspace: &Path) -> Result<Config, String> {
        Config::load(workspace, &self.env).map_err(|e| e.to_string())
    }

    fn journal_path(&self, workspace: &Path) -> PathBuf {
        self.env
            .get("ODW_DB")
            .map(|p| self.home.join(p))
            .unwrap_or_else(|| crate::journal::default_path(workspace))
    }

    /// The engine journaling the runs of `workspace`. Must be called inside the runtime.
    pub async fn engine_for(&self, workspace: &Path) -> Result<Engine, String> {
        let db = self.journal_path(workspace);
        let mut engines = self.engines.lock().await;
        if let Some((_, e)) = engines.iter().find(|(p, _)| *p == db) {
            return Ok(e.clone());
        }
        let concurrency = self
            .config_for(workspace)
            .map(|c| c.limits.concurrency)
            .unwrap_or(crate::config::Limits::default().concurrency);
        let engine = Engine::open(EngineOptions {
            concurrency: concurrency as usize,
            env: self.env.clone(),
            journal: Some(db.clone()),
        })
        .await
        .map_err(|e| e.to_string())?;
        engines.push((db, engine.clone()));
        Ok(engine)
    }

    /// Every engine opened so far; the home workspace's first.
    pub async fn engines(&self) -> Vec<Engine> {
        if let Err(e) = self.engine_for(&self.home.clone()).await {
            tracing::warn!("cannot open the run journal: {e}");
        }
        let engines = self.engines.lock().await;
        engines.iter().map(|(_, e)| e.clone()).collect()
    }

    /// The engine that knows a run: it executes it, or its journal has it.
    pub async fn find(&self, id: &RunId) -> Result<Engine, String> {
        let engines = self.engines().await;
        if engines.is_empty() {
            return Err("cannot open the run journal (see the server's log)".into());
        }
        for engine in engines {
            if engine.knows(id).await {
                return Ok(engine);
            }
        }
        Err(format!("unknown workflowId {id}: list runs with odw_list"))
    }

    /// Cancels every live run (they stay resumable) and waits a little for them to settle.
    pub async fn finish_all(&self, grace: Duration) {
        let engines: Vec<Engine> = self
            .engines
            .lock()
            .await
            .iter()
            .map(|(_, e)| e.clone())
            .collect();
        let mut waits = Vec::new();
        for engine in engines {
            for id in engine.live_runs() {
                engine.cancel(&id);
                let engine = engine.clone();
                waits.push(async move { engine.wait(&id).await });
            }
        }
        let _ = tokio::time::timeout(grace, futures::future::join_all(waits)).await;
    }
}
