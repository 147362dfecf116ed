//! What the Thing needs from a motor board, whether a real one on a serial
//! port or one simulated in memory.

use std::time::Duration;

/// A three-axis stepper motor board. Each call is one exchange with the
/// board and returns within a bounded time (the serial board's reply
/// timeout); none waits for a move to end, so a caller can poll and cancel.
pub trait MotorBoard: Send {
    /// What this board is: the firmware and the port, or "simulated".
    fn describe(&self) -> String;
    /// Where the motors are, in steps, `[x, y, z]`.
    fn position(&mut self) -> Result<[i64; 3], BoardError>;
    /// Start a move by `[dx, dy, dz]` steps; returns once the board has it.
    fn start_move(&mut self, by: [i64; 3]) -> Result<(), BoardError>;
    /// Whether the motors are moving.
    fn is_moving(&mut self) -> Result<bool, BoardError>;
    /// Stop the motors where they are.
    fn stop(&mut self) -> Result<(), BoardError>;
    /// Call the current position `[0, 0, 0]` (nothing moves).
    fn zero(&mut self) -> Result<(), BoardError>;
    /// Set the constant-current LED's brightness, 0 to 1.
    fn set_led(&mut self, brightness: f64) -> Result<(), BoardError>;
}

/// Why the board did not do what it was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BoardError {
    /// The port could not be opened: no such device, no permission.
    #[error("cannot open the serial port {port}: {reason}")]
    Open {
        /// The port.
        port: String,
        /// Why, as the operating system said.
        reason: String,
    },
    /// The port failed while in use: the board was unplugged or reset.
    #[error("lost the board on {port}: {reason}")]
    Lost {
        /// The port.
        port: String,
        /// Why, as the operating system said.
        reason: String,
    },
    /// The board did not answer in time.
    #[error("the board on {port} did not answer `{command}` within {waited:?}")]
    NoReply {
        /// The port.
        port: String,
        /// What it was asked.
        command: String,
        /// How long it was given.
        waited: Duration,
    },
    /// The board answered with an error.
    #[error("the board refused `{command}`: {reply}")]
    Refused {
        /// What it was asked.
        command: String,
        /// What it said.
        reply: String,
    },
    /// The device on the port is not a Sangaboard with firmware v1.
    #[error("{0}")]
    Firmware(String),
}

impl BoardError {
    /// Whether the connection is gone (the Thing drops it and reconnects
    /// on the next use).
    pub fn is_lost(&self) -> bool {
        matches!(self, Self::Lost { .. } | Self::NoReply { .. })
    }
}
