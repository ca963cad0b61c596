//! Code lenses on a workflow's entry point (`export const meta` or `execute`): `▶ Run`,
//! `Dry run` (with the last estimate), `■ Cancel` while a run is live, and `⟳ Resume <id>` when
//! the file's last run did not succeed.

use super::progress;
use super::runs::FileRuns;
use super::scripts;
use odw_protocol::RunState;
use odw_protocol::lsp::{CMD_CANCEL, CMD_RESUME, CMD_RUN};
use serde_json::json;
use tower_lsp_server::ls_types::{CodeLens, Command, Position, Range, Uri};

/// The lenses of a workflow script.
pub fn lenses(uri: &Uri, text: &str, runs: &FileRuns) -> Vec<CodeLens> {
    let Some(line) = scripts::entry_line(text) else {
        return vec![];
    };
    let range = Range::new(Position::new(line, 0), Position::new(line, 0));
    let lens = |title: String, command: &str, args: Vec<serde_json::Value>| CodeLens {
        range,
        command: Some(Command {
            title,
            command: command.to_string(),
            arguments: Some(args),
        }),
        data: None,
    };
    let mut out = vec![
        lens("▶ Run".into(), CMD_RUN, vec![json!(uri.as_str())]),
        lens(
            runs.estimate
                .as_ref()
                .map_or_else(|| "Dry run".to_string(), progress::dry_run_label),
            CMD_RUN,
            vec![json!({"uri": uri.as_str(), "dryRun": true})],
        ),
    ];
    if let Some(live) = runs.live.last() {
        out.push(lens("■ Cancel".into(), CMD_CANCEL, vec![json!(live.0)]));
    } else if let Some((id, state)) = &runs.last
        && *state != RunState::Succeeded
    {
        out.push(lens(
            format!("⟳ Resume {id}"),
            CMD_RESUME,
            vec![json!(id.0)],
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use odw_protocol::RunId;
    use odw_protocol::run::Estimate;

    fn titles(l: &[CodeLens]) -> Vec<String> {
        l.iter()
            .map(|l| l.command.as_ref().unwrap().title.clone())
            .collect()
    }

    #[test]
    fn lenses_follow_the_file_history() {
        let uri: Uri = "file:///w/a.workflow.js".parse().unwrap();
        let text = "// x\nexport const meta = {};\nreturn 1;";
        let mut runs = FileRuns::default();
        let l = lenses(&uri, text, &runs);
        assert_eq!(titles(&l), ["▶ Run", "Dry run"]);
        assert_eq!(l[0].range.start.line, 1);
        runs.estimate = Some(Estimate {
            agents: 40,
            cost_usd: 0.12,
            ..Default::default()
        });
        runs.last = Some((RunId("r-1".into()), RunState::Failed));
        let l = lenses(&uri, text, &runs);
        assert_eq!(
            titles(&l),
            ["▶ Run", "Dry run: ≈40 agents · ≈$0.12", "⟳ Resume r-1"]
        );
        runs.live.push(RunId("r-2".into()));
        assert_eq!(titles(&lenses(&uri, text, &runs))[2], "■ Cancel");
        assert!(lenses(&uri, "const x = 1;", &runs).is_empty());
    }
}
