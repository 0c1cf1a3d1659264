//! `GET v2/conans/search?q=&ignorecase=`: recipe search.

use actix_web::{HttpRequest, HttpResponse};
use conan_model::{CaseSensitivity, SearchPattern};
use serde::{Deserialize, Serialize};

use crate::access;
use crate::error::ApiError;
use crate::params::{self, Level};
use crate::respond::{json, warn_stale};
use conan_store::SearchScope;

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
    // At the project prefix a remote project (or a virtual project's remote member) also asks
    // its upstream; at the instance prefix only what the projects hold is searched.
    let forward = matches!(Level::of(&request), Level::Project(_));
    let held_pattern = pattern.clone();
    let (matches, remotes) = access::search(&state, &request, move |store, scope| {
        let matches = store.search_recipes(scope, &held_pattern, limit)?;
        let mut remotes = Vec::new();
        if let (true, SearchScope::Projects(projects)) = (forward, scope) {
            for &project in projects {
                if let Some(settings) = store.remote(project)? {
                    remotes.push((project, settings));
                }
            }
        }
        Ok((matches, remotes))
    })
    .await?;
    // The client expects the reference server's order: sorted canonical strings, which differs
    // from the store's field order (`zlib/1.3.1` sorts before `zlib/1.3@user/channel`). The
    // same recipe in two projects (or held and upstream) is listed once.
    let mut results: Vec<String> = matches
        .iter()
        .map(|found| found.reference.to_string())
        .collect();
    let mut any_stale = false;
    for (project, settings) in remotes {
        let node = state.remotes.node(project, &settings)?;
        let (found, was_stale) = node.search(query.q.as_deref().unwrap_or("*")).await?;
        any_stale |= was_stale;
        // The upstream's own matching may be looser (case, its pattern syntax): ours decides.
        results.extend(
            found
                .iter()
                .filter(|reference| pattern.matches_reference(reference))
                .map(ToString::to_string),
        );
    }
    results.sort_unstable();
    results.dedup();
    results.truncate(limit);
    Ok(warn_stale(json(&SearchResults { results })?, any_stale))
}
