//! `context.tools.<name>(...args)`: positional JSON arguments in, a JSON result out.

use serde_json::Value;

use super::walk::DEFAULT_GLOB;
use super::{ToolError, Workspace};

/// Every tool name a script may call, in the order error messages list them.
pub const TOOL_NAMES: &[&str] = &[
    "glob",
    "read_file",
    "search",
    "write_file",
    "run_bash",
    "git",
];

impl Workspace {
    /// Runs tool `name` on positional `args`: `glob(pattern = "**/*")` gives an array of paths,
    /// `read_file(path)` a string, `search(pattern, glob?)` an array of `{file, line, text}`;
    /// `write_file`, `run_bash` and `git` are refused as needing approval.
    pub fn call(&self, name: &str, args: &[Value]) -> Result<Value, ToolError> {
        match name {
            "glob" => {
                let [pattern] = arguments("glob", args, ["pattern"])?;
                let pattern = optional_string("glob", "pattern", 1, pattern)?;
                Ok(self.glob(pattern.unwrap_or(DEFAULT_GLOB))?.into())
            }
            "read_file" => {
                let [path] = arguments("read_file", args, ["path"])?;
                let path = required_string("read_file", "path", 1, path)?;
                Ok(self.read_file(path)?.into())
            }
            "search" => {
                let [pattern, glob] = arguments("search", args, ["pattern", "glob"])?;
                let pattern = required_string("search", "pattern", 1, pattern)?;
                let glob = optional_string("search", "glob", 2, glob)?;
                let matches = self.search(pattern, glob)?;
                Ok(serde_json::to_value(matches).expect("matches serialize to JSON"))
            }
            "write_file" => Err(ToolError::Gated { tool: "write_file" }),
            // `runBash` is the original's alias for the same tool.
            "run_bash" | "runBash" => Err(ToolError::Gated { tool: "run_bash" }),
            "git" => Err(ToolError::Gated { tool: "git" }),
            _ => Err(ToolError::UnknownTool { name: name.into() }),
        }
    }
}

/// The first `N` arguments, missing ones as `None`; more than `N` is an error rather than
/// silently dropped, because an extra argument is usually an option the tool does not have.
fn arguments<'a, const N: usize>(
    tool: &'static str,
    args: &'a [Value],
    names: [&str; N],
) -> Result<[Option<&'a Value>; N], ToolError> {
    if args.len() > N {
        let plural = if N == 1 { "" } else { "s" };
        return Err(ToolError::InvalidArgument {
            tool,
            message: format!(
                "takes {N} argument{plural} ({}), got {}",
                names.join(", "),
                args.len()
            ),
        });
    }
    Ok(std::array::from_fn(|i| args.get(i)))
}

/// A string argument that may be absent or `null`.
fn optional_string<'a>(
    tool: &'static str,
    name: &str,
    position: usize,
    value: Option<&'a Value>,
) -> Result<Option<&'a str>, ToolError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(other) => Err(ToolError::InvalidArgument {
            tool,
            message: format!(
                "argument {position} ({name}) must be a string, got {}",
                kind(other)
            ),
        }),
    }
}

fn required_string<'a>(
    tool: &'static str,
    name: &str,
    position: usize,
    value: Option<&'a Value>,
) -> Result<&'a str, ToolError> {
    optional_string(tool, name, position, value)?.ok_or_else(|| ToolError::InvalidArgument {
        tool,
        message: format!("argument {position} ({name}) is missing"),
    })
}

/// The JavaScript-facing name of a JSON value's type.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
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
        for (name, tool) in [
            ("write_file", "write_file"),
            ("run_bash", "run_bash"),
            ("runBash", "run_bash"),
            ("git", "git"),
        ] {
            let err = ws.call(name, &[json!("x")]).unwrap_err();
            assert!(
                matches!(err, ToolError::Gated { tool: t } if t == tool),
                "{err}"
            );
            assert!(
                err.to_string()
                    .starts_with(&format!("`{tool}` needs approval"))
            );
        }
        let err = ws.call("web_fetch", &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unknown tool `web_fetch`: the tools are glob, read_file, search, write_file, run_bash, git"
        );
    }
}
