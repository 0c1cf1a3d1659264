//! Where objects live inside the store, and which byte ranges can be served.
//!
//! ```text
//! sha256/ab/cd/abcd...   a published blob, named by its sha256 (two fan-out levels keep any
//!                        one directory small on file systems: at most 65,536 leaf directories)
//! staging/<uuid v4>      a body being uploaded or waiting for its metadata to commit
//! ```
//! Keys are built only from a [`Sha256Hex`] or a fresh uuid, so no caller-supplied text ever
//! becomes part of an object name or a file path.

use std::ops::Range;
use std::path::PathBuf;

use object_store::path::Path;
use uuid::Uuid;

use super::digest::Sha256Hex;

/// The prefix of published blobs.
pub(crate) const BLOB_PREFIX: &str = "sha256";

/// The prefix of staging objects.
pub(crate) const STAGING_PREFIX: &str = "staging";

/// The two fan-out directory names of a blob: its first and second pair of hex digits.
fn fan_out(sha256: &Sha256Hex) -> (&str, &str) {
    let hex = sha256.as_str();
    (&hex[0..2], &hex[2..4])
}

/// The object key of a published blob.
pub(crate) fn blob_key(sha256: &Sha256Hex) -> Path {
    let (first, second) = fan_out(sha256);
    Path::from_iter([BLOB_PREFIX, first, second, sha256.as_str()])
}

/// The file of a published blob relative to the file-system root.
pub(crate) fn blob_file(sha256: &Sha256Hex) -> PathBuf {
    let (first, second) = fan_out(sha256);
    [BLOB_PREFIX, first, second, sha256.as_str()]
        .iter()
        .collect()
}

/// A fresh, unique staging key.
pub(crate) fn new_staging_key() -> Path {
    staging_key(Uuid::new_v4())
}

/// The staging key of one upload.
fn staging_key(id: Uuid) -> Path {
    Path::from_iter([STAGING_PREFIX, &id.to_string()])
}

/// The sha256 of a published blob's key, or `None` for any key that is not exactly the layout
/// above (a foreign object in a shared bucket, a leftover temporary file): such objects are
/// never reported, so a garbage collector cannot delete what it does not own.
pub(crate) fn parse_blob_key(key: &Path) -> Option<Sha256Hex> {
    let parts: Vec<_> = key.parts().collect();
    let [prefix, first, second, name] = parts.as_slice() else {
        return None;
    };
    let sha256 = Sha256Hex::parse(name.as_ref()).ok()?;
    let expected = fan_out(&sha256);
    (prefix.as_ref() == BLOB_PREFIX && (first.as_ref(), second.as_ref()) == expected)
        .then_some(sha256)
}

/// The bytes served for `requested` from a blob of `size` bytes, or `None` when the range is
/// unsatisfiable.
///
/// HTTP semantics (RFC 9110, 14.1.2): an end past the blob is clamped to its size, so
/// `start..u64::MAX` means "from `start` to the end"; a range starting at or after the end, an
/// empty range, and any range of an empty blob are unsatisfiable.
pub(crate) fn resolve_range(requested: &Range<u64>, size: u64) -> Option<Range<u64>> {
    (requested.start < requested.end && requested.start < size)
        .then(|| requested.start..requested.end.min(size))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO_SHA256: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    fn hello() -> Sha256Hex {
        Sha256Hex::parse(HELLO_SHA256).unwrap()
    }

    #[test]
    fn blob_key_fans_out_by_the_first_two_byte_pairs() {
        assert_eq!(
            blob_key(&hello()).as_ref(),
            format!("sha256/2c/f2/{HELLO_SHA256}")
        );
        assert_eq!(
            blob_file(&hello()),
            PathBuf::from(format!("sha256/2c/f2/{HELLO_SHA256}"))
        );
    }

    #[test]
    fn staging_keys_are_unique_and_under_the_staging_prefix() {
        let (a, b) = (new_staging_key(), new_staging_key());
        assert_ne!(a, b);
        let parts: Vec<_> = a.parts().collect();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].as_ref(), STAGING_PREFIX);
        assert!(Uuid::parse_str(parts[1].as_ref()).is_ok());
    }

    #[test]
    fn parse_blob_key_round_trips() {
        assert_eq!(parse_blob_key(&blob_key(&hello())), Some(hello()));
    }

    #[test]
    fn parse_blob_key_ignores_anything_else() {
        let cases = [
            format!("sha256/2c/f2/{HELLO_SHA256}#1"),
            format!("sha256/2c/f3/{HELLO_SHA256}"),
            format!("sha256/2c/{HELLO_SHA256}"),
            format!("sha256/2c/f2/x/{HELLO_SHA256}"),
            format!("other/2c/f2/{HELLO_SHA256}"),
            format!("sha256/2c/f2/{}", HELLO_SHA256.to_uppercase()),
            "staging/4b4d0ec1-1f0e-4b8c-9b8e-0d2f4a3a5f10".to_owned(),
            String::new(),
        ];
        for case in cases {
            assert_eq!(parse_blob_key(&Path::from(case.as_str())), None, "{case}");
        }
    }

    #[test]
    fn ranges_resolve_with_http_semantics() {
        let cases: [(Range<u64>, u64, Option<Range<u64>>); 10] = [
            (0..1, 10, Some(0..1)),
            (0..10, 10, Some(0..10)),
            (3..7, 10, Some(3..7)),
            (9..10, 10, Some(9..10)),
            (5..u64::MAX, 10, Some(5..10)),
            (0..11, 10, Some(0..10)),
            (10..11, 10, None),
            (11..20, 10, None),
            (4..4, 10, None),
            (0..1, 0, None),
        ];
        for (requested, size, expected) in cases {
            assert_eq!(
                resolve_range(&requested, size),
                expected,
                "{requested:?} of {size}"
            );
        }
        #[expect(
            clippy::reversed_empty_ranges,
            reason = "a reversed range is a case the resolver must refuse"
        )]
        let reversed = 7..3;
        assert_eq!(resolve_range(&reversed, 10), None);
    }
}
