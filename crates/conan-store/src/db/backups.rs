//! Conan's source backups on diesel: one row a project and sha256.

use conan_model::RevisionTime;
use diesel::prelude::*;

use super::files::index_blob;
use super::schema::source_backups as backups;
use super::{DbConnection, DbError, DieselStore, now_micros, parse_stored, time_of};
use crate::StoreError;
use crate::backups::SourceBackup;
use crate::blob::{Digests, Sha256Hex};
use crate::records::ProjectId;
use crate::traits::BackupStore;

pub(super) type BackupRow = (
    i64,
    String,
    Option<i64>,
    Option<String>,
    i64,
    i64,
    Option<i64>,
);

pub(super) const BACKUP_COLUMNS: (
    backups::project_id,
    backups::sha256,
    backups::size,
    backups::summary,
    backups::created_at,
    backups::updated_at,
    backups::last_used_at,
) = (
    backups::project_id,
    backups::sha256,
    backups::size,
    backups::summary,
    backups::created_at,
    backups::updated_at,
    backups::last_used_at,
);

pub(super) fn backup_of(
    (project, sha256, size, summary, created_at, updated_at, last_used_at): BackupRow,
) -> Result<SourceBackup, DbError> {
    let size = size
        .map(|size| {
            u64::try_from(size)
                .map_err(|_| DbError::Store(StoreError::Corrupt(format!("backup size {size}"))))
        })
        .transpose()?;
    Ok(SourceBackup {
        project: ProjectId(project),
        sha256: parse_stored(&sha256)?,
        size,
        summary,
        created_at: time_of(created_at)?,
        updated_at: time_of(updated_at)?,
        // Rows from before the column count as used when they last changed.
        last_used_at: time_of(last_used_at.unwrap_or(updated_at))?,
    })
}

/// Whether the backup's row exists, and whether its file is stored.
fn existing(
    conn: &mut DbConnection,
    project: ProjectId,
    sha256: &Sha256Hex,
) -> Result<Option<bool>, DbError> {
    let blob: Option<Option<String>> = backups::table
        .find((project.0, sha256.as_str()))
        .select(backups::blob_sha256)
        .first(conn)
        .optional()?;
    Ok(blob.map(|blob| blob.is_some()))
}

impl BackupStore for DieselStore {
    fn backup(
        &self,
        project: ProjectId,
        sha256: &Sha256Hex,
    ) -> Result<Option<SourceBackup>, StoreError> {
        self.read(|conn| {
            let row: Option<BackupRow> = backups::table
                .find((project.0, sha256.as_str()))
                .select(BACKUP_COLUMNS)
                .first(conn)
                .optional()?;
            row.map(backup_of).transpose()
        })
    }

    fn record_backup_file(
        &self,
        project: ProjectId,
        digests: &Digests,
        ensure_blob: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<bool, StoreError> {
        let size = i64::try_from(digests.size)
            .map_err(|_| StoreError::Invalid(format!("file size {} is too large", digests.size)))?;
        let sha256 = digests.sha256.as_str();
        self.transaction(|conn| {
            index_blob(conn, digests, size)?;
            // The index row is locked now: the collector cannot delete the object until this
            // transaction ends, and if it deleted it just before, this publishes it again.
            ensure_blob().map_err(DbError::Store)?;
            let now = now_micros();
            match existing(conn, project, &digests.sha256)? {
                Some(true) => Ok(false),
                Some(false) => {
                    diesel::update(backups::table.find((project.0, sha256)))
                        .set((
                            backups::blob_sha256.eq(sha256),
                            backups::size.eq(size),
                            backups::updated_at.eq(now),
                            backups::last_used_at.eq(now),
                        ))
                        .execute(conn)?;
                    Ok(true)
                }
                None => {
                    // Two first uploads at once: the second insert is a unique violation, and
                    // the transaction runs again and finds the row.
                    diesel::insert_into(backups::table)
                        .values((
                            backups::project_id.eq(project.0),
                            backups::sha256.eq(sha256),
                            backups::blob_sha256.eq(sha256),
                            backups::size.eq(size),
                            backups::created_at.eq(now),
                            backups::updated_at.eq(now),
                            backups::last_used_at.eq(now),
                        ))
                        .execute(conn)?;
                    Ok(true)
                }
            }
        })
    }

    fn record_backup_summary(
        &self,
        project: ProjectId,
        sha256: &Sha256Hex,
        summary: &str,
    ) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            let now = now_micros();
            let updated = diesel::update(backups::table.find((project.0, sha256.as_str())))
                .set((
                    backups::summary.eq(summary),
                    backups::updated_at.eq(now),
                    backups::last_used_at.eq(now),
                ))
                .execute(conn)?;
            if updated > 0 {
                return Ok(false);
            }
            diesel::insert_into(backups::table)
                .values((
                    backups::project_id.eq(project.0),
                    backups::sha256.eq(sha256.as_str()),
                    backups::summary.eq(summary),
                    backups::created_at.eq(now),
                    backups::updated_at.eq(now),
                    backups::last_used_at.eq(now),
                ))
                .execute(conn)?;
            Ok(true)
        })
    }

    fn delete_backup(&self, project: ProjectId, sha256: &Sha256Hex) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            let deleted =
                diesel::delete(backups::table.find((project.0, sha256.as_str()))).execute(conn)?;
            Ok(deleted > 0)
        })
    }

    fn record_backup_use(
        &self,
        project: ProjectId,
        sha256: &Sha256Hex,
        at: RevisionTime,
    ) -> Result<(), StoreError> {
        let at = at.unix_micros();
        self.transaction(|conn| {
            diesel::update(
                backups::table.find((project.0, sha256.as_str())).filter(
                    backups::last_used_at
                        .is_null()
                        .or(backups::last_used_at.lt(at)),
                ),
            )
            .set(backups::last_used_at.eq(at))
            .execute(conn)?;
            Ok(())
        })
    }

    fn backups(
        &self,
        project: ProjectId,
        offset: u64,
        limit: usize,
    ) -> Result<Vec<SourceBackup>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(offset).unwrap_or(i64::MAX);
        self.read(|conn| {
            let rows: Vec<BackupRow> = backups::table
                .filter(backups::project_id.eq(project.0))
                .order(backups::sha256)
                .select(BACKUP_COLUMNS)
                .limit(limit)
                .offset(offset)
                .load(conn)?;
            rows.into_iter().map(backup_of).collect()
        })
    }
}
