//! The conformance suite of [`VirtualStore`]: virtual projects' layouts, their checks, the
//! cascades when projects go, and the first member with a recipe; the same test functions on
//! SQLite and on PostgreSQL (see `support`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is the failure report"
)]

mod fixtures;
mod support;

use conan_store::db::DieselStore;
use conan_store::{IdentityStore, ProjectId, StoreError, VirtualLayout, VirtualStore, Visibility};
use fixtures::{project, recipe_key, reference, upload_recipe};
use support::execute_sql;

fn layout(members: &[ProjectId], deploy: Option<ProjectId>) -> VirtualLayout {
    VirtualLayout {
        members: members.to_vec(),
        deploy,
    }
}

/// Replaces `project`'s layout, from whatever it is now.
fn set(store: &DieselStore, project: ProjectId, layout: &VirtualLayout) -> Result<(), StoreError> {
    let current = store.virtual_layout(project)?.unwrap_or_default();
    store.set_virtual_layout(project, &current, layout)
}

fn virtual_project(store: &DieselStore, path: &str) -> ProjectId {
    store
        .create_virtual_project(path, Visibility::Internal)
        .unwrap()
        .id
}

backend_tests! {
    fn layouts_are_created_replaced_and_read_in_order(store: &DieselStore) {
        let a = project(store, "group/a");
        let b = project(store, "group/b");
        let v = virtual_project(store, "group/v");
        assert_eq!(store.project(v).unwrap().unwrap().path, "group/v");
        assert_eq!(store.virtual_layout(v).unwrap(), Some(VirtualLayout::default()));
        assert_eq!(store.virtual_layout(a).unwrap(), None, "an ordinary project");
        set(store, v, &layout(&[b, a], Some(a))).unwrap();
        assert_eq!(store.virtual_layout(v).unwrap(), Some(layout(&[b, a], Some(a))));
        // Reordering rewrites the positions (each is unique per virtual project).
        set(store, v, &layout(&[a, b], None)).unwrap();
        assert_eq!(store.virtual_layout(v).unwrap(), Some(layout(&[a, b], None)));
        assert!(matches!(
            store.create_virtual_project("group/a", Visibility::Public),
            Err(StoreError::Conflict(_))
        ));
    }

    fn bad_layouts_are_refused_and_change_nothing(store: &DieselStore) {
        let a = project(store, "group/a");
        let v = virtual_project(store, "group/v");
        let w = virtual_project(store, "group/w");
        set(store, v, &layout(&[a], Some(a))).unwrap();
        let before = store.virtual_layout(v).unwrap();
        let epoch = store.identity_epoch().unwrap();
        let refusals = [
            (v, layout(&[a, w], None)),
            (v, layout(&[a, v], None)),
            (v, layout(&[a, a], None)),
            (v, layout(&[a, ProjectId(9999)], None)),
            (v, layout(&[], Some(a))),
            (a, layout(&[], None)),
        ];
        for (target, bad) in refusals {
            let error = set(store, target, &bad).unwrap_err();
            assert!(
                matches!(error, StoreError::Invalid(_) | StoreError::NotFound(_)),
                "{bad:?}: {error:?}"
            );
        }
        assert_eq!(store.virtual_layout(v).unwrap(), before);
        assert_eq!(store.identity_epoch().unwrap(), epoch, "refusals change nothing");
        // A change made from a stale view of the layout is refused: no lost update.
        let stale = layout(&[], None);
        assert!(matches!(
            store.set_virtual_layout(v, &stale, &layout(&[], None)),
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(store.virtual_layout(v).unwrap(), before);
        // w may hold v's members but never v itself: no nesting, hence no cycles.
        assert!(set(store, w, &layout(&[v], None)).is_err());
        set(store, w, &layout(&[a], None)).unwrap();
    }

    fn every_layout_change_moves_the_identity_epoch(store: &DieselStore) {
        let a = project(store, "group/a");
        let mut last = store.identity_epoch().unwrap();
        let mut moved = |what: &str| {
            let now = store.identity_epoch().unwrap();
            assert!(now > last, "{what} must move the identity epoch");
            last = now;
        };
        let v = virtual_project(store, "group/v");
        moved("creating a virtual project");
        set(store, v, &layout(&[a], None)).unwrap();
        moved("adding a member");
        set(store, v, &layout(&[a], Some(a))).unwrap();
        moved("setting the deploy member");
        set(store, v, &layout(&[], None)).unwrap();
        moved("removing a member");
        store.virtual_layout(v).unwrap();
        assert_eq!(store.identity_epoch().unwrap(), last, "reading moves nothing");
    }

    fn deleted_projects_leave_no_rows(store: &DieselStore) {
        let a = project(store, "group/a");
        let b = project(store, "group/b");
        let v = virtual_project(store, "group/v");
        set(store, v, &layout(&[a, b], Some(a))).unwrap();
        // No command deletes projects yet; the schema's cascades must hold when one does.
        execute_sql(store, &format!("DELETE FROM projects WHERE id = {}", a.0));
        assert_eq!(store.virtual_layout(v).unwrap(), Some(layout(&[b], None)));
        execute_sql(store, &format!("DELETE FROM projects WHERE id = {}", v.0));
        assert_eq!(store.virtual_layout(v).unwrap(), None);
        let left = store.with_connection(|conn| {
            use diesel::prelude::*;
            use conan_store::db::DbConnection;
            #[derive(QueryableByName)]
            struct Count {
                #[diesel(sql_type = diesel::sql_types::BigInt)]
                count: i64,
            }
            let query = diesel::sql_query("SELECT COUNT(*) AS count FROM virtual_members");
            match conn {
                DbConnection::Sqlite(conn) => query.get_result::<Count>(conn),
                DbConnection::Postgresql(conn) => query.get_result::<Count>(conn),
            }
        });
        assert_eq!(left.unwrap().unwrap().count, 0);
    }

    fn the_first_candidate_with_a_committed_recipe_is_found(store: &DieselStore) {
        let a = project(store, "group/a");
        let b = project(store, "group/b");
        let c = project(store, "group/c");
        upload_recipe(store, &recipe_key(b, "zlib/1.3", 1));
        upload_recipe(store, &recipe_key(c, "zlib/1.3", 2));
        let zlib = reference("zlib/1.3");
        assert_eq!(store.first_with_recipe(&[a, b, c], &zlib).unwrap(), Some(b));
        assert_eq!(store.first_with_recipe(&[c, b], &zlib).unwrap(), Some(c));
        assert_eq!(store.first_with_recipe(&[a], &zlib).unwrap(), None);
        assert_eq!(store.first_with_recipe(&[], &zlib).unwrap(), None);
        // Other user/channel and other versions are other recipes.
        assert_eq!(store.first_with_recipe(&[b], &reference("zlib/1.3@user/stable")).unwrap(), None);
        assert_eq!(store.first_with_recipe(&[b], &reference("zlib/1.4")).unwrap(), None);
    }
}
