//! The router, the OpenAPI document and the TD forms describe the same
//! endpoints, checked from outside over a real socket on the mock lab and
//! the bench:
//!
//! - every OpenAPI operation is routed (the server does not answer it with
//!   the router's own 404 or a 405);
//! - every TD form and link (HTTP ones; the method from `htv:methodName` or
//!   the WoT default of its operation) is an OpenAPI operation;
//! - every path the server routes among the ones a client could guess from
//!   the TDs (each affordance and link name, with the suffixes the server
//!   uses and some it does not, under every method) is an OpenAPI operation,
//!   or one of the two kinds of path documented as undocumented (the TD at
//!   `/{thing}` without its slash; nothing else).
//!
//! So a route added without an OpenAPI operation (at a guessable path), an
//! operation or a form without a route, or a form for a method the server
//! does not route, fails here.
//!
//! And reads of data properties, answered in front of the router from a
//! table (`front.rs`), answer as the router does, under the prefix only,
//! and leave the credential check and CORS headers to the router.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

#[allow(dead_code, unreachable_pub)]
#[path = "../benches/servers/bench.rs"]
mod bench;

use std::collections::BTreeSet;

use common::{TestServer, start};
use labthings::{Server, ServerConfig};
use serde_json::Value;

/// A path and a method (upper case), as OpenAPI lists them.
type Operation = (String, String);

/// The id put where a path has `{id}`.
const SOME_ID: &str = "00000000-0000-4000-8000-000000000000";

/// Every operation of the server's OpenAPI document.
async fn documented(server: &TestServer) -> BTreeSet<Operation> {
    let (status, openapi) = server.get("/openapi.json").await;
    assert_eq!(status, 200);
    let mut operations = BTreeSet::new();
    for (path, item) in openapi["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            operations.insert((path.clone(), method.to_uppercase()));
        }
    }
    assert!(operations.len() > 20, "{operations:?}");
    operations
}

/// Whether `method path` reaches a route: anything but the router's own
/// 404 (`nothing is served at`) and 405.
async fn routed(server: &TestServer, method: &str, path: &str) -> bool {
    let url = server.at(&path.replace("{id}", SOME_ID));
    let method: reqwest::Method = method.parse().expect("a method");
    let mut request = server.client.request(method.clone(), &url);
    if method == reqwest::Method::POST || method == reqwest::Method::PUT {
        // Not an input any action or property takes: nothing moves.
        request = request.header("content-type", "application/json").body("[[]]");
    }
    let response = request.send().await.expect("an answer");
    let status = response.status().as_u16();
    if status == 405 {
        return false;
    }
    if status != 404 {
        // Streams answer with headers first; the body is not awaited.
        return true;
    }
    let body: Value = response.json().await.unwrap_or(Value::Null);
    let detail = body["detail"].as_str().unwrap_or_default();
    !detail.contains("nothing is served at")
}

/// The WoT HTTP binding's default method of `op` (when a form says no
/// `htv:methodName`).
fn default_method(op: &str) -> &'static str {
    match op {
        "writeproperty" | "writemultipleproperties" | "writeallproperties" => "PUT",
        "invokeaction" => "POST",
        "cancelaction" => "DELETE",
        _ => "GET",
    }
}

/// Every HTTP operation the TD `td` (served with base `base`) describes:
/// its forms (each operation's method) and links (GET).
fn described(td: &Value, base: &str) -> BTreeSet<Operation> {
    let path_of = |href: &str| -> Option<String> {
        let path = match href.strip_prefix(base) {
            Some(rest) => format!("/{rest}"),
            None if href.starts_with('/') => href.to_owned(),
            None => return None, // another binding's form (mqtt://)
        };
        Some(path.split('?').next().unwrap_or_default().to_owned())
    };
    let mut operations = BTreeSet::new();
    let mut add_forms = |forms: &Value| {
        for form in forms.as_array().into_iter().flatten() {
            let Some(path) = form["href"].as_str().and_then(path_of) else {
                continue;
            };
            let ops: Vec<&str> = match &form["op"] {
                Value::String(op) => vec![op],
                Value::Array(ops) => ops.iter().filter_map(Value::as_str).collect(),
                _ => vec!["readproperty"],
            };
            for op in ops {
                let method = form["htv:methodName"].as_str().unwrap_or(default_method(op));
                operations.insert((path.clone(), method.to_owned()));
            }
        }
    };
    add_forms(&td["forms"]);
    for kind in ["properties", "actions", "events"] {
        for affordance in td[kind].as_object().into_iter().flat_map(|a| a.values()) {
            add_forms(&affordance["forms"]);
        }
    }
    for link in td["links"].as_array().into_iter().flatten() {
        if let Some(path) = link["href"].as_str().and_then(path_of) {
            operations.insert((path, "GET".to_owned()));
        }
    }
    operations
}

/// The paths a client could guess from the TDs of `things`.
fn guessable(tds: &[(String, Value)]) -> BTreeSet<String> {
    const SUFFIXES: [&str; 9] = [
        "observe", "reset", "output", "ws", "history", "cancel", "status", "settings", "logs",
    ];
    let mut paths: BTreeSet<String> = [
        "/things",
        "/things/",
        "/thing_descriptions",
        "/thing_descriptions/",
        "/action_invocations",
        "/action_invocations/",
        "/action_invocations/{id}",
        "/blob",
        "/blob/{id}",
        "/settings_warnings",
        "/openapi.json",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for suffix in SUFFIXES {
        paths.insert(format!("/action_invocations/{{id}}/{suffix}"));
        paths.insert(format!("/blob/{{id}}/{suffix}"));
    }
    for (thing, td) in tds {
        paths.insert(format!("/{thing}"));
        paths.insert(format!("/{thing}/"));
        let mut names: Vec<String> = ["properties", "actions", "events"]
            .iter()
            .flat_map(|kind| td[*kind].as_object().into_iter().flat_map(|a| a.keys().cloned()))
            .collect();
        for link in td["links"].as_array().into_iter().flatten() {
            if let Some(name) = link["href"].as_str().and_then(|h| h.rsplit('/').next()) {
                names.push(name.to_owned());
            }
        }
        names.extend(SUFFIXES.iter().map(|s| (*s).to_owned()));
        for name in names {
            paths.insert(format!("/{thing}/{name}"));
            for suffix in SUFFIXES {
                paths.insert(format!("/{thing}/{name}/{suffix}"));
            }
        }
    }
    paths
}

/// The three checks on `server`, serving `things`; the problems found.
async fn check(server: &TestServer, things: &[&str]) -> Vec<String> {
    let mut problems = Vec::new();
    let operations = documented(server).await;
    for (path, method) in &operations {
        if !routed(server, method, path).await {
            problems.push(format!("OpenAPI lists {method} {path}, which is not routed"));
        }
    }
    let mut tds = Vec::new();
    for thing in things {
        let (status, td) = server.get(&format!("/{thing}/")).await;
        assert_eq!(status, 200);
        let base = td["base"].as_str().expect("a base").to_owned();
        for (path, method) in described(&td, &base) {
            if !operations.contains(&(path.clone(), method.clone())) {
                problems.push(format!(
                    "the TD of {thing} has a form for {method} {path}, not in OpenAPI"
                ));
            }
        }
        tds.push(((*thing).to_owned(), td));
    }
    let undocumented: BTreeSet<String> = things.iter().map(|t| format!("/{t}")).collect();
    let mut checked = 0;
    for path in guessable(&tds) {
        for method in ["GET", "PUT", "POST", "DELETE", "PATCH"] {
            checked += 1;
            let listed = operations.contains(&(path.clone(), method.to_owned()));
            if !listed && routed(server, method, &path).await {
                let allowed = method == "GET" && undocumented.contains(&path);
                if !allowed {
                    problems.push(format!("{method} {path} is routed but not in OpenAPI"));
                }
            }
        }
    }
    assert!(checked > 500, "only {checked} guesses");
    eprintln!("{checked} guessed paths and methods tried");
    problems
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_openapi_and_td_forms_agree() {
    let config = || ServerConfig::default().with(|c| c.settings_dir = None);
    let lab = start(mock_lab::build(config()).expect("the mock lab builds")).await;
    let mut problems = check(&lab, &["stage", "camera", "autofocus", "thermometer"]).await;
    let bench = Server::builder()
        .config(config())
        .thing("bench", bench::Bench::default())
        .build()
        .expect("build");
    let bench = start(bench).await;
    problems.extend(check(&bench, &["bench"]).await);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The answer to `GET path` with `origin`: status, content type, CORS
/// header and body.
async fn read(server: &TestServer, path: &str, origin: &str) -> (u16, String, String, String) {
    let response = server
        .client
        .get(server.at(path))
        .header("origin", origin)
        .send()
        .await
        .expect("an answer");
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let (status, kind, cors) = (
        response.status().as_u16(),
        header("content-type"),
        header("access-control-allow-origin"),
    );
    (status, kind, cors, response.text().await.expect("a body"))
}

/// Reads of data properties are answered in front of the router from a
/// table (`front.rs`): the same answer as the router's, under the prefix
/// only, and not when the router's layers must see the request (users:
/// the credential check; CORS: its headers).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_reads_in_front_of_the_router_answer_as_the_router_does() {
    let origin = "http://app.example";
    let bench = |config: ServerConfig| {
        Server::builder()
            .config(config.with(|c| c.settings_dir = None))
            .thing("bench", bench::Bench::default())
            .build()
            .expect("build")
    };
    let plain = start(bench(common::test_config())).await;
    let prefixed = start(bench(common::test_config().with(|c| c.api_prefix = "/lab".into()))).await;
    let cors = start(bench(common::test_config().with(|c| {
        c.security.cors = Some(labthings::http::CorsConfig::default());
        c.security.allowed_origins = vec![origin.into()];
    })))
    .await;
    let secured = start(bench(common::test_config().with(|c| {
        c.auth = labthings::AuthConfig::for_users(vec![labthings::User::new(
            "script",
            labthings::Role::Operate,
            labthings::Credential::token("a-token-of-the-route-table-test"),
        )])
    })))
    .await;

    let (status, kind, allowed, body) = read(&plain, "/bench/count", origin).await;
    assert_eq!(
        (status, kind.as_str(), allowed.as_str(), body.as_str()),
        (200, "application/json", "", "0")
    );
    assert_eq!(
        read(&prefixed, "/lab/bench/count", origin).await,
        (status, kind.clone(), allowed, body.clone())
    );
    let (status, _, _, _) = read(&prefixed, "/bench/count", origin).await;
    assert_eq!(status, 404, "only under the prefix");
    // The router's answer, with the CORS layer's header.
    let (status, kind, allowed, body) = read(&cors, "/bench/count", origin).await;
    assert_eq!(
        (status, kind.as_str(), allowed.as_str(), body.as_str()),
        (200, "application/json", origin, "0")
    );
    // Credentials are checked.
    let (status, _, _, _) = read(&secured, "/bench/count", origin).await;
    assert_eq!(status, 401);
    // A new value is read at once (no cache in front).
    let (status, _) = plain.put("/bench/count", serde_json::json!(41)).await;
    assert!(status < 300, "{status}");
    assert_eq!(read(&plain, "/bench/count", origin).await.3, "41");
}
