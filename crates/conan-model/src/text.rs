//! Small text helpers shared by the parsers of this crate.

/// How many characters of offending input an error message quotes.
const SNIPPET_CHARS: usize = 80;

/// Whether `text` is exactly `length` lowercase hexadecimal digits, the form every Conan client
/// writes digests, revisions and package ids in.
pub(crate) fn is_lower_hex(text: &str, length: usize) -> bool {
    text.len() == length
        && text
            .bytes()
            .all(|byte| matches!(byte, b'0'..=b'9' | b'a'..=b'f'))
}

/// Shortens `text` for quoting in an error message, so huge lines do not flood the message.
pub(crate) fn snippet(text: &str) -> String {
    match text.char_indices().nth(SNIPPET_CHARS) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or(text)),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lower_hex() {
        assert!(is_lower_hex("0123456789abcdef", 16));
        assert!(!is_lower_hex("0123456789ABCDEF", 16));
        assert!(!is_lower_hex("0123456789abcdeg", 16));
        assert!(!is_lower_hex("00", 3));
    }

    #[test]
    fn snippets_are_cut_on_character_boundaries() {
        assert_eq!(snippet("short"), "short");
        let long = "é".repeat(100);
        let cut = snippet(&long);
        assert_eq!(cut.chars().count(), SNIPPET_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
