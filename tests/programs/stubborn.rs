//! A device whose action cannot be interrupted (a driver call that blocks
//! until the hardware answers), to show what shutdown does with one: on
//! Ctrl-C or SIGTERM its invocation is cancelled and given the grace period
//! (5 s); a second Ctrl-C exits at once, running the stop hooks first.
//!
//! ```text
//! cargo run --example stubborn             # then POST /pump/prime, Ctrl-C twice
//! ```

use labthings::cli::ServeArgs;
use labthings::prelude::*;

/// A pump whose priming cannot be stopped part-way.
#[thing]
#[derive(Default)]
pub struct Pump;

#[thing]
impl Pump {
    /// Prime the pump: `seconds` of a blocking driver call that ignores
    /// cancellation.
    #[action]
    fn prime(&self, #[param(minimum = 0, maximum = 600, unit = "s")] seconds: u64) -> u64 {
        tracing::info!("priming for {seconds} s");
        std::thread::sleep(Duration::from_secs(seconds));
        seconds
    }

    /// Close the valves.
    #[on_stop]
    fn close_valves(&self) {
        tracing::info!("valves closed");
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ServeArgs::from_args();
    let server = Server::builder()
        .config(args.server_config())
        .thing("pump", Pump)
        .build()?;
    labthings::cli::run(server, args.address()).await?;
    Ok(())
}
