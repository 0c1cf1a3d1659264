//! The Conan token handed out by `users/authenticate`: an HS256 JWT.
//!
//! Its claims say who the principal is and which credential it was derived from, never a
//! secret (GitLab puts the raw personal access token in its JWT; this does not). The header's
//! `kid` names the signing key, so keys can rotate: new tokens use the newest key, and every key
//! still stored verifies. Only HS256 is accepted: `alg: none`, other algorithms, unknown keys,
//! bad signatures, expired tokens and garbage all fail the same way.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use conan_store::SigningKey;

use crate::AuthError;

/// The claims of a Conan token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The principal: `user:<id>` or `deploy:<id>`.
    pub sub: String,
    /// The credential it came from: `password`, `pat:<id>` or `deploy:<id>`.
    pub src: String,
    /// Issued at, seconds since the Unix epoch.
    pub iat: i64,
    /// Expires at, seconds since the Unix epoch.
    pub exp: i64,
    /// The issuer, always [`ISSUER`].
    pub iss: String,
}

/// The `iss` claim of every token this registry issues.
pub const ISSUER: &str = "conan-registry";

/// Signs `claims` with the newest key of `keys` (newest first, as the store lists them).
pub fn sign(claims: &Claims, keys: &[SigningKey]) -> Result<String, AuthError> {
    let key = keys
        .first()
        .ok_or_else(|| AuthError::Internal("no JWT signing key: run the server once".to_owned()))?;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(key.id.to_string());
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(key.secret.as_bytes()),
    )
    .map_err(|error| AuthError::Internal(format!("cannot sign a token: {error}")))
}

/// Verifies a token against the stored keys and returns its claims. Every failure is
/// [`AuthError::InvalidToken`], whatever the reason.
pub fn verify(token: &str, keys: &[SigningKey]) -> Result<Claims, AuthError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::InvalidToken)?;
    if header.alg != Algorithm::HS256 {
        return Err(AuthError::InvalidToken);
    }
    let kid: i64 = header
        .kid
        .as_deref()
        .and_then(|kid| kid.parse().ok())
        .ok_or(AuthError::InvalidToken)?;
    let key = keys
        .iter()
        .find(|key| key.id.0 == kid)
        .ok_or(AuthError::InvalidToken)?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_issuer(&[ISSUER]);
    validation.set_required_spec_claims(&["exp", "iss", "sub"]);
    validation.leeway = 0;
    validation.validate_nbf = true;
    jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(key.secret.as_bytes()),
        &validation,
    )
    .map(|data| data.claims)
    .map_err(|_| AuthError::InvalidToken)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use conan_model::RevisionTime;

    use super::*;

    fn key(id: i64, secret: &str) -> SigningKey {
        SigningKey {
            id: conan_store::SigningKeyId(id),
            secret: secret.to_owned(),
            created_at: RevisionTime::from_unix_micros(0).unwrap(),
        }
    }

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: "user:1".into(),
            src: "password".into(),
            iat: 0,
            exp,
            iss: ISSUER.into(),
        }
    }

    const FUTURE: i64 = 4_000_000_000;

    #[test]
    fn round_trip_with_rotation() {
        let old = key(1, "old secret");
        let new = key(2, "new secret");
        let token = sign(&claims(FUTURE), std::slice::from_ref(&old)).unwrap();
        // After rotation the old key still verifies; new tokens use the new key.
        assert_eq!(
            verify(&token, &[new.clone(), old.clone()]).unwrap(),
            claims(FUTURE)
        );
        let newer = sign(&claims(FUTURE), &[new.clone(), old.clone()]).unwrap();
        assert_eq!(
            jsonwebtoken::decode_header(&newer).unwrap().kid.as_deref(),
            Some("2")
        );
        // Removing the old key invalidates its tokens.
        assert!(matches!(
            verify(&token, &[new]),
            Err(AuthError::InvalidToken)
        ));
    }

    #[test]
    fn hostile_tokens_are_refused_alike() {
        let good = key(1, "secret");
        let token = sign(&claims(FUTURE), std::slice::from_ref(&good)).unwrap();
        let (header, rest) = token.split_once('.').unwrap();
        let (payload, _signature) = rest.split_once('.').unwrap();

        let unsigned_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT","kid":"1"}"#);
        let forged_payload = URL_SAFE_NO_PAD.encode(
            r#"{"sub":"user:999","src":"password","iat":0,"exp":4000000000,"iss":"conan-registry"}"#,
        );
        let cases = [
            String::new(),
            "garbage".to_owned(),
            "a.b.c".to_owned(),
            format!("{unsigned_header}.{payload}."),
            format!(
                "{header}.{forged_payload}.{}",
                rest.split_once('.').unwrap().1
            ),
            sign(&claims(FUTURE), &[key(1, "another secret")]).unwrap(),
            sign(&claims(FUTURE), &[key(7, "secret")]).unwrap(),
            sign(&claims(1), std::slice::from_ref(&good)).unwrap(),
            sign(
                &Claims {
                    iss: "someone-else".into(),
                    ..claims(FUTURE)
                },
                std::slice::from_ref(&good),
            )
            .unwrap(),
        ];
        for case in cases {
            assert!(
                matches!(
                    verify(&case, std::slice::from_ref(&good)),
                    Err(AuthError::InvalidToken)
                ),
                "{case}"
            );
        }
        let hs512 = jsonwebtoken::encode(
            &Header {
                kid: Some("1".into()),
                ..Header::new(Algorithm::HS512)
            },
            &claims(FUTURE),
            &EncodingKey::from_secret(b"secret"),
        )
        .unwrap();
        assert!(matches!(
            verify(&hs512, std::slice::from_ref(&good)),
            Err(AuthError::InvalidToken)
        ));
        assert!(verify(&token, &[good]).is_ok());
    }

    #[test]
    fn signing_needs_a_key() {
        assert!(matches!(
            sign(&claims(FUTURE), &[]),
            Err(AuthError::Internal(_))
        ));
    }
}
