//! Authentication settings, as the `[auth]` table of the configuration.

use std::time::Duration;

use crate::limiter::LimiterSettings;

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
/// web_session_ttl_secs = 604800
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
    /// The longest a web interface session lives, in seconds (default 7 days, GitLab's
    /// default). A session signed in with a personal access token never outlives the token.
    pub web_session_ttl_secs: u64,
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
            web_session_ttl_secs: 7 * 24 * 3600,
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
