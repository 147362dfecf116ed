//! The threads invocations run on: a bounded pool. A job starts at once on an
//! idle thread or a new one while fewer than the pool's maximum exist; beyond
//! that it waits in the pool's queue (holding no thread) until a thread is
//! free. Threads that finished a job wait a while for the next one instead of
//! exiting, so a burst of short actions does not pay for a thread spawn each.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};

type Job = Box<dyn FnOnce() + Send>;

/// A pool of at most `max_threads` threads that grows with demand and
/// shrinks when its threads stay idle.
#[derive(Debug, Clone)]
pub struct ThreadPool {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    work: Condvar,
    keep_idle: Duration,
    max_threads: usize,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = self.state.lock();
        f.debug_struct("ThreadPool")
            .field("threads", &state.threads)
            .field("idle", &state.idle)
            .field("queued", &state.queue.len())
            .field("max_threads", &self.max_threads)
            .finish()
    }
}

#[derive(Default)]
struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

impl Default for ThreadPool {
    fn default() -> Self {
        Self::new(64, Duration::from_secs(10))
    }
}

impl ThreadPool {
    /// A pool of at most `max_threads` threads (at least one), whose idle
    /// threads exit after `keep_idle`.
    pub fn new(max_threads: usize, keep_idle: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                keep_idle,
                max_threads: max_threads.max(1),
            }),
        }
    }

    /// Run `job` on an idle thread, on a new one if none is idle and the pool
    /// is below its maximum, or else as soon as a thread is free. An error
    /// means no thread exists and none could be started: the job was dropped.
    pub fn run(&self, job: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
        let mut state = self.inner.state.lock();
        state.queue.push_back(Box::new(job));
        if state.idle >= state.queue.len() {
            drop(state);
            self.inner.work.notify_one();
            return Ok(());
        }
        if state.threads >= self.inner.max_threads {
            // Every thread is busy: a finishing one takes the job.
            return Ok(());
        }
        state.threads += 1;
        drop(state);
        let inner = self.inner.clone();
        let spawned = thread::Builder::new()
            .name("labthings-invocation".to_owned())
            .spawn(move || worker(&inner));
        if let Err(e) = spawned {
            let mut state = self.inner.state.lock();
            state.threads -= 1;
            if state.threads == 0 {
                // Nobody will ever take it: give the caller the failure.
                state.queue.pop_back();
                return Err(e);
            }
        }
        Ok(())
    }

    /// How many threads are idle.
    pub fn idle(&self) -> usize {
        self.inner.state.lock().idle
    }

    /// How many threads exist (busy or idle).
    pub fn threads(&self) -> usize {
        self.inner.state.lock().threads
    }

    /// How many jobs wait for a thread.
    pub fn queued(&self) -> usize {
        self.inner.state.lock().queue.len()
    }
}

fn worker(inner: &Inner) {
    loop {
        let job = {
            let mut state = inner.state.lock();
            loop {
                if let Some(job) = state.queue.pop_front() {
                    break job;
                }
                state.idle += 1;
                let timed_out = inner.work.wait_for(&mut state, inner.keep_idle).timed_out();
                state.idle -= 1;
                if timed_out && state.queue.is_empty() {
                    state.threads -= 1;
                    return;
                }
            }
        };
        // A job that panics must not take the thread's count with it; the
        // invocation code catches device panics itself, this is a backstop.
        let _ = catch_unwind(AssertUnwindSafe(job));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn threads_are_reused() {
        let pool = ThreadPool::new(4, Duration::from_secs(5));
        let (done, finished) = channel();
        let done2 = done.clone();
        pool.run(move || done2.send(thread::current().id()).unwrap_or(()))
            .expect("spawn");
        let first = finished.recv().expect("ran");
        while pool.idle() == 0 {
            thread::yield_now();
        }
        pool.run(move || done.send(thread::current().id()).unwrap_or(()))
            .expect("reuse");
        assert_eq!(finished.recv().expect("ran"), first, "the idle thread took the job");
        assert_eq!(pool.threads(), 1);
    }

    #[test]
    fn a_blocked_job_does_not_delay_the_next_below_the_maximum() {
        let pool = ThreadPool::new(4, Duration::from_secs(5));
        let (release, blocked) = channel::<()>();
        pool.run(move || blocked.recv().unwrap_or(())).expect("spawn");
        let (done, finished) = channel();
        pool.run(move || done.send(()).unwrap_or(())).expect("spawn");
        assert_eq!(finished.recv_timeout(Duration::from_secs(10)), Ok(()));
        release.send(()).expect("release");
    }

    #[test]
    fn beyond_the_maximum_jobs_queue_without_threads() {
        let pool = ThreadPool::new(2, Duration::from_secs(5));
        let (release, blocked) = channel::<()>();
        let blocked = Arc::new(Mutex::new(blocked));
        for _ in 0..2 {
            let blocked = blocked.clone();
            pool.run(move || blocked.lock().recv().unwrap_or(())).expect("spawn");
        }
        let (done, finished) = channel();
        for n in 0..100 {
            let done = done.clone();
            pool.run(move || done.send(n).unwrap_or(())).expect("queue");
        }
        assert_eq!(pool.threads(), 2, "no thread beyond the maximum");
        assert!(
            finished.recv_timeout(Duration::from_millis(50)).is_err(),
            "queued jobs wait"
        );
        release.send(()).expect("release");
        release.send(()).expect("release");
        let mut ran: Vec<i32> = (0..100)
            .filter_map(|_| finished.recv_timeout(Duration::from_secs(10)).ok())
            .collect();
        ran.sort_unstable();
        assert_eq!(ran, (0..100).collect::<Vec<_>>(), "every queued job ran");
        assert_eq!(pool.threads(), 2);
    }

    #[test]
    fn idle_threads_exit() {
        let pool = ThreadPool::new(4, Duration::from_millis(10));
        pool.run(|| {}).expect("spawn");
        thread::sleep(Duration::from_millis(200));
        assert_eq!(pool.idle(), 0);
        assert_eq!(pool.threads(), 0);
    }

    #[test]
    fn a_panicking_job_keeps_the_pool_working() {
        let pool = ThreadPool::new(1, Duration::from_secs(5));
        pool.run(|| panic!("device bug")).expect("spawn");
        let (done, finished) = channel();
        pool.run(move || done.send(()).unwrap_or(())).expect("queue");
        assert_eq!(finished.recv_timeout(Duration::from_secs(10)), Ok(()));
    }
}
