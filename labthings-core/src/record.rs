//! Invocations as a store keeps them after they leave memory: the
//! [`Record`] of one invocation (who asked, what for, the states of the
//! things when it started, how it went and ended, its blobs), and the
//! [`RecordStore`] an [`ActionManager`](crate::ActionManager) writes to and
//! reads back from.
//!
//! The manager writes a record when an invocation starts running and again,
//! with its blobs, before anyone is told it has ended, so a result a client
//! has seen is on disk. An invocation the manager no longer holds in memory
//! (its retention passed, or the process restarted) is read back from the
//! store and answers as before. The store itself (an embedded database on
//! disk) is the `labthings-store` crate's.
//!
//! ```
//! use labthings_core::record::Record;
//! use labthings_core::{Invocation, InvocationStatus};
//! use labthings_core::log::LogBuffer;
//! use std::time::Duration;
//!
//! let invocation = Invocation::new("stage", "home", serde_json::json!({}), Duration::ZERO, LogBuffer::new(10));
//! invocation.finish(Ok(serde_json::json!([0, 0, 0])));
//! let record = Record::of(&invocation);
//! assert_eq!(record.status, InvocationStatus::Completed);
//! let again = record.restore(Vec::new());
//! assert_eq!(again.output(), Some(serde_json::json!([0, 0, 0])));
//! ```

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::approval::{Approval, ApprovalState, Caller};
use crate::blob::BlobData;
use crate::failure::Failure;
use crate::invocation::{Invocation, InvocationStatus};
use crate::log::LogRecord;
use crate::progress::Progress;
use crate::thing_states::ThingStates;

/// The error type of an invocation that was running when the process
/// stopped: the store ends it so when it next opens.
pub const ENDED_BY_RESTART: &str = "EndedByRestart";

/// One invocation as stored: everything its JSON, its log and its blobs are
/// made from. Read from JSON, a missing list, count or map is empty and a
/// missing optional field none.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Record {
    /// The invocation's id.
    pub id: Uuid,
    /// The thing's name.
    pub thing: String,
    /// The action's name.
    pub action: String,
    /// The validated input.
    pub input: Value,
    /// Who asked, when a binding said.
    pub caller: Option<RecordedCaller>,
    /// Its status when recorded.
    pub status: InvocationStatus,
    /// When it was asked for.
    pub requested: DateTime<Utc>,
    /// When it started running.
    pub started: Option<DateTime<Utc>>,
    /// When it ended.
    pub completed: Option<DateTime<Utc>>,
    /// How far it got, if device code said.
    pub progress: Option<Progress>,
    /// Its newest intermediate results, oldest first.
    #[serde(default)]
    pub intermediate: Vec<Value>,
    /// When each of `intermediate` was reported.
    #[serde(default)]
    pub intermediate_times: Vec<DateTime<Utc>>,
    /// How many intermediate results it reported in all.
    #[serde(default)]
    pub intermediate_count: u64,
    /// Its log.
    #[serde(default)]
    pub log: Vec<LogRecord>,
    /// Its output, once completed.
    pub output: Option<Value>,
    /// Why it did not complete.
    pub error: Option<Failure>,
    /// The state of every thing of the lab when it started running
    /// (`thing_states`), as metadata for its data: shared with the
    /// invocation and its other records, not copied for each.
    #[serde(default)]
    pub thing_states: ThingStates,
    /// Its approval record, when it waited for an operator.
    pub approval: Option<RecordedApproval>,
    /// Its blobs (their bytes are files beside the store).
    #[serde(default)]
    pub blobs: Vec<RecordedBlob>,
    /// Why its blobs could not be stored, when they could not.
    pub blobs_refused: Option<String>,
}

/// Who asked for an invocation, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedCaller {
    /// The name (`anonymous` when the binding could not tell).
    pub name: String,
    /// The role the binding gave.
    pub role: Option<String>,
    /// The binding the call came through.
    pub binding: String,
    /// Whether the caller signed in as a user.
    pub user: bool,
}

/// An approval record, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedApproval {
    /// Where it ended up.
    pub state: ApprovalState,
    /// Who asked.
    pub caller: String,
    /// The binding the call came through.
    pub binding: String,
    /// Who decided.
    pub decided_by: Option<String>,
    /// When it would have expired.
    pub deadline: DateTime<Utc>,
}

/// A blob of a recorded invocation: its bytes are a file the store names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedBlob {
    /// The blob's id.
    pub id: Uuid,
    /// Its media type.
    pub media_type: String,
    /// Its length in bytes.
    pub len: u64,
}

/// The bindings this workspace names callers by; a recorded name that is
/// none of them reads back as `other`.
const BINDINGS: [&str; 6] = ["http", "mqtt", "mcp", "test", "cli", "bench"];

fn static_binding(name: &str) -> &'static str {
    BINDINGS.into_iter().find(|b| *b == name).unwrap_or("other")
}

impl Record {
    /// The record of `invocation` as it is now.
    pub fn of(invocation: &Invocation) -> Self {
        let snapshot = invocation.snapshot();
        let (intermediate, intermediate_count) = invocation.intermediate();
        Self {
            id: invocation.id(),
            thing: invocation.thing().to_owned(),
            action: invocation.action().to_owned(),
            input: invocation.input().clone(),
            caller: invocation.caller().map(|caller| RecordedCaller {
                name: caller.name().to_owned(),
                role: caller.role().map(str::to_owned),
                binding: caller.binding().to_owned(),
                user: caller.is_user(),
            }),
            status: snapshot.status,
            requested: invocation.requested(),
            started: snapshot.started,
            completed: snapshot.completed,
            progress: snapshot.progress,
            intermediate,
            intermediate_times: invocation.intermediate_times(),
            intermediate_count,
            log: invocation.log(),
            output: snapshot.output,
            error: snapshot.error,
            thing_states: invocation.thing_states().cloned().unwrap_or_default(),
            approval: snapshot.approval.map(|a| RecordedApproval {
                state: a.state,
                caller: a.caller,
                binding: a.binding.to_owned(),
                decided_by: a.decided_by,
                deadline: a.deadline,
            }),
            blobs: invocation
                .blob_sink()
                .lock()
                .iter()
                .map(|blob| RecordedBlob {
                    id: blob.id(),
                    media_type: blob.media_type().to_owned(),
                    len: blob.len(),
                })
                .collect(),
            blobs_refused: None,
        }
    }

    /// The record of `invocation` as it ends with `result` at `completed`
    /// (called while it ends, before anyone can see it ended).
    pub fn ending(invocation: &Invocation, result: &Result<Value, Failure>, completed: DateTime<Utc>) -> Self {
        let mut record = Self::of(invocation);
        record.completed = Some(completed);
        record.status = InvocationStatus::ended_with(result);
        match result {
            Ok(output) => record.output = Some(output.clone()),
            Err(failure) => record.error = Some(failure.clone()),
        }
        record
    }

    /// This record as it is after the process that ran it stopped while it
    /// was pending or running: ended at `now` with an
    /// [`ENDED_BY_RESTART`] error. A finished record is left as it is.
    pub fn ended_by_restart(mut self, now: DateTime<Utc>) -> Self {
        if self.status.is_finished() {
            return self;
        }
        self.status = InvocationStatus::Error;
        self.completed = Some(now);
        self.error = Some(Failure::error(
            ENDED_BY_RESTART,
            "the server stopped while this invocation was running; it did not finish, and the \
             hardware may have stopped part-way",
        ));
        self
    }

    /// The finished invocation this record describes (one it records as
    /// pending or running is [ended by the restart](Self::ended_by_restart)),
    /// holding `blobs` (its blobs as the store serves them).
    pub fn restore(self, blobs: Vec<Arc<BlobData>>) -> Invocation {
        let record = self.ended_by_restart(Utc::now());
        let caller = record.caller();
        let approval = record.approval();
        let times = record
            .intermediate_times
            .iter()
            .copied()
            .chain(std::iter::repeat(record.requested));
        let intermediate = record.intermediate.into_iter().zip(times).collect();
        Invocation::finished_from(crate::invocation::Finished {
            id: record.id,
            thing: record.thing,
            action: record.action,
            input: record.input,
            requested: record.requested,
            status: record.status,
            started: record.started,
            completed: record.completed,
            output: record.output,
            error: record.error,
            approval,
            caller,
            progress: record.progress,
            intermediate,
            intermediate_count: record.intermediate_count,
            log: record.log,
            thing_states: record.thing_states,
            blobs,
        })
    }

    /// The caller it names, as the bindings know callers.
    pub fn caller(&self) -> Option<Caller> {
        let c = self.caller.as_ref()?;
        let binding = static_binding(&c.binding);
        let caller = if c.user {
            Caller::user(&c.name, c.role.as_deref(), binding)
        } else {
            Caller::anonymous(binding)
        };
        Some(match (&c.role, c.user) {
            (Some(role), false) => caller.with_role(role),
            _ => caller,
        })
    }

    /// Its approval record, as invocations hold one.
    pub fn approval(&self) -> Option<Approval> {
        self.approval.as_ref().map(|a| Approval {
            state: a.state,
            caller: a.caller.clone(),
            binding: static_binding(&a.binding),
            decided_by: a.decided_by.clone(),
            deadline: a.deadline,
        })
    }

    /// How many bytes its blobs take.
    pub fn blob_bytes(&self) -> u64 {
        self.blobs.iter().fold(0u64, |sum, b| sum.saturating_add(b.len))
    }
}

/// What an invocation's log says when a store refused its blobs for
/// `reason`.
pub fn blobs_refused_message(reason: &str) -> String {
    format!("its blobs were not recorded ({reason}); they are kept in memory only, until the invocation expires")
}

/// Why a store could not keep or read a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The disk (or the store's configured size) has no room for it.
    #[error("the record store is full: {0}")]
    Full(String),
    /// Reading or writing failed.
    #[error("the record store failed: {0}")]
    Io(String),
    /// The store has closed (the server is stopping).
    #[error("the record store is closed")]
    Closed,
}

/// Which records to list: all of them by default, oldest request first.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordQuery {
    /// Only those of this thing.
    pub thing: Option<String>,
    /// Only those of actions of this name.
    pub action: Option<String>,
    /// Only those with this status.
    pub status: Option<InvocationStatus>,
    /// Only those this user asked for (`anonymous` for callers the binding
    /// could not tell apart).
    pub user: Option<String>,
    /// Only those requested at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only those requested before this time.
    pub until: Option<DateTime<Utc>>,
    /// Only those after this one in the listing's order (the last of the
    /// previous page: when it was requested, and its id).
    pub after: Option<(DateTime<Utc>, Uuid)>,
    /// At most this many.
    pub limit: usize,
}

/// What a [`RecordQuery`] selects: each record's id and when it was
/// requested, oldest request first.
pub type Listed = Vec<(Uuid, DateTime<Utc>)>;

/// How long a caller that waits for an invocation's end to be recorded (a
/// cancel, a rejection, [`RecordStore::end`]) waits at most.
pub const END_WAIT: std::time::Duration = std::time::Duration::from_secs(30);

/// What a [`RecordStore`] calls once an ending record is on disk: `Ok(None)`,
/// `Ok(Some(why its blobs were not kept))`, or why it could not be kept.
pub type Ended = Box<dyn FnOnce(Result<Option<String>, StoreError>) + Send>;

/// Where an [`ActionManager`](crate::ActionManager) keeps invocations once
/// they leave memory. Implemented by `labthings-store` (an embedded
/// database and a folder of blob files); set with
/// [`ActionManager::set_store`](crate::ActionManager::set_store) (a lab's:
/// `lab.manager().set_store(store)`).
pub trait RecordStore: Send + Sync + std::fmt::Debug {
    /// Note that `invocation` started running (its things' states set). The
    /// store may write its record ([`Record::of`]) later, or not at all if
    /// it ends first (its end's record says everything). Not waited for: a
    /// record lost here leaves the invocation unrecorded until it ends.
    fn begin(&self, invocation: &Arc<Invocation>);

    /// Keep the final record of an invocation with its blobs, and call
    /// `then` once it is on disk (from the store's own thread: `then` must
    /// not block). The blobs' bytes are copied to the store's files before
    /// this returns; when they do not fit, the record is kept without them
    /// and `then` is told why (`Ok(Some(reason))`). `then` is called exactly
    /// once, with [`StoreError::Closed`] if the store closes first.
    fn end_then(&self, record: Record, blobs: &[Arc<BlobData>], then: Ended);

    /// [`end_then`](Self::end_then), waiting (at most [`END_WAIT`]) until
    /// the record is on disk.
    fn end(&self, record: Record, blobs: &[Arc<BlobData>]) -> Result<Option<String>, StoreError> {
        let (done, written) = std::sync::mpsc::sync_channel(1);
        self.end_then(
            record,
            blobs,
            Box::new(move |result| {
                let _ = done.send(result);
            }),
        );
        written.recv_timeout(END_WAIT).unwrap_or_else(|_| {
            Err(StoreError::Io(format!(
                "the record was not on disk after {} s",
                END_WAIT.as_secs()
            )))
        })
    }

    /// The record with this id, if the store keeps it.
    fn get(&self, id: Uuid) -> Option<Record>;

    /// A stored blob, its bytes read from its file when served.
    fn blob(&self, id: Uuid) -> Option<Arc<BlobData>>;

    /// The ids of the records `query` selects, with when each was
    /// requested, oldest request first.
    fn query(&self, query: &RecordQuery) -> Result<Listed, StoreError>;

    /// Write what is waiting and take no more records (reading goes on):
    /// the server calls it once it has stopped, so another process (or a
    /// restart in this one) may open the store.
    fn close(&self) {}
}
