//! What a page reads from its URL: path segments parsed into `conan-model` types, and query
//! parameters. Anything malformed is a 400 page that says which parameter and why; nothing
//! unparsed reaches the store.
//!
//! actix-web keeps `%2F`, `%25` and `%2B` encoded in the path it matches, so each segment is
//! decoded here exactly once (as conan-api does).

use actix_web::HttpRequest;
use conan_model::{PackageId, RecipeReference, Revision};
use percent_encoding::percent_decode_str;

use crate::error::WebError;

/// The highest page number a listing accepts: deeper pages cost a longer scan, and nobody
/// pages that far by hand (search narrows instead).
pub(crate) const MAX_PAGE: u32 = 1000;

/// A route parameter, percent-decoded; a missing one is the 404 page (a route without it).
pub(crate) fn segment(request: &HttpRequest, name: &str) -> Result<String, WebError> {
    let raw = request.match_info().get(name).ok_or(WebError::NotFound)?;
    percent_decode_str(raw)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| WebError::bad_request(format!("The {name} in the address is not UTF-8.")))
}

/// The recipe reference of `.../{name}/{version}/{user}/{channel}` (`_` for an absent user
/// or channel).
pub(crate) fn reference(request: &HttpRequest) -> Result<RecipeReference, WebError> {
    RecipeReference::from_url_segments(
        &segment(request, "name")?,
        &segment(request, "version")?,
        &segment(request, "user")?,
        &segment(request, "channel")?,
    )
    .map_err(|error| WebError::bad_request(format!("Invalid recipe reference: {error}")))
}

/// A revision parameter; `what` names it on the 400 page.
pub(crate) fn revision(
    request: &HttpRequest,
    name: &str,
    what: &str,
) -> Result<Revision, WebError> {
    segment(request, name)?
        .parse()
        .map_err(|error| WebError::bad_request(format!("Invalid {what}: {error}")))
}

/// The package id parameter.
pub(crate) fn package_id(request: &HttpRequest) -> Result<PackageId, WebError> {
    segment(request, "package_id")?
        .parse()
        .map_err(|error| WebError::bad_request(format!("Invalid package id: {error}")))
}

/// The query parameters of a request, decoded.
#[derive(Debug, Clone, Default)]
pub(crate) struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    /// Reads the query string: a malformed one, or one that does not decode to UTF-8, is a 400.
    pub(crate) fn of(request: &HttpRequest) -> Result<Self, WebError> {
        Self::parse(request.query_string())
    }

    /// Decodes `raw`, a query string or a form body: malformed or not UTF-8 once decoded is a 400.
    pub(crate) fn parse(raw: &str) -> Result<Self, WebError> {
        if percent_decode_str(raw).decode_utf8().is_err() {
            return Err(WebError::bad_request(
                "The query string of the address is not UTF-8.",
            ));
        }
        let pairs = actix_web::web::Query::<Vec<(String, String)>>::from_query(raw)
            .map_err(|error| WebError::bad_request(format!("Invalid query string: {error}")))?
            .into_inner();
        Ok(Self { pairs })
    }

    /// The value of `name`: the last one when repeated, as a form's last field wins.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .rev()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every value of `name`, in order (a form's checkboxes).
    pub(crate) fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// `page`, from 1 to [`MAX_PAGE`]; 1 when absent.
    pub(crate) fn page(&self) -> Result<u32, WebError> {
        match self.get("page") {
            None => Ok(1),
            Some(text) => text
                .parse::<u32>()
                .ok()
                .filter(|page| (1..=MAX_PAGE).contains(page))
                .ok_or_else(|| {
                    WebError::bad_request(format!(
                        "The page parameter must be a whole number from 1 to {MAX_PAGE}."
                    ))
                }),
        }
    }

    /// `name`, one of `allowed`; `default` when absent or empty.
    pub(crate) fn choice<'a>(
        &self,
        name: &str,
        allowed: &[&'a str],
        default: &'a str,
    ) -> Result<&'a str, WebError> {
        match self.get(name).filter(|value| !value.is_empty()) {
            None => Ok(default),
            Some(value) => allowed
                .iter()
                .find(|choice| **choice == value)
                .copied()
                .ok_or_else(|| {
                    WebError::bad_request(format!(
                        "The {name} parameter must be one of: {}.",
                        allowed.join(", ")
                    ))
                }),
        }
    }

    /// The non-empty parameters whose name starts with `prefix`, the prefix removed, in order
    /// (the last value of a repeated name wins).
    pub(crate) fn with_prefix(&self, prefix: &str) -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = Vec::new();
        for (key, value) in &self.pairs {
            let Some(rest) = key.strip_prefix(prefix) else {
                continue;
            };
            found.retain(|(name, _)| name != rest);
            if !value.is_empty() {
                found.push((rest.to_owned(), value.clone()));
            }
        }
        found
    }
}

/// The offset of `page` for pages of `per_page` rows.
pub(crate) fn offset(page: u32, per_page: u32) -> u64 {
    u64::from(page - 1) * u64::from(per_page)
}
