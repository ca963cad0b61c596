//! Agents that act, through the real binary: the tool loop on each wire, approvals from the
//! CLI's flags and policies, the tools that change the machine (files, bash, git, the web), and
//! exactly-once across a kill -9.

use crate::support::*;
use odw_test_provider::ProviderOptions;
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::{Duration, Instant};

fn db(ws: &Ws) -> rusqlite::Connection {
    rusqlite::Connection::open(ws.path().join(".odw/odw.db")).unwrap()
}

/// The payloads of a run's events of one kind, in order.
fn events(ws: &Ws, run: &str, kind: &str) -> Vec<Value> {
    let c = db(ws);
    let mut st = c
        .prepare("SELECT payload FROM events WHERE run_id = ?1 AND kind = ?2 ORDER BY seq")
        .unwrap();
    st.query_map([run, kind], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|p| serde_json::from_str(&p.unwrap()).unwrap())
        .collect()
}

/// A script whose one agent has `tools` and returns the tool results the model saw.
fn agent_script(model: &str, tools: &[&str], prompt: &str, extra: &str) -> String {
    let tools = serde_json::to_string(tools).unwrap();
    let prompt = serde_json::to_string(prompt).unwrap();
    format!(
        r#"async function execute(context) {{
  const text = await agent({prompt}, {{ model: "{model}", tools: {tools}{extra} }});
  return JSON.parse(text);
}}
module.exports = {{ execute }};
"#
    )
}

/// Whether a tool result the model saw was an error: Anthropic flags it (`is_error`), the
/// other wires have no flag and odw prefixes the text with `error: `.
fn is_error(r: &Value) -> bool {
    r["is_error"] == true
        || r["content"]
            .as_str()
            .is_some_and(|c| c.starts_with("error: "))
}

/// A tool result's text without the `error: ` prefix of the wires without an error flag.
fn content(r: &Value) -> String {
    let c = r["content"].as_str().unwrap_or_default();
    c.strip_prefix("error: ").unwrap_or(c).to_string()
}

fn succeeded(v: &Value, out: &std::process::Output) {
    assert_eq!(v["state"], "succeeded", "{v}\n{}", stderr(out));
}

#[test]
fn the_tool_loop_runs_on_every_wire() {
    let ws = Ws::new();
    ws.write("notes.txt", "hello from the workspace\n");
    for model in ["test:m", "testa:m", "testo:m"] {
        ws.provider.reset();
        let script = agent_script(
            model,
            &["read_file", "glob"],
            r#"Read the notes. [[call:read_file {"path": "notes.txt"}]] [[call+:glob {"pattern": "*.txt"}]] [[call:read_file {"path": "missing.txt"}]] [[echo-tools]]"#,
            "",
        );
        let (v, out) = ws.run_json(&script, &[]);
        succeeded(&v, &out);
        let results = v["result"].as_array().unwrap_or_else(|| panic!("{v}"));
        assert_eq!(results.len(), 3, "{model}: {v}");
        assert_eq!(
            results[0]["content"], "hello from the workspace\n",
            "{model}"
        );
        assert!(!is_error(&results[0]));
        assert_eq!(results[1]["content"], r#"["notes.txt"]"#, "{model}");
        assert!(is_error(&results[2]), "{model}");
        assert!(
            content(&results[2]).contains("no such file: missing.txt"),
            "{model}: {v}"
        );
        // Three turns: two tool rounds and the answer; usage summed over all of them.
        let stats = ws.provider.stats();
        assert_eq!(stats.total, 3, "{model}");
        assert!(stats.requests.iter().all(|r| r.tools == 2), "{model}");
        assert_eq!(v["usage"]["requests"], 3, "{model}: {v}");
        assert_eq!(v["usage"]["agents"], 1);
        assert!(v["usage"]["tokensIn"].as_u64().unwrap() > 0);
    }
}

#[test]
fn malformed_and_unknown_calls_are_results_the_model_reads() {
    let ws = Ws::new();
    for model in ["test:m", "testa:m", "testo:m"] {
        let script = agent_script(
            model,
            &["read_file"],
            r#"[[call:read_file {"path": "a"}]] [[badargs]] [[call:write_file {"path": "x", "content": "y"}]] [[call:read_file {"file": "a"}]] [[echo-tools]]"#,
            "",
        );
        let (v, out) = ws.run_json(&script, &[]);
        succeeded(&v, &out);
        let r = v["result"].as_array().unwrap();
        assert_eq!(r.len(), 3, "{model}: {v}");
        assert!(r.iter().all(is_error), "{model}: {v}");
        let text = |i: usize| content(&r[i]);
        if model == "test:m" {
            assert!(
                text(0).contains("not a JSON object"),
                "{model}: {}",
                text(0)
            );
        } else {
            // Arguments sent as a JSON text inside a string are accepted (Ollama-compatible
            // servers do that): the call ran, on a file that does not exist.
            assert!(
                text(0).starts_with("no such file: a"),
                "{model}: {}",
                text(0)
            );
        }
        // A tool the script did not give this agent does not run, whatever the model asks.
        assert_eq!(
            text(1),
            "unknown tool `write_file`: the tools you have are read_file"
        );
        assert_eq!(
            text(2),
            "read_file: unknown argument `file`; the arguments are path"
        );
        assert!(!ws.path().join("x").exists());
    }
}

#[test]
fn gated_tools_are_denied_without_a_terminal_and_nothing_hangs() {
    let ws = Ws::new();
    let script = agent_script(
        "test:m",
        &["write_file", "run_bash", "git"],
        r#"[[call:write_file {"path": "out.txt", "content": "x"}]] [[call+:run_bash {"command": "touch ran.txt"}]] [[call+:git {"args": ["status"]}]] [[echo-tools]]"#,
        "",
    );
    let started = Instant::now();
    let (v, out) = ws.run_json(&script, &[]);
    succeeded(&v, &out);
    assert!(started.elapsed() < Duration::from_secs(60));
    let r = v["result"].as_array().unwrap();
    for (i, tool) in ["write_file", "run_bash", "git"].iter().enumerate() {
        assert!(is_error(&r[i]));
        assert_eq!(
            content(&r[i]),
            format!(
                "{tool}: denied: no approval channel; allow with --allow {tool} or [approvals] {tool} = \"allow\""
            )
        );
    }
    assert!(!ws.path().join("out.txt").exists());
    assert!(!ws.path().join("ran.txt").exists());
    let run = v["runId"].as_str().unwrap();
    let decided = events(&ws, run, "approvalDecided");
    assert_eq!(decided.len(), 3);
    assert!(
        decided
            .iter()
            .all(|d| d["decision"] == "deny" && d["by"] == "noChannel"),
        "{decided:?}"
    );
}

#[test]
fn allow_writes_files_and_policies_decide_per_tool() {
    let ws = Ws::with(
        ProviderOptions::default(),
        "[approvals]\nrun_bash = \"deny\"\n",
    );
    let script = agent_script(
        "testa:m",
        &["write_file", "run_bash", "read_file"],
        r#"[[call:write_file {"path": "deep/dir/out.txt", "content": "line 1\nline 2\n"}]] [[call:read_file {"path": "deep/dir/out.txt"}]] [[call:run_bash {"command": "touch ran.txt"}]] [[echo-tools]]"#,
        "",
    );
    // --allow run_bash would lose to --deny; the config's deny is overridden by neither here.
    let (v, out) = ws.run_json(&script, &["--allow", "write_file"]);
    succeeded(&v, &out);
    let r = v["result"].as_array().unwrap();
    let written: Value = serde_json::from_str(r[0]["content"].as_str().unwrap()).unwrap();
    assert_eq!(
        written,
        json!({"path": "deep/dir/out.txt", "bytes": 14, "created": true})
    );
    assert_eq!(r[1]["content"], "line 1\nline 2\n");
    assert_eq!(
        content(&r[2]),
        "run_bash: denied by policy ([approvals] run_bash = \"deny\" or --deny run_bash)"
    );
    assert!(!ws.path().join("ran.txt").exists());
    let run = v["runId"].as_str().unwrap();
    let decided = events(&ws, run, "approvalDecided");
    assert_eq!(decided[0]["tool"], "write_file");
    assert_eq!(decided[0]["by"], "policy");
    assert_eq!(decided[0]["decision"], "allowOnce");
    assert_eq!(decided[1]["decision"], "deny");
    // Flags win over the configuration, and a denial over an allowance.
    let (v, out) = ws.run_json(
        &agent_script(
            "test:m",
            &["run_bash"],
            r#"[[call:run_bash {"command": "echo flag"}]] [[echo-tools]]"#,
            "",
        ),
        &["--allow", "run_bash,write_file", "--deny", "write_file"],
    );
    succeeded(&v, &out);
    let bash: Value = serde_json::from_str(v["result"][0]["content"].as_str().unwrap()).unwrap();
    assert_eq!(bash["stdout"], "flag\n");
    assert_eq!(bash["exitCode"], 0);
    // A flag naming a tool that needs no approval, or no tool, is a usage error.
    let out = ws.odw(&["run", "t.workflow.js", "--allow", "read_file"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("`read_file` never needs approval"));
    let out = ws.odw(&["run", "t.workflow.js", "--deny", "rm"]);
    assert!(
        stderr(&out).contains("`rm` is not a tool"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn past_the_limit_the_model_is_told_to_answer_without_tools() {
    let ws = Ws::new();
    ws.write("a.txt", "a");
    for model in ["test:m", "testa:m"] {
        ws.provider.reset();
        let script = agent_script(
            model,
            &["read_file"],
            r#"[[call:read_file {"path": "a.txt"}]] [[call:read_file {"path": "a.txt"}]] [[call:read_file {"path": "a.txt"}]] [[echo-tools]]"#,
            ", maxToolIterations: 1",
        );
        let (v, out) = ws.run_json(&script, &[]);
        succeeded(&v, &out);
        let r = v["result"].as_array().unwrap();
        assert_eq!(r.len(), 2, "{model}: {v}");
        assert_eq!(r[0]["content"], "a");
        assert_eq!(
            content(&r[1]),
            "not run: the limit of 1 tool rounds is reached"
        );
        let stats = ws.provider.stats();
        assert_eq!(stats.total, 3, "{model}");
        let last = stats.requests.last().unwrap();
        assert!(last.tool_choice_none, "{model}: {last:?}");
        assert!(!stats.requests[0].tool_choice_none);
    }
}

#[test]
fn an_unknown_tool_in_the_script_is_refused_at_the_call_and_by_check() {
    let ws = Ws::new();
    let script = agent_script("test:m", &["read_file", "rm_rf"], "x", "");
    let (v, _) = ws.run_json(&script, &[]);
    assert_eq!(v["state"], "failed", "{v}");
    let error = v["error"].as_str().unwrap();
    assert!(
        error.contains("agent: unknown tool \"rm_rf\" in `tools`; the tools are glob, read_file"),
        "{error}"
    );
    assert_eq!(ws.provider.stats().total, 0);
    let out = ws.odw(&["check", "t.workflow.js"]);
    assert!(!out.status.success());
    assert!(
        stdout(&out).contains("unknown tool `rm_rf`")
            || stderr(&out).contains("unknown tool `rm_rf`"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn run_bash_scrubs_secrets_and_reports_exit_codes() {
    let ws = Ws::new();
    let script = agent_script(
        "test:m",
        &["run_bash"],
        r#"[[call:run_bash {"command": "env | sort; echo err >&2; exit 3"}]] [[echo-tools]]"#,
        "",
    );
    let file = ws.write("t.workflow.js", &script);
    let out = ws
        .cmd(&[
            "run",
            file.to_str().unwrap(),
            "--json",
            "--allow",
            "run_bash",
        ])
        .env("MY_SERVICE_API_KEY", "sk-secret-1")
        .env("GITHUB_TOKEN", "ghp-secret-2")
        .env("DB_SECRET", "secret-3")
        .env("ODW_TEST_VISIBLE", "visible")
        .output()
        .unwrap();
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    succeeded(&v, &out);
    let bash: Value = serde_json::from_str(v["result"][0]["content"].as_str().unwrap()).unwrap();
    assert_eq!(bash["exitCode"], 3, "{bash}");
    assert_eq!(bash["stderr"], "err\n");
    let env = bash["stdout"].as_str().unwrap();
    assert!(env.contains("ODW_TEST_VISIBLE=visible"), "{env}");
    for secret in [
        "sk-secret-1",
        "ghp-secret-2",
        "secret-3",
        "MY_SERVICE_API_KEY",
    ] {
        assert!(!env.contains(secret), "{secret} leaked: {env}");
    }
    // Output lines stream as log events while the command runs.
    let run = v["runId"].as_str().unwrap();
    let logs = events(&ws, run, "log");
    assert!(
        logs.iter()
            .any(|l| l["message"] == "#1 $ ODW_TEST_VISIBLE=visible"),
        "{logs:?}"
    );
}

#[test]
fn blocked_commands_never_start() {
    let ws = Ws::with(
        ProviderOptions::default(),
        "[tools.bash]\nblocked_commands = [\"git push\", \"sudo\"]\n",
    );
    let script = agent_script(
        "test:m",
        &["run_bash"],
        r#"[[call:run_bash {"command": "true && git push origin main; touch pushed"}]] [[echo-tools]]"#,
        "",
    );
    let (v, out) = ws.run_json(&script, &["--allow", "run_bash"]);
    succeeded(&v, &out);
    assert!(is_error(&v["result"][0]), "{v}");
    assert!(content(&v["result"][0]).contains("git push"), "{v}");
    assert!(!ws.path().join("pushed").exists());
}

fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com")
        .output()
        .unwrap();
    assert!(out.status.success(), "git {args:?}: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

#[test]
fn git_writes_happen_on_the_runs_own_branch() {
    let ws = Ws::new();
    git(ws.path(), &["init", "-q", "-b", "main"]);
    ws.write(".gitignore", ".odw/\nodw.toml\nt.workflow.js\n");
    git(ws.path(), &["add", "."]);
    git(ws.path(), &["commit", "-qm", "initial"]);
    let script = agent_script(
        "test:m",
        &["write_file", "git"],
        r#"[[call:write_file {"path": "feature.txt", "content": "new\n"}]] [[call:git {"args": ["add", "feature.txt"]}]] [[call:git {"args": ["commit", "-m", "add feature"]}]] [[call:git {"args": ["push", "origin"]}]] [[call+:git {"args": ["reset", "--hard", "HEAD~1"]}]] [[echo-tools]]"#,
        "",
    );
    let file = ws.write("t.workflow.js", &script);
    let out = ws
        .cmd(&[
            "run",
            file.to_str().unwrap(),
            "--json",
            "--allow",
            "write_file,git",
        ])
        .env("GIT_AUTHOR_NAME", "odw")
        .env("GIT_AUTHOR_EMAIL", "odw@example.com")
        .env("GIT_COMMITTER_NAME", "odw")
        .env("GIT_COMMITTER_EMAIL", "odw@example.com")
        .output()
        .unwrap();
    let v: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    succeeded(&v, &out);
    let run = v["runId"].as_str().unwrap();
    let r = v["result"].as_array().unwrap();
    assert!(!is_error(&r[2]), "{v}");
    // Refused subcommands and flags never run.
    assert!(is_error(&r[3]), "{v}");
    assert!(is_error(&r[4]), "{v}");
    assert_eq!(
        git(ws.path(), &["rev-parse", "--abbrev-ref", "HEAD"]),
        format!("odw/{run}")
    );
    assert_eq!(git(ws.path(), &["log", "-1", "--format=%s"]), "add feature");
    // The user's branch is untouched.
    assert_eq!(
        git(ws.path(), &["log", "-1", "--format=%s", "main"]),
        "initial"
    );
}

#[test]
fn web_fetch_refuses_loopback_unless_allowed() {
    let ws = Ws::new();
    let url = format!("{}/health", ws.provider.base_url());
    let script = format!(
        r#"async function execute(context) {{
  try {{ return {{ ok: await context.tools.web_fetch("{url}") }}; }}
  catch (e) {{ return {{ error: e.message, code: e.code }}; }}
}}
module.exports = {{ execute }};
"#
    );
    let (v, out) = ws.run_json(&script, &[]);
    succeeded(&v, &out);
    let error = v["result"]["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{v}"));
    assert!(error.contains("127.0.0.1"), "{error}");
    assert!(error.contains("allow_private"), "{error}");
    let allowed = Ws::with(
        ProviderOptions::default(),
        "[tools.web]\nallow_private = true\n",
    );
    let url = format!("{}/health", allowed.provider.base_url());
    let (v, out) = allowed.run_json(
        &script.replace(&ws.provider.base_url(), &allowed.provider.base_url()),
        &[],
    );
    succeeded(&v, &out);
    assert_eq!(v["result"]["ok"]["status"], 200, "{v} {url}");
}

#[test]
fn a_dry_run_counts_one_tool_turn_per_tool_agent_and_touches_nothing() {
    let ws = Ws::new();
    let script = r#"async function execute(context) {
  await agent("write the file", { tools: ["write_file"] });
  await agent("just talk");
  return "done";
}
module.exports = { execute };
"#;
    let (v, out) = ws.run_json(script, &["--dry-run"]);
    succeeded(&v, &out);
    assert_eq!(v["estimate"]["agents"], 2, "{v}");
    // The tool agent: a turn with a call and an answer; the other: one request.
    assert_eq!(v["usage"]["requests"], 3, "{v}");
    assert_eq!(ws.provider.stats().total, 0);
    assert!(std::fs::read_dir(ws.path()).unwrap().count() <= 3);
}

#[test]
fn a_fan_out_of_tool_agents_stays_within_its_budget() {
    let ws = Ws::new();
    ws.write("a.txt", &"x".repeat(2000));
    let script = r#"async function execute(context) {
  const xs = await parallel(Array.from({ length: 200 }, (_, i) => () => agent(
    `item ${i} [[call:read_file {"path": "a.txt"}]] [[call:glob {}]] [[call:search {"pattern": "x"}]] [[echo-tools]]`,
    { tools: ["read_file", "glob", "search"], label: `item-${i}` })));
  return xs.filter(Boolean).length;
}
module.exports = { execute };
"#;
    let cap = 150_000u64;
    let (v, out) = ws.run_json(script, &["--budget-tokens", &cap.to_string()]);
    let used = v["usage"]["tokensIn"].as_u64().unwrap() + v["usage"]["tokensOut"].as_u64().unwrap();
    assert!(used <= cap, "{used} > {cap}: {v}\n{}", stderr(&out));
    assert_eq!(v["state"], "budget_exhausted", "{v}");
    // Every finished agent ran its three tool rounds.
    let agents = v["usage"]["agents"].as_u64().unwrap();
    assert!(agents > 0);
}

/// A script whose agent appends to a file, then runs a command that waits at a gate file;
/// the script's own tool call appends too, before the agent.
const CRASHY: &str = r#"async function execute(context) {
  await context.tools.run_bash("echo script >> script.txt");
  const text = await agent(
    `[[call:run_bash {"command": "echo once >> side.txt"}]] [[call:run_bash {"command": "touch started; while [ ! -e release ]; do sleep 0.05; done; echo twice >> slow.txt"}]] [[call:read_file {"path": "side.txt"}]] [[echo-tools]]`,
    { tools: ["run_bash", "read_file"], label: "worker" });
  return JSON.parse(text);
}
module.exports = { execute };
"#;

#[test]
// The child is killed and waited for; a failing assertion ends the test process, which reaps it.
#[allow(clippy::zombie_processes)]
fn kill_9_mid_tool_loop_then_resume_runs_nothing_twice() {
    let ws = Ws::new();
    let file = ws.write("t.workflow.js", CRASHY);
    let mut child = ws
        .cmd(&[
            "run",
            file.to_str().unwrap(),
            "--json",
            "--allow",
            "run_bash",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ws.path().join("started").exists() {
        assert!(Instant::now() < deadline, "the slow command never started");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    // The killed run's command is orphaned in its own process group: let it finish so that a
    // second run of it would show.
    std::fs::write(ws.path().join("release"), "").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let run: String = db(&ws)
        .query_row("SELECT run_id FROM runs", [], |r| r.get(0))
        .unwrap();
    let out = ws.odw(&["resume", &run, "--json", "--allow", "run_bash"]);
    let v: Value = serde_json::from_str(stdout(&out).trim())
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    succeeded(&v, &out);
    let read = |f: &str| std::fs::read_to_string(ws.path().join(f)).unwrap_or_default();
    assert_eq!(
        read("script.txt"),
        "script\n",
        "the script's own call ran twice"
    );
    assert_eq!(read("side.txt"), "once\n", "a finished call ran twice");
    assert!(
        read("slow.txt").lines().count() <= 1,
        "the interrupted call ran again"
    );
    let r = v["result"].as_array().unwrap();
    assert_eq!(r.len(), 3, "{v}");
    assert!(!is_error(&r[0]));
    assert!(is_error(&r[1]));
    assert!(
        content(&r[1]).contains("interrupted; outcome unknown"),
        "{v}"
    );
    assert_eq!(r[2]["content"], "once\n");
}

#[test]
fn cancelling_kills_the_whole_process_group() {
    let ws = Ws::new();
    let script = agent_script(
        "test:m",
        &["run_bash"],
        r#"[[call:run_bash {"command": "sleep 1000 & echo $! > grandchild.pid; wait"}]] [[echo-tools]]"#,
        "",
    );
    let file = ws.write("t.workflow.js", &script);
    let child = ws
        .cmd(&[
            "run",
            file.to_str().unwrap(),
            "--json",
            "--allow",
            "run_bash",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid_file = ws.path().join("grandchild.pid");
    let deadline = Instant::now() + Duration::from_secs(60);
    let pid: i32 = loop {
        if let Ok(text) = std::fs::read_to_string(&pid_file)
            && let Ok(pid) = text.trim().parse()
        {
            break pid;
        }
        assert!(Instant::now() < deadline, "the command never started");
        std::thread::sleep(Duration::from_millis(20));
    };
    let alive = |pid: i32| {
        std::path::Path::new(&format!("/proc/{pid}")).exists()
            && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .unwrap_or_default()
                .contains(") Z ")
    };
    assert!(alive(pid));
    // SAFETY: sending SIGINT to the child we spawned.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let out = child.wait_with_output().unwrap();
    let v: Value = serde_json::from_str(stdout(&out).trim())
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
    assert_eq!(v["state"], "cancelled", "{v}");
    let deadline = Instant::now() + Duration::from_secs(10);
    while alive(pid) {
        assert!(
            Instant::now() < deadline,
            "the grandchild {pid} survived the cancel"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `odw run` on a terminal asks on stderr; `a` allows the tool for the rest of the run.
#[test]
fn the_terminal_prompt_asks_once_for_the_run() {
    if std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        eprintln!("SKIP: the terminal prompt test needs tmux");
        return;
    }
    let ws = Ws::new();
    ws.write(
        "t.workflow.js",
        r#"async function execute(context) {
  const out = [];
  for (const f of ["one.txt", "two.txt"]) {
    out.push(await agent(`[[call:write_file {"path": "${f}", "content": "${f}"}]] [[echo-tools]]`, { tools: ["write_file"], label: f }));
  }
  return out.length;
}
module.exports = { execute };
"#,
    );
    let env: Vec<String> = ["PATH", "HOME", "LANG"]
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| format!("{k}='{v}'")))
        .collect();
    ws.write(
        "run.sh",
        &format!(
            "cd '{}' && env -i {} TERM=xterm '{}' run t.workflow.js --json > out.json; echo $? > status\n",
            ws.path().display(),
            env.join(" "),
            odw_bin()
        ),
    );
    let socket = format!("odw-prompt-{}", std::process::id());
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .arg("-L")
            .arg(&socket)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let run = format!("bash '{}'", ws.path().join("run.sh").display());
    assert!(
        tmux(&["new-session", "-d", "-x", "200", "-y", "50", &run])
            .status
            .success()
    );
    let screen = || stdout(&tmux(&["capture-pane", "-p", "-J"]));
    let deadline = Instant::now() + Duration::from_secs(60);
    while !screen().contains("[y]es / [a]ll in this run / [N]o") {
        assert!(Instant::now() < deadline, "no prompt:\n{}", screen());
        std::thread::sleep(Duration::from_millis(100));
    }
    let asked = screen();
    assert!(
        asked.contains("agent \"one.txt\" wants to use write_file: write one.txt (7 bytes)"),
        "{asked}"
    );
    tmux(&["send-keys", "a", "Enter"]);
    let status = ws.path().join("status");
    while !status.exists() {
        assert!(
            Instant::now() < deadline,
            "the run did not end:\n{}",
            screen()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = tmux(&["kill-server"]);
    assert_eq!(std::fs::read_to_string(&status).unwrap().trim(), "0");
    assert_eq!(
        std::fs::read_to_string(ws.path().join("one.txt")).unwrap(),
        "one.txt"
    );
    assert_eq!(
        std::fs::read_to_string(ws.path().join("two.txt")).unwrap(),
        "two.txt"
    );
    let v: Value = serde_json::from_str(
        std::fs::read_to_string(ws.path().join("out.json"))
            .unwrap()
            .trim(),
    )
    .unwrap();
    let run = v["runId"].as_str().unwrap();
    let asked: Vec<Value> = events(&ws, run, "approvalRequested");
    assert_eq!(asked.len(), 1, "asked once for the whole run");
    let decided: Vec<String> = events(&ws, run, "approvalDecided")
        .iter()
        .map(|d| {
            format!(
                "{}/{}",
                d["decision"].as_str().unwrap(),
                d["by"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(decided, ["allowForRun/user", "allowForRun/run"]);
}
