//! Blobs from another server (`[[remote_blobs]]`): an analysis server's
//! action takes a picture a camera server made, by its link. Two real
//! servers on real sockets (and the original LabThings-FastAPI 0.3.0 as the
//! camera server): a trusted link is fetched when the action reads it, with
//! the configured token, bounded in size; any other link is refused before
//! the action starts, and nothing is fetched from it.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::original::Original;
use common::{TestServer, free_port, read, start};
use labthings::prelude::*;
use labthings::{Credential, RemoteBlobSource, Role, Server, ServerConfig, User};
use serde_json::{Value, json};

/// The camera server's token for the analysis server (it may only observe).
const READER_TOKEN: &str = "reader-token-0123456789abcdef";
/// The token the test itself operates the camera server with.
const OPERATOR_TOKEN: &str = "operator-token-0123456789abcdef";

/// Makes pictures: `size` bytes counting up (modulo 251).
#[thing]
#[derive(Default)]
struct Camera;

#[thing]
impl Camera {
    /// A picture of `size` bytes.
    #[action]
    fn capture(&self, #[param(maximum = 10_000_000)] size: u32) -> Blob {
        Blob::from_bytes(picture(size), "image/x-test")
    }
}

fn picture(size: u32) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// What `checksum` finds.
#[model]
#[derive(Debug)]
pub struct Sum {
    /// How many bytes it has.
    pub len: u64,
    /// Their sum.
    pub sum: u64,
}

/// Analyses pictures, its own or another server's.
#[thing]
#[derive(Default)]
struct Analysis;

#[thing]
impl Analysis {
    /// Read the picture and add its bytes up.
    #[action]
    fn checksum(&self, image: Blob) -> Result<Sum, std::io::Error> {
        let bytes = image.read_bytes()?;
        Ok(Sum {
            len: bytes.len() as u64,
            sum: bytes.iter().map(|b| u64::from(*b)).sum(),
        })
    }

    /// The picture's media type, without reading it.
    #[action]
    fn kind(&self, image: Blob) -> String {
        image.media_type().to_owned()
    }
}

/// The camera server, which only signed-in users may use.
async fn camera_server() -> TestServer {
    let config = ServerConfig::default().with(|c| {
        c.settings_dir = None;
        c.auth.users = vec![
            User::new("analysis", Role::Observe, Credential::token(READER_TOKEN)),
            User::new("operator", Role::Operate, Credential::token(OPERATOR_TOKEN)),
        ];
    });
    start(
        Server::builder()
            .config(config)
            .thing("camera", Camera)
            .build()
            .expect("build the camera server"),
    )
    .await
}

/// A picture of `size` bytes on the camera server: its output's link.
async fn capture(camera: &TestServer, size: u32) -> Value {
    let response = camera
        .client
        .post(camera.at("/camera/capture?return=output"))
        .bearer_auth(OPERATOR_TOKEN)
        .json(&json!({ "size": size }))
        .send()
        .await
        .expect("capture");
    let (status, link) = read(response).await;
    assert_eq!(status, 200, "{link}");
    assert!(link["href"].is_string(), "{link}");
    link
}

/// A file holding `token`, in a folder of its own.
fn token_file(token: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("labthings-remote-blobs-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("a folder");
    let file = dir.join("camera.token");
    std::fs::write(&file, format!("{token}\n")).expect("write the token");
    file
}

/// The analysis server, trusting `sources`.
fn analysis_config(sources: Vec<RemoteBlobSource>) -> ServerConfig {
    ServerConfig::default().with(|c| {
        c.settings_dir = None;
        c.remote_blobs = sources;
    })
}

async fn analysis_server(sources: Vec<RemoteBlobSource>) -> TestServer {
    start(
        Server::builder()
            .config(analysis_config(sources))
            .thing("analysis", Analysis)
            .build()
            .expect("build the analysis server"),
    )
    .await
}

/// Invoke `action` of the analysis thing with `image`; the finished
/// invocation.
async fn analyse(analysis: &TestServer, action: &str, image: &Value) -> Value {
    let (status, invocation) = analysis
        .post(&format!("/analysis/{action}"), json!({ "image": image }))
        .await;
    assert_eq!(status, 201, "{invocation}");
    analysis.wait_finished(&invocation).await
}

fn trusting(url: &str, token: &str) -> RemoteBlobSource {
    let file = token_file(token);
    RemoteBlobSource::new(url).with(|s| s.token_file = Some(file))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_servers_blob_is_fetched_with_its_token_when_the_action_reads_it() {
    let camera = camera_server().await;
    let analysis = analysis_server(vec![trusting(&format!("{}/", camera.url), READER_TOKEN)]).await;
    let link = capture(&camera, 5000).await;

    let done = analyse(&analysis, "checksum", &link).await;
    assert_eq!(done["status"], "completed", "{done}");
    let expected: u64 = picture(5000).iter().map(|b| u64::from(*b)).sum();
    assert_eq!(done["output"], json!({"len": 5000, "sum": expected}), "{done}");
    assert_eq!(
        done["input"]["image"]["href"], link["href"],
        "the invocation's input shows the link it was given: {done}"
    );

    let done = analyse(&analysis, "kind", &link).await;
    assert_eq!(
        (&done["status"], &done["output"]),
        (&json!("completed"), &json!("image/x-test"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_is_fetched_only_when_read_and_a_refused_fetch_fails_the_action_naming_why() {
    let camera = camera_server().await;
    let link = capture(&camera, 5000).await;

    // The camera server refuses this token: the action that reads the blob
    // fails saying so; the one that does not read it never fetches it.
    let analysis = analysis_server(vec![trusting(
        &format!("{}/", camera.url),
        "not-a-token-of-anyone-here",
    )])
    .await;
    let done = analyse(&analysis, "checksum", &link).await;
    assert_eq!(done["status"], "error", "{done}");
    let detail = done["error"]["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains("could not fetch the blob") && detail.contains("token sent was not accepted"),
        "the error names the answer: {done}"
    );
    let done = analyse(&analysis, "kind", &link).await;
    assert_eq!(done["status"], "completed", "not read, not fetched: {done}");

    // Larger than the source allows.
    let small = trusting(&format!("{}/", camera.url), READER_TOKEN).with(|s| s.max_bytes = 1000);
    let analysis = analysis_server(vec![small]).await;
    let done = analyse(&analysis, "checksum", &link).await;
    assert_eq!(done["status"], "error", "{done}");
    assert!(
        done["error"]["detail"].to_string().contains("larger than 1000 bytes"),
        "{done}"
    );

    // A trusted server that is not there: the read fails, the server keeps
    // serving, and the next read of a good link works.
    let gone = format!("http://127.0.0.1:{}/", free_port());
    let analysis = analysis_server(vec![
        RemoteBlobSource::new(gone.as_str()),
        trusting(&format!("{}/", camera.url), READER_TOKEN),
    ])
    .await;
    let missing =
        json!({"href": format!("{gone}blob/67e55044-10b1-426f-9247-bb680e5fe0c8"), "media_type": "image/x-test"});
    let done = analyse(&analysis, "checksum", &missing).await;
    assert_eq!(done["status"], "error", "{done}");
    let done = analyse(&analysis, "checksum", &link).await;
    assert_eq!(done["status"], "completed", "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_to_a_server_not_trusted_is_refused_before_the_action_starts() {
    let camera = camera_server().await;
    let link = capture(&camera, 100).await;
    let href = link["href"].as_str().expect("an href").to_owned();
    let id = href.rsplit('/').next().expect("an id").to_owned();
    let port = camera.url.rsplit(':').next().expect("a port").to_owned();

    // Trusting nothing (the default), another port, or another path only.
    let other_port = format!("http://127.0.0.1:{}/", free_port());
    let other_path = format!("{}/cameras/", camera.url);
    for sources in [
        vec![],
        vec![trusting(&other_port, READER_TOKEN)],
        vec![trusting(&other_path, READER_TOKEN)],
    ] {
        let analysis = analysis_server(sources).await;
        let (status, body) = analysis.post("/analysis/checksum", json!({ "image": link })).await;
        assert_eq!(status, 422, "{body}");
        let message = body["detail"].to_string();
        assert!(
            message.contains(&href) && message.contains("[[remote_blobs]]"),
            "{body}"
        );
        let (_, invocations) = analysis.get("/action_invocations").await;
        assert_eq!(invocations, json!([]), "nothing started");
    }

    // Links that only look like the trusted server's.
    let analysis = analysis_server(vec![trusting(&format!("{}/", camera.url), READER_TOKEN)]).await;
    for lookalike in [
        format!("http://127.0.0.1:{port}.evil.example/blob/{id}"),
        format!("http://127.0.0.1:{port}@evil.example/blob/{id}"),
        format!("https://127.0.0.1:{port}/blob/{id}"),
        format!("http://user:secret@127.0.0.1:{port}/blob/{id}"),
        format!("ftp://127.0.0.1:{port}/blob/{id}"),
    ] {
        let image = json!({"href": lookalike, "media_type": "image/x-test"});
        let (status, body) = analysis.post("/analysis/checksum", json!({ "image": image })).await;
        assert_eq!(status, 422, "{lookalike}: {body}");
    }
    let (status, body) = analysis
        .post("/analysis/checksum", json!({"image": {"href": href}}))
        .await;
    assert_eq!(status, 422, "a link without its media type: {body}");
    assert!(body["detail"].to_string().contains("media_type"), "{body}");
}

#[test]
fn a_wrong_source_stops_the_build_naming_it() {
    let missing = std::env::temp_dir().join(format!("labthings-no-such-token-{}", uuid::Uuid::new_v4()));
    let cases = [
        (
            RemoteBlobSource::new("http://camera.lab:5000/").with(|s| s.token_file = Some(missing.clone())),
            "token_file",
        ),
        (
            RemoteBlobSource::new("http://reader:secret@camera.lab:5000/"),
            "not in the URL",
        ),
        (RemoteBlobSource::new("ftp://camera.lab/"), "http://"),
        (RemoteBlobSource::new("camera.lab:5000"), "http://"),
        (
            RemoteBlobSource::new("http://camera.lab:5000/").with(|s| s.username = Some("reader".into())),
            "password_env or password_file",
        ),
    ];
    for (source, expected) in cases {
        let url = source.url.clone();
        let error = match Server::builder()
            .config(analysis_config(vec![source]))
            .thing("analysis", Analysis)
            .build()
        {
            Ok(_) => panic!("{url}: built"),
            Err(error) => error.to_string(),
        };
        assert!(
            error.starts_with("remote_blobs: remote_blobs[0]") && error.contains(expected),
            "{url}: {error}"
        );
    }
}

/// The original LabThings-FastAPI serving `tests/interop/original_blobs.py`.
async fn original() -> Original {
    common::original::serve("camera", "original_blobs:Camera", "tests/interop").await
}

/// Invoke `action` on the original with `input` and wait: the status code
/// of the POST and the finished invocation (or the refusal).
async fn on_original(original: &Original, action: &str, input: Value) -> (u16, Value) {
    let client = reqwest::Client::new();
    let response = client
        .post(format!("{}/camera/{action}", original.url))
        .json(&input)
        .send()
        .await
        .expect("invoke on the original");
    let (status, invocation) = read(response).await;
    if status != 201 {
        return (status, invocation);
    }
    let href = invocation["href"].as_str().expect("an invocation href").to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let state: Value = client
            .get(&href)
            .send()
            .await
            .expect("poll")
            .json()
            .await
            .expect("JSON");
        if ["completed", "error", "cancelled"].contains(&state["status"].as_str().unwrap_or_default()) {
            return (status, state);
        }
        assert!(Instant::now() < deadline, "{state}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The same link to the original's picture, handed to three servers in one
/// run: the original's own blob input accepts only its own blobs; ours
/// refuses it unless configured to trust the original, then fetches it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blob_of_the_original_labthings_fastapi_is_fetched_where_the_original_refuses_another_servers() {
    let camera = original().await;
    let (_, captured) = on_original(&camera, "capture", json!({"size": 3000})).await;
    assert_eq!(captured["status"], "completed", "{captured}");
    let link = captured["output"].clone();
    assert!(
        link["href"].as_str().is_some_and(|h| h.starts_with(&camera.url)),
        "the original's link: {link}"
    );
    let (_, own) = on_original(&camera, "measure", json!({ "image": link })).await;
    assert_eq!(
        (&own["status"], &own["output"]),
        (&json!("completed"), &json!(3000)),
        "{own}"
    );

    // The original, given another server's blob: refused.
    let ours = camera_server().await;
    let foreign = capture(&ours, 3000).await;
    let foreign = json!({"href": foreign["href"], "media_type": "image/x-test"});
    let (status, refused) = on_original(&camera, "measure", json!({ "image": foreign })).await;
    assert_eq!(status, 422, "{refused}");
    println!("the original, given another server's blob: {status} {refused}");

    // Ours, not trusting the original (as before `[[remote_blobs]]`):
    // refused too.
    let untrusting = analysis_server(vec![]).await;
    let (status, body) = untrusting.post("/analysis/checksum", json!({ "image": link })).await;
    assert_eq!(status, 422, "{body}");
    println!("ours, trusting no other server: {status} {body}");

    // Ours, trusting the original: fetched.
    let analysis = analysis_server(vec![RemoteBlobSource::new(format!("{}/", camera.url))]).await;
    let done = analyse(&analysis, "checksum", &link).await;
    assert_eq!(done["status"], "completed", "{done}");
    let expected: u64 = picture(3000).iter().map(|b| u64::from(*b)).sum();
    assert_eq!(done["output"], json!({"len": 3000, "sum": expected}), "{done}");
    println!("ours, trusting the original: {} {}", done["status"], done["output"]);
}
