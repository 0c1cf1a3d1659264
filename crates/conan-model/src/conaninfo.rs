//! Parsing of `conaninfo.txt`, the file in every binary package that records what its package id
//! was computed from.
//!
//! Both layouts are read. Conan 2 writes `[settings]`, `[options]` and `[requires]` with
//! unindented lines; Conan 1 indents every line by four spaces and adds sections such as
//! `[full_settings]`, `[full_requires]`, `[full_options]`, `[recipe_hash]` and `[env]`.
//!
//! The syntax is the one of Conan's own `ConfigParser`:
//!
//! - lines end at `\n`, `\r\n` or a lone `\r`, and each line is trimmed of surrounding whitespace;
//! - blank lines and lines starting with `#` are skipped;
//! - a line starting with `[` is a section header: `[name]` where `name` is 2 to 50 lowercase
//!   ASCII letters or underscores. Conan ignores text after the `]`; this parser rejects it
//!   (as GitLab does), so nothing in the file is silently dropped;
//! - a section may appear only once, and every other line belongs to the latest section.
//!
//! Unknown sections are kept, in file order. `[settings]`, `[options]`, `[full_settings]` and
//! `[full_options]` must hold `key=value` lines with distinct, non-empty keys (values may be
//! empty), and `[recipe_hash]` holds at most one line.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::text::snippet;

/// Sections whose lines must be `key=value` entries.
const KEY_VALUE_SECTIONS: [&str; 4] = ["settings", "options", "full_settings", "full_options"];

/// The section holding the Conan 1 recipe hash.
const RECIPE_HASH: &str = "recipe_hash";

/// A parsed `conaninfo.txt`.
///
/// Holds every section in file order with its trimmed, non-comment lines, plus the
/// `[settings]` and `[options]` entries as maps. Rendering with [`fmt::Display`] gives the
/// canonical Conan 2 layout, which parses back to an equal value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConanInfo {
    /// Sections in file order; names are unique.
    sections: Vec<Section>,
    /// The entries of `[settings]`, split at the first `=` and trimmed.
    settings: BTreeMap<String, String>,
    /// The entries of `[options]`, split at the first `=` and trimmed.
    options: BTreeMap<String, String>,
}

/// One `[name]` section and its lines.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Section {
    /// The name between the brackets.
    name: String,
    /// The trimmed lines, without blank lines and comments.
    lines: Vec<String>,
}

impl ConanInfo {
    /// Parses the text of a `conaninfo.txt` in the Conan 2 or the Conan 1 layout.
    ///
    /// Empty text (or text holding only comments) is a valid, empty `conaninfo.txt`.
    pub fn parse(text: &str) -> Result<Self, ConanInfoError> {
        // Windows editors may prepend a byte order mark; it is not part of the first line.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);

        let mut sections: Vec<Section> = Vec::new();
        let mut header_lines: HashMap<&str, usize> = HashMap::new();
        let mut key_lines: HashMap<&str, usize> = HashMap::new();

        for (index, raw) in logical_lines(text).enumerate() {
            let line_no = index + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }

            if line.starts_with('[') {
                let name =
                    section_header(line).ok_or_else(|| ConanInfoError::BadSectionHeader {
                        line: line_no,
                        text: snippet(line),
                    })?;
                if let Some(&first_line) = header_lines.get(name) {
                    return Err(ConanInfoError::DuplicateSection {
                        line: line_no,
                        name: name.to_owned(),
                        first_line,
                    });
                }
                header_lines.insert(name, line_no);
                key_lines.clear();
                sections.push(Section {
                    name: name.to_owned(),
                    lines: Vec::new(),
                });
                continue;
            }

            let Some(section) = sections.last_mut() else {
                return Err(ConanInfoError::LineOutsideSection {
                    line: line_no,
                    text: snippet(line),
                });
            };

            if KEY_VALUE_SECTIONS.contains(&section.name.as_str()) {
                let key = check_key_value(&section.name, line, line_no)?;
                if let Some(&first_line) = key_lines.get(key) {
                    return Err(ConanInfoError::DuplicateKey {
                        line: line_no,
                        section: section.name.clone(),
                        key: snippet(key),
                        first_line,
                    });
                }
                key_lines.insert(key, line_no);
            } else if section.name == RECIPE_HASH && !section.lines.is_empty() {
                return Err(ConanInfoError::MultilineRecipeHash {
                    line: line_no,
                    text: snippet(line),
                });
            }
            section.lines.push(line.to_owned());
        }

        let settings = key_value_map(&sections, "settings");
        let options = key_value_map(&sections, "options");
        Ok(Self {
            sections,
            settings,
            options,
        })
    }

    /// Returns the `[settings]` entries (`arch`, `compiler.version`, ...) by key.
    ///
    /// Empty when the section is absent.
    #[must_use]
    pub fn settings(&self) -> &BTreeMap<String, String> {
        &self.settings
    }

    /// Returns the `[options]` entries (`shared`, `fPIC`, ...) by key.
    ///
    /// Empty when the section is absent.
    #[must_use]
    pub fn options(&self) -> &BTreeMap<String, String> {
        &self.options
    }

    /// Returns the lines of `[requires]`, in file order.
    ///
    /// Empty when the section is absent.
    #[must_use]
    pub fn requires(&self) -> &[String] {
        self.section("requires").unwrap_or_default()
    }

    /// Returns the lines of the Conan 1 `[full_requires]` section, in file order.
    ///
    /// Empty when the section is absent.
    #[must_use]
    pub fn full_requires(&self) -> &[String] {
        self.section("full_requires").unwrap_or_default()
    }

    /// Returns the Conan 1 recipe hash, when `[recipe_hash]` is present and not empty.
    #[must_use]
    pub fn recipe_hash(&self) -> Option<&str> {
        // Parsing guarantees at most one line, so the first line is the whole hash.
        self.section(RECIPE_HASH)
            .and_then(<[String]>::first)
            .map(String::as_str)
    }

    /// Iterates over the sections as `(name, lines)`, in file order.
    #[must_use]
    pub fn sections(&self) -> impl ExactSizeIterator<Item = (&str, &[String])> {
        self.sections
            .iter()
            .map(|section| (section.name.as_str(), section.lines.as_slice()))
    }

    /// Returns the lines of the section called `name`, or `None` when the file has no such
    /// section.
    #[must_use]
    pub fn section(&self, name: &str) -> Option<&[String]> {
        self.sections
            .iter()
            .find(|section| section.name == name)
            .map(|section| section.lines.as_slice())
    }

    /// Returns the summary that package search serves as JSON.
    #[must_use]
    pub fn summary(&self) -> PackageInfo {
        PackageInfo {
            settings: self.settings.clone(),
            options: self.options.clone(),
            requires: self.requires().to_vec(),
            recipe_hash: self.recipe_hash().map(str::to_owned),
        }
    }
}

impl fmt::Display for ConanInfo {
    /// Renders the canonical Conan 2 layout: each `[name]` header followed by its lines,
    /// unindented, every line ending with `\n`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for section in &self.sections {
            writeln!(f, "[{}]", section.name)?;
            for line in &section.lines {
                writeln!(f, "{line}")?;
            }
        }
        Ok(())
    }
}

impl FromStr for ConanInfo {
    type Err = ConanInfoError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

/// The part of a `conaninfo.txt` that package search returns, shaped like GitLab's JSON.
///
/// Serializes as `{"settings": {..}, "options": {..}, "requires": [..], "recipe_hash": ".."}`,
/// with `recipe_hash` left out when the package has none (every Conan 2 package).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PackageInfo {
    /// The `[settings]` entries by key.
    pub settings: BTreeMap<String, String>,
    /// The `[options]` entries by key.
    pub options: BTreeMap<String, String>,
    /// The `[requires]` lines, in file order.
    pub requires: Vec<String>,
    /// The Conan 1 `[recipe_hash]`, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipe_hash: Option<String>,
}

/// Why a `conaninfo.txt` could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConanInfoError {
    /// A line starts with `[` but is not a valid `[name]` header.
    #[error(
        "conaninfo.txt line {line}: bad section header {text:?}; expected `[name]` alone on the \
         line, the name being 2 to 50 lowercase ASCII letters or underscores"
    )]
    BadSectionHeader {
        /// The 1-based line number.
        line: usize,
        /// The offending line, trimmed and possibly shortened.
        text: String,
    },
    /// A section header repeats an earlier one.
    #[error(
        "conaninfo.txt line {line}: section [{name}] appears a second time (first on line \
         {first_line}); merge the two into one section"
    )]
    DuplicateSection {
        /// The 1-based line number of the repeated header.
        line: usize,
        /// The section name.
        name: String,
        /// The 1-based line number of the first header.
        first_line: usize,
    },
    /// A non-empty, non-comment line comes before the first section header.
    #[error(
        "conaninfo.txt line {line}: {text:?} comes before any section header; put it under a \
         `[section]` or remove it"
    )]
    LineOutsideSection {
        /// The 1-based line number.
        line: usize,
        /// The offending line, trimmed and possibly shortened.
        text: String,
    },
    /// A line of a `key=value` section has no `=`.
    #[error("conaninfo.txt line {line}: {text:?} in [{section}] is not a `key=value` entry")]
    MissingEquals {
        /// The 1-based line number.
        line: usize,
        /// The section the line belongs to.
        section: String,
        /// The offending line, trimmed and possibly shortened.
        text: String,
    },
    /// A line of a `key=value` section has nothing but whitespace before its `=`.
    #[error("conaninfo.txt line {line}: {text:?} in [{section}] has an empty key before `=`")]
    EmptyKey {
        /// The 1-based line number.
        line: usize,
        /// The section the line belongs to.
        section: String,
        /// The offending line, trimmed and possibly shortened.
        text: String,
    },
    /// A key of a `key=value` section is set twice.
    #[error(
        "conaninfo.txt line {line}: key {key:?} in [{section}] is set a second time (first on \
         line {first_line}); keep a single entry"
    )]
    DuplicateKey {
        /// The 1-based line number of the second entry.
        line: usize,
        /// The section the entries belong to.
        section: String,
        /// The repeated key, trimmed and possibly shortened.
        key: String,
        /// The 1-based line number of the first entry.
        first_line: usize,
    },
    /// `[recipe_hash]` has more than one line.
    #[error(
        "conaninfo.txt line {line}: [recipe_hash] has a second line {text:?}; the section holds \
         a single hash"
    )]
    MultilineRecipeHash {
        /// The 1-based line number of the second line.
        line: usize,
        /// The second line, trimmed and possibly shortened.
        text: String,
    },
}

impl ConanInfoError {
    /// Returns the 1-based number of the line the error is about.
    #[must_use]
    pub fn line(&self) -> usize {
        match self {
            Self::BadSectionHeader { line, .. }
            | Self::DuplicateSection { line, .. }
            | Self::LineOutsideSection { line, .. }
            | Self::MissingEquals { line, .. }
            | Self::EmptyKey { line, .. }
            | Self::DuplicateKey { line, .. }
            | Self::MultilineRecipeHash { line, .. } => *line,
        }
    }
}

/// Splits `text` into lines the way Python's `splitlines` does for `\n`, `\r\n` and `\r`.
fn logical_lines(text: &str) -> impl Iterator<Item = &str> {
    text.split('\n').flat_map(|line| {
        let line = line.strip_suffix('\r').unwrap_or(line);
        line.split('\r')
    })
}

/// Returns the name of a trimmed `[name]` header line, or `None` when the line is not one.
fn section_header(line: &str) -> Option<&str> {
    let name = line.strip_prefix('[')?.strip_suffix(']')?;
    let valid = (2..=50).contains(&name.len())
        && name
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte == b'_');
    valid.then_some(name)
}

/// Checks a trimmed line of a `key=value` section and returns its trimmed key.
fn check_key_value<'a>(
    section: &str,
    line: &'a str,
    line_no: usize,
) -> Result<&'a str, ConanInfoError> {
    let Some((key, _)) = line.split_once('=') else {
        return Err(ConanInfoError::MissingEquals {
            line: line_no,
            section: section.to_owned(),
            text: snippet(line),
        });
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(ConanInfoError::EmptyKey {
            line: line_no,
            section: section.to_owned(),
            text: snippet(line),
        });
    }
    Ok(key)
}

/// Builds the map of a validated `key=value` section; empty when the section is absent.
fn key_value_map(sections: &[Section], name: &str) -> BTreeMap<String, String> {
    sections
        .iter()
        .filter(|section| section.name == name)
        .flat_map(|section| &section.lines)
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_owned(), value.trim().to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::fmt::Write as _;

    const CONAN2: &str = "\
[settings]
arch=x86_64
build_type=Release
compiler=gcc
compiler.version=13
os=Linux
[options]
fPIC=True
shared=False
[requires]
zlib/1.3.Z
";

    const CONAN1: &str = "\
[settings]
    arch=x86_64
    os=Linux

[requires]
    zlib/1.Y.Z

[options]
    shared=False

[full_settings]
    arch=x86_64
    os=Linux

[full_requires]
    zlib/1.2.11:6af9cc7cb931c5ad942174fd7838eb655717c709

[full_options]
    shared=False
    zlib:shared=False

[recipe_hash]
    b3a6b4e3e5e2cde8f4ed3c9d0f1a3e3b

[env]

";

    fn map(entries: &[(&str, &str)]) -> BTreeMap<String, String> {
        entries
            .iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    fn names(info: &ConanInfo) -> Vec<&str> {
        info.sections().map(|(name, _)| name).collect()
    }

    #[test]
    fn parses_conan2_example() {
        let info = ConanInfo::parse(CONAN2).unwrap();
        assert_eq!(
            info.settings(),
            &map(&[
                ("arch", "x86_64"),
                ("build_type", "Release"),
                ("compiler", "gcc"),
                ("compiler.version", "13"),
                ("os", "Linux"),
            ])
        );
        assert_eq!(
            info.options(),
            &map(&[("fPIC", "True"), ("shared", "False")])
        );
        assert_eq!(info.requires(), ["zlib/1.3.Z"]);
        assert!(info.full_requires().is_empty());
        assert_eq!(info.recipe_hash(), None);
        assert_eq!(names(&info), ["settings", "options", "requires"]);
        // The example is already canonical.
        assert_eq!(info.to_string(), CONAN2);
    }

    #[test]
    fn parses_conan1_example() {
        let info = ConanInfo::parse(CONAN1).unwrap();
        assert_eq!(
            info.settings(),
            &map(&[("arch", "x86_64"), ("os", "Linux")])
        );
        assert_eq!(info.options(), &map(&[("shared", "False")]));
        assert_eq!(info.requires(), ["zlib/1.Y.Z"]);
        assert_eq!(
            info.full_requires(),
            ["zlib/1.2.11:6af9cc7cb931c5ad942174fd7838eb655717c709"]
        );
        assert_eq!(info.recipe_hash(), Some("b3a6b4e3e5e2cde8f4ed3c9d0f1a3e3b"));
        assert_eq!(
            info.section("full_options").unwrap(),
            ["shared=False", "zlib:shared=False"]
        );
        assert_eq!(info.section("env").unwrap(), [] as [String; 0]);
        assert_eq!(info.section("nope"), None);
        assert_eq!(
            names(&info),
            [
                "settings",
                "requires",
                "options",
                "full_settings",
                "full_requires",
                "full_options",
                "recipe_hash",
                "env",
            ]
        );
    }

    #[test]
    fn conan1_renders_unindented_and_round_trips() {
        let info = ConanInfo::parse(CONAN1).unwrap();
        let text = info.to_string();
        assert!(text.starts_with("[settings]\narch=x86_64\nos=Linux\n[requires]\n"));
        assert!(text.ends_with("[recipe_hash]\nb3a6b4e3e5e2cde8f4ed3c9d0f1a3e3b\n[env]\n"));
        assert_eq!(ConanInfo::parse(&text).unwrap(), info);
    }

    #[test]
    fn accepted_inputs() {
        // (input, expected canonical rendering)
        let cases: &[(&str, &str)] = &[
            ("", ""),
            ("\n\n  \n", ""),
            ("# only a comment\n", ""),
            (
                "[settings]\r\narch=x86\r\nos=Linux\r\n",
                "[settings]\narch=x86\nos=Linux\n",
            ),
            ("[settings]\rarch=x86\r", "[settings]\narch=x86\n"),
            ("\u{feff}[settings]\narch=x86\n", "[settings]\narch=x86\n"),
            (
                "# header\n[settings]\n  # indented comment\narch=x86",
                "[settings]\narch=x86\n",
            ),
            ("\n\n[settings]\n\n\narch=x86\n\n", "[settings]\narch=x86\n"),
            (
                "\t[settings]  \n\t  arch = x86  \n",
                "[settings]\narch = x86\n",
            ),
            (
                "[zz_custom]\n[settings]\n[aa]\nx\n",
                "[zz_custom]\n[settings]\n[aa]\nx\n",
            ),
            ("[recipe_hash]\n", "[recipe_hash]\n"),
            ("[options]\nprefix=\n", "[options]\nprefix=\n"),
            (
                "[env]\nno equals here\n[requires]\na=b\n",
                "[env]\nno equals here\n[requires]\na=b\n",
            ),
        ];
        for (input, rendered) in cases {
            let info = ConanInfo::parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(&info.to_string(), rendered, "input {input:?}");
        }
    }

    #[test]
    fn crlf_and_indentation_give_the_same_values() {
        let crlf = CONAN1.replace('\n', "\r\n");
        assert_eq!(
            ConanInfo::parse(&crlf).unwrap(),
            ConanInfo::parse(CONAN1).unwrap()
        );
        let unindented = CONAN1.replace("    ", "");
        assert_eq!(
            ConanInfo::parse(&unindented).unwrap(),
            ConanInfo::parse(CONAN1).unwrap()
        );
    }

    #[test]
    fn unknown_sections_are_kept_in_order() {
        let info = ConanInfo::parse(
            "[zeta]\nz1\n[settings]\nos=Linux\n[alpha]\na1\na2\n[conf]\ntools.x:y=1\n",
        )
        .unwrap();
        assert_eq!(names(&info), ["zeta", "settings", "alpha", "conf"]);
        assert_eq!(info.section("alpha").unwrap(), ["a1", "a2"]);
        assert_eq!(info.section("conf").unwrap(), ["tools.x:y=1"]);
    }

    #[test]
    fn value_keeps_everything_after_the_first_equals() {
        let info =
            ConanInfo::parse("[settings]\nos.flags = -DA=1 -DB=2 \n[options]\nextra==x\n").unwrap();
        assert_eq!(info.settings(), &map(&[("os.flags", "-DA=1 -DB=2")]));
        assert_eq!(info.options(), &map(&[("extra", "=x")]));
    }

    #[test]
    fn section_names_at_the_length_limits() {
        let fifty = "a".repeat(50);
        let info = ConanInfo::parse(&format!("[ab]\n[{fifty}]\n[a_]\n")).unwrap();
        assert_eq!(names(&info), ["ab", fifty.as_str(), "a_"]);
        let fifty_one = "a".repeat(51);
        assert!(matches!(
            ConanInfo::parse(&format!("[{fifty_one}]\n")),
            Err(ConanInfoError::BadSectionHeader { line: 1, .. })
        ));
    }

    #[test]
    #[expect(clippy::too_many_lines, reason = "one table row per rule")]
    fn rejected_inputs() {
        use ConanInfoError as E;
        let cases: &[(&str, E, &[&str])] = &[
            (
                "[settings]\n[Settings]\n",
                E::BadSectionHeader {
                    line: 2,
                    text: "[Settings]".into(),
                },
                &["line 2", "[Settings]", "lowercase"],
            ),
            (
                "[a]\n",
                E::BadSectionHeader {
                    line: 1,
                    text: "[a]".into(),
                },
                &["line 1", "[a]"],
            ),
            (
                "\n[settings\narch=x86\n",
                E::BadSectionHeader {
                    line: 2,
                    text: "[settings".into(),
                },
                &["line 2", "[settings"],
            ),
            (
                "[sett ings]\n",
                E::BadSectionHeader {
                    line: 1,
                    text: "[sett ings]".into(),
                },
                &["line 1", "[sett ings]"],
            ),
            (
                "[settings2]\n",
                E::BadSectionHeader {
                    line: 1,
                    text: "[settings2]".into(),
                },
                &["line 1"],
            ),
            (
                "[settings] # trailing\n",
                E::BadSectionHeader {
                    line: 1,
                    text: "[settings] # trailing".into(),
                },
                &["line 1", "alone on the line"],
            ),
            (
                "[]\n",
                E::BadSectionHeader {
                    line: 1,
                    text: "[]".into(),
                },
                &["line 1"],
            ),
            (
                "[settings]\nos=Linux\n[options]\n[settings]\narch=x86\n",
                E::DuplicateSection {
                    line: 4,
                    name: "settings".into(),
                    first_line: 1,
                },
                &["line 4", "[settings]", "line 1"],
            ),
            (
                "# comment\n\narch=x86_64\n[settings]\n",
                E::LineOutsideSection {
                    line: 3,
                    text: "arch=x86_64".into(),
                },
                &["line 3", "arch=x86_64", "before any section"],
            ),
            (
                "[settings]\r\narch=x86\r\nLinux\r\n",
                E::MissingEquals {
                    line: 3,
                    section: "settings".into(),
                    text: "Linux".into(),
                },
                &["line 3", "Linux", "[settings]", "key=value"],
            ),
            (
                "[full_options]\n    shared\n",
                E::MissingEquals {
                    line: 2,
                    section: "full_options".into(),
                    text: "shared".into(),
                },
                &["line 2", "shared", "[full_options]"],
            ),
            (
                "[options]\n  = True\n",
                E::EmptyKey {
                    line: 2,
                    section: "options".into(),
                    text: "= True".into(),
                },
                &["line 2", "= True", "empty key"],
            ),
            (
                "[full_settings]\nos=Linux\narch=x86\n os = Windows\n",
                E::DuplicateKey {
                    line: 4,
                    section: "full_settings".into(),
                    key: "os".into(),
                    first_line: 2,
                },
                &["line 4", "\"os\"", "line 2"],
            ),
            (
                "[recipe_hash]\n    abc\n\n    def\n",
                E::MultilineRecipeHash {
                    line: 4,
                    text: "def".into(),
                },
                &["line 4", "def", "[recipe_hash]"],
            ),
        ];
        for (input, expected, fragments) in cases {
            let error = ConanInfo::parse(input).unwrap_err();
            assert_eq!(&error, expected, "input {input:?}");
            let message = error.to_string();
            for fragment in *fragments {
                assert!(message.contains(fragment), "{message:?} lacks {fragment:?}");
            }
            assert_eq!(error.line(), message_line(&message), "{message:?}");
        }
    }

    fn message_line(message: &str) -> usize {
        let rest = message.strip_prefix("conaninfo.txt line ").unwrap();
        rest[..rest.find(':').unwrap()].parse().unwrap()
    }

    #[test]
    fn same_key_in_two_sections_is_fine() {
        let info = ConanInfo::parse("[settings]\nos=Linux\n[full_settings]\nos=Linux\n").unwrap();
        assert_eq!(info.settings(), &map(&[("os", "Linux")]));
    }

    #[test]
    fn long_offending_text_is_shortened_in_errors() {
        let line = "x".repeat(10_000);
        let error = ConanInfo::parse(&line).unwrap_err();
        let message = error.to_string();
        assert!(message.len() < 400, "{} bytes", message.len());
        assert!(message.contains('…'));
    }

    #[test]
    fn many_sections_parse_in_linear_time() {
        // A quadratic duplicate check would take minutes here.
        let mut text = String::new();
        for i in 0..60_000_u32 {
            let name: String = format!("{i:05}")
                .bytes()
                .map(|digit| char::from(b'a' + (digit - b'0')))
                .collect();
            writeln!(text, "[s_{name}]\nline").unwrap();
        }
        text.push_str("[settings]\n");
        for i in 0..60_000_u32 {
            writeln!(text, "key{i}=value").unwrap();
        }
        let info = ConanInfo::parse(&text).unwrap();
        assert_eq!(info.sections().len(), 60_001);
        assert_eq!(info.settings().len(), 60_000);
    }

    #[test]
    fn summary_json_conan2() {
        let info = ConanInfo::parse(CONAN2).unwrap();
        let json = serde_json::to_value(info.summary()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "settings": {
                    "arch": "x86_64",
                    "build_type": "Release",
                    "compiler": "gcc",
                    "compiler.version": "13",
                    "os": "Linux",
                },
                "options": {"fPIC": "True", "shared": "False"},
                "requires": ["zlib/1.3.Z"],
            })
        );
    }

    #[test]
    fn summary_json_conan1() {
        let info = ConanInfo::parse(CONAN1).unwrap();
        let summary = info.summary();
        let json = serde_json::to_string(&summary).unwrap();
        assert_eq!(
            json,
            r#"{"settings":{"arch":"x86_64","os":"Linux"},"options":{"shared":"False"},"requires":["zlib/1.Y.Z"],"recipe_hash":"b3a6b4e3e5e2cde8f4ed3c9d0f1a3e3b"}"#
        );
        let back: PackageInfo = serde_json::from_str(&json).unwrap();
        assert_eq!(back, summary);
    }

    #[test]
    fn summary_json_empty() {
        let info = ConanInfo::parse("[recipe_hash]\n").unwrap();
        let summary = info.summary();
        assert_eq!(summary, PackageInfo::default());
        assert_eq!(
            serde_json::to_string(&summary).unwrap(),
            r#"{"settings":{},"options":{},"requires":[]}"#
        );
    }

    #[test]
    fn from_str_matches_parse() {
        let info: ConanInfo = CONAN2.parse().unwrap();
        assert_eq!(info, ConanInfo::parse(CONAN2).unwrap());
        assert!("[x]".parse::<ConanInfo>().is_err());
    }

    /// Names of the sections with special rules, plus arbitrary valid names.
    fn section_name() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("settings".to_owned()),
            Just("options".to_owned()),
            Just("requires".to_owned()),
            Just("full_settings".to_owned()),
            Just("full_options".to_owned()),
            Just("full_requires".to_owned()),
            Just("recipe_hash".to_owned()),
            Just("env".to_owned()),
            "[a-z_]{2,50}",
        ]
    }

    /// Valid lines for the section `name`, before trimming.
    fn section_lines(name: &str) -> BoxedStrategy<Vec<String>> {
        if KEY_VALUE_SECTIONS.contains(&name) {
            proptest::collection::btree_map("[A-Za-z0-9_.:]{1,12}", "[ -~]{0,12}", 0..6)
                .prop_map(|entries| {
                    entries
                        .into_iter()
                        .map(|(key, value)| format!("{key}={value}"))
                        .collect()
                })
                .boxed()
        } else if name == RECIPE_HASH {
            proptest::collection::vec("[0-9a-f]{32}", 0..=1).boxed()
        } else {
            proptest::collection::vec("[A-Za-z0-9/@._:=+-][ -~]{0,20}", 0..6).boxed()
        }
    }

    fn section_with_lines() -> impl Strategy<Value = (String, Vec<String>)> {
        section_name().prop_flat_map(|name| {
            let lines = section_lines(&name);
            (Just(name), lines)
        })
    }

    /// Text of a valid `conaninfo.txt`, with random indentation, blank lines, comments and
    /// line endings, along with the sections it should parse to.
    fn valid_text() -> impl Strategy<Value = (String, Vec<(String, Vec<String>)>)> {
        (
            proptest::collection::vec(section_with_lines(), 0..8),
            prop_oneof![Just("\n"), Just("\r\n"), Just("\r")],
            "[ \t]{0,4}",
            any::<bool>(),
        )
            .prop_map(|(sections, newline, indent, decorate)| {
                let mut seen = std::collections::HashSet::new();
                let sections: Vec<_> = sections
                    .into_iter()
                    .filter(|(name, _)| seen.insert(name.clone()))
                    .collect();
                let mut text = String::new();
                if decorate {
                    text.push_str("# generated");
                    text.push_str(newline);
                }
                for (name, lines) in &sections {
                    write!(text, "[{name}]{newline}").unwrap();
                    for line in lines {
                        write!(text, "{indent}{line}{newline}").unwrap();
                        if decorate {
                            text.push_str(newline);
                        }
                    }
                }
                let expected = sections
                    .into_iter()
                    .map(|(name, lines)| {
                        let lines = lines.iter().map(|line| line.trim().to_owned()).collect();
                        (name, lines)
                    })
                    .collect();
                (text, expected)
            })
    }

    proptest! {
        #[test]
        fn valid_text_parses_and_round_trips((text, expected) in valid_text()) {
            let info = ConanInfo::parse(&text).unwrap();
            let got: Vec<(String, Vec<String>)> = info
                .sections()
                .map(|(name, lines)| (name.to_owned(), lines.to_vec()))
                .collect();
            prop_assert_eq!(&got, &expected);
            for (key, value) in info.settings() {
                prop_assert_eq!(key.trim(), key.as_str());
                prop_assert_eq!(value.trim(), value.as_str());
            }
            let rendered = info.to_string();
            prop_assert_eq!(ConanInfo::parse(&rendered).unwrap(), info.clone());
            // Canonical text is a fixed point.
            prop_assert_eq!(ConanInfo::parse(&rendered).unwrap().to_string(), rendered);
        }

        #[test]
        fn parse_never_panics(text in any::<String>()) {
            if let Ok(info) = ConanInfo::parse(&text) {
                prop_assert_eq!(ConanInfo::parse(&info.to_string()).unwrap(), info);
            }
        }

        #[test]
        fn parse_never_panics_on_near_valid_text(
            text in "([\\[\\]#= \t\r\na-zA-Z_]{0,12}\n){0,12}"
        ) {
            if let Ok(info) = ConanInfo::parse(&text) {
                prop_assert_eq!(ConanInfo::parse(&info.to_string()).unwrap(), info);
            }
        }
    }
}
