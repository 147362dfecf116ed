//! The store over real files in a temporary folder: its size and age
//! limits, blobs it cannot take, what a restart finds, one process per
//! folder.

use std::sync::Arc;
use std::time::Duration;

use labthings_core::blob::{BlobData, blob_uri};
use labthings_core::log::LogBuffer;
use labthings_core::record::{ENDED_BY_RESTART, Record, RecordStore};
use labthings_core::{Blob, Invocation, InvocationStatus};
use labthings_store::{BLOBS, RecordsConfig, Store};
use serde_json::json;

/// A finished invocation of `bench.bytes` whose output is a blob of `len`
/// bytes; the record and the blob.
fn with_blob(len: usize) -> (Record, Arc<BlobData>) {
    let invocation = Invocation::new(
        "bench",
        "bytes",
        json!({"len": len}),
        Duration::ZERO,
        LogBuffer::new(10),
    );
    let blob = Blob::from_bytes(vec![7u8; len], "application/octet-stream");
    invocation.blob_sink().lock().push(blob.data().clone());
    invocation.start();
    invocation.finish(Ok(json!({"href": blob_uri(blob.data().id())})));
    (Record::of(&invocation), blob.data().clone())
}

fn config(change: impl FnOnce(&mut RecordsConfig)) -> RecordsConfig {
    RecordsConfig::default().with(change)
}

#[test]
fn the_oldest_go_first_when_the_store_is_over_its_size() {
    let folder = tempfile::tempdir().expect("a folder");
    let store = Store::open(folder.path(), &config(|c| c.max_size_mb = 1)).expect("open");
    let mut kept = Vec::new();
    for _ in 0..5 {
        let (record, blob) = with_blob(300 * 1024);
        assert_eq!(store.end(record.clone(), std::slice::from_ref(&blob)), Ok(None));
        kept.push((record.id, blob.id()));
    }
    // The writer evicts after its commits; closing waits for it.
    store.close();
    let present: Vec<bool> = kept.iter().map(|(id, _)| store.get(*id).is_some()).collect();
    let files: Vec<bool> = kept
        .iter()
        .map(|(_, blob)| folder.path().join(BLOBS).join(blob.to_string()).exists())
        .collect();
    println!(
        "5 records of 300 KiB in a 1 MiB store: kept {present:?}, files {files:?}, {} bytes",
        store.bytes()
    );
    assert_eq!(present, [false, false, true, true, true]);
    assert_eq!(files, present, "a record's blob file goes with it");
    assert!(store.bytes() <= 1024 * 1024);
    let newest = store.blob(kept[4].1).expect("the newest blob");
    assert_eq!(newest.len(), 300 * 1024);
}

#[test]
fn blobs_larger_than_the_store_are_refused_and_the_record_says_why() {
    let folder = tempfile::tempdir().expect("a folder");
    let store = Store::open(folder.path(), &config(|c| c.max_size_mb = 1)).expect("open");
    let (record, blob) = with_blob(2 * 1024 * 1024);
    let refused = store
        .end(record.clone(), std::slice::from_ref(&blob))
        .expect("the record is kept");
    let reason = refused.expect("the blob is refused");
    assert!(reason.contains("more than the record store's size limit"), "{reason}");
    let stored = store.get(record.id).expect("the record without its blob");
    assert_eq!(stored.status, InvocationStatus::Completed);
    assert!(stored.blobs.is_empty());
    assert_eq!(stored.blobs_refused.as_deref(), Some(reason.as_str()));
    assert!(stored.log.iter().any(|line| line.message.contains("not recorded")));
    assert!(store.blob(blob.id()).is_none());
    assert_eq!(
        std::fs::read_dir(folder.path().join(BLOBS))
            .expect("blob folder")
            .count(),
        0
    );
}

#[test]
fn records_past_their_age_go_when_the_store_opens() {
    let folder = tempfile::tempdir().expect("a folder");
    let (record, blob) = with_blob(1000);
    {
        let store = Store::open(folder.path(), &RecordsConfig::default()).expect("open");
        store.end(record.clone(), std::slice::from_ref(&blob)).expect("kept");
    }
    std::thread::sleep(Duration::from_millis(1200));
    // Kept for one second now: the record is older.
    let store = Store::open(folder.path(), &config(|c| c.max_age_days = 1.0 / 86_400.0)).expect("open");
    assert!(store.get(record.id).is_none());
    assert!(store.blob(blob.id()).is_none());
    assert!(!folder.path().join(BLOBS).join(blob.id().to_string()).exists());
    assert!(store.is_empty());
}

#[test]
fn a_restart_ends_what_was_running_and_removes_stray_files() {
    let folder = tempfile::tempdir().expect("a folder");
    let invocation = Arc::new(Invocation::new(
        "stage",
        "move",
        json!({"x": 3}),
        Duration::ZERO,
        LogBuffer::new(10),
    ));
    invocation.start();
    {
        let store = Store::open(folder.path(), &RecordsConfig::default()).expect("open");
        store.begin(&invocation);
        // A process that died writing a blob leaves a part, or a whole file
        // whose record was never committed.
        std::fs::write(
            folder
                .path()
                .join(BLOBS)
                .join("0d7f1f7e-0000-4000-8000-000000000000.part"),
            b"half",
        )
        .expect("part");
        std::fs::write(
            folder.path().join(BLOBS).join(uuid::Uuid::new_v4().to_string()),
            b"orphan",
        )
        .expect("orphan");
    }
    let store = Store::open(folder.path(), &RecordsConfig::default()).expect("open");
    let opened = store.opened();
    assert_eq!(
        (opened.records, opened.ended_by_restart, opened.strays_removed),
        (1, 1, 2)
    );
    let record = store.get(invocation.id()).expect("recorded");
    assert_eq!(record.status, InvocationStatus::Error);
    assert!(record.completed.is_some());
    assert!(
        matches!(&record.error, Some(labthings_core::Failure::Error { title, .. }) if title == ENDED_BY_RESTART),
        "{:?}",
        record.error
    );
    assert_eq!(
        std::fs::read_dir(folder.path().join(BLOBS))
            .expect("blob folder")
            .count(),
        0
    );
}

#[test]
fn a_second_process_on_the_same_folder_is_refused() {
    let folder = tempfile::tempdir().expect("a folder");
    let _first = Store::open(folder.path(), &RecordsConfig::default()).expect("open");
    let second = Store::open(folder.path(), &RecordsConfig::default()).expect_err("refused");
    assert!(second.to_string().contains("another server"), "{second}");
}

#[test]
fn the_first_end_recorded_stands() {
    let folder = tempfile::tempdir().expect("a folder");
    let store = Store::open(folder.path(), &RecordsConfig::default()).expect("open");
    let invocation = Invocation::new("stage", "move", json!({}), Duration::ZERO, LogBuffer::new(10));
    invocation.finish(Ok(json!(1)));
    let first = Record::of(&invocation);
    store.end(first.clone(), &[]).expect("kept");
    let mut second = first.clone();
    second.output = Some(json!(2));
    store.end(second, &[]).expect("answered");
    assert_eq!(store.get(first.id).expect("kept").output, Some(json!(1)));
}

#[test]
fn a_start_is_written_while_it_runs_and_its_end_replaces_it() {
    let folder = tempfile::tempdir().expect("a folder");
    let store = Store::open(folder.path(), &RecordsConfig::default()).expect("open");
    let running = Arc::new(Invocation::new(
        "stage",
        "move",
        json!({}),
        Duration::ZERO,
        LogBuffer::new(10),
    ));
    running.start();
    store.begin(&running);
    // Written within the start's delay (20 ms), with nothing else to write.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while store.get(running.id()).is_none() {
        assert!(std::time::Instant::now() < deadline, "the start was never written");
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        store.get(running.id()).expect("recorded").status,
        InvocationStatus::Running
    );
    assert_eq!(store.len(), 1);

    // A quick one: its end arrives before its start is due (then only the
    // end is written); either way the size counts one row, its end.
    let quick = Arc::new(Invocation::new(
        "stage",
        "home",
        json!({}),
        Duration::ZERO,
        LogBuffer::new(10),
    ));
    quick.start();
    store.begin(&quick);
    quick.finish(Ok(json!([0, 0, 0])));
    let bytes_before = store.bytes();
    store.end(Record::of(&quick), &[]).expect("kept");
    let record = store.get(quick.id()).expect("recorded");
    assert_eq!(record.status, InvocationStatus::Completed);
    assert_eq!(store.bytes() - bytes_before, row_bytes(folder.path(), quick.id()));

    // The running one's end replaces its start: the size counts its end.
    let start_bytes = row_bytes(folder.path(), running.id());
    running.finish(Ok(json!(null)));
    let before = store.bytes();
    store.end(Record::of(&running), &[]).expect("kept");
    assert_eq!(store.len(), 2);
    assert_eq!(
        store.bytes(),
        before - start_bytes + row_bytes(folder.path(), running.id()),
        "the start's bytes were not given back"
    );
}

/// The size the store counts for invocation `id`'s row, read from the
/// database beside it.
fn row_bytes(folder: &std::path::Path, id: uuid::Uuid) -> u64 {
    let connection = rusqlite::Connection::open_with_flags(
        folder.join(labthings_store::DATABASE),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .expect("open");
    let bytes: i64 = connection
        .query_row("SELECT bytes FROM invocations WHERE id = ?1", [id.to_string()], |row| {
            row.get(0)
        })
        .expect("a row");
    u64::try_from(bytes).expect("a size")
}

/// Every field of a record, set and unset, reads back as it was handed to
/// the store (which keeps its JSON without what its columns hold and
/// without empty fields).
#[test]
fn a_record_reads_back_as_it_was_stored() {
    let folder = tempfile::tempdir().expect("a folder");
    let store = Store::open(folder.path(), &RecordsConfig::default()).expect("open");
    let (mut full, blob) = with_blob(16);
    full.caller = serde_json::from_value(json!({"name": "ada", "role": "operator", "binding": "http", "user": true}))
        .expect("a caller");
    full.progress = serde_json::from_value(
        json!({"fraction": 0.5, "message": "half", "remaining_seconds": 2.0, "remainingEstimated": true}),
    )
    .expect("progress");
    full.intermediate = vec![json!([1, 2]), json!(null)];
    full.intermediate_times = vec![full.requested, full.requested];
    full.intermediate_count = 7;
    full.log = serde_json::from_value(json!([{
        "message": "moved", "levelname": "INFO", "levelno": 20, "lineno": 12,
        "filename": "stage.rs", "created": "2026-12-07T10:00:00.123456789Z", "exception_type": null
    }]))
    .expect("a log");
    full.error = serde_json::from_value(json!({"kind": "bad_request", "detail": "too far"})).expect("an error");
    full.thing_states =
        serde_json::from_value(json!({"stage": {"position": [1, 2, 3]}, "camera": {}})).expect("states");
    full.approval = serde_json::from_value(json!({
        "state": "approved", "caller": "ada", "binding": "mcp", "decided_by": "bob",
        "deadline": "2026-12-07T10:05:00Z"
    }))
    .expect("an approval");
    full.blobs_refused = None;
    store.end(full.clone(), &[blob]).expect("kept");
    assert_eq!(store.get(full.id).expect("recorded"), full);

    // The fewest fields: no caller, no output, nothing reported.
    let bare = Invocation::new("stage", "home", json!({}), Duration::ZERO, LogBuffer::new(10));
    bare.start();
    bare.finish(Ok(json!(null)));
    let bare = Record::of(&bare);
    store.end(bare.clone(), &[]).expect("kept");
    // As its whole JSON reads back: a `null` output is none.
    let whole: Record = serde_json::from_str(&serde_json::to_string(&bare).expect("json")).expect("a record");
    assert_eq!(whole.output, None);
    assert_eq!(store.get(bare.id).expect("recorded"), whole);

    // A record stored whole, as stores written before kept them, reads too.
    let connection = rusqlite::Connection::open(folder.path().join(labthings_store::DATABASE)).expect("open");
    connection.busy_timeout(Duration::from_secs(10)).expect("a timeout");
    let changed = connection
        .execute(
            "UPDATE invocations SET record = ?1 WHERE id = ?2",
            [serde_json::to_string(&full).expect("json"), full.id.to_string()],
        )
        .expect("written");
    assert_eq!(changed, 1);
    assert_eq!(store.get(full.id).expect("recorded"), full);
}

/// A store written by a newer format is refused, not misread; an older one
/// is opened and marked with this format.
#[test]
fn a_store_of_a_newer_format_is_refused() {
    let folder = tempfile::tempdir().expect("a folder");
    drop(Store::open(folder.path(), &RecordsConfig::default()).expect("open"));
    let database = folder.path().join(labthings_store::DATABASE);
    let version = |connection: &rusqlite::Connection| -> i64 {
        connection
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("a version")
    };
    let connection = rusqlite::Connection::open(&database).expect("open");
    let ours = version(&connection);
    connection.execute_batch("PRAGMA user_version = 1").expect("set");
    drop(connection);
    drop(Store::open(folder.path(), &RecordsConfig::default()).expect("an older format opens"));
    let connection = rusqlite::Connection::open(&database).expect("open");
    assert_eq!(version(&connection), ours);
    connection
        .execute_batch(&format!("PRAGMA user_version = {}", ours + 1))
        .expect("set");
    drop(connection);
    let refused = Store::open(folder.path(), &RecordsConfig::default()).expect_err("refused");
    assert!(refused.to_string().contains("newer labthings"), "{refused}");
}
