//! The benchmark harness: `cargo bench --bench perf` (a tool, not an example:
//! it measures the examples, it does not teach).
//!
//! Builds `examples/bench.rs` and `examples/hyper_ceiling.rs` in release mode,
//! starts both (and LabThings-FastAPI 0.3.0 serving `examples/bench_original.py`
//! when `.venv-original/` exists), runs every scenario against each in this one
//! run, and prints absolute figures and ratios. The load generator is this
//! program: a hyper 1 client on a 2-thread tokio runtime, so it shares the
//! machine's cores with the server as wrk would.
//!
//! Options (after `--`): `--seconds N` per throughput scenario (default 5),
//! `--no-build`, `--baseline PATH` (also measure the `bench` example binary
//! of an earlier build, e.g. one built in a `git worktree` of the last
//! release, as "labthings (baseline)": a before/after in one run). The
//! `--bench` flag cargo adds is ignored.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpStream;

/// A server process under test, killed when dropped.
struct Target {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    started_in: Duration,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Target {
    /// Resident memory of the server process, in bytes.
    fn rss(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }
}

/// A free TCP port on 127.0.0.1.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Start `command` (which serves on 127.0.0.1:`port`) and wait until
/// `GET /bench/count` answers; the time that took is the startup time.
async fn launch(name: &'static str, mut command: Command, port: u16) -> anyhow::Result<Target> {
    let start = Instant::now();
    let child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .with_context(|| format!("starting {name}"))?;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let mut target = Target {
        name,
        child,
        addr,
        started_in: Duration::ZERO,
    };
    let deadline = start + Duration::from_secs(60);
    loop {
        if let Ok(mut conn) = connect(addr).await
            && let Ok((200, _)) = send(&mut conn, Method::GET, "/bench/count", None).await
        {
            target.started_in = start.elapsed();
            return Ok(target);
        }
        if Instant::now() > deadline {
            bail!("{name} did not answer within 60 s");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

async fn send(
    conn: &mut SendRequest<Full<Bytes>>,
    method: Method,
    path: &str,
    body: Option<&'static str>,
) -> anyhow::Result<(u16, Bytes)> {
    conn.ready().await?;
    let mut request = Request::builder().method(method).uri(path).header("host", "127.0.0.1");
    if body.is_some() {
        request = request.header("content-type", "application/json");
    }
    let request = request.body(Full::new(Bytes::from_static(body.unwrap_or("").as_bytes())))?;
    let response = conn.send_request(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// Latencies (microseconds) and errors of one scenario.
#[derive(Default)]
struct Sample {
    latencies: Vec<u64>,
    errors: u64,
    elapsed: Duration,
}

impl Sample {
    fn merge(&mut self, other: Sample) {
        self.latencies.extend(other.latencies);
        self.errors += other.errors;
    }

    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn percentile(&mut self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return f64::NAN;
        }
        self.latencies.sort_unstable();
        let index = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[index] as f64 / 1000.0
    }
}

/// `connections` clients sending `method path` back to back for `seconds`.
async fn throughput(
    addr: SocketAddr,
    connections: usize,
    seconds: f64,
    method: Method,
    path: &'static str,
    body: Option<&'static str>,
) -> Sample {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let method = method.clone();
            tokio::spawn(async move {
                let mut sample = Sample::default();
                let Ok(mut conn) = connect(addr).await else {
                    sample.errors += 1;
                    return sample;
                };
                while Instant::now() < deadline {
                    let t = Instant::now();
                    match send(&mut conn, method.clone(), path, body).await {
                        Ok((status, _)) if status < 400 => sample.latencies.push(t.elapsed().as_micros() as u64),
                        Ok(_) => sample.errors += 1,
                        Err(_) => {
                            sample.errors += 1;
                            match connect(addr).await {
                                Ok(c) => conn = c,
                                Err(_) => return sample,
                            }
                        }
                    }
                }
                sample
            })
        })
        .collect();
    gather(tasks, start).await
}

/// Whether `wrk` is installed (it is the load generator for the plain
/// request scenarios when present: a C load generator is lighter than ours).
fn have_wrk() -> bool {
    Command::new("wrk").arg("--version").output().is_ok()
}

/// Run wrk (2 threads, 32 connections) and read requests/s, p50 (ms) and errors.
fn wrk(addr: SocketAddr, seconds: f64, method: &Method, path: &str, body: Option<&str>) -> Option<(f64, f64, f64)> {
    let mut command = Command::new("wrk");
    command.args(["-t2", "-c32", &format!("-d{}s", seconds.ceil() as u64), "--latency"]);
    let script = std::env::temp_dir().join(format!("labthings-wrk-{}.lua", std::process::id()));
    if *method != Method::GET {
        let lua = format!(
            "wrk.method = \"{method}\"\nwrk.body = \"{}\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\n",
            body.unwrap_or("")
        );
        std::fs::write(&script, lua).ok()?;
        command.arg("-s").arg(&script);
    }
    let output = command.arg(format!("http://{addr}{path}")).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let rate = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))?
        .trim()
        .parse()
        .ok()?;
    let p50 = text.lines().find_map(|l| l.trim().strip_prefix("50%")).map(|v| {
        let v = v.trim();
        let (number, unit) = v.split_at(v.find(|c: char| c.is_alphabetic()).unwrap_or(v.len()));
        let number: f64 = number.parse().unwrap_or(f64::NAN);
        match unit {
            "us" => number / 1000.0,
            "s" => number * 1000.0,
            _ => number,
        }
    })?;
    let errors = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("Non-2xx or 3xx responses:"))
        .filter_map(|v| v.trim().parse::<f64>().ok())
        .fold(0.0, |a, b| a + b);
    Some((rate, p50, errors))
}

/// Invoke `increment` and poll until completed, `clients` at once; each
/// latency is POST to seeing `completed`.
async fn invoke_and_poll(addr: SocketAddr, clients: usize, count_per_client: usize, seconds: f64) -> Sample {
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            tokio::spawn(async move {
                let mut sample = Sample::default();
                let Ok(mut conn) = connect(addr).await else {
                    sample.errors += 1;
                    return sample;
                };
                for _ in 0..count_per_client {
                    if Instant::now() > deadline {
                        break;
                    }
                    let t = Instant::now();
                    match invoke_once(&mut conn).await {
                        Ok(()) => sample.latencies.push(t.elapsed().as_micros() as u64),
                        Err(_) => {
                            sample.errors += 1;
                            match connect(addr).await {
                                Ok(c) => conn = c,
                                Err(_) => return sample,
                            }
                        }
                    }
                }
                sample
            })
        })
        .collect();
    gather(tasks, start).await
}

/// Merge the samples of every load task; `elapsed` runs from `start`.
async fn gather(tasks: Vec<tokio::task::JoinHandle<Sample>>, start: Instant) -> Sample {
    let mut total = Sample::default();
    for task in tasks {
        if let Ok(sample) = task.await {
            total.merge(sample);
        }
    }
    total.elapsed = start.elapsed();
    total
}

async fn invoke_once(conn: &mut SendRequest<Full<Bytes>>) -> anyhow::Result<()> {
    let (status, body) = send(conn, Method::POST, "/bench/increment", Some("{}")).await?;
    if status != 201 {
        bail!("POST answered {status}");
    }
    let mut invocation: Value = serde_json::from_slice(&body)?;
    loop {
        match invocation["status"].as_str() {
            Some("completed") => return Ok(()),
            Some("pending" | "running") => {}
            other => bail!("invocation ended {other:?}"),
        }
        let href = invocation["href"].as_str().context("href")?;
        let path = href
            .find("/action_invocations/")
            .map(|i| href[i..].to_owned())
            .context("path")?;
        let path: &'static str = Box::leak(path.into_boxed_str());
        let (status, body) = send(conn, Method::GET, path, None).await?;
        if status != 200 {
            bail!("poll answered {status}");
        }
        invocation = serde_json::from_slice(&body)?;
    }
}

/// One row of the report: a figure for each target.
struct Row {
    scenario: String,
    unit: &'static str,
    values: Vec<Option<f64>>,
}

fn fmt(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_nan() => "-".to_owned(),
        Some(v) if v >= 1000.0 => format!("{v:.0}"),
        Some(v) => format!("{v:.3}"),
        None => "-".to_owned(),
    }
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seconds: f64 = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let root = repo_root();
    if !args.iter().any(|a| a == "--no-build") {
        let status = Command::new(env!("CARGO"))
            .args(["build", "--release", "--example", "bench", "--example", "hyper_ceiling"])
            .current_dir(&root)
            .status()?;
        if !status.success() {
            bail!("building the examples failed");
        }
    }
    let examples = root.join("target/release/examples");

    let mut targets = Vec::new();
    let port = free_port()?;
    // Keep every invocation of the run (the default keeps the newest 1000),
    // so the memory a retained invocation costs can be measured below.
    let config = std::env::temp_dir().join(format!("labthings-perf-{}.toml", std::process::id()));
    std::fs::write(
        &config,
        "[limits]\nmax_retained = 1000000\nmax_list = 1000000\n\n[things.bench]\ntype = \"Bench\"\n",
    )?;
    let mut bench = Command::new(examples.join("bench"));
    bench
        .args(["--port", &port.to_string(), "--config"])
        .arg(&config)
        .env("RUST_LOG", "warn");
    targets.push(launch("labthings", bench, port).await?);
    if let Some(baseline) = args
        .iter()
        .position(|a| a == "--baseline")
        .and_then(|i| args.get(i + 1))
    {
        let port = free_port()?;
        let mut before = Command::new(baseline);
        before
            .args(["--port", &port.to_string(), "--config"])
            .arg(&config)
            .env("RUST_LOG", "warn");
        targets.push(launch("labthings (baseline)", before, port).await?);
    }
    let port = free_port()?;
    let mut ceiling = Command::new(examples.join("hyper_ceiling"));
    ceiling.args(["--port", &port.to_string()]);
    targets.push(launch("hyper ceiling", ceiling, port).await?);
    let venv = root.join(".venv-original/bin/labthings-server");
    if Path::new(&venv).exists() {
        let port = free_port()?;
        let mut original = Command::new(&venv);
        original
            .args([
                "-j",
                r#"{"things": {"bench": "bench_original:Bench"}}"#,
                "--port",
                &port.to_string(),
            ])
            .env("PYTHONPATH", root.join("examples"));
        targets.push(launch("LabThings-FastAPI 0.3.0", original, port).await?);
    } else {
        eprintln!("(no .venv-original/: the original is not measured; see the README to add it)");
    }
    let invocations_ok = |t: &Target| t.name != "hyper ceiling";

    let mut rows: Vec<Row> = Vec::new();
    let mut row = |scenario: &str, unit: &'static str, values: Vec<Option<f64>>| {
        rows.push(Row {
            scenario: scenario.to_owned(),
            unit,
            values,
        })
    };

    row(
        "startup to first response",
        "ms",
        targets
            .iter()
            .map(|t| Some(t.started_in.as_secs_f64() * 1000.0))
            .collect(),
    );
    row(
        "RSS idle",
        "MB",
        targets.iter().map(|t| t.rss().map(|b| b as f64 / 1e6)).collect(),
    );

    let scenarios: [(&str, Method, &'static str, Option<&'static str>, bool); 3] = [
        ("property GET /bench/count", Method::GET, "/bench/count", None, true),
        ("TD GET /bench/", Method::GET, "/bench/", None, false),
        (
            "property PUT /bench/count",
            Method::PUT,
            "/bench/count",
            Some("7"),
            false,
        ),
    ];
    let use_wrk = have_wrk();
    eprintln!(
        "load generator for plain requests: {}",
        if use_wrk {
            "wrk -t2 -c32"
        } else {
            "built-in hyper client, 32 connections (install wrk to use it)"
        }
    );
    for (name, method, path, body, ceiling_too) in scenarios {
        eprintln!("running: {name}");
        let mut rates = Vec::new();
        let mut p50s = Vec::new();
        let mut errors = Vec::new();
        for target in &targets {
            if target.name == "hyper ceiling" && !ceiling_too {
                rates.push(None);
                p50s.push(None);
                errors.push(None);
                continue;
            }
            if use_wrk && let Some((rate, p50, errs)) = wrk(target.addr, seconds, &method, path, body) {
                rates.push(Some(rate));
                p50s.push(Some(p50));
                errors.push(Some(errs));
                continue;
            }
            let mut sample = throughput(target.addr, 32, seconds, method.clone(), path, body).await;
            rates.push(Some(sample.rate()));
            p50s.push(Some(sample.percentile(0.5)));
            errors.push(Some(sample.errors as f64));
        }
        row(&format!("{name}, 32 conns"), "req/s", rates);
        row(&format!("{name}, 32 conns, p50"), "ms", p50s);
        row(&format!("{name}, 32 conns, errors"), "count", errors);
    }

    for clients in [1usize, 32] {
        eprintln!("running: invoke increment and poll, {clients} client(s)");
        let mut rates = Vec::new();
        let mut p50s = Vec::new();
        let mut p99s = Vec::new();
        let mut errors = Vec::new();
        for target in &targets {
            if !invocations_ok(target) {
                for v in [&mut rates, &mut p50s, &mut p99s, &mut errors] {
                    v.push(None);
                }
                continue;
            }
            let mut sample = invoke_and_poll(target.addr, clients, usize::MAX, seconds).await;
            rates.push(Some(sample.rate()));
            p50s.push(Some(sample.percentile(0.5)));
            p99s.push(Some(sample.percentile(0.99)));
            errors.push(Some(sample.errors as f64));
        }
        row(&format!("invoke+poll, {clients} client(s)"), "inv/s", rates);
        row(&format!("invoke+poll, {clients} client(s), p50"), "ms", p50s);
        row(&format!("invoke+poll, {clients} client(s), p99"), "ms", p99s);
        row(&format!("invoke+poll, {clients} client(s), errors"), "count", errors);
    }

    // Memory per retained invocation: run 10,000 more and compare RSS.
    eprintln!("running: 10,000 retained invocations");
    let mut after = Vec::new();
    let mut per = Vec::new();
    for target in &targets {
        if !invocations_ok(target) {
            after.push(None);
            per.push(None);
            continue;
        }
        let before = target.rss();
        let sample = invoke_and_poll(target.addr, 8, 10_000 / 8, 600.0).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = target.rss();
        after.push(now.map(|b| b as f64 / 1e6));
        per.push(match (before, now) {
            (Some(b), Some(a)) if !sample.latencies.is_empty() => {
                Some(a.saturating_sub(b) as f64 / sample.latencies.len() as f64)
            }
            _ => None,
        });
    }
    row("RSS after 10,000 more retained invocations", "MB", after);
    row("RSS per retained invocation", "bytes", per);

    // The report: every target's figure, then labthings over each other
    // target, headed by that target's name (so a baseline, the ceiling and
    // the original each get their own ratio column, whichever are present).
    let names: Vec<&str> = targets.iter().map(|t| t.name).collect();
    let ratio_heads: Vec<String> = names.iter().skip(1).map(|n| format!("labthings / {n}")).collect();
    println!();
    println!(
        "| scenario | unit | {} | {} |",
        names.join(" | "),
        ratio_heads.join(" | ")
    );
    println!("|---|---|{}", "---|".repeat(names.len() + ratio_heads.len()));
    for row in &rows {
        let ours = row.values.first().copied().flatten();
        let ratio = |other: Option<f64>| match (ours, other) {
            (Some(a), Some(b)) if b != 0.0 && !a.is_nan() && !b.is_nan() => format!("{:.2}", a / b),
            _ => "-".to_owned(),
        };
        let values: Vec<String> = row.values.iter().map(|v| fmt(*v)).collect();
        let ratios: Vec<String> = row.values.iter().skip(1).map(|v| ratio(*v)).collect();
        println!(
            "| {} | {} | {} | {} |",
            row.scenario,
            row.unit,
            values.join(" | "),
            ratios.join(" | ")
        );
    }
    Ok(())
}
