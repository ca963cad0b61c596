//! The planner: from a one-line task to a checked, estimated workflow script (`odw plan`,
//! `odw/plan`), and the six topology templates (`odw new`).
//!
//! With a planning model, one conversation: the versioned system prompt (`prompts/`), the task,
//! then up to [`REPAIR_ROUNDS`] repair rounds that quote the checker's diagnostics (or the dry
//! run's failure). Without one, a deterministic classifier picks the topology and the template is
//! filled with the task. Either way the script is checked, dry-run for an estimate, and written
//! with a header; it is never run.

mod classify;
pub mod helpers;
mod model;
mod script;
mod topology;
mod validate;

pub use classify::classify;
pub use model::PROMPT_VERSION;
pub use script::{extract, slug};
pub use topology::{ACCEPTED as ACCEPTED_TOPOLOGIES, Topology};
pub use validate::dry_run_estimate;

use crate::budget::Budget;
use crate::config::{Config, Env};
use crate::providers::TokenUsage;
use crate::scheduler::Scheduler;
use odw_protocol::Diagnostic;
use odw_protocol::run::Estimate;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use validate::Verdict;

/// How often a reply with errors is sent back for repair.
pub const REPAIR_ROUNDS: u32 = 2;

/// Called with a short line whenever the planner starts a step (for progress displays).
pub type Progress = Arc<dyn Fn(&str) + Send + Sync>;

/// What to plan.
#[derive(Clone)]
pub struct PlanRequest {
    /// The task in the user's words.
    pub task: String,
    /// The topology to use; `None` lets the model (or the classifier) choose.
    pub topology: Option<Topology>,
    /// Where to write the script (relative to `cwd`); `None`: `<slug>.workflow.js` in `cwd`.
    pub output: Option<PathBuf>,
    /// Overwrite `output` when it exists.
    pub force: bool,
    /// False: never ask a model, fill the built-in template (`odw plan --no-model`).
    pub use_model: bool,
    /// The workspace root: the dry run and the script's tools see it.
    pub cwd: PathBuf,
    pub config: Config,
    pub env: Env,
    pub progress: Option<Progress>,
    /// Caps on the planning conversation's spend; uncapped by default.
    pub budget: odw_protocol::run::Budget,
    /// The scheduler to share (an engine's), so planning waits in the same fair queue as runs;
    /// `None`: one of the planner's own, sized by `[limits] concurrency`.
    pub scheduler: Option<Scheduler>,
}

impl PlanRequest {
    /// A request with the defaults: the model chooses, the file is named after the task.
    pub fn new(task: impl Into<String>, cwd: PathBuf, config: Config, env: Env) -> Self {
        PlanRequest {
            task: task.into(),
            topology: None,
            output: None,
            force: false,
            use_model: true,
            cwd,
            config,
            env,
            progress: None,
            budget: odw_protocol::run::Budget::default(),
            scheduler: None,
        }
    }

    fn report(&self, step: &str) {
        if let Some(p) = &self.progress {
            p(step);
        }
    }
}

/// A written plan.
#[derive(Debug, Clone)]
pub struct PlanOutcome {
    /// The script's file.
    pub path: PathBuf,
    pub topology: Topology,
    /// Why this topology: chosen by the user, declared by the model, or the classifier's reason.
    pub reason: String,
    /// The dry run's agents per phase, tokens and cost.
    pub estimate: Estimate,
    /// Whether a planning model wrote the script (false: the built-in template).
    pub used_model: bool,
    /// The planning model's id, when one was used.
    pub model: Option<String>,
    /// Replies the model gave (1 when the first was clean).
    pub replies: u32,
    /// Tokens the planning conversation used.
    pub planning_tokens: TokenUsage,
    /// Why no model was used, for the user ("no planning model configured (…); used …").
    pub notice: Option<String>,
    /// Checker warnings the written script still has.
    pub warnings: Vec<Diagnostic>,
    /// The text written, header included.
    pub script: String,
}

/// Why no plan was written.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    #[error(
        "the task is empty: describe the work, e.g. odw plan \"audit every handler in src/ for missing auth checks\""
    )]
    EmptyTask,
    #[error(
        "the planning model {model} failed: {message}; check [models] planning and its provider, or pass --no-model to fill a built-in template"
    )]
    Model { model: String, message: String },
    #[error(
        "the planning model {model} did not produce a script that checks clean in {replies} replies ({REPAIR_ROUNDS} repair rounds); no file was written. Try again, pass --topology to steer it, or --no-model for a built-in template. Last diagnostics:\n{diagnostics}"
    )]
    NeverClean {
        model: String,
        replies: u32,
        diagnostics: String,
        /// The last script, for callers that want to show it.
        script: String,
    },
    #[error("the built-in {topology} template failed its own check (a bug in odw): {diagnostics}")]
    Template {
        topology: Topology,
        diagnostics: String,
    },
    #[error("{} already exists: pick another name with -o, or pass --force to overwrite it", .path.display())]
    Exists { path: PathBuf },
    #[error("cannot write {}: {source}", .path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The starting script `odw new --topology T` writes.
pub fn new_script(topology: Topology) -> &'static str {
    topology.template()
}

/// Plans `req.task`: asks the planning model (or fills a template), checks, estimates, writes.
pub async fn plan(req: PlanRequest) -> Result<PlanOutcome, PlanError> {
    // Kept as written for the model (a pasted multi-line task keeps its shape); the header and the
    // file name use one line of it.
    let task = req.task.trim().to_string();
    if task.is_empty() {
        return Err(PlanError::EmptyTask);
    }
    let path = script::output_path(&req.cwd, req.output.as_deref(), &task);
    if path.exists() && !req.force && req.output.is_some() {
        return Err(PlanError::Exists { path });
    }
    // Diagnostics and the dry run name the file only: the model has no use for local paths.
    let shown = PathBuf::from(path.file_name().unwrap_or_default());
    let model_id = req.config.resolve_alias("planning").to_string();
    let route = crate::providers::route::resolve(&model_id, &req.config);
    let draft = match route {
        Ok(route) if req.use_model => with_model(&req, &task, &shown, &model_id, &route).await?,
        other => {
            let why = match other {
                Err(e) => format!("no planning model configured ({e})"),
                Ok(_) => "--no-model".to_string(),
            };
            let d = from_template(&req, &task, &shown).await?;
            let notice = format!("{why}; used the built-in template for {}", d.topology);
            Draft {
                notice: Some(notice),
                ..d
            }
        }
    };
    let made_by = match &draft.model {
        Some(m) => format!(
            "planned by {m} with {PROMPT_VERSION} in {} repl{}",
            draft.replies,
            if draft.replies == 1 { "y" } else { "ies" }
        ),
        None => "built-in template, filled with the task".to_string(),
    };
    let text = format!(
        "{}{}",
        script::header(&script::Provenance {
            task: &task,
            topology: draft.topology,
            made_by,
            reason: &draft.reason,
            estimate: &draft.estimate,
        }),
        draft.script
    );
    let write = |path: &Path| -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        std::fs::write(path, &text)
    };
    write(&path).map_err(|source| PlanError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(PlanOutcome {
        path,
        topology: draft.topology,
        reason: draft.reason,
        estimate: draft.estimate,
        used_model: draft.model.is_some(),
        model: draft.model,
        replies: draft.replies,
        planning_tokens: draft.usage,
        notice: draft.notice,
        warnings: draft.warnings,
        script: text,
    })
}

/// A validated script, not yet written.
struct Draft {
    script: String,
    topology: Topology,
    reason: String,
    estimate: Estimate,
    warnings: Vec<Diagnostic>,
    model: Option<String>,
    replies: u32,
    usage: TokenUsage,
    notice: Option<String>,
}

async fn from_template(req: &PlanRequest, task: &str, path: &Path) -> Result<Draft, PlanError> {
    let (topology, reason) = match req.topology {
        Some(t) => (t, "chosen with --topology".to_string()),
        None => classify(task),
    };
    req.report(&format!("filling the {topology} template"));
    let filled = script::fill(topology, task);
    req.report("checking and dry-running the script");
    match validate::validate(&filled, path, &req.cwd, &req.config, &req.env).await {
        Verdict::Clean { estimate, warnings } => Ok(Draft {
            script: filled,
            topology,
            reason,
            estimate,
            warnings,
            model: None,
            replies: 0,
            usage: TokenUsage::default(),
            notice: None,
        }),
        Verdict::Broken { diagnostics } => Err(PlanError::Template {
            topology,
            diagnostics,
        }),
    }
}

async fn with_model(
    req: &PlanRequest,
    task: &str,
    path: &Path,
    model_id: &str,
    route: &crate::providers::Route,
) -> Result<Draft, PlanError> {
    let cwd = req.cwd.clone();
    let workspace = tokio::task::spawn_blocking(move || model::describe_workspace(&cwd))
        .await
        .unwrap_or_default();
    let own;
    let scheduler = match &req.scheduler {
        Some(s) => s,
        None => {
            own = Scheduler::new(req.config.limits.concurrency as usize);
            &own
        }
    };
    let budget = Budget::new(req.budget.clone(), 0, 0.0);
    let mut chat = model::Conversation::new(
        route,
        &req.config,
        scheduler,
        &budget,
        model::task_message(task, req.topology, &workspace),
    );
    let mut replies = 0;
    loop {
        req.report(&format!("asking {model_id} (reply {})", replies + 1));
        let reply = chat.ask().await.map_err(|message| PlanError::Model {
            model: model_id.to_string(),
            message,
        })?;
        replies += 1;
        let script = script::extract(&reply);
        req.report("checking and dry-running the script");
        match validate::validate(&script, path, &req.cwd, &req.config, &req.env).await {
            Verdict::Clean { estimate, warnings } => {
                let (topology, reason) = match (req.topology, Topology::declared_in(&script)) {
                    (Some(t), _) => (t, "chosen with --topology".to_string()),
                    (None, Some(t)) => (t, format!("chosen by {model_id}")),
                    (None, None) => {
                        let t = Topology::detect_in(&script);
                        (
                            t,
                            "inferred from the primitives the script uses".to_string(),
                        )
                    }
                };
                return Ok(Draft {
                    script,
                    topology,
                    reason,
                    estimate,
                    warnings,
                    model: Some(model_id.to_string()),
                    replies,
                    usage: chat.usage,
                    notice: None,
                });
            }
            Verdict::Broken { diagnostics } => {
                if replies > REPAIR_ROUNDS {
                    return Err(PlanError::NeverClean {
                        model: model_id.to_string(),
                        replies,
                        diagnostics,
                        script,
                    });
                }
                chat.say(model::repair_message(
                    task,
                    &diagnostics,
                    replies,
                    REPAIR_ROUNDS,
                ));
            }
        }
    }
}
