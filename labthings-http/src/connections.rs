//! Accepting and serving TCP connections, with the limits that keep one
//! client from exhausting the server: a cap on open connections, a time
//! limit on reading request headers (which also closes idle kept-alive
//! connections), and a graceful end when the server shuts down. With TLS
//! configured, each connection is a rustls session first (its handshake
//! bounded by the same header time limit).

use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::ServerConfig;
use crate::front::Front;
use crate::parse_errors::JsonParseErrors;
use crate::peer::{ClientAddr, PerAddress, Share};
use crate::tls::{Acceptor, handshake_within};
use labthings_core::log_limit::LogLimiter;

/// Serve connections from `listener` until `stop` is cancelled. Once
/// `closing` is cancelled, open connections finish the request in hand and
/// close, and new ones are answered 503 at once. Returns the tasks of the
/// connections still open, for the caller to wait on (bounded) and abort.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    app: Front,
    tls: Option<Acceptor>,
    config: &ServerConfig,
    permits: Arc<Semaphore>,
    closing: CancellationToken,
    stop: CancellationToken,
) -> JoinSet<()> {
    let shares = PerAddress::new(
        config.limits.max_connections_per_address,
        &config.limits.unlimited_addresses,
    );
    let (full, greedy) = (
        LogLimiter::new(Duration::from_secs(10)),
        LogLimiter::new(Duration::from_secs(10)),
    );
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(config.limits.header_read_timeout)
        .keep_alive(true);
    let builder = Arc::new(builder);
    let mut tasks = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            () = stop.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        while tasks.try_join_next().is_some() {}
        let (stream, peer) = match accepted {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of descriptors or a connection reset before accept:
                // wait a moment instead of spinning, and keep serving.
                tracing::warn!("could not accept a connection: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if closing.is_cancelled() {
            tokio::spawn(refuse(stream, tls.clone(), "the server is shutting down"));
            continue;
        }
        let Some(share) = shares.take(peer.ip()) else {
            greedy.hit(|more| {
                tracing::warn!(
                    "refused a connection from {}: it has {} open already (max_connections_per_address){more}",
                    peer.ip(),
                    config.limits.max_connections_per_address
                );
            });
            tokio::spawn(refuse(
                stream,
                tls.clone(),
                "too many open connections from your address; close idle ones or try again shortly",
            ));
            continue;
        };
        match permits.clone().try_acquire_owned() {
            Ok(permit) => {
                let (builder, app, closing, tls) = (builder.clone(), app.clone(), closing.clone(), tls.clone());
                let handshake = config.limits.header_read_timeout;
                let held = Held { permit, share };
                let client = ClientAddr(peer.ip().to_canonical());
                tasks.spawn(async move {
                    match tls {
                        None => serve(stream, held, client, builder, app, closing).await,
                        Some(tls) => {
                            if let Some(stream) = handshake_within(&tls, stream, handshake).await {
                                serve(stream, held, client, builder, app, closing).await;
                            }
                        }
                    }
                });
            }
            Err(_) => {
                full.hit(|more| {
                    tracing::warn!(
                        "refused a connection from {}: the server has {} open (max_connections){more}",
                        peer.ip(),
                        config.limits.max_connections
                    );
                });
                tokio::spawn(refuse(
                    stream,
                    tls.clone(),
                    "too many open connections; close idle ones or try again shortly",
                ));
            }
        }
    }
    tasks
}

/// What an open connection holds: its place among all connections and its
/// address's share.
struct Held {
    permit: OwnedSemaphorePermit,
    share: Share,
}

/// Serve one connection from `client`; on `closing`, finish the request in
/// hand and close.
async fn serve<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    stream: S,
    held: Held,
    client: ClientAddr,
    builder: Arc<http1::Builder>,
    app: Front,
    closing: CancellationToken,
) {
    let service = TowerToHyperService::new(app.for_client(client));
    let io = TokioIo::new(JsonParseErrors::new(stream));
    let connection = builder.serve_connection(io, service).with_upgrades();
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        _ = connection.as_mut() => {}
        () = closing.cancelled() => {
            connection.as_mut().graceful_shutdown();
            let _ = connection.await;
        }
    }
    drop(held.permit);
    drop(held.share);
}

/// Answer a connection we will not serve with a 503 and close it: read the
/// request's head first (at most 16 KiB, for at most a second) so that the
/// client is listening for an answer, then drain a little of any body so the
/// close is not a reset that loses the answer. At most about 2 s in all.
async fn refuse(stream: TcpStream, tls: Option<Acceptor>, why: &str) {
    match tls {
        None => refuse_on(stream, why).await,
        Some(tls) => {
            if let Some(stream) = handshake_within(&tls, stream, Duration::from_secs(1)).await {
                refuse_on(stream, why).await;
            }
        }
    }
}

/// [`refuse`] on an established stream (plain or TLS).
async fn refuse_on<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S, why: &str) {
    let mut head = Vec::with_capacity(1024);
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        let mut buf = [0u8; 1024];
        while head.len() < 16 * 1024 && !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let body = serde_json::json!({ "detail": why }).to_string();
    let response = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: {}\r\nretry-after: 1\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let write = async {
        stream.write_all(response.as_bytes()).await?;
        stream.shutdown().await?;
        let mut buf = [0u8; 4096];
        let mut drained = 0;
        while drained < 64 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => drained += n,
            }
        }
        Ok::<(), io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
}
