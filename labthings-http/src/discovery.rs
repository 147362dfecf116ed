//! Being found (W3C WoT Discovery): each thing advertised on the local
//! network with DNS-SD as a `_wot._tcp` service whose TXT record names its
//! TD's path, opt-in by configuration.

use std::net::IpAddr;

use mdns_sd::{ServiceDaemon, ServiceInfo};
use serde::Deserialize;

/// The DNS-SD service type of a Thing's TD served over HTTP.
pub const WOT_SERVICE: &str = "_wot._tcp.local.";

/// How the server makes itself found. Off unless given.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// Advertise each thing with DNS-SD (mDNS) as a `_wot._tcp` service.
    #[serde(default)]
    pub dns_sd: bool,
    /// The mDNS port: 5353, the standard one, unless a test needs its own.
    #[serde(default = "default_mdns_port")]
    pub mdns_port: u16,
}

fn default_mdns_port() -> u16 {
    5353
}

impl Default for DiscoveryConfig {
    fn default() -> Self {
        Self {
            dns_sd: false,
            mdns_port: default_mdns_port(),
        }
    }
}

/// The DNS-SD advertisement of a running server; withdrawn when dropped.
pub(crate) struct Advertised {
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
pub(crate) fn advertise(
    config: &DiscoveryConfig,
    things: &[&str],
    ip: IpAddr,
    port: u16,
    prefix: &str,
    scheme: &str,
) -> Result<Advertised, String> {
    let daemon = ServiceDaemon::new_with_port(config.mdns_port).map_err(|e| format!("mDNS: {e}"))?;
    let host = hostname();
    let mut names = Vec::new();
    for thing in things {
        let td = format!("{prefix}/{thing}/");
        let instance = format!("{thing} on {host} port {port}");
        let properties = [("td", td.as_str()), ("type", "Thing"), ("scheme", scheme)];
        let addresses: &[IpAddr] = if ip.is_unspecified() { &[] } else { &[ip] };
        let mut info = ServiceInfo::new(WOT_SERVICE, &instance, &format!("{host}.local."), addresses, port, &properties[..])
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
