//! The `Bench` thing of docs/http-contract.md's examples, served at `/bench/`: a counter, a label, a
//! quick action and a slow cancellable one. Used by the wire-compatibility
//! tests and the benchmarks.
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

/// `--config FILE` may name `type = "Bench"` things and set `[limits]`.
#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ServeArgs::from_env();
    match &args.config {
        Some(path) => {
            let catalog = ThingCatalog::new().register_default::<Bench>("Bench");
            let configured = labthings::http::config_file::load(path, &catalog, args.server_config())?;
            let address = args.address_or(configured.host.as_deref(), configured.port);
            configured.server.run(address).await?;
        }
        None => {
            let server = Server::builder()
                .config(args.server_config())
                .thing("bench", Bench::default())
                .build()?;
            server.run(args.address()).await?;
        }
    }
    Ok(())
}
