//! The six topology templates as MCP prompts: each hands the agent the shape, what it is for and
//! the runnable starting script, so it can write a workflow that odw_check and odw_run accept.

use crate::plan::Topology;
use rmcp::ErrorData;
use rmcp::model::{GetPromptResult, Prompt, PromptArgument, PromptMessage, Role};
use serde_json::{Map, Value};

pub fn list() -> Vec<Prompt> {
    Topology::ALL
        .iter()
        .map(|t| {
            Prompt::new(
                t.as_str(),
                Some(format!("{}: {}", t.title(), t.summary())),
                Some(vec![
                    PromptArgument::new("task")
                        .with_description("what the workflow should do (optional)"),
                ]),
            )
            .with_title(format!("odw {} workflow", t.title()))
        })
        .collect()
}

pub fn get(name: &str, args: Option<&Map<String, Value>>) -> Result<GetPromptResult, ErrorData> {
    let t = Topology::ALL
        .iter()
        .find(|t| t.as_str() == name)
        .ok_or_else(|| {
            ErrorData::invalid_params(
                format!(
                    "unknown prompt {name:?}: mapreduce, pipeline, adversarial, consensus, tree or hybrid"
                ),
                None,
            )
        })?;
    let task = args
        .and_then(|a| a.get("task"))
        .and_then(Value::as_str)
        .map(|s| format!("The task: {s}\n\n"))
        .unwrap_or_default();
    let text = format!(
        "{task}Write an odw workflow script with the {} topology ({}).\n\nStart from this \
         runnable template; it reads its inputs from `args`, with defaults:\n\n```js\n{}\n```\n\n\
         Check the script with the odw_check tool, then run it with odw_run (`script` or `path`).",
        t.title(),
        t.summary(),
        t.template().trim_end()
    );
    Ok(
        GetPromptResult::new(vec![PromptMessage::new_text(Role::User, text)])
            .with_description(format!("{}: {}", t.title(), t.summary())),
    )
}
