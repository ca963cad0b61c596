//! Shared helpers: temp workspaces wired to a test provider, and running `odw` in them.

#![allow(dead_code)]

use odw_test_provider::{ProviderOptions, TestProvider};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The `odw` binary under test.
pub fn odw_bin() -> &'static str {
    env!("CARGO_BIN_EXE_odw")
}

/// A workspace in a temp dir with an `odw.toml` routing `test:*` (OpenAI wire), `testa:*`
/// (Anthropic wire) and `testo:*` (Ollama wire) to the provider.
pub struct Ws {
    pub dir: tempfile::TempDir,
    pub provider: TestProvider,
}

impl Ws {
    pub fn new() -> Ws {
        Ws::with(ProviderOptions::default(), "")
    }

    pub fn with(opts: ProviderOptions, extra_toml: &str) -> Ws {
        let provider = TestProvider::spawn(opts);
        let dir = tempfile::tempdir().unwrap();
        let url = provider.base_url();
        let toml = format!(
            r#"[models]
default = "test:m"

[providers.test]
base_url = "{url}/v1"

[providers.testa]
base_url = "{url}"
wire = "anthropic"
api_key = "sk-test-anthropic"

[providers.testo]
base_url = "{url}"
wire = "ollama"

[limits]
backoff_base_ms = 5
backoff_max_ms = 20
{extra_toml}
"#
        );
        std::fs::write(dir.path().join("odw.toml"), toml).unwrap();
        Ws { dir, provider }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Writes a file in the workspace and returns its path.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }

    /// `odw <args>` with the workspace as the current directory and a clean environment.
    pub fn odw(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = clean_command();
        c.args(args).current_dir(self.dir.path());
        c.env("HOME", self.dir.path());
        c.env("XDG_CONFIG_HOME", self.dir.path().join(".config"));
        c
    }

    /// Runs a script with `--json` and returns the parsed outcome and the raw output.
    pub fn run_json(&self, script: &str, extra: &[&str]) -> (Value, Output) {
        let file = self.write("t.workflow.js", script);
        let mut args = vec!["run", file.to_str().unwrap(), "--json"];
        args.extend_from_slice(extra);
        let out = self.odw(&args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        // Deep results (up to odw's limit) parse too.
        let v: Value = odw::json::parse(stdout.trim()).unwrap_or_else(|e| {
            panic!(
                "stdout is not one JSON object ({e}):\n--stdout--\n{stdout}\n--stderr--\n{}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (v, out)
    }
}

/// A command for `odw` with the provider keys and model settings of the developer's
/// environment removed, so tests see only what they set.
pub fn clean_command() -> Command {
    let mut c = Command::new(odw_bin());
    for var in [
        "ANTHROPIC_API_KEY",
        "ANTHROPIC_BASE_URL",
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OLLAMA_HOST",
        "ODW_MODEL",
        "ODW_LOG",
    ] {
        c.env_remove(var);
    }
    c.stdin(Stdio::null());
    c
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}
