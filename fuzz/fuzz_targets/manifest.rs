//! `conanmanifest.txt` parsing.
//!
//! Invariants: parsing never panics; an accepted manifest renders to the text Conan writes, which
//! parses back to an equal value and renders identically again; every listed file has a
//! non-empty path and a 32-digit lowercase hex MD5 that `md5_of` finds. A refused manifest names
//! a line that exists, and its message stays short whatever the input.

#![no_main]

use conan_model::Manifest;
use conan_registry_fuzz::is_lower_hex;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    match Manifest::parse(&text) {
        Ok(manifest) => {
            let rendered = manifest.to_string();
            let again = Manifest::parse(&rendered).expect("the canonical rendering parses");
            assert_eq!(again, manifest, "{rendered:?}");
            assert_eq!(again.to_string(), rendered);
            assert!(rendered.starts_with(&format!("{}\n", manifest.timestamp())));

            let files: Vec<(&str, &str)> = manifest.files().collect();
            assert_eq!(files.len(), manifest.len());
            assert_eq!(manifest.is_empty(), files.is_empty());
            assert!(
                files.windows(2).all(|pair| pair[0].0 < pair[1].0),
                "sorted, distinct"
            );
            for (path, md5) in files {
                assert!(!path.is_empty());
                assert!(is_lower_hex(md5, 32), "{md5:?}");
                assert_eq!(manifest.md5_of(path), Some(md5));
            }
        }
        Err(error) => {
            let lines = text.split('\n').count();
            if let Some(line) = error.line() {
                assert!((1..=lines).contains(&line), "{error:?} of {lines} lines");
            }
            let message = error.to_string();
            assert!(message.len() < 2048, "{} bytes: {message}", message.len());
        }
    }
});
