//! The cleanup policy routes: the policy's partial updates, dry runs that change nothing, runs
//! started now and their record, who may do what, and hostile input that changes nothing.

use std::time::Duration;

use actix_web::http::StatusCode;
use conan_store::cleanup::RunTrigger;
use conan_store::{CleanupStore, Project, RecipeStore};
use serde_json::{Value, json};

use crate::registry_tests;
use crate::support::{Registry, get, request, send, with_body};

fn policy_of(project: &Project) -> String {
    format!("/api/v4/projects/{}/packages/cleanup_policy", project.id)
}

/// The recipe revisions of `reference`, newest first, as their number in the fixtures.
fn revisions(registry: &Registry, project: &Project, reference: &str) -> Vec<String> {
    registry
        .store()
        .recipe_revisions(project.id, &reference.parse().unwrap())
        .unwrap()
        .into_iter()
        .map(|entry| entry.revision.as_str().trim_start_matches('0').to_owned())
        .collect()
}

/// Waits for the run the API started in the background to end; returns whether it finished.
fn wait_for_run(registry: &Registry, id: i64) -> bool {
    let (ended, finished) = registry
        .runs_ended
        .lock()
        .unwrap()
        .recv_timeout(Duration::from_mins(1))
        .expect("the run ends");
    assert_eq!(ended, id);
    finished
}

registry_tests! {
    async fn the_policy_is_read_and_updated_field_by_field(registry: &Registry) {
        let app = registry.app().await;
        let uri = policy_of(&registry.private);
        let token = Some(registry.tokens.maintainer.as_str());
        let default = get(&app, &uri, token).await.expect(StatusCode::OK);
        assert_eq!(default, json!({
            "enabled": false,
            "cadence": "1d",
            "keep_n_duplicated_package_files": "all",
            "keep_n_recipe_revisions": null,
            "keep_n_package_revisions": null,
            "unused_days": null,
            "source_backups_unused_days": null,
            "include": [],
            "exclude": [],
            "next_run_at": null,
            "updated_at": null,
        }));

        let saved = send(&app, with_body("PUT", &uri, token, r#"{"enabled": true, "cadence": "7d", "keep_n_recipe_revisions": 2, "keep_n_duplicated_package_files": "10", "include": ["zlib/*"]}"#)).await.expect(StatusCode::OK);
        assert_eq!((saved["enabled"].clone(), saved["cadence"].clone(), saved["keep_n_recipe_revisions"].clone()), (json!(true), json!("7d"), json!(2)));
        assert_eq!(saved["keep_n_duplicated_package_files"], "10");
        assert!(saved["next_run_at"].is_string(), "an enabled policy with a rule is scheduled: {saved}");
        assert!(saved["updated_at"].is_string());
        assert_eq!(get(&app, &uri, token).await.expect(StatusCode::OK), saved);
        // By path too, and the owner and an administrator may.
        for token in [&registry.tokens.owner, &registry.tokens.admin] {
            assert_eq!(get(&app, "/api/v4/projects/demo%2Fprivate/packages/cleanup_policy", Some(token)).await.expect(StatusCode::OK), saved);
        }

        // A field left out is kept; null clears a rule; a policy without a rule is not scheduled.
        let cleared = send(&app, with_body("PUT", &uri, token, r#"{"keep_n_recipe_revisions": null}"#)).await.expect(StatusCode::OK);
        assert_eq!(cleared["keep_n_recipe_revisions"], Value::Null);
        assert_eq!(cleared["include"], json!(["zlib/*"]));
        assert_eq!(cleared["next_run_at"], Value::Null);
        // Another project's policy is its own.
        assert_eq!(get(&app, &policy_of(&registry.public), token).await.expect(StatusCode::OK)["enabled"], false);
    }

    async fn a_dry_run_changes_nothing_and_a_run_removes_what_it_listed(registry: &Registry) {
        registry.upload(&registry.private, "zlib/1.3", 5, 2);
        registry.upload(&registry.private, "boost/1.80", 1, 0);
        let app = registry.app().await;
        let uri = policy_of(&registry.private);
        let token = Some(registry.tokens.maintainer.as_str());
        send(&app, with_body("PUT", &uri, token, r#"{"keep_n_recipe_revisions": 2}"#)).await.expect(StatusCode::OK);
        let before = registry.snapshot();

        let report = send(&app, request("POST", &format!("{uri}/dry_run"), token)).await.expect(StatusCode::OK);
        assert_eq!(report["totals"]["recipes_examined"], 2);
        assert_eq!(report["totals"]["recipe_revisions"], 3);
        assert!(report["totals"]["logical_bytes"].as_u64().unwrap() > 0);
        assert_eq!(report["truncated"], false);
        let listed: Vec<&str> = report["items"].as_array().unwrap().iter().map(|item| item["reference"].as_str().unwrap()).collect();
        assert_eq!(listed.len(), 3);
        assert!(listed.iter().all(|reference| reference.starts_with("zlib/1.3#")), "{listed:?}");
        assert!(report["items"].as_array().unwrap().iter().all(|item| item["reason"] == "keep_n_recipe_revisions" && item["removed_at"].is_null()));
        // A limit bounds the list, not the totals; body fields try a policy without saving it.
        let limited = send(&app, request("POST", &format!("{uri}/dry_run?limit=1"), token)).await.expect(StatusCode::OK);
        assert_eq!((limited["items"].as_array().unwrap().len(), limited["truncated"].clone(), limited["totals"]["recipe_revisions"].clone()), (1, json!(true), json!(3)));
        let tried = send(&app, with_body("POST", &format!("{uri}/dry_run"), token, r#"{"keep_n_recipe_revisions": 4}"#)).await.expect(StatusCode::OK);
        assert_eq!(tried["totals"]["recipe_revisions"], 1);
        assert_eq!(tried["policy"]["keep_n_recipe_revisions"], 4);
        assert_eq!(registry.snapshot(), before, "dry runs change nothing");

        let started = send(&app, request("POST", &format!("{uri}/runs"), token)).await.expect(StatusCode::ACCEPTED);
        assert_eq!(started["trigger"], "api");
        let id = started["id"].as_i64().unwrap();
        assert!(wait_for_run(registry, id));
        assert_eq!(revisions(registry, &registry.private, "zlib/1.3"), ["5", "4"]);
        assert_eq!(revisions(registry, &registry.private, "boost/1.80"), ["1"]);

        let run = get(&app, &format!("{uri}/runs/{id}"), token).await.expect(StatusCode::OK);
        assert_eq!(run["state"], "finished");
        assert_eq!(run["totals"]["recipe_revisions"], 3);
        assert_eq!(run["totals"]["logical_bytes"], report["totals"]["logical_bytes"]);
        assert!(run["finished_at"].is_string());
        assert_eq!(run["policy"]["keep_n_recipe_revisions"], 2);
        assert_eq!(get(&app, &format!("{uri}/runs"), token).await.expect(StatusCode::OK), json!([run]));
        let removed = get(&app, &format!("{uri}/runs/{id}/removals?per_page=2"), token).await;
        assert_eq!(removed.header("x-next-page"), Some("2"));
        let mut references: Vec<Value> = removed.expect(StatusCode::OK).as_array().unwrap().clone();
        let rest = get(&app, &format!("{uri}/runs/{id}/removals?per_page=2&page=2"), token).await;
        assert_eq!(rest.header("x-next-page"), Some(""));
        references.extend(rest.expect(StatusCode::OK).as_array().unwrap().iter().cloned());
        let references: Vec<&str> = references.iter().map(|item| item["reference"].as_str().unwrap()).collect();
        let mut planned = listed.clone();
        planned.sort_unstable();
        let mut done = references.clone();
        done.sort_unstable();
        assert_eq!(done, planned, "the run removed what the dry run listed");

        // Nothing is left to remove.
        let again = send(&app, request("POST", &format!("{uri}/dry_run"), token)).await.expect(StatusCode::OK);
        assert_eq!(again["totals"]["recipe_revisions"], 0);
    }

    async fn only_maintainers_owners_and_administrators_manage_cleanup(registry: &Registry) {
        let app = registry.app().await;
        let tokens = &registry.tokens;
        let before = registry.snapshot();
        for project in [&registry.private, &registry.public] {
            let uri = policy_of(project);
            let routes = [
                ("GET", uri.clone()),
                ("PUT", uri.clone()),
                ("POST", format!("{uri}/dry_run")),
                ("GET", format!("{uri}/runs")),
                ("POST", format!("{uri}/runs")),
                ("GET", format!("{uri}/runs/1")),
                ("GET", format!("{uri}/runs/1/removals")),
            ];
            for (method, route) in &routes {
                let body = r#"{"keep_n_recipe_revisions": 1}"#;
                let anonymous = send(&app, with_body(method, route, None, body)).await;
                assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED, "{method} {route}");
                for token in [&tokens.developer, &tokens.reporter, &tokens.guest] {
                    let reply = send(&app, with_body(method, route, Some(token), body)).await;
                    assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {route}");
                }
                let outsider = send(&app, with_body(method, route, Some(&tokens.outsider), body)).await;
                let expected = if project.id == registry.private.id { StatusCode::NOT_FOUND } else { StatusCode::FORBIDDEN };
                assert_eq!(outsider.status, expected, "{method} {route}: a private project is a 404 to outsiders");
            }
        }
        // A read_api token reads the policy and dry-runs it, but changes nothing.
        let uri = policy_of(&registry.private);
        assert_eq!(get(&app, &uri, Some(&tokens.read_api)).await.status, StatusCode::OK);
        assert_eq!(send(&app, request("POST", &format!("{uri}/dry_run"), Some(&tokens.read_api))).await.status, StatusCode::OK);
        for (method, route) in [("PUT", uri.clone()), ("POST", format!("{uri}/runs"))] {
            let reply = send(&app, with_body(method, &route, Some(&tokens.read_api), r#"{"enabled": true}"#)).await;
            assert_eq!(reply.status, StatusCode::FORBIDDEN, "{method} {route}");
        }
        for token in [&tokens.revoked, &tokens.expired, &tokens.deploy] {
            assert_eq!(get(&app, &uri, Some(token)).await.status, StatusCode::UNAUTHORIZED);
        }
        assert_eq!(registry.snapshot(), before);
    }

    async fn hostile_cleanup_requests_are_4xx_and_change_nothing(registry: &Registry) {
        registry.upload(&registry.private, "zlib/1.3", 3, 1);
        let app = registry.app().await;
        let uri = policy_of(&registry.private);
        let token = Some(registry.tokens.maintainer.as_str());
        send(&app, with_body("PUT", &uri, token, r#"{"include": ["zlib/*"]}"#)).await.expect(StatusCode::OK);
        let before = registry.snapshot();
        let long_pattern = format!(r#"{{"include": ["{}"]}}"#, "a".repeat(201));
        let many_patterns = format!(r#"{{"exclude": [{}]}}"#, vec![r#""a*""#; 21].join(","));
        let huge = format!(r#"{{"include": ["{}"]}}"#, "a".repeat(20_000));
        for (body, error) in [
            ("[]", "400 Bad request - the body must be a JSON object"),
            ("{", "400 Bad request - the body is not valid JSON"),
            ("\"x\"", "400 Bad request - the body must be a JSON object"),
            (huge.as_str(), "400 Bad request - the request body is too large"),
        ] {
            for route in [uri.clone(), format!("{uri}/dry_run")] {
                let method = if route == uri { "PUT" } else { "POST" };
                let reply = send(&app, with_body(method, &route, token, body)).await;
                assert_eq!(reply.message(StatusCode::BAD_REQUEST), error, "{method} {route} {body}");
            }
        }
        for (body, field) in [
            (r#"{"keep_n_recipe_revisions": -1}"#, "keep_n_recipe_revisions"),
            (r#"{"keep_n_recipe_revisions": 0}"#, "keep_n_recipe_revisions"),
            (r#"{"keep_n_recipe_revisions": 1.5}"#, "keep_n_recipe_revisions"),
            (r#"{"keep_n_package_revisions": 10001}"#, "keep_n_package_revisions"),
            (r#"{"unused_days": "30"}"#, "unused_days"),
            (r#"{"cadence": "hourly"}"#, "cadence"),
            (r#"{"enabled": 1}"#, "enabled"),
            (r#"{"keep_n_duplicated_package_files": 10}"#, "keep_n_duplicated_package_files"),
            (r#"{"keep_n_duplicated_package_files": "5"}"#, "keep_n_duplicated_package_files"),
            (r#"{"include": [1]}"#, "include"),
            (r#"{"include": ["zlib/*", ""]}"#, "include"),
            (long_pattern.as_str(), "include"),
            (many_patterns.as_str(), "exclude"),
            (r#"{"next_run_at": "2030-01-01T00:00:00Z"}"#, "policy"),
            (r#"{"keep_n_recipe_revisions": 1, "drop_everything": true}"#, "policy"),
        ] {
            for (method, route) in [("PUT", uri.clone()), ("POST", format!("{uri}/dry_run"))] {
                let reply = send(&app, with_body(method, &route, token, body)).await;
                assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{method} {route} {body}");
                let error = reply.param_error();
                assert!(error.starts_with(field), "{body}: {error}");
            }
        }
        for limit in ["0", "1001", "-1", "x", "%FF"] {
            let reply = send(&app, request("POST", &format!("{uri}/dry_run?limit={limit}"), token)).await;
            assert_eq!(reply.status, StatusCode::BAD_REQUEST, "limit={limit}");
        }
        for id in ["x", "0", "-1", "99999999999999999999", "1.0"] {
            let reply = get(&app, &format!("{uri}/runs/{id}"), token).await;
            assert_eq!(reply.param_error(), "run_id is invalid", "{id}");
        }
        // Unknown runs, and another project's run, are 404s.
        assert_eq!(get(&app, &format!("{uri}/runs/12345"), token).await.message(StatusCode::NOT_FOUND), "404 Not found");
        let other = registry.state.cleanup.claim_now(registry.public.id, RunTrigger::Cli).unwrap().unwrap();
        for route in [format!("{uri}/runs/{}", other.id), format!("{uri}/runs/{}/removals", other.id)] {
            assert_eq!(get(&app, &route, token).await.message(StatusCode::NOT_FOUND), "404 Not found");
        }
        // A run of a policy without a rule is refused, and so is a second run at once.
        let reply = send(&app, request("POST", &format!("{uri}/runs"), token)).await;
        assert!(reply.message(StatusCode::BAD_REQUEST).contains("no rule"));
        // Methods the routes do not take.
        for (method, route) in [("DELETE", uri.clone()), ("POST", uri.clone()), ("GET", format!("{uri}/dry_run")), ("DELETE", format!("{uri}/runs"))] {
            assert_eq!(send(&app, request(method, &route, token)).await.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {route}");
        }
        let public_runs = registry.store().cleanup_runs(registry.public.id, 10).unwrap();
        assert_eq!(public_runs.len(), 1);
        let mut after = registry.snapshot();
        // The claimed run of the other project is the only change, made by the test itself.
        assert!(after.contains("Running"), "{after}");
        after = after.replace(&format!("{public_runs:?}"), "[]");
        assert_eq!(after, before);

        send(&app, with_body("PUT", &policy_of(&registry.public), token, r#"{"keep_n_recipe_revisions": 1}"#)).await.expect(StatusCode::OK);
        let busy = send(&app, request("POST", &format!("{}/runs", policy_of(&registry.public)), token)).await;
        assert_eq!(busy.message(StatusCode::CONFLICT), "409 Conflict - a cleanup run of this project is already running");
    }
}
