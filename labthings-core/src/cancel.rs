//! Cooperative cancellation of running actions.
//!
//! An action that can be stopped takes a [`CancelHook`] parameter. The
//! [`ActionManager`](crate::ActionManager) sets the hook when a client
//! cancels the invocation (or the server shuts down); the action notices at its next [`CancelHook::check`] or during a
//! [`CancelHook::sleep`], which wakes at once instead of waiting out its time.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

/// The error an action returns when it stops because it was cancelled.
///
/// Returning `Err(Cancelled)` (usually with `?` after [`CancelHook::check`] or
/// [`CancelHook::sleep`]) ends the invocation with status `cancelled`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Cancelled;

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("The action was cancelled.")
    }
}

impl std::error::Error for Cancelled {}

#[derive(Default)]
struct Flag {
    cancelled: Mutex<bool>,
    changed: Condvar,
    /// Wakes async code awaiting [`CancelHook::cancelled`].
    changed_async: tokio::sync::Notify,
    wakers: Mutex<Vec<Waker>>,
}

/// Called when a hook is cancelled, to wake a wait that is not a
/// [`CancelHook::sleep`] (e.g. waiting for a hardware lock).
pub type Waker = Arc<dyn Fn() + Send + Sync>;

/// A flag that tells a running action it has been asked to stop.
///
/// Clones share one flag. Cancellation is cooperative: the action decides where
/// it is safe to stop.
///
/// ```
/// use labthings_core::{CancelHook, Cancelled};
/// use std::time::Duration;
///
/// let hook = CancelHook::new();
/// assert!(hook.check().is_ok());
/// hook.cancel();
/// assert_eq!(hook.sleep(Duration::from_secs(60)), Err(Cancelled)); // returns at once
/// hook.reset();
/// assert!(!hook.is_cancelled());
/// ```
#[derive(Clone, Default)]
pub struct CancelHook {
    flag: Arc<Flag>,
}

impl fmt::Debug for CancelHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CancelHook")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl CancelHook {
    /// A new hook that has not been cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask the action to stop, waking any [`sleep`](Self::sleep) at once.
    pub fn cancel(&self) {
        *self.flag.cancelled.lock() = true;
        self.flag.changed.notify_all();
        self.flag.changed_async.notify_waiters();
        let wakers = self.flag.wakers.lock().clone();
        for wake in wakers {
            wake();
        }
    }

    /// Also call `wake` whenever the hook is cancelled.
    pub fn on_cancel(&self, wake: Waker) {
        self.flag.wakers.lock().push(wake);
    }

    /// Whether cancellation has been requested (and not [`reset`](Self::reset)).
    pub fn is_cancelled(&self) -> bool {
        *self.flag.cancelled.lock()
    }

    /// `Err(Cancelled)` if cancellation has been requested, so `hook.check()?`
    /// stops the action at a safe point.
    pub fn check(&self) -> Result<(), Cancelled> {
        if self.is_cancelled() { Err(Cancelled) } else { Ok(()) }
    }

    /// Wait for `duration`, or return `Err(Cancelled)` as soon as the hook is
    /// cancelled (including before the call).
    pub fn sleep(&self, duration: Duration) -> Result<(), Cancelled> {
        let deadline = Instant::now().checked_add(duration);
        let mut cancelled = self.flag.cancelled.lock();
        loop {
            if *cancelled {
                return Err(Cancelled);
            }
            match deadline {
                Some(deadline) => {
                    if self.flag.changed.wait_until(&mut cancelled, deadline).timed_out() {
                        return if *cancelled { Err(Cancelled) } else { Ok(()) };
                    }
                }
                // A duration too long to represent: wait until cancelled.
                None => self.flag.changed.wait(&mut cancelled),
            }
        }
    }

    /// Wait, without blocking a thread, until the hook is cancelled (at once
    /// if it is): for async device code, in a `tokio::select!` beside the
    /// work it stops.
    pub async fn cancelled(&self) {
        loop {
            let mut notified = std::pin::pin!(self.flag.changed_async.notified());
            // Register before looking, so a cancel in between is not missed.
            notified.as_mut().enable();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }

    /// [`sleep`](Self::sleep) for async device code: wait for `duration`
    /// without blocking a thread, or return `Err(Cancelled)` as soon as the
    /// hook is cancelled. Needs the tokio runtime the server runs on.
    pub async fn sleep_async(&self, duration: Duration) -> Result<(), Cancelled> {
        let cancelled = std::pin::pin!(self.cancelled());
        let slept = std::pin::pin!(tokio::time::sleep(duration));
        match futures_util::future::select(cancelled, slept).await {
            futures_util::future::Either::Left(_) => Err(Cancelled),
            futures_util::future::Either::Right(_) => self.check(),
        }
    }

    /// Clear a cancellation the action has handled, so that a second request
    /// to cancel can stop it again.
    pub fn reset(&self) {
        *self.flag.cancelled.lock() = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;

    #[test]
    fn sleep_runs_its_time_when_not_cancelled() {
        let hook = CancelHook::new();
        let start = Instant::now();
        assert_eq!(hook.sleep(Duration::from_millis(20)), Ok(()));
        assert!(start.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn cancel_wakes_a_sleeping_thread() {
        let hook = CancelHook::new();
        let sleeper = {
            let hook = hook.clone();
            thread::spawn(move || hook.sleep(Duration::from_secs(3600)))
        };
        thread::sleep(Duration::from_millis(20));
        hook.cancel();
        assert_eq!(sleeper.join().ok(), Some(Err(Cancelled)));
    }

    #[test]
    fn async_code_awaits_the_cancellation_without_a_thread() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        let hook = CancelHook::new();
        assert_eq!(runtime.block_on(hook.sleep_async(Duration::from_millis(5))), Ok(()));
        let canceller = hook.clone();
        let cancelling = thread::spawn(move || {
            thread::sleep(Duration::from_millis(20));
            canceller.cancel();
        });
        let started = Instant::now();
        assert_eq!(
            runtime.block_on(hook.sleep_async(Duration::from_secs(3600))),
            Err(Cancelled)
        );
        assert!(started.elapsed() < Duration::from_secs(60));
        // Already cancelled: returns at once.
        runtime.block_on(hook.cancelled());
        cancelling.join().expect("the canceller");
    }

    #[test]
    fn reset_allows_a_second_cancellation() {
        let hook = CancelHook::new();
        hook.cancel();
        assert_eq!(hook.check(), Err(Cancelled));
        hook.reset();
        assert_eq!(hook.check(), Ok(()));
        hook.cancel();
        assert!(hook.is_cancelled());
    }
}
