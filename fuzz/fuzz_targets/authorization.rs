//! `Authorization` header values: `Credentials::from_header`.
//!
//! Input: one mode byte, then
//! - mode 0: the rest is the header value;
//! - mode 1: a user name and a password separated by `0x00`, sent as HTTP Basic (the scheme's
//!   spelling and surrounding blanks chosen by the mode byte's high bits);
//! - mode 2: the rest is a bearer token, sent as `Bearer <token>`.
//!
//! Invariants: parsing never panics; Basic is accepted only when its payload is canonical
//! base64 of `user:password` with a user name free of `:`, and Basic credentials built that way
//! always come back unchanged; a bearer token is the trimmed, non-empty rest of the value; the
//! `Debug` form never shows a password or a token.

#![no_main]

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use conan_auth::Credentials;
use libfuzzer_sys::fuzz_target;

fn check_parsed(value: &str, credentials: &Credentials) {
    let (scheme, rest) = value.trim().split_once(' ').expect("a scheme and a value");
    let rest = rest.trim();
    match credentials {
        Credentials::Bearer(token) => {
            assert!(scheme.eq_ignore_ascii_case("bearer"), "{value:?}");
            assert_eq!(token, rest);
            assert!(!token.is_empty());
            assert_eq!(format!("{credentials:?}"), "Bearer(<redacted>)");
        }
        Credentials::Basic { username, password } => {
            assert!(scheme.eq_ignore_ascii_case("basic"), "{value:?}");
            assert!(!username.contains(':'));
            assert_eq!(
                STANDARD.encode(format!("{username}:{password}")),
                rest,
                "{value:?}"
            );
            assert_eq!(
                format!("{credentials:?}"),
                format!("Basic({username:?}, <redacted>)")
            );
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    match mode % 4 {
        1 => {
            let (user, password) = match rest.iter().position(|&b| b == 0) {
                Some(at) => (&rest[..at], &rest[at + 1..]),
                None => (rest, &rest[..0]),
            };
            let user = String::from_utf8_lossy(user).replace(':', "");
            let password = String::from_utf8_lossy(password);
            let scheme = ["Basic", "basic", "BASIC", "bAsIc"][usize::from(mode >> 2) % 4];
            let pad = if mode & 0x40 == 0 { "" } else { " \t" };
            let value = format!(
                "{pad}{scheme} {}{pad}",
                STANDARD.encode(format!("{user}:{password}"))
            );
            let parsed = Credentials::from_header(&value);
            let expected = Credentials::Basic {
                username: user,
                password: password.into_owned(),
            };
            assert_eq!(parsed.ok().as_ref(), Some(&expected), "{value:?}");
        }
        2 => {
            let token = String::from_utf8_lossy(rest);
            let value = format!("Bearer {token}");
            match Credentials::from_header(&value) {
                Ok(Credentials::Bearer(parsed)) => assert_eq!(parsed, token.trim()),
                Ok(other) => panic!("{value:?} parsed as {other:?}"),
                Err(_) => assert!(token.trim().is_empty(), "{value:?} refused"),
            }
        }
        _ => {
            let value = String::from_utf8_lossy(rest);
            if let Ok(credentials) = Credentials::from_header(&value) {
                check_parsed(&value, &credentials);
            }
        }
    }
});
