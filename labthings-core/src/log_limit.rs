//! Logging what the network sends at a bounded rate: a flood of bad
//! messages or refused requests must not fill the disk with the log.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Lets one log line of a kind through per window, and counts the rest;
/// the next line that goes through says how many were held back.
///
/// ```
/// use labthings_core::log_limit::LogLimiter;
/// use std::time::Duration;
/// let limiter = LogLimiter::new(Duration::from_secs(10));
/// let mut lines = Vec::new();
/// for _ in 0..1000 {
///     limiter.hit(|more| lines.push(format!("refused a message{more}")));
/// }
/// assert_eq!(lines, ["refused a message"]);
/// assert_eq!(limiter.held_back(), 999);
/// ```
#[derive(Debug)]
pub struct LogLimiter {
    window: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    /// When the last line went through.
    last: Option<Instant>,
    /// Lines held back since.
    held: u64,
}

impl LogLimiter {
    /// At most one line per `window`.
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            state: Mutex::new(State::default()),
        }
    }

    /// Log through `log` if a window has passed since the last line, giving
    /// it `" (N more in the last S s)"` when lines were held back (else
    /// `""`); otherwise count this one.
    pub fn hit(&self, log: impl FnOnce(&str)) {
        let now = Instant::now();
        let mut state = self.state.lock();
        let due = state.last.is_none_or(|last| now.duration_since(last) >= self.window);
        if !due {
            state.held = state.held.saturating_add(1);
            return;
        }
        let more = match (state.held, state.last) {
            (0, _) | (_, None) => String::new(),
            (held, Some(last)) => format!(
                " ({held} more in the last {:.0} s)",
                now.duration_since(last).as_secs_f64()
            ),
        };
        state.last = Some(now);
        state.held = 0;
        drop(state);
        log(&more);
    }

    /// Lines held back since the last one that went through.
    pub fn held_back(&self) -> u64 {
        self.state.lock().held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_line_after_the_window_counts_the_held_back_ones() {
        let limiter = LogLimiter::new(Duration::from_millis(20));
        let mut lines = Vec::new();
        for _ in 0..5 {
            limiter.hit(|more| lines.push(more.to_owned()));
        }
        std::thread::sleep(Duration::from_millis(30));
        limiter.hit(|more| lines.push(more.to_owned()));
        assert_eq!(lines.len(), 2);
        assert!(lines[1].starts_with(" (4 more in the last"), "{lines:?}");
    }
}
