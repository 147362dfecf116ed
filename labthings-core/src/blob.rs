//! Binary outputs: an action returns a [`Blob`] (bytes in memory or a file on
//! disk) and clients download it. In the invocation's `output` a blob is a
//! link object, `{"href": "urn:uuid:{id}", "media_type": "...", ...}`, whose
//! `href` a protocol binding turns into a link it serves ([`blob_uri`]).
//! A blob lives as long as the invocation that made it is retained.
//!
//! An action's input may also link to a blob another server holds, if the
//! server running it trusts that server ([`RemoteBlobs`]): its bytes are
//! fetched when device code reads them ([`Blob::read_bytes`]), not before.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use parking_lot::Mutex;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::Error as _;
use serde::ser::{Error as _, SerializeMap};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
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
    /// Held by another server this one trusts, fetched when first read.
    Remote(RemoteContent),
}

/// Where blobs that other servers hold are fetched from: the servers a
/// configuration trusts. A binding that speaks their protocol implements
/// it (the HTTP server's `[[remote_blobs]]`) and hands it to
/// [`Lab::with_remote_blobs`](crate::Lab::with_remote_blobs); an input's
/// link to any other server is refused before the action starts.
pub trait RemoteBlobs: Send + Sync + std::fmt::Debug {
    /// Whether `href` links to a blob on a server this one trusts.
    fn trusts(&self, href: &str) -> bool;

    /// The bytes at `href`, fetched now with the credentials configured for
    /// its server, bounded in size and time. Blocks the calling thread (as
    /// reading a file does); the error says what went wrong.
    fn fetch(&self, href: &str) -> Result<Bytes, String>;
}

/// A blob another server holds: its link, and its bytes once fetched.
pub struct RemoteContent {
    href: String,
    source: Arc<dyn RemoteBlobs>,
    fetched: OnceLock<Bytes>,
}

impl RemoteContent {
    /// Where its bytes are.
    pub fn href(&self) -> &str {
        &self.href
    }

    /// Its bytes: fetched on the first call that succeeds, then kept (a
    /// failed fetch is tried again on the next call).
    pub fn bytes(&self) -> Result<Bytes, String> {
        if let Some(bytes) = self.fetched.get() {
            return Ok(bytes.clone());
        }
        let bytes = self.source.fetch(&self.href)?;
        Ok(self.fetched.get_or_init(|| bytes).clone())
    }
}

impl std::fmt::Debug for RemoteContent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteContent")
            .field("href", &self.href)
            .field("fetched", &self.fetched.get().map(Bytes::len))
            .finish_non_exhaustive()
    }
}

/// The stored data of a blob.
#[derive(Debug)]
pub struct BlobData {
    id: Uuid,
    media_type: String,
    content: BlobContent,
}

impl BlobData {
    /// The blob `id` as a record store keeps it: the file at `path`, `len`
    /// bytes of `media_type`, left in place when freed (the store removes
    /// it when the record goes).
    pub fn recorded(id: Uuid, media_type: impl Into<String>, path: PathBuf, len: u64) -> Arc<Self> {
        Arc::new(Self {
            id,
            media_type: media_type.into(),
            content: BlobContent::File {
                path,
                len,
                temporary: false,
            },
        })
    }

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

    /// Its length in bytes (for a blob of another server, 0 until it is
    /// read).
    pub fn len(&self) -> u64 {
        match &self.content {
            BlobContent::Bytes(bytes) => bytes.len() as u64,
            BlobContent::File { len, .. } => *len,
            BlobContent::Remote(remote) => remote.fetched.get().map_or(0, |bytes| bytes.len() as u64),
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

    /// Its media type, e.g. `image/png`.
    pub fn media_type(&self) -> &str {
        &self.data.media_type
    }

    /// Its bytes: shared if held in memory, read if a file, fetched (once)
    /// if another server holds it.
    pub fn read_bytes(&self) -> std::io::Result<Bytes> {
        match &self.data.content {
            BlobContent::Bytes(bytes) => Ok(bytes.clone()),
            BlobContent::File { path, .. } => std::fs::read(path).map(Bytes::from),
            BlobContent::Remote(remote) => remote.bytes().map_err(std::io::Error::other),
        }
    }

    /// Where another server serves it, if it is a blob of another server
    /// (an input that linked to one).
    pub fn remote_href(&self) -> Option<&str> {
        match &self.data.content {
            BlobContent::Remote(remote) => Some(remote.href()),
            _ => None,
        }
    }
}

/// A media type known when the code is written, for [`TypedBlob`].
pub trait MediaType: Send + Sync + 'static {
    /// The media type, e.g. `image/jpeg`.
    const MEDIA_TYPE: &'static str;
    /// A name for the blob type in schemas, e.g. `JpegBlob`.
    const NAME: &'static str;
}

/// JPEG images (`image/jpeg`).
#[derive(Debug, Clone, Copy)]
pub struct Jpeg;
impl MediaType for Jpeg {
    const MEDIA_TYPE: &'static str = "image/jpeg";
    const NAME: &'static str = "JpegBlob";
}

/// PNG images (`image/png`).
#[derive(Debug, Clone, Copy)]
pub struct Png;
impl MediaType for Png {
    const MEDIA_TYPE: &'static str = "image/png";
    const NAME: &'static str = "PngBlob";
}

/// TIFF images (`image/tiff`).
#[derive(Debug, Clone, Copy)]
pub struct Tiff;
impl MediaType for Tiff {
    const MEDIA_TYPE: &'static str = "image/tiff";
    const NAME: &'static str = "TiffBlob";
}

/// A [`Blob`] whose media type is fixed by its type, as the original's
/// `Blob` subclasses: the schema says the media type (`const`), so
/// clients know what they get, and as an input it refuses a blob of
/// another type with a message naming both.
///
/// ```
/// use labthings_core::blob::{Jpeg, TypedBlob};
/// let still = TypedBlob::<Jpeg>::from_bytes(vec![0xFF, 0xD8, 0xFF, 0xD9]);
/// assert_eq!(still.blob().media_type(), "image/jpeg");
/// ```
pub struct TypedBlob<M: MediaType> {
    blob: Blob,
    media: std::marker::PhantomData<fn() -> M>,
}

impl<M: MediaType> std::fmt::Debug for TypedBlob<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("TypedBlob").field(&self.blob).finish()
    }
}

impl<M: MediaType> Clone for TypedBlob<M> {
    fn clone(&self) -> Self {
        Self {
            blob: self.blob.clone(),
            media: std::marker::PhantomData,
        }
    }
}

impl<M: MediaType> TypedBlob<M> {
    /// Bytes held in memory.
    pub fn from_bytes(bytes: impl Into<Bytes>) -> Self {
        Self::wrap(Blob::from_bytes(bytes, M::MEDIA_TYPE))
    }

    /// A file on disk, left in place afterwards.
    pub fn from_file(path: impl AsRef<Path>) -> std::io::Result<Self> {
        Blob::from_file(path, M::MEDIA_TYPE).map(Self::wrap)
    }

    /// A file the blob owns (deleted when its invocation expires).
    pub fn from_temp_file(path: impl AsRef<Path>) -> std::io::Result<Self> {
        Blob::from_temp_file(path, M::MEDIA_TYPE).map(Self::wrap)
    }

    fn wrap(blob: Blob) -> Self {
        Self {
            blob,
            media: std::marker::PhantomData,
        }
    }

    /// The blob.
    pub fn blob(&self) -> &Blob {
        &self.blob
    }

    /// The blob, untyped.
    pub fn into_blob(self) -> Blob {
        self.blob
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
        if let BlobContent::Remote(remote) = &self.data.content {
            // Another server's blob stays its link, wherever it is shown.
            let mut map = serializer.serialize_map(Some(2))?;
            map.serialize_entry("href", remote.href())?;
            map.serialize_entry("media_type", &self.data.media_type)?;
            return map.end();
        }
        let kept = BLOB_SINK.with(|s| match s.borrow().as_ref() {
            Some(sink) => {
                sink.lock().push(self.data.clone());
                true
            }
            // An input (which holds blobs of earlier outputs, kept by their
            // invocations): the link names the blob as it was given.
            None => NAMED.lock().contains_key(&self.data.id),
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

/// The blobs that inputs being decoded right now name, by id, each with the
/// number of decodings that named it. [`Lab::invoke`](crate::Lab::invoke)
/// looks up every blob link in an input among the blobs its lab holds
/// ([`name_blobs`]) before the input is decoded, and a [`Blob`] decodes only
/// from a blob named here, so no caller has to set anything up and a link
/// to a blob of another server (or one no longer retained) is refused.
static NAMED: std::sync::LazyLock<Mutex<Named>> = std::sync::LazyLock::new(Mutex::default);

/// Each named blob with how many decodings named it.
type Named = HashMap<Uuid, (Arc<BlobData>, usize)>;

/// Keeps the blobs an input names available to its decoding; they are
/// forgotten when it is dropped.
#[must_use = "the blobs are named only while this lives"]
#[derive(Debug, Default)]
pub struct NamedBlobs {
    ids: Vec<Uuid>,
}

/// Name to decoding every blob that a link object in `input` (an object
/// with a `media_type` and a `urn:uuid:` `href`) refers to and `held`
/// finds; links `held` does not find are left for the decoding to refuse.
pub fn name_blobs(input: &Value, held: impl Fn(Uuid) -> Option<Arc<BlobData>>) -> NamedBlobs {
    let mut found = Vec::new();
    let mut stack = vec![input];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                if let Some(data) = blob_id(value).and_then(&held) {
                    found.push(data);
                }
                stack.extend(map.values());
            }
            Value::Array(items) => stack.extend(items),
            _ => {}
        }
    }
    // Most inputs link to no blob: they never touch the process-wide map.
    if found.is_empty() {
        return NamedBlobs::default();
    }
    let mut named = NAMED.lock();
    let ids = found
        .into_iter()
        .map(|data| {
            let id = data.id;
            named.entry(id).or_insert((data, 0)).1 += 1;
            id
        })
        .collect();
    NamedBlobs { ids }
}

impl Drop for NamedBlobs {
    fn drop(&mut self) {
        if self.ids.is_empty() {
            return;
        }
        let mut named = NAMED.lock();
        for id in &self.ids {
            if let Some(entry) = named.get_mut(id) {
                entry.1 -= 1;
                if entry.1 == 0 {
                    named.remove(id);
                }
            }
        }
    }
}

thread_local! {
    /// The servers whose blobs the input being decoded on this thread may
    /// link to.
    static TRUSTED: RefCell<Option<Arc<dyn RemoteBlobs>>> = const { RefCell::new(None) };
}

/// Let inputs decoded on this thread link to blobs of the servers `remote`
/// trusts, until the guard is dropped ([`Lab::invoke`](crate::Lab::invoke)
/// does, around decoding an input).
pub fn trust_remote_blobs(remote: Option<Arc<dyn RemoteBlobs>>) -> TrustGuard {
    let previous = TRUSTED.with(|t| std::mem::replace(&mut *t.borrow_mut(), remote));
    TrustGuard { previous }
}

/// Restores the servers trusted before, when dropped.
#[must_use = "the servers are trusted only while the guard lives"]
pub struct TrustGuard {
    previous: Option<Arc<dyn RemoteBlobs>>,
}

impl Drop for TrustGuard {
    fn drop(&mut self) {
        let previous = self.previous.take();
        TRUSTED.with(|t| *t.borrow_mut() = previous);
    }
}

impl std::fmt::Debug for TrustGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TrustGuard")
    }
}

/// A blob of another server, if `href` is on one the decoding on this
/// thread trusts.
fn trusted_remote(href: &str, media_type: &str) -> Option<Blob> {
    let source = TRUSTED.with(|t| t.borrow().clone())?;
    source.trusts(href).then(|| {
        Blob::new(
            media_type.to_owned(),
            BlobContent::Remote(RemoteContent {
                href: href.to_owned(),
                source,
                fetched: OnceLock::new(),
            }),
        )
    })
}

/// The blob `id`, if an input being decoded names it.
fn named(id: Uuid) -> Option<Arc<BlobData>> {
    NAMED.lock().get(&id).map(|(data, _)| data.clone())
}

/// An action's input may name a blob an earlier action output on this
/// server: its link object, as the output gave it (`href` and
/// `media_type`). The
/// binding turns its own links into [`blob_uri`]s before decoding, and
/// [`Lab::invoke`](crate::Lab::invoke) names the blobs its lab holds
/// ([`name_blobs`]). A link to a blob of another server decodes if the lab
/// trusts that server ([`RemoteBlobs`]); its bytes are fetched when read.
/// Any other `href` is refused with a message saying which blobs are
/// accepted.
impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        let href = value
            .get("href")
            .and_then(Value::as_str)
            .ok_or_else(|| D::Error::custom("a blob input is the link object of an action's output on this server"))?;
        let not_ours = || {
            D::Error::custom(format!(
                "`{href}` is not a blob held by this server, nor one on a server it trusts: give the `href` of an \
                 action's output on this server, while that invocation is retained, or one on a server its \
                 configuration trusts (`[[remote_blobs]]`)"
            ))
        };
        let Some(id) = href.strip_prefix("urn:uuid:") else {
            let media_type = value.get("media_type").and_then(Value::as_str).ok_or_else(|| {
                D::Error::custom(format!(
                    "the blob link `{href}` has no `media_type`: give the link object as it was served"
                ))
            })?;
            return trusted_remote(href, media_type).ok_or_else(not_ours);
        };
        let id: Uuid = id.parse().map_err(|_| not_ours())?;
        let data = named(id).ok_or_else(not_ours)?;
        Ok(Blob { data })
    }
}

impl<M: MediaType> Serialize for TypedBlob<M> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.blob.serialize(serializer)
    }
}

impl<'de, M: MediaType> Deserialize<'de> for TypedBlob<M> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let blob = Blob::deserialize(deserializer)?;
        if blob.media_type() != M::MEDIA_TYPE {
            return Err(D::Error::custom(format!(
                "this input takes blobs of type {}; the one given is {}",
                M::MEDIA_TYPE,
                blob.media_type()
            )));
        }
        Ok(Self::wrap(blob))
    }
}

impl<M: MediaType> JsonSchema for TypedBlob<M> {
    fn schema_name() -> Cow<'static, str> {
        M::NAME.into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let mut schema = Blob::json_schema(generator);
        if let Some(properties) = schema.get_mut("properties").and_then(Value::as_object_mut) {
            properties.insert(
                "media_type".into(),
                serde_json::json!({"type": "string", "const": M::MEDIA_TYPE}),
            );
        }
        schema
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
    fn a_link_decodes_only_while_its_blob_is_named_by_the_one_who_holds_it() {
        let blob = Blob::from_bytes(&b"x"[..], "text/plain");
        let link = serde_json::json!({"a": [{"href": blob_uri(blob.data.id), "media_type": "text/plain"}]});
        let decode = || serde_json::from_value::<Blob>(link["a"][0].clone());
        // Nobody named it: refused, with the reason.
        let refused = decode().expect_err("not named");
        assert!(
            refused.to_string().contains("is not a blob held by this server"),
            "{refused}"
        );
        // A holder that does not find it names nothing.
        let none = name_blobs(&link, |_| None);
        assert!(decode().is_err());
        drop(none);
        // The holder finds it (anywhere in the input): it decodes to the same
        // bytes, also while a second input names it, and not once both are done.
        let held = blob.data.clone();
        let first = name_blobs(&link, |id| (id == held.id).then(|| held.clone()));
        let second = name_blobs(&link, |id| (id == held.id).then(|| held.clone()));
        assert_eq!(decode().expect("named").data.id, blob.data.id);
        drop(first);
        assert!(decode().is_ok(), "still named by the second input");
        drop(second);
        assert!(decode().is_err(), "forgotten once no input names it");
    }

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

    /// A server that fails its first fetch, then answers; counting fetches.
    #[derive(Debug, Default)]
    struct Flaky {
        fetches: std::sync::atomic::AtomicUsize,
    }

    impl RemoteBlobs for Flaky {
        fn trusts(&self, href: &str) -> bool {
            href.starts_with("http://camera.lab/")
        }

        fn fetch(&self, _: &str) -> Result<Bytes, String> {
            match self.fetches.fetch_add(1, std::sync::atomic::Ordering::SeqCst) {
                0 => Err("the camera server is restarting".into()),
                _ => Ok(Bytes::from_static(b"jpeg")),
            }
        }
    }

    #[test]
    fn a_trusted_link_decodes_and_is_fetched_once_when_read() {
        let flaky = Arc::new(Flaky::default());
        let link = serde_json::json!({"href": "http://camera.lab/blob/1", "media_type": "image/jpeg"});
        let other = serde_json::json!({"href": "http://elsewhere.lab/blob/1", "media_type": "image/jpeg"});
        assert!(
            serde_json::from_value::<Blob>(link.clone()).is_err(),
            "not trusted outside the guard"
        );
        let (blob, refused) = {
            let _trusted = trust_remote_blobs(Some(flaky.clone()));
            (
                serde_json::from_value::<Blob>(link.clone()),
                serde_json::from_value::<Blob>(other),
            )
        };
        let blob = blob.expect("a trusted link");
        assert!(
            refused
                .expect_err("not trusted")
                .to_string()
                .contains("[[remote_blobs]]")
        );
        assert_eq!(
            flaky.fetches.load(std::sync::atomic::Ordering::SeqCst),
            0,
            "not fetched until read"
        );
        assert_eq!(blob.remote_href(), Some("http://camera.lab/blob/1"));
        assert!(blob.read_bytes().is_err(), "the first fetch fails");
        assert_eq!(blob.read_bytes().expect("tried again").as_ref(), b"jpeg");
        assert_eq!(blob.read_bytes().expect("kept").as_ref(), b"jpeg");
        assert_eq!(
            flaky.fetches.load(std::sync::atomic::Ordering::SeqCst),
            2,
            "kept once fetched"
        );
        assert_eq!(blob.data().len(), 4);
        let shown = serde_json::to_value(&blob).expect("a remote blob is its link");
        assert_eq!(shown, link);
    }
}
