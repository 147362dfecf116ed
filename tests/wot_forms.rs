//! What a generic WoT client gets by following the TD's forms: the output
//! from `invokeaction`, `queryaction`/`cancelaction` through the `{id}` URI
//! variable, `queryallactions`, and errors it can show (the reason phrase).

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../benches/servers/bench.rs"]
mod bench;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

use std::time::Duration;

use common::faulty::Faulty;
use common::{TestServer, assert_valid_td, start};
use labthings::{Server, ServerConfig};
use serde_json::{Value, json};

async fn server() -> TestServer {
    start(
        Server::builder()
            .config(common::test_config())
            .thing("bench", bench::Bench::default())
            .thing("faulty", Faulty)
            .build()
            .expect("build"),
    )
    .await
}

/// The forms of `action` in the TD of `thing`.
async fn action_forms(server: &TestServer, thing: &str, action: &str) -> Vec<Value> {
    let (status, td) = server.get(&format!("/{thing}/")).await;
    assert_eq!(status, 200);
    td["actions"][action]["forms"].as_array().cloned().expect("forms")
}

/// The first form whose `op` lists `op`, as a generic client picks it.
fn form<'a>(forms: &'a [Value], op: &str) -> &'a Value {
    forms
        .iter()
        .find(|f| f["op"].as_array().is_some_and(|ops| ops.iter().any(|o| o == op)))
        .unwrap_or_else(|| panic!("no {op} form in {forms:?}"))
}

/// The reason phrase of a response (hyper keeps a non-canonical one).
fn reason(response: &reqwest::Response) -> String {
    response
        .extensions()
        .get::<hyper::ext::ReasonPhrase>()
        .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
        .unwrap_or_default()
}

/// Send the request a form describes (`{id}` expanded), with a JSON body.
async fn follow(server: &TestServer, form: &Value, id: Option<&str>, body: Option<Value>) -> reqwest::Response {
    let mut href = form["href"].as_str().expect("href").to_owned();
    if let Some(id) = id {
        href = href.replace("{id}", id);
    }
    let url = if href.starts_with("http") {
        href
    } else {
        server.at(&href)
    };
    let method = form["htv:methodName"].as_str().unwrap_or("GET");
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut request = server.client.request(method, url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_action_has_output_async_query_and_cancel_forms_in_a_valid_td() {
    let server = server().await;
    for thing in ["bench", "faulty"] {
        let (_, td) = server.get(&format!("/{thing}/")).await;
        assert_valid_td(&td);
        for (name, action) in td["actions"].as_object().expect("actions") {
            assert_eq!(action["synchronous"], true, "{name}");
            assert_eq!(action["uriVariables"]["id"]["format"], "uuid", "{name}");
            let forms = action["forms"].as_array().expect("forms");
            let ops: Vec<&Value> = forms.iter().map(|f| &f["op"]).collect();
            assert_eq!(
                ops,
                [
                    &json!(["invokeaction"]),
                    &json!(["invokeaction"]),
                    &json!(["queryaction"]),
                    &json!(["cancelaction"])
                ],
                "{name}"
            );
            assert_eq!(forms[0]["href"], format!("/{thing}/{name}?return=output"));
            assert_eq!(forms[1]["href"], format!("/{thing}/{name}"));
            assert_eq!(forms[2]["href"], "/action_invocations/{id}");
            assert_eq!(forms[3]["htv:methodName"], "DELETE");
        }
        let top = &td["forms"][0];
        assert_eq!(top["op"], json!(["queryallactions"]));
        assert_eq!(top["href"], format!("{}/action_invocations?thing={thing}", server.url));
        assert_eq!(td["schemaDefinitions"]["invocation"]["type"], "object");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_td_of_the_mock_lab_validates_with_its_new_forms() {
    let config = ServerConfig::default().with(|c| c.settings_dir = None);
    let server = start(mock_lab::build(config).expect("build")).await;
    let (_, all) = server.get("/thing_descriptions/").await;
    let tds = all.as_object().expect("TDs by name");
    assert_eq!(tds.len(), 4, "stage, camera, autofocus, thermometer");
    for td in tds.values() {
        assert_valid_td(td);
        assert!(
            td["forms"][0]["href"]
                .as_str()
                .is_some_and(|h| h.contains("action_invocations?thing="))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invokeaction_answers_the_output_and_queryaction_finds_the_invocation() {
    let server = server().await;
    let forms = action_forms(&server, "bench", "increment").await;
    let response = follow(&server, form(&forms, "invokeaction"), None, Some(json!({"by": 3}))).await;
    assert_eq!(response.status().as_u16(), 200);
    let location = response.headers()["location"].to_str().expect("ascii").to_owned();
    let output: Value = response.json().await.expect("JSON");
    assert_eq!(output, json!(3), "the integer the TD declares, not the invocation");

    let id = location.rsplit('/').next().expect("an id");
    let query = follow(&server, form(&forms, "queryaction"), Some(id), None).await;
    assert_eq!(query.status().as_u16(), 200);
    let invocation: Value = query.json().await.expect("JSON");
    assert_eq!(invocation["status"], "completed");
    assert_eq!(invocation["output"], 3);
    assert_eq!(invocation["input"], json!({"by": 3}));

    // The original's endpoint still answers 201 with the invocation.
    let (status, invocation) = server.post("/bench/increment", json!({"by": 1})).await;
    assert_eq!(status, 201);
    assert!(invocation["id"].is_string(), "{invocation}");

    // queryallactions lists this thing's invocations, oldest first.
    let (_, td) = server.get("/bench/").await;
    let all: Value = follow(&server, &td["forms"][0], None, None)
        .await
        .json()
        .await
        .expect("JSON");
    let outputs: Vec<&str> = all
        .as_array()
        .expect("list")
        .iter()
        .map(|i| i["action"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(outputs, ["/bench/increment", "/bench/increment"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelaction_ends_a_waiting_invokeaction_with_a_problem() {
    let server = server().await;
    let forms = action_forms(&server, "bench", "slow_task").await;
    let invoke = form(&forms, "invokeaction").clone();
    let waiting = {
        let client = server.client.clone();
        let url = server.at(invoke["href"].as_str().expect("href"));
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"duration_s": 60, "steps": 600}))
                .send()
                .await
        })
    };
    // Find it the way a client that did not start it would: queryallactions.
    let mut id = None;
    for _ in 0..100 {
        let (_, list) = server.get("/action_invocations?thing=bench&action=slow_task").await;
        if let Some(found) = list[0]["id"].as_str() {
            id = Some(found.to_owned());
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let id = id.expect("the invocation is listed while it runs");
    let cancel = follow(&server, form(&forms, "cancelaction"), Some(&id), None).await;
    assert_eq!(cancel.status().as_u16(), 200, "the contract: cancel answers 200 `null`");

    let response = waiting.await.expect("join").expect("the waiting POST is answered");
    assert_eq!(response.status().as_u16(), 500);
    assert_eq!(response.headers()["content-type"], "application/problem+json");
    let phrase = reason(&response);
    assert!(
        phrase.starts_with("Internal Server Error: InvocationCancelledError"),
        "{phrase}"
    );
    let problem: Value = response.json().await.expect("JSON");
    assert_eq!(problem["title"], "InvocationCancelledError");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_and_bad_input_reach_the_status_line() {
    let server = server().await;
    let fail = action_forms(&server, "faulty", "fail").await;
    let response = follow(
        &server,
        form(&fail, "invokeaction"),
        None,
        Some(json!({"reason": "stage jammed"})),
    )
    .await;
    assert_eq!(response.status().as_u16(), 500);
    let phrase = reason(&response);
    assert!(phrase.contains("stage jammed"), "{phrase}");
    let problem: Value = response.json().await.expect("JSON");
    assert_eq!(problem["detail"], "stage jammed");

    let explode = action_forms(&server, "faulty", "explode").await;
    let response = follow(&server, form(&explode, "invokeaction"), None, Some(json!({}))).await;
    assert_eq!(response.status().as_u16(), 500);
    assert!(reason(&response).contains("panicked"), "{}", reason(&response));
    assert!(!reason(&response).contains("action exploded"), "{}", reason(&response));

    let response = follow(&server, form(&fail, "invokeaction"), None, Some(json!({"reason": 5}))).await;
    assert_eq!(response.status().as_u16(), 422);
    let phrase = reason(&response);
    assert!(phrase.starts_with("Unprocessable Entity: body.reason: "), "{phrase}");
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["detail"][0]["loc"], json!(["body", "reason"]));

    // No output: `null`, which is what a TD without `output` implies.
    let nothing = action_forms(&server, "faulty", "nothing").await;
    let response = follow(&server, form(&nothing, "invokeaction"), None, Some(json!({}))).await;
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.json::<Value>().await.expect("JSON"), Value::Null);

    // Unknown values of the query parameters are named, not ignored.
    let (status, body) = server.post("/bench/increment?return=bogus", json!({})).await;
    assert_eq!(status, 422);
    assert_eq!(body["detail"][0]["loc"], json!(["query"]));
    let msg = body["detail"][0]["msg"].as_str().unwrap_or("");
    assert!(msg.contains("bogus") && msg.contains("return"), "{msg}");
    let (status, body) = server.get("/action_invocations?colour=red").await;
    assert_eq!(status, 422, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_td_follows_the_host_it_is_asked_with() {
    let server = server().await;
    for host in ["localhost:5000", "10.0.0.7:80", "localhost:5000"] {
        let td: Value = server
            .client
            .get(server.at("/bench/"))
            .header("host", host)
            .send()
            .await
            .expect("GET")
            .json()
            .await
            .expect("JSON");
        assert_eq!(td["base"], format!("http://{host}/"));
        assert_eq!(
            td["forms"][0]["href"],
            format!("http://{host}/action_invocations?thing=bench")
        );
    }
}
