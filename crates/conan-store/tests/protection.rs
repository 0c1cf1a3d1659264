//! The conformance suite of [`ProtectionStore`]: package protection rules, the same test
//! functions on SQLite and on PostgreSQL (see `support`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is the failure report"
)]

mod support;

use conan_model::PackageNamePattern;
use conan_store::db::DieselStore;
use conan_store::{
    AccessLevel, IdentityStore, LevelUpdate, NewProtectionRule, PackageType, ProjectId,
    ProtectionRule, ProtectionRuleId, ProtectionRuleUpdate, ProtectionStore, StoreError,
    Visibility,
};

use AccessLevel::{Admin, Maintainer, Owner};

fn project(store: &DieselStore, path: &str) -> ProjectId {
    store.create_project(path, Visibility::Private).unwrap().id
}

fn pattern(text: &str) -> PackageNamePattern {
    text.parse().unwrap()
}

fn new_rule(
    glob: &str,
    package_type: PackageType,
    push: Option<AccessLevel>,
    delete: Option<AccessLevel>,
) -> NewProtectionRule {
    NewProtectionRule {
        package_name_pattern: pattern(glob),
        package_type,
        minimum_access_level_for_push: push,
        minimum_access_level_for_delete: delete,
    }
}

fn conan(
    store: &DieselStore,
    project: ProjectId,
    glob: &str,
    push: Option<AccessLevel>,
) -> ProtectionRule {
    store
        .create_protection_rule(project, &new_rule(glob, PackageType::Conan, push, None))
        .unwrap()
}

fn patterns(rules: &[ProtectionRule]) -> Vec<&str> {
    rules
        .iter()
        .map(|rule| rule.package_name_pattern.as_str())
        .collect()
}

fn matching(store: &DieselStore, project: ProjectId, name: &str) -> Vec<String> {
    let rules = store
        .matching_protection_rules(project, PackageType::Conan, name)
        .unwrap();
    patterns(&rules).into_iter().map(str::to_owned).collect()
}

backend_tests! {
    fn rules_are_created_listed_updated_and_deleted(store: &DieselStore) {
        let project = project(store, "group/rules");
        let other = project_of_other(store);
        assert!(store.protection_rules(project).unwrap().is_empty());

        let first = store.create_protection_rule(project, &new_rule("zlib*", PackageType::Conan, Some(Maintainer), Some(Owner))).unwrap();
        assert_eq!(first.project, project);
        assert_eq!(first.package_name_pattern.as_str(), "zlib*");
        assert_eq!(first.package_type, PackageType::Conan);
        assert_eq!(first.minimum_access_level_for_push, Some(Maintainer));
        assert_eq!(first.minimum_access_level_for_delete, Some(Owner));
        // Every GitLab package type may be stored, whatever this registry enforces.
        let npm = store.create_protection_rule(project, &new_rule("@scope/*", PackageType::Npm, None, Some(Admin))).unwrap();
        let second = conan(store, project, "boost", Some(Admin));
        conan(store, other, "zlib*", Some(Owner));

        let listed = store.protection_rules(project).unwrap();
        assert_eq!(listed, vec![first.clone(), npm.clone(), second.clone()], "ordered by id");
        assert_eq!(store.protection_rule(project, first.id).unwrap(), Some(first.clone()));
        assert_eq!(store.protection_rule(other, first.id).unwrap(), None, "another project's id");

        let updated = store.update_protection_rule(project, first.id, &ProtectionRuleUpdate {
            package_name_pattern: Some(pattern("zlib-ng")),
            minimum_access_level_for_push: LevelUpdate::Clear,
            ..ProtectionRuleUpdate::default()
        }).unwrap().unwrap();
        assert_eq!(updated.package_name_pattern.as_str(), "zlib-ng");
        assert_eq!(updated.minimum_access_level_for_push, None);
        assert_eq!(updated.minimum_access_level_for_delete, Some(Owner), "kept");
        assert_eq!(store.protection_rule(project, first.id).unwrap(), Some(updated.clone()));
        let set = store.update_protection_rule(project, first.id, &ProtectionRuleUpdate {
            minimum_access_level_for_push: LevelUpdate::Set(Owner),
            package_type: Some(PackageType::Generic),
            ..ProtectionRuleUpdate::default()
        }).unwrap().unwrap();
        assert_eq!((set.package_type, set.minimum_access_level_for_push), (PackageType::Generic, Some(Owner)));

        // A rule of another project is not this project's to change or delete.
        assert_eq!(store.update_protection_rule(other, first.id, &ProtectionRuleUpdate::default()).unwrap(), None);
        assert_eq!(store.update_protection_rule(project, ProtectionRuleId(999_999), &ProtectionRuleUpdate::default()).unwrap(), None);
        assert!(!store.delete_protection_rule(other, first.id).unwrap());
        assert!(store.delete_protection_rule(project, first.id).unwrap());
        assert!(!store.delete_protection_rule(project, first.id).unwrap());
        assert_eq!(store.protection_rules(project).unwrap(), vec![npm, second]);
        assert_eq!(store.protection_rules(other).unwrap().len(), 1);
    }

    fn duplicates_and_invalid_rules_are_refused_and_change_nothing(store: &DieselStore) {
        let project = project(store, "group/refused");
        let zlib = conan(store, project, "zlib", Some(Maintainer));
        let boost = conan(store, project, "boost", Some(Maintainer));
        let before = store.protection_rules(project).unwrap();

        let duplicate = store.create_protection_rule(project, &new_rule("zlib", PackageType::Conan, None, Some(Owner))).unwrap_err();
        assert!(matches!(duplicate, StoreError::Conflict(_)), "{duplicate:?}");
        assert!(duplicate.to_string().contains("\"zlib\""), "{duplicate}");
        // The same pattern of another type, or in another case, is another rule.
        store.create_protection_rule(project, &new_rule("zlib", PackageType::Generic, Some(Maintainer), None)).unwrap();
        store.create_protection_rule(project, &new_rule("ZLIB", PackageType::Conan, Some(Maintainer), None)).unwrap();
        let before_invalid = store.protection_rules(project).unwrap();
        assert_eq!(before_invalid.len(), before.len() + 2);

        let no_level = store.create_protection_rule(project, &new_rule("x", PackageType::Conan, None, None)).unwrap_err();
        assert!(matches!(no_level, StoreError::Invalid(_)), "{no_level:?}");
        let maintainer_delete = store.create_protection_rule(project, &new_rule("x", PackageType::Conan, None, Some(Maintainer))).unwrap_err();
        assert!(matches!(maintainer_delete, StoreError::Invalid(_)), "{maintainer_delete:?}");
        let missing = store.create_protection_rule(ProjectId(999_999), &new_rule("x", PackageType::Conan, Some(Owner), None)).unwrap_err();
        assert!(matches!(missing, StoreError::NotFound(_)), "{missing:?}");

        let renamed = store.update_protection_rule(project, boost.id, &ProtectionRuleUpdate {
            package_name_pattern: Some(pattern("zlib")),
            ..ProtectionRuleUpdate::default()
        }).unwrap_err();
        assert!(matches!(renamed, StoreError::Conflict(_)), "{renamed:?}");
        let emptied = store.update_protection_rule(project, zlib.id, &ProtectionRuleUpdate {
            minimum_access_level_for_push: LevelUpdate::Clear,
            ..ProtectionRuleUpdate::default()
        }).unwrap_err();
        assert!(matches!(emptied, StoreError::Invalid(_)), "{emptied:?}");
        let bad_delete = store.update_protection_rule(project, zlib.id, &ProtectionRuleUpdate {
            minimum_access_level_for_delete: LevelUpdate::Set(Maintainer),
            ..ProtectionRuleUpdate::default()
        }).unwrap_err();
        assert!(matches!(bad_delete, StoreError::Invalid(_)), "{bad_delete:?}");
        // Updating a rule to its own pattern is no conflict.
        let same = store.update_protection_rule(project, zlib.id, &ProtectionRuleUpdate {
            package_name_pattern: Some(pattern("zlib")),
            ..ProtectionRuleUpdate::default()
        }).unwrap();
        assert_eq!(same, Some(zlib));
        assert_eq!(store.protection_rules(project).unwrap(), before_invalid);
    }

    fn matching_follows_gitlabs_patterns_on_the_name_only(store: &DieselStore) {
        let project = project(store, "group/match");
        let other = project_of_other(store);
        for glob in ["zlib", "Boost*", "*-ng", "lib_x", "100%", "*"] {
            conan(store, project, glob, Some(Maintainer));
        }
        store.create_protection_rule(project, &new_rule("openssl", PackageType::Generic, Some(Owner), None)).unwrap();
        conan(store, other, "openssl", Some(Owner));

        assert_eq!(matching(store, project, "zlib"), ["zlib", "*"]);
        assert_eq!(matching(store, project, "ZLib"), ["zlib", "*"], "case-insensitive");
        assert_eq!(matching(store, project, "boost"), ["Boost*", "*"]);
        assert_eq!(matching(store, project, "boost_python"), ["Boost*", "*"]);
        assert_eq!(matching(store, project, "zlib-ng"), ["*-ng", "*"]);
        // `_` and `%` are literal, not SQL wildcards.
        assert_eq!(matching(store, project, "lib_x"), ["lib_x", "*"]);
        assert_eq!(matching(store, project, "libAx"), ["*"]);
        assert_eq!(matching(store, project, "100%"), ["100%", "*"]);
        assert_eq!(matching(store, project, "1000"), ["*"]);
        // Only the project's rules of the asked type.
        assert_eq!(matching(store, project, "openssl"), ["*"]);
        assert_eq!(matching(store, other, "openssl"), ["openssl"]);
        assert_eq!(matching(store, other, "zlib"), Vec::<String>::new());
        let generic = store.matching_protection_rules(project, PackageType::Generic, "OpenSSL").unwrap();
        assert_eq!(patterns(&generic), ["openssl"]);
    }

    fn every_rule_change_moves_the_identity_epoch(store: &DieselStore) {
        let project = project(store, "group/epoch");
        let mut last = store.identity_epoch().unwrap();
        let mut moved = |what: &str, expected: bool| {
            let now = store.identity_epoch().unwrap();
            assert_eq!(now > last, expected, "{what}: whether the epoch moved");
            last = now;
        };
        let rule = conan(store, project, "zlib", Some(Maintainer));
        moved("creating a rule", true);
        store.protection_rules(project).unwrap();
        store.matching_protection_rules(project, PackageType::Conan, "zlib").unwrap();
        moved("reading rules", false);
        store.update_protection_rule(project, rule.id, &ProtectionRuleUpdate {
            minimum_access_level_for_push: LevelUpdate::Set(Owner),
            ..ProtectionRuleUpdate::default()
        }).unwrap();
        moved("updating a rule", true);
        assert!(store.create_protection_rule(project, &new_rule("zlib", PackageType::Conan, Some(Owner), None)).is_err());
        moved("a refused duplicate", false);
        assert!(store.delete_protection_rule(project, rule.id).unwrap());
        moved("deleting a rule", true);
    }
}

/// A second project, for the tests that check rules stay in theirs.
fn project_of_other(store: &DieselStore) -> ProjectId {
    project(store, "group/other")
}
