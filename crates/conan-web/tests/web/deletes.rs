//! Deleting a package, a recipe revision or a binary from the pages: allowed exactly as the
//! API allows it, after a confirmation page, CSRF-checked.

use actix_web::http::StatusCode;
use conan_auth::admin;
use conan_store::{IdentityStore, PackageStore, RecipeStore, Role};

use crate::registry_tests;
use crate::sessions::{Browser, csrf_of, signed_in};

registry_tests! {
    async fn only_those_the_api_lets_delete_may_delete_and_only_after_confirming(registry: &Registry) {
        let store: &dyn IdentityStore = registry.store();
        for (name, role) in [("dev", Role::Developer), ("maint", Role::Maintainer)] {
            let user = admin::create_user(store, name, Some("password1"), false).unwrap();
            store.set_membership(registry.private.id, user.id, role).unwrap();
        }
        let first = registry.upload_recipe(&registry.private, "gone/1.0", 1, "x", &[]).await;
        registry.upload_package(&first, 1, 1, "[settings]\nos=Linux\n").await;
        registry.upload_package(&first, 2, 1, "[settings]\nos=Windows\n").await;
        let second = registry.upload_recipe(&registry.private, "gone/1.0", 2, "x", &[]).await;
        let app = registry.app().await;
        let recipe = "/-/web/projects/demo/private/-/recipes/gone/1.0/_/_";
        let revision = format!("{recipe}/revisions/{:032x}", 1);
        let binary = format!("{revision}/packages/{:040x}", 1);
        let pages = [format!("{recipe}/delete"), format!("{revision}/delete"), format!("{binary}/delete")];

        // Anonymous: the private project's delete pages are the 404 page.
        let mut anonymous = Browser::default();
        for page in &pages {
            assert_eq!(anonymous.get(&app, page).await.status, StatusCode::NOT_FOUND, "{page}");
        }

        // A developer sees no delete link, and is refused the page and the form.
        let mut dev = signed_in(&app, "dev").await;
        let page = dev.get(&app, recipe).await;
        assert!(!page.ok().contains("/delete\""), "{}", page.body);
        let csrf = csrf_of(page.ok());
        for page in &pages {
            dev.get(&app, page).await.expect(StatusCode::FORBIDDEN);
            dev.post(&app, page, &format!("csrf_token={csrf}")).await.expect(StatusCode::FORBIDDEN);
        }
        assert!(registry.store().recipe_revision(&first).unwrap().is_some());

        // A maintainer confirms, then deletes: a binary, a revision, then the whole package.
        let mut maint = signed_in(&app, "maint").await;
        let page = maint.get(&app, &format!("{binary}/revisions/{:032x}", 1)).await;
        assert!(page.ok().contains(&format!("href=\"{binary}/delete\"")), "{}", page.body);
        let confirm = maint.get(&app, &format!("{binary}/delete")).await;
        assert!(confirm.ok().contains("with its 1 package revisions"), "{}", confirm.body);
        let csrf = csrf_of(confirm.ok());
        maint.post(&app, &format!("{binary}/delete"), "").await.expect(StatusCode::FORBIDDEN);
        assert_eq!(registry.store().packages(&first).unwrap().len(), 2);
        let deleted = maint.post(&app, &format!("{binary}/delete"), &format!("csrf_token={csrf}")).await;
        assert_eq!(deleted.status, StatusCode::SEE_OTHER);
        assert_eq!(deleted.header("location"), Some(revision.as_str()));
        assert_eq!(registry.store().packages(&first).unwrap().len(), 1);
        maint.post(&app, &format!("{binary}/delete"), &format!("csrf_token={csrf}")).await.expect(StatusCode::NOT_FOUND);

        let confirm = maint.get(&app, &format!("{revision}/delete")).await;
        assert!(confirm.ok().contains("with its 1 binaries"), "{}", confirm.body);
        let deleted = maint.post(&app, &format!("{revision}/delete"), &format!("csrf_token={csrf}")).await;
        assert_eq!(deleted.header("location"), Some(recipe));
        assert!(registry.store().recipe_revision(&first).unwrap().is_none());
        assert!(registry.store().recipe_revision(&second).unwrap().is_some());

        assert!(maint.get(&app, recipe).await.ok().contains(&format!("href=\"{recipe}/delete\"")));
        let deleted = maint.post(&app, &format!("{recipe}/delete"), &format!("csrf_token={csrf}")).await;
        assert_eq!(deleted.header("location"), Some("/-/web/projects/demo/private"));
        assert!(registry.store().recipe_revision(&second).unwrap().is_none());
        maint.get(&app, recipe).await.expect(StatusCode::NOT_FOUND);
    }
}
