//! `GET v2/conans/search?q=&ignorecase=`: recipe search.

use actix_web::{HttpRequest, HttpResponse};
use conan_model::{CaseSensitivity, SearchPattern};
use serde::{Deserialize, Serialize};

use crate::access;
use crate::error::ApiError;
use crate::params;
use crate::respond::json;

/// The query string of a recipe search.
#[derive(Debug, Deserialize)]
struct SearchQuery {
    /// The pattern; absent means every recipe.
    q: Option<String>,
    /// `False` (any case) asks for a case-sensitive search; anything else is insensitive.
    ignorecase: Option<String>,
}

/// The answer: canonical references, sorted, never with `_`.
#[derive(Debug, Serialize)]
struct SearchResults {
    results: Vec<String>,
}

/// Lists the recipes matching `q` that the caller may read: at the project prefix in that
/// project, at the instance prefix in every readable project. At most `search_limit` of them.
pub(super) async fn recipes(request: HttpRequest) -> Result<HttpResponse, ApiError> {
    let state = access::state(&request)?;
    let query: SearchQuery = params::query(&request)?;
    // GitLab's limits come first, whoever asks.
    let pattern = match query.q.as_deref() {
        None => SearchPattern::all(),
        Some(q) => SearchPattern::new(
            q,
            CaseSensitivity::from_ignorecase_param(query.ignorecase.as_deref()),
        )?,
    };
    let limit = state.config.search_limit;
    let matches = access::search(&state, &request, move |store, scope| {
        Ok(store.search_recipes(scope, &pattern, limit)?)
    })
    .await?;
    // The client expects the reference server's order: sorted canonical strings, which differs
    // from the store's field order (`zlib/1.3.1` sorts before `zlib/1.3@user/channel`). The
    // same recipe in two projects is listed once.
    let mut results: Vec<String> = matches
        .iter()
        .map(|found| found.reference.to_string())
        .collect();
    results.sort_unstable();
    results.dedup();
    json(&SearchResults { results })
}
