//! The HTTP contract of guide/src/http-contract.md, exercised over a real socket against the
//! `bench` and `mock_lab` examples and a deliberately faulty thing.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../benches/servers/bench.rs"]
mod bench;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

use std::time::Duration;

use common::faulty::Faulty;
use common::{TestServer, assert_valid_td, start, start_thing};
use labthings::{Server, ServerConfig};
use serde_json::{Value, json};

async fn bench_server() -> TestServer {
    bench_server_with(common::test_config()).await
}

/// The bench alone, served with `config`.
async fn bench_server_with(config: ServerConfig) -> TestServer {
    start(
        Server::builder()
            .config(config)
            .thing("bench", bench::Bench::default())
            .build()
            .expect("build"),
    )
    .await
}

/// Every `"format": "..."` value in `value`, however deep.
fn collect_formats(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, child) in map {
                match (key.as_str(), child) {
                    ("format", Value::String(format)) => out.push(format.clone()),
                    _ => collect_formats(child, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_formats(item, out)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thing_descriptions_are_served_and_valid() {
    let server = start(
        Server::builder()
            .config(common::test_config())
            .thing("bench", bench::Bench::default())
            .thing("stage", mock_lab::Stage::default())
            .thing("camera", mock_lab::Camera::default())
            .build()
            .expect("build"),
    )
    .await;
    for name in ["bench", "stage", "camera"] {
        let (status, td) = server.get(&format!("/{name}/")).await;
        assert_eq!(status, 200);
        // TD 1.1's backward-compatible context: node-wot 0.9 accepts only this
        // form, the 1.0 context first; the camera, whose acquisitions report
        // intermediate results, adds the `lt` prefix of `lt:intermediate`.
        let mut context = json!([
            "https://www.w3.org/2019/wot/td/v1",
            "https://www.w3.org/2022/wot/td/v1.1"
        ]);
        // The camera reports intermediate results, the stage marks an
        // action for approval: both in labthings' own vocabulary.
        if (name == "camera" || name == "stage")
            && let Some(list) = context.as_array_mut()
        {
            list.push(json!({"lt": "urn:labthings:td#"}));
        }
        assert_eq!(td["@context"], context);
        assert_eq!(td["base"], format!("{}/", server.url));
        assert_valid_td(&td);
        // Only the formats JSON Schema defines: WoT clients warn about
        // schemars' "int64"/"uint64" (which the TDs carried before).
        let mut formats = Vec::new();
        collect_formats(&td, &mut formats);
        assert!(
            formats
                .iter()
                .all(|f| labthings::core::STANDARD_FORMATS.contains(&f.as_str())),
            "{name}: {formats:?}"
        );
    }
    let (_, td) = server.get("/bench/").await;
    assert_eq!(td["title"], "A benchmark thing with a counter.");
    assert_eq!(td["properties"]["count"]["type"], "integer");
    assert_eq!(td["properties"]["count"]["readOnly"], false);
    assert_eq!(td["properties"]["count"]["forms"][0]["href"], "/bench/count");
    assert_eq!(td["actions"]["increment"]["input"]["properties"]["by"]["default"], 1);
    assert_eq!(td["actions"]["increment"]["input"]["additionalProperties"], false);
    assert_eq!(td["actions"]["increment"]["output"]["type"], "integer");
    assert_eq!(td["actions"]["increment"]["forms"][0]["op"], json!(["invokeaction"]));
    let (_, stage) = server.get("/stage/").await;
    assert_eq!(stage["properties"]["position"]["readOnly"], true);
    assert_eq!(stage["properties"]["position"]["minItems"], 3);
    assert_eq!(stage["actions"]["move_relative"]["input"]["required"], json!(["x"]));

    let (status, all) = server.get("/thing_descriptions/").await;
    assert_eq!(status, 200);
    assert_eq!(all["camera"]["title"], "A mock camera.");
    let (status, things) = server.get("/things/").await;
    assert_eq!(status, 200);
    assert_eq!(things["stage"], format!("{}/stage/", server.url));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn property_read_write_round_trip() {
    let server = bench_server().await;
    assert_eq!(server.get("/bench/count").await, (200, json!(0)));
    assert_eq!(server.put("/bench/count", json!(41)).await, (201, Value::Null));
    assert_eq!(server.get("/bench/count").await, (200, json!(41)));
    assert_eq!(server.put("/bench/label", json!("hello")).await, (201, Value::Null));
    assert_eq!(server.get("/bench/label").await, (200, json!("hello")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn property_write_with_wrong_type_is_422() {
    let server = bench_server().await;
    let (status, body) = server.put("/bench/count", json!("x")).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["type"], "int_parsing");
    assert_eq!(body["detail"][0]["loc"], json!(["body"]));
    assert_eq!(body["detail"][0]["input"], "x");
    assert_eq!(server.get("/bench/count").await, (200, json!(0)), "nothing was written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_property_refuses_put_with_405_and_allow() {
    let server = start_thing("stage", mock_lab::Stage::default()).await;
    let response = server
        .client
        .put(server.at("/stage/position"))
        .json(&json!([1, 2, 3]))
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status().as_u16(), 405);
    let allow = response.headers()["allow"].to_str().expect("ascii").to_owned();
    assert!(allow.contains("GET") && !allow.contains("PUT"), "Allow: {allow}");
    let (_, body) = common::read(response).await;
    // The answer says why: the property is read-only (it used to say only
    // "method PUT is not allowed here").
    let detail = body["detail"].as_str().unwrap_or_default();
    for words in ["PUT", "`position`", "`stage`", "read-only"] {
        assert!(detail.contains(words), "{words} in {body}");
    }
    // Other paths still say only that the method is not served there.
    let (status, body) = server.put("/stage/", json!({})).await;
    assert_eq!(status, 405);
    assert!(
        !body["detail"].as_str().unwrap_or_default().contains("read-only"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invoke_poll_complete_with_output() {
    let server = bench_server().await;
    let response = server
        .client
        .post(server.at("/bench/increment"))
        .json(&json!({"by": 2}))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 201);
    let location = response.headers()["location"].to_str().expect("ascii").to_owned();
    let (_, invocation) = common::read(response).await;
    let id = invocation["id"].as_str().expect("id").to_owned();
    assert_eq!(location, format!("{}/action_invocations/{id}", server.url));
    assert_eq!(invocation["href"], location);
    assert_eq!(invocation["action"], "/bench/increment");
    assert_eq!(invocation["input"], json!({"by": 2}));
    assert_eq!(
        invocation["links"][0],
        json!({"href": location, "type": null, "rel": "self", "anchor": null})
    );
    assert_eq!(invocation["links"][1]["href"], format!("{location}/output"));
    assert!(["pending", "running", "completed"].contains(&invocation["status"].as_str().unwrap_or_default()));
    assert!(
        invocation["timeRequested"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{invocation}"
    );

    let done = server.wait_finished(&invocation).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["output"], 2);
    assert_eq!(done["error"], Value::Null);
    assert!(done["timeStarted"].is_string() && done["timeCompleted"].is_string());
    assert_eq!(
        server.get(&format!("/action_invocations/{id}/output")).await,
        (200, json!(2))
    );
    assert_eq!(server.get("/bench/count").await, (200, json!(2)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn falsy_output_is_still_an_output() {
    let server = bench_server().await;
    let (_, invocation) = server.post("/bench/increment", json!({"by": 0})).await;
    let done = server.wait_finished(&invocation).await;
    assert_eq!(done["output"], 0);
    let id = done["id"].as_str().expect("id");
    assert_eq!(
        server.get(&format!("/action_invocations/{id}/output")).await,
        (200, json!(0))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn defaults_apply_for_empty_null_and_empty_object_bodies() {
    let server = bench_server().await;
    for body in ["", "null", "{}"] {
        let (status, invocation) = server.post_raw("/bench/increment", body).await;
        assert_eq!(status, 201, "body {body:?}: {invocation}");
        assert_eq!(invocation["input"], json!({"by": 1}), "body {body:?}");
        server.wait_finished(&invocation).await;
    }
    assert_eq!(server.get("/bench/count").await, (200, json!(3)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_lists_every_problem() {
    let server = start_thing("stage", mock_lab::Stage::default()).await;
    let (status, body) = server.post("/stage/move_relative", json!({"y": "up", "w": 1})).await;
    assert_eq!(status, 422, "{body}");
    let mut problems: Vec<(String, Value)> = body["detail"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|p| (p["type"].as_str().unwrap_or_default().to_owned(), p["loc"].clone()))
        .collect();
    problems.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        problems,
        vec![
            ("extra_forbidden".to_owned(), json!(["body", "w"])),
            ("int_parsing".to_owned(), json!(["body", "y"])),
            ("missing".to_owned(), json!(["body", "x"])),
        ]
    );
    let (_, list) = server.get("/action_invocations").await;
    assert_eq!(list, json!([]), "no invocation was created");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_json_is_422() {
    let server = bench_server().await;
    let (status, body) = server.post_raw("/bench/increment", "{\"by\": ").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["type"], "json_invalid");
    assert_eq!(body["detail"][0]["loc"][0], "body");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_a_running_slow_task() {
    let server = bench_server().await;
    let (status, invocation) = server
        .post("/bench/slow_task", json!({"duration_s": 4.0, "steps": 40}))
        .await;
    assert_eq!(status, 201);
    assert_eq!(invocation["input"], json!({"duration_s": 4.0, "steps": 40}));
    let href = invocation["href"].as_str().expect("href").to_owned();
    let id = invocation["id"].as_str().expect("id").to_owned();

    // Wait until a few steps are logged, then cancel.
    let mut steps_before = 0;
    for _ in 0..400 {
        let (_, now) = server.get(&format!("/action_invocations/{id}")).await;
        steps_before = now["log"].as_array().map_or(0, Vec::len);
        if steps_before >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(steps_before >= 3, "the task logged its steps");
    let (_, running) = server.get(&format!("/action_invocations/{id}/output")).await;
    assert!(
        running["detail"].as_str().is_some_and(|d| d.contains("running")),
        "{running}"
    );
    assert_eq!(
        server.delete(&format!("/action_invocations/{id}")).await,
        (200, Value::Null)
    );

    let done = server.wait_finished(&json!({"href": href})).await;
    assert_eq!(done["status"], "cancelled");
    let log = done["log"].as_array().expect("log");
    assert!(
        log.len() >= steps_before && log.len() < 40,
        "stopped mid-way after {} steps",
        log.len()
    );
    assert_eq!(log[0]["message"], "step 1 of 40");
    assert_eq!(log[0]["levelname"], "INFO");
    assert_eq!(log[0]["levelno"], 20);
    assert_eq!(log[0]["filename"], "bench.rs");
    assert!(log[0]["lineno"].as_u64().is_some_and(|n| n > 0));
    assert!(log[0]["created"].as_str().is_some_and(|c| c.ends_with('Z')));
    assert_eq!(done["error"]["title"], "InvocationCancelledError");
    assert_eq!(done["error"]["detail"], "The action was cancelled.");
    assert!(
        done["error"]["type"]
            .as_str()
            .is_some_and(|t| t.ends_with("InvocationCancelledError"))
    );

    // Cancelling a finished invocation is 503, without leaking enum names.
    let (status, body) = server.delete(&format!("/action_invocations/{id}")).await;
    assert_eq!(status, 503);
    let detail = body["detail"].as_str().expect("detail");
    assert!(
        detail.contains("cancelled") && !detail.contains("InvocationStatus"),
        "{detail}"
    );
    let (status, _) = server.get(&format!("/action_invocations/{id}/output")).await;
    assert_eq!(status, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handled_cancellation_can_be_cancelled_again() {
    let server = start_thing("faulty", Faulty).await;
    let (_, invocation) = server.post("/faulty/stubborn", Value::Null).await;
    let id = invocation["id"].as_str().expect("id").to_owned();
    // A pending invocation ends at once when cancelled: wait until it runs.
    for _ in 0..400 {
        let (_, now) = server.get(&format!("/action_invocations/{id}")).await;
        if now["status"] != "pending" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        server.delete(&format!("/action_invocations/{id}")).await,
        (200, Value::Null)
    );
    // Wait for the action to log that it handled the first one.
    for _ in 0..400 {
        let (_, now) = server.get(&format!("/action_invocations/{id}")).await;
        if now["log"].as_array().is_some_and(|l| !l.is_empty()) {
            assert_eq!(now["status"], "running");
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(
        server.delete(&format!("/action_invocations/{id}")).await,
        (200, Value::Null)
    );
    let done = server.wait_finished(&invocation).await;
    assert_eq!(done["status"], "cancelled");
    assert_eq!(done["log"][0]["message"], "ignoring the first cancellation");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_failures_never_take_the_server_down() {
    let server = start_thing("faulty", Faulty).await;

    let (_, invocation) = server.post("/faulty/explode", json!({})).await;
    let done = server.wait_finished(&invocation).await;
    assert_eq!(done["status"], "error");
    assert_eq!(done["error"]["title"], "Panic");
    // A panic's message stays in the server's log: clients (who read the
    // invocation and its log) learn only that the device code panicked.
    assert_eq!(
        done["error"]["detail"],
        "the device code panicked; the server's log has its message"
    );
    assert!(!done.to_string().contains("action exploded"), "{done}");
    assert_eq!(done["error"]["status"], 500);
    // Each kind of failure has a type of its own (it was null).
    assert_eq!(done["error"]["type"], "urn:labthings:problem:panic");
    assert!(
        done["log"]
            .as_array()
            .is_some_and(|l| l.iter().any(|r| r["levelname"] == "ERROR"))
    );

    let (_, invocation) = server.post("/faulty/fail", json!({"reason": "no sample"})).await;
    let done = server.wait_finished(&invocation).await;
    assert_eq!(done["status"], "error");
    assert_eq!(done["error"]["title"], "Error");
    assert_eq!(done["error"]["detail"], "no sample");
    assert_eq!(done["error"]["type"], "urn:labthings:problem:device-error");

    for (path, detail, kind) in [
        (
            "/faulty/broken",
            "sensor unplugged",
            "urn:labthings:problem:device-error",
        ),
        (
            "/faulty/panicky",
            "the device code panicked; the server's log has its message",
            "urn:labthings:problem:panic",
        ),
    ] {
        let response = server.client.get(server.at(path)).send().await.expect("GET");
        assert_eq!(response.status().as_u16(), 500);
        assert_eq!(response.headers()["content-type"], "application/problem+json");
        let (_, body) = common::read(response).await;
        assert_eq!(body["detail"], detail);
        assert_eq!(body["status"], 500);
        assert_eq!(body["type"], kind);
    }
    // Still serving.
    let (status, _) = server.get("/faulty/").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invocation_lookups_and_lists() {
    let server = bench_server().await;
    let (status, body) = server.get("/action_invocations/not-a-uuid").await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["type"], "uuid_parsing");
    assert_eq!(body["detail"][0]["loc"], json!(["path", "id"]));

    let unknown = "00000000-0000-4000-8000-000000000000";
    for path in [
        format!("/action_invocations/{unknown}"),
        format!("/action_invocations/{unknown}/output"),
    ] {
        let (status, body) = server.get(&path).await;
        assert_eq!(status, 404);
        assert_eq!(body["detail"], format!("No action invocation found with ID {unknown}"));
    }
    assert_eq!(server.delete(&format!("/action_invocations/{unknown}")).await.0, 404);

    let (_, first) = server.post("/bench/increment", json!({})).await;
    let (_, second) = server
        .post("/bench/slow_task", json!({"duration_s": 0.01, "steps": 1}))
        .await;
    server.wait_finished(&first).await;
    server.wait_finished(&second).await;
    let (_, increments) = server.get("/bench/increment").await;
    let increments = increments.as_array().expect("list");
    assert_eq!(increments.len(), 1);
    assert_eq!(increments[0]["id"], first["id"]);
    assert!(increments[0].get("input").is_none() && increments[0].get("log").is_none());
    let (_, all) = server.get("/action_invocations").await;
    let ids: Vec<&Value> = all.as_array().expect("list").iter().map(|i| &i["id"]).collect();
    assert_eq!(ids, vec![&first["id"], &second["id"]]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finished_invocations_expire_after_retention() {
    let config = common::test_config().with(|c| {
        c.invocations.retention = Duration::from_millis(300);
        c.limits.expiry_interval = Duration::from_millis(20);
    });
    let server = bench_server_with(config).await;
    let (_, invocation) = server.post("/bench/increment", json!({})).await;
    let done = server.wait_finished(&invocation).await;
    let id = done["id"].as_str().expect("id");
    assert_eq!(
        server.get(&format!("/action_invocations/{id}")).await.0,
        200,
        "kept right after finishing"
    );
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        server.get(&format!("/action_invocations/{id}")).await.0,
        404,
        "gone after retention"
    );
    assert_eq!(server.get("/action_invocations").await.1, json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_bodies_are_413_and_the_server_keeps_serving() {
    let config = common::test_config().with(|c| c.limits.body_limit = 64);
    let server = bench_server_with(config).await;
    let big = json!("x".repeat(1000));
    let (status, body) = server.put("/bench/label", big).await;
    assert_eq!(status, 413, "{body}");
    assert!(body["detail"].as_str().is_some_and(|d| d.contains("64")), "{body}");
    assert_eq!(server.get("/bench/label").await, (200, json!("")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_paths_and_wrong_methods() {
    let server = bench_server().await;
    let (status, body) = server.get("/nothing/here").await;
    assert_eq!(status, 404);
    assert!(
        body["detail"].as_str().is_some_and(|d| d.contains("/nothing/here")),
        "{body}"
    );

    let response = server
        .client
        .put(server.at("/bench/increment"))
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status().as_u16(), 405);
    let allow = response.headers()["allow"].to_str().expect("ascii").to_owned();
    assert!(allow.contains("POST") && allow.contains("GET"), "Allow: {allow}");
    let (_, body) = common::read(response).await;
    assert!(body["detail"].is_string(), "{body}");

    assert_eq!(server.post("/action_invocations", json!({})).await.0, 405);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_crate_records_and_per_action_retention() {
    let server = start_thing("faulty", Faulty).await;
    let (status, invocation) = server.post("/faulty/fleeting", Value::Null).await;
    assert_eq!(status, 201);
    let done = server.wait_finished(&invocation).await;
    assert_eq!(done["output"], 7);
    assert_eq!(done["log"].as_array().map(Vec::len), Some(1), "{done}");
    assert_eq!(done["log"][0]["message"], "logged with the log crate");
    assert_eq!(done["log"][0]["levelname"], "WARNING");
    // retention_secs = 1 overrides the server default of 300 s.
    tokio::time::sleep(Duration::from_millis(1300)).await;
    let id = done["id"].as_str().expect("id");
    assert_eq!(server.get(&format!("/action_invocations/{id}")).await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_cancels_running_invocations() {
    let server = Server::builder()
        .config(common::test_config())
        .thing("bench", bench::Bench::default())
        .build()
        .expect("build");
    let manager = server.manager().clone();
    let listening = server.bind("127.0.0.1:0").await.expect("bind");
    let url = listening.url();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(listening.serve_until(async move {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{url}/bench/slow_task"))
        .json(&json!({"duration_s": 60.0, "steps": 600}))
        .send()
        .await
        .expect("POST");
    let (_, invocation) = common::read(response).await;
    let id = invocation["id"].as_str().and_then(|id| id.parse().ok()).expect("id");
    let _ = stop.send(());
    let served = tokio::time::timeout(Duration::from_secs(10), serving).await;
    assert!(matches!(served, Ok(Ok(Ok(())))), "server stopped cleanly: {served:?}");
    let invocation = manager.get(id).expect("still retained");
    assert_eq!(invocation.status(), labthings::InvocationStatus::Cancelled);
}

/// The TD check above must be able to fail: a TD without its security
/// definitions is rejected by the same validator.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_td_schema_check_rejects_a_broken_td() {
    let Some(schema) = common::td_schema() else { return };
    let server = bench_server().await;
    let (_, mut td) = server.get("/bench/").await;
    let validator = jsonschema::validator_for(&schema).expect("the TD schema compiles");
    assert!(validator.is_valid(&td));
    td.as_object_mut().expect("an object").remove("securityDefinitions");
    assert!(!validator.is_valid(&td), "a TD without securityDefinitions must fail");
}
