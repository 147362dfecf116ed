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
            .config(ServerConfig::default().with(|c| {
                c.settings_dir = None;
                c.api_prefix = "/lab".into();
                c.discovery = DiscoveryConfig {
                    dns_sd: true,
                    mdns_port,
                    ..DiscoveryConfig::default()
                };
            }))
            .thing("bench", bench::Bench::default())
            .build()
            .expect("build"),
    )
    .await;
    let port: u16 = server
        .url
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the port");

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
    assert!(
        found.get_fullname().starts_with("bench on "),
        "{}",
        found.get_fullname()
    );
    assert_eq!(found.get_property_val_str("td"), Some("/lab/bench/"));
    assert_eq!(found.get_property_val_str("type"), Some("Thing"));
    let td_path = found.get_property_val_str("td").expect("td").to_owned();
    let (status, td) = server.get(&td_path).await;
    assert_eq!((status, td["id"].as_str()), (200, Some("urn:labthings:bench")));
}

/// A Thing Description Directory's `/things` API, recording what it is sent.
#[derive(Default)]
struct Directory {
    registered: parking_lot::Mutex<Vec<(String, String, serde_json::Value)>>,
    removed: parking_lot::Mutex<Vec<String>>,
}

async fn directory() -> (String, std::sync::Arc<Directory>) {
    use labthings::http::axum::extract::{Path, State};
    use labthings::http::axum::http::{HeaderMap, StatusCode};
    use labthings::http::axum::routing::put;
    let records = std::sync::Arc::new(Directory::default());
    let app = labthings::http::axum::Router::new()
        .route(
            "/things/{id}",
            put(
                |State(d): State<std::sync::Arc<Directory>>,
                 Path(id): Path<String>,
                 headers: HeaderMap,
                 body: String| async move {
                    let media = headers
                        .get("content-type")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_owned();
                    let td = serde_json::from_str(&body).unwrap_or(serde_json::Value::Null);
                    let mut registered = d.registered.lock();
                    let known = registered.iter().any(|(i, _, _)| *i == id);
                    registered.push((id, media, td));
                    if known {
                        StatusCode::NO_CONTENT
                    } else {
                        StatusCode::CREATED
                    }
                },
            )
            .delete(
                |State(d): State<std::sync::Arc<Directory>>, Path(id): Path<String>| async move {
                    d.removed.lock().push(id);
                    StatusCode::NO_CONTENT
                },
            ),
        )
        .with_state(records.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move { labthings::http::axum::serve(listener, app).await });
    (url, records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_td_is_registered_with_a_directory_renewed_and_removed_at_the_end() {
    let (url, records) = directory().await;
    let server = start(
        Server::builder()
            .config(ServerConfig::default().with(|c| {
                c.settings_dir = None;
                c.discovery = DiscoveryConfig {
                    directory: Some(url),
                    ttl_s: 2,
                    ..DiscoveryConfig::default()
                };
            }))
            .thing("bench", bench::Bench::default())
            .build()
            .expect("build"),
    )
    .await;
    let deadline = Instant::now() + Duration::from_secs(15);
    while records.registered.lock().len() < 2 {
        assert!(Instant::now() < deadline, "registered, then renewed, within 15 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    {
        let registered = records.registered.lock();
        let (id, media, td) = &registered[0];
        assert_eq!(id, "urn:labthings:bench");
        assert_eq!(media, "application/td+json");
        assert_eq!(td["id"], "urn:labthings:bench");
        assert_eq!(td["registration"]["ttl"], 2, "{td}");
        assert!(td["base"].as_str().is_some_and(|b| b.starts_with(&server.url)), "{td}");
        assert_eq!(registered[1].0, "urn:labthings:bench", "renewed");
    }
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(15);
    while records.removed.lock().is_empty() {
        assert!(Instant::now() < deadline, "removed at shutdown");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(*records.removed.lock(), ["urn:labthings:bench"]);
}
