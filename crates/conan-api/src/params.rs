//! Path parameters, parsed into `conan-model` types before anything else happens: an invalid
//! value is a 400 naming the parameter and never reaches authentication or the store.
//!
//! actix-web keeps `%2F`, `%25` and `%2B` encoded in the path it matches (so that an encoded
//! `/` cannot split a segment) and hands them to `match_info` as they came; each segment is
//! decoded here exactly once. A literal `+` stays a `+`: path segments are not form-encoded.

use std::borrow::Cow;

use actix_web::HttpRequest;
use conan_model::{FilePath, PackageId, RecipeReference, Revision, reference::URL_PLACEHOLDER};
use percent_encoding::percent_decode_str;

use crate::error::ApiError;

/// The request's query string deserialized into `T`; anything malformed is a 400, and so is
/// one that does not decode to UTF-8 (the deserializer would replace those bytes and go on
/// with a value the client never sent).
pub(crate) fn query<T: serde::de::DeserializeOwned>(request: &HttpRequest) -> Result<T, ApiError> {
    let raw = request.query_string();
    if percent_decode_str(raw).decode_utf8().is_err() {
        return Err(ApiError::bad_request(
            "invalid query string: not UTF-8".to_owned(),
        ));
    }
    actix_web::web::Query::<T>::from_query(raw)
        .map(actix_web::web::Query::into_inner)
        .map_err(|error| ApiError::bad_request(format!("invalid query string: {error}")))
}

/// The route parameter holding the project id or URL-encoded path (project prefix only).
pub(crate) const PROJECT: &str = "id";
/// The route parameters of a recipe reference.
pub(crate) const NAME: &str = "name";
/// See [`NAME`].
pub(crate) const VERSION: &str = "version";
/// See [`NAME`].
pub(crate) const USER: &str = "user";
/// See [`NAME`].
pub(crate) const CHANNEL: &str = "channel";
/// The recipe revision parameter.
pub(crate) const RECIPE_REVISION: &str = "rrev";
/// The package id parameter.
pub(crate) const PACKAGE_ID: &str = "pkgid";
/// The package revision parameter.
pub(crate) const PACKAGE_REVISION: &str = "prev";
/// The file path parameter (a tail that may hold `/`).
pub(crate) const PATH: &str = "path";

/// Which prefix a request came through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Level {
    /// `/api/v4/projects/{id}/packages/conan`, with the raw (still encoded) `{id}`.
    Project(String),
    /// `/api/v4/packages/conan`: the project is named by the recipe's user.
    Instance,
}

impl Level {
    /// The prefix of `request`.
    pub(crate) fn of(request: &HttpRequest) -> Self {
        match request.match_info().get(PROJECT) {
            Some(raw) => Self::Project(raw.to_owned()),
            None => Self::Instance,
        }
    }
}

/// The percent-decoded route parameter `name`, if the route has it.
pub(crate) fn segment<'a>(
    request: &'a HttpRequest,
    name: &str,
) -> Result<Option<Cow<'a, str>>, ApiError> {
    let Some(raw) = request.match_info().get(name) else {
        return Ok(None);
    };
    percent_decode_str(raw)
        .decode_utf8()
        .map(Some)
        .map_err(|_| ApiError::bad_request(format!("invalid {name} {raw:?}: not UTF-8")))
}

/// The percent-decoded route parameter `name`, which the route must have.
fn required<'a>(request: &'a HttpRequest, name: &str) -> Result<Cow<'a, str>, ApiError> {
    segment(request, name)?.ok_or_else(|| ApiError::bug(format!("route has no {{{name}}}")))
}

/// The recipe reference of `R = conans/{name}/{version}/{user}/{channel}`.
///
/// At the instance prefix a `_` user cannot name a project, so it is a plain 404 before any
/// other check, as in GitLab.
pub(crate) fn recipe(request: &HttpRequest) -> Result<RecipeReference, ApiError> {
    let user = required(request, USER)?;
    if Level::of(request) == Level::Instance && user == URL_PLACEHOLDER {
        return Err(ApiError::not_found("Not found"));
    }
    Ok(RecipeReference::from_url_segments(
        &required(request, NAME)?,
        &required(request, VERSION)?,
        &user,
        &required(request, CHANNEL)?,
    )?)
}

/// A revision parameter; `what` names it in the error (`recipe revision`, `package revision`).
pub(crate) fn revision(
    request: &HttpRequest,
    name: &str,
    what: &str,
) -> Result<Option<Revision>, ApiError> {
    segment(request, name)?
        .map(|text| {
            text.parse::<Revision>()
                .map_err(|error| ApiError::BadRequest {
                    message: format!(
                        "invalid {what} {text:?}: expected 32 or 40 lowercase hex digits, or 0"
                    ),
                    source: Some(Box::new(error)),
                })
        })
        .transpose()
}

/// The package id parameter, if the route has one.
pub(crate) fn package_id(request: &HttpRequest) -> Result<Option<PackageId>, ApiError> {
    segment(request, PACKAGE_ID)?
        .map(|text| text.parse::<PackageId>().map_err(ApiError::invalid))
        .transpose()
}

/// The file path parameter, if the route has one.
pub(crate) fn file_path(request: &HttpRequest) -> Result<Option<FilePath>, ApiError> {
    segment(request, PATH)?
        .map(|text| text.parse::<FilePath>().map_err(ApiError::invalid))
        .transpose()
}
