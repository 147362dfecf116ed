//! Blob files: written whole and synced before their record names them, so
//! a record never points at half a file, and removed after their record.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use labthings_core::blob::{BlobContent, BlobData};
use uuid::Uuid;

/// The suffix of a blob file still being written (removed at the next open
/// if the process died first).
const PART: &str = ".part";

/// Where blob `id` is kept in `folder`.
pub(crate) fn blob_path(folder: &Path, id: Uuid) -> PathBuf {
    folder.join(id.to_string())
}

/// Why a blob could not be written: the disk is full, or something else.
pub(crate) enum WriteFailure {
    /// No room on the disk (or over the user's quota).
    Full(String),
    /// Any other failure, said.
    Other(String),
}

impl WriteFailure {
    fn of(e: &std::io::Error, what: &str) -> Self {
        match e.kind() {
            std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded => {
                Self::Full(format!("the disk is full: {what} failed"))
            }
            _ => Self::Other(format!("{what} failed: {e}")),
        }
    }

    /// What went wrong.
    pub(crate) fn message(&self) -> &str {
        match self {
            Self::Full(m) | Self::Other(m) => m,
        }
    }
}

/// Write each of `blobs` into `folder` (to a `.part` file, synced if
/// `sync`, then renamed, then the folder synced if `sync`). On any failure,
/// nothing of this call is left behind.
pub(crate) fn write_all(folder: &Path, blobs: &[Arc<BlobData>], sync: bool) -> Result<(), WriteFailure> {
    let mut written = Vec::with_capacity(blobs.len());
    for blob in blobs {
        match write_one(folder, blob, sync) {
            Ok(path) => written.push(path),
            Err(failure) => {
                for path in written {
                    let _ = std::fs::remove_file(path);
                }
                return Err(failure);
            }
        }
    }
    if !sync {
        return Ok(());
    }
    sync_folder(folder).map_err(|e| WriteFailure::of(&e, "syncing the blob folder"))
}

fn write_one(folder: &Path, blob: &BlobData, sync: bool) -> Result<PathBuf, WriteFailure> {
    let synced = |file: &File| if sync { file.sync_all() } else { Ok(()) };
    let path = blob_path(folder, blob.id());
    let part = folder.join(format!("{}{PART}", blob.id()));
    let result = (|| {
        match blob.content() {
            BlobContent::Bytes(bytes) => {
                let mut file = File::create(&part)?;
                file.write_all(bytes)?;
                synced(&file)?;
            }
            BlobContent::File { path: source, .. } => {
                std::fs::copy(source, &part)?;
                synced(&File::open(&part)?)?;
            }
            BlobContent::Remote(remote) => {
                let bytes = remote.bytes().map_err(std::io::Error::other)?;
                let mut file = File::create(&part)?;
                file.write_all(&bytes)?;
                synced(&file)?;
            }
        }
        std::fs::rename(&part, &path)
    })();
    match result {
        Ok(()) => Ok(path),
        Err(e) => {
            let _ = std::fs::remove_file(&part);
            Err(WriteFailure::of(&e, &format!("writing blob {}", blob.id())))
        }
    }
}

/// Make a rename or removal in `folder` durable (a no-op where folders
/// cannot be opened, as on Windows).
pub(crate) fn sync_folder(folder: &Path) -> std::io::Result<()> {
    match File::open(folder) {
        Ok(dir) => dir.sync_all().or_else(|e| {
            // Some platforms refuse to sync a folder; the rename stands.
            if e.kind() == std::io::ErrorKind::PermissionDenied || e.kind() == std::io::ErrorKind::Unsupported {
                Ok(())
            } else {
                Err(e)
            }
        }),
        Err(_) => Ok(()),
    }
}

/// Remove the blob files of `ids` from `folder` (those already gone are
/// skipped).
pub(crate) fn remove(folder: &Path, ids: &[Uuid]) {
    for id in ids {
        match std::fs::remove_file(blob_path(folder, *id)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => tracing::warn!("could not remove the recorded blob {id}: {e}"),
        }
    }
}

/// The files in `folder` that are no blob a record names (`known`): parts
/// left by a process that died while writing, and blobs whose record was
/// never committed or was evicted before their file went.
pub(crate) fn strays(folder: &Path, known: impl Fn(Uuid) -> bool) -> std::io::Result<Vec<PathBuf>> {
    let mut strays = Vec::new();
    for entry in std::fs::read_dir(folder)? {
        let entry = entry?;
        let name = entry.file_name();
        let keep = name
            .to_str()
            .and_then(|name| Uuid::parse_str(name).ok())
            .is_some_and(&known);
        if !keep {
            strays.push(entry.path());
        }
    }
    Ok(strays)
}
