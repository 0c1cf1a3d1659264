//! `conaninfo.txt` parsing.
//!
//! Invariants: parsing never panics; an accepted file renders to the canonical layout, which
//! parses back to an equal value and renders identically again; what the parser kept is clean
//! (valid section names, trimmed non-empty lines, no comment or header lines, non-empty keys). A
//! refused file names a line that exists, and its message stays short whatever the input.

#![no_main]

use conan_model::ConanInfo;
use libfuzzer_sys::fuzz_target;

fn check_accepted(info: &ConanInfo) {
    let rendered = info.to_string();
    let again = ConanInfo::parse(&rendered).expect("the canonical rendering parses");
    assert_eq!(&again, info, "{rendered:?}");
    assert_eq!(again.to_string(), rendered);

    let mut names = Vec::new();
    for (name, lines) in info.sections() {
        assert!((2..=50).contains(&name.len()), "{name:?}");
        assert!(
            name.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
            "{name:?}"
        );
        assert!(!names.contains(&name), "section {name} twice");
        names.push(name);
        for line in lines {
            assert!(!line.is_empty());
            assert_eq!(line.trim(), line);
            assert!(!line.starts_with('#') && !line.starts_with('['), "{line:?}");
            assert!(!line.contains(['\n', '\r']), "{line:?}");
        }
        assert_eq!(info.section(name), Some(lines));
    }
    for map in [info.settings(), info.options()] {
        for (key, value) in map {
            assert!(!key.is_empty());
            assert_eq!(key.trim(), key);
            assert_eq!(value.trim(), value);
        }
    }
    if let Some(hash) = info.recipe_hash() {
        assert_eq!(
            info.section("recipe_hash").map(<[String]>::len),
            Some(1),
            "{hash:?}"
        );
    }
    let summary = info.summary();
    assert_eq!(&summary.settings, info.settings());
    assert_eq!(&summary.options, info.options());
    assert_eq!(summary.requires, info.requires());
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match ConanInfo::parse(&text) {
        Ok(info) => check_accepted(&info),
        Err(error) => {
            // Lines end at `\n`, `\r\n` or a lone `\r`.
            let lines = text.replace("\r\n", "\n").split(['\n', '\r']).count();
            assert!(
                (1..=lines).contains(&error.line()),
                "{error:?} of {lines} lines"
            );
            let message = error.to_string();
            assert!(message.len() < 2048, "{} bytes: {message}", message.len());
        }
    }
});
