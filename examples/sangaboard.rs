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
use labthings::cli::ServeArgs;
use labthings::{Server, ThingCatalog};
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

/// A flag of its own beside the standard ones (`ServeArgs`, flattened):
/// `serve_with` still runs `--new-token` and `--hash-password`, takes
/// `--config`, and prints any error as one message.
#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let serial = args.serial.clone();
    let simulate = args.serve.simulate;
    labthings::cli::serve_with(&args.serve, &ThingCatalog::new(), move |config| {
        let builder = Server::builder().config(config);
        let builder = match &serial {
            Some(port) if !simulate => builder.thing("stage", Sangaboard::serial(port)),
            _ => builder.simulated_thing("stage", Sangaboard::simulated()),
        };
        builder.build()
    })
    .await
}
