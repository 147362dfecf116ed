//! Bindings and tasks that run beside a server: what they get from it (a
//! [`Host`]) and how they start and stop (a [`Companion`]).
//!
//! A server keeps one list of companions (the MQTT binding, DNS-SD
//! advertisement, directory registration, the expiry of old invocations,
//! and any a program adds), starts each once its things have started and
//! stops each, in reverse order, after the things have stopped. A
//! companion that cannot start is logged and left out; the others run.
//!
//! ```
//! use std::sync::Arc;
//! use labthings_core::companion::{Companion, Host, Running};
//!
//! /// Logs how many things the server has, once at start and once at stop.
//! struct Counter;
//!
//! impl Companion for Counter {
//!     fn name(&self) -> &'static str {
//!         "counter"
//!     }
//!     fn start(&self, host: Arc<dyn Host>) -> Result<Running, String> {
//!         let things = host.lab().things().len();
//!         println!("{things} things at {}", host.base_url());
//!         Ok(Running::new(move || async move { println!("{things} things stopped") }))
//!     }
//! }
//! # let _ = Counter;
//! ```

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;

use labthings_td::{Form, ThingDescription};
use serde_json::Value;

use crate::{Invocation, Lab, ThingInstance};

/// What a running server offers the companions beside it: its things, the
/// documents it serves and where it can be reached.
pub trait Host: Send + Sync + 'static {
    /// The things, their action manager and the device runtime; start
    /// actions with [`Lab::invoke`].
    fn lab(&self) -> &Lab;
    /// The Thing Description of thing number `thing` exactly as the server
    /// serves it (every binding's forms, the security schemes), its links
    /// built on [`base_url`](Self::base_url); `None` for no such thing.
    fn thing_description(&self, thing: usize) -> Option<ThingDescription>;
    /// An invocation as the server describes it (status, links, output),
    /// `finished` saying whether its output may be included.
    fn invocation_json(&self, invocation: &Invocation, finished: bool) -> Value;
    /// Turn links to this server's blobs anywhere in `input` (an `href`
    /// under the base URL) into the blob references [`Lab::invoke`]
    /// resolves, so a blob output can be given as another action's input.
    fn links_to_blobs(&self, input: &mut Value);
    /// The absolute URL (ending in `/`) the things are reached at.
    fn base_url(&self) -> &str;
    /// The address the server listens on.
    fn local_addr(&self) -> SocketAddr;
    /// `https` or `http`.
    fn scheme(&self) -> &'static str;
    /// The path prefix of every route (`""`, or `/api` and the like).
    fn path_prefix(&self) -> &str;
}

/// The future a companion's [`Running::stop`] returns.
pub type Stopping = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A started companion: [`stop`](Self::stop) ends it.
pub struct Running {
    stop: Box<dyn FnOnce() -> Stopping + Send>,
}

impl Running {
    /// A companion that ends by running `stop` (leave a broker, deregister,
    /// abort a task).
    pub fn new<F, Fut>(stop: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        Self {
            stop: Box::new(move || Box::pin(stop())),
        }
    }

    /// A companion whose task is aborted to end it.
    pub fn task(task: tokio::task::JoinHandle<()>) -> Self {
        Self::new(move || async move { task.abort() })
    }

    /// End the companion (a server bounds how long it waits).
    pub fn stop(self) -> Stopping {
        (self.stop)()
    }
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Running(..)")
    }
}

/// A binding or task that runs beside a server.
pub trait Companion: Send + Sync + 'static {
    /// A short name for log lines (`mqtt`, `dns-sd`).
    fn name(&self) -> &'static str;

    /// The forms by which this binding offers `affordance` of thing number
    /// `thing` of `things`; they follow the HTTP forms in the TD. Asked for
    /// every TD the server builds, also before [`start`](Self::start). The
    /// default offers none.
    fn forms(&self, things: &[Arc<ThingInstance>], thing: usize, affordance: AffordanceRef) -> Vec<Form> {
        let _ = (things, thing, affordance);
        Vec::new()
    }

    /// The `@context` entry (a prefix and its IRI) for the terms this
    /// binding's forms use, added to every TD; the default adds none.
    fn context(&self) -> Option<Value> {
        None
    }

    /// Security schemes this binding's forms name (`(name, scheme)`),
    /// added to every TD's `securityDefinitions`; the default adds none.
    fn security_definitions(&self) -> Vec<(String, Value)> {
        Vec::new()
    }

    /// Start, once the things have started (called from within the
    /// server's tokio runtime, so tasks may be spawned).
    fn start(&self, host: Arc<dyn Host>) -> Result<Running, String>;
}

/// Which affordance of a thing a binding is asked for forms of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum AffordanceRef {
    /// Property number `.0` of the thing's descriptor table.
    Property(usize),
    /// Action number `.0`.
    Action(usize),
    /// Event number `.0`.
    Event(usize),
}

/// Add `companion`'s contribution to the TD `td` of thing number `thing` of
/// `things`: its context entry and security schemes, then its forms after
/// those already there.
pub fn add_forms(td: &mut ThingDescription, companion: &dyn Companion, things: &[Arc<ThingInstance>], thing: usize) {
    let Some(instance) = things.get(thing) else {
        return;
    };
    if let Some(context) = companion.context() {
        td.context.push(context);
    }
    for (name, scheme) in companion.security_definitions() {
        td.security_definitions.insert(name, scheme);
    }
    for (p, property) in instance.properties().iter().enumerate() {
        if let Some(affordance) = td.properties.get_mut(property.name) {
            affordance
                .forms
                .extend(companion.forms(things, thing, AffordanceRef::Property(p)));
        }
    }
    for (a, action) in instance.actions().iter().enumerate() {
        if let Some(affordance) = td.actions.get_mut(action.name) {
            affordance
                .forms
                .extend(companion.forms(things, thing, AffordanceRef::Action(a)));
        }
    }
    for (e, event) in instance.events().iter().enumerate() {
        if let Some(affordance) = td.events.get_mut(event.name) {
            affordance
                .forms
                .extend(companion.forms(things, thing, AffordanceRef::Event(e)));
        }
    }
}
