//! Recipe revisions: `latest`, the revision list and the deletes.

use std::sync::Arc;

use actix_web::HttpResponse;
use conan_model::RecipeReference;
use conan_store::{MetadataStore, ProjectId, RevisionEntry};
use serde::Serialize;

use crate::access::{ReadTarget, Target, blocking};
use crate::error::ApiError;
use crate::respond::{RevisionJson, deleted, json, visible, warn_stale};

/// The latest revision a Conan 2 client should see: the newest real one, or `0` when a Conan 1
/// upload is all there is.
pub(super) fn latest_visible(
    store: &dyn MetadataStore,
    project: ProjectId,
    recipe: &RecipeReference,
) -> Result<Option<RevisionEntry>, ApiError> {
    match store.latest_recipe_revision(project, recipe)? {
        // Only a Conan 1 upload can be latest with `0`; look for a real revision behind it.
        Some(latest) if latest.revision.is_zero() => {
            let all = visible(store.recipe_revisions(project, recipe)?);
            Ok(all.into_iter().next())
        }
        latest => Ok(latest),
    }
}

/// `GET R/latest`: the newest committed revision.
pub(super) async fn latest(target: ReadTarget) -> Result<HttpResponse, ApiError> {
    let (latest, _, stale) = target
        .read_list(
            |store, target| latest_visible(store, target.project.id, &target.recipe),
            |list, _| Ok(visible(list).into_iter().next()),
        )
        .await?;
    let latest = latest.ok_or_else(|| ApiError::not_found("Package Not Found"))?;
    Ok(warn_stale(json(&RevisionJson::from(&latest))?, stale))
}

/// The answer of `GET R/revisions`.
#[derive(Debug, Serialize)]
struct RecipeRevisions {
    /// The recipe, `name/version[@user[/channel]]`.
    reference: String,
    /// Newest first.
    revisions: Vec<RevisionJson>,
}

/// `GET R/revisions`: every committed revision, newest first; 404 when there is none, as the
/// reference server answers (an empty list would make `conan list` show a recipe with nothing).
pub(super) async fn revisions(target: ReadTarget) -> Result<HttpResponse, ApiError> {
    let (entries, target, stale) = target
        .read_list(
            |store, target| Ok(store.recipe_revisions(target.project.id, &target.recipe)?),
            |list, _| Ok(list),
        )
        .await?;
    let entries = visible(entries);
    if entries.is_empty() {
        return Err(ApiError::not_found("Package Not Found"));
    }
    let answer = json(&RecipeRevisions {
        reference: target.recipe.to_string(),
        revisions: entries.iter().map(RevisionJson::from).collect(),
    })?;
    Ok(warn_stale(answer, stale))
}

/// `DELETE R/revisions/{rrev}`: the revision with its files and packages; the recipe goes with
/// its last revision.
pub(super) async fn delete_revision(target: Target) -> Result<HttpResponse, ApiError> {
    let key = target.recipe_key()?;
    let store = Arc::clone(&target.state.metadata);
    if blocking(move || Ok(store.delete_recipe_revision(&key)?)).await? {
        Ok(deleted())
    } else {
        Err(ApiError::not_found("Revision Not Found"))
    }
}

/// `DELETE R`: the whole recipe, every revision and package.
pub(super) async fn delete_recipe(target: Target) -> Result<HttpResponse, ApiError> {
    let store = Arc::clone(&target.state.metadata);
    let (project, recipe) = (target.project.id, target.recipe.clone());
    if blocking(move || Ok(store.delete_recipe(project, &recipe)?)).await? {
        Ok(deleted())
    } else {
        Err(ApiError::not_found("Package Not Found"))
    }
}
