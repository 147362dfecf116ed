//! The invocation a thread works for: set on an action's thread while it
//! runs, and carried into helper threads started with [`spawn`]. Device code
//! uses it through [`CancelHook::current`], [`spawn`] and [`thing_states`];
//! the action manager sets it.
//!
//! ```
//! use labthings_core::CancelHook;
//! use labthings_core::context;
//! // Outside an invocation: a hook nobody cancels, no thing states.
//! assert!(!CancelHook::current().is_cancelled());
//! assert!(context::thing_states().is_empty());
//! ```

use std::cell::RefCell;
use std::sync::Arc;
use std::thread::JoinHandle;

use serde_json::{Map, Value};

use crate::blob::{BlobSinkGuard, collect_blobs_into};
use crate::cancel::{CancelHook, Cancelled};
use crate::invocation::Invocation;
use crate::lock::{HardwareLock, LockGuard};
use crate::log::{CaptureGuard, capture_into};
use crate::thing_states::ThingStates;

/// What gives the state of every served thing (see [`thing_states`]).
#[derive(Clone)]
pub struct StatesFn(pub Arc<dyn Fn() -> ThingStates + Send + Sync>);

impl std::fmt::Debug for StatesFn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StatesFn")
    }
}

/// What device code may ask of the lab that serves it: the state of every
/// thing, and the server-wide hardware lock.
#[derive(Debug, Clone)]
pub struct LabLink {
    /// The state of every served thing, by name.
    pub states: StatesFn,
    /// The lock `#[action(lock = "server")]` takes.
    pub server_lock: Option<Arc<HardwareLock>>,
}

/// The invocation a thread works for, and what it may ask of the lab.
#[derive(Clone)]
pub struct Context {
    invocation: Arc<Invocation>,
    lab: Option<LabLink>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Context")
            .field("invocation", &self.invocation.id())
            .finish_non_exhaustive()
    }
}

impl Context {
    /// The context of `invocation`, with its lab if known.
    pub fn new(invocation: Arc<Invocation>, lab: Option<LabLink>) -> Self {
        Self { invocation, lab }
    }

    /// Make this the context of the current thread until the guard drops:
    /// log records go into the invocation's log, blobs into its sink.
    pub fn enter(self) -> ContextGuard {
        let capture = capture_into(self.invocation.log_buffer().clone());
        let blobs = collect_blobs_into(self.invocation.blob_sink().clone());
        let previous = CURRENT.with(|c| c.borrow_mut().replace(self));
        ContextGuard {
            previous,
            _capture: capture,
            _blobs: blobs,
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Context>> = const { RefCell::new(None) };
}

/// Restores the thread's previous context (usually none) when dropped.
#[must_use = "the context holds only while the guard lives"]
#[derive(Debug)]
pub struct ContextGuard {
    previous: Option<Context>,
    _capture: CaptureGuard,
    _blobs: BlobSinkGuard,
}

impl Drop for ContextGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT.with(|c| *c.borrow_mut() = previous);
    }
}

/// The context of this thread, if it works for an invocation.
pub fn current() -> Option<Context> {
    CURRENT.with(|c| c.borrow().clone())
}

impl CancelHook {
    /// The cancel hook of the invocation this thread works for (an action's
    /// thread, or a helper started with [`spawn`]), or a hook nobody
    /// cancels outside one. An action that calls another thing's action
    /// through a slot passes it on, so cancelling the outer invocation stops
    /// the inner work: `stage.move_relative(x, 0, 0, CancelHook::current())`.
    pub fn current() -> CancelHook {
        current()
            .map(|context| context.invocation.cancel_hook().clone())
            .unwrap_or_default()
    }
}

impl crate::invocation::InvocationHandle {
    /// The handle of the invocation this thread works for (an action's
    /// thread, or a helper started with [`spawn`]); `None` outside one.
    /// Device code called by another action (through a slot) reports its
    /// progress into the caller's invocation with it.
    pub fn current() -> Option<Self> {
        current().map(|context| Self::new(context.invocation))
    }
}

/// Start a helper thread for the invocation this thread works for: the
/// helper's log records land in the invocation's log, and
/// [`CancelHook::current`] there is the invocation's hook. Outside an
/// invocation it is a plain named thread.
///
/// ```
/// let helper = labthings_core::context::spawn("helper", || 6 * 7).expect("a thread");
/// assert_eq!(helper.join().expect("no panic"), 42);
/// ```
pub fn spawn<F, R>(name: impl Into<String>, f: F) -> std::io::Result<JoinHandle<R>>
where
    F: FnOnce() -> R + Send + 'static,
    R: Send + 'static,
{
    let context = current();
    std::thread::Builder::new().name(name.into()).spawn(move || {
        let _guard = context.map(Context::enter);
        f()
    })
}

/// The state of every thing the lab serves, by name (each thing's
/// `#[property(state)]` values; a thing that marks none gives its data
/// properties), for storing as metadata with a measurement, as the
/// original's `get_thing_states()`. Empty outside an invocation.
pub fn thing_states() -> Map<String, Value> {
    current()
        .and_then(|context| context.lab.map(|lab| (lab.states.0)().to_map()))
        .unwrap_or_default()
}

/// The server-wide hardware lock, held by device code until dropped (see
/// [`hold_server_lock`]).
#[derive(Debug)]
#[must_use = "the lock is held only while this value lives"]
pub struct HeldLock {
    _guard: Option<LockGuard>,
}

/// Hold the server-wide hardware lock for a block of device code, as the
/// original's `hold_global_lock`: wait (cancellably) until no other
/// invocation holds it, then keep every `lock = "server"` action of the
/// server waiting, or refused if it rejects when busy, until the returned
/// value is dropped. An invocation that already holds it (an action with
/// `lock = "server"`) holds it again at no cost. Outside an invocation
/// there is no lab to share it with, and nothing is locked.
///
/// ```
/// let held = labthings_core::context::hold_server_lock().expect("not cancelled");
/// drop(held);
/// ```
pub fn hold_server_lock() -> Result<HeldLock, Cancelled> {
    let unlocked = HeldLock { _guard: None };
    let Some(context) = current() else { return Ok(unlocked) };
    let Some(lock) = context.lab.as_ref().and_then(|lab| lab.server_lock.clone()) else {
        return Ok(unlocked);
    };
    let me = context.invocation.id();
    if lock.holder() == Some(me) {
        return Ok(unlocked);
    }
    let cancel = context.invocation.cancel_hook().clone();
    let (sender, receiver) = std::sync::mpsc::sync_channel(1);
    let still_wanted = cancel.clone();
    lock.acquire_or_queue(
        me,
        move || !still_wanted.is_cancelled(),
        move |guard| {
            // If the waiter gave up, the guard is dropped with the channel,
            // which hands the lock on.
            let _ = sender.send(guard);
        },
    );
    loop {
        match receiver.recv_timeout(std::time::Duration::from_millis(20)) {
            Ok(guard) => return Ok(HeldLock { _guard: Some(guard) }),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) if !cancel.is_cancelled() => {}
            Err(_) => return Err(Cancelled),
        }
    }
}
