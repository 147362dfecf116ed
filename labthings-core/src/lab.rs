//! The served set of things, whatever protocol serves them: built once
//! (names checked, slots wired, settings attached, observation published to
//! one hub, one action manager), started in order, stopped in reverse order
//! exactly once, and shut down with every invocation finished.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::context::{LabLink, StatesFn};
use crate::device::{DeviceCallError, DeviceCalls, DeviceConfig};
use crate::hub::Hub;
use crate::manager::{ActionManager, ManagerConfig};
use crate::poll::Pollers;
use crate::registry::ThingInstance;
use crate::slot::SlotKind;
use crate::thing_states::ThingStates;

/// Why a set of things cannot be served together.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// Two things share a name.
    #[error("two things are served as `{0}`: each needs its own name")]
    DuplicateName(String),
    /// A `#[slot]` has no Thing of the type it needs.
    #[error(
        "thing `{thing}` needs a `{target}` for its slot `{slot}`, but none is served: add one with `.thing(..)`{}",
        provides_hint(target)
    )]
    SlotUnfilled {
        /// The Thing with the slot.
        thing: String,
        /// The slot's name.
        slot: String,
        /// The type it needs.
        target: String,
    },
    /// A `#[slot]` could be filled by several Things.
    #[error(
        "thing `{thing}` slot `{slot}` could use any of {candidates:?}: choose one with `.connect(\"{thing}\", \"{slot}\", NAME)` (or `connect` in the configuration file), or give the slot a default with `#[slot(default = \"NAME\")]`"
    )]
    SlotAmbiguous {
        /// The Thing with the slot.
        thing: String,
        /// The slot's name.
        slot: String,
        /// The Things of the right type.
        candidates: Vec<String>,
    },
    /// Things hold each other through their slots, so none can start first.
    #[error("things {} hold each other through their slots, so none can start first: break the circle (an `OptionalSlot` filled later, or a connection to another thing)", .0.iter().map(|t| format!("`{t}`")).collect::<Vec<_>>().join(" → "))]
    SlotCycle(Vec<String>),
    /// A connection names a Thing or slot that does not exist, or a Thing
    /// of the wrong type.
    #[error("cannot connect `{thing}`.`{slot}` to `{target}`: {why}")]
    BadConnection {
        /// The Thing with the slot.
        thing: String,
        /// The slot's name.
        slot: String,
        /// The Thing named as its target.
        target: String,
        /// What is wrong.
        why: String,
    },
}

/// For a slot of a trait: how to say which Thing types fill it.
fn provides_hint(target: &str) -> String {
    if target.starts_with("dyn ") {
        format!(", and say which Thing types provide `{target}` with `.provides::<TheType, {target}>(|thing| thing)`")
    } else {
        String::new()
    }
}

/// Why the lab did not start an invocation: the one refusal every binding
/// maps to its own answer (an HTTP status and problem details, an MQTT
/// JSON message, a test's error).
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// The thing has no action with that number.
    #[error("`{thing}` has no such action")]
    NoSuchAction {
        /// The thing's name.
        thing: String,
    },
    /// The input does not fit the action's input schema; every problem,
    /// with its location in the input.
    #[error("the input does not fit: {}", .0.iter().map(|p| format!("{}: {}", p.loc_path(), p.msg)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<crate::InputProblem>),
    /// The input fits, but the invocation could not start (its lock is
    /// taken, too many run, the server is shutting down).
    #[error(transparent)]
    NotStarted(#[from] crate::InvokeError),
}

impl Refusal {
    /// A short name for the kind of refusal: `NoSuchAction`,
    /// `InvalidInput`, `Busy`, `Overloaded` or `ShuttingDown`.
    pub fn title(&self) -> &'static str {
        match self {
            Self::NoSuchAction { .. } => "NoSuchAction",
            Self::Invalid(_) => "InvalidInput",
            Self::NotStarted(crate::InvokeError::Busy { .. }) => "Busy",
            Self::NotStarted(crate::InvokeError::Overloaded { .. }) => "Overloaded",
            Self::NotStarted(crate::InvokeError::ShuttingDown) => "ShuttingDown",
        }
    }
}

/// An explicit slot connection: thing `.0`'s slot `.1` holds thing `.2`.
pub type Connection = (String, String, String);

/// The things a server serves, with the action manager that runs their
/// invocations.
///
/// ```
/// use labthings_core::{Lab, ManagerConfig};
/// let lab = Lab::new(Vec::new(), &[], None, ManagerConfig::default()).expect("nothing to get wrong");
/// assert!(lab.things().is_empty());
/// lab.start().expect("nothing to start");
/// lab.stop();
/// ```
#[derive(Debug)]
pub struct Lab {
    things: Vec<Arc<ThingInstance>>,
    /// Where every change is published for observers: property values and
    /// events (by the things), invocation changes (by the manager).
    hub: Hub,
    manager: Arc<ActionManager>,
    /// Whether the stop hooks have run (they run once).
    stopped: Mutex<bool>,
    /// The pollers of `poll_ms` getters, from [`Lab::start`] to [`Lab::stop`].
    pollers: Mutex<Option<Pollers>>,
    /// How many things, from the first, have started (their stop hooks
    /// are the ones to run).
    started: Mutex<usize>,
    /// Where device code runs when a client asks for it.
    device: DeviceCalls,
    /// The things in start order (indices into `things`): each after the
    /// things its slots hold; stopped in reverse.
    order: Vec<usize>,
    /// The other servers whose blobs an input may link to.
    remote_blobs: Option<Arc<dyn crate::blob::RemoteBlobs>>,
    /// Which calls wait for an operator's approval.
    approval: crate::approval::ApprovalPolicy,
}

impl Lab {
    /// Check and wire `things`: unique names, every slot filled (from
    /// `connections`, or the one thing of the slot's type), settings kept in
    /// `settings_dir` (none: in memory), notifications on the lab's hub.
    pub fn new(
        things: Vec<ThingInstance>,
        connections: &[Connection],
        settings_dir: Option<&Path>,
        manager: ManagerConfig,
    ) -> Result<Self, LabError> {
        let mut served: Vec<Arc<ThingInstance>> = Vec::new();
        for thing in things {
            if served.iter().any(|t| t.name() == thing.name()) {
                return Err(LabError::DuplicateName(thing.name().to_owned()));
            }
            served.push(Arc::new(thing));
        }
        connect_slots(&served, connections)?;
        let order = start_order(&served)?;
        if let Some(dir) = settings_dir {
            for thing in served.iter().filter(|t| t.properties().iter().any(|p| p.setting)) {
                thing.attach_settings(dir);
            }
        }
        let hub = Hub::default();
        for thing in &served {
            thing.publish_to(&hub);
        }
        // Weak: the manager must not keep the things alive.
        let weak: Vec<_> = served.iter().map(Arc::downgrade).collect();
        let states = StatesFn(Arc::new(move || {
            states_of(weak.iter().filter_map(std::sync::Weak::upgrade))
        }));
        let server_lock = served.first().map(|thing| thing.server_lock().clone());
        let link = LabLink { states, server_lock };
        let manager = Arc::new(ActionManager::in_lab(manager, hub.clone(), Some(link)));
        let device = DeviceCalls::new(served.iter().map(|t| t.name()), DeviceConfig::default());
        Ok(Self {
            things: served,
            hub,
            manager,
            stopped: Mutex::new(false),
            pollers: Mutex::new(None),
            started: Mutex::new(0),
            device,
            order,
            remote_blobs: None,
            approval: crate::approval::ApprovalPolicy::default(),
        })
    }

    /// Call device code with these limits instead of the defaults.
    pub fn with_device(mut self, config: DeviceConfig) -> Self {
        self.device = DeviceCalls::new(self.things.iter().map(|t| t.name()), config);
        self
    }

    /// Let action inputs link to blobs of the servers `remote` trusts (their
    /// bytes fetched when device code reads them); without it, only blobs
    /// this lab holds are accepted.
    pub fn with_remote_blobs(mut self, remote: Arc<dyn crate::blob::RemoteBlobs>) -> Self {
        self.remote_blobs = Some(remote);
        self
    }

    /// Let the calls `policy` names wait for an operator's approval
    /// (without it: the default policy, agents wait for the actions marked
    /// `#[action(approval)]`).
    pub fn with_approval(mut self, policy: crate::approval::ApprovalPolicy) -> Self {
        self.approval = policy;
        self
    }

    /// Which calls wait for an operator's approval.
    pub fn approval_policy(&self) -> &crate::approval::ApprovalPolicy {
        &self.approval
    }

    /// Whether `caller`'s call of `thing`'s action number `action` would
    /// wait for an operator's approval.
    pub fn needs_approval(&self, thing: &ThingInstance, action: usize, caller: &crate::approval::Caller) -> bool {
        thing
            .actions()
            .get(action)
            .is_some_and(|a| self.approval.needs_approval(caller, thing.name(), a.name, a.approval))
    }

    /// Let invocation `id`, awaiting approval, run, on the word of
    /// `approver` (an operator other than the user who asked).
    pub fn approve(
        &self,
        id: uuid::Uuid,
        approver: &crate::approval::Caller,
    ) -> Result<Arc<crate::Invocation>, crate::approval::ApprovalError> {
        self.manager.approve(id, approver)
    }

    /// End invocation `id`, awaiting approval, without running it, on the
    /// word of `approver` (an operator other than the user who asked).
    pub fn reject(
        &self,
        id: uuid::Uuid,
        approver: &crate::approval::Caller,
    ) -> Result<Arc<crate::Invocation>, crate::approval::ApprovalError> {
        self.manager.reject(id, approver)
    }

    /// Where device code runs, with its time limits and slots.
    pub fn device(&self) -> &DeviceCalls {
        &self.device
    }

    /// Start action number `action` of `thing` with `input` for `caller`,
    /// as every binding does: the input checked against the action's schema and
    /// decoded (blob links in it, as `urn:uuid:` URIs, resolved to the blobs
    /// this lab holds; links to another server's blobs accepted if it is
    /// trusted, see [`with_remote_blobs`](Self::with_remote_blobs)), then invoked (its lock taken, its thread or task
    /// started), or, when the approval policy names the call, left pending
    /// until an operator approves it. The invocation to poll, cancel or
    /// wait for, or why not.
    pub fn invoke(
        &self,
        thing: &Arc<ThingInstance>,
        action: usize,
        input: serde_json::Value,
        caller: &crate::approval::Caller,
    ) -> Result<Arc<crate::Invocation>, Refusal> {
        let prepared = {
            let _blobs = crate::blob::name_blobs(&input, |id| self.manager.blob(id));
            let _trusted = crate::blob::trust_remote_blobs(self.remote_blobs.clone());
            thing.prepare(action, input)
        };
        let call = prepared.map_err(|refused| match refused {
            crate::PrepareError::Invalid(problems) => Refusal::Invalid(problems),
            crate::PrepareError::NoSuchAction => Refusal::NoSuchAction {
                thing: thing.name().to_owned(),
            },
        })?;
        let approval = self
            .needs_approval(thing, action, caller)
            .then_some(self.approval.timeout);
        Ok(self.manager.invoke(call, caller, approval)?)
    }

    /// Where every change is published: subscribe to observe property
    /// values, events and invocations of every thing.
    pub fn hub(&self) -> &Hub {
        &self.hub
    }

    /// The things, in the order they were added.
    pub fn things(&self) -> &[Arc<ThingInstance>] {
        &self.things
    }

    /// The action manager that runs their invocations.
    pub fn manager(&self) -> &Arc<ActionManager> {
        &self.manager
    }

    /// The state of every thing, by name (see [`ThingInstance::write_state_json`]).
    pub fn thing_states(&self) -> serde_json::Map<String, serde_json::Value> {
        states_of(self.things.iter().map(|thing| &**thing)).to_map()
    }

    /// Run every thing's `#[on_start]` hook in order, then start polling
    /// the `poll_ms` getters. If a hook fails, the things already started
    /// are stopped, and the error names the thing and what went wrong.
    /// Device code runs on the calling thread: a server uses
    /// [`start_things`](Self::start_things) instead.
    pub fn start(&self) -> Result<(), String> {
        for (index, thing) in self.in_start_order().enumerate() {
            if let Err(failure) = thing.start() {
                tracing::error!("thing `{}` failed to start: {failure}", thing.name());
                self.stop();
                return Err(format!(
                    "thing `{}` failed to start: {}",
                    thing.name(),
                    failure.detail()
                ));
            }
            *self.started.lock() = index + 1;
        }
        self.start_polling();
        Ok(())
    }

    /// [`start`](Self::start) on the device runtime, each hook given at
    /// most the configured [`start_timeout`](DeviceConfig::start_timeout):
    /// a hook that has not returned by then fails the start (and goes on in
    /// its thread), and the things already started are stopped. Dropping
    /// the future between hooks starts no more; [`stop_things`](Self::stop_things)
    /// stops those that started.
    pub async fn start_things(&self) -> Result<(), String> {
        if let Some(handle) = self.device.handle() {
            self.manager.set_runtime(handle);
        }
        let timeout = self.device.config().start_timeout;
        for (index, thing) in self.in_start_order().enumerate() {
            let starting = thing.clone();
            let started = self
                .device
                .call_hook(thing.name(), "on_start", timeout, move || starting.start())
                .await;
            let failure = match started {
                Ok(Ok(())) => {
                    *self.started.lock() = index + 1;
                    continue;
                }
                Ok(Err(failure)) => failure.detail(),
                Err(DeviceCallError::TimedOut { after, .. }) => format!(
                    "its start hook did not return within {} s (the device may be hung or disconnected)",
                    after.as_secs_f64()
                ),
                Err(e) => e.to_string(),
            };
            tracing::error!("thing `{}` failed to start: {failure}", thing.name());
            if let Err(stopping) = self.stop_things(timeout.min(Duration::from_secs(5))).await {
                tracing::error!("{stopping}");
            }
            return Err(format!("thing `{}` failed to start: {failure}", thing.name()));
        }
        let lab_things = self.things.clone();
        let hub = self.hub.clone();
        // Started on the device runtime, so async getters are polled there.
        let pollers = self
            .device
            .call_hook("", "polling", timeout, move || Pollers::start(&lab_things, &hub))
            .await
            .map_err(|e| e.to_string())?;
        self.keep_pollers(pollers);
        Ok(())
    }

    fn start_polling(&self) {
        self.keep_pollers(Pollers::start(&self.things, &self.hub));
    }

    fn keep_pollers(&self, pollers: Pollers) {
        if pollers.len() > 0 {
            tracing::debug!(count = pollers.len(), "polling observable getters");
        }
        *self.pollers.lock() = Some(pollers);
    }

    /// Stop polling, then run the `#[on_stop]` hook of every thing that
    /// started, in reverse order, unless they have run. Device code runs on
    /// the calling thread, and waits as long as it takes: a server uses
    /// [`stop_things`](Self::stop_things) instead.
    pub fn stop(&self) {
        if let Some(pollers) = self.pollers.lock().take() {
            pollers.stop();
        }
        let Some(started) = self.take_started() else { return };
        let to_stop: Vec<&Arc<ThingInstance>> = self.in_start_order().take(started).collect();
        for thing in to_stop.into_iter().rev() {
            if let Err(failure) = thing.stop() {
                tracing::error!("thing `{}` failed to stop cleanly: {failure}", thing.name());
            }
        }
    }

    /// The things in start order: each after those its slots hold.
    fn in_start_order(&self) -> impl Iterator<Item = &Arc<ThingInstance>> {
        self.order.iter().filter_map(|&index| self.things.get(index))
    }

    /// How many things started, the first time the stop hooks are asked for.
    fn take_started(&self) -> Option<usize> {
        let mut stopped = self.stopped.lock();
        if *stopped {
            return None;
        }
        *stopped = true;
        Some((*self.started.lock()).min(self.things.len()))
    }

    /// [`stop`](Self::stop) on the device runtime, within `within` in all,
    /// whatever device code is stuck: each stop hook in turn is waited for
    /// at most its share of the time left, then the next runs (a hook that
    /// overran goes on in its thread). An error lists every hook that
    /// failed, panicked or did not return in time.
    pub async fn stop_things(&self, within: Duration) -> Result<(), String> {
        let deadline = Instant::now() + within;
        let pollers = self.pollers.lock().take();
        if let Some(pollers) = pollers {
            let share = within / 4;
            if self
                .device
                .call_hook("", "polling", share, move || pollers.stop())
                .await
                .is_err()
            {
                tracing::warn!("a polled getter did not return while polling stopped");
            }
        }
        let Some(started) = self.take_started() else {
            return Ok(());
        };
        let mut failures = Vec::new();
        let to_stop: Vec<Arc<ThingInstance>> = self.in_start_order().take(started).cloned().collect();
        for (done, thing) in to_stop.iter().rev().enumerate() {
            let left = u32::try_from(to_stop.len() - done).unwrap_or(u32::MAX).max(1);
            let share = deadline.saturating_duration_since(Instant::now()) / left;
            let stopping = thing.clone();
            let stopped = self
                .device
                .call_hook(thing.name(), "on_stop", share, move || stopping.stop())
                .await;
            let failure = match stopped {
                Ok(Ok(())) => continue,
                Ok(Err(failure)) => format!("thing `{}` failed to stop cleanly: {failure}", thing.name()),
                Err(DeviceCallError::TimedOut { after, .. }) => format!(
                    "thing `{}`: its stop hook did not return within {:.1} s",
                    thing.name(),
                    after.as_secs_f64()
                ),
                Err(e) => format!("thing `{}`: its stop hook could not run: {e}", thing.name()),
            };
            tracing::error!("{failure}");
            failures.push(failure);
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(failures.join("; "))
        }
    }

    /// Close the manager (pending invocations end as cancelled first, then
    /// the running ones are cancelled) and wait, at most `grace`, for them
    /// to end.
    pub fn finish_invocations(&self, grace: Duration) {
        let running = self.manager.close();
        if running.is_empty() {
            return;
        }
        tracing::info!(count = running.len(), "cancelling running invocations before shutdown");
        let deadline = Instant::now() + grace;
        for invocation in running {
            let left = deadline.saturating_duration_since(Instant::now());
            if !invocation.wait(left).is_finished() {
                tracing::warn!(
                    id = %invocation.id(),
                    action = invocation.action(),
                    "invocation did not stop within the shutdown grace period"
                );
            }
        }
    }
}

/// The state of each of `things`, by name, written as JSON text at once.
fn states_of(things: impl Iterator<Item = impl std::ops::Deref<Target = ThingInstance>>) -> ThingStates {
    let mut json = Vec::with_capacity(128);
    let mut object = crate::registry::JsonObject::open(&mut json);
    for thing in things {
        thing.write_state_json(object.key(thing.name()));
    }
    object.close();
    String::from_utf8(json)
        .ok()
        .and_then(ThingStates::from_json)
        .unwrap_or_else(|| {
            tracing::error!("the things' states did not make a JSON object; recorded as none");
            ThingStates::default()
        })
}

/// The order to start `things` in: each after every thing its slots hold,
/// otherwise in the order they were given; a circle is an error naming it.
fn start_order(things: &[Arc<ThingInstance>]) -> Result<Vec<usize>, LabError> {
    let index_of = |name: &str| things.iter().position(|t| t.name() == name);
    // needs[i]: the things thing i holds (each once, never itself).
    let needs: Vec<Vec<usize>> = things
        .iter()
        .enumerate()
        .map(|(i, thing)| {
            let mut held: Vec<usize> = thing.slot_targets().iter().filter_map(|n| index_of(n)).collect();
            held.sort_unstable();
            held.dedup();
            held.retain(|&j| j != i);
            held
        })
        .collect();
    let mut order = Vec::with_capacity(things.len());
    let mut placed = vec![false; things.len()];
    while order.len() < things.len() {
        let ready = (0..things.len()).find(|&i| !placed[i] && needs[i].iter().all(|&j| placed[j]));
        match ready {
            Some(i) => {
                placed[i] = true;
                order.push(i);
            }
            None => {
                // Every thing left waits for another left: follow the
                // holds from one of them until a thing repeats.
                let mut path = vec![(0..things.len()).find(|&i| !placed[i]).unwrap_or(0)];
                loop {
                    let last = path[path.len() - 1];
                    let Some(&next) = needs[last].iter().find(|&&j| !placed[j]) else {
                        break;
                    };
                    if let Some(at) = path.iter().position(|&p| p == next) {
                        let circle: Vec<String> = path[at..]
                            .iter()
                            .chain(std::iter::once(&next))
                            .map(|&i| things[i].name().to_owned())
                            .collect();
                        return Err(LabError::SlotCycle(circle));
                    }
                    path.push(next);
                }
                return Err(LabError::SlotCycle(
                    path.iter().map(|&i| things[i].name().to_owned()).collect(),
                ));
            }
        }
    }
    Ok(order)
}

/// Fill every `#[slot]`: from an explicit connection, or the one Thing of
/// the slot's type.
fn connect_slots(things: &[Arc<ThingInstance>], connections: &[(String, String, String)]) -> Result<(), LabError> {
    for (thing_name, slot_name, target_name) in connections {
        let bad = |why: &str| LabError::BadConnection {
            thing: thing_name.clone(),
            slot: slot_name.clone(),
            target: target_name.clone(),
            why: why.to_owned(),
        };
        let thing = things
            .iter()
            .find(|t| t.name() == thing_name)
            .ok_or_else(|| bad("no such thing"))?;
        let index = thing
            .slots()
            .iter()
            .position(|s| s.name == slot_name)
            .ok_or_else(|| bad("the thing has no such slot"))?;
        let slot = &thing.slots()[index];
        if slot.kind == SlotKind::All {
            return Err(bad(&format!(
                "the slot holds every served `{}` by itself; connections are for slots of one thing",
                slot.target_type
            )));
        }
        let target = things
            .iter()
            .find(|t| t.name() == target_name)
            .ok_or_else(|| bad("no such target thing"))?;
        if !target.fills(slot.target_id) {
            return Err(bad(&format!("the slot needs a `{}`", slot.target_type)));
        }
        thing.connect_slot(index, target);
    }
    for thing in things {
        for (index, slot) in thing.slots().iter().enumerate() {
            let explicit = connections.iter().any(|(t, s, _)| t == thing.name() && s == slot.name);
            if explicit {
                continue;
            }
            let candidates: Vec<&Arc<ThingInstance>> = things.iter().filter(|t| t.fills(slot.target_id)).collect();
            if slot.kind == SlotKind::All {
                for target in candidates {
                    thing.connect_slot(index, target);
                }
                continue;
            }
            if let Some(default) = slot.default {
                let bad = |why: String| LabError::BadConnection {
                    thing: thing.name().to_owned(),
                    slot: slot.name.to_owned(),
                    target: default.to_owned(),
                    why,
                };
                match things.iter().find(|t| t.name() == default) {
                    Some(target) if target.fills(slot.target_id) => {
                        thing.connect_slot(index, target);
                        continue;
                    }
                    Some(_) => {
                        return Err(bad(format!(
                            "its default names a thing that is not a `{}`",
                            slot.target_type
                        )));
                    }
                    // An optional slot whose default is not served stays
                    // empty; one that must be filled says which is missing.
                    None if slot.kind == SlotKind::Optional => continue,
                    None => {
                        return Err(bad(format!(
                            "its default `{default}` is not served: serve a `{}` as `{default}`, or connect the slot to another",
                            slot.target_type
                        )));
                    }
                }
            }
            match (candidates.as_slice(), slot.kind) {
                ([target], _) => {
                    thing.connect_slot(index, target);
                }
                ([], SlotKind::Optional) => {}
                ([], _) => {
                    return Err(LabError::SlotUnfilled {
                        thing: thing.name().to_owned(),
                        slot: slot.name.to_owned(),
                        target: slot.target_type.to_owned(),
                    });
                }
                (several, _) => {
                    return Err(LabError::SlotAmbiguous {
                        thing: thing.name().to_owned(),
                        slot: slot.name.to_owned(),
                        candidates: several.iter().map(|t| t.name().to_owned()).collect(),
                    });
                }
            }
        }
    }
    Ok(())
}
