//! Sandbox tests with a scripted host: no engine, no network.

use super::*;
use std::collections::VecDeque;
use std::sync::Mutex;

/// A host that answers `agent` with `echo: <prompt>` from another thread, and records calls.
struct TestHost {
    log: Arc<Mutex<Vec<String>>>,
    answers: Arc<Mutex<VecDeque<Result<String, HostError>>>>,
}

impl Host for TestHost {
    fn sync_op(&mut self, op: ops::SyncOp, payload: &str) -> Result<String, HostError> {
        self.log.lock().unwrap().push(format!("{op} {payload}"));
        if payload.contains("__panic__") {
            panic!("boom");
        }
        match op {
            ops::SyncOp::Now => Ok("1700000000000".into()),
            ops::SyncOp::Random => Ok("0.25".into()),
            ops::SyncOp::Args => Ok(r#"{"files":["a","b"],"n":2}"#.into()),
            ops::SyncOp::Budget => Ok(r#"{"tokensUsed":10,"costUsd":0,"maxTokens":100,"maxCostUsd":null,"percentUsed":10}"#.into()),
            _ => Ok("null".into()),
        }
    }
    fn start_op(&mut self, op: ops::AsyncOp, payload: String, done: Completer) {
        self.log.lock().unwrap().push(format!("{op} {payload}"));
        let scripted = self.answers.lock().unwrap().pop_front();
        std::thread::spawn(move || {
            let v: serde_json::Value = serde_json::from_str(&payload).unwrap();
            let r = scripted.unwrap_or_else(|| {
                Ok(serde_json::Value::String(format!(
                    "echo: {}",
                    v["prompt"].as_str().unwrap_or("")
                ))
                .to_string())
            });
            done.complete(r);
        });
    }
}

fn run_with(
    source: &str,
    dialect: Dialect,
    answers: Vec<Result<String, HostError>>,
    limits: Limits,
) -> (Result<String, ScriptError>, Vec<String>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let host = TestHost {
        log: log.clone(),
        answers: Arc::new(Mutex::new(answers.into())),
    };
    let meta_export = (dialect == Dialect::Meta)
        .then(|| source.find("export").map(|i| (i, i + 6)))
        .flatten();
    let script = Script {
        filename: "test.workflow.js".into(),
        source: source.into(),
        dialect,
        meta_export,
    };
    let (_waker, inbox) = channel();
    let r = run(&script, Box::new(host), &limits, inbox);
    let log = log.lock().unwrap().clone();
    (r, log)
}

fn run_ok(source: &str, dialect: Dialect) -> serde_json::Value {
    let (r, _) = run_with(source, dialect, vec![], Limits::default());
    serde_json::from_str(&r.unwrap()).unwrap()
}

#[test]
fn execute_dialect_runs_agents_in_parallel_in_order() {
    let v = run_ok(
        r#"async function execute(context) {
             const xs = await parallel(context.args().files.map(f => () => agent(`check ${f}`)));
             return xs;
           }
           module.exports = { execute };"#,
        Dialect::Execute,
    );
    assert_eq!(v, serde_json::json!(["echo: check a", "echo: check b"]));
}

#[test]
fn meta_dialect_has_top_level_await_and_return() {
    let v = run_ok(
        "export const meta = { name: 't' };\nconst r = await agent('hi', { label: 'x' });\nreturn { r, n: args.n, meta: meta.name };",
        Dialect::Meta,
    );
    assert_eq!(v, serde_json::json!({"r": "echo: hi", "n": 2, "meta": "t"}));
}

#[test]
fn exports_forms_are_accepted() {
    for src in [
        "exports.execute = async () => 1;",
        "async function execute() { return 1 }",
        "module.exports.execute = () => 1;",
    ] {
        assert_eq!(run_ok(src, Dialect::Execute), serde_json::json!(1), "{src}");
    }
}

#[test]
fn missing_execute_is_a_clear_error() {
    let (r, _) = run_with("const x = 1;", Dialect::Execute, vec![], Limits::default());
    let e = r.unwrap_err();
    assert!(e.message.contains("script must define execute"), "{e}");
}

#[test]
fn parallel_settles_failures_to_null_and_fatal_errors_propagate() {
    let failing = Err(HostError {
        code: Some(odw_protocol::AgentErrorCode::RateLimit),
        message: "429".into(),
        reported: true,
    });
    let (r, _) = run_with(
        "async function execute(){ return parallel([() => agent('a'), () => agent('b'), 7]); }",
        Dialect::Execute,
        vec![failing, Ok("\"B\"".into())],
        Limits::default(),
    );
    let v: serde_json::Value = serde_json::from_str(&r.unwrap()).unwrap();
    // The first agent started got the failure; order of starts is input order.
    assert_eq!(v, serde_json::json!([null, "B", 7]));

    let fatal = Err(HostError::with_code(
        odw_protocol::AgentErrorCode::BudgetExhausted,
        "budget spent",
    ));
    let (r, _) = run_with(
        "async function execute(){ return parallel([() => agent('a'), () => agent('b')]); }",
        Dialect::Execute,
        vec![fatal],
        Limits::default(),
    );
    let e = r.unwrap_err();
    assert_eq!(e.code.as_deref(), Some("budget_exhausted"));
}

#[test]
fn pipeline_flows_items_through_stages() {
    let v = run_ok(
        "async function execute(){ return pipeline([1,2,3], (x) => x * 10, (p, item, i) => p + item + i); }",
        Dialect::Execute,
    );
    assert_eq!(v, serde_json::json!([11, 23, 35]));
    let v = run_ok(
        "async function execute(){ return pipeline([1,2], [(x) => { if (x == 1) throw new Error('no'); return x; }], {maxConcurrency: 1}); }",
        Dialect::Execute,
    );
    assert_eq!(v, serde_json::json!([null, 2]));
}

#[test]
fn loop_stops_on_condition_and_throws_past_max() {
    let v = run_ok(
        "async function execute(){ let i = 0; return loop(() => i >= 3, async () => ++i); }",
        Dialect::Execute,
    );
    assert_eq!(v, serde_json::json!(3));
    let (r, _) = run_with(
        "async function execute(){ return loop(() => false, () => 1, {maxIterations: 5}); }",
        Dialect::Execute,
        vec![],
        Limits::default(),
    );
    assert!(
        r.unwrap_err()
            .message
            .contains("exceeded maxIterations (5)")
    );
}

#[test]
fn verify_filters_rejected_items_by_quorum() {
    let reject_b = Ok(
        r#"{"approved":false,"confidence":0.9,"critique":"b is wrong","rejectedItems":[1]}"#
            .to_string(),
    );
    let reject_b2 = Ok(
        r#"{"approved":false,"confidence":0.8,"critique":"b","rejectedItems":["b"]}"#.to_string(),
    );
    let approve = Ok(r#"{"approved":true,"confidence":0.9}"#.to_string());
    let (r, _) = run_with(
        "async function execute(){ return verify({target: ['a','b','c'], critics: ['x','y','z'], consensusThreshold: 2}); }",
        Dialect::Execute,
        vec![reject_b, reject_b2, approve],
        Limits::default(),
    );
    let v: serde_json::Value = serde_json::from_str(&r.unwrap()).unwrap();
    assert_eq!(v["kept"], serde_json::json!(["a", "c"]));
    assert_eq!(v["rejected"], serde_json::json!(["b"]));
    assert_eq!(v["passed"], serde_json::json!(false));
    assert_eq!(v["rejections"], serde_json::json!(2));
}

#[test]
fn busy_loop_is_interrupted_with_a_clear_error() {
    let limits = Limits {
        cpu_slice: Duration::from_millis(200),
        ..Limits::default()
    };
    let (r, _) = run_with(
        "async function execute(){ await agent('x'); while (true) {} }",
        Dialect::Execute,
        vec![],
        limits,
    );
    let e = r.unwrap_err();
    assert_eq!(e.kind, ScriptErrorKind::CpuLimit, "{e}");
    assert!(e.message.contains("exceeded 200 ms of CPU"), "{e}");
}

#[test]
fn memory_limit_stops_a_hog() {
    let limits = Limits {
        memory_bytes: 32 << 20,
        ..Limits::default()
    };
    let (r, _) = run_with(
        // Megabyte strings: the allocation that fails is a large one, so QuickJS still has the
        // memory to build its "out of memory" error (with none left it can only throw null).
        "async function execute(){ const a = []; for (;;) a.push('x'.repeat(1 << 20) + a.length); }",
        Dialect::Execute,
        vec![],
        limits,
    );
    let e = r.unwrap_err();
    assert_eq!(e.kind, ScriptErrorKind::OutOfMemory, "{e:?}");
}

#[test]
fn imports_require_and_io_globals_are_absent() {
    let (r, _) = run_with(
        "async function execute(){ return [typeof require, typeof process, typeof fetch, typeof setTimeout, typeof fs, typeof __odw_call, typeof __odw_sync]; }",
        Dialect::Execute,
        vec![],
        Limits::default(),
    );
    let v: serde_json::Value = serde_json::from_str(&r.unwrap()).unwrap();
    assert!(
        v.as_array().unwrap().iter().all(|t| t == "undefined"),
        "{v}"
    );
    let (r, _) = run_with(
        "async function execute(){ return await import('fs'); }",
        Dialect::Execute,
        vec![],
        Limits::default(),
    );
    assert!(r.unwrap_err().message.contains("imports are not available"));
}

#[test]
fn runtime_errors_carry_the_stack_with_line_numbers() {
    let (r, _) = run_with(
        "async function execute(){\n  const x = null;\n  return x.y;\n}",
        Dialect::Execute,
        vec![],
        Limits::default(),
    );
    let e = r.unwrap_err();
    assert!(e.message.starts_with("TypeError"), "{e}");
    assert!(
        e.stack
            .as_deref()
            .unwrap_or("")
            .contains("test.workflow.js:3"),
        "{e:?}"
    );
}

#[test]
fn console_and_log_go_to_the_host_and_time_is_the_hosts() {
    let (r, log) = run_with(
        "async function execute(){ console.log('a', {b: 1}); log('w', 'warn'); phase('P'); return [Date.now(), new Date().getTime(), Math.random(), budget().maxTokens, budget.total]; }",
        Dialect::Execute,
        vec![],
        Limits::default(),
    );
    let v: serde_json::Value = serde_json::from_str(&r.unwrap()).unwrap();
    assert_eq!(
        v,
        serde_json::json!([1700000000000i64, 1700000000000i64, 0.25, 100, 100])
    );
    assert!(
        log.iter()
            .any(|l| l == r#"log {"message":"a {\"b\":1}","level":"info"}"#)
    );
    assert!(log.iter().any(|l| l.starts_with("phase ")));
}

#[test]
fn agent_options_carry_the_current_phase() {
    let (_, log) = run_with(
        "async function execute(){ phase('Audit'); await agent({prompt: 'p', systemPrompt: 's'}); }",
        Dialect::Execute,
        vec![],
        Limits::default(),
    );
    let call = log.iter().find(|l| l.starts_with("agent ")).unwrap();
    let v: serde_json::Value = serde_json::from_str(&call[6..]).unwrap();
    assert_eq!(v["phase"], "Audit");
    assert_eq!(v["system"], "s");
}

#[test]
fn a_panicking_host_function_becomes_a_js_error() {
    let (r, log) = run_with(
        "async function execute(){ try { log('__panic__'); return 'no error'; } catch (e) { return e.message; } }",
        Dialect::Execute,
        vec![],
        Limits::default(),
    );
    // The host really panicked (the call reached it), and the script got an Error.
    assert!(log.iter().any(|l| l.contains("__panic__")), "{log:?}");
    let message: String = serde_json::from_str(&r.unwrap()).unwrap();
    assert!(
        message.contains("internal error in host operation `log`: boom"),
        "{message}"
    );
}

#[test]
fn a_promise_that_never_settles_is_reported() {
    let (r, _) = run_with(
        "async function execute(){ await new Promise(() => {}); }",
        Dialect::Execute,
        vec![],
        Limits::default(),
    );
    assert_eq!(r.unwrap_err().kind, ScriptErrorKind::Stalled);
}

#[test]
fn non_serialisable_result_is_an_error() {
    let (r, _) = run_with(
        "async function execute(){ const a = {}; a.a = a; return a; }",
        Dialect::Execute,
        vec![],
        Limits::default(),
    );
    assert!(r.unwrap_err().message.contains("not JSON-serialisable"));
}

#[test]
fn args_has_no_function_name_or_length() {
    let v = run_ok(
        "async function execute(){ return [args.name === undefined, args.length === undefined, args.n, args().n, context.args().files.length]; }",
        Dialect::Execute,
    );
    assert_eq!(v, serde_json::json!([true, true, 2, 2, 2]));
}

/// A host that answers every async operation at once, on the calling thread (no thread per
/// call), for fan-outs of hundreds of thousands of items.
struct InstantHost;

impl Host for InstantHost {
    fn sync_op(&mut self, _op: ops::SyncOp, _payload: &str) -> Result<String, HostError> {
        Ok("null".into())
    }
    fn start_op(&mut self, _op: ops::AsyncOp, _payload: String, done: Completer) {
        done.complete(Ok("\"ok\"".into()));
    }
}

fn run_instant(source: &str, limits: Limits) -> Result<String, ScriptError> {
    let script = Script {
        filename: "test.workflow.js".into(),
        source: source.into(),
        dialect: Dialect::Execute,
        meta_export: None,
    };
    let (_waker, inbox) = channel();
    run(&script, Box::new(InstantHost), &limits, inbox)
}

#[test]
fn a_100k_item_fan_out_with_default_options_is_not_an_endless_loop() {
    // A short slice, so the test proves the guard counts guest CPU between yields, not the
    // whole fan-out (which takes far longer than 250 ms here).
    let limits = Limits {
        cpu_slice: Duration::from_millis(250),
        ..Limits::default()
    };
    let r = run_instant(
        "async function execute(){
           const items = Array.from({length: 100000}, (_, i) => i);
           const out = await parallel(items.map(i => () => agent(`item ${i}`)));
           return out.filter(x => x === 'ok').length;
         }",
        limits,
    );
    assert_eq!(r.unwrap(), "100000");
}

#[test]
fn a_self_rescheduling_microtask_loop_is_stopped() {
    let limits = Limits {
        cpu_slice: Duration::from_millis(200),
        ..Limits::default()
    };
    let r = run_instant(
        "async function execute(){
           function f() { Promise.resolve().then(f); }
           f();
           await agent('x');
           return 1;
         }",
        limits,
    );
    let e = r.unwrap_err();
    assert_eq!(e.kind, ScriptErrorKind::CpuLimit, "{e}");
    assert!(e.message.contains("exceeded 200 ms of CPU"), "{e}");
}

#[test]
fn host_internals_are_not_reachable_from_scripts() {
    let v = run_ok(
        "async function execute(){
           const names = Object.getOwnPropertyNames(globalThis).filter(n => n.startsWith('__odw'));
           return [names, typeof __odw_settle, typeof __odw_start, typeof __odw_main];
         }",
        Dialect::Execute,
    );
    assert_eq!(
        v,
        serde_json::json!([[], "undefined", "undefined", "undefined"])
    );
    let v = run_ok(
        "const names = Object.getOwnPropertyNames(globalThis).filter(n => n.startsWith('__odw'));\nreturn names;",
        Dialect::Meta,
    );
    assert_eq!(v, serde_json::json!([]));
}

/// A host whose async operations never finish (the completer is dropped unanswered).
struct SilentHost;

impl Host for SilentHost {
    fn sync_op(&mut self, _op: ops::SyncOp, _payload: &str) -> Result<String, HostError> {
        Ok("null".into())
    }
    fn start_op(&mut self, _op: ops::AsyncOp, _payload: String, done: Completer) {
        std::mem::forget(done);
    }
}

#[test]
fn the_stack_limit_stops_deep_recursion_with_a_range_error() {
    let limits = Limits {
        stack_bytes: 256 << 10,
        ..Limits::default()
    };
    let (r, _) = run_with(
        "async function execute(){ function f(n){ return f(n + 1) + 1; } return f(0); }",
        Dialect::Execute,
        vec![],
        limits,
    );
    let e = r.unwrap_err();
    assert_eq!(e.kind, ScriptErrorKind::Thrown, "{e}");
    assert!(
        e.message.contains("Maximum call stack size exceeded"),
        "{e}"
    );
}

#[test]
fn the_wall_clock_deadline_ends_a_run_that_waits_forever() {
    let limits = Limits {
        wall: Duration::from_millis(300),
        ..Limits::default()
    };
    let script = Script {
        filename: "test.workflow.js".into(),
        source: "async function execute(){ return await agent('never answered'); }".into(),
        dialect: Dialect::Execute,
        meta_export: None,
    };
    let (_waker, inbox) = channel();
    let e = run(&script, Box::new(SilentHost), &limits, inbox).unwrap_err();
    assert_eq!(e.kind, ScriptErrorKind::Deadline, "{e}");
    assert!(e.message.contains("wall-clock limit"), "{e}");
}

#[test]
fn a_stall_names_the_rejection_nobody_handled() {
    let (r, _) = run_with(
        "async function execute(){\n  await new Promise((resolve) => { Promise.resolve().then(() => { throw new Error('lost in a callback'); }).then(resolve); });\n}",
        Dialect::Execute,
        vec![],
        Limits::default(),
    );
    let e = r.unwrap_err();
    assert_eq!(e.kind, ScriptErrorKind::Stalled, "{e}");
    assert!(
        e.message
            .contains("the last rejection nobody handled: lost in a callback"),
        "{e}"
    );
}
