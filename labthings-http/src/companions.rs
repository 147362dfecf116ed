//! The one list of what runs beside the HTTP server (the expiry of old
//! invocations, the MQTT binding, DNS-SD, directory registration, and any
//! companion a program adds), and what the server offers them as their
//! [`Host`].

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use labthings_core::companion::{Companion, Host, Running};
use labthings_core::{Invocation, Lab};
use labthings_td::ThingDescription;
use serde_json::Value;

use crate::state::AppState;

/// How long the server waits for one companion to stop.
const STOP_WITHIN: Duration = Duration::from_millis(300);

/// What runs beside a server, in start order.
#[derive(Default, Clone)]
pub(crate) struct Companions(pub(crate) Vec<Arc<dyn Companion>>);

impl std::fmt::Debug for Companions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.iter().map(|c| c.name())).finish()
    }
}

impl Companions {
    /// These and `companion`, started first.
    #[cfg(feature = "mcp")]
    pub(crate) fn with(mut self, companion: Arc<dyn Companion>) -> Self {
        self.0.insert(0, companion);
        self
    }

    /// Add each one's forms to the TD `td` of thing number `thing`.
    pub(crate) fn add_forms(
        &self,
        td: &mut ThingDescription,
        things: &[Arc<labthings_core::ThingInstance>],
        thing: usize,
    ) {
        for companion in &self.0 {
            labthings_core::companion::add_forms(td, companion.as_ref(), things, thing);
        }
    }
}

/// Check the MCP binding's `path` as a program's own routes are checked:
/// a plain path (`crate::paths::plain_path`) whose first segment is no
/// thing's name (`things`), none of the server's own and none of the
/// program's own routes and folders (`extras`).
#[cfg(feature = "mcp")]
pub(crate) fn check_mcp_path(
    path: &str,
    things: &[&str],
    extras: &crate::extra::Extras,
) -> Result<(), crate::BuildError> {
    let invalid = |message: String| crate::BuildError::invalid("mcp.path", message);
    if !crate::paths::plain_path(path) {
        return Err(invalid(format!(
            "`{path}` is not a path of one or more plain segments, such as `/mcp`"
        )));
    }
    let first = path.split('/').nth(1).unwrap_or_default();
    if things.contains(&first)
        || crate::binding::reserved_segments().iter().any(|r| r == first)
        || extras.first_segments().any(|s| s == first)
    {
        return Err(invalid(format!(
            "`{path}` starts with `{first}`, which a thing, the server itself or the program's own routes already use"
        )));
    }
    Ok(())
}

/// The companions a configuration asks for, then the program's own.
pub(crate) fn configured(config: &crate::ServerConfig, own: Companions) -> Result<Companions, crate::BuildError> {
    let mut list: Vec<Arc<dyn Companion>> = vec![Arc::new(Expiry {
        every: config.limits.expiry_interval,
    })];
    #[cfg(feature = "mqtt")]
    if let Some(mqtt) = &config.mqtt {
        let binding = labthings_mqtt::Mqtt::new(mqtt.clone()).map_err(|e| crate::BuildError::invalid("mqtt", e))?;
        list.push(Arc::new(binding));
    }
    #[cfg(feature = "discovery")]
    list.extend(
        labthings_discovery::companions(&config.discovery)
            .into_iter()
            .map(Arc::from),
    );
    list.extend(own.0);
    Ok(Companions(list))
}

/// Start every companion of `state` for the server listening on `local`;
/// one that cannot start is logged and left out.
pub(crate) fn start(state: &Arc<AppState>, local: SocketAddr, base: String) -> Vec<(&'static str, Running)> {
    let host: Arc<dyn Host> = Arc::new(Served {
        state: state.clone(),
        local,
        base,
    });
    let mut running = Vec::new();
    for companion in &state.companions.0 {
        match companion.start(host.clone()) {
            Ok(started) => running.push((companion.name(), started)),
            Err(e) => tracing::error!("{} not started: {e}", companion.name()),
        }
    }
    running
}

/// Stop the companions `start` started, the last first, each within
/// [`STOP_WITHIN`].
pub(crate) async fn stop(running: Vec<(&'static str, Running)>) {
    for (name, companion) in running.into_iter().rev() {
        if tokio::time::timeout(STOP_WITHIN, companion.stop()).await.is_err() {
            tracing::warn!("{name} did not stop in time");
        }
    }
}

/// Finished invocations removed once their retention has passed.
struct Expiry {
    every: Duration,
}

impl Companion for Expiry {
    fn name(&self) -> &'static str {
        "invocation expiry"
    }

    fn start(&self, host: Arc<dyn Host>) -> Result<Running, String> {
        let manager = host.lab().manager().clone();
        let mut ticks = tokio::time::interval(self.every.max(Duration::from_millis(10)));
        Ok(Running::task(tokio::spawn(async move {
            loop {
                ticks.tick().await;
                manager.expire();
            }
        })))
    }
}

/// The running server as its companions see it.
struct Served {
    state: Arc<AppState>,
    local: SocketAddr,
    base: String,
}

impl Host for Served {
    fn lab(&self) -> &Lab {
        &self.state.lab
    }

    fn thing_description(&self, thing: usize) -> Option<ThingDescription> {
        let found = self.state.lab.things().get(thing)?;
        Some(crate::routes::things::described(&self.state, found, &self.base))
    }

    fn invocation_json(&self, invocation: &Invocation, finished: bool) -> Value {
        crate::render::invocation_json(invocation, &self.base, finished)
    }

    fn links_to_blobs(&self, input: &mut Value) {
        crate::render::blob_links_to_uris(input, &self.base);
    }

    fn base_url(&self) -> &str {
        &self.base
    }

    fn local_addr(&self) -> SocketAddr {
        self.local
    }

    fn scheme(&self) -> &'static str {
        self.state.scheme()
    }

    fn path_prefix(&self) -> &str {
        &self.state.config.api_prefix
    }
}
