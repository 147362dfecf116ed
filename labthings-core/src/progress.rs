//! How far a running invocation is: the fraction done, a message, the time
//! remaining, and intermediate results, as device code reports them through
//! its [`InvocationHandle`](crate::InvocationHandle).
//!
//! Reports are cheap for device code and never flood clients: each report
//! is stored at once (a poll of the invocation sees it), but observers are
//! told at most [`ManagerConfig::progress_per_second`](crate::ManagerConfig::progress_per_second)
//! times a second per invocation. A report that comes too soon after the
//! last one told is held and told when its turn comes, by one thread per
//! [`ActionManager`](crate::ActionManager), so the last report is always
//! delivered (unless the invocation finished first: its final status carries it).
//! This module holds what is reported; `updates.rs` tells observers.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value;

/// How far an invocation is, as device code reported it.
///
/// ```
/// use labthings_core::progress::Progress;
/// use std::time::Duration;
/// let p = Progress::new(0.25).message("moving z").remaining(Duration::from_secs(3));
/// assert_eq!((p.fraction, p.message.as_deref(), p.remaining_seconds), (0.25, Some("moving z"), Some(3.0)));
/// assert_eq!(Progress::new(7.0).fraction, 1.0); // clamped to 0..=1
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Progress {
    /// The fraction done, 0.0 to 1.0.
    pub fraction: f64,
    /// What the action is doing now, if it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Seconds left: as device code said, or estimated from the rate of
    /// progress so far (see [`estimated`](Self::estimated)).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub remaining_seconds: Option<f64>,
    /// Whether `remaining_seconds` is the server's estimate rather than
    /// device code's own figure.
    #[serde(rename = "remainingEstimated")]
    pub estimated: bool,
}

impl Progress {
    /// `fraction` done (clamped to 0.0–1.0; not a number counts as 0).
    pub fn new(fraction: f64) -> Self {
        let fraction = if fraction.is_nan() {
            0.0
        } else {
            fraction.clamp(0.0, 1.0)
        };
        Self {
            fraction,
            message: None,
            remaining_seconds: None,
            estimated: false,
        }
    }

    /// With a message saying what the action is doing.
    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    /// With device code's own estimate of the time left.
    pub fn remaining(mut self, remaining: Duration) -> Self {
        self.remaining_seconds = Some(remaining.as_secs_f64());
        self.estimated = false;
        self
    }

    /// Fill in the time left from the rate of progress since `started`,
    /// when device code gave none and there is progress to go by.
    fn estimate_from(mut self, started: Option<Instant>, now: Instant) -> Self {
        if self.remaining_seconds.is_none()
            && let Some(started) = started
            && self.fraction > 0.0
        {
            let elapsed = now.saturating_duration_since(started).as_secs_f64();
            self.remaining_seconds = Some(elapsed * (1.0 - self.fraction) / self.fraction);
            self.estimated = true;
        }
        self
    }
}

/// How many intermediate results an invocation keeps (the newest), and how
/// many bytes of JSON at most.
pub const INTERMEDIATE_LIMITS: (usize, usize) = (1000, 256 * 1024);

/// What device code reported so far, and when observers were last told.
#[derive(Debug, Default)]
pub(crate) struct Reported {
    pub(crate) progress: Option<Progress>,
    /// The newest intermediate results, oldest first, with their JSON size
    /// and when each was reported.
    intermediate: VecDeque<(Value, usize, chrono::DateTime<chrono::Utc>)>,
    intermediate_bytes: usize,
    /// Intermediate results reported in all (some may have been dropped).
    pub(crate) intermediate_count: u64,
    /// When the invocation started running.
    pub(crate) started: Option<Instant>,
    /// When observers were last told of a report.
    pub(crate) told: Option<Instant>,
    /// A report is waiting for its turn to be told.
    pub(crate) held: bool,
    /// The invocation has finished: reports change nothing.
    pub(crate) closed: bool,
}

impl Reported {
    /// The intermediate results kept, oldest first.
    pub(crate) fn intermediate(&self) -> Vec<Value> {
        self.intermediate.iter().map(|(v, ..)| v.clone()).collect()
    }

    /// When each of the intermediate results kept was reported.
    pub(crate) fn intermediate_times(&self) -> Vec<chrono::DateTime<chrono::Utc>> {
        self.intermediate.iter().map(|(.., t)| *t).collect()
    }

    /// What a finished invocation read back from its record had reported.
    pub(crate) fn restore(
        &mut self,
        progress: Option<Progress>,
        intermediate: Vec<(Value, chrono::DateTime<chrono::Utc>)>,
        count: u64,
    ) {
        self.progress = progress;
        for (value, time) in intermediate {
            self.push_intermediate_at(value, time);
        }
        self.intermediate_count = count;
        self.closed = true;
    }

    /// Keep `report` unless the invocation has finished; whether it was kept.
    pub(crate) fn record(&mut self, report: Report, now: Instant) -> bool {
        if self.closed {
            return false;
        }
        match report {
            Report::Progress(progress) => self.progress = Some(progress.estimate_from(self.started, now)),
            Report::Intermediate(value) => self.push_intermediate(value),
        }
        true
    }

    /// The invocation has finished: later reports change nothing, a
    /// completed one shows all done, and one that ended otherwise keeps the
    /// fraction it reached with no time remaining.
    pub(crate) fn close(&mut self, completed: bool) {
        self.closed = true;
        if let Some(progress) = &mut self.progress {
            if completed {
                progress.fraction = 1.0;
                progress.remaining_seconds = Some(0.0);
            } else {
                // Cancelled or failed: how far it got stays, but nothing
                // remains to be waited for.
                progress.remaining_seconds = None;
            }
            progress.estimated = false;
        }
    }

    fn push_intermediate(&mut self, value: Value) {
        self.push_intermediate_at(value, chrono::Utc::now());
    }

    fn push_intermediate_at(&mut self, value: Value, time: chrono::DateTime<chrono::Utc>) {
        let size = serde_json::to_string(&value).map_or(0, |s| s.len());
        let (max_count, max_bytes) = INTERMEDIATE_LIMITS;
        self.intermediate_bytes = self.intermediate_bytes.saturating_add(size);
        self.intermediate.push_back((value, size, time));
        self.intermediate_count = self.intermediate_count.saturating_add(1);
        while self.intermediate.len() > max_count
            || (self.intermediate_bytes > max_bytes && self.intermediate.len() > 1)
        {
            if let Some((_, size, _)) = self.intermediate.pop_front() {
                self.intermediate_bytes = self.intermediate_bytes.saturating_sub(size);
            }
        }
    }
}

/// What a report changes.
pub(crate) enum Report {
    Progress(Progress),
    Intermediate(Value),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_invocation_that_ends_early_has_no_time_left_and_keeps_how_far_it_got() {
        let mut reported = Reported::default();
        let mut progress = Progress::new(0.25);
        progress.remaining_seconds = Some(3.0);
        assert!(reported.record(Report::Progress(progress), Instant::now()));
        reported.close(false);
        let left = reported.progress.clone().expect("a progress");
        assert_eq!((left.fraction, left.remaining_seconds), (0.25, None));
        assert!(
            !reported.record(Report::Progress(Progress::new(0.5)), Instant::now()),
            "closed"
        );

        let mut done = Reported::default();
        assert!(done.record(Report::Progress(Progress::new(0.5)), Instant::now()));
        done.close(true);
        let all = done.progress.clone().expect("a progress");
        assert_eq!((all.fraction, all.remaining_seconds), (1.0, Some(0.0)));
    }
}
