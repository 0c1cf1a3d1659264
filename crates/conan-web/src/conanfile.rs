//! What a `conanfile.py` declares about its package, read without running it: a best-effort
//! scan for assignments of literal strings (or tuples and lists of literal strings) to the
//! attributes a recipe page shows. Anything computed (an f-string, a variable, a call, a string
//! built with `+`) is left out rather than guessed; nothing in the file is ever executed or
//! imported. An assignment anywhere in the file counts, the first one of each name wins.

/// The most of a `conanfile.py` that is read: real recipes are a few KiB.
pub(crate) const MAX_CONANFILE_BYTES: usize = 256 * 1024;

/// The longest value kept of one attribute, in characters; longer ones are cut with `…`.
const MAX_VALUE_CHARS: usize = 2000;

/// The most topics or licenses kept.
const MAX_ITEMS: usize = 50;

/// The attributes of a recipe that could be read as literals.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RecipeMetadata {
    /// `description`.
    pub(crate) description: Option<String>,
    /// `license`: one string or several.
    pub(crate) license: Vec<String>,
    /// `homepage`.
    pub(crate) homepage: Option<String>,
    /// `url`: where the recipe itself lives.
    pub(crate) url: Option<String>,
    /// `author`.
    pub(crate) author: Option<String>,
    /// `topics`.
    pub(crate) topics: Vec<String>,
}

impl RecipeMetadata {
    /// Whether nothing could be read.
    #[must_use]
    pub(crate) fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Reads the literal attributes of `source` (only its first [`MAX_CONANFILE_BYTES`] bytes,
/// cut at a character boundary).
#[must_use]
pub(crate) fn read_metadata(source: &str) -> RecipeMetadata {
    let mut end = source.len().min(MAX_CONANFILE_BYTES);
    while !source.is_char_boundary(end) {
        end -= 1;
    }
    let tokens = tokenize(&source[..end]);
    let mut metadata = RecipeMetadata::default();
    let mut index = 0;
    while index < tokens.len() {
        let at_line_start = index == 0 || tokens[index - 1] == Token::Newline;
        if at_line_start
            && let (Some(Token::Ident(name)), Some(Token::Assign)) =
                (tokens.get(index), tokens.get(index + 1))
            && let Some(value) = literal(&tokens[index + 2..])
        {
            assign(&mut metadata, name, value);
        }
        index += 1;
    }
    metadata
}

/// A literal value: one string, or a tuple or list of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value {
    /// A string.
    One(String),
    /// Several strings.
    Many(Vec<String>),
}

/// Records `value` as attribute `name` unless it is set already.
fn assign(metadata: &mut RecipeMetadata, name: &str, value: Value) {
    let one = |slot: &mut Option<String>, value: Value| {
        if slot.is_none()
            && let Value::One(text) = value
        {
            *slot = Some(cut(text));
        }
    };
    let many = |slot: &mut Vec<String>, value: Value| {
        if slot.is_empty() {
            *slot = match value {
                Value::One(text) => vec![cut(text)],
                Value::Many(items) => items.into_iter().take(MAX_ITEMS).map(cut).collect(),
            };
        }
    };
    match name {
        "description" => one(&mut metadata.description, value),
        "homepage" => one(&mut metadata.homepage, value),
        "url" => one(&mut metadata.url, value),
        "author" => one(&mut metadata.author, value),
        "license" => many(&mut metadata.license, value),
        "topics" => many(&mut metadata.topics, value),
        _ => {}
    }
}

/// `text` cut to [`MAX_VALUE_CHARS`] characters.
fn cut(text: String) -> String {
    if text.chars().count() <= MAX_VALUE_CHARS {
        text
    } else {
        let mut short: String = text.chars().take(MAX_VALUE_CHARS).collect();
        short.push('…');
        short
    }
}

/// The literal value at the start of `tokens`, if the whole rest of the logical line is one.
fn literal(tokens: &[Token]) -> Option<Value> {
    let (value, used) = match tokens.first()? {
        Token::Str(_) => {
            let (text, used) = strings(tokens)?;
            (Value::One(text), used)
        }
        Token::Open(open @ ('(' | '[')) => {
            let mut items = Vec::new();
            let mut position = 1;
            let mut commas = 0;
            loop {
                match tokens.get(position)? {
                    Token::Close(close) if *close == matching(*open) => break,
                    Token::Str(_) => {
                        let (text, used) = strings(&tokens[position..])?;
                        items.push(text);
                        position += used;
                        match tokens.get(position)? {
                            Token::Comma => {
                                commas += 1;
                                position += 1;
                            }
                            Token::Close(_) => {}
                            _ => return None,
                        }
                    }
                    _ => return None,
                }
            }
            let value = if *open == '(' && commas == 0 && items.len() == 1 {
                // `("a" "b")` is a parenthesized string, not a tuple.
                Value::One(items.pop()?)
            } else {
                Value::Many(items)
            };
            (value, position + 1)
        }
        _ => return None,
    };
    match tokens.get(used) {
        None | Some(Token::Newline) => Some(value),
        _ => None,
    }
}

/// Adjacent literal strings at the start of `tokens`, concatenated as Python does, and how
/// many tokens they took; `None` if one of them is not a literal (an f-string).
fn strings(tokens: &[Token]) -> Option<(String, usize)> {
    let mut text = String::new();
    let mut used = 0;
    while let Some(Token::Str(part)) = tokens.get(used) {
        text.push_str(part.as_deref()?);
        used += 1;
    }
    Some((text, used))
}

/// The bracket closing `open`.
fn matching(open: char) -> char {
    match open {
        '(' => ')',
        '[' => ']',
        _ => '}',
    }
}

/// What the scan tells apart in Python source.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// A name.
    Ident(String),
    /// A string literal's value; `None` for one that is computed (f-strings) or bytes.
    Str(Option<String>),
    /// `=` alone (not `==`, `+=`, ...).
    Assign,
    /// `(`, `[` or `{`.
    Open(char),
    /// `)`, `]` or `}`.
    Close(char),
    /// `,`.
    Comma,
    /// The end of a logical line (newlines inside brackets do not end it).
    Newline,
    /// Anything else.
    Other,
}

/// Splits `source` into [`Token`]s: enough of Python's lexical rules to find assignments of
/// literals, and to never mistake the inside of a string or a comment for code.
fn tokenize(source: &str) -> Vec<Token> {
    let chars: Vec<char> = source.chars().collect();
    let mut tokens = Vec::new();
    let mut depth: usize = 0;
    let mut index = 0;
    while index < chars.len() {
        let c = chars[index];
        match c {
            '#' => {
                while index < chars.len() && chars[index] != '\n' {
                    index += 1;
                }
                continue;
            }
            '\n' => {
                if depth == 0 && tokens.last() != Some(&Token::Newline) {
                    tokens.push(Token::Newline);
                }
            }
            '\\' if chars.get(index + 1) == Some(&'\n') => index += 1,
            c if c.is_whitespace() => {}
            '"' | '\'' => {
                let (token, next) = string(&chars, index, "");
                tokens.push(token);
                index = next;
                continue;
            }
            c if c.is_alphabetic() || c == '_' => {
                let start = index;
                while index < chars.len() && (chars[index].is_alphanumeric() || chars[index] == '_')
                {
                    index += 1;
                }
                let word: String = chars[start..index].iter().collect();
                let prefix = word.to_ascii_lowercase();
                if matches!(chars.get(index), Some('"' | '\''))
                    && matches!(
                        prefix.as_str(),
                        "r" | "u" | "f" | "b" | "rb" | "br" | "fr" | "rf"
                    )
                {
                    let (token, next) = string(&chars, index, &prefix);
                    tokens.push(token);
                    index = next;
                } else {
                    tokens.push(Token::Ident(word));
                }
                continue;
            }
            '=' => {
                let previous_is_operator = index > 0
                    && matches!(
                        chars[index - 1],
                        '=' | '!' | '<' | '>' | '+' | '-' | '*' | '/' | '%' | '&' | '|' | '^' | ':'
                    );
                if chars.get(index + 1) == Some(&'=') {
                    tokens.push(Token::Other);
                    index += 1;
                } else if previous_is_operator {
                    tokens.push(Token::Other);
                } else {
                    tokens.push(Token::Assign);
                }
            }
            '(' | '[' | '{' => {
                depth += 1;
                tokens.push(Token::Open(c));
            }
            ')' | ']' | '}' => {
                depth = depth.saturating_sub(1);
                tokens.push(Token::Close(c));
            }
            ',' => tokens.push(Token::Comma),
            _ => tokens.push(Token::Other),
        }
        index += 1;
    }
    tokens
}

/// The string literal whose opening quote is at `start`, with `prefix` (lower-case) before it;
/// returns the token and the index after the closing quote. An unterminated string ends the
/// token at the end of its line (or of the file, for a triple-quoted one) as [`Token::Other`].
fn string(chars: &[char], start: usize, prefix: &str) -> (Token, usize) {
    let quote = chars[start];
    let triple = chars.get(start + 1) == Some(&quote) && chars.get(start + 2) == Some(&quote);
    let raw = prefix.contains('r');
    let literal = !prefix.contains('f') && !prefix.contains('b');
    let mut index = start + if triple { 3 } else { 1 };
    let mut text = String::new();
    loop {
        let Some(&c) = chars.get(index) else {
            return (Token::Other, index);
        };
        if triple {
            if c == quote
                && chars.get(index + 1) == Some(&quote)
                && chars.get(index + 2) == Some(&quote)
            {
                index += 3;
                break;
            }
        } else if c == quote {
            index += 1;
            break;
        } else if c == '\n' {
            return (Token::Other, index);
        }
        if c == '\\'
            && let Some(&next) = chars.get(index + 1)
        {
            if raw {
                text.push(c);
                text.push(next);
            } else {
                match next {
                    'n' => text.push('\n'),
                    't' => text.push('\t'),
                    '\n' => {}
                    '\\' | '\'' | '"' => text.push(next),
                    other => {
                        text.push('\\');
                        text.push(other);
                    }
                }
            }
            index += 2;
            continue;
        }
        text.push(c);
        index += 1;
    }
    (Token::Str(literal.then_some(text)), index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_literal_attributes_of_a_typical_recipe() {
        let source = r#"
from conan import ConanFile
import os

class ZlibConan(ConanFile):
    name = "zlib"
    version = "1.3"
    # description = "not this one, a comment"
    description = ("A massively spiffy yet delicately unobtrusive "
                   'compression library')
    license = "Zlib"
    homepage = 'https://zlib.net'
    url = "https://github.com/conan-io/conan-center-index"
    author = """Jean-loup Gailly and
Mark Adler"""
    topics = ("zlib", "compression",
              "deflate",)
    settings = "os", "arch", "compiler", "build_type"

    def package_info(self):
        self.cpp_info.libs = ["z"]
"#;
        let metadata = read_metadata(source);
        assert_eq!(
            metadata,
            RecipeMetadata {
                description: Some(
                    "A massively spiffy yet delicately unobtrusive compression library".to_owned()
                ),
                license: vec!["Zlib".to_owned()],
                homepage: Some("https://zlib.net".to_owned()),
                url: Some("https://github.com/conan-io/conan-center-index".to_owned()),
                author: Some("Jean-loup Gailly and\nMark Adler".to_owned()),
                topics: vec!["zlib".into(), "compression".into(), "deflate".into()],
            }
        );
    }

    #[test]
    fn leaves_out_what_is_computed() {
        let source = r#"
class Pkg(ConanFile):
    description = f"built for {os.name}"
    license = LICENSE
    homepage = "https://" + host
    author = get_author()
    topics = ["a", some_topic]
    url = "https://example.org"  # a comment after a literal is fine
"#;
        let metadata = read_metadata(source);
        assert_eq!(
            metadata,
            RecipeMetadata {
                url: Some("https://example.org".to_owned()),
                ..RecipeMetadata::default()
            }
        );
    }

    #[test]
    fn strings_in_strings_and_comparisons_are_not_assignments() {
        let source = "x = 'description = \"no\"'\nif description == \"no\": pass\nlicense = ['MIT', 'Apache-2.0']\nhomepage += 'x'\n";
        let metadata = read_metadata(source);
        assert_eq!(metadata.description, None);
        assert_eq!(metadata.homepage, None);
        assert_eq!(metadata.license, ["MIT", "Apache-2.0"]);
    }

    #[test]
    fn hostile_or_broken_input_never_panics() {
        for source in [
            "",
            "description = ",
            "description = \"unterminated",
            "description = '''never closed",
            "description = (\"a\",",
            "topics = ((((((",
            "))))) description = 'x'",
            "description = r'\\'",
            "description = '\\",
            "é = 'ü'\ndescription = 'ünïcode ✓'",
        ] {
            let _ = read_metadata(source);
        }
        assert_eq!(
            read_metadata("é = 'ü'\ndescription = 'ünïcode ✓'")
                .description
                .as_deref(),
            Some("ünïcode ✓")
        );
        let long = format!("description = '{}'", "x".repeat(5000));
        let description = read_metadata(&long).description.unwrap();
        assert_eq!(description.chars().count(), MAX_VALUE_CHARS + 1);
        assert!(description.ends_with('…'));
    }

    #[test]
    fn reads_only_the_first_part_of_a_huge_file_at_a_character_boundary() {
        let mut source = "description = 'first'\n".to_owned();
        source.push_str(&"é".repeat(MAX_CONANFILE_BYTES));
        source.push_str("\nlicense = 'never read'\n");
        let metadata = read_metadata(&source);
        assert_eq!(metadata.description.as_deref(), Some("first"));
        assert!(metadata.license.is_empty());
    }
}
