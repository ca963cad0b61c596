//! odw's benchmark: runs N agents at concurrency C against the loopback provider with latency
//! L through the real `odw` binary, and reports wall time against the ideal ceil(N/C)·L, the
//! odw process's CPU time per agent and its peak RSS; then journaling overhead (the same run
//! with and without the journal) and the time to resume a run that replays 10,000 calls.
//!
//!     cargo build --release -p odw -p odw-test-provider
//!     target/release/odw-bench [--odw target/release/odw] [--quick]
//!
//! Figures are ratios against an ideal or a baseline measured in the same run, because the
//! machine is shared and noisy. Every request goes to 127.0.0.1.

use odw_test_provider::{ProviderOptions, TestProvider};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const FAN_OUT: &str = r#"async function execute(context) {
  const n = context.args().n;
  const xs = await parallel(Array.from({ length: n }, (_, i) => () => agent(`bench item ${i}`, { maxTokens: 16 })));
  let mode = "ok";
  try { mode = (await context.tools.read_file("mode.txt")).trim(); } catch (e) {}
  if (mode === "fail") throw new Error("planned failure after the fan-out");
  return xs.filter(Boolean).length;
}
module.exports = { execute };
"#;

/// N agents with K rounds of a `read_file` tool call each, against the same N agents answering
/// at once: the cost of a tool turn beyond the request it adds.
const TOOL_LOOP: &str = r#"async function execute(context) {
  const { n, k } = context.args();
  const calls = Array.from({ length: k }, () => `[[call:read_file {"path": "mode.txt"}]]`).join(" ");
  const xs = await parallel(Array.from({ length: n }, (_, i) => () => agent(
    k > 0 ? `bench item ${i} ${calls}` : `bench item ${i}`,
    k > 0 ? { maxTokens: 16, tools: ["read_file"] } : { maxTokens: 16 })));
  return xs.filter(Boolean).length;
}
module.exports = { execute };
"#;

struct Measure {
    wall: Duration,
    cpu: Duration,
    max_rss_kb: i64,
    ok: bool,
    stdout: String,
}

// The child is reaped with wait4, which also returns its rusage; clippy only knows Child::wait.
#[allow(clippy::zombie_processes)]
fn run(odw: &Path, dir: &Path, args: &[&str]) -> Measure {
    let started = Instant::now();
    let child = Command::new(odw)
        .args(args)
        .current_dir(dir)
        .env_remove("ODW_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start odw");
    let pid = child.id() as libc::pid_t;
    let mut stdout = String::new();
    if let Some(mut out) = child.stdout {
        use std::io::Read;
        let _ = out.read_to_string(&mut stdout);
    }
    let mut status = 0;
    // SAFETY: rusage is plain data that wait4 fills in for the child we spawned.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
    let wall = started.elapsed();
    assert_eq!(rc, pid, "wait4 failed");
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    Measure {
        wall,
        cpu: tv(ru.ru_utime) + tv(ru.ru_stime),
        max_rss_kb: ru.ru_maxrss,
        ok: libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        stdout,
    }
}

fn workspace(provider: &TestProvider, concurrency: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join("odw.toml"),
        format!(
            "[models]\ndefault = \"bench:m\"\n[providers.bench]\nbase_url = \"{}/v1\"\n[limits]\nconcurrency = {concurrency}\n",
            provider.base_url()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("fan.workflow.js"), FAN_OUT).unwrap();
    dir
}

fn main() {
    let mut odw = PathBuf::from("target/release/odw");
    let mut quick = false;
    let mut fan_out: Vec<usize> = Vec::new();
    let mut memory_mb: Option<u64> = None;
    let mut tool_only = false;
    let mut overhead_vs: Option<Vec<PathBuf>> = None;
    let mut pairs = 5;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--odw" => odw = PathBuf::from(args.next().expect("--odw PATH")),
            "--quick" => quick = true,
            // Only the tool-loop section.
            "--tool-loop" => tool_only = true,
            // Only the journaling overhead, each pair alternated with the same pair run by the
            // other binaries given (`--overhead` alone: just this one), so a change and its
            // baseline are measured on the same noisy machine at the same time.
            "--overhead" => {
                overhead_vs.get_or_insert_with(Vec::new);
            }
            "--overhead-vs" => overhead_vs
                .get_or_insert_with(Vec::new)
                .push(PathBuf::from(args.next().expect("--overhead-vs PATH"))),
            // How many on/off pairs `--overhead` runs per binary.
            "--pairs" => {
                pairs = args
                    .next()
                    .and_then(|k| k.parse().ok())
                    .filter(|&k| k > 0)
                    .expect("--pairs K (K ≥ 1)")
            }
            // Only the default-options fan-out of N items (C=256, zero latency), for large N.
            "--memory-mb" => {
                memory_mb = Some(
                    args.next()
                        .and_then(|m| m.parse().ok())
                        .expect("--memory-mb M"),
                )
            }
            "--fan-out" => fan_out.push(
                args.next()
                    .and_then(|n| n.parse().ok())
                    .expect("--fan-out N"),
            ),
            other => panic!(
                "unknown argument {other}; usage: odw-bench [--odw PATH] [--quick] [--tool-loop] [--overhead] [--overhead-vs PATH]… [--pairs K] [--fan-out N]…"
            ),
        }
    }
    assert!(
        odw.exists(),
        "no odw binary at {} (cargo build --release -p odw)",
        odw.display()
    );
    // Runs happen in temp workspaces, so the path must not be relative.
    let odw = odw.canonicalize().expect("canonical odw path");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    if tool_only {
        tool_loop(&rt, &odw, if quick { 300 } else { 2000 });
        return;
    }
    if let Some(others) = overhead_vs {
        let mut odws = vec![odw];
        odws.extend(
            others
                .iter()
                .map(|p| p.canonicalize().expect("canonical odw path")),
        );
        overhead(&rt, &odws, if quick { 1000 } else { 10_000 }, pairs);
        return;
    }
    if !fan_out.is_empty() {
        println!(
            "| N (parallel, default options) | C | wall | CPU | CPU per agent | peak RSS | result |"
        );
        println!("|---:|---:|---:|---:|---:|---:|---|");
        for n in fan_out {
            let provider = rt.block_on(TestProvider::start(
                ProviderOptions::default().record_requests(false),
            ));
            let ws = workspace(&provider, 256);
            if let Some(mb) = memory_mb {
                let toml = ws.path().join("odw.toml");
                let text = std::fs::read_to_string(&toml).unwrap();
                std::fs::write(&toml, format!("{text}memory_mb = {mb}\n")).unwrap();
            }
            let nargs = format!("{{\"n\":{n}}}");
            let m = run(
                &odw,
                ws.path(),
                &[
                    "run",
                    "fan.workflow.js",
                    "--json",
                    "--quiet",
                    "--args",
                    &nargs,
                ],
            );
            let result = if m.ok && m.stdout.contains(&format!("\"result\":{n}")) {
                "succeeded, all items".to_string()
            } else {
                format!("FAILED: {}", m.stdout.chars().take(700).collect::<String>())
            };
            println!(
                "| {n} | 256 | {:.1} s | {:.1} s | {:.0} µs | {:.0} MB | {result} |",
                m.wall.as_secs_f64(),
                m.cpu.as_secs_f64(),
                m.cpu.as_secs_f64() * 1e6 / n as f64,
                m.max_rss_kb as f64 / 1024.0
            );
        }
        return;
    }
    let ns: &[usize] = if quick { &[1000] } else { &[1000, 10_000] };

    println!("## Fan-out (release build, loopback provider, journal on)\n");
    println!("| N | C | L | wall | ideal ceil(N/C)·L | wall / ideal | CPU per agent | peak RSS |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &n in ns {
        for &c in &[16usize, 256] {
            for &l in &[0u64, 50] {
                let provider = rt.block_on(TestProvider::start(
                    ProviderOptions::default()
                        .latency_ms(l)
                        .record_requests(false),
                ));
                let ws = workspace(&provider, c);
                let nargs = format!("{{\"n\":{n}}}");
                let m = run(
                    &odw,
                    ws.path(),
                    &[
                        "run",
                        "fan.workflow.js",
                        "--json",
                        "--quiet",
                        "--args",
                        &nargs,
                    ],
                );
                assert!(m.ok, "run failed: {}", m.stdout);
                let ideal = Duration::from_millis(n.div_ceil(c) as u64 * l);
                let ratio = if l == 0 {
                    "—".to_string()
                } else {
                    format!("{:.3}×", m.wall.as_secs_f64() / ideal.as_secs_f64())
                };
                println!(
                    "| {n} | {c} | {l} ms | {:.2} s | {:.2} s | {ratio} | {:.0} µs | {:.1} MB |",
                    m.wall.as_secs_f64(),
                    ideal.as_secs_f64(),
                    m.cpu.as_secs_f64() * 1e6 / n as f64,
                    m.max_rss_kb as f64 / 1024.0
                );
            }
        }
    }

    tool_loop(&rt, &odw, if quick { 300 } else { 2000 });

    let n = if quick { 1000 } else { 10_000 };
    println!("\n## Journaling overhead (N={n}, C=256, L=0; median of 3 alternating pairs)\n");
    let provider = rt.block_on(TestProvider::start(
        ProviderOptions::default().record_requests(false),
    ));
    let nargs = format!("{{\"n\":{n}}}");
    let mut with = Vec::new();
    let mut without = Vec::new();
    for _ in 0..3 {
        let ws = workspace(&provider, 256);
        with.push(
            run(
                &odw,
                ws.path(),
                &[
                    "run",
                    "fan.workflow.js",
                    "--json",
                    "--quiet",
                    "--args",
                    &nargs,
                ],
            )
            .wall,
        );
        let ws = workspace(&provider, 256);
        without.push(
            run(
                &odw,
                ws.path(),
                &[
                    "run",
                    "fan.workflow.js",
                    "--json",
                    "--quiet",
                    "--no-journal",
                    "--args",
                    &nargs,
                ],
            )
            .wall,
        );
    }
    with.sort();
    without.sort();
    println!("| journal | wall (median) |\n|---|---:|");
    println!("| on | {:.2} s |", with[1].as_secs_f64());
    println!("| off | {:.2} s |", without[1].as_secs_f64());
    println!(
        "\nratio on/off: {:.3}×",
        with[1].as_secs_f64() / without[1].as_secs_f64()
    );

    println!("\n## Resume replaying {n} finished calls\n");
    let ws = workspace(&provider, 256);
    std::fs::write(ws.path().join("mode.txt"), "fail").unwrap();
    let first = run(
        &odw,
        ws.path(),
        &[
            "run",
            "fan.workflow.js",
            "--json",
            "--quiet",
            "--args",
            &nargs,
        ],
    );
    assert!(!first.ok, "the first run should fail on purpose");
    let v: serde_json::Value = serde_json::from_str(first.stdout.trim()).expect("json");
    let id = v["runId"].as_str().expect("runId").to_string();
    std::fs::write(ws.path().join("mode.txt"), "ok").unwrap();
    let before = provider.stats().total;
    let m = run(&odw, ws.path(), &["resume", &id, "--json", "--quiet"]);
    assert!(m.ok, "resume failed: {}", m.stdout);
    let v: serde_json::Value = serde_json::from_str(m.stdout.trim()).expect("json");
    println!(
        "resume wall {:.2} s (whole process: open journal, load {} cached results, re-run the script), CPU {:.2} s, requests sent {}, peak RSS {:.1} MB",
        m.wall.as_secs_f64(),
        v["usage"]["cached"],
        m.cpu.as_secs_f64(),
        provider.stats().total - before,
        m.max_rss_kb as f64 / 1024.0
    );
}

/// The tool-loop section: CPU and wall of N plain agents against N agents with K tool rounds.
fn tool_loop(rt: &tokio::runtime::Runtime, odw: &Path, n: usize) {
    const K: usize = 3;
    println!("\n## Tool-loop overhead (N={n} agents, C=256, L=0, K={K} read_file rounds each)\n");
    println!("| agents | requests | wall | CPU | CPU per request |");
    println!("|---|---:|---:|---:|---:|");
    let provider = rt.block_on(TestProvider::start(
        ProviderOptions::default().record_requests(false),
    ));
    let mut cpu = [Duration::ZERO; 2];
    for (i, k) in [0, K].into_iter().enumerate() {
        let ws = workspace(&provider, 256);
        std::fs::write(ws.path().join("mode.txt"), "ok").unwrap();
        std::fs::write(ws.path().join("tools.workflow.js"), TOOL_LOOP).unwrap();
        let nargs = format!("{{\"n\":{n},\"k\":{k}}}");
        let m = run(
            odw,
            ws.path(),
            &[
                "run",
                "tools.workflow.js",
                "--json",
                "--quiet",
                "--args",
                &nargs,
            ],
        );
        assert!(
            m.ok && m.stdout.contains(&format!("\"result\":{n}")),
            "tool-loop run failed: {}",
            m.stdout
        );
        let requests = n * (k + 1);
        cpu[i] = m.cpu;
        println!(
            "| {} | {requests} | {:.2} s | {:.2} s | {:.0} µs |",
            if k == 0 {
                "plain".to_string()
            } else {
                format!("{k} tool rounds")
            },
            m.wall.as_secs_f64(),
            m.cpu.as_secs_f64(),
            m.cpu.as_secs_f64() * 1e6 / requests as f64
        );
    }
    let per_turn = (cpu[1].as_secs_f64() - cpu[0].as_secs_f64()) * 1e6 / (n * K) as f64;
    let plain = cpu[0].as_secs_f64() * 1e6 / n as f64;
    println!(
        "\nA tool turn (a request, a read_file call, two journaled steps) costs {per_turn:.0} µs of CPU, {:.2}× a plain agent call ({plain:.0} µs).",
        per_turn / plain
    );
}

/// The journal on/off ratio of each binary, `pairs` alternating pairs per binary, interleaved
/// across binaries; medians.
fn overhead(rt: &tokio::runtime::Runtime, odws: &[PathBuf], n: usize, pairs: usize) {
    let provider = rt.block_on(TestProvider::start(
        ProviderOptions::default().record_requests(false),
    ));
    let nargs = format!("{{\"n\":{n}}}");
    // Per binary: (wall, CPU) of each run with the journal, and without.
    type Runs = Vec<(Duration, Duration)>;
    let mut runs: Vec<(Runs, Runs)> = vec![(Vec::new(), Vec::new()); odws.len()];
    for _ in 0..pairs {
        for (odw, (with, without)) in odws.iter().zip(runs.iter_mut()) {
            for journal in [true, false] {
                let ws = workspace(&provider, 256);
                let mut args = vec!["run", "fan.workflow.js", "--json", "--quiet"];
                if !journal {
                    args.push("--no-journal");
                }
                args.extend(["--args", &nargs]);
                let m = run(odw, ws.path(), &args);
                assert!(m.ok, "run failed: {}", m.stdout);
                let into = if journal { &mut *with } else { &mut *without };
                into.push((m.wall, m.cpu));
            }
        }
    }
    println!(
        "| odw | wall on (median) | wall off (median) | ratio of medians | median of pair ratios | journal wall per agent | CPU ratio (median of pairs) | journal CPU per agent |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|");
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    for (odw, (with, without)) in odws.iter().zip(runs.iter()) {
        let secs = |v: &Runs, cpu: bool| -> Vec<f64> {
            v.iter()
                .map(|(w, c)| if cpu { c } else { w }.as_secs_f64())
                .collect()
        };
        // Each pair ran back to back, so its ratio is the least touched by the machine's drift.
        let pair_ratios = |cpu: bool| -> Vec<f64> {
            secs(with, cpu)
                .iter()
                .zip(secs(without, cpu))
                .map(|(on, off)| on / off)
                .collect()
        };
        let (on, off) = (median(secs(with, false)), median(secs(without, false)));
        let (cpu_on, cpu_off) = (median(secs(with, true)), median(secs(without, true)));
        println!(
            "| {} | {on:.3} s | {off:.3} s | {:.3}× | {:.3}× | {:.1} µs | {:.3}× | {:.1} µs |",
            odw.display(),
            on / off,
            median(pair_ratios(false)),
            (on - off) * 1e6 / n as f64,
            median(pair_ratios(true)),
            (cpu_on - cpu_off) * 1e6 / n as f64,
        );
    }
}
