//! The browser side: the control panel at `/` and the interactive API docs
//! at `/docs/` built from `/openapi.json`, checked with tools nobody here
//! wrote: openapi-spec-validator for the document, headless Chromium
//! (Debian's package, driven by playwright-core) for the pages.
//! `cargo xtask test` installs them (`tests/interop/setup.sh`); these tests check first.

mod common;

#[allow(dead_code, unreachable_pub)]
#[path = "../benches/servers/bench.rs"]
mod bench;
#[allow(dead_code, unreachable_pub)]
#[path = "../examples/mock_lab.rs"]
mod mock_lab;

use std::path::PathBuf;

use common::clients::{repo, run_client, setup};
use common::{TestServer, start};
use labthings::{AuthConfig, Credential, Role, Server, ServerConfig, User};
use serde_json::{Value, json};

/// The mock lab's three things and the bench, on one server.
async fn lab() -> TestServer {
    lab_with_settings(None).await
}

/// The same, with settings kept in `settings_dir`.
async fn lab_with_settings(settings_dir: Option<PathBuf>) -> TestServer {
    lab_under(settings_dir, "").await
}

/// The lab, served under `api_prefix` (empty: at the root).
async fn lab_under(settings_dir: Option<PathBuf>, api_prefix: &str) -> TestServer {
    start(
        mock_lab::builder()
            .config(ServerConfig::default().with(|c| {
                // The record of invocations inside the settings folder (not
                // beside it), so removing the folder leaves nothing behind.
                c.records.dir = settings_dir.as_ref().map(|dir| dir.join("records"));
                c.settings_dir = settings_dir;
                c.api_prefix = api_prefix.to_owned();
            }))
            .thing("stage", mock_lab::Stage::default())
            .thing("camera", mock_lab::Camera::default())
            .thing("autofocus", mock_lab::Autofocus::default())
            .thing("bench", bench::Bench::default())
            .build()
            .expect("build"),
    )
    .await
}

/// Run openapi-spec-validator on `document`; its printed verdict.
async fn validate(document: &Value, name: &str) -> Result<String, String> {
    let dir = repo().join("target/artifacts");
    std::fs::create_dir_all(&dir).expect("target/artifacts");
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(document).expect("JSON")).expect("write the document");
    let output = tokio::process::Command::new(repo().join(".venv-original/bin/python"))
        .arg(repo().join("tests/interop/validate_openapi.py"))
        .arg(&path)
        .output()
        .await
        .expect("run the validator");
    let verdict = String::from_utf8_lossy(&output.stdout).into_owned() + &String::from_utf8_lossy(&output.stderr);
    if output.status.success() {
        Ok(verdict)
    } else {
        Err(verdict)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_is_valid_openapi_3_1_and_covers_every_affordance() {
    setup();
    let server = lab().await;
    let (status, document) = server.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert_eq!(document["openapi"], "3.1.0");
    let verdict = validate(&document, "openapi.json").await;
    assert_eq!(verdict.as_deref().map(str::trim), Ok("valid"), "{verdict:?}");

    // The validator is not a rubber stamp: a dangling $ref is rejected.
    let mut broken = document.clone();
    broken["paths"]["/bench/count"]["get"]["responses"]["200"]["content"]["application/json"]["schema"] =
        json!({"$ref": "#/components/schemas/Missing"});
    let verdict = validate(&broken, "openapi-broken.json").await;
    assert!(verdict.as_ref().is_err_and(|v| v.contains("Missing")), "{verdict:?}");

    let paths = &document["paths"];
    for (thing, properties, actions) in [
        (
            "stage",
            &["position", "step_delay_ms", "steps_per_um"][..],
            &["move_relative", "move_absolute", "home"][..],
        ),
        ("camera", &["exposure_ms", "frames_acquired"], &["snap", "acquire"]),
        ("autofocus", &["best_z"], &["scan"]),
        ("bench", &["count", "label"], &["increment", "slow_task"]),
    ] {
        for property in properties {
            assert!(
                paths[format!("/{thing}/{property}")]["get"].is_object(),
                "{thing}.{property}"
            );
        }
        for action in actions {
            let post = &paths[format!("/{thing}/{action}")]["post"];
            for code in ["200", "201", "409", "422", "500"] {
                assert!(post["responses"][code].is_object(), "{thing}.{action} answers {code}");
            }
        }
    }
    let increment = &paths["/bench/increment"]["post"];
    // Every field has a default, so the body may also be `null` (or absent).
    let body = &increment["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(body["anyOf"][0]["properties"]["by"]["default"], 1, "{body}");
    assert_eq!(body["anyOf"][1]["type"], "null", "{body}");
    assert_eq!(
        increment["responses"]["200"]["content"]["application/json"]["schema"]["type"],
        "integer"
    );
    assert!(paths["/bench/label"]["put"].is_object());
    assert!(paths["/stage/position"]["put"].is_null(), "read-only: no PUT");
    assert!(paths["/camera/preview"]["get"]["responses"]["200"]["content"]["multipart/x-mixed-replace"].is_object());

    // Every parameterless GET the document lists is really served.
    for (path, item) in paths.as_object().expect("paths") {
        let streaming = path.ends_with("/ws")
            || path.ends_with("/observe")
            || path.contains("preview")
            || path == "/camera/frame_acquired";
        if item["get"].is_object() && !path.contains('{') && !streaming {
            let (status, _) = server.get(path).await;
            assert_eq!(status, 200, "GET {path}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secured_labs_openapi_document_is_valid_and_declares_its_schemes() {
    setup();
    let users = vec![
        User::new("alice", Role::Operate, Credential::password("alice's password")),
        User::new(
            "script",
            Role::Operate,
            Credential::token("a-token-for-the-script-0123"),
        ),
    ];
    for anonymous in [None, Some(Role::Observe)] {
        let server = start(
            mock_lab::build(ServerConfig::default().with(|c| {
                c.settings_dir = None;
                c.auth = AuthConfig::for_users(users.clone()).with_anonymous(anonymous);
            }))
            .expect("build"),
        )
        .await;
        let (status, document) = server.get("/openapi.json").await;
        assert_eq!(status, 200, "the document is public");
        let verdict = validate(&document, "openapi-secured.json").await;
        assert_eq!(
            verdict.as_deref().map(str::trim),
            Ok("valid"),
            "{anonymous:?}: {verdict:?}"
        );
        assert_eq!(
            document["components"]["securitySchemes"],
            json!({
                "bearer": {"type": "http", "scheme": "bearer", "description": "A token from the server's operator"},
                "basic": {"type": "http", "scheme": "basic", "description": "A user name and password"}
            })
        );
        assert_eq!(document["security"], json!([{"bearer": []}, {"basic": []}]));
        let read = &document["paths"]["/stage/position"]["get"];
        match anonymous {
            None => assert!(read.get("security").is_none(), "the document-wide requirement applies"),
            Some(_) => assert_eq!(read["security"][0], json!({}), "reads need no credentials"),
        }
        assert!(document["paths"]["/stage/home"]["post"].get("security").is_none());
        assert!(document["paths"]["/stage/home"]["post"]["responses"]["403"].is_object());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panel_and_the_docs_are_served_from_the_binary() {
    let server = lab().await;
    for (path, content_type) in [
        ("/", "text/html"),
        ("/_panel/panel.js", "text/javascript"),
        ("/_panel/panel.css", "text/css"),
        ("/docs/", "text/html"),
        ("/docs/swagger-ui-bundle.js", "text/javascript"),
        ("/docs/swagger-ui.css", "text/css"),
        ("/docs/swagger-initializer.js", "text/javascript"),
    ] {
        let response = server.client.get(server.at(path)).send().await.expect("GET");
        assert_eq!(response.status().as_u16(), 200, "{path}");
        let served = response.headers()["content-type"].to_str().unwrap_or("").to_owned();
        assert!(served.starts_with(content_type), "{path}: {served}");
        let body = response.text().await.expect("text");
        if !path.ends_with("bundle.js") && !path.ends_with(".css") {
            for scheme in ["src=\"http", "href=\"http", "url: \"http", "\"url\": \"http"] {
                assert!(!body.contains(scheme), "{path} loads nothing from elsewhere ({scheme})");
            }
        }
    }
    let initializer = server.get_text("/docs/swagger-initializer.js").await;
    // Relative to the docs page, so it follows an api_prefix.
    assert!(initializer.contains("\"../openapi.json\""), "{initializer}");
    let redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .get(server.at("/docs"))
        .send()
        .await
        .expect("GET /docs");
    assert_eq!(redirect.status().as_u16(), 308);
    assert_eq!(redirect.headers()["location"], "docs/");
    assert_eq!(server.get("/docs/nothing.js").await.0, 404);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_control_panel_drives_the_mock_lab_in_headless_chromium() {
    setup();
    // A settings file with a mistyped calibration: the panel must say so.
    let settings = std::env::temp_dir().join(format!("labthings-panel-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&settings).expect("a settings folder");
    std::fs::write(settings.join("stage.json"), r#"{"steps_per_um": "fast"}"#).expect("write");
    // Under an api_prefix, so the panel's relative URLs are put to the test
    // (the credentials test below drives it at the root).
    let server = lab_under(Some(settings.clone()), "/lab").await;
    let base = format!("{}/lab", server.url);
    let screenshot = repo().join("target/artifacts/panel.png");
    std::fs::create_dir_all(repo().join("target/artifacts")).expect("target/artifacts");
    let script = repo().join("tests/interop/panel_e2e.mjs");
    let stdout = run_client(
        PathBuf::from("node"),
        &[
            script.to_str().expect("a UTF-8 path"),
            &base,
            screenshot.to_str().expect("a UTF-8 path"),
        ],
    )
    .await;
    let _ = std::fs::remove_dir_all(settings);
    assert!(stdout.contains("steps passed, 0 failed"), "{stdout}");
    let png = std::fs::read(&screenshot).expect("the screenshot is kept");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "a PNG");
}

/// "Another site": a server on another port that answers every request with
/// an empty page (scripts write their attack into it); its URL.
async fn another_site() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                let page = "<!doctype html><title>another site</title>";
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{page}",
                    page.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            });
        }
    });
    url
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_panel_works_with_a_token_or_a_password_and_other_sites_still_cannot_drive_the_lab() {
    setup();
    let other_site = another_site().await;
    let (token, password) = ("panel-token-0123456789abcdef", "the panel user's password");
    let secured = |user: User| async move {
        start(
            mock_lab::build(ServerConfig::default().with(|c| {
                c.settings_dir = None;
                c.auth = AuthConfig::for_users(vec![user]);
            }))
            .expect("build"),
        )
        .await
    };
    let token_lab = secured(User::new("tech", Role::Operate, Credential::token(token))).await;
    let password_lab = secured(User::new("scientist", Role::Operate, Credential::password(password))).await;
    let script = repo().join("tests/interop/panel_auth.mjs");
    let stdout = run_client(
        PathBuf::from("node"),
        &[
            script.to_str().expect("a UTF-8 path"),
            &token_lab.url,
            token,
            &password_lab.url,
            "scientist",
            password,
            &other_site,
        ],
    )
    .await;
    assert!(stdout.contains("steps passed, 0 failed"), "{stdout}");
    assert!(stdout.contains(r#"{"cross_origin_post":"sent"}"#), "{stdout}");
    // The panel moved each stage; the other site's move of 500 never happened.
    let request = token_lab.client.get(token_lab.at("/stage/position")).bearer_auth(token);
    assert_eq!(
        common::read(request.send().await.expect("GET")).await,
        (200, json!([2, 0, 0]))
    );
    let request = password_lab
        .client
        .get(password_lab.at("/stage/position"))
        .basic_auth("scientist", Some(password));
    assert_eq!(
        common::read(request.send().await.expect("GET")).await,
        (200, json!([1, 0, 0]))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_on_another_site_cannot_drive_the_lab_from_a_browser() {
    setup();
    let evil = another_site().await;
    // The default lab, and a control that allows the attacking origin: the
    // control shows the browser really delivers these requests.
    let lab = lab().await;
    let control = start(
        Server::builder()
            .config(ServerConfig::default().with(|c| {
                c.settings_dir = None;
                c.security.allowed_origins = vec![evil.clone()];
            }))
            .thing("stage", mock_lab::Stage::default())
            .build()
            .expect("build"),
    )
    .await;
    for server in [&lab, &control] {
        assert_eq!(server.put("/stage/steps_per_um", json!(3.25)).await.0, 201);
    }
    let script = repo().join("tests/interop/cross_origin.mjs");
    let stdout = run_client(
        PathBuf::from("node"),
        &[script.to_str().expect("a UTF-8 path"), &evil, &lab.url, &control.url],
    )
    .await;
    let seen: Vec<Value> = stdout.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    assert_eq!(seen.len(), 2, "{stdout}");
    // The default lab refused everything.
    assert_eq!(seen[0]["websocket"], "refused", "{stdout}");
    assert_eq!(
        seen[0]["json_post"], "blocked",
        "no CORS, so the preflight fails: {stdout}"
    );
    assert_eq!(
        lab.get("/stage/steps_per_um").await,
        (200, json!(3.25)),
        "the calibration is kept"
    );
    assert_eq!(
        lab.get("/stage/position").await,
        (200, json!([0, 0, 0])),
        "the stage did not move"
    );
    assert_eq!(
        lab.get("/action_invocations").await,
        (200, json!([])),
        "nothing was invoked"
    );
    // The control, which allows that origin, was reached.
    assert_eq!(seen[1]["websocket"], "open", "{stdout}");
    assert_eq!(
        control.get("/stage/steps_per_um").await,
        (200, json!(1.0)),
        "the control was reset"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_approves_and_rejects_waiting_calls_in_the_panel() {
    setup();
    let (robot, alice) = ("robot-token-0123456789abcdef", "alice-token-0123456789abcdef");
    let users = vec![
        User::new("robot", Role::Operate, Credential::token(robot)),
        User::new("alice", Role::Operate, Credential::token(alice)),
    ];
    let config = ServerConfig::default().with(|c| {
        c.settings_dir = None;
        c.auth = AuthConfig::for_users(users);
        c.approval = labthings::ApprovalPolicy::default().rule(
            labthings::ApprovalRule::default()
                .users(["robot"])
                .actions(["stage.move_absolute"]),
        );
    });
    let server = start(mock_lab::build(config).expect("the mock lab builds")).await;
    let mut asked = Vec::new();
    for x in [5, 7] {
        let answer: Value = server
            .client
            .post(server.at("/stage/move_absolute"))
            .bearer_auth(robot)
            .json(&json!({"x": x, "y": 0, "z": 0}))
            .send()
            .await
            .expect("POST")
            .json()
            .await
            .expect("JSON");
        assert_eq!(answer["approval"]["state"], "awaiting", "{answer}");
        asked.push(answer["href"].as_str().expect("href").to_owned());
    }
    let screenshot = repo().join("target/artifacts/panel-approvals.png");
    std::fs::create_dir_all(repo().join("target/artifacts")).expect("target/artifacts");
    let script = repo().join("tests/interop/panel_approval.mjs");
    let stdout = run_client(
        PathBuf::from("node"),
        &[
            script.to_str().expect("a UTF-8 path"),
            &server.url,
            alice,
            screenshot.to_str().expect("a UTF-8 path"),
        ],
    )
    .await;
    assert!(stdout.contains("steps passed, 0 failed"), "{stdout}");
    let get = |href: String| {
        let request = server.client.get(href).bearer_auth(alice);
        async move { request.send().await.expect("GET").json::<Value>().await.expect("JSON") }
    };
    let mut approved = get(asked[0].clone()).await;
    for _ in 0..200 {
        if approved["status"] == "completed" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        approved = get(asked[0].clone()).await;
    }
    assert_eq!(approved["status"], "completed", "{approved}");
    assert_eq!(approved["output"], json!([5, 0, 0]));
    assert_eq!(approved["approval"]["decided_by"], "alice");
    let rejected = get(asked[1].clone()).await;
    assert_eq!(rejected["status"], "error", "{rejected}");
    assert_eq!(rejected["approval"]["state"], "rejected");
}
