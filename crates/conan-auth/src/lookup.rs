//! The identity lookups of one request, through the identity cache ([`crate::cache`]), and what
//! a stored token stands for.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{SystemTime, UNIX_EPOCH};

use conan_model::RevisionTime;
use conan_store::{
    AccessStore, Project, ProjectId, ProjectKey, Role, SigningKey, Token, TokenId, TokenKind,
    TokenOwner, User, UserId, VirtualLayout, Visibility,
};

use crate::AuthError;
use crate::cache::{IdentityCache, Maps, ProjectName};
use crate::jwt::{self, Claims};
use crate::principal::{Principal, Source};
use crate::token::Access;

pub(crate) fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

/// Whether a stored token may be used now.
fn usable(token: &Token) -> bool {
    token.revoked_at.is_none()
        && token
            .expires_at
            .is_none_or(|expires| expires.unix_micros() / 1_000_000 > now_seconds())
}

/// The identity lookups of one request: through the cache, under the identity epoch read before
/// any of them, or straight from the store when the cache is off.
pub(crate) struct Lookup<'a> {
    pub(crate) store: &'a dyn AccessStore,
    pub(crate) cache: Option<(&'a IdentityCache, i64)>,
}

impl Lookup<'_> {
    fn get<K, V>(
        &self,
        map: fn(&mut Maps) -> &mut HashMap<K, V>,
        key: K,
        load: impl FnOnce(&dyn AccessStore) -> Result<V, AuthError>,
    ) -> Result<V, AuthError>
    where
        K: Eq + Hash,
        V: Clone,
    {
        match self.cache {
            Some((cache, epoch)) => cache.get_or_load(epoch, map, key, || load(self.store)),
            None => load(self.store),
        }
    }

    fn signing_keys(&self) -> Result<Vec<SigningKey>, AuthError> {
        self.get(
            |maps| &mut maps.signing_keys,
            (),
            |store| Ok(store.signing_keys()?),
        )
    }

    /// The claims of a Conan token whose signature checks out. Its expiry is checked on every
    /// use, cached or not.
    pub(crate) fn verified_claims(&self, token: &str) -> Result<Claims, AuthError> {
        let claims = self.get(
            |maps| &mut maps.claims,
            token.to_owned(),
            |_| jwt::verify(token, &self.signing_keys()?),
        )?;
        if claims.exp < now_seconds() {
            return Err(AuthError::InvalidToken);
        }
        Ok(claims)
    }

    fn user(&self, id: UserId) -> Result<Option<User>, AuthError> {
        self.get(|maps| &mut maps.users, id, |store| Ok(store.user(id)?))
    }

    /// The user `id` if it exists and is active. A store failure is an error, never a refusal:
    /// an unreachable database must give 503, not a 401 that sends the client to log in again.
    pub(crate) fn active_user(&self, id: UserId) -> Result<Option<User>, AuthError> {
        Ok(self.user(id)?.filter(|user| user.is_active))
    }

    /// A token of `kind` by id.
    pub(crate) fn token(&self, kind: TokenKind, id: TokenId) -> Result<Option<Token>, AuthError> {
        self.get(Maps::tokens(kind), id, |store| Ok(store.token(kind, id)?))
    }

    /// A token of `kind` by the hash of its secret.
    pub(crate) fn token_by_hash(
        &self,
        kind: TokenKind,
        hash: &str,
    ) -> Result<Option<Token>, AuthError> {
        self.get(Maps::tokens_by_hash(kind), hash.to_owned(), |store| {
            Ok(store.token_by_hash(kind, hash)?)
        })
    }

    fn project(&self, id: ProjectId) -> Result<Option<Project>, AuthError> {
        self.get(
            |maps| &mut maps.projects,
            id,
            |store| Ok(store.project(id)?),
        )
    }

    pub(crate) fn project_and_role(
        &self,
        key: ProjectKey<'_>,
        user: Option<UserId>,
    ) -> Result<Option<(Project, Option<Role>)>, AuthError> {
        self.get(
            |maps| &mut maps.project_roles,
            (ProjectName::from(key), user),
            |store| Ok(store.project_and_role(key, user)?),
        )
    }

    /// The layout of `project` when it is virtual. Layout changes move the identity epoch, so
    /// the cache keeps it like a project.
    pub(crate) fn virtual_layout(
        &self,
        project: ProjectId,
    ) -> Result<Option<VirtualLayout>, AuthError> {
        self.get(
            |maps| &mut maps.virtual_layouts,
            project,
            |store| Ok(store.virtual_layout(project)?),
        )
    }

    /// The upstream of `project` when it is a remote project. Changes of remote projects move
    /// the identity epoch, so the cache keeps it like a project.
    pub(crate) fn remote(
        &self,
        project: ProjectId,
    ) -> Result<Option<conan_store::remotes::RemoteSettings>, AuthError> {
        self.get(
            |maps| &mut maps.remotes,
            project,
            |store| Ok(store.remote(project)?),
        )
    }

    pub(crate) fn membership(
        &self,
        project: ProjectId,
        user: UserId,
    ) -> Result<Option<Role>, AuthError> {
        self.get(
            |maps| &mut maps.memberships,
            (project, user),
            |store| Ok(store.membership(project, user)?),
        )
    }

    pub(crate) fn user_memberships(
        &self,
        user: UserId,
    ) -> Result<Vec<(ProjectId, Role)>, AuthError> {
        self.get(
            |maps| &mut maps.user_memberships,
            user,
            |store| Ok(store.user_memberships(user)?),
        )
    }

    pub(crate) fn projects_with_visibility(
        &self,
        open: &[Visibility],
    ) -> Result<Vec<Project>, AuthError> {
        self.get(
            |maps| &mut maps.open_projects,
            open.to_vec(),
            |store| Ok(store.projects_with_visibility(open)?),
        )
    }

    /// Notes in the cache that a personal access token's use was recorded `at` (not an identity
    /// change, so it does not move the epoch).
    pub(crate) fn touched(&self, token: &Token, at: RevisionTime) {
        let Some((cache, epoch)) = self.cache else {
            return;
        };
        let note = |entry: &mut Option<Token>| {
            if let Some(token) = entry {
                token.last_used_at = Some(at);
            }
        };
        let kind = token.kind();
        cache.update(epoch, Maps::tokens(kind), &token.id, note);
        cache.update(epoch, Maps::tokens_by_hash(kind), &token.token_hash, note);
    }

    /// The principal a stored token stands for, whichever its kind, or `None` when it may not be
    /// used: revoked, expired, its user disabled or its project gone, or (with a user name, from
    /// HTTP Basic) a user name other than its owner's or the deploy token's own. A store failure
    /// is an error, never a refusal (see [`active_user`](Self::active_user)).
    ///
    /// The caller records a personal access token's use (see `Authenticator::note_use`).
    pub(crate) fn principal_of(
        &self,
        token: &Token,
        username: Option<&str>,
    ) -> Result<Option<Principal>, AuthError> {
        let access = Access::of_scopes(&token.scopes);
        match &token.owner {
            TokenOwner::User(owner) => {
                let Some(user) = self.active_user(*owner)? else {
                    return Ok(None);
                };
                if !usable(token) || username.is_some_and(|name| name != user.username) {
                    return Ok(None);
                }
                Ok(Some(Principal::User {
                    user,
                    access,
                    source: Source::PersonalToken(token.id),
                }))
            }
            TokenOwner::Project {
                project,
                username: own,
            } => {
                if !usable(token) || username.is_some_and(|name| name != own) {
                    return Ok(None);
                }
                // A deleted project takes its tokens with it (cascade), so this is only a
                // consistency check.
                if self.project(*project)?.is_none() {
                    return Ok(None);
                }
                Ok(Some(Principal::DeployToken {
                    token_id: token.id,
                    project: *project,
                    username: own.clone(),
                    access,
                }))
            }
        }
    }
}
