//! The `Bench` thing of WIRE.md, served at `/bench/`: a counter, a label, a
//! quick action and a slow cancellable one. Used by the wire-compatibility
//! tests and the benchmarks.
//!
//! ```text
//! cargo run --release --example bench -- --port 5050
//! ```

use std::sync::atomic::{AtomicI64, Ordering};

use labthings::cli::ServeArgs;
use labthings::prelude::*;
use parking_lot::Mutex;

/// A benchmark thing with a counter.
#[derive(Default)]
pub struct Bench {
    count: AtomicI64,
    label: Mutex<String>,
}

/// A benchmark thing with a counter.
#[thing]
impl Bench {
    /// A counter.
    #[property]
    fn count(&self) -> i64 {
        self.count.load(Ordering::SeqCst)
    }

    #[setter(count)]
    fn set_count(&self, value: i64) {
        self.count.store(value, Ordering::SeqCst);
    }

    /// A label for the bench.
    #[property]
    fn label(&self) -> String {
        self.label.lock().clone()
    }

    #[setter(label)]
    fn set_label(&self, value: String) {
        *self.label.lock() = value;
    }

    /// Add `by` to the counter and return the new value.
    #[action]
    fn increment(&self, #[default(1)] by: i64) -> i64 {
        self.count.fetch_add(by, Ordering::SeqCst) + by
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

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ServeArgs::from_env();
    let server = Server::builder().thing("bench", Bench::default()).build()?;
    server.run(args.address()).await?;
    Ok(())
}
