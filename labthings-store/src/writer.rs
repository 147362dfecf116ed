//! The one thread that writes the database, and the queue records wait in
//! for it.
//!
//! An ending invocation's record wakes the writer; it lets the other threads
//! ending invocations queue theirs ([`Queue::gather`]), and whatever has
//! arrived by then goes into the next commit, so many invocations ending
//! together share one sync of the disk. A starting invocation's record does not wake it: it
//! waits up to [`BEGIN_DELAY`] for the next commit, and is not written at
//! all if the same invocation's end arrives first. A quick action is one
//! row written once; one that runs longer is on disk as running within
//! [`BEGIN_DELAY`] of starting.

use std::collections::{HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use labthings_core::Invocation;
use labthings_core::record::{Record, StoreError};
use parking_lot::{Condvar, Mutex};
use rusqlite::Connection;
use uuid::Uuid;

use crate::files;
use crate::schema::{self, Row};

/// The most records one commit takes.
const BATCH: usize = 512;

/// How many times the writer gives up the processor, at most, to let
/// ending invocations join a commit ([`Queue::gather`]).
const GATHER_YIELDS: usize = 8;

/// How long a starting invocation's record may wait for a commit.
pub(crate) const BEGIN_DELAY: Duration = Duration::from_millis(20);

/// How often records past their age are removed.
const AGE_CHECK: Duration = Duration::from_secs(60);

/// What is called once an ending record is on disk (or could not be
/// written). Dropped without being called, it is called with
/// [`StoreError::Closed`], so no end is left waiting forever.
pub(crate) struct Done(Option<Then>);

/// What [`Done`] calls.
type Then = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

impl Done {
    /// Call `then` with the outcome of the record's commit.
    pub(crate) fn new(then: impl FnOnce(Result<(), StoreError>) + Send + 'static) -> Self {
        Self(Some(Box::new(then)))
    }

    fn call(mut self, result: Result<(), StoreError>) {
        if let Some(then) = self.0.take() {
            then(result);
        }
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        if let Some(then) = self.0.take() {
            then(Err(StoreError::Closed));
        }
    }
}

/// The records waiting for the writer, at most `limit` of them.
pub(crate) struct Queue {
    pending: Mutex<Pending>,
    /// The writer waits here for an end, a start's delay, or closing.
    arrived: Condvar,
    /// Enders wait here while the queue is full.
    room: Condvar,
    limit: usize,
    /// The writer's thread: an end it makes (a [`Done`] ending another
    /// invocation) never waits for room, which only the writer makes.
    writer: std::sync::OnceLock<std::thread::ThreadId>,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pending = self.pending.lock();
        f.debug_struct("Queue")
            .field("begins", &pending.begins.len())
            .field("ends", &pending.ends.len())
            .field("closed", &pending.closed)
            .finish()
    }
}

#[derive(Default)]
struct Pending {
    /// Starts, oldest first, with when each arrived.
    begins: VecDeque<(Instant, Arc<Invocation>)>,
    ends: Vec<(Row, Done)>,
    /// The writer waits for something to write: an end wakes it. (While
    /// it writes, ends only join the queue: the next commit takes them
    /// without a wake-up each.)
    idle: bool,
    closed: bool,
}

/// What one commit writes.
struct Batch {
    begins: Vec<Arc<Invocation>>,
    ends: Vec<(Row, Done)>,
}

/// Why a start was not queued.
pub(crate) enum NotQueued {
    /// The writer is that far behind.
    Full,
    /// The store has closed.
    Closed,
}

impl Queue {
    /// A queue of at most `limit` records.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            pending: Mutex::new(Pending::default()),
            arrived: Condvar::new(),
            room: Condvar::new(),
            limit,
            writer: std::sync::OnceLock::new(),
        }
    }

    /// Queue a start; it does not wake the writer (unless the writer waits
    /// with no other start, so it learns when this one is due).
    pub(crate) fn begin(&self, invocation: Arc<Invocation>) -> Result<(), NotQueued> {
        let mut pending = self.pending.lock();
        if pending.closed {
            return Err(NotQueued::Closed);
        }
        if pending.begins.len() + pending.ends.len() >= self.limit {
            return Err(NotQueued::Full);
        }
        // Only a writer waiting with no start to time needs to learn of one.
        let first = pending.idle && pending.begins.is_empty();
        pending.begins.push_back((Instant::now(), invocation));
        drop(pending);
        if first {
            self.arrived.notify_one();
        }
        Ok(())
    }

    /// Queue an end, waiting for room; `done` is called once it is on disk
    /// (at once with [`StoreError::Closed`] when the store has closed).
    pub(crate) fn end(&self, record: Row, done: Done) {
        let from_writer = self.writer.get() == Some(&std::thread::current().id());
        let mut pending = self.pending.lock();
        while !from_writer && !pending.closed && pending.begins.len() + pending.ends.len() >= self.limit {
            self.room.wait(&mut pending);
        }
        if pending.closed {
            drop(pending);
            done.call(Err(StoreError::Closed));
            return;
        }
        pending.ends.push((record, done));
        let wake = pending.idle;
        drop(pending);
        if wake {
            self.arrived.notify_one();
        }
    }

    /// Take no more records; the writer writes what is waiting and stops.
    pub(crate) fn close(&self) {
        self.pending.lock().closed = true;
        self.arrived.notify_all();
        self.room.notify_all();
    }

    /// Close, and tell every end still waiting that it was not written
    /// (the writer has stopped).
    fn abandon(&self) {
        self.close();
        let ends = std::mem::take(&mut self.pending.lock().ends);
        drop(ends);
    }

    /// Let the threads that are about to end invocations queue them before
    /// a commit takes what is waiting: give up the processor (at most
    /// [`GATHER_YIELDS`] times, while each turn brings more ends and the
    /// batch is not full). A thread that was woken to write runs before
    /// the others that are ending invocations, and a commit costs about the
    /// same for one record as for a hundred (above all its sync), so on a
    /// busy processor writing at once made a commit per record or two. On
    /// a processor with nothing else to run a yield returns at once: a lone
    /// invocation's end is not held back.
    fn gather(pending: &mut parking_lot::MutexGuard<'_, Pending>) {
        for _ in 0..GATHER_YIELDS {
            let before = pending.ends.len();
            if before == 0 || before >= BATCH || pending.closed {
                return;
            }
            parking_lot::MutexGuard::unlocked(pending, std::thread::yield_now);
            if pending.ends.len() == before {
                return;
            }
        }
    }

    /// Wait for the next commit's records: the ends waiting and the starts
    /// due (those whose end is among them dropped), or `None` once closed
    /// and empty.
    fn next(&self) -> Option<Batch> {
        let mut pending = self.pending.lock();
        loop {
            let due = pending.begins.front().map(|(arrived, _)| *arrived + BEGIN_DELAY);
            if !pending.ends.is_empty() || pending.closed || due.is_some_and(|due| due <= Instant::now()) {
                break;
            }
            pending.idle = true;
            match due {
                Some(due) => {
                    self.arrived.wait_until(&mut pending, due);
                }
                None => self.arrived.wait(&mut pending),
            }
            pending.idle = false;
        }
        Self::gather(&mut pending);
        let Pending {
            begins, ends, closed, ..
        } = &mut *pending;
        if *closed && begins.is_empty() && ends.is_empty() {
            return None;
        }
        let ends: Vec<_> = ends.drain(..ends.len().min(BATCH)).collect();
        if !ends.is_empty() {
            let ended: HashSet<Uuid> = ends.iter().map(|(record, _)| record.id).collect();
            begins.retain(|(_, invocation)| !ended.contains(&invocation.id()));
        }
        // Closing, every start goes: a restart then ends it as cut off.
        let now = Instant::now();
        let due = begins
            .iter()
            .take(BATCH)
            .take_while(|(arrived, _)| *closed || *arrived + BEGIN_DELAY <= now)
            .count();
        let begins = begins.drain(..due).map(|(_, invocation)| invocation).collect();
        drop(pending);
        self.room.notify_all();
        Some(Batch { begins, ends })
    }
}

/// What the writer shares with the store.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The bytes the records and blobs take.
    pub(crate) total: AtomicI64,
    /// The store's limits.
    pub(crate) max_bytes: i64,
    pub(crate) max_age: Duration,
    /// The blob folder.
    pub(crate) blobs: PathBuf,
    /// Whether blob files are synced to the disk before their record is
    /// written ([`Survives::PowerCut`](crate::Survives::PowerCut)).
    pub(crate) sync: bool,
}

/// Write what arrives on `queue` until it is closed and empty, and tell each
/// end (call its [`Done`]) once it is on disk.
pub(crate) fn run(mut connection: Connection, shared: Arc<Shared>, queue: Arc<Queue>) {
    // However the writer stops (a panic too), ends still queued are told the
    // store closed (their `Done` dropped).
    struct Stop<'a>(&'a Queue);
    impl Drop for Stop<'_> {
        fn drop(&mut self) {
            self.0.abandon();
        }
    }
    let _stop = Stop(&queue);
    queue.writer.get_or_init(|| std::thread::current().id());
    let mut last_age_check = Instant::now();
    // The bytes of each start written whose end has not been: its end's
    // row replaces it. At most one per invocation running.
    let mut begun: HashMap<Uuid, i64> = HashMap::new();
    // A failing disk fails every commit: said once a minute, with a count.
    let failures = labthings_core::log_limit::LogLimiter::new(Duration::from_secs(60));
    while let Some(batch) = queue.next() {
        let result = write(&mut connection, &shared, &batch, &mut begun);
        if let Err(e) = &result {
            // These ends are not written again: forget their starts' bytes
            // too (a start row stays, counted, until a restart ends it), so
            // `begun` holds only invocations still running.
            for (row, _) in &batch.ends {
                begun.remove(&row.id);
            }
            let count = batch.begins.len() + batch.ends.len();
            failures.hit(|more| tracing::error!("the record store could not write {count} records: {e}{more}"));
        }
        // Told here, not on a thread of their own: that costs less in all
        // than handing them over. What a `Done` runs never waits for the
        // store (an end it makes joins the queue whether it is full or not).
        for (_, done) in batch.ends {
            done.call(result.clone());
        }
        let aged = last_age_check.elapsed() >= AGE_CHECK;
        if aged {
            last_age_check = Instant::now();
        }
        if (aged || shared.total.load(Ordering::SeqCst) > shared.max_bytes)
            && let Err(e) = evict(&mut connection, &shared)
        {
            failures.hit(|more| tracing::error!("the record store could not remove old records: {e}{more}"));
        }
    }
}

/// Write `batch` in one transaction.
fn write(
    connection: &mut Connection,
    shared: &Shared,
    batch: &Batch,
    begun: &mut HashMap<Uuid, i64>,
) -> Result<(), StoreError> {
    // A start is read only now, when it is due: its record so far.
    let begins: Vec<Row> = batch
        .begins
        .iter()
        .filter_map(|invocation| Row::of(Record::of(invocation)).map_err(|e| tracing::error!("{e}")).ok())
        .collect();
    let tx = connection.transaction().map_err(error)?;
    let mut added = 0i64;
    let mut written = Vec::with_capacity(begins.len() + batch.ends.len());
    let ends = batch.ends.iter().map(|(row, _)| row);
    let mut put = schema::Put::new(&tx).map_err(error)?;
    for row in begins.iter().chain(ends) {
        let replaced = if row.ends() {
            begun.get(&row.id).copied().unwrap_or(0)
        } else {
            0
        };
        if put.row(row).map_err(error)? {
            added = added.saturating_add(row.bytes.saturating_sub(replaced));
            written.push((row.id, (!row.ends()).then_some(row.bytes)));
        }
    }
    drop(put);
    tx.commit().map_err(error)?;
    for (id, begin_bytes) in written {
        match begin_bytes {
            Some(bytes) => begun.insert(id, bytes),
            None => begun.remove(&id),
        };
    }
    shared.total.fetch_add(added, Ordering::SeqCst);
    Ok(())
}

/// A database error as the store reports it: full, or failed.
pub(crate) fn error(e: rusqlite::Error) -> StoreError {
    match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full(format!("the disk is full ({e})")),
        _ => StoreError::Io(e.to_string()),
    }
}

/// Remove finished records (and their blobs) older than the store's age,
/// then the oldest until the store is within its size.
pub(crate) fn evict(connection: &mut Connection, shared: &Shared) -> rusqlite::Result<()> {
    let cutoff = chrono::Duration::from_std(shared.max_age)
        .ok()
        .and_then(|age| Utc::now().checked_sub_signed(age));
    if let Some(cutoff) = cutoff {
        loop {
            let removed = remove_oldest(connection, shared, Some(&schema::time(cutoff)))?;
            if removed == 0 {
                break;
            }
        }
    }
    while shared.total.load(Ordering::SeqCst) > shared.max_bytes {
        if remove_oldest(connection, shared, None)? == 0 {
            break;
        }
    }
    Ok(())
}

/// Remove up to 100 of the oldest finished records with their blobs: those
/// finished before `before`, if given, or else as many as bring the store
/// within its size. How many went.
fn remove_oldest(connection: &mut Connection, shared: &Shared, before: Option<&str>) -> rusqlite::Result<usize> {
    let tx = connection.transaction()?;
    let mut victims: Vec<(String, i64)> = {
        let mut statement = tx.prepare(
            // Oldest request first (an invocation ends after it is
            // requested, so those finished before `before` are among those
            // requested before it, and the index stops there).
            "SELECT id, bytes FROM invocations
             WHERE requested < ?1 AND completed IS NOT NULL AND completed < ?1
             ORDER BY requested LIMIT 100",
        )?;
        let rows = statement.query_map([before.unwrap_or("9999")], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    if before.is_none() {
        let mut excess = shared.total.load(Ordering::SeqCst).saturating_sub(shared.max_bytes);
        let enough = victims
            .iter()
            .position(|(_, bytes)| {
                excess = excess.saturating_sub(*bytes);
                excess <= 0
            })
            .map_or(victims.len(), |last| last + 1);
        victims.truncate(enough);
    }
    let mut blob_ids = Vec::new();
    let mut freed = 0i64;
    {
        let mut blobs_of = tx.prepare("SELECT id FROM blobs WHERE invocation = ?1")?;
        for (id, bytes) in &victims {
            for blob in blobs_of.query_map([id], |row| row.get::<_, String>(0))? {
                if let Ok(blob) = Uuid::parse_str(&blob?) {
                    blob_ids.push(blob);
                }
            }
            tx.execute("DELETE FROM blobs WHERE invocation = ?1", [id])?;
            tx.execute("DELETE FROM invocations WHERE id = ?1", [id])?;
            freed = freed.saturating_add(*bytes);
        }
    }
    tx.commit()?;
    shared.total.fetch_sub(freed, Ordering::SeqCst);
    // The records are gone first: a crash now leaves stray files, which
    // the next open removes, never a record without its blob.
    files::remove(&shared.blobs, &blob_ids);
    Ok(victims.len())
}
