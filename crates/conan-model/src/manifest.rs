//! Parsing of `conanmanifest.txt`, the list of files and their MD5 sums that Conan uploads with
//! every recipe and package revision.
//!
//! The format is the one of Conan's `FileTreeManifest`:
//!
//! ```text
//! 1732190000
//! conanfile.py: 4c4a1a1fe5d1a9a3f8d24aefe0f7a4a6
//! conan_export.tgz: 9a0364b9e99bb480dd25e1f0284c8555
//! ```
//!
//! - the text is split on `\n`, and one trailing `\r` is dropped from each line;
//! - the first line is the creation time as an integer count of seconds since the Unix epoch
//!   (surrounding whitespace allowed, an optional sign, ASCII digits only);
//! - every later non-empty line is `path: md5`, split at the *last* `": "` since paths may
//!   contain spaces and even `": "` themselves;
//! - the MD5 is 32 lowercase hexadecimal characters, the only form Conan writes;
//! - a path may appear only once.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fmt;
use std::str::FromStr;

use crate::text::{is_lower_hex, snippet};

/// The length of an MD5 sum written as hexadecimal.
const MD5_HEX_LEN: usize = 32;

/// A parsed `conanmanifest.txt`.
///
/// Rendering with [`fmt::Display`] gives exactly the text Conan writes (timestamp line, then one
/// `path: md5` line per file sorted by path, each line ending with `\n`), which parses back to an
/// equal value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Seconds since the Unix epoch, as written on the first line.
    timestamp: i64,
    /// MD5 sums (lowercase hexadecimal) by path.
    files: BTreeMap<String, String>,
}

impl Manifest {
    /// Parses the text of a `conanmanifest.txt`.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        // Windows editors may prepend a byte order mark; it is not part of the timestamp.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        if text.trim().is_empty() {
            return Err(ManifestError::Empty);
        }

        let mut lines = text
            .split('\n')
            .map(|line| line.strip_suffix('\r').unwrap_or(line));
        let first = lines.next().unwrap_or_default().trim();
        if first.is_empty() {
            return Err(ManifestError::MissingTimestamp);
        }
        let timestamp = parse_timestamp(first).ok_or_else(|| ManifestError::BadTimestamp {
            text: snippet(first),
        })?;

        // Remembers each path's line so a duplicate can point at the first occurrence.
        let mut files: BTreeMap<&str, (&str, usize)> = BTreeMap::new();
        for (index, line) in lines.enumerate() {
            let line_no = index + 2;
            if line.is_empty() {
                continue;
            }
            let Some((path, md5)) = line.rsplit_once(": ") else {
                return Err(ManifestError::MissingSeparator {
                    line: line_no,
                    text: snippet(line),
                });
            };
            if path.is_empty() {
                return Err(ManifestError::EmptyPath {
                    line: line_no,
                    text: snippet(line),
                });
            }
            if !is_md5_hex(md5) {
                return Err(ManifestError::BadMd5 {
                    line: line_no,
                    path: snippet(path),
                    md5: snippet(md5),
                });
            }
            match files.entry(path) {
                Entry::Occupied(entry) => {
                    return Err(ManifestError::DuplicatePath {
                        line: line_no,
                        path: snippet(path),
                        first_line: entry.get().1,
                    });
                }
                Entry::Vacant(entry) => {
                    entry.insert((md5, line_no));
                }
            }
        }

        Ok(Self {
            timestamp,
            files: files
                .into_iter()
                .map(|(path, (md5, _))| (path.to_owned(), md5.to_owned()))
                .collect(),
        })
    }

    /// Returns the creation time written on the first line, in seconds since the Unix epoch.
    #[must_use]
    pub fn timestamp(&self) -> i64 {
        self.timestamp
    }

    /// Iterates over the files as `(path, md5)`, sorted by path (byte order, as Conan sorts).
    #[must_use]
    pub fn files(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + DoubleEndedIterator {
        self.files
            .iter()
            .map(|(path, md5)| (path.as_str(), md5.as_str()))
    }

    /// Whether both manifests list the same files with the same sums, whatever their
    /// timestamps: two builders' manifests of one revision differ only in the timestamp line.
    #[must_use]
    pub fn same_files(&self, other: &Self) -> bool {
        self.files == other.files
    }

    /// Returns the MD5 sum (32 lowercase hexadecimal characters) listed for `path`, if any.
    #[must_use]
    pub fn md5_of(&self, path: &str) -> Option<&str> {
        self.files.get(path).map(String::as_str)
    }

    /// Returns how many files the manifest lists.
    #[must_use]
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Returns whether the manifest lists no files at all.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

impl fmt::Display for Manifest {
    /// Renders the text Conan writes: its `__repr__` joins the timestamp and the sorted
    /// `path: md5` lines with `\n` after appending an empty line, so every line, the last
    /// included, ends with `\n`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.timestamp)?;
        for (path, md5) in &self.files {
            writeln!(f, "{path}: {md5}")?;
        }
        Ok(())
    }
}

impl FromStr for Manifest {
    type Err = ManifestError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// Why a `conanmanifest.txt` could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestError {
    /// The text is empty or only whitespace.
    #[error(
        "conanmanifest.txt is empty; it must start with a Unix timestamp line followed by \
         `path: md5` lines"
    )]
    Empty,
    /// The first line is blank.
    #[error(
        "conanmanifest.txt line 1: the timestamp is missing; the first line must be the creation \
         time in seconds since the Unix epoch"
    )]
    MissingTimestamp,
    /// The first line is not an integer.
    #[error(
        "conanmanifest.txt line 1: {text:?} is not a timestamp; the first line must be the \
         creation time as an integer count of seconds since the Unix epoch"
    )]
    BadTimestamp {
        /// The first line, trimmed and possibly shortened.
        text: String,
    },
    /// A file line has no `": "` between path and MD5.
    #[error("conanmanifest.txt line {line}: {text:?} is not a `path: md5` line")]
    MissingSeparator {
        /// The 1-based line number.
        line: usize,
        /// The offending line, possibly shortened.
        text: String,
    },
    /// A file line has nothing before its `": "`.
    #[error("conanmanifest.txt line {line}: {text:?} has an empty path before `: `")]
    EmptyPath {
        /// The 1-based line number.
        line: usize,
        /// The offending line, possibly shortened.
        text: String,
    },
    /// The MD5 of a file line is not 32 lowercase hexadecimal characters.
    #[error(
        "conanmanifest.txt line {line}: the MD5 {md5:?} of {path:?} is not 32 lowercase \
         hexadecimal characters"
    )]
    BadMd5 {
        /// The 1-based line number.
        line: usize,
        /// The path of the line, possibly shortened.
        path: String,
        /// The text after the last `": "`, possibly shortened.
        md5: String,
    },
    /// A path is listed twice.
    #[error(
        "conanmanifest.txt line {line}: {path:?} is listed a second time (first on line \
         {first_line}); list each file once"
    )]
    DuplicatePath {
        /// The 1-based line number of the second listing.
        line: usize,
        /// The repeated path, possibly shortened.
        path: String,
        /// The 1-based line number of the first listing.
        first_line: usize,
    },
}

impl ManifestError {
    /// Returns the 1-based number of the line the error is about, or `None` for empty text.
    #[must_use]
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::Empty => None,
            Self::MissingTimestamp | Self::BadTimestamp { .. } => Some(1),
            Self::MissingSeparator { line, .. }
            | Self::EmptyPath { line, .. }
            | Self::BadMd5 { line, .. }
            | Self::DuplicatePath { line, .. } => Some(*line),
        }
    }
}

/// Parses a trimmed timestamp: an optional sign then ASCII digits.
///
/// Python's `int()`, which Conan uses, also takes `_` separators and non-ASCII digits; Conan
/// never writes those, so they are rejected here.
fn parse_timestamp(text: &str) -> Option<i64> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|byte| byte.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Whether `text` is an MD5 sum in the lowercase hexadecimal form Conan writes.
fn is_md5_hex(text: &str) -> bool {
    is_lower_hex(text, MD5_HEX_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fmt::Write as _;

    const EXAMPLE: &str = "\
1732190000
conanfile.py: 4c4a1a1fe5d1a9a3f8d24aefe0f7a4a6
conan_export.tgz: 9a0364b9e99bb480dd25e1f0284c8555
conan_sources.tgz: d41d8cd98f00b204e9800998ecf8427e
";

    const MD5: &str = "d41d8cd98f00b204e9800998ecf8427e";

    #[test]
    fn same_files_ignores_the_timestamp_only() {
        let first = Manifest::parse(EXAMPLE).unwrap();
        let later = Manifest::parse(&EXAMPLE.replace("1732190000", "1732199999")).unwrap();
        assert!(first.same_files(&later) && later.same_files(&first));
        let changed_sum = EXAMPLE.replace("9a0364b9e99bb480dd25e1f0284c8555", MD5);
        assert!(!first.same_files(&Manifest::parse(&changed_sum).unwrap()));
        let fewer = EXAMPLE.replace("conan_sources.tgz: d41d8cd98f00b204e9800998ecf8427e\n", "");
        assert!(!first.same_files(&Manifest::parse(&fewer).unwrap()));
        let renamed = EXAMPLE.replace("conan_sources.tgz", "conan_sources.txz");
        assert!(!first.same_files(&Manifest::parse(&renamed).unwrap()));
    }

    #[test]
    fn parses_the_example() {
        let manifest = Manifest::parse(EXAMPLE).unwrap();
        assert_eq!(manifest.timestamp(), 1_732_190_000);
        assert_eq!(manifest.len(), 3);
        assert!(!manifest.is_empty());
        assert_eq!(
            manifest.files().collect::<Vec<_>>(),
            [
                ("conan_export.tgz", "9a0364b9e99bb480dd25e1f0284c8555"),
                ("conan_sources.tgz", "d41d8cd98f00b204e9800998ecf8427e"),
                ("conanfile.py", "4c4a1a1fe5d1a9a3f8d24aefe0f7a4a6"),
            ]
        );
        assert_eq!(
            manifest.md5_of("conanfile.py"),
            Some("4c4a1a1fe5d1a9a3f8d24aefe0f7a4a6")
        );
        assert_eq!(manifest.md5_of("missing.txt"), None);
        // Conan sorts by path, so "conan_" comes before "conanf".
        assert_eq!(
            manifest.to_string(),
            "1732190000\n\
             conan_export.tgz: 9a0364b9e99bb480dd25e1f0284c8555\n\
             conan_sources.tgz: d41d8cd98f00b204e9800998ecf8427e\n\
             conanfile.py: 4c4a1a1fe5d1a9a3f8d24aefe0f7a4a6\n"
        );
    }

    #[test]
    fn accepted_inputs() {
        /// Input, expected timestamp, expected files.
        type Case = (&'static str, i64, &'static [(&'static str, &'static str)]);
        let cases: &[Case] = &[
            ("1732190000", 1_732_190_000, &[]),
            ("1732190000\n", 1_732_190_000, &[]),
            ("  1732190000 \r\n", 1_732_190_000, &[]),
            ("+5\n", 5, &[]),
            ("-5\n", -5, &[]),
            (
                "0\na.txt: d41d8cd98f00b204e9800998ecf8427e",
                0,
                &[("a.txt", MD5)],
            ),
            (
                "0\na.txt: d41d8cd98f00b204e9800998ecf8427e\n",
                0,
                &[("a.txt", MD5)],
            ),
            (
                "0\r\na.txt: d41d8cd98f00b204e9800998ecf8427e\r\n",
                0,
                &[("a.txt", MD5)],
            ),
            (
                "\u{feff}0\na.txt: d41d8cd98f00b204e9800998ecf8427e\n",
                0,
                &[("a.txt", MD5)],
            ),
            (
                "0\n\n\na.txt: d41d8cd98f00b204e9800998ecf8427e\n\r\n\n",
                0,
                &[("a.txt", MD5)],
            ),
            (
                "0\nmy dir/my file.txt: d41d8cd98f00b204e9800998ecf8427e\n",
                0,
                &[("my dir/my file.txt", MD5)],
            ),
            (
                "0\nweird: name: d41d8cd98f00b204e9800998ecf8427e\n",
                0,
                &[("weird: name", MD5)],
            ),
            (
                "0\nends with colon:: d41d8cd98f00b204e9800998ecf8427e\n",
                0,
                &[("ends with colon:", MD5)],
            ),
            ("0\n : d41d8cd98f00b204e9800998ecf8427e\n", 0, &[(" ", MD5)]),
            ("9223372036854775807\n", i64::MAX, &[]),
        ];
        for (input, timestamp, files) in cases {
            let manifest = Manifest::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(manifest.timestamp(), *timestamp, "input {input:?}");
            assert_eq!(
                manifest.files().collect::<Vec<_>>(),
                *files,
                "input {input:?}"
            );
            assert_eq!(Manifest::parse(&manifest.to_string()).unwrap(), manifest);
        }
    }

    #[test]
    fn rendering_always_ends_with_a_newline() {
        assert_eq!(Manifest::parse("7").unwrap().to_string(), "7\n");
        assert_eq!(
            Manifest::parse(
                "7\nb: d41d8cd98f00b204e9800998ecf8427e\na: 00000000000000000000000000000000"
            )
            .unwrap()
            .to_string(),
            "7\na: 00000000000000000000000000000000\nb: d41d8cd98f00b204e9800998ecf8427e\n"
        );
    }

    #[test]
    #[expect(clippy::too_many_lines, reason = "one table row per rule")]
    fn rejected_inputs() {
        use ManifestError as E;
        let cases: &[(&str, E, &[&str])] = &[
            ("", E::Empty, &["empty"]),
            (" \n\r\n\t", E::Empty, &["empty"]),
            (
                "\nconanfile.py: d41d8cd98f00b204e9800998ecf8427e\n",
                E::MissingTimestamp,
                &["line 1", "timestamp is missing"],
            ),
            (
                "conanfile.py: d41d8cd98f00b204e9800998ecf8427e\n",
                E::BadTimestamp {
                    text: "conanfile.py: d41d8cd98f00b204e9800998ecf8427e".into(),
                },
                &["line 1", "conanfile.py", "integer"],
            ),
            (
                "1732190000.5\n",
                E::BadTimestamp {
                    text: "1732190000.5".into(),
                },
                &["line 1", "1732190000.5"],
            ),
            (
                "1_000\n",
                E::BadTimestamp {
                    text: "1_000".into(),
                },
                &["1_000"],
            ),
            (
                "12 34\n",
                E::BadTimestamp {
                    text: "12 34".into(),
                },
                &["12 34"],
            ),
            ("+\n", E::BadTimestamp { text: "+".into() }, &["line 1"]),
            ("--1\n", E::BadTimestamp { text: "--1".into() }, &["line 1"]),
            (
                "99999999999999999999\n",
                E::BadTimestamp {
                    text: "99999999999999999999".into(),
                },
                &["99999999999999999999"],
            ),
            (
                "1\nconanfile.py d41d8cd98f00b204e9800998ecf8427e\n",
                E::MissingSeparator {
                    line: 2,
                    text: "conanfile.py d41d8cd98f00b204e9800998ecf8427e".into(),
                },
                &["line 2", "conanfile.py", "path: md5"],
            ),
            (
                "1\n\na:d41d8cd98f00b204e9800998ecf8427e\n",
                E::MissingSeparator {
                    line: 3,
                    text: "a:d41d8cd98f00b204e9800998ecf8427e".into(),
                },
                &["line 3"],
            ),
            (
                "1\n   \n",
                E::MissingSeparator {
                    line: 2,
                    text: "   ".into(),
                },
                &["line 2"],
            ),
            (
                "1\n: d41d8cd98f00b204e9800998ecf8427e\n",
                E::EmptyPath {
                    line: 2,
                    text: ": d41d8cd98f00b204e9800998ecf8427e".into(),
                },
                &["line 2", "empty path"],
            ),
            (
                "1\na: d41d8cd98f00b204e9800998ecf842\n",
                E::BadMd5 {
                    line: 2,
                    path: "a".into(),
                    md5: "d41d8cd98f00b204e9800998ecf842".into(),
                },
                &["line 2", "d41d8cd98f00b204e9800998ecf842", "32 lowercase"],
            ),
            (
                "1\na: d41d8cd98f00b204e9800998ecf8427\n",
                E::BadMd5 {
                    line: 2,
                    path: "a".into(),
                    md5: "d41d8cd98f00b204e9800998ecf8427".into(),
                },
                &["line 2", "d41d8cd98f00b204e9800998ecf8427"],
            ),
            (
                "1\na: d41d8cd98f00b204e9800998ecf8427e0\n",
                E::BadMd5 {
                    line: 2,
                    path: "a".into(),
                    md5: "d41d8cd98f00b204e9800998ecf8427e0".into(),
                },
                &["line 2"],
            ),
            (
                "1\na: D41D8CD98F00B204E9800998ECF8427E\n",
                E::BadMd5 {
                    line: 2,
                    path: "a".into(),
                    md5: "D41D8CD98F00B204E9800998ECF8427E".into(),
                },
                &["line 2", "D41D8CD98F00B204E9800998ECF8427E", "lowercase"],
            ),
            (
                "1\na: g41d8cd98f00b204e9800998ecf8427e\n",
                E::BadMd5 {
                    line: 2,
                    path: "a".into(),
                    md5: "g41d8cd98f00b204e9800998ecf8427e".into(),
                },
                &["line 2", "g41d8cd98f00b204e9800998ecf8427e"],
            ),
            (
                "1\na: d41d8cd98f00b204e9800998ecf8427e \n",
                E::BadMd5 {
                    line: 2,
                    path: "a".into(),
                    md5: "d41d8cd98f00b204e9800998ecf8427e ".into(),
                },
                &["line 2"],
            ),
            (
                "1\na: \n",
                E::BadMd5 {
                    line: 2,
                    path: "a".into(),
                    md5: String::new(),
                },
                &["line 2"],
            ),
            (
                "1\na: d41d8cd98f00b204e9800998ecf8427e\nb: d41d8cd98f00b204e9800998ecf8427e\n\
                 a: 00000000000000000000000000000000\n",
                E::DuplicatePath {
                    line: 4,
                    path: "a".into(),
                    first_line: 2,
                },
                &["line 4", "\"a\"", "line 2"],
            ),
        ];
        for (input, expected, fragments) in cases {
            let error = Manifest::parse(input).unwrap_err();
            assert_eq!(&error, expected, "input {input:?}");
            let message = error.to_string();
            for fragment in *fragments {
                assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
            }
            match error.line() {
                Some(line) => assert!(
                    message.starts_with(&format!("conanmanifest.txt line {line}:")),
                    "{message:?}"
                ),
                None => assert_eq!(error, E::Empty),
            }
        }
    }

    #[test]
    fn long_offending_text_is_shortened_in_errors() {
        let error = Manifest::parse(&"9".repeat(10_000)).unwrap_err();
        let message = error.to_string();
        assert!(message.len() < 400, "{} bytes", message.len());
        assert!(message.contains('…'));
    }

    #[test]
    fn from_str_matches_parse() {
        let manifest: Manifest = EXAMPLE.parse().unwrap();
        assert_eq!(manifest, Manifest::parse(EXAMPLE).unwrap());
        assert!("x".parse::<Manifest>().is_err());
    }

    #[test]
    fn many_files_parse_quickly() {
        let mut text = String::from("1\n");
        for i in 0..100_000_u32 {
            writeln!(text, "dir/file {i}.txt: {MD5}").unwrap();
        }
        let manifest = Manifest::parse(&text).unwrap();
        assert_eq!(manifest.len(), 100_000);
    }

    proptest! {
        #[test]
        fn render_parse_round_trip(
            timestamp in any::<i64>(),
            files in proptest::collection::btree_map("[^\n]{1,24}", "[0-9a-f]{32}", 0..12),
            crlf in any::<bool>(),
        ) {
            let newline = if crlf { "\r\n" } else { "\n" };
            let mut text = format!("{timestamp}{newline}");
            for (path, md5) in &files {
                write!(text, "{path}: {md5}{newline}").unwrap();
            }
            let manifest = Manifest::parse(&text).unwrap();
            prop_assert_eq!(manifest.timestamp(), timestamp);
            let got: Vec<(&str, &str)> = manifest.files().collect();
            let want: Vec<(&str, &str)> =
                files.iter().map(|(p, m)| (p.as_str(), m.as_str())).collect();
            prop_assert_eq!(got, want);
            let rendered = manifest.to_string();
            if !crlf {
                prop_assert_eq!(&rendered, &text);
            }
            prop_assert_eq!(Manifest::parse(&rendered).unwrap(), manifest);
        }

        #[test]
        fn parse_never_panics(text in any::<String>()) {
            if let Ok(manifest) = Manifest::parse(&text) {
                prop_assert_eq!(Manifest::parse(&manifest.to_string()).unwrap(), manifest);
            }
        }

        #[test]
        fn parse_never_panics_on_near_valid_text(
            text in "[-+0-9 ]{0,4}(\n[a-f0-9: \r]{0,40}){0,6}"
        ) {
            if let Ok(manifest) = Manifest::parse(&text) {
                prop_assert_eq!(Manifest::parse(&manifest.to_string()).unwrap(), manifest);
            }
        }
    }
}
