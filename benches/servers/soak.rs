//! The soak: the mock lab as its own process under a mixed workload for a
//! while, its resident memory, threads and open file descriptors sampled at
//! a fixed interval. It fails if any of them keeps growing once the
//! retention window has passed (finished invocations are dropped after it,
//! so a server that leaks nothing levels off), or if any request fails.
//!
//! ```text
//! cargo run --release --example soak                    # 10 minutes, a sample every 10 s
//! cargo run --release --example soak -- --seconds 60 --interval 5 --retention 10
//! ```
//!
//! The workload, all on 127.0.0.1: property reads (values, the TD, an
//! invocation list page) and writes (a setting included), stage moves and
//! camera snaps with their blobs downloaded, acquisitions (409 when one is
//! running is expected), a WebSocket observing the stage, an SSE observer
//! and an MJPEG viewer.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};

/// What to run.
#[derive(Debug, Clone)]
pub struct SoakOptions {
    /// The mock lab binary.
    pub server: PathBuf,
    /// How long the workload runs.
    pub duration: Duration,
    /// How often resources are sampled.
    pub interval: Duration,
    /// The server's retention of finished invocations.
    pub retention: Duration,
}

/// One sample of the server process's resources.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Seconds since the workload started.
    pub at: f64,
    /// Resident memory, bytes.
    pub rss: u64,
    /// Threads.
    pub threads: u64,
    /// Open file descriptors.
    pub fds: u64,
}

/// What a soak measured.
#[derive(Debug)]
pub struct SoakReport {
    /// Every sample, in order.
    pub samples: Vec<Sample>,
    /// Requests that answered as expected.
    pub ok: u64,
    /// Requests that failed (a transport error or an unexpected status).
    pub errors: u64,
    /// The first few failures, for the report.
    pub first_errors: Vec<String>,
    /// Why the resources count as growing, if they do.
    pub growth: Vec<String>,
    /// Seconds after which the samples count (the retention window and
    /// one interval).
    pub warmup: f64,
}

impl SoakReport {
    /// Whether the soak passed: no failed request, nothing kept growing.
    pub fn passed(&self) -> bool {
        self.errors == 0 && self.growth.is_empty()
    }

    /// The least-squares slope of `metric` over the samples after the
    /// warm-up, per minute (`None` with fewer than two such samples).
    pub fn slope_per_minute(&self, metric: impl Fn(&Sample) -> f64) -> Option<f64> {
        let points: Vec<(f64, f64)> = self
            .samples
            .iter()
            .filter(|s| s.at >= self.warmup)
            .map(|s| (s.at / 60.0, metric(s)))
            .collect();
        let n = points.len() as f64;
        if points.len() < 2 {
            return None;
        }
        let (mx, my) = (
            points.iter().map(|p| p.0).sum::<f64>() / n,
            points.iter().map(|p| p.1).sum::<f64>() / n,
        );
        let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
        let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 - my)).sum();
        (sxx > 0.0).then(|| sxy / sxx)
    }
}

fn sample(pid: u32, at: f64) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Sample {
        at,
        rss: field("VmRSS:")? * 1024,
        threads: field("Threads:")?,
        fds,
    })
}

/// Whether a metric keeps growing: the least value of the later half of
/// the samples is above the greatest of the earlier half by more than
/// `allowance`.
fn grows(values: &[u64], allowance: u64) -> Option<(u64, u64)> {
    if values.len() < 4 {
        return None;
    }
    let (early, late) = values.split_at(values.len() / 2);
    let early_max = early.iter().copied().max()?;
    let late_min = late.iter().copied().min()?;
    (late_min > early_max.saturating_add(allowance)).then_some((early_max, late_min))
}

/// Judge the samples taken after the retention window (plus one interval).
fn judge(samples: &[Sample], warmup: f64) -> Vec<String> {
    let settled: Vec<&Sample> = samples.iter().filter(|s| s.at >= warmup).collect();
    let mut growth = Vec::new();
    let rss: Vec<u64> = settled.iter().map(|s| s.rss).collect();
    let rss_allowance = (8 << 20).max(rss.iter().copied().max().unwrap_or(0) / 10);
    if let Some((before, after)) = grows(&rss, rss_allowance) {
        growth.push(format!("RSS kept growing: {before} B -> at least {after} B"));
    }
    let threads: Vec<u64> = settled.iter().map(|s| s.threads).collect();
    if let Some((before, after)) = grows(&threads, 4) {
        growth.push(format!("threads kept growing: {before} -> at least {after}"));
    }
    let fds: Vec<u64> = settled.iter().map(|s| s.fds).collect();
    if let Some((before, after)) = grows(&fds, 8) {
        growth.push(format!("file descriptors kept growing: {before} -> at least {after}"));
    }
    growth
}

/// Counts of outcomes, shared by the workload's tasks.
#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    errors: AtomicU64,
    first: parking_lot::Mutex<Vec<String>>,
}

impl Tally {
    fn record(&self, what: &str, outcome: Result<u16, String>, expected: &[u16]) -> Option<u16> {
        match outcome {
            Ok(status) if expected.contains(&status) => {
                self.ok.fetch_add(1, Ordering::Relaxed);
                Some(status)
            }
            other => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                let mut first = self.first.lock();
                if first.len() < 10 {
                    first.push(format!("{what}: {other:?}"));
                }
                None
            }
        }
    }
}

/// The server process, killed when dropped.
struct Lab {
    child: Child,
    url: String,
    _dir: TempDir,
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scratch folder, removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn start_lab(server: &Path, retention: Duration) -> anyhow::Result<Lab> {
    use std::io::BufRead;
    let dir = std::env::temp_dir().join(format!("labthings-soak-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    let config = format!(
        "settings_dir = \"settings\"\n\n[invocations]\nretention_s = {}\n\n[limits]\nexpiry_interval_s = 1\n\n\
         [things.stage]\ntype = \"Stage\"\nconfig = {{ step_delay_ms = 0 }}\n\n\
         [things.camera]\ntype = \"Camera\"\n\n[things.autofocus]\ntype = \"Autofocus\"\n",
        retention.as_secs_f64()
    );
    std::fs::write(dir.join("lab.toml"), config)?;
    let mut child = Command::new(server)
        .args(["--port", "0", "--config", "lab.toml"])
        .current_dir(&dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {}", server.display()))?;
    let stdout = child.stdout.take().context("stdout")?;
    let mut lines = std::io::BufReader::new(stdout).lines();
    let url = loop {
        match lines.next() {
            Some(Ok(line)) => {
                if let Some(url) = line.strip_prefix("listening on ") {
                    break url.trim().to_owned();
                }
            }
            _ => bail!("the mock lab exited before listening"),
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Ok(Lab {
        child,
        url,
        _dir: TempDir(dir),
    })
}

async fn status(request: reqwest::RequestBuilder) -> Result<(u16, Value), String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

/// Run the soak and report what it measured.
pub async fn run(options: SoakOptions) -> anyhow::Result<SoakReport> {
    let lab = start_lab(&options.server, options.retention)?;
    let pid = lab.child.id();
    let url = lab.url.clone();
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();

    // Reads.
    tasks.push(tokio::spawn({
        let (url, client, stop, tally) = (url.clone(), client.clone(), stop.clone(), tally.clone());
        async move {
            let paths = [
                "/stage/position",
                "/camera/exposure_ms",
                "/stage/",
                "/action_invocations?limit=10",
            ];
            while !stop.load(Ordering::Relaxed) {
                for path in paths {
                    let outcome = status(client.get(format!("{url}{path}"))).await.map(|(s, _)| s);
                    tally.record(path, outcome, &[200]);
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    }));
    // Writes, a setting among them.
    tasks.push(tokio::spawn({
        let (url, client, stop, tally) = (url.clone(), client.clone(), stop.clone(), tally.clone());
        async move {
            let mut n = 0_u64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let writes = [
                    ("/camera/exposure_ms", json!(1 + n % 50)),
                    ("/stage/steps_per_um", json!(1.0 + (n % 7) as f64)),
                    ("/stage/step_delay_ms", json!(0)),
                ];
                for (path, value) in writes {
                    let outcome = status(client.put(format!("{url}{path}")).json(&value)).await;
                    tally.record(path, outcome.map(|(s, _)| s), &[201]);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }));
    // Invocations: moves, snaps with their blobs, acquisitions.
    tasks.push(tokio::spawn({
        let (url, client, stop, tally) = (url.clone(), client.clone(), stop.clone(), tally.clone());
        async move {
            let mut n = 0_i64;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let x = if n % 2 == 0 { 2 } else { -2 };
                let moved = status(client.post(format!("{url}/stage/move_relative")).json(&json!({"x": x}))).await;
                tally.record("move_relative", moved.map(|(s, _)| s), &[201]);
                let snapped = status(client.post(format!("{url}/camera/snap?return=output")).json(&json!({}))).await;
                if let Ok((200, blob)) = &snapped
                    && let Some(href) = blob["href"].as_str()
                {
                    let outcome = client.get(href).send().await.map_err(|e| e.to_string());
                    let outcome = match outcome {
                        Ok(response) => {
                            let code = response.status().as_u16();
                            response.bytes().await.map(|_| code).map_err(|e| e.to_string())
                        }
                        Err(e) => Err(e),
                    };
                    tally.record("blob", outcome, &[200]);
                }
                tally.record("snap", snapped.map(|(s, _)| s), &[200]);
                let acquired = status(client.post(format!("{url}/camera/acquire")).json(&json!({"count": 1}))).await;
                tally.record("acquire", acquired.map(|(s, _)| s), &[201, 409]);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }
    }));
    // A WebSocket observing the stage's position and moves.
    tasks.push(tokio::spawn({
        let (url, stop, tally) = (url.clone(), stop.clone(), tally.clone());
        async move {
            let ws = url.replacen("http://", "ws://", 1) + "/stage/ws";
            let connected = tokio_tungstenite::connect_async(&ws).await;
            let Ok((mut socket, _)) = connected else {
                tally.record("websocket", Err("could not connect".into()), &[]);
                return;
            };
            let observe = [
                json!({"messageType": "addPropertyObservation", "data": {"position": true}}),
                json!({"messageType": "addActionObservation", "data": {"move_relative": true}}),
            ];
            for message in observe {
                let _ = socket
                    .send(tokio_tungstenite::tungstenite::Message::text(message.to_string()))
                    .await;
            }
            while !stop.load(Ordering::Relaxed) {
                match tokio::time::timeout(Duration::from_millis(500), socket.next()).await {
                    Ok(Some(Ok(_))) | Err(_) => {}
                    Ok(other) => {
                        tally.record("websocket", Err(format!("ended: {other:?}")), &[]);
                        return;
                    }
                }
            }
        }
    }));
    // An SSE observer and an MJPEG viewer.
    for path in ["/stage/position/observe", "/camera/preview"] {
        tasks.push(tokio::spawn({
            let (url, client, stop, tally) = (url.clone(), client.clone(), stop.clone(), tally.clone());
            async move {
                let mut response = match client.get(format!("{url}{path}")).send().await {
                    Ok(response) => response,
                    Err(e) => {
                        tally.record(path, Err(e.to_string()), &[]);
                        return;
                    }
                };
                while !stop.load(Ordering::Relaxed) {
                    match tokio::time::timeout(Duration::from_millis(500), response.chunk()).await {
                        Ok(Ok(Some(_))) | Err(_) => {}
                        Ok(other) => {
                            tally.record(path, Err(format!("ended: {other:?}")), &[]);
                            return;
                        }
                    }
                }
            }
        }));
    }

    let start = Instant::now();
    let mut samples = Vec::new();
    println!(
        "{:>7} {:>10} {:>8} {:>6} {:>10} {:>7}",
        "t (s)", "RSS (MB)", "threads", "fds", "requests", "errors"
    );
    loop {
        let at = start.elapsed().as_secs_f64();
        let now = sample(pid, at).context("the server process is gone")?;
        println!(
            "{:>7.0} {:>10.1} {:>8} {:>6} {:>10} {:>7}",
            now.at,
            now.rss as f64 / 1e6,
            now.threads,
            now.fds,
            tally.ok.load(Ordering::Relaxed),
            tally.errors.load(Ordering::Relaxed)
        );
        samples.push(now);
        if start.elapsed() >= options.duration {
            break;
        }
        tokio::time::sleep(options.interval).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        let _ = task.await;
    }
    let warmup = (options.retention + options.interval).as_secs_f64();
    let growth = judge(&samples, warmup);
    drop(lab);
    Ok(SoakReport {
        samples,
        ok: tally.ok.load(Ordering::Relaxed),
        errors: tally.errors.load(Ordering::Relaxed),
        first_errors: tally.first.lock().clone(),
        growth,
        warmup,
    })
}

/// The value after `flag` on the command line, parsed.
fn option<T: std::str::FromStr>(args: &[String], flag: &str) -> Option<T> {
    let at = args.iter().position(|a| a == flag)?;
    args.get(at + 1)?.parse().ok()
}

#[allow(dead_code)]
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    if !args.iter().any(|a| a == "--no-build") {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--example", "mock_lab"])
            .current_dir(&root)
            .status()?;
        if !status.success() {
            bail!("building the mock lab failed");
        }
    }
    let options = SoakOptions {
        server: root.join("target/release/examples/mock_lab"),
        duration: Duration::from_secs_f64(option(&args, "--seconds").unwrap_or(600.0)),
        interval: Duration::from_secs_f64(option(&args, "--interval").unwrap_or(10.0)),
        retention: Duration::from_secs_f64(option(&args, "--retention").unwrap_or(60.0)),
    };
    println!(
        "soak: {:?} of mixed load on the mock lab (retention {:?}), a sample every {:?}",
        options.duration, options.retention, options.interval
    );
    let report = run(options).await?;
    println!("requests: {} ok, {} failed", report.ok, report.errors);
    for failure in &report.first_errors {
        println!("  failed: {failure}");
    }
    for growth in &report.growth {
        println!("  {growth}");
    }
    let slope = |metric: fn(&Sample) -> f64| report.slope_per_minute(metric).unwrap_or(f64::NAN);
    println!(
        "slopes after the warm-up, per minute: RSS {:+.3} MB, threads {:+.2}, fds {:+.2}",
        slope(|s| s.rss as f64 / 1e6),
        slope(|s| s.threads as f64),
        slope(|s| s.fds as f64)
    );
    if report.passed() {
        println!("soak passed: nothing kept growing after the retention window");
        Ok(())
    } else {
        bail!("soak failed")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(rss: &[u64], threads: &[u64]) -> Vec<Sample> {
        rss.iter()
            .zip(threads)
            .enumerate()
            .map(|(i, (&rss, &threads))| Sample {
                at: i as f64 * 10.0,
                rss,
                threads,
                fds: 20,
            })
            .collect()
    }

    #[test]
    fn steady_growth_is_caught_and_a_plateau_passes() {
        const MB: u64 = 1 << 20;
        let leaking = series(&[40 * MB, 60 * MB, 80 * MB, 100 * MB, 120 * MB, 140 * MB], &[9; 6]);
        assert_eq!(judge(&leaking, 0.0).len(), 1, "{:?}", judge(&leaking, 0.0));
        let level = series(
            &[40 * MB, 44 * MB, 42 * MB, 45 * MB, 43 * MB, 44 * MB],
            &[9, 10, 9, 11, 10, 9],
        );
        assert!(judge(&level, 0.0).is_empty());
        let threads = series(&[40 * MB; 6], &[9, 20, 40, 60, 80, 100]);
        assert!(judge(&threads, 0.0)[0].contains("threads"));
        // Samples inside the retention window are not judged.
        assert!(judge(&leaking, 100.0).is_empty());
    }

    #[test]
    fn the_slope_is_per_minute_after_the_warmup() {
        const MB: u64 = 1_000_000;
        // 10 s apart: +1 MB per sample is +6 MB a minute; the first two
        // samples (inside the warm-up) would bend it.
        let samples = series(&[90 * MB, 50 * MB, 40 * MB, 41 * MB, 42 * MB, 43 * MB], &[9; 6]);
        let report = SoakReport {
            samples,
            ok: 1,
            errors: 0,
            first_errors: Vec::new(),
            growth: Vec::new(),
            warmup: 20.0,
        };
        let slope = report.slope_per_minute(|s| s.rss as f64 / 1e6).expect("a slope");
        assert!((slope - 6.0).abs() < 1e-9, "{slope}");
        assert_eq!(report.slope_per_minute(|s| s.threads as f64), Some(0.0));
    }
}
