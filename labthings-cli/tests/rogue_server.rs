//! Our clients against a server that lies or misbehaves: a Thing
//! Description that points at another origin, one of 32 MiB, an event
//! stream that is one endless line, a server that never answers, and
//! titles and error bodies full of terminal escapes. The rogue server is a
//! raw TCP listener in this process; the clients are the `labthings`
//! binary and `labthings-client`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use labthings_client::{ClientError, Connection, ThingClient};
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TOKEN: &str = "a-secret-token-0123456789";

/// What the rogue server does with a request (its head as text).
type Reply = Arc<dyn Fn(&str, TcpStream) -> tokio::task::JoinHandle<()> + Send + Sync>;

/// Serve `reply` on a free port; the base URL, and every request head seen.
async fn rogue(reply: Reply) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let heads = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let (reply, heads) = (reply.clone(), heads.clone());
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                heads.lock().push(head.clone());
                let _ = reply(&head, stream).await;
            });
        }
    });
    (url, seen)
}

/// Write a whole HTTP answer and close.
fn answer(mut stream: TcpStream, status: &str, content_type: &str, body: Vec<u8>) -> tokio::task::JoinHandle<()> {
    let status = status.to_owned();
    let content_type = content_type.to_owned();
    tokio::spawn(async move {
        let head = format!(
            "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(head.as_bytes()).await;
        let _ = stream.write_all(&body).await;
        let _ = stream.shutdown().await;
    })
}

/// The path of a request head.
fn path(head: &str) -> &str {
    head.split(' ').nth(1).unwrap_or("")
}

use common::labthings_with as labthings;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_go_only_to_the_origin_they_were_given_for() {
    // The other origin answers everything, and records what it is sent.
    let (elsewhere, stolen) = rogue(Arc::new(|head, stream| {
        let body = if head.starts_with("POST") { "7" } else { "1" };
        answer(stream, "200 OK", "application/json", body.as_bytes().to_vec())
    }))
    .await;
    let td = serde_json::json!({
        "@context": "https://www.w3.org/2022/wot/td/v1.1",
        "title": "lure",
        "base": format!("{elsewhere}/"),
        "securityDefinitions": {"nosec_sc": {"scheme": "nosec"}},
        "security": ["nosec_sc"],
        "properties": {"x": {"type": "integer", "forms": [{"href": "x", "op": ["readproperty", "writeproperty"]}]}},
        "actions": {"go": {"forms": [{"href": format!("{elsewhere}/go"), "op": "invokeaction"}]}},
    });
    let (lure, asked) = rogue(Arc::new(move |_, stream| {
        answer(stream, "200 OK", "application/json", td.to_string().into_bytes())
    }))
    .await;
    let thing_url = format!("{lure}/thing/");

    // The Rust client.
    let connection = Connection::new().with_token(TOKEN);
    let thing = ThingClient::connect(&thing_url, connection).await.expect("the TD");
    let _: serde_json::Value = thing.read_property("x").await.expect("read");
    thing.write_property("x", &2).await.expect("write");
    let _: serde_json::Value = thing.call_action("go", &serde_json::json!({})).await.expect("invoke");
    // The CLI, with --token and with LABTHINGS_TOKEN.
    for (args, env) in [
        (vec!["--token", TOKEN, "get", &thing_url, "x"], vec![]),
        (vec!["set", &thing_url, "x", "3"], vec![("LABTHINGS_TOKEN", TOKEN)]),
        (vec!["invoke", &thing_url, "go"], vec![("LABTHINGS_TOKEN", TOKEN)]),
    ] {
        let (code, _, err) = labthings(&args, &env).await;
        assert_eq!(code, 0, "{args:?}: {err}");
    }
    let stolen_from = stolen;
    let stolen = stolen_from.lock().clone();
    assert!(stolen.len() >= 6, "the other origin was asked: {stolen:?}");
    assert!(
        stolen.iter().all(|head| !head.contains(TOKEN)),
        "a token went to another origin: {stolen:?}"
    );
    // The origin the token was given for did get it.
    assert!(asked.lock().iter().all(|head| head.contains(TOKEN)));

    // Unless the user allows that origin: the client, then the CLI.
    let allowed = Connection::new().with_token(TOKEN).allow_credentials_to(&elsewhere);
    let thing = ThingClient::connect(&thing_url, allowed).await.expect("the TD");
    let _: serde_json::Value = thing.read_property("x").await.expect("read");
    let sent = |stolen: &Mutex<Vec<String>>| stolen.lock().iter().filter(|h| h.contains(TOKEN)).count();
    assert_eq!(sent(&stolen_from), 1, "allowed by the client");
    let (code, _, err) = labthings(
        &["--token", TOKEN, "--allow-origin", &elsewhere, "get", &thing_url, "x"],
        &[],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(sent(&stolen_from), 2, "allowed by the CLI");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_description_an_endless_event_line_and_a_silent_server_fail_clearly() {
    // 32 MiB of title, sent without a length.
    let (huge, _) = rogue(Arc::new(|_, mut stream| {
        tokio::spawn(async move {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"title\": \"";
            let _ = stream.write_all(head.as_bytes()).await;
            let chunk = vec![b'a'; 1 << 20];
            for _ in 0..32 {
                if stream.write_all(&chunk).await.is_err() {
                    return;
                }
            }
            let _ = stream.write_all(b"\"}").await;
        })
    }))
    .await;
    let started = Instant::now();
    let error = ThingClient::from_url(&format!("{huge}/t/")).await.expect_err("refused");
    assert!(matches!(error, ClientError::TooLarge(_)), "{error}");
    let (code, out, err) = labthings(&["describe", &format!("{huge}/t/")], &[]).await;
    assert_eq!(code, 1);
    assert!(out.is_empty() && err.contains("too large"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));

    // An event stream that is one endless line.
    let td = serde_json::json!({
        "title": "stream",
        "properties": {"p": {"type": "integer", "observable": true,
            "forms": [{"href": "p/observe", "op": "observeproperty", "subprotocol": "sse"}]}},
    });
    let (endless, _) = rogue(Arc::new(move |head, mut stream| {
        if path(head).ends_with("/observe") {
            tokio::spawn(async move {
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\ndata: ";
                let _ = stream.write_all(head.as_bytes()).await;
                let chunk = vec![b'1'; 64 << 10];
                // At most 64 MiB, then the test's server gives up.
                for _ in 0..1024 {
                    if stream.write_all(&chunk).await.is_err() {
                        return;
                    }
                }
            })
        } else {
            answer(stream, "200 OK", "application/json", td.to_string().into_bytes())
        }
    }))
    .await;
    let thing = ThingClient::from_url(&format!("{endless}/t/")).await.expect("the TD");
    let mut values = thing.observe_property::<i64>("p").await.expect("the stream opens");
    use labthings_client::StreamExt;
    let first = tokio::time::timeout(Duration::from_secs(20), values.next())
        .await
        .expect("in time");
    assert!(matches!(first, Some(Err(ClientError::TooLarge(_)))), "{first:?}");

    // A server that accepts and never answers.
    let (silent, _) = rogue(Arc::new(|_, stream| {
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(60)).await;
            drop(stream);
        })
    }))
    .await;
    let started = Instant::now();
    let (code, _, err) = labthings(&["--timeout", "1", "get", &format!("{silent}/t/"), "p"], &[]).await;
    assert_eq!(code, 1);
    assert!(err.contains("did not answer within 1 s"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let quick = Connection::new().with_timeout(Duration::from_millis(500));
    let error = ThingClient::connect(&format!("{silent}/t/"), quick)
        .await
        .expect_err("timed out");
    assert!(matches!(error, ClientError::TimedOut(_)), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminal_escapes_from_the_server_are_never_printed_raw() {
    let td = serde_json::json!({
        "title": "evil\u{1b}]0;owned\u{7}\u{1b}[2J",
        "description": "clears\u{1b}[2Jthe screen",
        "properties": {"p": {"type": "string", "title": "x\u{1b}[31m",
            "forms": [{"href": "p", "op": ["readproperty", "writeproperty"]}]}},
    });
    let (evil, _) = rogue(Arc::new(move |head, stream| {
        if path(head).ends_with("/p") && head.starts_with("GET") {
            answer(stream, "200 OK", "application/json", b"\"value\\u001b[2J\"".to_vec())
        } else if path(head).ends_with("/p") {
            // A 5 MB error body full of escapes.
            let detail = "\u{1b}[2J".repeat(1_250_000);
            let body = serde_json::json!({"detail": detail}).to_string().into_bytes();
            answer(stream, "400 Bad Request", "application/json", body)
        } else {
            answer(stream, "200 OK", "application/json", td.to_string().into_bytes())
        }
    }))
    .await;
    let url = format!("{evil}/t/");
    for args in [
        vec!["describe", &url],
        vec!["get", &url, "p"],
        vec!["set", &url, "p", "x"],
    ] {
        let (_, out, err) = labthings(&args, &[]).await;
        for text in [&out, &err] {
            assert!(!text.contains('\u{1b}'), "{args:?} printed a raw escape: {text:?}");
            assert!(text.len() < 20_000, "{args:?} printed {} bytes", text.len());
        }
        if args[0] == "describe" {
            assert!(out.contains("evil\\u{1b}]0;owned"), "{out}");
        }
    }
}
