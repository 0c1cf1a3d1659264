//! Files of revisions on diesel: recording a file (with the commit point, the re-upload rules
//! and revision `0`'s staged uploads), reading files, and the blob index rows files point at.

use conan_model::{FilePath, RecipeReference, Revision, RevisionTime};
use diesel::dsl::{max, not};
use diesel::prelude::*;

use super::lookup::{
    committed_owner, find_or_insert, find_package_reference, find_package_revision, find_recipe,
    find_recipe_revision, lock_or_create_recipe, lock_recipe,
};
use super::schema::{blobs, files, package_references, package_revisions, recipe_revisions};
use super::{DbConnection, DbError, DieselStore, now_micros, parse_stored, time_of};
use crate::StoreError;
use crate::blob::{Digests, Sha256Hex};
use crate::records::{
    FileOutcome, FileOwner, FileRecord, NewFile, ProjectId, RecipeRevisionKey, RecordedFile,
    RevisionEntry, UploadId,
};
use crate::traits::FileStore;

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

/// Marks the owner committed: at `copied_at` for a copy of a revision committed elsewhere,
/// downloaded now (see [`NewFile::revision_time`]); otherwise at a time after its committed
/// siblings.
fn commit(
    conn: &mut DbConnection,
    owner: &FileOwner,
    target: &WriteTarget,
    copied_at: Option<RevisionTime>,
) -> Result<RevisionEntry, DbError> {
    let copied_at = copied_at.map(RevisionTime::unix_micros);
    let time = if let (FileOwner::Package(_), Some((package_revision_id, reference_id))) =
        (owner, target.package)
    {
        let time = match copied_at {
            Some(time) => time,
            None => next_package_time(conn, reference_id)?,
        };
        native!(conn, c => diesel::update(
            package_revisions::table
                .find(package_revision_id)
                .filter(package_revisions::committed_at.is_null()),
        )
        .set(package_revisions::committed_at.eq(time))
        .execute(c))?;
        if copied_at.is_some() {
            // A copy arrives because a client reads it: cleanup counts it used from now.
            native!(conn, c => diesel::update(package_revisions::table.find(package_revision_id))
                .set(package_revisions::last_downloaded_at.eq(now_micros()))
                .execute(c))?;
        }
        time
    } else {
        let time = match copied_at {
            Some(time) => time,
            None => next_recipe_time(conn, target.recipe_id)?,
        };
        native!(conn, c => diesel::update(
            recipe_revisions::table
                .find(target.recipe_revision_id)
                .filter(recipe_revisions::committed_at.is_null()),
        )
        .set(recipe_revisions::committed_at.eq(time))
        .execute(c))?;
        if copied_at.is_some() {
            native!(conn, c => diesel::update(recipe_revisions::table.find(target.recipe_revision_id))
                .set(recipe_revisions::last_downloaded_at.eq(now_micros()))
                .execute(c))?;
        }
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

/// The columns of a file that [`load_files`] reads.
#[derive(Queryable, Selectable)]
#[diesel(table_name = files, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
struct FileRow {
    path: String,
    size: i64,
    md5: Option<String>,
    sha1: String,
    sha256: String,
    created_at: i64,
    updated_at: i64,
}

fn file_record(row: FileRow) -> Result<FileRecord, DbError> {
    let size = row.size;
    Ok(FileRecord {
        path: parse_stored(&row.path)?,
        digests: Digests {
            size: u64::try_from(size)
                .map_err(|_| DbError::Store(StoreError::Corrupt(format!("file size {size}"))))?,
            md5: row.md5,
            sha1: row.sha1,
            sha256: parse_stored(&row.sha256)?,
        },
        created_at: time_of(row.created_at)?,
        updated_at: time_of(row.updated_at)?,
    })
}

fn load_files(
    conn: &mut DbConnection,
    ids: (i64, Option<i64>),
    path: Option<&FilePath>,
) -> Result<Vec<FileRecord>, DbError> {
    let query = files::table.order(files::path);
    // Four unboxed queries rather than one boxed: each has a static type, so each is prepared
    // once per connection (see `native!`). The row's selection names its backend, so it is
    // chosen inside `native!`, once per backend.
    let rows: Vec<FileRow> = match (ids, path) {
        ((_, Some(package_revision_id)), None) => {
            let query = query.filter(files::package_revision_id.eq(package_revision_id));
            native!(conn, c => query.select(FileRow::as_select()).load(c))
        }
        ((_, Some(package_revision_id)), Some(path)) => {
            let query = query
                .filter(files::package_revision_id.eq(package_revision_id))
                .filter(files::path.eq(path.as_str()));
            native!(conn, c => query.select(FileRow::as_select()).load(c))
        }
        ((recipe_revision_id, None), None) => {
            let query = query
                .filter(files::recipe_revision_id.eq(recipe_revision_id))
                .filter(files::package_revision_id.is_null());
            native!(conn, c => query.select(FileRow::as_select()).load(c))
        }
        ((recipe_revision_id, None), Some(path)) => {
            let query = query
                .filter(files::recipe_revision_id.eq(recipe_revision_id))
                .filter(files::package_revision_id.is_null())
                .filter(files::path.eq(path.as_str()));
            native!(conn, c => query.select(FileRow::as_select()).load(c))
        }
    }?;
    rows.into_iter().map(file_record).collect()
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
                Some(commit(conn, owner, &target, file.revision_time)?)
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

    fn blob_md5(&self, sha256: &Sha256Hex) -> Result<Option<String>, StoreError> {
        self.read(|conn| {
            let md5: Option<Option<String>> = native!(conn, c => blobs::table
                .find(sha256.as_str())
                .select(blobs::md5)
                .first(c))
            .optional()?;
            Ok(md5.flatten())
        })
    }

    fn record_md5(&self, sha256: &Sha256Hex, md5: &str) -> Result<(), StoreError> {
        self.transaction(|conn| {
            native!(conn, c => diesel::update(blobs::table.find(sha256.as_str()))
                .filter(blobs::md5.is_null())
                .set(blobs::md5.eq(md5))
                .execute(c))?;
            native!(conn, c => diesel::update(files::table)
                .filter(files::sha256.eq(sha256.as_str()))
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
                .select(BlobRow::as_select())
                .first(c))
            .optional()?;
            row.map(digests_of).transpose()
        })
    }
}

/// Indexes a blob (or clears its orphan mark), which also takes the row's lock until the
/// transaction ends.
pub(super) fn index_blob(
    conn: &mut DbConnection,
    digests: &Digests,
    size: i64,
) -> Result<(), DbError> {
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

/// The digests columns of a blob's index row.
#[derive(Queryable, Selectable)]
#[diesel(table_name = blobs, check_for_backend(diesel::pg::Pg, diesel::sqlite::Sqlite))]
pub(crate) struct BlobRow {
    sha256: String,
    sha1: String,
    md5: Option<String>,
    size: i64,
}

/// Digests from a blob row.
pub(crate) fn digests_of(row: BlobRow) -> Result<Digests, DbError> {
    let size = row.size;
    Ok(Digests {
        size: u64::try_from(size)
            .map_err(|_| DbError::Store(StoreError::Corrupt(format!("blob size {size}"))))?,
        md5: row.md5,
        sha1: row.sha1,
        sha256: parse_stored(&row.sha256)?,
    })
}
