//! The conformance suite of [`RemoteStore`]: remote projects' upstream settings, the same test
//! functions on SQLite and on PostgreSQL (see `support`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is the failure report"
)]

mod support;

use conan_model::RevisionTime;
use conan_store::db::DieselStore;
use conan_store::remotes::{MAX_TTL_SECS, MAX_URL_LEN, RemoteSettings};
use conan_store::{IdentityStore, ProjectId, RemoteStore, StoreError, Visibility};

fn settings(url: &str) -> RemoteSettings {
    RemoteSettings {
        upstream_url: url.to_owned(),
        sealed_credentials: None,
        metadata_ttl_secs: 300,
        not_found_ttl_secs: 60,
        updated_at: None,
    }
}

fn at(seconds: i64) -> RevisionTime {
    RevisionTime::from_unix_micros(1_700_000_000_000_000 + seconds * 1_000_000).unwrap()
}

backend_tests! {
    fn a_project_becomes_remote_changes_upstream_and_back(store: &DieselStore) {
        let center = store.create_project("mirror/center", Visibility::Public).unwrap().id;
        let local = store.create_project("team/libs", Visibility::Private).unwrap().id;
        assert_eq!(store.remote(center).unwrap(), None);
        assert!(store.remotes().unwrap().is_empty());

        store.set_remote(center, &settings("https://center2.conan.io"), at(0)).unwrap();
        let stored = store.remote(center).unwrap().unwrap();
        assert_eq!(stored.upstream_url, "https://center2.conan.io");
        assert_eq!((stored.metadata_ttl_secs, stored.not_found_ttl_secs), (300, 60));
        assert_eq!(stored.updated_at, Some(at(0)));

        // Set again: one row, the new values.
        let changed = RemoteSettings {
            sealed_credentials: Some("v1:sealed".to_owned()),
            metadata_ttl_secs: 3600,
            ..settings("https://artifactory.example/api/conan/conan-remote")
        };
        store.set_remote(center, &changed, at(5)).unwrap();
        let stored = store.remote(center).unwrap().unwrap();
        assert_eq!(stored, RemoteSettings { updated_at: Some(at(5)), ..changed });
        assert_eq!(store.remotes().unwrap().iter().map(|(id, _)| *id).collect::<Vec<_>>(), [center]);
        assert_eq!(store.remote(local).unwrap(), None);

        assert!(store.clear_remote(center).unwrap());
        assert!(!store.clear_remote(center).unwrap());
        assert_eq!(store.remote(center).unwrap(), None);
    }

    fn bad_settings_and_unknown_projects_change_nothing(store: &DieselStore) {
        let center = store.create_project("mirror/center", Visibility::Public).unwrap().id;
        for bad in [
            settings(""),
            settings(&"x".repeat(MAX_URL_LEN + 1)),
            RemoteSettings { metadata_ttl_secs: 0, ..settings("https://u") },
            RemoteSettings { metadata_ttl_secs: MAX_TTL_SECS + 1, ..settings("https://u") },
            RemoteSettings { not_found_ttl_secs: MAX_TTL_SECS + 1, ..settings("https://u") },
            RemoteSettings { sealed_credentials: Some(String::new()), ..settings("https://u") },
        ] {
            assert!(matches!(store.set_remote(center, &bad, at(0)), Err(StoreError::Invalid(_))), "{bad:?}");
        }
        assert_eq!(store.remote(center).unwrap(), None);
        assert!(matches!(
            store.set_remote(ProjectId(i64::MAX), &settings("https://u"), at(0)),
            Err(StoreError::NotFound(_))
        ));
        assert!(store.remotes().unwrap().is_empty());
    }

    fn every_remote_change_moves_the_identity_epoch(store: &DieselStore) {
        // The identity cache keeps each project's upstream under the epoch (conan-auth).
        let center = store.create_project("mirror/center", Visibility::Public).unwrap().id;
        let mut last = store.identity_epoch().unwrap();
        let mut moved = |what: &str| {
            let now = store.identity_epoch().unwrap();
            assert!(now > last, "{what} must move the identity epoch");
            last = now;
        };
        store.set_remote(center, &settings("https://u"), at(0)).unwrap();
        moved("making a project remote");
        store.set_remote(center, &settings("https://v"), at(1)).unwrap();
        moved("changing its upstream");
        store.clear_remote(center).unwrap();
        moved("making it ordinary again");
        store.remote(center).unwrap();
        store.remotes().unwrap();
        assert_eq!(store.identity_epoch().unwrap(), last, "reading moves nothing");
    }
}
