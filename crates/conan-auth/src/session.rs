//! Sessions of the web interface: what a browser holds after signing in.
//!
//! A session is a JWT signed with the same keys as Conan tokens, kept by the browser in an
//! `HttpOnly` cookie; nothing is stored on the server. Its `src` claim starts with `session:`,
//! which keeps the two kinds apart in both directions: a session is never accepted as a Conan
//! token (`check_jwt` takes `password`, `pat:<id>` and `deploy:<id>` only), and a Conan token is
//! never accepted as a session.
//!
//! Every use checks again what the session came from, so it ends:
//! - when the user is disabled, or password logins are switched off (a password session);
//! - when the password changes: the claim carries a fingerprint of the stored password hash
//!   (a keyed digest of it, never the hash itself), and any new password has a new salt;
//! - when the personal access token it was opened with is revoked or expires, and never later
//!   than [`AuthConfig::web_session_ttl_secs`](crate::AuthConfig::web_session_ttl_secs).
//!
//! Signing out removes the cookie from the browser. Being stateless, a copy of the cookie taken
//! before sign-out stays valid until one of the above happens; changing the password ends every
//! session of the user at once.

use conan_model::RevisionTime;
use conan_store::{TokenId, TokenKind, TokenOwner, UserId};
use sha2::{Digest as _, Sha256};

use crate::AuthError;
use crate::authenticator::Authenticator;
use crate::jwt::{self, Claims, ISSUER};
use crate::lookup::now_seconds;
use crate::principal::{Principal, Source};
use crate::token::{Access, hex};

/// The prefix of a session's `src` claim.
const SESSION: &str = "session:";

/// A session just opened.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedSession {
    /// The cookie's value (a JWT). A secret: never logged, never put in a URL.
    pub cookie: String,
    /// When it ends at the latest.
    pub expires_at: RevisionTime,
}

impl std::fmt::Debug for IssuedSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSession")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// What a session's claim says of a password hash: 64 bits of a digest of it, enough to notice
/// a change, too few to help anyone guess the password.
fn fingerprint(password_hash: &str) -> String {
    let digest = Sha256::new()
        .chain_update(b"conan-registry web session\0")
        .chain_update(password_hash.as_bytes())
        .finalize();
    hex(&digest[..8])
}

impl Authenticator {
    /// Opens a web session for a user who just signed in (a password or a personal access
    /// token). Deploy tokens and anonymous visitors cannot sign in:
    /// [`AuthError::InvalidCredentials`].
    pub fn open_session(&self, principal: &Principal) -> Result<IssuedSession, AuthError> {
        let now = now_seconds();
        let ttl = i64::try_from(self.config.web_session_ttl_secs).unwrap_or(i64::MAX);
        let mut expires = now.saturating_add(ttl);
        let (user, src) = match principal {
            Principal::User {
                user,
                source: Source::Password,
                ..
            } => {
                let hash = user
                    .password_hash
                    .as_deref()
                    .ok_or(AuthError::InvalidCredentials)?;
                (user.id, format!("{SESSION}password:{}", fingerprint(hash)))
            }
            Principal::User {
                user,
                source: Source::PersonalToken(id),
                ..
            } => {
                if let Some(token) = self.store.token(TokenKind::Personal, *id)?
                    && let Some(token_expiry) = token.expires_at
                {
                    expires = expires.min(token_expiry.unix_micros() / 1_000_000);
                }
                (user.id, format!("{SESSION}pat:{id}"))
            }
            Principal::Anonymous | Principal::DeployToken { .. } => {
                return Err(AuthError::InvalidCredentials);
            }
        };
        let claims = Claims {
            sub: format!("user:{user}"),
            src,
            iat: now,
            exp: expires,
            iss: ISSUER.to_owned(),
        };
        let cookie = jwt::sign(&claims, &self.store.signing_keys()?)?;
        let expires_at = RevisionTime::from_unix_micros(expires.saturating_mul(1_000_000))
            .map_err(|error| AuthError::Internal(error.to_string()))?;
        Ok(IssuedSession { cookie, expires_at })
    }

    /// The user a session cookie stands for, checked again against what it was opened with.
    /// Every failure is [`AuthError::InvalidToken`] (a store failure is an error, never a
    /// refusal).
    pub fn session(&self, cookie: &str) -> Result<Principal, AuthError> {
        let lookup = self.lookup()?;
        let claims = lookup.verified_claims(cookie)?;
        let user_id = claims
            .sub
            .strip_prefix("user:")
            .and_then(|id| id.parse().ok())
            .map(UserId)
            .ok_or(AuthError::InvalidToken)?;
        let source = claims
            .src
            .strip_prefix(SESSION)
            .ok_or(AuthError::InvalidToken)?;
        if let Some(print) = source.strip_prefix("password:") {
            let user = lookup
                .active_user(user_id)?
                .ok_or(AuthError::InvalidToken)?;
            let current = user.password_hash.as_deref().map(fingerprint);
            if !self.config.password_login || current.as_deref() != Some(print) {
                return Err(AuthError::InvalidToken);
            }
            return Ok(Principal::User {
                user,
                access: Access::FULL,
                source: Source::Password,
            });
        }
        let token_id = source
            .strip_prefix("pat:")
            .and_then(|id| id.parse().ok())
            .map(TokenId)
            .ok_or(AuthError::InvalidToken)?;
        let token = lookup
            .token(TokenKind::Personal, token_id)?
            .ok_or(AuthError::InvalidToken)?;
        if token.owner != TokenOwner::User(user_id) {
            return Err(AuthError::InvalidToken);
        }
        self.token_principal(&lookup, &token, None)?
            .ok_or(AuthError::InvalidToken)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_differ_by_hash_and_reveal_little() {
        let one = fingerprint("$argon2id$v=19$m=19456,t=2,p=1$salt1$hash");
        let two = fingerprint("$argon2id$v=19$m=19456,t=2,p=1$salt2$hash");
        assert_ne!(one, two);
        assert_eq!(one.len(), 16);
        assert!(!one.contains("argon"));
    }
}
