//! Health, garbage collection and verification support on diesel.

use conan_model::RevisionTime;
use diesel::connection::SimpleConnection;
use diesel::dsl::{exists, not};
use diesel::prelude::*;

use super::files::{BlobRow, STAGING, digests_of};
use super::schema::{blobs, files, package_revisions, recipe_revisions, recipes, source_backups};
use super::{DbError, DieselStore, now_micros};
use crate::StoreError;
use crate::blob::{Digests, Sha256Hex};
use crate::traits::MaintenanceStore;

impl MaintenanceStore for DieselStore {
    fn check(&self) -> Result<(), StoreError> {
        self.read(|conn| Ok(conn.batch_execute("SELECT 1")?))
    }

    fn mark_orphaned_blobs(&self) -> Result<u64, StoreError> {
        self.transaction(|conn| {
            let marked = diesel::update(
                blobs::table
                    .filter(blobs::orphaned_at.is_null())
                    .filter(not(exists(
                        files::table.filter(files::sha256.eq(blobs::sha256)),
                    )))
                    .filter(not(exists(source_backups::table.filter(
                        source_backups::blob_sha256.eq(blobs::sha256.nullable()),
                    )))),
            )
            .set(blobs::orphaned_at.eq(now_micros()))
            .execute(conn)?;
            Ok(u64::try_from(marked).unwrap_or(0))
        })
    }

    fn orphaned_blobs(
        &self,
        before: RevisionTime,
        limit: usize,
    ) -> Result<Vec<Sha256Hex>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|conn| {
            let rows: Vec<String> = blobs::table
                .filter(blobs::orphaned_at.le(before.unix_micros()))
                .order(blobs::sha256)
                .select(blobs::sha256)
                .limit(limit)
                .load(conn)?;
            // A row that is not a sha256 names no object the collector could delete: it is
            // skipped, not an error that would stop the collection of the others.
            Ok(rows
                .into_iter()
                .filter_map(|sha256| Sha256Hex::try_from(sha256).ok())
                .collect())
        })
    }

    fn delete_orphaned_blob(
        &self,
        sha256: &Sha256Hex,
        before: RevisionTime,
        delete_object: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            // Deleting the row first takes its lock (and SQLite's write lock); a concurrent
            // upload's record waits until the object is gone and the row with it, then indexes
            // the blob again and publishes the object again from its staging copy.
            let deleted = diesel::delete(
                blobs::table
                    .find(sha256.as_str())
                    .filter(blobs::orphaned_at.le(before.unix_micros()))
                    .filter(not(exists(
                        files::table.filter(files::sha256.eq(sha256.as_str())),
                    )))
                    .filter(not(exists(
                        source_backups::table
                            .filter(source_backups::blob_sha256.eq(sha256.as_str())),
                    ))),
            )
            .execute(conn)?;
            if deleted == 0 {
                return Ok(false);
            }
            delete_object().map_err(DbError::Store)?;
            Ok(true)
        })
    }

    fn purge_abandoned_uploads(&self, before: RevisionTime) -> Result<u64, StoreError> {
        let before = before.unix_micros();
        self.transaction(|conn| {
            let packages = diesel::delete(
                package_revisions::table
                    .filter(package_revisions::revision.like(STAGING))
                    .filter(package_revisions::committed_at.is_null())
                    .filter(package_revisions::created_at.lt(before))
                    .filter(not(exists(
                        files::table
                            .filter(files::package_revision_id.eq(package_revisions::id.nullable()))
                            .filter(files::updated_at.ge(before)),
                    ))),
            )
            .execute(conn)?;
            let recipe_uploads = diesel::delete(
                recipe_revisions::table
                    .filter(recipe_revisions::revision.like(STAGING))
                    .filter(recipe_revisions::committed_at.is_null())
                    .filter(recipe_revisions::created_at.lt(before))
                    .filter(not(exists(
                        files::table
                            .filter(files::recipe_revision_id.eq(recipe_revisions::id))
                            .filter(files::updated_at.ge(before)),
                    ))),
            )
            .execute(conn)?;
            // A recipe row is created with its first revision, in one transaction, so one
            // without any is left over from a removed upload.
            diesel::delete(recipes::table.filter(not(exists(
                recipe_revisions::table.filter(recipe_revisions::recipe_id.eq(recipes::id)),
            ))))
            .execute(conn)?;
            Ok(u64::try_from(packages + recipe_uploads).unwrap_or(0))
        })
    }

    fn blob_indexed(&self, sha256: &Sha256Hex) -> Result<bool, StoreError> {
        self.read(|conn| {
            let found: Option<String> = blobs::table
                .find(sha256.as_str())
                .select(blobs::sha256)
                .first(conn)
                .optional()?;
            Ok(found.is_some())
        })
    }

    fn indexed_blobs(
        &self,
        after: Option<&Sha256Hex>,
        limit: usize,
    ) -> Result<Vec<Digests>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|conn| {
            let mut query = blobs::table
                .order(blobs::sha256)
                .select(BlobRow::as_select())
                .limit(limit)
                .into_boxed();
            if let Some(after) = after {
                query = query.filter(blobs::sha256.gt(after.as_str().to_owned()));
            }
            let rows: Vec<BlobRow> = query.load(conn)?;
            rows.into_iter().map(digests_of).collect()
        })
    }
}
