//! Who may list, read and delete packages and administer protection rules, on public and private
//! projects: every role, an instance administrator, a `read_api` token, a deploy token, revoked
//! and expired tokens, anonymous callers, and the credential transports GitLab's REST API takes.

use actix_web::http::StatusCode;
use conan_store::CatalogStore;
use serde_json::json;

use crate::registry_tests;
use crate::support::{delete, get, package_uri, packages_of, request, rules_of, send};

/// What a caller gets from each route of one project.
struct Expected {
    /// The listing, the package and its files.
    read: u16,
    /// A delete of a package.
    delete: u16,
    /// The protection-rule list.
    rules: u16,
}

const fn expected(read: u16, delete: u16, rules: u16) -> Expected {
    Expected {
        read,
        delete,
        rules,
    }
}

/// GitLab's answer to a token whose scope does not cover the method.
fn insufficient_scope() -> serde_json::Value {
    json!({
        "error": "insufficient_scope",
        "error_description": "The request requires higher privileges than provided by the access token.",
        "scope": "api",
    })
}

registry_tests! {
    async fn the_permission_matrix(registry: &Registry) {
        let tokens = &registry.tokens;
        let callers: [(&str, Option<&str>, Expected, Expected); 12] = [
            // (caller, token, on the public project, on the private project)
            ("anonymous", None, expected(200, 403, 401), expected(404, 404, 401)),
            ("guest", Some(&tokens.guest), expected(200, 403, 403), expected(200, 403, 403)),
            ("reporter", Some(&tokens.reporter), expected(200, 403, 403), expected(200, 403, 403)),
            ("developer", Some(&tokens.developer), expected(200, 403, 403), expected(200, 403, 403)),
            ("maintainer", Some(&tokens.maintainer), expected(200, 204, 200), expected(200, 204, 200)),
            ("owner", Some(&tokens.owner), expected(200, 204, 200), expected(200, 204, 200)),
            ("admin", Some(&tokens.admin), expected(200, 204, 200), expected(200, 204, 200)),
            ("outsider", Some(&tokens.outsider), expected(200, 403, 403), expected(404, 404, 404)),
            ("read_api", Some(&tokens.read_api), expected(200, 403, 200), expected(200, 403, 200)),
            ("deploy token", Some(&tokens.deploy), expected(401, 401, 401), expected(401, 401, 401)),
            ("revoked", Some(&tokens.revoked), expected(401, 401, 401), expected(401, 401, 401)),
            ("expired", Some(&tokens.expired), expected(401, 401, 401), expected(401, 401, 401)),
        ];
        let app = registry.app().await;
        for project in [&registry.public, &registry.private] {
            let target = registry.upload(project, "zlib/1.3", 1, 1);
            for (name, token, on_public, on_private) in &callers {
                let expected = if project.id == registry.public.id { on_public } else { on_private };
                let what = format!("{name} on {}", project.path);
                for uri in [packages_of(project), package_uri(project, target), format!("{}/package_files", package_uri(project, target))] {
                    let reply = get(&app, &uri, *token).await;
                    assert_eq!(reply.status.as_u16(), expected.read, "{what}: GET {uri}: {:?}", reply.body);
                    match expected.read {
                        404 => assert_eq!(reply.message(StatusCode::NOT_FOUND), "404 Project Not Found"),
                        401 => assert_eq!(reply.message(StatusCode::UNAUTHORIZED), "401 Unauthorized"),
                        _ => {}
                    }
                }
                let reply = get(&app, &rules_of(project), *token).await;
                assert_eq!(reply.status.as_u16(), expected.rules, "{what}: rules: {:?}", reply.body);

                // A delete that succeeds gets a package of its own; the others must leave
                // everything as it was.
                let victim = if expected.delete == 204 {
                    registry.upload(project, &format!("victim-{}/1.0", name.replace(' ', "-")), 1, 0)
                } else {
                    target
                };
                let before = registry.snapshot();
                let reply = delete(&app, &package_uri(project, victim), *token).await;
                assert_eq!(reply.status.as_u16(), expected.delete, "{what}: DELETE: {:?}", reply.body);
                match (expected.delete, *name) {
                    (204, _) => assert!(registry.store().catalog_package(project.id, victim).unwrap().is_none(), "{what}"),
                    (403, "read_api") => assert_eq!(reply.json(), insufficient_scope()),
                    (403, _) => assert_eq!(reply.message(StatusCode::FORBIDDEN), "403 Forbidden", "{what}"),
                    (404, _) => assert_eq!(reply.message(StatusCode::NOT_FOUND), "404 Project Not Found"),
                    _ => assert_eq!(reply.message(StatusCode::UNAUTHORIZED), "401 Unauthorized"),
                }
                if expected.delete != 204 {
                    assert_eq!(registry.snapshot(), before, "{what}: a refused delete changed something");
                    let file = format!("{}/package_files/1", package_uri(project, target));
                    let reply = delete(&app, &file, *token).await;
                    assert_eq!(reply.status.as_u16(), expected.delete, "{what}: DELETE file: {:?}", reply.body);
                    assert_eq!(registry.snapshot(), before, "{what}: a refused file delete changed something");
                }
            }
        }
    }

    async fn only_personal_access_tokens_in_gitlab_transports_authenticate(registry: &Registry) {
        let app = registry.app().await;
        let uri = packages_of(&registry.private);
        let pat = registry.tokens.guest.as_str();
        let deploy = registry.tokens.deploy.as_str();
        let with = |name: &str, value: &str| request("GET", &uri, None).insert_header((name.to_owned(), value.to_owned()));
        let basic = |user: &str, secret: &str| {
            use base64::Engine as _;
            format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{secret}")))
        };

        assert_eq!(send(&app, with("PRIVATE-TOKEN", pat)).await.status, StatusCode::OK);
        assert_eq!(send(&app, with("Authorization", &format!("Bearer {pat}"))).await.status, StatusCode::OK);
        assert_eq!(send(&app, with("Authorization", &format!("bearer  {pat} "))).await.status, StatusCode::OK, "the scheme is case-insensitive");
        for (name, value) in [
            ("Authorization", format!("Bearer {deploy}")),
            ("PRIVATE-TOKEN", deploy.to_owned()),
            ("Authorization", basic("gus", pat)),
            ("Authorization", basic("deploy", deploy)),
            ("Authorization", "Bearer not-a-token".to_owned()),
            ("PRIVATE-TOKEN", "crpat-0000000000000000000000000000000000000000".to_owned()),
            ("PRIVATE-TOKEN", String::new()),
            ("JOB-TOKEN", "a-ci-job-token".to_owned()),
            ("Deploy-Token", "a-deploy-token".to_owned()),
            ("Authorization", "Negotiate abc".to_owned()),
        ] {
            let reply = send(&app, with(name, &value)).await;
            assert_eq!(reply.message(StatusCode::UNAUTHORIZED), "401 Unauthorized", "{name}: {value}");
        }
        for query in [format!("private_token={pat}"), "job_token=x".to_owned(), format!("access_token={pat}")] {
            let reply = get(&app, &format!("{uri}?{query}"), None).await;
            assert_eq!(reply.message(StatusCode::UNAUTHORIZED), "401 Unauthorized", "{query}: a token in the URL");
        }
        // GitLab probably ignores a Deploy-Token header on these routes (the caller would be
        // anonymous, a private project a 404); a 401 says plainly that it is not taken here.
        let reply = send(&app, with("Deploy-Token", deploy)).await;
        assert_eq!(reply.message(StatusCode::UNAUTHORIZED), "401 Unauthorized");
    }
}
