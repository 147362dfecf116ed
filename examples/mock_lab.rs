//! A mock lab: a three-axis stage and a camera, no hardware needed.
//!
//! ```text
//! cargo run --release --example mock_lab            # http://127.0.0.1:5000
//! cargo run --release --example mock_lab -- --port 0 --host 0.0.0.0
//! ```

use std::sync::atomic::{AtomicU64, Ordering};

use labthings::cli::ServeArgs;
use labthings::prelude::*;
use parking_lot::Mutex;

/// A mock three-axis translation stage.
pub struct Stage {
    position: Mutex<[i64; 3]>,
    step_delay_ms: AtomicU64,
}

impl Default for Stage {
    fn default() -> Self {
        Self {
            position: Mutex::new([0; 3]),
            step_delay_ms: AtomicU64::new(10),
        }
    }
}

/// A mock three-axis translation stage.
///
/// Moves one motor step at a time, so long moves can be watched and cancelled.
#[thing]
impl Stage {
    /// Current position in motor steps, as `[x, y, z]`.
    #[property]
    fn position(&self) -> [i64; 3] {
        *self.position.lock()
    }

    /// Delay between steps, in milliseconds.
    #[property]
    fn step_delay_ms(&self) -> u64 {
        self.step_delay_ms.load(Ordering::Relaxed)
    }

    #[setter(step_delay_ms)]
    fn set_step_delay_ms(&self, value: u64) {
        self.step_delay_ms.store(value, Ordering::Relaxed);
    }

    /// Move by a relative amount, one step at a time.
    ///
    /// Returns the final position. Cancelling stops at the current step.
    #[action]
    fn move_relative(
        &self,
        x: i64,
        #[default(0)] y: i64,
        #[default(0)] z: i64,
        cancel: CancelHook,
    ) -> Result<[i64; 3], Cancelled> {
        let delay = Duration::from_millis(self.step_delay_ms());
        for (axis, distance) in [x, y, z].into_iter().enumerate() {
            for _ in 0..distance.unsigned_abs() {
                cancel.sleep(delay)?;
                self.position.lock()[axis] += distance.signum();
            }
            if distance != 0 {
                tracing::info!("axis {axis} moved by {distance}");
            }
        }
        Ok(self.position())
    }

    /// Move back to `[0, 0, 0]` at once.
    #[action]
    fn home(&self) -> [i64; 3] {
        *self.position.lock() = [0; 3];
        tracing::info!("homed");
        [0; 3]
    }
}

/// A mock camera that produces grey frames.
pub struct Camera {
    exposure_ms: Mutex<f64>,
    frames: AtomicU64,
}

impl Default for Camera {
    fn default() -> Self {
        Self {
            exposure_ms: Mutex::new(20.0),
            frames: AtomicU64::new(0),
        }
    }
}

/// A mock camera.
#[thing]
impl Camera {
    /// Exposure time in milliseconds (0.01 to 10000).
    #[property]
    fn exposure_ms(&self) -> f64 {
        *self.exposure_ms.lock()
    }

    #[setter(exposure_ms)]
    fn set_exposure_ms(&self, value: f64) -> Result<(), String> {
        if !(0.01..=10_000.0).contains(&value) {
            return Err(format!("exposure {value} ms is outside 0.01..=10000 ms"));
        }
        *self.exposure_ms.lock() = value;
        Ok(())
    }

    /// How many frames have been acquired since start.
    #[property]
    fn frames_acquired(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    /// Acquire `count` frames, one exposure each, and return their mean intensities.
    ///
    /// Logs every frame; cancelling stops after the current exposure.
    #[action]
    fn acquire(&self, #[default(5)] count: u32, cancel: CancelHook) -> Result<Vec<f64>, Cancelled> {
        let exposure = Duration::from_secs_f64(self.exposure_ms() / 1000.0);
        let mut means = Vec::new();
        for n in 1..=count {
            cancel.sleep(exposure)?;
            let frame = self.frames.fetch_add(1, Ordering::Relaxed) + 1;
            let mean = 100.0 + (frame % 7) as f64;
            tracing::info!("frame {n} of {count}: mean intensity {mean}");
            means.push(mean);
        }
        Ok(means)
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = ServeArgs::from_env();
    let server = Server::builder()
        .thing("stage", Stage::default())
        .thing("camera", Camera::default())
        .build()?;
    server.run(args.address()).await?;
    Ok(())
}
