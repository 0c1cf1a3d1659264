//! Virtual projects: which project answers a request made at a virtual project's URL, for whom,
//! and the administrative changes of a virtual project's members.
//!
//! The rule (see `docs/VIRTUAL_PROJECTS.md`): the virtual project's own visibility and
//! membership decide who may use its URL at all. A read under a recipe is answered wholly by the
//! first member, in order, that the caller may read and that has the recipe; members the caller
//! may not read are skipped as if absent, so a public member can never shadow a private
//! member's package of the same name for someone who may read both (dependency confusion). An
//! upload or a delete, and any request that names no recipe, goes to the deploy member, decided
//! there as if the caller had asked the deploy member directly (its roles and protection rules).

use conan_model::RecipeReference;
use conan_store::remotes::RemoteSettings;
use conan_store::{
    AccessStore, PackageType, Project, ProjectId, ProjectKey, SearchScope, VirtualLayout,
    Visibility,
};

use crate::admin::{find_project, validate_project_path};
use crate::lookup::Lookup;
use crate::policy::{Action, Decision, decide, protect};
use crate::principal::Principal;
use crate::{AuthError, Authenticator};

/// Which project answers a request, and the decision there.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Resolved {
    /// Answer from this project when the decision allows: the project the request named when
    /// it is ordinary (or a virtual project no readable member of which has the recipe, which
    /// then answers as an empty project), else the member that answers.
    Project(Project, Decision),
    /// An upload or a delete through this virtual project, which has no deploy member.
    NoDeployMember(Project),
}

impl Authenticator {
    /// Finds the project `key` names and decides whether `principal` may perform `action`
    /// there, under the recipe `recipe` when the route names one (an upload or a delete is then
    /// narrowed by the project's protection rules, as
    /// [`authorize_package`](Self::authorize_package) does), resolving a virtual project to the
    /// member that answers (see the module's documentation). `None` when there is no such
    /// project.
    ///
    /// With the resolution comes the upstream of the project that answers when that is a
    /// remote project and the decision allows, read through the identity cache like the
    /// project itself, so a warm cache answers it without a query.
    pub fn authorize_resolved(
        &self,
        principal: &Principal,
        key: ProjectKey<'_>,
        action: Action,
        recipe: Option<&RecipeReference>,
    ) -> Result<Option<(Resolved, Option<RemoteSettings>)>, AuthError> {
        // One lookup (one read of the identity epoch) for the whole decision; with a warm cache
        // an ordinary project costs no query more than before virtual projects existed.
        let lookup = self.lookup()?;
        let Some(resolved) = self.resolve(&lookup, principal, key, action, recipe)? else {
            return Ok(None);
        };
        let remote = match &resolved {
            Resolved::Project(project, Decision::Allow) => lookup.remote(project.id)?,
            _ => None,
        };
        Ok(Some((resolved, remote)))
    }

    fn resolve(
        &self,
        lookup: &Lookup<'_>,
        principal: &Principal,
        key: ProjectKey<'_>,
        action: Action,
        recipe: Option<&RecipeReference>,
    ) -> Result<Option<Resolved>, AuthError> {
        let Some((project, role)) = lookup.project_and_role(key, principal.user_id())? else {
            return Ok(None);
        };
        let Some(layout) = lookup.virtual_layout(project.id)? else {
            let mut decision = decide(principal, &project, role, action);
            if decision == Decision::Allow
                && action != Action::Read
                && let Some(recipe) = recipe
            {
                let rules = self.store.matching_protection_rules(
                    project.id,
                    PackageType::Conan,
                    recipe.name().as_str(),
                )?;
                decision = protect(principal, role, action, &rules);
            }
            return Ok(Some(Resolved::Project(project, decision)));
        };
        // Who may use the virtual project's URL at all: its own read decision.
        let entry = decide(principal, &project, role, Action::Read);
        if entry != Decision::Allow {
            return Ok(Some(Resolved::Project(project, entry)));
        }
        if action == Action::Read
            && let Some(recipe) = recipe
        {
            let readable = readable_members(lookup, principal, &layout)?;
            // Ordinary members first, remote members (caches of an upstream) after them, so
            // a remote member never shadows a local package of the same name; a remote member
            // that holds nothing yet answers when no member holds the recipe, and asks its
            // upstream (docs/REMOTE_PROJECTS.md).
            let mut ordinary = Vec::with_capacity(readable.len());
            let mut remote = Vec::new();
            for member in &readable {
                if lookup.remote(member.id)?.is_some() {
                    remote.push(member.id);
                } else {
                    ordinary.push(member.id);
                }
            }
            let first = match self.store.first_with_recipe(&ordinary, recipe)? {
                Some(id) => Some(id),
                None => self
                    .store
                    .first_with_recipe(&remote, recipe)?
                    .or_else(|| remote.first().copied()),
            };
            // No readable member has it: the virtual project, which holds nothing, answers
            // with the 404 of an ordinary project that lacks the recipe.
            let answering = first
                .and_then(|id| readable.into_iter().find(|member| member.id == id))
                .unwrap_or(project);
            return Ok(Some(Resolved::Project(answering, Decision::Allow)));
        }
        let Some(deploy) = layout.deploy else {
            return Ok(Some(if action == Action::Read {
                Resolved::Project(project, Decision::Allow)
            } else {
                Resolved::NoDeployMember(project)
            }));
        };
        let answer = match recipe {
            Some(recipe) => {
                self.authorize_package(principal, ProjectKey::Id(deploy), action, recipe.name())?
            }
            None => self.authorize_project(principal, ProjectKey::Id(deploy), action)?,
        };
        Ok(answer.map(|(member, decision)| {
            // The caller may use the virtual project; that the deploy member is hidden from
            // them is a refusal, not a missing project.
            let decision = if decision == Decision::NotFound {
                Decision::Forbidden
            } else {
                decision
            };
            Resolved::Project(member, decision)
        }))
    }

    /// The projects a search at `project`'s URL covers, for a caller who may read `project`:
    /// the project itself, or, for a virtual project, its members the caller may read, in
    /// order.
    pub fn project_search_scope(
        &self,
        principal: &Principal,
        project: &Project,
    ) -> Result<SearchScope, AuthError> {
        let lookup = self.lookup()?;
        Ok(match lookup.virtual_layout(project.id)? {
            Some(layout) => SearchScope::Projects(
                readable_members(&lookup, principal, &layout)?
                    .into_iter()
                    .map(|member| member.id)
                    .collect(),
            ),
            None => SearchScope::Projects(vec![project.id]),
        })
    }
}

/// The members of `layout` that `principal` may read, in order.
fn readable_members(
    lookup: &Lookup<'_>,
    principal: &Principal,
    layout: &VirtualLayout,
) -> Result<Vec<Project>, AuthError> {
    let mut readable = Vec::with_capacity(layout.members.len());
    for member in &layout.members {
        if let Some((project, role)) =
            lookup.project_and_role(ProjectKey::Id(*member), principal.user_id())?
            && decide(principal, &project, role, Action::Read) == Decision::Allow
        {
            readable.push(project);
        }
    }
    Ok(readable)
}

/// A virtual project as an administrator sees it: its members and deploy member by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualView {
    /// The virtual project.
    pub project: Project,
    /// Its members, first answers first.
    pub members: Vec<Project>,
    /// The member uploads go to.
    pub deploy: Option<Project>,
}

/// Where to put a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// After every other member.
    End,
    /// At this 1-based position; later members move down.
    At(usize),
}

/// Creates a virtual project (with no members) after checking its path.
pub fn create_virtual_project(
    store: &dyn AccessStore,
    path: &str,
    visibility: Visibility,
) -> Result<Project, AuthError> {
    validate_project_path(path)?;
    Ok(store.create_virtual_project(path, visibility)?)
}

/// The virtual project at `path` and its layout, or an error saying it is not one.
fn find_virtual(
    store: &dyn AccessStore,
    path: &str,
) -> Result<(Project, VirtualLayout), AuthError> {
    let project = find_project(store, path)?;
    let layout = store.virtual_layout(project.id)?.ok_or_else(|| {
        AuthError::Invalid(format!(
            "project {path:?} is not a virtual project (create one with `project create \
             --virtual`)"
        ))
    })?;
    Ok((project, layout))
}

/// The index of `member` in `layout`, or an error saying it is not a member.
fn index_of(layout: &VirtualLayout, member: &Project, path: &str) -> Result<usize, AuthError> {
    layout
        .members
        .iter()
        .position(|id| *id == member.id)
        .ok_or_else(|| {
            AuthError::NotFound(format!(
                "project {:?} is not a member of {path:?}",
                member.path
            ))
        })
}

/// Checks a 1-based `position` against `count` members after the change.
fn index_at(position: Position, count: usize) -> Result<usize, AuthError> {
    match position {
        Position::End => Ok(count - 1),
        Position::At(at) if (1..=count).contains(&at) => Ok(at - 1),
        Position::At(at) => Err(AuthError::Invalid(format!(
            "invalid position {at}: use 1 to {count}"
        ))),
    }
}

/// Adds `member` to the virtual project `path` at `position`.
pub fn add_member(
    store: &dyn AccessStore,
    path: &str,
    member: &str,
    position: Position,
) -> Result<VirtualView, AuthError> {
    let (project, current) = find_virtual(store, path)?;
    let mut layout = current.clone();
    let member = find_project(store, member)?;
    if layout.members.contains(&member.id) {
        return Err(AuthError::Invalid(format!(
            "project {:?} is already a member of {path:?}",
            member.path
        )));
    }
    let index = index_at(position, layout.members.len() + 1)?;
    layout.members.insert(index, member.id);
    store.set_virtual_layout(project.id, &current, &layout)?;
    view(store, path)
}

/// Moves `member` of the virtual project `path` to `position`.
pub fn move_member(
    store: &dyn AccessStore,
    path: &str,
    member: &str,
    position: Position,
) -> Result<VirtualView, AuthError> {
    let (project, current) = find_virtual(store, path)?;
    let mut layout = current.clone();
    let member = find_project(store, member)?;
    let from = index_of(&layout, &member, path)?;
    let to = index_at(position, layout.members.len())?;
    let moved = layout.members.remove(from);
    layout.members.insert(to, moved);
    store.set_virtual_layout(project.id, &current, &layout)?;
    view(store, path)
}

/// Removes `member` from the virtual project `path`; when it was the deploy member, uploads
/// through the virtual project are refused until another is set.
pub fn remove_member(
    store: &dyn AccessStore,
    path: &str,
    member: &str,
) -> Result<VirtualView, AuthError> {
    let (project, current) = find_virtual(store, path)?;
    let mut layout = current.clone();
    let member = find_project(store, member)?;
    let index = index_of(&layout, &member, path)?;
    layout.members.remove(index);
    if layout.deploy == Some(member.id) {
        layout.deploy = None;
    }
    store.set_virtual_layout(project.id, &current, &layout)?;
    view(store, path)
}

/// Sets (`Some`) or clears (`None`) the deploy member of the virtual project `path`; it must be
/// a member.
pub fn set_deploy_member(
    store: &dyn AccessStore,
    path: &str,
    member: Option<&str>,
) -> Result<VirtualView, AuthError> {
    let (project, current) = find_virtual(store, path)?;
    let mut layout = current.clone();
    layout.deploy = match member {
        Some(member) => {
            let member = find_project(store, member)?;
            index_of(&layout, &member, path)?;
            Some(member.id)
        }
        None => None,
    };
    store.set_virtual_layout(project.id, &current, &layout)?;
    view(store, path)
}

/// The virtual project `path` with its members and deploy member.
pub fn view(store: &dyn AccessStore, path: &str) -> Result<VirtualView, AuthError> {
    let (project, layout) = find_virtual(store, path)?;
    let named = |id: ProjectId| {
        store
            .project(id)?
            .ok_or_else(|| AuthError::NotFound(format!("unknown project id {id}")))
    };
    Ok(VirtualView {
        members: layout
            .members
            .iter()
            .map(|id| named(*id))
            .collect::<Result<_, _>>()?,
        deploy: layout.deploy.map(named).transpose()?,
        project,
    })
}

/// Whether `project` is virtual.
pub fn is_virtual(store: &dyn AccessStore, project: ProjectId) -> Result<bool, AuthError> {
    Ok(store.virtual_layout(project)?.is_some())
}
