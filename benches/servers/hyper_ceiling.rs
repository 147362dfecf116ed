//! The ceiling for benchmarks: a bare hyper 1 server that answers every
//! request (e.g. `GET /bench/count`) with the constant JSON `0`. Comparing the
//! `bench` example against it shows what labthings itself costs.
//!
//! It is also the ceiling of the live-data scenarios: `POST /live/ticker`
//! (`{"rate": R, "count": N}`) starts a thread that sends the time in
//! microseconds since the Unix epoch `count` times, `rate` times a second,
//! through a tokio broadcast channel to every WebSocket (`GET /live/ws`,
//! tungstenite) and SSE (`GET /live/tick/observe`) observer, in the same
//! messages labthings sends: nothing but the relay.
//!
//! ```text
//! cargo run --release --example hyper_ceiling -- --port 5061
//! wrk -t2 -c32 -d10s http://127.0.0.1:5061/bench/count
//! ```

use std::convert::Infallible;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Bytes, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use labthings::cli::ServeArgs;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

type Body = BoxBody<Bytes, Infallible>;

fn full(bytes: &'static [u8]) -> Body {
    Full::new(Bytes::from_static(bytes)).boxed()
}

/// Now as microseconds since the Unix epoch.
fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Send `count` ticks, `rate` a second, as `bench`'s `Live::ticker` does.
fn ticker(ticks: broadcast::Sender<u64>, rate: f64, count: u32) {
    let period = 1.0 / rate.clamp(0.001, 10_000_000.0);
    let start = Instant::now();
    let mut last = 0;
    for i in 0..count {
        let due = start + Duration::from_secs_f64(period * f64::from(i));
        let wait = due.saturating_duration_since(Instant::now());
        if wait >= Duration::from_micros(500) {
            std::thread::sleep(wait);
        }
        last = now_us().max(last + 1);
        let _ = ticks.send(last);
    }
}

async fn serve(mut request: Request<Incoming>, ticks: broadcast::Sender<u64>) -> Result<Response<Body>, Infallible> {
    let path = request.uri().path().to_owned();
    if path == "/live/ticker" {
        let body = request
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        let asked: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let rate = asked["rate"].as_f64().unwrap_or(10.0);
        let count = asked["count"]
            .as_u64()
            .and_then(|c| u32::try_from(c).ok())
            .unwrap_or(100);
        std::thread::spawn(move || ticker(ticks, rate, count));
        let mut response = Response::new(full(b"{}"));
        *response.status_mut() = StatusCode::CREATED;
        return Ok(response);
    }
    if path == "/live/tick/observe" {
        let events = futures_util::stream::unfold(ticks.subscribe(), |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(tick) => {
                        let frame = Frame::data(Bytes::from(format!("data: {tick}\n\n")));
                        return Some((Ok::<_, Infallible>(frame), rx));
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {}
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        let mut response = Response::new(BodyExt::boxed(StreamBody::new(events)));
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/event-stream"),
        );
        return Ok(response);
    }
    if path == "/live/ws" {
        let Some(key) = request.headers().get(header::SEC_WEBSOCKET_KEY) else {
            return Ok(Response::new(full(b"0")));
        };
        let accept = derive_accept_key(key.as_bytes());
        let upgrading = hyper::upgrade::on(&mut request);
        let mut rx = ticks.subscribe();
        tokio::spawn(async move {
            let Ok(upgraded) = upgrading.await else { return };
            let mut socket = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
            loop {
                tokio::select! {
                    tick = rx.recv() => match tick {
                        Ok(tick) => {
                            let text = format!(r#"{{"messageType":"propertyStatus","data":{{"tick":{tick}}}}}"#);
                            if socket.send(Message::text(text)).await.is_err() {
                                return;
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                    message = socket.next() => if !matches!(message, Some(Ok(_))) { return },
                }
            }
        });
        let mut response = Response::new(full(b""));
        *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
        let headers = response.headers_mut();
        headers.insert(header::CONNECTION, header::HeaderValue::from_static("upgrade"));
        headers.insert(header::UPGRADE, header::HeaderValue::from_static("websocket"));
        if let Ok(accept) = header::HeaderValue::from_str(&accept) {
            headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
        }
        return Ok(response);
    }
    let mut response = Response::new(full(b"0"));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ServeArgs::from_args();
    let listener = TcpListener::bind(args.address()).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let (ticks, _) = broadcast::channel(256);
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let ticks = ticks.clone();
        tokio::spawn(async move {
            let _ = http1::Builder::new()
                .serve_connection(
                    TokioIo::new(stream),
                    service_fn(move |request| serve(request, ticks.clone())),
                )
                .with_upgrades()
                .await;
        });
    }
}
