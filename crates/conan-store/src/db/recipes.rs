//! Recipes and their revisions on diesel ([`RecipeStore`]).

use conan_model::RecipeReference;
use diesel::prelude::*;

use super::lookup::{
    committed_recipe_revisions, delete_recipe_if_empty, find_recipe, find_recipe_revision,
    lock_recipe, resolve_recipe_revision,
};
use super::schema::{recipe_revisions, recipes};
use super::{DieselStore, time_of};
use crate::StoreError;
use crate::records::{ProjectId, RecipeRevisionKey, RevisionEntry};
use crate::traits::RecipeStore;

impl RecipeStore for DieselStore {
    fn latest_recipe_revision(
        &self,
        project: ProjectId,
        recipe: &RecipeReference,
    ) -> Result<Option<RevisionEntry>, StoreError> {
        self.read(|conn| {
            let Some(recipe_id) = find_recipe(conn, project, recipe)? else {
                return Ok(None);
            };
            Ok(committed_recipe_revisions(conn, recipe_id, 1)?
                .into_iter()
                .next())
        })
    }

    fn recipe_revisions(
        &self,
        project: ProjectId,
        recipe: &RecipeReference,
    ) -> Result<Vec<RevisionEntry>, StoreError> {
        self.read(|conn| {
            let Some(recipe_id) = find_recipe(conn, project, recipe)? else {
                return Ok(Vec::new());
            };
            committed_recipe_revisions(conn, recipe_id, i64::MAX)
        })
    }

    fn recipe_revision(
        &self,
        key: &RecipeRevisionKey,
    ) -> Result<Option<RevisionEntry>, StoreError> {
        self.read(|conn| {
            let Some((_, (_, committed_at))) = resolve_recipe_revision(conn, key)? else {
                return Ok(None);
            };
            committed_at
                .map(|time| {
                    Ok(RevisionEntry {
                        revision: key.revision.clone(),
                        time: time_of(time)?,
                    })
                })
                .transpose()
        })
    }

    fn delete_recipe_revision(&self, key: &RecipeRevisionKey) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            let Some(recipe_id) = find_recipe(conn, key.project, &key.recipe)? else {
                return Ok(false);
            };
            // Nothing to delete is answered before the lock, which writes: a refused delete
            // changes nothing. After the lock the revision is looked up again.
            if find_recipe_revision(conn, recipe_id, key.revision.as_str())?.is_none() {
                return Ok(false);
            }
            lock_recipe(conn, recipe_id)?;
            let Some((revision_id, committed_at)) =
                find_recipe_revision(conn, recipe_id, key.revision.as_str())?
            else {
                return Ok(false);
            };
            native!(conn, c => diesel::delete(recipe_revisions::table.find(revision_id)).execute(c))?;
            delete_recipe_if_empty(conn, recipe_id)?;
            Ok(committed_at.is_some())
        })
    }

    fn delete_recipe(
        &self,
        project: ProjectId,
        recipe: &RecipeReference,
    ) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            let Some(recipe_id) = find_recipe(conn, project, recipe)? else {
                return Ok(false);
            };
            lock_recipe(conn, recipe_id)?;
            let visible = !committed_recipe_revisions(conn, recipe_id, 1)?.is_empty();
            native!(conn, c => diesel::delete(recipes::table.find(recipe_id)).execute(c))?;
            Ok(visible)
        })
    }
}
