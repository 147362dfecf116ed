//! Where device code runs when a client asks for it: apart from the runtime
//! that serves requests, a bounded number of calls into one thing at a time,
//! and a bound on how long a caller waits for one.
//!
//! A driver call that never returns (a serial read without a timeout) must
//! not take the server with it. Every getter, setter, endpoint and lifecycle
//! hook a binding calls goes through [`DeviceCalls::call`]:
//!
//! - it runs on a thread of the lab's own *device runtime* (a tokio runtime
//!   that serves no requests), so blocking device code, and blocking code
//!   inside an `async fn`, cannot stall the runtime that answers clients;
//!   `async fn` actions run as tasks on the same runtime;
//! - each thing has [`calls_per_thing`](DeviceConfig::calls_per_thing)
//!   slots; a call holds one until the device code returns, so calls that
//!   never return hold at most that many threads per thing;
//! - the caller waits at most the affordance's timeout
//!   ([`DeviceConfig::timeout_for`]) and then gets
//!   [`DeviceCallError::TimedOut`]; a caller that goes away (a client that
//!   disconnects) stops waiting at once. Either way the call is *abandoned*:
//!   it keeps its slot until the device code returns, and when every slot of
//!   a thing is held by abandoned calls, a new call is refused at once with
//!   [`DeviceCallError::Stuck`] instead of waiting for a slot that may never
//!   come free.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;

use crate::log_limit::LogLimiter;

/// How device code is called: time limits and slots per thing.
///
/// ```
/// use labthings_core::device::DeviceConfig;
/// use std::time::Duration;
/// let mut config = DeviceConfig::default();
/// config.timeouts.insert("camera.capture".into(), Duration::from_secs(120));
/// assert_eq!(config.timeout_for("camera", "capture"), Duration::from_secs(120));
/// assert_eq!(config.timeout_for("camera", "exposure"), Duration::from_secs(30));
/// ```
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct DeviceConfig {
    /// How long a caller waits for a getter, setter or endpoint (default
    /// 30 s; `timeout_s` in a configuration file's `[device]` table).
    #[serde(rename = "timeout_s", with = "crate::seconds")]
    pub timeout: Duration,
    /// Other time limits by `"thing"` or `"thing.affordance"` (the more
    /// specific wins; `timeouts_s = { "camera.capture" = 120 }`).
    #[serde(rename = "timeouts_s", with = "crate::seconds::by_name")]
    pub timeouts: HashMap<String, Duration>,
    /// Calls into one thing under way at once, each on its own thread
    /// (default 16).
    pub calls_per_thing: usize,
    /// How long each `#[on_start]` hook may take (default 60 s; `start_timeout_s`);
    /// one that takes longer fails the start.
    #[serde(rename = "start_timeout_s", with = "crate::seconds")]
    pub start_timeout: Duration,
}

impl DeviceConfig {
    /// This configuration changed by `change` (the way to set a few values
    /// on the defaults).
    pub fn with(mut self, change: impl FnOnce(&mut Self)) -> Self {
        change(&mut self);
        self
    }
}

impl Default for DeviceConfig {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            timeouts: HashMap::new(),
            calls_per_thing: 16,
            start_timeout: Duration::from_secs(60),
        }
    }
}

impl DeviceConfig {
    /// The time limit of `thing`'s `affordance`.
    pub fn timeout_for(&self, thing: &str, affordance: &str) -> Duration {
        self.timeouts
            .get(&format!("{thing}.{affordance}"))
            .or_else(|| self.timeouts.get(thing))
            .copied()
            .unwrap_or(self.timeout)
    }
}

/// Why a call into device code has no answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceCallError {
    /// The device code did not return in time; it goes on in its thread.
    #[error(
        "thing `{thing}` did not answer `{affordance}` within {} s: the device may be hung or disconnected",
        after.as_secs_f64()
    )]
    TimedOut {
        /// The thing.
        thing: String,
        /// The property, endpoint or hook.
        affordance: String,
        /// How long the caller waited.
        after: Duration,
    },
    /// Every slot of the thing is held by calls that have not returned and
    /// that nobody waits for any more.
    #[error(
        "thing `{thing}` is not answering: {stuck} calls into it have not returned, so `{affordance}` was not \
         tried; check the device and its connection, or restart the server"
    )]
    Stuck {
        /// The thing.
        thing: String,
        /// The affordance that was asked for.
        affordance: String,
        /// Calls under way that nobody waits for.
        stuck: usize,
    },
    /// The device runtime could not run the call (it is shutting down).
    #[error("thing `{thing}`: `{affordance}` could not be run: {why}")]
    NotRun {
        /// The thing.
        thing: String,
        /// The affordance.
        affordance: String,
        /// What went wrong.
        why: String,
    },
}

/// One thing's slots.
#[derive(Debug)]
struct Slots {
    free: Arc<Semaphore>,
    capacity: usize,
    /// Calls under way that nobody waits for.
    abandoned: AtomicUsize,
}

/// A call's state, shared by the caller and the thread that runs it.
const RUNNING: u8 = 0;
const DONE: u8 = 1;
const ABANDONED: u8 = 2;

/// The device runtime and each thing's slots (see the module docs).
#[derive(Debug)]
pub struct DeviceCalls {
    /// Made on first use: a lab that never calls device code from a server
    /// (a test's) starts no threads for it.
    runtime: std::sync::OnceLock<Option<tokio::runtime::Runtime>>,
    blocking_threads: usize,
    slots: HashMap<String, Arc<Slots>>,
    config: DeviceConfig,
    overdue: Arc<LogLimiter>,
}

impl DeviceCalls {
    /// A device runtime for `things` (their names), with `config`'s limits.
    pub fn new<'a>(things: impl IntoIterator<Item = &'a str>, config: DeviceConfig) -> Self {
        let capacity = config.calls_per_thing.max(1);
        let slots: HashMap<String, Arc<Slots>> = things
            .into_iter()
            .map(|name| {
                let slots = Slots {
                    free: Arc::new(Semaphore::new(capacity)),
                    capacity,
                    abandoned: AtomicUsize::new(0),
                };
                (name.to_owned(), Arc::new(slots))
            })
            .collect();
        // Calls into things are bounded by their slots; the rest (hooks,
        // polling reads, async actions' blocking sections) by the things'
        // own limits. The pool's bound is a backstop.
        let blocking_threads = slots.len().saturating_mul(capacity).saturating_add(64);
        Self {
            runtime: std::sync::OnceLock::new(),
            blocking_threads,
            slots,
            config,
            overdue: Arc::new(LogLimiter::new(Duration::from_secs(10))),
        }
    }

    /// The limits these calls follow.
    pub fn config(&self) -> &DeviceConfig {
        &self.config
    }

    /// The device runtime's handle (the current runtime's if the device
    /// runtime could not be made): `async fn` actions run there.
    pub fn handle(&self) -> Option<tokio::runtime::Handle> {
        let runtime = self.runtime.get_or_init(|| {
            let built = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .max_blocking_threads(self.blocking_threads)
                .thread_name("labthings-device")
                .enable_all()
                .build();
            built
                .map_err(|e| tracing::error!("no device runtime ({e}): device code runs on the server's runtime"))
                .ok()
        });
        match runtime {
            Some(runtime) => Some(runtime.handle().clone()),
            None => tokio::runtime::Handle::try_current().ok(),
        }
    }

    /// How many calls into `thing` are under way that nobody waits for.
    pub fn abandoned(&self, thing: &str) -> usize {
        self.slots
            .get(thing)
            .map_or(0, |slots| slots.abandoned.load(Ordering::SeqCst))
    }

    /// Run `f`, device code of `thing`'s `affordance`, on the device
    /// runtime, waiting at most the affordance's time limit.
    pub async fn call<R: Send + 'static>(
        &self,
        thing: &str,
        affordance: &str,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, DeviceCallError> {
        let timeout = self.config.timeout_for(thing, affordance);
        self.call_within(thing, affordance, timeout, f).await
    }

    /// [`call`](Self::call) with an explicit time limit.
    pub async fn call_within<R: Send + 'static>(
        &self,
        thing: &str,
        affordance: &str,
        timeout: Duration,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, DeviceCallError> {
        let slots = self.slots.get(thing).cloned();
        self.run(thing, affordance, timeout, slots, f).await
    }

    /// Run a lifecycle hook of `thing` (`hook` names it) on the device
    /// runtime, waiting at most `timeout`. A hook takes no slot: it runs
    /// even when every slot is held by calls that never returned.
    pub async fn call_hook<R: Send + 'static>(
        &self,
        thing: &str,
        hook: &str,
        timeout: Duration,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, DeviceCallError> {
        self.run(thing, hook, timeout, None, f).await
    }

    async fn run<R: Send + 'static>(
        &self,
        thing: &str,
        affordance: &str,
        timeout: Duration,
        slots: Option<Arc<Slots>>,
        f: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, DeviceCallError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let timed_out = || DeviceCallError::TimedOut {
            thing: thing.to_owned(),
            affordance: affordance.to_owned(),
            after: timeout,
        };
        let Some(handle) = self.handle() else {
            return Err(DeviceCallError::NotRun {
                thing: thing.to_owned(),
                affordance: affordance.to_owned(),
                why: "no tokio runtime".to_owned(),
            });
        };
        let permit = match &slots {
            None => None,
            Some(slots) => Some(match slots.free.clone().try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) => {
                    let stuck = slots.abandoned.load(Ordering::SeqCst);
                    if stuck >= slots.capacity {
                        return Err(DeviceCallError::Stuck {
                            thing: thing.to_owned(),
                            affordance: affordance.to_owned(),
                            stuck,
                        });
                    }
                    match tokio::time::timeout_at(deadline, slots.free.clone().acquire_owned()).await {
                        Ok(Ok(permit)) => permit,
                        Ok(Err(_)) | Err(_) => return Err(timed_out()),
                    }
                }
            }),
        };
        let state = Arc::new(AtomicU8::new(RUNNING));
        let guard = Abandon {
            state: state.clone(),
            slots: slots.clone(),
        };
        let started = Instant::now();
        let (overdue, label) = (self.overdue.clone(), format!("{thing}.{affordance}"));
        let task = handle.spawn_blocking(move || {
            let result = f();
            drop(permit);
            if state.swap(DONE, Ordering::SeqCst) == ABANDONED {
                if let Some(slots) = &slots {
                    slots.abandoned.fetch_sub(1, Ordering::SeqCst);
                }
                overdue.hit(|more| {
                    tracing::warn!(
                        "device call {label} returned after {:.1} s, after its caller had stopped waiting{more}",
                        started.elapsed().as_secs_f64()
                    );
                });
            }
            result
        });
        let result = match tokio::time::timeout_at(deadline, task).await {
            Ok(Ok(result)) => Ok(result),
            Ok(Err(e)) => Err(DeviceCallError::NotRun {
                thing: thing.to_owned(),
                affordance: affordance.to_owned(),
                why: if e.is_panic() {
                    "the device code panicked".to_owned()
                } else {
                    "the device runtime is shutting down".to_owned()
                },
            }),
            Err(_) => {
                self.overdue.hit(|more| {
                    tracing::warn!(
                        "thing `{thing}` did not answer `{affordance}` within {} s; the call goes on in its \
                         thread{more}",
                        timeout.as_secs_f64()
                    );
                });
                Err(timed_out())
            }
        };
        drop(guard);
        result
    }
}

/// Marks a call abandoned when its caller stops waiting before it returned
/// (a time-out, or the caller's future dropped).
struct Abandon {
    state: Arc<AtomicU8>,
    slots: Option<Arc<Slots>>,
}

impl Drop for Abandon {
    fn drop(&mut self) {
        let Some(slots) = &self.slots else { return };
        // Counted first, so the thread's decrement never comes before it.
        slots.abandoned.fetch_add(1, Ordering::SeqCst);
        if self
            .state
            .compare_exchange(RUNNING, ABANDONED, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            slots.abandoned.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

impl Drop for DeviceCalls {
    fn drop(&mut self) {
        // Never wait for device code that may never return.
        if let Some(Some(runtime)) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn calls(per_thing: usize, timeout_ms: u64) -> DeviceCalls {
        DeviceCalls::new(
            ["stage"],
            DeviceConfig {
                timeout: Duration::from_millis(timeout_ms),
                calls_per_thing: per_thing,
                ..DeviceConfig::default()
            },
        )
    }

    #[tokio::test]
    async fn a_call_returns_its_result() {
        let calls = calls(2, 5_000);
        assert_eq!(calls.call("stage", "position", || 42).await, Ok(42));
    }

    #[tokio::test]
    async fn a_hung_call_times_out_and_then_the_thing_is_refused_at_once() {
        let calls = calls(2, 100);
        let (release, hung) = std::sync::mpsc::channel::<()>();
        let hung = Arc::new(parking_lot::Mutex::new(hung));
        for _ in 0..2 {
            let hung = hung.clone();
            let answer = calls
                .call("stage", "position", move || hung.lock().recv().is_ok())
                .await;
            assert!(matches!(answer, Err(DeviceCallError::TimedOut { .. })), "{answer:?}");
        }
        assert_eq!(calls.abandoned("stage"), 2);
        let started = Instant::now();
        let answer = calls.call("stage", "position", || true).await;
        assert!(
            matches!(answer, Err(DeviceCallError::Stuck { stuck: 2, .. })),
            "{answer:?}"
        );
        assert!(
            started.elapsed() < Duration::from_millis(100),
            "refused without waiting"
        );
        // Another thing is not affected; a device that answers again frees its slots.
        assert_eq!(calls.call("other", "x", || 1).await, Ok(1));
        release.send(()).expect("the first call waits");
        release.send(()).expect("the second call waits");
        let deadline = Instant::now() + Duration::from_secs(5);
        while calls.abandoned("stage") > 0 && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(calls.call("stage", "position", || 7).await, Ok(7));
    }

    #[tokio::test]
    async fn a_caller_that_goes_away_abandons_its_call() {
        let calls = calls(1, 60_000);
        let (release, hung) = std::sync::mpsc::channel::<()>();
        let waiting = calls.call("stage", "position", move || hung.recv().is_ok());
        assert!(
            tokio::time::timeout(Duration::from_millis(50), waiting).await.is_err(),
            "still waiting"
        );
        assert_eq!(calls.abandoned("stage"), 1);
        let answer = calls.call("stage", "position", || true).await;
        assert!(matches!(answer, Err(DeviceCallError::Stuck { .. })), "{answer:?}");
        drop(release);
    }

    #[tokio::test(flavor = "current_thread")]
    async fn blocking_device_code_does_not_stall_the_callers_runtime() {
        let calls = calls(4, 5_000);
        let blocked = calls.call("stage", "slow", || std::thread::sleep(Duration::from_millis(2_000)));
        let ticks = async {
            let started = Instant::now();
            tokio::time::sleep(Duration::from_millis(20)).await;
            started.elapsed()
        };
        let (_, ticked) = tokio::join!(blocked, ticks);
        assert!(
            ticked < Duration::from_millis(1_500),
            "the caller's runtime kept running: {ticked:?}"
        );
    }
}
