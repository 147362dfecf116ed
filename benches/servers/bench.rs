//! The `Bench` thing of guide/src/http-contract.md's examples, served at `/bench/`: a counter, a label, a
//! quick action and a slow cancellable one. Used by the wire-compatibility
//! tests and the benchmarks. For the benchmark's live-data scenarios, `Live`
//! (a property set by device code, an event, an MJPEG stream, each fed at a
//! chosen rate) and, for the many-things scenario, `Wide` (ten properties,
//! ten actions) can be served from a configuration file (`type = "Live"`,
//! `type = "Wide"`).
//!
//! ```text
//! cargo run --release --example bench -- --port 5050
//! ```

use labthings::cli::ServeArgs;
use labthings::prelude::*;

/// A benchmark thing with a counter.
#[thing]
#[derive(Default)]
pub struct Bench {
    /// A counter.
    #[property]
    count: DataProperty<i64>,
    /// A label for the bench.
    #[property]
    label: DataProperty<String>,
}

#[thing]
impl Bench {
    /// Add `by` to the counter and return the new value.
    #[action]
    fn increment(&self, #[default(1)] by: i64) -> i64 {
        self.count.update(|count| {
            *count += by;
            *count
        })
    }

    /// Sleep for `duration_s` seconds in `steps` steps, logging each one.
    #[action]
    fn slow_task(
        &self,
        #[default(1.0)] duration_s: f64,
        #[default(10)] steps: u32,
        cancel: CancelHook,
    ) -> Result<String, Cancelled> {
        let step = Duration::from_secs_f64((duration_s / f64::from(steps.max(1))).clamp(0.0, 3600.0));
        for n in 1..=steps {
            cancel.sleep(step)?;
            tracing::info!("step {n} of {steps}");
        }
        Ok(format!("finished {steps} steps"))
    }
}

/// Now as microseconds since the Unix epoch: the clock observers compare
/// arrival times with (one machine, one clock).
fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// Call `f(i)` for i in 0..`count`, `rate` times a second on average: the
/// calls due are made at once, then the thread sleeps until the next is due
/// (at least 0.5 ms, so rates above 2,000/s come in small bursts).
fn paced(rate: f64, count: u32, cancel: &CancelHook, mut f: impl FnMut(u32)) -> Result<(), Cancelled> {
    let period = 1.0 / rate.clamp(0.001, 10_000_000.0);
    let start = std::time::Instant::now();
    for i in 0..count {
        let due = start + Duration::from_secs_f64(period * f64::from(i));
        let wait = due.saturating_duration_since(std::time::Instant::now());
        if wait >= Duration::from_micros(500) {
            cancel.sleep(wait)?;
        }
        f(i);
    }
    Ok(())
}

/// Call `f` `count` times, `rate` a second, timing each call.
fn timed(rate: f64, count: u32, cancel: &CancelHook, mut f: impl FnMut(u32)) -> Result<EmitCost, Cancelled> {
    let mut costs: Vec<u64> = Vec::with_capacity(usize::try_from(count).unwrap_or(0).min(10_000_000));
    paced(rate, count, cancel, |i| {
        let before = std::time::Instant::now();
        f(i);
        costs.push(u64::try_from(before.elapsed().as_nanos()).unwrap_or(u64::MAX));
    })?;
    let mean_ns = costs.iter().map(|c| *c as f64).sum::<f64>() / costs.len().max(1) as f64;
    costs.sort_unstable();
    let pick = |p: f64| {
        costs
            .get(((costs.len().max(1) - 1) as f64 * p) as usize)
            .copied()
            .unwrap_or(0)
    };
    Ok(EmitCost {
        mean_ns,
        p50_ns: pick(0.5),
        p99_ns: pick(0.99),
    })
}

/// Live data for the benchmark: a property, an event and a stream, each fed
/// by device code at a rate the harness asks for.
#[thing]
#[derive(Default)]
pub struct Live {
    /// When device code last set it, in microseconds since the Unix epoch.
    #[property]
    tick: DataProperty<u64>,
    /// Each beat, with its number.
    #[event]
    beat: Event<u64>,
    /// Frames pushed by `push_frames`.
    #[stream]
    frames: MjpegStream,
}

#[thing]
impl Live {
    /// Set `tick` to the current time `count` times, `rate` times a second
    /// (each value at least one more than the last); answers `count`.
    #[action]
    fn ticker(
        &self,
        #[default(10.0)] rate: f64,
        #[default(100)] count: u32,
        cancel: CancelHook,
    ) -> Result<u32, Cancelled> {
        let mut last = 0;
        paced(rate, count, &cancel, |_| {
            last = now_us().max(last + 1);
            self.tick.set(last);
        })?;
        Ok(count)
    }

    /// Emit `count` beats, `rate` a second; answers what one `emit` cost
    /// in device code.
    #[action]
    fn beats(
        &self,
        #[default(1000.0)] rate: f64,
        #[default(1000)] count: u32,
        cancel: CancelHook,
    ) -> Result<EmitCost, Cancelled> {
        timed(rate, count, &cancel, |i| self.beat.emit(&u64::from(i)))
    }

    /// Report this invocation's progress `count` times, `rate` a second (a
    /// tight loop at a high rate); answers what one report cost in device
    /// code.
    #[action]
    fn progress_loop(
        &self,
        #[default(100000.0)] rate: f64,
        #[default(100000)] count: u32,
        handle: &InvocationHandle,
    ) -> Result<EmitCost, Cancelled> {
        let total = f64::from(count.max(1));
        timed(rate, count, &handle.cancel_hook(), |i| {
            handle.progress(f64::from(i + 1) / total)
        })
    }

    /// Push `count` frames of `size` bytes (JPEG markers around filler),
    /// `fps` a second; answers `count`.
    #[action]
    fn push_frames(
        &self,
        #[default(30.0)] fps: f64,
        #[default(30)] count: u32,
        #[default(1_000_000)] size: u32,
        cancel: CancelHook,
    ) -> Result<u32, Cancelled> {
        let size = usize::try_from(size).unwrap_or(usize::MAX).clamp(4, 64 << 20);
        let mut frame = vec![0x55u8; size];
        frame[..2].copy_from_slice(&[0xFF, 0xD8]);
        frame[size - 2..].copy_from_slice(&[0xFF, 0xD9]);
        let frame = bytes::Bytes::from(frame);
        paced(fps, count, &cancel, |_| {
            // Shared, not copied: every push hands out the same bytes.
            let _ = self.frames.push(frame.clone());
        })?;
        Ok(count)
    }
}

/// What emitting cost device code, in nanoseconds (timed around each call).
#[model]
#[derive(Debug, Clone)]
pub struct EmitCost {
    /// The mean.
    pub mean_ns: f64,
    /// The median.
    pub p50_ns: u64,
    /// The 99th percentile.
    pub p99_ns: u64,
}

/// A thing of ten properties and ten actions (the many-things scenario).
#[thing]
#[derive(Default)]
pub struct Wide {
    /// Property 0.
    #[property]
    p0: DataProperty<i64>,
    /// Property 1.
    #[property]
    p1: DataProperty<i64>,
    /// Property 2.
    #[property]
    p2: DataProperty<i64>,
    /// Property 3.
    #[property]
    p3: DataProperty<i64>,
    /// Property 4.
    #[property]
    p4: DataProperty<i64>,
    /// Property 5.
    #[property]
    p5: DataProperty<i64>,
    /// Property 6.
    #[property]
    p6: DataProperty<i64>,
    /// Property 7.
    #[property]
    p7: DataProperty<i64>,
    /// Property 8.
    #[property]
    p8: DataProperty<i64>,
    /// Property 9.
    #[property]
    p9: DataProperty<i64>,
}

#[thing]
impl Wide {
    /// Action 0: answers `x`.
    #[action]
    fn a0(&self, x: i64) -> i64 {
        x
    }
    /// Action 1: answers `x`.
    #[action]
    fn a1(&self, x: i64) -> i64 {
        x
    }
    /// Action 2: answers `x`.
    #[action]
    fn a2(&self, x: i64) -> i64 {
        x
    }
    /// Action 3: answers `x`.
    #[action]
    fn a3(&self, x: i64) -> i64 {
        x
    }
    /// Action 4: answers `x`.
    #[action]
    fn a4(&self, x: i64) -> i64 {
        x
    }
    /// Action 5: answers `x`.
    #[action]
    fn a5(&self, x: i64) -> i64 {
        x
    }
    /// Action 6: answers `x`.
    #[action]
    fn a6(&self, x: i64) -> i64 {
        x
    }
    /// Action 7: answers `x`.
    #[action]
    fn a7(&self, x: i64) -> i64 {
        x
    }
    /// Action 8: answers `x`.
    #[action]
    fn a8(&self, x: i64) -> i64 {
        x
    }
    /// Action 9: answers `x`.
    #[action]
    fn a9(&self, x: i64) -> i64 {
        x
    }
}

/// `--config FILE` may name `type = "Bench"`, `"Live"` and `"Wide"` things
/// and set `[limits]`.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ServeArgs::from_args();
    match &args.config {
        Some(path) => {
            let catalog = ThingCatalog::new()
                .register_default::<Bench>("Bench")
                .register_default::<Live>("Live")
                .register_default::<Wide>("Wide");
            let configured = labthings::http::config_file::load(path, &catalog, |config| args.apply(config))?;
            let address = args.address_or(configured.host.as_deref(), configured.port);
            labthings::cli::run(configured.server, address).await?;
        }
        None => {
            let server = Server::builder()
                .config(args.server_config())
                .thing("bench", Bench::default())
                .build()?;
            labthings::cli::run(server, args.address()).await?;
        }
    }
    Ok(())
}
