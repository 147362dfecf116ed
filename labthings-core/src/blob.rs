//! Binary outputs: an action returns a [`Blob`] (bytes in memory or a file on
//! disk) and clients download it. In the invocation's `output` a blob is a
//! link object, `{"href": "urn:uuid:{id}", "media_type": "...", ...}`, whose
//! `href` a protocol binding turns into a link it serves ([`blob_uri`]).
//! A blob lives as long as the invocation that made it is retained.

use std::borrow::Cow;
use std::cell::RefCell;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::Mutex;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::ser::{Error as _, SerializeMap};
use serde::{Serialize, Serializer};
use serde_json::Value;
use uuid::Uuid;

/// Where a blob's bytes are.
#[derive(Debug)]
pub enum BlobContent {
    /// In memory (cheap to share: serving does not copy it).
    Bytes(Bytes),
    /// A file, streamed from disk when downloaded.
    File {
        /// The file.
        path: PathBuf,
        /// Its length in bytes.
        len: u64,
        /// Whether to delete it when the blob is freed.
        temporary: bool,
    },
}

/// The stored data of a blob.
#[derive(Debug)]
pub struct BlobData {
    id: Uuid,
    media_type: String,
    content: BlobContent,
}

impl BlobData {
    /// The blob's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// Its media type, e.g. `image/png`.
    pub fn media_type(&self) -> &str {
        &self.media_type
    }

    /// Where its bytes are.
    pub fn content(&self) -> &BlobContent {
        &self.content
    }

    /// Its length in bytes.
    pub fn len(&self) -> u64 {
        match &self.content {
            BlobContent::Bytes(bytes) => bytes.len() as u64,
            BlobContent::File { len, .. } => *len,
        }
    }

    /// Whether it holds no bytes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Drop for BlobData {
    fn drop(&mut self) {
        if let BlobContent::File {
            path, temporary: true, ..
        } = &self.content
            && let Err(e) = std::fs::remove_file(path)
        {
            tracing::warn!("could not delete the blob file {}: {e}", path.display());
        }
    }
}

/// Binary data an action returns, with its media type.
///
/// ```
/// use labthings_core::Blob;
/// let png = Blob::from_bytes(vec![0x89, b'P', b'N', b'G'], "image/png");
/// assert_eq!(png.data().len(), 4);
/// ```
#[derive(Debug, Clone)]
pub struct Blob {
    data: Arc<BlobData>,
}

impl Blob {
    /// Bytes held in memory.
    pub fn from_bytes(bytes: impl Into<Bytes>, media_type: impl Into<String>) -> Self {
        Self::new(media_type.into(), BlobContent::Bytes(bytes.into()))
    }

    /// A file on disk, streamed when downloaded and left in place afterwards.
    pub fn from_file(path: impl AsRef<Path>, media_type: impl Into<String>) -> std::io::Result<Self> {
        Self::file(path.as_ref(), media_type.into(), false)
    }

    /// A file the blob owns: deleted when the blob is freed (when its
    /// invocation expires).
    pub fn from_temp_file(path: impl AsRef<Path>, media_type: impl Into<String>) -> std::io::Result<Self> {
        Self::file(path.as_ref(), media_type.into(), true)
    }

    fn file(path: &Path, media_type: String, temporary: bool) -> std::io::Result<Self> {
        let len = std::fs::metadata(path)?.len();
        Ok(Self::new(
            media_type,
            BlobContent::File {
                path: path.to_owned(),
                len,
                temporary,
            },
        ))
    }

    fn new(media_type: String, content: BlobContent) -> Self {
        Self {
            data: Arc::new(BlobData {
                id: Uuid::new_v4(),
                media_type,
                content,
            }),
        }
    }

    /// The stored data.
    pub fn data(&self) -> &Arc<BlobData> {
        &self.data
    }
}

/// The URI that names a blob in an action's output, `urn:uuid:{id}`
/// (RFC 9562): it names the blob without saying how to fetch it. A
/// protocol binding replaces it with a link of its own when it shows the
/// output.
pub fn blob_uri(id: Uuid) -> String {
    format!("urn:uuid:{id}")
}

/// The id of the blob `value` is, if it is the JSON of a [`Blob`]: an object
/// with a `media_type` and a [`blob_uri`] as its `href`.
pub fn blob_id(value: &Value) -> Option<Uuid> {
    value.get("media_type")?;
    value.get("href")?.as_str()?.strip_prefix("urn:uuid:")?.parse().ok()
}

/// The description LabThings-FastAPI gives blob links.
pub const BLOB_DESCRIPTION: &str = "The output from this action is not serialised to JSON, so it must be retrieved as a file. This link will return the file.";

/// Where the blobs an invocation's output holds are kept.
pub type BlobSink = Arc<Mutex<Vec<Arc<BlobData>>>>;

thread_local! {
    static BLOB_SINK: RefCell<Option<BlobSink>> = const { RefCell::new(None) };
}

/// Keep blobs serialized on this thread in `sink` until the guard is
/// dropped (used around an action's run, so its output blobs are kept with
/// its invocation).
pub fn collect_blobs_into(sink: BlobSink) -> BlobSinkGuard {
    let previous = BLOB_SINK.with(|s| s.borrow_mut().replace(sink));
    BlobSinkGuard { previous }
}

/// Restores the previous blob sink of this thread when dropped.
#[must_use = "blobs are collected only while the guard lives"]
#[derive(Debug)]
pub struct BlobSinkGuard {
    previous: Option<BlobSink>,
}

impl Drop for BlobSinkGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        BLOB_SINK.with(|s| *s.borrow_mut() = previous);
    }
}

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let kept = BLOB_SINK.with(|s| match s.borrow().as_ref() {
            Some(sink) => {
                sink.lock().push(self.data.clone());
                true
            }
            None => false,
        });
        if !kept {
            return Err(S::Error::custom(
                "a Blob can only be an action's output (it is downloaded from the invocation)",
            ));
        }
        let mut map = serializer.serialize_map(Some(4))?;
        map.serialize_entry("href", &blob_uri(self.data.id))?;
        map.serialize_entry("media_type", &self.data.media_type)?;
        map.serialize_entry("rel", "output")?;
        map.serialize_entry("description", BLOB_DESCRIPTION)?;
        map.end()
    }
}

impl JsonSchema for Blob {
    fn schema_name() -> Cow<'static, str> {
        "Blob".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "title": "Blob",
            "description": "A link to download binary data.",
            "properties": {
                "href": {"type": "string", "format": "uri"},
                "media_type": {"type": "string"},
                "rel": {"type": "string"},
                "description": {"type": "string"}
            },
            "required": ["href", "media_type"]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializing_outside_an_action_is_an_error() {
        let blob = Blob::from_bytes(&b"x"[..], "text/plain");
        assert!(serde_json::to_value(&blob).is_err());
    }

    #[test]
    fn serializing_inside_keeps_the_blob_and_links_it() {
        let sink = Arc::new(Mutex::new(Vec::new()));
        let blob = Blob::from_bytes(&b"xyz"[..], "text/plain");
        let value = {
            let _guard = collect_blobs_into(sink.clone());
            serde_json::to_value(&blob).expect("inside a sink")
        };
        assert_eq!(value["href"], format!("urn:uuid:{}", blob.data().id()));
        assert_eq!(blob_id(&value), Some(blob.data().id()));
        assert_eq!(value["media_type"], "text/plain");
        assert_eq!(sink.lock().len(), 1);
    }

    #[test]
    fn a_temporary_file_is_deleted_when_freed() {
        let path = std::env::temp_dir().join(format!("labthings-blob-{}", Uuid::new_v4()));
        std::fs::write(&path, b"data").expect("write");
        let blob = Blob::from_temp_file(&path, "application/octet-stream").expect("exists");
        assert_eq!(blob.data().len(), 4);
        drop(blob);
        assert!(!path.exists());
    }
}
