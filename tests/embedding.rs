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

/// A lamp that counts its start and stop hooks.
#[thing]
#[derive(Default)]
struct Counted {
    /// Times started and stopped.
    #[property(read_only)]
    hooks: DataProperty<Vec<String>>,
}

#[thing]
impl Counted {
    /// Wait until cancelled.
    #[action]
    fn wait(&self, cancel: CancelHook) -> Result<(), Cancelled> {
        loop {
            cancel.sleep(std::time::Duration::from_millis(10))?;
        }
    }

    #[on_start]
    fn started(&self) {
        self.hooks.update(|h| h.push("start".into()));
    }

    #[on_stop]
    fn stopped(&self) {
        self.hooks.update(|h| h.push("stop".into()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lab_mounted_in_an_axum_app_starts_serves_and_stops_its_things() {
    use labthings::http::axum;
    let counted = std::sync::Arc::new(Counted::default());
    let server = Server::builder()
        .config(ServerConfig::default().with(|c| {
            c.settings_dir = None;
            c.api_prefix = "/lab".into();
        }))
        .shared_thing("counted", counted.clone())
        .build()
        .expect("build");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a listener");
    let address = listener.local_addr().expect("its address");
    let lab = server.start(address).await.expect("the things start");
    assert_eq!(counted.hooks.get(), ["start"], "started before anything is served");
    let app = axum::Router::new()
        .route("/", axum::routing::get(|| async { "mine" }))
        .merge(lab.router());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await
    });
    let client = reqwest::Client::new();
    let own = client.get(format!("http://{address}/")).send().await.expect("GET /");
    assert_eq!(own.text().await.expect("text"), "mine");
    let td: serde_json::Value = client
        .get(format!("http://{address}/lab/counted/"))
        .send()
        .await
        .expect("GET the TD")
        .json()
        .await
        .expect("JSON");
    assert_eq!(td["base"], format!("http://{address}/lab/"), "{td}");
    // The lab's own checks still apply: a forged host is refused.
    let forged = client
        .get(format!("http://{address}/lab/counted/"))
        .header("host", "evil.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(forged.status(), 421);
    let invoked = client
        .post(format!("http://{address}/lab/counted/wait"))
        .json(&serde_json::json!({}))
        .send()
        .await
        .expect("POST");
    assert_eq!(invoked.status(), 201);
    let href = invoked.json::<serde_json::Value>().await.expect("JSON")["href"]
        .as_str()
        .map(str::to_owned)
        .expect("an href");
    let _ = stop.send(());
    served.await.expect("the task ends").expect("served");
    lab.stop().await.expect("a clean stop");
    assert_eq!(counted.hooks.get(), ["start", "stop"], "the stop hook ran");
    assert!(href.contains("/lab/action_invocations/"), "{href}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ready_is_called_once_every_thing_has_started_and_nothing_is_printed() {
    let counted = std::sync::Arc::new(Counted::default());
    let server = Server::builder()
        .config(ServerConfig::default().with(|c| c.settings_dir = None))
        .shared_thing("counted", counted.clone())
        .build()
        .expect("build");
    let listening = server.bind("127.0.0.1:0").await.expect("bind");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let seen_by_ready = counted.clone();
    let served = tokio::spawn(listening.serve_until_ready(
        async move {
            let _ = stopped.await;
        },
        move || {
            let _ = ready_tx.send(seen_by_ready.hooks.get());
        },
    ));
    let hooks_when_ready =
        tokio::task::spawn_blocking(move || ready_rx.recv_timeout(std::time::Duration::from_secs(10)))
            .await
            .expect("joined")
            .expect("ready was called");
    assert_eq!(hooks_when_ready, ["start"], "ready came after the start hook");
    let _ = stop.send(());
    served.await.expect("the task ends").expect("a clean stop");
    assert_eq!(counted.hooks.get(), ["start", "stop"]);
}
