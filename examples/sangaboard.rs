//! An OpenFlexure Sangaboard motor controller on a serial port, or
//! simulated (the same Thing Description, no hardware):
//!
//! ```text
//! cargo run --example sangaboard -- --serial /dev/ttyACM0      # http://127.0.0.1:5000/stage/
//! cargo run --example sangaboard -- --simulate
//! ```
//!
//! Ctrl-C (or SIGTERM) stops the motors before the program ends.

use clap::Parser;
use labthings::Server;
use labthings::cli::ServeArgs;
use labthings_sangaboard::Sangaboard;

/// A Sangaboard served as `stage`.
#[derive(Debug, Parser)]
struct Args {
    /// The Sangaboard's serial port (`/dev/ttyACM0`, `/dev/serial/by-id/...`, `COM3`).
    #[arg(long, required_unless_present = "simulate")]
    serial: Option<String>,
    #[command(flatten)]
    serve: ServeArgs,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let builder = Server::builder().config(args.serve.server_config());
    let builder = match &args.serial {
        Some(port) if !args.serve.simulate => builder.thing("stage", Sangaboard::serial(port)),
        _ => builder.simulated_thing("stage", Sangaboard::simulated()),
    };
    builder.build()?.run(args.serve.address()).await?;
    Ok(())
}
