//! Remote projects on diesel: one row a remote project.

use conan_model::RevisionTime;
use diesel::prelude::*;

use super::cleanup::require_project;
use super::schema::remote_projects as remotes;
use super::{DbError, DieselStore, time_of};
use crate::StoreError;
use crate::records::ProjectId;
use crate::remotes::{RemoteSettings, RemoteStore};

type RemoteRow = (i64, String, Option<String>, i64, i64, i64);

const REMOTE_COLUMNS: (
    remotes::project_id,
    remotes::upstream_url,
    remotes::sealed_credentials,
    remotes::metadata_ttl_secs,
    remotes::not_found_ttl_secs,
    remotes::updated_at,
) = (
    remotes::project_id,
    remotes::upstream_url,
    remotes::sealed_credentials,
    remotes::metadata_ttl_secs,
    remotes::not_found_ttl_secs,
    remotes::updated_at,
);

fn seconds(value: i64) -> Result<u32, DbError> {
    u32::try_from(value)
        .map_err(|_| DbError::Store(StoreError::Corrupt(format!("time to live {value}"))))
}

fn settings_of(
    (project, url, sealed, ttl, not_found_ttl, updated): RemoteRow,
) -> Result<(ProjectId, RemoteSettings), DbError> {
    Ok((
        ProjectId(project),
        RemoteSettings {
            upstream_url: url,
            sealed_credentials: sealed,
            metadata_ttl_secs: seconds(ttl)?,
            not_found_ttl_secs: seconds(not_found_ttl)?,
            updated_at: Some(time_of(updated)?),
        },
    ))
}

impl RemoteStore for DieselStore {
    fn set_remote(
        &self,
        project: ProjectId,
        settings: &RemoteSettings,
        now: RevisionTime,
    ) -> Result<(), StoreError> {
        settings.check()?;
        self.transaction(|conn| {
            require_project(conn, project)?;
            let values = (
                remotes::upstream_url.eq(&settings.upstream_url),
                remotes::sealed_credentials.eq(&settings.sealed_credentials),
                remotes::metadata_ttl_secs.eq(i64::from(settings.metadata_ttl_secs)),
                remotes::not_found_ttl_secs.eq(i64::from(settings.not_found_ttl_secs)),
                remotes::updated_at.eq(now.unix_micros()),
            );
            let updated = diesel::update(remotes::table.find(project.0))
                .set(values)
                .execute(conn)?;
            if updated == 0 {
                diesel::insert_into(remotes::table)
                    .values((remotes::project_id.eq(project.0), values))
                    .execute(conn)?;
            }
            Ok(())
        })
    }

    fn remote(&self, project: ProjectId) -> Result<Option<RemoteSettings>, StoreError> {
        self.read(|conn| {
            let row: Option<RemoteRow> = remotes::table
                .find(project.0)
                .select(REMOTE_COLUMNS)
                .first(conn)
                .optional()?;
            Ok(row
                .map(settings_of)
                .transpose()?
                .map(|(_, settings)| settings))
        })
    }

    fn remotes(&self) -> Result<Vec<(ProjectId, RemoteSettings)>, StoreError> {
        self.read(|conn| {
            let rows: Vec<RemoteRow> = remotes::table
                .order(remotes::project_id)
                .select(REMOTE_COLUMNS)
                .load(conn)?;
            rows.into_iter().map(settings_of).collect()
        })
    }

    fn clear_remote(&self, project: ProjectId) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            Ok(diesel::delete(remotes::table.find(project.0)).execute(conn)? > 0)
        })
    }
}
