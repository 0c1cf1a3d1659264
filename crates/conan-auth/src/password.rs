//! Password hashing with argon2id (PHC strings, a fresh salt per hash).

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};

use crate::AuthError;

/// The shortest password accepted.
pub const MIN_PASSWORD_LEN: usize = 8;

/// Hashes a password for storage; refuses passwords shorter than [`MIN_PASSWORD_LEN`].
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    if password.chars().count() < MIN_PASSWORD_LEN {
        return Err(AuthError::Invalid(format!(
            "password too short: at least {MIN_PASSWORD_LEN} characters"
        )));
    }
    let mut salt_bytes = [0_u8; 16];
    getrandom::fill(&mut salt_bytes)
        .map_err(|error| AuthError::Internal(format!("no randomness available: {error}")))?;
    let salt = SaltString::encode_b64(&salt_bytes)
        .map_err(|error| AuthError::Internal(format!("cannot encode a salt: {error}")))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|error| AuthError::Internal(format!("cannot hash password: {error}")))
}

/// Whether `password` matches a stored hash; a malformed hash matches nothing.
#[must_use]
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// Spends about as long as a real verification, so a login with an unknown user name takes as
/// long as one with a wrong password and does not reveal which names exist.
pub(crate) fn waste_verification(password: &str) {
    // A fixed, valid hash of a random password nobody knows.
    const DECOY: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$mmZkq7MzvTZwrbpkb0Fd2vKbNxdrg0JnrUOmUHkAzXk";
    let _ = verify_password(password, DECOY);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_and_differ() {
        let hash = hash_password("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert_ne!(hash, hash_password("correct horse").unwrap(), "salted");
        assert!(!verify_password("x", "not a hash"));
        assert!(hash_password("short").is_err());
        waste_verification("anything");
    }
}
