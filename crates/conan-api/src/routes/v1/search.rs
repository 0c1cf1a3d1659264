//! The Conan v1 package search: every package of the newest recipe revision with its parsed
//! `conaninfo.txt`, as the Conan 1.66 reference server answers it.

use std::collections::BTreeMap;

use actix_web::HttpResponse;
use conan_model::ConanInfo;
use conan_store::RecipeRevisionKey;
use serde::Serialize;

use crate::access::{Target, read};
use crate::error::ApiError;
use crate::respond::json;

/// One package of the legacy package search, as the Conan 1.66 reference server answers it.
#[derive(Debug, Default, Serialize)]
struct LegacyEntry {
    /// The raw `conaninfo.txt`, when one was stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    content: Option<String>,
    /// The `[settings]` entries.
    settings: BTreeMap<String, String>,
    /// The `[options]` entries.
    options: BTreeMap<String, String>,
    /// The `[full_requires]` lines.
    full_requires: Vec<String>,
    /// The `[recipe_hash]`, `null` for Conan 2 binaries.
    recipe_hash: Option<String>,
}

impl LegacyEntry {
    /// The entry of a package whose latest revision has `conaninfo`; a `conaninfo.txt` that does
    /// not parse is served raw with empty parsed keys.
    fn of(conaninfo: Option<String>) -> Self {
        let Some(content) = conaninfo else {
            return Self::default();
        };
        let mut entry = Self::default();
        if let Ok(info) = ConanInfo::parse(&content) {
            entry.settings = info.settings().clone();
            entry.options = info.options().clone();
            entry.full_requires = info.full_requires().to_vec();
            entry.recipe_hash = info.recipe_hash().map(str::to_owned);
        }
        entry.content = Some(content);
        entry
    }
}

/// `GET v1/R/search`: `{pkgid: {content, settings, options, full_requires, recipe_hash}}` over
/// the packages of the newest recipe revision; 404 for an unknown recipe. `q` is ignored: the
/// Conan 1.66 client never sends it and filters locally.
pub(in crate::routes) async fn package_search(target: Target) -> Result<HttpResponse, ApiError> {
    let (project, recipe) = (target.project.id, target.recipe.clone());
    let packages = read(&target.state, true, move |store| {
        let latest = store
            .latest_recipe_revision(project, &recipe)?
            .ok_or_else(|| ApiError::not_found("Package Not Found"))?;
        Ok(store.packages(&RecipeRevisionKey {
            project,
            recipe,
            revision: latest.revision,
        })?)
    })
    .await?;
    let answer: BTreeMap<String, LegacyEntry> = packages
        .into_iter()
        .map(|package| {
            (
                package.package_id.to_string(),
                LegacyEntry::of(package.conaninfo),
            )
        })
        .collect();
    json(&answer)
}
