//! Capturing `tracing` (and `log`) records into the invocation that emitted them.
//!
//! Action code logs as usual — `tracing::info!("stepped")` — and the record
//! lands in the log of the invocation running on that thread. This works
//! through [`InvocationLogLayer`], a `tracing-subscriber` layer that the
//! server's `init_tracing` installs (with a printer for the console); a
//! program that sets up its own subscriber adds the layer itself.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::Layer;
use tracing_subscriber::layer::Context;

/// One log record, serialised exactly as LabThings-FastAPI's `LogRecordModel`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct LogRecord {
    /// The formatted message, with any extra fields appended as `key=value`.
    pub message: String,
    /// `DEBUG`, `INFO`, `WARNING` or `ERROR` (Python's level names).
    pub levelname: &'static str,
    /// Python's numeric level: 10, 20, 30 or 40 (5 for `TRACE`).
    pub levelno: u8,
    /// Source line of the log statement (0 if unknown).
    pub lineno: u32,
    /// File name (without directories) of the log statement.
    pub filename: String,
    /// When the record was made (UTC).
    pub created: DateTime<Utc>,
    /// Always `null`: Rust errors carry no exception type.
    pub exception_type: Option<String>,
    /// Always `null`: Rust errors carry no traceback.
    pub traceback: Option<String>,
}

impl LogRecord {
    /// A record made now, at `level`, from the given source location.
    pub fn new(level: Level, message: String, file: Option<&str>, line: Option<u32>) -> Self {
        let (levelname, levelno) = python_level(level);
        let filename = file
            .map(|f| f.rsplit(['/', '\\']).next().unwrap_or(f).to_owned())
            .unwrap_or_default();
        Self {
            message,
            levelname,
            levelno,
            lineno: line.unwrap_or(0),
            filename,
            created: Utc::now(),
            exception_type: None,
            traceback: None,
        }
    }
}

/// Read back as stored: the level's name follows from its number (a number
/// this crate never writes reads as `INFO`).
impl<'de> serde::Deserialize<'de> for LogRecord {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        struct Stored {
            message: String,
            levelno: u8,
            lineno: u32,
            filename: String,
            created: DateTime<Utc>,
        }
        let stored = Stored::deserialize(deserializer)?;
        let level = match stored.levelno {
            5 => Level::TRACE,
            10 => Level::DEBUG,
            30 => Level::WARN,
            40 => Level::ERROR,
            _ => Level::INFO,
        };
        let (levelname, levelno) = python_level(level);
        Ok(Self {
            message: stored.message,
            levelname,
            levelno,
            lineno: stored.lineno,
            filename: stored.filename,
            created: stored.created,
            exception_type: None,
            traceback: None,
        })
    }
}

/// Python's name and number for a `tracing` level.
fn python_level(level: Level) -> (&'static str, u8) {
    match level {
        Level::TRACE => ("TRACE", 5),
        Level::DEBUG => ("DEBUG", 10),
        Level::INFO => ("INFO", 20),
        Level::WARN => ("WARNING", 30),
        Level::ERROR => ("ERROR", 40),
    }
}

/// What one record is counted as against a buffer's byte limit: its text,
/// the record itself, and what the allocator adds to its two strings, so
/// the limit is close to the memory the log really takes.
fn record_cost(record: &LogRecord) -> usize {
    record.message.len() + record.filename.len() + RECORD_OVERHEAD
}

/// The memory a record takes besides its text.
const RECORD_OVERHEAD: usize = std::mem::size_of::<LogRecord>() + 64;

/// The longest message a record keeps, in bytes; longer ones are cut.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;

/// The least severe records an invocation's log keeps: `info` by default
/// (as the original), `debug` when the action (`#[action(log_level =
/// "debug")]`) or the configuration (`[invocations] log_level`) asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Debug records and above.
    Debug,
    /// Info records and above (the default).
    #[default]
    Info,
    /// Warnings and errors.
    #[serde(alias = "warn")]
    Warning,
    /// Errors only.
    Error,
}

impl LogLevel {
    /// The `tracing` level it stands for.
    pub fn level(self) -> Level {
        match self {
            Self::Debug => Level::DEBUG,
            Self::Info => Level::INFO,
            Self::Warning => Level::WARN,
            Self::Error => Level::ERROR,
        }
    }
}

/// A bounded, shared list of log records: the oldest records are dropped when
/// a new one would exceed the record count or the byte limit.
#[derive(Debug)]
pub struct LogBuffer {
    records: Mutex<Records>,
    capacity: usize,
    max_bytes: usize,
    /// The least severe level it keeps.
    level: Level,
}

#[derive(Debug, Default)]
struct Records {
    list: VecDeque<LogRecord>,
    bytes: usize,
}

impl LogBuffer {
    /// An empty buffer that keeps at most `capacity` records (and no byte
    /// limit beyond what `capacity` records of the longest message take).
    pub fn new(capacity: usize) -> Self {
        Self::with_limits(capacity, usize::MAX)
    }

    /// An empty buffer that keeps at most `capacity` records taking at most
    /// `max_bytes` (each counted as its message and file name plus the
    /// record's own size and allocation overhead, about 200 bytes).
    pub fn with_limits(capacity: usize, max_bytes: usize) -> Self {
        Self {
            records: Mutex::new(Records::default()),
            capacity,
            max_bytes,
            level: Level::INFO,
        }
    }

    /// The same buffer keeping records from `level` up (`info` unless set).
    pub fn keeping(mut self, level: LogLevel) -> Self {
        self.level = level.level();
        self
    }

    /// Whether it keeps records at `level`.
    pub fn keeps(&self, level: &Level) -> bool {
        // In `tracing`, more verbose levels compare greater.
        *level <= self.level
    }

    /// Add a record (its message cut to [`MAX_MESSAGE_BYTES`]), dropping the
    /// oldest while over either limit.
    pub fn push(&self, mut record: LogRecord) {
        if self.capacity == 0 {
            return;
        }
        if record.message.len() > MAX_MESSAGE_BYTES {
            let mut cut = MAX_MESSAGE_BYTES;
            while !record.message.is_char_boundary(cut) {
                cut -= 1;
            }
            record.message.truncate(cut);
            record.message.push_str(" [cut]");
        }
        let cost = record_cost(&record);
        if cost > self.max_bytes {
            return;
        }
        let mut records = self.records.lock();
        while records.list.len() >= self.capacity || records.bytes + cost > self.max_bytes {
            match records.list.pop_front() {
                Some(old) => records.bytes -= record_cost(&old),
                None => break,
            }
        }
        records.bytes += cost;
        records.list.push_back(record);
    }

    /// A copy of the records, oldest first.
    pub fn snapshot(&self) -> Vec<LogRecord> {
        self.records.lock().list.iter().cloned().collect()
    }

    /// How many records are held.
    pub fn len(&self) -> usize {
        self.records.lock().list.len()
    }

    /// How many bytes the held records count for.
    pub fn bytes(&self) -> usize {
        self.records.lock().bytes
    }

    /// Whether no record is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

thread_local! {
    static CURRENT_LOG: RefCell<Option<Arc<LogBuffer>>> = const { RefCell::new(None) };
}

/// Route log records emitted on this thread into `buffer` until the returned
/// guard is dropped. Used by invocation threads; nesting restores the outer
/// buffer on drop.
pub fn capture_into(buffer: Arc<LogBuffer>) -> CaptureGuard {
    let previous = CURRENT_LOG.with(|c| c.borrow_mut().replace(buffer));
    CaptureGuard { previous }
}

/// Restores the previous capture target of this thread when dropped.
#[must_use = "records are captured only while the guard lives"]
#[derive(Debug)]
pub struct CaptureGuard {
    previous: Option<Arc<LogBuffer>>,
}

impl Drop for CaptureGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        CURRENT_LOG.with(|c| *c.borrow_mut() = previous);
    }
}

/// Whether the invocation this thread works for keeps records at `level`:
/// what a subscriber's filter asks before it builds a `debug` record.
pub fn captured_at(level: &Level) -> bool {
    CURRENT_LOG.with(|c| c.borrow().as_ref().is_some_and(|buffer| buffer.keeps(level)))
}

/// Append a record to the buffer this thread captures into, if any.
/// Returns whether a buffer took it.
pub fn record_to_current(record: LogRecord) -> bool {
    CURRENT_LOG.with(|c| match c.borrow().as_ref() {
        Some(buffer) => {
            buffer.push(record);
            true
        }
        None => false,
    })
}

/// The `tracing-subscriber` layer that copies events into the log of the
/// invocation running on the current thread. Events on other threads pass by.
///
/// ```
/// use tracing_subscriber::prelude::*;
/// let subscriber = tracing_subscriber::registry().with(labthings_core::InvocationLogLayer);
/// # drop(subscriber);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct InvocationLogLayer;

impl<S: Subscriber> Layer<S> for InvocationLogLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        // Only into an invocation's log, and only at a level it keeps.
        if !captured_at(meta.level()) {
            return;
        }
        if meta.target() == crate::failure::PANIC_TARGET {
            return;
        }
        let mut visitor = MessageVisitor::default();
        event.record(&mut visitor);
        let record = LogRecord::new(*meta.level(), visitor.finish(), meta.file(), meta.line());
        record_to_current(record);
    }
}

#[derive(Default)]
struct MessageVisitor {
    message: String,
    fields: String,
}

impl MessageVisitor {
    fn finish(mut self) -> String {
        if !self.fields.is_empty() {
            if !self.message.is_empty() {
                self.message.push(' ');
            }
            self.message.push_str(&self.fields);
        }
        self.message
    }
}

impl Visit for MessageVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message.push_str(value);
        } else {
            self.record_debug(field, &value);
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => {
                let _ = write!(self.message, "{value:?}");
            }
            // `log` records bridged by tracing-log carry their location as fields.
            name if name.starts_with("log.") => {}
            name => {
                if !self.fields.is_empty() {
                    self.fields.push(' ');
                }
                let _ = write!(self.fields, "{name}={value:?}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing_subscriber::prelude::*;

    #[test]
    fn buffer_drops_oldest_when_full() {
        let buffer = LogBuffer::new(2);
        for n in 0..3 {
            buffer.push(LogRecord::new(Level::INFO, n.to_string(), None, None));
        }
        let messages: Vec<_> = buffer.snapshot().into_iter().map(|r| r.message).collect();
        assert_eq!(messages, ["1", "2"]);
    }

    #[test]
    fn buffer_keeps_within_its_byte_limit() {
        let buffer = LogBuffer::with_limits(1000, 2000);
        for n in 0..100 {
            buffer.push(LogRecord::new(Level::INFO, format!("step {n:04}"), Some("x.rs"), None));
        }
        assert!(buffer.bytes() <= 2000, "{} bytes held", buffer.bytes());
        let kept = buffer.snapshot();
        assert!(kept.len() < 100 && !kept.is_empty());
        assert_eq!(
            kept.last().map(|r| r.message.as_str()),
            Some("step 0099"),
            "the newest is kept"
        );
        buffer.push(LogRecord::new(Level::INFO, "é".repeat(MAX_MESSAGE_BYTES), None, None));
        let huge = LogBuffer::with_limits(10, 1 << 20);
        huge.push(LogRecord::new(Level::INFO, "é".repeat(MAX_MESSAGE_BYTES), None, None));
        assert!(huge.snapshot()[0].message.len() <= MAX_MESSAGE_BYTES + 6);
    }

    #[test]
    fn layer_captures_only_inside_the_guard() {
        let subscriber = tracing_subscriber::registry().with(InvocationLogLayer);
        let buffer = Arc::new(LogBuffer::new(10));
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!("before");
            {
                let _guard = capture_into(buffer.clone());
                tracing::warn!(step = 3, "moved");
            }
            tracing::info!("after");
        });
        let records = buffer.snapshot();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].message, "moved step=3");
        assert_eq!(records[0].levelname, "WARNING");
        assert_eq!(records[0].levelno, 30);
        assert_eq!(records[0].filename, "log.rs");
        assert!(records[0].lineno > 0);
    }
}
