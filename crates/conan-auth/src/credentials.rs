//! The credentials of an `Authorization` header, parsed from its value.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::AuthError;

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
