//! `/records`: the durable record of every invocation (feature `records`,
//! `[records]`): listed by thing, action, status, user and time, a page at a
//! time, and exported as an archive of JSON and blob files
//! (`/records/export`) or as Bluesky event-model documents
//! (`/records/event-model`).

use std::io::{Seek, Write};
use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use labthings_core::InvocationStatus;
use labthings_core::record::{RecordQuery, RecordStore};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Params;
use crate::binding::{RECORDS, Route, ServerKind};
use crate::error::ApiError;
use crate::openapi::{listed, object, query_parameters};
use crate::peer::ClientAddr;
use crate::render;
use crate::state::{AppState, base_url};

/// The filters of `GET /records`, `GET /records/export` and
/// `GET /records/event-model`.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RecordFilter {
    /// Only the invocation with this id.
    #[schemars(extend("format" = "uuid"))]
    id: Option<String>,
    /// Only invocations of the thing with this name.
    thing: Option<String>,
    /// Only invocations of actions with this name.
    action: Option<String>,
    /// Only invocations with this status: `pending`, `running`,
    /// `completed`, `cancelled` or `error`.
    #[schemars(extend("enum" = ["pending", "running", "completed", "cancelled", "error"]))]
    status: Option<String>,
    /// Only invocations this user asked for (`anonymous` for callers
    /// without a user name).
    user: Option<String>,
    /// Only invocations requested at or after this time (RFC 3339, e.g.
    /// `2026-12-07T09:00:00Z`).
    #[schemars(extend("format" = "date-time"))]
    since: Option<String>,
    /// Only invocations requested before this time (RFC 3339).
    #[schemars(extend("format" = "date-time"))]
    until: Option<String>,
    /// Only invocations after this cursor: the `next` link of the previous
    /// page carries it (the last invocation's request time, in microseconds
    /// since 1970, and its id).
    #[schemars(regex(
        pattern = r"^[0-9]{1,18}_[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    after: Option<String>,
    /// At most this many (the server caps it, 1000 by default).
    #[schemars(range(max = u32::MAX))]
    limit: Option<u32>,
}

/// `GET /records`: the recorded invocations the filters select.
pub(crate) struct List;

impl ServerKind for List {
    const ERRORS: &'static [u16] = &[404, 422, 503];

    fn path() -> String {
        format!("/{RECORDS}")
    }

    fn handler(method: MethodFilter) -> Route {
        on(method, list)
    }

    fn operation() -> Map<String, Value> {
        object(json!({
            "tags": ["server"], "operationId": "records",
            "summary": "Every recorded invocation the filters select, oldest request first, a page at a time (a `Link: rel=\"next\"` header while more follow)",
            "parameters": query_parameters::<RecordFilter>(), "responses": {"200": listed()}}))
    }
}

/// `GET /records/export`: the recorded invocations the filters select, as
/// a tar archive of JSON and blob files.
pub(crate) struct Export;

impl ServerKind for Export {
    const ERRORS: &'static [u16] = &[404, 422, 503];

    fn path() -> String {
        format!("/{RECORDS}/export")
    }

    fn handler(method: MethodFilter) -> Route {
        on(method, export)
    }

    fn operation() -> Map<String, Value> {
        object(json!({
            "tags": ["server"], "operationId": "records_export",
            "summary": "The recorded invocations the filters select, as a tar archive: `index.json` and, per invocation, `record.json`, `invocation.json` and its blob files",
            "parameters": query_parameters::<RecordFilter>(),
            "responses": {"200": {"description": "The archive", "content": {"application/x-tar": {}}}}}))
    }
}

/// `GET /records/event-model`: the recorded invocations the filters
/// select, as Bluesky event-model documents.
pub(crate) struct EventModel;

impl ServerKind for EventModel {
    const ERRORS: &'static [u16] = &[404, 422, 503];

    fn path() -> String {
        format!("/{RECORDS}/event-model")
    }

    fn handler(method: MethodFilter) -> Route {
        on(method, event_model)
    }

    fn operation() -> Map<String, Value> {
        object(json!({
            "tags": ["server"], "operationId": "records_event_model",
            "summary": "The recorded invocations the filters select, as Bluesky event-model documents: `[name, document]` pairs (start, descriptors, events, stop per invocation)",
            "parameters": query_parameters::<RecordFilter>(),
            "responses": {"200": {"description": "The documents",
                "content": {"application/json": {"schema": {"type": "array", "items": {"type": "array"}}}}}}}))
    }
}

/// A 422 for the query parameter `name` given as `input`.
fn bad(name: &str, input: &str, message: impl Into<String>) -> ApiError {
    ApiError::invalid(
        "value_error",
        vec!["query".into(), name.into()],
        message,
        Value::from(input),
    )
}

fn time(name: &str, raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            bad(
                name,
                raw,
                format!("Input should be a time in RFC 3339, like 2026-12-07T09:00:00Z: {e}"),
            )
        })
}

/// A page cursor: when the last invocation of the page was requested (in
/// microseconds since 1970), and its id.
fn cursor(requested: DateTime<Utc>, id: Uuid) -> String {
    format!("{}_{id}", requested.timestamp_micros())
}

fn parse_cursor(raw: &str) -> Result<(DateTime<Utc>, Uuid), ApiError> {
    let invalid = || bad("after", raw, "Input should be a cursor from a `next` link");
    let (micros, id) = raw.split_once('_').ok_or_else(invalid)?;
    let requested = micros
        .parse::<i64>()
        .ok()
        .and_then(DateTime::from_timestamp_micros)
        .ok_or_else(invalid)?;
    let id = Uuid::parse_str(id).map_err(|_| invalid())?;
    Ok((requested, id))
}

/// The store, or a 404 saying the server keeps none.
fn store(state: &AppState) -> Result<Arc<dyn RecordStore>, ApiError> {
    state.lab.manager().store().cloned().ok_or_else(|| {
        ApiError::NotFound(
            "this server keeps no record of invocations beyond memory (`[records] enabled = false`, or settings \
             kept in memory and no `[records] dir`)"
                .into(),
        )
    })
}

/// What the filters select: the ids, and the cursor of the next page if
/// more follow.
fn select(
    state: &AppState,
    store: &dyn RecordStore,
    filter: &RecordFilter,
) -> Result<(Vec<Uuid>, Option<String>), ApiError> {
    if let Some(raw) = &filter.id {
        let id = Uuid::parse_str(raw).map_err(|e| bad("id", raw, format!("Input should be a valid UUID, {e}")))?;
        return match store.get(id) {
            Some(_) => Ok((vec![id], None)),
            None => Err(ApiError::NotFound(format!("No recorded invocation with ID {id}"))),
        };
    }
    let status = match &filter.status {
        None => None,
        Some(raw) => Some(
            serde_json::from_value::<InvocationStatus>(Value::from(raw.as_str())).map_err(|_| {
                bad(
                    "status",
                    raw,
                    "Input should be 'pending', 'running', 'completed', 'cancelled' or 'error'",
                )
            })?,
        ),
    };
    let limit = filter
        .limit
        .map_or(usize::MAX, |l| l as usize)
        .min(state.config.limits.max_list)
        .max(1);
    let mut query = RecordQuery::default();
    query.thing = filter.thing.clone();
    query.action = filter.action.clone();
    query.status = status;
    query.user = filter.user.clone();
    query.since = filter.since.as_deref().map(|raw| time("since", raw)).transpose()?;
    query.until = filter.until.as_deref().map(|raw| time("until", raw)).transpose()?;
    query.after = filter.after.as_deref().map(parse_cursor).transpose()?;
    query.limit = limit.saturating_add(1);
    let mut found = store.query(&query).map_err(|e| ApiError::Unavailable(e.to_string()))?;
    let next = if found.len() > limit {
        found.truncate(limit);
        found.last().map(|(id, requested)| cursor(*requested, *id))
    } else {
        None
    };
    Ok((found.into_iter().map(|(id, _)| id).collect(), next))
}

/// The `next` link: this request's query with `after` set to `next`.
fn next_link(path: &str, raw_query: Option<&str>, next: &str) -> Option<String> {
    let mut pairs: Vec<(String, String)> = serde_urlencoded::from_str(raw_query.unwrap_or("")).ok()?;
    pairs.retain(|(k, _)| k != "after");
    pairs.push(("after".into(), next.to_owned()));
    Some(format!("{path}?{}", serde_urlencoded::to_string(pairs).ok()?))
}

fn with_next(mut response: Response, link: Option<String>) -> Response {
    if let Some(link) = link
        && let Ok(value) = HeaderValue::from_str(&format!("<{link}>; rel=\"next\""))
    {
        response.headers_mut().insert(header::LINK, value);
    }
    response
}

/// What `make` makes of the records `filter` selects, with the link to the
/// next page (the `path` under `/records` with this request's query, `raw`,
/// and the cursor). Reading the store blocks, so it all runs on a blocking
/// thread; `make` gets the ids and the link.
async fn page<T: Send + 'static>(
    state: &Arc<AppState>,
    filter: RecordFilter,
    raw: Option<String>,
    path: &str,
    make: impl FnOnce(&AppState, &dyn RecordStore, &[Uuid], Option<&str>) -> Result<T, ApiError> + Send + 'static,
) -> Result<(T, Option<String>), ApiError> {
    let store = store(state)?;
    let worker = state.clone();
    let link_path = format!("{}/{RECORDS}{path}", state.config.api_prefix);
    tokio::task::spawn_blocking(move || {
        let (ids, next) = select(&worker, &*store, &filter)?;
        let link = next.and_then(|next| next_link(&link_path, raw.as_deref(), &next));
        let made = make(&worker, &*store, &ids, link.as_deref())?;
        Ok((made, link))
    })
    .await
    .map_err(|e| ApiError::Unavailable(format!("reading the records failed: {e}")))?
}

/// `GET /records`: summaries, as `GET /action_invocations` gives them.
async fn list(
    State(state): State<Arc<AppState>>,
    Params(filter): Params<RecordFilter>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let base = base_url(&state, &headers);
    let (list, link) = page(&state, filter, raw, "", move |state, _, ids, _| {
        let manager = state.lab.manager();
        Ok(ids
            .iter()
            .filter_map(|id| manager.get(*id))
            .map(|invocation| render::invocation_json(&invocation, &base, false))
            .collect::<Vec<Value>>())
    })
    .await?;
    Ok(with_next(Json(Value::Array(list)).into_response(), link))
}

/// `GET /records/export`: the archive, made in a temporary file and
/// streamed from it.
async fn export(
    State(state): State<Arc<AppState>>,
    client: Option<Extension<ClientAddr>>,
    Params(filter): Params<RecordFilter>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Held until the archive has been sent: it takes disk while it is.
    let permit = state
        .exports
        .take(client.map(|Extension(ClientAddr(address))| address))?;
    let base = base_url(&state, &headers);
    let (file, link) = page(&state, filter, raw, "/export", move |state, store, ids, link| {
        archive(state, store, ids, link, &base)
            .map_err(|e| ApiError::Unavailable(format!("making the archive failed: {e}")))
    })
    .await?;
    let chunks = tokio_util::io::ReaderStream::new(tokio::fs::File::from_std(file)).map(move |chunk| {
        let _held = &permit;
        chunk
    });
    let body = Body::from_stream(chunks);
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/x-tar"));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"labthings-records.tar\""),
    );
    Ok(with_next(response, link))
}

/// How many archives are made or sent at once, server-wide.
const EXPORTS: usize = 4;

/// How many archives one client address may have made or sent at once.
const EXPORTS_PER_ADDRESS: usize = 1;

/// The bound on archives under way: each is a temporary file of up to
/// `max_list` invocations with their blobs, so few at once, and one client
/// cannot hold them all.
#[derive(Debug)]
pub(crate) struct Exports {
    all: Arc<tokio::sync::Semaphore>,
    each: Arc<crate::peer::PerAddress>,
}

impl Default for Exports {
    fn default() -> Self {
        Self {
            all: Arc::new(tokio::sync::Semaphore::new(EXPORTS)),
            each: crate::peer::PerAddress::new(EXPORTS_PER_ADDRESS, &[]),
        }
    }
}

/// One archive's place, held until it has been sent (or the client left).
struct ExportPermit {
    _all: tokio::sync::OwnedSemaphorePermit,
    _each: Option<crate::peer::Share>,
}

impl Exports {
    /// A place for an archive for `client` (none known: only the
    /// server-wide bound), or the 503 that says why not.
    fn take(&self, client: Option<std::net::IpAddr>) -> Result<ExportPermit, ApiError> {
        let busy = |detail: String| ApiError::TryLater {
            detail,
            retry_after_secs: 5,
        };
        let each = match client {
            Some(address) => Some(self.each.take(address).ok_or_else(|| {
                busy(format!(
                    "an archive for this client is still being made or sent; one at a time \
                     ({EXPORTS_PER_ADDRESS} per address): finish reading it, then ask again"
                ))
            })?),
            None => None,
        };
        let all = self.all.clone().try_acquire_owned().map_err(|_| {
            busy(format!(
                "{EXPORTS} archives are being made or sent already; ask again when one is done"
            ))
        })?;
        Ok(ExportPermit { _all: all, _each: each })
    }
}

/// `GET /records/event-model`: the documents of each selected record.
async fn event_model(
    State(state): State<Arc<AppState>>,
    Params(filter): Params<RecordFilter>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (documents, link) = page(&state, filter, raw, "/event-model", |_, store, ids, _| {
        Ok(ids
            .iter()
            .filter_map(|id| store.get(*id))
            .flat_map(|record| labthings_store::event_model::documents(&record))
            .collect::<Vec<Value>>())
    })
    .await?;
    Ok(with_next(Json(Value::Array(documents)).into_response(), link))
}

/// A tar archive of the records `ids`: `index.json`, and per invocation
/// `{id}/record.json` (everything recorded), `{id}/invocation.json` (as
/// the API shows it) and `{id}/blobs/{blob id}`.
fn archive(
    state: &AppState,
    store: &dyn RecordStore,
    ids: &[Uuid],
    next: Option<&str>,
    base: &str,
) -> std::io::Result<std::fs::File> {
    let mut builder = tar::Builder::new(tempfile::tempfile()?);
    let mut exported = Vec::new();
    for id in ids {
        let (Some(record), Some(invocation)) = (store.get(*id), state.lab.manager().get(*id)) else {
            continue;
        };
        append_json(
            &mut builder,
            &format!("{id}/record.json"),
            &serde_json::to_value(&record)?,
        )?;
        append_json(
            &mut builder,
            &format!("{id}/invocation.json"),
            &render::invocation_json(&invocation, base, true),
        )?;
        for blob in &record.blobs {
            if let Some(data) = store.blob(blob.id)
                && let labthings_core::blob::BlobContent::File { path, .. } = data.content()
            {
                builder.append_path_with_name(path, format!("{id}/blobs/{}", blob.id))?;
            }
        }
        exported.push(id.to_string());
    }
    let index = json!({"invocations": exported, "next": next, "exported": Utc::now()});
    append_json(&mut builder, "index.json", &index)?;
    let mut file = builder.into_inner()?;
    file.flush()?;
    file.rewind()?;
    Ok(file)
}

fn append_json(builder: &mut tar::Builder<std::fs::File>, name: &str, value: &Value) -> std::io::Result<()> {
    let bytes = serde_json::to_vec_pretty(value)?;
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(u64::try_from(Utc::now().timestamp()).unwrap_or(0));
    header.set_cksum();
    builder.append_data(&mut header, name, bytes.as_slice())
}
