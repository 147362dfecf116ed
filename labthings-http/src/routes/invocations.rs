//! `/action_invocations`: list, poll, cancel, and fetch outputs.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use labthings_core::{CancelError, Invocation, InvocationStatus};
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

use super::query_problem;
use crate::error::ApiError;
use crate::render;
use crate::state::{AppState, base_url};

/// Optional filters of `GET /action_invocations` (the TD's `queryallactions`
/// form names its thing).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListFilter {
    /// Only invocations of this thing.
    thing: Option<String>,
    /// Only invocations of actions with this name.
    action: Option<String>,
    /// How many of the oldest to skip.
    #[serde(default)]
    offset: u32,
    /// At most this many (and never more than `max_list`).
    limit: Option<u32>,
}

/// Which part of a long list to answer with: `?offset=` skips the oldest,
/// `?limit=` caps the count (the server's `max_list` caps it too).
#[derive(Debug, Default, Clone, Copy, Deserialize)]
pub(crate) struct Page {
    #[serde(default)]
    offset: u32,
    limit: Option<u32>,
}

/// `GET /action_invocations[?thing=..&action=..&offset=..&limit=..]`:
/// summaries of the invocations the filters select, oldest first, a page at
/// a time.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    filter: Result<Query<ListFilter>, QueryRejection>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let Query(filter) = filter.map_err(|rejection| query_problem(&rejection, "thing, action, offset, limit"))?;
    let all = state
        .lab
        .manager()
        .list(filter.thing.as_deref(), filter.action.as_deref());
    let page = Page {
        offset: filter.offset,
        limit: filter.limit,
    };
    Ok(page_response(&state, &headers, &all, page))
}

/// The summaries of one page of `all`, with `X-Total-Count` and, when more
/// follow, a `Link` header to the next page.
pub(crate) fn page_response(state: &AppState, headers: &HeaderMap, all: &[Arc<Invocation>], page: Page) -> Response {
    let base = base_url(state, headers);
    let limit = page
        .limit
        .map_or(usize::MAX, |l| l as usize)
        .min(state.config.limits.max_list);
    let start = (page.offset as usize).min(all.len());
    let end = start.saturating_add(limit).min(all.len());
    let list: Vec<Value> = all[start..end]
        .iter()
        .map(|i| render::invocation_json(i, &base, false))
        .collect();
    let mut response = Json(Value::Array(list)).into_response();
    let response_headers = response.headers_mut();
    response_headers.insert("x-total-count", HeaderValue::from(all.len()));
    if end < all.len() {
        let link = format!("<?offset={end}&limit={limit}>; rel=\"next\"");
        if let Ok(link) = HeaderValue::from_str(&link) {
            response_headers.insert(header::LINK, link);
        }
    }
    response
}

/// Parse an invocation id from the path (422 if malformed).
fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|e| {
        ApiError::invalid(
            "uuid_parsing",
            vec!["path".into(), "id".into()],
            format!("Input should be a valid UUID, {e}"),
            Value::from(raw),
        )
    })
}

fn find(state: &AppState, raw: &str) -> Result<Arc<Invocation>, ApiError> {
    let id = parse_id(raw)?;
    state
        .lab
        .manager()
        .get(id)
        .ok_or_else(|| ApiError::NotFound(format!("No action invocation found with ID {id}")))
}

/// `GET /action_invocations/{id}`: the whole invocation.
pub(crate) async fn get(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Value>, ApiError> {
    let invocation = find(&state, &id)?;
    Ok(Json(render::invocation_json(
        &invocation,
        &base_url(&state, &headers),
        true,
    )))
}

/// `GET /action_invocations/{id}/observe`: the invocation as server-sent
/// events, each time it changes, until it has finished.
pub(crate) async fn observe(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    // Subscribe before reading the state, so no change falls in between.
    let receiver = state.lab.hub().subscribe();
    let invocation = find(&state, &id)?;
    Ok(super::observe::invocation(
        receiver,
        invocation,
        base_url(&state, &headers),
        state.closing.clone(),
    ))
}

/// `DELETE /action_invocations/{id}`: ask a running invocation to stop.
pub(crate) async fn cancel(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    match state.lab.cancel(id) {
        Ok(()) => Ok(Json(Value::Null)),
        Err(e @ CancelError::NotFound(_)) => Err(ApiError::NotFound(e.to_string())),
        Err(e @ CancelError::Finished { .. }) => Err(ApiError::Unavailable(e.to_string())),
    }
}

/// `GET /action_invocations/{id}/output`: the output once completed (even a
/// falsy one such as `0` or `null`). A blob output is streamed with its
/// media type; blobs inside a JSON output are links.
pub(crate) async fn output(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let invocation = find(&state, &id)?;
    match invocation.status() {
        InvocationStatus::Completed => match invocation.output_blob() {
            Some(blob) => super::blobs::serve(blob).await,
            None => {
                let output = render::output_json(&invocation, &base_url(&state, &headers));
                Ok(Json(output.unwrap_or(Value::Null)).into_response())
            }
        },
        status @ (InvocationStatus::Pending | InvocationStatus::Running) => Err(ApiError::Unavailable(format!(
            "The invocation is {status} and has no output yet."
        ))),
        status => Err(ApiError::Unavailable(format!(
            "The invocation ended with status {status} and has no output."
        ))),
    }
}
