//! The durable record of a [labthings](https://crates.io/crates/labthings)
//! server's invocations: each call of an action, as
//! [`labthings_core::record::Record`], in an embedded SQLite database
//! (`records.sqlite3`), with its blobs as files in `blobs/` beside it.
//!
//! - An invocation still running [`BEGIN_DELAY`] after it started is
//!   written as running (with the states of the lab's things); at its end,
//!   its record with its blobs is written before anyone is told it ended: an
//!   end a client has seen is on disk (SQLite's write-ahead log, synced at
//!   every commit; blob files synced and renamed into place before the
//!   record that names them is committed). A quick action is one row
//!   written once. One writer thread commits whatever has arrived together;
//!   the threads that ran the invocations do not wait for it.
//! - When the store opens, an invocation still recorded as pending or
//!   running was cut off by the process stopping: it is ended with the error
//!   type [`ENDED_BY_RESTART`](labthings_core::record::ENDED_BY_RESTART).
//!   Blob files no record names (a write cut off) are removed.
//! - Bounded by age and by size: the oldest finished records and their
//!   blobs go first. Blobs that do not fit (larger than the store, or a full
//!   disk) are refused: the record is kept without them and says why.
//!
//! ```
//! use labthings_core::record::{Record, RecordStore};
//! use labthings_core::{Invocation, log::LogBuffer};
//! use labthings_store::{RecordsConfig, Store};
//! use std::time::Duration;
//!
//! let folder = tempfile::tempdir().unwrap();
//! let store = Store::open(folder.path(), &RecordsConfig::default()).unwrap();
//! let invocation = Invocation::new("stage", "home", serde_json::json!({}), Duration::ZERO, LogBuffer::new(10));
//! invocation.finish(Ok(serde_json::json!([0, 0, 0])));
//! store.end(Record::of(&invocation), &[]).unwrap();
//! drop(store);
//!
//! let store = Store::open(folder.path(), &RecordsConfig::default()).unwrap();
//! let record = store.get(invocation.id()).unwrap();
//! assert_eq!(record.output, Some(serde_json::json!([0, 0, 0])));
//! ```

#![forbid(unsafe_code)]

mod config;
pub mod event_model;
mod files;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use labthings_core::Invocation;
use labthings_core::blob::BlobData;
use labthings_core::log_limit::LogLimiter;
use labthings_core::record::{Ended, Record, RecordQuery, RecordStore, StoreError};
use parking_lot::Mutex;
use rusqlite::{Connection, OptionalExtension};
use uuid::Uuid;

pub use config::{RecordsConfig, Survives};

/// How long after an invocation starts its record is on disk as running
/// (unless it has ended by then: its end's record is written instead).
pub const BEGIN_DELAY: std::time::Duration = writer::BEGIN_DELAY;

/// The database file's name in the store's folder.
pub const DATABASE: &str = "records.sqlite3";

/// The blob folder's name in the store's folder.
pub const BLOBS: &str = "blobs";

/// How many records may wait for the writer at once.
const QUEUE: usize = 4096;

/// What opening a store found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Opened {
    /// Records in the store.
    pub records: u64,
    /// Invocations that were pending or running when the process stopped,
    /// now ended as such.
    pub ended_by_restart: u64,
    /// Files no record named, removed.
    pub strays_removed: u64,
    /// How long opening took.
    pub took: Duration,
}

/// The store: the database, its writer thread and the blob folder.
#[derive(Debug)]
pub struct Store {
    /// Held while the store is open: one process per folder.
    lock: Mutex<Option<std::fs::File>>,
    folder: PathBuf,
    blobs: PathBuf,
    reader: Mutex<Connection>,
    queue: Arc<writer::Queue>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    shared: Arc<writer::Shared>,
    opened: Opened,
    dropped_begins: LogLimiter,
}

impl Store {
    /// Open (or create) the store in `folder` with `config`'s limits:
    /// invocations cut off by a stop are ended as such, stray blob files
    /// removed, records past their age or over the size removed.
    pub fn open(folder: &Path, config: &RecordsConfig) -> Result<Self, StoreError> {
        let started = Instant::now();
        let io = |what: &str, e: &dyn std::fmt::Display| StoreError::Io(format!("{what} {}: {e}", folder.display()));
        let blobs = folder.join(BLOBS);
        std::fs::create_dir_all(&blobs).map_err(|e| io("creating", &e))?;
        let lock = hold_folder(folder)?;
        let database = folder.join(DATABASE);
        let sync = config.survives == Survives::PowerCut;
        let mut connection = schema::open_writer(&database, sync).map_err(|e| io("opening the database in", &e))?;
        let ended_by_restart = end_cut_off(&mut connection).map_err(|e| io("recovering", &e))?;
        let strays_removed = remove_strays(&connection, &blobs).map_err(|e| io("cleaning the blob folder of", &e))?;
        let (records, total): (i64, i64) = connection
            .query_row("SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM invocations", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .map_err(|e| io("reading", &e))?;
        let shared = Arc::new(writer::Shared {
            total: AtomicI64::new(total),
            max_bytes: i64::try_from(config.max_bytes()).unwrap_or(i64::MAX),
            max_age: config.max_age(),
            blobs: blobs.clone(),
            sync,
        });
        writer::evict(&mut connection, &shared).map_err(|e| io("removing old records from", &e))?;
        let reader = schema::open_reader(&database).map_err(|e| io("opening the database in", &e))?;
        let queue = Arc::new(writer::Queue::new(QUEUE));
        let thread = {
            let (shared, queue) = (shared.clone(), queue.clone());
            std::thread::Builder::new()
                .name("labthings-records".into())
                .spawn(move || writer::run(connection, shared, queue))
                .map_err(|e| io("starting the writer of", &e))?
        };
        let opened = Opened {
            records: u64::try_from(records).unwrap_or(0),
            ended_by_restart,
            strays_removed,
            took: started.elapsed(),
        };
        Ok(Self {
            lock: Mutex::new(Some(lock)),
            folder: folder.to_owned(),
            blobs,
            reader: Mutex::new(reader),
            queue,
            thread: Mutex::new(Some(thread)),
            shared,
            opened,
            dropped_begins: LogLimiter::new(Duration::from_secs(10)),
        })
    }

    /// What opening the store found and did.
    pub fn opened(&self) -> &Opened {
        &self.opened
    }

    /// The store's folder.
    pub fn folder(&self) -> &Path {
        &self.folder
    }

    /// The bytes its records and blobs take now.
    pub fn bytes(&self) -> u64 {
        u64::try_from(self.shared.total.load(Ordering::SeqCst)).unwrap_or(0)
    }

    /// How many records it holds now.
    pub fn len(&self) -> u64 {
        self.reader
            .lock()
            .query_row("SELECT COUNT(*) FROM invocations", [], |row| row.get::<_, i64>(0))
            .map_or(0, |n| u64::try_from(n).unwrap_or(0))
    }

    /// Whether it holds no record.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Stop the writer once it has written what it was given (the store
    /// then refuses new records, and reads go on), and let go of the folder
    /// for another process. Called by dropping the store too.
    pub fn close(&self) {
        self.queue.close();
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
        self.lock.lock().take();
    }

    /// Copy `blobs` into the blob folder unless they cannot fit; why not.
    fn keep_blobs(&self, blobs: &[Arc<BlobData>]) -> Option<String> {
        if blobs.is_empty() {
            return None;
        }
        let needed = blobs.iter().fold(0u64, |sum, b| sum.saturating_add(b.len()));
        let max = u64::try_from(self.shared.max_bytes).unwrap_or(0);
        if needed > max {
            return Some(format!(
                "{needed} bytes of blobs are more than the record store's size limit of {max} bytes (`[records] max_size_mb`)"
            ));
        }
        files::write_all(&self.blobs, blobs, self.shared.sync)
            .err()
            .map(|f| f.message().to_owned())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

impl RecordStore for Store {
    fn begin(&self, invocation: &Arc<Invocation>) {
        match self.queue.begin(invocation.clone()) {
            Ok(()) | Err(writer::NotQueued::Closed) => {}
            Err(writer::NotQueued::Full) => self.dropped_begins.hit(|more| {
                tracing::warn!(
                    "the record store is {QUEUE} records behind; an invocation's start was not recorded{more}"
                )
            }),
        }
    }

    fn end_then(&self, mut record: Record, blobs: &[Arc<BlobData>], then: Ended) {
        let refused = self.keep_blobs(blobs);
        if let Some(reason) = &refused {
            record.blobs.clear();
            record.blobs_refused = Some(reason.clone());
            record.log.push(labthings_core::LogRecord::new(
                tracing::Level::ERROR,
                labthings_core::record::blobs_refused_message(reason),
                Some(file!()),
                Some(line!()),
            ));
        }
        match schema::Row::of(record) {
            Ok(row) => self
                .queue
                .end(row, writer::Done::new(move |result| then(result.map(|()| refused)))),
            Err(e) => then(Err(e)),
        }
    }

    fn get(&self, id: Uuid) -> Option<Record> {
        let record = self
            .reader
            .lock()
            .query_row(
                &format!("SELECT {} FROM invocations WHERE id = ?1", schema::RECORD_COLUMNS),
                [id.to_string()],
                schema::read,
            )
            .optional()
            .unwrap_or_else(|e| {
                tracing::error!("the record store could not read invocation {id}: {e}");
                None
            });
        record?
            .map_err(|e| tracing::error!("the record of invocation {id} does not read back: {e}"))
            .ok()
    }

    fn query(&self, query: &RecordQuery) -> Result<labthings_core::record::Listed, StoreError> {
        schema::query(&self.reader.lock(), query).map_err(writer::error)
    }

    fn close(&self) {
        Store::close(self);
    }

    fn blob(&self, id: Uuid) -> Option<Arc<BlobData>> {
        let (media_type, len): (String, i64) = self
            .reader
            .lock()
            .query_row(
                "SELECT media_type, len FROM blobs WHERE id = ?1",
                [id.to_string()],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .ok()??;
        let path = files::blob_path(&self.blobs, id);
        path.exists()
            .then(|| BlobData::recorded(id, media_type, path, u64::try_from(len).unwrap_or(0)))
    }
}

/// The name of the file a process holds locked while it has the store open.
const LOCK: &str = "lock";

/// How long opening waits for another holder of the folder to let go (a
/// server that is still stopping when its successor starts).
const LOCK_WAIT: Duration = Duration::from_secs(5);

/// Lock `folder` for this process: a second server on the same folder would
/// take the first one's running invocations for ones a restart cut off.
/// Waits [`LOCK_WAIT`] for a holder that is closing.
fn hold_folder(folder: &Path) -> Result<std::fs::File, StoreError> {
    let path = folder.join(LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::Io(format!("opening {}: {e}", path.display())))?;
    let deadline = Instant::now() + LOCK_WAIT;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(50));
            }
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(StoreError::Io(format!(
                    "another server has had the record store in {} open for {} s (each server needs a folder of \
                     its own: `[records] dir`)",
                    folder.display(),
                    LOCK_WAIT.as_secs()
                )));
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(StoreError::Io(format!("locking {}: {e}", path.display())));
            }
        }
    }
}

/// End every invocation recorded as pending or running (the process that
/// ran it stopped); how many.
fn end_cut_off(connection: &mut Connection) -> rusqlite::Result<u64> {
    let tx = connection.transaction()?;
    let cut_off: Vec<(String, Result<Record, serde_json::Error>)> = {
        let mut statement = tx.prepare(&format!(
            "SELECT {} FROM invocations WHERE completed IS NULL",
            schema::RECORD_COLUMNS
        ))?;
        let rows = statement.query_map([], |row| Ok((row.get(0)?, schema::read(row)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let now = chrono::Utc::now();
    let mut ended = 0u64;
    let mut put = schema::Put::new(&tx)?;
    for (id, record) in cut_off {
        let Ok(record) = record else {
            tracing::error!("the record of invocation {id} does not read back; it is removed");
            tx.execute("DELETE FROM invocations WHERE id = ?1", [&id])?;
            continue;
        };
        let record = record.ended_by_restart(now);
        let row = schema::Row::of(record).map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        put.row(&row)?;
        ended += 1;
    }
    drop(put);
    tx.commit()?;
    Ok(ended)
}

/// Remove the files of the blob folder no record names; how many.
fn remove_strays(connection: &Connection, blobs: &Path) -> std::io::Result<u64> {
    let known = |id: Uuid| {
        connection
            .query_row("SELECT 1 FROM blobs WHERE id = ?1", [id.to_string()], |_| Ok(()))
            .optional()
            .ok()
            .flatten()
            .is_some()
    };
    let strays = files::strays(blobs, known)?;
    for path in &strays {
        std::fs::remove_file(path)?;
    }
    if !strays.is_empty() {
        files::sync_folder(blobs)?;
    }
    Ok(u64::try_from(strays.len()).unwrap_or(u64::MAX))
}
