//! Authentication (credentials to a [`Principal`]), Conan token issuing, and the questions the
//! HTTP layer asks: may this caller do that, and which projects may it read.
//!
//! The settings are in [`crate::config`], header parsing in [`crate::credentials`], and the
//! cached identity lookups with what a stored token stands for in [`crate::lookup`].

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use conan_model::{Name, RevisionTime};
use conan_store::{
    AccessStore, PackageType, Project, ProjectId, ProjectKey, SearchScope, SigningKeyId, Token,
    TokenId, TokenKind, TokenOwner, UserId, Visibility,
};

use crate::AuthError;
use crate::cache::IdentityCache;
use crate::config::AuthConfig;
use crate::credentials::Credentials;
use crate::jwt::{self, Claims, ISSUER};
use crate::limiter::LoginLimiter;
use crate::lookup::{Lookup, now_seconds};
use crate::password::{verify_password, waste_verification};
use crate::policy::{Action, Decision, decide, protect};
use crate::principal::{Principal, Source};
use crate::token::{self, Access, DEPLOY_TOKEN_PREFIX, PERSONAL_TOKEN_PREFIX};

/// A freshly issued Conan token.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The JWT, the whole body of the `users/authenticate` answer.
    pub token: String,
    /// When it expires.
    pub expires_at: RevisionTime,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Answers every identity question the HTTP layer has, over an [`AccessStore`] (identities and
/// package protection rules).
#[derive(Clone)]
pub struct Authenticator {
    pub(crate) store: Arc<dyn AccessStore>,
    pub(crate) config: AuthConfig,
    /// Shared by every clone, so all workers of a process count together.
    limiter: Arc<LoginLimiter>,
    /// Shared by every clone; `None` when `identity_cache_entries` is 0.
    cache: Option<Arc<IdentityCache>>,
}

impl std::fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Authenticator")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

pub(crate) fn now_time() -> Result<RevisionTime, AuthError> {
    RevisionTime::from_system_time(SystemTime::now())
        .map_err(|error| AuthError::Internal(error.to_string()))
}

/// The kind of token a raw secret claims to be, by its prefix; `None` for anything else (a
/// password, or a Conan token).
fn secret_kind(secret: &str) -> Option<TokenKind> {
    if secret.starts_with(PERSONAL_TOKEN_PREFIX) {
        Some(TokenKind::Personal)
    } else if secret.starts_with(DEPLOY_TOKEN_PREFIX) {
        Some(TokenKind::Deploy)
    } else {
        None
    }
}

impl Authenticator {
    /// The lookups of one request: reads the identity epoch first when the cache is on (once per
    /// read scope, so the whole request sees one epoch).
    pub(crate) fn lookup(&self) -> Result<Lookup<'_>, AuthError> {
        let cache = match &self.cache {
            Some(cache) => Some((cache.as_ref(), self.store.identity_epoch()?)),
            None => None,
        };
        Ok(Lookup {
            store: self.store.as_ref(),
            cache,
        })
    }

    /// An authenticator over `store`.
    pub fn new(store: Arc<dyn AccessStore>, config: AuthConfig) -> Self {
        let limiter = Arc::new(LoginLimiter::new(config.limiter_settings()));
        let cache = (config.identity_cache_entries > 0)
            .then(|| Arc::new(IdentityCache::new(config.identity_cache_entries)));
        Self {
            store,
            config,
            limiter,
            cache,
        }
    }

    /// The failed-login counter (shared by every clone of this authenticator).
    #[must_use]
    pub fn login_limiter(&self) -> &LoginLimiter {
        &self.limiter
    }

    /// The settings in force.
    #[must_use]
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    /// Creates the first JWT signing key if there is none. Returns whether it created one.
    pub fn ensure_signing_key(&self) -> Result<bool, AuthError> {
        if !self.store.signing_keys()?.is_empty() {
            return Ok(false);
        }
        self.rotate_signing_key()?;
        Ok(true)
    }

    /// Adds a new signing key, which signs every token from now on; older keys still verify
    /// until removed. Returns the new key's id.
    pub fn rotate_signing_key(&self) -> Result<SigningKeyId, AuthError> {
        let secret = token::generate_secret("")?;
        let second = token::generate_secret("")?;
        // 320 random bits, well above HS256's 256-bit key size.
        Ok(self.store.add_signing_key(&format!("{secret}{second}"))?.id)
    }

    /// Authenticates a request: `None` (no `Authorization` header) is anonymous; credentials
    /// that do not check out are an error, never a silent downgrade to anonymous.
    ///
    /// The same as [`authenticate_from`](Self::authenticate_from) with an unknown client
    /// address: Basic credentials are still rate-limited per user name.
    pub fn authenticate(&self, credentials: Option<&Credentials>) -> Result<Principal, AuthError> {
        self.authenticate_from(credentials, None)
    }

    /// Authenticates a request from the client at `address` (the TCP peer).
    ///
    /// Basic credentials are rate-limited per user name and per address: over a limit the
    /// answer is [`AuthError::RateLimited`], before the password is even checked (see
    /// [`crate::limiter`]). Bearer tokens are not: they carry at least 160 random bits.
    pub fn authenticate_from(
        &self,
        credentials: Option<&Credentials>,
        address: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        match credentials {
            None => Ok(Principal::Anonymous),
            Some(Credentials::Basic { username, password }) => {
                self.check_basic_limited(username, password, address)
            }
            Some(Credentials::Bearer(token)) => {
                let lookup = self.lookup()?;
                if let Some(kind) = secret_kind(token) {
                    self.check_secret(&lookup, kind, None, token)
                        .map_err(|error| match error {
                            AuthError::InvalidCredentials => AuthError::InvalidToken,
                            error => error,
                        })
                } else {
                    self.check_jwt(&lookup, token)
                }
            }
        }
    }

    /// `users/authenticate`: checks the credentials and issues a Conan token for them.
    pub fn login(
        &self,
        credentials: Option<&Credentials>,
    ) -> Result<(Principal, IssuedToken), AuthError> {
        self.login_from(credentials, None)
    }

    /// [`login`](Self::login) for the client at `address`, rate-limited like
    /// [`authenticate_from`](Self::authenticate_from).
    pub fn login_from(
        &self,
        credentials: Option<&Credentials>,
        address: Option<IpAddr>,
    ) -> Result<(Principal, IssuedToken), AuthError> {
        let principal = match credentials {
            None => return Err(AuthError::InvalidCredentials),
            Some(credentials) => self.authenticate_from(Some(credentials), address)?,
        };
        let issued = self.issue(&principal)?;
        Ok((principal, issued))
    }

    /// Issues a Conan token for an authenticated principal.
    pub fn issue(&self, principal: &Principal) -> Result<IssuedToken, AuthError> {
        let now = now_seconds();
        let mut expires =
            now.saturating_add(i64::try_from(self.config.jwt_max_ttl_secs).unwrap_or(i64::MAX));
        // A Conan token derived from a token never outlives it.
        let (sub, src, credential) = match principal {
            Principal::Anonymous => return Err(AuthError::InvalidCredentials),
            Principal::User {
                user,
                source: Source::Password,
                ..
            } => (format!("user:{}", user.id), "password".to_owned(), None),
            Principal::User {
                user,
                source: Source::PersonalToken(id),
                ..
            } => (
                format!("user:{}", user.id),
                format!("pat:{id}"),
                Some((TokenKind::Personal, *id)),
            ),
            Principal::DeployToken { token_id, .. } => (
                format!("deploy:{token_id}"),
                format!("deploy:{token_id}"),
                Some((TokenKind::Deploy, *token_id)),
            ),
        };
        if let Some((kind, id)) = credential
            && let Some(token) = self.store.token(kind, id)?
            && let Some(token_expiry) = token.expires_at
        {
            expires = expires.min(token_expiry.unix_micros() / 1_000_000);
        }
        let claims = Claims {
            sub,
            src,
            iat: now,
            exp: expires,
            iss: ISSUER.to_owned(),
        };
        let token = jwt::sign(&claims, &self.store.signing_keys()?)?;
        let expires_at = RevisionTime::from_unix_micros(expires.saturating_mul(1_000_000))
            .map_err(|error| AuthError::Internal(error.to_string()))?;
        Ok(IssuedToken { token, expires_at })
    }

    /// Checks Basic credentials under the login rate limits: wrong credentials count as a
    /// failure; a store failure is no verdict and does not count.
    fn check_basic_limited(
        &self,
        username: &str,
        password: &str,
        address: Option<IpAddr>,
    ) -> Result<Principal, AuthError> {
        let attempt = self
            .limiter
            .begin(username, address, Instant::now())
            .map_err(|limited| AuthError::RateLimited {
                retry_after_secs: limited.retry_after_secs(),
            })?;
        let result = self.check_basic(username, password);
        match &result {
            Ok(_) => attempt.succeeded(),
            Err(AuthError::InvalidCredentials) => attempt.failed(),
            Err(_) => attempt.undecided(),
        }
        result
    }

    fn check_basic(&self, username: &str, password: &str) -> Result<Principal, AuthError> {
        if let Some(kind) = secret_kind(password) {
            return self.check_secret(&self.lookup()?, kind, Some(username), password);
        }
        let Some(user) = self.store.user_by_name(username)? else {
            waste_verification(password);
            return Err(AuthError::InvalidCredentials);
        };
        let Some(hash) = user.password_hash.as_deref() else {
            waste_verification(password);
            return Err(AuthError::InvalidCredentials);
        };
        if !verify_password(password, hash) || !user.is_active || !self.config.password_login {
            return Err(AuthError::InvalidCredentials);
        }
        Ok(Principal::User {
            user,
            access: Access::FULL,
            source: Source::Password,
        })
    }

    /// Checks a raw token of `kind`; with a user name (HTTP Basic) it must be the token's
    /// owner's or the deploy token's own.
    fn check_secret(
        &self,
        lookup: &Lookup<'_>,
        kind: TokenKind,
        username: Option<&str>,
        secret: &str,
    ) -> Result<Principal, AuthError> {
        let token = lookup
            .token_by_hash(kind, &token::hash_secret(secret))?
            .ok_or(AuthError::InvalidCredentials)?;
        self.token_principal(lookup, &token, username)?
            .ok_or(AuthError::InvalidCredentials)
    }

    /// The principal a stored token stands for (see [`Lookup::principal_of`]), recording a
    /// personal access token's use when it is accepted.
    pub(crate) fn token_principal(
        &self,
        lookup: &Lookup<'_>,
        token: &Token,
        username: Option<&str>,
    ) -> Result<Option<Principal>, AuthError> {
        let principal = lookup.principal_of(token, username)?;
        if principal.is_some() && token.kind() == TokenKind::Personal {
            self.note_use(lookup, token);
        }
        Ok(principal)
    }

    /// Records a personal access token's use, at most once a minute so reads do not become writes.
    fn note_use(&self, lookup: &Lookup<'_>, token: &Token) {
        let Ok(now) = now_time() else { return };
        let stale = token
            .last_used_at
            .is_none_or(|last| now.unix_micros() - last.unix_micros() > 60_000_000);
        if stale {
            // Losing this bookkeeping must never fail a request. On an async worker the write
            // may still be under way when this returns (see `touch_personal_token`).
            if self.store.touch_personal_token(token.id, now).is_ok() {
                lookup.touched(token, now);
            }
        }
    }

    /// Verifies a Conan token and that what it was derived from still stands: the user active,
    /// the token neither revoked nor expired. Every failure is [`AuthError::InvalidToken`].
    fn check_jwt(&self, lookup: &Lookup<'_>, token: &str) -> Result<Principal, AuthError> {
        let claims = lookup.verified_claims(token)?;
        let parse_id = |text: &str, prefix: &str| -> Result<TokenId, AuthError> {
            text.strip_prefix(prefix)
                .and_then(|id| id.parse().ok())
                .map(TokenId)
                .ok_or(AuthError::InvalidToken)
        };
        let token = if let Some(user_id) = claims.sub.strip_prefix("user:") {
            let user_id = UserId(user_id.parse().map_err(|_| AuthError::InvalidToken)?);
            if claims.src == "password" {
                let user = lookup
                    .active_user(user_id)?
                    .ok_or(AuthError::InvalidToken)?;
                if !self.config.password_login {
                    return Err(AuthError::InvalidToken);
                }
                return Ok(Principal::User {
                    user,
                    access: Access::FULL,
                    source: Source::Password,
                });
            }
            let token = lookup
                .token(TokenKind::Personal, parse_id(&claims.src, "pat:")?)?
                .ok_or(AuthError::InvalidToken)?;
            if token.owner != TokenOwner::User(user_id) {
                return Err(AuthError::InvalidToken);
            }
            token
        } else {
            let token_id = parse_id(&claims.sub, "deploy:")?;
            if claims.src != claims.sub {
                return Err(AuthError::InvalidToken);
            }
            lookup
                .token(TokenKind::Deploy, token_id)?
                .ok_or(AuthError::InvalidToken)?
        };
        self.token_principal(lookup, &token, None)?
            .ok_or(AuthError::InvalidToken)
    }

    /// Decides whether `principal` may perform `action` on `project` (see [`crate::policy`]).
    pub fn authorize(
        &self,
        principal: &Principal,
        project: &Project,
        action: Action,
    ) -> Result<Decision, AuthError> {
        let role = match principal.user_id() {
            Some(user) => self.lookup()?.membership(project.id, user)?,
            None => None,
        };
        Ok(decide(principal, project, role, action))
    }

    /// Finds the project `key` names and decides whether `principal` may perform `action` there
    /// (see [`crate::policy`]), reading the project and the principal's role in it with one
    /// query. `None` when there is no such project.
    pub fn authorize_project(
        &self,
        principal: &Principal,
        key: ProjectKey<'_>,
        action: Action,
    ) -> Result<Option<(Project, Decision)>, AuthError> {
        Ok(self
            .lookup()?
            .project_and_role(key, principal.user_id())?
            .map(|(project, role)| {
                let decision = decide(principal, &project, role, action);
                (project, decision)
            }))
    }

    /// Finds the project `key` names and decides whether `principal` may perform `action` on
    /// the Conan package (recipe) `name` there: the decision of
    /// [`authorize_project`](Self::authorize_project), narrowed for an upload or a delete it
    /// allows by the project's Conan protection rules whose pattern matches `name` (see
    /// [`crate::policy::protect`]). The rules are read from the store once per call, and only
    /// for an allowed upload or delete: a read costs what `authorize_project` costs. `None`
    /// when there is no such project.
    pub fn authorize_package(
        &self,
        principal: &Principal,
        key: ProjectKey<'_>,
        action: Action,
        name: &Name,
    ) -> Result<Option<(Project, Decision)>, AuthError> {
        let Some((project, role)) = self.lookup()?.project_and_role(key, principal.user_id())?
        else {
            return Ok(None);
        };
        let mut decision = decide(principal, &project, role, action);
        if decision == Decision::Allow && action != Action::Read {
            let rules = self.store.matching_protection_rules(
                project.id,
                PackageType::Conan,
                name.as_str(),
            )?;
            decision = protect(principal, role, action, &rules);
        }
        Ok(Some((project, decision)))
    }

    /// The projects whose packages `principal` may read, for search.
    pub fn readable_projects(&self, principal: &Principal) -> Result<SearchScope, AuthError> {
        let lookup = self.lookup()?;
        let mut visible: BTreeSet<ProjectId> = BTreeSet::new();
        let open: &[Visibility] = match principal {
            Principal::User { user, access, .. } => {
                if !access.read {
                    return Ok(SearchScope::Projects(Vec::new()));
                }
                if user.is_admin {
                    return Ok(SearchScope::All);
                }
                visible.extend(
                    lookup
                        .user_memberships(user.id)?
                        .into_iter()
                        .map(|(project, _)| project),
                );
                &[Visibility::Public, Visibility::Internal]
            }
            Principal::DeployToken {
                project, access, ..
            } => {
                if access.read {
                    visible.insert(*project);
                }
                &[Visibility::Public]
            }
            Principal::Anonymous => &[Visibility::Public],
        };
        visible.extend(
            lookup
                .projects_with_visibility(open)?
                .into_iter()
                .map(|project| project.id),
        );
        Ok(SearchScope::Projects(visible.into_iter().collect()))
    }
}
