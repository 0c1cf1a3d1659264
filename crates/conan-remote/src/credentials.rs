//! The upstream's credentials at rest: sealed with AES-256-GCM under a key that lives in the
//! configuration (`remote.credentials_key`), never in the database, so a database dump or
//! backup alone does not reveal them. Each sealing draws a fresh random nonce; the sealed form
//! is `v1:` and the base64 of nonce and ciphertext (with its tag), bound to the project it
//! belongs to (the project id is the associated data), so a sealed value copied to another
//! project's row does not open.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use conan_store::ProjectId;
use conan_upstream::Credentials;

/// The sealed form's version prefix.
const VERSION: &str = "v1:";

/// Why credentials could not be sealed or opened. Messages never hold a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The key is not 32 bytes of base64.
    #[error("remote.credentials_key must be 32 random bytes in base64 (`openssl rand -base64 32`)")]
    InvalidKey,
    /// The sealed value does not open with this key for this project: another key, another
    /// project's value, or damaged.
    #[error("the stored upstream credentials do not open with remote.credentials_key")]
    Unreadable,
    /// The system's random source failed.
    #[error("no randomness for sealing")]
    Random,
}

/// The key that seals and opens upstream credentials.
pub struct CredentialKey(LessSafeKey);

impl std::fmt::Debug for CredentialKey {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str("CredentialKey([redacted])")
    }
}

/// What is sealed: the user, a newline, the password (a user name cannot hold a newline).
fn plaintext(credentials: &Credentials) -> Vec<u8> {
    format!("{}\n{}", credentials.user, credentials.password).into_bytes()
}

impl CredentialKey {
    /// The key from its configured form: 32 bytes in standard base64.
    pub fn from_base64(text: &str) -> Result<Self, CredentialError> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| CredentialError::InvalidKey)?;
        if bytes.len() != 32 {
            return Err(CredentialError::InvalidKey);
        }
        let key = UnboundKey::new(&AES_256_GCM, &bytes).map_err(|_| CredentialError::InvalidKey)?;
        Ok(Self(LessSafeKey::new(key)))
    }

    /// Seals `credentials` for `project`.
    pub fn seal(
        &self,
        project: ProjectId,
        credentials: &Credentials,
    ) -> Result<String, CredentialError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| CredentialError::Random)?;
        let mut sealed = plaintext(credentials);
        self.0
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(project.0.to_be_bytes()),
                &mut sealed,
            )
            .map_err(|_| CredentialError::Random)?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{VERSION}{}", STANDARD.encode(out)))
    }

    /// Opens what [`seal`](Self::seal) sealed for `project`.
    pub fn open(&self, project: ProjectId, sealed: &str) -> Result<Credentials, CredentialError> {
        let bytes = sealed
            .strip_prefix(VERSION)
            .and_then(|text| STANDARD.decode(text).ok())
            .filter(|bytes| bytes.len() > NONCE_LEN)
            .ok_or(CredentialError::Unreadable)?;
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce =
            Nonce::try_assume_unique_for_key(nonce).map_err(|_| CredentialError::Unreadable)?;
        let mut buffer = ciphertext.to_vec();
        let opened = self
            .0
            .open_in_place(nonce, Aad::from(project.0.to_be_bytes()), &mut buffer)
            .map_err(|_| CredentialError::Unreadable)?;
        let text = std::str::from_utf8(opened).map_err(|_| CredentialError::Unreadable)?;
        let (user, password) = text.split_once('\n').ok_or(CredentialError::Unreadable)?;
        Ok(Credentials {
            user: user.to_owned(),
            password: password.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const OTHER: &str = "HxwdHhscGRobGBcWFRQTEhEQDw4NDAsKCQgHBgUEAwI=";

    fn credentials() -> Credentials {
        Credentials {
            user: "mirror".to_owned(),
            password: "s3cr3t-token".to_owned(),
        }
    }

    #[test]
    fn sealed_credentials_open_only_with_the_key_and_for_the_project() {
        let key = CredentialKey::from_base64(KEY).unwrap();
        let sealed = key.seal(ProjectId(7), &credentials()).unwrap();
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("s3cr3t") && !sealed.contains("mirror"));
        // A fresh nonce each time: the same credentials seal differently.
        assert_ne!(sealed, key.seal(ProjectId(7), &credentials()).unwrap());
        assert_eq!(key.open(ProjectId(7), &sealed).unwrap(), credentials());
        assert_eq!(
            key.open(ProjectId(8), &sealed),
            Err(CredentialError::Unreadable)
        );
        let other = CredentialKey::from_base64(OTHER).unwrap();
        assert_eq!(
            other.open(ProjectId(7), &sealed),
            Err(CredentialError::Unreadable)
        );
        // Damaged: one character changed, cut short, another version, not base64.
        let mut damaged = sealed.clone().into_bytes();
        let last = damaged.len() - 2;
        damaged[last] = if damaged[last] == b'A' { b'B' } else { b'A' };
        for bad in [
            String::from_utf8(damaged).unwrap(),
            sealed[..sealed.len() - 8].to_owned(),
            sealed.replacen("v1:", "v2:", 1),
            "v1:***".to_owned(),
            "v1:".to_owned(),
            String::new(),
        ] {
            assert_eq!(
                key.open(ProjectId(7), &bad),
                Err(CredentialError::Unreadable),
                "{bad}"
            );
        }
        assert!(!format!("{key:?}").contains("AAEC"));
    }

    #[test]
    fn keys_must_be_32_bytes_of_base64() {
        for bad in [
            "",
            "not base64!",
            "AAECAwQFBgcICQoLDA0ODw==",
            &format!("{KEY}AAAA"),
        ] {
            assert!(CredentialKey::from_base64(bad).is_err(), "{bad}");
        }
        assert!(CredentialKey::from_base64(&format!(" {KEY}\n")).is_ok());
    }
}
