//! Conan token (JWT) verification with known keys.
//!
//! Input: one mode byte, then
//! - mode 0 (even): the rest is the token, as sent in `Authorization: Bearer ...`;
//! - mode 1 (odd): header JSON, payload JSON and a suffix separated by `0x00` bytes, after one
//!   byte choosing the signing secret (key 1, key 2, a secret the registry does not hold, or no
//!   signature); the target signs `base64url(header).base64url(payload)` with it, so the fuzzer
//!   explores the claims and header checks behind a valid signature.
//!
//! Invariants: `verify` never panics, and whenever it accepts a token, an independent check
//! finds an HS256 header whose `kid` names a registry key, a signature that is the HMAC-SHA256
//! of the signed part under that key's secret, the registry's issuer, an expiry not in the past,
//! and exactly the claims the payload holds (other members are skipped unread, as any JWT
//! consumer does). Without that key, the same token is refused; with no keys nothing verifies.

#![no_main]

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use conan_auth::jwt::{self, Claims, ISSUER};
use conan_model::RevisionTime;
use conan_registry_fuzz::{URL_SAFE_NO_PAD, decode_part, fields, hmac_sha256};
use conan_store::{SigningKey, SigningKeyId};
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde_json::Value;

const SECRET_ONE: &str = "fuzz-key-one-0123456789abcdef0123456789abcdef0123456789abcdef0123";
const SECRET_TWO: &str = "fuzz-key-two-fedcba9876543210fedcba9876543210fedcba9876543210fedc";
const FOREIGN_SECRET: &str = "a-secret-the-registry-does-not-hold";

fn keys() -> Vec<SigningKey> {
    let created_at = RevisionTime::from_unix_micros(0).expect("the epoch is in range");
    vec![
        SigningKey {
            id: SigningKeyId(2),
            secret: SECRET_TWO.to_owned(),
            created_at,
        },
        SigningKey {
            id: SigningKeyId(1),
            secret: SECRET_ONE.to_owned(),
            created_at,
        },
    ]
}

fn now() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after the epoch");
    i64::try_from(elapsed.as_secs()).expect("in range")
}

/// The header fields the oracle reads.
///
/// Like every JWT consumer it reads only the members it needs and skips the rest, as serde does,
/// without validating them: a skipped string may hold invalid UTF-8 and a skipped number may be
/// out of range (`"aud":"x\xad"`, `"nbf":99999E99998`). Parsing the whole part as a
/// `serde_json::Value` instead made the oracle call such tokens undecodable; that was the
/// campaign's two crashes (fuzz/README.md).
#[derive(Deserialize)]
struct ReadHeader {
    #[serde(default)]
    alg: Value,
    #[serde(default)]
    kid: Value,
}

/// The payload fields the oracle reads; see [`ReadHeader`].
#[derive(Deserialize)]
struct ReadClaims {
    #[serde(default)]
    sub: Value,
    #[serde(default)]
    src: Value,
    #[serde(default)]
    iat: Value,
    #[serde(default)]
    exp: Value,
    #[serde(default)]
    iss: Value,
}

/// Checks an accepted token independently of jsonwebtoken.
fn check_accepted(token: &str, claims: &Claims, keys: &[SigningKey]) {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts.as_slice() else {
        panic!("accepted a token without three parts: {token:?}");
    };
    let header_fields: ReadHeader = decode_part(header)
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_else(|| panic!("accepted an undecodable header: {token:?}"));
    assert_eq!(header_fields.alg, "HS256", "{token:?}");
    let kid: i64 = header_fields
        .kid
        .as_str()
        .and_then(|kid| kid.parse().ok())
        .unwrap_or_else(|| panic!("accepted a token without a numeric kid: {token:?}"));
    let key = keys
        .iter()
        .find(|key| key.id.0 == kid)
        .unwrap_or_else(|| panic!("accepted a token naming an unknown key: {token:?}"));
    let expected = hmac_sha256(
        key.secret.as_bytes(),
        format!("{header}.{payload}").as_bytes(),
    );
    assert_eq!(
        decode_part(signature).as_ref(),
        Some(&expected),
        "forged: {token:?}"
    );

    let read: ReadClaims = decode_part(payload)
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_else(|| panic!("accepted an undecodable payload: {token:?}"));
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(read.iss, ISSUER);
    assert_eq!(read.sub, claims.sub.as_str());
    assert_eq!(read.src, claims.src.as_str());
    assert_eq!(read.iat.as_i64(), Some(claims.iat));
    assert_eq!(read.exp.as_i64(), Some(claims.exp));
    // jsonwebtoken reads the clock after this target did; one second of slack covers the tick.
    assert!(
        claims.exp >= now() - 1,
        "accepted an expired token: {token:?}"
    );

    // Without the key that signed it, the token is worthless.
    let others: Vec<SigningKey> = keys
        .iter()
        .filter(|other| other.id.0 != kid)
        .cloned()
        .collect();
    assert!(
        jwt::verify(token, &others).is_err(),
        "accepted without its key: {token:?}"
    );
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let keys = keys();
    let token = if mode % 2 == 0 {
        String::from_utf8_lossy(rest).into_owned()
    } else {
        let Some((&secret_choice, rest)) = rest.split_first() else {
            return;
        };
        let [header, payload, suffix] = fields::<3>(rest);
        let signed = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = match secret_choice % 4 {
            0 => URL_SAFE_NO_PAD.encode(hmac_sha256(SECRET_ONE.as_bytes(), signed.as_bytes())),
            1 => URL_SAFE_NO_PAD.encode(hmac_sha256(SECRET_TWO.as_bytes(), signed.as_bytes())),
            2 => URL_SAFE_NO_PAD.encode(hmac_sha256(FOREIGN_SECRET.as_bytes(), signed.as_bytes())),
            _ => String::new(),
        };
        format!("{signed}.{signature}{}", String::from_utf8_lossy(suffix))
    };
    if let Ok(claims) = jwt::verify(&token, &keys) {
        check_accepted(&token, &claims, &keys);
    }
    // No key at all: nothing verifies.
    assert!(jwt::verify(&token, &[]).is_err());
});
