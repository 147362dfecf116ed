//! DNS-SD (W3C WoT Discovery): a server with `discovery.dns_sd` advertises
//! each thing as a `_wot._tcp` service whose TXT record names its TD path;
//! a browser (mdns-sd, on a port of the test's own so a system responder
//! does not interfere) finds it and follows it to the TD.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/bench.rs"]
mod bench;

use std::time::{Duration, Instant};

use common::start;
use labthings::http::DiscoveryConfig;
use labthings::{Server, ServerConfig};
use mdns_sd::{ServiceDaemon, ServiceEvent};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_finds_each_thing_and_its_td_path() {
    let mdns_port = std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .expect("a free port")
        .port();
    let server = start(
        Server::builder()
            .config(ServerConfig {
                settings_dir: None,
                api_prefix: "/lab".into(),
                discovery: DiscoveryConfig {
                    dns_sd: true,
                    mdns_port,
                },
                ..ServerConfig::default()
            })
            .thing("bench", bench::Bench::default())
            .build()
            .expect("build"),
    )
    .await;
    let port: u16 = server.url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("the port");

    let browser = ServiceDaemon::new_with_port(mdns_port).expect("an mDNS browser");
    let events = browser.browse("_wot._tcp.local.").expect("browse");
    let deadline = Instant::now() + Duration::from_secs(15);
    let found = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no _wot._tcp service resolved within 15 s");
        match events.recv_timeout(left) {
            Ok(ServiceEvent::ServiceResolved(info)) if info.get_port() == port => break info,
            Ok(_) => continue,
            Err(e) => panic!("browsing ended: {e}"),
        }
    };
    let _ = browser.shutdown();
    assert!(found.get_fullname().starts_with("bench on "), "{}", found.get_fullname());
    assert_eq!(found.get_property_val_str("td"), Some("/lab/bench/"));
    assert_eq!(found.get_property_val_str("type"), Some("Thing"));
    let td_path = found.get_property_val_str("td").expect("td").to_owned();
    let (status, td) = server.get(&td_path).await;
    assert_eq!((status, td["id"].as_str()), (200, Some("urn:labthings:bench")));
}
