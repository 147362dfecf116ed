//! A server described by its configuration file alone: the program only
//! says which thing types a file may name, and how each is built.
//!
//! ```text
//! cargo run --example from_config -- --config examples/from_config.toml
//! curl -s http://127.0.0.1:5000/things/                      # bench_lamp, hood_lamp, heater
//! curl -s -X PUT -H 'content-type: application/json' -d '80' http://127.0.0.1:5000/heater/setpoint   # 422: above max_c
//! ```

use labthings::cli::{ServeArgs, serve};
use labthings::prelude::*;
use labthings::{FromConfig, ThingEnv};

/// A lamp.
#[thing]
#[derive(Default)]
pub struct Lamp {
    /// Whether it is lit.
    #[property]
    pub lit: DataProperty<bool>,
}

#[thing]
impl Lamp {}

/// What `[things.NAME.config]` says about a heater.
#[model]
#[derive(Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct HeaterConfig {
    /// The highest setpoint this heater may be given, in degrees Celsius.
    pub max_c: Option<f64>,
}

/// A heater whose highest setpoint comes from the configuration file.
#[thing]
pub struct Heater {
    setpoint: std::sync::Mutex<f64>,
    max_c: f64,
}

#[thing]
impl Heater {
    /// The temperature it heats to.
    #[property(unit = "degC")]
    fn setpoint(&self) -> f64 {
        *self.setpoint.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_setpoint(&self, value: f64) -> Result<(), BadRequest> {
        if !(0.0..=self.max_c).contains(&value) {
            return Err(BadRequest::new(format!(
                "{value} °C is outside 0..={} °C (max_c in the configuration)",
                self.max_c
            )));
        }
        *self.setpoint.lock().unwrap_or_else(|e| e.into_inner()) = value;
        Ok(())
    }
}

impl FromConfig for Heater {
    type Config = HeaterConfig;

    fn from_config(config: HeaterConfig, _env: &ThingEnv) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        let max_c = config.max_c.unwrap_or(60.0);
        if !(0.0..=200.0).contains(&max_c) {
            return Err(format!("max_c = {max_c} is outside 0..=200").into());
        }
        Ok(Heater {
            setpoint: std::sync::Mutex::new(20.0),
            max_c,
        })
    }

    /// No hardware here: the simulated heater is the same.
    fn simulated(
        config: HeaterConfig,
        env: &ThingEnv,
    ) -> Option<Result<Self, Box<dyn std::error::Error + Send + Sync>>> {
        Some(Self::from_config(config, env))
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = ServeArgs::from_args();
    if args.config.is_none() {
        eprintln!("error: this server is described by its configuration file: give --config FILE.toml");
        return std::process::ExitCode::FAILURE;
    }
    let catalog = ThingCatalog::new()
        .register_default::<Lamp>("Lamp")
        .register::<Heater>("Heater");
    serve(&args, &catalog).await
}
