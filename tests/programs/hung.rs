//! Device code that hangs, to show what the server does about it: a sensor
//! whose driver read never returns (a serial read without a timeout), an
//! `async fn` action that blocks its thread, and, when asked, start hooks
//! that never return. The limits are short here so they show quickly:
//! a request waits 2 s for device code (then 504 naming the thing and the
//! property), four calls into one thing at once, 3 s for each start hook.
//!
//! ```text
//! cargo run --example hung                      # then GET /sensor/reading, /lamp/on; Ctrl-C
//! HANG_ON_START=sync cargo run --example hung   # the sensor's start hook never returns
//! HANG_ON_START=async cargo run --example hung  # nor the probe's async one
//! HANG_ON_STOP=1 cargo run --example hung       # nor the sensor's stop hook
//! ```

use labthings::cli::ServeArgs;
use labthings::prelude::*;

/// Whether `HANG_ON_START` asks the start hook of `kind` to hang.
fn hang_on_start(kind: &str) -> bool {
    std::env::var("HANG_ON_START").is_ok_and(|v| v == kind)
}

/// A lamp that works, started first and stopped last.
#[thing]
#[derive(Default)]
pub struct Lamp {
    /// Whether the lamp is on.
    #[property]
    pub on: DataProperty<bool>,
}

#[thing]
impl Lamp {
    /// Warm the lamp up.
    #[on_start]
    fn warm_up(&self) {
        tracing::info!("lamp warmed up");
    }

    /// Turn the lamp off.
    #[on_stop]
    fn off(&self) {
        self.on.set(false);
        tracing::info!("lamp off");
    }
}

/// A sensor on a serial line that has stopped answering.
#[thing]
#[derive(Default)]
pub struct Sensor;

#[thing]
impl Sensor {
    /// The latest reading: the driver waits for a line that never comes.
    #[property(unit = "V")]
    fn reading(&self) -> f64 {
        loop {
            std::thread::park();
        }
    }

    /// Blocking code inside an `async fn` (a mistake: it holds its thread
    /// for `seconds` without awaiting).
    #[action]
    async fn settle(&self, #[param(minimum = 0, maximum = 600, unit = "s")] seconds: u64) -> u64 {
        std::thread::sleep(Duration::from_secs(seconds));
        seconds
    }

    /// Open the port (never returns with `HANG_ON_START=sync`).
    #[on_start]
    fn connect(&self) {
        tracing::info!("sensor connecting");
        while hang_on_start("sync") {
            std::thread::park();
        }
    }

    /// Close the port (never returns with `HANG_ON_STOP=1`).
    #[on_stop]
    fn release(&self) {
        tracing::info!("sensor releasing");
        while std::env::var("HANG_ON_STOP").is_ok_and(|v| v == "1") {
            std::thread::park();
        }
        tracing::info!("sensor released");
    }
}

/// A probe with an async driver.
#[thing]
#[derive(Default)]
pub struct Probe;

#[thing]
impl Probe {
    /// Open the connection (never returns with `HANG_ON_START=async`).
    #[on_start]
    async fn open(&self) {
        tracing::info!("probe connecting");
        if hang_on_start("async") {
            std::future::pending::<()>().await;
        }
    }

    /// Close the connection.
    #[on_stop]
    async fn close(&self) {
        tracing::info!("probe closed");
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ServeArgs::from_args();
    let mut config = args.server_config();
    config.device.timeout = Duration::from_secs(2);
    config.device.calls_per_thing = 4;
    config.device.start_timeout = Duration::from_secs(3);
    config.settings_dir = None;
    let server = Server::builder()
        .config(config)
        .thing("lamp", Lamp::default())
        .thing("sensor", Sensor)
        .thing("probe", Probe)
        .build()?;
    labthings::cli::run(server, args.address()).await?;
    Ok(())
}
