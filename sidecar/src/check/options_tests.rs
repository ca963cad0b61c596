use crate::check::{CheckOptions, check};
use odw_protocol::{Diagnostic, Position, Severity};

fn found(source: &str, code: &str) -> Vec<Diagnostic> {
    found_with(source, code, &CheckOptions::default())
}

fn found_with(source: &str, code: &str, opts: &CheckOptions) -> Vec<Diagnostic> {
    let body = format!("export const meta = {{}};\n{source}");
    check(&body, opts)
        .diagnostics
        .into_iter()
        .filter(|d| d.code == code)
        .collect()
}

/// Applies a diagnostic's fix to the line it is on (line 1, after the meta header).
fn fixed_line(source: &str, diag: &Diagnostic) -> String {
    let mut line = source.lines().next().unwrap().to_string();
    let mut edits = diag.fix.as_ref().unwrap().edits.clone();
    edits.sort_by_key(|e| std::cmp::Reverse(e.range.start.character));
    for edit in edits {
        assert_eq!(edit.range.start.line, 1);
        let utf16: Vec<u16> = line.encode_utf16().collect();
        let (s, e) = (
            edit.range.start.character as usize,
            edit.range.end.character as usize,
        );
        line = format!(
            "{}{}{}",
            String::from_utf16(&utf16[..s]).unwrap(),
            edit.new_text,
            String::from_utf16(&utf16[e..]).unwrap()
        );
    }
    line
}

#[test]
fn unknown_option_suggests_the_nearest_key() {
    let src = "await agent('p', { modle: 'default', temperature: 0 });";
    let d = found(src, "unknown-option");
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].severity, Severity::Warning);
    assert_eq!(
        d[0].message,
        "unknown `agent()` option `modle`: did you mean `model`?"
    );
    assert_eq!(
        fixed_line(src, &d[0]),
        "await agent('p', { model: 'default', temperature: 0 });"
    );
}

#[test]
fn unknown_option_in_object_form_string_key_and_shorthand() {
    let src = "await agent({ prompt: 'p', 'sytem': 's', lable });";
    let d = found(src, "unknown-option");
    assert_eq!(d.len(), 2);
    assert_eq!(
        fixed_line(src, &d[0]),
        "await agent({ prompt: 'p', 'system': 's', lable });"
    );
    assert_eq!(
        fixed_line(src, &d[1]),
        "await agent({ prompt: 'p', 'sytem': 's', label: lable });"
    );
}

#[test]
fn unrelated_key_lists_the_options() {
    let d = found("await agent('p', { frobnicate: 1 });", "unknown-option");
    assert!(d[0].fix.is_none());
    assert!(d[0].message.contains("maxToolIterations"));
}

#[test]
fn known_options_spreads_and_other_calls_pass() {
    let src = "const o = {}; const agent2 = agent;\n\
               await agent({ prompt: 'p', role: 'r', model: 'default', system: 's', \
               systemPrompt: 's', schema: {}, maxTokens: 1, temperature: 0, label: 'l', phase: 'x', \
               key: 'k', timeoutMs: 1, retries: 1, tools: [], fallback: 'fallback', \
               maxToolIterations: 2, ...o, ['computed']: 1 });\n\
               await parallel([], { maxConcurrency: 2 }); await agent2('p', { whatever: 1 });";
    assert!(found(src, "unknown-option").is_empty());
}

#[test]
fn shadowed_agent_is_not_checked() {
    let src = "function agent(a, b) {}\nagent('p', { bogus: 1 });";
    assert!(found(src, "unknown-option").is_empty());
}

#[test]
fn invalid_schema_type_gets_a_fix() {
    let src = "await agent('p', { schema: { name: 'strng', tags: 'strng[]', n: 'int', ok: 'boolean' } });";
    let d = found(src, "invalid-schema");
    assert_eq!(d.len(), 3, "{d:?}");
    assert_eq!(d[0].severity, Severity::Error);
    assert!(
        d[0].message
            .starts_with("invalid schema type `strng` for `name`: did you mean `string`?")
    );
    assert!(fixed_line(src, &d[0]).contains("name: 'string'"));
    assert!(fixed_line(src, &d[1]).contains("tags: 'string[]'"));
    assert!(fixed_line(src, &d[2]).contains("n: 'integer'"));
}

#[test]
fn schema_shorthand_nesting_and_arrays() {
    let src = "await agent('p', { schema: { a: ['number'], b: { c: 'nope', d: 'null' }, e: 'object[][]', f: 3, \
               g: [], h: true, i: ' String ', j: ['string', 'number'], k: [{ l: 'bool' }] } });";
    let d = found(src, "invalid-schema");
    assert_eq!(d.len(), 4, "{d:?}");
    assert!(d[0].message.contains("`nope` for `c`") && d[0].fix.is_none());
    assert!(d[1].message.contains("type names as strings"));
    assert!(d[2].message.contains("exactly one element"));
    assert!(
        d[3].message
            .contains("`bool` for `l`: did you mean `boolean`?")
    );
}

#[test]
fn full_json_schema_and_dynamic_schemas_are_skipped() {
    let src = "const s = {};\n\
               await agent({ prompt: 'p', schema: { type: 'object', properties: { a: { type: 'strng' } } } });\n\
               await agent({ prompt: 'p', schema: { anyOf: [] } }); await agent('p', { schema: s });\n\
               await agent('p', { schema: { x: someType } });";
    assert!(found(src, "invalid-schema").is_empty());
}

#[test]
fn unknown_model_asks_the_callback() {
    let opts = CheckOptions {
        known_model: Some(Box::new(|id: &str| id.starts_with("claude-"))),
    };
    let src = "await agent('p', { model: 'mistrel' }); await agent('p', { model: 'claude-x' });\n\
               await agent('p', { model: 'planning', fallback: `gpt-9` }); await agent('p', { model: m });";
    let d = found_with(src, "unknown-model", &opts);
    assert_eq!(d.len(), 2, "{d:?}");
    assert_eq!(d[0].severity, Severity::Warning);
    assert!(d[0].message.starts_with("no route for model `mistrel`"));
    assert_eq!(
        d[0].range.start,
        Position {
            line: 1,
            character: 26
        }
    );
    assert!(d[1].message.contains("`gpt-9`"));
    assert!(
        found(src, "unknown-model").is_empty(),
        "no callback, no check"
    );
}

#[test]
fn unknown_tools_are_errors_with_a_fix() {
    let d = found(
        "await agent('p', { tools: ['read_file', 'writefile', 'rm', `git`] });",
        "unknown-tool",
    );
    assert_eq!(d.len(), 2, "{d:?}");
    assert_eq!(
        d[0].message,
        "unknown tool `writefile`: did you mean `write_file`?"
    );
    assert!(d[0].fix.is_some());
    assert_eq!(
        d[1].message,
        "unknown tool `rm`: the tools are glob, read_file, search, write_file, run_bash, git, web_fetch"
    );
    assert!(
        found(
            "await agent('p', { tools: ['runBash', 'web_fetch'] });",
            "unknown-tool"
        )
        .is_empty()
    );
}
