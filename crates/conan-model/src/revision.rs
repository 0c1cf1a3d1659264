//! Revision identifiers and package ids: newtypes that cannot hold an invalid value.
//!
//! - A [`Revision`] (recipe or package) is 32 lowercase hex digits (Conan's default `hash` mode,
//!   the md5 of the manifest), 40 lowercase hex digits (`scm` mode, a git commit), or the literal
//!   `0` that Conan 1 uses when revisions are disabled (GitLab's v1 routes too).
//! - A [`PackageId`] is 40 lowercase hex digits: the sha1 Conan computes over `conaninfo.txt`.
//!
//! Upper-case hex is refused rather than folded: every Conan client writes lowercase, and folding
//! would make the server answer with a different string than the client sent, which breaks the
//! client's comparisons of revisions across remotes.

use std::fmt;
use std::str::FromStr;

use crate::text::is_lower_hex;

/// Why a revision or package id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevisionError {
    /// The text is not a revision.
    #[error(
        "invalid revision {0:?}: expected 32 or 40 lowercase hex digits, or 0 (Conan 1 without \
         revisions)"
    )]
    Revision(String),
    /// The text is not a package id.
    #[error("invalid package id {0:?}: expected 40 lowercase hex digits")]
    PackageId(String),
}

/// Which kind of revision identifier a [`Revision`] holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevisionKind {
    /// 32 hex digits: the md5 of the manifest (Conan's `hash` revision mode).
    Hash,
    /// 40 hex digits: a git commit (Conan's `scm` revision mode).
    Scm,
    /// The literal `0`: an upload from a Conan 1 client with revisions disabled.
    Zero,
}

/// A recipe or package revision identifier.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Revision(String);

impl Revision {
    /// The literal revision `0` used by Conan 1 without revisions.
    #[must_use]
    pub fn zero() -> Self {
        Self("0".to_owned())
    }

    /// The identifier as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Which kind of identifier this is.
    #[must_use]
    pub fn kind(&self) -> RevisionKind {
        match self.0.len() {
            1 => RevisionKind::Zero,
            32 => RevisionKind::Hash,
            _ => RevisionKind::Scm,
        }
    }

    /// Whether this is the Conan 1 revision `0`.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        self.kind() == RevisionKind::Zero
    }
}

impl FromStr for Revision {
    type Err = RevisionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text == "0" || is_lower_hex(text, 32) || is_lower_hex(text, 40) {
            Ok(Self(text.to_owned()))
        } else {
            Err(RevisionError::Revision(text.to_owned()))
        }
    }
}

crate::macros::string_newtype!(Revision);

/// A binary package id: the sha1 of its `conaninfo.txt`, 40 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageId(String);

impl PackageId {
    /// The id as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PackageId {
    type Err = RevisionError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if is_lower_hex(text, 40) {
            Ok(Self(text.to_owned()))
        } else {
            Err(RevisionError::PackageId(text.to_owned()))
        }
    }
}

crate::macros::string_newtype!(PackageId);

impl fmt::Display for RevisionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Hash => "hash",
            Self::Scm => "scm",
            Self::Zero => "0",
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn revision_kinds() {
        let cases = [
            ("0", RevisionKind::Zero),
            ("a9b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5", RevisionKind::Hash),
            (
                "0123456789abcdef0123456789abcdef01234567",
                RevisionKind::Scm,
            ),
        ];
        for (text, kind) in cases {
            let revision: Revision = text.parse().unwrap();
            assert_eq!(revision.kind(), kind);
            assert_eq!(revision.is_zero(), kind == RevisionKind::Zero);
            assert_eq!(revision.as_str(), text);
            assert_eq!(revision.to_string(), text);
        }
        assert_eq!(Revision::zero().as_str(), "0");
    }

    #[test]
    fn invalid_revisions() {
        for text in [
            "",
            "00",
            "1",
            "latest",
            &"a".repeat(31),
            &"a".repeat(33),
            &"a".repeat(39),
            &"a".repeat(41),
            &"A".repeat(32),
            &"g".repeat(32),
            "a9b1c2d3e4f5a6b7c8d9e0f1a2b3c4d/",
            "../../../../../../../../etc/pass",
        ] {
            let error = text.parse::<Revision>().unwrap_err();
            assert!(
                error.to_string().starts_with("invalid revision"),
                "{text:?}: {error}"
            );
        }
    }

    #[test]
    fn package_ids() {
        let id = "4a2b0f5b4a2b0f5b4a2b0f5b4a2b0f5b4a2b0f5b";
        assert_eq!(id.parse::<PackageId>().unwrap().as_str(), id);
        for text in [
            "",
            "0",
            "123456789",
            &"a".repeat(32),
            &"A".repeat(40),
            &"z".repeat(40),
        ] {
            let error = text.parse::<PackageId>().unwrap_err();
            assert!(
                error.to_string().starts_with("invalid package id"),
                "{text:?}: {error}"
            );
        }
    }

    #[test]
    fn serde_refuses_invalid_values() {
        assert!(serde_json::from_str::<Revision>("\"0\"").is_ok());
        assert!(serde_json::from_str::<Revision>("\"00\"").is_err());
        assert!(serde_json::from_str::<PackageId>("\"abc\"").is_err());
    }

    proptest! {
        #[test]
        fn revision_round_trip(text in "0|[0-9a-f]{32}|[0-9a-f]{40}") {
            let revision: Revision = text.parse().unwrap();
            prop_assert_eq!(revision.to_string(), text.clone());
            let json = serde_json::to_string(&revision).unwrap();
            prop_assert_eq!(serde_json::from_str::<Revision>(&json).unwrap(), revision);
        }

        #[test]
        fn package_id_round_trip(text in "[0-9a-f]{40}") {
            let id: PackageId = text.parse().unwrap();
            prop_assert_eq!(id.to_string(), text);
        }

        #[test]
        fn only_valid_text_is_accepted(text in "\\PC{0,48}") {
            if let Ok(revision) = text.parse::<Revision>() {
                prop_assert!(text == "0" || is_lower_hex(&text, 32) || is_lower_hex(&text, 40));
                prop_assert_eq!(revision.as_str(), text.as_str());
            }
            if text.parse::<PackageId>().is_ok() {
                prop_assert!(is_lower_hex(&text, 40));
            }
        }
    }
}
