//! Answer shapes the Conan client is strict about.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use conan_store::RevisionEntry;
use serde::Serialize;

use crate::error::ApiError;

/// A JSON answer with `status`. The type is exactly `application/json`: the client compares it
/// as a string, and `application/json;charset=utf-8` fails with "Response from remote is not
/// json".
pub(crate) fn json_with<T: Serialize + ?Sized>(
    status: StatusCode,
    value: &T,
) -> Result<HttpResponse, ApiError> {
    let body = serde_json::to_vec(value)
        .map_err(|error| ApiError::internal("cannot serialize the answer", error))?;
    Ok(HttpResponse::build(status)
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .body(body))
}

/// A 200 JSON answer; the only success status the client accepts on JSON routes.
pub(crate) fn json<T: Serialize + ?Sized>(value: &T) -> Result<HttpResponse, ApiError> {
    json_with(StatusCode::OK, value)
}

/// `response` with `Warning: 110 - "Response is Stale"` when `stale`: a remote project's
/// upstream could not be asked, and the answer is the last one known.
pub(crate) fn warn_stale(mut response: HttpResponse, stale: bool) -> HttpResponse {
    if stale {
        response.headers_mut().insert(
            header::WARNING,
            HeaderValue::from_static("110 - \"Response is Stale\""),
        );
    }
    response
}

/// A 200 `text/plain` answer (a token, a user name).
pub(crate) fn text(body: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("text/plain")))
        .body(body)
}

/// The answer to a successful DELETE: 200 with an empty body (the client takes anything but
/// exactly 200, 204 included, as a failure).
pub(crate) fn deleted() -> HttpResponse {
    HttpResponse::Ok().finish()
}

/// One revision as `latest` and the revision lists show it.
#[derive(Debug, Serialize)]
pub(crate) struct RevisionJson {
    /// The revision.
    revision: String,
    /// Its commit time, RFC 3339 UTC with microseconds (`RevisionTime`'s form).
    time: String,
}

impl From<&RevisionEntry> for RevisionJson {
    fn from(entry: &RevisionEntry) -> Self {
        Self {
            revision: entry.revision.to_string(),
            time: entry.time.to_string(),
        }
    }
}

/// The revisions a Conan 2 client should see: the Conan 1 revision `0` only while it is the
/// only one, so a recipe (or package) uploaded by both clients answers with its real revisions.
pub(crate) fn visible(mut entries: Vec<RevisionEntry>) -> Vec<RevisionEntry> {
    if entries.iter().any(|entry| !entry.revision.is_zero()) {
        entries.retain(|entry| !entry.revision.is_zero());
    }
    entries
}

#[cfg(test)]
mod tests {
    use conan_model::RevisionTime;

    use super::*;

    fn entry(revision: &str, micros: i64) -> RevisionEntry {
        RevisionEntry {
            revision: revision.parse().unwrap(),
            time: RevisionTime::from_unix_micros(micros).unwrap(),
        }
    }

    #[test]
    fn revision_zero_shows_only_alone() {
        let real = "a".repeat(32);
        assert_eq!(
            visible(vec![entry("0", 2), entry(&real, 1)]),
            vec![entry(&real, 1)]
        );
        assert_eq!(visible(vec![entry("0", 2)]), vec![entry("0", 2)]);
        assert!(visible(Vec::new()).is_empty());
    }

    #[test]
    fn revision_json_uses_the_model_time_format() {
        let json =
            serde_json::to_value(RevisionJson::from(&entry("0", 1_734_426_000_334_123))).unwrap();
        assert_eq!(json["time"], "2024-12-17T09:00:00.334123Z");
    }
}
