//! `POST /{thing}/{action}` (invoke) and `GET /{thing}/{action}` (its invocations).
//!
//! Invoking answers in one of two shapes:
//!
//! * `POST /{thing}/{action}` answers `201 Created` with the invocation
//!   (LabThings-FastAPI's contract, guide/src/http-contract.md): the client polls it or follows
//!   its links. Quick actions are usually already finished in that answer.
//! * `POST /{thing}/{action}?return=output` waits until the action finishes
//!   and answers `200 OK` with its output, exactly as the TD's `output`
//!   schema declares it; a failed or cancelled action answers 500 with
//!   problem details. This is the TD's first `invokeaction` form, so generic
//!   WoT clients (node-wot) get the value the TD promises.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodFilter, on};
use labthings_core::{ActionInfo, Caller, Failure, InvocationStatus, InvokeError, Refusal, ThingInstance};
use labthings_td::Operation;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::Params;
use super::invocations::{Page, page_response};
use crate::binding::{Access, Affordance, Form, Route, ThingKind, form};
use crate::body::read_json;
use crate::caller::CallerOf;
use crate::error::ApiError;
use crate::openapi::{Schemas, component, describe, json_response, listed, object, query_parameters};
use crate::render;
use crate::state::{AppState, base_url};

/// `POST /{thing}/{action}`: invoke an action.
pub(crate) struct Invoke;

impl ThingKind for Invoke {
    const METHOD: Method = Method::POST;
    const ERRORS: &'static [u16] = &[400, 403, 408, 409, 413, 415, 422, 500, 503];
    const ACCESS: Access = Access::Operate;

    fn path(thing: &str, action: &str) -> String {
        format!("/{thing}/{action}")
    }

    fn forms(_: &ThingInstance, t: usize, item: usize, path: &str) -> Vec<Form> {
        let invoke = |href: String| Form {
            method_name: true,
            ..form(t, Affordance::Action(item), href, &[Operation::InvokeAction])
        };
        vec![
            // The form that waits and answers the output comes first:
            // generic WoT clients take the first form, and the TD promises
            // the output.
            invoke(format!("{path}?return=output")),
            // LabThings-FastAPI's own: 201 at once with the invocation.
            Form {
                additional: Some("invocation"),
                ..invoke(path.to_owned())
            },
        ]
    }

    fn handler(thing: &Arc<ThingInstance>, index: usize, method: MethodFilter) -> Route {
        let thing = thing.clone();
        on(
            method,
            move |State(state): State<Arc<AppState>>,
                  Params(query): Params<InvokeQuery>,
                  CallerOf(caller): CallerOf,
                  headers: HeaderMap,
                  body: Body| { invoke(state, thing, index, query.answer, caller, headers, body) },
        )
    }

    fn operation(thing: &ThingInstance, index: usize, schemas: &mut Schemas) -> Map<String, Value> {
        match thing.actions().get(index) {
            Some(action) => invoke_operation(thing.name(), &json!([thing.name()]), action, schemas),
            None => Map::new(),
        }
    }
}

/// `GET /{thing}/{action}`: the action's invocations, a page at a time.
pub(crate) struct Invocations;

impl ThingKind for Invocations {
    const ERRORS: &'static [u16] = &[422];

    fn path(thing: &str, action: &str) -> String {
        format!("/{thing}/{action}")
    }

    fn handler(thing: &Arc<ThingInstance>, index: usize, method: MethodFilter) -> Route {
        let thing = thing.clone();
        on(
            method,
            move |State(state): State<Arc<AppState>>, Params(page): Params<Page>, headers: HeaderMap| async move {
                let name = thing.actions().get(index).map(|a| a.name);
                let all = state.lab.manager().list(Some(thing.name()), name);
                page_response(&state, &headers, &all, page)
            },
        )
    }

    fn operation(thing: &ThingInstance, index: usize, _: &mut Schemas) -> Map<String, Value> {
        let Some(action) = thing.actions().get(index) else {
            return Map::new();
        };
        let name = thing.name();
        object(json!({
            "tags": [name], "operationId": format!("{name}_{}_invocations", action.name),
            "summary": format!("Invocations of {}", action.name),
            "parameters": query_parameters::<Page>(),
            "responses": {"200": listed()}
        }))
    }
}

/// The operation of invoking `action`: input, both answers (`?return=`).
fn invoke_operation(name: &str, tag: &Value, action: &ActionInfo, schemas: &mut Schemas) -> Map<String, Value> {
    let prefix = format!("{name}_{}_", action.name);
    let input = schemas.adopt(&prefix, &action.input_schema);
    let output = schemas.adopt(&prefix, &action.output_schema);
    let required = input
        .get("required")
        .and_then(Value::as_array)
        .is_some_and(|r| !r.is_empty());
    let mut invocation_properties = json!({"output": {"anyOf": [output, {"type": "null"}]}});
    if let Some(intermediate) = &action.intermediate_schema {
        invocation_properties["intermediate"] = json!({"type": "array", "items": schemas.adopt(&prefix, intermediate)});
    }
    let mut post = Map::new();
    describe(
        &mut post,
        action.title.unwrap_or(action.name).to_owned(),
        action.description,
    );
    post.insert("tags".into(), tag.clone());
    post.insert("operationId".into(), format!("{name}_{}_invoke", action.name).into());
    post.insert("parameters".into(), query_parameters::<InvokeQuery>());
    if action.has_input {
        // With nothing required, no body and `null` mean "all defaults".
        let body = if required {
            input
        } else {
            json!({"anyOf": [input, {"type": "null"}]})
        };
        post.insert(
            "requestBody".into(),
            json!({"required": required, "content": {"application/json": {"schema": body}}}),
        );
    }
    post.insert(
        "responses".into(),
        json!({
            "200": json_response("With return=output: the output, once the action has finished", output.clone()),
            "201": {
                "description": "The invocation (poll its href, or the Location header)",
                "headers": {"Location": {"schema": {"type": "string", "format": "uri"}}},
                "content": {"application/json": {"schema": {
                    "allOf": [component("Invocation"), {"properties": invocation_properties}]
                }}}
            }
        }),
    );
    post
}

/// What the client asked the answer to hold: `?return=invocation` (the
/// default) or `?return=output`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
enum Answer {
    // 201 with the invocation.
    #[default]
    Invocation,
    // 200 with the output, once the action has finished.
    Output,
}

/// The query parameters of an invocation. Others are ignored, as the
/// original ignores them.
#[derive(Debug, Default, Deserialize, JsonSchema)]
struct InvokeQuery {
    /// invocation (default): answer 201 at once with the invocation. output: wait until the action finishes and answer 200 with its output.
    #[serde(rename = "return", default)]
    answer: Answer,
}

/// Validate the input, start the invocation and answer with it (201) or,
/// for `?return=output`, with its output once it has finished (200).
async fn invoke(
    state: Arc<AppState>,
    thing: Arc<ThingInstance>,
    index: usize,
    answer: Answer,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
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
        .invoke(&thing, index, input, &caller)
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
