//! Inputs from the fuzz targets `jwt` and `authorization` (`fuzz/README.md`), replayed as plain
//! tests through the same code with the same invariants, so they run with every `cargo nextest`.
//!
//! Every crash a fuzz target finds gets a test here. The fuzz campaign of 2026-11-22 found two,
//! both in the `jwt` target's own oracle rather than in this crate
//! (`signed_tokens_with_unreadable_unread_claims`); the other tests pin the invariants
//! those targets check that the unit tests do not: a token is only as good as the key its `kid`
//! names, and `Authorization` values are taken only in their one canonical form.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is the failure report"
)]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use conan_auth::jwt::{self, Claims, ISSUER};
use conan_auth::{AuthError, Credentials};
use conan_model::RevisionTime;
use conan_store::{SigningKey, SigningKeyId};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

const FUTURE: i64 = 4_000_000_000;

fn keys() -> Vec<SigningKey> {
    let created_at = RevisionTime::from_unix_micros(0).unwrap();
    vec![
        SigningKey {
            id: SigningKeyId(2),
            secret: "fuzz-key-two".to_owned(),
            created_at,
        },
        SigningKey {
            id: SigningKeyId(1),
            secret: "fuzz-key-one".to_owned(),
            created_at,
        },
    ]
}

fn claims() -> Claims {
    Claims {
        sub: "user:1".to_owned(),
        src: "password".to_owned(),
        iat: 0,
        exp: FUTURE,
        iss: ISSUER.to_owned(),
    }
}

fn token(kid: &str, algorithm: Algorithm, secret: &str) -> String {
    let header = Header {
        kid: Some(kid.to_owned()),
        ..Header::new(algorithm)
    };
    jsonwebtoken::encode(
        &header,
        &claims(),
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn refused(token: &str) -> bool {
    matches!(jwt::verify(token, &keys()), Err(AuthError::InvalidToken))
}

/// The `jwt` target's two crashes of 2026-11-22 (`fuzz/README.md`): tokens correctly signed with
/// a registry key whose payload holds, in a claim the registry does not read, invalid UTF-8
/// (`"aud":"x\xad"`) or a number out of range (`"nbf":99999E99998`). `serde_json` skips unknown
/// members without validating them, so `jsonwebtoken` verifies such tokens; the target's oracle
/// parsed the whole payload as a JSON value, called it undecodable and panicked. Harmless: only
/// the key's holder can sign such a token, and the registry never does. The invariant that
/// stands: if accepted, the claims are exactly the readable ones; without the key, or with one
/// character changed, the token is refused.
#[test]
fn signed_tokens_with_unreadable_unread_claims() {
    let key = SigningKey {
        id: SigningKeyId(1),
        secret: "fuzz-key-one-0123456789abcdef0123456789abcdef0123456789abcdef0123".to_owned(),
        created_at: RevisionTime::from_unix_micros(0).unwrap(),
    };
    let cases = [
        (
            // {"sub":"deploy:3","src":"deploy:3","iat":0,"exp":4000000000,
            //  "iss":"conan-registry","aud":"x\xad","nbf":9999999999}
            "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiIsImtpZCI6IjEifQ.\
             eyJzdWIiOiJkZXBsb3k6MyIsInNyYyI6ImRlcGxveTozIiwiaWF0IjowLCJleHAiOjQwMDAwMDAwMDAsImlzcy\
             I6ImNvbmFuLXJlZ2lzdHJ5IiwiYXVkIjoieK0iLCJuYmYiOjk5OTk5OTk5OTl9.\
             zIixyuMHc-XOaUBj4TjslifGsfoLvm0hDi6HS0IT6bI",
            "deploy:3",
            FUTURE,
        ),
        (
            // {"sub":"deploy:4","src":"deploy:3","iat"              :0,"exp":4000000001,
            //  "iss":"conan-registry","aub":"x","nbf":\t99999E99998}
            "eyJ0eXAiOiJKVCIsImFsZyI6IkhTMjU2Iiwia2lkIjoiMSJ9.\
             eyJzdWIiOiJkZXBsb3k6NCIsInNyYyI6ImRlcGxveTozIiwiaWF0IiAgICAgICAgICAgICAgOjAsImV4cCI6ND\
             AwMDAwMDAwMSwiaXNzIjoiY29uYW4tcmVnaXN0cnkiLCJhdWIiOiJ4IiwibmJmIjoJOTk5OTlFOTk5OTh9.\
             y58dtoXZm8QWenBpuUCnG0yS6yzsqzuRfO85Az4D8t8",
            "deploy:4",
            FUTURE + 1,
        ),
    ];
    for (token, sub, exp) in cases {
        let payload = URL_SAFE_NO_PAD
            .decode(token.split('.').nth(1).unwrap())
            .unwrap();
        assert!(serde_json::from_slice::<serde_json::Value>(&payload).is_err());
        match jwt::verify(token, std::slice::from_ref(&key)) {
            Ok(claims) => assert_eq!(
                claims,
                Claims {
                    sub: sub.to_owned(),
                    src: "deploy:3".to_owned(),
                    iat: 0,
                    exp,
                    iss: ISSUER.to_owned(),
                }
            ),
            Err(error) => assert!(matches!(error, AuthError::InvalidToken), "{error:?}"),
        }
        // `keys()` holds a key 1 with another secret.
        assert!(refused(token), "{token}");
        let (signed, signature) = token.rsplit_once('.').unwrap();
        let mut tampered = signature.to_owned();
        let last = if tampered.ends_with('A') { "B" } else { "A" };
        tampered.replace_range(tampered.len() - 1.., last);
        let tampered = format!("{signed}.{tampered}");
        assert!(jwt::verify(&tampered, std::slice::from_ref(&key)).is_err());
    }
}

/// The `jwt` target's oracle: the signature must be the HMAC under the key the `kid` names.
#[test]
fn a_token_is_only_as_good_as_the_key_its_kid_names() {
    assert!(jwt::verify(&token("1", Algorithm::HS256, "fuzz-key-one"), &keys()).is_ok());
    assert!(jwt::verify(&token("2", Algorithm::HS256, "fuzz-key-two"), &keys()).is_ok());
    // Signed by a registry key, but naming the other one.
    assert!(refused(&token("1", Algorithm::HS256, "fuzz-key-two")));
    assert!(refused(&token("2", Algorithm::HS256, "fuzz-key-one")));
    // No key, a key name that is not a number, a key the registry does not have.
    for kid in ["", "one", "1.0", "3", "-1", "99999999999999999999"] {
        assert!(
            refused(&token(kid, Algorithm::HS256, "fuzz-key-one")),
            "{kid:?}"
        );
    }
    // With no keys at all nothing verifies, not even a well-signed token.
    assert!(jwt::verify(&token("1", Algorithm::HS256, "fuzz-key-one"), &[]).is_err());
}

/// Shapes the `jwt` target's structured mode builds around a valid signature.
#[test]
fn a_valid_signature_does_not_save_a_bad_token() {
    let good = token("1", Algorithm::HS256, "fuzz-key-one");
    let (signed, signature) = good.rsplit_once('.').unwrap();
    assert!(refused(&format!("{good}AA")));
    assert!(refused(&format!("{good}.")));
    assert!(refused(&format!("{signed}.")));
    assert!(refused(&format!("{signed}.{signature}=")));
    assert!(refused(&format!("x{good}")));
    // Another algorithm, even one keyed with the same secret.
    assert!(refused(&token("1", Algorithm::HS384, "fuzz-key-one")));
    assert!(refused(&token("1", Algorithm::HS512, "fuzz-key-one")));
    // `alg` spelled otherwise, and `none`, each signed with the right key for good measure.
    let (_, payload) = signed.split_once('.').unwrap();
    for header in [
        r#"{"alg":"hs256","kid":"1"}"#,
        r#"{"alg":"none","kid":"1"}"#,
        r#"{"alg":"HS256 ","kid":"1"}"#,
        r#"{"kid":"1"}"#,
    ] {
        let forged = format!("{}.{payload}.{signature}", URL_SAFE_NO_PAD.encode(header));
        assert!(refused(&forged), "{header}");
        assert!(
            refused(&format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(header))),
            "{header}"
        );
    }
}

/// The `authorization` target's round trip: Basic credentials built from any user name without
/// `:` and any password come back unchanged, whatever the scheme's case and surrounding blanks.
#[test]
fn basic_credentials_round_trip() {
    for (username, password) in [
        ("", ""),
        ("alice", ""),
        ("", "secret"),
        ("alice", "pa:ss word"),
        (" alice ", " secret "),
        ("élodie", "пароль\u{0}\n"),
        (
            "crpat-0123",
            "crpat-0123456789abcdef0123456789abcdef01234567",
        ),
    ] {
        let encoded = STANDARD.encode(format!("{username}:{password}"));
        for value in [
            format!("Basic {encoded}"),
            format!("basic {encoded}"),
            format!(" \tBASIC {encoded} \t"),
        ] {
            assert_eq!(
                Credentials::from_header(&value).unwrap(),
                Credentials::Basic {
                    username: username.to_owned(),
                    password: password.to_owned(),
                },
                "{value:?}"
            );
        }
    }
}

/// The `authorization` target's canonical-form invariant: Basic is decoded only from canonical,
/// padded base64, so one credential has exactly one header value.
#[test]
fn basic_credentials_need_canonical_base64() {
    assert_eq!(STANDARD.encode("ab:c"), "YWI6Yw==");
    for value in [
        "Basic YWI6Yx==",
        "Basic YWI6Yw",
        "Basic YWI6Yw=",
        "Basic YWI6Yw===",
        "Basic YWI6 Yw==",
        "Basic YWI6Yw==\u{0}",
        "Basic YWI6Yw-_",
        "Basic YWI6Yw==YWI6Yw==",
    ] {
        assert!(
            matches!(
                Credentials::from_header(value),
                Err(AuthError::InvalidCredentials)
            ),
            "{value:?}"
        );
    }
}

/// The `authorization` target's bearer invariant: the token is the trimmed rest of the value, and
/// a blank one is an error, never an empty token.
#[test]
fn bearer_tokens_are_the_trimmed_rest() {
    let cases = [
        ("Bearer abc", Some("abc")),
        ("bearer   abc  ", Some("abc")),
        ("BEARER a b", Some("a b")),
        ("Bearer \u{3000}abc\u{3000}", Some("abc")),
        ("Bearer ", None),
        ("Bearer \t ", None),
        ("Bearer\tabc", None),
        ("Bearerabc", None),
    ];
    for (value, expected) in cases {
        let parsed = Credentials::from_header(value).ok();
        if let Some(credentials) = &parsed {
            assert_eq!(format!("{credentials:?}"), "Bearer(<redacted>)");
        }
        assert_eq!(
            parsed,
            expected.map(|token| Credentials::Bearer(token.to_owned())),
            "{value:?}"
        );
    }
}
