use super::*;

/// The top-level keys of the object literal that follows `marker` in `script`: `{ a, b: x }`
/// gives `a`, `b`. Nested braces are skipped, which is all the prelude's objects need.
fn object_keys(script: &str, marker: &str) -> Vec<String> {
    let start = script
        .find(marker)
        .unwrap_or_else(|| panic!("no `{marker}`"))
        + marker.len();
    let mut depth = 0;
    let mut keys = Vec::new();
    let mut entry = String::new();
    for c in script[start..].chars() {
        match c {
            '{' | '(' | '[' => depth += 1,
            '}' | ')' | ']' if depth > 0 => depth -= 1,
            '}' | ')' => break,
            ',' if depth == 0 => keys.push(std::mem::take(&mut entry)),
            _ if depth == 0 => entry.push(c),
            _ => {}
        }
    }
    keys.push(entry);
    keys.iter()
        .map(|e| e.split(':').next().unwrap_or("").trim().to_string())
        .filter(|k| !k.is_empty())
        .collect()
}

fn sorted<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Vec<String> {
    let mut v: Vec<String> = names.into_iter().map(Into::into).collect();
    v.sort();
    v
}

/// The globals `prelude.js` and `topologies.js` install are exactly the table's, and `context`
/// carries exactly the primitives marked `in_context` plus its extras.
#[test]
fn the_scripts_define_exactly_the_table() {
    let prelude = include_str!("../sandbox/prelude.js");
    let topologies = include_str!("../sandbox/topologies.js");
    let mut installed = object_keys(prelude, "const globals = {");
    // `console` replaces QuickJS's own, so it is assigned rather than listed in `globals`.
    assert!(prelude.contains("global.console = "));
    installed.push("console".into());
    assert_eq!(sorted(installed), sorted(names_from(Source::Prelude)));
    assert_eq!(
        sorted(object_keys(topologies, "const helpers = {")),
        sorted(names_from(Source::Topologies))
    );
    let context = object_keys(prelude, "const context = Object.freeze({");
    let expected = PRIMITIVES
        .iter()
        .filter(|p| p.in_context)
        .map(|p| p.name)
        .chain(CONTEXT_EXTRAS.iter().map(|(n, _)| *n));
    assert_eq!(sorted(context), sorted(expected));
}

#[test]
fn the_key_scan_reads_shorthand_and_nested_values() {
    let keys = object_keys(
        "x; const o = { a, b: () => ({ c }), d: {} };",
        "const o = {",
    );
    assert_eq!(keys, ["a", "b", "d"]);
}

#[test]
fn names_are_unique() {
    assert_eq!(sorted(names()).len(), {
        let mut v = sorted(names());
        v.dedup();
        v.len()
    });
    let mut opts = sorted(agent_option_names());
    opts.dedup();
    assert_eq!(opts.len(), AGENT_OPTIONS.len());
}

#[test]
fn tool_docs_name_every_tool() {
    let tools = agent_option("tools").unwrap().hover();
    let context = primitive("context").unwrap().hover();
    for t in crate::tools::TOOLS {
        assert!(tools.contains(&format!("`{}`", t.id)), "{}", t.id);
        assert!(context.contains(t.id), "{}", t.id);
    }
}

/// The README's agent row names every option but the aliases.
#[test]
fn the_agent_summary_names_every_option() {
    let agent = primitive("agent").unwrap();
    for o in AGENT_OPTIONS
        .iter()
        .filter(|o| !o.alias && o.name != "prompt")
    {
        assert!(
            agent.summary.contains(&format!("`{}`", o.name)),
            "{}",
            o.name
        );
    }
}
