//! The QuickJS sandbox: one runtime per run, on a thread of its own, with a memory limit, a stack
//! limit, a CPU-slice interrupt and a wall-clock deadline. Nothing but the workflow primitives is
//! in scope (see `prelude.js`); no fs, network, timers, `require` or `import`.
//!
//! The guest talks to the host through two private functions that exchange JSON strings:
//! `__odw_sync(op, json)` answers at once, `__odw_call(op, json)` starts host work and returns an
//! id; the host later settles that id through the guest's `__odw_settle`. This thread drives the
//! runtime itself: it runs pending jobs, then blocks on the completion channel. Host work never
//! runs here, so a slow provider cannot stall the guest and a busy guest cannot stall I/O.

mod clock;
pub mod ops;
mod source;

use odw_protocol::AgentErrorCode;
use odw_protocol::Dialect;
use rquickjs::{CatchResultExt, Context, Function, Persistent, Runtime};
use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use source::guest_source;
use source::script_error_from_js;

/// Limits of one run's sandbox.
#[derive(Debug, Clone)]
pub struct Limits {
    pub memory_bytes: usize,
    pub stack_bytes: usize,
    /// CPU the guest may use without yielding to the host.
    pub cpu_slice: Duration,
    /// Wall-clock limit of the whole run.
    pub wall: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_bytes: 256 << 20,
            stack_bytes: 1 << 20,
            cpu_slice: Duration::from_secs(1),
            wall: Duration::from_secs(3600),
        }
    }
}

/// A failure the guest sees as a rejected promise / thrown `Error` with `.code`.
#[derive(Debug, Clone, PartialEq)]
pub struct HostError {
    pub code: Option<AgentErrorCode>,
    pub message: String,
    /// The host already reported this failure as an event (so `parallel` does not log it again).
    pub reported: bool,
}

impl HostError {
    pub fn new(message: impl Into<String>) -> Self {
        HostError {
            code: None,
            message: message.into(),
            reported: false,
        }
    }
    pub fn with_code(code: AgentErrorCode, message: impl Into<String>) -> Self {
        HostError {
            code: Some(code),
            message: message.into(),
            reported: false,
        }
    }
}

/// What the sandbox asks of the engine.
pub trait Host {
    /// A synchronous operation: returns the JSON of the value.
    fn sync_op(&mut self, op: ops::SyncOp, payload: &str) -> Result<String, HostError>;
    /// Starts an asynchronous operation; the result (JSON of the value) is delivered later
    /// through `done`, from any thread.
    fn start_op(&mut self, op: ops::AsyncOp, payload: String, done: Completer);
}

/// Delivers the result of one asynchronous host operation back to the run's thread.
#[derive(Debug)]
pub struct Completer {
    id: u64,
    tx: mpsc::Sender<Wake>,
}

impl Completer {
    /// Settles the guest's promise. Dropped results (the run already ended) are ignored.
    pub fn complete(self, result: Result<String, HostError>) {
        let _ = self.tx.send(Wake::Done(self.id, result));
    }
}

/// Messages that wake the run's thread.
#[derive(Debug)]
pub enum Wake {
    Done(u64, Result<String, HostError>),
    /// Stop the run: the guest is interrupted and the run ends `cancelled`.
    Cancel,
}

/// A handle to wake or cancel a run from other threads.
#[derive(Clone, Debug)]
pub struct Waker {
    tx: mpsc::Sender<Wake>,
    cancelled: Arc<AtomicBool>,
}

impl Waker {
    /// Cancels the run: interrupts a busy guest and unblocks a waiting one.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
        let _ = self.tx.send(Wake::Cancel);
    }
}

/// Creates the channel a run is driven by.
pub fn channel() -> (Waker, Inbox) {
    let (tx, rx) = mpsc::channel();
    let cancelled = Arc::new(AtomicBool::new(false));
    (
        Waker {
            tx: tx.clone(),
            cancelled: cancelled.clone(),
        },
        Inbox { tx, rx, cancelled },
    )
}

/// The receiving side, owned by the run's thread.
pub struct Inbox {
    tx: mpsc::Sender<Wake>,
    rx: mpsc::Receiver<Wake>,
    cancelled: Arc<AtomicBool>,
}

/// A script to run.
#[derive(Debug, Clone)]
pub struct Script {
    /// Shown in stack traces and errors, e.g. `audit.workflow.js`.
    pub filename: String,
    pub source: String,
    pub dialect: Dialect,
    pub meta_export: Option<(usize, usize)>,
}

/// Why a script did not produce a value.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptError {
    /// `err.code` of the thrown error, when it had one (`budget_exhausted`, `cancelled`, …).
    pub code: Option<String>,
    /// One line: `TypeError: x is not a function`.
    pub message: String,
    /// The guest stack with file:line:column frames, when there is one.
    pub stack: Option<String>,
    pub kind: ScriptErrorKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScriptErrorKind {
    /// The script threw or rejected.
    Thrown,
    /// Exceeded the CPU slice.
    CpuLimit,
    /// Exceeded the wall-clock limit.
    Deadline,
    /// Exceeded the memory limit.
    OutOfMemory,
    /// Cancelled from outside.
    Cancelled,
    /// The script's promise can never settle: nothing is running and nothing is pending.
    Stalled,
    /// The sandbox itself failed (should not happen).
    Internal,
}

impl ScriptError {
    fn new(kind: ScriptErrorKind, message: impl Into<String>) -> Self {
        ScriptError {
            code: match kind {
                ScriptErrorKind::Cancelled => Some("cancelled".into()),
                _ => None,
            },
            message: message.into(),
            stack: None,
            kind,
        }
    }
}

impl std::fmt::Display for ScriptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)?;
        if let Some(stack) = &self.stack
            && !stack.trim().is_empty()
        {
            write!(f, "\n{}", stack.trim_end())?;
        }
        Ok(())
    }
}

const PRELUDE: &str = include_str!("prelude.js");
/// Helpers for the planner's topologies (`vote`, `beamSearch`, …), available to every script.
const TOPOLOGIES: &str = include_str!("topologies.js");

/// Runs `script` to completion on the current thread and returns the JSON text of its result.
pub fn run(
    script: &Script,
    host: Box<dyn Host>,
    limits: &Limits,
    inbox: Inbox,
) -> Result<String, ScriptError> {
    let internal = |e: rquickjs::Error| {
        ScriptError::new(ScriptErrorKind::Internal, format!("sandbox error: {e}"))
    };
    let rt = Runtime::new().map_err(internal)?;
    rt.set_memory_limit(limits.memory_bytes);
    rt.set_max_stack_size(limits.stack_bytes);
    rt.set_gc_threshold(16 << 20);

    let slice = clock::Slice::new(limits.cpu_slice);
    let deadline = Instant::now() + limits.wall;
    let stop = Rc::new(RefCell::new(None::<ScriptErrorKind>));
    {
        let slice = slice.clone();
        let stop = stop.clone();
        let cancelled = inbox.cancelled.clone();
        rt.set_interrupt_handler(Some(Box::new(move || {
            let why = if cancelled.load(Ordering::Relaxed) {
                Some(ScriptErrorKind::Cancelled)
            } else if slice.exceeded() {
                Some(ScriptErrorKind::CpuLimit)
            } else if Instant::now() >= deadline {
                Some(ScriptErrorKind::Deadline)
            } else {
                None
            };
            match why {
                Some(k) => {
                    stop.borrow_mut().get_or_insert(k);
                    true
                }
                None => false,
            }
        })));
    }
    // The last rejection nobody handled: a stall is often one (an error thrown inside a `.then`
    // callback, or QuickJS running out of memory there), and the stall message says so.
    let unhandled = Rc::new(RefCell::new(None::<String>));
    {
        let unhandled = unhandled.clone();
        rt.set_host_promise_rejection_tracker(Some(Box::new(
            move |_ctx, _promise, reason: rquickjs::Value<'_>, handled| {
                if handled {
                    return;
                }
                let text = match reason.as_exception() {
                    Some(ex) => format!(
                        "{}{}",
                        ex.message().unwrap_or_default(),
                        ex.stack()
                            .and_then(|s| s.lines().next().map(|l| format!(" ({})", l.trim())))
                            .unwrap_or_default()
                    ),
                    None if reason.is_null() => "null".to_string(),
                    None => format!("{:?}", reason.type_of()),
                };
                *unhandled.borrow_mut() = Some(text);
            },
        )));
    }
    rt.set_loader(source::DenyImports, source::DenyImports);
    let ctx = Context::full(&rt).map_err(internal)?;

    let state = Rc::new(RefCell::new(Bridge {
        host,
        next_id: 1,
        in_flight: 0,
        phase: None,
        finished: None,
        tx: inbox.tx.clone(),
    }));

    let (settle, start) = ctx.with(|ctx| -> Result<_, ScriptError> {
        install_bridge(&ctx, &state, &slice).map_err(internal)?;
        slice.start();
        ctx.eval_with_options::<(), _>(PRELUDE, eval_options("odw:prelude.js"))
            .catch(&ctx)
            .map_err(|e| {
                ScriptError::new(
                    ScriptErrorKind::Internal,
                    format!("prelude failed: {}", source::caught_text(&e)),
                )
            })?;
        ctx.eval_with_options::<(), _>(TOPOLOGIES, eval_options("odw:topologies.js"))
            .catch(&ctx)
            .map_err(|e| {
                ScriptError::new(
                    ScriptErrorKind::Internal,
                    format!("topology helpers failed: {}", source::caught_text(&e)),
                )
            })?;
        // The host's entry points stay in its hands only: a script that could reach them
        // could forge agent results.
        let globals = ctx.globals();
        let settle: Function = globals.get("__odw_settle").map_err(internal)?;
        let start: Function = globals.get("__odw_start").map_err(internal)?;
        globals.remove("__odw_settle").map_err(internal)?;
        globals.remove("__odw_start").map_err(internal)?;
        Ok((
            Persistent::save(&ctx, settle),
            Persistent::save(&ctx, start),
        ))
    })?;

    let fail = |kind_stop: &Rc<RefCell<Option<ScriptErrorKind>>>, e: ScriptError| {
        if let Some(kind) = *kind_stop.borrow() {
            return limit_error(kind, limits);
        }
        if e.kind == ScriptErrorKind::OutOfMemory {
            return ScriptError {
                stack: e.stack,
                ..limit_error(ScriptErrorKind::OutOfMemory, limits)
            };
        }
        e
    };

    // Evaluate the script (declarations, `module.exports = …`), then start its entry point.
    let started = ctx.with(|ctx| -> Result<(), ScriptError> {
        slice.start();
        let code = guest_source(script);
        ctx.eval_with_options::<(), _>(code, eval_options(&script.filename))
            .catch(&ctx)
            .map_err(|e| script_error_from_js(&source::caught_text(&e), script))?;
        let start = start.restore(&ctx).map_err(internal)?;
        slice.start();
        start
            .call::<_, ()>((script.dialect.as_str(),))
            .catch(&ctx)
            .map_err(|e| script_error_from_js(&source::caught_text(&e), script))?;
        Ok(())
    });
    if let Err(e) = started {
        return Err(fail(&stop, e));
    }

    // Runs every ready job. Jobs share the CPU slice of whatever gave the guest control (the
    // script's start, or one settled host call): a job that schedules another (`function f() {
    // Promise.resolve().then(f) }`) never yields to the host, so its CPU adds up until the
    // guard stops it.
    let drain_jobs = || -> Result<(), ScriptError> {
        loop {
            match rt.execute_pending_job() {
                Ok(true) => continue,
                Ok(false) => return Ok(()),
                Err(job) => {
                    if let Some(kind) = *stop.borrow() {
                        return Err(limit_error(kind, limits));
                    }
                    let msg = job.0.with(|ctx| format!("{:?}", ctx.catch())).to_string();
                    return Err(ScriptError::new(
                        ScriptErrorKind::Internal,
                        format!("a promise job failed: {msg}"),
                    ));
                }
            }
        }
    };

    loop {
        drain_jobs()?;
        if let Some(kind) = *stop.borrow() {
            return Err(limit_error(kind, limits));
        }
        if let Some(done) = state.borrow_mut().finished.take() {
            return done.map_err(|e| fail(&stop, e));
        }
        if state.borrow().in_flight == 0 {
            let rejected = unhandled.borrow().clone();
            // A bare `null` is what QuickJS throws when it cannot even allocate its error.
            if let Some(r) = &rejected
                && (r.contains("out of memory") || r == "null")
            {
                return Err(limit_error(ScriptErrorKind::OutOfMemory, limits));
            }
            let b = state.borrow();
            let cause = rejected
                .map(|r| format!("; the last rejection nobody handled: {r}"))
                .unwrap_or_default();
            let place = match &b.phase {
                Some(p) => format!(" in phase {p:?}"),
                None => String::new(),
            };
            return Err(ScriptError::new(
                ScriptErrorKind::Stalled,
                format!(
                    "the workflow stalled{place} after {} host call(s) had finished: it awaits a \
                     promise that nothing can settle any more (no agent, tool or workflow is \
                     pending), e.g. a `new Promise` whose resolve is never called{cause}",
                    b.next_id - 1
                ),
            ));
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(limit_error(ScriptErrorKind::Deadline, limits));
        }
        let wake = match inbox.rx.recv_timeout(deadline - now) {
            Ok(w) => w,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(limit_error(ScriptErrorKind::Deadline, limits));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(ScriptError::new(
                    ScriptErrorKind::Internal,
                    "the engine went away",
                ));
            }
        };
        // Settle this completion and every other one already waiting, each followed by the jobs
        // it made ready: one wake-up of this thread per burst, not per call, and one CPU slice
        // per settled call.
        let mut next = Some(wake);
        while let Some(wake) = next.take() {
            match wake {
                Wake::Cancel => return Err(limit_error(ScriptErrorKind::Cancelled, limits)),
                Wake::Done(id, result) => {
                    state.borrow_mut().in_flight -= 1;
                    let text = envelope(result);
                    slice.start();
                    let r = ctx.with(|ctx| -> rquickjs::Result<()> {
                        let f = settle.clone().restore(&ctx)?;
                        f.call::<_, ()>((id as f64, text))
                    });
                    if let Err(e) = r {
                        if let Some(kind) = *stop.borrow() {
                            return Err(limit_error(kind, limits));
                        }
                        return Err(ScriptError::new(
                            ScriptErrorKind::Internal,
                            format!("settling a host call failed: {e}"),
                        ));
                    }
                    drain_jobs()?;
                }
            }
            next = inbox.rx.try_recv().ok();
        }
    }
}

fn limit_error(kind: ScriptErrorKind, limits: &Limits) -> ScriptError {
    let message = match kind {
        ScriptErrorKind::CpuLimit => format!(
            "script interrupted: exceeded {} ms of CPU without yielding (an endless loop?)",
            limits.cpu_slice.as_millis()
        ),
        ScriptErrorKind::Deadline => format!(
            "script interrupted: the run exceeded its wall-clock limit of {:?}",
            limits.wall
        ),
        ScriptErrorKind::OutOfMemory => format!(
            "script exceeded the memory limit of {} MiB",
            limits.memory_bytes >> 20
        ),
        ScriptErrorKind::Cancelled => "run cancelled".to_string(),
        _ => "script stopped".to_string(),
    };
    ScriptError::new(kind, message)
}

fn eval_options(filename: &str) -> rquickjs::context::EvalOptions {
    let mut o = rquickjs::context::EvalOptions::default();
    o.global = true;
    o.strict = false;
    o.filename = Some(filename.to_string());
    o
}

/// The host side of the bridge, shared by the two guest-visible functions.
struct Bridge {
    host: Box<dyn Host>,
    next_id: u64,
    in_flight: u64,
    /// The phase the script last named, for errors that have no stack (a stall).
    phase: Option<String>,
    finished: Option<Result<String, ScriptError>>,
    tx: mpsc::Sender<Wake>,
}

fn envelope(result: Result<String, HostError>) -> String {
    match result {
        Ok(json) => format!("{{\"ok\":true,\"value\":{json}}}"),
        Err(e) => serde_json::json!({
            "ok": false,
            "code": e.code,
            "message": e.message,
            "reported": e.reported,
        })
        .to_string(),
    }
}

fn install_bridge<'js>(
    ctx: &rquickjs::Ctx<'js>,
    state: &Rc<RefCell<Bridge>>,
    slice: &clock::Slice,
) -> rquickjs::Result<()> {
    let globals = ctx.globals();
    let s = state.clone();
    let clock = slice.clone();
    let sync = Function::new(ctx.clone(), move |op: String, payload: String| -> String {
        clock.host(|| sync_op(&s, op, payload))
    })?;
    let s = state.clone();
    let clock = slice.clone();
    let call = Function::new(ctx.clone(), move |op: String, payload: String| -> String {
        let r = start_op(&s, op, payload);
        // Starting host work (an agent, a tool, a nested workflow) is progress: the guest
        // yielded, and a fan-out of a million items is a million yields, not a busy loop.
        clock.start();
        r
    })?;
    globals.set("__odw_sync", sync)?;
    globals.set("__odw_call", call)?;
    Ok(())
}

fn sync_op(s: &Rc<RefCell<Bridge>>, op: String, payload: String) -> String {
    {
        if op == "phase"
            && let Ok(v) = crate::json::parse::<serde_json::Value>(&payload)
        {
            s.borrow_mut().phase = v["title"].as_str().map(str::to_string);
        }
        if op == "finish" {
            // The prelude writes this envelope; the value inside stays JSON text.
            let v: serde_json::Value = match crate::json::parse(&payload) {
                Ok(v) => v,
                Err(e) => serde_json::json!({"ok": false, "name": "Error",
                    "message": format!("the workflow's outcome could not be read: {e}")}),
            };
            let outcome = if v["ok"].as_bool() == Some(true) {
                Ok(v["value"].as_str().unwrap_or("null").to_string())
            } else {
                let text = format!(
                    "{}: {}\n{}",
                    v["name"].as_str().unwrap_or("Error"),
                    v["message"].as_str().unwrap_or(""),
                    v["stack"].as_str().unwrap_or("")
                );
                let mut e = source::error_from_text(&text);
                e.code = v["code"].as_str().map(str::to_string);
                // A code the script set itself (`err.code = "mine"`) is kept as text on the
                // error; only odw's own codes are typed.
                Err(e)
            };
            s.borrow_mut().finished.get_or_insert(outcome);
            return envelope(Ok("null".into()));
        }
        let Some(typed) = ops::SyncOp::parse(&op) else {
            return envelope(Err(HostError::new(format!(
                "unknown host operation `{op}`"
            ))));
        };
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
            s.borrow_mut().host.sync_op(typed, &payload)
        }))
        .unwrap_or_else(|p| Err(HostError::new(panic_message(&op, p))));
        envelope(r)
    }
}

fn start_op(s: &Rc<RefCell<Bridge>>, op: String, payload: String) -> String {
    {
        let Some(typed) = ops::AsyncOp::parse(&op) else {
            return envelope(Err(HostError::new(format!(
                "unknown host operation `{op}`"
            ))));
        };
        let mut b = s.borrow_mut();
        let id = b.next_id;
        b.next_id += 1;
        let done = Completer {
            id,
            tx: b.tx.clone(),
        };
        let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
            b.host.start_op(typed, payload, done);
        }));
        match r {
            Ok(()) => {
                b.in_flight += 1;
                envelope(Ok(id.to_string()))
            }
            Err(p) => envelope(Err(HostError::new(panic_message(&op, p)))),
        }
    }
}

fn panic_message(op: &str, p: Box<dyn std::any::Any + Send>) -> String {
    let detail = p
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    format!("internal error in host operation `{op}`: {detail} (please report this)")
}

#[cfg(test)]
mod tests;
