//! The harness's fan-out scenario (a lab of many instruments): a property
//! changing `rate` times a second on each of two bench servers, seen by
//! `observers` MQTT subscribers through a Mosquitto broker the harness
//! starts, next to the same fan-out over our SSE (one server, `observers`
//! SSE observers). Each change is a `PUT /bench/count` of the next number,
//! so a value's latency is from the start of its PUT to its arrival.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use http_body_util::BodyExt;
use hyper::Method;
use parking_lot::Mutex;
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

use super::{Target, connect, cpu_seconds, free_port, launch, send};

/// What one transport delivered: figures for the report.
pub(crate) struct Delivered {
    /// Messages received by all observers per second of the run.
    pub(crate) rate: f64,
    /// Latency percentiles in milliseconds.
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    /// Values sent but never received, summed over observers.
    pub(crate) lost: u64,
    /// Values sent, per server.
    pub(crate) sent: u64,
    /// CPU used while the values were sent, in % of one core: each server
    /// (averaged), the broker (MQTT only), and this harness (the observers
    /// and the writers).
    pub(crate) server_cpu: f64,
    pub(crate) broker_cpu: Option<f64>,
    pub(crate) harness_cpu: f64,
}

/// CPU time of some processes over a stretch of the run.
struct CpuMeter {
    pids: Vec<u32>,
    start: Vec<f64>,
    began: Instant,
}

impl CpuMeter {
    fn start(pids: Vec<u32>) -> Self {
        let start = pids.iter().map(|p| cpu_seconds(*p).unwrap_or(0.0)).collect();
        Self {
            pids,
            start,
            began: Instant::now(),
        }
    }

    /// Each process's CPU use since `start`, in % of one core.
    fn percent(&self) -> Vec<f64> {
        let wall = self.began.elapsed().as_secs_f64().max(1e-9);
        self.pids
            .iter()
            .zip(&self.start)
            .map(|(p, s)| (cpu_seconds(*p).unwrap_or(*s) - s) / wall * 100.0)
            .collect()
    }
}

/// A Mosquitto broker on a free port, killed when dropped.
struct Broker(Child, u16);

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn broker(dir: &Path) -> anyhow::Result<Broker> {
    let port = free_port()?;
    let config = dir.join("mosquitto.conf");
    std::fs::write(
        &config,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 100000\n"),
    )?;
    // The broker `cargo xtask setup` unpacks into the repository.
    let mosquitto = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/mosquitto/usr/sbin/mosquitto");
    let child = Command::new(mosquitto)
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("starting mosquitto (`cargo xtask setup` unpacks it into .tools/mosquitto/)")?;
    let broker = Broker(child, port);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            bail!("mosquitto did not listen");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(broker)
}

/// Change `/bench/count` on `target` `rate` times a second for `seconds`:
/// the send time of each value 1, 2, ... (index = value - 1).
async fn write_values(target: std::net::SocketAddr, rate: u32, seconds: f64) -> anyhow::Result<Vec<Instant>> {
    let mut conn = connect(target).await?;
    let mut sent = Vec::new();
    let mut ticks = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate.max(1))));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let end = Instant::now() + Duration::from_secs_f64(seconds);
    let mut value: u64 = 0;
    while Instant::now() < end {
        ticks.tick().await;
        value += 1;
        let body: &'static str = Box::leak(value.to_string().into_boxed_str());
        sent.push(Instant::now());
        let (status, _) = send(&mut conn, Method::PUT, "/bench/count", Some(body)).await?;
        if status != 201 {
            bail!("PUT answered {status}");
        }
    }
    Ok(sent)
}

/// Arrivals one observer saw: (server index, value, when).
type Arrivals = Arc<Mutex<Vec<(usize, u64, Instant)>>>;

/// Latencies, loss and rate from what was sent and what arrived.
fn tally(sent: &[Vec<Instant>], arrivals: &[Arrivals], seconds: f64, cpu: &[f64], broker: bool) -> Delivered {
    let mut latencies: Vec<f64> = Vec::new();
    let mut lost: u64 = 0;
    let mut received: u64 = 0;
    for observer in arrivals {
        let seen = observer.lock();
        for (server, times) in sent.iter().enumerate() {
            let mut got = vec![false; times.len()];
            for &(s, value, at) in seen.iter() {
                let Some(index) = (value as usize).checked_sub(1) else {
                    continue;
                };
                if s != server || index >= times.len() || got[index] {
                    continue;
                }
                got[index] = true;
                received += 1;
                latencies.push(at.saturating_duration_since(times[index]).as_secs_f64() * 1000.0);
            }
            lost += got.iter().filter(|g| !**g).count() as u64;
        }
    }
    latencies.sort_by(f64::total_cmp);
    let pick = |p: f64| {
        latencies
            .get(((latencies.len().max(1) - 1) as f64 * p).round() as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    Delivered {
        rate: received as f64 / seconds,
        p50: pick(0.5),
        p99: pick(0.99),
        lost,
        sent: sent.first().map_or(0, |s| s.len() as u64),
        // `cpu` is [harness, broker?, servers...].
        harness_cpu: cpu.first().copied().unwrap_or(f64::NAN),
        broker_cpu: if broker { cpu.get(1).copied() } else { None },
        server_cpu: {
            let servers = &cpu[(1 + usize::from(broker)).min(cpu.len())..];
            servers.iter().sum::<f64>() / servers.len().max(1) as f64
        },
    }
}

/// Two bench servers with the MQTT binding, `observers` MQTT subscribers.
pub(crate) async fn mqtt(
    examples: &Path,
    observers: usize,
    qos: QoS,
    rate: u32,
    seconds: f64,
) -> anyhow::Result<Delivered> {
    let dir = std::env::temp_dir().join(format!("labthings-fanout-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let broker = broker(&dir)?;
    let mut servers: Vec<Target> = Vec::new();
    for n in 1..=2 {
        let config = dir.join(format!("lab{n}.toml"));
        std::fs::write(
            &config,
            format!(
                "[mqtt]\nbroker = \"mqtt://127.0.0.1:{}\"\nclient_id = \"lab{n}\"\nbuffer = 10000\n\n[things.bench]\ntype = \"Bench\"\n",
                broker.1
            ),
        )?;
        let (command, port) = super::bench_server(examples, &config)?;
        servers.push(launch(if n == 1 { "lab1" } else { "lab2" }, command, port).await?);
    }
    let mut arrivals = Vec::new();
    let mut subscribers = Vec::new();
    for i in 0..observers {
        let seen: Arrivals = Arc::default();
        arrivals.push(seen.clone());
        let mut options = MqttOptions::new(format!("fanout-{i}"), "127.0.0.1", broker.1);
        options.set_keep_alive(Duration::from_secs(30));
        let (client, mut eventloop) = AsyncClient::new(options, 100);
        client.subscribe("labthings/+/bench/properties/count", qos).await?;
        let (subscribed, ready) = tokio::sync::oneshot::channel();
        let mut subscribed = Some(subscribed);
        subscribers.push(tokio::spawn(async move {
            let _client = client;
            while let Ok(event) = eventloop.poll().await {
                match event {
                    Event::Incoming(Packet::SubAck(_)) => {
                        if let Some(s) = subscribed.take() {
                            let _ = s.send(());
                        }
                    }
                    Event::Incoming(Packet::Publish(p)) => {
                        let server = usize::from(p.topic.starts_with("labthings/lab2/"));
                        if let Some(value) = std::str::from_utf8(&p.payload).ok().and_then(|t| t.parse().ok()) {
                            seen.lock().push((server, value, Instant::now()));
                        }
                    }
                    _ => {}
                }
            }
        }));
        let _ = tokio::time::timeout(Duration::from_secs(10), ready).await;
    }
    // The servers have announced their retained values by now; clear them.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for seen in &arrivals {
        seen.lock().clear();
    }
    let mut pids = vec![std::process::id(), broker.0.id()];
    pids.extend(servers.iter().map(|s| s.child.id()));
    let meter = CpuMeter::start(pids);
    let writers: Vec<_> = servers
        .iter()
        .map(|s| tokio::spawn(write_values(s.addr, rate, seconds)))
        .collect();
    let mut sent = Vec::new();
    for writer in writers {
        sent.push(writer.await??);
    }
    let cpu = meter.percent();
    tokio::time::sleep(Duration::from_secs(1)).await;
    for subscriber in subscribers {
        subscriber.abort();
    }
    drop(servers);
    drop(broker);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(tally(&sent, &arrivals, seconds, &cpu, true))
}

/// One bench server (the harness's labthings target), `observers` SSE
/// observers of `/bench/count/observe`.
pub(crate) async fn sse(target: &Target, observers: usize, rate: u32, seconds: f64) -> anyhow::Result<Delivered> {
    let mut arrivals = Vec::new();
    let mut readers = Vec::new();
    for _ in 0..observers {
        let seen: Arrivals = Arc::default();
        arrivals.push(seen.clone());
        let response = super::live::open_stream(target.addr, "/bench/count/observe").await?;
        let mut body = response.into_body();
        readers.push(tokio::spawn(async move {
            let mut pending = String::new();
            while let Some(Ok(frame)) = body.frame().await {
                let Some(data) = frame.data_ref() else { continue };
                pending.push_str(&String::from_utf8_lossy(data));
                while let Some(end) = pending.find("\n\n") {
                    let message: String = pending.drain(..end + 2).collect();
                    let value = message
                        .lines()
                        .find_map(|l| l.strip_prefix("data:"))
                        .and_then(|d| d.trim().parse().ok());
                    if let Some(value) = value {
                        seen.lock().push((0, value, Instant::now()));
                    }
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for seen in &arrivals {
        seen.lock().clear();
    }
    let meter = CpuMeter::start(vec![std::process::id(), target.child.id()]);
    let sent = write_values(target.addr, rate, seconds).await?;
    let cpu = meter.percent();
    tokio::time::sleep(Duration::from_secs(1)).await;
    for reader in readers {
        reader.abort();
    }
    Ok(tally(&[sent], &arrivals, seconds, &cpu, false))
}
