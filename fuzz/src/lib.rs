//! Oracles shared by the fuzz targets: small, independent re-statements of the rules the product
//! code implements, so a target can check that the product accepts exactly what the rules allow,
//! not merely that it does not panic.
//!
//! Each oracle is written from the documentation of the rule (the module docs of `conan-model`,
//! `docs/SECURITY.md`), not from the product code, and is kept as plain as possible: a bug has to
//! be made twice, in two different shapes, to go unnoticed.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use hmac::{Hmac, Mac as _};
use sha2::Sha256;

/// Splits fuzz input into `N` byte fields at `0x00` bytes; the last field takes the rest
/// (including any further `0x00`). Missing fields are empty.
#[must_use]
pub fn fields<const N: usize>(data: &[u8]) -> [&[u8]; N] {
    let mut out = [&data[..0]; N];
    let mut rest = data;
    for (index, slot) in out.iter_mut().enumerate() {
        if index + 1 == N {
            *slot = rest;
            break;
        }
        if let Some(at) = rest.iter().position(|&byte| byte == 0) {
            *slot = &rest[..at];
            rest = &rest[at + 1..];
        } else {
            *slot = rest;
            rest = &rest[rest.len()..];
        }
    }
    out
}

/// Whether `text` is exactly `length` lowercase hexadecimal digits.
#[must_use]
pub fn is_lower_hex(text: &str, length: usize) -> bool {
    text.len() == length
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// The reference component grammar `[A-Za-z0-9_][A-Za-z0-9_+.-]{1,100}`.
#[must_use]
pub fn valid_component(text: &str) -> bool {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    let count = text.chars().count();
    (2..=101).contains(&count)
        && (first.is_ascii_alphanumeric() || first == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_+.-".contains(c))
}

/// The parts of a recipe reference `name/version[@user[/channel]]`, if `text` is one
/// (components valid, whole string at most 200 characters).
#[must_use]
pub fn recipe_parts(text: &str) -> Option<[Option<&str>; 4]> {
    if text.len() > 200 {
        return None;
    }
    // No component may contain `/` or `@`, so the grammar has exactly one reading.
    let at_count = text.matches('@').count();
    let (left, right) = match at_count {
        0 => (text, None),
        1 => {
            let at = text.find('@')?;
            (&text[..at], Some(&text[at + 1..]))
        }
        _ => return None,
    };
    let left: Vec<&str> = left.split('/').collect();
    let [name, version] = left.as_slice() else {
        return None;
    };
    let (user, channel) = match right {
        None => (None, None),
        Some(right) => {
            let right: Vec<&str> = right.split('/').collect();
            match right.as_slice() {
                [user] => (Some(*user), None),
                [user, channel] => (Some(*user), Some(*channel)),
                _ => return None,
            }
        }
    };
    let parts = [Some(*name), Some(*version), user, channel];
    parts
        .iter()
        .flatten()
        .all(|part| valid_component(part))
        .then_some(parts)
}

/// Whether `text` is a full reference `recipe[#rrev][:package_id[#prev]]`.
#[must_use]
pub fn is_full_reference(text: &str) -> bool {
    let revision = |r: &str| r == "0" || is_lower_hex(r, 32) || is_lower_hex(r, 40);
    // Components never contain `#` or `:`, so the recipe ends at the first of them.
    let end = text.find(['#', ':']).unwrap_or(text.len());
    if recipe_parts(&text[..end]).is_none() {
        return false;
    }
    let mut rest = &text[end..];
    if let Some(after) = rest.strip_prefix('#') {
        let stop = after.find(':').unwrap_or(after.len());
        if !revision(&after[..stop]) {
            return false;
        }
        rest = &after[stop..];
    }
    if rest.is_empty() {
        return true;
    }
    let Some(package) = rest.strip_prefix(':') else {
        return false;
    };
    match package.split_once('#') {
        None => is_lower_hex(package, 40),
        Some((id, prev)) => is_lower_hex(id, 40) && revision(prev),
    }
}

/// Whether `text` passes the file path safety rules of `conan_model::path`.
#[must_use]
pub fn is_safe_path(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 1024
        && !text.chars().any(char::is_control)
        && !text.contains('\\')
        && text.split('/').all(|segment| {
            !segment.is_empty() && segment != "." && segment != ".." && segment.len() <= 255
        })
}

/// The HMAC-SHA256 of `message` under `secret`.
#[must_use]
pub fn hmac_sha256(secret: &[u8], message: &[u8]) -> Vec<u8> {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        unreachable!("HMAC takes keys of any length")
    };
    mac.update(message);
    mac.finalize().into_bytes().to_vec()
}

/// Base64url that accepts the value with or without padding, so the oracle never rejects what a
/// lenient decoder might have accepted.
pub const URL_SAFE_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Base64url without padding, as JWTs are written.
pub const URL_SAFE_NO_PAD: GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Decodes one base64url part of a JWT, leniently about padding.
#[must_use]
pub fn decode_part(part: &str) -> Option<Vec<u8>> {
    URL_SAFE_LENIENT.decode(part).ok()
}

/// A shell-glob search pattern matcher written from `conan_model::search`'s documented semantics
/// (Python's `fnmatch` against whole-token prefixes of the reference), by dynamic programming
/// rather than the product's automaton. It does not model bracket ranges, whose translation by
/// Python has quirks the product reproduces; [`glob_matches`] returns `None` for those.
pub mod glob {
    /// One element of a parsed pattern.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Element {
        Literal(char),
        One,
        Run,
        Class { negated: bool, members: Vec<char> },
    }

    /// Parses like `fnmatch.translate`, or `None` if a bracket expression holds a `-`.
    fn parse(pattern: &[char]) -> Option<Vec<Element>> {
        let mut elements = Vec::new();
        let mut i = 0;
        while i < pattern.len() {
            let c = pattern[i];
            i += 1;
            match c {
                '*' => elements.push(Element::Run),
                '?' => elements.push(Element::One),
                '[' => {
                    let mut j = i;
                    if pattern.get(j) == Some(&'!') {
                        j += 1;
                    }
                    if pattern.get(j) == Some(&']') {
                        j += 1;
                    }
                    while j < pattern.len() && pattern[j] != ']' {
                        j += 1;
                    }
                    if j >= pattern.len() {
                        elements.push(Element::Literal('['));
                        continue;
                    }
                    let body = &pattern[i..j];
                    if body.contains(&'-') {
                        return None;
                    }
                    let (negated, members) = match body {
                        ['!', members @ ..] => (true, members.to_vec()),
                        members => (false, members.to_vec()),
                    };
                    elements.push(Element::Class { negated, members });
                    i = j + 1;
                }
                literal => elements.push(Element::Literal(literal)),
            }
        }
        Some(elements)
    }

    fn same(a: char, b: char, insensitive: bool) -> bool {
        if insensitive {
            a.eq_ignore_ascii_case(&b)
        } else {
            a == b
        }
    }

    fn accepts(element: &Element, c: char, insensitive: bool) -> bool {
        match element {
            Element::Literal(literal) => same(*literal, c, insensitive),
            Element::One | Element::Run => true,
            Element::Class { negated, members } => {
                members.iter().any(|&m| same(m, c, insensitive)) != *negated
            }
        }
    }

    /// Whether `pattern` matches `reference`, or `None` when the pattern has a bracket range.
    #[must_use]
    pub fn glob_matches(pattern: &str, insensitive: bool, reference: &str) -> Option<bool> {
        if pattern.is_empty() {
            return Some(true);
        }
        let pattern: Vec<char> = pattern.chars().collect();
        let elements = parse(&pattern)?;
        let text: Vec<char> = reference.chars().collect();
        // row[j]: the elements seen so far match text[..j].
        let mut row = vec![false; text.len() + 1];
        row[0] = true;
        for element in &elements {
            let mut next = vec![false; text.len() + 1];
            for j in 0..=text.len() {
                next[j] = match element {
                    Element::Run => row[j] || (j > 0 && next[j - 1]),
                    _ => j > 0 && row[j - 1] && accepts(element, text[j - 1], insensitive),
                };
            }
            row = next;
        }
        // The cumulative token prefixes end just before or after a separator, or at the end.
        let separator = |c: char| c == '/' || c == '@';
        Some((1..=text.len()).any(|end| {
            let boundary = end == text.len() || separator(text[end - 1]) || separator(text[end]);
            boundary && row[end]
        }))
    }
}

pub use glob::glob_matches;
