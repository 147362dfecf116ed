//! `[records]`: whether invocations are recorded on disk, where, and for how
//! long.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The `[records]` table of a server's configuration file.
///
/// ```
/// use labthings_store::RecordsConfig;
/// let config: RecordsConfig = toml::from_str("max_age_days = 7\nmax_size_mb = 200").unwrap();
/// assert!(config.enabled);
/// assert_eq!(config.max_bytes(), 200 * 1024 * 1024);
/// ```
#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
#[non_exhaustive]
pub struct RecordsConfig {
    /// Whether invocations are recorded on disk (default `true`); `false`
    /// keeps them in memory only, for their retention time, as
    /// LabThings-FastAPI does (a server on read-only storage).
    pub enabled: bool,
    /// The folder of the store (default: beside the settings folder,
    /// `records` for one named `settings`, else `{name}-records`). Created
    /// if missing.
    pub dir: Option<PathBuf>,
    /// How many days a finished invocation is kept (default 90).
    pub max_age_days: f64,
    /// How many megabytes (MiB) the records and their blobs may take on
    /// disk (default 1024); the oldest finished go first.
    pub max_size_mb: u64,
    /// What an invocation's end, once a client can see it, survives
    /// (default [`Survives::PowerCut`]).
    pub survives: Survives,
}

/// What a recorded end survives: how often the store waits for the disk.
///
/// ```
/// use labthings_store::{RecordsConfig, Survives};
/// let config: RecordsConfig = toml::from_str(r#"survives = "crash""#).unwrap();
/// assert_eq!(config.survives, Survives::Crash);
/// assert_eq!(RecordsConfig::default().survives, Survives::PowerCut);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Survives {
    /// A power cut or an operating system crash: each record and its blob
    /// files are synced to the disk before the end is shown (`"power-cut"`,
    /// the default).
    #[default]
    PowerCut,
    /// The server process dying (`kill -9`, a panic, an out-of-memory
    /// kill), but not a power cut or an operating system crash, which may
    /// lose the last moments' records and blobs; the store does not wait
    /// for the disk, so a busy server records more invocations a second
    /// (`"crash"`).
    Crash,
}

impl Default for RecordsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            dir: None,
            max_age_days: 90.0,
            max_size_mb: 1024,
            survives: Survives::PowerCut,
        }
    }
}

impl RecordsConfig {
    /// This configuration changed by `change`.
    pub fn with(mut self, change: impl FnOnce(&mut Self)) -> Self {
        change(&mut self);
        self
    }

    /// The folder of the store for a server whose settings are kept in
    /// `settings_dir`: the configured one, or else beside the settings
    /// folder (`records` for one named `settings`, else `{name}-records`,
    /// so servers with settings folders side by side get one each); none
    /// when recording is off or there is neither.
    ///
    /// ```
    /// use labthings_store::RecordsConfig;
    /// use std::path::{Path, PathBuf};
    /// let config = RecordsConfig::default();
    /// assert_eq!(config.folder(Some(Path::new("settings"))), Some(PathBuf::from("records")));
    /// assert_eq!(config.folder(Some(Path::new("lab/scope-1"))), Some(PathBuf::from("lab/scope-1-records")));
    /// assert_eq!(config.folder(None), None);
    /// ```
    pub fn folder(&self, settings_dir: Option<&Path>) -> Option<PathBuf> {
        if !self.enabled {
            return None;
        }
        if let Some(dir) = &self.dir {
            return Some(dir.clone());
        }
        let settings = settings_dir?;
        let name = match settings.file_name().and_then(|n| n.to_str()) {
            Some("settings") | None => "records".to_owned(),
            Some(name) => format!("{name}-records"),
        };
        Some(match settings.parent() {
            Some(parent) => parent.join(name),
            None => PathBuf::from(name),
        })
    }

    /// How long a finished invocation is kept.
    pub fn max_age(&self) -> Duration {
        let days = if self.max_age_days.is_finite() {
            self.max_age_days.max(0.0)
        } else {
            0.0
        };
        Duration::try_from_secs_f64(days * 86_400.0).unwrap_or(Duration::MAX)
    }

    /// How many bytes the records and blobs may take.
    pub fn max_bytes(&self) -> u64 {
        self.max_size_mb.saturating_mul(1024 * 1024)
    }
}
