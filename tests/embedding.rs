//! A program that makes its own listener serves on it (`Server::listen_on`),
//! with the same check of who may reach it as `Server::bind`, and nothing
//! printed or set up globally.

use labthings::prelude::*;
use labthings::{Server, ServerConfig};

/// The smallest thing.
#[thing]
#[derive(Default)]
struct Lamp {
    /// Whether it is on.
    #[property]
    on: DataProperty<bool>,
}

#[thing]
impl Lamp {}

fn lamp_server() -> Server {
    Server::builder()
        .config(ServerConfig::default().with(|c| c.settings_dir = None))
        .thing("lamp", Lamp::default())
        .build()
        .expect("build")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_serves_on_a_listener_the_program_made() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a listener");
    let address = listener.local_addr().expect("its address");
    let listening = lamp_server().listen_on(listener).expect("loopback needs no users");
    assert_eq!(listening.url(), format!("http://{address}"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(listening.serve_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let put = client
        .put(format!("http://{address}/lamp/on"))
        .json(&true)
        .send()
        .await
        .expect("PUT");
    assert!(put.status().is_success(), "{}", put.status());
    let on: bool = client
        .get(format!("http://{address}/lamp/on"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("JSON");
    assert!(on);
    let _ = stop.send(());
    served.await.expect("the task ends").expect("a clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_on_every_interface_without_users_is_refused() {
    let listener = tokio::net::TcpListener::bind("0.0.0.0:0").await.expect("a listener");
    let error = lamp_server()
        .listen_on(listener)
        .expect_err("anyone on the network could drive it");
    assert_eq!(error.kind(), std::io::ErrorKind::PermissionDenied);
    assert!(error.to_string().contains("refusing to serve"), "{error}");
}
