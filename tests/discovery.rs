//! DNS-SD (W3C WoT Discovery): a server with `discovery.dns_sd` advertises
//! each thing as a `_wot._tcp` service whose TXT record names its TD path;
//! a browser (mdns-sd, on a port of the test's own so a system responder
//! does not interfere) finds it and follows it to the TD. And Thing
//! Description Directory registration: with a directory the test serves
//! (what is sent), and with Eclipse Thingweb's domus-tdd-api (what a real
//! directory keeps).

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../benches/servers/bench.rs"]
mod bench;

use std::time::{Duration, Instant};

use common::{free_port, start};
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
                c.discovery = DiscoveryConfig::default().with(|c| {
                    c.dns_sd = true;
                    c.mdns_port = mdns_port;
                });
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
    directory_over(None).await
}

/// [`directory`], over TLS with the certificate and key files `tls` when given.
async fn directory_over(tls: Option<(&std::path::Path, &std::path::Path)>) -> (String, std::sync::Arc<Directory>) {
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
            .get(
                |State(d): State<std::sync::Arc<Directory>>, Path(id): Path<String>| async move {
                    let registered = d.registered.lock();
                    match registered.iter().rev().find(|(i, _, _)| *i == id) {
                        Some((_, _, td)) => (StatusCode::OK, td.to_string()),
                        None => (StatusCode::NOT_FOUND, String::new()),
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
    let port = listener.local_addr().expect("address").port();
    let Some((cert, key)) = tls else {
        tokio::spawn(async move { labthings::http::axum::serve(listener, app).await });
        return (format!("http://127.0.0.1:{port}"), records);
    };
    let config = labthings_tls::server_config(cert, key).expect("a TLS configuration");
    let acceptor = labthings_tls::tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (acceptor, app) = (acceptor.clone(), app.clone());
            tokio::spawn(async move {
                let Ok(stream) = acceptor.accept(stream).await else {
                    return;
                };
                let service = hyper_util::service::TowerToHyperService::new(app);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (format!("https://localhost:{port}"), records)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_td_is_registered_with_a_directory_renewed_and_removed_at_the_end() {
    let (url, records) = directory().await;
    let server = start(
        Server::builder()
            .config(ServerConfig::default().with(|c| {
                c.settings_dir = None;
                c.discovery = DiscoveryConfig::default().with(|c| {
                    c.directory = Some(url);
                    c.ttl_s = 2;
                });
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
        // Only TD 1.1's context (a directory offline cannot fetch 1.0's),
        // and the discovery context for `registration`.
        assert_eq!(
            td["@context"],
            serde_json::json!([
                "https://www.w3.org/2022/wot/td/v1.1",
                "https://www.w3.org/2022/wot/discovery"
            ]),
            "{td}"
        );
    }
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(15);
    while records.removed.lock().is_empty() {
        assert!(Instant::now() < deadline, "removed at shutdown");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(*records.removed.lock(), ["urn:labthings:bench"]);
}

/// Eclipse Thingweb's Thing Description Directory (domus-tdd-api, from
/// PyPI), storing in an in-memory Oxigraph SPARQL server, both on free
/// ports and offline: the directory's URL, and the processes (killed when
/// dropped).
async fn real_directory(scratch: &std::path::Path) -> (String, [tokio::process::Child; 2]) {
    let venv = common::clients::repo().join(".venv-domus/bin");
    let sparql = free_port();
    let oxigraph = tokio::process::Command::new(venv.join("oxigraph"))
        .args(["serve", "--bind", &format!("127.0.0.1:{sparql}")])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start oxigraph");
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let domus = tokio::process::Command::new(venv.join("domus-tdd-api"))
        .args(["run", "--host", "127.0.0.1", "--port", &port.to_string()])
        // Oxigraph answers queries and updates at /sparql, as Fuseki does
        // at a dataset's URL.
        .env("TDD__SPARQLENDPOINT_URL", format!("http://127.0.0.1:{sparql}/sparql"))
        .env("TDD__TD_REPO_URL", &url)
        .env("TDD__PERIOD_CLEAR_EXPIRE_TD", "0")
        // The directory's own discovery context from its package, as it
        // cannot fetch it without internet.
        .env("TDD__OVERWRITE_DISCOVERY", "true")
        .current_dir(scratch)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start domus-tdd-api");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let up = client.get(format!("{url}/things")).send().await;
        if up.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(Instant::now() < deadline, "domus-tdd-api did not answer within 60 s");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    (url, [oxigraph, domus])
}

/// A directory nobody here wrote lists and returns each TD the server
/// registers (with the TD 1.1 context only: with the 1.0 one beside it, it
/// answered 201 and stored nothing), and forgets it once the server stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_directory_lists_and_returns_each_td() {
    common::clients::setup();
    let scratch = std::env::temp_dir().join(format!("labthings-domus-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&scratch).expect("a scratch folder");
    let (directory, _processes) = real_directory(&scratch).await;
    let server = start(
        Server::builder()
            .config(ServerConfig::default().with(|c| {
                c.settings_dir = None;
                c.discovery = DiscoveryConfig::default().with(|c| {
                    c.directory = Some(directory.clone());
                    c.ttl_s = 60;
                });
            }))
            .thing("bench", bench::Bench::default())
            .build()
            .expect("build"),
    )
    .await;
    let ours: serde_json::Value = reqwest::get(server.at("/bench/"))
        .await
        .expect("our TD")
        .json()
        .await
        .expect("JSON");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let listed: Vec<serde_json::Value> = loop {
        let answer = client.get(format!("{directory}/things")).send().await.expect("list");
        let listed: Vec<serde_json::Value> = answer.json().await.unwrap_or_default();
        if listed.iter().any(|td| td["id"] == "urn:labthings:bench") {
            break listed;
        }
        assert!(Instant::now() < deadline, "not listed within 30 s: {listed:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(listed.len(), 1, "{listed:?}");
    let one = client
        .get(format!("{directory}/things/urn%3Alabthings%3Abench"))
        .send()
        .await
        .expect("get one");
    assert_eq!(one.status(), 200);
    let stored: serde_json::Value = one.json().await.expect("a TD");
    assert_eq!(stored["title"], ours["title"]);
    let names = |td: &serde_json::Value, of: &str| -> Vec<String> {
        let mut names: Vec<String> = td[of]
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    };
    for of in ["properties", "actions"] {
        assert_eq!(names(&stored, of), names(&ours, of), "{of}");
    }
    drop(server);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let gone = client
            .get(format!("{directory}/things/urn%3Alabthings%3Abench"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 404);
        if gone {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still in the directory 15 s after the server stopped"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = std::fs::remove_dir_all(&scratch);
}

/// Registration speaks HTTPS too: a directory with a self-signed
/// certificate, trusted through `directory_cacert`, gets every TD; without
/// it nothing is sent over an untrusted connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_directory_served_over_https_gets_each_td() {
    let scratch = std::env::temp_dir().join(format!("labthings-tdd-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&scratch).expect("a scratch folder");
    let (cert, key) = common::self_signed(&scratch, &["localhost"]);
    let (url, records) = directory_over(Some((&cert, &key))).await;
    for trusted in [false, true] {
        let server = start(
            Server::builder()
                .config(ServerConfig::default().with(|c| {
                    c.settings_dir = None;
                    c.discovery = DiscoveryConfig::default().with(|c| {
                        c.directory = Some(url.clone());
                        c.ttl_s = 2;
                        c.directory_cacert = trusted.then(|| cert.clone());
                    });
                }))
                .thing("bench", bench::Bench::default())
                .build()
                .expect("build"),
        )
        .await;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let registered = records.registered.lock().len();
        if trusted {
            assert!(registered >= 1, "registered over HTTPS");
            assert_eq!(records.registered.lock()[0].0, "urn:labthings:bench");
        } else {
            assert_eq!(
                registered, 0,
                "a directory whose certificate is not trusted gets nothing"
            );
        }
        drop(server);
    }
    let _ = std::fs::remove_dir_all(&scratch);
}
