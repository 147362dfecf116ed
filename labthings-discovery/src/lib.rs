//! Being found (W3C WoT Discovery), opt-in by configuration: each thing
//! advertised on the local network with DNS-SD as a `_wot._tcp` service
//! whose TXT record names its TD's path, and each TD registered with a
//! Thing Description Directory (the Discovery API's `/things`) with a
//! time to live, renewed while the server runs.
//!
//! A server runs each as a [`Companion`]: [`companions`] makes the ones a
//! [`DiscoveryConfig`] asks for.
//!
//! ```
//! use labthings_discovery::{DiscoveryConfig, companions};
//! assert!(companions(&DiscoveryConfig::default()).is_empty(), "off unless asked for");
//! let config = DiscoveryConfig::default().with(|c| {
//!     c.dns_sd = true;
//!     c.directory = Some("http://tdd.lab:8081".into());
//! });
//! assert_eq!(companions(&config).len(), 2);
//! ```

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use labthings_client::{Bytes, Connection, Method};
use labthings_core::companion::{Companion, Host, Running};
use mdns_sd::{ServiceDaemon, ServiceInfo};
use serde::Deserialize;

/// The DNS-SD service type of a Thing's TD served over HTTP.
pub const WOT_SERVICE: &str = "_wot._tcp.local.";

/// How the server makes itself found. Off unless given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[non_exhaustive]
pub struct DiscoveryConfig {
    /// Advertise each thing with DNS-SD (mDNS) as a `_wot._tcp` service.
    #[serde(default)]
    pub dns_sd: bool,
    /// The mDNS port: 5353, the standard one, unless a test needs its own.
    #[serde(default = "default_mdns_port")]
    pub mdns_port: u16,
    /// A Thing Description Directory to register every TD with (its base
    /// URL, e.g. `http://tdd.lab:8081`), with the Discovery API's
    /// `PUT /things/{id}`.
    #[serde(default)]
    pub directory: Option<String>,
    /// How long the directory keeps a registration, in seconds; the
    /// server registers again every half of it while it runs.
    #[serde(default = "default_ttl")]
    pub ttl_s: u64,
    /// A PEM file of certificate authorities (or the directory's own
    /// self-signed certificate) to trust besides the system's, for an
    /// `https://` directory.
    #[serde(default)]
    pub directory_cacert: Option<std::path::PathBuf>,
}

fn default_ttl() -> u64 {
    60
}

fn default_mdns_port() -> u16 {
    5353
}

impl DiscoveryConfig {
    /// The defaults (off) changed by `change`.
    pub fn with(mut self, change: impl FnOnce(&mut Self)) -> Self {
        change(&mut self);
        self
    }
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            dns_sd: false,
            mdns_port: default_mdns_port(),
            directory: None,
            ttl_s: default_ttl(),
            directory_cacert: None,
        }
    }
}

/// The companions `config` asks for: DNS-SD advertisement, registration
/// with a directory, both or none.
pub fn companions(config: &DiscoveryConfig) -> Vec<Box<dyn Companion>> {
    let mut companions: Vec<Box<dyn Companion>> = Vec::new();
    if config.dns_sd {
        companions.push(Box::new(DnsSd {
            mdns_port: config.mdns_port,
        }));
    }
    if let Some(directory) = &config.directory {
        companions.push(Box::new(Registration {
            directory: directory.clone(),
            ttl: Duration::from_secs(config.ttl_s.max(2)),
            cacert: config.directory_cacert.clone(),
        }));
    }
    companions
}

/// Each thing advertised with DNS-SD while the server runs.
struct DnsSd {
    mdns_port: u16,
}

impl Companion for DnsSd {
    fn name(&self) -> &'static str {
        "DNS-SD advertisement"
    }

    fn start(&self, host: Arc<dyn Host>) -> Result<Running, String> {
        let names: Vec<&str> = host.lab().things().iter().map(|t| t.name()).collect();
        let local = host.local_addr();
        let advertised = advertise(
            self.mdns_port,
            &names,
            local.ip(),
            local.port(),
            host.path_prefix(),
            host.scheme(),
        )?;
        Ok(Running::new(move || async move { drop(advertised) }))
    }
}

/// Each TD registered with a Thing Description Directory while the server
/// runs, and removed at the end.
struct Registration {
    directory: String,
    ttl: Duration,
    cacert: Option<std::path::PathBuf>,
}

impl Companion for Registration {
    fn name(&self) -> &'static str {
        "Thing Description Directory registration"
    }

    fn start(&self, host: Arc<dyn Host>) -> Result<Running, String> {
        let names: Vec<String> = host.lab().things().iter().map(|t| t.name().to_owned()).collect();
        let directory = self.directory.clone();
        // A directory that hangs must not stall the renewals for ever.
        let mut client = Connection::new().with_timeout(Duration::from_secs(10));
        if let Some(cacert) = &self.cacert {
            client = client
                .with_ca_file(cacert)
                .map_err(|e| format!("discovery.directory_cacert: {e}"))?;
        }
        let task = tokio::spawn(register_periodically(host, client.clone(), directory.clone(), self.ttl));
        Ok(Running::new(move || async move {
            task.abort();
            deregister(&client, &directory, &names).await;
        }))
    }
}

/// The DNS-SD advertisement of a running server; withdrawn when dropped.
struct Advertised {
    daemon: ServiceDaemon,
    names: Vec<String>,
}

impl Drop for Advertised {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = self.daemon.unregister(name);
        }
        let _ = self.daemon.shutdown();
    }
}

/// Advertise each of `things` (their names), served at `ip:port` with TDs
/// at `{prefix}/{thing}/`, as a `_wot._tcp` service.
fn advertise(
    mdns_port: u16,
    things: &[&str],
    ip: IpAddr,
    port: u16,
    prefix: &str,
    scheme: &str,
) -> Result<Advertised, String> {
    let daemon = ServiceDaemon::new_with_port(mdns_port).map_err(|e| format!("mDNS: {e}"))?;
    let host = hostname();
    let mut names = Vec::new();
    for thing in things {
        let td = format!("{prefix}/{thing}/");
        let instance = format!("{thing} on {host} port {port}");
        let properties = [("td", td.as_str()), ("type", "Thing"), ("scheme", scheme)];
        let addresses: &[IpAddr] = if ip.is_unspecified() { &[] } else { &[ip] };
        let mut info = ServiceInfo::new(
            WOT_SERVICE,
            &instance,
            &format!("{host}.local."),
            addresses,
            port,
            &properties[..],
        )
        .map_err(|e| format!("mDNS: {e}"))?;
        if ip.is_unspecified() {
            info = info.enable_addr_auto();
        }
        names.push(info.get_fullname().to_owned());
        daemon.register(info).map_err(|e| format!("mDNS: {e}"))?;
    }
    Ok(Advertised { daemon, names })
}

/// This machine's host name, for the service's SRV target.
fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
        .unwrap_or_else(|| "labthings".to_owned())
}

/// Register every TD of the server `host` with `directory`, every half
/// `ttl`, until the task is aborted; `deregister` removes them at the end.
async fn register_periodically(host: Arc<dyn Host>, client: Connection, directory: String, ttl: Duration) {
    let mut ticks = tokio::time::interval((ttl / 2).max(Duration::from_secs(1)));
    let mut failing = false;
    loop {
        ticks.tick().await;
        let mut failed = None;
        for (index, thing) in host.lab().things().iter().enumerate() {
            let Some(mut td) = host.thing_description(index) else {
                continue;
            };
            // A directory expands the TD as JSON-LD: the TD 1.0 context,
            // which the served TD carries for clients that check TD 1.0,
            // cannot be fetched on a lab network without internet, and a
            // directory that cannot expand it drops the TD (domus-tdd-api
            // answers 201 and stores nothing). TD 1.1 needs only its own.
            td.context.retain(|c| c.as_str() != Some(labthings_td::TD_CONTEXT_V1));
            td.context.push(DISCOVERY_CONTEXT.into());
            td.extra
                .insert("registration".into(), serde_json::json!({"ttl": ttl.as_secs()}));
            let url = thing_url(&directory, thing.name());
            if let Err(why) = register(&client, &url, td.to_json().to_string()).await {
                failed = Some(why);
            }
        }
        match failed {
            Some(why) if !failing => {
                tracing::error!("TD directory: not registered ({why}); trying again every {:?}", ttl / 2);
                failing = true;
            }
            None if failing => {
                tracing::info!("TD directory: registered again");
                failing = false;
            }
            _ => {}
        }
    }
}

/// PUT the TD `body` at `url`, then read it back: a directory that
/// accepted it but does not return it has dropped it, which is an error
/// too.
async fn register(client: &Connection, url: &str, body: String) -> Result<(), String> {
    let (accepted, _) = client
        .request(Method::PUT, url, Some(("application/td+json", Bytes::from(body))))
        .await
        .map_err(|e| format!("{url}: {e}"))?;
    match client.request(Method::GET, url, None).await {
        Ok(_) => Ok(()),
        Err(e) => Err(format!(
            "{url} accepted the TD ({accepted}) but does not return it ({e}): the directory dropped it; its \
             log may say why (a context it cannot fetch?)"
        )),
    }
}

/// Remove every TD of `things` from `directory` (best effort, at shutdown).
async fn deregister(client: &Connection, directory: &str, things: &[String]) {
    for thing in things {
        let url = thing_url(directory, thing);
        let removed = client.request(Method::DELETE, &url, None);
        let _ = tokio::time::timeout(Duration::from_secs(2), removed).await;
    }
}

/// The WoT Discovery context, for a TD's `registration` term.
const DISCOVERY_CONTEXT: &str = "https://www.w3.org/2022/wot/discovery";

/// `{directory}/things/{id}`, the id (`urn:labthings:{thing}`) escaped.
fn thing_url(directory: &str, thing: &str) -> String {
    format!("{}/things/urn%3Alabthings%3A{thing}", directory.trim_end_matches('/'))
}
