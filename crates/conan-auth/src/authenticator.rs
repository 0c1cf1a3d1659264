//! Authentication (credentials to a [`Principal`]), Conan token issuing, and the questions the
//! HTTP layer asks: may this caller do that, and which projects may it read.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use conan_model::RevisionTime;
use conan_store::{
    IdentityStore, Project, ProjectId, ProjectKey, Role, SearchScope, SigningKey, Token,
    TokenOwner, User, UserId, Visibility,
};

use crate::AuthError;
use crate::cache::{IdentityCache, Maps, ProjectName};
use crate::jwt::{self, Claims, ISSUER};
use crate::limiter::{LimiterSettings, LoginLimiter};
use crate::password::{verify_password, waste_verification};
use crate::policy::{Action, Decision, decide};
use crate::principal::{Principal, Source};
use crate::token::{self, Access, DEPLOY_TOKEN_PREFIX, PERSONAL_TOKEN_PREFIX};

/// Authentication settings.
///
/// ```toml
/// [auth]
/// jwt_max_ttl_secs = 7776000
/// password_login = true
/// login_max_failures_per_user = 10
/// login_max_failures_per_address = 50
/// login_failure_window_secs = 300
/// identity_cache_entries = 10000
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// The longest a Conan token (JWT) lives, in seconds (default 90 days). A token derived from
    /// a personal access token or deploy token never outlives it.
    pub jwt_max_ttl_secs: u64,
    /// Whether users may log in with their password (tokens always work).
    pub password_login: bool,
    /// How many failed HTTP Basic logins one user name may have per window before further
    /// attempts with it get 429 until the window ends (default 10; 0: no per-user limit).
    pub login_max_failures_per_user: u32,
    /// How many failed HTTP Basic logins one client address (an IPv6 /64) may have per window
    /// (default 50; 0: no per-address limit). The address is the TCP peer's: behind a reverse
    /// proxy every client shares the proxy's, so raise or disable this there.
    pub login_max_failures_per_address: u32,
    /// The window, in seconds, opened by a key's first failure (default 300; 0 turns login rate
    /// limiting off). Counts are kept in memory per process: see `docs/SECURITY.md`.
    pub login_failure_window_secs: u64,
    /// How many lookups of each kind (users, tokens, projects, memberships, verified Conan
    /// tokens) each process keeps between identity changes (default 10000; 0 turns the cache
    /// off). Any change to users, projects, memberships, tokens or signing keys, on any node,
    /// invalidates every node's cache before its next request: see `crate::cache`.
    pub identity_cache_entries: usize,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            jwt_max_ttl_secs: 90 * 24 * 3600,
            password_login: true,
            login_max_failures_per_user: 10,
            login_max_failures_per_address: 50,
            login_failure_window_secs: 300,
            identity_cache_entries: 10_000,
        }
    }
}

impl AuthConfig {
    /// The login rate limits these settings describe.
    #[must_use]
    pub fn limiter_settings(&self) -> LimiterSettings {
        LimiterSettings {
            max_failures_per_user: self.login_max_failures_per_user,
            max_failures_per_address: self.login_max_failures_per_address,
            window: Duration::from_secs(self.login_failure_window_secs),
        }
    }
}

/// Credentials from an `Authorization` header.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP Basic: a user name with a password, a personal access token or a deploy token.
    Basic {
        /// The user name.
        username: String,
        /// The password or token.
        password: String,
    },
    /// A bearer token: a Conan token (JWT), or a raw personal access or deploy token.
    Bearer(String),
}

impl std::fmt::Debug for Credentials {
    /// Never prints a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { username, .. } => write!(f, "Basic({username:?}, <redacted>)"),
            Self::Bearer(_) => f.write_str("Bearer(<redacted>)"),
        }
    }
}

impl Credentials {
    /// Parses an `Authorization` header value; anything that is not well-formed Basic or Bearer
    /// is [`AuthError::InvalidCredentials`].
    pub fn from_header(value: &str) -> Result<Self, AuthError> {
        let (scheme, rest) = value
            .trim()
            .split_once(' ')
            .ok_or(AuthError::InvalidCredentials)?;
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") && !rest.is_empty() {
            return Ok(Self::Bearer(rest.to_owned()));
        }
        if scheme.eq_ignore_ascii_case("basic") {
            let decoded = STANDARD
                .decode(rest)
                .map_err(|_| AuthError::InvalidCredentials)?;
            let text = String::from_utf8(decoded).map_err(|_| AuthError::InvalidCredentials)?;
            let (username, password) = text.split_once(':').ok_or(AuthError::InvalidCredentials)?;
            return Ok(Self::Basic {
                username: username.to_owned(),
                password: password.to_owned(),
            });
        }
        Err(AuthError::InvalidCredentials)
    }
}

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

/// Answers every identity question the HTTP layer has, over an [`IdentityStore`].
#[derive(Clone)]
pub struct Authenticator {
    store: Arc<dyn IdentityStore>,
    config: AuthConfig,
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

fn now_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| {
            i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX)
        })
}

fn now_time() -> Result<RevisionTime, AuthError> {
    RevisionTime::from_system_time(SystemTime::now())
        .map_err(|error| AuthError::Internal(error.to_string()))
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
struct Lookup<'a> {
    store: &'a dyn IdentityStore,
    cache: Option<(&'a IdentityCache, i64)>,
}

impl Lookup<'_> {
    fn get<K, V>(
        &self,
        map: fn(&mut Maps) -> &mut HashMap<K, V>,
        key: K,
        load: impl FnOnce(&dyn IdentityStore) -> Result<V, AuthError>,
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
    fn verified_claims(&self, token: &str) -> Result<Claims, AuthError> {
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

    fn personal_token(&self, id: i64) -> Result<Option<Token>, AuthError> {
        self.get(
            |maps| &mut maps.personal_tokens,
            id,
            |store| Ok(store.personal_token(id)?),
        )
    }

    fn deploy_token(&self, id: i64) -> Result<Option<Token>, AuthError> {
        self.get(
            |maps| &mut maps.deploy_tokens,
            id,
            |store| Ok(store.deploy_token(id)?),
        )
    }

    fn personal_token_by_hash(&self, hash: &str) -> Result<Option<Token>, AuthError> {
        self.get(
            |maps| &mut maps.personal_tokens_by_hash,
            hash.to_owned(),
            |store| Ok(store.personal_token_by_hash(hash)?),
        )
    }

    fn deploy_token_by_hash(&self, hash: &str) -> Result<Option<Token>, AuthError> {
        self.get(
            |maps| &mut maps.deploy_tokens_by_hash,
            hash.to_owned(),
            |store| Ok(store.deploy_token_by_hash(hash)?),
        )
    }

    fn project(&self, id: ProjectId) -> Result<Option<Project>, AuthError> {
        self.get(
            |maps| &mut maps.projects,
            id,
            |store| Ok(store.project(id)?),
        )
    }

    fn project_and_role(
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

    fn membership(&self, project: ProjectId, user: UserId) -> Result<Option<Role>, AuthError> {
        self.get(
            |maps| &mut maps.memberships,
            (project, user),
            |store| Ok(store.membership(project, user)?),
        )
    }

    fn user_memberships(&self, user: UserId) -> Result<Vec<(ProjectId, Role)>, AuthError> {
        self.get(
            |maps| &mut maps.user_memberships,
            user,
            |store| Ok(store.user_memberships(user)?),
        )
    }

    fn projects_with_visibility(&self, open: &[Visibility]) -> Result<Vec<Project>, AuthError> {
        self.get(
            |maps| &mut maps.open_projects,
            open.to_vec(),
            |store| Ok(store.projects_with_visibility(open)?),
        )
    }

    /// Notes in the cache that a personal access token's use was recorded `at` (not an identity
    /// change, so it does not move the epoch).
    fn touched(&self, token: &Token, at: RevisionTime) {
        let Some((cache, epoch)) = self.cache else {
            return;
        };
        let note = |entry: &mut Option<Token>| {
            if let Some(token) = entry {
                token.last_used_at = Some(at);
            }
        };
        cache.update(epoch, |maps| &mut maps.personal_tokens, &token.id, note);
        cache.update(
            epoch,
            |maps| &mut maps.personal_tokens_by_hash,
            &token.token_hash,
            note,
        );
    }
}

/// The principal of a deploy token, `None` when it may not be used (with a user name, that
/// must be the token's own). A store failure is an error, never a refusal: an unreachable
/// database must give 503, not a 401 that sends the client to log in again.
fn deploy_principal(
    lookup: &Lookup<'_>,
    token: &Token,
    username: Option<&str>,
) -> Result<Option<Principal>, AuthError> {
    let TokenOwner::Project {
        project,
        username: own,
    } = &token.owner
    else {
        return Ok(None);
    };
    if !usable(token) || username.is_some_and(|name| name != own) {
        return Ok(None);
    }
    // A deleted project takes its tokens with it (cascade), so this is only a consistency check.
    if lookup.project(*project)?.is_none() {
        return Ok(None);
    }
    Ok(Some(Principal::DeployToken {
        token_id: token.id,
        project: *project,
        username: own.clone(),
        access: Access::of_scopes(&token.scopes),
    }))
}

/// The user `id` if it exists and is active; a store failure is an error (see
/// [`deploy_principal`]).
fn active_user(lookup: &Lookup<'_>, id: UserId) -> Result<Option<User>, AuthError> {
    Ok(lookup.user(id)?.filter(|user| user.is_active))
}

impl Authenticator {
    /// The lookups of one request: reads the identity epoch first when the cache is on (once per
    /// read scope, so the whole request sees one epoch).
    fn lookup(&self) -> Result<Lookup<'_>, AuthError> {
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
    pub fn new(store: Arc<dyn IdentityStore>, config: AuthConfig) -> Self {
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
    pub fn rotate_signing_key(&self) -> Result<i64, AuthError> {
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
                if token.starts_with(PERSONAL_TOKEN_PREFIX)
                    || token.starts_with(DEPLOY_TOKEN_PREFIX)
                {
                    self.check_secret(&lookup, None, token)
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
        let (sub, src) = match principal {
            Principal::Anonymous => return Err(AuthError::InvalidCredentials),
            Principal::User {
                user,
                source: Source::Password,
                ..
            } => (format!("user:{}", user.id), "password".to_owned()),
            Principal::User {
                user,
                source: Source::PersonalToken(id),
                ..
            } => {
                if let Some(token) = self.store.personal_token(*id)?
                    && let Some(token_expiry) = token.expires_at
                {
                    expires = expires.min(token_expiry.unix_micros() / 1_000_000);
                }
                (format!("user:{}", user.id), format!("pat:{id}"))
            }
            Principal::DeployToken { token_id, .. } => {
                if let Some(token) = self.store.deploy_token(*token_id)?
                    && let Some(token_expiry) = token.expires_at
                {
                    expires = expires.min(token_expiry.unix_micros() / 1_000_000);
                }
                (format!("deploy:{token_id}"), format!("deploy:{token_id}"))
            }
        };
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
        if password.starts_with(PERSONAL_TOKEN_PREFIX) || password.starts_with(DEPLOY_TOKEN_PREFIX)
        {
            return self.check_secret(&self.lookup()?, Some(username), password);
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

    /// Checks a raw personal access or deploy token; with a user name (HTTP Basic) it must be
    /// the token's owner's or the deploy token's own.
    fn check_secret(
        &self,
        lookup: &Lookup<'_>,
        username: Option<&str>,
        secret: &str,
    ) -> Result<Principal, AuthError> {
        let hash = token::hash_secret(secret);
        if secret.starts_with(PERSONAL_TOKEN_PREFIX) {
            let token = lookup
                .personal_token_by_hash(&hash)?
                .ok_or(AuthError::InvalidCredentials)?;
            let TokenOwner::User(owner) = token.owner else {
                return Err(AuthError::InvalidCredentials);
            };
            let user = active_user(lookup, owner)?.ok_or(AuthError::InvalidCredentials)?;
            if !usable(&token) || username.is_some_and(|name| name != user.username) {
                return Err(AuthError::InvalidCredentials);
            }
            self.note_use(lookup, &token);
            return Ok(Principal::User {
                user,
                access: Access::of_scopes(&token.scopes),
                source: Source::PersonalToken(token.id),
            });
        }
        let token = lookup
            .deploy_token_by_hash(&hash)?
            .ok_or(AuthError::InvalidCredentials)?;
        deploy_principal(lookup, &token, username)?.ok_or(AuthError::InvalidCredentials)
    }

    /// Records a personal access token's use, at most once a minute so reads do not become writes.
    fn note_use(&self, lookup: &Lookup<'_>, token: &Token) {
        let Ok(now) = now_time() else { return };
        let stale = token
            .last_used_at
            .is_none_or(|last| now.unix_micros() - last.unix_micros() > 60_000_000);
        if stale {
            // Losing this bookkeeping must never fail a request.
            if self.store.touch_personal_token(token.id, now).is_ok() {
                lookup.touched(token, now);
            }
        }
    }

    /// Verifies a Conan token and that what it was derived from still stands: the user active,
    /// the token neither revoked nor expired. Every failure is [`AuthError::InvalidToken`].
    fn check_jwt(&self, lookup: &Lookup<'_>, token: &str) -> Result<Principal, AuthError> {
        let claims = lookup.verified_claims(token)?;
        let parse_id = |text: &str, prefix: &str| -> Result<i64, AuthError> {
            text.strip_prefix(prefix)
                .and_then(|id| id.parse().ok())
                .ok_or(AuthError::InvalidToken)
        };
        if let Some(user_id) = claims.sub.strip_prefix("user:") {
            let user_id: i64 = user_id.parse().map_err(|_| AuthError::InvalidToken)?;
            let user = active_user(lookup, UserId(user_id))?.ok_or(AuthError::InvalidToken)?;
            if claims.src == "password" {
                if !self.config.password_login {
                    return Err(AuthError::InvalidToken);
                }
                return Ok(Principal::User {
                    user,
                    access: Access::FULL,
                    source: Source::Password,
                });
            }
            let token_id = parse_id(&claims.src, "pat:")?;
            let token = lookup
                .personal_token(token_id)?
                .ok_or(AuthError::InvalidToken)?;
            if token.owner != TokenOwner::User(user.id) || !usable(&token) {
                return Err(AuthError::InvalidToken);
            }
            self.note_use(lookup, &token);
            return Ok(Principal::User {
                user,
                access: Access::of_scopes(&token.scopes),
                source: Source::PersonalToken(token_id),
            });
        }
        let token_id = parse_id(&claims.sub, "deploy:")?;
        if claims.src != claims.sub {
            return Err(AuthError::InvalidToken);
        }
        let token = lookup
            .deploy_token(token_id)?
            .ok_or(AuthError::InvalidToken)?;
        deploy_principal(lookup, &token, None)?.ok_or(AuthError::InvalidToken)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_headers() {
        let basic = format!("Basic {}", STANDARD.encode("alice:pa:ss word"));
        assert_eq!(
            Credentials::from_header(&basic).unwrap(),
            Credentials::Basic {
                username: "alice".into(),
                password: "pa:ss word".into()
            }
        );
        assert_eq!(
            Credentials::from_header("bearer abc.def").unwrap(),
            Credentials::Bearer("abc.def".into())
        );
        let odd = format!("Basic {}", STANDARD.encode("super admin@x.org!:p"));
        assert!(
            matches!(Credentials::from_header(&odd).unwrap(), Credentials::Basic { username, .. } if username == "super admin@x.org!")
        );
        for bad in [
            "",
            "Basic",
            "Basic !!!",
            "Bearer ",
            "Digest abc",
            &format!("Basic {}", STANDARD.encode("nocolon")),
        ] {
            assert!(
                matches!(
                    Credentials::from_header(bad),
                    Err(AuthError::InvalidCredentials)
                ),
                "{bad:?}"
            );
        }
        assert!(!format!("{:?}", Credentials::from_header(&basic).unwrap()).contains("pa:ss"));
    }
}
