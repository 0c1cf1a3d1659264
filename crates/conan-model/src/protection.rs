//! Package name patterns of GitLab's package protection rules.
//!
//! GitLab turns a rule's `package_name_pattern` into SQL `LIKE` (escaping `%` and `_`, then
//! writing `*` as `%`) and compares it with `ILIKE`. The same semantics here, as a pure function
//! so that SQLite and PostgreSQL decide alike:
//!
//! - `*` matches any run of characters, including an empty one and one holding `/`;
//! - every other character is literal (`%`, `_`, `?`, `[` included), and there is no escape;
//! - letters match whatever their case;
//! - the match is anchored at both ends and taken against the package **name** only: for Conan
//!   the recipe name (`zlib`), never its version, user or channel.
//!
//! Matching runs in `O(pattern × name)` time at worst, with no backtracking blow-up.

use std::str::FromStr;

/// Why a package name pattern was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NamePatternError {
    /// The pattern is empty.
    #[error("invalid package name pattern: it is empty")]
    Empty,
    /// The pattern has more than [`PackageNamePattern::MAX_CHARS`] characters.
    #[error(
        "invalid package name pattern: {length} characters, at most {max} allowed",
        max = PackageNamePattern::MAX_CHARS
    )]
    TooLong {
        /// Its length in characters.
        length: usize,
    },
    /// The pattern holds a control character (a line break, a tab, NUL).
    #[error("invalid package name pattern {pattern:?}: control characters are not allowed")]
    ControlCharacter {
        /// The pattern as given.
        pattern: String,
    },
}

/// A validated package name pattern: 1 to 255 characters, no control characters, `*` the only
/// wildcard (see the module docs for how it matches).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PackageNamePattern(String);

impl PackageNamePattern {
    /// The longest pattern GitLab stores, in characters.
    pub const MAX_CHARS: usize = 255;

    /// The pattern as written.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `name` (a package name, such as a Conan recipe name) matches the pattern.
    #[must_use]
    pub fn matches(&self, name: &str) -> bool {
        glob_matches(&self.0, name)
    }
}

impl FromStr for PackageNamePattern {
    type Err = NamePatternError;

    fn from_str(pattern: &str) -> Result<Self, Self::Err> {
        let length = pattern.chars().count();
        if length == 0 {
            return Err(NamePatternError::Empty);
        }
        if length > Self::MAX_CHARS {
            return Err(NamePatternError::TooLong { length });
        }
        if pattern.chars().any(char::is_control) {
            return Err(NamePatternError::ControlCharacter {
                pattern: pattern.to_owned(),
            });
        }
        Ok(Self(pattern.to_owned()))
    }
}

crate::macros::string_newtype!(PackageNamePattern);

/// Whether two characters are equal ignoring case, as `ILIKE` compares them.
fn same_letter(pattern: char, name: char) -> bool {
    pattern == name || pattern.to_lowercase().eq(name.to_lowercase())
}

/// Anchored match of a glob whose only wildcard is `*`. On a mismatch the most recent `*` takes
/// one more character and matching resumes after it; earlier stars never need to, because any
/// way they could stretch the later star can too. Hence at most `pattern × name` steps.
fn glob_matches(pattern: &str, name: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    let (mut p, mut n) = (0, 0);
    // The position after the last `*` seen, and where in `name` that star's run ends now.
    let mut resume: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some('*') => {
                p += 1;
                resume = Some((p, n));
            }
            Some(&c) if same_letter(c, name[n]) => {
                p += 1;
                n += 1;
            }
            _ => match resume {
                Some((after_star, run_end)) => {
                    p = after_star;
                    n = run_end + 1;
                    resume = Some((after_star, run_end + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use proptest::prelude::*;

    use super::*;

    fn pattern(text: &str) -> PackageNamePattern {
        text.parse().unwrap()
    }

    #[test]
    fn gitlab_semantics() {
        let cases: &[(&str, &str, bool)] = &[
            ("zlib", "zlib", true),
            ("zlib", "ZLIB", true),
            ("ZLib", "zlib", true),
            ("zlib", "zlibx", false),
            ("zlib", "xzlib", false),
            ("zlib*", "zlib", true),
            ("zlib*", "zlib-ng", true),
            ("*lib", "zlib", true),
            ("*lib", "libz", false),
            ("*", "anything", true),
            ("*", "", true),
            ("**", "x", true),
            ("z*b", "zb", true),
            ("z*b", "zlib", true),
            ("z*b", "zlibc", false),
            ("*a*b*", "xaxxbx", true),
            ("*a*b*", "xbxa", false),
            ("a*a*a", "aaaa", true),
            ("a*a*a", "aa", false),
            // `*` also spans `/`, and every other character is literal.
            ("group/*", "group/sub/pkg", true),
            ("my_pkg", "myXpkg", false),
            ("my%pkg", "my-pkg", false),
            ("my%pkg", "my%pkg", true),
            ("pkg?", "pkg1", false),
            ("pkg?", "pkg?", true),
            ("[ab]", "a", false),
            ("[ab]", "[AB]", true),
            ("lib\\*", "lib\\anything", true),
        ];
        for &(glob, name, expected) in cases {
            assert_eq!(
                pattern(glob).matches(name),
                expected,
                "{glob:?} vs {name:?}"
            );
        }
    }

    #[test]
    fn validation() {
        assert_eq!(
            "".parse::<PackageNamePattern>(),
            Err(NamePatternError::Empty)
        );
        let long = "x".repeat(256);
        assert_eq!(
            long.parse::<PackageNamePattern>(),
            Err(NamePatternError::TooLong { length: 256 })
        );
        assert!("x".repeat(255).parse::<PackageNamePattern>().is_ok());
        // Characters, not bytes: 255 two-byte letters fit.
        assert!("é".repeat(255).parse::<PackageNamePattern>().is_ok());
        for bad in ["a\nb", "tab\t", "nul\0"] {
            let error = bad.parse::<PackageNamePattern>().unwrap_err();
            assert!(error.to_string().contains("control characters"), "{error}");
        }
        for good in ["*", " spaced ", "group/pkg", "ünïcode*"] {
            assert_eq!(pattern(good).as_str(), good);
        }
    }

    /// The obvious exponential-free definition, by dynamic programming over both strings.
    fn oracle(pattern: &str, name: &str) -> bool {
        let pattern: Vec<char> = pattern.chars().collect();
        let name: Vec<char> = name.chars().collect();
        // `table[i][j]`: pattern[i..] matches name[j..].
        let mut table = vec![vec![false; name.len() + 1]; pattern.len() + 1];
        table[pattern.len()][name.len()] = true;
        for i in (0..pattern.len()).rev() {
            for j in (0..=name.len()).rev() {
                table[i][j] = if pattern[i] == '*' {
                    table[i + 1][j] || (j < name.len() && table[i][j + 1])
                } else {
                    j < name.len() && same_letter(pattern[i], name[j]) && table[i + 1][j + 1]
                };
            }
        }
        table[0][0]
    }

    proptest! {
        #[test]
        fn agrees_with_the_oracle(glob in "[abAB*%_]{1,12}", name in "[abAB%_/]{0,12}") {
            prop_assert_eq!(pattern(&glob).matches(&name), oracle(&glob, &name));
        }

        #[test]
        fn a_name_matches_itself_in_any_case(name in "[A-Za-z0-9_+.-]{1,101}") {
            prop_assert!(pattern(&name).matches(&name));
            prop_assert!(pattern(&name.to_uppercase()).matches(&name));
            let star = format!("*{}*", &name[..name.len() / 2]);
            prop_assert!(pattern(&star).matches(&name));
        }

        #[test]
        fn parsing_never_panics(text in "\\PC{0,300}") {
            let _ = text.parse::<PackageNamePattern>();
        }
    }
}
