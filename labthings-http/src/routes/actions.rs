//! `POST /{thing}/{action}` (invoke) and `GET /{thing}/{action}` (its invocations).
//!
//! Invoking answers in one of two shapes:
//!
//! * `POST /{thing}/{action}` answers `201 Created` with the invocation
//!   (LabThings-FastAPI's contract, docs/http-contract.md): the client polls it or follows
//!   its links. Quick actions are usually already finished in that answer.
//! * `POST /{thing}/{action}?return=output` waits until the action finishes
//!   and answers `200 OK` with its output, exactly as the TD's `output`
//!   schema declares it; a failed or cancelled action answers 500 with
//!   problem details. This is the TD's first `invokeaction` form, so generic
//!   WoT clients (node-wot) get the value the TD promises.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, MethodRouter, on};
use labthings_core::{Failure, InvocationStatus, InvokeError, Refusal, ThingInstance};
use serde::Deserialize;
use serde_json::Value;

use super::invocations::{Page, page_response};
use super::query_problem;
use crate::body::read_json;
use crate::error::ApiError;
use crate::render;
use crate::state::{AppState, base_url};

/// Serve invocations of action number `index` of `thing` on `method`.
pub(crate) fn invoke_handler(
    thing: &Arc<ThingInstance>,
    index: usize,
    method: MethodFilter,
) -> MethodRouter<Arc<AppState>> {
    let thing = thing.clone();
    on(
        method,
        move |State(state): State<Arc<AppState>>,
              query: Result<Query<InvokeQuery>, QueryRejection>,
              headers: HeaderMap,
              body: Body| { invoke(state, thing, index, query, headers, body) },
    )
}

/// Serve the list of action number `index`'s invocations on `method`.
pub(crate) fn list_handler(
    thing: &Arc<ThingInstance>,
    index: usize,
    method: MethodFilter,
) -> MethodRouter<Arc<AppState>> {
    let thing = thing.clone();
    on(
        method,
        move |State(state): State<Arc<AppState>>, page: Result<Query<Page>, QueryRejection>, headers: HeaderMap| async move {
            let Query(page) = page.map_err(|rejection| query_problem(&rejection, "offset, limit"))?;
            let name = thing.actions().get(index).map(|a| a.name);
            let all = state.lab.manager().list(Some(thing.name()), name);
            Ok::<_, ApiError>(page_response(&state, &headers, &all, page))
        },
    )
}

/// What the client asked the answer to hold: `?return=invocation` (the
/// default) or `?return=output`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Answer {
    /// 201 with the invocation.
    #[default]
    Invocation,
    /// 200 with the output, once the action has finished.
    Output,
}

/// The query parameters of an invocation. Others are ignored, as the
/// original ignores them.
#[derive(Debug, Default, Deserialize)]
struct InvokeQuery {
    #[serde(rename = "return", default)]
    answer: Answer,
}

/// Validate the input, start the invocation and answer with it (201) or,
/// for `?return=output`, with its output once it has finished (200).
async fn invoke(
    state: Arc<AppState>,
    thing: Arc<ThingInstance>,
    index: usize,
    query: Result<Query<InvokeQuery>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Query(InvokeQuery { answer }) = query.map_err(|rejection| query_problem(&rejection, "return"))?;
    let mut input = read_json(
        &headers,
        body,
        state.config.limits.body_limit,
        state.config.limits.body_read_timeout,
    )
    .await?;
    let base = base_url(&state, &headers);
    render::blob_links_to_uris(&mut input, &base);
    let invocation = state
        .lab
        .invoke(&thing, index, input)
        .map_err(|refused| match refused {
            Refusal::Invalid(problems) => ApiError::invalid_body(problems),
            Refusal::NoSuchAction { .. } => ApiError::NotFound(refused.to_string()),
            Refusal::NotStarted(InvokeError::Busy { .. }) => ApiError::Conflict(refused.to_string()),
            Refusal::NotStarted(InvokeError::Overloaded { .. } | InvokeError::ShuttingDown) => ApiError::TryLater {
                detail: refused.to_string(),
                retry_after_secs: 1,
            },
        })?;
    let mut response = match answer {
        Answer::Output => {
            // If the client goes away, this future is dropped: the invocation
            // runs on and stays listed under /action_invocations.
            let status = invocation.finished().await;
            match (status, invocation.error()) {
                (InvocationStatus::Completed, _) => {
                    let output = render::output_json(&invocation, &base).unwrap_or(Value::Null);
                    (StatusCode::OK, Json(output)).into_response()
                }
                (_, Some(Failure::BadRequest { detail })) => {
                    ApiError::refused(&detail, invocation.input().clone()).into_response()
                }
                (_, Some(failure)) => ApiError::device(&failure).into_response(),
                (status, None) => ApiError::Unavailable(format!("the invocation ended as {status}")).into_response(),
            }
        }
        Answer::Invocation => {
            let wait = state.config.limits.invoke_wait;
            if !wait.is_zero() {
                let _ = tokio::time::timeout(wait, invocation.finished()).await;
            }
            (
                StatusCode::CREATED,
                Json(render::invocation_json(&invocation, &base, true)),
            )
                .into_response()
        }
    };
    let location = render::invocation_url(&base, invocation.id());
    if let Ok(location) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}
