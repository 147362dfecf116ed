//! A Thing for the tests of the durable record of invocations
//! (`tests/records.rs`): quick actions, blob outputs of a chosen size, a
//! slow action to be cut off, and a setting. It serves with the standard
//! command line, so `--config FILE.toml` sets `[records]`.
//!
//! ```text
//! cargo run --example recorder -- --port 0   # records land in ./records
//! ```

use std::time::Duration;

use labthings::cli::ServeArgs;
use labthings::prelude::*;

/// The largest blob `bytes` makes: 16 MiB.
const MAX_BLOB: u32 = 16 * 1024 * 1024;

/// A bench instrument whose results are easy to check.
#[thing]
#[derive(Default)]
pub struct Bench {
    /// A calibration, kept in `settings/bench.json`.
    #[property(setting)]
    pub offset: DataProperty<i64>,
}

#[thing]
impl Bench {
    /// `n` plus the offset.
    #[action]
    fn add(&self, n: i64) -> i64 {
        tracing::info!("adding {n}");
        n.saturating_add(self.offset.get())
    }

    /// A blob of `len` bytes, byte `i` being `(i + seed) % 251`.
    #[action]
    fn bytes(&self, #[param(maximum = 16777216)] len: u32, seed: u8) -> Blob {
        let len = len.min(MAX_BLOB);
        let data: Vec<u8> = (0..len)
            .map(|i| u8::try_from((u64::from(i) + u64::from(seed)) % 251).unwrap_or(0))
            .collect();
        tracing::info!("made {len} bytes");
        Blob::from_bytes(data, "application/octet-stream")
    }

    /// Take `ms` milliseconds (cancellable).
    #[action]
    fn slow(&self, ms: u32, cancel: CancelHook) -> Result<u32, Cancelled> {
        cancel.sleep(Duration::from_millis(u64::from(ms)))?;
        Ok(ms)
    }
}

fn build(config: ServerConfig) -> anyhow::Result<Server> {
    Ok(Server::builder()
        .config(config)
        .thing("bench", Bench::default())
        .build()?)
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let catalog = ThingCatalog::new().register_default::<Bench>("Bench");
    labthings::cli::serve_with(&ServeArgs::from_args(), &catalog, build).await
}
