//! Script text: taking the script out of a model's reply, filling a template with a task, naming
//! the file, and the header comment a plan carries.

use super::Topology;
use odw_protocol::run::Estimate;
use std::path::{Path, PathBuf};

/// The script in a model's reply: the longest ```js fence (an untagged one if none is tagged),
/// else the whole reply. A reply cut off inside a fence still yields what came before the cut.
pub fn extract(reply: &str) -> String {
    #[derive(PartialEq)]
    enum Fence {
        Js,
        Untagged,
        Other,
    }
    let mut tagged: Vec<String> = Vec::new();
    let mut untagged: Vec<String> = Vec::new();
    let mut open: Option<(Fence, Vec<&str>)> = None;
    let mut close = |fence: Fence, body: Vec<&str>| match fence {
        Fence::Js => tagged.push(body.join("\n")),
        Fence::Untagged => untagged.push(body.join("\n")),
        Fence::Other => {}
    };
    for line in reply.lines() {
        let fence_line = line.trim_start().strip_prefix("```");
        match (open.take(), fence_line) {
            (None, Some(tag)) => {
                let fence = match tag.trim().to_ascii_lowercase().as_str() {
                    "js" | "javascript" | "mjs" | "jsx" => Fence::Js,
                    "" => Fence::Untagged,
                    _ => Fence::Other,
                };
                open = Some((fence, Vec::new()));
            }
            (None, None) => {}
            (Some((fence, body)), Some(_)) => close(fence, body),
            (Some((fence, mut body)), None) => {
                body.push(line);
                open = Some((fence, body));
            }
        }
    }
    if let Some((fence, body)) = open {
        close(fence, body);
    }
    let longest = |v: Vec<String>| v.into_iter().max_by_key(|s| s.len());
    let script = longest(tagged)
        .or_else(|| longest(untagged))
        .unwrap_or_else(|| reply.to_string());
    format!("{}\n", script.trim())
}

/// Replaces the default of `const x = args.NAME ?? DEFAULT;` (one line) with `value` (JS source).
/// False when the template has no such slot.
pub fn set_default(script: &mut String, name: &str, value: &str) -> bool {
    let needle = format!("args.{name} ?? ");
    let Some(at) = script.find(&needle) else {
        return false;
    };
    let start = at + needle.len();
    let line_end = script[start..]
        .find('\n')
        .map_or(script.len(), |i| start + i);
    let Some(semi) = script[start..line_end].rfind(';') else {
        return false;
    };
    script.replace_range(start..start + semi, value);
    true
}

/// The template for `topology` with the task (and what else the task text tells) as defaults.
pub fn fill(topology: Topology, task: &str) -> String {
    let mut script = topology.template().to_string();
    let quoted = js_string(task);
    set_default(&mut script, "task", &quoted);
    if let Some(dir_or_glob) = path_in(task) {
        let files = if dir_or_glob.contains('*') || has_extension(&dir_or_glob) {
            dir_or_glob
        } else {
            // A folder: keep the template's choice of source files, inside that folder.
            let default = default_of(&script, "files").unwrap_or_else(|| "**/*".into());
            format!("{}/{default}", dir_or_glob.trim_end_matches('/'))
        };
        set_default(&mut script, "files", &js_string(&files));
    }
    // An open question ("which…", "what…") has no yes/no answer: let evaluators name theirs.
    let first = task.split_whitespace().next().unwrap_or("").to_lowercase();
    if ["which", "what", "who", "how", "where", "when"].contains(&first.as_str()) {
        set_default(&mut script, "options", "[]");
    }
    let name = slug(task);
    if let Some(at) = script.find("name: \"") {
        let start = at + "name: \"".len();
        if let Some(len) = script[start..].find('"') {
            script.replace_range(start..start + len, &name);
        }
    }
    script
}

/// The current default of slot `name`, when it is a plain string.
fn default_of(script: &str, name: &str) -> Option<String> {
    let needle = format!("args.{name} ?? ");
    let start = script.find(&needle)? + needle.len();
    let rest = &script[start..];
    let literal = &rest[..rest.find(";\n")?];
    serde_json::from_str::<String>(literal).ok()
}

/// A JS string literal for `s` (JSON's escaping is valid JavaScript).
fn js_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string serializes")
}

const SOURCE_ROOTS: &[&str] = &[
    "src", "lib", "app", "apps", "pkg", "cmd", "internal", "test", "tests", "spec", "docs",
    "packages", "crates", "scripts", "tools", "api", "server", "client", "web", "handlers",
];

/// The first path or glob the task names: `src/`, `./lib/api`, `src/**/*.ts`, `*.py`, `a/b.rs`.
/// "and/or" and "LISTEN/NOTIFY" are words, not paths.
pub fn path_in(task: &str) -> Option<String> {
    task.split_whitespace().find_map(|raw| {
        let token = raw.trim_matches(|c: char| "\"'`()[],;:!?".contains(c));
        let token = token.strip_suffix('.').unwrap_or(token);
        if token.contains("://") || token.is_empty() {
            return None;
        }
        let token = token.strip_prefix("./").unwrap_or(token);
        let first = token.split('/').next().unwrap_or("");
        let pathlike = token.contains('*')
            || (token.contains('/')
                && (token.ends_with('/')
                    || raw.starts_with("./")
                    || has_extension(token)
                    || SOURCE_ROOTS.contains(&first)));
        (pathlike && !token.contains("..")).then(|| {
            if token.starts_with("*.") {
                format!("**/{token}")
            } else {
                token.to_string()
            }
        })
    })
}

fn has_extension(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or(path);
    last.rsplit_once('.').is_some_and(|(stem, ext)| {
        !stem.is_empty()
            && (1..=5).contains(&ext.len())
            && ext.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "in", "on", "of", "for", "to", "and", "or", "with", "from", "by", "at", "is",
    "are", "be", "that", "this", "it", "its", "into", "our", "my", "we", "i", "me", "please",
];

/// A file-name slug of the task's first meaningful words: "audit every handler in src/ for
/// missing auth checks" → `audit-every-handler-src-missing-auth`.
pub fn slug(task: &str) -> String {
    let words: Vec<String> = task
        .to_lowercase()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty() && !STOP_WORDS.contains(w))
        .take(6)
        .map(str::to_string)
        .collect();
    let mut s = String::new();
    for w in words {
        if !s.is_empty() && s.len() + 1 + w.len() > 48 {
            break;
        }
        if !s.is_empty() {
            s.push('-');
        }
        s.push_str(&w[..w.len().min(48)]);
    }
    if s.is_empty() { "workflow".into() } else { s }
}

/// Where a plan goes: `output` (relative to `cwd`), else the first free `<slug>[-N].workflow.js`.
pub fn output_path(cwd: &Path, output: Option<&Path>, task: &str) -> PathBuf {
    if let Some(o) = output {
        return cwd.join(o);
    }
    let base = slug(task);
    (1..)
        .map(|n| {
            let name = if n == 1 {
                format!("{base}.workflow.js")
            } else {
                format!("{base}-{n}.workflow.js")
            };
            cwd.join(name)
        })
        .find(|p| !p.exists())
        .expect("some name is free")
}

/// What the header says about how the plan was made.
pub struct Provenance<'a> {
    pub task: &'a str,
    pub topology: Topology,
    /// "planned by MODEL (planner-v1, 2 rounds)" or "built-in template".
    pub made_by: String,
    /// Why this topology.
    pub reason: &'a str,
    pub estimate: &'a Estimate,
}

/// The header comment: task, topology and why, the estimate, and how to run it.
pub fn header(p: &Provenance) -> String {
    let one_line = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
    let e = p.estimate;
    let phases: Vec<String> = e
        .phases
        .iter()
        .map(|ph| format!("{} {}", ph.phase, ph.agents))
        .collect();
    format!(
        "// odw plan: {task}\n\
         // Topology: {title} ({why}); {made_by}.\n\
         // Estimate (dry run with args {{}}, simulated provider): {agents} agent(s) · ≈{tokens} tokens · ≈${cost:.4}{per_phase}\n\
         // Review it, then run it: odw run <this file> [--args '{{\"task\": …}}']\n",
        task = one_line(p.task),
        title = p.topology.title(),
        why = one_line(p.reason),
        made_by = p.made_by,
        agents = e.agents,
        tokens = e.tokens_in + e.tokens_out,
        cost = e.cost_usd,
        per_phase = if phases.is_empty() {
            String::new()
        } else {
            format!(" ({})", phases.join(", "))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extracts_the_longest_js_fence_or_the_whole_reply() {
        let reply = "Here it is:\n```js\nshort();\n```\nand\n```javascript\nconst a = 1;\nreturn a;\n```\nDone.";
        assert_eq!(extract(reply), "const a = 1;\nreturn a;\n");
        assert_eq!(extract("```\nx();\n```"), "x();\n");
        assert_eq!(extract("```json\n{}\n```\n```js\ny();\n```"), "y();\n");
        assert_eq!(extract("  plain();  "), "plain();\n");
        assert_eq!(extract("```js\ncut();\nmore("), "cut();\nmore(\n");
    }

    #[test]
    fn fill_sets_task_files_and_name() {
        let s = fill(
            Topology::MapReduce,
            "audit every handler in src/ for missing \"auth\" checks",
        );
        assert!(s.contains(r#"const task = args.task ?? "audit every handler in src/ for missing \"auth\" checks";"#), "{s}");
        assert!(s.contains(r#"const files = args.files ?? "src/**/*.{js,mjs,ts,tsx,jsx,py,rs,go,java,rb,php,cs}";"#), "{s}");
        assert!(
            s.contains(r#"name: "audit-every-handler-src-missing-auth","#),
            "{s}"
        );
        let s = fill(
            Topology::Consensus,
            "Which is better: Redis or Postgres LISTEN/NOTIFY?",
        );
        assert!(s.contains("const options = args.options ?? [];"), "{s}");
        for t in Topology::ALL {
            assert!(
                fill(t, "x").contains("const task = args.task ?? \"x\";"),
                "{t}"
            );
        }
    }

    #[test]
    fn paths_in_tasks() {
        assert_eq!(
            path_in("audit every handler in src/ for auth").as_deref(),
            Some("src/")
        );
        assert_eq!(
            path_in("check src/**/*.ts, please").as_deref(),
            Some("src/**/*.ts")
        );
        assert_eq!(path_in("lint *.py files").as_deref(), Some("**/*.py"));
        assert_eq!(
            path_in("look at ./config/app.yaml.").as_deref(),
            Some("config/app.yaml")
        );
        assert_eq!(path_in("review lib/api").as_deref(), Some("lib/api"));
        assert_eq!(path_in("Redis or Postgres LISTEN/NOTIFY and/or both"), None);
        assert_eq!(path_in("see https://example.com/a.js"), None);
    }

    #[test]
    fn slugs_and_free_names() {
        assert_eq!(
            slug("audit every handler in src/ for missing auth checks"),
            "audit-every-handler-src-missing-auth"
        );
        assert_eq!(slug("?!"), "workflow");
        let dir = tempfile::tempdir().unwrap();
        let p = output_path(dir.path(), None, "Say hi");
        assert_eq!(p, dir.path().join("say-hi.workflow.js"));
        std::fs::write(&p, "").unwrap();
        assert_eq!(
            output_path(dir.path(), None, "Say hi"),
            dir.path().join("say-hi-2.workflow.js")
        );
        assert_eq!(
            output_path(dir.path(), Some(Path::new("x.js")), "Say hi"),
            dir.path().join("x.js")
        );
    }
}
