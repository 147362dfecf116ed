//! The threads invocations run on: every invocation gets a thread of its own
//! at once (never queued behind a long action), but threads that finished an
//! invocation wait a while for the next one instead of exiting, so a burst of
//! short actions does not pay for a thread spawn each.

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread;
use std::time::Duration;

use parking_lot::Mutex;

type Job = Box<dyn FnOnce() + Send>;

/// A pool of threads that grows to as many as are busy at once and shrinks
/// when they stay idle.
#[derive(Debug, Clone)]
pub struct ThreadPool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Idle workers, each waiting on its own channel.
    idle: Mutex<Vec<(u64, Sender<Job>)>>,
    next_id: Mutex<u64>,
    keep_idle: Duration,
}

impl Default for ThreadPool {
    fn default() -> Self {
        Self::new(Duration::from_secs(10))
    }
}

impl ThreadPool {
    /// A pool whose idle threads exit after `keep_idle`.
    pub fn new(keep_idle: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                idle: Mutex::new(Vec::new()),
                next_id: Mutex::new(0),
                keep_idle,
            }),
        }
    }

    /// Run `job` on an idle thread, or on a new one if none is idle.
    pub fn run(&self, job: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
        let mut job: Job = Box::new(job);
        loop {
            let worker = self.inner.idle.lock().pop();
            match worker {
                Some((_, sender)) => match sender.send(job) {
                    Ok(()) => return Ok(()),
                    // That worker gave up waiting just now: try the next.
                    Err(mpsc::SendError(returned)) => job = returned,
                },
                None => return self.spawn(job),
            }
        }
    }

    /// How many threads are idle.
    pub fn idle(&self) -> usize {
        self.inner.idle.lock().len()
    }

    fn spawn(&self, first: Job) -> std::io::Result<()> {
        let inner = self.inner.clone();
        let id = {
            let mut next = inner.next_id.lock();
            *next += 1;
            *next
        };
        thread::Builder::new()
            .name("labthings-invocation".to_owned())
            .spawn(move || worker(&inner, id, first))
            .map(drop)
    }
}

fn worker(inner: &Inner, id: u64, first: Job) {
    first();
    loop {
        let (sender, receiver) = mpsc::channel::<Job>();
        inner.idle.lock().push((id, sender));
        match receiver.recv_timeout(inner.keep_idle) {
            Ok(job) => job(),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                let mut idle = inner.idle.lock();
                match idle.iter().position(|(worker, _)| *worker == id) {
                    Some(index) => {
                        idle.swap_remove(index);
                        return;
                    }
                    // Taken by `run` between the timeout and the lock: a job
                    // is on its way.
                    None => {
                        drop(idle);
                        match receiver.recv() {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;

    #[test]
    fn threads_are_reused_and_every_job_runs_at_once() {
        let pool = ThreadPool::new(Duration::from_secs(5));
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
    }

    #[test]
    fn a_blocked_job_does_not_delay_the_next() {
        let pool = ThreadPool::new(Duration::from_secs(5));
        let (release, blocked) = channel::<()>();
        pool.run(move || blocked.recv().unwrap_or(())).expect("spawn");
        let (done, finished) = channel();
        pool.run(move || done.send(()).unwrap_or(())).expect("spawn");
        assert_eq!(finished.recv_timeout(Duration::from_secs(10)), Ok(()));
        release.send(()).expect("release");
    }

    #[test]
    fn idle_threads_exit() {
        let pool = ThreadPool::new(Duration::from_millis(10));
        pool.run(|| {}).expect("spawn");
        thread::sleep(Duration::from_millis(200));
        assert_eq!(pool.idle(), 0);
    }
}
