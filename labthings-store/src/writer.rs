//! The one thread that writes the database. Records arrive on a bounded
//! channel; whatever has arrived by the time the last commit finished goes
//! into the next one, so many invocations ending together share one sync of
//! the disk. Those that end wait for their commit; those that begin do not.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::time::{Duration, Instant};

use chrono::Utc;
use labthings_core::record::{Record, StoreError};
use rusqlite::Connection;
use uuid::Uuid;

use crate::files;
use crate::schema;

/// The most records one commit takes.
const BATCH: usize = 512;

/// How often records past their age are removed.
const AGE_CHECK: Duration = Duration::from_secs(60);

/// What the writer is asked to do.
pub(crate) enum Message {
    /// An invocation started: write its record, no one waits.
    Begin(Box<Record>),
    /// An invocation ended: write its record, and say when it is on disk.
    End(Box<Record>, SyncSender<Result<(), StoreError>>),
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

/// Write what arrives on `messages` until every sender is gone.
pub(crate) fn run(mut connection: Connection, shared: Arc<Shared>, messages: Receiver<Message>) {
    let mut last_age_check = Instant::now();
    // A failing disk fails every commit: said once a minute, with a count.
    let failures = labthings_core::log_limit::LogLimiter::new(Duration::from_secs(60));
    while let Ok(first) = messages.recv() {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match messages.try_recv() {
                Ok(message) => batch.push(message),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let result = write(&mut connection, &shared, &batch);
        if let Err(e) = &result {
            failures.hit(|more| tracing::error!("the record store could not write {} records: {e}{more}", batch.len()));
        }
        for message in batch {
            if let Message::End(_, done) = message {
                let _ = done.send(result.clone());
            }
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
fn write(connection: &mut Connection, shared: &Shared, batch: &[Message]) -> Result<(), StoreError> {
    let tx = connection.transaction().map_err(error)?;
    let mut added = 0i64;
    for message in batch {
        let record = match message {
            Message::Begin(record) | Message::End(record, _) => record,
        };
        let json = serde_json::to_string(record).map_err(|e| StoreError::Io(e.to_string()))?;
        added = added.saturating_add(schema::put(&tx, record, &json).map_err(error)?);
    }
    tx.commit().map_err(error)?;
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
            "SELECT id, bytes FROM invocations WHERE completed IS NOT NULL AND completed < ?1
             ORDER BY completed LIMIT 100",
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
