//! The one table of tools: each tool's name, what it does, its arguments and whether it changes
//! the machine. The model's tool definitions, the script's positional calls, the checker, hover
//! and the approval prompts all read it, so adding a tool touches this table, its
//! implementation and a test.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::ToolError;

/// A tool an agent or a script may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolName {
    Glob,
    ReadFile,
    Search,
    WriteFile,
    RunBash,
    Git,
    WebFetch,
}

/// The type of one argument.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArgKind {
    String,
    StringArray,
}

/// One argument of a tool, in the order scripts pass it positionally.
#[derive(Debug)]
pub struct Arg {
    pub name: &'static str,
    pub kind: ArgKind,
    pub required: bool,
    pub doc: &'static str,
}

/// Everything odw knows about one tool.
#[derive(Debug)]
pub struct ToolSpec {
    pub name: ToolName,
    pub id: &'static str,
    /// What the model is told the tool does.
    pub description: &'static str,
    pub args: &'static [Arg],
    /// Changes the machine: asked for under the `[approvals]` policy, journaled before it runs
    /// and never run twice across a crash.
    pub gated: bool,
}

const fn arg(name: &'static str, kind: ArgKind, required: bool, doc: &'static str) -> Arg {
    Arg {
        name,
        kind,
        required,
        doc,
    }
}

/// Every tool, in the order messages list them.
pub const TOOLS: &[ToolSpec] = &[
    ToolSpec {
        name: ToolName::Glob,
        id: "glob",
        description: "List files of the workspace matching a glob pattern (default **/*), \
                      honouring .gitignore. Returns workspace-relative paths.",
        args: &[arg(
            "pattern",
            ArgKind::String,
            false,
            "a glob such as src/**/*.rs",
        )],
        gated: false,
    },
    ToolSpec {
        name: ToolName::ReadFile,
        id: "read_file",
        description: "Read a UTF-8 text file of the workspace.",
        args: &[arg(
            "path",
            ArgKind::String,
            true,
            "a workspace-relative path",
        )],
        gated: false,
    },
    ToolSpec {
        name: ToolName::Search,
        id: "search",
        description: "Search the workspace's files for a regular expression (case-insensitive \
                      unless it has capitals). Returns {file, line, text} matches.",
        args: &[
            arg("pattern", ArgKind::String, true, "a regular expression"),
            arg(
                "glob",
                ArgKind::String,
                false,
                "only files matching this glob",
            ),
        ],
        gated: false,
    },
    ToolSpec {
        name: ToolName::WriteFile,
        id: "write_file",
        description: "Create or replace a file of the workspace with the given content \
                      (atomically; parent directories are created).",
        args: &[
            arg("path", ArgKind::String, true, "a workspace-relative path"),
            arg("content", ArgKind::String, true, "the whole new content"),
        ],
        gated: true,
    },
    ToolSpec {
        name: ToolName::RunBash,
        id: "run_bash",
        description: "Run a bash command in the workspace root. Returns the exit code, stdout \
                      and stderr (a non-zero exit is a result, not an error).",
        args: &[arg(
            "command",
            ArgKind::String,
            true,
            "the command line, run with bash -c",
        )],
        gated: true,
    },
    ToolSpec {
        name: ToolName::Git,
        id: "git",
        description: "Run git with these arguments (no shell) in the workspace. Subcommands: \
                      status diff log show add commit branch checkout switch restore stash \
                      rev-parse ls-files blame.",
        args: &[arg(
            "args",
            ArgKind::StringArray,
            true,
            "the argv after `git`, e.g. [\"commit\", \"-m\", \"msg\"]",
        )],
        gated: true,
    },
    ToolSpec {
        name: ToolName::WebFetch,
        id: "web_fetch",
        description: "Fetch an http(s) URL and return its text (HTML reduced to readable \
                      text). Private and loopback addresses are refused.",
        args: &[arg("url", ArgKind::String, true, "an http or https URL")],
        gated: false,
    },
];

impl ToolName {
    /// The tool called `name` (`runBash` is the original engine's alias of `run_bash`).
    pub fn parse(name: &str) -> Option<ToolName> {
        if name == "runBash" {
            return Some(ToolName::RunBash);
        }
        TOOLS.iter().find(|t| t.id == name).map(|t| t.name)
    }

    pub fn spec(self) -> &'static ToolSpec {
        TOOLS
            .iter()
            .find(|t| t.name == self)
            .expect("every tool is in the table")
    }

    pub fn as_str(self) -> &'static str {
        self.spec().id
    }

    /// The unknown-tool error, listing the valid names.
    pub fn unknown(name: &str) -> ToolError {
        ToolError::UnknownTool { name: name.into() }
    }
}

impl std::fmt::Display for ToolName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The names, comma-separated, for messages.
pub fn tool_list() -> String {
    TOOLS.iter().map(|t| t.id).collect::<Vec<_>>().join(", ")
}

impl ToolSpec {
    /// The JSON Schema of the arguments, as the model's tool definition carries it.
    pub fn parameters(&self) -> Value {
        let mut properties = Map::new();
        let mut required = Vec::new();
        for a in self.args {
            let schema = match a.kind {
                ArgKind::String => json!({"type": "string", "description": a.doc}),
                ArgKind::StringArray => {
                    json!({"type": "array", "items": {"type": "string"}, "description": a.doc})
                }
            };
            properties.insert(a.name.into(), schema);
            if a.required {
                required.push(a.name);
            }
        }
        json!({
            "type": "object",
            "properties": properties,
            "required": required,
            "additionalProperties": false,
        })
    }

    /// The definition sent to the model.
    pub fn definition(&self) -> crate::providers::ToolDef {
        crate::providers::ToolDef {
            name: self.id.into(),
            description: self.description.into(),
            parameters: self.parameters(),
        }
    }

    /// One line per argument, for hover and the README.
    pub fn signature(&self) -> String {
        let args: Vec<String> = self
            .args
            .iter()
            .map(|a| {
                let ty = match a.kind {
                    ArgKind::String => "string",
                    ArgKind::StringArray => "string[]",
                };
                let optional = if a.required { "" } else { "?" };
                format!("{}{optional}: {ty}", a.name)
            })
            .collect();
        format!("{}({})", self.id, args.join(", "))
    }
}

/// A tool call with its arguments checked against the table: what the tools run on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "tool", rename_all = "snake_case")]
pub enum ToolInput {
    Glob {
        pattern: Option<String>,
    },
    ReadFile {
        path: String,
    },
    Search {
        pattern: String,
        glob: Option<String>,
    },
    WriteFile {
        path: String,
        content: String,
    },
    RunBash {
        command: String,
    },
    Git {
        args: Vec<String>,
    },
    WebFetch {
        url: String,
    },
}

impl ToolInput {
    pub fn name(&self) -> ToolName {
        match self {
            ToolInput::Glob { .. } => ToolName::Glob,
            ToolInput::ReadFile { .. } => ToolName::ReadFile,
            ToolInput::Search { .. } => ToolName::Search,
            ToolInput::WriteFile { .. } => ToolName::WriteFile,
            ToolInput::RunBash { .. } => ToolName::RunBash,
            ToolInput::Git { .. } => ToolName::Git,
            ToolInput::WebFetch { .. } => ToolName::WebFetch,
        }
    }

    /// From a model's arguments object: every required argument present, each of its type,
    /// no unknown ones (an unknown key is usually a misremembered name the model can fix).
    pub fn from_object(tool: ToolName, args: &Map<String, Value>) -> Result<Self, ToolError> {
        let spec = tool.spec();
        if let Some(extra) = args
            .keys()
            .find(|k| !spec.args.iter().any(|a| a.name == k.as_str()))
        {
            let known: Vec<&str> = spec.args.iter().map(|a| a.name).collect();
            return Err(invalid(
                spec,
                format!(
                    "unknown argument `{extra}`; the arguments are {}",
                    known.join(", ")
                ),
            ));
        }
        let values: Vec<Option<&Value>> = spec.args.iter().map(|a| args.get(a.name)).collect();
        Self::build(spec, &values, |a, _| format!("argument `{}`", a.name))
    }

    /// From a script's positional arguments (`context.tools.write_file(path, content)`).
    pub fn from_positional(tool: ToolName, args: &[Value]) -> Result<Self, ToolError> {
        let spec = tool.spec();
        if args.len() > spec.args.len() {
            let n = spec.args.len();
            let plural = if n == 1 { "" } else { "s" };
            let names: Vec<&str> = spec.args.iter().map(|a| a.name).collect();
            return Err(invalid(
                spec,
                format!(
                    "takes {n} argument{plural} ({}), got {}",
                    names.join(", "),
                    args.len()
                ),
            ));
        }
        let values: Vec<Option<&Value>> = (0..spec.args.len()).map(|i| args.get(i)).collect();
        Self::build(spec, &values, |a, i| {
            format!("argument {} ({})", i + 1, a.name)
        })
    }

    fn build(
        spec: &'static ToolSpec,
        values: &[Option<&Value>],
        describe: impl Fn(&Arg, usize) -> String,
    ) -> Result<Self, ToolError> {
        let mut strings: Vec<Option<String>> = Vec::new();
        let mut arrays: Vec<Option<Vec<String>>> = Vec::new();
        for (i, (a, v)) in spec.args.iter().zip(values).enumerate() {
            let v = v.filter(|v| !v.is_null());
            if v.is_none() && a.required {
                return Err(invalid(spec, format!("{} is missing", describe(a, i))));
            }
            match (a.kind, v) {
                (ArgKind::String, None) => strings.push(None),
                (ArgKind::String, Some(Value::String(s))) => strings.push(Some(s.clone())),
                (ArgKind::StringArray, None) => arrays.push(None),
                (ArgKind::StringArray, Some(Value::Array(items))) => {
                    let items: Option<Vec<String>> =
                        items.iter().map(|x| x.as_str().map(String::from)).collect();
                    let Some(items) = items else {
                        return Err(invalid(
                            spec,
                            format!("{} must be an array of strings", describe(a, i)),
                        ));
                    };
                    arrays.push(Some(items));
                }
                (kind, Some(other)) => {
                    let want = match kind {
                        ArgKind::String => "a string",
                        ArgKind::StringArray => "an array of strings",
                    };
                    return Err(invalid(
                        spec,
                        format!("{} must be {want}, got {}", describe(a, i), kind_of(other)),
                    ));
                }
            }
        }
        let mut s = strings.into_iter();
        let mut next = || s.next().flatten();
        let required = |v: Option<String>| v.expect("required arguments were checked");
        Ok(match spec.name {
            ToolName::Glob => ToolInput::Glob { pattern: next() },
            ToolName::ReadFile => ToolInput::ReadFile {
                path: required(next()),
            },
            ToolName::Search => {
                let pattern = required(next());
                ToolInput::Search {
                    pattern,
                    glob: next(),
                }
            }
            ToolName::WriteFile => {
                let path = required(next());
                ToolInput::WriteFile {
                    path,
                    content: required(next()),
                }
            }
            ToolName::RunBash => ToolInput::RunBash {
                command: required(next()),
            },
            ToolName::Git => ToolInput::Git {
                args: arrays
                    .into_iter()
                    .next()
                    .flatten()
                    .expect("required arguments were checked"),
            },
            ToolName::WebFetch => ToolInput::WebFetch {
                url: required(next()),
            },
        })
    }

    /// What the call will do, for the approval prompt: the path and the first lines, the
    /// command, the git argv.
    pub fn describe(&self) -> String {
        match self {
            ToolInput::Glob { pattern } => {
                format!(
                    "list files matching {}",
                    pattern.as_deref().unwrap_or("**/*")
                )
            }
            ToolInput::ReadFile { path } => format!("read {path}"),
            ToolInput::Search { pattern, glob } => match glob {
                Some(g) => format!("search /{pattern}/ in {g}"),
                None => format!("search /{pattern}/"),
            },
            ToolInput::WriteFile { path, content } => {
                let lines = content.lines().count();
                let mut preview: String = content
                    .lines()
                    .take(5)
                    .map(|l| {
                        let l: String = l.chars().take(100).collect();
                        format!("\n  | {l}")
                    })
                    .collect();
                if lines > 5 {
                    preview.push_str(&format!("\n  | … ({} more lines)", lines - 5));
                }
                format!("write {path} ({} bytes){preview}", content.len())
            }
            ToolInput::RunBash { command } => format!("run `{command}`"),
            ToolInput::Git { args } => format!("git {}", shell_words(args)),
            ToolInput::WebFetch { url } => format!("fetch {url}"),
        }
    }
}

/// argv as a shell would show it, quoting words that need it.
fn shell_words(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:@%+,".contains(c))
            {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn invalid(spec: &ToolSpec, message: String) -> ToolError {
    ToolError::InvalidArgument {
        tool: spec.id,
        message,
    }
}

/// The JavaScript-facing name of a JSON value's type.
fn kind_of(value: &Value) -> &'static str {
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

    #[test]
    fn names_round_trip_and_the_alias_is_known() {
        for t in TOOLS {
            assert_eq!(ToolName::parse(t.id), Some(t.name));
            assert_eq!(t.name.spec().id, t.id);
            assert_eq!(
                serde_json::to_value(t.name).unwrap(),
                Value::String(t.id.into())
            );
        }
        assert_eq!(ToolName::parse("runBash"), Some(ToolName::RunBash));
        assert_eq!(ToolName::parse("rm"), None);
        assert_eq!(
            tool_list(),
            "glob, read_file, search, write_file, run_bash, git, web_fetch"
        );
    }

    #[test]
    fn parameters_are_json_schemas_that_accept_good_arguments() {
        for t in TOOLS {
            let schema = t.parameters();
            let validator = jsonschema::validator_for(&schema).unwrap();
            let mut good = Map::new();
            for a in t.args {
                let v = match a.kind {
                    ArgKind::String => json!("x"),
                    ArgKind::StringArray => json!(["status"]),
                };
                good.insert(a.name.into(), v);
            }
            assert!(validator.is_valid(&Value::Object(good.clone())), "{}", t.id);
            ToolInput::from_object(t.name, &good).unwrap();
        }
    }

    #[test]
    fn object_arguments_are_checked() {
        let obj = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(
            ToolInput::from_object(
                ToolName::WriteFile,
                &obj(json!({"path": "a", "content": "b"}))
            )
            .unwrap(),
            ToolInput::WriteFile {
                path: "a".into(),
                content: "b".into()
            }
        );
        let err = |t, v| ToolInput::from_object(t, &obj(v)).unwrap_err().to_string();
        assert_eq!(
            err(ToolName::WriteFile, json!({"path": "a"})),
            "write_file: argument `content` is missing"
        );
        assert_eq!(
            err(ToolName::Git, json!({"args": "status"})),
            "git: argument `args` must be an array of strings, got a string"
        );
        assert_eq!(
            err(ToolName::Git, json!({"args": ["status", 1]})),
            "git: argument `args` must be an array of strings"
        );
        assert_eq!(
            err(ToolName::ReadFile, json!({"file": "a"})),
            "read_file: unknown argument `file`; the arguments are path"
        );
    }

    #[test]
    fn positional_arguments_are_checked() {
        assert_eq!(
            ToolInput::from_positional(ToolName::Glob, &[]).unwrap(),
            ToolInput::Glob { pattern: None }
        );
        assert_eq!(
            ToolInput::from_positional(ToolName::Search, &[json!("x"), Value::Null]).unwrap(),
            ToolInput::Search {
                pattern: "x".into(),
                glob: None
            }
        );
        let err = |t, v: &[Value]| ToolInput::from_positional(t, v).unwrap_err().to_string();
        assert_eq!(
            err(ToolName::ReadFile, &[]),
            "read_file: argument 1 (path) is missing"
        );
        assert_eq!(
            err(ToolName::ReadFile, &[json!(3)]),
            "read_file: argument 1 (path) must be a string, got a number"
        );
        assert_eq!(
            err(ToolName::Search, &[json!("x"), json!("*"), json!(true)]),
            "search: takes 2 arguments (pattern, glob), got 3"
        );
    }

    #[test]
    fn descriptions_show_what_will_happen() {
        let write = ToolInput::WriteFile {
            path: "src/a.rs".into(),
            content: (1..=8).map(|i| format!("line {i}\n")).collect(),
        };
        let d = write.describe();
        assert!(
            d.starts_with("write src/a.rs (56 bytes)\n  | line 1"),
            "{d}"
        );
        assert!(d.ends_with("… (3 more lines)"), "{d}");
        assert_eq!(
            ToolInput::Git {
                args: vec!["commit".into(), "-m".into(), "fix it's bug".into()]
            }
            .describe(),
            r"git commit -m 'fix it'\''s bug'"
        );
    }
}
