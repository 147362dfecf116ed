//! Endpoints a Thing declares (`#[endpoint]`, the original's `@endpoint`):
//! raw downloads and pages with parameters from the query string, typed
//! JSON answers and JSON request bodies, over real sockets; every mistake a
//! 4xx naming the problem, every device failure a 500 problem, and the
//! server keeps serving.

mod common;

use common::{assert_valid_td, start, start_thing};
use labthings::prelude::*;
use labthings::{Server, ServerConfig};
use serde_json::{Value, json};

/// A thing with one endpoint of each kind.
#[thing]
#[derive(Default)]
struct Recorder {
    /// How many times `clear` was called.
    #[property(read_only)]
    cleared: DataProperty<u32>,
    /// How many times `annotate` ran.
    #[property(read_only)]
    annotated: DataProperty<u32>,
}

#[thing]
impl Recorder {
    /// The recorded trace as CSV.
    ///
    /// One row per sample.
    #[endpoint]
    fn trace(
        &self,
        #[default(3)]
        #[param(minimum = 1, maximum = 100, description = "How many rows")]
        rows: u32,
        #[default(String::from("x"))] column: String,
        #[default(false)] header: bool,
        #[default(Vec::new())] scale: Vec<u32>,
    ) -> Raw {
        let factor: u32 = scale.iter().product();
        let mut csv = if header { format!("{column}\n") } else { String::new() };
        for row in 0..rows {
            csv.push_str(&format!("{}\n", row * factor.max(1)));
        }
        Raw::new("text/csv", csv)
    }

    /// A page with a title.
    #[endpoint(name = "page")]
    fn summary_page(&self, title: String) -> Raw {
        Raw::html(format!("<h1>{}</h1>", title.replace('<', "&lt;")))
    }

    /// One row of the trace, of the ten there are.
    #[endpoint]
    fn row(&self, index: u32) -> Result<Raw, BadRequest> {
        if index >= 10 {
            return Err(BadRequest::new(format!("there are 10 rows; {index} is past the end")));
        }
        Ok(Raw::text(index.to_string()))
    }

    /// Always fails, as a device that is switched off.
    #[endpoint]
    fn broken(&self) -> Result<Raw, std::io::Error> {
        Err(std::io::Error::other("the detector is switched off"))
    }

    /// Panics, as buggy device code would.
    #[endpoint]
    fn buggy(&self) -> Raw {
        panic!("index out of range in the driver")
    }

    /// Answers a media type no header can carry.
    #[endpoint]
    fn bad_media_type(&self) -> Raw {
        Raw::new("text/plain\nX-Evil: 1", "hello")
    }

    /// Clears the trace: a change, so it is a POST.
    #[endpoint(method = "post")]
    fn clear(&self) -> Raw {
        self.cleared.update(|n| *n += 1);
        Raw::text("cleared")
    }

    /// The trace's figures, as typed JSON.
    #[endpoint]
    fn stats(&self) -> Json<Stats> {
        Json(Stats {
            rows: 10,
            cleared: self.cleared.get(),
        })
    }

    /// Marks rows of the trace with a label: the marks are the JSON body,
    /// whether to only try is a query parameter.
    #[endpoint(method = "post")]
    fn annotate(&self, #[default(false)] dry_run: bool, marks: Json<Marks>) -> Result<Json<Annotated>, BadRequest> {
        self.annotated.update(|n| *n += 1);
        if let Some(row) = marks.rows.iter().find(|row| **row >= 10) {
            return Err(BadRequest::new(format!("there are 10 rows; {row} is past the end")));
        }
        Ok(Json(Annotated {
            label: marks.0.label,
            marked: marks.0.rows.len(),
            dry_run,
        }))
    }

    /// Counts the rows a filter keeps; without a body, all of them.
    #[endpoint(method = "put")]
    fn count(&self, filter: Json<Option<Marks>>) -> Json<usize> {
        Json(filter.0.map_or(10, |marks| marks.rows.len()))
    }
}

/// The trace's figures.
#[model]
#[derive(Debug, PartialEq)]
struct Stats {
    /// How many rows there are.
    rows: u32,
    /// How many times the trace was cleared.
    cleared: u32,
}

/// Rows to mark with a label.
#[model]
#[derive(Debug)]
struct Marks {
    /// The label.
    label: String,
    /// The rows (0 to 9).
    rows: Vec<u32>,
}

/// What `annotate` did.
#[model]
#[derive(Debug)]
struct Annotated {
    label: String,
    marked: usize,
    dry_run: bool,
}

/// POST or PUT `body` (text, with its content type) to `path`: the status,
/// the content type and the body.
async fn send_raw(
    server: &common::TestServer,
    method: reqwest::Method,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> (u16, String, Value) {
    let mut request = server.client.request(method, server.at(path)).body(body);
    if let Some(content_type) = content_type {
        request = request.header("content-type", content_type);
    }
    let response = request.send().await.expect("a response");
    let status = response.status().as_u16();
    let media_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, media_type, body)
}

async fn get_raw(server: &common::TestServer, path: &str) -> (u16, String, Vec<u8>) {
    let response = server.client.get(server.at(path)).send().await.expect("GET");
    let status = response.status().as_u16();
    let media_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let bytes = response.bytes().await.expect("a body").to_vec();
    (status, media_type, bytes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_answers_its_bytes_with_parameters_read_as_their_types() {
    let server = start_thing("recorder", Recorder::default()).await;
    let (status, media_type, bytes) = get_raw(&server, "/recorder/trace").await;
    assert_eq!((status, media_type.as_str()), (200, "text/csv"));
    assert_eq!(bytes, b"0\n1\n2\n", "the defaults");

    let (status, _, bytes) = get_raw(
        &server,
        "/recorder/trace?rows=2&column=t%20(s)&header=true&scale=2&scale=5",
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        String::from_utf8_lossy(&bytes),
        "t (s)\n0\n10\n",
        "a string, a bool and a repeated array"
    );

    let (status, media_type, bytes) = get_raw(&server, "/recorder/page?title=%3Cb%3EStage").await;
    assert_eq!((status, media_type.as_str()), (200, "text/html; charset=utf-8"));
    assert_eq!(bytes, b"<h1>&lt;b>Stage</h1>");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_parameters_are_a_422_naming_each_one() {
    let server = start_thing("recorder", Recorder::default()).await;
    let (status, body) = server.get("/recorder/trace?rows=many").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["loc"], json!(["query", "rows"]), "{body}");
    assert_eq!(body["detail"][0]["input"], json!("many"), "{body}");

    let (status, body) = server.get("/recorder/trace?rows=0").await;
    assert_eq!(status, 422, "below the minimum: {body}");
    assert_eq!(body["detail"][0]["loc"], json!(["query", "rows"]), "{body}");

    let (status, body) = server.get("/recorder/trace?rows=1&rows=2").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["type"], "query_repeated", "{body}");

    let (status, body) = server.get("/recorder/trace?colour=red").await;
    assert_eq!(status, 422, "an unknown parameter: {body}");
    let problems = body["detail"].to_string();
    assert!(problems.contains("colour"), "{body}");

    let (status, body) = server.get("/recorder/row?index=12").await;
    assert_eq!(status, 422, "refused by the device code: {body}");
    assert_eq!(body["detail"][0]["loc"], json!(["query"]), "{body}");
    assert_eq!(
        body["detail"][0]["msg"], "there are 10 rows; 12 is past the end",
        "{body}"
    );

    let (status, body) = server.get("/recorder/page").await;
    assert_eq!(status, 422, "a required parameter left out: {body}");
    assert_eq!(body["detail"][0]["type"], "missing", "{body}");
    assert!(body["detail"].to_string().contains("title"), "{body}");

    // The server kept serving.
    let (status, _, _) = get_raw(&server, "/recorder/trace").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_failures_and_panics_are_problems_and_the_server_keeps_serving() {
    let server = start_thing("recorder", Recorder::default()).await;
    let (status, body) = server.get("/recorder/broken").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["type"], "urn:labthings:problem:device-error", "{body}");
    assert_eq!(body["detail"], "the detector is switched off", "{body}");

    let (status, body) = server.get("/recorder/buggy").await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(body["type"], "urn:labthings:problem:panic", "{body}");
    // The panic's message is for the server's log only.
    assert!(!body.to_string().contains("index out of range"), "{body}");
    assert!(body["detail"].to_string().contains("panicked"), "{body}");

    let (status, body) = server.get("/recorder/bad_media_type").await;
    assert_eq!(status, 500, "{body}");
    assert!(body["detail"].to_string().contains("media type"), "{body}");

    let (status, _, bytes) = get_raw(&server, "/recorder/trace?rows=1").await;
    assert_eq!((status, bytes.as_slice()), (200, b"0\n".as_slice()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_is_served_only_on_its_method() {
    let server = start_thing("recorder", Recorder::default()).await;
    let (status, body) = server.get("/recorder/clear").await;
    assert_eq!(status, 405, "a POST endpoint read with GET: {body}");
    let response = server
        .client
        .post(server.at("/recorder/clear"))
        .send()
        .await
        .expect("POST");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.text().await.expect("text"), "cleared");
    let (_, cleared) = server.get("/recorder/cleared").await;
    assert_eq!(cleared, json!(1));
    let (status, _) = server.put("/recorder/trace", json!(null)).await;
    assert_eq!(status, 405, "a GET endpoint written");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_td_links_the_get_endpoints_and_the_openapi_document_describes_them() {
    let server = start_thing("recorder", Recorder::default()).await;
    let (_, td) = server.get("/recorder/").await;
    assert_valid_td(&td);
    let links: Vec<&str> = td["links"]
        .as_array()
        .expect("links")
        .iter()
        .filter(|l| l["rel"] == "item")
        .filter_map(|l| l["href"].as_str())
        .collect();
    for name in ["trace", "page", "row", "broken", "buggy", "bad_media_type", "stats"] {
        assert!(
            links.iter().any(|href| href.ends_with(&format!("/recorder/{name}"))),
            "{name} in {links:?}"
        );
    }
    assert!(
        !links.iter().any(|href| href.ends_with("/clear")),
        "a POST endpoint is no link"
    );
    assert!(td["actions"].get("trace").is_none() && td["properties"].get("trace").is_none());

    let (_, openapi) = server.get("/openapi.json").await;
    let trace = &openapi["paths"]["/recorder/trace"]["get"];
    assert_eq!(trace["summary"], "The recorded trace as CSV.", "{trace}");
    let parameters = trace["parameters"].as_array().expect("parameters");
    let names: Vec<&str> = parameters.iter().filter_map(|p| p["name"].as_str()).collect();
    assert_eq!(names, ["rows", "column", "header", "scale"]);
    let rows = &parameters[0];
    assert_eq!(
        (rows["in"].as_str(), rows["required"].as_bool()),
        (Some("query"), Some(false))
    );
    assert_eq!(rows["schema"]["maximum"], 100, "{rows}");
    assert_eq!(rows["description"], "How many rows", "{rows}");
    let page = &openapi["paths"]["/recorder/page"]["get"]["parameters"][0];
    assert_eq!(page["required"], true, "{page}");
    assert!(openapi["paths"]["/recorder/clear"]["post"].is_object());
    assert!(trace["responses"]["422"].is_object() && trace["responses"]["500"].is_object());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn under_a_prefix_the_links_and_the_endpoints_follow_it() {
    let server = start(
        Server::builder()
            .config(ServerConfig::default().with(|c| {
                c.api_prefix = "/lab".into();
                c.settings_dir = None;
            }))
            .thing("recorder", Recorder::default())
            .build()
            .expect("build"),
    )
    .await;
    let (_, td) = server.get("/lab/recorder/").await;
    let hrefs: Vec<Value> = td["links"]
        .as_array()
        .expect("links")
        .iter()
        .map(|l| l["href"].clone())
        .collect();
    assert!(hrefs.contains(&json!("/lab/recorder/trace")), "{hrefs:?}");
    let (status, _, bytes) = get_raw(&server, "/lab/recorder/trace?rows=1").await;
    assert_eq!((status, bytes.as_slice()), (200, b"0\n".as_slice()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_answers_typed_json_and_reads_a_json_body() {
    let server = start_thing("recorder", Recorder::default()).await;
    let post = reqwest::Method::POST;
    let (status, media_type, stats) = send_raw(&server, reqwest::Method::GET, "/recorder/stats", None, "").await;
    assert_eq!((status, media_type.as_str()), (200, "application/json"), "{stats}");
    assert_eq!(stats, json!({"rows": 10, "cleared": 0}));

    let marks = json!({"label": "peak", "rows": [2, 3, 4]}).to_string();
    let (status, media_type, answer) = send_raw(
        &server,
        post.clone(),
        "/recorder/annotate?dry_run=true",
        Some("application/json"),
        marks,
    )
    .await;
    assert_eq!((status, media_type.as_str()), (200, "application/json"), "{answer}");
    assert_eq!(
        answer,
        json!({"label": "peak", "marked": 3, "dry_run": true}),
        "the body and the query parameter both reached the method"
    );

    // A body that may be left out: `Json<Option<T>>`.
    let (status, _, counted) = send_raw(&server, reqwest::Method::PUT, "/recorder/count", None, "").await;
    assert_eq!((status, counted), (200, json!(10)), "no body: all rows");
    let (status, _, counted) = send_raw(
        &server,
        reqwest::Method::PUT,
        "/recorder/count",
        Some("application/json"),
        r#"{"label": "x", "rows": [1]}"#,
    )
    .await;
    assert_eq!((status, counted), (200, json!(1)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_body_is_a_4xx_naming_the_problem_and_the_method_never_runs() {
    // A small body limit, so the body past it still fits the socket's
    // buffers: the client finishes sending before it reads the 413 (a
    // large one could meet a closed connection mid-write instead).
    let server = start(
        Server::builder()
            .config(ServerConfig::default().with(|c| {
                c.settings_dir = None;
                c.limits.body_limit = 1024;
            }))
            .thing("recorder", Recorder::default())
            .build()
            .expect("build"),
    )
    .await;
    let post = || reqwest::Method::POST;
    let json_type = Some("application/json");

    let (status, _, body) = send_raw(&server, post(), "/recorder/annotate", None, "").await;
    assert_eq!(status, 422, "a required body left out: {body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body"]), "{body}");

    let (status, _, body) = send_raw(
        &server,
        post(),
        "/recorder/annotate?dry_run=maybe",
        json_type,
        r#"{"label": 7, "rows": [1, "two"]}"#,
    )
    .await;
    assert_eq!(status, 422, "{body}");
    let locs: Vec<&Value> = body["detail"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|p| &p["loc"])
        .collect();
    for expected in [
        json!(["query", "dry_run"]),
        json!(["body", "label"]),
        json!(["body", "rows", 1]),
    ] {
        assert!(locs.contains(&&expected), "{expected} in {body}");
    }

    let (status, _, body) = send_raw(&server, post(), "/recorder/annotate", json_type, r#"{"label": "x""#).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["detail"][0]["type"], "json_invalid", "{body}");

    let (status, _, body) = send_raw(
        &server,
        post(),
        "/recorder/annotate",
        Some("text/plain"),
        r#"{"label": "x", "rows": []}"#,
    )
    .await;
    assert_eq!(status, 415, "not said to be JSON: {body}");

    let huge = format!(r#"{{"label": "{}", "rows": []}}"#, "x".repeat(4096));
    let (status, _, body) = send_raw(&server, post(), "/recorder/annotate", json_type, huge).await;
    assert_eq!(status, 413, "larger than the body limit: {body}");
    assert!(body["detail"].to_string().contains("1024"), "{body}");
    let (_, ran) = server.get("/recorder/annotated").await;
    assert_eq!(ran, json!(0), "no wrong body reached the method");

    let (status, _, body) = send_raw(
        &server,
        post(),
        "/recorder/annotate",
        json_type,
        r#"{"label": "x", "rows": [12]}"#,
    )
    .await;
    assert_eq!(status, 422, "refused by the device code: {body}");
    assert_eq!(body["detail"][0]["loc"], json!(["body"]), "{body}");
    assert_eq!(
        body["detail"][0]["msg"], "there are 10 rows; 12 is past the end",
        "{body}"
    );

    // The server kept serving.
    let (status, _, answer) = send_raw(
        &server,
        post(),
        "/recorder/annotate",
        json_type,
        r#"{"label": "ok", "rows": [1]}"#,
    )
    .await;
    assert_eq!((status, &answer["marked"]), (200, &json!(1)), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_gives_the_body_and_answer_schemas_of_json_endpoints() {
    let server = start_thing("recorder", Recorder::default()).await;
    let (_, openapi) = server.get("/openapi.json").await;
    let annotate = &openapi["paths"]["/recorder/annotate"]["post"];
    let request = &annotate["requestBody"];
    assert_eq!(request["required"], true, "{annotate}");
    let body_schema = &request["content"]["application/json"]["schema"];
    assert_eq!(body_schema["required"], json!(["label", "rows"]), "{body_schema}");
    assert_eq!(body_schema["properties"]["rows"]["type"], "array", "{body_schema}");
    assert_eq!(annotate["parameters"][0]["name"], "dry_run", "{annotate}");
    for status in ["400", "408", "413", "415", "422"] {
        assert!(annotate["responses"][status].is_object(), "{status} in {annotate}");
    }
    let answer = &annotate["responses"]["200"]["content"]["application/json"]["schema"];
    assert_eq!(answer["properties"]["dry_run"]["type"], "boolean", "{answer}");

    let count = &openapi["paths"]["/recorder/count"]["put"];
    assert_eq!(
        count["requestBody"]["required"], false,
        "a `Json<Option<T>>` body: {count}"
    );
    let stats = &openapi["paths"]["/recorder/stats"]["get"];
    assert!(stats.get("requestBody").is_none(), "{stats}");
    assert!(stats["responses"].get("415").is_none(), "no body, no 415: {stats}");
    assert_eq!(
        stats["responses"]["200"]["content"]["application/json"]["schema"]["properties"]["cleared"]["type"], "integer",
        "{stats}"
    );
    let trace = &openapi["paths"]["/recorder/trace"]["get"]["responses"]["200"]["content"];
    assert!(trace.get("*/*").is_some(), "a `Raw` answer is any bytes: {trace}");

    // The TD's link to a GET endpoint answering JSON says so.
    let (_, td) = server.get("/recorder/").await;
    let stats_link = td["links"]
        .as_array()
        .expect("links")
        .iter()
        .find(|l| l["href"].as_str().is_some_and(|h| h.ends_with("/recorder/stats")))
        .expect("a link to stats");
    assert_eq!(stats_link["type"], "application/json", "{stats_link}");
}
