//! The fallback page: what a server answers when a thing failed to start
//! and the configuration asked to keep serving (`ServerConfig::fallback`).
//! Every request gets 503 with the failure: a page for a browser, JSON for
//! anything else.

use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// The router of the fallback page for `failure` (which names the thing
/// and what went wrong), behind the same host, origin and credential
/// checks and under the same `api_prefix` as the routes it stands in for.
pub(crate) fn fallback(failure: &str, state: &Arc<AppState>) -> Router {
    let failure: Arc<str> = failure.into();
    let page = Router::new().fallback(move |headers: HeaderMap| {
        let failure = failure.clone();
        async move { answer(&failure, &headers) }
    });
    super::checked(page, state)
}

/// The 503 answer: HTML when the client asks for it, else JSON.
fn answer(failure: &str, headers: &HeaderMap) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    let detail = format!("the lab did not start: {failure}. Fix the cause and restart the server.");
    if !wants_html {
        let body = serde_json::json!({ "detail": detail });
        return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    }
    let page = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>labthings: the lab did not start</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;margin:2rem;max-width:50rem}}pre{{background:#fee4e2;padding:1rem;white-space:pre-wrap}}</style>\
         </head><body><h1>The lab did not start</h1><p>A thing failed while starting, so nothing is served until the \
         server is restarted. The things that had started were stopped.</p><pre>{}</pre>\
         <p>Fix the cause (a cable, a device that is off, the configuration) and restart the server.</p></body></html>\n",
        escape(failure)
    );
    let mut response = (StatusCode::SERVICE_UNAVAILABLE, page).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// `text` with the characters HTML gives meaning to escaped.
fn escape(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_owned(),
            '>' => "&gt;".to_owned(),
            '&' => "&amp;".to_owned(),
            '"' => "&quot;".to_owned(),
            '\'' => "&#39;".to_owned(),
            other => other.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn markup_in_a_failure_is_shown_not_run() {
        assert_eq!(
            super::escape("<script>alert('x')</script> & \"y\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;y&quot;"
        );
    }
}
