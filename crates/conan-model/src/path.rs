//! File paths inside a recipe or package revision.
//!
//! A revision holds Conan's well-known files (`conanfile.py`, `conanmanifest.txt`, the
//! `conan_export`, `conan_sources` and `conan_package` archives in each compression, and
//! `conaninfo.txt`) and any number of `metadata/**` files. The reference server and Artifactory
//! accept any file name under a revision, and newer clients add new archive suffixes, so any
//! path that passes the safety rules below is a valid [`FilePath`]; [`FileKind`] says what it is.
//!
//! Safety rules: a path is relative, uses `/` as its only separator, has no empty, `.` or `..`
//! segment, and contains no backslash, NUL or other control character. Each violation is its
//! own error naming the problem, because these are the paths an attacker tries first.

use std::fmt;
use std::str::FromStr;

/// The longest path accepted, in bytes.
pub const MAX_PATH_LEN: usize = 1024;

/// The longest path segment accepted, in bytes (the usual file-system limit).
pub const MAX_SEGMENT_LEN: usize = 255;

/// The file whose upload commits a revision.
pub const MANIFEST: &str = "conanmanifest.txt";

/// The directory of mutable metadata files.
pub const METADATA_DIR: &str = "metadata";

/// Why a file path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path is empty.
    #[error("invalid file path: it is empty")]
    Empty,
    /// The path is longer than [`MAX_PATH_LEN`] bytes.
    #[error("invalid file path: longer than {MAX_PATH_LEN} bytes")]
    TooLong,
    /// A segment is longer than [`MAX_SEGMENT_LEN`] bytes.
    #[error("invalid file path {0:?}: a segment is longer than {MAX_SEGMENT_LEN} bytes")]
    SegmentTooLong(String),
    /// The path starts with `/`.
    #[error("invalid file path {0:?}: absolute paths are not allowed")]
    Absolute(String),
    /// The path contains a backslash.
    #[error("invalid file path {0:?}: backslashes are not allowed, use `/`")]
    Backslash(String),
    /// The path has an empty segment (`a//b` or a trailing `/`).
    #[error("invalid file path {0:?}: empty segment")]
    EmptySegment(String),
    /// The path has a `.` or `..` segment.
    #[error("invalid file path {0:?}: `.` and `..` segments are not allowed")]
    DotSegment(String),
    /// The path contains NUL or another control character.
    #[error("invalid file path {0:?}: control characters are not allowed")]
    ControlCharacter(String),
}

/// Compression of a Conan archive, from its suffix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Compression {
    /// `.tgz`: gzip, the default and the only one Conan 1 and Conan 2 before 2.21 write.
    Gzip,
    /// `.txz`: xz.
    Xz,
    /// `.tzst`: zstd.
    Zstd,
}

/// What a file inside a revision is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum FileKind {
    /// `conanfile.py`, the recipe.
    Conanfile,
    /// `conanmanifest.txt`, in a recipe or a package; its upload commits the revision.
    Manifest,
    /// `conan_export.t{gz,xz,zst}`, the recipe's other exported files.
    ExportArchive(Compression),
    /// `conan_sources.t{gz,xz,zst}`, the recipe's exported sources.
    SourcesArchive(Compression),
    /// `conaninfo.txt`, a package's settings, options and requirements.
    ConanInfo,
    /// `conan_package.t{gz,xz,zst}`, the binary package.
    PackageArchive(Compression),
    /// Anything under `metadata/`: logs, signatures, SBOMs. Mutable.
    Metadata,
    /// Any other valid path. Accepted and stored like a known file (immutable), because newer
    /// clients may add files this version does not know.
    Other,
}

impl FileKind {
    /// Whether this is an archive (`conan_export.t*`, `conan_sources.t*`, `conan_package.t*`):
    /// the client compresses it from files its revision's manifest lists, so two builders of
    /// one revision produce archives with the same content and other bytes (file times, the
    /// compressor's header).
    #[must_use]
    pub fn is_archive(self) -> bool {
        matches!(
            self,
            Self::ExportArchive(_) | Self::SourcesArchive(_) | Self::PackageArchive(_)
        )
    }

    /// Whether a recipe revision carries files of this kind.
    #[must_use]
    pub fn belongs_to_recipe(self) -> bool {
        matches!(
            self,
            Self::Conanfile
                | Self::Manifest
                | Self::ExportArchive(_)
                | Self::SourcesArchive(_)
                | Self::Metadata
                | Self::Other
        )
    }

    /// Whether a package revision carries files of this kind.
    #[must_use]
    pub fn belongs_to_package(self) -> bool {
        matches!(
            self,
            Self::ConanInfo
                | Self::Manifest
                | Self::PackageArchive(_)
                | Self::Metadata
                | Self::Other
        )
    }
}

/// A validated, relative file path inside a revision, such as `conan_package.tgz` or
/// `metadata/logs/build.log`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FilePath(String);

impl FilePath {
    /// The path as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The path's segments.
    pub fn segments(&self) -> impl Iterator<Item = &str> {
        self.0.split('/')
    }

    /// What this file is.
    #[must_use]
    pub fn kind(&self) -> FileKind {
        let archive = |stem: &str| {
            let suffix = self.0.strip_prefix(stem)?;
            match suffix {
                ".tgz" => Some(Compression::Gzip),
                ".txz" => Some(Compression::Xz),
                ".tzst" => Some(Compression::Zstd),
                _ => None,
            }
        };
        if self.0.starts_with("metadata/") {
            FileKind::Metadata
        } else if self.0 == "conanfile.py" {
            FileKind::Conanfile
        } else if self.0 == MANIFEST {
            FileKind::Manifest
        } else if self.0 == "conaninfo.txt" {
            FileKind::ConanInfo
        } else if let Some(compression) = archive("conan_export") {
            FileKind::ExportArchive(compression)
        } else if let Some(compression) = archive("conan_sources") {
            FileKind::SourcesArchive(compression)
        } else if let Some(compression) = archive("conan_package") {
            FileKind::PackageArchive(compression)
        } else {
            FileKind::Other
        }
    }

    /// Whether the content under this path may never change once its revision is committed.
    /// Everything is immutable except `metadata/**`: the client caches files by URL.
    #[must_use]
    pub fn is_immutable(&self) -> bool {
        self.kind() != FileKind::Metadata
    }

    /// Whether storing this file commits its revision (the top-level `conanmanifest.txt`,
    /// which clients upload last).
    #[must_use]
    pub fn commits_revision(&self) -> bool {
        self.kind() == FileKind::Manifest
    }
}

impl FromStr for FilePath {
    type Err = PathError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let owned = || text.to_owned();
        if text.is_empty() {
            return Err(PathError::Empty);
        }
        if text.len() > MAX_PATH_LEN {
            return Err(PathError::TooLong);
        }
        if text.chars().any(char::is_control) {
            return Err(PathError::ControlCharacter(owned()));
        }
        if text.contains('\\') {
            return Err(PathError::Backslash(owned()));
        }
        if text.starts_with('/') {
            return Err(PathError::Absolute(owned()));
        }
        for segment in text.split('/') {
            match segment {
                "" => return Err(PathError::EmptySegment(owned())),
                "." | ".." => return Err(PathError::DotSegment(owned())),
                _ if segment.len() > MAX_SEGMENT_LEN => {
                    return Err(PathError::SegmentTooLong(owned()));
                }
                _ => {}
            }
        }
        Ok(Self(owned()))
    }
}

crate::macros::string_newtype!(FilePath);

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Gzip => "tgz",
            Self::Xz => "txz",
            Self::Zstd => "tzst",
        })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn path(text: &str) -> FilePath {
        text.parse().unwrap()
    }

    #[test]
    fn known_files_are_classified() {
        let cases = [
            ("conanfile.py", FileKind::Conanfile),
            ("conanmanifest.txt", FileKind::Manifest),
            (
                "conan_export.tgz",
                FileKind::ExportArchive(Compression::Gzip),
            ),
            ("conan_export.txz", FileKind::ExportArchive(Compression::Xz)),
            (
                "conan_export.tzst",
                FileKind::ExportArchive(Compression::Zstd),
            ),
            (
                "conan_sources.tgz",
                FileKind::SourcesArchive(Compression::Gzip),
            ),
            (
                "conan_sources.txz",
                FileKind::SourcesArchive(Compression::Xz),
            ),
            (
                "conan_sources.tzst",
                FileKind::SourcesArchive(Compression::Zstd),
            ),
            ("conaninfo.txt", FileKind::ConanInfo),
            (
                "conan_package.tgz",
                FileKind::PackageArchive(Compression::Gzip),
            ),
            (
                "conan_package.txz",
                FileKind::PackageArchive(Compression::Xz),
            ),
            (
                "conan_package.tzst",
                FileKind::PackageArchive(Compression::Zstd),
            ),
            ("metadata/logs/build.log", FileKind::Metadata),
            ("metadata/.conan/info.json", FileKind::Metadata),
            ("metadata/sign/pkg.sig", FileKind::Metadata),
            ("metadata", FileKind::Other),
            ("conan_package.tar", FileKind::Other),
            ("conan_package.tgz.bak", FileKind::Other),
            ("sub/conanmanifest.txt", FileKind::Other),
            ("metadata/conanmanifest.txt", FileKind::Metadata),
            ("README.md", FileKind::Other),
            ("file with spaces.txt", FileKind::Other),
        ];
        for (text, kind) in cases {
            assert_eq!(path(text).kind(), kind, "{text}");
        }
    }

    #[test]
    fn immutability_and_commit_point() {
        assert!(path("conanmanifest.txt").commits_revision());
        assert!(!path("metadata/conanmanifest.txt").commits_revision());
        assert!(!path("conan_package.tgz").commits_revision());
        assert!(path("conanfile.py").is_immutable());
        assert!(path("conan_package.tzst").is_immutable());
        assert!(path("other.bin").is_immutable());
        assert!(!path("metadata/logs/build.log").is_immutable());
        assert!(path("conan_export.tgz").kind().is_archive());
        assert!(path("conan_sources.txz").kind().is_archive());
        assert!(path("conan_package.tzst").kind().is_archive());
        assert!(!path("conanfile.py").kind().is_archive());
        assert!(!path("conanmanifest.txt").kind().is_archive());
        assert!(!path("conaninfo.txt").kind().is_archive());
        assert!(!path("other.tgz").kind().is_archive());
    }

    #[test]
    fn recipe_and_package_files() {
        assert!(FileKind::Conanfile.belongs_to_recipe());
        assert!(!FileKind::Conanfile.belongs_to_package());
        assert!(FileKind::ConanInfo.belongs_to_package());
        assert!(!FileKind::ConanInfo.belongs_to_recipe());
        assert!(FileKind::PackageArchive(Compression::Gzip).belongs_to_package());
        assert!(!FileKind::PackageArchive(Compression::Gzip).belongs_to_recipe());
        assert!(FileKind::SourcesArchive(Compression::Xz).belongs_to_recipe());
        assert!(FileKind::Manifest.belongs_to_recipe() && FileKind::Manifest.belongs_to_package());
        assert!(FileKind::Metadata.belongs_to_recipe() && FileKind::Metadata.belongs_to_package());
    }

    #[test]
    fn unsafe_paths_are_refused_with_the_problem_named() {
        let cases: &[(&str, &str)] = &[
            ("", "it is empty"),
            ("/etc/passwd", "absolute paths"),
            ("..", "`.` and `..` segments"),
            ("../conanfile.py", "`.` and `..` segments"),
            ("metadata/../../x", "`.` and `..` segments"),
            ("metadata/./x", "`.` and `..` segments"),
            ("metadata/..", "`.` and `..` segments"),
            ("metadata\\x", "backslashes"),
            ("..\\..\\x", "backslashes"),
            ("C:\\x", "backslashes"),
            ("metadata//x", "empty segment"),
            ("metadata/", "empty segment"),
            ("conanfile.py\0", "control characters"),
            ("metadata/a\nb", "control characters"),
            ("metadata/a\u{7f}", "control characters"),
            ("metadata/a\u{85}", "control characters"),
        ];
        for (text, expected) in cases {
            let error = text.parse::<FilePath>().unwrap_err().to_string();
            assert!(
                error.contains(expected),
                "{text:?}: {error:?} lacks {expected:?}"
            );
        }
    }

    #[test]
    fn length_limits() {
        let long_segment = "a".repeat(MAX_SEGMENT_LEN);
        assert!(
            format!("metadata/{long_segment}")
                .parse::<FilePath>()
                .is_ok()
        );
        let too_long_segment = "a".repeat(MAX_SEGMENT_LEN + 1);
        assert!(matches!(
            format!("metadata/{too_long_segment}").parse::<FilePath>(),
            Err(PathError::SegmentTooLong(_))
        ));
        let too_long = format!("metadata/{}", "a/".repeat(MAX_PATH_LEN / 2));
        assert_eq!(too_long.parse::<FilePath>(), Err(PathError::TooLong));
    }

    #[test]
    fn dots_inside_names_are_fine() {
        for text in [
            "metadata/...",
            "metadata/.hidden",
            "metadata/a..b",
            ".conan",
        ] {
            assert!(text.parse::<FilePath>().is_ok(), "{text}");
        }
    }

    proptest! {
        #[test]
        fn valid_paths_round_trip(segments in proptest::collection::vec("[a-zA-Z0-9_ .+-]{1,12}", 1..5)) {
            let text = segments.join("/");
            let parsed = text.parse::<FilePath>();
            let has_dot_segment = segments.iter().any(|segment| segment == "." || segment == "..");
            prop_assert_eq!(parsed.is_ok(), !has_dot_segment);
            if let Ok(path) = parsed {
                prop_assert_eq!(path.as_str(), text.as_str());
                prop_assert_eq!(path.segments().collect::<Vec<_>>(), segments.iter().map(String::as_str).collect::<Vec<_>>());
            }
        }

        #[test]
        fn accepted_paths_are_always_safe(text in "\\PC{0,40}|[./\\\\a\\x00]{0,12}") {
            if let Ok(path) = text.parse::<FilePath>() {
                prop_assert!(!path.as_str().starts_with('/'));
                prop_assert!(!path.as_str().contains('\\'));
                prop_assert!(!path.as_str().chars().any(char::is_control));
                prop_assert!(path.segments().all(|segment| !segment.is_empty() && segment != "." && segment != ".."));
            }
        }
    }
}
