//! The Zed extension (clients/zed): its manifest and tasks, its host unit tests (it is a cargo
//! workspace of its own, outside `cargo test --workspace`), and its wasm build when the target is
//! installed.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Instant;

fn zed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../clients/zed")
}

/// The extension's own target dir, beside the workspace's builds (target/zed).
fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR is inside the target dir")
        .join("zed")
}

fn toml_file(name: &str) -> toml::Table {
    let text = std::fs::read_to_string(zed_dir().join(name)).unwrap();
    text.parse()
        .unwrap_or_else(|e| panic!("clients/zed/{name}: {e}"))
}

/// Keys of a task in Zed's tasks.json.
const TASK_KEYS: &[&str] = &[
    "label",
    "command",
    "args",
    "env",
    "cwd",
    "use_new_terminal",
    "allow_concurrent_runs",
    "reveal",
    "reveal_target",
    "hide",
    "shell",
    "show_summary",
    "show_command",
    "tags",
];

#[test]
fn zed_manifest_registers_the_server_for_javascript() {
    let ext = toml_file("extension.toml");
    assert_eq!(ext["id"].as_str(), Some("odw"));
    assert_eq!(ext["schema_version"].as_integer(), Some(1));
    let server = ext["language_servers"]["odw"].as_table().unwrap();
    let languages: Vec<&str> = server["languages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str())
        .collect();
    assert_eq!(languages, ["JavaScript"]);
    // The agent panel's context server: `odw mcp` (the command is in src/launch.rs).
    assert!(
        ext["context_servers"]["odw"].is_table(),
        "extension.toml registers the odw context server"
    );
    let cargo = toml_file("Cargo.toml");
    assert_eq!(
        ext["version"].as_str(),
        cargo["package"]["version"].as_str()
    );
    assert!(cargo.contains_key("workspace"), "a workspace of its own");
    let crate_type = cargo["lib"]["crate-type"].as_array().unwrap();
    assert_eq!(crate_type, &[toml::Value::from("cdylib")]);
}

#[test]
fn zed_tasks_run_dry_run_and_resume() {
    let text = std::fs::read_to_string(zed_dir().join("tasks.json")).unwrap();
    let tasks: Vec<Value> = serde_json::from_str(&text).expect("tasks.json is a JSON array");
    for t in &tasks {
        let obj = t.as_object().unwrap();
        let unknown: Vec<&String> = obj
            .keys()
            .filter(|k| !TASK_KEYS.contains(&k.as_str()))
            .collect();
        assert!(unknown.is_empty(), "unknown task keys {unknown:?} in {t}");
        assert!(obj["label"].as_str().unwrap().starts_with("odw: "), "{t}");
        assert!(obj["command"].as_str().unwrap().contains("odw "), "{t}");
    }
    let command = |label: &str| {
        tasks
            .iter()
            .find(|t| t["label"] == label)
            .unwrap_or_else(|| panic!("no task {label:?}"))["command"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(command("odw: run current file"), "odw run \"$ZED_FILE\"");
    assert_eq!(
        command("odw: dry run current file"),
        "odw run \"$ZED_FILE\" --dry-run"
    );
    assert!(command("odw: resume the last unfinished run").contains("odw resume \"$id\""));
    assert_eq!(
        command("odw: resume the selected run id"),
        "odw resume \"$ZED_SELECTED_TEXT\""
    );
}

/// `cargo ARGS` on the extension's manifest, offline (tests make no network traffic).
fn cargo(args: &[&str]) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let manifest = zed_dir().join("Cargo.toml");
    let mut cmd = Command::new(cargo);
    cmd.args(args)
        .arg("--manifest-path")
        .arg(&manifest)
        .args(["--offline", "--locked"])
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_BUILD_TARGET")
        .stdin(Stdio::null());
    let started = Instant::now();
    let out = cmd.output().expect("run cargo");
    eprintln!(
        "cargo {} (zed extension): {:?}",
        args.join(" "),
        started.elapsed()
    );
    out
}

/// Whether cargo failed only because the crates are not cached and it may not download them.
fn crates_missing(out: &Output) -> bool {
    let stderr = String::from_utf8_lossy(&out.stderr);
    !out.status.success()
        && (stderr.contains("offline mode (--offline)")
            || stderr.contains("--offline was specified"))
}

/// Outside CI, missing crates skip the test with a message; on CI (`CI` set) nothing skips.
fn skip_for_missing_crates(what: &str, out: &Output) -> bool {
    if crates_missing(out) && std::env::var_os("CI").is_none() {
        eprintln!(
            "SKIP: {what}: its crates are not in the cargo cache and tests do not \
             download; fetch them once with `cargo fetch --manifest-path clients/zed/Cargo.toml`"
        );
        return true;
    }
    false
}

fn explain(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let hint = if crates_missing(out) {
        "\nhint: the extension's crates are not in the cargo cache; fetch them once with \
         `cargo fetch --manifest-path clients/zed/Cargo.toml`"
    } else {
        ""
    };
    format!(
        "{}\n--- stdout\n{}\n--- stderr\n{stderr}{hint}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    )
}

#[test]
fn zed_extension_unit_tests_pass_on_the_host() {
    let out = cargo(&["test"]);
    if skip_for_missing_crates("the Zed extension's host tests", &out) {
        return;
    }
    assert!(
        out.status.success(),
        "cargo test (clients/zed) failed: {}",
        explain(&out)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("test result: ok"), "{stdout}");
}

#[test]
fn zed_extension_builds_for_wasm_when_the_target_is_installed() {
    const TARGET: &str = "wasm32-wasip2";
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .map(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .any(|l| l.trim() == TARGET)
        })
        .unwrap_or(false);
    if !installed {
        eprintln!(
            "SKIP: the Zed extension's wasm build: the {TARGET} target is not installed \
             (rustup target add {TARGET})"
        );
        return;
    }
    let out = cargo(&["build", "--release", "--target", TARGET]);
    if skip_for_missing_crates("the Zed extension's wasm build", &out) {
        return;
    }
    assert!(
        out.status.success(),
        "cargo build --target {TARGET} failed: {}",
        explain(&out)
    );
    let wasm = target_dir().join(TARGET).join("release/odw_zed.wasm");
    assert!(wasm.is_file(), "no {}", wasm.display());
}
