//! `async fn` device code over real sockets: the mock lab's thermometer
//! (an async driver on tokio I/O) and a test thing that mixes sync and
//! async methods. Async actions run as tasks on the server's runtime with
//! the same status, log capture, progress, locks, cancellation and panic
//! containment as blocking ones.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{TestServer, start_lab, start_thing};
use labthings::prelude::*;
use serde_json::{Value, json};

async fn lab() -> TestServer {
    start_lab(mock_lab::build).await
}

fn log_messages(invocation: &Value) -> Vec<String> {
    invocation["log"]
        .as_array()
        .map(|log| {
            log.iter()
                .filter_map(|r| r["message"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_thermometers_async_driver_serves_properties_hooks_and_actions() {
    let server = lab().await;
    // The async start hook opened the port and asked the instrument.
    let (status, identity) = server.get("/thermometer/identity").await;
    assert_eq!((status, identity), (200, json!("MOCK-THERMO,SN 0042,1.0")));
    // An async getter and setter, with the schema's bounds.
    let (status, t) = server.get("/thermometer/temperature").await;
    assert_eq!(status, 200);
    assert!(t.as_f64().is_some_and(|t| (20.9..=22.1).contains(&t)), "{t}");
    assert_eq!(server.put("/thermometer/averaging", json!(5)).await.0, 201);
    assert_eq!(server.get("/thermometer/averaging").await.1, json!(5));
    assert_eq!(server.put("/thermometer/averaging", json!(500)).await.0, 422);

    // An async action: output, log lines, intermediate results, progress.
    let (status, invocation) = server
        .post("/thermometer/record", json!({"count": 4, "interval_ms": 10}))
        .await;
    assert_eq!(status, 201, "{invocation}");
    let done = server.wait_finished(&invocation).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"].as_array().map(Vec::len), Some(4));
    let log = log_messages(&done);
    assert_eq!(log.len(), 4, "{log:?}");
    assert!(log[3].starts_with("reading 4 of 4: "), "{log:?}");
    let ns: Vec<u64> = done["intermediate"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["n"].as_u64()).collect())
        .unwrap_or_default();
    assert_eq!(ns, vec![1, 2, 3, 4]);
    assert_eq!(done["progress"]["fraction"], 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_async_action_stops_at_its_next_await_or_where_it_decides() {
    let server = lab().await;
    // No cancel hook: dropped at its next `.await`, well before its 100 s.
    let (_, invocation) = server
        .post("/thermometer/record", json!({"count": 1000, "interval_ms": 100}))
        .await;
    // Once it has taken a reading or two.
    let id = invocation["id"].as_str().unwrap_or_default().to_owned();
    let deadline = Instant::now() + Duration::from_secs(10);
    while log_messages(&server.get(&format!("/action_invocations/{id}")).await.1).len() < 2 {
        assert!(Instant::now() < deadline, "it takes readings");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let asked = Instant::now();
    assert_eq!(server.cancel_and_wait(&invocation).await, 200);
    let done = server.wait_finished(&invocation).await;
    assert_eq!(done["status"], "cancelled", "{done}");
    // At its next await (a 100 ms sleep), not after its 1000 readings.
    assert!(asked.elapsed() < Duration::from_secs(5), "{:?}", asked.elapsed());
    assert_eq!(done["error"]["title"], "InvocationCancelledError");
    let readings = log_messages(&done).len();
    assert!(readings < 1000, "stopped part-way: {readings}");

    // With a cancel hook, device code decides: the hook's async sleep ends.
    let (_, waiting) = server
        .post(
            "/thermometer/wait_until_stable",
            json!({"tolerance": -1.0, "interval_ms": 50}),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(server.status(&waiting).await, "running");
    assert_eq!(server.cancel_and_wait(&waiting).await, 200);
    assert_eq!(server.wait_finished(&waiting).await["status"], "cancelled");
    // The port was left usable: nothing was dropped mid-query.
    assert_eq!(server.get("/thermometer/temperature").await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_actions_take_their_lock_like_blocking_ones() {
    let server = lab().await;
    let (_, first) = server
        .post("/thermometer/record", json!({"count": 5, "interval_ms": 60}))
        .await;
    let (_, second) = server
        .post("/thermometer/record", json!({"count": 1, "interval_ms": 0}))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(server.status(&first).await, "running");
    assert_eq!(server.status(&second).await, "pending", "waits for the thing's lock");
    let first = server.wait_finished(&first).await;
    let second = server.wait_finished(&second).await;
    assert_eq!(
        (first["status"].as_str(), second["status"].as_str()),
        (Some("completed"), Some("completed"))
    );
    let (first_done, second_started) = (
        first["timeCompleted"].as_str().unwrap_or_default().to_owned(),
        second["timeStarted"].as_str().unwrap_or_default().to_owned(),
    );
    assert!(second_started >= first_done, "{second_started} before {first_done}");
}

static STARTED: AtomicBool = AtomicBool::new(false);

/// Sync and async methods side by side.
#[thing]
#[derive(Default)]
struct Mixed {
    /// Set by the async start hook.
    #[property(read_only)]
    ready: DataProperty<bool>,
}

#[thing]
impl Mixed {
    /// An async start hook.
    #[on_start]
    async fn begin(&self) {
        tokio::task::yield_now().await;
        self.ready.set(true);
        STARTED.store(true, Ordering::SeqCst);
    }

    /// A blocking action: answers the name of the thread it ran on.
    #[action]
    fn blocking_thread(&self) -> String {
        std::thread::current().name().unwrap_or_default().to_owned()
    }

    /// An async action: answers the name of the thread it ran on, after
    /// logging across awaits (the log follows it to whichever thread polls
    /// it) and checking that its cancel hook is the invocation's.
    #[action]
    async fn async_thread(&self, handle: &InvocationHandle) -> String {
        for n in 0..3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
            tracing::info!("after await {n}");
        }
        assert_eq!(
            CancelHook::current().is_cancelled(),
            handle.cancel_hook().is_cancelled()
        );
        std::thread::current().name().unwrap_or_default().to_owned()
    }

    /// Panics after an await.
    #[action]
    async fn explode(&self) -> u32 {
        tokio::task::yield_now().await;
        panic!("the driver lost its mind")
    }

    /// An async getter.
    #[property]
    async fn answer(&self) -> u32 {
        tokio::task::yield_now().await;
        42
    }

    /// An async getter polled while observed (from the poll thread, on the
    /// server's runtime).
    #[property(poll_ms = 20)]
    async fn ticks(&self) -> u64 {
        tokio::time::sleep(Duration::from_millis(1)).await;
        TICKS.fetch_add(1, Ordering::SeqCst)
    }
}

static TICKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_and_async_mix_in_one_thing_and_an_async_panic_is_contained() {
    let server = start_thing("mixed", Mixed::default()).await;
    // Requests are answered once the start hooks have run.
    assert_eq!(server.get("/mixed/ready").await.1, json!(true));
    assert!(STARTED.load(Ordering::SeqCst), "the async start hook ran");
    assert_eq!(server.get("/mixed/answer").await, (200, json!(42)));

    let (_, blocking) = server.post("/mixed/blocking_thread", json!({})).await;
    let blocking = server.wait_finished(&blocking).await;
    let (_, asynchronous) = server.post("/mixed/async_thread", json!({})).await;
    let asynchronous = server.wait_finished(&asynchronous).await;
    assert_eq!(asynchronous["status"], "completed", "{asynchronous}");
    // Blocking actions run on invocation threads, async ones on the lab's
    // device runtime (never on the runtime that serves requests).
    let (blocking, asynchronous_thread) = (
        blocking["output"].as_str().unwrap_or_default(),
        asynchronous["output"].as_str().unwrap_or_default(),
    );
    assert!(blocking.starts_with("labthings"), "{blocking}");
    assert_eq!(asynchronous_thread, "labthings-device");
    assert_eq!(
        log_messages(&asynchronous),
        vec!["after await 0", "after await 1", "after await 2"]
    );

    let (_, exploded) = server.post("/mixed/explode", json!({})).await;
    let exploded = server.wait_finished(&exploded).await;
    assert_eq!(exploded["status"], "error", "{exploded}");
    assert_eq!(exploded["error"]["type"], "urn:labthings:problem:panic", "{exploded}");
    // The panic's message is for the server's log, not for clients.
    assert!(!exploded.to_string().contains("the driver lost its mind"), "{exploded}");
    assert!(
        exploded["error"]["detail"]
            .as_str()
            .is_some_and(|d| d.contains("panicked")),
        "{exploded}"
    );
    // The server goes on.
    assert_eq!(server.get("/mixed/answer").await, (200, json!(42)));

    // A polled async getter is observed: its changing values arrive.
    let mut observed = server
        .client
        .get(server.at("/mixed/ticks/observe"))
        .send()
        .await
        .expect("observe");
    let mut text = String::new();
    // Three values besides the `latest` message each stream starts with.
    while text.matches("data:").count() < 4 {
        let chunk = tokio::time::timeout(Duration::from_secs(10), observed.chunk())
            .await
            .expect("values within 10 s")
            .expect("no error")
            .expect("the stream goes on");
        text.push_str(&String::from_utf8_lossy(&chunk));
    }
}
