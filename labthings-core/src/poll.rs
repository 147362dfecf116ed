//! Polling the getters of observable computed properties
//! (`#[property(poll_ms = N)]`): a thermometer reading, a stage position
//! read from its controller. Each is read on a thread of its own, every N
//! ms while anyone observes the server, and a value that differs from the
//! last one read is published on the hub, as a data property's change is.
//!
//! Bounds: one thread per polled property (a number fixed by the code),
//! no reads while nobody observes, none before the things have started nor
//! once they are stopping. [`Pollers::stop`] waits up to a second for a
//! read in progress, so the stop hooks do not run beside one.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use serde_json::Value;

use crate::hub::{Hub, Notification};
use crate::registry::ThingInstance;

/// How long [`Pollers::stop`] waits for a read in progress.
const STOP_WAIT: Duration = Duration::from_secs(1);

/// The running pollers of a [`Lab`](crate::Lab).
#[derive(Debug)]
pub(crate) struct Pollers {
    control: Arc<Control>,
    /// Each poller: what it reads (for logs), its read lock, its thread.
    threads: Vec<(String, Arc<Mutex<()>>, JoinHandle<()>)>,
}

/// Shared by the pollers: whether to stop, and the condition that wakes
/// them early for it.
#[derive(Debug, Default)]
struct Control {
    stopped: Mutex<bool>,
    wake: Condvar,
}

impl Pollers {
    /// Start a poller for every polled property of `things`.
    pub(crate) fn start(things: &[Arc<ThingInstance>], hub: &Hub) -> Self {
        let control = Arc::new(Control::default());
        let mut threads = Vec::new();
        // The server starts the lab from its runtime's blocking pool: an
        // async getter polled here runs on that runtime (else block_on
        // would make a runtime for each read).
        let runtime = tokio::runtime::Handle::try_current().ok();
        for thing in things {
            for (index, property) in thing.properties().iter().enumerate() {
                let Some(interval) = property.poll else { continue };
                let label = format!("{}.{}", thing.name(), property.name);
                let reading = Arc::new(Mutex::new(()));
                let poller = Poller {
                    thing: thing.clone(),
                    index,
                    interval,
                    hub: hub.clone(),
                    control: control.clone(),
                    reading: reading.clone(),
                };
                let runtime = runtime.clone();
                match std::thread::Builder::new()
                    .name(format!("poll-{label}"))
                    .spawn(move || {
                        let _runtime = runtime.as_ref().map(tokio::runtime::Handle::enter);
                        poller.run()
                    }) {
                    Ok(handle) => threads.push((label, reading, handle)),
                    Err(e) => tracing::error!("cannot start polling {label}: {e}; it will not be observed"),
                }
            }
        }
        Self { control, threads }
    }

    /// Stop every poller; wait up to a second for each read in progress.
    pub(crate) fn stop(&self) {
        self.control.stop();
        for (label, reading, _) in &self.threads {
            if reading.try_lock_for(STOP_WAIT).is_none() {
                tracing::warn!("the getter of {label} was still being read {STOP_WAIT:?} after polling stopped");
            }
        }
    }

    /// How many pollers run.
    pub(crate) fn len(&self) -> usize {
        self.threads.len()
    }
}

impl Drop for Pollers {
    fn drop(&mut self) {
        self.control.stop();
    }
}

impl Control {
    /// Tell every poller to stop, waking any that waits for its next read.
    fn stop(&self) {
        *self.stopped.lock() = true;
        self.wake.notify_all();
    }
}

/// One polled property.
struct Poller {
    thing: Arc<ThingInstance>,
    index: usize,
    interval: Duration,
    hub: Hub,
    control: Arc<Control>,
    /// Held while the getter runs.
    reading: Arc<Mutex<()>>,
}

impl Poller {
    fn run(self) {
        let name = self.thing.properties()[self.index].name;
        let thing_name: Arc<str> = self.thing.name().into();
        let mut last: Option<Value> = None;
        let mut failing = false;
        loop {
            {
                let mut stopped = self.control.stopped.lock();
                if !*stopped {
                    self.control.wake.wait_for(&mut stopped, self.interval);
                }
                if *stopped {
                    return;
                }
            }
            if self.hub.subscribers() == 0 {
                // Nobody hears it: do not touch the hardware, and announce
                // the value afresh to whoever observes next.
                last = None;
                continue;
            }
            let _reading = self.reading.lock();
            if *self.control.stopped.lock() {
                return;
            }
            match self.thing.read_property(self.index) {
                Ok(value) => {
                    failing = false;
                    if last.as_ref() != Some(&value) {
                        last = Some(value.clone());
                        self.hub.publish(Notification::Property {
                            thing: thing_name.clone(),
                            name,
                            value: value.into(),
                        });
                    }
                }
                Err(failure) => {
                    if !failing {
                        tracing::warn!("polling {thing_name}.{name} failed: {failure}; polling goes on");
                    }
                    failing = true;
                }
            }
        }
    }
}
