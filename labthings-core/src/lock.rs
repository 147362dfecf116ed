//! Hardware locks: one invocation at a time may drive a Thing (or the whole
//! server) when its action opts in with `#[action(lock)]`.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use uuid::Uuid;

use crate::cancel::{CancelHook, Cancelled};

/// Which lock an action or property write takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
    /// Refuse at once: the POST answers 409 and no invocation is made.
    Reject,
}

/// An action's locking policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LockPolicy {
    /// Which lock.
    pub scope: LockScope,
    /// What to do when it is taken.
    pub when_busy: WhenBusy,
}

impl LockPolicy {
    /// No locking.
    pub const NONE: Self = Self {
        scope: LockScope::None,
        when_busy: WhenBusy::Wait,
    };
}

/// A lock held by at most one owner (an invocation or a property write).
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
#[derive(Debug, Default)]
pub struct HardwareLock {
    holder: Mutex<Option<Uuid>>,
    released: Condvar,
}

impl HardwareLock {
    /// Who holds the lock, if anyone.
    pub fn holder(&self) -> Option<Uuid> {
        *self.holder.lock()
    }

    /// Take the lock if it is free.
    pub fn try_acquire(self: &Arc<Self>, owner: Uuid) -> Option<LockGuard> {
        let mut holder = self.holder.lock();
        if holder.is_some() {
            return None;
        }
        *holder = Some(owner);
        Some(LockGuard { lock: self.clone() })
    }

    /// Wait for the lock, or give up with `Cancelled` as soon as `cancel` is
    /// cancelled (the cancel hook wakes this wait; nothing polls).
    pub fn acquire(self: &Arc<Self>, owner: Uuid, cancel: &CancelHook) -> Result<LockGuard, Cancelled> {
        let waker = Arc::downgrade(self);
        cancel.on_cancel(Arc::new(move || {
            if let Some(lock) = waker.upgrade() {
                // Taking the mutex orders this wake after the waiter's check.
                let _holder = lock.holder.lock();
                lock.released.notify_all();
            }
        }));
        let mut holder = self.holder.lock();
        loop {
            cancel.check()?;
            if holder.is_none() {
                *holder = Some(owner);
                return Ok(LockGuard { lock: self.clone() });
            }
            self.released.wait(&mut holder);
        }
    }
}

/// Holds a [`HardwareLock`] until dropped.
#[derive(Debug)]
pub struct LockGuard {
    lock: Arc<HardwareLock>,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        *self.lock.holder.lock() = None;
        self.lock.released.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::thread;
    use std::time::Duration;

    #[test]
    fn a_waiter_gets_the_lock_when_it_is_released() {
        let lock = Arc::new(HardwareLock::default());
        let held = lock.try_acquire(Uuid::new_v4()).expect("free");
        let waiter = {
            let lock = lock.clone();
            thread::spawn(move || lock.acquire(Uuid::new_v4(), &CancelHook::new()).map(drop))
        };
        thread::sleep(Duration::from_millis(20));
        drop(held);
        assert_eq!(waiter.join().ok(), Some(Ok(())));
    }

    #[test]
    fn cancel_wakes_a_waiter() {
        let lock = Arc::new(HardwareLock::default());
        let _held = lock.try_acquire(Uuid::new_v4()).expect("free");
        let hook = CancelHook::new();
        let waiter = {
            let (lock, hook) = (lock.clone(), hook.clone());
            thread::spawn(move || lock.acquire(Uuid::new_v4(), &hook).map(drop))
        };
        thread::sleep(Duration::from_millis(20));
        hook.cancel();
        assert_eq!(waiter.join().ok(), Some(Err(Cancelled)));
    }
}
