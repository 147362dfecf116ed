//! The harness's live-data scenarios, against the `Live` thing of
//! `benches/servers/bench.rs` (served at `/live/`), the same thing in the original
//! (`benches/servers/bench_original.py`) and the ceiling's bare relay
//! (`benches/servers/hyper_ceiling.rs`):
//!
//! - observation: device code sets `tick` to the wall-clock time in
//!   microseconds; each observer (WebSocket or SSE) subtracts it from its
//!   own clock on arrival (one machine, one clock);
//! - fan-out: the same with many observers, and the server's CPU and
//!   memory per observer;
//! - events: `beats` emitted by device code to SSE subscribers, with the
//!   emit cost device code measured;
//! - streams: 1 MB frames pushed at 30 fps to MJPEG viewers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Empty, Full};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

use super::{Target, connect, cpu_seconds};

/// How an observer is reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Transport {
    /// `GET /live/ws`, `addPropertyObservation` of `tick`.
    WebSocket,
    /// `GET /live/tick/observe` (`text/event-stream`).
    Sse,
}

impl Transport {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::WebSocket => "WebSocket",
            Self::Sse => "SSE",
        }
    }
}

/// Now as microseconds since the Unix epoch.
fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The first unsigned integer after `key` in `text` (skipping `:`, `"` and
/// spaces): a tick in a WebSocket or SSE message, without parsing JSON (the
/// harness reads up to a million messages a second).
fn number_after(text: &[u8], key: &[u8]) -> Option<u64> {
    let at = text.windows(key.len()).position(|w| w == key)? + key.len();
    let rest = &text[at..];
    let start = rest.iter().position(|b| b.is_ascii_digit())?;
    if rest[..start].iter().any(|b| !matches!(b, b':' | b'"' | b' ')) {
        return None;
    }
    let digits = rest[start..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&rest[start..start + digits]).ok()?.parse().ok()
}

/// What one observer saw: each tick's latency in microseconds.
type Seen = Arc<Mutex<Vec<u32>>>;

/// Record the arrival of `tick` (a send time in µs) in `seen`.
fn arrived(seen: &Seen, tick: u64) {
    let latency = now_us().saturating_sub(tick);
    seen.lock().push(u32::try_from(latency).unwrap_or(u32::MAX));
}

/// Open one observer of `/live/`'s `tick` on `addr`; it records arrivals
/// until the returned task is aborted. Answers once it is subscribed.
async fn observer(addr: SocketAddr, transport: Transport, seen: Seen) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    match transport {
        Transport::WebSocket => {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            let (mut socket, _) = tokio_tungstenite::client_async(format!("ws://{addr}/live/ws"), stream).await?;
            socket
                .send(Message::text(
                    r#"{"messageType": "addPropertyObservation", "data": {"tick": true}}"#,
                ))
                .await?;
            Ok(tokio::spawn(async move {
                while let Some(Ok(message)) = socket.next().await {
                    if let Message::Text(text) = message
                        && let Some(tick) = number_after(text.as_bytes(), b"\"tick\"")
                    {
                        arrived(&seen, tick);
                    }
                }
            }))
        }
        Transport::Sse => {
            let mut body = open_stream(addr, "/live/tick/observe").await?.into_body();
            Ok(tokio::spawn(async move {
                let mut pending: Vec<u8> = Vec::new();
                while let Some(Ok(frame)) = body.frame().await {
                    let Some(data) = frame.data_ref() else { continue };
                    pending.extend_from_slice(data);
                    while let Some(end) = pending.windows(2).position(|w| w == b"\n\n") {
                        if let Some(tick) = number_after(&pending[..end], b"data:") {
                            arrived(&seen, tick);
                        }
                        pending.drain(..end + 2);
                    }
                }
            }))
        }
    }
}

/// `GET path` on a new connection to `addr`, answered 200: the response,
/// whose body streams on (an SSE or MJPEG stream).
pub(crate) async fn open_stream(
    addr: SocketAddr,
    path: &str,
) -> anyhow::Result<hyper::Response<hyper::body::Incoming>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = Request::builder()
        .uri(path)
        .header("host", "127.0.0.1")
        .header("accept", "text/event-stream, multipart/x-mixed-replace")
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    if response.status() != 200 {
        bail!("GET {path} answered {}", response.status());
    }
    Ok(response)
}

/// `POST path` with a JSON body on a new connection; the status.
async fn post(addr: SocketAddr, path: &str, body: String) -> anyhow::Result<(u16, Bytes)> {
    let mut conn = connect(addr).await?;
    conn.ready().await?;
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header("host", "127.0.0.1")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let response = conn.send_request(request).await?;
    let status = response.status().as_u16();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

/// What a set of observers got from one ticker run.
#[derive(Debug, Default)]
pub(crate) struct Observed {
    /// Every latency, in milliseconds, sorted.
    latencies: Vec<f64>,
    /// Ticks sent.
    pub(crate) sent: u64,
    /// Ticks not received, summed over observers.
    pub(crate) lost: u64,
    /// Observers that missed at least one tick.
    pub(crate) lossy_observers: usize,
    /// Messages received by all observers per second of ticking.
    pub(crate) delivered_rate: f64,
    /// The server's CPU while ticking, in % of one core.
    pub(crate) cpu: f64,
    /// The server's resident memory (bytes): before the observers came,
    /// with them connected, and after they left.
    pub(crate) rss: [Option<u64>; 3],
    /// The server's open file descriptors at the same three times.
    pub(crate) fds: [Option<u64>; 3],
    pub(crate) observers: usize,
}

impl Observed {
    /// Latency percentile `p` (0..1) in milliseconds.
    pub(crate) fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        self.latencies[((self.latencies.len() - 1) as f64 * p).round() as usize]
    }

    /// Server memory per connected observer, in KiB.
    pub(crate) fn kib_per_observer(&self) -> Option<f64> {
        let (before, with) = (self.rss[0]?, self.rss[1]?);
        Some(with.saturating_sub(before) as f64 / 1024.0 / self.observers.max(1) as f64)
    }

    /// Connections (file descriptors) still open after the observers left,
    /// beyond those open before they came.
    pub(crate) fn fds_kept(&self) -> Option<f64> {
        Some(self.fds[2]?.saturating_sub(self.fds[0]?) as f64)
    }

    /// Memory still held after the observers left, in KiB per observer
    /// that came (0 when all was given back).
    pub(crate) fn kib_kept_per_observer(&self) -> Option<f64> {
        let (before, after) = (self.rss[0]?, self.rss[2]?);
        Some(after.saturating_sub(before) as f64 / 1024.0 / self.observers.max(1) as f64)
    }
}

/// `observers` observers of `target` over `transport`; device code (or the
/// ceiling's thread) ticks `rate` times a second for `seconds`.
pub(crate) async fn observe(
    target: &Target,
    transport: Transport,
    observers: usize,
    rate: f64,
    seconds: f64,
) -> anyhow::Result<Observed> {
    let pid = target.child.id();
    let fds = || {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .ok()
            .map(|d| d.count() as u64)
    };
    let before = target.rss();
    let fds_before = fds();
    let mut seen: Vec<Seen> = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..observers {
        let s: Seen = Arc::default();
        tasks.push(
            observer(target.addr, transport, s.clone())
                .await
                .with_context(|| format!("{} observer of {}", transport.name(), target.name))?,
        );
        seen.push(s);
    }
    // Subscriptions settle (a WebSocket's addPropertyObservation is async).
    tokio::time::sleep(Duration::from_millis(500)).await;
    let with = target.rss();
    let fds_with = fds();
    let count = (rate * seconds).round().max(1.0) as u64;
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let (status, _) = post(
        target.addr,
        "/live/ticker",
        format!(r#"{{"rate": {rate}, "count": {count}}}"#),
    )
    .await?;
    if !(200..300).contains(&status) {
        bail!("{}: POST /live/ticker answered {status}", target.name);
    }
    // Until every observer has every tick, or the ticking time and 3 s more.
    let deadline = started + Duration::from_secs_f64(seconds + 3.0);
    while Instant::now() < deadline && seen.iter().any(|s| (s.lock().len() as u64) < count) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ticking = started.elapsed().as_secs_f64().min(seconds + 3.0).max(seconds);
    let cpu = match (cpu_before, cpu_seconds(pid)) {
        (Some(a), Some(b)) => (b - a) / started.elapsed().as_secs_f64() * 100.0,
        _ => f64::NAN,
    };
    for task in &tasks {
        task.abort();
    }
    drop(tasks);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = target.rss();
    let mut observed = Observed {
        sent: count,
        cpu,
        rss: [before, with, after],
        fds: [fds_before, fds_with, fds()],
        observers,
        ..Observed::default()
    };
    let mut received = 0u64;
    for s in &seen {
        let got = s.lock();
        received += got.len() as u64;
        let missed = count.saturating_sub(got.len() as u64);
        observed.lost += missed;
        observed.lossy_observers += usize::from(missed > 0);
        observed.latencies.extend(got.iter().map(|us| f64::from(*us) / 1000.0));
    }
    observed.latencies.sort_by(f64::total_cmp);
    observed.delivered_rate = received as f64 / ticking;
    Ok(observed)
}

/// What the event scenario measured.
#[derive(Debug)]
pub(crate) struct Events {
    /// Time one `emit` took in device code, in nanoseconds: mean, median, 99th percentile.
    pub(crate) emit_ns: f64,
    pub(crate) emit_p50_ns: f64,
    pub(crate) emit_p99_ns: f64,
    /// Events emitted per second (device code's pace, as achieved).
    pub(crate) emitted_rate: f64,
    /// Events received by all subscribers per second.
    pub(crate) delivered_rate: f64,
    /// Events not received, summed over subscribers.
    pub(crate) lost: u64,
}

/// `subscribers` SSE subscribers of `/live/beat`; device code emits
/// `rate` beats a second for `seconds`.
pub(crate) async fn events(target: &Target, subscribers: usize, rate: f64, seconds: f64) -> anyhow::Result<Events> {
    let mut counts = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..subscribers {
        let response = open_stream(target.addr, "/live/beat").await?;
        let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = count.clone();
        let mut body = response.into_body();
        tasks.push(tokio::spawn(async move {
            while let Some(Ok(frame)) = body.frame().await {
                if let Some(data) = frame.data_ref() {
                    // Messages end with a blank line; the stream's own
                    // (`retry:` at the start, the named `latest` and `gap`
                    // messages) are not events.
                    let ends = data.windows(2).filter(|w| w == b"\n\n").count();
                    let named = data.windows(7).filter(|w| w == b"event: ").count();
                    let retry = usize::from(data.starts_with(b"retry:"));
                    let events = ends.saturating_sub(named + retry);
                    counter.fetch_add(events as u64, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
        counts.push(count);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let count = (rate * seconds).round().max(1.0) as u64;
    let started = Instant::now();
    let (status, body) = post(
        target.addr,
        "/live/beats?return=output",
        format!(r#"{{"rate": {rate}, "count": {count}}}"#),
    )
    .await?;
    let emitting = started.elapsed().as_secs_f64();
    if status != 200 {
        bail!("POST /live/beats answered {status}");
    }
    let cost: serde_json::Value = serde_json::from_slice(&body).context("the emit cost")?;
    let figure = |name: &str| cost[name].as_f64().with_context(|| format!("{name} in {cost}"));
    let (emit_ns, emit_p50_ns, emit_p99_ns) = (figure("mean_ns")?, figure("p50_ns")?, figure("p99_ns")?);
    let total = || {
        counts
            .iter()
            .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
            .sum::<u64>()
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline && total() < count * subscribers as u64 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let delivered = total();
    let elapsed = started.elapsed().as_secs_f64();
    for task in tasks {
        task.abort();
    }
    Ok(Events {
        emit_ns,
        emit_p50_ns,
        emit_p99_ns,
        emitted_rate: count as f64 / emitting,
        delivered_rate: delivered as f64 / elapsed,
        lost: (count * subscribers as u64).saturating_sub(delivered),
    })
}

/// What the progress scenario measured.
#[derive(Debug)]
pub(crate) struct Progressed {
    /// What one `handle.progress` cost device code: mean, p50, p99 (ns).
    pub(crate) cost_ns: [f64; 3],
    /// Reports made per second.
    pub(crate) reported_rate: f64,
    /// Messages an SSE observer of the invocation got per second while it ran.
    pub(crate) told_rate: f64,
    /// Whether the last message showed the invocation completed at 100 %.
    pub(crate) ended_whole: bool,
}

/// Device code reports progress `rate` times a second for `seconds` while
/// an SSE observer follows the invocation (`/action_invocations/{id}/observe`)
/// to its end.
pub(crate) async fn progress(target: &Target, rate: f64, seconds: f64) -> anyhow::Result<Progressed> {
    let count = (rate * seconds).round().max(1.0) as u64;
    let (status, body) = post(
        target.addr,
        "/live/progress_loop",
        format!(r#"{{"rate": {rate}, "count": {count}}}"#),
    )
    .await?;
    if status != 201 {
        bail!("POST /live/progress_loop answered {status}");
    }
    let invocation: serde_json::Value = serde_json::from_slice(&body)?;
    let id = invocation["id"].as_str().context("an invocation id")?;
    let started = Instant::now();
    let mut stream = open_stream(target.addr, &format!("/action_invocations/{id}/observe"))
        .await?
        .into_body();
    let mut text = Vec::new();
    while let Some(frame) = tokio::time::timeout(Duration::from_secs_f64(seconds + 10.0), stream.frame())
        .await
        .context("the invocation's stream ends")?
    {
        if let Some(data) = frame?.data_ref() {
            text.extend_from_slice(data);
        }
    }
    let running = started.elapsed().as_secs_f64();
    let messages: Vec<serde_json::Value> = String::from_utf8_lossy(&text)
        .split("\n\n")
        .filter_map(|m| m.strip_prefix("data: "))
        .filter_map(|m| serde_json::from_str(m).ok())
        .collect();
    let last = messages.last().context("at least the final state")?;
    let figure = |name: &str| {
        last["output"][name]
            .as_f64()
            .with_context(|| format!("{name} in {last}"))
    };
    Ok(Progressed {
        cost_ns: [figure("mean_ns")?, figure("p50_ns")?, figure("p99_ns")?],
        reported_rate: count as f64 / running,
        // The first message is the state at subscription, the last the end.
        told_rate: messages.len().saturating_sub(2) as f64 / running,
        ended_whole: last["status"] == "completed" && last["progress"]["fraction"] == 1.0,
    })
}

/// What the stream scenario measured.
#[derive(Debug)]
pub(crate) struct Streamed {
    /// Frames each viewer received per second (mean over viewers).
    pub(crate) fps_per_viewer: f64,
    /// The slowest viewer's frames per second.
    pub(crate) min_fps: f64,
    /// The server's CPU per viewer, in % of one core.
    pub(crate) cpu_per_viewer: f64,
}

/// Count `marker` in a stream of chunks (markers may straddle chunks).
struct Counter {
    marker: Vec<u8>,
    tail: Vec<u8>,
    count: u64,
}

impl Counter {
    fn feed(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
        let m = self.marker.len();
        self.count += self.tail.windows(m).filter(|w| *w == self.marker.as_slice()).count() as u64;
        let keep = self.tail.len().min(m.saturating_sub(1));
        self.tail.drain(..self.tail.len() - keep);
    }
}

/// `viewers` MJPEG viewers of `/live/frames`; device code pushes `fps`
/// frames of `size` bytes a second for `seconds`.
pub(crate) async fn stream(
    target: &Target,
    viewers: usize,
    fps: f64,
    size: u32,
    seconds: f64,
) -> anyhow::Result<Streamed> {
    let mut counts = Vec::new();
    let mut tasks = Vec::new();
    for _ in 0..viewers {
        let response = open_stream(target.addr, "/live/frames").await?;
        let boundary = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split("boundary=").nth(1))
            .map(|b| b.trim_matches('"').to_owned())
            .context("an MJPEG boundary")?;
        let count = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = count.clone();
        let mut body = response.into_body();
        tasks.push(tokio::spawn(async move {
            let mut frames = Counter {
                marker: format!("--{boundary}").into_bytes(),
                tail: Vec::new(),
                count: 0,
            };
            while let Some(Ok(frame)) = body.frame().await {
                if let Some(data) = frame.data_ref() {
                    frames.feed(data);
                    counter.store(frames.count, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }));
        counts.push(count);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let received_before: Vec<u64> = counts
        .iter()
        .map(|c| c.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    let count = (fps * seconds).round().max(1.0) as u64;
    let pid = target.child.id();
    let cpu_before = cpu_seconds(pid);
    let started = Instant::now();
    let (status, _) = post(
        target.addr,
        "/live/push_frames",
        format!(r#"{{"fps": {fps}, "count": {count}, "size": {size}}}"#),
    )
    .await?;
    if !(200..300).contains(&status) {
        bail!("POST /live/push_frames answered {status}");
    }
    tokio::time::sleep(Duration::from_secs_f64(seconds)).await;
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = match (cpu_before, cpu_seconds(pid)) {
        (Some(a), Some(b)) => (b - a) / elapsed * 100.0,
        _ => f64::NAN,
    };
    let got: Vec<u64> = counts
        .iter()
        .zip(&received_before)
        .map(|(c, b)| c.load(std::sync::atomic::Ordering::Relaxed).saturating_sub(*b))
        .collect();
    for task in tasks {
        task.abort();
    }
    // Let the pushing finish before the next scenario.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let frames_delivered: u64 = got.iter().sum();
    Ok(Streamed {
        fps_per_viewer: frames_delivered as f64 / viewers.max(1) as f64 / elapsed,
        min_fps: got.iter().min().copied().unwrap_or(0) as f64 / elapsed,
        cpu_per_viewer: cpu / viewers.max(1) as f64,
    })
}

/// What `benches/servers/frame_copies.rs` measured for one number of viewers.
#[derive(Debug)]
pub(crate) struct FrameCopies {
    /// How many viewers watched.
    pub(crate) viewers: u64,
    /// Heap bytes the server allocated per frame delivered to a viewer.
    pub(crate) allocated: f64,
    /// Bytes written to sockets per frame delivered to a viewer.
    pub(crate) written: Option<f64>,
}

/// Run `benches/servers/frame_copies.rs` (a server in a process whose allocator
/// counts) and read its figures for 1, 10 and 50 viewers.
pub(crate) fn frame_copies(examples: &std::path::Path, seconds: f64) -> anyhow::Result<Vec<FrameCopies>> {
    let output = std::process::Command::new(examples.join("frame_copies"))
        .args(["--seconds", &seconds.to_string()])
        .output()?;
    if !output.status.success() {
        bail!("frame_copies failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let v: serde_json::Value = serde_json::from_str(line)?;
            Ok(FrameCopies {
                viewers: v["viewers"].as_u64().context("viewers")?,
                allocated: v["allocated_bytes_per_frame_per_viewer"]
                    .as_f64()
                    .context("allocated bytes")?,
                written: v["written_bytes_per_frame_per_viewer"].as_f64(),
            })
        })
        .collect()
}
