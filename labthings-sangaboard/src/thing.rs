//! The Sangaboard as a Thing: a port of LabThings-FastAPI's
//! `labthings-sangaboard`, on any [`MotorBoard`].

use std::time::Duration;

use labthings::prelude::*;
use parking_lot::Mutex;

use crate::board::{BoardError, MotorBoard};
use crate::serial::SerialBoard;
use crate::simulated::SimulatedBoard;

/// How often a move asks the board where it is.
const POLL: Duration = Duration::from_millis(100);
/// The LED's brightness after `flash_led` (the original's fixed value).
const LED_ON: f64 = 0.32;

/// A stage position in motor steps.
#[model]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// Steps along x.
    pub x: i64,
    /// Steps along y.
    pub y: i64,
    /// Steps along z (focus).
    pub z: i64,
}

impl From<[i64; 3]> for Position {
    fn from([x, y, z]: [i64; 3]) -> Self {
        Self { x, y, z }
    }
}

/// Why an action failed: the board's error, or a cancellation (boxed, so a
/// [`Cancelled`] inside still ends the invocation as `cancelled`).
pub type ActionError = Box<dyn std::error::Error + Send + Sync>;

type Connect = Box<dyn Fn() -> Result<Box<dyn MotorBoard>, BoardError> + Send + Sync>;

/// An OpenFlexure Sangaboard motor controller: the three stepper motors of
/// a microscope stage.
///
/// Connected when the server starts; when the board is missing or lost
/// (unplugged), `connection` says why, each action fails naming the port,
/// and the next action connects again.
#[thing]
pub struct Sangaboard {
    /// Where the stage is, in motor steps; read from the board during and after each move.
    #[property(read_only, state)]
    pub position: DataProperty<Position>,
    /// Whether the motors are moving.
    #[property(read_only)]
    pub moving: DataProperty<bool>,
    /// The board: its firmware and port, `simulated`, or why it is not connected.
    #[property(read_only, state)]
    pub connection: DataProperty<String>,
    board: Mutex<Option<Box<dyn MotorBoard>>>,
    connect: Connect,
}

impl Sangaboard {
    /// A Sangaboard on the serial port `port`, connected when the server starts.
    pub fn serial(port: impl Into<String>) -> Self {
        let port = port.into();
        Self::with_board(Box::new(move || {
            SerialBoard::connect(&port).map(|b| Box::new(b) as Box<dyn MotorBoard>)
        }))
    }

    /// A simulated Sangaboard (moves at 1000 steps a second): the same
    /// Thing, the same Thing Description, no hardware.
    pub fn simulated() -> Self {
        Self::simulated_at(1000.0)
    }

    /// A simulated Sangaboard whose motors make `steps_per_second`.
    pub fn simulated_at(steps_per_second: f64) -> Self {
        Self::with_board(Box::new(move || Ok(Box::new(SimulatedBoard::new(steps_per_second)))))
    }

    /// A Sangaboard on whatever board `connect` makes (each time it connects).
    pub fn with_board(connect: Connect) -> Self {
        Self {
            position: DataProperty::new(Position::default()),
            moving: DataProperty::new(false),
            connection: DataProperty::new("not connected yet".to_owned()),
            board: Mutex::new(None),
            connect,
        }
    }

    /// Run `exchange` on the board, connecting first if needed. A lost
    /// connection is dropped (and said in `connection`), so the next call
    /// connects again.
    fn on_board<T>(
        &self,
        exchange: impl FnOnce(&mut dyn MotorBoard) -> Result<T, BoardError>,
    ) -> Result<T, BoardError> {
        let mut slot = self.board.lock();
        let board = match &mut *slot {
            Some(board) => board,
            empty => match (self.connect)() {
                Ok(board) => {
                    tracing::info!("connected: {}", board.describe());
                    self.connection.set(board.describe());
                    empty.insert(board)
                }
                Err(e) => {
                    self.connection.set(format!("not connected: {e}"));
                    return Err(e);
                }
            },
        };
        let result = exchange(board.as_mut());
        if let Err(e) = &result
            && e.is_lost()
        {
            tracing::error!("{e}");
            self.connection.set(format!("lost: {e}"));
            *slot = None;
            self.moving.set(false);
        }
        result
    }

    /// Read the position from the board into `position`.
    fn refresh(&self) -> Result<Position, BoardError> {
        let here = Position::from(self.on_board(|b| b.position())?);
        self.position.set(here);
        Ok(here)
    }
}

#[thing]
impl Sangaboard {
    /// The names of the stage's axes, in order.
    #[property]
    fn axis_names(&self) -> Vec<String> {
        ["x", "y", "z"].map(str::to_owned).to_vec()
    }

    /// Move by `x`, `y` and `z` motor steps (all axes together), and return
    /// where the stage ended. Reports its progress; cancelling stops the
    /// motors at once (`stop`) and reads the position back. One move at a time.
    #[action(lock)]
    pub fn move_relative(
        &self,
        #[default(0)]
        #[param(minimum = -1000000, maximum = 1000000, unit = "steps")]
        x: i64,
        #[default(0)]
        #[param(minimum = -1000000, maximum = 1000000, unit = "steps")]
        y: i64,
        #[default(0)]
        #[param(minimum = -1000000, maximum = 1000000, unit = "steps")]
        z: i64,
        handle: &InvocationHandle,
    ) -> Result<Position, ActionError> {
        let from = self.refresh()?;
        tracing::info!("moving by [{x}, {y}, {z}] from {from:?}");
        self.on_board(|b| b.start_move([x, y, z]))?;
        self.moving.set(true);
        let longest = [x, y, z].map(i64::unsigned_abs).into_iter().max().unwrap_or(0).max(1);
        let cancel = handle.cancel_hook();
        let ended = loop {
            if let Err(cancelled) = cancel.sleep(POLL) {
                tracing::info!("cancelled: stopping the motors");
                let stopped = self.on_board(|b| b.stop());
                let _ = self.refresh();
                break stopped.map_err(ActionError::from).and(Err(cancelled.into()));
            }
            let polled = self.on_board(|b| Ok((b.is_moving()?, b.position()?)));
            match polled {
                Ok((moving, here)) => {
                    let here = Position::from(here);
                    self.position.set(here);
                    let covered = [here.x - from.x, here.y - from.y, here.z - from.z]
                        .map(i64::unsigned_abs)
                        .into_iter()
                        .max()
                        .unwrap_or(0);
                    handle.progress((covered as f64 / longest as f64).min(1.0));
                    if !moving {
                        break Ok(here);
                    }
                }
                Err(e) => break Err(e.into()),
            }
        };
        self.moving.set(false);
        ended
    }

    /// Move to `x`, `y` and `z` (each optional: an axis left out stays
    /// where it is), and return where the stage ended.
    #[action(lock)]
    pub fn move_absolute(
        &self,
        #[param(minimum = -1000000, maximum = 1000000, unit = "steps")] x: Option<i64>,
        #[param(minimum = -1000000, maximum = 1000000, unit = "steps")] y: Option<i64>,
        #[param(minimum = -1000000, maximum = 1000000, unit = "steps")] z: Option<i64>,
        handle: &InvocationHandle,
    ) -> Result<Position, ActionError> {
        let here = self.refresh()?;
        let by = |target: Option<i64>, at: i64| {
            target
                .map_or(Some(0), |t| t.checked_sub(at))
                .filter(|d| d.unsigned_abs() <= 2_000_000)
                .ok_or_else(|| BadRequest::new(format!("a move to {target:?} from {at} is too long")))
        };
        let (dx, dy, dz) = (by(x, here.x)?, by(y, here.y)?, by(z, here.z)?);
        self.move_relative(dx, dy, dz, handle)
    }

    /// Stop the motors now, ending the move in progress where it is.
    /// Refused (409, as the original's) when nothing is moving.
    #[action]
    pub fn abort_move(&self) -> Result<Position, ActionError> {
        if !self.moving.get() {
            return Err(Busy::new("the stage is not moving").into());
        }
        tracing::warn!("aborting the move");
        self.on_board(|b| b.stop())?;
        Ok(self.refresh()?)
    }

    /// Call the current position zero on every axis. Nothing moves: for use
    /// after centring the stage by hand.
    #[action(lock)]
    pub fn set_zero_position(&self) -> Result<Position, ActionError> {
        self.on_board(|b| b.zero())?;
        Ok(self.refresh()?)
    }

    /// Flash the LED `number_of_flashes` times, `dt` seconds on and `dt`
    /// off, to tell which board is which. Cancelling leaves the LED on.
    #[action]
    pub fn flash_led(
        &self,
        #[default(10)]
        #[param(minimum = 1, maximum = 100)]
        number_of_flashes: u32,
        #[default(0.5)]
        #[param(minimum = 0.01, maximum = 5.0, unit = "s")]
        dt: f64,
        handle: &InvocationHandle,
    ) -> Result<(), ActionError> {
        let cancel = handle.cancel_hook();
        let pause = Duration::from_secs_f64(dt);
        for _ in 0..number_of_flashes {
            self.on_board(|b| b.set_led(0.0))?;
            let off = cancel.sleep(pause);
            self.on_board(|b| b.set_led(LED_ON))?;
            off?;
            cancel.sleep(pause)?;
        }
        Ok(())
    }

    /// Connect to the board (a missing board is said in `connection`, and
    /// the server starts anyway).
    #[on_start]
    fn start(&self) {
        if let Err(e) = self.refresh() {
            tracing::error!("the Sangaboard is not connected: {e}");
        }
    }

    /// Stop the motors and close the port: the stage never keeps moving
    /// after the server.
    #[on_stop]
    fn stop(&self) {
        let mut slot = self.board.lock();
        if let Some(board) = slot.as_deref_mut() {
            match board.stop() {
                Ok(()) => tracing::info!("motors stopped"),
                Err(e) => tracing::error!("could not stop the motors: {e}"),
            }
        }
        *slot = None;
        self.moving.set(false);
        self.connection.set("closed".to_owned());
    }
}

/// The `[things.NAME.config]` of a Sangaboard in a configuration file.
#[model]
#[derive(Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct SangaboardConfig {
    /// The serial port (`/dev/ttyACM0`, `/dev/serial/by-id/...`, `COM3`);
    /// not needed when the thing is simulated (`simulate = true` beside its
    /// `type`, or `--simulate`).
    pub port: Option<String>,
}

impl FromConfig for Sangaboard {
    type Config = SangaboardConfig;

    fn from_config(
        config: SangaboardConfig,
        _env: &ThingEnv,
    ) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        match config.port {
            Some(port) => Ok(Self::serial(port)),
            None => Err("a Sangaboard needs `port` (or `simulate = true` beside `type`)".into()),
        }
    }

    fn simulated(
        _config: SangaboardConfig,
        _env: &ThingEnv,
    ) -> Option<Result<Self, Box<dyn std::error::Error + Send + Sync>>> {
        Some(Ok(Self::simulated()))
    }
}
