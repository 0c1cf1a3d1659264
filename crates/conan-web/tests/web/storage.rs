//! The storage page: what a project stores, for reporters and above and administrators, as
//! the Packages API's `statistics`.

use actix_web::http::StatusCode;
use conan_auth::admin;
use conan_store::{IdentityStore, Role};

use crate::registry_tests;
use crate::sessions::{Browser, signed_in};

registry_tests! {
    async fn reporters_and_administrators_see_storage_figures(registry: &Registry) {
        let store: &dyn IdentityStore = registry.store();
        for (name, role) in [("guest", Role::Guest), ("reporter", Role::Reporter)] {
            let user = admin::create_user(store, name, Some("password1"), false).unwrap();
            store.set_membership(registry.private.id, user.id, role).unwrap();
        }
        admin::create_user(store, "root", Some("password1"), true).unwrap();
        // The same content twice: counted twice in size, once stored.
        registry.upload_recipe(&registry.private, "twin/1.0", 1, "same content", &[]).await;
        registry.upload_recipe(&registry.private, "twin/1.0", 2, "same content", &[]).await;
        let app = registry.app().await;
        let page = "/-/web/projects/demo/private/-/storage";

        Browser::default().get(&app, page).await.expect(StatusCode::NOT_FOUND);
        Browser::default().get(&app, "/-/web/projects/demo/packages/-/storage").await.expect(StatusCode::FORBIDDEN);
        signed_in(&app, "guest").await.get(&app, page).await.expect(StatusCode::FORBIDDEN);
        for user in ["reporter", "root"] {
            let shown = signed_in(&app, user).await.get(&app, page).await;
            let body = shown.ok();
            assert!(body.contains("<dt>References</dt><dd>1</dd>"), "{body}");
            assert!(body.contains("<dt>Recipe revisions</dt><dd>2</dd>"), "{body}");
        }
        let stats = conan_store::CatalogStore::project_stats(registry.store(), registry.private.id).unwrap();
        assert!(stats.logical_bytes > stats.stored_bytes, "{stats:?}");
        let shown = signed_in(&app, "reporter").await.get(&app, page).await;
        assert!(shown.ok().contains(&format!("title=\"{} bytes\"", stats.logical_bytes)));
        assert!(shown.ok().contains(&format!("title=\"{} bytes\"", stats.stored_bytes)));
    }
}
