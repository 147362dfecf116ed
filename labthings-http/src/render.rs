//! How the core's invocations and failures look over HTTP: the invocation
//! JSON of the contract (`guide/src/http-contract.md`), its links, blob links, and
//! RFC 9457 problem details. The core knows none of this.

use chrono::{DateTime, Utc};
use labthings_core::blob::blob_id;
use labthings_core::{Failure, Invocation, InvocationStatus, LogRecord};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

/// The problem type LabThings-FastAPI clients recognise as a cancellation.
pub const CANCELLED_PROBLEM_TYPE: &str = "https://labthings-fastapi.readthedocs.io/en/latest/autoapi/labthings_fastapi/exceptions/index.html#labthings_fastapi.exceptions.InvocationCancelledError";

/// The `type` of each kind of problem a failure of device code is, besides
/// a cancellation ([`CANCELLED_PROBLEM_TYPE`], the original's): (title the
/// core gives the failure, or `""` for any other, type URI). The table in
/// guide/src/http-contract.md says what each means.
pub const PROBLEM_TYPES: &[(&str, &str)] = &[
    ("BadRequest", "urn:labthings:problem:bad-request"),
    ("Busy", "urn:labthings:problem:busy"),
    ("Panic", "urn:labthings:problem:panic"),
    ("SettingNotSaved", "urn:labthings:problem:setting-not-saved"),
    ("SerializationError", "urn:labthings:problem:output-not-serializable"),
    ("", "urn:labthings:problem:device-error"),
];

/// The problem type URI for a failure titled `title` (see [`PROBLEM_TYPES`]).
fn problem_type(title: &str) -> &'static str {
    PROBLEM_TYPES
        .iter()
        .find(|(known, _)| *known == title)
        .or_else(|| PROBLEM_TYPES.last())
        .map_or("about:blank", |(_, uri)| uri)
}

/// RFC 9457 problem details: a failed invocation's `error`, and the body of
/// a 500 answer.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ProblemDetails {
    /// A human-readable explanation.
    pub detail: String,
    /// A URI naming the kind of problem, if there is one.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The HTTP status code that fits the problem.
    pub status: u16,
    /// A short summary of the kind of problem.
    pub title: String,
    /// A URI for this occurrence (unused: always `null`).
    pub instance: Option<String>,
}

impl ProblemDetails {
    /// The problem details of a failure of device code.
    ///
    /// ```
    /// use labthings_http::render::ProblemDetails;
    /// let problem = ProblemDetails::from_failure(&labthings_core::Failure::Cancelled);
    /// assert_eq!((problem.status, problem.title.as_str()), (500, "InvocationCancelledError"));
    /// let refused = ProblemDetails::from_failure(&labthings_core::Failure::BadRequest { detail: "too far".into() });
    /// assert_eq!((refused.status, refused.kind.as_deref()), (422, Some("urn:labthings:problem:bad-request")));
    /// let failed = ProblemDetails::from_failure(&labthings_core::Failure::error("StageJammed", "stuck at 5 um"));
    /// assert_eq!((failed.status, failed.kind.as_deref()), (500, Some("urn:labthings:problem:device-error")));
    /// let busy = ProblemDetails::from_failure(&labthings_core::Failure::Busy { detail: "not moving".into() });
    /// assert_eq!((busy.status, busy.kind.as_deref()), (409, Some("urn:labthings:problem:busy")));
    /// ```
    pub fn from_failure(failure: &Failure) -> Self {
        let (status, title, kind) = match failure {
            Failure::Cancelled => (
                500,
                "InvocationCancelledError".to_owned(),
                Some(CANCELLED_PROBLEM_TYPE.to_owned()),
            ),
            Failure::BadRequest { .. } => (
                422,
                "BadRequest".to_owned(),
                Some(problem_type("BadRequest").to_owned()),
            ),
            Failure::Busy { .. } => (409, "Busy".to_owned(), Some(problem_type("Busy").to_owned())),
            Failure::Error { title, .. } => (500, title.clone(), Some(problem_type(title).to_owned())),
        };
        Self {
            detail: failure.detail(),
            kind,
            status,
            title,
            instance: None,
        }
    }
}

/// The URL of an invocation on the server at `base` (ending in `/`).
pub fn invocation_url(base: &str, id: Uuid) -> String {
    format!("{base}{}/{id}", crate::binding::INVOCATIONS)
}

/// The URL of a blob on the server at `base` (ending in `/`).
pub fn blob_url(base: &str, id: Uuid) -> String {
    format!("{base}{}/{id}", crate::binding::BLOBS)
}

/// An invocation as the contract's JSON, with links built on `base` (the
/// server's absolute URL, ending in `/`). `full` adds `input`, `output`,
/// `log` and `error`; lists show summaries without them.
///
/// ```
/// use labthings_core::Invocation;
/// use labthings_core::log::LogBuffer;
/// let invocation = Invocation::new("bench", "increment", serde_json::json!({"by": 1}),
///     std::time::Duration::ZERO, LogBuffer::new(10));
/// let summary = labthings_http::render::invocation_json(&invocation, "http://h/", false);
/// assert!(summary.get("input").is_none());
/// assert_eq!(summary["action"], "/bench/increment");
/// assert_eq!(summary["links"][1]["rel"], "output");
/// let full = labthings_http::render::invocation_json(&invocation, "http://h/", true);
/// assert_eq!((&full["input"]["by"], &full["status"]), (&1.into(), &"pending".into()));
/// ```
pub fn invocation_json(invocation: &Invocation, base: &str, full: bool) -> Value {
    let href = invocation_url(base, invocation.id());
    let now = invocation.snapshot();
    let approval = now.approval.map(|record| ApprovalModel {
        record,
        input: invocation.input(),
        approve: format!("{href}/approve"),
        reject: format!("{href}/reject"),
    });
    let model = InvocationModel {
        status: now.status,
        id: invocation.id(),
        action: format!("/{}/{}", invocation.thing(), invocation.action()),
        links: [
            Link::new(href.clone(), "self"),
            Link::new(format!("{href}/output"), "output"),
        ],
        href,
        time_requested: invocation.requested(),
        time_started: now.started,
        time_completed: now.completed,
        progress: now.progress,
        approval,
        details: full.then(|| Details {
            input: invocation.input(),
            output: now.output.map(|output| links_in(invocation, output, base)),
            log: invocation.log(),
            error: now.error.as_ref().map(ProblemDetails::from_failure),
            intermediate: match invocation.intermediate() {
                (_, 0) => None,
                (kept, _) => Some(kept),
            },
        }),
    };
    serde_json::to_value(model).unwrap_or(Value::Null)
}

/// The output of a completed invocation as clients see it: blobs as
/// absolute links on `base`.
pub fn output_json(invocation: &Invocation, base: &str) -> Option<Value> {
    Some(links_in(invocation, invocation.output()?, base))
}

/// `output` with each blob of `invocation` as a link on `base`.
fn links_in(invocation: &Invocation, output: Value, base: &str) -> Value {
    if invocation.has_blobs() {
        blob_links(output, base)
    } else {
        output
    }
}

/// Replace the `urn:uuid:` href of every blob in `value` with its URL.
fn blob_links(value: Value, base: &str) -> Value {
    if let Some(id) = blob_id(&value) {
        let mut value = value;
        value["href"] = blob_url(base, id).into();
        return value;
    }
    match value {
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, v)| (k, blob_links(v, base))).collect()),
        Value::Array(items) => Value::Array(items.into_iter().map(|v| blob_links(v, base)).collect()),
        other => other,
    }
}

/// The reverse of the output's blob links, for an action's input: every
/// `href` in `value` that is a blob link of this server (`{base}blob/{id}`,
/// or the path `/blob/{id}`) becomes the blob's [`urn:uuid:`](labthings_core::blob::blob_uri)
/// name, which the core decodes. Other hrefs are left as they are (and
/// refused when decoded as a blob).
///
/// ```
/// let mut input = serde_json::json!({"image": {"href": "http://lab:5000/blob/67e55044-10b1-426f-9247-bb680e5fe0c8", "media_type": "image/jpeg"}});
/// labthings_http::render::blob_links_to_uris(&mut input, "http://lab:5000/");
/// assert_eq!(input["image"]["href"], "urn:uuid:67e55044-10b1-426f-9247-bb680e5fe0c8");
/// ```
pub fn blob_links_to_uris(value: &mut Value, base: &str) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(href)) = map.get_mut("href") {
                let blobs = crate::binding::BLOBS;
                let id = href
                    .strip_prefix(base)
                    .or_else(|| href.strip_prefix('/'))
                    .and_then(|rest| rest.strip_prefix(blobs))
                    .and_then(|rest| rest.strip_prefix('/'))
                    .and_then(|id| id.parse::<Uuid>().ok());
                if let Some(id) = id {
                    *href = labthings_core::blob::blob_uri(id);
                }
            }
            map.values_mut().for_each(|v| blob_links_to_uris(v, base));
        }
        Value::Array(items) => items.iter_mut().for_each(|v| blob_links_to_uris(v, base)),
        _ => {}
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct InvocationModel<'a> {
    status: InvocationStatus,
    id: Uuid,
    action: String,
    href: String,
    time_requested: DateTime<Utc>,
    time_started: Option<DateTime<Utc>>,
    time_completed: Option<DateTime<Utc>>,
    /// Only once device code has reported progress (clients of the
    /// original ignore fields they do not know).
    #[serde(skip_serializing_if = "Option::is_none")]
    progress: Option<labthings_core::Progress>,
    /// Only for a call that waits (or waited) for an operator's approval.
    #[serde(skip_serializing_if = "Option::is_none")]
    approval: Option<ApprovalModel<'a>>,
    links: [Link; 2],
    #[serde(flatten)]
    details: Option<Details<'a>>,
}

/// An invocation's approval record, with where to approve or reject it.
#[derive(Serialize)]
struct ApprovalModel<'a> {
    #[serde(flatten)]
    record: labthings_core::Approval,
    /// What the call would run with, for the operator to judge.
    input: &'a Value,
    /// `POST` here approves it (an operator other than the caller).
    approve: String,
    /// `POST` here rejects it.
    reject: String,
}

#[derive(Serialize)]
struct Details<'a> {
    input: &'a Value,
    output: Option<Value>,
    log: Vec<LogRecord>,
    error: Option<ProblemDetails>,
    /// The newest intermediate results, only for an action that reported any.
    #[serde(skip_serializing_if = "Option::is_none")]
    intermediate: Option<Vec<Value>>,
}

/// A TD link element (`href`, `type`, `rel`, `anchor`).
#[derive(Debug, Clone, Serialize)]
struct Link {
    href: String,
    #[serde(rename = "type")]
    media_type: Option<String>,
    rel: &'static str,
    anchor: Option<String>,
}

impl Link {
    fn new(href: String, rel: &'static str) -> Self {
        Self {
            href,
            media_type: None,
            rel,
            anchor: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn blobs_anywhere_in_an_output_become_links() {
        let id = Uuid::new_v4();
        let blob = json!({"href": format!("urn:uuid:{id}"), "media_type": "image/jpeg", "rel": "output"});
        let output = json!({"picture": blob, "all": [blob], "href": "urn:uuid:not-a-blob"});
        let linked = blob_links(output, "http://h/");
        assert_eq!(linked["picture"]["href"], format!("http://h/blob/{id}"));
        assert_eq!(linked["all"][0]["href"], format!("http://h/blob/{id}"));
        assert_eq!(linked["href"], "urn:uuid:not-a-blob", "not a blob object: left alone");
    }
}
