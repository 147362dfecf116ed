//! An OpenFlexure Sangaboard motor controller as a labthings Thing.
//!
//! The Sangaboard drives the three stepper motors of an OpenFlexure
//! microscope's stage and speaks a line protocol over USB serial at
//! 115200 baud (`version`, `p?`, `mr dx dy dz`, `moving?`, `stop`, ...).
//! This crate is that protocol ([`SerialBoard`]), a board simulated in
//! memory with the same behaviour ([`SimulatedBoard`]), the one trait both
//! implement ([`MotorBoard`]), and one Thing that serves either
//! ([`Sangaboard`]), a port of LabThings-FastAPI's `labthings-sangaboard`.
//!
//! ```no_run
//! use labthings::Server;
//! use labthings_sangaboard::Sangaboard;
//!
//! # async fn run() -> anyhow::Result<()> {
//! let stage = Sangaboard::serial("/dev/serial/by-id/usb-Sangaboard");   // or Sangaboard::simulated()
//! labthings::cli::run(Server::builder().thing("stage", stage).build()?, "127.0.0.1:5000").await?;
//! # Ok(()) }
//! ```

mod board;
mod serial;
mod simulated;
mod thing;

pub use board::{BoardError, MotorBoard};
pub use serial::SerialBoard;
pub use simulated::SimulatedBoard;
pub use thing::{ActionError, Position, Sangaboard, SangaboardConfig};

/// The guide chapter "Driving a serial instrument" (`guide/src/serial-instrument.md`), whose
/// examples run as this crate's doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../guide/src/serial-instrument.md")]
mod guide {}
