//! Recipe search patterns: the `q` parameter of `GET .../conans/search`.
//!
//! The semantics are those of the reference `conan_server`, because the Conan client's test suite
//! relies on them:
//!
//! - The pattern is a shell glob translated exactly like Python's `fnmatch.translate`: `*` matches
//!   any run of characters, `/` and `@` included; `?` matches one character; `[seq]` and `[!seq]`
//!   are (negated) character classes with `a-z` ranges; a `]` right after `[` or `[!` is a member;
//!   a `[` without a closing `]` is a literal `[`. Everything else is literal and there is no
//!   escape character. The match is anchored at both ends.
//! - A reference matches if the pattern matches any cumulative prefix of its tokens, where the
//!   canonical string (`name/version[@user[/channel]]`) is split at `/` and `@` and the separators
//!   are tokens of their own. So `zlib` finds every `zlib/...`, but `zlib/1` does not find
//!   `zlib/1.3`.
//! - Matching is case-insensitive unless the `ignorecase` parameter says `false`
//!   ([`CaseSensitivity::from_ignorecase_param`]). Only ASCII letters fold: references are ASCII,
//!   so the one divergence from Python's Unicode folding is that a few exotic non-ASCII pattern
//!   characters (the KELVIN SIGN, say) do not stand for an ASCII letter here.
//! - An empty pattern (no `q`) matches everything.
//! - GitLab's limits are enforced at construction: at most [`SearchPattern::MAX_CHARS`]
//!   characters and [`SearchPattern::MAX_WILDCARDS`] `*`.
//!
//! Matching simulates the pattern as a small automaton over the reference, so it runs in
//! `O(pattern × reference)` time whatever the input, with no backtracking blow-up.

use std::fmt;
use std::str::FromStr;

/// Whether a [`SearchPattern`] tells upper-case from lower-case letters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CaseSensitivity {
    /// Letters must match exactly (`ignorecase=False`).
    Sensitive,
    /// ASCII letters match whatever their case; the server's default.
    #[default]
    Insensitive,
}

impl CaseSensitivity {
    /// Decides the case rule from the raw `ignorecase` query parameter, as `conan_server` does.
    ///
    /// Only the string `false`, in any case, asks for a case-sensitive search: an absent parameter
    /// or any other value (`True`, `1`, an empty string, a typo) keeps the case-insensitive default.
    #[must_use]
    pub fn from_ignorecase_param(param: Option<&str>) -> Self {
        match param {
            Some(value) if value.eq_ignore_ascii_case("false") => Self::Sensitive,
            _ => Self::Insensitive,
        }
    }
}

/// Why a search term was refused; the `Display` text is GitLab's exact message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SearchPatternError {
    /// The term has more than [`SearchPattern::MAX_CHARS`] characters.
    // GitLab's wording says "less than 200", yet it accepts exactly 200: the message is kept verbatim.
    #[error("Search term length must be less than 200 characters.")]
    TooLong {
        /// The term's length in characters (not bytes).
        length: usize,
    },
    /// The term has more than [`SearchPattern::MAX_WILDCARDS`] `*`.
    #[error("Too many wildcards in search term. Maximum is 5.")]
    TooManyWildcards {
        /// How many `*` the term holds, counting those inside brackets as GitLab does.
        count: usize,
    },
}

/// A validated, compiled recipe search pattern.
///
/// Build one with [`SearchPattern::new`] (or [`str::parse`], which is case-insensitive), or take
/// [`SearchPattern::all`] when the request has no `q`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SearchPattern {
    pattern: String,
    case: CaseSensitivity,
    tokens: Vec<Token>,
    /// Length in bytes of the literal prefix of `pattern`.
    prefix_len: usize,
}

impl SearchPattern {
    /// The longest pattern GitLab accepts, in characters.
    pub const MAX_CHARS: usize = 200;

    /// The most `*` GitLab accepts in one pattern.
    pub const MAX_WILDCARDS: usize = 5;

    /// Validates and compiles `pattern`; the empty string matches everything.
    pub fn new(pattern: &str, case: CaseSensitivity) -> Result<Self, SearchPatternError> {
        // GitLab checks the length before the wildcards, so a long term full of stars is "too long".
        let length = pattern.chars().count();
        if length > Self::MAX_CHARS {
            return Err(SearchPatternError::TooLong { length });
        }
        let count = pattern.chars().filter(|&c| c == '*').count();
        if count > Self::MAX_WILDCARDS {
            return Err(SearchPatternError::TooManyWildcards { count });
        }
        let (tokens, prefix_len) = compile(pattern);
        Ok(Self {
            pattern: pattern.to_owned(),
            case,
            tokens,
            prefix_len,
        })
    }

    /// Returns the pattern that matches every reference, as an absent `q` does.
    #[must_use]
    pub fn all() -> Self {
        Self {
            pattern: String::new(),
            case: CaseSensitivity::Insensitive,
            tokens: Vec::new(),
            prefix_len: 0,
        }
    }

    /// Returns the pattern as the client sent it.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.pattern
    }

    /// Returns whether letters are compared case-sensitively.
    #[must_use]
    pub fn case(&self) -> CaseSensitivity {
        self.case
    }

    /// Returns the longest leading part of the pattern made only of literal characters.
    ///
    /// It stops at the first `*`, `?` or `[` that opens a character class (an unclosed `[` is a
    /// literal and does not stop it). Every reference that [`matches`](Self::matches) starts with
    /// this prefix, compared ASCII-case-insensitively when the pattern is
    /// [`CaseSensitivity::Insensitive`], so a store may pre-filter with `LIKE 'prefix%'` (escaping
    /// `%`, `_` and its escape character) and then run [`matches`](Self::matches) on what is left.
    #[must_use]
    pub fn literal_prefix(&self) -> &str {
        self.pattern.get(..self.prefix_len).unwrap_or_default()
    }

    /// Whether `reference` matches; the typed form of [`Self::matches`].
    #[must_use]
    pub fn matches_reference(&self, reference: &crate::RecipeReference) -> bool {
        self.matches(&reference.to_string())
    }

    /// Tells whether a reference matches, given as its canonical string without revision.
    ///
    /// `reference` is `name/version`, `name/version@user` or `name/version@user/channel`, the
    /// form `conan_server` matches against (never `_` for a missing user or channel). The pattern
    /// matches if it matches any cumulative prefix of the reference's tokens, see the module docs.
    #[must_use]
    pub fn matches(&self, reference: &str) -> bool {
        // conan_server lists everything for an empty `q` without ever compiling a pattern.
        if self.pattern.is_empty() {
            return true;
        }
        let mut active = vec![false; self.tokens.len() + 1];
        let mut next = active.clone();
        if let Some(start) = active.first_mut() {
            *start = true;
        }
        follow_runs(&self.tokens, &mut active);
        let mut chars = reference.chars().peekable();
        while let Some(c) = chars.next() {
            next.fill(false);
            for (state, (token, &on)) in self.tokens.iter().zip(&active).enumerate() {
                let target = match token {
                    _ if !on => continue,
                    Token::AnyRun => state,
                    _ if self.accepts(token, c) => state + 1,
                    _ => continue,
                };
                if let Some(slot) = next.get_mut(target) {
                    *slot = true;
                }
            }
            follow_runs(&self.tokens, &mut next);
            std::mem::swap(&mut active, &mut next);
            // conan_server tries each cumulative sum of tokens, and with separators being tokens
            // of their own a sum ends just before or after a separator, or at the end.
            let token_end = is_separator(c) || chars.peek().is_none_or(|&n| is_separator(n));
            if token_end && active.last() == Some(&true) {
                return true;
            }
            if !active.contains(&true) {
                return false;
            }
        }
        false
    }

    fn accepts(&self, token: &Token, c: char) -> bool {
        match token {
            Token::Literal(literal) => match self.case {
                CaseSensitivity::Sensitive => *literal == c,
                CaseSensitivity::Insensitive => literal.eq_ignore_ascii_case(&c),
            },
            Token::AnyOne | Token::AnyRun => true,
            Token::Class(class) => class.contains(c, self.case),
        }
    }
}

impl Default for SearchPattern {
    fn default() -> Self {
        Self::all()
    }
}

impl FromStr for SearchPattern {
    type Err = SearchPatternError;

    /// Parses a case-insensitive pattern, the server's default.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s, CaseSensitivity::Insensitive)
    }
}

impl fmt::Display for SearchPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.pattern)
    }
}

/// One step of the compiled pattern.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Token {
    Literal(char),
    AnyOne,
    AnyRun,
    Class(Class),
}

/// A bracket expression; an empty, non-negated class never matches (Python's `(?!)`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Class {
    negated: bool,
    /// Inclusive ranges; a single member `c` is `(c, c)`.
    ranges: Vec<(char, char)>,
}

impl Class {
    fn contains(&self, c: char, case: CaseSensitivity) -> bool {
        let hit = |x: char| self.ranges.iter().any(|&(lo, hi)| lo <= x && x <= hi);
        // Python's IGNORECASE tests the lowered and the upper-cased character against the set,
        // which for ASCII is the same as trying both cases of `c`.
        let found = match case {
            CaseSensitivity::Sensitive => hit(c),
            CaseSensitivity::Insensitive => {
                hit(c) || hit(c.to_ascii_lowercase()) || hit(c.to_ascii_uppercase())
            }
        };
        found != self.negated
    }
}

fn is_separator(c: char) -> bool {
    c == '/' || c == '@'
}

/// Adds the states reachable without reading: a `*` may match nothing.
fn follow_runs(tokens: &[Token], states: &mut [bool]) {
    for (state, token) in tokens.iter().enumerate() {
        if *token == Token::AnyRun
            && states.get(state) == Some(&true)
            && let Some(after) = states.get_mut(state + 1)
        {
            *after = true;
        }
    }
}

/// Compiles like `fnmatch.translate`; also returns the byte length of the literal prefix.
fn compile(pattern: &str) -> (Vec<Token>, usize) {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut first_wildcard = None;
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let (token, next) = match c {
            '*' => (Token::AnyRun, i + 1),
            '?' => (Token::AnyOne, i + 1),
            '[' => parse_bracket(&chars, i).unwrap_or((Token::Literal('['), i + 1)),
            _ => (Token::Literal(c), i + 1),
        };
        if first_wildcard.is_none() && !matches!(token, Token::Literal(_)) {
            first_wildcard = Some(i);
        }
        if !(token == Token::AnyRun && tokens.last() == Some(&Token::AnyRun)) {
            tokens.push(token);
        }
        i = next;
    }
    let prefix_len = first_wildcard
        .and_then(|chars_before| pattern.char_indices().nth(chars_before))
        .map_or(pattern.len(), |(byte, _)| byte);
    (tokens, prefix_len)
}

/// Parses the bracket expression opening at `pat[open]`, returning the token and the index after
/// its `]`, or `None` when it is unclosed (then the `[` is a literal).
fn parse_bracket(pat: &[char], open: usize) -> Option<(Token, usize)> {
    let start = open + 1;
    let mut end = start;
    if pat.get(end) == Some(&'!') {
        end += 1;
    }
    if pat.get(end) == Some(&']') {
        end += 1;
    }
    while pat.get(end).is_some_and(|&c| c != ']') {
        end += 1;
    }
    if end >= pat.len() {
        return None;
    }
    Some((class_token(&bracket_items(pat, start, end)), end + 1))
}

/// A piece of the regex class body that `fnmatch.translate` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Item {
    /// A character that stands for itself (Python escapes `\`, `-` and `&~|` inside chunks).
    Char(char),
    /// An unescaped `-` that Python wrote between two chunks to make a range.
    Hyphen,
}

/// Rebuilds, item by item, the class body that `fnmatch.translate` emits for `pat[start..end]`.
///
/// Python splits the body at hyphens into chunks (a hyphen first in the class, or right after a
/// range, is literal), drops ranges whose ends are reversed and joins the chunks with range
/// hyphens. Dropping a range can leave a leading `!` that the regex then reads as a negation, so
/// this is reproduced step by step rather than re-derived.
fn bracket_items(pat: &[char], start: usize, end: usize) -> Vec<Item> {
    let stuff = pat.get(start..end).unwrap_or_default();
    if !stuff.contains(&'-') {
        return stuff.iter().map(|&c| Item::Char(c)).collect();
    }
    let mut chunks: Vec<Vec<char>> = Vec::new();
    let mut chunk_start = start;
    let mut search_from = if stuff.first() == Some(&'!') {
        start + 2
    } else {
        start + 1
    };
    while let Some(hyphen) = (search_from..end).find(|&k| pat.get(k) == Some(&'-')) {
        chunks.push(pat.get(chunk_start..hyphen).unwrap_or_default().to_vec());
        chunk_start = hyphen + 1;
        search_from = hyphen + 3;
    }
    let last = pat.get(chunk_start..end).unwrap_or_default();
    if last.is_empty() {
        // A hyphen right before `]` is literal.
        match chunks.last_mut() {
            Some(previous) => previous.push('-'),
            None => chunks.push(vec!['-']),
        }
    } else {
        chunks.push(last.to_vec());
    }
    for k in (1..chunks.len()).rev() {
        let (head, tail) = chunks.split_at_mut(k);
        let (Some(previous), Some(current)) = (head.last_mut(), tail.first()) else {
            continue;
        };
        let reversed = match (previous.last(), current.first()) {
            (Some(lo), Some(hi)) => lo > hi,
            _ => false,
        };
        if reversed {
            previous.pop();
            previous.extend(current.iter().skip(1));
            chunks.remove(k);
        }
    }
    let mut items = Vec::with_capacity(stuff.len());
    for (n, chunk) in chunks.iter().enumerate() {
        if n > 0 {
            items.push(Item::Hyphen);
        }
        items.extend(chunk.iter().map(|&c| Item::Char(c)));
    }
    items
}

/// Reads a class body the way Python's `re` parser does.
fn class_token(items: &[Item]) -> Token {
    let (negated, mut rest) = match items {
        // Every range was reversed: Python emits `(?!)`, which never matches.
        [] => {
            return Token::Class(Class {
                negated: false,
                ranges: Vec::new(),
            });
        }
        // A negated class left empty: Python emits `.`.
        [Item::Char('!')] => return Token::AnyOne,
        [Item::Char('!'), body @ ..] => (true, body),
        body => (false, body),
    };
    let as_char = |item: Item| match item {
        Item::Char(c) => c,
        Item::Hyphen => '-',
    };
    let mut ranges = Vec::new();
    while let Some((&first, after_first)) = rest.split_first() {
        let lo = as_char(first);
        rest = after_first;
        if let [Item::Hyphen, after_hyphen @ ..] = rest {
            if let Some((&second, after_second)) = after_hyphen.split_first() {
                ranges.push((lo, as_char(second)));
                rest = after_second;
            } else {
                // `re` reads a hyphen before the closing `]` as a member.
                ranges.push((lo, lo));
                ranges.push(('-', '-'));
                rest = after_hyphen;
            }
        } else {
            ranges.push((lo, lo));
        }
    }
    Token::Class(Class { negated, ranges })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const INSENSITIVE: CaseSensitivity = CaseSensitivity::Insensitive;
    const SENSITIVE: CaseSensitivity = CaseSensitivity::Sensitive;

    #[test]
    fn typed_references_match_through_their_canonical_string() {
        let pattern = SearchPattern::new("*/*@*", INSENSITIVE).unwrap();
        let with_user: crate::RecipeReference = "pkg/1.0@user".parse().unwrap();
        let without: crate::RecipeReference = "pkg/1.0".parse().unwrap();
        assert!(pattern.matches_reference(&with_user));
        assert!(!pattern.matches_reference(&without));
    }

    fn pattern(text: &str) -> SearchPattern {
        SearchPattern::new(text, INSENSITIVE).unwrap()
    }

    fn matching<'a>(pattern_text: &str, case: CaseSensitivity, refs: &[&'a str]) -> Vec<&'a str> {
        let compiled = SearchPattern::new(pattern_text, case).unwrap();
        refs.iter()
            .copied()
            .filter(|r| compiled.matches(r))
            .collect()
    }

    #[test]
    fn name_alone_matches_every_reference_of_that_name() {
        let refs = ["zlib/1.3", "zlib/1.2.13@u/c", "zlib/1.3@user", "zlibx/1.0"];
        assert_eq!(
            matching("zlib", INSENSITIVE, &refs),
            ["zlib/1.3", "zlib/1.2.13@u/c", "zlib/1.3@user"]
        );
    }

    #[test]
    fn name_and_version_match_whole_tokens_only() {
        let refs = ["zlib/1.3", "zlib/1.3@u/c", "zlib/1.30"];
        assert_eq!(
            matching("zlib/1.3", INSENSITIVE, &refs),
            ["zlib/1.3", "zlib/1.3@u/c"]
        );
        assert!(matching("zlib/1", INSENSITIVE, &["zlib/1.3", "zlib/1.2"]).is_empty());
    }

    #[test]
    fn user_wildcard_needs_a_user() {
        let refs = ["foo/1.0@user/channel", "pkg/1.0@user", "foo/1.0"];
        assert_eq!(
            matching("*/*@*", INSENSITIVE, &refs),
            ["foo/1.0@user/channel", "pkg/1.0@user"]
        );
    }

    #[test]
    fn trailing_at_needs_a_user_but_the_client_strips_it() {
        let refs = ["zlib/1.3@u/c", "zlib/1.3"];
        assert_eq!(matching("z*@", INSENSITIVE, &refs), ["zlib/1.3@u/c"]);
        assert_eq!(matching("z*", INSENSITIVE, &refs), refs);
    }

    #[test]
    fn conan_remove_test_set() {
        let refs = [
            "foo/1.0@user/channel",
            "foo/1.0",
            "fbar/1.0",
            "bar/1.1",
            "bar/2.0",
        ];
        let cases: &[(&str, &[&str])] = &[
            ("*", &refs),
            ("*/*", &refs),
            ("f*", &["foo/1.0@user/channel", "foo/1.0", "fbar/1.0"]),
            ("*/1.1", &["bar/1.1"]),
            ("*/*@user/*", &["foo/1.0@user/channel"]),
            ("*/*@*", &["foo/1.0@user/channel"]),
            ("foo", &["foo/1.0@user/channel", "foo/1.0"]),
            ("foo/*", &["foo/1.0@user/channel", "foo/1.0"]),
        ];
        for (text, expected) in cases {
            assert_eq!(
                matching(text, INSENSITIVE, &refs),
                *expected,
                "pattern {text:?}"
            );
        }
    }

    #[test]
    fn case_rules() {
        assert!(
            SearchPattern::new("Assimp*", INSENSITIVE)
                .unwrap()
                .matches("assimp/1.0")
        );
        assert!(
            !SearchPattern::new("Assimp*", SENSITIVE)
                .unwrap()
                .matches("assimp/1.0")
        );
        assert!(pattern("ZLIB/1.3").matches("zlib/1.3"));
        assert!(
            "ZLIB/1.3"
                .parse::<SearchPattern>()
                .unwrap()
                .matches("zlib/1.3")
        );
        assert!(
            SearchPattern::new("zlib/1.3", SENSITIVE)
                .unwrap()
                .matches("zlib/1.3")
        );
        assert!(
            SearchPattern::new("[A-Z]lib", INSENSITIVE)
                .unwrap()
                .matches("zlib/1.3")
        );
        assert!(
            !SearchPattern::new("[A-Z]lib", SENSITIVE)
                .unwrap()
                .matches("zlib/1.3")
        );
        assert!(
            SearchPattern::new("[!Z]lib", SENSITIVE)
                .unwrap()
                .matches("zlib/1.3")
        );
        assert!(
            !SearchPattern::new("[!Z]lib", INSENSITIVE)
                .unwrap()
                .matches("zlib/1.3")
        );
        // Non-ASCII letters do not fold, and must not trip anything up.
        assert!(!pattern("ÄBC").matches("äbc/1.0"));
        assert!(pattern("ÄBC").matches("ÄBC/1.0"));
    }

    #[test]
    fn classes_and_single_wildcards() {
        let refs = ["zlia/1", "zlib/1", "zlic/1", "zlid/1", "zli/1", "zli]/1"];
        let all_but = |skip: &str| {
            refs.iter()
                .copied()
                .filter(|r| *r != skip)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            matching("zli[a-c]", INSENSITIVE, &refs),
            ["zlia/1", "zlib/1", "zlic/1"]
        );
        // `zli/1` matches through its token prefix `zli/`: a negated class accepts a separator.
        assert_eq!(matching("zli[!b]", INSENSITIVE, &refs), all_but("zlib/1"));
        assert_eq!(matching("zli[]]", INSENSITIVE, &refs), ["zli]/1"]);
        assert_eq!(matching("zli[!]]", INSENSITIVE, &refs), all_but("zli]/1"));
        assert_eq!(matching("zli?", INSENSITIVE, &refs), refs);
        assert_eq!(matching("zli?/1", INSENSITIVE, &refs), all_but("zli/1"));
        // `?` crosses separators like any character.
        assert!(pattern("zli/?").matches("zli/1"));
        assert!(pattern("zli??").matches("zli/1"));
        assert!(!pattern("zli?").matches("zli"));
        // An unclosed bracket is a literal `[`.
        assert!(pattern("a[b").matches("a[b/1.0"));
        assert!(!pattern("a[b").matches("ab/1.0"));
        assert!(pattern("a[b*").matches("a[bc/1.0"));
    }

    /// Expectations computed with `CPython` 3.11's `fnmatch.translate` and `re`, including the
    /// quirks of its empty-range removal.
    #[test]
    fn bracket_quirks_agree_with_python() {
        const PROBES: &str = "abcxyzABXZ-!^[]\\/@_`";
        let cases: &[(&str, CaseSensitivity, &str)] = &[
            ("[z-a]", SENSITIVE, ""),
            ("[!z-a]", SENSITIVE, PROBES),
            ("[z-a!]", SENSITIVE, PROBES),
            ("[z-a!x]", SENSITIVE, "abcyzABXZ-!^[]\\/@_`"),
            ("[z-a!-c]", SENSITIVE, "abxyzABXZ!^[]\\/@_`"),
            ("[a-]", SENSITIVE, "a-"),
            ("[-a]", SENSITIVE, "a-"),
            ("[!-a]", SENSITIVE, "bcxyzABXZ!^[]\\/@_`"),
            ("[a-c-z]", SENSITIVE, "abcz-"),
            ("[]-a]", SENSITIVE, "a^]_`"),
            ("[^a]", SENSITIVE, "a^"),
            ("[[]", SENSITIVE, "["),
            ("[\\]", SENSITIVE, "\\"),
            ("[a-c]", INSENSITIVE, "abcAB"),
            ("[Z-a]", SENSITIVE, "aZ^[]\\_`"),
            ("[Z-a]", INSENSITIVE, "azAZ^[]\\_`"),
            ("[!a-c]", INSENSITIVE, "xyzXZ-!^[]\\/@_`"),
            ("[x-z-]", SENSITIVE, "xyz-"),
            ("[!]-a]", SENSITIVE, "bcxyzABXZ-![\\/@"),
        ];
        for (text, case, expected) in cases {
            let compiled = SearchPattern::new(text, *case).unwrap();
            let got: String = PROBES
                .chars()
                .filter(|c| compiled.matches(&c.to_string()))
                .collect();
            assert_eq!(got, *expected, "pattern {text:?} ({case:?})");
        }
    }

    #[test]
    fn empty_pattern_matches_everything() {
        for compiled in [SearchPattern::all(), pattern(""), SearchPattern::default()] {
            assert!(compiled.matches("zlib/1.3"));
            assert!(compiled.matches("a/b@c/d"));
            assert!(compiled.matches(""));
            assert_eq!(compiled.literal_prefix(), "");
        }
        assert!(!pattern("*").matches(""));
    }

    #[test]
    fn gitlab_limits() {
        let ok = "a".repeat(200);
        assert!(SearchPattern::new(&ok, INSENSITIVE).is_ok());
        let long = "a".repeat(201);
        let error = SearchPattern::new(&long, INSENSITIVE).unwrap_err();
        assert_eq!(error, SearchPatternError::TooLong { length: 201 });
        assert_eq!(
            error.to_string(),
            "Search term length must be less than 200 characters."
        );
        // Characters, not bytes.
        assert!(SearchPattern::new(&"é".repeat(200), INSENSITIVE).is_ok());

        assert!(SearchPattern::new("*/*@*/*-*", INSENSITIVE).is_ok());
        let error = SearchPattern::new("*/*@*/*-*[*]", INSENSITIVE).unwrap_err();
        assert_eq!(error, SearchPatternError::TooManyWildcards { count: 6 });
        assert_eq!(
            error.to_string(),
            "Too many wildcards in search term. Maximum is 5."
        );

        let error = SearchPattern::new(&"*".repeat(201), INSENSITIVE).unwrap_err();
        assert_eq!(error, SearchPatternError::TooLong { length: 201 });
    }

    #[test]
    fn ignorecase_parameter() {
        for value in [
            None,
            Some("True"),
            Some("true"),
            Some("1"),
            Some(""),
            Some("no"),
        ] {
            assert_eq!(
                CaseSensitivity::from_ignorecase_param(value),
                INSENSITIVE,
                "{value:?}"
            );
        }
        for value in ["False", "false", "FALSE"] {
            assert_eq!(
                CaseSensitivity::from_ignorecase_param(Some(value)),
                SENSITIVE,
                "{value}"
            );
        }
    }

    #[test]
    fn literal_prefixes() {
        let cases = [
            ("zlib/1.*", "zlib/1."),
            ("*", ""),
            ("z?", "z"),
            ("a[b", "a[b"),
            ("a[bc]d", "a"),
            ("zlib/1.3@u/c", "zlib/1.3@u/c"),
            ("é[!x]", "é"),
            ("a]b*", "a]b"),
        ];
        for (text, prefix) in cases {
            assert_eq!(pattern(text).literal_prefix(), prefix, "pattern {text:?}");
        }
    }

    #[test]
    fn accessors() {
        let compiled = SearchPattern::new("Zlib*", SENSITIVE).unwrap();
        assert_eq!(compiled.as_str(), "Zlib*");
        assert_eq!(compiled.to_string(), "Zlib*");
        assert_eq!(compiled.case(), SENSITIVE);
        assert_eq!(pattern("a").case(), INSENSITIVE);
    }

    #[test]
    fn long_patterns_stay_fast() {
        let text = format!("{}*b", "a*".repeat(4)) + &"a".repeat(150);
        let compiled = pattern(&text);
        let reference = "a".repeat(5000);
        assert!(!compiled.matches(&reference));
    }

    // Naive reference implementation, written from the Python semantics independently of the
    // compiler above; it handles every bracket form except ranges, so the generated alphabet has
    // no `-`.
    fn naive_full(pattern: &[char], text: &[char], case: CaseSensitivity) -> bool {
        let same = |p: char, t: char| match case {
            CaseSensitivity::Sensitive => p == t,
            CaseSensitivity::Insensitive => p.eq_ignore_ascii_case(&t),
        };
        let Some((&first, rest)) = pattern.split_first() else {
            return text.is_empty();
        };
        match first {
            '*' => (0..=text.len()).any(|k| naive_full(rest, &text[k..], case)),
            '?' => !text.is_empty() && naive_full(rest, &text[1..], case),
            '[' => {
                let mut j = 0;
                if rest.get(j) == Some(&'!') {
                    j += 1;
                }
                if rest.get(j) == Some(&']') {
                    j += 1;
                }
                while j < rest.len() && rest[j] != ']' {
                    j += 1;
                }
                if j >= rest.len() {
                    return text.first().is_some_and(|&t| t == '[')
                        && naive_full(rest, &text[1..], case);
                }
                let (negated, members) = match &rest[..j] {
                    ['!', members @ ..] => (true, members),
                    members => (false, members),
                };
                text.first()
                    .is_some_and(|&t| members.iter().any(|&m| same(m, t)) != negated)
                    && naive_full(&rest[j + 1..], &text[1..], case)
            }
            literal => {
                text.first().is_some_and(|&t| same(literal, t))
                    && naive_full(rest, &text[1..], case)
            }
        }
    }

    fn naive_matches(pattern: &str, case: CaseSensitivity, reference: &str) -> bool {
        if pattern.is_empty() {
            return true;
        }
        let pattern: Vec<char> = pattern.chars().collect();
        let spaced = reference.replace('/', " / ").replace('@', " @ ");
        let mut partial = String::new();
        spaced.split_whitespace().any(|token| {
            partial.push_str(token);
            let text: Vec<char> = partial.chars().collect();
            naive_full(&pattern, &text, case)
        })
    }

    fn case_strategy() -> impl Strategy<Value = CaseSensitivity> {
        prop_oneof![Just(SENSITIVE), Just(INSENSITIVE)]
    }

    fn reference_strategy() -> impl Strategy<Value = String> {
        let part = "[a-z0-9_][a-z0-9_+.-]{1,8}";
        (
            part,
            part,
            proptest::option::of((part, proptest::option::of(part))),
        )
            .prop_map(|(name, version, user)| match user {
                None => format!("{name}/{version}"),
                Some((user, None)) => format!("{name}/{version}@{user}"),
                Some((user, Some(channel))) => format!("{name}/{version}@{user}/{channel}"),
            })
    }

    /// Patterns that often match `reference`: part of it, randomly re-cased, then a random tail.
    fn pattern_near(reference: String) -> impl Strategy<Value = String> {
        let len = reference.len();
        (
            0..=len,
            proptest::collection::vec(any::<bool>(), len),
            "[a-z0-9A-Z./@*?!\\[\\]-]{0,5}",
        )
            .prop_map(move |(cut, upper, tail)| {
                let head: String = reference
                    .chars()
                    .take(cut)
                    .zip(upper)
                    .map(|(c, up)| if up { c.to_ascii_uppercase() } else { c })
                    .collect();
                head + &tail
            })
    }

    proptest! {
        #[test]
        fn own_canonical_string_matches(reference in reference_strategy(), case in case_strategy()) {
            let compiled = SearchPattern::new(&reference, case).unwrap();
            prop_assert!(compiled.matches(&reference));
            prop_assert_eq!(compiled.literal_prefix(), reference.as_str());
        }

        #[test]
        fn star_matches_everything(reference in reference_strategy(), case in case_strategy()) {
            prop_assert!(SearchPattern::new("*", case).unwrap().matches(&reference));
        }

        #[test]
        fn agrees_with_naive_matcher(
            text in "[abAB/@*?!\\[\\]]{0,8}",
            reference in "[abAB/@!\\[\\]]{0,10}",
            case in case_strategy(),
        ) {
            // Random patterns may exceed GitLab's wildcard limit; those are refused, not matched.
            prop_assume!(text.matches('*').count() <= SearchPattern::MAX_WILDCARDS);
            let compiled = SearchPattern::new(&text, case).unwrap();
            prop_assert_eq!(compiled.matches(&reference), naive_matches(&text, case, &reference));
        }

        #[test]
        fn literal_prefix_is_a_necessary_condition(
            (reference, text) in reference_strategy()
                .prop_flat_map(|r| (Just(r.clone()), prop_oneof![pattern_near(r), "[a-z.*?/@!\\[\\]-]{0,10}"])),
            case in case_strategy(),
        ) {
            prop_assume!(text.matches('*').count() <= SearchPattern::MAX_WILDCARDS);
            let compiled = SearchPattern::new(&text, case).unwrap();
            if compiled.matches(&reference) {
                let prefix = compiled.literal_prefix();
                let starts = match case {
                    CaseSensitivity::Sensitive => reference.starts_with(prefix),
                    CaseSensitivity::Insensitive => reference
                        .to_ascii_lowercase()
                        .starts_with(&prefix.to_ascii_lowercase()),
                };
                prop_assert!(starts, "{:?} matches {:?} but prefix is {:?}", text, reference, prefix);
            }
        }

        #[test]
        fn never_panics(text in "\\PC{0,210}", other in ".{0,40}", case in case_strategy()) {
            let chars = text.chars().count();
            let stars = text.chars().filter(|&c| c == '*').count();
            match SearchPattern::new(&text, case) {
                Ok(compiled) => {
                    prop_assert!(chars <= 200 && stars <= 5);
                    prop_assert!(text.starts_with(compiled.literal_prefix()));
                    let _ = compiled.matches(&other);
                    let _ = compiled.matches(&text);
                }
                Err(SearchPatternError::TooLong { length }) => prop_assert_eq!(length, chars),
                Err(SearchPatternError::TooManyWildcards { count }) => {
                    prop_assert!(chars <= 200);
                    prop_assert_eq!(count, stars);
                }
            }
        }

        #[test]
        fn never_panics_on_bracket_soup(
            text in "[a-c!\\[\\]\\-^\\\\*?]{0,16}",
            reference in "[a-c!\\[\\]\\-^\\\\/@]{0,12}",
            case in case_strategy(),
        ) {
            if let Ok(compiled) = SearchPattern::new(&text, case) {
                let _ = compiled.matches(&reference);
            }
        }
    }
}
