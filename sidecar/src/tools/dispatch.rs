//! The read-only tools by name, synchronously: what the planner and the fuzzer call. Runs go
//! through the engine's tool runner instead, which adds approvals, the journal and the async
//! tools.

use serde_json::Value;

use super::catalog::{ToolInput, ToolName};
use super::walk::DEFAULT_GLOB;
use super::{ToolError, Workspace};

impl Workspace {
    /// Runs tool `name` on positional `args`: `glob(pattern = "**/*")` gives an array of paths,
    /// `read_file(path)` a string, `search(pattern, glob?)` an array of `{file, line, text}`.
    /// The tools that act or reach the network need the engine and are refused here.
    pub fn call(&self, name: &str, args: &[Value]) -> Result<Value, ToolError> {
        let tool = ToolName::parse(name).ok_or_else(|| ToolName::unknown(name))?;
        let input = ToolInput::from_positional(tool, args)?;
        self.read_only(&input)
    }

    /// Runs a read-only tool; the others are refused as needing the engine.
    pub fn read_only(&self, input: &ToolInput) -> Result<Value, ToolError> {
        match input {
            ToolInput::Glob { pattern } => Ok(self
                .glob(pattern.as_deref().unwrap_or(DEFAULT_GLOB))?
                .into()),
            ToolInput::ReadFile { path } => Ok(self.read_file(path)?.into()),
            ToolInput::Search { pattern, glob } => {
                let matches = self.search(pattern, glob.as_deref())?;
                Ok(serde_json::to_value(matches).expect("matches serialize to JSON"))
            }
            other => Err(ToolError::Gated {
                tool: other.name().as_str(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::fs;

    fn workspace() -> (tempfile::TempDir, Workspace) {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("src")).unwrap();
        fs::write(dir.path().join("src/a.ts"), "const token = 1;\n").unwrap();
        fs::write(dir.path().join("notes.md"), "no token here? token!\n").unwrap();
        let workspace = Workspace::new(dir.path()).unwrap();
        (dir, workspace)
    }

    #[test]
    fn maps_positional_arguments_to_the_tools() {
        let (_dir, ws) = workspace();
        assert_eq!(
            ws.call("glob", &[]).unwrap(),
            json!(["notes.md", "src/a.ts"])
        );
        assert_eq!(
            ws.call("glob", &[Value::Null])
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            ws.call("glob", &[json!("src/*")]).unwrap(),
            json!(["src/a.ts"])
        );
        assert_eq!(
            ws.call("read_file", &[json!("src/a.ts")]).unwrap(),
            json!("const token = 1;\n")
        );
        assert_eq!(
            ws.call("search", &[json!("TOKEN"), json!("src/**")])
                .unwrap(),
            json!([{"file": "src/a.ts", "line": 1, "text": "const token = 1;"}])
        );
        assert_eq!(
            ws.call("search", &[json!("token")])
                .unwrap()
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }

    #[test]
    fn argument_errors_name_the_argument() {
        let (_dir, ws) = workspace();
        let message = |name: &str, args: &[Value]| ws.call(name, args).unwrap_err().to_string();
        assert_eq!(
            message("read_file", &[]),
            "read_file: argument 1 (path) is missing"
        );
        assert_eq!(
            message("read_file", &[json!(3)]),
            "read_file: argument 1 (path) must be a string, got a number"
        );
        assert_eq!(
            message("glob", &[json!({"pattern": "*"})]),
            "glob: argument 1 (pattern) must be a string, got an object"
        );
        assert_eq!(
            message("search", &[json!("x"), json!("*"), json!(true)]),
            "search: takes 2 arguments (pattern, glob), got 3"
        );
        assert_eq!(
            message("search", &[json!("x"), json!(["*.ts"])]),
            "search: argument 2 (glob) must be a string, got an array"
        );
        assert_eq!(
            message("glob", &[json!("a"), json!("b")]),
            "glob: takes 1 argument (pattern), got 2"
        );
    }

    #[test]
    fn tool_errors_pass_through() {
        let (_dir, ws) = workspace();
        assert!(matches!(
            ws.call("read_file", &[json!("../x")]),
            Err(ToolError::Escape { .. })
        ));
    }

    #[test]
    fn gated_and_unknown_tools_are_refused() {
        let (_dir, ws) = workspace();
        for (name, tool, args) in [
            ("write_file", "write_file", vec![json!("x"), json!("y")]),
            ("run_bash", "run_bash", vec![json!("x")]),
            ("runBash", "run_bash", vec![json!("x")]),
            ("git", "git", vec![json!(["status"])]),
            ("web_fetch", "web_fetch", vec![json!("http://x")]),
        ] {
            let err = ws.call(name, &args).unwrap_err();
            assert!(
                matches!(err, ToolError::Gated { tool: t } if t == tool),
                "{err}"
            );
            assert!(
                err.to_string()
                    .starts_with(&format!("`{tool}` needs approval"))
            );
        }
        let err = ws.call("rm", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown tool `rm`: the tools are glob, read_file, search, write_file, run_bash, git, web_fetch"
        );
    }
}
