//! Anonymous visitors see public projects only; anything private (or internal) is the same 404
//! page as something that never existed, at every level of the URL.

use actix_web::http::StatusCode;

use crate::registry_tests;
use crate::support::{get, recipe_page};

const RECIPE: &str = "conanfile = 'x'";
const INFO: &str = "[settings]\nos=Linux\n";

registry_tests! {
    async fn anonymous_visitors_see_public_projects_and_their_packages_only(registry: &Registry) {
        registry.upload_recipe(&registry.public, "openlib/1.0", 1, RECIPE, &[]).await;
        registry.upload_recipe(&registry.private, "secretlib/1.0", 1, RECIPE, &[]).await;
        registry.upload_recipe(&registry.internal, "insiderlib/1.0", 1, RECIPE, &[]).await;
        let app = registry.app().await;

        let home = get(&app, "/").await;
        let body = home.ok();
        assert!(body.contains("href=\"/-/web/projects/demo/packages\""), "{body}");
        assert!(body.contains("openlib/1.0"));
        for hidden in ["demo/private", "secretlib", "demo/internal", "insiderlib"] {
            assert!(!body.contains(hidden), "{hidden} shown on the home page");
        }

        let search = get(&app, "/-/web/search?q=*lib").await;
        let body = search.ok();
        assert!(body.contains("openlib/1.0"), "{body}");
        assert!(!body.contains("secretlib") && !body.contains("insiderlib"));

        let project = get(&app, "/-/web/projects/demo/packages").await;
        assert!(project.ok().contains("openlib"));
        get(&app, &recipe_page(&registry.public, "openlib/1.0")).await.ok();
    }

    async fn a_private_project_is_the_same_404_as_one_that_does_not_exist(registry: &Registry) {
        let public = registry.upload_recipe(&registry.public, "zlib/1.3", 1, RECIPE, &[]).await;
        registry.upload_package(&public, 1, 1, INFO).await;
        for project in [&registry.private, &registry.internal] {
            let key = registry.upload_recipe(project, "zlib/1.3", 1, RECIPE, &[]).await;
            registry.upload_package(&key, 1, 1, INFO).await;
        }
        let app = registry.app().await;
        let rrev = format!("{:032x}", 1);
        let pkg = format!("{:040x}", 1);
        let cut = |level: usize| -> String {
            // The project page, the recipe, the revision and the package revision.
            let parts = ["", "/-/recipes/zlib/1.3/_/_", &format!("/revisions/{rrev}"), &format!("/packages/{pkg}/revisions/{rrev}")];
            parts[..=level].concat()
        };
        let not_found = get(&app, "/-/web/projects/no/such-project").await;
        let expected = not_found.expect(StatusCode::NOT_FOUND).to_owned();
        for level in 0..4 {
            // The public project has each of them: the pages exist.
            get(&app, &format!("/-/web/projects/demo/packages{}", cut(level))).await.ok();
            for project in ["demo/private", "demo/internal", "no/such-project"] {
                let reply = get(&app, &format!("/-/web/projects/{project}{}", cut(level))).await;
                assert_eq!(reply.expect(StatusCode::NOT_FOUND), expected, "{project} at level {level}");
            }
        }
        // Inside a public project, what does not exist is the same page too.
        for missing in [
            "/-/web/projects/demo/packages/-/recipes/nope/1.0/_/_".to_owned(),
            format!("/-/web/projects/demo/packages/-/recipes/zlib/1.3/_/_/revisions/{:032x}", 9),
            format!("/-/web/projects/demo/packages/-/recipes/zlib/1.3/_/_/revisions/{rrev}/packages/{:040x}/revisions/{rrev}", 9),
            "/-/web/no-such-page".to_owned(),
        ] {
            assert_eq!(get(&app, &missing).await.expect(StatusCode::NOT_FOUND), expected, "{missing}");
        }
    }
}
