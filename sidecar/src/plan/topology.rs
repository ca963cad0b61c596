//! The six topologies (README, "The six topologies") and their starting scripts.

use std::fmt;

/// A shape a workflow script can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topology {
    /// split → bounded `parallel` map → reduce agent.
    MapReduce,
    /// `pipeline(items, stage1, stage2, …)`: per-item stages without a barrier.
    Pipeline,
    /// propose → `verify` critics → fix → re-verify, bounded rounds.
    Adversarial,
    /// many evaluators → weighted `vote` with a quorum and a confidence floor.
    Consensus,
    /// `beamSearch`: expand → score → prune to a width → backtrack, bounded depth and nodes.
    TreeSearch,
    /// phases composed of the others.
    Hybrid,
}

/// The spellings `--topology` accepts, for error messages.
pub const ACCEPTED: &str =
    "mapreduce|map-reduce|pipeline|adversarial|consensus|tree|tree-search|hybrid";

impl Topology {
    /// Every topology, in the order the docs list them.
    pub const ALL: [Topology; 6] = [
        Topology::MapReduce,
        Topology::Pipeline,
        Topology::Adversarial,
        Topology::Consensus,
        Topology::TreeSearch,
        Topology::Hybrid,
    ];

    /// Parses a user's spelling, case-insensitively (`map-reduce`, `tree`, `Tree_Search`, …).
    pub fn parse(s: &str) -> Option<Topology> {
        let norm: String = s
            .trim()
            .to_ascii_lowercase()
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .collect();
        Some(match norm.as_str() {
            "mapreduce" | "map" | "fanout" => Topology::MapReduce,
            "pipeline" => Topology::Pipeline,
            "adversarial" => Topology::Adversarial,
            "consensus" | "vote" => Topology::Consensus,
            "tree" | "treesearch" | "beam" | "beamsearch" => Topology::TreeSearch,
            "hybrid" => Topology::Hybrid,
            _ => return None,
        })
    }

    /// The canonical id: `mapreduce`, `pipeline`, `adversarial`, `consensus`, `tree`, `hybrid`.
    pub fn as_str(self) -> &'static str {
        match self {
            Topology::MapReduce => "mapreduce",
            Topology::Pipeline => "pipeline",
            Topology::Adversarial => "adversarial",
            Topology::Consensus => "consensus",
            Topology::TreeSearch => "tree",
            Topology::Hybrid => "hybrid",
        }
    }

    /// The name people read: `MapReduce`, `Tree search`, …
    pub fn title(self) -> &'static str {
        match self {
            Topology::MapReduce => "MapReduce",
            Topology::Pipeline => "Pipeline",
            Topology::Adversarial => "Adversarial",
            Topology::Consensus => "Consensus",
            Topology::TreeSearch => "Tree search",
            Topology::Hybrid => "Hybrid",
        }
    }

    /// One line: the shape and what it is for.
    pub fn summary(self) -> &'static str {
        match self {
            Topology::MapReduce => {
                "split → bounded parallel map → one reduce agent; the same check over many items"
            }
            Topology::Pipeline => {
                "each item flows through stages on its own (no barrier); migrate → test → fix"
            }
            Topology::Adversarial => {
                "propose → critics via verify → fix → re-verify, bounded rounds; results that must be correct"
            }
            Topology::Consensus => {
                "independent evaluators → weighted vote with quorum and confidence floor; judgement calls"
            }
            Topology::TreeSearch => {
                "expand → score → prune to a beam width → backtrack, bounded depth; root-cause hunts"
            }
            Topology::Hybrid => {
                "phases composed of the others (map-reduce survey → pipeline work → adversarial verify)"
            }
        }
    }

    /// The starting script `odw new --topology` writes and the planner fills without a model.
    pub fn template(self) -> &'static str {
        match self {
            Topology::MapReduce => include_str!("templates/mapreduce.js"),
            Topology::Pipeline => include_str!("templates/pipeline.js"),
            Topology::Adversarial => include_str!("templates/adversarial.js"),
            Topology::Consensus => include_str!("templates/consensus.js"),
            Topology::TreeSearch => include_str!("templates/tree.js"),
            Topology::Hybrid => include_str!("templates/hybrid.js"),
        }
    }

    /// The topology a script declares with a `// topology: NAME` comment in its first lines.
    pub fn declared_in(script: &str) -> Option<Topology> {
        script.lines().take(12).find_map(|line| {
            let rest = line.trim().strip_prefix("//")?.trim();
            let name = rest.strip_prefix("topology:")?.trim();
            Topology::parse(name.split_whitespace().next()?)
        })
    }

    /// A best guess from what a script calls, for replies that do not declare their topology.
    pub fn detect_in(script: &str) -> Topology {
        let has = |needle: &str| script.contains(needle);
        // `parallel` appears inside most shapes (evaluators, critics), so it only decides when
        // none of the distinctive primitives is used; two distinctive ones make a hybrid.
        let distinctive: Vec<Topology> = [
            ("beamSearch(", Topology::TreeSearch),
            ("vote(", Topology::Consensus),
            ("verify(", Topology::Adversarial),
            ("pipeline(", Topology::Pipeline),
        ]
        .into_iter()
        .filter(|(call, _)| has(call))
        .map(|(_, t)| t)
        .collect();
        match distinctive.as_slice() {
            [] if has("parallel(") => Topology::MapReduce,
            [] => Topology::Pipeline,
            [one] => *one,
            _ => Topology::Hybrid,
        }
    }
}

impl fmt::Display for Topology {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.title())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_accepted_spelling_parses_and_ids_round_trip() {
        for s in ACCEPTED.split('|') {
            assert!(Topology::parse(s).is_some(), "{s}");
        }
        for t in Topology::ALL {
            assert_eq!(Topology::parse(t.as_str()), Some(t));
            assert_eq!(Topology::parse(&t.title().to_uppercase()), Some(t));
        }
        assert_eq!(Topology::parse("Tree_Search"), Some(Topology::TreeSearch));
        assert_eq!(Topology::parse("map-reduce"), Some(Topology::MapReduce));
        assert_eq!(Topology::parse("star"), None);
    }

    #[test]
    fn every_template_declares_its_topology_and_the_detector_agrees() {
        for t in Topology::ALL {
            assert_eq!(Topology::declared_in(t.template()), Some(t), "{t}");
            let body: String = t
                .template()
                .lines()
                .filter(|l| !l.trim_start().starts_with("//"))
                .collect::<Vec<_>>()
                .join("\n");
            assert_eq!(Topology::detect_in(&body), t, "{t}");
        }
    }
}
