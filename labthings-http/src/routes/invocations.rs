//! `/action_invocations`: list, poll, cancel, and fetch outputs.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use labthings_core::approval::ApprovalError;
use labthings_core::{CancelError, Invocation, InvocationStatus, ThingInstance};
use labthings_td::Operation;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{Map, Value, json};
use uuid::Uuid;

use super::Params;
use crate::binding::{Access, Affordance, Form, INVOCATIONS, Route, ServerKind, form};
use crate::caller::CallerOf;
use crate::error::ApiError;
use crate::openapi::{component, event_stream, id_parameter, json_response, listed, object, query_parameters};
use crate::render;
use crate::state::{AppState, base_url};

/// Optional filters of `GET /action_invocations` (the TD's `queryallactions`
/// form names its thing).
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListFilter {
    /// Only invocations of the thing with this name.
    thing: Option<String>,
    /// Only invocations of actions with this name.
    action: Option<String>,
    /// Skip this many of the oldest.
    #[serde(default)]
    #[schemars(range(max = u32::MAX))]
    offset: u32,
    /// At most this many (the server caps it, 1000 by default).
    #[schemars(range(max = u32::MAX))]
    limit: Option<u32>,
}

/// Which part of a long list to answer with: `?offset=` skips the oldest,
/// `?limit=` caps the count (the server's `max_list` caps it too).
#[derive(Debug, Default, Clone, Copy, Deserialize, JsonSchema)]
pub(crate) struct Page {
    /// Skip this many of the oldest.
    #[serde(default)]
    #[schemars(range(max = u32::MAX))]
    offset: u32,
    /// At most this many (the server caps it, 1000 by default).
    #[schemars(range(max = u32::MAX))]
    limit: Option<u32>,
}

/// `GET /action_invocations[?thing=..&action=..&offset=..&limit=..]`:
/// summaries of the invocations the filters select, oldest first, a page at
/// a time.
pub(crate) async fn list(
    State(state): State<Arc<AppState>>,
    Params(filter): Params<ListFilter>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
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
    let invocation = find(&state, &id)?;
    Ok(super::observe::invocation(
        state.lab.hub(),
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

/// `GET /action_invocations`: every invocation, filtered and a page at a time.
pub(crate) struct List;

impl ServerKind for List {
    const ERRORS: &'static [u16] = &[422];

    fn path() -> String {
        format!("/{INVOCATIONS}")
    }

    fn forms(things: &[&ThingInstance]) -> Vec<Form> {
        let list = |(t, thing): (usize, &&ThingInstance)| Form {
            method_name: true,
            additional: Some("invocationList"),
            ..form(
                t,
                Affordance::Thing,
                format!("{INVOCATIONS}?thing={}", thing.name()),
                &[Operation::QueryAllActions],
            )
        };
        things.iter().enumerate().map(list).collect()
    }

    fn handler(method: MethodFilter) -> Route {
        on(method, list)
    }

    fn operation() -> Map<String, Value> {
        object(
            json!({"tags": ["server"], "operationId": "action_invocations", "summary": "Every invocation, oldest first",
            "parameters": query_parameters::<ListFilter>(), "responses": {"200": listed()}}),
        )
    }
}

/// The forms of every action of every thing for `op`, with the method
/// named.
fn action_forms(things: &[&ThingInstance], op: &'static [Operation], tweak: impl Fn(Form) -> Form) -> Vec<Form> {
    let mut forms = Vec::new();
    for (t, thing) in things.iter().enumerate() {
        for a in 0..thing.actions().len() {
            let href = format!("/{INVOCATIONS}/{{id}}");
            forms.push(tweak(Form {
                method_name: true,
                ..form(t, Affordance::Action(a), href, op)
            }));
        }
    }
    forms
}

/// `GET /action_invocations/{id}`: one invocation, whole.
pub(crate) struct One;

impl ServerKind for One {
    const ERRORS: &'static [u16] = &[404, 422];

    fn path() -> String {
        format!("/{INVOCATIONS}/{{id}}")
    }

    fn forms(things: &[&ThingInstance]) -> Vec<Form> {
        action_forms(things, &[Operation::QueryAction], |form| Form {
            additional: Some("invocation"),
            ..form
        })
    }

    fn handler(method: MethodFilter) -> Route {
        on(method, get)
    }

    fn operation() -> Map<String, Value> {
        object(
            json!({"tags": ["server"], "operationId": "invocation", "summary": "One invocation, whole",
            "parameters": id_parameter(),
            "responses": {"200": json_response("The invocation", component("Invocation"))}}),
        )
    }
}

/// `DELETE /action_invocations/{id}`: cancel a running invocation.
pub(crate) struct Cancel;

impl ServerKind for Cancel {
    const METHOD: Method = Method::DELETE;
    const ERRORS: &'static [u16] = &[404, 422, 503];
    const ACCESS: Access = Access::Operate;

    fn path() -> String {
        format!("/{INVOCATIONS}/{{id}}")
    }

    fn forms(things: &[&ThingInstance]) -> Vec<Form> {
        action_forms(things, &[Operation::CancelAction], |form| Form { json: false, ..form })
    }

    fn handler(method: MethodFilter) -> Route {
        on(method, cancel)
    }

    fn operation() -> Map<String, Value> {
        object(json!({"tags": ["server"], "operationId": "cancel_invocation",
            "summary": "Cancel a running invocation", "parameters": id_parameter(),
            "responses": {"200": json_response("Cancellation requested", json!({"type": "null"}))}}))
    }
}

/// `POST /action_invocations/{id}/approve`: let a call awaiting an
/// operator's approval run.
pub(crate) struct Approve;

impl ServerKind for Approve {
    const METHOD: Method = Method::POST;
    const ERRORS: &'static [u16] = &[403, 404, 409, 422];
    const ACCESS: Access = Access::Operate;

    fn path() -> String {
        format!("/{INVOCATIONS}/{{id}}/approve")
    }

    fn handler(method: MethodFilter) -> Route {
        on(method, |state, id, caller, headers| {
            decide(state, id, caller, headers, Decision::Approve)
        })
    }

    fn operation() -> Map<String, Value> {
        object(json!({"tags": ["server"], "operationId": "approve_invocation",
            "summary": "Approve a call awaiting an operator (not your own)", "parameters": id_parameter(),
            "responses": {"200": json_response("The invocation, approved", json!({"type": "object"}))}}))
    }
}

/// `POST /action_invocations/{id}/reject`: end a call awaiting an
/// operator's approval without running it.
pub(crate) struct Reject;

impl ServerKind for Reject {
    const METHOD: Method = Method::POST;
    const ERRORS: &'static [u16] = &[403, 404, 409, 422];
    const ACCESS: Access = Access::Operate;

    fn path() -> String {
        format!("/{INVOCATIONS}/{{id}}/reject")
    }

    fn handler(method: MethodFilter) -> Route {
        on(method, |state, id, caller, headers| {
            decide(state, id, caller, headers, Decision::Reject)
        })
    }

    fn operation() -> Map<String, Value> {
        object(json!({"tags": ["server"], "operationId": "reject_invocation",
            "summary": "Reject a call awaiting an operator (not your own)", "parameters": id_parameter(),
            "responses": {"200": json_response("The invocation, rejected", json!({"type": "object"}))}}))
    }
}

/// What an operator decided.
#[derive(Clone, Copy)]
enum Decision {
    Approve,
    Reject,
}

/// Approve or reject invocation `id` as the request's caller; the
/// invocation as it now is.
async fn decide(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    CallerOf(caller): CallerOf,
    headers: HeaderMap,
    decision: Decision,
) -> Result<Json<Value>, ApiError> {
    let id = parse_id(&id)?;
    let decided = match decision {
        Decision::Approve => state.lab.approve(id, &caller),
        Decision::Reject => state.lab.reject(id, &caller),
    };
    match decided {
        Ok(invocation) => Ok(Json(render::invocation_json(
            &invocation,
            &base_url(&state, &headers),
            false,
        ))),
        Err(e @ ApprovalError::NotFound(_)) => Err(ApiError::NotFound(e.to_string())),
        Err(e @ ApprovalError::OwnCall(_)) => Err(ApiError::Forbidden(e.to_string())),
        Err(e) => Err(ApiError::Conflict(e.to_string())),
    }
}

/// `GET /action_invocations/{id}/output`: the output of a completed invocation.
pub(crate) struct Output;

impl ServerKind for Output {
    const ERRORS: &'static [u16] = &[404, 422, 503];

    fn path() -> String {
        format!("/{INVOCATIONS}/{{id}}/output")
    }

    fn handler(method: MethodFilter) -> Route {
        on(method, output)
    }

    fn operation() -> Map<String, Value> {
        object(json!({"tags": ["server"], "operationId": "invocation_output",
            "summary": "The output of a completed invocation", "parameters": id_parameter(),
            "responses": {"200": {"description": "The output (JSON), or a blob's bytes with the blob's own media type",
                "content": {"application/json": {}, "*/*": {}}}}}))
    }
}

/// `GET /action_invocations/{id}/observe`: the invocation as Server-Sent
/// Events until it ends.
pub(crate) struct Observe;

impl ServerKind for Observe {
    const ERRORS: &'static [u16] = &[404, 422];

    fn path() -> String {
        format!("/{INVOCATIONS}/{{id}}/observe")
    }

    fn handler(method: MethodFilter) -> Route {
        on(method, observe)
    }

    fn operation() -> Map<String, Value> {
        let mut operation = event_stream(
            &json!(["server"]),
            "observe_invocation".to_owned(),
            "The whole invocation now, again each time it changes (status, progress, intermediate results; a few \
             times a second at most), and when it has finished; then the stream ends",
        );
        operation.insert("parameters".into(), id_parameter());
        operation
    }
}
