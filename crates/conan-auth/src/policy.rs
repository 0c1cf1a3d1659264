//! The one permission decision. Handlers never reason about roles: they ask [`decide`] (or
//! [`crate::Authenticator::authorize`] or [`crate::Authenticator::authorize_project`], which
//! load the role first) and map the answer.
//!
//! The answers follow the contract the Conan client depends on:
//! - an anonymous caller who may not do something gets [`Decision::Unauthorized`] (401), so the
//!   client logs in and retries;
//! - an authenticated caller who can see the project but may not do this gets
//!   [`Decision::Forbidden`] (403), which the client reports as "Permission denied";
//! - an authenticated caller who may not even see the project gets [`Decision::NotFound`] (404),
//!   so private projects do not leak their existence.

use conan_store::{Project, Role, Visibility};

use crate::principal::Principal;

/// What a caller wants to do to a project's packages.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Download, list, search, read revisions.
    Read,
    /// Upload files.
    Upload,
    /// Delete recipes, revisions and packages.
    Delete,
}

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Go ahead.
    Allow,
    /// 401: log in (or log in again) first.
    Unauthorized,
    /// 403: authenticated, can see the project, may not do this.
    Forbidden,
    /// 404: authenticated, may not see the project at all.
    NotFound,
}

/// The least role an action needs from a member.
fn required_role(action: Action) -> Role {
    match action {
        Action::Read => Role::Guest,
        Action::Upload => Role::Developer,
        Action::Delete => Role::Maintainer,
    }
}

/// Decides whether `principal` may perform `action` on `project`, given its role there (the
/// member's role for a user, `None` otherwise).
#[must_use]
pub fn decide(
    principal: &Principal,
    project: &Project,
    role: Option<Role>,
    action: Action,
) -> Decision {
    match principal {
        Principal::Anonymous => {
            if action == Action::Read && project.visibility == Visibility::Public {
                Decision::Allow
            } else {
                Decision::Unauthorized
            }
        }
        Principal::DeployToken {
            project: own,
            access,
            ..
        } => {
            if *own == project.id {
                let allowed = match action {
                    Action::Read => access.read,
                    Action::Upload | Action::Delete => access.write,
                };
                if allowed {
                    Decision::Allow
                } else {
                    Decision::Forbidden
                }
            } else if project.visibility == Visibility::Public {
                // Another project's token reads public packages like anyone, and nothing more.
                if action == Action::Read {
                    Decision::Allow
                } else {
                    Decision::Forbidden
                }
            } else {
                Decision::NotFound
            }
        }
        Principal::User { user, access, .. } => {
            let can_see =
                user.is_admin || project.visibility != Visibility::Private || role.is_some();
            if !can_see {
                return Decision::NotFound;
            }
            let role_allows = user.is_admin
                || action == Action::Read
                || role.is_some_and(|role| role >= required_role(action));
            let scope_allows = match action {
                Action::Read => access.read,
                Action::Upload | Action::Delete => access.write,
            };
            if role_allows && scope_allows {
                Decision::Allow
            } else {
                Decision::Forbidden
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use conan_model::RevisionTime;
    use conan_store::{ProjectId, User, UserId};

    use super::*;
    use crate::principal::Source;
    use crate::token::Access;

    const READ_ONLY: Access = Access {
        read: true,
        write: false,
    };
    const NONE: Access = Access {
        read: false,
        write: false,
    };

    fn project(visibility: Visibility) -> Project {
        Project {
            id: ProjectId(1),
            path: "group/project".to_owned(),
            visibility,
            created_at: RevisionTime::from_unix_micros(0).unwrap(),
        }
    }

    fn user(admin: bool, access: Access) -> Principal {
        Principal::User {
            user: User {
                id: UserId(1),
                username: "someone".to_owned(),
                password_hash: None,
                is_admin: admin,
                is_active: true,
                created_at: RevisionTime::from_unix_micros(0).unwrap(),
            },
            access,
            source: Source::Password,
        }
    }

    fn deploy(project: i64, access: Access) -> Principal {
        Principal::DeployToken {
            token_id: conan_store::TokenId(1),
            project: ProjectId(project),
            username: "deploy".to_owned(),
            access,
        }
    }

    type Row = (&'static str, (Principal, Option<Role>), [[Decision; 3]; 3]);

    /// The whole matrix: principal kind x role x visibility x action. Each row lists the
    /// decisions for Read, Upload, Delete on public, internal and private projects.
    #[test]
    fn permission_matrix() {
        use Decision::{Allow as A, Forbidden as F, NotFound as N, Unauthorized as U};
        let member = |role| (user(false, Access::FULL), Some(role));
        let rows: Vec<Row> = vec![
            //                                   public        internal      private
            (
                "anonymous",
                (Principal::Anonymous, None),
                [[A, U, U], [U, U, U], [U, U, U]],
            ),
            (
                "signed-in non-member",
                (user(false, Access::FULL), None),
                [[A, F, F], [A, F, F], [N, N, N]],
            ),
            (
                "guest",
                member(Role::Guest),
                [[A, F, F], [A, F, F], [A, F, F]],
            ),
            (
                "reporter",
                member(Role::Reporter),
                [[A, F, F], [A, F, F], [A, F, F]],
            ),
            (
                "developer",
                member(Role::Developer),
                [[A, A, F], [A, A, F], [A, A, F]],
            ),
            (
                "maintainer",
                member(Role::Maintainer),
                [[A, A, A], [A, A, A], [A, A, A]],
            ),
            (
                "owner",
                member(Role::Owner),
                [[A, A, A], [A, A, A], [A, A, A]],
            ),
            (
                "admin, no membership",
                (user(true, Access::FULL), None),
                [[A, A, A], [A, A, A], [A, A, A]],
            ),
            (
                "maintainer, read-only token",
                (user(false, READ_ONLY), Some(Role::Maintainer)),
                [[A, F, F], [A, F, F], [A, F, F]],
            ),
            (
                "admin, read-only token",
                (user(true, READ_ONLY), None),
                [[A, F, F], [A, F, F], [A, F, F]],
            ),
            (
                "maintainer, token without scopes",
                (user(false, NONE), Some(Role::Maintainer)),
                [[F, F, F], [F, F, F], [F, F, F]],
            ),
            (
                "non-member, read-only token",
                (user(false, READ_ONLY), None),
                [[A, F, F], [A, F, F], [N, N, N]],
            ),
            (
                "deploy token, read",
                (deploy(1, READ_ONLY), None),
                [[A, F, F], [A, F, F], [A, F, F]],
            ),
            (
                "deploy token, write",
                (deploy(1, Access::FULL), None),
                [[A, A, A], [A, A, A], [A, A, A]],
            ),
            (
                "deploy token, no scopes",
                (deploy(1, NONE), None),
                [[F, F, F], [F, F, F], [F, F, F]],
            ),
            (
                "deploy token of another project",
                (deploy(2, Access::FULL), None),
                [[A, F, F], [N, N, N], [N, N, N]],
            ),
        ];
        let visibilities = [
            Visibility::Public,
            Visibility::Internal,
            Visibility::Private,
        ];
        let actions = [Action::Read, Action::Upload, Action::Delete];
        for (name, (principal, role), expected) in rows {
            for (visibility, row) in visibilities.iter().zip(expected) {
                for (action, want) in actions.iter().zip(row) {
                    let got = decide(&principal, &project(*visibility), role, *action);
                    assert_eq!(got, want, "{name} / {visibility} / {action:?}");
                }
            }
        }
    }
}
