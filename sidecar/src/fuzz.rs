//! Fuzzing of everything that takes untrusted bytes, on stable Rust: proptest with generators
//! that mix random bytes with the inputs' own vocabulary, plus a replay of the checked-in
//! corpus (`sidecar/fuzz-corpus/<target>/`). Each target must never panic and never hang.
//! `ODW_FUZZ_CASES` sets the cases per target (default 256; `.ci/run` raises it), and
//! `ODW_FUZZ_SEED` the seed (default 0, so a run is reproducible; vary it to explore further).
//! (cargo-fuzz needs a nightly toolchain, which a fresh machine here does not have.)

use proptest::prelude::*;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use serde_json::Value;
use std::path::PathBuf;
use std::time::Duration;

/// How long one input may take before it counts as a hang (not a performance bound).
const HANG: Duration = Duration::from_secs(30);

fn runner() -> TestRunner {
    let cases = std::env::var("ODW_FUZZ_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(256);
    let seed: u64 = std::env::var("ODW_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    TestRunner::new_with_rng(
        Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        },
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    )
}

/// Runs `f` on a thread of its own and fails if it panics or does not return within [`HANG`].
fn bounded<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(move || {
            let _ = tx.send(f());
        })
        .unwrap();
    rx.recv_timeout(HANG)
        .unwrap_or_else(|_| panic!("{what}: panicked or hung"))
}

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz-corpus")
        .join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no corpus in {}", dir.display());
    files
        .into_iter()
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            (p, bytes)
        })
        .collect()
}

/// Text made of a vocabulary's tokens and random characters.
fn soup(vocabulary: &'static [&'static str]) -> impl Strategy<Value = String> {
    let token = prop_oneof![
        4 => proptest::sample::select(vocabulary).prop_map(str::to_string),
        1 => any::<char>().prop_map(|c| c.to_string()),
        1 => "[ \\n\\t]{1,3}",
    ];
    proptest::collection::vec(token, 0..120).prop_map(|t| t.concat())
}

const JS: &[&str] = &[
    "export const meta = ",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "`",
    "${",
    "\"",
    "'",
    "/",
    "*",
    ";",
    ",",
    ":",
    "=>",
    "=",
    "+",
    "await ",
    "async ",
    "function ",
    "execute",
    "context",
    "return ",
    "agent(",
    "parallel(",
    "pipeline(",
    "verify(",
    "loop(",
    "phase(",
    "log(",
    "checkpoint(",
    "budget",
    "args",
    "workflow(",
    "module.exports = ",
    "import ",
    "require(",
    "schema: ",
    "{ a: \"string\" }",
    "model: \"gpt-5\"",
    "tools: [\"glob\"]",
    "x",
    "1",
    "\\u{d800}",
    "//",
    "/*",
    "*/",
    "#!",
    "\r\n",
    "if (",
    "else ",
    "for (",
    "while (",
    "new Promise(",
    ".then(",
];

fn check_one(text: String) {
    bounded("check", move || {
        let report = crate::check::check(&text, &crate::check::CheckOptions::default());
        // Positions stay inside the text, whose lines end as LSP says: `\n`, `\r\n` or `\r`.
        let lines = text
            .replace("\r\n", "\n")
            .replace('\r', "\n")
            .split('\n')
            .count() as u32;
        for d in &report.diagnostics {
            assert!(d.range.start.line < lines, "{d:?} in {lines} lines");
            assert!(d.range.end.line < lines, "{d:?} in {lines} lines");
        }
        let _ = crate::check::model_use(&text);
        let _ = crate::check::prepare(&text);
    });
}

#[test]
fn fuzz_checker() {
    for (path, bytes) in corpus("checker") {
        eprintln!("corpus {}", path.display());
        check_one(String::from_utf8_lossy(&bytes).into_owned());
    }
    runner()
        .run(&soup(JS), |text| {
            check_one(text);
            Ok(())
        })
        .unwrap();
}

fn frame_one(bytes: Vec<u8>) {
    bounded("framing", move || {
        use crate::lsp::framing::{Frame, Framer};
        // Fed in pieces, as a pipe delivers them.
        let mut framer = Framer::default();
        let mut frames = 0;
        for piece in bytes.chunks(7) {
            framer.push(piece);
            while let Some(frame) = framer.next_frame() {
                frames += 1;
                assert!(frames <= bytes.len() + 1, "more frames than bytes");
                if let Frame::Body(body) = frame {
                    let _ = crate::lsp::transport::check_message(&body);
                }
            }
        }
    });
}

const FRAMING: &[&str] = &[
    "Content-Length: ",
    "content-length:",
    "Content-Type: application/vscode-jsonrpc\r\n",
    "\r\n",
    "\r\n\r\n",
    "\n",
    "2",
    "10",
    "99999999999999999999",
    "-1",
    "{}",
    "{\"jsonrpc\":\"2.0\"",
    ",\"id\":1",
    ",\"method\":\"$/x\"",
    ",\"result\":null",
    "}",
    "[",
    "]",
    "\"",
    "abc",
];

#[test]
fn fuzz_framing() {
    for (path, bytes) in corpus("framing") {
        eprintln!("corpus {}", path.display());
        frame_one(bytes);
    }
    runner()
        .run(
            &prop_oneof![
                soup(FRAMING).prop_map(String::into_bytes),
                proptest::collection::vec(any::<u8>(), 0..400),
            ],
            |bytes| {
                frame_one(bytes);
                Ok(())
            },
        )
        .unwrap();
}

const REPLY: &[&str] = &[
    "```json\n",
    "```\n",
    "```",
    "{",
    "}",
    "[",
    "]",
    "\"",
    "\\\"",
    ":",
    ",",
    "\"a\"",
    "1",
    "true",
    "null",
    "Here is the JSON:",
    "\n",
    "<think>",
    "</think>",
    "'",
    "\\u00",
    "1e999",
];

#[test]
fn fuzz_reply_extractor() {
    for (path, bytes) in corpus("extract") {
        eprintln!("corpus {}", path.display());
        let text = String::from_utf8_lossy(&bytes).into_owned();
        bounded("extract", move || {
            crate::providers::structured::extract_json(&text)
        });
    }
    runner()
        .run(&soup(REPLY), |text| {
            bounded("extract", move || {
                // Whatever is extracted is real JSON that survives a round trip.
                if let Some(v) = crate::providers::structured::extract_json(&text) {
                    let again: Value = serde_json::from_str(&v.to_string()).unwrap();
                    assert_eq!(again, v);
                }
            });
            Ok(())
        })
        .unwrap();
    // An object or array in a fenced block among prose is found exactly.
    runner()
        .run(
            &(
                json_value(),
                soup(&["Sure", "here", ":", "\n", "Done", "."]),
            ),
            |(v, prose)| {
                if v.is_object() || v.is_array() {
                    let text = format!("{prose}\n```json\n{v}\n```\n{prose}");
                    let got = bounded("extract", move || {
                        crate::providers::structured::extract_json(&text)
                    });
                    prop_assert_eq!(got, Some(v));
                }
                Ok(())
            },
        )
        .unwrap();
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        proptest::sample::select(
            &[
                "string",
                "number",
                "integer",
                "boolean",
                "array",
                "object",
                "string?",
                "number[]",
                "type",
                "properties",
                "required",
                "$ref",
                "#/definitions/a",
                "",
                "x"
            ][..]
        )
        .prop_map(|s| Value::String(s.to_string())),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::btree_map(
                proptest::sample::select(
                    &[
                        "type",
                        "properties",
                        "items",
                        "required",
                        "enum",
                        "a",
                        "b",
                        "$ref",
                        "additionalProperties",
                        "anyOf",
                        "definitions"
                    ][..]
                )
                .prop_map(str::to_string),
                inner,
                0..5
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

#[test]
fn fuzz_schema_shorthand() {
    for (path, bytes) in corpus("shorthand") {
        eprintln!("corpus {}", path.display());
        let v: Value = serde_json::from_slice(&bytes).unwrap();
        bounded("shorthand", move || {
            if let Ok(schema) = crate::providers::structured::normalize_schema(&v) {
                let _ = crate::providers::structured::validate(&schema, &Value::Null);
            }
        });
    }
    runner()
        .run(&json_value(), |v| {
            bounded("shorthand", move || {
                if let Ok(schema) = crate::providers::structured::normalize_schema(&v) {
                    let _ = crate::providers::structured::validate(&schema, &v);
                    let _ = crate::providers::structured::schema_instruction(&schema);
                }
            });
            Ok(())
        })
        .unwrap();
}

#[test]
fn fuzz_tool_arguments() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/a.txt"), "hello\nworld\n").unwrap();
    let root = dir.path().to_path_buf();
    let call = move |name: String, args: Vec<Value>| {
        let root = root.clone();
        bounded("tool", move || {
            let ws = crate::tools::Workspace::new(&root).unwrap();
            let _ = ws.call(&name, &args);
        });
    };
    for (path, bytes) in corpus("tool-args") {
        eprintln!("corpus {}", path.display());
        for line in String::from_utf8_lossy(&bytes).lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            let args = v[1].as_array().cloned().unwrap_or_default();
            call(v[0].as_str().unwrap_or("").to_string(), args);
        }
    }
    let names: Vec<&str> = crate::tools::TOOLS.iter().map(|t| t.id).collect();
    runner()
        .run(
            &(
                proptest::sample::select(names),
                proptest::collection::vec(json_value(), 0..4),
            ),
            |(name, args)| {
                call(name.to_string(), args);
                Ok(())
            },
        )
        .unwrap();
}
