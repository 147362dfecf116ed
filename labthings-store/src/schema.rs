//! The database: its tables, how a record is written into them, and the
//! settings that make a commit durable.

use chrono::{DateTime, Utc};
use labthings_core::failure::Failure;
use labthings_core::invocation::InvocationStatus;
use labthings_core::log::LogRecord;
use labthings_core::progress::Progress;
use labthings_core::record::{Record, RecordQuery, RecordedApproval, RecordedBlob, RecordedCaller, StoreError};
use labthings_core::thing_states::ThingStates;
use rusqlite::{Connection, params};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

/// The version of the tables below (`PRAGMA user_version`). 2: a row's JSON
/// leaves out what its columns hold and its empty fields ([`Stored`]); rows
/// written by version 1 (the whole record) read as they are, and a store
/// opened by this version is refused by builds that read only version 1,
/// which could not read its rows.
pub(crate) const VERSION: i64 = 2;

/// One row per invocation (the columns the queries filter on, and the rest
/// of the record as JSON: see `Stored`), one per blob. Each index costs every write: the
/// invocations have their id's (the primary key), the request time's (the
/// order every query walks, checking its other filters row by row), and a
/// small one of those not yet ended (what a restart looks for).
const TABLES: &str = "
CREATE TABLE IF NOT EXISTS invocations (
    id        TEXT PRIMARY KEY NOT NULL,
    thing     TEXT NOT NULL,
    action    TEXT NOT NULL,
    status    TEXT NOT NULL,
    user      TEXT,
    requested TEXT NOT NULL,
    completed TEXT,
    bytes     INTEGER NOT NULL,
    record    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS invocations_requested ON invocations (requested);
DROP INDEX IF EXISTS invocations_completed;
CREATE INDEX IF NOT EXISTS invocations_running ON invocations (id) WHERE completed IS NULL;
DROP INDEX IF EXISTS invocations_thing_action;
CREATE TABLE IF NOT EXISTS blobs (
    id         TEXT PRIMARY KEY NOT NULL,
    invocation TEXT NOT NULL,
    media_type TEXT NOT NULL,
    len        INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS blobs_invocation ON blobs (invocation);
";

/// The writer's page cache, KiB: enough for the indexes' pages that new
/// rows go into, so writing does not read them back from the file.
const CACHE_KIB: u32 = 16 * 1024;

/// Open the database at `path` for writing: write-ahead log, every commit
/// synced to the disk (`synchronous = FULL`) when `sync` (else the log is
/// synced when it is copied into the database, `NORMAL`: a commit survives
/// the process dying, not a power cut), tables made.
pub(crate) fn open_writer(path: &std::path::Path, sync: bool) -> rusqlite::Result<Connection> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(std::time::Duration::from_secs(10))?;
    let mode: String = connection.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!("the record store could not use a write-ahead log (journal mode {mode})");
    }
    let synchronous = if sync { "FULL" } else { "NORMAL" };
    connection.execute_batch(&format!(
        "PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = OFF; PRAGMA cache_size = -{CACHE_KIB};"
    ))?;
    let version: i64 = connection.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    if version > VERSION {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "the record store was written by a newer labthings (format {version}; this one reads {VERSION})"
        )));
    }
    connection.execute_batch(TABLES)?;
    connection.execute_batch(&format!("PRAGMA user_version = {VERSION}"))?;
    Ok(connection)
}

/// Open the database at `path` for reading (beside the writer).
pub(crate) fn open_reader(path: &std::path::Path) -> rusqlite::Result<Connection> {
    let connection = Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    connection.busy_timeout(std::time::Duration::from_secs(10))?;
    Ok(connection)
}

/// A time as stored: RFC 3339 in UTC with microseconds, which sorts as text
/// in time order.
pub(crate) fn time(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A record's JSON as the database holds it: without what the row's columns
/// hold already (its id, thing and action) and without the fields that are
/// empty (no progress, log, intermediate results, error, approval or blobs:
/// most quick actions' records), so each row is smaller and a commit writes
/// fewer pages. [`read`] puts both back; a record stored whole (by an
/// earlier version) reads back too. A field added to [`Record`] needs a line
/// here and in [`Stored::of`], and a value in the store test
/// `a_record_reads_back_as_it_was_stored`, which sets every field and
/// checks it reads back.
#[derive(Serialize)]
struct Stored<'a> {
    input: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    caller: Option<&'a RecordedCaller>,
    status: InvocationStatus,
    requested: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    started: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    progress: Option<&'a Progress>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    intermediate: &'a [Value],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    intermediate_times: &'a [DateTime<Utc>],
    #[serde(skip_serializing_if = "is_zero")]
    intermediate_count: u64,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    log: &'a [LogRecord],
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a Failure>,
    #[serde(skip_serializing_if = "ThingStates::is_empty")]
    thing_states: &'a ThingStates,
    #[serde(skip_serializing_if = "Option::is_none")]
    approval: Option<&'a RecordedApproval>,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    blobs: &'a [RecordedBlob],
    #[serde(skip_serializing_if = "Option::is_none")]
    blobs_refused: Option<&'a String>,
}

/// Whether a count is zero (and so not stored).
fn is_zero(count: &u64) -> bool {
    *count == 0
}

impl<'a> Stored<'a> {
    /// What of `record` is stored as JSON.
    fn of(record: &'a Record) -> Self {
        Self {
            input: &record.input,
            caller: record.caller.as_ref(),
            status: record.status,
            requested: record.requested,
            started: record.started,
            completed: record.completed,
            progress: record.progress.as_ref(),
            intermediate: &record.intermediate,
            intermediate_times: &record.intermediate_times,
            intermediate_count: record.intermediate_count,
            log: &record.log,
            // A `null` output reads back as none, as it always did.
            output: record.output.as_ref().filter(|output| !output.is_null()),
            error: record.error.as_ref(),
            thing_states: &record.thing_states,
            approval: record.approval.as_ref(),
            blobs: &record.blobs,
            blobs_refused: record.blobs_refused.as_ref(),
        }
    }
}

/// The columns [`read`] reads a record from, in its order.
pub(crate) const RECORD_COLUMNS: &str = "id, thing, action, record";

/// The record of a row selected as [`RECORD_COLUMNS`]: its stored JSON
/// with its id, thing and action put back (a missing list, count or map is
/// empty, a missing optional field none). `Ok(Err(_))` when the JSON does
/// not read back as a record.
pub(crate) fn read(row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Record, serde_json::Error>> {
    let id: String = row.get(0)?;
    let thing: String = row.get(1)?;
    let action: String = row.get(2)?;
    let json: String = row.get(3)?;
    Ok(
        serde_json::from_str::<Map<String, Value>>(&json).and_then(|mut fields| {
            fields.insert("id".to_owned(), Value::String(id));
            fields.insert("thing".to_owned(), Value::String(thing));
            fields.insert("action".to_owned(), Value::String(action));
            serde_json::from_value(Value::Object(fields))
        }),
    )
}

/// A record as the database holds it: the columns the queries filter on
/// and the rest of the record as JSON ([`Stored`]). Made by the thread that hands the record
/// to the store, so the writer thread only writes.
#[derive(Debug)]
pub(crate) struct Row {
    pub(crate) id: Uuid,
    thing: String,
    action: String,
    status: &'static str,
    user: Option<String>,
    requested: String,
    completed: Option<String>,
    /// What it counts as against the store's size: its JSON and its blobs.
    pub(crate) bytes: i64,
    json: String,
    /// Each blob's id, media type and length.
    blobs: Vec<(String, String, i64)>,
}

impl Row {
    /// The row of `record` (its names moved into the row's columns, not
    /// copied).
    pub(crate) fn of(record: Record) -> Result<Self, StoreError> {
        let json = serde_json::to_string(&Stored::of(&record)).map_err(|e| {
            StoreError::Io(format!(
                "the record of invocation {} does not serialize: {e}",
                record.id
            ))
        })?;
        Ok(Self {
            id: record.id,
            status: record.status.as_str(),
            requested: time(record.requested),
            completed: record.completed.map(time),
            bytes: record_bytes(&record, &json),
            blobs: record
                .blobs
                .iter()
                .map(|blob| {
                    let len = i64::try_from(blob.len).unwrap_or(i64::MAX);
                    (blob.id.to_string(), blob.media_type.clone(), len)
                })
                .collect(),
            user: record.caller.map(|c| c.name),
            thing: record.thing,
            action: record.action,
            json,
        })
    }

    /// Whether it is an invocation's last record.
    pub(crate) fn ends(&self) -> bool {
        self.completed.is_some()
    }
}

/// Writes rows in an open transaction, the invocations' statement prepared
/// once for all of them (preparing one costs more than running it; so does
/// finding it again in the connection's cache for every row). The rarer
/// blobs' statement is found in the cache for each blob.
pub(crate) struct Put<'tx> {
    invocation: rusqlite::CachedStatement<'tx>,
    tx: &'tx rusqlite::Transaction<'tx>,
}

impl<'tx> Put<'tx> {
    /// Ready to write rows in `tx`.
    pub(crate) fn new(tx: &'tx rusqlite::Transaction<'tx>) -> rusqlite::Result<Self> {
        let invocation = tx.prepare_cached(
            "INSERT INTO invocations (id, thing, action, status, user, requested, completed, bytes, record)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (id) DO UPDATE SET status = ?4, completed = ?7, bytes = ?8, record = ?9
             WHERE completed IS NULL",
        )?;
        Ok(Self { invocation, tx })
    }

    /// Write `row`: a new row, or over the row of the same invocation
    /// unless that one has ended already (the first end recorded stands).
    /// Whether it was written.
    pub(crate) fn row(&mut self, row: &Row) -> rusqlite::Result<bool> {
        let mut buffer = Uuid::encode_buffer();
        let id: &str = row.id.hyphenated().encode_lower(&mut buffer);
        let changed = self.invocation.execute(params![
            id,
            row.thing,
            row.action,
            row.status,
            row.user,
            row.requested,
            row.completed,
            row.bytes,
            row.json,
        ])?;
        if changed == 0 {
            return Ok(false);
        }
        for (blob, media_type, len) in &row.blobs {
            self.tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO blobs (id, invocation, media_type, len) VALUES (?1, ?2, ?3, ?4)",
                )?
                .execute(params![blob, id, media_type, len])?;
        }
        Ok(true)
    }
}

/// What a record counts as against the store's size: its JSON and its blobs.
fn record_bytes(record: &Record, json: &str) -> i64 {
    let json = i64::try_from(json.len()).unwrap_or(i64::MAX);
    let blobs = i64::try_from(record.blob_bytes()).unwrap_or(i64::MAX);
    json.saturating_add(blobs)
}

/// The ids (and request times) of the records `query` selects, oldest
/// request first.
pub(crate) fn query(
    connection: &Connection,
    query: &RecordQuery,
) -> rusqlite::Result<Vec<(uuid::Uuid, chrono::DateTime<chrono::Utc>)>> {
    let mut conditions: Vec<&str> = Vec::new();
    let mut values: Vec<String> = Vec::new();
    let mut filter = |condition: &'static str, value: Option<String>| {
        if let Some(value) = value {
            conditions.push(condition);
            values.push(value);
        }
    };
    filter("thing = ?", query.thing.clone());
    filter("action = ?", query.action.clone());
    filter("status = ?", query.status.map(|s| s.as_str().to_owned()));
    filter("COALESCE(user, 'anonymous') = ?", query.user.clone());
    filter("requested >= ?", query.since.map(time));
    filter("requested < ?", query.until.map(time));
    let after = query.after.map(|(t, id)| (time(t), id.to_string()));
    if let Some((requested, id)) = &after {
        conditions.push("(requested > ? OR (requested = ? AND id > ?))");
        values.extend([requested.clone(), requested.clone(), id.clone()]);
    }
    let mut sql = String::from("SELECT id, requested FROM invocations");
    if !conditions.is_empty() {
        sql.push_str(" WHERE ");
        sql.push_str(&conditions.join(" AND "));
    }
    sql.push_str(" ORDER BY requested, id LIMIT ?");
    let limit = i64::try_from(query.limit).unwrap_or(i64::MAX);
    let mut statement = connection.prepare(&sql)?;
    let mut parameters: Vec<&dyn rusqlite::ToSql> = values.iter().map(|v| v as &dyn rusqlite::ToSql).collect();
    parameters.push(&limit);
    let rows = statement.query_map(parameters.as_slice(), |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
    })?;
    let mut found = Vec::new();
    for row in rows {
        let (id, requested) = row?;
        let (Ok(id), Ok(requested)) = (
            uuid::Uuid::parse_str(&id),
            chrono::DateTime::parse_from_rfc3339(&requested),
        ) else {
            continue;
        };
        found.push((id, requested.with_timezone(&chrono::Utc)));
    }
    Ok(found)
}
