//! `ping`, `users/authenticate` and `users/check_credentials`.

use actix_web::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::snap;
use crate::support::{INSTANCE, PASSWORD, Registry, project_base, request, send};

fn basic(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{username}:{password}"))
    )
}

#[actix_web::test]
async fn ping_answers_capabilities_whatever_the_credentials() {
    let registry = Registry::new();
    let app = registry.app().await;
    let bases = [
        project_base(&registry.private),
        "/api/v4/projects/999999/packages/conan".to_owned(),
        INSTANCE.to_owned(),
    ];
    for base in &bases {
        for version in ["v1", "v2"] {
            for auth in [
                None,
                Some("garbage"),
                Some("Bearer not-a-token"),
                Some("Basic !!!"),
            ] {
                let reply = send(
                    &app,
                    request("GET", &format!("{base}/{version}/ping"), auth),
                )
                .await;
                assert_eq!(reply.status, StatusCode::OK, "{base} {version} {auth:?}");
                assert_eq!(
                    reply.header("x-conan-server-capabilities"),
                    Some("revisions,checksum_deploy")
                );
                assert!(reply.body.is_empty());
            }
        }
    }
}

#[actix_web::test]
async fn authenticate_issues_a_token_that_works_everywhere() {
    let registry = Registry::new();
    let app = registry.app().await;
    for base in [project_base(&registry.public), INSTANCE.to_owned()] {
        for version in ["v1", "v2"] {
            let url = format!("{base}/{version}/users/authenticate");
            // A password.
            let reply = send(&app, request("GET", &url, Some(&basic("alice", PASSWORD)))).await;
            assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
            assert_eq!(reply.header("content-type"), Some("text/plain"));
            let token = reply.text().to_owned();
            assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
            assert_eq!(token.trim(), token, "no whitespace around the token");

            // The token authenticates the caller at both prefixes.
            for check_base in [project_base(&registry.private), INSTANCE.to_owned()] {
                let reply = send(
                    &app,
                    request(
                        "GET",
                        &format!("{check_base}/v2/users/check_credentials"),
                        Some(&format!("Bearer {token}")),
                    ),
                )
                .await;
                assert_eq!(reply.status, StatusCode::OK);
                assert_eq!(reply.header("content-type"), Some("text/plain"));
                assert_eq!(reply.text(), "alice");
            }

            // A still-valid token logs in again; so does a personal access token.
            for auth in [
                format!("Bearer {token}"),
                registry.callers.developer.clone(),
            ] {
                let reply = send(&app, request("GET", &url, Some(&auth))).await;
                assert_eq!(reply.status, StatusCode::OK);
                assert_eq!(reply.text().split('.').count(), 3);
            }
            let pat = registry.callers.developer.trim_start_matches("Bearer ");
            let reply = send(&app, request("GET", &url, Some(&basic("dave", pat)))).await;
            assert_eq!(reply.status, StatusCode::OK);
        }
    }
}

#[actix_web::test]
async fn authenticate_refuses_bad_or_missing_credentials() {
    let registry = Registry::new();
    let app = registry.app().await;
    let url = format!("{}/v2/users/authenticate", project_base(&registry.public));

    let wrong = send(&app, request("GET", &url, Some(&basic("alice", "nope")))).await;
    snap!(
        "authenticate_wrong_password",
        wrong.error(StatusCode::UNAUTHORIZED)
    );
    assert_eq!(wrong.header("www-authenticate"), None);
    let unknown = send(&app, request("GET", &url, Some(&basic("nobody", "x")))).await;
    assert_eq!(unknown.error(StatusCode::UNAUTHORIZED), wrong.json());
    let forged = send(&app, request("GET", &url, Some("Bearer a.b.c"))).await;
    assert_eq!(forged.error(StatusCode::UNAUTHORIZED), wrong.json());

    for auth in [None, Some("Digest abc"), Some("Basic !!!"), Some("Bearer")] {
        let reply = send(&app, request("GET", &url, auth)).await;
        snap!(
            "authenticate_no_credentials",
            reply.error(StatusCode::UNAUTHORIZED)
        );
        assert_eq!(
            reply.header("www-authenticate"),
            Some("Basic realm=\"Login Required\""),
            "{auth:?}"
        );
    }
}

#[actix_web::test]
async fn check_credentials_needs_valid_credentials() {
    let registry = Registry::new();
    let app = registry.app().await;
    for base in [project_base(&registry.public), INSTANCE.to_owned()] {
        for version in ["v1", "v2"] {
            let url = format!("{base}/{version}/users/check_credentials");
            for auth in [
                None,
                Some("Bearer unset"),
                Some("Basic !!!"),
                Some("whatever"),
            ] {
                let reply = send(&app, request("GET", &url, auth)).await;
                snap!(
                    "check_credentials_refused",
                    reply.error(StatusCode::UNAUTHORIZED)
                );
            }
            let reply = send(&app, request("GET", &url, Some(&registry.callers.reporter))).await;
            assert_eq!(reply.status, StatusCode::OK);
            assert_eq!(reply.text(), "rita");
            let reply = send(
                &app,
                request("GET", &url, Some(&registry.callers.deploy_read)),
            )
            .await;
            assert_eq!(reply.status, StatusCode::OK);
            assert!(
                reply.text().starts_with("deploy-token-"),
                "{}",
                reply.text()
            );
        }
    }
}
