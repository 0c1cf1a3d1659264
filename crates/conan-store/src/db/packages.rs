//! Binary packages and their revisions on diesel ([`PackageStore`]).

use conan_model::{PackageId, Revision};
use diesel::dsl::sql;
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::lookup::{
    any_committed_package, committed_package_revisions, delete_package_reference_if_empty,
    find_package_reference, find_package_revision, lock_recipe, resolve_recipe_revision,
};
use super::schema::{files, package_references, package_revisions};
use super::{DieselStore, parse_stored, time_of};
use crate::StoreError;
use crate::records::{PackageEntry, PackageRevisionKey, RecipeRevisionKey, RevisionEntry};
use crate::traits::PackageStore;

/// A committed revision of one of a recipe revision's packages, as [`PackageStore::packages`]
/// reads it.
#[derive(Queryable, Selectable)]
#[diesel(
    table_name = package_revisions,
    check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite)
)]
struct PackageRevisionRow {
    #[diesel(select_expression = package_references::package_id)]
    package_id: String,
    revision: String,
    committed_at: Option<i64>,
    conaninfo: Option<String>,
}

// A binary's size is grouped by its package id and revision, from two tables.
diesel::allow_columns_to_appear_in_same_group_by_clause!(
    package_references::package_id,
    package_revisions::revision,
);

impl PackageStore for DieselStore {
    fn packages(&self, recipe: &RecipeRevisionKey) -> Result<Vec<PackageEntry>, StoreError> {
        self.read(|conn| {
            let Some((_, (recipe_revision_id, Some(_)))) = resolve_recipe_revision(conn, recipe)?
            else {
                return Ok(Vec::new());
            };
            // One query for all packages: committed revisions newest first per package; the
            // first row of each package is its latest.
            let rows: Vec<PackageRevisionRow> = native!(conn, c => package_references::table
                .inner_join(package_revisions::table)
                .filter(package_references::recipe_revision_id.eq(recipe_revision_id))
                .filter(package_revisions::committed_at.is_not_null())
                .order((
                    package_references::package_id.asc(),
                    package_revisions::committed_at.desc(),
                    package_revisions::id.desc(),
                ))
                .select(PackageRevisionRow::as_select())
                .load(c))?;
            let mut packages: Vec<PackageEntry> = Vec::new();
            for row in rows {
                if packages
                    .last()
                    .is_some_and(|last| last.package_id.as_str() == row.package_id)
                {
                    continue;
                }
                let Some(time) = row.committed_at else {
                    continue;
                };
                packages.push(PackageEntry {
                    package_id: parse_stored(&row.package_id)?,
                    latest: RevisionEntry {
                        revision: parse_stored(&row.revision)?,
                        time: time_of(time)?,
                    },
                    conaninfo: row.conaninfo,
                });
            }
            Ok(packages)
        })
    }

    fn package_revision_sizes(
        &self,
        recipe: &RecipeRevisionKey,
    ) -> Result<Vec<(PackageId, Revision, u64)>, StoreError> {
        self.read(|conn| {
            let Some((_, (recipe_revision_id, Some(_)))) = resolve_recipe_revision(conn, recipe)?
            else {
                return Ok(Vec::new());
            };
            // Index searches all the way: references by recipe revision, their revisions, the
            // files of each package revision.
            let rows: Vec<(String, String, i64)> = native!(conn, c => files::table
                .inner_join(package_revisions::table.inner_join(package_references::table))
                .filter(files::package_revision_id.is_not_null())
                .filter(package_references::recipe_revision_id.eq(recipe_revision_id))
                .filter(package_revisions::committed_at.is_not_null())
                .group_by((package_references::package_id, package_revisions::revision))
                .select((
                    package_references::package_id,
                    package_revisions::revision,
                    sql::<BigInt>("CAST(COALESCE(SUM(files.size), 0) AS BIGINT)"),
                ))
                .load(c))?;
            rows.into_iter()
                .map(|(package_id, revision, size)| {
                    Ok((
                        parse_stored(&package_id)?,
                        parse_stored(&revision)?,
                        u64::try_from(size).unwrap_or_default(),
                    ))
                })
                .collect()
        })
    }

    fn latest_package_revision(
        &self,
        recipe: &RecipeRevisionKey,
        package_id: &PackageId,
    ) -> Result<Option<RevisionEntry>, StoreError> {
        Ok(self
            .package_revisions_limited(recipe, package_id, 1)?
            .into_iter()
            .next())
    }

    fn package_revisions(
        &self,
        recipe: &RecipeRevisionKey,
        package_id: &PackageId,
    ) -> Result<Vec<RevisionEntry>, StoreError> {
        self.package_revisions_limited(recipe, package_id, i64::MAX)
    }

    fn package_revision(
        &self,
        key: &PackageRevisionKey,
    ) -> Result<Option<RevisionEntry>, StoreError> {
        self.read(|conn| {
            let Some((_, (recipe_revision_id, Some(_)))) =
                resolve_recipe_revision(conn, &key.recipe)?
            else {
                return Ok(None);
            };
            let Some(reference_id) =
                find_package_reference(conn, recipe_revision_id, &key.package_id)?
            else {
                return Ok(None);
            };
            let Some((_, Some(time))) =
                find_package_revision(conn, reference_id, key.revision.as_str())?
            else {
                return Ok(None);
            };
            Ok(Some(RevisionEntry {
                revision: key.revision.clone(),
                time: time_of(time)?,
            }))
        })
    }

    fn delete_package_revision(&self, key: &PackageRevisionKey) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            let Some((recipe_id, (recipe_revision_id, _))) =
                resolve_recipe_revision(conn, &key.recipe)?
            else {
                return Ok(false);
            };
            // Nothing to delete is answered before the lock, which writes: a refused delete
            // changes nothing. After the lock everything is looked up again.
            let exists = match find_package_reference(conn, recipe_revision_id, &key.package_id)? {
                Some(reference_id) => {
                    find_package_revision(conn, reference_id, key.revision.as_str())?.is_some()
                }
                None => false,
            };
            if !exists {
                return Ok(false);
            }
            lock_recipe(conn, recipe_id)?;
            let Some(reference_id) =
                find_package_reference(conn, recipe_revision_id, &key.package_id)?
            else {
                return Ok(false);
            };
            let Some((revision_id, committed_at)) =
                find_package_revision(conn, reference_id, key.revision.as_str())?
            else {
                return Ok(false);
            };
            native!(conn, c => diesel::delete(package_revisions::table.find(revision_id)).execute(c))?;
            delete_package_reference_if_empty(conn, reference_id)?;
            Ok(committed_at.is_some())
        })
    }

    fn delete_package(
        &self,
        recipe: &RecipeRevisionKey,
        package_id: &PackageId,
    ) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            let Some((recipe_id, (recipe_revision_id, _))) = resolve_recipe_revision(conn, recipe)?
            else {
                return Ok(false);
            };
            // As above: nothing to delete changes nothing.
            if find_package_reference(conn, recipe_revision_id, package_id)?.is_none() {
                return Ok(false);
            }
            lock_recipe(conn, recipe_id)?;
            let Some(reference_id) = find_package_reference(conn, recipe_revision_id, package_id)?
            else {
                return Ok(false);
            };
            let visible = any_committed_package(conn, &[reference_id])?;
            native!(conn, c => diesel::delete(package_references::table.find(reference_id)).execute(c))?;
            Ok(visible)
        })
    }

    fn delete_packages(&self, recipe: &RecipeRevisionKey) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            let Some((recipe_id, (recipe_revision_id, _))) = resolve_recipe_revision(conn, recipe)?
            else {
                return Ok(false);
            };
            let references = package_references::table
                .filter(package_references::recipe_revision_id.eq(recipe_revision_id));
            // As above: no package to delete changes nothing.
            let any: Option<i64> = native!(conn, c => references
                .select(package_references::id)
                .first(c)
                .optional())?;
            if any.is_none() {
                return Ok(false);
            }
            lock_recipe(conn, recipe_id)?;
            let reference_ids: Vec<i64> =
                native!(conn, c => references.select(package_references::id).load(c))?;
            let visible = any_committed_package(conn, &reference_ids)?;
            native!(conn, c => diesel::delete(references).execute(c))?;
            Ok(visible)
        })
    }
}

impl DieselStore {
    fn package_revisions_limited(
        &self,
        recipe: &RecipeRevisionKey,
        package_id: &PackageId,
        limit: i64,
    ) -> Result<Vec<RevisionEntry>, StoreError> {
        self.read(|conn| {
            let Some((_, (recipe_revision_id, Some(_)))) = resolve_recipe_revision(conn, recipe)?
            else {
                return Ok(Vec::new());
            };
            let Some(reference_id) = find_package_reference(conn, recipe_revision_id, package_id)?
            else {
                return Ok(Vec::new());
            };
            committed_package_revisions(conn, reference_id, limit)
        })
    }
}
