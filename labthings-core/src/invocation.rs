//! One call of an action: its status, times, input, output, error and log.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::{Condvar, Mutex};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::blob::{BlobData, BlobSink};
use crate::cancel::CancelHook;
use crate::log::{LogBuffer, LogRecord};
use crate::outcome::Failure;

/// Where an invocation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum InvocationStatus {
    /// Created, not yet started.
    Pending,
    /// Running on its thread.
    Running,
    /// Finished and returned a value.
    Completed,
    /// Stopped because it was cancelled.
    Cancelled,
    /// Failed: returned an error or panicked.
    Error,
}

impl InvocationStatus {
    /// Whether the invocation has finished (completed, cancelled or error).
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Completed | Self::Cancelled | Self::Error)
    }

    /// The lowercase name used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Error => "error",
        }
    }
}

impl std::fmt::Display for InvocationStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The problem type LabThings-FastAPI clients recognise as a cancellation.
pub const CANCELLED_PROBLEM_TYPE: &str = "https://labthings-fastapi.readthedocs.io/en/latest/autoapi/labthings_fastapi/exceptions/index.html#labthings_fastapi.exceptions.InvocationCancelledError";

/// RFC 9457 problem details, as stored in a failed invocation's `error`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProblemDetails {
    /// A human-readable explanation.
    pub detail: String,
    /// A URI naming the kind of problem, if there is one.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The HTTP status code that fits the problem.
    pub status: u16,
    /// A short summary of the kind of problem.
    pub title: String,
    /// A URI for this occurrence (unused: always `null`).
    pub instance: Option<String>,
}

impl ProblemDetails {
    /// Problem details for a failed or cancelled invocation.
    pub fn from_failure(failure: &Failure) -> Self {
        match failure {
            Failure::Cancelled => Self {
                detail: failure.detail(),
                kind: Some(CANCELLED_PROBLEM_TYPE.to_owned()),
                status: 500,
                title: "InvocationCancelledError".to_owned(),
                instance: None,
            },
            Failure::BadRequest { detail } => Self {
                detail: detail.clone(),
                kind: None,
                status: 422,
                title: "BadRequest".to_owned(),
                instance: None,
            },
            Failure::Error { title, detail } => Self {
                detail: detail.clone(),
                kind: None,
                status: 500,
                title: title.clone(),
                instance: None,
            },
        }
    }
}

#[derive(Debug)]
struct State {
    status: InvocationStatus,
    started: Option<DateTime<Utc>>,
    completed: Option<DateTime<Utc>>,
    output: Option<Value>,
    error: Option<ProblemDetails>,
    expires_at: Option<Instant>,
}

/// One call of an action, shared between the thread that runs it, the
/// [`ActionManager`](crate::ActionManager) and HTTP handlers.
#[derive(Debug)]
pub struct Invocation {
    id: Uuid,
    thing: String,
    action: String,
    input: Value,
    requested: DateTime<Utc>,
    retention: Duration,
    cancel: CancelHook,
    log: Arc<LogBuffer>,
    blobs: BlobSink,
    state: Mutex<State>,
    finished: Condvar,
    finished_async: Notify,
}

impl Invocation {
    /// A new `pending` invocation of `thing`'s `action`.
    pub fn new(
        thing: impl Into<String>,
        action: impl Into<String>,
        input: Value,
        retention: Duration,
        log: LogBuffer,
    ) -> Self {
        Self {
            id: Uuid::new_v4(),
            thing: thing.into(),
            action: action.into(),
            input,
            requested: Utc::now(),
            retention,
            cancel: CancelHook::new(),
            log: Arc::new(log),
            blobs: Arc::new(Mutex::new(Vec::new())),
            state: Mutex::new(State {
                status: InvocationStatus::Pending,
                started: None,
                completed: None,
                output: None,
                error: None,
                expires_at: None,
            }),
            finished: Condvar::new(),
            finished_async: Notify::new(),
        }
    }

    /// The invocation's unique id (UUID v4).
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The name the Thing is served under.
    pub fn thing(&self) -> &str {
        &self.thing
    }

    /// The action's name.
    pub fn action(&self) -> &str {
        &self.action
    }

    /// The validated input, defaults filled in.
    pub fn input(&self) -> &Value {
        &self.input
    }

    /// The current status.
    pub fn status(&self) -> InvocationStatus {
        self.state.lock().status
    }

    /// The output, once completed.
    pub fn output(&self) -> Option<Value> {
        self.state.lock().output.clone()
    }

    /// The output, once completed, as clients see it: blob links made
    /// absolute on `base` (the server's URL, ending in `/`).
    pub fn output_json(&self, base: &str) -> Option<Value> {
        let output = self.state.lock().output.clone()?;
        Some(if self.blobs.lock().is_empty() {
            output
        } else {
            absolute_blob_links(output, base)
        })
    }

    /// The problem details, once failed or cancelled.
    pub fn error(&self) -> Option<ProblemDetails> {
        self.state.lock().error.clone()
    }

    /// The log records so far, oldest first.
    pub fn log(&self) -> Vec<LogRecord> {
        self.log.snapshot()
    }

    /// The shared log buffer that the invocation's thread captures into.
    pub fn log_buffer(&self) -> &Arc<LogBuffer> {
        &self.log
    }

    /// Where the action's output blobs are kept (for as long as the invocation).
    pub fn blob_sink(&self) -> &BlobSink {
        &self.blobs
    }

    /// The blob with this id, if the action's output holds it.
    pub fn blob(&self, id: Uuid) -> Option<Arc<BlobData>> {
        self.blobs.lock().iter().find(|b| b.id() == id).cloned()
    }

    /// The blob that is the whole output, if the output is one.
    pub fn output_blob(&self) -> Option<Arc<BlobData>> {
        let output = self.state.lock().output.clone()?;
        let href = output.get("href")?.as_str()?;
        output.get("media_type")?;
        let id = href.strip_prefix("blob/")?.parse().ok()?;
        self.blob(id)
    }

    /// The cancel hook handed to the action.
    pub fn cancel_hook(&self) -> &CancelHook {
        &self.cancel
    }

    /// When the invocation was requested.
    pub fn requested(&self) -> DateTime<Utc> {
        self.requested
    }

    /// How long the invocation is kept once finished.
    pub fn retention(&self) -> Duration {
        self.retention
    }

    /// Ask the action to stop. Returns the status it had, so callers can tell
    /// whether the request can still take effect.
    pub fn request_cancel(&self) -> InvocationStatus {
        let status = self.status();
        if !status.is_finished() {
            self.cancel.cancel();
        }
        status
    }

    /// Whether the invocation has finished and its retention time has passed.
    pub fn is_expired(&self, now: Instant) -> bool {
        self.state.lock().expires_at.is_some_and(|t| now >= t)
    }

    /// Mark as running. Returns `false` (and does not change state) if it was
    /// cancelled before starting or is no longer pending.
    pub fn start(&self) -> bool {
        let mut state = self.state.lock();
        if self.cancel.is_cancelled() || state.status != InvocationStatus::Pending {
            return false;
        }
        state.status = InvocationStatus::Running;
        state.started = Some(Utc::now());
        true
    }

    /// Cancel the invocation if it has not started: it ends as `cancelled`
    /// at once (it holds no thread while pending, so nothing else would end
    /// it). Returns whether it did; a running invocation is only asked to
    /// stop, with [`request_cancel`](Self::request_cancel).
    pub fn cancel_if_pending(&self) -> bool {
        let mut state = self.state.lock();
        if state.status != InvocationStatus::Pending {
            return false;
        }
        Self::record_end(&mut state, Err(Failure::Cancelled), self.retention);
        drop(state);
        // No longer pending, so `start` refuses it whatever the flag says;
        // the flag tells any code holding the hook.
        self.cancel.cancel();
        self.wake_waiters();
        true
    }

    /// Record how the action ended and wake anyone waiting for it. Only the
    /// first call counts; returns whether this one did.
    pub fn finish(&self, result: Result<Value, Failure>) -> bool {
        let mut state = self.state.lock();
        if state.status.is_finished() {
            return false;
        }
        Self::record_end(&mut state, result, self.retention);
        drop(state);
        self.wake_waiters();
        true
    }

    fn wake_waiters(&self) {
        self.finished.notify_all();
        self.finished_async.notify_waiters();
    }

    fn record_end(state: &mut State, result: Result<Value, Failure>, retention: Duration) {
        match result {
            Ok(output) => {
                state.status = InvocationStatus::Completed;
                state.output = Some(output);
            }
            Err(failure) => {
                state.status = match failure {
                    Failure::Cancelled => InvocationStatus::Cancelled,
                    Failure::BadRequest { .. } | Failure::Error { .. } => InvocationStatus::Error,
                };
                state.error = Some(ProblemDetails::from_failure(&failure));
            }
        }
        state.completed = Some(Utc::now());
        state.expires_at = Instant::now().checked_add(retention);
    }

    /// Wait asynchronously until finished (no thread is blocked). The server
    /// waits on this, with a time limit, to answer a POST with the finished
    /// invocation when the action is quick.
    pub async fn finished(&self) -> InvocationStatus {
        loop {
            let mut notified = std::pin::pin!(self.finished_async.notified());
            // Register before checking, so a finish in between is not missed.
            notified.as_mut().enable();
            let status = self.status();
            if status.is_finished() {
                return status;
            }
            notified.await;
        }
    }

    /// Block until finished or `timeout` passes; returns the status then.
    pub fn wait(&self, timeout: Duration) -> InvocationStatus {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.state.lock();
        while !state.status.is_finished() {
            match deadline {
                Some(deadline) => {
                    if self.finished.wait_until(&mut state, deadline).timed_out() {
                        break;
                    }
                }
                None => self.finished.wait(&mut state),
            }
        }
        state.status
    }

    /// The JSON representation, with links built on `base` (the server's
    /// absolute URL, ending in `/`). `full` adds `input`, `output`, `log` and
    /// `error`; lists show summaries without them.
    pub fn to_json(&self, base: &str, full: bool) -> Value {
        let href = format!("{base}action_invocations/{}", self.id);
        let state = self.state.lock();
        let model = InvocationModel {
            status: state.status,
            id: self.id,
            action: format!("/{}/{}", self.thing, self.action),
            links: [
                Link::new(href.clone(), "self"),
                Link::new(format!("{href}/output"), "output"),
            ],
            href,
            time_requested: self.requested,
            time_started: state.started,
            time_completed: state.completed,
            details: full.then(|| Details {
                input: &self.input,
                output: state.output.as_ref().map(|output| {
                    if self.blobs.lock().is_empty() {
                        Cow::Borrowed(output)
                    } else {
                        Cow::Owned(absolute_blob_links(output.clone(), base))
                    }
                }),
                log: self.log.snapshot(),
                error: state.error.as_ref(),
            }),
        };
        serde_json::to_value(model).unwrap_or(Value::Null)
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InvocationModel<'a> {
    status: InvocationStatus,
    id: Uuid,
    action: String,
    href: String,
    time_requested: DateTime<Utc>,
    time_started: Option<DateTime<Utc>>,
    time_completed: Option<DateTime<Utc>>,
    links: [Link; 2],
    #[serde(flatten)]
    details: Option<Details<'a>>,
}

/// Turn the relative `blob/{id}` links of an output into absolute ones.
fn absolute_blob_links(value: Value, base: &str) -> Value {
    match value {
        Value::Object(mut map) => {
            let is_blob = map.contains_key("media_type")
                && map
                    .get("href")
                    .and_then(Value::as_str)
                    .is_some_and(|h| h.starts_with("blob/"));
            if is_blob {
                if let Some(Value::String(href)) = map.get_mut("href") {
                    *href = format!("{base}{href}");
                }
                Value::Object(map)
            } else {
                Value::Object(
                    map.into_iter()
                        .map(|(k, v)| (k, absolute_blob_links(v, base)))
                        .collect(),
                )
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(|v| absolute_blob_links(v, base)).collect()),
        other => other,
    }
}

#[derive(Serialize)]
struct Details<'a> {
    input: &'a Value,
    output: Option<Cow<'a, Value>>,
    log: Vec<LogRecord>,
    error: Option<&'a ProblemDetails>,
}

/// A TD link element (`href`, `type`, `rel`, `anchor`).
#[derive(Debug, Clone, Serialize)]
struct Link {
    href: String,
    #[serde(rename = "type")]
    media_type: Option<String>,
    rel: &'static str,
    anchor: Option<String>,
}

impl Link {
    fn new(href: String, rel: &'static str) -> Self {
        Self {
            href,
            media_type: None,
            rel,
            anchor: None,
        }
    }
}

/// What an action method can ask for besides its input: the invocation's id
/// and its cancel hook. Declare a parameter of this type to receive it.
#[derive(Debug, Clone)]
pub struct InvocationHandle {
    invocation: Arc<Invocation>,
}

impl InvocationHandle {
    /// A handle on `invocation`.
    pub fn new(invocation: Arc<Invocation>) -> Self {
        Self { invocation }
    }

    /// The invocation's id.
    pub fn id(&self) -> Uuid {
        self.invocation.id()
    }

    /// The cancel hook (the same one a `CancelHook` parameter receives).
    pub fn cancel_hook(&self) -> CancelHook {
        self.invocation.cancel_hook().clone()
    }

    /// The validated input, as JSON.
    pub fn input(&self) -> &Value {
        self.invocation.input()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_invocations_expire_after_retention() {
        let inv = Invocation::new("bench", "increment", Value::Null, Duration::ZERO, LogBuffer::new(10));
        assert!(!inv.is_expired(Instant::now()));
        assert!(inv.start());
        inv.finish(Ok(Value::from(1)));
        assert_eq!(inv.status(), InvocationStatus::Completed);
        assert!(inv.is_expired(Instant::now()));
    }

    #[test]
    fn cancelled_before_start_does_not_run() {
        let inv = Invocation::new("bench", "slow", Value::Null, Duration::ZERO, LogBuffer::new(10));
        assert_eq!(inv.request_cancel(), InvocationStatus::Pending);
        assert!(!inv.start());
    }

    #[test]
    fn summary_leaves_out_details() {
        let inv = Invocation::new(
            "bench",
            "increment",
            serde_json::json!({"by": 1}),
            Duration::ZERO,
            LogBuffer::new(10),
        );
        let summary = inv.to_json("http://h/", false);
        assert!(summary.get("input").is_none());
        assert_eq!(summary["action"], "/bench/increment");
        assert_eq!(summary["links"][1]["rel"], "output");
        let full = inv.to_json("http://h/", true);
        assert_eq!(full["input"]["by"], 1);
        assert_eq!(full["output"], Value::Null);
        assert_eq!(full["status"], "pending");
    }
}
