//! File paths inside a revision.
//!
//! Invariants: a path is accepted exactly when the safety rules allow it (checked against an
//! independent oracle); an accepted path has only normal components to the operating system (no
//! root, no `.` or `..`, nothing that escapes a directory it is joined to), holds no backslash,
//! NUL or other control character, renders as written and is classified consistently.

#![no_main]

use std::path::{Component, Path};

use conan_model::{FileKind, FilePath};
use conan_registry_fuzz::is_safe_path;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    let parsed = text.parse::<FilePath>();
    assert_eq!(parsed.is_ok(), is_safe_path(text), "{text:?}: {parsed:?}");
    let Ok(path) = parsed else { return };

    assert_eq!(path.as_str(), text);
    assert!(!text.starts_with('/'));
    assert!(!text.contains('\\') && !text.contains('\0'));
    assert!(!text.chars().any(char::is_control));
    assert!(
        path.segments()
            .all(|s| !s.is_empty() && s != "." && s != "..")
    );

    // What the filesystem blob store does with it: join under a base directory.
    let components: Vec<Component<'_>> = Path::new(text).components().collect();
    assert!(
        components.iter().all(|c| matches!(c, Component::Normal(_))),
        "{text:?}: {components:?}"
    );
    assert_eq!(components.len(), path.segments().count());
    let base = Path::new("/srv/blobs/rrev");
    let joined = base.join(text);
    assert!(joined.starts_with(base) && joined != base);

    let kind = path.kind();
    assert_eq!(kind == FileKind::Metadata, text.starts_with("metadata/"));
    assert_eq!(path.is_immutable(), kind != FileKind::Metadata);
    assert_eq!(path.commits_revision(), text == "conanmanifest.txt");
    assert!(kind.belongs_to_recipe() || kind.belongs_to_package());

    let json = serde_json::to_string(&path).expect("a path serializes");
    assert_eq!(
        serde_json::from_str::<FilePath>(&json).ok().as_ref(),
        Some(&path)
    );
});
