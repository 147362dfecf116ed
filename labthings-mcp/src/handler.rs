//! The MCP server: what it offers (tools, resources), and each call, made
//! as the caller the HTTP server's credential check found.

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use labthings_core::Caller;
use labthings_core::companion::Host;
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, ListResourcesResult,
    ListToolsResult, PaginatedRequestParams, ReadResourceRequestParams, ReadResourceResponse, ReadResourceResult,
    ResourceContents, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use serde_json::Value;

use crate::McpConfig;
use crate::call::{self, refused};
use crate::limit::Limiter;
use crate::tools::{self, TD_MEDIA_TYPE, Target};

/// What the binding tells an agent when it connects.
const INSTRUCTIONS: &str = "Tools of a laboratory instrument served by labthings. Each action of each \
Thing is a tool `thing.action`; each property has a `thing.get-property` tool and, when writable, a \
`thing.set-property` tool; each Thing Description is a resource. Inputs are checked against the \
instrument's limits before anything moves: a refusal names the rule broken, so correct the input and \
call again. Some actions wait for a human operator's approval before they run (their description says \
so); the call answers once they have run or were rejected. Cancelling a call stops the action.";

/// The MCP server handler of one server's MCP binding (one per session,
/// sharing everything).
#[derive(Clone)]
pub struct Handler {
    host: Arc<OnceLock<Arc<dyn Host>>>,
    config: McpConfig,
    limiter: Arc<Limiter>,
}

impl std::fmt::Debug for Handler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handler")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Handler {
    pub(crate) fn new(host: Arc<OnceLock<Arc<dyn Host>>>, config: McpConfig, limiter: Arc<Limiter>) -> Self {
        Self { host, config, limiter }
    }

    /// The running server, once it has started.
    fn host(&self) -> Result<&Arc<dyn Host>, ErrorData> {
        self.host
            .get()
            .ok_or_else(|| ErrorData::internal_error("the server is still starting; try again shortly", None))
    }
}

/// The caller of a request: as the HTTP server's credential check left it,
/// or anonymous on a server without users; through the `mcp` binding.
fn caller(context: &RequestContext<RoleServer>) -> Caller {
    context
        .extensions
        .get::<http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<Caller>())
        .cloned()
        .unwrap_or_else(|| Caller::anonymous("mcp"))
        .through("mcp")
}

impl ServerHandler for Handler {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().enable_resources().build())
            .with_server_info(Implementation::new("labthings", env!("CARGO_PKG_VERSION")))
            .with_instructions(INSTRUCTIONS)
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let host = self.host()?;
        Ok(ListToolsResult::with_all_items(tools::list(
            host.as_ref(),
            &caller(&context),
        )))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let host = self.host()?.clone();
        let caller = caller(&context);
        let name = request.name.to_string();
        let Some(target) = tools::target(host.as_ref(), &name) else {
            return Err(ErrorData::invalid_params(format!("no tool named `{name}`"), None));
        };
        let result = match self.limiter.take(caller.name(), Instant::now()) {
            Err(wait) => refused(format!(
                "too many calls: user `{}` may make {} tool calls a minute; try again in {} s",
                caller.name(),
                self.config.calls_per_minute,
                wait.as_secs().saturating_add(1)
            )),
            Ok(()) => {
                let input = request
                    .arguments
                    .map_or_else(|| Value::Object(Default::default()), Value::Object);
                self.call(&host, &caller, target, input, &context).await
            }
        };
        let outcome = if result.is_error == Some(true) {
            "refused or failed"
        } else {
            "done"
        };
        tracing::info!(
            target: "labthings::audit",
            user = caller.name(),
            binding = "mcp",
            tool = name.as_str(),
            outcome,
            "tool call"
        );
        Ok(result.into())
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, ErrorData> {
        let host = self.host()?;
        Ok(ListResourcesResult::with_all_items(tools::resources(host.as_ref())))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, ErrorData> {
        let host = self.host()?;
        let td = tools::td_at(host.as_ref(), &request.uri)
            .ok_or_else(|| ErrorData::resource_not_found(format!("no resource `{}`", request.uri), None))?;
        let text = serde_json::to_string(&td).map_err(|e| ErrorData::internal_error(e.to_string(), None))?;
        let contents = ResourceContents::text(text, request.uri.clone()).with_mime_type(TD_MEDIA_TYPE);
        Ok(ReadResourceResult::new(vec![contents]).into())
    }
}

impl Handler {
    /// Make the call `target` names with `input`, if `caller` may.
    async fn call(
        &self,
        host: &Arc<dyn Host>,
        caller: &Caller,
        target: Target,
        input: Value,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResult {
        let lab = host.lab();
        let (Target::Action(t, _) | Target::Get(t, _) | Target::Set(t, _)) = target;
        let Some(thing) = lab.things().get(t).cloned() else {
            return refused("no such thing");
        };
        let operates = matches!(target, Target::Action(..) | Target::Set(..));
        if operates && !caller.may_operate(thing.name()) {
            return refused(format!(
                "user `{}` may observe `{}` but not operate it: only reading tools are allowed",
                caller.name(),
                thing.name()
            ));
        }
        match target {
            Target::Action(t, a) => call::action(host, caller, (t, a), input, context, self.config.call_timeout).await,
            Target::Get(_, p) => match lab.read(&thing, p).await {
                Ok(bytes) => {
                    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                    let mut result =
                        CallToolResult::success(vec![ContentBlock::text(String::from_utf8_lossy(&bytes).into_owned())]);
                    result.structured_content = Some(serde_json::json!({ "value": value }));
                    result
                }
                Err(e) => refused(format!("could not read the property: {e}")),
            },
            Target::Set(_, p) => {
                let Some(value) = input.get("value").cloned() else {
                    return refused("give the new value as `value`");
                };
                match lab.write(&thing, p, value).await {
                    Ok(()) => CallToolResult::success(vec![ContentBlock::text("written")]),
                    Err(e) => refused(format!("the value was not written: {e}")),
                }
            }
        }
    }
}
