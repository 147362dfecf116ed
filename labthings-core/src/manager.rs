//! The action manager: starts invocations on a bounded pool of threads and
//! keeps them until they expire or are evicted.
//!
//! Everything it holds is bounded: at most [`ManagerConfig::max_active`]
//! invocations are pending or running (more are refused), they run on at
//! most [`ManagerConfig::max_threads`] threads (a pending invocation, waiting
//! for a hardware lock or a thread, holds none), at most
//! [`ManagerConfig::max_retained`] finished ones are kept (the oldest
//! finished is evicted first), and each keeps a log of bounded size.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use chrono::Utc;
use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tracing::Level;
use uuid::Uuid;

use crate::approval::{Approval, ApprovalError, ApprovalState, Caller};
use crate::blob::BlobData;
use crate::context::{Context, LabLink};
use crate::failure::Failure;
use crate::hub::{Hub, Notification};
use crate::invocation::{Invocation, InvocationHandle, InvocationStatus};
use crate::lock::{HardwareLock, LockGuard, LockScope, WhenBusy};
use crate::log::{LogBuffer, LogRecord};
use crate::outcome::Body;
use crate::pool::ThreadPool;
use crate::record::{END_WAIT, Record, RecordStore};
use crate::registry::ActionCall;
use crate::updates::Updates;

/// Settings for an [`ActionManager`]: the `[invocations]` table of a
/// configuration file (times in seconds, `retention_s`; absent keys keep the
/// defaults; an unknown key is an error).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct ManagerConfig {
    /// How long a finished invocation is kept when its action does not say
    /// (default 300 s, as LabThings-FastAPI).
    #[serde(rename = "retention_s", with = "crate::seconds")]
    pub retention: Duration,
    /// How many log records each invocation keeps (default 1000).
    pub log_capacity: usize,
    /// The least severe records an invocation's log keeps when its action
    /// does not say (`"info"` by default, as the original; `"debug"` to
    /// capture debug records too).
    pub log_level: crate::log::LogLevel,
    /// How many bytes of log each invocation keeps (default 64 KiB; a record
    /// counts as its message and file name plus about 200 bytes for the
    /// record itself). The newest records are kept.
    pub log_bytes: usize,
    /// How many finished invocations are kept at most, whatever their
    /// retention (default 1000); beyond it the oldest finished is dropped.
    pub max_retained: usize,
    /// How many invocations may be pending or running at once (default 256);
    /// beyond it a new one is refused with [`InvokeError::Overloaded`].
    pub max_active: usize,
    /// How many threads run invocations at most (default 64); further
    /// invocations wait, pending and holding no thread, for one to be free.
    pub max_threads: usize,
    /// The lock an action takes when it does not say (default none; the
    /// original's global lock is `LockScope::Server`). An action opts out
    /// with `#[action(lock = "none")]`.
    pub default_lock: LockScope,
    /// How many times a second observers are told of an invocation's
    /// progress reports at most (default 10; the last report is always
    /// told). 0 tells every report.
    pub progress_per_second: u32,
}

impl ManagerConfig {
    /// This configuration changed by `change` (the way to set a few values
    /// on the defaults).
    pub fn with(mut self, change: impl FnOnce(&mut Self)) -> Self {
        change(&mut self);
        self
    }
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(300),
            log_capacity: 1000,
            log_level: crate::log::LogLevel::Info,
            log_bytes: 64 * 1024,
            max_retained: 1000,
            max_active: 256,
            max_threads: 64,
            default_lock: LockScope::None,
            progress_per_second: 10,
        }
    }
}

/// Why an invocation could not be cancelled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CancelError {
    /// No invocation has that id (or it expired).
    #[error("No action invocation found with ID {0}")]
    NotFound(Uuid),
    /// It has already finished.
    #[error("The invocation has already finished (status: {status}) and may not be cancelled.")]
    Finished {
        /// The status it finished with.
        status: InvocationStatus,
    },
}

/// Why an invocation was not started.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// The action refuses to wait for its hardware lock, and it is taken.
    #[error("`{action}` needs the hardware lock, which is held by invocation {holder}; try again when it has finished")]
    Busy {
        /// The action's name.
        action: String,
        /// The invocation holding the lock (nil for a property write).
        holder: Uuid,
    },
    /// Too many invocations are pending or running.
    #[error(
        "{limit} invocations are already pending or running, the most this server accepts; try again when some have finished"
    )]
    Overloaded {
        /// The configured [`ManagerConfig::max_active`].
        limit: usize,
    },
    /// The server is shutting down and starts nothing new.
    #[error("the server is shutting down and accepts no new invocations")]
    ShuttingDown,
}

/// The invocations kept for polling, and indexes into them.
#[derive(Debug, Default)]
struct Retained {
    by_id: HashMap<Uuid, Arc<Invocation>>,
    /// Finished invocations, in the order they finished (evicted from the front).
    finished: VecDeque<Uuid>,
    /// Which invocation holds each blob.
    blobs: HashMap<Uuid, Uuid>,
}

impl Retained {
    fn remove(&mut self, id: Uuid) {
        if let Some(invocation) = self.by_id.remove(&id) {
            for blob in invocation.blob_sink().lock().iter() {
                self.blobs.remove(&blob.id());
            }
        }
    }
}

/// What the manager shares with the jobs it starts.
#[derive(Debug)]
struct Shared {
    config: ManagerConfig,
    retained: RwLock<Retained>,
    hub: Hub,
    threads: ThreadPool,
    /// Pending plus running invocations.
    active: AtomicUsize,
    /// Set by [`ActionManager::close`]: nothing new starts.
    closed: AtomicBool,
    /// What device code may ask of the lab ([`crate::context`]).
    lab: Option<LabLink>,
    /// Where `async fn` actions run (the lab's device runtime), once the
    /// lab says; until then, on the runtime they are invoked from.
    runtime: OnceLock<tokio::runtime::Handle>,
    /// Tells observers of progress reports, a few times a second at most.
    updates: Arc<Updates>,
    /// The calls awaiting approval, by invocation (counted in `active`, so
    /// bounded by [`ManagerConfig::max_active`]).
    awaiting: Mutex<HashMap<Uuid, ActionCall>>,
    /// Where invocations are recorded, and read back from once they have
    /// left memory (none: memory only).
    store: OnceLock<Arc<dyn RecordStore>>,
    /// What the store refused, said in the server's log at a bounded rate.
    store_warnings: crate::log_limit::LogLimiter,
}

impl Shared {
    /// Where an `async fn` action runs: the lab's device runtime, or else
    /// the runtime it is invoked from.
    fn runtime(&self) -> Option<tokio::runtime::Handle> {
        self.runtime
            .get()
            .cloned()
            .or_else(|| tokio::runtime::Handle::try_current().ok())
    }

    /// Run `call` as `invocation` under `claim` (its lock).
    fn launch(self: &Arc<Self>, call: ActionCall, invocation: &Arc<Invocation>, claim: Claim) {
        Job {
            shared: self.clone(),
            call,
            invocation: invocation.clone(),
            runtime: self.runtime(),
        }
        .launch(claim);
    }

    /// Keep `invocation` for polling and tell observers it is pending.
    fn retain(&self, invocation: &Arc<Invocation>) {
        self.retained.write().by_id.insert(invocation.id(), invocation.clone());
        self.hub.publish(Notification::Invocation {
            invocation: invocation.clone(),
            status: InvocationStatus::Pending,
        });
    }

    /// End invocation `id` as expired if it still awaits approval at `now`
    /// past its deadline; whether it did.
    fn expire_approval(self: &Arc<Self>, id: Uuid, now: chrono::DateTime<Utc>) -> bool {
        let Some(invocation) = self.retained.read().by_id.get(&id).cloned() else {
            return false;
        };
        let expired = invocation.with_approval(|approval, status| {
            let due = approval.state == ApprovalState::Awaiting
                && status == InvocationStatus::Pending
                && now >= approval.deadline;
            if due {
                approval.state = ApprovalState::Expired;
            }
            due
        });
        if expired != Some(true) {
            return false;
        }
        tracing::info!(
            target: "labthings::audit",
            caller = invocation.caller().map_or("anonymous", Caller::name),
            invocation = %id,
            "{}.{}: no operator approved it in time",
            invocation.thing(),
            invocation.action(),
        );
        self.finish(
            &invocation,
            Err(Failure::error(
                "ApprovalExpired",
                "no operator approved the call in time; it did not run",
            )),
            None,
        );
        true
    }

    /// Book-keeping after `invocation` finished (called once per invocation).
    fn finished(&self, invocation: &Arc<Invocation>) {
        self.awaiting.lock().remove(&invocation.id());
        self.active.fetch_sub(1, Ordering::SeqCst);
        {
            let mut retained = self.retained.write();
            let id = invocation.id();
            if retained.by_id.contains_key(&id) {
                retained.finished.push_back(id);
            }
            while retained.finished.len() > self.config.max_retained {
                match retained.finished.pop_front() {
                    Some(oldest) => retained.remove(oldest),
                    None => break,
                }
            }
        }
        self.hub.publish(Notification::Invocation {
            invocation: invocation.clone(),
            status: invocation.status(),
        });
    }

    /// End `invocation` with `result` unless it has ended (or is ending)
    /// already; whether this call ends it. With a store, its record goes to
    /// the store first, and only once that is on disk does it end for
    /// everyone to see (its blobs findable before anyone waiting is woken)
    /// and `guard`, its hardware lock, go to the next waiter; the calling
    /// thread does not wait for the disk.
    fn finish(
        self: &Arc<Self>,
        invocation: &Arc<Invocation>,
        result: Result<Value, Failure>,
        guard: Option<LockGuard>,
    ) -> bool {
        self.end(invocation, result, false, guard)
    }

    /// [`finish`](Self::finish), waiting (at most [`END_WAIT`]) until
    /// everyone can see it ended: for callers that answer with how it ended.
    fn finish_and_wait(self: &Arc<Self>, invocation: &Arc<Invocation>, result: Result<Value, Failure>) {
        if self.finish(invocation, result, None) {
            invocation.wait(END_WAIT);
        }
    }

    /// End `invocation` as cancelled if it is still pending (as
    /// [`finish`](Self::finish) does); whether it does.
    fn cancel_if_pending(self: &Arc<Self>, invocation: &Arc<Invocation>) -> bool {
        self.end(invocation, Err(Failure::Cancelled), true, None)
    }

    fn end(
        self: &Arc<Self>,
        invocation: &Arc<Invocation>,
        result: Result<Value, Failure>,
        only_pending: bool,
        guard: Option<LockGuard>,
    ) -> bool {
        let Some(completed) = invocation.claim_end(result.is_ok(), only_pending) else {
            return false;
        };
        let blobs = invocation.blob_sink().lock().clone();
        if !blobs.is_empty() {
            let mut retained = self.retained.write();
            let id = invocation.id();
            if retained.by_id.contains_key(&id) {
                for blob in &blobs {
                    retained.blobs.insert(blob.id(), id);
                }
            }
        }
        let Some(store) = self.store.get() else {
            self.complete(invocation, result, completed, only_pending);
            drop(guard);
            return true;
        };
        let record = Record::ending(invocation, &result, completed);
        let (shared, ending) = (self.clone(), invocation.clone());
        store.end_then(
            record,
            &blobs,
            Box::new(move |kept| {
                shared.not_kept(&ending, kept);
                shared.complete(&ending, result, completed, only_pending);
                drop(guard);
            }),
        );
        true
    }

    /// Let everyone see `invocation` ended (an end claimed).
    fn complete(
        &self,
        invocation: &Arc<Invocation>,
        result: Result<Value, Failure>,
        completed: chrono::DateTime<Utc>,
        only_pending: bool,
    ) {
        invocation.complete_end(result, completed, only_pending);
        self.finished(invocation);
    }

    /// Say in `invocation`'s log (and the server's, at most once a minute)
    /// what the store could not keep of it.
    fn not_kept(&self, invocation: &Invocation, kept: Result<Option<String>, crate::record::StoreError>) {
        let problem = match kept {
            Ok(None) => return,
            Ok(Some(refused)) => crate::record::blobs_refused_message(&refused),
            Err(e) => format!("the invocation was not recorded ({e}); it is kept in memory until it expires"),
        };
        self.store_warnings
            .hit(|more| tracing::error!("{}.{}: {problem}{more}", invocation.thing(), invocation.action()));
        invocation
            .log_buffer()
            .push(LogRecord::new(Level::ERROR, problem, Some(file!()), Some(line!())));
    }
}

/// One invocation on its way to a thread (or, for an `async fn`, a task).
struct Job {
    shared: Arc<Shared>,
    call: ActionCall,
    invocation: Arc<Invocation>,
    /// The runtime the invocation was asked for on, if any: an `async fn`
    /// action runs there as a task.
    runtime: Option<tokio::runtime::Handle>,
}

/// The hardware lock an invocation is about to run under.
enum Claim {
    /// Taken already.
    Held(LockGuard),
    /// Held by another; the invocation waits, pending, for it.
    Wait(Arc<HardwareLock>),
    /// The action takes no lock.
    Free,
}

impl Claim {
    /// Take the lock `call` runs under for `invocation`, or queue for it;
    /// `Busy` when the action refuses to wait for a held lock.
    fn take(shared: &Shared, call: &ActionCall, invocation: &Invocation) -> Result<Self, InvokeError> {
        // An action that declares no lock takes the configured default,
        // as one that declares no retention takes the configured retention.
        let policy = call.lock.or_default(shared.config.default_lock);
        match (call.thing.lock_for(policy.scope).cloned(), policy.when_busy) {
            (Some(lock), WhenBusy::Reject) => match lock.try_acquire(invocation.id()) {
                Some(guard) => Ok(Self::Held(guard)),
                None => Err(InvokeError::Busy {
                    action: call.action.to_owned(),
                    holder: lock.holder().unwrap_or_default(),
                }),
            },
            (Some(lock), WhenBusy::Wait) => Ok(Self::Wait(lock)),
            (None, _) => Ok(Self::Free),
        }
    }
}

impl Job {
    /// Run the job under `claim`: at once, or once its lock comes free.
    fn launch(self, claim: Claim) {
        match claim {
            Claim::Held(guard) => self.dispatch(Some(guard)),
            Claim::Free => self.dispatch(None),
            Claim::Wait(lock) => {
                let (waiter, waiting_shared) = (self.invocation.clone(), self.shared.clone());
                // Asked when the lock comes free: a cancelled waiter, or any
                // waiter once the server is closing, does not take it.
                let wants = move || {
                    let closed = waiting_shared.closed.load(Ordering::SeqCst);
                    if closed {
                        waiting_shared.cancel_if_pending(&waiter);
                    }
                    !closed && waiter.status() == InvocationStatus::Pending && !waiter.cancel_hook().is_cancelled()
                };
                let id = self.invocation.id();
                lock.acquire_or_queue(id, wants, move |guard| self.dispatch(Some(guard)));
            }
        }
    }

    /// Queue the job on the pool, or an `async fn`'s as a task on the
    /// runtime, holding `guard` (its lock) if it has one.
    fn dispatch(mut self, guard: Option<LockGuard>) {
        if self.call.is_async()
            && let Some(runtime) = self.runtime.take()
        {
            runtime.spawn(self.run_async(guard));
            return;
        }
        let (shared, invocation) = (self.shared.clone(), self.invocation.clone());
        if let Err(e) = shared.threads.clone().run(move || self.run(guard)) {
            shared.finish(
                &invocation,
                Err(Failure::error(
                    "ThreadError",
                    format!("could not start a thread for the action: {e}"),
                )),
                None,
            );
        }
    }
}

/// Runs action invocations on a bounded pool of threads, and keeps them
/// (running, or finished within their retention time) for listing and polling.
///
/// ```
/// use labthings_core::{ActionManager, InvocationStatus};
/// let manager = ActionManager::default();
/// assert!(manager.list(None, None).is_empty());
/// ```
#[derive(Debug)]
pub struct ActionManager {
    shared: Arc<Shared>,
}

impl Default for ActionManager {
    fn default() -> Self {
        Self::new(ManagerConfig::default())
    }
}

impl ActionManager {
    /// A manager with the given settings, publishing on a hub of its own,
    /// outside any lab (a [`Lab`](crate::Lab) makes its own with
    /// [`in_lab`](Self::in_lab)).
    pub fn new(config: ManagerConfig) -> Self {
        Self::in_lab(config, Hub::default(), None)
    }

    /// A manager with the given settings that publishes invocation changes
    /// on `hub` and tells device code what its lab offers (`lab`: the
    /// states of the lab's things, its server lock).
    pub fn in_lab(config: ManagerConfig, hub: Hub, lab: Option<LabLink>) -> Self {
        let threads = ThreadPool::new(config.max_threads, Duration::from_secs(10));
        Self {
            shared: Arc::new(Shared {
                updates: Updates::new(hub.clone(), config.progress_per_second),
                config,
                retained: RwLock::default(),
                hub,
                threads,
                active: AtomicUsize::new(0),
                closed: AtomicBool::new(false),
                runtime: OnceLock::new(),
                lab,
                awaiting: Mutex::default(),
                store: OnceLock::new(),
                store_warnings: crate::log_limit::LogLimiter::new(Duration::from_secs(10)),
            }),
        }
    }

    /// Run `async fn` actions on `runtime` from now on, apart from the
    /// runtime that serves requests (the lab sets its device runtime when
    /// it starts; later calls change nothing).
    pub fn set_runtime(&self, runtime: tokio::runtime::Handle) {
        let _ = self.shared.runtime.set(runtime);
    }

    /// Record invocations in `store` from now on, and read those that have
    /// left memory back from it (the lab sets its store before it starts;
    /// later calls change nothing).
    pub fn set_store(&self, store: Arc<dyn RecordStore>) {
        let _ = self.shared.store.set(store);
    }

    /// The store invocations are recorded in, if any.
    pub fn store(&self) -> Option<&Arc<dyn RecordStore>> {
        self.shared.store.get()
    }

    /// Where this manager publishes invocation changes (a lab's managers
    /// publish on [`Lab::hub`](crate::Lab::hub)).
    pub fn hub(&self) -> &Hub {
        &self.shared.hub
    }

    /// The blob with this id, held by a retained invocation (one lookup),
    /// or else by the record store.
    pub fn blob(&self, id: Uuid) -> Option<Arc<BlobData>> {
        let invocation = {
            let retained = self.shared.retained.read();
            retained
                .blobs
                .get(&id)
                .and_then(|holder| retained.by_id.get(holder))
                .cloned()
        };
        invocation
            .filter(|invocation| !invocation.is_expired(Instant::now()))
            .and_then(|invocation| invocation.blob(id))
            .or_else(|| self.shared.store.get()?.blob(id))
    }

    /// The manager's settings.
    pub fn config(&self) -> &ManagerConfig {
        &self.shared.config
    }

    /// How many invocations are pending or running.
    pub fn active(&self) -> usize {
        self.shared.active.load(Ordering::SeqCst)
    }

    /// How many invocations are kept (unfinished ones included).
    pub fn retained(&self) -> usize {
        self.shared.retained.read().by_id.len()
    }

    /// How many threads run invocations now (busy or idle).
    pub fn threads(&self) -> usize {
        self.shared.threads.threads()
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::SeqCst)
    }

    /// Start a call prepared by [`ThingInstance::prepare`](crate::ThingInstance::prepare)
    /// for `caller`. The invocation is returned at once, `pending` or
    /// already `running`. An action whose lock policy is
    /// [`WhenBusy::Reject`] is refused while its lock is held; one that waits
    /// stays `pending` (and cancellable, holding no thread) until the lock
    /// is free. With `approval` (the time it may wait), the call waits
    /// `pending`, its approval `awaiting`, taking no lock, until
    /// [`approve`](Self::approve), [`reject`](Self::reject) or the time
    /// runs out. Refused while too many invocations are unfinished, and
    /// after [`close`](Self::close).
    pub fn invoke(
        &self,
        call: ActionCall,
        caller: &Caller,
        approval: Option<Duration>,
    ) -> Result<Arc<Invocation>, InvokeError> {
        let shared = &self.shared;
        if shared.closed.load(Ordering::SeqCst) {
            return Err(InvokeError::ShuttingDown);
        }
        let limit = shared.config.max_active;
        if shared.active.fetch_add(1, Ordering::SeqCst) >= limit {
            shared.active.fetch_sub(1, Ordering::SeqCst);
            return Err(InvokeError::Overloaded { limit });
        }
        let retention = call.retention.unwrap_or(shared.config.retention);
        let invocation = Arc::new(Invocation::new(
            call.thing.name(),
            call.action,
            call.input.clone(),
            retention,
            LogBuffer::with_limits(shared.config.log_capacity, shared.config.log_bytes)
                .keeping(call.log_level.unwrap_or(shared.config.log_level)),
        ));
        invocation.set_updates(shared.updates.clone());
        invocation.set_caller(caller.clone());
        let Some(wait) = approval else {
            let claim = match Claim::take(shared, &call, &invocation) {
                Ok(claim) => claim,
                Err(busy) => {
                    shared.active.fetch_sub(1, Ordering::SeqCst);
                    return Err(busy);
                }
            };
            shared.retain(&invocation);
            shared.launch(call, &invocation, claim);
            return Ok(invocation);
        };
        let deadline = chrono::Duration::from_std(wait)
            .ok()
            .and_then(|wait| Utc::now().checked_add_signed(wait))
            .unwrap_or(chrono::DateTime::<Utc>::MAX_UTC);
        invocation.set_approval(Approval {
            state: ApprovalState::Awaiting,
            caller: caller.name().to_owned(),
            binding: caller.binding(),
            decided_by: None,
            deadline,
        });
        tracing::info!(
            target: "labthings::audit",
            user = caller.name(),
            binding = caller.binding(),
            invocation = %invocation.id(),
            "{}.{} awaits an operator's approval",
            invocation.thing(),
            invocation.action(),
        );
        shared.awaiting.lock().insert(invocation.id(), call);
        shared.retain(&invocation);
        // The deadline, kept by a timer where there is a runtime (and by
        // `expire` in any case).
        if let Some(runtime) = shared.runtime() {
            let (shared, id) = (Arc::downgrade(shared), invocation.id());
            runtime.spawn(async move {
                tokio::time::sleep(wait).await;
                if let Some(shared) = shared.upgrade() {
                    shared.expire_approval(id, Utc::now());
                }
            });
        }
        Ok(invocation)
    }

    /// Let the call of invocation `id`, awaiting approval, run, on the word
    /// of `approver` (who may not be the user who asked). It takes its lock
    /// now: an action that refuses to wait for a held lock ends `Busy`.
    pub fn approve(&self, id: Uuid, approver: &Caller) -> Result<Arc<Invocation>, ApprovalError> {
        let (invocation, call) = self.decide(id, approver, ApprovalState::Approved)?;
        let shared = &self.shared;
        match Claim::take(shared, &call, &invocation) {
            Ok(claim) => shared.launch(call, &invocation, claim),
            Err(InvokeError::Busy { holder, .. }) => {
                let busy = Failure::Busy {
                    detail: format!("approved, but its hardware lock is held by invocation {holder}"),
                };
                shared.finish_and_wait(&invocation, Err(busy));
            }
            Err(other) => shared.finish_and_wait(&invocation, Err(Failure::error("NotStarted", other.to_string()))),
        }
        Ok(invocation)
    }

    /// End the call of invocation `id`, awaiting approval, without running
    /// it, on the word of `approver` (who may not be the user who asked).
    pub fn reject(&self, id: Uuid, approver: &Caller) -> Result<Arc<Invocation>, ApprovalError> {
        let (invocation, _call) = self.decide(id, approver, ApprovalState::Rejected)?;
        self.shared.finish_and_wait(
            &invocation,
            Err(Failure::error(
                "Rejected",
                format!("operator `{}` rejected the call; it did not run", approver.name()),
            )),
        );
        Ok(invocation)
    }

    /// Record `approver`'s decision on invocation `id`; the invocation and
    /// its call, taken from those awaiting.
    fn decide(
        &self,
        id: Uuid,
        approver: &Caller,
        decision: ApprovalState,
    ) -> Result<(Arc<Invocation>, ActionCall), ApprovalError> {
        let invocation = self.get(id).ok_or(ApprovalError::NotFound(id))?;
        let outcome = invocation.with_approval(|approval, status| {
            if approval.state != ApprovalState::Awaiting || status != InvocationStatus::Pending {
                return Err(ApprovalError::NotAwaiting(
                    if approval.state == ApprovalState::Awaiting {
                        "ended (the invocation was cancelled)"
                    } else {
                        approval.state.as_str()
                    },
                ));
            }
            let asker = invocation.caller();
            if approver.is_user() && asker.is_some_and(|c| c.is_user() && c.name() == approver.name()) {
                return Err(ApprovalError::OwnCall(approver.name().to_owned()));
            }
            approval.state = decision;
            approval.decided_by = Some(approver.name().to_owned());
            Ok(())
        });
        match outcome {
            None => return Err(ApprovalError::NotAwaiting("not needed")),
            Some(Err(refused)) => return Err(refused),
            Some(Ok(())) => {}
        }
        tracing::info!(
            target: "labthings::audit",
            user = approver.name(),
            binding = approver.binding(),
            caller = invocation.caller().map_or("anonymous", Caller::name),
            invocation = %id,
            "{} {}.{}",
            decision.as_str(),
            invocation.thing(),
            invocation.action(),
        );
        let call = self.shared.awaiting.lock().remove(&id);
        // Only a decision that found the invocation awaiting gets here, and
        // its call is removed only here or when it ends.
        let call = call.ok_or(ApprovalError::NotAwaiting("ended (the invocation was cancelled)"))?;
        self.shared.hub.publish(Notification::Invocation {
            invocation: invocation.clone(),
            status: InvocationStatus::Pending,
        });
        Ok((invocation, call))
    }

    /// The invocation with this id: held in memory and not expired, or
    /// else read back from the record store.
    pub fn get(&self, id: Uuid) -> Option<Arc<Invocation>> {
        let held = self.shared.retained.read().by_id.get(&id).cloned();
        if let Some(invocation) = held.filter(|i| !i.is_expired(Instant::now())) {
            return Some(invocation);
        }
        let store = self.shared.store.get()?;
        let record = store.get(id)?;
        let blobs = record.blobs.iter().filter_map(|b| store.blob(b.id)).collect();
        Some(Arc::new(record.restore(blobs)))
    }

    /// Invocations (running or not yet expired), oldest first, optionally
    /// only those of one thing and/or one action name.
    pub fn list(&self, thing: Option<&str>, action: Option<&str>) -> Vec<Arc<Invocation>> {
        self.expire();
        let mut list: Vec<_> = self
            .shared
            .retained
            .read()
            .by_id
            .values()
            .filter(|i| thing.is_none_or(|t| i.thing() == t))
            .filter(|i| action.is_none_or(|a| i.action() == a))
            .cloned()
            .collect();
        list.sort_by_key(|i| i.requested());
        list
    }

    /// Ask invocation `id` to stop. A pending one ends as `cancelled` at once.
    pub fn cancel(&self, id: Uuid) -> Result<(), CancelError> {
        let invocation = self.get(id).ok_or(CancelError::NotFound(id))?;
        if self.shared.cancel_if_pending(&invocation) {
            // Answered once it has ended for everyone to see (with a store,
            // once its record is on disk).
            invocation.wait(END_WAIT);
            return Ok(());
        }
        match invocation.request_cancel() {
            status if status.is_finished() => Err(CancelError::Finished { status }),
            _ => Ok(()),
        }
    }

    /// Shut down: refuse new invocations from now on, end every pending one
    /// as `cancelled` (so none can take a hardware lock that a running one
    /// releases), then ask every running one to stop. Returns those still
    /// running, for the caller to wait on.
    pub fn close(&self) -> Vec<Arc<Invocation>> {
        let shared = &self.shared;
        shared.closed.store(true, Ordering::SeqCst);
        let unfinished: Vec<_> = shared
            .retained
            .read()
            .by_id
            .values()
            .filter(|i| !i.status().is_finished())
            .cloned()
            .collect();
        for invocation in &unfinished {
            shared.cancel_if_pending(invocation);
        }
        let running: Vec<_> = unfinished.into_iter().filter(|i| !i.status().is_finished()).collect();
        for invocation in &running {
            invocation.request_cancel();
        }
        running
    }

    /// End calls whose approval is overdue, and drop invocations whose
    /// retention time has passed; returns how many were dropped.
    pub fn expire(&self) -> usize {
        // Calls whose approval is overdue end first (their timers do this
        // too, where there is a runtime).
        let overdue: Vec<Uuid> = self.shared.awaiting.lock().keys().copied().collect();
        let wall = Utc::now();
        for id in overdue {
            self.shared.expire_approval(id, wall);
        }
        let now = Instant::now();
        let expired: Vec<Uuid> = {
            let retained = self.shared.retained.read();
            retained
                .finished
                .iter()
                .filter(|id| retained.by_id.get(id).is_some_and(|i| i.is_expired(now)))
                .copied()
                .collect()
        };
        if expired.is_empty() {
            return 0;
        }
        let mut retained = self.shared.retained.write();
        for id in &expired {
            retained.remove(*id);
        }
        let Retained { by_id, finished, .. } = &mut *retained;
        finished.retain(|id| by_id.contains_key(id));
        expired.len()
    }
}

impl Job {
    /// Mark the invocation running and say so; what it runs with (its
    /// context and handle), or `None` (ended as cancelled) when it was
    /// cancelled first or the server is closing (then `guard` goes with
    /// its end).
    fn begin(&self, guard: &mut Option<LockGuard>) -> Option<(Context, InvocationHandle)> {
        let (shared, invocation) = (&self.shared, &self.invocation);
        if shared.closed.load(Ordering::SeqCst) || !invocation.start() {
            shared.finish(invocation, Err(Failure::Cancelled), guard.take());
            return None;
        }
        if let Some(store) = shared.store.get() {
            if let Some(lab) = &shared.lab {
                invocation.set_thing_states((lab.states.0)());
            }
            store.begin(invocation);
        }
        shared.hub.publish(Notification::Invocation {
            invocation: invocation.clone(),
            status: InvocationStatus::Running,
        });
        let context = Context::new(invocation.clone(), shared.lab.clone());
        Some((context, InvocationHandle::new(invocation.clone())))
    }

    /// Record how the invocation ended (a failure also in its log); the
    /// lock goes to the next waiter once it has ended, with `guard`.
    fn end(
        shared: &Arc<Shared>,
        invocation: &Arc<Invocation>,
        result: Result<Value, Failure>,
        guard: Option<LockGuard>,
    ) {
        let level = match &result {
            Err(Failure::Error { .. }) => Some(Level::ERROR),
            // Refusals: the client's mistake or the device's state, not a fault.
            Err(Failure::BadRequest { .. } | Failure::Busy { .. }) => Some(Level::WARN),
            Ok(_) | Err(Failure::Cancelled) => None,
        };
        if let (Some(level), Err(failure)) = (level, &result) {
            invocation
                .log_buffer()
                .push(LogRecord::new(level, failure.to_string(), Some(file!()), Some(line!())));
        }
        shared.finish(invocation, result, guard);
    }

    /// The body of an invocation's thread.
    fn run(self, mut guard: Option<LockGuard>) {
        let Some((context, handle)) = self.begin(&mut guard) else {
            return;
        };
        let result = {
            let _context = context.enter();
            self.call.run(&handle)
        };
        Self::end(&self.shared, &self.invocation, result, guard);
    }

    /// The body of an `async fn` invocation's task: the same as a thread's,
    /// with the call's future polled in the invocation's context.
    async fn run_async(self, mut guard: Option<LockGuard>) {
        let Some((context, handle)) = self.begin(&mut guard) else {
            return;
        };
        let Self {
            shared,
            call,
            invocation,
            ..
        } = self;
        let result = match call.into_body() {
            Body::Async { call, handles_cancel } => {
                crate::asynchronous::run(context, call(handle), invocation.cancel_hook().clone(), handles_cancel).await
            }
            // Only async calls are dispatched here; a blocking one would still run.
            Body::Blocking(call) => {
                let _context = context.enter();
                crate::registry::guarded(|| call(&handle))
            }
        };
        Self::end(&shared, &invocation, result, guard);
    }
}
