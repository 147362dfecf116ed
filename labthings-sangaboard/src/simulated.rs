//! A Sangaboard simulated in memory: moves take time, can be stopped, and
//! the position is where the motors would be.

use std::time::{Duration, Instant};

use crate::board::{BoardError, MotorBoard};

/// A move in progress.
#[derive(Debug, Clone, Copy)]
struct Move {
    from: [i64; 3],
    by: [i64; 3],
    started: Instant,
    takes: Duration,
}

impl Move {
    /// Where the motors are at `now`.
    fn at(&self, now: Instant) -> [i64; 3] {
        let fraction = if self.takes.is_zero() {
            1.0
        } else {
            (now.saturating_duration_since(self.started).as_secs_f64() / self.takes.as_secs_f64()).min(1.0)
        };
        // |by| is at most what the Thing's schema allows, far below 2^52,
        // so the product is exact enough and the cast cannot overflow.
        std::array::from_fn(|axis| self.from[axis] + (self.by[axis] as f64 * fraction).round() as i64)
    }

    fn done(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.started) >= self.takes
    }
}

/// A simulated board: all axes move together at `steps_per_second`.
#[derive(Debug)]
pub struct SimulatedBoard {
    position: [i64; 3],
    moving: Option<Move>,
    steps_per_second: f64,
    led: f64,
}

impl Default for SimulatedBoard {
    fn default() -> Self {
        Self::new(1000.0)
    }
}

impl SimulatedBoard {
    /// A board at `[0, 0, 0]` whose motors make `steps_per_second`
    /// (at least 1).
    pub fn new(steps_per_second: f64) -> Self {
        Self {
            position: [0; 3],
            moving: None,
            steps_per_second: steps_per_second.max(1.0),
            led: 0.0,
        }
    }

    /// The LED's brightness, 0 to 1.
    pub fn led(&self) -> f64 {
        self.led
    }

    /// Settle a move that has ended.
    fn settle(&mut self) {
        let now = Instant::now();
        if let Some(m) = self.moving.filter(|m| m.done(now)) {
            self.position = m.at(now);
            self.moving = None;
        }
    }
}

impl MotorBoard for SimulatedBoard {
    fn describe(&self) -> String {
        "simulated".to_owned()
    }

    fn position(&mut self) -> Result<[i64; 3], BoardError> {
        self.settle();
        Ok(self.moving.map_or(self.position, |m| m.at(Instant::now())))
    }

    fn start_move(&mut self, by: [i64; 3]) -> Result<(), BoardError> {
        self.settle();
        if self.moving.is_some() {
            return Err(BoardError::Refused {
                command: format!("mr {} {} {}", by[0], by[1], by[2]),
                reply: "error: already moving".to_owned(),
            });
        }
        let longest = by.iter().map(|d| d.unsigned_abs()).max().unwrap_or(0);
        self.moving = Some(Move {
            from: self.position,
            by,
            started: Instant::now(),
            takes: Duration::from_secs_f64(longest as f64 / self.steps_per_second),
        });
        Ok(())
    }

    fn is_moving(&mut self) -> Result<bool, BoardError> {
        self.settle();
        Ok(self.moving.is_some())
    }

    fn stop(&mut self) -> Result<(), BoardError> {
        if let Some(m) = self.moving.take() {
            self.position = m.at(Instant::now());
        }
        Ok(())
    }

    fn zero(&mut self) -> Result<(), BoardError> {
        self.settle();
        if self.moving.is_some() {
            return Err(BoardError::Refused {
                command: "zero".to_owned(),
                reply: "error: moving".to_owned(),
            });
        }
        self.position = [0; 3];
        Ok(())
    }

    fn set_led(&mut self, brightness: f64) -> Result<(), BoardError> {
        self.led = brightness.clamp(0.0, 1.0);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_takes_time_and_a_stop_leaves_the_motors_part_way() {
        let mut board = SimulatedBoard::new(1000.0);
        board.start_move([2000, -1000, 0]).expect("start");
        assert!(board.is_moving().expect("moving?"));
        assert!(board.start_move([1, 0, 0]).is_err(), "one move at a time");
        std::thread::sleep(Duration::from_millis(100));
        board.stop().expect("stop");
        let [x, y, z] = board.position().expect("p?");
        assert!(0 < x && x < 2000, "{x}");
        assert!(-1000 < y && y < 0 && z == 0, "{y} {z}");
        assert!(!board.is_moving().expect("moving?"));
        board.start_move([10, 0, 0]).expect("start");
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(board.position().expect("p?"), [x + 10, y, 0]);
        board.zero().expect("zero");
        assert_eq!(board.position().expect("p?"), [0; 3]);
    }
}
