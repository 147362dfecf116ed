//! Hardware locks: one invocation at a time may drive a Thing (or the whole
//! server) when its action opts in with `#[action(lock)]`.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use uuid::Uuid;

/// Which lock an action or property write takes (`"none"`, `"thing"` or
/// `"server"` in a configuration file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LockScope {
    /// No lock: runs alongside anything.
    #[default]
    None,
    /// The Thing's own lock: one locked invocation per Thing at a time.
    Thing,
    /// The server-wide lock: one locked invocation in the whole server.
    Server,
}

/// What a locked action does when the lock is taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WhenBusy {
    /// Wait, `pending` and cancellable, until the lock is free.
    #[default]
    Wait,
    /// Refuse at once as busy: no invocation is made.
    Reject,
}

/// An action's locking policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockPolicy {
    /// Which lock.
    pub scope: LockScope,
    /// What to do when it is taken.
    pub when_busy: WhenBusy,
    /// Whether the action says which lock it takes (`lock`, `lock =
    /// "server"`, `lock = "none"`); one that does not takes the server's
    /// default lock (none unless configured).
    pub declared: bool,
}

impl LockPolicy {
    /// No locking, unless the server's default says otherwise.
    pub const NONE: Self = Self {
        scope: LockScope::None,
        when_busy: WhenBusy::Wait,
        declared: false,
    };

    /// This policy, or `default` for an action that did not declare one.
    pub fn or_default(self, default: LockScope) -> Self {
        if self.declared {
            self
        } else {
            Self { scope: default, ..self }
        }
    }
}

/// Someone waiting for a [`HardwareLock`]: `wants` is asked when the lock
/// comes free (a cancelled invocation no longer wants it), `then` receives
/// the lock.
struct Waiter {
    owner: Uuid,
    wants: Box<dyn Fn() -> bool + Send>,
    then: Box<dyn FnOnce(LockGuard) + Send>,
}

#[derive(Default)]
struct LockState {
    holder: Option<Uuid>,
    waiters: VecDeque<Waiter>,
}

/// A lock held by at most one owner (an invocation or a property write).
///
/// Waiters queue in order of arrival and hold no thread while they wait:
/// [`acquire_or_queue`](Self::acquire_or_queue) hands the lock to a callback
/// when it comes free.
///
/// ```
/// use labthings_core::lock::HardwareLock;
/// use std::sync::Arc;
/// let lock = Arc::new(HardwareLock::default());
/// let held = lock.try_acquire(uuid::Uuid::nil()).expect("free");
/// assert!(lock.try_acquire(uuid::Uuid::nil()).is_none());
/// drop(held);
/// assert!(lock.holder().is_none());
/// ```
#[derive(Default)]
pub struct HardwareLock {
    state: Mutex<LockState>,
}

impl std::fmt::Debug for HardwareLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock();
        f.debug_struct("HardwareLock")
            .field("holder", &state.holder)
            .field("waiters", &state.waiters.len())
            .finish()
    }
}

impl HardwareLock {
    /// Who holds the lock, if anyone.
    pub fn holder(&self) -> Option<Uuid> {
        self.state.lock().holder
    }

    /// How many wait for the lock (including any that no longer want it and
    /// will be skipped).
    pub fn waiting(&self) -> usize {
        self.state.lock().waiters.len()
    }

    /// Take the lock if it is free.
    pub fn try_acquire(self: &Arc<Self>, owner: Uuid) -> Option<LockGuard> {
        let mut state = self.state.lock();
        if state.holder.is_some() {
            return None;
        }
        state.holder = Some(owner);
        Some(LockGuard { lock: self.clone() })
    }

    /// Give the lock to `then` now if it is free (on this thread), or queue
    /// for it. When the holder releases it, the oldest waiter that still
    /// `wants` it gets it; the others are dropped from the queue.
    pub fn acquire_or_queue(
        self: &Arc<Self>,
        owner: Uuid,
        wants: impl Fn() -> bool + Send + 'static,
        then: impl FnOnce(LockGuard) + Send + 'static,
    ) {
        let mut state = self.state.lock();
        if state.holder.is_none() {
            state.holder = Some(owner);
            drop(state);
            then(LockGuard { lock: self.clone() });
            return;
        }
        // Forget waiters that gave up, so the queue stays as long as the
        // number of live waiters.
        state.waiters.retain(|w| (w.wants)());
        state.waiters.push_back(Waiter {
            owner,
            wants: Box::new(wants),
            then: Box::new(then),
        });
    }

    /// Release the lock and hand it to the next waiter that wants it.
    fn release(self: &Arc<Self>) {
        let next = {
            let mut state = self.state.lock();
            state.holder = None;
            loop {
                match state.waiters.pop_front() {
                    Some(waiter) if (waiter.wants)() => {
                        state.holder = Some(waiter.owner);
                        break Some(waiter.then);
                    }
                    Some(_) => continue,
                    None => break None,
                }
            }
        };
        if let Some(then) = next {
            then(LockGuard { lock: self.clone() });
        }
    }
}

/// Holds a [`HardwareLock`] until dropped; dropping it hands the lock to the
/// next waiter.
#[derive(Debug)]
pub struct LockGuard {
    lock: Arc<HardwareLock>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        self.lock.release();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::mpsc::channel;

    #[test]
    fn waiters_get_the_lock_in_order_when_it_is_released() {
        let lock = Arc::new(HardwareLock::default());
        let held = lock.try_acquire(Uuid::new_v4()).expect("free");
        let (got, order) = channel();
        for n in 0..3 {
            let got = got.clone();
            lock.acquire_or_queue(
                Uuid::new_v4(),
                || true,
                move |guard| {
                    got.send(n).unwrap_or(());
                    drop(guard);
                },
            );
        }
        assert!(order.try_recv().is_err(), "nobody gets a held lock");
        assert_eq!(lock.waiting(), 3);
        drop(held);
        let seen: Vec<i32> = order.try_iter().collect();
        assert_eq!(seen, [0, 1, 2]);
        assert!(lock.holder().is_none());
    }

    #[test]
    fn a_waiter_that_gave_up_is_skipped() {
        let lock = Arc::new(HardwareLock::default());
        let held = lock.try_acquire(Uuid::new_v4()).expect("free");
        let gave_up = Arc::new(AtomicBool::new(false));
        let (got, order) = channel();
        let (flag, first) = (gave_up.clone(), got.clone());
        lock.acquire_or_queue(
            Uuid::new_v4(),
            move || !flag.load(Ordering::SeqCst),
            move |_| {
                first.send("first").unwrap_or(());
            },
        );
        let second_owner = Uuid::new_v4();
        let kept = Arc::new(Mutex::new(None));
        let keep = kept.clone();
        lock.acquire_or_queue(
            second_owner,
            || true,
            move |guard| {
                got.send("second").unwrap_or(());
                *keep.lock() = Some(guard);
            },
        );
        gave_up.store(true, Ordering::SeqCst);
        drop(held);
        assert_eq!(order.try_iter().collect::<Vec<_>>(), ["second"]);
        assert_eq!(lock.holder(), Some(second_owner));
    }
}
