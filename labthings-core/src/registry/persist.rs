//! Settings: restored from, and saved to, the thing's settings file.

use std::path::Path;
use std::sync::{Arc, Weak};

use serde_json::Value;

use super::ThingInstance;
use super::erased::guarded;
use super::properties::PropertyWriteError;
use crate::descriptor::WriteError;
use crate::failure::Failure;
use crate::settings::{Loaded, SettingsFile};

thread_local! {
    /// Set while this thread writes a setting it has already saved: the
    /// change listener must not save (and lock the file) again.
    static SAVED_ALREADY: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

impl ThingInstance {
    /// Change setting number `index` to `value` with `apply`, saving it
    /// first: if the file cannot be written the change is refused and the
    /// value left as it was; if `apply` fails, the file is put back. The
    /// file stays locked throughout, so file and memory agree.
    pub(super) fn write_setting(
        &self,
        index: usize,
        value: Value,
        apply: impl FnOnce() -> Result<(), PropertyWriteError>,
    ) -> Result<(), PropertyWriteError> {
        let Some(file) = self.settings.get() else {
            return apply();
        };
        let name = self.properties.get(index).map_or("?", |p| p.name);
        let mut writer = file.lock();
        let old = self.setting_values();
        let mut new = old.clone();
        new.insert(name.to_owned(), value);
        if let Err(e) = writer.write(&new) {
            // The file's place on the server is for the log, not the client.
            tracing::error!(
                "setting `{name}` of `{}` not changed: cannot write {}: {e}",
                self.name,
                file.path().display()
            );
            return Err(PropertyWriteError::Failed(Failure::error(
                "SettingNotSaved",
                format!(
                    "setting `{name}` of `{}` was not changed: it could not be saved ({e}); the server's log says more",
                    self.name
                ),
            )));
        }
        SAVED_ALREADY.with(|s| s.set(true));
        let applied = apply();
        SAVED_ALREADY.with(|s| s.set(false));
        if applied.is_err()
            && let Err(e) = writer.write(&old)
        {
            tracing::error!("could not put back settings file {}: {e}", file.path().display());
        }
        applied
    }

    /// The current value of every setting, by name.
    fn setting_values(&self) -> serde_json::Map<String, Value> {
        let mut values = serde_json::Map::new();
        for (index, property) in self.properties.iter().enumerate() {
            if property.setting {
                match self.read_property(index) {
                    Ok(value) => {
                        values.insert(property.name.to_owned(), value);
                    }
                    Err(e) => tracing::warn!("setting `{}` of `{}` not saved: {e}", property.name, self.name),
                }
            }
        }
        values
    }

    /// Restore this Thing's settings from `{dir}/{name}.json` and save them
    /// there on every change from now on. Problems with the file are logged
    /// as warnings naming the file and field; a bad file is copied aside
    /// before it can be overwritten.
    ///
    /// The warnings are also kept ([`settings_warnings`](Self::settings_warnings)):
    /// settings load when the server is built, often before logging is set
    /// up, so the server logs them again when it starts and shows them in
    /// the control panel.
    pub fn attach_settings(self: &Arc<Self>, dir: &Path) {
        let file = SettingsFile::new(dir, &self.name);
        let path = file.path().display().to_string();
        let warn = |message: String| {
            tracing::warn!("{message}");
            self.settings_warnings.lock().push(message);
        };
        let leftovers = file.remove_leftovers();
        if leftovers > 0 {
            tracing::info!("removed {leftovers} temporary file(s) of interrupted writes of {path}");
        }
        let mut keep_copy = false;
        let mut converted = None;
        let loaded = match file.load() {
            // None of ours yet: a lab moving from LabThings-FastAPI keeps its
            // calibrations. Its file is read once, converted into ours on the
            // first save below, and left where it was.
            Ok(Loaded::Missing) => match file.original_file() {
                Some(original) => {
                    let loaded = SettingsFile::load_original(&original);
                    converted = Some(original);
                    loaded
                }
                None => Ok(Loaded::Missing),
            },
            other => other,
        };
        let from_original = converted.is_some();
        match loaded {
            Ok(Loaded::Missing) => {}
            Ok(Loaded::Corrupt(why)) => {
                warn(format!(
                    "settings file {path} is corrupt ({why}); using defaults for thing `{}`",
                    self.name
                ));
                keep_copy = true;
            }
            Err(e) => warn(format!("cannot read settings file {path}: {e}; using defaults")),
            Ok(Loaded::Values(values)) => {
                for (key, value) in values {
                    if let Err(why) = self.restore_setting(&key, value) {
                        warn(format!("settings file {path}: field `{key}` {why}; using its default"));
                        keep_copy = true;
                    }
                }
            }
        }
        // A file of the original's that could not be used is left as it
        // is; ours does not exist yet, so there is nothing to copy.
        if keep_copy && !from_original {
            match file.keep_bad_copy() {
                Ok(copy) => warn(format!("kept a copy of the bad settings file at {}", copy.display())),
                Err(e) => warn(format!("could not copy the bad settings file {path}: {e}")),
            }
        }
        let _ = self.settings.set(file);
        if let Some(original) = converted {
            self.save_settings();
            tracing::info!(
                "converted LabThings-FastAPI's settings file {} of `{}` into {path} (the old file is kept)",
                original.display(),
                self.name
            );
        }
        let weak: Weak<Self> = Arc::downgrade(self);
        for (index, property) in self.properties.iter().enumerate() {
            if property.setting && property.data {
                let weak = weak.clone();
                self.on_property_change(
                    index,
                    Arc::new(move || {
                        if let Some(thing) = weak.upgrade() {
                            thing.save_settings();
                        }
                    }),
                );
            }
        }
        if keep_copy {
            self.save_settings();
        }
    }

    /// Put one saved value back, quietly for data properties.
    fn restore_setting(&self, key: &str, value: Value) -> Result<(), String> {
        let Some(index) = self.properties.iter().position(|p| p.name == key && p.setting) else {
            return Err("is not a setting of this thing".to_owned());
        };
        let problems = self.properties[index].validator.problems(&value, &[]);
        if let Some(problem) = problems.first() {
            return Err(format!("has a bad value {}: {}", problem.input, problem.msg));
        }
        match self.ops.data(index) {
            Some(data) => data.restore_json(value).map_err(|e| e.to_string()),
            None => match guarded(|| Ok(self.ops.write(index, value))) {
                Ok(Ok(())) => Ok(()),
                Ok(Err(WriteError::Invalid(e))) => Err(e.to_string()),
                Ok(Err(WriteError::Failed(f))) | Err(f) => Err(f.to_string()),
            },
        }
    }

    /// Problems found with the settings file when it was loaded (empty if
    /// none), each a sentence naming the file and the field.
    pub fn settings_warnings(&self) -> Vec<String> {
        self.settings_warnings.lock().clone()
    }

    /// Write every setting of this Thing to its file (if settings are
    /// attached): the file is locked before the values are read, so
    /// concurrent saves end with the newest values. Device code changing a
    /// data setting saves through here; a failure is logged as an error (a
    /// client's write is refused instead, see `write_property`).
    pub fn save_settings(&self) {
        let Some(file) = self.settings.get() else { return };
        if SAVED_ALREADY.with(std::cell::Cell::get) {
            return;
        }
        if let Err(e) = file.save_with(|| Ok(self.setting_values())) {
            tracing::error!(
                "could not save the settings of `{}` to {}: {e}; the change is lost at restart",
                self.name,
                file.path().display()
            );
        }
    }
}
