//! Personal access tokens and deploy tokens: their secrets, their hashes and their scopes.
//!
//! A secret is 20 random bytes in hex behind a recognisable prefix (`crpat-` for personal access
//! tokens, `crdt-` for deploy tokens), so a leaked token is easy to spot and to tell apart. It is
//! shown once, at creation; the store keeps only its sha256. The tokens carry 160 bits of entropy,
//! so a fast hash is enough: there is nothing to brute-force, unlike a password.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest as _, Sha256};

use crate::AuthError;

/// The prefix of personal access token secrets.
pub const PERSONAL_TOKEN_PREFIX: &str = "crpat-";
/// The prefix of deploy token secrets.
pub const DEPLOY_TOKEN_PREFIX: &str = "crdt-";

/// How many random bytes a secret carries.
const SECRET_BYTES: usize = 20;

/// A token scope, as GitLab names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Everything the token's user may do.
    Api,
    /// Read only, through any API.
    ReadApi,
    /// Read packages.
    ReadPackageRegistry,
    /// Upload and delete packages (reading them too).
    WritePackageRegistry,
}

impl Scope {
    /// Every scope.
    pub const ALL: [Self; 4] = [
        Self::Api,
        Self::ReadApi,
        Self::ReadPackageRegistry,
        Self::WritePackageRegistry,
    ];

    /// The scope's name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::ReadApi => "read_api",
            Self::ReadPackageRegistry => "read_package_registry",
            Self::WritePackageRegistry => "write_package_registry",
        }
    }

    /// Whether deploy tokens may have this scope (only the package registry ones).
    #[must_use]
    pub fn allowed_for_deploy_tokens(self) -> bool {
        matches!(self, Self::ReadPackageRegistry | Self::WritePackageRegistry)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = AuthError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|scope| scope.as_str() == text)
            .ok_or_else(|| {
                AuthError::Invalid(format!(
                    "unknown scope {text:?}: expected one of api, read_api, read_package_registry, \
                 write_package_registry"
                ))
            })
    }
}

/// What a credential lets its holder do at most, before roles are considered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Access {
    /// May read packages.
    pub read: bool,
    /// May upload and delete packages.
    pub write: bool,
}

impl Access {
    /// Full access: a password login, or a token with the `api` scope.
    pub const FULL: Self = Self {
        read: true,
        write: true,
    };

    /// The access a set of stored scope names grants; unknown names grant nothing.
    #[must_use]
    pub fn of_scopes<S: AsRef<str>>(scopes: &[S]) -> Self {
        let mut access = Self::default();
        for scope in scopes
            .iter()
            .filter_map(|scope| scope.as_ref().parse::<Scope>().ok())
        {
            match scope {
                // Writing without reading would be useless to a Conan client, which checks what
                // it uploads against the server; GitLab's deploy tokens behave the same.
                Scope::Api | Scope::WritePackageRegistry => access = Self::FULL,
                Scope::ReadApi | Scope::ReadPackageRegistry => access.read = true,
            }
        }
        access
    }
}

/// Makes a new secret with `prefix`.
pub fn generate_secret(prefix: &str) -> Result<String, AuthError> {
    let mut bytes = [0_u8; SECRET_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|error| AuthError::Internal(format!("no randomness available: {error}")))?;
    Ok(format!("{prefix}{}", hex(&bytes)))
}

/// The stored form of a secret: its sha256 in hex.
#[must_use]
pub fn hash_secret(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Lowercase hex of `bytes`.
pub(crate) fn hex(bytes: &[u8]) -> String {
    use fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_prefixed_random_and_hashed() {
        let one = generate_secret(PERSONAL_TOKEN_PREFIX).unwrap();
        let two = generate_secret(PERSONAL_TOKEN_PREFIX).unwrap();
        assert!(one.starts_with("crpat-"));
        assert_eq!(one.len(), "crpat-".len() + 40);
        assert_ne!(one, two);
        assert_eq!(hash_secret(&one).len(), 64);
        assert_ne!(hash_secret(&one), hash_secret(&two));
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn scopes_parse_and_grant_access() {
        for scope in Scope::ALL {
            assert_eq!(scope.as_str().parse::<Scope>().unwrap(), scope);
        }
        assert!("write_repository".parse::<Scope>().is_err());
        assert_eq!(Access::of_scopes(&["api"]), Access::FULL);
        assert_eq!(
            Access::of_scopes(&["read_api"]),
            Access {
                read: true,
                write: false
            }
        );
        assert_eq!(
            Access::of_scopes(&["read_package_registry"]),
            Access {
                read: true,
                write: false
            }
        );
        assert_eq!(Access::of_scopes(&["write_package_registry"]), Access::FULL);
        assert_eq!(Access::of_scopes(&["unknown"]), Access::default());
        assert_eq!(Access::of_scopes::<&str>(&[]), Access::default());
        assert!(!Scope::Api.allowed_for_deploy_tokens());
        assert!(Scope::ReadPackageRegistry.allowed_for_deploy_tokens());
    }
}
