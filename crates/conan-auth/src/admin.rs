//! The operations behind the admin command line and first-start bootstrap: creating users,
//! projects and tokens with their rules checked in one place.

use conan_model::{RevisionTime, User as ConanUser};
use conan_store::{
    IdentityStore, NewToken, NewUser, Project, Role, Token, TokenOwner, User, UserId, Visibility,
};

use crate::AuthError;
use crate::password::hash_password;
use crate::token::{self, DEPLOY_TOKEN_PREFIX, PERSONAL_TOKEN_PREFIX, Scope};

/// Checks a user name: 1 to 255 printable characters, no `:` (HTTP Basic splits there).
pub fn validate_username(username: &str) -> Result<(), AuthError> {
    let length = username.chars().count();
    if !(1..=255).contains(&length) || username.trim() != username {
        return Err(AuthError::Invalid(format!(
            "invalid user name {username:?}: 1 to 255 characters, no surrounding spaces"
        )));
    }
    if username.chars().any(|c| c == ':' || c.is_control()) {
        return Err(AuthError::Invalid(format!(
            "invalid user name {username:?}: `:` and control characters are not allowed"
        )));
    }
    Ok(())
}

/// Checks a project path such as `group/sub/project`: segments of letters, digits, `_`, `.` and
/// `-` (not starting with `.` or `-`), and short enough that the path with `/` written as `+`
/// is a valid Conan user, which is how instance-level references name their project.
pub fn validate_project_path(path: &str) -> Result<(), AuthError> {
    let segment_ok = |segment: &str| {
        let mut chars = segment.chars();
        chars
            .next()
            .is_some_and(|first| first.is_ascii_alphanumeric() || first == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    };
    if !path.split('/').all(segment_ok) {
        return Err(AuthError::Invalid(format!(
            "invalid project path {path:?}: use segments of letters, digits, `_`, `.` and `-`, \
             separated by `/`, such as my-group/my-project"
        )));
    }
    path.replace('/', "+")
        .parse::<ConanUser>()
        .map_err(|error| {
            AuthError::Invalid(format!(
                "invalid project path {path:?}: as a Conan user it must be valid too ({error})"
            ))
        })?;
    Ok(())
}

/// Creates a user, with an argon2 hash of `password` if given.
pub fn create_user(
    store: &dyn IdentityStore,
    username: &str,
    password: Option<&str>,
    is_admin: bool,
) -> Result<User, AuthError> {
    validate_username(username)?;
    let password_hash = password.map(hash_password).transpose()?;
    Ok(store.create_user(&NewUser {
        username: username.to_owned(),
        password_hash,
        is_admin,
    })?)
}

/// Finds a user by name, or says it does not exist.
pub fn find_user(store: &dyn IdentityStore, username: &str) -> Result<User, AuthError> {
    store
        .user_by_name(username)?
        .ok_or_else(|| AuthError::NotFound(format!("unknown user {username:?}")))
}

/// Finds a project by path, or says it does not exist.
pub fn find_project(store: &dyn IdentityStore, path: &str) -> Result<Project, AuthError> {
    store
        .project_by_path(path)?
        .ok_or_else(|| AuthError::NotFound(format!("unknown project {path:?}")))
}

/// Creates a project after checking its path.
pub fn create_project(
    store: &dyn IdentityStore,
    path: &str,
    visibility: Visibility,
) -> Result<Project, AuthError> {
    validate_project_path(path)?;
    Ok(store.create_project(path, visibility)?)
}

/// Sets or clears a user's password.
pub fn set_password(
    store: &dyn IdentityStore,
    user: UserId,
    password: Option<&str>,
) -> Result<(), AuthError> {
    let hash = password.map(hash_password).transpose()?;
    if store.set_password_hash(user, hash.as_deref())? {
        Ok(())
    } else {
        Err(AuthError::NotFound(format!("unknown user id {user}")))
    }
}

/// A token just created, with its secret (shown once, never stored).
pub struct CreatedToken {
    /// The stored record.
    pub token: Token,
    /// The secret to hand to the user.
    pub secret: String,
}

impl std::fmt::Debug for CreatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreatedToken")
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

fn check_scopes(scopes: &[Scope], deploy: bool) -> Result<(), AuthError> {
    if scopes.is_empty() {
        return Err(AuthError::Invalid(
            "a token needs at least one scope".to_owned(),
        ));
    }
    if deploy
        && let Some(scope) = scopes
            .iter()
            .find(|scope| !scope.allowed_for_deploy_tokens())
    {
        return Err(AuthError::Invalid(format!(
            "deploy tokens take read_package_registry and write_package_registry only, not {scope}"
        )));
    }
    Ok(())
}

/// Checks the scopes, makes a secret with `prefix`, and stores the token with its hash.
fn store_new_token(
    store: &dyn IdentityStore,
    owner: TokenOwner,
    prefix: &str,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<RevisionTime>,
) -> Result<CreatedToken, AuthError> {
    check_scopes(scopes, matches!(owner, TokenOwner::Project { .. }))?;
    let secret = token::generate_secret(prefix)?;
    let token = store.create_token(&NewToken {
        owner,
        name: name.to_owned(),
        token_hash: token::hash_secret(&secret),
        scopes: scopes
            .iter()
            .map(|scope| scope.as_str().to_owned())
            .collect(),
        expires_at,
    })?;
    Ok(CreatedToken { token, secret })
}

/// Creates a personal access token for `user`.
pub fn create_personal_token(
    store: &dyn IdentityStore,
    user: UserId,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<RevisionTime>,
) -> Result<CreatedToken, AuthError> {
    store_new_token(
        store,
        TokenOwner::User(user),
        PERSONAL_TOKEN_PREFIX,
        name,
        scopes,
        expires_at,
    )
}

/// Creates a deploy token for `project`; without a user name one is generated
/// (`deploy-token-<hex>`).
pub fn create_deploy_token(
    store: &dyn IdentityStore,
    project: &Project,
    username: Option<&str>,
    name: &str,
    scopes: &[Scope],
    expires_at: Option<RevisionTime>,
) -> Result<CreatedToken, AuthError> {
    // Scopes first, so a bad request fails before anything else happens.
    check_scopes(scopes, true)?;
    let username = match username {
        Some(username) => username.to_owned(),
        None => format!("deploy-token-{}", &token::generate_secret("")?[..8]),
    };
    validate_username(&username)?;
    let owner = TokenOwner::Project {
        project: project.id,
        username,
    };
    store_new_token(store, owner, DEPLOY_TOKEN_PREFIX, name, scopes, expires_at)
}

/// What first-start bootstrap should create.
#[derive(Clone)]
pub struct BootstrapOptions {
    /// The administrator's user name.
    pub admin_username: String,
    /// The administrator's password; without one a personal access token is created instead.
    pub admin_password: Option<String>,
    /// The first project's path.
    pub project_path: String,
    /// The first project's visibility.
    pub project_visibility: Visibility,
}

impl std::fmt::Debug for BootstrapOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BootstrapOptions")
            .field("admin_username", &self.admin_username)
            .field("project_path", &self.project_path)
            .finish_non_exhaustive()
    }
}

impl Default for BootstrapOptions {
    fn default() -> Self {
        Self {
            admin_username: "admin".to_owned(),
            admin_password: None,
            project_path: "demo/packages".to_owned(),
            project_visibility: Visibility::Private,
        }
    }
}

/// What bootstrap created.
#[derive(Debug)]
pub struct BootstrapReport {
    /// The administrator.
    pub admin: User,
    /// The first project, with the administrator as owner.
    pub project: Project,
    /// The administrator's token (`api` scope), when no password was given.
    pub token: Option<CreatedToken>,
}

/// On an empty database (no users), creates the administrator, the first project and, unless a
/// password was given, an `api` token. Returns `None` when users exist already.
pub fn bootstrap(
    store: &dyn IdentityStore,
    options: &BootstrapOptions,
) -> Result<Option<BootstrapReport>, AuthError> {
    if store.user_count()? > 0 {
        return Ok(None);
    }
    let admin = create_user(
        store,
        &options.admin_username,
        options.admin_password.as_deref(),
        true,
    )?;
    let project = match store.project_by_path(&options.project_path)? {
        Some(project) => project,
        None => create_project(store, &options.project_path, options.project_visibility)?,
    };
    store.set_membership(project.id, admin.id, Role::Owner)?;
    let token = if options.admin_password.is_none() {
        Some(create_personal_token(
            store,
            admin.id,
            "bootstrap",
            &[Scope::Api],
            None,
        )?)
    } else {
        None
    };
    Ok(Some(BootstrapReport {
        admin,
        project,
        token,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names() {
        for good in ["admin", "super admin", "nacho@gmail.com", "a", "x!y"] {
            assert!(validate_username(good).is_ok(), "{good}");
        }
        for bad in ["", " lead", "trail ", "a:b", "tab\there", &"x".repeat(256)] {
            assert!(validate_username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn project_paths() {
        for good in [
            "demo",
            "my-group/my-project",
            "a/b/c_d.e",
            "group/sub/project",
        ] {
            assert!(validate_project_path(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "/a",
            "a/",
            "a//b",
            "a+b",
            "-a/b",
            ".hidden",
            "a b",
            "x",
            "ä/b",
            &"a".repeat(102),
        ] {
            let error = validate_project_path(bad).unwrap_err();
            assert!(
                error.to_string().contains("invalid project path"),
                "{bad:?}: {error}"
            );
        }
    }

    #[test]
    fn token_scope_rules() {
        assert!(check_scopes(&[], false).is_err());
        assert!(check_scopes(&[Scope::Api], false).is_ok());
        assert!(
            check_scopes(&[Scope::Api], true)
                .unwrap_err()
                .to_string()
                .contains("deploy tokens")
        );
        assert!(
            check_scopes(
                &[Scope::ReadPackageRegistry, Scope::WritePackageRegistry],
                true
            )
            .is_ok()
        );
    }
}
