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
//!
//! Package protection rules narrow an upload or a delete that [`decide`] allowed, for the
//! packages their patterns match ([`protect`]): a 403 that says the package is protected.

use conan_store::{AccessLevel, Project, ProtectionRule, Role, Visibility};

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
    /// 403: may upload to the project, but a protection rule covers this package
    /// (`403 Forbidden - Package protected.`).
    PushProtected,
    /// 403: may delete in the project, but a protection rule covers this package
    /// (`403 Forbidden - Package is deletion protected.`).
    DeleteProtected,
}

/// Whether `principal`, with `role` in a project it may read, may see what the project stores
/// (its storage statistics): administrators, and members from reporter up, as GitLab's
/// `statistics=true`. The Packages API and the web interface both ask this.
#[must_use]
pub fn may_see_statistics(principal: &Principal, role: Option<Role>) -> bool {
    match principal {
        Principal::User { user, .. } => {
            user.is_admin || role.is_some_and(|role| role >= Role::Reporter)
        }
        _ => false,
    }
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

/// Applies the protection rules that match a package to an `action` that [`decide`] allowed:
/// [`Decision::Allow`] when none blocks it, else [`Decision::PushProtected`] or
/// [`Decision::DeleteProtected`]. `rules` are the matching rules of the package's type; `role`
/// is the caller's role in the project, as for [`decide`].
///
/// As in GitLab: an instance administrator is never blocked; a user is blocked by a rule whose
/// level for the action is above their role (a rule without that level does not block them); a
/// deploy token is blocked by every matching rule, whatever its levels, for uploads and deletes
/// alike. Reads are never blocked.
#[must_use]
pub fn protect(
    principal: &Principal,
    role: Option<Role>,
    action: Action,
    rules: &[ProtectionRule],
) -> Decision {
    let level = |rule: &ProtectionRule| match action {
        Action::Read => None,
        Action::Upload => rule.minimum_access_level_for_push,
        Action::Delete => rule.minimum_access_level_for_delete,
    };
    let blocks = |rule: &ProtectionRule| match principal {
        Principal::User { user, .. } => {
            !user.is_admin && level(rule).is_some_and(|level| !reaches(role, level))
        }
        // A deploy token has no role to compare: every matching rule stops it. An anonymous
        // caller never gets here ([`decide`] wants a login first), and is stopped too.
        Principal::DeployToken { .. } | Principal::Anonymous => true,
    };
    match action {
        Action::Read => Decision::Allow,
        _ if !rules.iter().any(blocks) => Decision::Allow,
        Action::Upload => Decision::PushProtected,
        Action::Delete => Decision::DeleteProtected,
    }
}

/// Whether a member with `role` (none for a non-member) has at least `level`.
fn reaches(role: Option<Role>, level: AccessLevel) -> bool {
    role.is_some_and(|role| role.access_level() >= level.value())
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

    fn rule(push: Option<AccessLevel>, delete: Option<AccessLevel>) -> ProtectionRule {
        ProtectionRule {
            id: conan_store::ProtectionRuleId(1),
            project: ProjectId(1),
            package_name_pattern: "zlib*".parse().unwrap(),
            package_type: conan_store::PackageType::Conan,
            minimum_access_level_for_push: push,
            minimum_access_level_for_delete: delete,
        }
    }

    type ProtectionRow = (
        &'static str,
        (Principal, Option<Role>),
        Vec<ProtectionRule>,
        [Decision; 2],
    );

    /// Who a set of matching rules blocks: each row gives the upload and the delete verdict.
    #[test]
    fn protection_rules() {
        use AccessLevel::{Admin, Maintainer, Owner};
        use Decision::{Allow as A, DeleteProtected as D, PushProtected as P};
        let member = |role| (user(false, Access::FULL), Some(role));
        let admin = (user(true, Access::FULL), None);
        let outsider = (user(false, Access::FULL), None);
        let token = (deploy(1, Access::FULL), None);
        #[rustfmt::skip]
        let rows: Vec<ProtectionRow> = vec![
            ("no rule", member(Role::Developer), vec![], [A, A]),
            ("developer, push maintainer", member(Role::Developer), vec![rule(Some(Maintainer), None)], [P, A]),
            ("maintainer, push maintainer", member(Role::Maintainer), vec![rule(Some(Maintainer), None)], [A, A]),
            ("maintainer, push owner", member(Role::Maintainer), vec![rule(Some(Owner), None)], [P, A]),
            ("owner, push owner", member(Role::Owner), vec![rule(Some(Owner), None)], [A, A]),
            ("owner, push admin", member(Role::Owner), vec![rule(Some(Admin), None)], [P, A]),
            ("admin, push and delete admin", admin, vec![rule(Some(Admin), Some(Admin))], [A, A]),
            ("maintainer, delete owner", member(Role::Maintainer), vec![rule(None, Some(Owner))], [A, D]),
            ("owner, delete owner", member(Role::Owner), vec![rule(None, Some(Owner))], [A, A]),
            ("owner, delete admin", member(Role::Owner), vec![rule(Some(Maintainer), Some(Admin))], [A, D]),
            ("non-member, push maintainer", outsider, vec![rule(Some(Maintainer), None)], [P, A]),
            ("one blocking rule is enough", member(Role::Maintainer), vec![rule(Some(Maintainer), None), rule(Some(Owner), None)], [P, A]),
            ("deploy token, push-only rule", token.clone(), vec![rule(Some(Maintainer), None)], [P, D]),
            ("deploy token, delete-only rule", token.clone(), vec![rule(None, Some(Owner))], [P, D]),
            ("deploy token, no rule", token, vec![], [A, A]),
        ];
        for (name, (principal, role), rules, [upload, delete]) in rows {
            let verdict = |action| protect(&principal, role, action, &rules);
            assert_eq!(verdict(Action::Upload), upload, "{name}: upload");
            assert_eq!(verdict(Action::Delete), delete, "{name}: delete");
            assert_eq!(verdict(Action::Read), A, "{name}: read");
        }
    }
}
