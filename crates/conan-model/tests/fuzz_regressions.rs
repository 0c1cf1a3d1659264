//! Inputs from the fuzz targets (`fuzz/README.md`), replayed as plain tests through the same
//! code with the same invariants, so they run with every `cargo nextest` and stay fixed.
//!
//! Every crash a fuzz target finds gets a test here, next to its fix. The long campaign of
//! 2026-11-22 found none in this crate; a CI run of the `revision` target later found one (the
//! first test below). The other tests pin the invariants the targets check that the unit tests do
//! not: accepted paths are harmless to `std::path`, and error messages stay short however hostile
//! the input.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "tests: a panic is the failure report"
)]

use std::path::{Component, Path};

use conan_model::{ConanInfo, FilePath, Manifest, RevisionTime};

/// Found by the `revision` target in CI: a time whose offset puts its UTC date past 9999-12-31
/// panicked inside `time` when converted to UTC. Such a time is now refused as out of range, and
/// times at the edges with offsets parse to the right instant.
#[test]
fn times_whose_utc_date_leaves_the_range_are_refused_not_panics() {
    for text in [
        "9999-12-31T21:59:20.4-03:00",
        "9999-12-31T23:59:59.999999-00:01",
        "0000-01-01T00:00:00+00:01",
    ] {
        assert!(text.parse::<RevisionTime>().is_err(), "{text:?}");
    }
    let edge: RevisionTime = "9999-12-31T20:59:59.999999-03:00".parse().unwrap();
    assert_eq!(edge, RevisionTime::MAX);
    let edge: RevisionTime = "0000-01-01T01:00:00+01:00".parse().unwrap();
    assert_eq!(edge, RevisionTime::MIN);
}

/// The `file_path` target's invariant: an accepted path has only normal components and stays
/// inside any directory it is joined to. These are the oddest paths the rules accept.
#[test]
fn accepted_paths_are_plain_relative_paths() {
    let base = Path::new("/srv/blobs/rrev");
    for text in [
        "...",
        ".conan",
        "a/.../b",
        "metadata/a..b",
        "metadata/..a",
        "C:",
        "C:x",
        "~",
        "~/x",
        " ",
        " /x",
        "%2e%2e/x",
        "metadata/\u{202e}txt.exe",
        "metadata/\u{feff}",
    ] {
        let path: FilePath = text.parse().unwrap();
        let components: Vec<Component<'_>> = Path::new(path.as_str()).components().collect();
        assert!(
            components.iter().all(|c| matches!(c, Component::Normal(_))),
            "{text:?}: {components:?}"
        );
        assert_eq!(components.len(), path.segments().count(), "{text:?}");
        assert!(base.join(path.as_str()).starts_with(base), "{text:?}");
    }
}

/// The refusals the `file_path` oracle and `std::path` agree are dangerous.
#[test]
fn dangerous_paths_are_refused() {
    for text in [
        "/x",
        "//x",
        "./x",
        "x/.",
        "x/./y",
        "../x",
        "x/..",
        "x/../../y",
        "x\\..\\y",
        "x//y",
        "x/",
        "x\0",
        "x\u{85}",
        "x\u{9b}",
        "\u{7f}",
    ] {
        assert!(text.parse::<FilePath>().is_err(), "{text:?} was accepted");
    }
}

/// The `conaninfo` and `manifest` targets' invariant: an error quotes at most a snippet of the
/// input, so a hostile file cannot blow up a response or a log line, even when every character
/// needs escaping.
#[test]
fn error_messages_stay_short_on_escape_heavy_lines() {
    let hostile = "\u{1}\u{10ffff}\"\\".repeat(20_000);
    let conaninfo_cases = [
        format!("{hostile}\n"),
        format!("[{hostile}]\n"),
        format!("[settings]\n{hostile}\n"),
        format!("[settings]\n={hostile}\n"),
        format!("[settings]\n{hostile}=1\n{hostile}=2\n"),
        format!("[recipe_hash]\na\n{hostile}\n"),
    ];
    for text in &conaninfo_cases {
        let message = ConanInfo::parse(text).unwrap_err().to_string();
        assert!(message.len() < 2048, "{} bytes", message.len());
    }
    let md5 = "d41d8cd98f00b204e9800998ecf8427e";
    let manifest_cases = [
        format!("{hostile}\n"),
        format!("1\n{hostile}\n"),
        format!("1\n: {hostile}\n"),
        format!("1\n{hostile}: {hostile}\n"),
        format!("1\n{hostile}: {md5}\n{hostile}: {md5}\n"),
    ];
    for text in &manifest_cases {
        let message = Manifest::parse(text).unwrap_err().to_string();
        assert!(message.len() < 2048, "{} bytes", message.len());
    }
}
