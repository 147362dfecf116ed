//! What an MJPEG frame costs the server per viewer, in bytes: allocated on
//! the heap, and written to the viewers' sockets.
//!
//! The server runs in this process with an allocator that counts (the
//! `stats_alloc` crate wrapping the system allocator), so every allocation
//! of the server is seen; the viewers are raw TCP connections of the same
//! process that read into buffers made before the count starts, so they
//! allocate nothing while it runs. Device code pushes one 1 MB JPEG-framed
//! buffer, the same bytes each time, at 30 frames a second to 1, 10 and 50
//! viewers. A server that copied a frame for each viewer would allocate about
//! a megabyte per frame and viewer; the bytes written to sockets (from
//! `/proc/self/io`, Linux only) are the kernel's copy into each connection,
//! which no server avoids.
//!
//! Prints one JSON line per viewer count; the benchmark harness
//! (`cargo bench --bench perf -- --only streams`) runs it and reports the
//! figures.
//!
//! ```text
//! cargo run --release --example frame_copies -- --seconds 2
//! ```

use std::alloc::System;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use labthings::Server;
use labthings::prelude::*;
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// The size of each frame, in bytes.
const FRAME: usize = 1_000_000;
/// Frames pushed per second.
const FPS: f64 = 30.0;

/// A camera whose frames the program pushes itself.
#[thing]
#[derive(Default)]
pub struct Camera {
    /// The preview.
    #[stream]
    frames: MjpegStream,
}

#[thing]
impl Camera {
    /// How many viewers are connected.
    #[property]
    fn viewers(&self) -> usize {
        self.frames.viewers()
    }
}

/// Bytes this process has handed to `write` and its kin (sockets included).
fn written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("wchar:"))
        .and_then(|n| n.trim().parse().ok())
}

/// A viewer: one connection reading `/camera/frames` into a buffer of its
/// own, counting the frames' end-of-image markers (`FF D9`) as they pass.
async fn viewer(addr: std::net::SocketAddr, frames: Arc<AtomicU64>) -> anyhow::Result<()> {
    let mut socket = TcpStream::connect(addr).await?;
    socket
        .write_all(format!("GET /camera/frames HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut buffer = vec![0u8; 256 * 1024];
    let mut after_ff = false;
    loop {
        let n = socket.read(&mut buffer).await?;
        if n == 0 {
            return Ok(());
        }
        let mut ends = 0;
        for &byte in &buffer[..n] {
            if after_ff && byte == 0xD9 {
                ends += 1;
            }
            after_ff = byte == 0xFF;
        }
        frames.fetch_add(ends, Ordering::Relaxed);
    }
}

/// Push `count` frames at [`FPS`], the same bytes each time.
async fn push(camera: &Camera, frame: &bytes::Bytes, count: u64) {
    let started = Instant::now();
    for n in 0..count {
        tokio::time::sleep_until((started + Duration::from_secs_f64(n as f64 / FPS)).into()).await;
        let _ = camera.frames.push(frame.clone());
    }
}

/// The total of every viewer's frame count.
fn delivered(counts: &[Arc<AtomicU64>]) -> u64 {
    counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
}

/// Wait until the viewers' counts stop growing (each has had what it will get).
async fn settle(counts: &[Arc<AtomicU64>]) {
    let mut last = delivered(counts);
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = delivered(counts);
        if now == last {
            return;
        }
        last = now;
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: f64 = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0);
    let camera = Arc::new(Camera::default());
    let server = Server::builder().shared_thing("camera", camera.clone()).build()?;
    let listening = server.bind("127.0.0.1:0").await?;
    let addr = listening.local_addr()?;
    tokio::spawn(listening.serve_until(std::future::pending()));

    let mut frame = vec![0x55u8; FRAME];
    frame[..2].copy_from_slice(&[0xFF, 0xD8]);
    frame[FRAME - 2..].copy_from_slice(&[0xFF, 0xD9]);
    let frame = bytes::Bytes::from(frame);
    let count = (seconds * FPS).round().max(1.0) as u64;

    for viewers in [1usize, 10, 50] {
        let counts: Vec<_> = (0..viewers).map(|_| Arc::new(AtomicU64::new(0))).collect();
        let tasks: Vec<_> = counts.iter().map(|c| tokio::spawn(viewer(addr, c.clone()))).collect();
        let connected = Instant::now();
        while camera.frames.viewers() < viewers {
            if connected.elapsed() > Duration::from_secs(10) {
                anyhow::bail!("only {} of {viewers} viewers connected", camera.frames.viewers());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // A warm-up, so that buffers that grow once have grown.
        push(&camera, &frame, 10).await;
        settle(&counts).await;

        let before = delivered(&counts);
        let written_before = written();
        let region = Region::new(GLOBAL);
        push(&camera, &frame, count).await;
        settle(&counts).await;
        let stats = region.change();
        let got = delivered(&counts).saturating_sub(before).max(1);
        let written = match (written_before, written()) {
            (Some(a), Some(b)) => Some(b.saturating_sub(a) as f64 / got as f64),
            _ => None,
        };
        println!(
            "{}",
            serde_json::json!({
                "viewers": viewers,
                "frame_bytes": FRAME,
                "frames_pushed": count,
                "frames_delivered": got,
                "allocated_bytes_per_frame_per_viewer": (stats.bytes_allocated + stats.bytes_reallocated.max(0) as usize) as f64 / got as f64,
                "allocations_per_frame_per_viewer": (stats.allocations + stats.reallocations) as f64 / got as f64,
                "written_bytes_per_frame_per_viewer": written,
            })
        );
        for task in tasks {
            task.abort();
        }
        let left = Instant::now();
        while camera.frames.viewers() > 0 && left.elapsed() < Duration::from_secs(10) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(())
}
