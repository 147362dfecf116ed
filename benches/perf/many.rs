//! The harness's many-things scenario: a server with 100 `Wide` things (ten
//! properties and ten actions each, `benches/servers/bench.rs`; the same class in
//! `benches/servers/bench_original.py`) beside the `bench` thing, ours and the
//! original started the same way: startup time, resident memory, the rate
//! of `GET /thing_descriptions/` and of one thing's TD, and how long the
//! first `GET /openapi.json` (the document made for the first time) and a
//! later one take.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use hyper::Method;

use super::{Target, connect, free_port, launch, send, throughput};

/// How many `Wide` things the server holds.
pub(crate) const THINGS: usize = 100;

/// What the scenario measured of one server.
pub(crate) struct Many {
    pub(crate) startup_ms: f64,
    pub(crate) rss_mb: Option<f64>,
    pub(crate) all_tds_rate: f64,
    pub(crate) one_td_rate: f64,
    pub(crate) first_openapi_ms: f64,
    pub(crate) later_openapi_ms: f64,
}

/// Start `command` (which serves on `port`) and measure it.
async fn measure(name: &'static str, command: Command, port: u16, seconds: f64) -> anyhow::Result<Many> {
    let target: Target = launch(name, command, port).await?;
    let rss_mb = target.rss().map(|b| b as f64 / 1e6);
    let mut conn = connect(target.addr).await?;
    let timed = async |conn: &mut _| {
        let start = Instant::now();
        let answered = send(conn, Method::GET, "/openapi.json", None).await;
        (start.elapsed().as_secs_f64() * 1000.0, answered)
    };
    let (first_openapi_ms, first) = timed(&mut conn).await;
    let (later_openapi_ms, later) = timed(&mut conn).await;
    for answered in [first, later] {
        let (status, _) = answered?;
        anyhow::ensure!(status == 200, "{name}: GET /openapi.json answered {status}");
    }
    let all = throughput(target.addr, 8, seconds, Method::GET, "/thing_descriptions/", None).await;
    let one = throughput(target.addr, 32, seconds, Method::GET, "/w42/", None).await;
    anyhow::ensure!(
        all.errors == 0 && one.errors == 0,
        "{name}: {} and {} errors",
        all.errors,
        one.errors
    );
    Ok(Many {
        startup_ms: target.started_in.as_secs_f64() * 1000.0,
        rss_mb,
        all_tds_rate: all.rate(),
        one_td_rate: one.rate(),
        first_openapi_ms,
        later_openapi_ms,
    })
}

/// Ours: the `bench` example with a configuration of `THINGS` Wide things.
pub(crate) async fn ours(examples: &Path, seconds: f64) -> anyhow::Result<Many> {
    let config = std::env::temp_dir().join(format!("labthings-many-{}.toml", std::process::id()));
    let mut text = String::from("[things.bench]\ntype = \"Bench\"\n");
    for n in 0..THINGS {
        text.push_str(&format!("\n[things.w{n:02}]\ntype = \"Wide\"\n"));
    }
    std::fs::write(&config, text)?;
    let (command, port) = super::bench_server(examples, &config)?;
    let measured = measure("labthings, 100 things", command, port, seconds).await;
    let _ = std::fs::remove_file(&config);
    measured
}

/// The original 0.3.0 from `venv`, serving the same things.
pub(crate) async fn original(venv: &Path, examples: &Path, seconds: f64) -> anyhow::Result<Many> {
    let mut things = serde_json::Map::new();
    things.insert("bench".into(), "bench_original:Bench".into());
    for n in 0..THINGS {
        things.insert(format!("w{n:02}"), "bench_original:Wide".into());
    }
    let port = free_port()?;
    let mut command = Command::new(venv);
    command
        .args([
            "-j",
            &serde_json::json!({ "things": things }).to_string(),
            "--port",
            &port.to_string(),
        ])
        .env("PYTHONPATH", examples);
    measure("LabThings-FastAPI 0.3.0, 100 things", command, port, seconds).await
}
