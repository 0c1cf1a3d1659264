//! Virtual projects: a project that holds no packages and answers from an ordered list of member
//! projects, with an optional deploy member that receives uploads. The rule which member
//! answers a request, and for whom, lives in conan-auth; this module stores the layout and
//! answers the one question the rule asks of the packages ("which of these projects, first in
//! order, has this recipe?").

use conan_model::RecipeReference;

use crate::StoreError;
use crate::records::{Project, ProjectId, Visibility};

/// What a virtual project is made of: its members in the order they answer, and the member that
/// receives uploads, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VirtualLayout {
    /// The member projects, first answers first.
    pub members: Vec<ProjectId>,
    /// The member uploads go to; `None` refuses uploads through the virtual project.
    pub deploy: Option<ProjectId>,
}

impl VirtualLayout {
    /// Checks what can be checked without the database, for the virtual project `owner`: no
    /// member twice, not itself, and the deploy member is a member.
    ///
    /// # Errors
    /// [`StoreError::Invalid`] naming what is wrong.
    pub fn check(&self, owner: ProjectId) -> Result<(), StoreError> {
        for (index, member) in self.members.iter().enumerate() {
            if *member == owner {
                return Err(StoreError::Invalid(
                    "a virtual project cannot be a member of itself".to_owned(),
                ));
            }
            if self.members[..index].contains(member) {
                return Err(StoreError::Invalid(format!(
                    "project {member} is already a member of this virtual project"
                )));
            }
        }
        if let Some(deploy) = self.deploy
            && !self.members.contains(&deploy)
        {
            return Err(StoreError::Invalid(format!(
                "the deploy member (project {deploy}) must be a member of the virtual project"
            )));
        }
        Ok(())
    }
}

/// The storage of virtual projects.
pub trait VirtualStore: Send + Sync {
    /// Creates a virtual project with no members; a taken path is a [`StoreError::Conflict`].
    /// A project is virtual from its creation on, and only then.
    fn create_virtual_project(
        &self,
        path: &str,
        visibility: Visibility,
    ) -> Result<Project, StoreError>;

    /// The layout of `project` when it is virtual; `None` for an ordinary (or unknown) project.
    fn virtual_layout(&self, project: ProjectId) -> Result<Option<VirtualLayout>, StoreError>;

    /// Replaces the layout of the virtual project `project`, which must still be `expected`,
    /// with `layout`, in one transaction after checking it ([`VirtualLayout::check`]; every
    /// member exists and is not virtual itself): [`StoreError::NotFound`] when `project` is not
    /// a virtual project or a member does not exist, [`StoreError::Invalid`] for a layout that
    /// breaks a rule, [`StoreError::Conflict`] when the layout is no longer `expected` (another
    /// change came first: two concurrent changes never lose one). Nothing changes on an error.
    fn set_virtual_layout(
        &self,
        project: ProjectId,
        expected: &VirtualLayout,
        layout: &VirtualLayout,
    ) -> Result<(), StoreError>;

    /// The first of `candidates`, in their order, that has the recipe (a committed revision of
    /// it); `None` when none has.
    fn first_with_recipe(
        &self,
        candidates: &[ProjectId],
        recipe: &RecipeReference,
    ) -> Result<Option<ProjectId>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(members: &[i64], deploy: Option<i64>) -> VirtualLayout {
        VirtualLayout {
            members: members.iter().copied().map(ProjectId).collect(),
            deploy: deploy.map(ProjectId),
        }
    }

    #[test]
    fn check_refuses_what_the_rules_forbid() {
        let owner = ProjectId(9);
        assert!(layout(&[], None).check(owner).is_ok());
        assert!(layout(&[1, 2], Some(2)).check(owner).is_ok());
        for bad in [
            layout(&[1, 9], None),
            layout(&[1, 2, 1], None),
            layout(&[1, 2], Some(3)),
            layout(&[], Some(1)),
        ] {
            assert!(
                matches!(bad.check(owner), Err(StoreError::Invalid(_))),
                "{bad:?} passed"
            );
        }
    }
}
