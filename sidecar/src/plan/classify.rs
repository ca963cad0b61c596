//! The deterministic classifier `odw plan` uses without a planning model: weighted keywords and
//! phrases per topology, summed once each, highest total wins. The reason names what matched, so
//! a surprising pick is easy to explain (and to override with `--topology`).

use super::Topology;

/// A phrase of lowercase words; a word ending in `*` matches any word it starts.
type Cue = (&'static str, u32);

const MAP_REDUCE: &[Cue] = &[
    ("every", 2),
    ("each", 2),
    ("all", 1),
    ("across", 2),
    ("audit*", 3),
    ("scan*", 2),
    ("inventory", 3),
    ("catalog*", 2),
    ("survey", 2),
    ("list all", 2),
    ("find all", 2),
    ("count", 1),
    ("files", 1),
    ("handlers", 1),
    ("endpoints", 1),
    ("modules", 1),
    ("codebase", 2),
    ("repo*", 1),
    ("summari*", 1),
    ("missing", 1),
    ("map reduce", 4),
    ("mapreduce", 4),
    ("fan out", 3),
    ("in parallel", 2),
];

const PIPELINE: &[Cue] = &[
    ("pipeline", 4),
    ("migrate", 4),
    ("migration", 1),
    ("convert*", 3),
    ("port", 2),
    ("translat*", 3),
    ("upgrad*", 2),
    ("rewrite", 2),
    ("transform*", 2),
    ("then", 2),
    ("and then", 1),
    ("followed by", 2),
    ("stage*", 2),
    ("step by step", 2),
    ("one by one", 2),
    ("test and fix", 3),
    ("draft", 1),
    ("format*", 1),
];

const ADVERSARIAL: &[Cue] = &[
    ("adversarial", 4),
    ("red team", 4),
    ("must be correct", 4),
    ("correct*", 2),
    ("accura*", 2),
    ("rigorous*", 3),
    ("prove", 2),
    ("proof", 2),
    ("verif*", 2),
    ("double check", 3),
    ("critic*", 3),
    ("critique", 2),
    ("poke holes", 3),
    ("stress test", 2),
    ("no mistakes", 3),
    ("carefully", 2),
    ("exact*", 1),
    ("precise*", 2),
    ("fix", 1),
    ("harden", 2),
    ("security", 1),
    ("legal", 2),
    ("spec", 1),
    ("specification", 2),
    ("write", 1),
];

const CONSENSUS: &[Cue] = &[
    ("consensus", 4),
    ("vote", 3),
    ("should we", 4),
    ("should i", 4),
    ("which is better", 4),
    ("which of", 2),
    ("whether", 2),
    ("decide", 3),
    ("decision", 3),
    ("choose", 2),
    ("pick", 1),
    ("judg*", 3),
    ("opinion*", 2),
    ("true or false", 4),
    ("is it true", 3),
    ("fact check", 3),
    ("uncertain", 2),
    ("trade off*", 2),
    ("tradeoff*", 2),
    ("pros and cons", 3),
    ("go no go", 4),
    ("worth", 2),
    ("assess", 2),
    ("rate", 1),
    ("rank", 1),
    ("compare", 1),
    ("agree", 2),
    ("likely", 1),
];

const TREE_SEARCH: &[Cue] = &[
    ("root cause", 5),
    ("why", 2),
    ("debug*", 3),
    ("diagnos*", 3),
    ("investigat*", 3),
    ("track down", 4),
    ("hunt", 2),
    ("figure out why", 2),
    ("flaky", 3),
    ("intermittent*", 3),
    ("crash*", 2),
    ("regression", 2),
    ("bisect", 3),
    ("hypothes*", 3),
    ("leak*", 3),
    ("deadlock*", 4),
    ("race condition", 4),
    ("hang*", 2),
    ("slow", 2),
    ("failing", 1),
    ("fails", 1),
    ("explore", 2),
    ("search for", 1),
    ("tree search", 4),
    ("beam search", 4),
];

const HYBRID: &[Cue] = &[
    ("hybrid", 4),
    ("feature", 3),
    ("implement*", 2),
    ("end to end", 2),
    ("from scratch", 2),
    ("add support for", 3),
    ("design and implement", 3),
    ("several stages", 3),
    ("multiple phases", 3),
    ("and verify", 2),
    ("then verify", 2),
    ("refactor*", 2),
    ("build", 1),
    ("ship", 2),
];

/// Words that make several matched shapes a sequence of phases rather than rivals.
const SEQUENCE: &[&str] = &["then", "after", "afterwards", "finally", "followed", "next"];

/// Evaluation order doubles as the tie-break: the more specific shape wins a tie.
const TABLE: &[(Topology, &[Cue])] = &[
    (Topology::TreeSearch, TREE_SEARCH),
    (Topology::Consensus, CONSENSUS),
    (Topology::Pipeline, PIPELINE),
    (Topology::Adversarial, ADVERSARIAL),
    (Topology::Hybrid, HYBRID),
    (Topology::MapReduce, MAP_REDUCE),
];

/// Picks a topology for `task` and says why, deterministically.
pub fn classify(task: &str) -> (Topology, String) {
    let words = words(task);
    let mut scored: Vec<(Topology, u32, Vec<String>)> = TABLE
        .iter()
        .map(|(t, cues)| {
            let mut total = 0;
            let mut hits = Vec::new();
            for (phrase, weight) in *cues {
                if matches(&words, phrase) {
                    total += weight;
                    hits.push(format!("\"{}\" +{weight}", phrase.trim_end_matches('*')));
                }
            }
            (*t, total, hits)
        })
        .collect();
    // Two shapes in sequence ("audit every handler, then fix and verify each") are phases of
    // one hybrid, which then outranks either shape alone.
    let strong: Vec<(Topology, u32)> = scored
        .iter()
        .filter(|(t, s, _)| *t != Topology::Hybrid && *s >= 3)
        .map(|(t, s, _)| (*t, *s))
        .collect();
    let sequenced = words.iter().any(|w| SEQUENCE.contains(&w.as_str()));
    if strong.len() >= 2 && sequenced {
        let top = strong.iter().map(|(_, s)| *s).max().unwrap_or(0);
        let names: Vec<&str> = strong.iter().map(|(t, _)| t.as_str()).collect();
        let hybrid = scored
            .iter_mut()
            .find(|(t, _, _)| *t == Topology::Hybrid)
            .expect("the table has every topology");
        hybrid.1 = hybrid.1.max(top + 1);
        hybrid
            .2
            .push(format!("{} in sequence", names.join(" and ")));
    }
    // Stable sort: among equal totals the table order (more specific first) stays.
    scored.sort_by_key(|s| std::cmp::Reverse(s.1));
    let (topology, total, hits) = &scored[0];
    if *total == 0 {
        return (
            Topology::MapReduce,
            "no topology cue matched; MapReduce is the default".to_string(),
        );
    }
    let runner_up = &scored[1];
    let next = if runner_up.1 > 0 {
        format!("; next: {} {}", runner_up.0.as_str(), runner_up.1)
    } else {
        String::new()
    };
    (
        *topology,
        format!("matched {} (score {total}{next})", hits.join(", ")),
    )
}

/// Lowercase words; hyphens, slashes and punctuation separate them ("root-cause" = "root cause").
fn words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric() && c != '\'')
        .filter(|w| !w.is_empty())
        .map(|w| w.trim_matches('\'').to_string())
        .collect()
}

/// Whether the phrase's words occur consecutively in `words`.
fn matches(words: &[String], phrase: &str) -> bool {
    let pattern: Vec<&str> = phrase.split(' ').collect();
    words.windows(pattern.len()).any(|window| {
        window
            .iter()
            .zip(&pattern)
            .all(|(w, p)| match p.strip_suffix('*') {
                Some(prefix) => w.starts_with(prefix),
                None => w == p,
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use Topology::*;

    const TABLE: &[(&str, Topology)] = &[
        (
            "audit every handler in src/ for missing auth checks",
            MapReduce,
        ),
        (
            "Find all TODO comments across the codebase and summarize them",
            MapReduce,
        ),
        ("Scan each file in lib/ for hard-coded secrets", MapReduce),
        (
            "Write a one-line docstring summary for every module",
            MapReduce,
        ),
        (
            "List all public endpoints and the permissions they require",
            MapReduce,
        ),
        ("Migrate every test from Jest to Vitest", Pipeline),
        (
            "Convert the Python 2 scripts in tools/ to Python 3",
            Pipeline,
        ),
        (
            "Port the CLI from JavaScript to TypeScript, one file at a time",
            Pipeline,
        ),
        (
            "Upgrade each package to the new API, then run its tests and fix the failures",
            Pipeline,
        ),
        (
            "Translate the docs into German and format them for the website",
            Pipeline,
        ),
        (
            "Write a precise specification of the retry semantics; it must be correct",
            Adversarial,
        ),
        (
            "Fix the off-by-one bug in the pagination code and double-check the fix",
            Adversarial,
        ),
        (
            "Red-team our incident response plan and poke holes in it",
            Adversarial,
        ),
        (
            "Prove that the scheduler never exceeds its concurrency limit",
            Adversarial,
        ),
        (
            "Draft the migration guide carefully with no mistakes in the commands",
            Adversarial,
        ),
        (
            "Should we adopt a monorepo for the frontend and backend?",
            Consensus,
        ),
        (
            "Decide whether this PR is safe to merge before the release",
            Consensus,
        ),
        (
            "Is it true that SQLite WAL mode allows concurrent readers during a write?",
            Consensus,
        ),
        (
            "Which is better for our queue: Redis streams or Postgres LISTEN/NOTIFY?",
            Consensus,
        ),
        ("Judge the three logo proposals and pick one", Consensus),
        (
            "Find the root cause of the intermittent 502s from the gateway",
            TreeSearch,
        ),
        (
            "Debug why the integration tests are flaky on CI",
            TreeSearch,
        ),
        (
            "Track down the memory leak in the worker process",
            TreeSearch,
        ),
        (
            "Investigate why login became slow after the last deploy",
            TreeSearch,
        ),
        (
            "Diagnose the deadlock between the journal writer and the scheduler",
            TreeSearch,
        ),
        (
            "Implement rate limiting as a new feature with tests and docs",
            Hybrid,
        ),
        (
            "Audit every handler for missing auth checks, then fix each one and verify the fixes",
            Hybrid,
        ),
        (
            "Design and implement a plugin system for the editor",
            Hybrid,
        ),
        ("Add support for Ollama embeddings end to end", Hybrid),
        ("Say hello", MapReduce),
    ];

    #[test]
    fn classifies_the_table() {
        let mut wrong = Vec::new();
        for (task, want) in TABLE {
            let (got, reason) = classify(task);
            if got != *want {
                wrong.push(format!("{task:?}: want {want:?}, got {got:?} ({reason})"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
        assert!(TABLE.len() >= 20);
        for t in Topology::ALL {
            assert!(TABLE.iter().any(|(_, w)| *w == t), "{t} untested");
        }
    }

    #[test]
    fn the_reason_names_the_cues_and_the_runner_up() {
        let (t, reason) = classify("Find the root cause of the flaky test");
        assert_eq!(t, TreeSearch);
        assert!(reason.contains("\"root cause\" +5"), "{reason}");
        assert!(reason.contains("\"flaky\" +3"), "{reason}");
        let (t, reason) = classify("hello there");
        assert_eq!(t, MapReduce);
        assert!(reason.contains("default"), "{reason}");
    }

    #[test]
    fn matching_is_by_whole_words_and_prefixes() {
        let w = words("Root-cause: the leaking pipes, don't port!");
        assert!(matches(&w, "root cause"));
        assert!(matches(&w, "leak*"));
        assert!(matches(&w, "port"));
        assert!(!matches(&w, "pipe"));
        assert!(matches(&w, "don't"));
    }
}
