//! Virtual projects on diesel ([`VirtualStore`]): a `virtual_projects` row marks a project
//! virtual and names its deploy member; `virtual_members` lists its members by `ordinal`.

use conan_model::RecipeReference;
use diesel::prelude::*;

use super::identity::find_project_by_path;
use super::lookup::{committed_recipe_revisions, find_recipe};
use super::schema::{projects, virtual_members as members, virtual_projects as virtuals};
use super::{DbConnection, DbError, DieselStore, now_micros};
use crate::StoreError;
use crate::records::{Project, ProjectId, Visibility};
use crate::virtuals::{VirtualLayout, VirtualStore};

/// The layout of `project`, `None` when it is not virtual.
fn layout_of(
    conn: &mut DbConnection,
    project: ProjectId,
) -> Result<Option<VirtualLayout>, DbError> {
    let deploy: Option<Option<i64>> = virtuals::table
        .find(project.0)
        .select(virtuals::deploy_member_id)
        .first(conn)
        .optional()?;
    let Some(deploy) = deploy else {
        return Ok(None);
    };
    let member_ids: Vec<i64> = members::table
        .filter(members::virtual_project_id.eq(project.0))
        .order(members::ordinal)
        .select(members::member_project_id)
        .load(conn)?;
    Ok(Some(VirtualLayout {
        members: member_ids.into_iter().map(ProjectId).collect(),
        deploy: deploy.map(ProjectId),
    }))
}

fn refused(error: StoreError) -> DbError {
    DbError::Store(error)
}

impl VirtualStore for DieselStore {
    fn create_virtual_project(
        &self,
        path: &str,
        visibility: Visibility,
    ) -> Result<Project, StoreError> {
        self.transaction(|conn| {
            if find_project_by_path(conn, path)?.is_some() {
                return Err(refused(StoreError::Conflict(format!(
                    "project {path:?} already exists"
                ))));
            }
            diesel::insert_into(projects::table)
                .values((
                    projects::path.eq(path),
                    projects::visibility.eq(visibility.as_str()),
                    projects::created_at.eq(now_micros()),
                ))
                .execute(conn)?;
            let project = find_project_by_path(conn, path)?
                .ok_or(DbError::Diesel(diesel::result::Error::NotFound))?;
            diesel::insert_into(virtuals::table)
                .values((
                    virtuals::project_id.eq(project.id.0),
                    virtuals::deploy_member_id.eq(None::<i64>),
                ))
                .execute(conn)?;
            Ok(project)
        })
    }

    fn virtual_layout(&self, project: ProjectId) -> Result<Option<VirtualLayout>, StoreError> {
        self.read(|conn| layout_of(conn, project))
    }

    fn set_virtual_layout(
        &self,
        project: ProjectId,
        expected: &VirtualLayout,
        layout: &VirtualLayout,
    ) -> Result<(), StoreError> {
        layout.check(project)?;
        self.transaction(|conn| {
            // Locks the virtual project's row (PostgreSQL), so two concurrent changes of one
            // layout apply one after the other.
            let updated = diesel::update(virtuals::table.find(project.0))
                .set(virtuals::deploy_member_id.eq(virtuals::deploy_member_id))
                .execute(conn)?;
            if updated == 0 {
                return Err(refused(StoreError::NotFound(format!(
                    "project {project} is not a virtual project"
                ))));
            }
            if layout_of(conn, project)?.as_ref() != Some(expected) {
                return Err(refused(StoreError::Conflict(
                    "the virtual project's members changed meanwhile; look at them again and \
                     retry"
                        .to_owned(),
                )));
            }
            for member in &layout.members {
                let exists: Option<i64> = projects::table
                    .find(member.0)
                    .select(projects::id)
                    .first(conn)
                    .optional()?;
                if exists.is_none() {
                    return Err(refused(StoreError::NotFound(format!(
                        "project {member} does not exist"
                    ))));
                }
                // Virtual-ness never changes after creation, so this check cannot race.
                let nested: Option<i64> = virtuals::table
                    .find(member.0)
                    .select(virtuals::project_id)
                    .first(conn)
                    .optional()?;
                if nested.is_some() {
                    return Err(refused(StoreError::Invalid(format!(
                        "project {member} is a virtual project; a virtual project cannot be a \
                         member of another"
                    ))));
                }
            }
            diesel::delete(members::table.filter(members::virtual_project_id.eq(project.0)))
                .execute(conn)?;
            for (ordinal, member) in (0_i64..).zip(&layout.members) {
                diesel::insert_into(members::table)
                    .values((
                        members::virtual_project_id.eq(project.0),
                        members::member_project_id.eq(member.0),
                        members::ordinal.eq(ordinal),
                    ))
                    .execute(conn)?;
            }
            diesel::update(virtuals::table.find(project.0))
                .set(virtuals::deploy_member_id.eq(layout.deploy.map(|deploy| deploy.0)))
                .execute(conn)?;
            Ok(())
        })
    }

    fn first_with_recipe(
        &self,
        candidates: &[ProjectId],
        recipe: &RecipeReference,
    ) -> Result<Option<ProjectId>, StoreError> {
        self.read(|conn| {
            for candidate in candidates {
                let Some(recipe_id) = find_recipe(conn, *candidate, recipe)? else {
                    continue;
                };
                if !committed_recipe_revisions(conn, recipe_id, 1)?.is_empty() {
                    return Ok(Some(*candidate));
                }
            }
            Ok(None)
        })
    }
}
