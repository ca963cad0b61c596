//! Which open documents are workflow scripts, and the line their entry point (`export const
//! meta` or `execute`) is on. Text heuristics, because they run on every keystroke for every
//! open JavaScript file and must never be confused by a syntax error halfway through typing.

use super::config::Settings;
use tower_lsp_server::ls_types::Uri;

const JS_EXTENSIONS: &[&str] = &[".js", ".mjs", ".cjs"];

/// Whether a document gets workflow diagnostics, code lenses, hover and completion: its path
/// matches the workflow globs, or it is JavaScript that defines `execute` or `export const meta`.
pub fn is_workflow(uri: &Uri, language_id: &str, text: &str, settings: &Settings) -> bool {
    let path = uri.to_file_path();
    if let Some(p) = &path
        && settings.is_workflow_path(p)
    {
        return true;
    }
    let name = uri.path().as_str();
    let javascript = matches!(language_id, "javascript" | "javascriptreact")
        || JS_EXTENSIONS.iter().any(|e| name.ends_with(e));
    javascript && entry_line(text).is_some()
}

/// The zero-based line of `export const meta`, else of the `execute` definition.
pub fn entry_line(text: &str) -> Option<u32> {
    meta_line(text).or_else(|| execute_line(text))
}

/// The line of a top-level `export const meta`.
pub fn meta_line(text: &str) -> Option<u32> {
    text.lines()
        .position(|l| {
            let rest = l.trim_start();
            let mut words = rest.split_whitespace();
            words.next() == Some("export")
                && words.next() == Some("const")
                && words.next().is_some_and(|w| {
                    w == "meta" || w.starts_with("meta=") || w.starts_with("meta:")
                })
        })
        .map(|i| i as u32)
}

/// The line where `execute` is defined: `function execute`, `execute = …`, `execute: …`,
/// `async execute(`, `exports.execute`, or `module.exports = { execute }`.
pub fn execute_line(text: &str) -> Option<u32> {
    text.lines()
        .position(|line| {
            let code = line.split("//").next().unwrap_or("");
            let mut from = 0;
            while let Some(i) = code[from..].find("execute") {
                let at = from + i;
                let end = at + "execute".len();
                from = end;
                let before = &code[..at];
                let after = code[end..].trim_start();
                let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
                if before.ends_with(ident) || code[end..].starts_with(ident) {
                    continue;
                }
                let before = before.trim_end();
                let defines = before.ends_with("function")
                    || before.ends_with("function*")
                    || before.ends_with("exports.")
                    || (before.ends_with("async") && after.starts_with('('))
                    || ((after.starts_with('=') && !after.starts_with("=="))
                        || after.starts_with(':'))
                        && !before.ends_with('.')
                    || (code.contains("module.exports") && !before.ends_with('.'));
                if defines {
                    return true;
                }
            }
            false
        })
        .map(|i| i as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().unwrap()
    }

    #[test]
    fn entry_points() {
        assert_eq!(
            meta_line("// hi\nexport const meta = { name: 'x' };\n"),
            Some(1)
        );
        assert_eq!(
            execute_line("const a = 1;\nasync function execute(context) {}\n"),
            Some(1)
        );
        assert_eq!(execute_line("exports.execute = async () => 1;"), Some(0));
        assert_eq!(execute_line("const execute = async (c) => 1;"), Some(0));
        assert_eq!(
            execute_line("module.exports = {\n  async execute(c) {}\n};"),
            Some(1)
        );
        assert_eq!(execute_line("x\nmodule.exports = { execute };"), Some(1));
        assert_eq!(
            execute_line("runner.execute(job);\nexecuted = 1;\n// function execute"),
            None
        );
        assert_eq!(execute_line("if (execute == 1) {}"), None);
    }

    #[test]
    fn which_documents_are_workflows() {
        let s = Settings::default();
        let plain = "console.log(1);";
        assert!(is_workflow(
            &uri("file:///w/a.workflow.js"),
            "javascript",
            plain,
            &s
        ));
        assert!(is_workflow(
            &uri("file:///w/workflows/a.js"),
            "javascript",
            plain,
            &s
        ));
        assert!(!is_workflow(
            &uri("file:///w/src/a.js"),
            "javascript",
            plain,
            &s
        ));
        let meta = "export const meta = {};\nreturn 1;";
        assert!(is_workflow(&uri("file:///w/src/a.mjs"), "", meta, &s));
        assert!(is_workflow(
            &uri("untitled:Untitled-1"),
            "javascript",
            meta,
            &s
        ));
        assert!(!is_workflow(&uri("file:///w/a.ts"), "typescript", meta, &s));
    }
}
