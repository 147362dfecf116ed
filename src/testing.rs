//! Testing device code without a server: build Things into a lab of their
//! own, fill their slots with other Things (mock hardware is a Thing too),
//! call their actions as the server would, and run device code as if it
//! were an invocation, with a cancel hook and its log captured.
//!
//! ```
//! use labthings::prelude::*;
//! use labthings::testing::{InvocationScope, TestLab};
//!
//! /// A counter.
//! #[thing]
//! #[derive(Default)]
//! pub struct Counter {
//!     /// The count.
//!     #[property]
//!     pub count: DataProperty<u32>,
//! }
//!
//! #[thing]
//! impl Counter {
//!     /// Add `by`, one at a time.
//!     #[action]
//!     fn add(&self, by: u32) -> Result<u32, Cancelled> {
//!         for _ in 0..by {
//!             CancelHook::current().check()?;
//!             tracing::info!("one more");
//!             self.count.update(|c| *c += 1);
//!         }
//!         Ok(self.count.get())
//!     }
//! }
//!
//! // As the server would call it: input checked, an invocation with a log.
//! let lab = TestLab::builder().thing("counter", Counter::default()).build().expect("a lab");
//! let done = lab.call("counter", "add", serde_json::json!({"by": 2}));
//! assert_eq!(done.output, Some(serde_json::json!(2)));
//! assert_eq!(done.log.len(), 2);
//! assert!(lab.call("counter", "add", serde_json::json!({"by": -1})).error.is_some());
//!
//! // Or call the method directly, as if in an invocation that is cancelled.
//! let counter = Counter::default();
//! let scope = InvocationScope::new();
//! scope.cancel_hook().cancel();
//! assert_eq!(scope.run(|| counter.add(5)), Err(Cancelled));
//! ```

use std::sync::Arc;
use std::time::Duration;

use labthings_core::context::Context;
use labthings_core::lock::HardwareLock;
use labthings_core::log::LogBuffer;
use labthings_core::{
    CancelHook, Failure, Invocation, InvocationStatus, Lab, LogRecord, ManagerConfig, PropertyError, Refusal, Thing,
    ThingInstance,
};
use serde_json::Value;

/// How long [`TestLab::call`] waits for an action at most.
const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Things served by no server, for tests of device code. Their `on_start`
/// hooks ran when it was built; dropping it cancels what still runs and
/// runs their `on_stop` hooks.
///
/// It has a tokio runtime of its own for `async fn` device code (hooks,
/// getters, setters and actions), and calls device code from threads of
/// its own: so it works the same from a plain `#[test]` and from a
/// `#[tokio::test]` of either flavor, and what an async start hook opens
/// (a socket, a serial port) lives as long as the lab.
#[derive(Debug)]
pub struct TestLab {
    lab: Lab,
    /// Taken only when the lab is dropped.
    runtime: Option<tokio::runtime::Runtime>,
}

/// Run `f` on a thread of its own with `runtime` entered, so async device
/// code it calls runs there, whatever runtime (if any) the caller's thread
/// belongs to; a panic in `f` is the caller's.
fn on_runtime<R: Send>(runtime: &tokio::runtime::Handle, f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("testlab".into())
            .spawn_scoped(scope, || {
                let _entered = runtime.enter();
                f()
            })
            .expect("a thread to call device code from (the system has none left)")
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

/// Collects the things of a [`TestLab`].
#[derive(Debug, Default)]
pub struct TestLabBuilder {
    things: Vec<Result<ThingInstance, String>>,
    connections: Vec<(String, String, String)>,
    provides: Vec<labthings_core::Provides>,
    config: ManagerConfig,
    server_lock: Arc<HardwareLock>,
    settings_dir: Option<std::path::PathBuf>,
}

impl TestLabBuilder {
    /// Add `thing` under `name`.
    pub fn thing<T: Thing>(mut self, name: &str, thing: T) -> Self {
        let instance = ThingInstance::new(name, Arc::new(thing), self.server_lock.clone())
            .map_err(|e| format!("thing `{name}`: {e}"));
        self.things.push(instance);
        self
    }

    /// Fill `thing`'s slot `slot` with the thing added as `target` (needed
    /// only when several things of the slot's type are added).
    pub fn connect(mut self, thing: &str, slot: &str, target: &str) -> Self {
        self.connections
            .push((thing.to_owned(), slot.to_owned(), target.to_owned()));
        self
    }

    /// Let things of type `T` fill slots of type `U` (a trait they
    /// implement), as `ServerBuilder::provides` does.
    pub fn provides<T: Thing, U: ?Sized + Send + Sync + 'static>(mut self, upcast: fn(Arc<T>) -> Arc<U>) -> Self {
        self.provides.push(labthings_core::Provides::new(upcast));
        self
    }

    /// Use these invocation settings (retention, log sizes, default lock).
    pub fn config(mut self, config: ManagerConfig) -> Self {
        self.config = config;
        self
    }

    /// Keep the things' settings in `folder` (one `{thing}.json` each, as a
    /// server does) instead of in memory, so a test can check what is
    /// saved and what a restart restores.
    ///
    /// ```
    /// use labthings::prelude::*;
    /// use labthings::testing::TestLab;
    ///
    /// /// A stage.
    /// #[thing]
    /// #[derive(Default)]
    /// pub struct Stage {
    ///     /// Steps per micrometre, calibrated once.
    ///     #[property(setting)]
    ///     pub steps_per_um: DataProperty<f64>,
    /// }
    ///
    /// #[thing]
    /// impl Stage {}
    ///
    /// let folder = std::env::temp_dir().join(format!("stage-settings-{}", std::process::id()));
    /// let lab = TestLab::builder().settings_dir(&folder).thing("stage", Stage::default()).build().expect("a lab");
    /// lab.write("stage", "steps_per_um", serde_json::json!(2.5)).expect("write");
    /// drop(lab);
    /// // A restart restores it.
    /// let lab = TestLab::builder().settings_dir(&folder).thing("stage", Stage::default()).build().expect("a lab");
    /// assert_eq!(lab.read("stage", "steps_per_um").expect("read"), serde_json::json!(2.5));
    /// # drop(lab);
    /// # let _ = std::fs::remove_dir_all(&folder);
    /// ```
    pub fn settings_dir(mut self, folder: impl Into<std::path::PathBuf>) -> Self {
        self.settings_dir = Some(folder.into());
        self
    }

    /// Check the things, fill their slots and run their `on_start` hooks.
    pub fn build(self) -> Result<TestLab, String> {
        crate::init_test_tracing();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("testlab-runtime")
            .enable_all()
            .build()
            .map_err(|e| format!("no runtime for async device code: {e}"))?;
        let mut things = self.things.into_iter().collect::<Result<Vec<_>, _>>()?;
        for thing in &mut things {
            thing.add_provides(&self.provides);
        }
        let lab = Lab::new(things, &self.connections, self.settings_dir.as_deref(), self.config)
            .map_err(|e| e.to_string())?;
        on_runtime(runtime.handle(), || lab.start())?;
        Ok(TestLab {
            lab,
            runtime: Some(runtime),
        })
    }
}

/// How an action called by [`TestLab::call`] ended.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `completed`, `cancelled` or `error` (or `pending`/`running` if it
    /// did not end within a minute).
    pub status: InvocationStatus,
    /// The output, if it completed.
    pub output: Option<Value>,
    /// Why it did not complete: the failure, or the input problems of a
    /// call that never started.
    pub error: Option<Failure>,
    /// What it logged.
    pub log: Vec<LogRecord>,
}

impl TestLab {
    /// Start collecting things.
    pub fn builder() -> TestLabBuilder {
        TestLabBuilder::default()
    }

    /// The thing added as `name`, as its own type.
    pub fn get<T: Thing>(&self, name: &str) -> Option<&T> {
        self.instance(name)?.object::<T>()
    }

    /// The served thing `name`, as the server sees it.
    pub fn instance(&self, name: &str) -> Option<&Arc<ThingInstance>> {
        self.lab.things().iter().find(|t| t.name() == name)
    }

    /// The handle of the lab's runtime (present until the lab is dropped).
    fn handle(&self) -> tokio::runtime::Handle {
        match &self.runtime {
            Some(runtime) => runtime.handle().clone(),
            None => unreachable!("the runtime is taken only when the lab is dropped"),
        }
    }

    /// The lab itself (its manager, thing states, ...).
    pub fn lab(&self) -> &Lab {
        &self.lab
    }

    /// Start `thing`'s `action` with `input` as the server would (input
    /// checked, locks taken, its own thread); the invocation to poll,
    /// cancel or wait for.
    pub fn start(&self, thing: &str, action: &str, input: Value) -> Result<Arc<Invocation>, String> {
        let instance = self.instance(thing).ok_or_else(|| format!("no thing `{thing}`"))?;
        let index = instance
            .actions()
            .iter()
            .position(|a| a.name == action)
            .ok_or_else(|| format!("`{thing}` has no action `{action}`"))?;
        // Invoked on the lab's runtime: an async action runs there.
        let caller = labthings_core::Caller::anonymous("test");
        on_runtime(&self.handle(), || self.lab.invoke(instance, index, input, &caller)).map_err(|refused| match refused
        {
            Refusal::NoSuchAction { .. } => format!("`{thing}` has no action `{action}`"),
            Refusal::Invalid(problems) => problems
                .iter()
                .map(|p| format!("{}: {}", p.loc_path(), p.msg))
                .collect::<Vec<_>>()
                .join("; "),
            other => other.to_string(),
        })
    }

    /// Call `thing`'s `action` with `input` and wait for it to end (at most
    /// a minute). A call that cannot start (unknown name, invalid input)
    /// ends as `error` with a `BadRequest` failure saying why.
    pub fn call(&self, thing: &str, action: &str, input: Value) -> Outcome {
        match self.start(thing, action, input) {
            Ok(invocation) => {
                let status = invocation.wait(CALL_TIMEOUT);
                Outcome {
                    status,
                    output: invocation.output(),
                    error: invocation.error(),
                    log: invocation.log(),
                }
            }
            Err(detail) => Outcome {
                status: InvocationStatus::Error,
                output: None,
                error: Some(Failure::BadRequest { detail }),
                log: Vec::new(),
            },
        }
    }

    /// Read `thing`'s `property` as JSON, as a client would (through
    /// [`Lab::read`], the call every binding makes: a getter runs on the
    /// device runtime, within its time limit).
    pub fn read(&self, thing: &str, property: &str) -> Result<Value, Failure> {
        let (instance, index) = self
            .property(thing, property)
            .map_err(|detail| Failure::BadRequest { detail })?;
        let handle = self.handle();
        let json = on_runtime(&handle, || handle.block_on(self.lab.read(instance, index))).map_err(|e| match e {
            PropertyError::Read(failure) => failure,
            other => Failure::error("PropertyError", other.to_string()),
        })?;
        serde_json::from_slice(&json).map_err(|e| Failure::error("PropertyError", format!("not JSON: {e}")))
    }

    /// Write `thing`'s `property` from JSON, as a client would (through
    /// [`Lab::write`]: checked against its schema, through its setter).
    pub fn write(&self, thing: &str, property: &str, value: Value) -> Result<(), String> {
        let (instance, index) = self.property(thing, property)?;
        let handle = self.handle();
        on_runtime(&handle, || handle.block_on(self.lab.write(instance, index, value))).map_err(|e| e.to_string())
    }

    /// The thing `thing` and the number of its property `property`, or
    /// which of them does not exist.
    fn property(&self, thing: &str, property: &str) -> Result<(&Arc<ThingInstance>, usize), String> {
        let instance = self.instance(thing).ok_or_else(|| format!("no thing `{thing}`"))?;
        let index = instance
            .properties()
            .iter()
            .position(|p| p.name == property)
            .ok_or_else(|| format!("`{thing}` has no property `{property}`"))?;
        Ok((instance, index))
    }
}

impl Drop for TestLab {
    fn drop(&mut self) {
        let Some(runtime) = self.runtime.take() else { return };
        on_runtime(runtime.handle(), || {
            self.lab.finish_invocations(Duration::from_secs(1));
            self.lab.stop();
        });
        // Without waiting (allowed from async code too, as in a
        // `#[tokio::test]`): the invocations have ended and the hooks ran.
        runtime.shutdown_background();
    }
}

/// Device code run directly, as if it were an invocation: log records it
/// writes are kept, [`CancelHook::current`] is this scope's hook (cancel it
/// from another thread to test cancellation), and helper threads started
/// with `labthings::context::spawn` belong to it.
#[derive(Debug)]
pub struct InvocationScope {
    invocation: Arc<Invocation>,
}

impl Default for InvocationScope {
    fn default() -> Self {
        Self::new()
    }
}

impl InvocationScope {
    /// A scope with a fresh cancel hook and an empty log.
    pub fn new() -> Self {
        crate::init_test_tracing();
        let invocation = Invocation::new("test", "scope", Value::Null, Duration::ZERO, LogBuffer::new(1000));
        Self {
            invocation: Arc::new(invocation),
        }
    }

    /// The scope's cancel hook: cancel it to stop the code in [`run`](Self::run).
    pub fn cancel_hook(&self) -> CancelHook {
        self.invocation.cancel_hook().clone()
    }

    /// The scope's invocation handle, for device methods that take one:
    /// what they report shows in [`progress`](Self::progress) and
    /// [`intermediate`](Self::intermediate).
    pub fn handle<I>(&self) -> labthings_core::InvocationHandle<I> {
        labthings_core::InvocationHandle::new(self.invocation.clone()).typed()
    }

    /// The progress reported so far, if any.
    pub fn progress(&self) -> Option<labthings_core::Progress> {
        self.invocation.progress()
    }

    /// The intermediate results reported so far (the newest kept).
    pub fn intermediate(&self) -> Vec<Value> {
        self.invocation.intermediate().0
    }

    /// Run `f` on this thread inside the scope.
    pub fn run<R>(&self, f: impl FnOnce() -> R) -> R {
        let _context = Context::new(self.invocation.clone(), None).enter();
        f()
    }

    /// What the code run so far has logged.
    pub fn log(&self) -> Vec<LogRecord> {
        self.invocation.log()
    }
}
