//! Finding, locking and creating the rows of a recipe's subtree, shared by the reads and writes
//! of `recipes.rs`, `packages.rs` and `files.rs`.
//!
//! Every write to a recipe's subtree first touches the recipe row (`UPDATE recipes SET
//! updated_at`, [`lock_recipe`]). On PostgreSQL that row lock serializes the writers of one
//! recipe, so commit times are strictly ordered and a delete never races an upload into a
//! half-deleted state; on SQLite it makes the transaction a writer from its first statement, so
//! it waits on `busy_timeout` instead of failing an upgrade.

use conan_model::{PackageId, RecipeReference};
use diesel::dsl::{count_star, exists, not};
use diesel::prelude::*;

use super::schema::{package_references, package_revisions, recipe_revisions, recipes};
use super::{DbConnection, DbError, now_micros, parse_stored, time_of};
use crate::StoreError;
use crate::records::{FileOwner, ProjectId, RecipeRevisionKey, RevisionEntry};

/// The stored user and channel of a reference: `''` when absent.
fn user_channel(recipe: &RecipeReference) -> (&str, &str) {
    (
        recipe.user().map_or("", conan_model::User::as_str),
        recipe.channel().map_or("", conan_model::Channel::as_str),
    )
}

/// A stored reference back in its domain type (user and channel are stored as `''` when absent).
pub(super) fn stored_reference(
    name: &str,
    version: &str,
    user: &str,
    channel: &str,
) -> Result<RecipeReference, DbError> {
    let optional = |text: &str| if text.is_empty() { "_" } else { text }.to_owned();
    RecipeReference::from_url_segments(name, version, &optional(user), &optional(channel))
        .map_err(|error| DbError::Store(StoreError::Corrupt(error.to_string())))
}

pub(super) fn find_recipe(
    conn: &mut DbConnection,
    project: ProjectId,
    recipe: &RecipeReference,
) -> QueryResult<Option<i64>> {
    let (user, channel) = user_channel(recipe);
    let query = recipes::table
        .filter(recipes::project_id.eq(project.0))
        .filter(recipes::name.eq(recipe.name().as_str()))
        .filter(recipes::version.eq(recipe.version().as_str()))
        .filter(recipes::user_name.eq(user))
        .filter(recipes::channel.eq(channel))
        .select(recipes::id);
    native!(conn, c => query.first(c).optional())
}

/// Takes the recipe's write lock (see the module docs).
pub(super) fn lock_recipe(conn: &mut DbConnection, recipe_id: i64) -> QueryResult<()> {
    native!(conn, c => diesel::update(recipes::table.find(recipe_id))
        .set(recipes::updated_at.eq(now_micros()))
        .execute(c))?;
    Ok(())
}

/// Finds the recipe and takes its lock, creating it first if needed.
pub(super) fn lock_or_create_recipe(
    conn: &mut DbConnection,
    project: ProjectId,
    recipe: &RecipeReference,
) -> QueryResult<i64> {
    let (user, channel) = user_channel(recipe);
    let now = now_micros();
    let id = find_or_insert(
        conn,
        |conn| find_recipe(conn, project, recipe),
        |conn| {
            native!(conn, c => diesel::insert_into(recipes::table)
                .values((
                    recipes::project_id.eq(project.0),
                    recipes::name.eq(recipe.name().as_str()),
                    recipes::version.eq(recipe.version().as_str()),
                    recipes::user_name.eq(user),
                    recipes::channel.eq(channel),
                    recipes::created_at.eq(now),
                    recipes::updated_at.eq(now),
                ))
                .execute(c))
        },
    )?;
    lock_recipe(conn, id)?;
    Ok(id)
}

/// A revision row: its id and its commit time, if committed.
type RevisionRow = (i64, Option<i64>);

pub(super) fn find_recipe_revision(
    conn: &mut DbConnection,
    recipe_id: i64,
    revision: &str,
) -> QueryResult<Option<RevisionRow>> {
    native!(conn, c => recipe_revisions::table
        .filter(recipe_revisions::recipe_id.eq(recipe_id))
        .filter(recipe_revisions::revision.eq(revision))
        .select((recipe_revisions::id, recipe_revisions::committed_at))
        .first(c))
    .optional()
}

pub(super) fn find_package_reference(
    conn: &mut DbConnection,
    recipe_revision_id: i64,
    package_id: &PackageId,
) -> QueryResult<Option<i64>> {
    native!(conn, c => package_references::table
        .filter(package_references::recipe_revision_id.eq(recipe_revision_id))
        .filter(package_references::package_id.eq(package_id.as_str()))
        .select(package_references::id)
        .first(c))
    .optional()
}

pub(super) fn find_package_revision(
    conn: &mut DbConnection,
    package_reference_id: i64,
    revision: &str,
) -> QueryResult<Option<RevisionRow>> {
    native!(conn, c => package_revisions::table
        .filter(package_revisions::package_reference_id.eq(package_reference_id))
        .filter(package_revisions::revision.eq(revision))
        .select((package_revisions::id, package_revisions::committed_at))
        .first(c))
    .optional()
}

/// The ids of an existing recipe revision: (recipe, recipe revision, its commit time).
pub(super) fn resolve_recipe_revision(
    conn: &mut DbConnection,
    key: &RecipeRevisionKey,
) -> QueryResult<Option<(i64, RevisionRow)>> {
    let Some(recipe_id) = find_recipe(conn, key.project, &key.recipe)? else {
        return Ok(None);
    };
    Ok(find_recipe_revision(conn, recipe_id, key.revision.as_str())?.map(|row| (recipe_id, row)))
}

fn entries(rows: Vec<(String, Option<i64>)>) -> Result<Vec<RevisionEntry>, DbError> {
    rows.into_iter()
        .filter_map(|(revision, committed_at)| committed_at.map(|time| (revision, time)))
        .map(|(revision, time)| {
            Ok(RevisionEntry {
                revision: parse_stored(&revision)?,
                time: time_of(time)?,
            })
        })
        .collect()
}

pub(super) fn committed_recipe_revisions(
    conn: &mut DbConnection,
    recipe_id: i64,
    limit: i64,
) -> Result<Vec<RevisionEntry>, DbError> {
    let query = recipe_revisions::table
        .filter(recipe_revisions::recipe_id.eq(recipe_id))
        .filter(recipe_revisions::committed_at.is_not_null())
        .order((
            recipe_revisions::committed_at.desc(),
            recipe_revisions::id.desc(),
        ))
        .select((recipe_revisions::revision, recipe_revisions::committed_at))
        .limit(limit);
    entries(native!(conn, c => query.load(c))?)
}

pub(super) fn committed_package_revisions(
    conn: &mut DbConnection,
    package_reference_id: i64,
    limit: i64,
) -> Result<Vec<RevisionEntry>, DbError> {
    let rows = native!(conn, c => package_revisions::table
        .filter(package_revisions::package_reference_id.eq(package_reference_id))
        .filter(package_revisions::committed_at.is_not_null())
        .order((
            package_revisions::committed_at.desc(),
            package_revisions::id.desc(),
        ))
        .select((package_revisions::revision, package_revisions::committed_at))
        .limit(limit)
        .load(c))?;
    entries(rows)
}

/// Finds a row, inserting it first when missing. A concurrent inserter turns the insert into a
/// unique violation, and the whole transaction runs again and finds the row.
pub(super) fn find_or_insert<T>(
    conn: &mut DbConnection,
    mut find: impl FnMut(&mut DbConnection) -> QueryResult<Option<T>>,
    insert: impl FnOnce(&mut DbConnection) -> QueryResult<usize>,
) -> QueryResult<T> {
    if let Some(found) = find(conn)? {
        return Ok(found);
    }
    insert(conn)?;
    find(conn)?.ok_or(diesel::result::Error::NotFound)
}

/// The committed owner's row ids: `(recipe revision, package revision)`.
pub(super) fn committed_owner(
    conn: &mut DbConnection,
    owner: &FileOwner,
) -> QueryResult<Option<(i64, Option<i64>)>> {
    let Some((_, (recipe_revision_id, recipe_committed))) =
        resolve_recipe_revision(conn, owner.recipe())?
    else {
        return Ok(None);
    };
    match owner {
        FileOwner::Recipe(_) => Ok(recipe_committed.map(|_| (recipe_revision_id, None))),
        FileOwner::Package(key) => {
            if recipe_committed.is_none() {
                return Ok(None);
            }
            let Some(reference_id) =
                find_package_reference(conn, recipe_revision_id, &key.package_id)?
            else {
                return Ok(None);
            };
            Ok(
                find_package_revision(conn, reference_id, key.revision.as_str())?.and_then(
                    |(package_revision_id, committed)| {
                        committed.map(|_| (recipe_revision_id, Some(package_revision_id)))
                    },
                ),
            )
        }
    }
}

/// Deletes a recipe when its last revision is gone, so search never shows an empty recipe.
pub(super) fn delete_recipe_if_empty(conn: &mut DbConnection, recipe_id: i64) -> QueryResult<()> {
    native!(conn, c => diesel::delete(recipes::table.find(recipe_id).filter(not(exists(
        recipe_revisions::table.filter(recipe_revisions::recipe_id.eq(recipe_id)),
    ))))
    .execute(c))?;
    Ok(())
}

/// Deletes a package reference when its last revision is gone.
pub(super) fn delete_package_reference_if_empty(
    conn: &mut DbConnection,
    reference_id: i64,
) -> QueryResult<()> {
    native!(conn, c => diesel::delete(
        package_references::table
            .find(reference_id)
            .filter(not(exists(package_revisions::table.filter(
                package_revisions::package_reference_id.eq(reference_id),
            )))),
    )
    .execute(c))?;
    Ok(())
}

/// Whether any of these package references has a committed revision.
pub(super) fn any_committed_package(
    conn: &mut DbConnection,
    reference_ids: &[i64],
) -> QueryResult<bool> {
    if reference_ids.is_empty() {
        return Ok(false);
    }
    let count: i64 = native!(conn, c => package_revisions::table
        .filter(package_revisions::package_reference_id.eq_any(reference_ids))
        .filter(package_revisions::committed_at.is_not_null())
        .select(count_star())
        .first(c))?;
    Ok(count > 0)
}
