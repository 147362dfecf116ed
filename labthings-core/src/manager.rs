//! The action manager: starts invocations on their own threads and keeps them
//! until they expire.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use serde_json::Value;
use tracing::Level;
use uuid::Uuid;

use crate::blob::{BlobData, collect_blobs_into};
use crate::hub::{Hub, Notification};
use crate::invocation::{Invocation, InvocationHandle, InvocationStatus};
use crate::lock::{HardwareLock, LockGuard, WhenBusy};
use crate::log::{LogRecord, capture_into};
use crate::outcome::{DecodedInput, Failure};
use crate::pool::ThreadPool;
use crate::registry::ThingInstance;

/// Settings for an [`ActionManager`].
#[derive(Debug, Clone)]
pub struct ManagerConfig {
    /// How long a finished invocation is kept when its action does not say
    /// (default 300 s, as LabThings-FastAPI).
    pub retention: Duration,
    /// How many log records each invocation keeps (default 1000).
    pub log_capacity: usize,
}

impl Default for ManagerConfig {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(300),
            log_capacity: 1000,
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
}

/// Runs action invocations, each on its own named thread, and keeps them
/// (running, or finished within their retention time) for listing and polling.
///
/// ```
/// use labthings_core::{ActionManager, InvocationStatus};
/// let manager = ActionManager::default();
/// assert!(manager.list(None, None).is_empty());
/// ```
#[derive(Debug, Default)]
pub struct ActionManager {
    config: ManagerConfig,
    invocations: RwLock<HashMap<Uuid, Arc<Invocation>>>,
    hub: Hub,
    threads: ThreadPool,
}

impl ActionManager {
    /// A manager with the given settings.
    pub fn new(config: ManagerConfig) -> Self {
        Self {
            config,
            invocations: RwLock::default(),
            hub: Hub::default(),
            threads: ThreadPool::default(),
        }
    }

    /// Where status changes (and, through the server, property changes and
    /// events) are published for observers.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The blob with this id, held by a retained invocation.
    pub fn blob(&self, id: Uuid) -> Option<Arc<BlobData>> {
        let now = Instant::now();
        self.invocations
            .read()
            .values()
            .filter(|i| !i.is_expired(now))
            .find_map(|i| i.blob(id))
    }

    /// The manager's settings.
    pub fn config(&self) -> &ManagerConfig {
        &self.config
    }

    /// Start action number `index` of `thing` with a validated input. The
    /// invocation is returned at once, `pending` or already `running`. An
    /// action whose lock policy is [`WhenBusy::Reject`] is refused while its
    /// lock is held; one that waits stays `pending` (and cancellable) until
    /// the lock is free.
    pub fn invoke(
        &self,
        thing: &Arc<ThingInstance>,
        index: usize,
        input: DecodedInput,
    ) -> Result<Arc<Invocation>, InvokeError> {
        let action = thing.actions().get(index);
        let name = action.map_or("?", |a| a.name);
        let retention = action.and_then(|a| a.retention).unwrap_or(self.config.retention);
        let policy = action.map(|a| a.lock).unwrap_or_default();
        let invocation = Arc::new(Invocation::new(
            thing.name(),
            name,
            input.echo.clone(),
            retention,
            self.config.log_capacity,
        ));
        let lock = thing.lock_for(policy.scope).cloned();
        let (held, wait_for) = match (lock, policy.when_busy) {
            (Some(lock), WhenBusy::Reject) => match lock.try_acquire(invocation.id()) {
                Some(guard) => (Some(guard), None),
                None => {
                    return Err(InvokeError::Busy {
                        action: name.to_owned(),
                        holder: lock.holder().unwrap_or_default(),
                    });
                }
            },
            (lock, _) => (None, lock),
        };
        self.invocations.write().insert(invocation.id(), invocation.clone());
        self.hub.publish(Notification::Invocation(invocation.clone()));

        let thread_invocation = invocation.clone();
        let thread_thing = thing.clone();
        let hub = self.hub.clone();
        let spawned = self
            .threads
            .run(move || run(&thread_thing, index, input, &thread_invocation, held, wait_for, &hub));
        if let Err(e) = spawned {
            invocation.finish(Err(Failure::error(
                "ThreadError",
                format!("could not start a thread for the action: {e}"),
            )));
            self.hub.publish(Notification::Invocation(invocation.clone()));
        }
        Ok(invocation)
    }

    /// The invocation with this id, if it exists and has not expired.
    pub fn get(&self, id: Uuid) -> Option<Arc<Invocation>> {
        let invocation = self.invocations.read().get(&id).cloned()?;
        (!invocation.is_expired(Instant::now())).then_some(invocation)
    }

    /// Invocations (running or not yet expired), oldest first, optionally
    /// only those of one thing and/or one action name.
    pub fn list(&self, thing: Option<&str>, action: Option<&str>) -> Vec<Arc<Invocation>> {
        self.expire();
        let mut list: Vec<_> = self
            .invocations
            .read()
            .values()
            .filter(|i| thing.is_none_or(|t| i.thing() == t))
            .filter(|i| action.is_none_or(|a| i.action() == a))
            .cloned()
            .collect();
        list.sort_by_key(|i| i.requested());
        list
    }

    /// Ask invocation `id` to stop.
    pub fn cancel(&self, id: Uuid) -> Result<(), CancelError> {
        let invocation = self.get(id).ok_or(CancelError::NotFound(id))?;
        match invocation.request_cancel() {
            status if status.is_finished() => Err(CancelError::Finished { status }),
            _ => Ok(()),
        }
    }

    /// Ask every unfinished invocation to stop; returns them.
    pub fn cancel_all(&self) -> Vec<Arc<Invocation>> {
        let running: Vec<_> = self
            .invocations
            .read()
            .values()
            .filter(|i| !i.status().is_finished())
            .cloned()
            .collect();
        for invocation in &running {
            invocation.request_cancel();
        }
        running
    }

    /// Drop invocations whose retention time has passed; returns how many.
    pub fn expire(&self) -> usize {
        let now = Instant::now();
        let expired = self.invocations.read().values().any(|i| i.is_expired(now));
        if !expired {
            return 0;
        }
        let mut invocations = self.invocations.write();
        let before = invocations.len();
        invocations.retain(|_, i| !i.is_expired(now));
        before - invocations.len()
    }
}

/// The body of an invocation thread.
fn run(
    thing: &ThingInstance,
    index: usize,
    input: DecodedInput,
    invocation: &Arc<Invocation>,
    held: Option<LockGuard>,
    wait_for: Option<Arc<HardwareLock>>,
    hub: &Hub,
) {
    let finish = |result: Result<Value, Failure>| {
        invocation.finish(result);
        hub.publish(Notification::Invocation(invocation.clone()));
    };
    let _guard = match (held, wait_for) {
        (Some(guard), _) => Some(guard),
        (None, Some(lock)) => match lock.acquire(invocation.id(), invocation.cancel_hook()) {
            Ok(guard) => Some(guard),
            Err(_) => {
                finish(Err(Failure::Cancelled));
                return;
            }
        },
        (None, None) => None,
    };
    if !invocation.start() {
        finish(Err(Failure::Cancelled));
        return;
    }
    hub.publish(Notification::Invocation(invocation.clone()));
    let result = {
        let _capture = capture_into(invocation.log_buffer().clone());
        let _blobs = collect_blobs_into(invocation.blob_sink().clone());
        let handle = InvocationHandle::new(invocation.clone());
        thing.run_action(index, input, &handle)
    };
    if let Err(Failure::Error { title, detail }) = &result {
        invocation.log_buffer().push(LogRecord::new(
            Level::ERROR,
            format!("{title}: {detail}"),
            Some(file!()),
            Some(line!()),
        ));
    }
    finish(result);
}
