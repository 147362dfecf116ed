//! The harness's record-store scenario (`--only records`): what recording
//! every invocation on disk costs. Three `bench` servers, one with
//! `[records]` in a scratch folder (the default, `survives = "power-cut"`),
//! one with `survives = "crash"` in another, and one with `enabled =
//! false`, take turns (three rounds, medians) at invoke-and-poll of the
//! quick `increment` action with 1, 32 and 128 clients (each client waits
//! for each answer, so 1 and 32 clients measure latency as much as
//! capacity; 128 keep the server busy: its throughput). The load is first
//! wrk where installed (one thread, each answer checked to be the invocation
//! completed), then the harness's own client, which polls until completed.
//! Then the recorded folder's bytes per invocation; then the store is
//! filled to 100,000 records, the server killed with SIGKILL, and the time
//! a restart takes to answer is compared with an empty store's.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use hyper::Method;

use super::{Target, bench_server, connect, invoke_and_poll, launch, send, wrk};

/// One client count's figures for one server (medians of the rounds).
#[derive(Clone, Copy)]
pub(crate) struct Measured {
    pub(crate) clients: usize,
    /// Invocations per second.
    pub(crate) rate: f64,
    /// Invoke p50, ms.
    pub(crate) p50: f64,
    /// The server process's CPU time (user and system) per invocation, µs:
    /// what a server kept busy pays for each.
    pub(crate) cpu_us: f64,
    /// Invocations that failed or were answered not completed (the rounds'
    /// sum): a rate with any is not a rate of quick invocations.
    pub(crate) errors: f64,
}

/// One load generator's figures: per client count (1, 32, 128), with the
/// store off, on, and on without waiting for the disk (`survives =
/// "crash"`).
pub(crate) struct Load {
    /// `wrk` or `harness client`.
    pub(crate) name: &'static str,
    pub(crate) off: Vec<Measured>,
    pub(crate) on: Vec<Measured>,
    pub(crate) crash: Vec<Measured>,
}

/// What the scenario measured.
pub(crate) struct Figures {
    /// Each load generator's figures: wrk's first where installed, then the
    /// harness's own client's.
    pub(crate) loads: Vec<Load>,
    /// Bytes the store's folder took per invocation recorded.
    pub(crate) bytes_per_invocation: f64,
    /// Records in the store when it was reopened.
    pub(crate) records: u64,
    /// Startup to first response: an empty store, then the full one after
    /// `kill -9`.
    pub(crate) start_empty_ms: f64,
    pub(crate) start_full_ms: f64,
}

/// The bytes of the files in `folder` and below.
fn folder_bytes(folder: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => folder_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}

/// The CPU time process `pid` has used, seconds (its user and system time
/// from `/proc`, in clock ticks of 1/100 s, Linux's for every common
/// architecture); 0 where that cannot be read.
fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // The fields after the command name, which is in parentheses.
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// A configuration file for the bench with `records` as its `[records]`.
fn config(dir: &Path, name: &str, records: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "[invocations]\nmax_retained = 1000\n\n[limits]\nmax_connections = 2000\n\
             max_connections_per_address = 2000\n\n[records]\n{records}\n\n[things.bench]\ntype = \"Bench\"\n"
        ),
    )?;
    Ok(path)
}

/// How many records the store at `url`'s server holds: `/records` listed
/// to the end a page of 1000 at a time would be slow, so the harness
/// counts what it ran instead; this asks for one record to check it reads.
async fn answers_records(target: &Target) -> bool {
    match connect(target.addr).await {
        Ok(mut conn) => matches!(
            send(&mut conn, hyper::Method::GET, "/records?limit=1", None).await,
            Ok((200, _))
        ),
        Err(_) => false,
    }
}

/// A wrk check (Lua, over an answer's `body`): the POST answered with the
/// invocation completed (a quick action's POST waits for it to finish).
const COMPLETED: &str = "string.find(body, '\"status\":\"completed\"', 1, true) ~= nil";

/// Invoke `increment` at `target` with `clients` clients for `seconds`:
/// its rate, p50, the invocations it counted and those that failed; with
/// wrk when `use_wrk` (an error if wrk gives no figures, rather than the
/// harness client's figures under wrk's name), else the harness's client.
async fn load(target: &Target, clients: usize, seconds: f64, use_wrk: bool) -> anyhow::Result<(f64, f64, f64, f64)> {
    if use_wrk {
        let addr = target.addr;
        let run = tokio::task::spawn_blocking(move || {
            wrk(
                addr,
                (1, clients, seconds),
                &Method::POST,
                "/bench/increment",
                Some("{}"),
                Some(COMPLETED),
            )
        })
        .await?
        .context("wrk gave no figures")?;
        return Ok((run.rate, run.p50, run.rate * seconds.ceil(), run.errors));
    }
    let mut sample = invoke_and_poll(target.addr, clients, usize::MAX, seconds).await;
    let count = sample.latencies.len() as f64;
    Ok((sample.rate(), sample.percentile(0.5), count, sample.errors as f64))
}

/// Run the scenario, `seconds` per round, filling the store to `full`
/// records for the restart; the load is wrk, when `use_wrk`, and then the
/// harness's own client (each load's figures from the same servers and
/// stores, in this one run).
pub(crate) async fn measure(examples: &Path, seconds: f64, full: u64, use_wrk: bool) -> anyhow::Result<Figures> {
    let dir = std::env::temp_dir().join(format!("labthings-perf-records-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let store = dir.join("store");
    let on_config = config(&dir, "on", &format!("dir = {:?}", store.to_string_lossy()))?;
    let off_config = config(&dir, "off", "enabled = false")?;
    let crash_store = dir.join("crash-store");
    let crash_config = config(
        &dir,
        "crash",
        &format!("dir = {:?}\nsurvives = \"crash\"", crash_store.to_string_lossy()),
    )?;
    let (command, port) = bench_server(examples, &off_config)?;
    let off = launch("records off", command, port).await?;
    let (command, port) = bench_server(examples, &on_config)?;
    let on = launch("records on", command, port).await?;
    let (command, port) = bench_server(examples, &crash_config)?;
    let crash = launch("records on, survives a crash", command, port).await?;
    let start_empty_ms = on.started_in.as_secs_f64() * 1000.0;
    anyhow::ensure!(
        answers_records(&on).await,
        "the server with records does not answer /records"
    );

    const ROUNDS: usize = 3;
    let mut recorded: u64 = 0;
    let mut loads = Vec::new();
    let generators: &[(&'static str, bool)] = if use_wrk {
        &[("wrk", true), ("harness client", false)]
    } else {
        &[("harness client", false)]
    };
    for &(name, with_wrk) in generators {
        let mut figures = [Vec::new(), Vec::new(), Vec::new()];
        for clients in [1usize, 32, 128] {
            let mut rounds: [Vec<Measured>; 3] = [Vec::new(), Vec::new(), Vec::new()];
            for _ in 0..ROUNDS {
                for (i, target) in [&off, &on, &crash].into_iter().enumerate() {
                    let cpu_before = cpu_seconds(target.child.id());
                    let (rate, p50, count, errors) = load(target, clients, seconds, with_wrk).await?;
                    let cpu = cpu_seconds(target.child.id()) - cpu_before;
                    if i == 1 {
                        recorded += count as u64;
                    }
                    rounds[i].push(Measured {
                        clients,
                        rate,
                        p50,
                        cpu_us: cpu * 1e6 / count.max(1.0),
                        errors,
                    });
                }
            }
            let median = |values: &mut Vec<f64>| {
                values.sort_by(f64::total_cmp);
                values[ROUNDS / 2]
            };
            for (i, measured) in rounds.iter().enumerate() {
                figures[i].push(Measured {
                    clients,
                    rate: median(&mut measured.iter().map(|m| m.rate).collect()),
                    p50: median(&mut measured.iter().map(|m| m.p50).collect()),
                    cpu_us: median(&mut measured.iter().map(|m| m.cpu_us).collect()),
                    errors: measured.iter().map(|m| m.errors).sum(),
                });
            }
        }
        let [off, on, crash] = figures;
        loads.push(Load { name, off, on, crash });
    }
    // Let the last commits land, then weigh the folder.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let bytes_per_invocation = folder_bytes(&store) as f64 / recorded.max(1) as f64;

    // Fill the store, kill the server without a chance to tidy up, and time
    // the restart.
    while recorded < full {
        let sample = invoke_and_poll(on.addr, 32, usize::MAX, 10.0).await;
        anyhow::ensure!(
            !sample.latencies.is_empty(),
            "no invocation completed while filling the store"
        );
        recorded += sample.latencies.len() as u64;
        eprintln!("  {recorded} of {full} records");
    }
    let mut on = on;
    let _ = std::process::Command::new("kill")
        .args(["-KILL", &on.child.id().to_string()])
        .status();
    let _ = on.child.wait();
    drop(on);
    let (command, port) = bench_server(examples, &on_config)?;
    let again = launch("records on, restarted", command, port).await?;
    let start_full_ms = again.started_in.as_secs_f64() * 1000.0;
    anyhow::ensure!(
        answers_records(&again).await,
        "the restarted server does not answer /records"
    );
    drop(again);
    drop(off);
    drop(crash);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Figures {
        loads,
        bytes_per_invocation,
        records: recorded,
        start_empty_ms,
        start_full_ms,
    })
}
