//! One call of an action: its status, times, input, output, error and log.

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

#[derive(Debug)]
struct State {
    status: InvocationStatus,
    started: Option<DateTime<Utc>>,
    completed: Option<DateTime<Utc>>,
    output: Option<Value>,
    error: Option<Failure>,
    expires_at: Option<Instant>,
}

/// Where an invocation is, read at one instant: what a binding renders.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Its status.
    pub status: InvocationStatus,
    /// When it started running.
    pub started: Option<DateTime<Utc>>,
    /// When it finished.
    pub completed: Option<DateTime<Utc>>,
    /// Its output, once completed (blobs in it are named by [`blob_uri`](crate::blob::blob_uri)).
    pub output: Option<Value>,
    /// Why it did not complete, once failed or cancelled.
    pub error: Option<Failure>,
}

/// One call of an action, shared between the thread that runs it, the
/// [`ActionManager`](crate::ActionManager) and the bindings that show it.
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

    /// Why it did not complete, once failed or cancelled.
    pub fn error(&self) -> Option<Failure> {
        self.state.lock().error.clone()
    }

    /// Its status, times, output and error, read together.
    pub fn snapshot(&self) -> Snapshot {
        let state = self.state.lock();
        Snapshot {
            status: state.status,
            started: state.started,
            completed: state.completed,
            output: state.output.clone(),
            error: state.error.clone(),
        }
    }

    /// Whether the output holds blobs (only then need bindings rewrite it).
    pub fn has_blobs(&self) -> bool {
        !self.blobs.lock().is_empty()
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
        self.blob(crate::blob::blob_id(&output)?)
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
                state.error = Some(failure);
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
}
