//! Telling observers of what running invocations report, a few times a
//! second at most per invocation (see `progress.rs` for what is reported):
//! a report that comes too soon after the last one told is held and told
//! when its turn comes, by one thread per
//! [`ActionManager`](crate::ActionManager).

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::hub::{Hub, Notification};
use crate::invocation::{Invocation, ReportSink};
use crate::progress::Report;

/// Tells observers of reports, at most `per_second` times a second per
/// invocation, holding reports that come sooner for a thread of its own.
#[derive(Debug)]
pub(crate) struct Updates {
    /// Itself, for the thread that tells held reports.
    me: Weak<Updates>,
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
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            hub,
            gap,
            held: Mutex::new(Held::default()),
            wake: Condvar::new(),
        })
    }

    /// Tell observers that `invocation` changed (called with its report
    /// lock held, so a finish cannot be told before it).
    fn publish(&self, invocation: &Arc<Invocation>) {
        self.hub.publish(Notification::Invocation {
            invocation: invocation.clone(),
            status: invocation.status(),
        });
    }

    fn hold(&self, due: Instant, invocation: &Arc<Invocation>) {
        let mut held = self.held.lock();
        held.due.push((due, Arc::downgrade(invocation)));
        if !held.running {
            let updates = self.me.clone();
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

impl ReportSink for Updates {
    /// Record `report` for `invocation` and tell observers now or when its
    /// turn comes.
    fn report(&self, invocation: &Arc<Invocation>, report: Report) {
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
    use crate::progress::INTERMEDIATE_LIMITS;
    use serde_json::Value;

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
    fn told(receiver: &mut tokio::sync::broadcast::Receiver<crate::hub::Sequenced>) -> usize {
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
