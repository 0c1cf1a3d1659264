//! Conan v1 deletes: a whole recipe, and some or all packages of the newest recipe revision.

use std::sync::Arc;

use actix_web::{HttpRequest, HttpResponse, web};
use conan_auth::Action;
use conan_model::PackageId;
use conan_store::RecipeRevisionKey;
use serde::{Deserialize, Serialize};

use super::parse_body;
use crate::access::{Target, blocking};
use crate::error::ApiError;
use crate::respond::{deleted, json};

/// The answer of `DELETE v1/R`: the deleted package, in the spirit of GitLab's package JSON.
#[derive(Debug, Serialize)]
struct DeletedRecipe {
    project_id: i64,
    package_type: &'static str,
    name: String,
    version: String,
    conan_user: Option<String>,
    conan_channel: Option<String>,
    reference: String,
}

/// `DELETE v1/R`: the whole recipe, every revision and package; 200 with the deleted recipe,
/// 404 `Package Not Found` when there is none (GitLab answers 500).
pub(in crate::routes) async fn delete_recipe(target: Target) -> Result<HttpResponse, ApiError> {
    let store = Arc::clone(&target.state.metadata);
    let (project, recipe) = (target.project.id, target.recipe.clone());
    if !blocking(move || Ok(store.delete_recipe(project, &recipe)?)).await? {
        return Err(ApiError::not_found("Package Not Found"));
    }
    let recipe = &target.recipe;
    json(&DeletedRecipe {
        project_id: target.project.id.0,
        package_type: "conan",
        name: recipe.name().to_string(),
        version: recipe.version().to_string(),
        conan_user: recipe.user().map(ToString::to_string),
        conan_channel: recipe.channel().map(ToString::to_string),
        reference: recipe.to_string(),
    })
}

/// The body of `POST v1/R/packages/delete`.
#[derive(Debug, Deserialize)]
struct PackageIds {
    /// The packages to delete; empty means every package.
    package_ids: Vec<String>,
}

/// `POST v1/R/packages/delete` with `{"package_ids": [...]}`: deletes those packages (every
/// revision) of the newest recipe revision, or all of them for an empty list; 200 (also when
/// some ids had nothing to delete), 404 for an unknown recipe. Needs the delete permission.
pub(in crate::routes) async fn delete_packages(
    request: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let target = Target::authorized(&request, Action::Delete).await?;
    let PackageIds { package_ids } = parse_body(&body)?;
    let package_ids = package_ids
        .iter()
        .map(|id| id.parse::<PackageId>().map_err(ApiError::invalid))
        .collect::<Result<Vec<_>, _>>()?;
    let store = Arc::clone(&target.state.metadata);
    let (project, recipe) = (target.project.id, target.recipe.clone());
    blocking(move || {
        let latest = store
            .latest_recipe_revision(project, &recipe)?
            .ok_or_else(|| ApiError::not_found("Package Not Found"))?;
        let key = RecipeRevisionKey {
            project,
            recipe,
            revision: latest.revision,
        };
        if package_ids.is_empty() {
            store.delete_packages(&key)?;
        } else {
            for package_id in &package_ids {
                store.delete_package(&key, package_id)?;
            }
        }
        Ok(())
    })
    .await?;
    Ok(deleted())
}
