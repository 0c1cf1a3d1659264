//! The package catalog on diesel ([`CatalogStore`]).
//!
//! A listing is one query for the page (the recipe rows, in index order: see the
//! `package_catalog` migration), one for the count, and a few grouped queries for what the page
//! shows of each recipe (revisions, binaries, size), bounded by the page size, never by the
//! registry's size.

use std::collections::HashMap;

use conan_model::{FilePath, RevisionTime};
use diesel::dsl::{count_star, exists, sql};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::lookup::{
    find_package_reference, find_package_revision, find_recipe, find_recipe_revision, lock_recipe,
    stored_reference,
};
use super::schema::{
    blobs, files, package_references, package_revisions, projects, recipe_revisions, recipes,
    source_backups,
};
use super::{DbConnection, DbError, DieselStore, parse_stored, time_of};
use crate::StoreError;
use crate::blob::Digests;
use crate::catalog::{
    CatalogFile, CatalogFilePage, CatalogOrder, CatalogPackage, CatalogPage, CatalogQuery,
    CatalogStatus, FileOrder, FileQuery, ProjectStats,
};
use crate::records::{FileId, FileOwner, ProjectId, RecipeId, RevisionEntry};
use crate::traits::CatalogStore;

diesel::define_sql_function!(
    /// SQL `lower(text)`, the same on both databases for ASCII.
    fn lower(text: diesel::sql_types::Text) -> diesel::sql_types::Text;
);

/// A recipe row of a listing, with its project's path.
#[derive(Queryable)]
struct RecipeRow {
    id: i64,
    project_id: i64,
    project_path: String,
    name: String,
    version: String,
    user_name: String,
    channel: String,
    created_at: i64,
    last_downloaded_at: Option<i64>,
}

/// The columns of a [`RecipeRow`], in its field order.
const RECIPE_COLUMNS: (
    recipes::id,
    recipes::project_id,
    projects::path,
    recipes::name,
    recipes::version,
    recipes::user_name,
    recipes::channel,
    recipes::created_at,
    recipes::last_downloaded_at,
) = (
    recipes::id,
    recipes::project_id,
    projects::path,
    recipes::name,
    recipes::version,
    recipes::user_name,
    recipes::channel,
    recipes::created_at,
    recipes::last_downloaded_at,
);

/// A file row with the revisions it belongs to.
#[derive(Queryable)]
struct FileRow {
    id: i64,
    recipe_id: i64,
    path: String,
    size: i64,
    md5: Option<String>,
    sha1: String,
    sha256: String,
    created_at: i64,
    recipe_revision: String,
    package_id: Option<String>,
    package_revision: Option<String>,
}

/// `LIKE` pattern for a word anywhere in a lower-cased name, with `\` escaping `%` and `_`.
fn contains_pattern(word: &str) -> String {
    let mut pattern = String::with_capacity(word.len() + 2);
    pattern.push('%');
    for character in word.to_lowercase().chars() {
        if matches!(character, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(character);
    }
    pattern.push('%');
    pattern
}

fn count_of(value: i64) -> Result<u64, DbError> {
    u64::try_from(value)
        .map_err(|_| DbError::Store(StoreError::Corrupt(format!("negative count {value}"))))
}

/// The recipes of a [`CatalogQuery`] from `$from` (`recipes`, or `recipes` joined with
/// `projects` to sort by project path), boxed for one backend: every filter, no order.
macro_rules! catalog_rows {
    ($from:expr, $query:expr, $patterns:expr, $sqlite:expr) => {{
        let query: &CatalogQuery = $query;
        let mut rows = $from
            .filter(recipes::committed.eq(query.status == CatalogStatus::Committed))
            .into_boxed();
        // One project is an equality, which lets PostgreSQL read the page in index order; a
        // list (`= ANY`) would make it sort.
        rows = match query.projects.as_slice() {
            [project] => rows.filter(recipes::project_id.eq(project.0)),
            projects => {
                rows.filter(recipes::project_id.eq_any(projects.iter().map(|project| project.0)))
            }
        };
        for pattern in $patterns {
            rows = if $sqlite {
                // SQLite's LIKE ignores ASCII case by itself; lower() would cost a call per row.
                rows.filter(recipes::name.like(pattern.clone()).escape('\\'))
            } else {
                rows.filter(lower(recipes::name).like(pattern.clone()).escape('\\'))
            };
        }
        if let Some(name) = &query.name {
            rows = rows.filter(recipes::name.eq(name.clone()));
        }
        if let Some(version) = &query.version {
            rows = rows.filter(recipes::version.eq(version.clone()));
        }
        rows
    }};
}

impl DieselStore {
    /// What a listing shows of each recipe row: revisions, binaries of the newest revision,
    /// size.
    fn describe(
        conn: &mut DbConnection,
        rows: Vec<RecipeRow>,
    ) -> Result<Vec<CatalogPackage>, DbError> {
        let ids: Vec<i64> = rows.iter().map(|row| row.id).collect();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let revision_counts: HashMap<i64, i64> = native!(conn, c => recipe_revisions::table
            .filter(recipe_revisions::recipe_id.eq_any(&ids))
            .filter(recipe_revisions::committed_at.is_not_null())
            .group_by(recipe_revisions::recipe_id)
            .select((recipe_revisions::recipe_id, count_star()))
            .load::<(i64, i64)>(c))?
        .into_iter()
        .collect();
        // The newest committed revision of each recipe: one index probe per recipe of the page.
        let mut latest = HashMap::new();
        let mut latest_revision_ids: HashMap<i64, i64> = HashMap::new();
        for id in ids.iter().filter(|id| revision_counts.contains_key(id)) {
            let newest: Option<(i64, String, Option<i64>)> = native!(conn, c => recipe_revisions::table
                .filter(recipe_revisions::recipe_id.eq(id))
                .filter(recipe_revisions::committed_at.is_not_null())
                .order((
                    recipe_revisions::committed_at.desc(),
                    recipe_revisions::id.desc(),
                ))
                .select((
                    recipe_revisions::id,
                    recipe_revisions::revision,
                    recipe_revisions::committed_at,
                ))
                .first(c)
                .optional())?;
            if let Some((revision_id, revision, Some(time))) = newest {
                latest_revision_ids.insert(revision_id, *id);
                latest.insert(
                    *id,
                    RevisionEntry {
                        revision: parse_stored(&revision)?,
                        time: time_of(time)?,
                    },
                );
            }
        }
        let binaries: HashMap<i64, i64> = native!(conn, c => package_references::table
            .filter(package_references::recipe_revision_id.eq_any(
                latest_revision_ids.keys().copied().collect::<Vec<_>>(),
            ))
            .filter(exists(
                package_revisions::table
                    .filter(package_revisions::package_reference_id.eq(package_references::id))
                    .filter(package_revisions::committed_at.is_not_null()),
            ))
            .group_by(package_references::recipe_revision_id)
            .select((package_references::recipe_revision_id, count_star()))
        .load::<(i64, i64)>(c))?
        .into_iter()
        .filter_map(|(revision_id, count)| {
            latest_revision_ids
                .get(&revision_id)
                .map(|recipe_id| (*recipe_id, count))
        })
        .collect();
        let sizes = Self::sizes(conn, &ids)?;
        rows.into_iter()
            .map(|row| {
                Ok(CatalogPackage {
                    id: RecipeId(row.id),
                    project: ProjectId(row.project_id),
                    reference: stored_reference(
                        &row.name,
                        &row.version,
                        &row.user_name,
                        &row.channel,
                    )?,
                    project_path: row.project_path,
                    created_at: time_of(row.created_at)?,
                    last_downloaded_at: row.last_downloaded_at.map(time_of).transpose()?,
                    latest_revision: latest.remove(&row.id),
                    revision_count: count_of(revision_counts.get(&row.id).copied().unwrap_or(0))?,
                    binary_count: count_of(binaries.get(&row.id).copied().unwrap_or(0))?,
                    size: count_of(sizes.get(&row.id).copied().unwrap_or(0))?,
                })
            })
            .collect()
    }

    /// The bytes of every file of every committed recipe and package revision of each recipe.
    fn sizes(conn: &mut DbConnection, ids: &[i64]) -> Result<HashMap<i64, i64>, DbError> {
        let sum = || sql::<BigInt>("CAST(COALESCE(SUM(files.size), 0) AS BIGINT)");
        let recipe_sizes: Vec<(i64, i64)> = native!(conn, c => files::table
            .inner_join(recipe_revisions::table)
            .filter(recipe_revisions::recipe_id.eq_any(ids))
            .filter(recipe_revisions::committed_at.is_not_null())
            .filter(files::package_revision_id.is_null())
            .group_by(recipe_revisions::recipe_id)
            .select((recipe_revisions::recipe_id, sum()))
            .load(c))?;
        // Through the package references, not `files.recipe_revision_id`: no index leads from a
        // recipe revision to its package files, so that join read the whole files table (a
        // page of 25 recipes cost as much as every file in the registry). This way each step
        // is an index lookup: recipe revisions by recipe, references by recipe revision,
        // package revisions by reference, files by package revision.
        let package_sizes: Vec<(i64, i64)> = native!(conn, c => files::table
            .inner_join(
                package_revisions::table
                    .inner_join(package_references::table.inner_join(recipe_revisions::table)),
            )
            .filter(files::package_revision_id.is_not_null())
            .filter(recipe_revisions::recipe_id.eq_any(ids))
            .filter(recipe_revisions::committed_at.is_not_null())
            .filter(package_revisions::committed_at.is_not_null())
            .group_by(recipe_revisions::recipe_id)
            .select((recipe_revisions::recipe_id, sum()))
            .load(c))?;
        let mut sizes: HashMap<i64, i64> = HashMap::new();
        for (recipe_id, size) in recipe_sizes.into_iter().chain(package_sizes) {
            *sizes.entry(recipe_id).or_default() += size;
        }
        Ok(sizes)
    }

    /// The files of a recipe's committed revisions, boxed for one backend.
    fn file_rows(
        conn: &mut DbConnection,
        recipe: i64,
        file: Option<i64>,
        page: Option<&FileQuery>,
    ) -> Result<(u64, Vec<FileRow>), DbError> {
        macro_rules! rows {
            () => {{
                let mut rows = files::table
                    .inner_join(recipe_revisions::table)
                    .left_join(package_revisions::table.inner_join(package_references::table))
                    .filter(recipe_revisions::recipe_id.eq(recipe))
                    .filter(recipe_revisions::committed_at.is_not_null())
                    .filter(
                        files::package_revision_id
                            .is_null()
                            .or(package_revisions::committed_at.is_not_null()),
                    )
                    .into_boxed();
                if let Some(file) = file {
                    rows = rows.filter(files::id.eq(file));
                }
                rows
            }};
        }
        let select = (
            files::id,
            recipe_revisions::recipe_id,
            files::path,
            files::size,
            files::md5,
            files::sha1,
            files::sha256,
            files::created_at,
            recipe_revisions::revision,
            package_references::package_id.nullable(),
            package_revisions::revision.nullable(),
        );
        let Some(page) = page else {
            let found: Vec<FileRow> = native!(conn, c => rows!().select(select).load(c))?;
            return Ok((
                count_of(i64::try_from(found.len()).unwrap_or(i64::MAX))?,
                found,
            ));
        };
        let total: i64 = native!(conn, c => rows!().select(count_star()).first(c))?;
        let limit = i64::from(page.limit);
        let offset = i64::try_from(page.offset).unwrap_or(i64::MAX);
        let found: Vec<FileRow> = native!(conn, c => {
            let rows = rows!().select(select);
            let rows = match (page.order, page.descending) {
                (FileOrder::Id, false) => rows.order_by(files::id.asc()),
                (FileOrder::Id, true) => rows.order_by(files::id.desc()),
                (FileOrder::CreatedAt, false) => rows.order_by(files::created_at.asc()).then_order_by(files::id.asc()),
                (FileOrder::CreatedAt, true) => rows.order_by(files::created_at.desc()).then_order_by(files::id.desc()),
                (FileOrder::Name, false) => rows.order_by(files::path.asc()).then_order_by(files::id.asc()),
                (FileOrder::Name, true) => rows.order_by(files::path.desc()).then_order_by(files::id.desc()),
            };
            rows.limit(limit).offset(offset).load(c)
        })?;
        Ok((count_of(total)?, found))
    }

    /// Whether `project` has the recipe `recipe`.
    fn recipe_in_project(
        conn: &mut DbConnection,
        project: ProjectId,
        recipe: RecipeId,
    ) -> QueryResult<bool> {
        let found: i64 = native!(conn, c => recipes::table
            .filter(recipes::id.eq(recipe.0))
            .filter(recipes::project_id.eq(project.0))
            .select(count_star())
            .first(c))?;
        Ok(found > 0)
    }
}

fn catalog_file(row: FileRow) -> Result<CatalogFile, DbError> {
    let package = match (row.package_id, row.package_revision) {
        (Some(id), Some(revision)) => Some((parse_stored(&id)?, parse_stored(&revision)?)),
        _ => None,
    };
    Ok(CatalogFile {
        id: FileId(row.id),
        recipe: RecipeId(row.recipe_id),
        path: parse_stored(&row.path)?,
        digests: Digests {
            size: count_of(row.size)?,
            md5: row.md5,
            sha1: row.sha1,
            sha256: parse_stored(&row.sha256)?,
        },
        created_at: time_of(row.created_at)?,
        recipe_revision: parse_stored(&row.recipe_revision)?,
        package,
    })
}

impl CatalogStore for DieselStore {
    fn catalog_packages(&self, query: &CatalogQuery) -> Result<CatalogPage, StoreError> {
        if query.projects.is_empty() {
            return Ok(CatalogPage {
                total: Some(0),
                has_next: false,
                packages: Vec::new(),
            });
        }
        let patterns: Vec<String> = query
            .name_words
            .iter()
            .map(|word| contains_pattern(word))
            .collect();
        self.read(|conn| {
            let ordered_ids = |conn: &mut DbConnection, offset: u64, limit: u64| -> QueryResult<Vec<i64>> {
                let sqlite = matches!(conn, DbConnection::Sqlite(_));
                let offset = i64::try_from(offset).unwrap_or(i64::MAX);
                let limit = i64::try_from(limit).unwrap_or(i64::MAX);
                native!(conn, c => {
                    if query.order == CatalogOrder::ProjectPath {
                        let rows = catalog_rows!(recipes::table.inner_join(projects::table), query, &patterns, sqlite)
                            .select(recipes::id);
                        let rows = if query.descending {
                            rows.order_by(projects::path.desc()).then_order_by(recipes::created_at.desc()).then_order_by(recipes::id.desc())
                        } else {
                            rows.order_by(projects::path.asc()).then_order_by(recipes::created_at.asc()).then_order_by(recipes::id.asc())
                        };
                        rows.limit(limit).offset(offset).load(c)
                    } else {
                        let rows = catalog_rows!(recipes::table, query, &patterns, sqlite).select(recipes::id);
                        let rows = match (query.order, query.descending) {
                            (CatalogOrder::CreatedAt | CatalogOrder::ProjectPath, false) => rows.order_by(recipes::created_at.asc()).then_order_by(recipes::id.asc()),
                            (CatalogOrder::CreatedAt | CatalogOrder::ProjectPath, true) => rows.order_by(recipes::created_at.desc()).then_order_by(recipes::id.desc()),
                            (CatalogOrder::Name, false) => rows.order_by(recipes::name.asc()).then_order_by(recipes::id.asc()),
                            (CatalogOrder::Name, true) => rows.order_by(recipes::name.desc()).then_order_by(recipes::id.desc()),
                            (CatalogOrder::Version, false) => rows.order_by(recipes::version.asc()).then_order_by(recipes::id.asc()),
                            (CatalogOrder::Version, true) => rows.order_by(recipes::version.desc()).then_order_by(recipes::id.desc()),
                            (CatalogOrder::Id, false) => rows.order_by(recipes::id.asc()),
                            (CatalogOrder::Id, true) => rows.order_by(recipes::id.desc()),
                        };
                        rows.limit(limit).offset(offset).load(c)
                    }
                })
            };
            // The ids only, from the index (the skipped rows are never read), then the page's
            // rows: a deferred join. A page within the first `count_limit` matches comes out of
            // the same ordered read that counts them (up to one past the limit, which also tells
            // whether a next page exists), so the common listing reads once.
            let cap = query.count_limit;
            let end = query.offset.saturating_add(u64::from(query.limit));
            let (total, has_next, ids) = if end <= cap {
                let head = ordered_ids(conn, 0, cap.saturating_add(1))?;
                let total = u64::try_from(head.len()).unwrap_or(u64::MAX);
                let from = usize::try_from(query.offset).unwrap_or(usize::MAX).min(head.len());
                let to = usize::try_from(end).unwrap_or(usize::MAX).min(head.len());
                ((total <= cap).then_some(total), total > end, head[from..to].to_vec())
            } else {
                let mut ids = ordered_ids(conn, query.offset, u64::from(query.limit) + 1)?;
                let has_next = ids.len() > usize::try_from(query.limit).unwrap_or(usize::MAX);
                ids.truncate(usize::try_from(query.limit).unwrap_or(usize::MAX));
                // The last page knows the total; past the end, a capped count tells whether the
                // listing is short enough to count.
                let total = if !has_next && !ids.is_empty() {
                    Some(query.offset.saturating_add(u64::try_from(ids.len()).unwrap_or(u64::MAX)))
                } else if ids.is_empty() {
                    let head = u64::try_from(ordered_ids(conn, 0, cap.saturating_add(1))?.len()).unwrap_or(u64::MAX);
                    (head <= cap).then_some(head)
                } else {
                    None
                };
                (total, has_next, ids)
            };
            let mut rows: Vec<RecipeRow> = native!(conn, c => recipes::table
                .inner_join(projects::table)
                .filter(recipes::id.eq_any(&ids))
                .select(RECIPE_COLUMNS)
                .load(c))?;
            rows.sort_by_key(|row| ids.iter().position(|id| *id == row.id));
            Ok(CatalogPage {
                total,
                has_next,
                packages: Self::describe(conn, rows)?,
            })
        })
    }

    fn catalog_package(
        &self,
        project: ProjectId,
        id: RecipeId,
    ) -> Result<Option<CatalogPackage>, StoreError> {
        self.read(|conn| {
            let rows: Vec<RecipeRow> = native!(conn, c => recipes::table
                .inner_join(projects::table)
                .filter(recipes::id.eq(id.0))
                .filter(recipes::project_id.eq(project.0))
                .select(RECIPE_COLUMNS)
                .load(c))?;
            Ok(Self::describe(conn, rows)?.into_iter().next())
        })
    }

    fn catalog_files(
        &self,
        project: ProjectId,
        recipe: RecipeId,
        query: &FileQuery,
    ) -> Result<Option<CatalogFilePage>, StoreError> {
        self.read(|conn| {
            if !Self::recipe_in_project(conn, project, recipe)? {
                return Ok(None);
            }
            let (total, rows) = Self::file_rows(conn, recipe.0, None, Some(query))?;
            Ok(Some(CatalogFilePage {
                total,
                files: rows
                    .into_iter()
                    .map(catalog_file)
                    .collect::<Result<_, _>>()?,
            }))
        })
    }

    fn catalog_file(
        &self,
        project: ProjectId,
        recipe: RecipeId,
        file: FileId,
    ) -> Result<Option<CatalogFile>, StoreError> {
        self.read(|conn| {
            if !Self::recipe_in_project(conn, project, recipe)? {
                return Ok(None);
            }
            let (_, rows) = Self::file_rows(conn, recipe.0, Some(file.0), None)?;
            rows.into_iter().next().map(catalog_file).transpose()
        })
    }

    fn delete_catalog_file(
        &self,
        project: ProjectId,
        recipe: RecipeId,
        file: FileId,
    ) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            if !Self::recipe_in_project(conn, project, recipe)? {
                return Ok(false);
            }
            lock_recipe(conn, recipe.0)?;
            let (_, rows) = Self::file_rows(conn, recipe.0, Some(file.0), None)?;
            let Some(row) = rows.into_iter().next() else {
                return Ok(false);
            };
            let path: FilePath = parse_stored(&row.path)?;
            if path.commits_revision() {
                return Err(DbError::Store(StoreError::Invalid(
                    "a manifest is removed with its revision".to_owned(),
                )));
            }
            let deleted = native!(conn, c => diesel::delete(files::table.find(file.0)).execute(c))?;
            Ok(deleted > 0)
        })
    }

    fn project_stats(&self, project: ProjectId) -> Result<ProjectStats, StoreError> {
        let p = project.0;
        // The files of the project's committed recipe and package revisions.
        macro_rules! committed_files {
            () => {
                files::table
                    .inner_join(recipe_revisions::table.inner_join(recipes::table))
                    .left_join(package_revisions::table)
                    .filter(recipes::project_id.eq(p))
                    .filter(recipe_revisions::committed_at.is_not_null())
                    .filter(
                        files::package_revision_id
                            .is_null()
                            .or(package_revisions::committed_at.is_not_null()),
                    )
            };
        }
        self.read(|conn| {
            let references: i64 = native!(conn, c => recipes::table
                .filter(recipes::project_id.eq(p))
                .filter(recipes::committed.eq(true))
                .select(count_star())
                .first(c))?;
            let recipe_revisions: i64 = native!(conn, c => recipe_revisions::table
                .inner_join(recipes::table)
                .filter(recipes::project_id.eq(p))
                .filter(recipe_revisions::committed_at.is_not_null())
                .select(count_star())
                .first(c))?;
            let binaries: i64 = native!(conn, c => package_references::table
                .inner_join(recipe_revisions::table.inner_join(recipes::table))
                .filter(recipes::project_id.eq(p))
                .filter(recipe_revisions::committed_at.is_not_null())
                .filter(exists(
                    package_revisions::table
                        .filter(package_revisions::package_reference_id.eq(package_references::id))
                        .filter(package_revisions::committed_at.is_not_null()),
                ))
                .select(count_star())
                .first(c))?;
            let package_revisions: i64 = native!(conn, c => package_revisions::table
                .inner_join(package_references::table.inner_join(recipe_revisions::table.inner_join(recipes::table)))
                .filter(recipes::project_id.eq(p))
                .filter(recipe_revisions::committed_at.is_not_null())
                .filter(package_revisions::committed_at.is_not_null())
                .select(count_star())
                .first(c))?;
            let (files, logical_bytes): (i64, i64) = native!(conn, c => committed_files!()
                .select((count_star(), sql::<BigInt>("CAST(COALESCE(SUM(files.size), 0) AS BIGINT)")))
                .first(c))?;
            let (source_backups, source_backup_bytes): (i64, i64) = native!(conn, c => source_backups::table
                .filter(source_backups::project_id.eq(p))
                .filter(source_backups::blob_sha256.is_not_null())
                .select((count_star(), sql::<BigInt>("CAST(COALESCE(SUM(source_backups.size), 0) AS BIGINT)")))
                .first(c))?;
            let stored_bytes: i64 = native!(conn, c => blobs::table
                .filter(
                    blobs::sha256
                        .eq_any(committed_files!().select(files::sha256))
                        .or(blobs::sha256.nullable().eq_any(
                            source_backups::table
                                .filter(source_backups::project_id.eq(p))
                                .select(source_backups::blob_sha256),
                        )),
                )
                .select(sql::<BigInt>("CAST(COALESCE(SUM(blobs.size), 0) AS BIGINT)"))
                .first(c))?;
            Ok(ProjectStats {
                references: count_of(references)?,
                recipe_revisions: count_of(recipe_revisions)?,
                binaries: count_of(binaries)?,
                package_revisions: count_of(package_revisions)?,
                files: count_of(files)?,
                logical_bytes: count_of(logical_bytes)?,
                source_backups: count_of(source_backups)?,
                source_backup_bytes: count_of(source_backup_bytes)?,
                stored_bytes: count_of(stored_bytes)?,
            })
        })
    }

    fn record_downloads(&self, downloads: &[(FileOwner, RevisionTime)]) -> Result<(), StoreError> {
        if downloads.is_empty() {
            return Ok(());
        }
        self.transaction(|conn| {
            for (owner, time) in downloads {
                let recipe = owner.recipe();
                let Some(recipe_id) = find_recipe(conn, recipe.project, &recipe.recipe)? else {
                    continue;
                };
                let time = time.unix_micros();
                native!(conn, c => diesel::update(
                    recipes::table.find(recipe_id).filter(
                        recipes::last_downloaded_at
                            .is_null()
                            .or(recipes::last_downloaded_at.lt(time)),
                    ),
                )
                .set(recipes::last_downloaded_at.eq(time))
                .execute(c))?;
                let Some((revision_id, _)) =
                    find_recipe_revision(conn, recipe_id, recipe.revision.as_str())?
                else {
                    continue;
                };
                native!(conn, c => diesel::update(
                    recipe_revisions::table.find(revision_id).filter(
                        recipe_revisions::last_downloaded_at
                            .is_null()
                            .or(recipe_revisions::last_downloaded_at.lt(time)),
                    ),
                )
                .set(recipe_revisions::last_downloaded_at.eq(time))
                .execute(c))?;
                let FileOwner::Package(package) = owner else {
                    continue;
                };
                let Some(reference_id) =
                    find_package_reference(conn, revision_id, &package.package_id)?
                else {
                    continue;
                };
                let Some((package_revision_id, _)) =
                    find_package_revision(conn, reference_id, package.revision.as_str())?
                else {
                    continue;
                };
                native!(conn, c => diesel::update(
                    package_revisions::table.find(package_revision_id).filter(
                        package_revisions::last_downloaded_at
                            .is_null()
                            .or(package_revisions::last_downloaded_at.lt(time)),
                    ),
                )
                .set(package_revisions::last_downloaded_at.eq(time))
                .execute(c))?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_words_match_anywhere_with_wildcards_escaped() {
        assert_eq!(contains_pattern("Zlib"), "%zlib%");
        assert_eq!(contains_pattern("a_b%c\\"), "%a\\_b\\%c\\\\%");
        assert_eq!(contains_pattern(""), "%%");
    }
}
