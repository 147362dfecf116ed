//! One tool call of an action: started through `Lab::invoke` like any
//! binding's call (input checked against the schema before device code
//! runs), followed to its end with its progress told to the client, and
//! cancelled when the client cancels the request.

use std::sync::Arc;
use std::time::Duration;

use labthings_core::companion::Host;
use labthings_core::{ApprovalState, Caller, InvocationStatus, Refusal};
use rmcp::RoleServer;
use rmcp::model::{CallToolResult, ContentBlock, ProgressNotificationParam, ProgressToken};
use rmcp::service::RequestContext;
use serde_json::{Value, json};

/// How often a running invocation's progress is looked at.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// How long a cancelled invocation is waited for before the call answers
/// without its end.
const CANCEL_GRACE: Duration = Duration::from_secs(10);

/// A tool error a model reads: `text`, and nothing structured.
pub(crate) fn refused(text: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(text.into())])
}

/// Run action number `action` of thing number `thing` with `input` for
/// `caller` and answer with its output, or why it has none.
pub(crate) async fn action(
    host: &Arc<dyn Host>,
    caller: &Caller,
    (thing, action): (usize, usize),
    mut input: Value,
    context: &RequestContext<RoleServer>,
    timeout: Duration,
) -> CallToolResult {
    let lab = host.lab();
    let Some(instance) = lab.things().get(thing).cloned() else {
        return refused("no such thing");
    };
    let name = format!(
        "{}.{}",
        instance.name(),
        instance.actions().get(action).map_or("?", |a| a.name)
    );
    host.links_to_blobs(&mut input);
    let invocation = match lab.invoke(&instance, action, input, caller) {
        Ok(invocation) => invocation,
        Err(Refusal::Invalid(problems)) => {
            let rules: Vec<String> = problems
                .iter()
                .map(|p| format!("{}: {}", p.loc_path(), p.msg))
                .collect();
            return refused(format!(
                "{name} was not started: the input breaks the action's rules, so it never reached the instrument. {}. \
                 Correct the input (the tool's input schema gives every limit) and call again.",
                rules.join("; ")
            ));
        }
        Err(other) => return refused(format!("{name} was not started: {other}")),
    };
    let token = context.meta.get_progress_token();
    let summary = host.invocation_json(&invocation, false);
    let href = summary["href"].as_str().unwrap_or_default().to_owned();
    if invocation
        .approval()
        .is_some_and(|a| a.state == ApprovalState::Awaiting)
    {
        tell(
            context,
            token.as_ref(),
            0.0,
            format!("awaiting a human operator's approval (invocation {href})"),
        )
        .await;
    }
    let mut last: Option<(f64, Option<String>)> = None;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        tokio::select! {
            _ = invocation.finished() => break,
            () = context.ct.cancelled() => {
                // The client gave up on the call: the invocation stops too
                // (its cancel hook runs), and the client expects no answer.
                let _ = lab.cancel(invocation.id());
                let _ = tokio::time::timeout(CANCEL_GRACE, invocation.finished()).await;
                return refused(format!("{name} was cancelled by the client (invocation {href})"));
            }
            () = tokio::time::sleep_until(deadline) => {
                return CallToolResult::success(vec![ContentBlock::text(format!(
                    "{name} is still running after {} s; it was not stopped. Follow it at {href}.",
                    timeout.as_secs()
                ))]);
            }
            () = tokio::time::sleep(PROGRESS_EVERY) => {
                if let Some(progress) = invocation.progress() {
                    let now = (progress.fraction, progress.message.clone());
                    if last.as_ref() != Some(&now) {
                        tell(context, token.as_ref(), progress.fraction, progress.message.unwrap_or_default()).await;
                        last = Some(now);
                    }
                }
            }
        }
    }
    let full = host.invocation_json(&invocation, true);
    match invocation.status() {
        InvocationStatus::Completed => {
            let output = full.get("output").cloned().unwrap_or(Value::Null);
            let text = serde_json::to_string(&output).unwrap_or_default();
            let mut result = CallToolResult::success(vec![ContentBlock::text(text)]);
            result.structured_content = Some(json!({ "output": output }));
            result
        }
        InvocationStatus::Cancelled => refused(format!("{name} was cancelled before it finished (invocation {href})")),
        status => {
            let detail = full["error"]["detail"]
                .as_str()
                .map_or_else(|| format!("it ended as {status}"), str::to_owned);
            refused(format!("{name} failed: {detail} (invocation {href})"))
        }
    }
}

/// Tell the client how far the call is, if it asked to be told.
async fn tell(context: &RequestContext<RoleServer>, token: Option<&ProgressToken>, fraction: f64, message: String) {
    let Some(token) = token else { return };
    let mut progress = ProgressNotificationParam::new(token.clone(), fraction).with_total(1.0);
    if !message.is_empty() {
        progress = progress.with_message(message);
    }
    if let Err(e) = context.peer.notify_progress(progress).await {
        tracing::debug!("could not tell an MCP client of progress: {e}");
    }
}
