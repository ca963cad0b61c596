//! The MCP handler: what the server says it is, and each request routed to the module that
//! answers it. rmcp runs every request in a task of its own, so a `wait: true` run never holds
//! up the others.

use super::session::Session;
use super::{check, plan, prompts, reply, resources, runs, tools};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, GetPromptRequestParams, GetPromptResponse,
    Implementation, ListPromptsResult, ListResourceTemplatesResult, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ProtocolVersion, ReadResourceRequestParams,
    ReadResourceResponse, ReadResourceResult, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use std::borrow::Cow;
use std::sync::Arc;

/// The newest protocol revision this server implements; older ones are negotiated by rmcp.
const PROTOCOL: ProtocolVersion = ProtocolVersion::V_2025_06_18;

const INSTRUCTIONS: &str = "odw runs multi-agent LLM workflows written in JavaScript. Plan one \
with odw_plan (or write one from a topology prompt and check it with odw_check), start it with \
odw_run, follow it with odw_status, read it with odw_result; odw_control pauses, resumes or \
stops it. Runs are journaled: odw_list and the odw://runs/<id> resources show them.";

#[derive(Clone)]
pub struct Server {
    session: Arc<Session>,
}

impl Server {
    pub fn new(session: Arc<Session>) -> Self {
        Server { session }
    }
}

impl ServerHandler for Server {
    fn get_info(&self) -> ServerConfig {
        let capabilities = ServerCapabilities::builder()
            .enable_prompts()
            .enable_resources()
            .enable_tools()
            .build();
        ServerConfig::new(capabilities)
            .with_protocol_version(PROTOCOL)
            .with_server_info(
                Implementation::new("odw", env!("CARGO_PKG_VERSION")).with_title("odw workflows"),
            )
            .with_instructions(INSTRUCTIONS)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        Cow::Borrowed(ProtocolVersion::known_up_to(&PROTOCOL))
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(tools::all()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let s = &self.session;
        let args = request.arguments;
        let reply = match request.name.as_ref() {
            "odw_health" => runs::health(s, args).await,
            "odw_check" => check::check(s, args),
            "odw_plan" => plan::tool(s, args).await,
            "odw_run" => runs::run(s, args, &context).await,
            "odw_status" => runs::status(s, args).await,
            "odw_result" => runs::result(s, args).await,
            "odw_control" => runs::control(s, args, &context).await,
            "odw_list" => runs::list(s, args).await,
            other => {
                return Err(ErrorData::invalid_params(
                    format!("unknown tool {other:?}: list them with tools/list"),
                    None,
                ));
            }
        };
        Ok(reply::to_result(reply).into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        Ok(ListResourcesResult::with_all_items(
            resources::list(&self.session).await,
        ))
    }

    async fn list_resource_templates(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourceTemplatesResult, ErrorData> {
        Ok(ListResourceTemplatesResult::with_all_items(
            resources::templates(),
        ))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let contents = resources::read(&self.session, &request.uri).await?;
        Ok(ReadResourceResult::new(vec![contents]).into())
    }

    async fn list_prompts(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, ErrorData> {
        Ok(ListPromptsResult::with_all_items(prompts::list()))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, ErrorData> {
        Ok(prompts::get(&request.name, request.arguments.as_ref())?.into())
    }
}
