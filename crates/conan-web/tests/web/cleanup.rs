//! The cleanup policy page: maintainers save a policy (checked as the API checks it) and dry-run
//! one, which removes nothing; others are refused as for the project settings.

use actix_web::http::StatusCode;
use conan_auth::admin;
use conan_store::{CleanupStore, IdentityStore, RecipeStore, Role};

use crate::registry_tests;
use crate::sessions::{Browser, csrf_of, signed_in};

registry_tests! {
    async fn maintainers_save_and_dry_run_a_policy(registry: &Registry) {
        let store: &dyn IdentityStore = registry.store();
        let project = registry.private.id;
        for (name, role) in [("dev", Role::Developer), ("maint", Role::Maintainer)] {
            let user = admin::create_user(store, name, Some("password1"), false).unwrap();
            store.set_membership(project, user.id, role).unwrap();
        }
        for revision in 1..=3 {
            let key = registry.upload_recipe(&registry.private, "old/1.0", revision, "x", &[]).await;
            registry.upload_package(&key, 1, 1, "[settings]\nos=Linux\n").await;
        }
        let app = registry.app().await;
        let page = "/-/web/projects/demo/private/-/settings/cleanup";

        Browser::default().get(&app, page).await.expect(StatusCode::NOT_FOUND);
        let mut dev = signed_in(&app, "dev").await;
        dev.get(&app, page).await.expect(StatusCode::FORBIDDEN);
        let csrf = csrf_of(dev.get(&app, "/").await.ok());
        dev.post(&app, page, &format!("csrf_token={csrf}&keep_n_recipe_revisions=1")).await.expect(StatusCode::FORBIDDEN);

        let mut maint = signed_in(&app, "maint").await;
        let shown = maint.get(&app, page).await;
        assert!(shown.ok().contains("No run yet."), "{}", shown.body);
        let csrf = csrf_of(shown.ok());
        let post = |form: &str| format!("csrf_token={csrf}&{form}");

        // A dry run lists what would go and changes nothing.
        let dry = maint.post(&app, &format!("{page}/dry-run"), &post("keep_n_recipe_revisions=1&cadence=1d")).await;
        let body = dry.ok();
        assert!(body.contains("<dt>Recipe revisions</dt><dd>2</dd>"), "{body}");
        assert!(body.contains("old/1.0#"), "{body}");
        let saved = registry.store().cleanup_policy(project).unwrap();
        assert_eq!(saved.policy.keep_n_recipe_revisions, None);
        assert_eq!(registry.store().recipe_revisions(project, &"old/1.0".parse().unwrap()).unwrap().len(), 3);

        // Bad values name the field and save nothing; the CSRF token is required.
        for form in ["keep_n_recipe_revisions=0", "keep_n_recipe_revisions=many", "cadence=hourly", "unused_days=99999", "include=***********************"] {
            maint.post(&app, page, &post(form)).await.expect(StatusCode::BAD_REQUEST);
        }
        maint.post(&app, page, "keep_n_recipe_revisions=2").await.expect(StatusCode::FORBIDDEN);
        assert_eq!(registry.store().cleanup_policy(project).unwrap().updated_at, None);

        let saved = maint.post(&app, page, &post("enabled=true&cadence=7d&keep_n_recipe_revisions=2&include=old%2F*%0Azlib%2F*&keep_n_duplicated_package_files=10")).await;
        assert_eq!(saved.status, StatusCode::SEE_OTHER);
        let policy = registry.store().cleanup_policy(project).unwrap();
        assert!(policy.policy.enabled && policy.next_run_at.is_some());
        assert_eq!(policy.policy.keep_n_recipe_revisions, Some(2));
        assert_eq!(policy.policy.include, ["old/*", "zlib/*"]);
        let shown = maint.get(&app, page).await;
        assert!(shown.ok().contains("Next scheduled run"));
        assert!(shown.ok().contains("old/*\nzlib/*"), "{}", shown.body);
    }
}
