//! `labthings mcp URL...`: a local MCP server over stdio that drives the
//! Things at URL... through their Thing Descriptions' HTTP forms (the
//! dynamic client), so an agent on a laptop can use an instrument whose
//! server has no MCP binding of its own (a LabThings-FastAPI server, or
//! ours without `[mcp]`).
//!
//! The tools are named as the server binding names them: `thing.action`
//! (input schema the TD's), `thing.get-property`, `thing.set-property`;
//! `thing` is the last segment of the Thing's URL. What a server refuses
//! (an input outside its limits, a missing role) is a tool error with the
//! server's reason; progress is polled and told as MCP progress
//! notifications; a cancelled call cancels the invocation on the server.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use labthings_client::{ClientError, ThingClient};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, ContentBlock, Implementation, JsonObject, ListToolsResult,
    PaginatedRequestParams, ProgressNotificationParam, ServerCapabilities, ServerConfig, Tool, ToolAnnotations,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, ServiceExt};
use serde_json::{Value, json};

/// How often a running invocation is asked how far it is.
const POLL_EVERY: Duration = Duration::from_millis(200);

/// One Thing the bridge offers, under `name`.
struct Bridged {
    name: String,
    client: ThingClient,
}

/// The bridge's MCP server.
#[derive(Clone)]
struct Bridge {
    things: Arc<Vec<Bridged>>,
}

/// Serve `things` over stdio until the client closes it.
pub(crate) async fn serve(things: Vec<ThingClient>) -> Result<ExitCode, ClientError> {
    let mut named: Vec<Bridged> = Vec::new();
    for client in things {
        let name = thing_name(&client);
        if named.iter().any(|b| b.name == name) {
            return Err(ClientError::Protocol(format!(
                "two Things are named `{name}` (the last segment of their URLs); give each once"
            )));
        }
        named.push(Bridged { name, client });
    }
    let bridge = Bridge {
        things: Arc::new(named),
    };
    let running = bridge
        .serve(rmcp::transport::stdio())
        .await
        .map_err(|e| ClientError::Protocol(format!("the MCP client did not start a session: {e}")))?;
    running
        .waiting()
        .await
        .map_err(|e| ClientError::Protocol(format!("the MCP session ended badly: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// A Thing's name: its URL's last path segment (`stage` of
/// `http://host:5000/stage/`), else its TD's title.
fn thing_name(client: &ThingClient) -> String {
    let from_url = client
        .url()
        .path_segments()
        .and_then(|mut segments| segments.rfind(|s| !s.is_empty()))
        .map(str::to_owned);
    from_url.unwrap_or_else(|| client.description().title.replace(' ', "_"))
}

fn object(value: Value) -> Arc<JsonObject> {
    match value {
        Value::Object(map) => Arc::new(map),
        _ => Arc::new(JsonObject::new()),
    }
}

fn refused(text: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text.into())])
}

/// The server's reason, for a model: what it said, and each problem.
fn reason(error: &ClientError) -> String {
    match error {
        ClientError::Validation(problems) => {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            format!(
                "the server refused the input, so it never reached the instrument: {}. Correct the input (the tool's \
                 input schema gives every limit) and call again.",
                list.join("; ")
            )
        }
        other => other.to_string(),
    }
}

impl Bridge {
    fn tools(&self) -> Vec<Tool> {
        let mut tools = Vec::new();
        for thing in self.things.iter() {
            let td = &thing.client.description().typed;
            for (name, action) in &td.actions {
                let description = action
                    .description
                    .clone()
                    .or_else(|| action.title.clone())
                    .unwrap_or_default();
                let input = action
                    .input
                    .clone()
                    .unwrap_or_else(|| json!({"type": "object", "properties": {}}));
                tools.push(
                    Tool::new(format!("{}.{name}", thing.name), description, object(input)).with_annotations(
                        ToolAnnotations::new()
                            .read_only(action.safe)
                            .destructive(!action.safe && !action.idempotent),
                    ),
                );
            }
            for (name, property) in &td.properties {
                let schema = Value::Object(property.schema.clone());
                let what = property.title().unwrap_or(name.as_str()).to_owned();
                if !property.write_only {
                    tools.push(
                        Tool::new(
                            format!("{}.get-{name}", thing.name),
                            format!("Read the property `{name}` of `{}`: {what}", thing.name),
                            object(json!({"type": "object", "properties": {}})),
                        )
                        .with_annotations(ToolAnnotations::new().read_only(true)),
                    );
                }
                if !property.read_only {
                    tools.push(Tool::new(
                        format!("{}.set-{name}", thing.name),
                        format!("Write the property `{name}` of `{}`: {what}", thing.name),
                        object(json!({"type": "object", "properties": {"value": schema}, "required": ["value"]})),
                    ));
                }
            }
        }
        tools
    }

    /// Run action `action` of `thing` with `input`, following it to its end.
    async fn action(
        thing: &Bridged,
        action: &str,
        input: Value,
        context: &RequestContext<RoleServer>,
    ) -> CallToolResult {
        let mut invocation = match thing.client.invoke_action::<Value, Value>(action, &input).await {
            Ok(invocation) => invocation,
            Err(e) => return refused(format!("{}.{action} was not started: {}", thing.name, reason(&e))),
        };
        let token = context.meta.get_progress_token();
        let mut told: Option<f64> = None;
        while !invocation.last_state().status.is_finished() {
            tokio::select! {
                () = context.ct.cancelled() => {
                    let _ = invocation.cancel().await;
                    return refused(format!("{}.{action} was cancelled by the client", thing.name));
                }
                () = tokio::time::sleep(POLL_EVERY) => {
                    if let Err(e) = invocation.refresh().await {
                        return refused(format!("lost the invocation of {}.{action}: {e}", thing.name));
                    }
                    let progress = invocation.last_state().progress.clone();
                    if let (Some(token), Some(progress)) = (&token, progress)
                        && told != Some(progress.fraction)
                    {
                        told = Some(progress.fraction);
                        let mut note = ProgressNotificationParam::new(token.clone(), progress.fraction).with_total(1.0);
                        if let Some(message) = progress.message {
                            note = note.with_message(message);
                        }
                        let _ = context.peer.notify_progress(note).await;
                    }
                }
            }
        }
        match invocation.wait().await {
            Ok(output) => {
                let mut result = CallToolResult::success(vec![ContentBlock::text(
                    serde_json::to_string(&output).unwrap_or_default(),
                )]);
                result.structured_content = Some(json!({ "output": output }));
                result
            }
            Err(e) => refused(format!("{}.{action} failed: {}", thing.name, reason(&e))),
        }
    }
}

impl ServerHandler for Bridge {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("labthings-mcp-bridge", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Tools of laboratory instruments, driven through their Web of Things Thing Descriptions: \
                 `thing.action` runs an action, `thing.get-property`/`thing.set-property` read and write. \
                 The instrument's server checks every input against its limits; a refusal says which rule \
                 was broken.",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        Ok(ListToolsResult::with_all_items(self.tools()))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let name = request.name.to_string();
        let input = request.arguments.map_or_else(|| json!({}), Value::Object);
        let found = self.things.iter().find_map(|thing| {
            let rest = name.strip_prefix(thing.name.as_str())?.strip_prefix('.')?;
            Some((thing, rest.to_owned()))
        });
        let Some((thing, rest)) = found else {
            return Err(ErrorData::invalid_params(format!("no tool named `{name}`"), None));
        };
        let td = &thing.client.description().typed;
        let result = if let Some(property) = rest.strip_prefix("get-").filter(|p| td.properties.contains_key(*p)) {
            match thing.client.read_property::<Value>(property).await {
                Ok(value) => {
                    let mut result = CallToolResult::success(vec![ContentBlock::text(
                        serde_json::to_string(&value).unwrap_or_default(),
                    )]);
                    result.structured_content = Some(json!({ "value": value }));
                    result
                }
                Err(e) => refused(format!("could not read `{property}`: {}", reason(&e))),
            }
        } else if let Some(property) = rest.strip_prefix("set-").filter(|p| td.properties.contains_key(*p)) {
            match input.get("value") {
                None => refused("give the new value as `value`"),
                Some(value) => match thing.client.write_property(property, value).await {
                    Ok(()) => CallToolResult::success(vec![ContentBlock::text("written")]),
                    Err(e) => refused(format!("`{property}` was not written: {}", reason(&e))),
                },
            }
        } else if td.actions.contains_key(&rest) {
            Self::action(thing, &rest, input, &context).await
        } else {
            return Err(ErrorData::invalid_params(format!("no tool named `{name}`"), None));
        };
        Ok(result.into())
    }
}
