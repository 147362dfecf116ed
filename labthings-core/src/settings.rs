//! Settings that survive a restart: one JSON file per Thing, written
//! atomically (temporary file, fsync, rename, fsync of the folder) so a crash
//! or power cut mid-write never leaves half a file.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde_json::{Map, Value};

/// The settings file of one Thing: `{dir}/{thing}.json`.
#[derive(Debug)]
pub struct SettingsFile {
    path: PathBuf,
    /// Held while writing; holds what was last written, so that writing
    /// the same values again (a client that repeats a write) touches
    /// nothing: an SD card wears out with every write.
    writing: Mutex<Option<Map<String, Value>>>,
}

/// The write lock of a [`SettingsFile`]: while it is held nobody else
/// writes the file.
#[derive(Debug)]
pub struct SettingsWriter<'a> {
    file: &'a SettingsFile,
    written: parking_lot::MutexGuard<'a, Option<Map<String, Value>>>,
}

impl SettingsWriter<'_> {
    /// Write `values` atomically, creating the folder if needed, unless
    /// they are what this writer's file last wrote.
    pub fn write(&mut self, values: &Map<String, Value>) -> io::Result<()> {
        if self.written.as_ref() == Some(values) {
            return Ok(());
        }
        self.file.write_file(values)?;
        *self.written = Some(values.clone());
        Ok(())
    }
}

/// What was found when reading a settings file.
#[derive(Debug)]
pub enum Loaded {
    /// No file yet: every setting keeps its default.
    Missing,
    /// The saved values by property name.
    Values(Map<String, Value>),
    /// The file is not a JSON object (truncated, edited by hand, …).
    Corrupt(String),
}

/// Read a settings file at `path`: a JSON object of values by setting name.
fn read_values(path: &Path) -> io::Result<Loaded> {
    let text = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Loaded::Missing),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => return Ok(Loaded::Corrupt(e.to_string())),
        Err(e) => return Err(e),
    };
    Ok(match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(values)) => Loaded::Values(values),
        Ok(other) => Loaded::Corrupt(format!("expected a JSON object, found {other}")),
        Err(e) => Loaded::Corrupt(e.to_string()),
    })
}

impl SettingsFile {
    /// The settings file of `thing` in `dir`.
    pub fn new(dir: &Path, thing: &str) -> Self {
        Self {
            path: dir.join(format!("{thing}.json")),
            writing: Mutex::new(None),
        }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Read the file.
    pub fn load(&self) -> io::Result<Loaded> {
        read_values(&self.path)
    }

    /// The settings file LabThings-FastAPI kept for the same thing in the
    /// same folder, `{dir}/{thing}/Settings-{Class}.json` (its class name
    /// need not be this thing's type name): the one such file, if there is
    /// exactly one.
    pub fn original_file(&self) -> Option<PathBuf> {
        let dir = self.path.parent()?;
        let thing = self.path.file_stem()?;
        let mut found = fs::read_dir(dir.join(thing))
            .ok()?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("Settings-") && n.ends_with(".json"))
            });
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }

    /// Read a settings file of the original (a JSON object of values by
    /// setting name, as ours).
    pub fn load_original(path: &Path) -> io::Result<Loaded> {
        read_values(path)
    }

    /// Keep a copy of the current file beside it (`{thing}.json.bad-{time}`)
    /// before it is overwritten; returns the copy's path.
    pub fn keep_bad_copy(&self) -> io::Result<PathBuf> {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ");
        let mut copy = self.path.clone().into_os_string();
        copy.push(format!(".bad-{stamp}"));
        let copy = PathBuf::from(copy);
        fs::copy(&self.path, &copy)?;
        Ok(copy)
    }

    /// Write `values` atomically, creating the folder if needed.
    pub fn save(&self, values: &Map<String, Value>) -> io::Result<()> {
        self.save_with(|| Ok(values.clone()))
    }

    /// Take the file's write lock, then read the values to save with
    /// `values` and write them: two savers cannot write in the opposite order
    /// from the one they read in, so the file always ends with the newest
    /// values.
    pub fn save_with(&self, values: impl FnOnce() -> io::Result<Map<String, Value>>) -> io::Result<()> {
        let mut writer = self.lock();
        writer.write(&values()?)
    }

    /// Take the file's write lock, to write it (perhaps more than once)
    /// while nobody else does.
    pub fn lock(&self) -> SettingsWriter<'_> {
        SettingsWriter {
            file: self,
            written: self.writing.lock(),
        }
    }

    /// Remove temporary files left by writes that were interrupted (a crash
    /// or power cut between creating and renaming them); returns how many.
    pub fn remove_leftovers(&self) -> usize {
        let Some(dir) = self.path.parent() else { return 0 };
        let Some(name) = self.path.file_name().and_then(|n| n.to_str()) else {
            return 0;
        };
        let prefix = format!("{name}.tmp-");
        let Ok(entries) = fs::read_dir(dir) else { return 0 };
        entries
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_str().is_some_and(|n| n.starts_with(&prefix)))
            .filter(|e| fs::remove_file(e.path()).is_ok())
            .count()
    }

    fn write_file(&self, values: &Map<String, Value>) -> io::Result<()> {
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir)?;
        let text = serde_json::to_vec_pretty(values).map_err(io::Error::other)?;
        let mut temporary = self.path.clone().into_os_string();
        temporary.push(format!(".tmp-{}", std::process::id()));
        let temporary = PathBuf::from(temporary);
        let written = (|| {
            let mut file = fs::File::create(&temporary)?;
            file.write_all(&text)?;
            file.write_all(b"\n")?;
            file.sync_all()?;
            fs::rename(&temporary, &self.path)
        })();
        if let Err(e) = written {
            let _ = fs::remove_file(&temporary);
            return Err(e);
        }
        // Make the rename itself durable (a no-op where folders cannot be opened).
        if let Ok(folder) = fs::File::open(dir) {
            let _ = folder.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("labthings-settings-{name}-{}", uuid::Uuid::new_v4()));
        fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn save_then_load_round_trips() {
        let dir = scratch("roundtrip");
        let file = SettingsFile::new(&dir, "stage");
        assert!(matches!(file.load(), Ok(Loaded::Missing)));
        let mut values = Map::new();
        values.insert("speed".into(), Value::from(3));
        file.save(&values).expect("save");
        match file.load() {
            Ok(Loaded::Values(loaded)) => assert_eq!(loaded, values),
            other => panic!("unexpected {other:?}"),
        }
        let leftovers: Vec<_> = fs::read_dir(&dir).expect("dir").filter_map(Result::ok).collect();
        assert_eq!(leftovers.len(), 1, "no temporary file left behind");
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn the_same_values_are_written_once() {
        let dir = scratch("same");
        let file = SettingsFile::new(&dir, "stage");
        let mut values = Map::new();
        values.insert("calibration".into(), Value::from(2.5));
        file.save(&values).expect("save");
        let written = fs::metadata(file.path()).and_then(|m| m.modified()).expect("mtime");
        std::thread::sleep(std::time::Duration::from_millis(20));
        for _ in 0..100 {
            file.save(&values).expect("save again");
        }
        let after = fs::metadata(file.path()).and_then(|m| m.modified()).expect("mtime");
        assert_eq!(written, after, "not written again");
        values.insert("calibration".into(), Value::from(3.0));
        file.save(&values).expect("save a change");
        assert!(fs::read_to_string(file.path()).expect("read").contains("3.0"));
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn leftover_temporary_files_are_removed() {
        let dir = scratch("leftovers");
        let file = SettingsFile::new(&dir, "stage");
        fs::write(dir.join("stage.json.tmp-123"), "{").expect("write");
        fs::write(dir.join("stage.json.tmp-456"), "").expect("write");
        fs::write(dir.join("camera.json.tmp-1"), "").expect("write");
        assert_eq!(file.remove_leftovers(), 2);
        assert!(
            dir.join("camera.json.tmp-1").exists(),
            "another thing's file is left alone"
        );
        let _ = fs::remove_dir_all(dir);
    }

    #[test]
    fn truncated_file_is_corrupt_and_can_be_kept() {
        let dir = scratch("corrupt");
        let file = SettingsFile::new(&dir, "stage");
        fs::write(file.path(), "{\"speed\": 3").expect("write");
        assert!(matches!(file.load(), Ok(Loaded::Corrupt(_))));
        let copy = file.keep_bad_copy().expect("copy");
        assert_eq!(fs::read_to_string(copy).expect("copy exists"), "{\"speed\": 3");
        let _ = fs::remove_dir_all(dir);
    }
}
