//! Recipes, revisions, packages, files and search on diesel.
//!
//! Every write to a recipe's subtree first touches the recipe row (`UPDATE recipes SET
//! updated_at`). On PostgreSQL that row lock serializes the writers of one recipe, so commit
//! times are strictly ordered and a delete never races an upload into a half-deleted state; on
//! SQLite it makes the transaction a writer from its first statement, so it waits on
//! `busy_timeout` instead of failing an upgrade.

use conan_model::{FilePath, PackageId, RecipeReference, Revision, SearchPattern};
use diesel::dsl::{count_star, exists, max, not};
use diesel::prelude::*;

use super::schema::{
    blobs, files, package_references, package_revisions, recipe_revisions, recipes,
};
use super::{DbConnection, DbError, DieselStore, now_micros, parse_stored, time_of};
use crate::StoreError;
use crate::blob::Digests;
use crate::records::{
    FileOutcome, FileOwner, FileRecord, NewFile, PackageEntry, PackageRevisionKey, ProjectId,
    RecipeMatch, RecipeRevisionKey, RecordedFile, RevisionEntry, SearchScope, UploadId,
};
use crate::traits::{FileStore, PackageStore, RecipeStore, SearchStore};

diesel::define_sql_function!(
    /// SQL `lower(text)`, the same on both databases for ASCII.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
);

/// How many rows a search reads per round trip while it filters with the exact pattern.
const SEARCH_PAGE: i64 = 1_000;

/// The stored user and channel of a reference: `''` when absent.
fn user_channel(recipe: &RecipeReference) -> (&str, &str) {
    (
        recipe.user().map_or("", conan_model::User::as_str),
        recipe.channel().map_or("", conan_model::Channel::as_str),
    )
}

fn find_recipe(
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
fn lock_recipe(conn: &mut DbConnection, recipe_id: i64) -> QueryResult<()> {
    native!(conn, c => diesel::update(recipes::table.find(recipe_id))
        .set(recipes::updated_at.eq(now_micros()))
        .execute(c))?;
    Ok(())
}

/// Finds the recipe and takes its lock, creating it first if needed.
fn lock_or_create_recipe(
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

fn find_recipe_revision(
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

fn find_package_reference(
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

fn find_package_revision(
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
fn resolve_recipe_revision(
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

fn committed_recipe_revisions(
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

fn committed_package_revisions(
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

/// The commit time of a new revision: now, but strictly after every committed sibling, so
/// `latest` is always the last one committed even if clocks of several nodes disagree.
fn next_commit_time(latest_sibling: Option<i64>) -> i64 {
    let now = now_micros();
    latest_sibling.map_or(now, |latest| now.max(latest.saturating_add(1)))
}

/// The commit time for a new or re-committed revision of a recipe (see [`next_commit_time`]).
fn next_recipe_time(conn: &mut DbConnection, recipe_id: i64) -> QueryResult<i64> {
    let latest: Option<i64> = native!(conn, c => recipe_revisions::table
        .filter(recipe_revisions::recipe_id.eq(recipe_id))
        .select(max(recipe_revisions::committed_at))
        .first(c))?;
    Ok(next_commit_time(latest))
}

/// The commit time for a new or re-committed revision of a package (see [`next_commit_time`]).
fn next_package_time(conn: &mut DbConnection, reference_id: i64) -> QueryResult<i64> {
    let latest: Option<i64> = native!(conn, c => package_revisions::table
        .filter(package_revisions::package_reference_id.eq(reference_id))
        .select(max(package_revisions::committed_at))
        .first(c))?;
    Ok(next_commit_time(latest))
}

/// Where a file goes, after the rows it needs exist.
struct WriteTarget {
    recipe_id: i64,
    recipe_revision_id: i64,
    /// The package revision and package reference, for a package file.
    package: Option<(i64, i64)>,
    /// The owner's commit time, if committed.
    committed_at: Option<i64>,
    /// Whether the target is the invisible staging revision of a revision `0` upload.
    staged: bool,
}

/// A SQL `LIKE` pattern matching every staging revision name (see [`staging_revision`]).
pub(super) const STAGING: &str = "0~%";

/// The revision row an immutable file of revision `0` is written to until its upload's manifest
/// commits it: `0~<upload id>`, a name no client can send (revisions are alphanumeric), so it is
/// never looked up, listed or committed under that name (see [`crate::UploadId`]).
fn staging_revision(upload: Option<&UploadId>) -> String {
    format!("0~{}", upload.map_or("", UploadId::as_str))
}

/// Finds a row, inserting it first when missing. A concurrent inserter turns the insert into a
/// unique violation, and the whole transaction runs again and finds the row.
fn find_or_insert<T>(
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

/// Locks the recipe and finds or creates the rows a file of `owner` needs; `staging` names the
/// staging revision to write to instead of the owner's own (see [`staging_revision`]).
fn prepare_target(
    conn: &mut DbConnection,
    owner: &FileOwner,
    staging: Option<&str>,
) -> Result<WriteTarget, DbError> {
    let recipe = owner.recipe();
    let recipe_id = lock_or_create_recipe(conn, recipe.project, &recipe.recipe)?;
    let now = now_micros();
    let FileOwner::Package(package) = owner else {
        let revision = staging.unwrap_or(recipe.revision.as_str());
        let (recipe_revision_id, committed_at) = find_or_insert(
            conn,
            |conn| find_recipe_revision(conn, recipe_id, revision),
            |conn| {
                native!(conn, c => diesel::insert_into(recipe_revisions::table)
                    .values((
                        recipe_revisions::recipe_id.eq(recipe_id),
                        recipe_revisions::revision.eq(revision),
                        recipe_revisions::created_at.eq(now),
                    ))
                    .execute(c))
            },
        )?;
        return Ok(WriteTarget {
            recipe_id,
            recipe_revision_id,
            package: None,
            committed_at,
            staged: staging.is_some(),
        });
    };
    // Binaries of a recipe revision that clients cannot see would be unreachable.
    let Some((recipe_revision_id, Some(_))) =
        find_recipe_revision(conn, recipe_id, recipe.revision.as_str())?
    else {
        return Err(recipe_not_committed(recipe));
    };
    let reference_id = find_or_insert(
        conn,
        |conn| find_package_reference(conn, recipe_revision_id, &package.package_id),
        |conn| {
            native!(conn, c => diesel::insert_into(package_references::table)
                .values((
                    package_references::recipe_revision_id.eq(recipe_revision_id),
                    package_references::package_id.eq(package.package_id.as_str()),
                    package_references::created_at.eq(now),
                ))
                .execute(c))
        },
    )?;
    let revision = staging.unwrap_or(package.revision.as_str());
    let (package_revision_id, committed_at) = find_or_insert(
        conn,
        |conn| find_package_revision(conn, reference_id, revision),
        |conn| {
            native!(conn, c => diesel::insert_into(package_revisions::table)
                .values((
                    package_revisions::package_reference_id.eq(reference_id),
                    package_revisions::revision.eq(revision),
                    package_revisions::created_at.eq(now),
                ))
                .execute(c))
        },
    )?;
    Ok(WriteTarget {
        recipe_id,
        recipe_revision_id,
        package: Some((package_revision_id, reference_id)),
        committed_at,
        staged: staging.is_some(),
    })
}

fn recipe_not_committed(recipe: &RecipeRevisionKey) -> DbError {
    DbError::Store(StoreError::NotFound(format!(
        "recipe revision {}#{} is not on the server: upload the recipe before its packages",
        recipe.recipe, recipe.revision
    )))
}

/// The id and sha256 of the file stored under `path` in the target, if any.
fn existing_file(
    conn: &mut DbConnection,
    target: &WriteTarget,
    path: &FilePath,
) -> QueryResult<Option<(i64, String)>> {
    let query = files::table
        .filter(files::path.eq(path.as_str()))
        .select((files::id, files::sha256));
    if let Some((package_revision_id, _)) = target.package {
        let query = query.filter(files::package_revision_id.eq(package_revision_id));
        native!(conn, c => query.first(c).optional())
    } else {
        let query = query
            .filter(files::recipe_revision_id.eq(target.recipe_revision_id))
            .filter(files::package_revision_id.is_null());
        native!(conn, c => query.first(c).optional())
    }
}

/// Marks the owner committed, at a time after its committed siblings.
fn commit(
    conn: &mut DbConnection,
    owner: &FileOwner,
    target: &WriteTarget,
) -> Result<RevisionEntry, DbError> {
    let time = if let (FileOwner::Package(_), Some((package_revision_id, reference_id))) =
        (owner, target.package)
    {
        let time = next_package_time(conn, reference_id)?;
        native!(conn, c => diesel::update(
            package_revisions::table
                .find(package_revision_id)
                .filter(package_revisions::committed_at.is_null()),
        )
        .set(package_revisions::committed_at.eq(time))
        .execute(c))?;
        time
    } else {
        let time = next_recipe_time(conn, target.recipe_id)?;
        native!(conn, c => diesel::update(
            recipe_revisions::table
                .find(target.recipe_revision_id)
                .filter(recipe_revisions::committed_at.is_null()),
        )
        .set(recipe_revisions::committed_at.eq(time))
        .execute(c))?;
        time
    };
    Ok(RevisionEntry {
        revision: owner.revision().clone(),
        time: time_of(time)?,
    })
}

/// Makes a revision `0` upload's staged files the whole content of revision `0`, in the
/// transaction that records that upload's manifest: the old files go (all but `metadata/**`,
/// which changes on its own), the staged ones move in, and the revision is committed again at a
/// time after its siblings, so `latest` serves what was uploaded last. A reader sees the old set
/// or the new one, never a mix, and a file the new upload left out is gone with the old set.
fn promote(conn: &mut DbConnection, target: &WriteTarget) -> Result<RevisionEntry, DbError> {
    let zero = Revision::zero();
    let time = if let Some((staged_id, reference_id)) = target.package {
        let time = next_package_time(conn, reference_id)?;
        if let Some((live_id, _)) = find_package_revision(conn, reference_id, zero.as_str())? {
            native!(conn, c => diesel::delete(
                files::table
                    .filter(files::package_revision_id.eq(live_id))
                    .filter(not(files::path.like("metadata/%"))),
            )
            .execute(c))?;
            native!(conn, c => diesel::update(
                files::table.filter(files::package_revision_id.eq(staged_id)),
            )
            .set(files::package_revision_id.eq(live_id))
            .execute(c))?;
            let conaninfo: Option<String> = native!(conn, c => package_revisions::table
                .find(staged_id)
                .select(package_revisions::conaninfo)
                .first(c))?;
            native!(conn, c => diesel::delete(package_revisions::table.find(staged_id)).execute(c))?;
            native!(conn, c => diesel::update(package_revisions::table.find(live_id))
                .set((
                    package_revisions::conaninfo.eq(conaninfo),
                    package_revisions::committed_at.eq(time),
                ))
                .execute(c))?;
        } else {
            native!(conn, c => diesel::update(package_revisions::table.find(staged_id))
                .set((
                    package_revisions::revision.eq(zero.as_str()),
                    package_revisions::committed_at.eq(time),
                ))
                .execute(c))?;
        }
        time
    } else {
        let staged_id = target.recipe_revision_id;
        let time = next_recipe_time(conn, target.recipe_id)?;
        if let Some((live_id, _)) = find_recipe_revision(conn, target.recipe_id, zero.as_str())? {
            native!(conn, c => diesel::delete(
                files::table
                    .filter(files::recipe_revision_id.eq(live_id))
                    .filter(files::package_revision_id.is_null())
                    .filter(not(files::path.like("metadata/%"))),
            )
            .execute(c))?;
            native!(conn, c => diesel::update(
                files::table
                    .filter(files::recipe_revision_id.eq(staged_id))
                    .filter(files::package_revision_id.is_null()),
            )
            .set(files::recipe_revision_id.eq(live_id))
            .execute(c))?;
            // A staging revision is never committed, so it has no packages to cascade.
            native!(conn, c => diesel::delete(recipe_revisions::table.find(staged_id)).execute(c))?;
            native!(conn, c => diesel::update(recipe_revisions::table.find(live_id))
                .set(recipe_revisions::committed_at.eq(time))
                .execute(c))?;
        } else {
            native!(conn, c => diesel::update(recipe_revisions::table.find(staged_id))
                .set((
                    recipe_revisions::revision.eq(zero.as_str()),
                    recipe_revisions::committed_at.eq(time),
                ))
                .execute(c))?;
        }
        time
    };
    Ok(RevisionEntry {
        revision: zero,
        time: time_of(time)?,
    })
}

type FileRow = (String, i64, Option<String>, String, String, i64, i64);

fn file_record(row: FileRow) -> Result<FileRecord, DbError> {
    let (path, size, md5, sha1, sha256, created_at, updated_at) = row;
    Ok(FileRecord {
        path: parse_stored(&path)?,
        digests: Digests {
            size: u64::try_from(size)
                .map_err(|_| DbError::Store(StoreError::Corrupt(format!("file size {size}"))))?,
            md5,
            sha1,
            sha256: parse_stored(&sha256)?,
        },
        created_at: time_of(created_at)?,
        updated_at: time_of(updated_at)?,
    })
}

/// The committed owner's row ids: `(recipe revision, package revision)`.
fn committed_owner(
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

fn load_files(
    conn: &mut DbConnection,
    ids: (i64, Option<i64>),
    path: Option<&FilePath>,
) -> Result<Vec<FileRecord>, DbError> {
    let query = files::table
        .select((
            files::path,
            files::size,
            files::md5,
            files::sha1,
            files::sha256,
            files::created_at,
            files::updated_at,
        ))
        .order(files::path);
    // Four unboxed queries rather than one boxed: each has a static type, so each is prepared
    // once per connection (see `native!`).
    let rows: Vec<FileRow> = match (ids, path) {
        ((_, Some(package_revision_id)), None) => {
            let query = query.filter(files::package_revision_id.eq(package_revision_id));
            native!(conn, c => query.load(c))
        }
        ((_, Some(package_revision_id)), Some(path)) => {
            let query = query
                .filter(files::package_revision_id.eq(package_revision_id))
                .filter(files::path.eq(path.as_str()));
            native!(conn, c => query.load(c))
        }
        ((recipe_revision_id, None), None) => {
            let query = query
                .filter(files::recipe_revision_id.eq(recipe_revision_id))
                .filter(files::package_revision_id.is_null());
            native!(conn, c => query.load(c))
        }
        ((recipe_revision_id, None), Some(path)) => {
            let query = query
                .filter(files::recipe_revision_id.eq(recipe_revision_id))
                .filter(files::package_revision_id.is_null())
                .filter(files::path.eq(path.as_str()));
            native!(conn, c => query.load(c))
        }
    }?;
    rows.into_iter().map(file_record).collect()
}

/// Deletes a recipe when its last revision is gone, so search never shows an empty recipe.
fn delete_recipe_if_empty(conn: &mut DbConnection, recipe_id: i64) -> QueryResult<()> {
    native!(conn, c => diesel::delete(recipes::table.find(recipe_id).filter(not(exists(
        recipe_revisions::table.filter(recipe_revisions::recipe_id.eq(recipe_id)),
    ))))
    .execute(c))?;
    Ok(())
}

/// Deletes a package reference when its last revision is gone.
fn delete_package_reference_if_empty(
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
fn any_committed_package(conn: &mut DbConnection, reference_ids: &[i64]) -> QueryResult<bool> {
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

impl PackageStore for DieselStore {
    fn packages(&self, recipe: &RecipeRevisionKey) -> Result<Vec<PackageEntry>, StoreError> {
        self.read(|conn| {
            let Some((_, (recipe_revision_id, Some(_)))) = resolve_recipe_revision(conn, recipe)?
            else {
                return Ok(Vec::new());
            };
            // One query for all packages: committed revisions newest first per package; the
            // first row of each package is its latest.
            let rows: Vec<(String, String, Option<i64>, Option<String>)> =
                native!(conn, c => package_references::table
                    .inner_join(package_revisions::table)
                    .filter(package_references::recipe_revision_id.eq(recipe_revision_id))
                    .filter(package_revisions::committed_at.is_not_null())
                    .order((
                        package_references::package_id.asc(),
                        package_revisions::committed_at.desc(),
                        package_revisions::id.desc(),
                    ))
                    .select((
                        package_references::package_id,
                        package_revisions::revision,
                        package_revisions::committed_at,
                        package_revisions::conaninfo,
                    ))
                    .load(c))?;
            let mut packages: Vec<PackageEntry> = Vec::new();
            for (package_id, revision, committed_at, conaninfo) in rows {
                if packages
                    .last()
                    .is_some_and(|last| last.package_id.as_str() == package_id)
                {
                    continue;
                }
                let Some(time) = committed_at else { continue };
                packages.push(PackageEntry {
                    package_id: parse_stored(&package_id)?,
                    latest: RevisionEntry {
                        revision: parse_stored(&revision)?,
                        time: time_of(time)?,
                    },
                    conaninfo,
                });
            }
            Ok(packages)
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
            lock_recipe(conn, recipe_id)?;
            let references = package_references::table
                .filter(package_references::recipe_revision_id.eq(recipe_revision_id));
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

impl FileStore for DieselStore {
    fn files(&self, owner: &FileOwner) -> Result<Option<Vec<FileRecord>>, StoreError> {
        self.read(|conn| {
            let Some(ids) = committed_owner(conn, owner)? else {
                return Ok(None);
            };
            Ok(Some(load_files(conn, ids, None)?))
        })
    }

    fn file(&self, owner: &FileOwner, path: &FilePath) -> Result<Option<FileRecord>, StoreError> {
        self.read(|conn| {
            let Some(ids) = committed_owner(conn, owner)? else {
                return Ok(None);
            };
            Ok(load_files(conn, ids, Some(path))?.into_iter().next())
        })
    }

    fn record_file(
        &self,
        owner: &FileOwner,
        file: NewFile<'_>,
        ensure_blob: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<RecordedFile, StoreError> {
        let size = i64::try_from(file.digests.size).map_err(|_| {
            StoreError::Invalid(format!("file size {} is too large", file.digests.size))
        })?;
        // Immutable files of revision `0` go to their upload's staging revision first.
        let staging = (owner.revision().is_zero() && file.path.is_immutable())
            .then(|| staging_revision(file.upload));
        // Set when the file is refused: the transaction then rolls back, changing nothing.
        let mut refused = false;
        let recorded = self.transaction(|conn| {
            refused = false;
            let target = prepare_target(conn, owner, staging.as_deref())?;
            index_blob(conn, file.digests, size)?;
            // The index row is locked now: the collector cannot delete the object until this
            // transaction ends, and if it deleted it just before, this publishes it again.
            ensure_blob().map_err(DbError::Store)?;
            let now = now_micros();
            let outcome = match existing_file(conn, &target, file.path)? {
                Some((_, sha256)) if sha256 == file.digests.sha256.as_str() => {
                    FileOutcome::Unchanged
                }
                Some((id, existing)) => {
                    if file.path.is_immutable() && target.committed_at.is_some() {
                        // Committed revisions never change; whether the upload still succeeds
                        // depends on what it sent. A kept file's new blob stays indexed,
                        // unreferenced, for the collector.
                        if file.path.kind().is_archive()
                            || file.same_files_as == Some(existing.as_str())
                        {
                            return Ok(RecordedFile {
                                outcome: FileOutcome::Kept,
                                committed: None,
                            });
                        }
                        refused = true;
                        return Err(DbError::Store(StoreError::Conflict(format!(
                            "{} of committed revision {owner} holds other content",
                            file.path
                        ))));
                    }
                    native!(conn, c => diesel::update(files::table.find(id))
                        .set((
                            files::size.eq(size),
                            files::md5.eq(&file.digests.md5),
                            files::sha1.eq(&file.digests.sha1),
                            files::sha256.eq(file.digests.sha256.as_str()),
                            files::updated_at.eq(now),
                        ))
                        .execute(c))?;
                    FileOutcome::Replaced
                }
                None => {
                    native!(conn, c => diesel::insert_into(files::table)
                        .values((
                            files::recipe_revision_id.eq(target.recipe_revision_id),
                            files::package_revision_id.eq(target.package.map(|(id, _)| id)),
                            files::path.eq(file.path.as_str()),
                            files::size.eq(size),
                            files::md5.eq(&file.digests.md5),
                            files::sha1.eq(&file.digests.sha1),
                            files::sha256.eq(file.digests.sha256.as_str()),
                            files::created_at.eq(now),
                            files::updated_at.eq(now),
                        ))
                        .execute(c))?;
                    FileOutcome::Created
                }
            };
            if let (Some(conaninfo), Some((package_revision_id, _))) =
                (file.conaninfo, target.package)
                && outcome != FileOutcome::Unchanged
            {
                native!(conn, c => diesel::update(package_revisions::table.find(package_revision_id))
                    .set(package_revisions::conaninfo.eq(conaninfo))
                    .execute(c))?;
            }
            let committed = if !file.path.commits_revision() {
                None
            } else if target.staged {
                Some(promote(conn, &target)?)
            } else if target.committed_at.is_none() {
                Some(commit(conn, owner, &target)?)
            } else {
                None
            };
            Ok(RecordedFile { outcome, committed })
        });
        if refused {
            return Ok(RecordedFile {
                outcome: FileOutcome::Refused,
                committed: None,
            });
        }
        recorded
    }

    fn remove_revision_zero_files(
        &self,
        project: ProjectId,
        recipe: &RecipeReference,
        paths: &[FilePath],
    ) -> Result<u64, StoreError> {
        let paths: Vec<&str> = paths.iter().map(FilePath::as_str).collect();
        self.transaction(|conn| {
            let Some(recipe_id) = find_recipe(conn, project, recipe)? else {
                return Ok(0);
            };
            let zero = Revision::zero();
            if find_recipe_revision(conn, recipe_id, zero.as_str())?.is_none() {
                return Ok(0);
            }
            // Under the recipe's lock, as every write; found again in case it just went.
            lock_recipe(conn, recipe_id)?;
            let Some((revision_id, _)) = find_recipe_revision(conn, recipe_id, zero.as_str())?
            else {
                return Ok(0);
            };
            let removed = native!(conn, c => diesel::delete(
                files::table
                    .filter(files::recipe_revision_id.eq(revision_id))
                    .filter(files::package_revision_id.is_null())
                    .filter(files::path.eq_any(&paths)),
            )
            .execute(c))?;
            Ok(u64::try_from(removed).unwrap_or(0))
        })
    }

    fn blob_md5(&self, sha256: &str) -> Result<Option<String>, StoreError> {
        self.read(|conn| {
            let md5: Option<Option<String>> = native!(conn, c => blobs::table
                .find(sha256)
                .select(blobs::md5)
                .first(c))
            .optional()?;
            Ok(md5.flatten())
        })
    }

    fn record_md5(&self, sha256: &str, md5: &str) -> Result<(), StoreError> {
        self.transaction(|conn| {
            native!(conn, c => diesel::update(blobs::table.find(sha256))
                .filter(blobs::md5.is_null())
                .set(blobs::md5.eq(md5))
                .execute(c))?;
            native!(conn, c => diesel::update(files::table)
                .filter(files::sha256.eq(sha256))
                .filter(files::md5.is_null())
                .set(files::md5.eq(md5))
                .execute(c))?;
            Ok(())
        })
    }

    fn blob_by_sha1(&self, sha1: &str) -> Result<Option<Digests>, StoreError> {
        self.read(|conn| {
            let row: Option<BlobRow> = native!(conn, c => blobs::table
                .filter(blobs::sha1.eq(sha1))
                .filter(blobs::orphaned_at.is_null())
                .select((blobs::sha256, blobs::sha1, blobs::md5, blobs::size))
                .first(c))
            .optional()?;
            row.map(digests_of).transpose()
        })
    }
}

/// Indexes a blob (or clears its orphan mark), which also takes the row's lock until the
/// transaction ends.
fn index_blob(conn: &mut DbConnection, digests: &Digests, size: i64) -> Result<(), DbError> {
    let refreshed = native!(conn, c => diesel::update(blobs::table.find(digests.sha256.as_str()))
        .set(blobs::orphaned_at.eq(None::<i64>))
        .execute(c))?;
    if refreshed == 0 {
        // A concurrent indexer makes this a unique violation; the transaction then runs again.
        native!(conn, c => diesel::insert_into(blobs::table)
            .values((
                blobs::sha256.eq(digests.sha256.as_str()),
                blobs::sha1.eq(&digests.sha1),
                blobs::md5.eq(&digests.md5),
                blobs::size.eq(size),
                blobs::created_at.eq(now_micros()),
            ))
            .execute(c))?;
    }
    Ok(())
}

/// A `(sha256, sha1, md5, size)` blob row.
pub(crate) type BlobRow = (String, String, Option<String>, i64);

/// Digests from a blob row.
pub(crate) fn digests_of((sha256, sha1, md5, size): BlobRow) -> Result<Digests, DbError> {
    Ok(Digests {
        size: u64::try_from(size)
            .map_err(|_| DbError::Store(StoreError::Corrupt(format!("blob size {size}"))))?,
        md5,
        sha1,
        sha256: parse_stored(&sha256)?,
    })
}

/// The recipe-name filter a pattern's literal prefix allows: an exact (lower-cased) name, or a
/// range of lower-cased names, or nothing at all.
#[derive(Debug, PartialEq, Eq)]
enum NameFilter {
    Any,
    Exact(String),
    Range { from: String, to: String },
    Nothing,
}

fn name_filter(pattern: &SearchPattern) -> NameFilter {
    let prefix = pattern.literal_prefix().to_ascii_lowercase();
    // References are ASCII: a non-ASCII literal can match nothing.
    if !prefix.is_ascii() {
        return NameFilter::Nothing;
    }
    match prefix.find(['/', '@']) {
        Some(end) if prefix.as_bytes().get(end) == Some(&b'/') => {
            NameFilter::Exact(prefix[..end].to_owned())
        }
        // A name never contains `@`.
        Some(_) => NameFilter::Nothing,
        None if prefix.is_empty() => NameFilter::Any,
        None => {
            // The smallest string greater than every string starting with the prefix: bump the
            // last byte (a printable ASCII character, so the bump stays ASCII).
            let mut to = prefix.clone().into_bytes();
            if let Some(last) = to.last_mut() {
                *last = last.saturating_add(1);
            }
            NameFilter::Range {
                from: prefix,
                to: String::from_utf8_lossy(&to).into_owned(),
            }
        }
    }
}

type RecipeRow = (i64, String, String, String, String);

impl SearchStore for DieselStore {
    fn search_recipes(
        &self,
        scope: &SearchScope,
        pattern: &SearchPattern,
        limit: usize,
    ) -> Result<Vec<RecipeMatch>, StoreError> {
        let filter = name_filter(pattern);
        if filter == NameFilter::Nothing || limit == 0 {
            return Ok(Vec::new());
        }
        if let SearchScope::Projects(projects) = scope
            && projects.is_empty()
        {
            return Ok(Vec::new());
        }
        self.read(|conn| {
            let mut found = Vec::new();
            let mut offset = 0;
            loop {
                let mut query = recipes::table
                    .filter(exists(
                        recipe_revisions::table
                            .filter(recipe_revisions::recipe_id.eq(recipes::id))
                            .filter(recipe_revisions::committed_at.is_not_null()),
                    ))
                    .select((
                        recipes::project_id,
                        recipes::name,
                        recipes::version,
                        recipes::user_name,
                        recipes::channel,
                    ))
                    .order((
                        recipes::name,
                        recipes::version,
                        recipes::user_name,
                        recipes::channel,
                        recipes::project_id,
                    ))
                    .limit(SEARCH_PAGE)
                    .offset(offset)
                    .into_boxed();
                if let SearchScope::Projects(projects) = scope {
                    query = query.filter(
                        recipes::project_id.eq_any(projects.iter().map(|project| project.0)),
                    );
                }
                query = match &filter {
                    NameFilter::Exact(name) => query.filter(lower(recipes::name).eq(name.clone())),
                    NameFilter::Range { from, to } => query
                        .filter(lower(recipes::name).ge(from.clone()))
                        .filter(lower(recipes::name).lt(to.clone())),
                    NameFilter::Any | NameFilter::Nothing => query,
                };
                let rows: Vec<RecipeRow> = query.load(conn)?;
                let page_len = rows.len();
                for (project, name, version, user, channel) in rows {
                    let optional = |text: &str| {
                        if text.is_empty() {
                            "_".to_owned()
                        } else {
                            text.to_owned()
                        }
                    };
                    let reference = RecipeReference::from_url_segments(
                        &name,
                        &version,
                        &optional(&user),
                        &optional(&channel),
                    )
                    .map_err(|error| DbError::Store(StoreError::Corrupt(error.to_string())))?;
                    if pattern.matches_reference(&reference) {
                        found.push(RecipeMatch {
                            reference,
                            project: ProjectId(project),
                        });
                        if found.len() >= limit {
                            return Ok(found);
                        }
                    }
                }
                if page_len < usize::try_from(SEARCH_PAGE).unwrap_or(usize::MAX) {
                    return Ok(found);
                }
                offset += SEARCH_PAGE;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use conan_model::CaseSensitivity;

    use super::*;

    fn filter_of(pattern: &str) -> NameFilter {
        name_filter(&SearchPattern::new(pattern, CaseSensitivity::Insensitive).unwrap())
    }

    #[test]
    fn name_filters_follow_the_literal_prefix() {
        assert_eq!(filter_of(""), NameFilter::Any);
        assert_eq!(filter_of("*"), NameFilter::Any);
        assert_eq!(filter_of("zlib/1.*"), NameFilter::Exact("zlib".to_owned()));
        assert_eq!(filter_of("ZLib/*"), NameFilter::Exact("zlib".to_owned()));
        assert_eq!(
            filter_of("zl*"),
            NameFilter::Range {
                from: "zl".to_owned(),
                to: "zm".to_owned()
            }
        );
        assert_eq!(
            filter_of("zlib"),
            NameFilter::Range {
                from: "zlib".to_owned(),
                to: "zlic".to_owned()
            }
        );
        assert_eq!(filter_of("zlib@x"), NameFilter::Nothing);
        assert_eq!(filter_of("zlïb*"), NameFilter::Nothing);
    }
}
