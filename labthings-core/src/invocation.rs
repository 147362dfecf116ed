//! One call of an action: its status, times, input, output, error and log.

use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use parking_lot::{Condvar, Mutex};
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::blob::{BlobData, BlobSink};
use crate::cancel::CancelHook;
use crate::failure::Failure;
use crate::log::{LogBuffer, LogRecord};
use crate::progress::{Progress, Report, Reported};
use crate::thing_states::ThingStates;

/// Where an invocation is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
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

    /// The status of an invocation that ended with `result`: `completed`,
    /// `cancelled` for [`Failure::Cancelled`], else `error`.
    pub fn ended_with(result: &Result<Value, Failure>) -> Self {
        match result {
            Ok(_) => Self::Completed,
            Err(Failure::Cancelled) => Self::Cancelled,
            Err(Failure::BadRequest { .. } | Failure::Busy { .. } | Failure::Error { .. }) => Self::Error,
        }
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
    /// Its approval record, when its call waits (or waited) for one.
    approval: Option<crate::approval::Approval>,
    /// Its end is being recorded: it is about to finish, and nothing else
    /// may start or end it.
    ending: bool,
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
    /// How far it is, if device code has said.
    pub progress: Option<Progress>,
    /// Its approval record, when its call waits (or waited) for an operator.
    pub approval: Option<crate::approval::Approval>,
}

/// What a finished invocation is made of when it is read back from a
/// store ([`Invocation::finished_from`]).
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) id: Uuid,
    pub(crate) thing: String,
    pub(crate) action: String,
    pub(crate) input: Value,
    pub(crate) requested: DateTime<Utc>,
    pub(crate) status: InvocationStatus,
    pub(crate) started: Option<DateTime<Utc>>,
    pub(crate) completed: Option<DateTime<Utc>>,
    pub(crate) output: Option<Value>,
    pub(crate) error: Option<Failure>,
    pub(crate) approval: Option<crate::approval::Approval>,
    pub(crate) caller: Option<crate::approval::Caller>,
    pub(crate) progress: Option<Progress>,
    /// Each intermediate result with when it was reported.
    pub(crate) intermediate: Vec<(Value, DateTime<Utc>)>,
    pub(crate) intermediate_count: u64,
    pub(crate) log: Vec<LogRecord>,
    pub(crate) thing_states: ThingStates,
    pub(crate) blobs: Vec<Arc<BlobData>>,
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
    reported: Mutex<Reported>,
    updates: OnceLock<Arc<dyn ReportSink>>,
    caller: OnceLock<crate::approval::Caller>,
    /// The states of the lab's things when it started running, when a
    /// store records them (shared with its records, never copied).
    thing_states: OnceLock<ThingStates>,
}

/// Where an invocation's progress reports go once a manager runs it (the
/// manager's throttled updates to observers); without one they are only
/// stored.
pub(crate) trait ReportSink: Send + Sync + std::fmt::Debug {
    /// Record `report` for `invocation` and tell observers now or later.
    fn report(&self, invocation: &Arc<Invocation>, report: Report);
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
            // Time-ordered (version 7): the record store's index of ids grows at
            // its end instead of everywhere.
            id: Uuid::now_v7(),
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
                approval: None,
                ending: false,
            }),
            finished: Condvar::new(),
            finished_async: Notify::new(),
            reported: Mutex::new(Reported::default()),
            updates: OnceLock::new(),
            caller: OnceLock::new(),
            thing_states: OnceLock::new(),
        }
    }

    /// A finished invocation made of `parts` (a record read back: see
    /// [`Record::restore`](crate::record::Record::restore)). It is expired at
    /// once: the manager reads it again when asked.
    pub(crate) fn finished_from(parts: Finished) -> Self {
        let log = LogBuffer::with_limits(parts.log.len().max(1), usize::MAX);
        for line in parts.log {
            log.push(line);
        }
        let mut reported = Reported::default();
        reported.restore(parts.progress, parts.intermediate, parts.intermediate_count);
        let invocation = Self {
            id: parts.id,
            thing: parts.thing,
            action: parts.action,
            input: parts.input,
            requested: parts.requested,
            retention: Duration::ZERO,
            cancel: CancelHook::new(),
            log: Arc::new(log),
            blobs: Arc::new(Mutex::new(parts.blobs)),
            state: Mutex::new(State {
                status: parts.status,
                started: parts.started,
                completed: parts.completed,
                output: parts.output,
                error: parts.error,
                expires_at: Some(Instant::now()),
                approval: parts.approval,
                ending: false,
            }),
            finished: Condvar::new(),
            finished_async: Notify::new(),
            reported: Mutex::new(reported),
            updates: OnceLock::new(),
            caller: OnceLock::new(),
            thing_states: OnceLock::new(),
        };
        if let Some(caller) = parts.caller {
            invocation.set_caller(caller);
        }
        let _ = invocation.thing_states.set(parts.thing_states);
        invocation
    }

    /// The states of the lab's things when it started running, when they
    /// were taken (a lab with a record store takes them).
    pub fn thing_states(&self) -> Option<&ThingStates> {
        self.thing_states.get()
    }

    /// Keep the states of the lab's things as they were when it started.
    pub(crate) fn set_thing_states(&self, states: ThingStates) {
        let _ = self.thing_states.set(states);
    }

    /// Record who asked for it (the manager does, once).
    pub(crate) fn set_caller(&self, caller: crate::approval::Caller) {
        let _ = self.caller.set(caller);
    }

    /// Who asked for it, when a binding said.
    pub fn caller(&self) -> Option<&crate::approval::Caller> {
        self.caller.get()
    }

    /// Its approval record, when its call waits (or waited) for an operator.
    pub fn approval(&self) -> Option<crate::approval::Approval> {
        self.state.lock().approval.clone()
    }

    /// Change its approval record with `change`, under the state's lock:
    /// what `change` returns, or `None` when it has no record.
    pub(crate) fn with_approval<R>(
        &self,
        change: impl FnOnce(&mut crate::approval::Approval, InvocationStatus) -> R,
    ) -> Option<R> {
        let mut state = self.state.lock();
        let status = state.status;
        state.approval.as_mut().map(|approval| change(approval, status))
    }

    /// Give it an approval record (before anyone sees it).
    pub(crate) fn set_approval(&self, approval: crate::approval::Approval) {
        self.state.lock().approval = Some(approval);
    }

    /// Tell observers of progress through `updates` (the manager does, once).
    pub(crate) fn set_updates(&self, updates: Arc<dyn ReportSink>) {
        let _ = self.updates.set(updates);
    }

    /// What device code reported, and when observers were told.
    pub(crate) fn reported(&self) -> &Mutex<Reported> {
        &self.reported
    }

    /// How far it is, if device code has said (see [`InvocationHandle::progress`]).
    pub fn progress(&self) -> Option<Progress> {
        self.reported.lock().progress.clone()
    }

    /// When each of the kept intermediate results was reported, in the
    /// order [`intermediate`](Self::intermediate) lists them.
    pub fn intermediate_times(&self) -> Vec<DateTime<Utc>> {
        self.reported.lock().intermediate_times()
    }

    /// The newest intermediate results, oldest first (at most
    /// [`INTERMEDIATE_LIMITS`](crate::progress::INTERMEDIATE_LIMITS)), and
    /// how many were reported in all.
    pub fn intermediate(&self) -> (Vec<Value>, u64) {
        let reported = self.reported.lock();
        (reported.intermediate(), reported.intermediate_count)
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
        let progress = self.progress();
        let state = self.state.lock();
        Snapshot {
            status: state.status,
            started: state.started,
            completed: state.completed,
            output: state.output.clone(),
            error: state.error.clone(),
            progress,
            approval: state.approval.clone(),
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
        if self.cancel.is_cancelled() || state.status != InvocationStatus::Pending || state.ending {
            return false;
        }
        state.status = InvocationStatus::Running;
        state.started = Some(Utc::now());
        self.reported.lock().started = Some(Instant::now());
        true
    }

    /// Cancel the invocation if it has not started: it ends as `cancelled`
    /// at once (it holds no thread while pending, so nothing else would end
    /// it). Returns whether it did; a running invocation is only asked to
    /// stop, with [`request_cancel`](Self::request_cancel).
    pub fn cancel_if_pending(&self) -> bool {
        self.end(Err(Failure::Cancelled), true)
    }

    /// Record how the action ended and wake anyone waiting for it. Only the
    /// first call counts; returns whether this one did.
    pub fn finish(&self, result: Result<Value, Failure>) -> bool {
        self.end(result, false)
    }

    /// End with `result` (only if still pending, with `only_pending`) unless
    /// it has ended or is ending; whether this call ended it.
    fn end(&self, result: Result<Value, Failure>, only_pending: bool) -> bool {
        match self.claim_end(result.is_ok(), only_pending) {
            Some(completed) => {
                self.complete_end(result, completed, only_pending);
                true
            }
            None => false,
        }
    }

    /// Claim the end (only if still pending, with `only_pending`; `ok`
    /// says whether it completed) unless it has ended or is ending, and
    /// close its reports: when it ends, or `None`. Until
    /// [`complete_end`](Self::complete_end), nobody can see it ended and
    /// nothing else can end it: a store writes its record meanwhile, so an
    /// end a client has seen is recorded.
    pub(crate) fn claim_end(&self, ok: bool, only_pending: bool) -> Option<DateTime<Utc>> {
        // The report lock first (as a progress report takes it before the
        // status), so no report is told after the end.
        let mut reported = self.reported.lock();
        let mut state = self.state.lock();
        let refused = if only_pending {
            state.status != InvocationStatus::Pending
        } else {
            state.status.is_finished()
        };
        if refused || state.ending {
            return None;
        }
        state.ending = true;
        reported.close(ok);
        Some(Utc::now())
    }

    /// End, with `result` at `completed`, an end claimed with
    /// [`claim_end`](Self::claim_end), and wake waiters.
    pub(crate) fn complete_end(&self, result: Result<Value, Failure>, completed: DateTime<Utc>, only_pending: bool) {
        let mut state = self.state.lock();
        Self::record_end(&mut state, result, self.retention, completed);
        state.ending = false;
        drop(state);
        if only_pending {
            // No longer pending, so `start` refuses it whatever the flag
            // says; the flag tells any code holding the hook.
            self.cancel.cancel();
        }
        self.wake_waiters();
    }

    fn wake_waiters(&self) {
        self.finished.notify_all();
        self.finished_async.notify_waiters();
    }

    fn record_end(state: &mut State, result: Result<Value, Failure>, retention: Duration, completed: DateTime<Utc>) {
        state.status = InvocationStatus::ended_with(&result);
        match result {
            Ok(output) => state.output = Some(output),
            Err(failure) => state.error = Some(failure),
        }
        state.completed = Some(completed);
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

/// What an action method can ask for besides its input: the invocation's
/// id, its cancel hook, and a way to say how far it is. Declare a parameter
/// `handle: &InvocationHandle` to receive it; with intermediate results of
/// a type `T`, `handle: &InvocationHandle<T>` (the type is then declared in
/// the Thing Description and the OpenAPI document).
///
/// ```
/// use labthings_core::{Invocation, InvocationHandle};
/// use labthings_core::log::LogBuffer;
/// use std::{sync::Arc, time::Duration};
/// let invocation = Arc::new(Invocation::new("stage", "move", serde_json::Value::Null, Duration::ZERO, LogBuffer::new(10)));
/// let handle: InvocationHandle<[i64; 3]> = InvocationHandle::new(invocation.clone()).typed();
/// handle.progress(0.5);
/// handle.intermediate(&[1, 2, 3]);
/// assert_eq!(invocation.progress().map(|p| p.fraction), Some(0.5));
/// assert_eq!(invocation.intermediate(), (vec![serde_json::json!([1, 2, 3])], 1));
/// ```
#[derive(Debug)]
pub struct InvocationHandle<I = NoIntermediate> {
    invocation: Arc<Invocation>,
    /// The part of the invocation's progress this handle reports: 0.0 to
    /// 1.0 here is `span.0` to `span.1` there (see [`span`](Self::span)).
    span: (f64, f64),
    /// Whether its intermediate results are the invocation's: not for a
    /// part handed to other device code (see [`span`](Self::span)).
    reports_intermediate: bool,
    intermediate: PhantomData<fn(&I)>,
}

impl<I> Clone for InvocationHandle<I> {
    fn clone(&self) -> Self {
        self.typed()
    }
}

/// The intermediate-result type of an action that reports none: no value
/// of it exists, so [`InvocationHandle::intermediate`] cannot be called.
#[derive(Debug, Clone, Copy, Serialize, schemars::JsonSchema)]
pub enum NoIntermediate {}

impl InvocationHandle {
    /// A handle on `invocation`.
    pub fn new(invocation: Arc<Invocation>) -> Self {
        Self {
            invocation,
            span: (0.0, 1.0),
            reports_intermediate: true,
            intermediate: PhantomData,
        }
    }
}

impl<I> InvocationHandle<I> {
    /// The same handle, for intermediate results of type `J`.
    pub fn typed<J>(&self) -> InvocationHandle<J> {
        InvocationHandle {
            invocation: self.invocation.clone(),
            span: self.span,
            reports_intermediate: self.reports_intermediate,
            intermediate: PhantomData,
        }
    }

    /// A handle for one part of the work, for device code this action calls
    /// (a stage move within a scan): its progress 0.0–1.0 becomes
    /// `from`–`to` of this handle's, its time left is estimated anew, and
    /// its intermediate results are dropped (they are the called code's,
    /// not this action's). Same invocation, same cancel hook.
    ///
    /// ```
    /// # use labthings_core::{Invocation, InvocationHandle};
    /// # use std::{sync::Arc, time::Duration};
    /// # let invocation = Arc::new(Invocation::new("a", "scan", serde_json::Value::Null, Duration::ZERO,
    /// #     labthings_core::log::LogBuffer::new(10)));
    /// let handle = InvocationHandle::new(invocation.clone());
    /// handle.span(0.5, 0.75).progress(0.5);
    /// assert_eq!(invocation.progress().map(|p| p.fraction), Some(0.625));
    /// ```
    pub fn span(&self, from: f64, to: f64) -> InvocationHandle {
        let (start, end) = self.span;
        let at = |f: f64| start + (end - start) * Progress::new(f).fraction;
        InvocationHandle {
            invocation: self.invocation.clone(),
            span: (at(from), at(to)),
            reports_intermediate: false,
            intermediate: PhantomData,
        }
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

    /// Say how far the action is: `fraction` done, 0.0 to 1.0. The time
    /// left is estimated from the rate so far. Cheap enough for a tight
    /// loop: observers are told a few times a second at most, the last
    /// report always.
    pub fn progress(&self, fraction: f64) {
        self.report(Progress::new(fraction));
    }

    /// Say how far the action is, with a message or device code's own
    /// estimate of the time left:
    /// `handle.report(Progress::new(0.3).message("moving z"))`.
    pub fn report(&self, mut progress: Progress) {
        let (start, end) = self.span;
        if (start, end) != (0.0, 1.0) {
            progress.fraction = start + (end - start) * progress.fraction;
            // A part's own time left is not the whole's: estimate anew.
            progress.remaining_seconds = None;
        }
        self.send(Report::Progress(progress));
    }

    fn send(&self, report: Report) {
        match self.invocation.updates.get() {
            Some(updates) => updates.report(&self.invocation, report),
            None => {
                self.invocation.reported.lock().record(report, Instant::now());
            }
        }
    }
}

impl<I: Serialize> InvocationHandle<I> {
    /// Report an intermediate result (a point of a scan, a frame's
    /// statistics): kept with the invocation (the newest
    /// [`INTERMEDIATE_LIMITS`](crate::progress::INTERMEDIATE_LIMITS)) and
    /// told to observers as progress is. A value that cannot be JSON is
    /// reported as `null`.
    pub fn intermediate(&self, value: &I) {
        if !self.reports_intermediate {
            return;
        }
        let value = serde_json::to_value(value).unwrap_or(Value::Null);
        self.send(Report::Intermediate(value));
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
