//! A Sangaboard on a serial port: the line protocol of its firmware v1.
//!
//! Every exchange is one command line and one answer line. Two rules keep
//! the driver in step with the board when something went wrong before (a
//! command abandoned by a cancel, a server killed mid-move, a board reset):
//! anything waiting on the port is thrown away before each command, and an
//! answer whose form is known (`p?`, `moving?`, `version`) must have that
//! form -- another line is a stray one, logged and skipped -- so a late
//! `done` is never read as a position.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use serialport::{ClearBuffer, SerialPort};

use crate::board::{BoardError, MotorBoard};

/// The board's serial settings: 115200 baud, 8 data bits, no parity, 1 stop bit.
const BAUD: u32 = 115_200;
/// How long one read waits: short, so a wait for an answer has a deadline.
const READ_SLICE: Duration = Duration::from_millis(20);
/// How long the board has to answer a command.
const REPLY_TIMEOUT: Duration = Duration::from_secs(2);
/// The longest line the board sends; past it the input is garbage.
const MAX_LINE: usize = 1024;

/// The serial connection, line by line.
struct Link {
    port: Box<dyn SerialPort>,
    name: String,
    /// Bytes read past the last full line.
    partial: Vec<u8>,
}

impl Link {
    fn open(name: &str) -> Result<Self, BoardError> {
        let port = serialport::new(name, BAUD)
            .timeout(READ_SLICE)
            .open()
            .map_err(|e| BoardError::Open {
                port: name.to_owned(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            port,
            name: name.to_owned(),
            partial: Vec::new(),
        })
    }

    fn lost(&self, reason: impl std::fmt::Display) -> BoardError {
        BoardError::Lost {
            port: self.name.clone(),
            reason: reason.to_string(),
        }
    }

    /// Throw away whatever is waiting: answers to commands nobody waits for.
    fn drain(&mut self) -> Result<(), BoardError> {
        self.port.clear(ClearBuffer::Input).map_err(|e| self.lost(e))?;
        if !self.partial.is_empty() {
            tracing::debug!("{}: dropped {} stray bytes", self.name, self.partial.len());
            self.partial.clear();
        }
        Ok(())
    }

    fn send(&mut self, command: &str) -> Result<(), BoardError> {
        let line = format!("{command}\n");
        let written = self.port.write_all(line.as_bytes()).and_then(|()| self.port.flush());
        written.map_err(|e| self.lost(e))
    }

    /// The next line (without its line ending) before `deadline`, or `None`.
    fn read_line(&mut self, deadline: Instant) -> Result<Option<String>, BoardError> {
        let mut chunk = [0u8; 256];
        loop {
            if let Some(end) = self.partial.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.partial.drain(..=end).collect();
                return Ok(Some(String::from_utf8_lossy(&line).trim_end().to_owned()));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            match self.port.read(&mut chunk) {
                // A serial port reads 0 bytes only when the device is gone.
                Ok(0) => return Err(self.lost("the port was closed")),
                Ok(n) => {
                    self.partial.extend_from_slice(&chunk[..n]);
                    if self.partial.len() > MAX_LINE && !self.partial.contains(&b'\n') {
                        self.partial.clear();
                        tracing::warn!("{}: more than {MAX_LINE} bytes without a line end, dropped", self.name);
                    }
                }
                Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::Interrupted => {}
                Err(e) => return Err(self.lost(e)),
            }
        }
    }

    /// Send `command` and return the first answer `accept` takes, skipping
    /// lines it does not; an answer starting with `error` is a refusal.
    fn query<T>(&mut self, command: &str, accept: impl Fn(&str) -> Option<T>) -> Result<T, BoardError> {
        self.drain()?;
        self.send(command)?;
        let deadline = Instant::now() + REPLY_TIMEOUT;
        while let Some(line) = self.read_line(deadline)? {
            if line.starts_with("error") {
                return Err(BoardError::Refused {
                    command: command.to_owned(),
                    reply: line,
                });
            }
            if let Some(answer) = accept(&line) {
                return Ok(answer);
            }
            if !line.is_empty() {
                tracing::debug!(
                    "{}: skipped a stray line {line:?} while waiting for `{command}`",
                    self.name
                );
            }
        }
        Err(BoardError::NoReply {
            port: self.name.clone(),
            command: command.to_owned(),
            waited: REPLY_TIMEOUT,
        })
    }

    /// Send a command whose answer is free text (`done`, `stopped`): any one line.
    fn command(&mut self, command: &str) -> Result<String, BoardError> {
        self.query(command, |line| (!line.is_empty()).then(|| line.to_owned()))
    }
}

/// Parse the answer to `version`: `Sangaboard Firmware v1.0.1` (or the older
/// name, `OpenFlexure Motor Board v...`); its major and minor version.
pub(crate) fn parse_version(line: &str) -> Option<(u64, u64)> {
    let version = line
        .strip_prefix("Sangaboard Firmware v")
        .or_else(|| line.strip_prefix("OpenFlexure Motor Board v"))?;
    let mut parts = version.trim().split(['.', '-']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next().map_or(Some(0), |m| m.parse().ok())?;
    Some((major, minor))
}

/// Parse the answer to `p?`: three integers.
pub(crate) fn parse_position(line: &str) -> Option<[i64; 3]> {
    let mut numbers = line.split_whitespace().map(str::parse::<i64>);
    let position = [numbers.next()?.ok()?, numbers.next()?.ok()?, numbers.next()?.ok()?];
    numbers.next().is_none().then_some(position)
}

/// Parse the answer to `moving?`.
pub(crate) fn parse_moving(line: &str) -> Option<bool> {
    match line {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A Sangaboard with firmware v1 on a serial port.
pub struct SerialBoard {
    link: Link,
    firmware: String,
}

impl std::fmt::Debug for SerialBoard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SerialBoard")
            .field("port", &self.link.name)
            .field("firmware", &self.firmware)
            .finish()
    }
}

impl SerialBoard {
    /// Open `port` (`/dev/ttyACM0`, `/dev/serial/by-id/...`, `COM3`) and
    /// check that a Sangaboard with firmware v1 answers. Moves are made
    /// non-blocking (`blocking_moves false`), so a move can be watched and
    /// stopped; motors found moving (a server that died mid-move) are
    /// stopped.
    pub fn connect(port: &str) -> Result<Self, BoardError> {
        let mut link = Link::open(port)?;
        // A board that was reset sends a greeting; one that was mid-command
        // sends its answer: give both a moment to arrive, then drop them.
        std::thread::sleep(Duration::from_millis(50));
        let (firmware, (major, _)) = link.query("version", |line| {
            parse_version(line).map(|version| (line.to_owned(), version))
        })?;
        if major != 1 {
            return Err(BoardError::Firmware(format!(
                "{port}: `{firmware}`: this driver needs Sangaboard firmware v1"
            )));
        }
        link.query("blocking_moves false", |line| (line == "done").then_some(()))?;
        let mut board = Self { link, firmware };
        if board.is_moving()? {
            tracing::warn!("{port}: the motors were moving when the driver connected; stopping them");
            board.stop()?;
        }
        Ok(board)
    }
}

impl MotorBoard for SerialBoard {
    fn describe(&self) -> String {
        format!("{} on {}", self.firmware, self.link.name)
    }

    fn position(&mut self) -> Result<[i64; 3], BoardError> {
        self.link.query("p?", parse_position)
    }

    fn start_move(&mut self, by: [i64; 3]) -> Result<(), BoardError> {
        self.link.command(&format!("mr {} {} {}", by[0], by[1], by[2]))?;
        Ok(())
    }

    fn is_moving(&mut self) -> Result<bool, BoardError> {
        self.link.query("moving?", parse_moving)
    }

    fn stop(&mut self) -> Result<(), BoardError> {
        self.link.command("stop")?;
        // The answer's wording differs between firmware versions: what
        // counts is that the motors are still.
        if self.is_moving()? {
            return Err(BoardError::Refused {
                command: "stop".to_owned(),
                reply: "the motors are still moving".to_owned(),
            });
        }
        Ok(())
    }

    fn zero(&mut self) -> Result<(), BoardError> {
        self.link.command("zero")?;
        Ok(())
    }

    fn set_led(&mut self, brightness: f64) -> Result<(), BoardError> {
        let brightness = brightness.clamp(0.0, 1.0);
        self.link.query(&format!("led_cc {brightness}"), |line| {
            line.starts_with("CC LED:").then_some(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_of_both_firmware_names_are_read() {
        assert_eq!(parse_version("Sangaboard Firmware v1.0.1"), Some((1, 0)));
        assert_eq!(parse_version("OpenFlexure Motor Board v0.5"), Some((0, 5)));
        assert_eq!(parse_version("Sangaboard Firmware v1"), Some((1, 0)));
        assert_eq!(parse_version("done"), None);
        assert_eq!(parse_version("Sangaboard Firmware vX"), None);
    }

    #[test]
    fn only_three_integers_are_a_position() {
        assert_eq!(parse_position("1 -2 3"), Some([1, -2, 3]));
        assert_eq!(parse_position("done"), None);
        assert_eq!(parse_position("1 2"), None);
        assert_eq!(parse_position("1 2 3 4"), None);
        assert_eq!(parse_position("99999999999999999999 0 0"), None);
    }

    #[test]
    fn only_true_or_false_answers_moving() {
        assert_eq!(parse_moving("true"), Some(true));
        assert_eq!(parse_moving("false"), Some(false));
        assert_eq!(parse_moving("done"), None);
    }
}
