//! Operator approval over HTTP, on real sockets: a call the `[approval]`
//! policy names waits `pending` (its device code not called) until an
//! operator other than the caller approves it; a rejection, the deadline
//! or a cancellation ends it without running it; the caller cannot approve
//! their own call, an observer cannot approve at all.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{TestServer, read, start};
use labthings::prelude::*;
use labthings::{ApprovalPolicy, ApprovalRule, AuthConfig, Credential, Role, ServerConfig, User};
use serde_json::{Value, json};

/// A laser whose `fire` counts the times device code ran.
#[thing]
#[derive(Default)]
pub struct Laser {
    fired: AtomicUsize,
}

#[thing]
impl Laser {
    /// Fire one pulse; how many so far.
    #[action(approval)]
    fn fire(&self, #[param(minimum = 1, maximum = 10)] pulses: u32) -> usize {
        self.fired.fetch_add(pulses as usize, Ordering::SeqCst) + pulses as usize
    }

    /// How many pulses device code has fired.
    #[property]
    fn fired(&self) -> usize {
        self.fired.load(Ordering::SeqCst)
    }
}

const ROBOT: &str = "robot-token-0123456789abcdef";
const ALICE: &str = "alice-token-0123456789abcdef";
const CAROL: &str = "carol-token-0123456789abcdef";

/// The robot's calls of every laser action wait for approval; alice
/// operates, carol observes.
async fn lab(timeout: Duration) -> TestServer {
    let users = vec![
        User::new("robot", Role::Operate, Credential::token(ROBOT)),
        User::new("alice", Role::Operate, Credential::token(ALICE)),
        User::new("carol", Role::Observe, Credential::token(CAROL)),
    ];
    let config = ServerConfig::default().with(|c| {
        c.settings_dir = None;
        c.auth = AuthConfig::for_users(users);
        c.approval = ApprovalPolicy::default()
            .timeout(timeout)
            .rule(ApprovalRule::default().users(["robot"]).actions(["laser.*"]));
    });
    let server = labthings::Server::builder()
        .config(config)
        .thing("laser", Laser::default())
        .build()
        .expect("build");
    start(server).await
}

async fn send(
    server: &TestServer,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let url = if path.starts_with("http") {
        path.to_owned()
    } else {
        server.at(path)
    };
    let mut request = server.client.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    read(request.send().await.expect("a request")).await
}

async fn fired(server: &TestServer) -> Value {
    send(server, ALICE, reqwest::Method::GET, "/laser/fired", None).await.1
}

async fn invocation(server: &TestServer, id: &str) -> Value {
    send(
        server,
        ALICE,
        reqwest::Method::GET,
        &format!("/action_invocations/{id}"),
        None,
    )
    .await
    .1
}

/// The robot asks to fire; the invocation it is answered with.
async fn robot_fires(server: &TestServer) -> (String, Value) {
    let (status, body) = send(
        server,
        ROBOT,
        reqwest::Method::POST,
        "/laser/fire",
        Some(json!({"pulses": 2})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    (body["id"].as_str().expect("an id").to_owned(), body)
}

async fn wait_end(server: &TestServer, id: &str) -> Value {
    for _ in 0..2000 {
        let now = invocation(server, id).await;
        if ["completed", "cancelled", "error"].contains(&now["status"].as_str().unwrap_or("")) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("invocation {id} did not end");
}

#[tokio::test]
async fn a_named_callers_call_waits_until_another_operator_approves() {
    let server = lab(Duration::from_secs(300)).await;
    // The TD says the action is marked, in the TD's own vocabulary.
    let (_, td) = send(&server, ALICE, reqwest::Method::GET, "/laser/", None).await;
    assert_eq!(td["actions"]["fire"]["lt:approval"], true, "{td}");
    common::assert_valid_td(&td);
    let (id, asked) = robot_fires(&server).await;
    assert_eq!(asked["status"], "pending", "{asked}");
    assert_eq!(asked["approval"]["state"], "awaiting", "{asked}");
    assert_eq!(asked["approval"]["caller"], "robot", "{asked}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let now = invocation(&server, &id).await;
    assert_eq!(now["status"], "pending", "still waiting: {now}");
    assert_eq!(fired(&server).await, json!(0), "device code ran before approval");

    // The caller may not approve their own call; an observer may not approve.
    let approve = format!("/action_invocations/{id}/approve");
    let (status, body) = send(&server, ROBOT, reqwest::Method::POST, &approve, None).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["detail"].as_str().unwrap_or("").contains("another operator"),
        "{body}"
    );
    let (status, body) = send(&server, CAROL, reqwest::Method::POST, &approve, None).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(fired(&server).await, json!(0));

    // alice approves (the link the invocation gave); it runs.
    let link = asked["approval"]["approve"].as_str().expect("an approve link");
    let (status, body) = send(&server, ALICE, reqwest::Method::POST, link, None).await;
    assert_eq!(status, 200, "{body}");
    let done = wait_end(&server, &id).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], json!(2));
    assert_eq!(done["approval"]["state"], "approved");
    assert_eq!(done["approval"]["decided_by"], "alice");
    assert_eq!(fired(&server).await, json!(2));

    // Deciding again is a conflict, not a second run.
    let (status, body) = send(&server, ALICE, reqwest::Method::POST, &approve, None).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(fired(&server).await, json!(2));
}

#[tokio::test]
async fn a_rejected_expired_or_cancelled_call_never_runs() {
    let server = lab(Duration::from_millis(400)).await;
    // Rejected.
    let (rejected, _) = robot_fires(&server).await;
    let (status, body) = send(
        &server,
        ALICE,
        reqwest::Method::POST,
        &format!("/action_invocations/{rejected}/reject"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let end = wait_end(&server, &rejected).await;
    assert_eq!(end["status"], "error", "{end}");
    assert_eq!(end["approval"]["state"], "rejected", "{end}");
    assert!(end["error"]["detail"].as_str().unwrap_or("").contains("alice"), "{end}");

    // Cancelled by the caller while it waits.
    let (cancelled, _) = robot_fires(&server).await;
    let (status, _) = send(
        &server,
        ROBOT,
        reqwest::Method::DELETE,
        &format!("/action_invocations/{cancelled}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(wait_end(&server, &cancelled).await["status"], "cancelled");
    let (status, body) = send(
        &server,
        ALICE,
        reqwest::Method::POST,
        &format!("/action_invocations/{cancelled}/approve"),
        None,
    )
    .await;
    assert_eq!(status, 409, "approving a cancelled call: {body}");

    // Nobody decides: it expires.
    let (expired, _) = robot_fires(&server).await;
    let end = wait_end(&server, &expired).await;
    assert_eq!(end["status"], "error", "{end}");
    assert_eq!(end["approval"]["state"], "expired", "{end}");
    assert_eq!(fired(&server).await, json!(0), "a call that was not approved ran");

    // Another operator's calls run at once.
    let (status, body) = send(
        &server,
        ALICE,
        reqwest::Method::POST,
        "/laser/fire?return=output",
        Some(json!({"pulses": 1})),
    )
    .await;
    assert_eq!((status, body), (200, json!(1)));
}

#[tokio::test]
async fn bad_input_is_refused_before_it_waits() {
    let server = lab(Duration::from_secs(300)).await;
    let (status, body) = send(
        &server,
        ROBOT,
        reqwest::Method::POST,
        "/laser/fire",
        Some(json!({"pulses": 99})),
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let (_, all) = send(&server, ALICE, reqwest::Method::GET, "/action_invocations", None).await;
    assert_eq!(
        all.as_array().map(Vec::len),
        Some(0),
        "a refused call waits for nobody: {all}"
    );
    let (status, body) = send(
        &server,
        ALICE,
        reqwest::Method::POST,
        "/action_invocations/00000000-0000-0000-0000-000000000000/approve",
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
}
