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

use std::collections::VecDeque;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use serde::Serialize;
use serde_json::Value;

use crate::hub::{Hub, Notification};
use crate::invocation::Invocation;

/// How far an invocation is, as device code reported it.
///
/// ```
/// use labthings_core::progress::Progress;
/// use std::time::Duration;
/// let p = Progress::new(0.25).message("moving z").remaining(Duration::from_secs(3));
/// assert_eq!((p.fraction, p.message.as_deref(), p.remaining_seconds), (0.25, Some("moving z"), Some(3.0)));
/// assert_eq!(Progress::new(7.0).fraction, 1.0); // clamped to 0..=1
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
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
    /// The newest intermediate results, oldest first, with their JSON size.
    intermediate: VecDeque<(Value, usize)>,
    intermediate_bytes: usize,
    /// Intermediate results reported in all (some may have been dropped).
    pub(crate) intermediate_count: u64,
    /// When the invocation started running.
    pub(crate) started: Option<Instant>,
    /// When observers were last told of a report.
    told: Option<Instant>,
    /// A report is waiting for its turn to be told.
    held: bool,
    /// The invocation has finished: reports change nothing.
    pub(crate) closed: bool,
}

impl Reported {
    /// The intermediate results kept, oldest first.
    pub(crate) fn intermediate(&self) -> Vec<Value> {
        self.intermediate.iter().map(|(v, _)| v.clone()).collect()
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

    /// The invocation has finished: later reports change nothing, and a
    /// completed one shows all done.
    pub(crate) fn close(&mut self, completed: bool) {
        self.closed = true;
        if completed && let Some(progress) = &mut self.progress {
            progress.fraction = 1.0;
            progress.remaining_seconds = Some(0.0);
            progress.estimated = false;
        }
    }

    fn push_intermediate(&mut self, value: Value) {
        let size = serde_json::to_string(&value).map_or(0, |s| s.len());
        let (max_count, max_bytes) = INTERMEDIATE_LIMITS;
        self.intermediate_bytes = self.intermediate_bytes.saturating_add(size);
        self.intermediate.push_back((value, size));
        self.intermediate_count = self.intermediate_count.saturating_add(1);
        while self.intermediate.len() > max_count
            || (self.intermediate_bytes > max_bytes && self.intermediate.len() > 1)
        {
            if let Some((_, size)) = self.intermediate.pop_front() {
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

/// Tells observers of reports, at most `per_second` times a second per
/// invocation, holding reports that come sooner for a thread of its own.
#[derive(Debug)]
pub(crate) struct Updates {
    hub: Hub,
    gap: Duration,
    held: Mutex<Held>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct Held {
    /// Invocations with a report held, and when it is due.
    due: Vec<(Instant, Weak<Invocation>)>,
    /// Whether the thread that tells them runs.
    running: bool,
}

impl Updates {
    /// Updates published on `hub`, `per_second` at most per invocation
    /// (0 tells every report at once).
    pub(crate) fn new(hub: Hub, per_second: u32) -> Arc<Self> {
        let gap = if per_second == 0 {
            Duration::ZERO
        } else {
            Duration::from_secs(1) / per_second
        };
        Arc::new(Self {
            hub,
            gap,
            held: Mutex::new(Held::default()),
            wake: Condvar::new(),
        })
    }

    /// Record `report` for `invocation` and tell observers now or when its
    /// turn comes.
    pub(crate) fn report(self: &Arc<Self>, invocation: &Arc<Invocation>, report: Report) {
        let now = Instant::now();
        let mut reported = invocation.reported().lock();
        if !reported.record(report, now) || reported.held {
            return;
        }
        let due = reported.told.map_or(now, |told| told + self.gap);
        if due <= now {
            reported.told = Some(now);
            self.publish(invocation);
        } else {
            reported.held = true;
            drop(reported);
            self.hold(due, invocation);
        }
    }

    /// Tell observers that `invocation` changed (called with its report
    /// lock held, so a finish cannot be told before it).
    fn publish(&self, invocation: &Arc<Invocation>) {
        self.hub.publish(Notification::Invocation {
            invocation: invocation.clone(),
            status: invocation.status(),
        });
    }

    fn hold(self: &Arc<Self>, due: Instant, invocation: &Arc<Invocation>) {
        let mut held = self.held.lock();
        held.due.push((due, Arc::downgrade(invocation)));
        if !held.running {
            let updates = Arc::downgrade(self);
            let started = std::thread::Builder::new()
                .name("labthings-progress".into())
                .spawn(move || tell_held(updates));
            held.running = started.is_ok();
        }
        drop(held);
        self.wake.notify_one();
    }

    /// Tell the held reports that are due.
    fn tell_due(&self, now: Instant) {
        let ready: Vec<_> = {
            let mut held = self.held.lock();
            let (due, later): (Vec<_>, Vec<_>) = held.due.drain(..).partition(|(at, _)| *at <= now);
            held.due = later;
            due.into_iter().filter_map(|(_, i)| i.upgrade()).collect()
        };
        for invocation in ready {
            let mut reported = invocation.reported().lock();
            if reported.held && !reported.closed {
                reported.held = false;
                reported.told = Some(now);
                self.publish(&invocation);
            }
        }
    }
}

/// The body of the thread that tells held reports. It ends with its
/// [`Updates`] (it holds them only while it looks, and looks at least once
/// a second), or after a minute with nothing held.
fn tell_held(updates: Weak<Updates>) {
    let mut idle_since = Instant::now();
    loop {
        let Some(this) = updates.upgrade() else { return };
        this.tell_due(Instant::now());
        let mut held = this.held.lock();
        let now = Instant::now();
        let look_again = now + Duration::from_secs(1);
        match held.due.iter().map(|(at, _)| *at).min() {
            Some(next) if next <= now => {}
            Some(next) => {
                idle_since = now;
                this.wake.wait_until(&mut held, next.min(look_again));
            }
            None if now.saturating_duration_since(idle_since) > Duration::from_secs(60) => {
                held.running = false;
                return;
            }
            None => {
                this.wake.wait_until(&mut held, look_again);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::InvocationHandle;
    use crate::log::LogBuffer;

    fn running(per_second: u32) -> (Arc<Invocation>, Hub) {
        let hub = Hub::new(100_000);
        let invocation = Arc::new(Invocation::new(
            "stage",
            "move",
            Value::Null,
            Duration::ZERO,
            LogBuffer::new(10),
        ));
        invocation.set_updates(Updates::new(hub.clone(), per_second));
        assert!(invocation.start());
        (invocation, hub)
    }

    /// Progress fractions told to a subscriber so far.
    fn told(receiver: &mut tokio::sync::broadcast::Receiver<Notification>) -> usize {
        let mut n = 0;
        while receiver.try_recv().is_ok() {
            n += 1;
        }
        n
    }

    #[test]
    fn a_tight_loop_of_reports_is_told_a_few_times_and_the_last_always() {
        let (invocation, hub) = running(10);
        let mut receiver = hub.subscribe();
        let handle = InvocationHandle::new(invocation.clone());
        let started = Instant::now();
        let mut reports = 0u32;
        while started.elapsed() < Duration::from_millis(300) {
            handle.progress(f64::from(reports % 1000) / 1000.0);
            reports += 1;
        }
        // Two more at once: the second comes within the gap of the first
        // (or of one told in the loop), so it is held for its turn.
        handle.progress(0.998);
        let last = Instant::now();
        handle.progress(0.999);
        assert!(reports > 1000, "a tight loop: {reports} reports");
        // The held report is told when its turn comes (100 ms; up to 5 s
        // allowed for a loaded machine).
        let waited = Instant::now();
        loop {
            let reported = invocation.reported().lock();
            if !reported.held && reported.told.is_some_and(|told| told >= last) {
                break;
            }
            drop(reported);
            assert!(waited.elapsed() < Duration::from_secs(5), "the last report is told");
            std::thread::sleep(Duration::from_millis(20));
        }
        // 300 ms at 10 a second, and the last: at most one each 100 ms.
        let n = told(&mut receiver);
        let limit = (started.elapsed().as_secs_f64() * 10.0).ceil() as usize + 1;
        assert!(
            (2..=limit).contains(&n),
            "{n} notifications for {reports} reports (limit {limit})"
        );
        assert_eq!(invocation.progress().map(|p| p.fraction), Some(0.999));
        assert!(
            invocation
                .progress()
                .is_some_and(|p| p.estimated && p.remaining_seconds.is_some())
        );
    }

    #[test]
    fn nothing_is_told_after_the_end_and_completion_shows_all_done() {
        let (invocation, hub) = running(10);
        let handle = InvocationHandle::new(invocation.clone());
        handle.progress(0.1);
        handle.progress(0.2); // held for its turn
        let mut receiver = hub.subscribe();
        assert!(invocation.finish(Ok(Value::Null)));
        handle.progress(0.3); // after the end: ignored
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(told(&mut receiver), 0, "the held report is not told after the end");
        let progress = invocation.progress().expect("progress");
        assert_eq!((progress.fraction, progress.remaining_seconds), (1.0, Some(0.0)));
    }

    #[test]
    fn intermediate_results_are_bounded_newest_kept() {
        let (invocation, _hub) = running(0);
        let handle: InvocationHandle<u32> = InvocationHandle::new(invocation.clone()).typed();
        for n in 0..1500 {
            handle.intermediate(&n);
        }
        let (kept, count) = invocation.intermediate();
        assert_eq!(count, 1500);
        assert_eq!(kept.len(), INTERMEDIATE_LIMITS.0);
        assert_eq!(kept.first(), Some(&Value::from(500)));
        assert_eq!(kept.last(), Some(&Value::from(1499)));
    }
}
