//! Recipe search patterns: compile and match.
//!
//! Input: one flag byte (bit 0: case-sensitive), then the pattern and the reference separated by
//! a `0x00` byte.
//!
//! Invariants: a pattern is refused exactly for GitLab's limits (over 200 characters, over 5
//! `*`); the literal prefix is a prefix of the pattern that every matching reference starts with;
//! matching agrees with an independent dynamic-programming matcher (for patterns without bracket
//! ranges); a reference always matches its own canonical string and `*`.

#![no_main]

use conan_model::{CaseSensitivity, RecipeReference, SearchPattern, SearchPatternError};
use conan_registry_fuzz::{fields, glob_matches};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let case = if flags & 1 == 1 {
        CaseSensitivity::Sensitive
    } else {
        CaseSensitivity::Insensitive
    };
    let [pattern_bytes, reference_bytes] = fields::<2>(rest);
    let pattern_text = String::from_utf8_lossy(pattern_bytes);
    let reference = String::from_utf8_lossy(reference_bytes);

    let chars = pattern_text.chars().count();
    let stars = pattern_text.matches('*').count();
    let pattern = match SearchPattern::new(&pattern_text, case) {
        Ok(pattern) => pattern,
        Err(SearchPatternError::TooLong { length }) => {
            assert!(chars > SearchPattern::MAX_CHARS);
            assert_eq!(length, chars);
            return;
        }
        Err(SearchPatternError::TooManyWildcards { count }) => {
            assert!(chars <= SearchPattern::MAX_CHARS && stars > SearchPattern::MAX_WILDCARDS);
            assert_eq!(count, stars);
            return;
        }
        Err(other) => panic!("unexpected error {other:?}"),
    };
    assert!(chars <= SearchPattern::MAX_CHARS && stars <= SearchPattern::MAX_WILDCARDS);
    assert_eq!(pattern.as_str(), pattern_text);
    assert_eq!(pattern.case(), case);
    let prefix = pattern.literal_prefix();
    assert!(pattern_text.starts_with(prefix));
    assert!(!prefix.contains(['*', '?']), "{prefix:?}");

    let insensitive = case == CaseSensitivity::Insensitive;
    let matched = pattern.matches(&reference);
    if let Some(expected) = glob_matches(&pattern_text, insensitive, &reference) {
        assert_eq!(
            matched, expected,
            "{pattern_text:?} against {reference:?} ({case:?})"
        );
    }
    if matched {
        let starts = if insensitive {
            reference
                .to_ascii_lowercase()
                .starts_with(&prefix.to_ascii_lowercase())
        } else {
            reference.starts_with(prefix)
        };
        assert!(
            starts,
            "{reference:?} matches {pattern_text:?} but lacks prefix {prefix:?}"
        );
    }

    // A real reference: found by `*`, by its own name, and by its own canonical string.
    if let Ok(parsed) = reference.parse::<RecipeReference>() {
        assert_eq!(pattern.matches_reference(&parsed), matched);
        let star = SearchPattern::new("*", case).expect("`*` is a valid pattern");
        assert!(star.matches_reference(&parsed));
        let own = SearchPattern::new(&reference, case).expect("a reference is a valid pattern");
        assert!(own.matches_reference(&parsed));
        let name = SearchPattern::new(parsed.name().as_str(), case).expect("so is a name");
        assert!(name.matches_reference(&parsed));
    }
});
