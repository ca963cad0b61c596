//! The odw extension for Zed: registers the `odw` language server (`odw lsp`) for JavaScript, so
//! workflow scripts get diagnostics, hover and completion, and the `odw` context server (`odw
//! mcp`), so Zed's agent panel can plan and run workflows. The decisions live in `launch`, as
//! plain functions with host unit tests; this file only feeds them what Zed knows.

mod launch;

use zed_extension_api::settings::{ContextServerSettings, LspSettings};
use zed_extension_api::{
    self as zed, ContextServerId, LanguageServerId, Project, Result, Worktree, serde_json,
};

struct OdwExtension;

impl OdwExtension {
    /// The user's `lsp.odw` settings; Zed has already validated their shape.
    fn settings(id: &LanguageServerId, worktree: &Worktree) -> LspSettings {
        LspSettings::for_worktree(id.as_ref(), worktree).unwrap_or_default()
    }
}

impl zed::Extension for OdwExtension {
    fn new() -> Self {
        OdwExtension
    }

    fn language_server_command(
        &mut self,
        id: &LanguageServerId,
        worktree: &Worktree,
    ) -> Result<zed::Command> {
        let settings = Self::settings(id, worktree);
        let launch = launch::launch(
            settings.binary.as_ref(),
            |name| worktree.which(name),
            worktree.shell_env(),
        )?;
        Ok(zed::Command {
            command: launch.command,
            args: launch.args,
            env: launch.env,
        })
    }

    fn language_server_initialization_options(
        &mut self,
        id: &LanguageServerId,
        worktree: &Worktree,
    ) -> Result<Option<serde_json::Value>> {
        Ok(launch::initialization_options(Self::settings(id, worktree)))
    }

    fn context_server_command(
        &mut self,
        id: &ContextServerId,
        project: &Project,
    ) -> Result<zed::Command> {
        let settings = ContextServerSettings::for_project(id.as_ref(), project).ok();
        let launch = launch::context_server(settings.as_ref().and_then(|s| s.command.as_ref()));
        Ok(zed::Command {
            command: launch.command,
            args: launch.args,
            env: launch.env,
        })
    }

    fn language_server_workspace_configuration(
        &mut self,
        id: &LanguageServerId,
        worktree: &Worktree,
    ) -> Result<Option<serde_json::Value>> {
        Ok(Self::settings(id, worktree).settings)
    }
}

zed::register_extension!(OdwExtension);
