//! The fault matrix: each failure a provider can produce, against the real binary. For each
//! fault, a faulty call `a` and a healthy call `b` share one concurrency slot (`--concurrency
//! 1`, `a` first). The table says how many requests each successful call cost, whether `a`
//! kept the slot while it waited to retry (then `b` could only go after `a` was done), and how
//! the run ended. `cargo test -p odw --test e2e fault_matrix -- --nocapture` prints it (the
//! README has a copy).

use crate::support::*;
use serde_json::Value;

struct Row {
    fault: &'static str,
    directive: &'static str,
}

const ROWS: &[Row] = &[
    Row {
        fault: "429 storm, Retry-After: 1",
        directive: "[[fail:429 x3]] [[retry-after:1]]",
    },
    Row {
        fault: "500 burst",
        directive: "[[fail:500 x3]]",
    },
    Row {
        fault: "hang (call timeout 1 s)",
        directive: "[[hang x1]]",
    },
    Row {
        fault: "truncated body",
        directive: "[[truncated x2]]",
    },
    Row {
        fault: "malformed JSON",
        directive: "[[malformed x2]]",
    },
    Row {
        fault: "slow body (1 s, over the 1 s call timeout)",
        directive: "[[slowbody x1]]",
    },
    Row {
        fault: "connection reset",
        directive: "[[reset x2]]",
    },
];

#[test]
fn fault_matrix() {
    let mut table = vec![
        "| fault | requests per successful call | slot held while waiting to retry | outcome |"
            .to_string(),
        "|---|---:|---|---|".to_string(),
    ];
    for row in ROWS {
        let ws = Ws::new();
        let script = format!(
            "export const meta = {{ name: \"fault\" }};\n\
             const a = agent(\"{} a\", {{ label: \"a\", timeoutMs: 1000, retries: 4 }});\n\
             const b = agent(\"b\", {{ label: \"b\" }});\n\
             return await Promise.all([a, b]);\n",
            row.directive
        );
        let (v, out) = ws.run_json(&script, &["--concurrency", "1"]);
        let stats = ws.provider.stats();
        let order: Vec<&str> = stats
            .requests
            .iter()
            .map(|r| if r.prompt.ends_with(" a") { "a" } else { "b" })
            .collect();
        // `b` went before `a`'s last attempt: `a` did not keep the slot while it waited.
        let b_at = order.iter().position(|x| *x == "b").unwrap_or(usize::MAX);
        let a_last = order.iter().rposition(|x| *x == "a").unwrap_or(0);
        let held = if b_at < a_last { "no" } else { "yes" };
        let succeeded = v["result"]
            .as_array()
            .map_or(0, |r| r.iter().filter(|x| x.is_string()).count());
        let per_call = stats.total as f64 / succeeded.max(1) as f64;
        assert_eq!(
            v["state"],
            "succeeded",
            "{}: {v}\n{}",
            row.fault,
            stderr(&out)
        );
        assert_eq!(succeeded, 2, "{}: {v}", row.fault);
        // Waiting for a retry never holds the slot (a hang holds it while the request is out,
        // which is not a wait for a retry).
        assert_eq!(held, "no", "{}: requests in order {order:?}", row.fault);
        let events = ws.odw(&["show", v["runId"].as_str().unwrap(), "--json"]);
        let shown: Value = serde_json::from_slice(&events.stdout).unwrap();
        let attempts_a = shown["calls"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["label"] == "a")
            .map_or(0, |c| c["attempts"].as_u64().unwrap_or(0));
        assert_eq!(
            attempts_a as usize,
            order.iter().filter(|x| **x == "a").count(),
            "{}: the journal counts every request",
            row.fault
        );
        table.push(format!(
            "| {} | {:.1} ({} for `a`, 1 for `b`) | {held} | {} |",
            row.fault,
            per_call,
            attempts_a,
            v["state"].as_str().unwrap()
        ));
    }
    println!("\n{}\n", table.join("\n"));
}
