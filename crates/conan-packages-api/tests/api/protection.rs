//! Package protection rules: GitLab's CRUD routes with their validation, and delete protection
//! on the REST deletes (a maintainer below a rule's delete level gets GitLab's 403 and changes
//! nothing).

use actix_web::http::StatusCode;
use serde_json::{Value, json};

use crate::registry_tests;
use crate::support::{delete, get, package_uri, request, rules_of, send, with_body};

/// GitLab's answer to a delete that a protection rule forbids.
const PROTECTED: &str = "403 Forbidden - Package is deletion protected.";

/// A rule as the API shows it, without its id.
fn rule(project: i64, pattern: &str, push: Option<&str>, delete: Option<&str>) -> Value {
    json!({
        "project_id": project,
        "package_name_pattern": pattern,
        "package_type": "conan",
        "minimum_access_level_for_push": push,
        "minimum_access_level_for_delete": delete,
    })
}

fn without_id(mut rule: Value) -> Value {
    rule.as_object_mut().unwrap().remove("id");
    rule
}

registry_tests! {
    async fn rules_are_created_listed_updated_and_deleted(registry: &Registry) {
        let app = registry.app().await;
        let project = &registry.private;
        let uri = rules_of(project);
        let token = Some(registry.tokens.maintainer.as_str());
        let pid = project.id.0;

        let reply = get(&app, &uri, token).await;
        assert_eq!(reply.expect(StatusCode::OK), json!([]));
        assert!(reply.header("x-total").is_none(), "not paginated");

        let created = send(&app, with_body("POST", &uri, token, r#"{"package_name_pattern":"zlib*","package_type":"conan","minimum_access_level_for_delete":"owner"}"#)).await.expect(StatusCode::CREATED);
        assert_eq!(without_id(created.clone()), rule(pid, "zlib*", None, Some("owner")));
        let id = created["id"].as_i64().unwrap();
        let second = send(&app, with_body("POST", &uri, token, r#"{"package_name_pattern":"boost","package_type":"conan","minimum_access_level_for_push":"maintainer"}"#)).await.expect(StatusCode::CREATED);
        assert_eq!(get(&app, &uri, token).await.expect(StatusCode::OK), json!([created, second]));
        // By path too.
        assert_eq!(get(&app, "/api/v4/projects/demo%2Fprivate/packages/protection/rules", token).await.expect(StatusCode::OK).as_array().unwrap().len(), 2);

        let rule_uri = format!("{uri}/{id}");
        let patched = send(&app, with_body("PATCH", &rule_uri, token, r#"{"minimum_access_level_for_push":"admin"}"#)).await.expect(StatusCode::OK);
        assert_eq!(without_id(patched.clone()), rule(pid, "zlib*", Some("admin"), Some("owner")));
        assert_eq!(patched["id"], id);
        let patched = send(&app, with_body("PATCH", &rule_uri, token, r#"{"minimum_access_level_for_delete":null,"package_name_pattern":"zlib-*"}"#)).await.expect(StatusCode::OK);
        assert_eq!(without_id(patched), rule(pid, "zlib-*", Some("admin"), None), "null clears a level");
        let unchanged = send(&app, with_body("PATCH", &rule_uri, token, "{}")).await.expect(StatusCode::OK);
        assert_eq!(without_id(unchanged), rule(pid, "zlib-*", Some("admin"), None));

        delete(&app, &rule_uri, token).await.no_content();
        assert_eq!(get(&app, &uri, token).await.expect(StatusCode::OK), json!([second]));
        assert_eq!(delete(&app, &rule_uri, token).await.message(StatusCode::NOT_FOUND), "404 Not Found");
        let reply = send(&app, with_body("PATCH", &rule_uri, token, r#"{"minimum_access_level_for_push":"owner"}"#)).await;
        assert_eq!(reply.message(StatusCode::NOT_FOUND), "404 Not Found");
        // A rule of another project is not found through this one.
        let elsewhere = format!("{}/{}", rules_of(&registry.public), second["id"]);
        assert_eq!(delete(&app, &elsewhere, token).await.message(StatusCode::NOT_FOUND), "404 Not Found");
        assert_eq!(get(&app, &uri, token).await.expect(StatusCode::OK), json!([second]));

        // The owner and an instance administrator administer rules too; a read_api token reads only.
        for admin in [&registry.tokens.owner, &registry.tokens.admin] {
            assert_eq!(get(&app, &uri, Some(admin)).await.status, StatusCode::OK);
        }
        let read_only = Some(registry.tokens.read_api.as_str());
        assert_eq!(get(&app, &uri, read_only).await.status, StatusCode::OK);
        let before = registry.snapshot();
        for (method, target, body) in [("POST", uri.clone(), r#"{"package_name_pattern":"x","package_type":"conan","minimum_access_level_for_push":"owner"}"#), ("PATCH", format!("{uri}/{}", second["id"]), r#"{"minimum_access_level_for_push":"owner"}"#), ("DELETE", format!("{uri}/{}", second["id"]), "")] {
            let reply = send(&app, with_body(method, &target, read_only, body)).await;
            assert_eq!(reply.expect(StatusCode::FORBIDDEN)["error"], "insufficient_scope", "{method}");
            let reply = send(&app, with_body(method, &target, Some(registry.tokens.developer.as_str()), body)).await;
            assert_eq!(reply.message(StatusCode::FORBIDDEN), "403 Forbidden", "{method} by a developer");
            let reply = send(&app, with_body(method, &target, None, body)).await;
            assert_eq!(reply.message(StatusCode::UNAUTHORIZED), "401 Unauthorized", "{method} anonymously");
        }
        assert_eq!(registry.snapshot(), before);
    }

    async fn invalid_rules_are_refused_and_change_nothing(registry: &Registry) {
        let app = registry.app().await;
        let uri = rules_of(&registry.public);
        let token = Some(registry.tokens.maintainer.as_str());
        let existing = send(&app, with_body("POST", &uri, token, r#"{"package_name_pattern":"zlib","package_type":"conan","minimum_access_level_for_push":"owner"}"#)).await.expect(StatusCode::CREATED);
        let rule_uri = format!("{uri}/{}", existing["id"]);
        let long = "a".repeat(256);
        let longest = "a".repeat(255);
        let before = registry.snapshot();

        let no_level = "minimum_access_level_for_push, minimum_access_level_for_delete are missing, at least one parameter must be provided";
        let bad_requests: Vec<(String, &str)> = vec![
            (r#"{"package_type":"conan","minimum_access_level_for_push":"owner"}"#.to_owned(), "package_name_pattern is missing"),
            (r#"{"package_name_pattern":"x","minimum_access_level_for_push":"owner"}"#.to_owned(), "package_type is missing"),
            (r#"{"package_name_pattern":"x","package_type":"conan"}"#.to_owned(), no_level),
            (r#"{"package_name_pattern":"x","package_type":"cargo","minimum_access_level_for_push":"owner"}"#.to_owned(), "package_type does not have a valid value"),
            (r#"{"package_name_pattern":"x","package_type":"conan","minimum_access_level_for_push":"developer"}"#.to_owned(), "minimum_access_level_for_push does not have a valid value"),
            (r#"{"package_name_pattern":"x","package_type":"conan","minimum_access_level_for_delete":""}"#.to_owned(), "minimum_access_level_for_delete does not have a valid value"),
            (r#"{"package_name_pattern":"x","package_type":"conan","minimum_access_level_for_delete":"maintainer"}"#.to_owned(), "minimum_access_level_for_delete does not have a valid value"),
            (r#"{"package_name_pattern":"x","package_type":"conan","minimum_access_level_for_push":40}"#.to_owned(), "minimum_access_level_for_push does not have a valid value"),
            (r#"{"package_name_pattern":"","package_type":"conan","minimum_access_level_for_push":"owner"}"#.to_owned(), "package_name_pattern does not have a valid value"),
            (format!(r#"{{"package_name_pattern":"{long}","package_type":"conan","minimum_access_level_for_push":"owner"}}"#), "package_name_pattern does not have a valid value"),
            (r#"{"package_name_pattern":"a\u0000b","package_type":"conan","minimum_access_level_for_push":"owner"}"#.to_owned(), "package_name_pattern does not have a valid value"),
            (r#"{"package_name_pattern":["x"],"package_type":"conan","minimum_access_level_for_push":"owner"}"#.to_owned(), "package_name_pattern does not have a valid value"),
        ];
        for (body, error) in &bad_requests {
            let reply = send(&app, with_body("POST", &uri, token, body)).await;
            assert_eq!(reply.param_error(), *error, "{body}");
        }
        for body in ["{", "not json", "[]", "\"text\"", "null", "42"] {
            let reply = send(&app, with_body("POST", &uri, token, body)).await;
            let message = reply.message(StatusCode::BAD_REQUEST);
            assert!(message.starts_with("400 Bad request - "), "{body}: {message}");
        }
        let huge = format!(r#"{{"package_name_pattern":"{}","package_type":"conan","minimum_access_level_for_push":"owner"}}"#, "a".repeat(20_000));
        assert_eq!(send(&app, with_body("POST", &uri, token, &huge)).await.status, StatusCode::BAD_REQUEST, "a body over the limit");
        // Both levels null, or a taken pattern: the service's 422.
        let reply = send(&app, with_body("POST", &uri, token, r#"{"package_name_pattern":"x","package_type":"conan","minimum_access_level_for_push":null,"minimum_access_level_for_delete":null}"#)).await;
        assert_eq!(reply.expect(StatusCode::UNPROCESSABLE_ENTITY), json!({"message": {"error": "A rule must have at least a minimum access role for push or delete."}}));
        let reply = send(&app, with_body("POST", &uri, token, r#"{"package_name_pattern":"zlib","package_type":"conan","minimum_access_level_for_delete":"admin"}"#)).await;
        assert_eq!(reply.expect(StatusCode::UNPROCESSABLE_ENTITY), json!({"message": {"error": "Package name pattern has already been taken"}}));

        // Updates validate the same way.
        for body in [r#"{"minimum_access_level_for_push":null}"#] {
            let reply = send(&app, with_body("PATCH", &rule_uri, token, body)).await;
            assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: leaves no level");
        }
        for (body, error) in [
            (r#"{"minimum_access_level_for_delete":""}"#, "minimum_access_level_for_delete does not have a valid value"),
            (r#"{"minimum_access_level_for_delete":"maintainer"}"#, "minimum_access_level_for_delete does not have a valid value"),
            (r#"{"package_type":"rubygems"}"#, "package_type does not have a valid value"),
            (r#"{"package_name_pattern":""}"#, "package_name_pattern does not have a valid value"),
        ] {
            let reply = send(&app, with_body("PATCH", &rule_uri, token, body)).await;
            assert_eq!(reply.param_error(), error, "{body}");
        }
        for bad in ["abc", "1.5", "99999999999999999999", "-"] {
            let reply = send(&app, with_body("PATCH", &format!("{uri}/{bad}"), token, "{}")).await;
            assert_eq!(reply.param_error(), "package_protection_rule_id is invalid", "{bad}");
            let reply = send(&app, request("DELETE", &format!("{uri}/{bad}"), token)).await;
            assert_eq!(reply.param_error(), "package_protection_rule_id is invalid", "{bad}");
        }
        assert_eq!(registry.snapshot(), before, "nothing changed");

        // The longest pattern is fine.
        let body = format!(r#"{{"package_name_pattern":"{longest}","package_type":"conan","minimum_access_level_for_push":"owner"}}"#);
        send(&app, with_body("POST", &uri, token, &body)).await.expect(StatusCode::CREATED);
    }

    async fn a_delete_rule_stops_a_maintainer_but_not_the_owner(registry: &Registry) {
        let app = registry.app().await;
        let project = &registry.public;
        let zlib = registry.upload(project, "zlib/1.3", 2, 1);
        let other = registry.upload(project, "bzip2/1.0", 1, 0);
        let owner = Some(registry.tokens.owner.as_str());
        let maintainer = Some(registry.tokens.maintainer.as_str());
        // A push-only rule and a rule for other names do not stop deletes.
        for body in [r#"{"package_name_pattern":"zlib","package_type":"conan","minimum_access_level_for_push":"admin"}"#, r#"{"package_name_pattern":"openssl*","package_type":"conan","minimum_access_level_for_delete":"admin"}"#] {
            send(&app, with_body("POST", &rules_of(project), owner, body)).await.expect(StatusCode::CREATED);
        }
        let files_uri = format!("{}/package_files", package_uri(project, zlib));
        let files = get(&app, &files_uri, maintainer).await.expect(StatusCode::OK);
        let first_file = files[1]["id"].as_i64().unwrap();
        delete(&app, &format!("{files_uri}/{first_file}"), maintainer).await.no_content();

        // Case-insensitive, `*` for any run.
        send(&app, with_body("POST", &rules_of(project), owner, r#"{"package_name_pattern":"ZL*","package_type":"conan","minimum_access_level_for_delete":"owner"}"#)).await.expect(StatusCode::CREATED);
        let before = registry.snapshot();
        let manifest = get(&app, &files_uri, maintainer).await.expect(StatusCode::OK).as_array().unwrap().iter().find(|file| file["file_name"] == "conanmanifest.txt").unwrap()["id"].as_i64().unwrap();
        for uri in [package_uri(project, zlib), format!("{files_uri}/{manifest}"), format!("{files_uri}/{}", files[0]["id"])] {
            let reply = delete(&app, &uri, maintainer).await;
            assert_eq!(reply.expect(StatusCode::FORBIDDEN), json!({"message": PROTECTED}), "{uri}");
        }
        assert_eq!(registry.snapshot(), before, "a protected delete changes nothing");
        // Other packages are not covered.
        delete(&app, &package_uri(project, other), maintainer).await.no_content();

        // The owner reaches the level; an instance administrator is never blocked.
        delete(&app, &format!("{files_uri}/{}", files[0]["id"]), owner).await.no_content();
        let admin = Some(registry.tokens.admin.as_str());
        delete(&app, &package_uri(project, zlib), admin).await.no_content();

        // An admin-level rule stops the owner too.
        let lz4 = registry.upload(project, "zlib-ng/2.0", 1, 0);
        send(&app, with_body("POST", &rules_of(project), owner, r#"{"package_name_pattern":"*-ng","package_type":"conan","minimum_access_level_for_delete":"admin"}"#)).await.expect(StatusCode::CREATED);
        let reply = delete(&app, &package_uri(project, lz4), owner).await;
        assert_eq!(reply.message(StatusCode::FORBIDDEN), PROTECTED);
        // Rules of another package type do not apply to Conan packages.
        let nested = registry.upload(&registry.nested, "zlib/1.0", 1, 0);
        send(&app, with_body("POST", &rules_of(&registry.nested), owner, r#"{"package_name_pattern":"zlib","package_type":"generic","minimum_access_level_for_delete":"admin"}"#)).await.expect(StatusCode::CREATED);
        delete(&app, &package_uri(&registry.nested, nested), maintainer).await.no_content();
    }
}
