//! Revisions, package ids and revision times.
//!
//! Invariants: a revision is accepted exactly when it is `0` or 32 or 40 lowercase hex digits, a
//! package id exactly when it is 40; both render as written. A revision time that parses renders
//! to the canonical RFC 3339 form, which parses back to the same instant; every instant in range
//! round-trips through its rendering.

#![no_main]

use conan_model::{PackageId, Revision, RevisionKind, RevisionTime};
use conan_registry_fuzz::is_lower_hex;
use libfuzzer_sys::fuzz_target;

fn check_time(time: RevisionTime) {
    let rendered = time.to_string();
    // `YYYY-MM-DDTHH:MM:SS.ffffffZ`, always.
    assert_eq!(rendered.len(), 27, "{rendered}");
    assert!(rendered.ends_with('Z'));
    assert_eq!(rendered.parse::<RevisionTime>(), Ok(time), "{rendered}");
    assert_eq!(RevisionTime::from_unix_micros(time.unix_micros()), Ok(time));
    assert!(RevisionTime::MIN <= time && time <= RevisionTime::MAX);
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    let revision = text.parse::<Revision>();
    let valid = text == "0" || is_lower_hex(text, 32) || is_lower_hex(text, 40);
    assert_eq!(revision.is_ok(), valid, "{text:?}");
    if let Ok(revision) = revision {
        assert_eq!(revision.to_string(), text);
        let kind = match text.len() {
            1 => RevisionKind::Zero,
            32 => RevisionKind::Hash,
            _ => RevisionKind::Scm,
        };
        assert_eq!(revision.kind(), kind);
        assert_eq!(revision.is_zero(), text == "0");
    }

    let package_id = text.parse::<PackageId>();
    assert_eq!(package_id.is_ok(), is_lower_hex(text, 40), "{text:?}");
    if let Ok(id) = package_id {
        assert_eq!(id.as_str(), text);
    }

    if let Ok(time) = text.parse::<RevisionTime>() {
        check_time(time);
    }

    // Any 8 bytes as microseconds since the epoch: in range round-trips, out of range is refused.
    if let Some(bytes) = data.get(..8) {
        let micros = i64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        match RevisionTime::from_unix_micros(micros) {
            Ok(time) => {
                assert_eq!(time.unix_micros(), micros);
                check_time(time);
            }
            Err(_) => assert!(
                micros < RevisionTime::MIN.unix_micros()
                    || micros > RevisionTime::MAX.unix_micros()
            ),
        }
    }
});
