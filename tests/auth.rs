//! Credentials and roles, over real sockets: every route family refuses
//! requests without valid credentials (401 with `WWW-Authenticate`) and
//! requests the user's role does not allow (403), the TD and the OpenAPI
//! document declare the schemes, and a server with no users will not listen
//! beyond loopback unless told so.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

use common::{TestServer, assert_valid_td, read, start};
use labthings::{AuthConfig, Credential, Role, ServerConfig, User};
use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

const ALICE_PASSWORD: &str = "alice's long password";
const BOB_TOKEN: &str = "bob-token-0123456789abcdef";
const CAROL_TOKEN: &str = "carol-token-0123456789abcdef";

/// alice operates everything (password), bob operates only the camera
/// (token), carol observes (token).
fn users() -> Vec<User> {
    vec![
        User::new("alice", Role::Operate, Credential::password(ALICE_PASSWORD)),
        User::new("bob", Role::Operate, Credential::token(BOB_TOKEN)).only_on(&["camera"]),
        User::new("carol", Role::Observe, Credential::token(CAROL_TOKEN)),
    ]
}

async fn lab_with(auth: AuthConfig) -> TestServer {
    let config = ServerConfig::default().with(|c| {
        c.settings_dir = None;
        c.auth = auth;
        // These tests send every kind of wrong credentials to every route
        // from one address; the allowance has a test of its own.
        c.auth.sign_in_burst = 0;
    });
    start(mock_lab::build(config).expect("the mock lab builds")).await
}

async fn secured_lab() -> TestServer {
    lab_with(AuthConfig::for_users(users())).await
}

#[derive(Clone, Copy, Debug)]
enum Who {
    Nobody,
    Alice,
    WrongPassword,
    UnknownUser,
    Bob,
    Carol,
    BadToken,
}

fn as_who(request: RequestBuilder, who: Who) -> RequestBuilder {
    match who {
        Who::Nobody => request,
        Who::Alice => request.basic_auth("alice", Some(ALICE_PASSWORD)),
        Who::WrongPassword => request.basic_auth("alice", Some("not it")),
        Who::UnknownUser => request.basic_auth("mallory", Some(ALICE_PASSWORD)),
        Who::Bob => request.bearer_auth(BOB_TOKEN),
        Who::Carol => request.bearer_auth(CAROL_TOKEN),
        Who::BadToken => request.bearer_auth("not-a-token-of-anyone-here"),
    }
}

/// Send `method path` as `who` (a JSON body for writes); status, headers
/// and body. Streams are not read: their status is what counts.
async fn send(lab: &TestServer, who: Who, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut request = lab.client.request(method, lab.at(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = as_who(request, who).send().await.expect("a response");
    let status = response.status().as_u16();
    let streaming = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/event-stream") || v.starts_with("multipart/"));
    if streaming {
        return (status, Value::Null);
    }
    read(response).await
}

/// Every operation of the lab's OpenAPI document, with `{id}` filled in:
/// `(method, path, needs a body)`. The document lists every route, so a new
/// route cannot escape these tests.
async fn operations(lab: &TestServer, invocation: &str, blob: &str) -> Vec<(Method, String)> {
    let (status, document) = lab.get("/openapi.json").await;
    assert_eq!(status, 200, "the OpenAPI document is public: {document}");
    let mut operations = Vec::new();
    for (path, item) in document["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            let id = if path.starts_with("/blob/") { blob } else { invocation };
            let path = path.replace("{id}", id);
            operations.push((method.to_uppercase().parse().expect("a method"), path));
        }
    }
    assert!(operations.len() > 30, "{operations:?}");
    operations
}

fn is_public(path: &str) -> bool {
    path == "/openapi.json" || path.starts_with("/docs")
}

/// A finished `snap` invocation's id and the id of its blob, made by alice.
async fn invocation_and_blob(lab: &TestServer) -> (String, String) {
    let (status, invocation) = send(lab, Who::Alice, Method::POST, "/camera/snap", Some(json!({}))).await;
    assert_eq!(status, 201, "{invocation}");
    let id = invocation["id"].as_str().expect("an id").to_owned();
    let finished = loop {
        let (_, now) = send(lab, Who::Alice, Method::GET, &format!("/action_invocations/{id}"), None).await;
        if now["status"] == "completed" {
            break now;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    };
    let href = finished["output"]["href"].as_str().expect("a blob href");
    let blob = href.rsplit('/').next().expect("a blob id").to_owned();
    (id, blob)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_needs_valid_credentials() {
    let lab = secured_lab().await;
    let (invocation, blob) = invocation_and_blob(&lab).await;
    for (method, path) in operations(&lab, &invocation, &blob).await {
        let body = (method != Method::GET).then(|| json!({}));
        if is_public(&path) {
            let (status, _) = send(&lab, Who::Nobody, method.clone(), &path, body).await;
            assert!(status < 400, "{method} {path} is public: {status}");
            continue;
        }
        for who in [Who::Nobody, Who::WrongPassword, Who::UnknownUser, Who::BadToken] {
            let response = as_who(lab.client.request(method.clone(), lab.at(&path)), who)
                .json(&json!({}))
                .send()
                .await
                .expect("a response");
            let challenges: Vec<String> = response
                .headers()
                .get_all("www-authenticate")
                .iter()
                .filter_map(|v| v.to_str().ok().map(str::to_owned))
                .collect();
            let (status, body) = read(response).await;
            assert_eq!(status, 401, "{who:?} {method} {path}: {body}");
            assert!(body["detail"].is_string(), "{who:?} {method} {path}: {body}");
            assert!(
                challenges.iter().any(|c| c.starts_with("Bearer realm=\"labthings\""))
                    && challenges.iter().any(|c| c.starts_with("Basic realm=\"labthings\"")),
                "{who:?} {method} {path}: {challenges:?}"
            );
        }
    }
    // The panel's static files load without credentials; it asks for them.
    for page in ["/", "/_panel/panel.js", "/_panel/panel.css", "/docs/"] {
        let response = lab.client.get(lab.at(page)).send().await.expect("GET");
        assert_eq!(response.status(), 200, "{page}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_observer_reads_everything_and_changes_nothing() {
    let lab = secured_lab().await;
    let (invocation, blob) = invocation_and_blob(&lab).await;
    for (method, path) in operations(&lab, &invocation, &blob).await {
        if is_public(&path) || path.ends_with("/ws") {
            continue;
        }
        let body = (method != Method::GET).then(|| json!({}));
        let (status, answer) = send(&lab, Who::Carol, method.clone(), &path, body).await;
        if method == Method::GET {
            assert_eq!(status, 200, "carol may read {path}: {answer}");
        } else {
            assert_eq!(status, 403, "carol may not {method} {path}: {answer}");
            let detail = answer["detail"].as_str().unwrap_or_default();
            assert!(
                detail.contains("carol") && detail.contains("observe"),
                "{method} {path}: {answer}"
            );
        }
    }
    // Nothing carol sent changed anything.
    assert_eq!(lab.get_as_alice("/stage/position").await, json!([0, 0, 0]));
    let (_, invocations) = send(&lab, Who::Alice, Method::GET, "/action_invocations", None).await;
    assert_eq!(
        invocations.as_array().map(Vec::len),
        Some(1),
        "only alice's snap: {invocations}"
    );
}

/// A small extension for reading as alice.
trait AsAlice {
    async fn get_as_alice(&self, path: &str) -> Value;
}

impl AsAlice for TestServer {
    async fn get_as_alice(&self, path: &str) -> Value {
        let (status, body) = send(self, Who::Alice, Method::GET, path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
        body
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operators_operate_where_their_role_allows() {
    let lab = secured_lab().await;
    // alice (password) may do anything.
    let (status, body) = send(&lab, Who::Alice, Method::PUT, "/stage/step_delay_ms", Some(json!(1))).await;
    assert_eq!(status, 201, "{body}");
    let (status, moved) = send(
        &lab,
        Who::Alice,
        Method::POST,
        "/stage/move_relative?return=output",
        Some(json!({"x": 3})),
    )
    .await;
    assert_eq!((status, moved), (200, json!([3, 0, 0])));
    // bob operates the camera only.
    let (status, body) = send(&lab, Who::Bob, Method::PUT, "/camera/exposure_ms", Some(json!(2.5))).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(lab.get_as_alice("/camera/exposure_ms").await, json!(2.5));
    let (status, body) = send(&lab, Who::Bob, Method::POST, "/stage/home", Some(json!({}))).await;
    assert_eq!(status, 403, "{body}");
    let detail = body["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("bob") && detail.contains("stage"), "{body}");
    assert_eq!(lab.get_as_alice("/stage/position").await, json!([3, 0, 0]), "no home");
    // bob may cancel the camera's invocations, not the stage's.
    let (status, slow) = send(
        &lab,
        Who::Alice,
        Method::POST,
        "/stage/move_relative",
        Some(json!({"x": 5000})),
    )
    .await;
    assert_eq!(status, 201, "{slow}");
    let path = format!("/action_invocations/{}", slow["id"].as_str().expect("an id"));
    // The invocation's SSE stream asks for credentials like every other route.
    let (status, body) = send(&lab, Who::Nobody, Method::GET, &format!("{path}/observe"), None).await;
    assert_eq!(status, 401, "{body}");
    let (status, body) = send(&lab, Who::Bob, Method::DELETE, &path, None).await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = send(&lab, Who::Alice, Method::DELETE, &path, None).await;
    assert_eq!(status, 200, "{body}");
    let (status, acquiring) = send(
        &lab,
        Who::Bob,
        Method::POST,
        "/camera/acquire",
        Some(json!({"count": 1000})),
    )
    .await;
    assert_eq!(status, 201, "{acquiring}");
    let path = format!("/action_invocations/{}", acquiring["id"].as_str().expect("an id"));
    let (status, body) = send(&lab, Who::Bob, Method::DELETE, &path, None).await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_can_pass_a_token_in_the_query_of_reads_only() {
    let lab = secured_lab().await;
    let (status, td) = send(
        &lab,
        Who::Nobody,
        Method::GET,
        &format!("/stage/?access_token={CAROL_TOKEN}"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{td}");
    // The token is taken out of the query before the route reads it.
    let (status, list) = send(
        &lab,
        Who::Nobody,
        Method::GET,
        &format!("/action_invocations?thing=stage&access_token={CAROL_TOKEN}"),
        None,
    )
    .await;
    assert_eq!((status, list), (200, json!([])));
    // The WebSocket (which browsers cannot give headers) opens with it.
    let ws = lab.url.replacen("http", "ws", 1);
    let opened = tokio_tungstenite::connect_async(format!("{ws}/stage/ws?access_token={CAROL_TOKEN}")).await;
    assert!(opened.is_ok(), "{:?}", opened.err());
    match tokio_tungstenite::connect_async(format!("{ws}/stage/ws")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!(
            "a WebSocket without credentials must be refused: {:?}",
            other.map(|_| ())
        ),
    }
    // A write is never authorized by the query: code that writes sets headers.
    let response = lab
        .client
        .put(lab.at(&format!("/camera/exposure_ms?access_token={BOB_TOKEN}")))
        .json(&json!(3.0))
        .send()
        .await
        .expect("PUT");
    assert_eq!(response.status(), 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn anonymous_observers_read_but_need_credentials_to_operate() {
    let lab = lab_with(AuthConfig::for_users(users()).with_anonymous(Some(Role::Observe))).await;
    let (status, position) = send(&lab, Who::Nobody, Method::GET, "/stage/position", None).await;
    assert_eq!((status, position), (200, json!([0, 0, 0])));
    let (status, body) = send(&lab, Who::Nobody, Method::PUT, "/stage/step_delay_ms", Some(json!(2))).await;
    assert_eq!(status, 403, "anonymous may observe only: {body}");
    let (status, body) = send(&lab, Who::BadToken, Method::GET, "/stage/position", None).await;
    assert_eq!(status, 401, "wrong credentials are not anonymous: {body}");
    let (status, body) = send(&lab, Who::Alice, Method::PUT, "/stage/step_delay_ms", Some(json!(2))).await;
    assert_eq!(status, 201, "{body}");
    // The TD says which forms need credentials.
    let (_, td) = send(&lab, Who::Nobody, Method::GET, "/stage/", None).await;
    assert_valid_td(&td);
    assert_eq!(td["securityDefinitions"]["nosec_sc"]["scheme"], "nosec");
    let position_forms = td["properties"]["position"]["forms"].as_array().expect("forms");
    assert!(
        position_forms.iter().all(|f| f["security"] == json!(["nosec_sc"])),
        "{td:#}"
    );
    let writable = &td["properties"]["step_delay_ms"]["forms"][0];
    assert!(
        writable.get("security").is_none(),
        "a writable form needs the TD's security"
    );
    assert!(
        td["actions"]["home"]["forms"]
            .as_array()
            .expect("forms")
            .iter()
            .any(|f| f.get("security").is_none()),
        "invoking needs credentials"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_td_and_openapi_declare_the_accepted_schemes() {
    let cases = [
        (
            vec![User::new("bob", Role::Operate, Credential::token(BOB_TOKEN))],
            json!(["bearer_sc"]),
        ),
        (
            vec![User::new("alice", Role::Operate, Credential::password(ALICE_PASSWORD))],
            json!(["basic_sc"]),
        ),
        (users(), json!(["combo_sc"])),
    ];
    for (users, security) in cases {
        let lab = lab_with(AuthConfig::for_users(users.clone())).await;
        let who = match users[0].credential.scheme() {
            "bearer" => Who::Bob,
            _ => Who::Alice,
        };
        for thing in ["stage", "camera", "autofocus"] {
            let (status, td) = send(&lab, who, Method::GET, &format!("/{thing}/"), None).await;
            assert_eq!(status, 200, "{td}");
            assert_valid_td(&td);
            assert_eq!(td["security"], security, "{thing}");
        }
        let (_, td) = send(&lab, who, Method::GET, "/stage/", None).await;
        let definitions = &td["securityDefinitions"];
        if security == json!(["combo_sc"]) {
            assert_eq!(
                definitions["combo_sc"],
                json!({"scheme": "combo", "oneOf": ["bearer_sc", "basic_sc"]})
            );
        }
        assert!(definitions.get("nosec_sc").is_none(), "{definitions}");
        for (name, scheme) in definitions.as_object().expect("definitions") {
            if scheme["scheme"] != "combo" {
                assert_eq!(scheme["in"], "header", "{name}");
            }
        }
        let (_, document) = lab.get("/openapi.json").await;
        let schemes = &document["components"]["securitySchemes"];
        assert_eq!(
            schemes.get("bearer").is_some(),
            users.iter().any(|u| u.credential.scheme() == "bearer")
        );
        assert_eq!(
            schemes.get("basic").is_some(),
            users.iter().any(|u| u.credential.scheme() == "basic")
        );
        assert!(document["paths"]["/stage/home"]["post"]["responses"]["401"].is_object());
        assert_eq!(document["paths"]["/openapi.json"]["get"]["security"], json!([]));
    }
    // Without users the TD says nosec, as before.
    let open = lab_with(AuthConfig::default()).await;
    let (_, td) = open.get("/stage/").await;
    assert_eq!(td["securityDefinitions"]["no_security"]["scheme"], "nosec");
    let (_, document) = open.get("/openapi.json").await;
    assert!(document.get("security").is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_users_the_server_listens_only_on_loopback_unless_told() {
    let build =
        |config: ServerConfig| mock_lab::build(config.with(|c| c.settings_dir = None)).expect("the mock lab builds");
    let refused = build(common::test_config()).bind("0.0.0.0:0").await;
    let message = refused.expect_err("0.0.0.0 without users").to_string();
    for hint in ["without credentials", "[[auth.users]]", "--insecure", "127.0.0.1"] {
        assert!(message.contains(hint), "{message}");
    }
    let insecure = build(common::test_config().with(|c| c.security.insecure = true));
    assert!(insecure.bind("0.0.0.0:0").await.is_ok());
    let secured = build(common::test_config().with(|c| c.auth = AuthConfig::for_users(users())));
    assert!(secured.bind("0.0.0.0:0").await.is_ok());
    assert!(build(common::test_config()).bind("127.0.0.1:0").await.is_ok());
}

#[test]
fn mistakes_in_the_users_of_a_configuration_file_name_their_key() {
    let dir = std::env::temp_dir().join(format!("labthings-users-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    std::fs::write(dir.join("short.token"), "short\n").expect("write");
    let short = dir.join("short.token");
    let cases = [
        (
            "name = \"a\"\nrole = \"operate\"\ntoken_sha256 = \"00\"\ntoken_env = \"X\"".to_owned(),
            "auth.users[0]: give exactly one of",
        ),
        (
            "name = \"a\"\nrole = \"operate\"".to_owned(),
            "auth.users[0]: give exactly one of",
        ),
        (
            "name = \"a\"\nrole = \"admin\"\ntoken_sha256 = \"00\"".to_owned(),
            "auth.users[0]: role: unknown role `admin`",
        ),
        (
            "name = \"a\"\nrole = \"observe\"\nthings = [\"stage\"]\ntoken_sha256 = \"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\"".to_owned(),
            "auth.users[0]: things",
        ),
        (
            "name = \"a\"\nrole = \"operate\"\ntoken_sha256 = \"xyz\"".to_owned(),
            "auth.users[0]: token_sha256: a token's SHA-256 is 64 hexadecimal digits",
        ),
        (
            "name = \"a\"\nrole = \"operate\"\npassword_hash = \"$2b$12$abcdefghijklmnopqrstuv\"".to_owned(),
            "auth.users[0]: password_hash",
        ),
        (
            format!("name = \"a\"\nrole = \"operate\"\ntoken_file = {:?}", short.display().to_string()),
            "auth.users[0]: token_file",
        ),
    ];
    for (user, expected) in cases {
        let path = dir.join("lab.toml");
        std::fs::write(&path, format!("[[auth.users]]\n{user}\n")).expect("write");
        let error = labthings::http::config_file::load(&path, &mock_lab::catalog(), |_| ())
            .expect_err("a bad user")
            .to_string();
        assert!(error.contains(expected), "{user}\n=> {error}");
    }
    std::fs::write(dir.join("lab.toml"), "[auth]\nanonymous = \"operate\"\n").expect("write");
    let error = labthings::http::config_file::load(&dir.join("lab.toml"), &mock_lab::catalog(), |_| ())
        .expect_err("anonymous operators")
        .to_string();
    assert!(error.contains("auth.anonymous"), "{error}");
    let _ = std::fs::remove_dir_all(dir);
}
