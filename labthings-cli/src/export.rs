//! `labthings export SERVER`: the server's record of invocations
//! (`/records`, `[records]`) saved as a folder, one sub-folder per
//! invocation (`record.json`: everything recorded, with the states of the
//! things when it started; `invocation.json`: as the API shows it;
//! `blobs/`: its blob files), or as Bluesky event-model documents in one
//! JSON file. Each invocation is fetched on its own, so no answer is larger
//! than one invocation and its blobs.

use std::path::{Path, PathBuf};

use labthings_client::{ClientError, Connection};
use serde_json::Value;

/// What to export, as `/records` filters it.
#[derive(Debug, Default, Clone, clap::Args)]
pub(crate) struct Filter {
    /// Only the invocation with this id.
    #[arg(long)]
    id: Option<String>,
    /// Only invocations of this thing.
    #[arg(long)]
    thing: Option<String>,
    /// Only invocations of actions with this name.
    #[arg(long)]
    action: Option<String>,
    /// Only invocations with this status (completed, error, cancelled, ...).
    #[arg(long)]
    status: Option<String>,
    /// Only invocations this user asked for.
    #[arg(long)]
    user: Option<String>,
    /// Only invocations requested at or after this time (RFC 3339, e.g.
    /// 2026-12-07T09:00:00Z).
    #[arg(long)]
    since: Option<String>,
    /// Only invocations requested before this time (RFC 3339).
    #[arg(long)]
    until: Option<String>,
}

impl Filter {
    /// The filter as query parameters.
    fn pairs(&self) -> Vec<(&'static str, String)> {
        let named = [
            ("id", &self.id),
            ("thing", &self.thing),
            ("action", &self.action),
            ("status", &self.status),
            ("user", &self.user),
            ("since", &self.since),
            ("until", &self.until),
        ];
        named
            .into_iter()
            .filter_map(|(name, value)| value.clone().map(|v| (name, v)))
            .collect()
    }
}

/// `base` + `path` + the query of `pairs`.
fn url(base: &str, path: &str, pairs: &[(&str, String)]) -> String {
    let query: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={}", encode(v))).collect();
    format!("{}/{path}?{}", base.trim_end_matches('/'), query.join("&"))
}

/// `text` percent-encoded for a query value.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The ids of the recorded invocations `filter` selects, following the
/// listing a page at a time (the cursor of a page is its last invocation's
/// request time, in microseconds since 1970, and its id).
async fn ids(connection: &Connection, base: &str, filter: &Filter) -> Result<Vec<String>, ClientError> {
    let mut ids = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut pairs = filter.pairs();
        if let Some(after) = &after {
            pairs.push(("after", after.clone()));
        }
        let listing = url(base, "records", &pairs);
        let (_, body) = connection
            .request(labthings_client::Method::GET, &listing, None)
            .await?;
        let page: Vec<Value> = serde_json::from_slice(&body)
            .map_err(|e| ClientError::Protocol(format!("{listing} did not answer a JSON list: {e}")))?;
        let Some(last) = page.last() else { break };
        let (Some(id), Some(requested)) = (last["id"].as_str(), last["timeRequested"].as_str()) else {
            return Err(ClientError::Protocol(format!(
                "{listing} listed an invocation without id or time"
            )));
        };
        let micros = chrono::DateTime::parse_from_rfc3339(requested)
            .map_err(|e| ClientError::Protocol(format!("{listing} listed a time that does not read: {e}")))?
            .timestamp_micros();
        after = Some(format!("{micros}_{id}"));
        ids.extend(page.iter().filter_map(|i| i["id"].as_str().map(str::to_owned)));
        if filter.id.is_some() {
            break;
        }
    }
    Ok(ids)
}

/// The largest answer for one invocation: its record and blobs.
const ONE_INVOCATION: usize = 4 << 30;

/// Save what `filter` selects on the server at `base` as `format`
/// (`archive`: a folder at `out`; `event-model`: a JSON file at `out`, or
/// standard output). Says on stderr how many were saved.
pub(crate) async fn run(
    connection: &Connection,
    base: &str,
    filter: &Filter,
    format: &str,
    out: Option<PathBuf>,
) -> Result<(), ClientError> {
    let ids = ids(connection, base, filter).await?;
    match format {
        "archive" => {
            let folder = out.unwrap_or_else(|| PathBuf::from("labthings-records"));
            std::fs::create_dir_all(&folder).map_err(|e| io(&folder, &e))?;
            for id in &ids {
                let one = url(base, "records/export", &[("id", id.clone())]);
                let bytes = connection.download(&one, ONE_INVOCATION).await?;
                unpack(&bytes, &folder, id)?;
            }
            let index = serde_json::json!({"invocations": ids, "server": base});
            let index_path = folder.join("index.json");
            std::fs::write(&index_path, serde_json::to_vec_pretty(&index).unwrap_or_default())
                .map_err(|e| io(&index_path, &e))?;
            eprintln!("{} invocations saved in {}", ids.len(), folder.display());
        }
        "event-model" => {
            let mut documents = Vec::new();
            for id in &ids {
                let one = url(base, "records/event-model", &[("id", id.clone())]);
                let (_, body) = connection.request(labthings_client::Method::GET, &one, None).await?;
                let list: Vec<Value> = serde_json::from_slice(&body)
                    .map_err(|e| ClientError::Protocol(format!("{one} did not answer a JSON list: {e}")))?;
                documents.extend(list);
            }
            let text = serde_json::to_string_pretty(&Value::Array(documents)).unwrap_or_default();
            match out {
                Some(path) => {
                    std::fs::write(&path, text).map_err(|e| io(&path, &e))?;
                    eprintln!("{} invocations saved in {}", ids.len(), path.display());
                }
                None => println!("{text}"),
            }
        }
        other => {
            return Err(ClientError::Protocol(format!(
                "--format {other}: use `archive` (a folder) or `event-model` (Bluesky documents)"
            )));
        }
    }
    Ok(())
}

fn io(path: &Path, e: &std::io::Error) -> ClientError {
    ClientError::Protocol(format!("{}: {e}", path.display()))
}

/// Unpack the archive of invocation `id` into `folder`: only its own
/// sub-folder (`{id}/...`); any other path in it is refused.
fn unpack(bytes: &[u8], folder: &Path, id: &str) -> Result<(), ClientError> {
    let mut archive = tar::Archive::new(bytes);
    let entries = archive
        .entries()
        .map_err(|e| ClientError::Protocol(format!("the archive of {id} does not read: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| ClientError::Protocol(format!("the archive of {id} does not read: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| ClientError::Protocol(format!("the archive of {id} names a bad path: {e}")))?
            .into_owned();
        if path == Path::new("index.json") {
            continue;
        }
        if !path.starts_with(id) {
            return Err(ClientError::Protocol(format!(
                "the archive of {id} holds {}, outside its folder",
                path.display()
            )));
        }
        // `unpack_in` refuses `..` and absolute paths as well.
        entry.unpack_in(folder).map_err(|e| io(&folder.join(&path), &e))?;
    }
    Ok(())
}
