//! The 401/403/404 contract, project addressing, the `_` placeholder and parameter validation.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;

use crate::snap;
use crate::support::{
    INSTANCE, Registry, pkgid, project_base, put, recipe_files, request, rrev, send, upload,
};

#[actix_web::test]
async fn the_401_403_404_contract() {
    let registry = Registry::new();
    let app = registry.app().await;
    let callers = &registry.callers;
    let projects = [
        ("public", &registry.public),
        ("private", &registry.private),
        ("internal", &registry.internal),
    ];
    // One recipe in each project, uploaded by the administrator.
    for (name, project) in projects {
        let url = format!(
            "{}/v2/conans/zlib/1.3/group+{name}/stable/revisions/{}",
            project_base(project),
            rrev('a')
        );
        upload(&app, &url, &recipe_files(), &callers.admin).await;
    }

    let who: [(&str, Option<&str>); 13] = [
        ("anonymous", None),
        (
            "bad bearer",
            Some("Bearer eyJhbGciOiJIUzI1NiJ9.e30.c2lnbmF0dXJl"),
        ),
        (
            "unknown token",
            Some("Bearer crpat-0000000000000000000000000000000000000000"),
        ),
        ("malformed", Some("Token abc")),
        ("admin", Some(&callers.admin)),
        ("maintainer", Some(&callers.maintainer)),
        ("developer", Some(&callers.developer)),
        ("reporter", Some(&callers.reporter)),
        ("guest", Some(&callers.guest)),
        ("outsider", Some(&callers.outsider)),
        ("deploy read", Some(&callers.deploy_read)),
        ("deploy write", Some(&callers.deploy_write)),
        ("owner", Some(&callers.owner)),
    ];
    // For each caller, project and action: the status at both prefixes.
    let mut matrix: BTreeMap<String, BTreeMap<String, u16>> = BTreeMap::new();
    for (caller, auth) in who {
        for (name, project) in projects {
            for base in [project_base(project), INSTANCE.to_owned()] {
                let recipe = format!("{base}/v2/conans/zlib/1.3/group+{name}/stable");
                let revision = format!("{recipe}/revisions/{}", rrev('a'));
                let read = send(&app, request("GET", &format!("{recipe}/latest"), auth)).await;
                // A PUT of a new metadata file and a DELETE of a revision that does not exist:
                // an allowed caller gets 200 and 404, never changing what the others see.
                let upload_url =
                    format!("{revision}/files/metadata/{}.txt", caller.replace(' ', "-"));
                let write = send(
                    &app,
                    match auth {
                        Some(auth) => put(&upload_url, b"x", auth),
                        None => request("PUT", &upload_url, None).set_payload("x"),
                    },
                )
                .await;
                let delete_url = format!("{recipe}/revisions/{}", rrev('f'));
                let delete = send(&app, request("DELETE", &delete_url, auth)).await;
                for (action, reply) in [("read", &read), ("upload", &write), ("delete", &delete)] {
                    let key = format!("{caller} {action}");
                    let level = if base == INSTANCE {
                        "instance"
                    } else {
                        "project"
                    };
                    let column = format!("{name} ({level})");
                    let status = reply.status.as_u16();
                    if status != 200 {
                        // Every refusal is a structured error.
                        reply.error(reply.status);
                    }
                    if level == "instance"
                        && let Some(other) = matrix
                            .get(&key)
                            .and_then(|row| row.get(&format!("{name} (project)")))
                    {
                        assert_eq!(*other, status, "{key} {name}: both prefixes agree");
                    }
                    matrix.entry(key).or_default().insert(column, status);
                }
            }
        }
    }
    snap!("permission_matrix", matrix);

    // The messages.
    let private = format!(
        "{}/v2/conans/zlib/1.3/group+private/stable",
        project_base(&registry.private)
    );
    let reply = send(&app, request("GET", &format!("{private}/latest"), None)).await;
    snap!(
        "anonymous_on_private",
        reply.error(StatusCode::UNAUTHORIZED)
    );
    let reply = send(
        &app,
        request("GET", &format!("{private}/latest"), Some(&callers.outsider)),
    )
    .await;
    snap!("outsider_on_private", reply.error(StatusCode::NOT_FOUND));
    let upload_url = format!("{private}/revisions/{}/files/metadata/x.txt", rrev('a'));
    let reply = send(&app, put(&upload_url, b"x", &callers.reporter)).await;
    snap!("reporter_upload", reply.error(StatusCode::FORBIDDEN));
}

#[actix_web::test]
async fn projects_are_addressed_by_id_or_encoded_path() {
    let registry = Registry::new();
    let app = registry.app().await;
    let url = |base: &str| format!("{base}/v2/conans/zlib/1.3/_/_/revisions/{}", rrev('a'));
    upload(
        &app,
        &url(&project_base(&registry.public)),
        &recipe_files(),
        &registry.callers.admin,
    )
    .await;
    for base in [
        project_base(&registry.public),
        "/api/v4/projects/group%2Fpublic/packages/conan".to_owned(),
        "/api/v4/projects/group%2fpublic/packages/conan".to_owned(),
    ] {
        let reply = send(&app, request("GET", &format!("{}/files", url(&base)), None)).await;
        assert_eq!(reply.status, StatusCode::OK, "{base}");
    }
    for base in [
        "/api/v4/projects/999999/packages/conan",
        "/api/v4/projects/0/packages/conan",
        "/api/v4/projects/99999999999999999999999/packages/conan",
        "/api/v4/projects/group%2Fnowhere/packages/conan",
        "/api/v4/projects/group/packages/conan",
        "/api/v4/projects/%FF/packages/conan",
    ] {
        for auth in [None, Some(registry.callers.admin.as_str())] {
            let reply = send(&app, request("GET", &format!("{}/files", url(base)), auth)).await;
            snap!("project_not_found", reply.error(StatusCode::NOT_FOUND));
        }
    }
    // At the instance prefix the user names the project.
    let reply = send(
        &app,
        request(
            "GET",
            &format!("{INSTANCE}/v2/conans/zlib/1.3/group+nowhere/stable/latest"),
            None,
        ),
    )
    .await;
    snap!("project_not_found", reply.error(StatusCode::NOT_FOUND));
}

#[actix_web::test]
async fn the_underscore_placeholder() {
    let registry = Registry::new();
    let app = registry.app().await;
    let auth = registry.callers.developer.as_str();
    let project = project_base(&registry.public);

    // `_` at the instance prefix names no project: a plain 404 before anything else, even for
    // an otherwise invalid reference.
    for segments in ["zlib/1.3/_/_", "zlib/1.3/_/stable", "x/1.3/_/_"] {
        let reply = send(
            &app,
            request(
                "GET",
                &format!("{INSTANCE}/v2/conans/{segments}/latest"),
                Some(auth),
            ),
        )
        .await;
        snap!(
            "instance_underscore_user",
            reply.error(StatusCode::NOT_FOUND)
        );
    }
    // A channel without a user is invalid.
    let reply = send(
        &app,
        request(
            "GET",
            &format!("{project}/v2/conans/zlib/1.3/_/stable/latest"),
            Some(auth),
        ),
    )
    .await;
    snap!("channel_without_user", reply.error(StatusCode::BAD_REQUEST));

    // A user without a channel, at both prefixes; never rendered with `_`.
    for base in [project.as_str(), INSTANCE] {
        let recipe = format!("{base}/v2/conans/pkg/1.0/group+public/_");
        upload(
            &app,
            &format!("{recipe}/revisions/{}", rrev('a')),
            &recipe_files(),
            auth,
        )
        .await;
        let revisions = send(
            &app,
            request("GET", &format!("{recipe}/revisions"), Some(auth)),
        )
        .await;
        assert_eq!(revisions.ok_json()["reference"], "pkg/1.0@group+public");
        let url = format!(
            "{recipe}/revisions/{}/packages/{}/revisions",
            rrev('a'),
            pkgid('1')
        );
        let reply = send(&app, request("GET", &url, Some(auth))).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND);
    }
    let recipe = format!("{project}/v2/conans/zlib/1.3/_/_");
    upload(
        &app,
        &format!("{recipe}/revisions/{}", rrev('a')),
        &recipe_files(),
        auth,
    )
    .await;
    let revisions = send(
        &app,
        request("GET", &format!("{recipe}/revisions"), Some(auth)),
    )
    .await;
    assert_eq!(revisions.ok_json()["reference"], "zlib/1.3");
    let search = send(
        &app,
        request("GET", &format!("{project}/v2/conans/search"), None),
    )
    .await;
    assert_eq!(
        search.ok_json()["results"],
        serde_json::json!(["pkg/1.0@group+public", "zlib/1.3"])
    );
}

#[actix_web::test]
async fn invalid_parameters_are_named() {
    let registry = Registry::new();
    let app = registry.app().await;
    let auth = registry.callers.developer.as_str();
    // The private project and no credentials: a malformed request is a 400 whoever sends it.
    let project = project_base(&registry.private);
    let recipe = "zlib/1.3/_/_";
    let revision = rrev('a');
    let package = pkgid('b');
    let cases: Vec<(&str, String)> = vec![
        ("name", format!("{project}/v2/conans/x/1.3/_/_/latest")),
        (
            "name character",
            format!("{project}/v2/conans/pac$kage/1.3/_/_/latest"),
        ),
        (
            "version",
            format!("{project}/v2/conans/zlib/1.0.$/_/_/latest"),
        ),
        (
            "user",
            format!("{project}/v2/conans/zlib/1.3/name$pace/stable/latest"),
        ),
        (
            "channel",
            format!("{project}/v2/conans/zlib/1.3/user/$table/latest"),
        ),
        (
            "instance name",
            format!("{INSTANCE}/v2/conans/x/1.3/group+private/stable/latest"),
        ),
        (
            "recipe revision",
            format!("{project}/v2/conans/{recipe}/revisions/invalid_revi$ion/files"),
        ),
        (
            "recipe revision upper case",
            format!(
                "{project}/v2/conans/{recipe}/revisions/{}/files",
                revision.to_uppercase()
            ),
        ),
        (
            "package id",
            format!("{project}/v2/conans/{recipe}/revisions/{revision}/packages/123456789/latest"),
        ),
        (
            "package revision",
            format!(
                "{project}/v2/conans/{recipe}/revisions/{revision}/packages/{package}/revisions/xyz/files"
            ),
        ),
        (
            "path traversal",
            format!(
                "{project}/v2/conans/{recipe}/revisions/{revision}/files/metadata/../../etc/passwd"
            ),
        ),
        (
            "encoded traversal",
            format!("{project}/v2/conans/{recipe}/revisions/{revision}/files/%2E%2E/conanfile.py"),
        ),
        (
            "empty segment",
            format!("{project}/v2/conans/{recipe}/revisions/{revision}/files/metadata//x"),
        ),
        (
            "backslash",
            format!("{project}/v2/conans/{recipe}/revisions/{revision}/files/metadata%5Cx"),
        ),
        (
            "empty path",
            format!("{project}/v2/conans/{recipe}/revisions/{revision}/files/"),
        ),
    ];
    let mut messages: BTreeMap<&str, String> = BTreeMap::new();
    for (name, url) in cases {
        for method in ["GET", "PUT", "DELETE"] {
            let reply = send(&app, request(method, &url, None)).await;
            if reply.status == StatusCode::METHOD_NOT_ALLOWED {
                continue;
            }
            let message = reply.message(StatusCode::BAD_REQUEST);
            if let Some(seen) = messages.get(name) {
                assert_eq!(seen, &message, "{name} {method}");
            }
            messages.insert(name, message);
        }
    }
    snap!("invalid_parameters", messages);

    // The same checks for an authorized caller, who never reaches the store with them.
    let url = format!("{project}/v2/conans/{recipe}/revisions/{revision}/files/%2E%2E/x");
    let reply = send(&app, put(&url, b"x", auth)).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

#[actix_web::test]
async fn unknown_routes_and_methods() {
    let registry = Registry::new();
    let app = registry.app().await;
    let recipe = format!("{}/v2/conans/zlib/1.3/_/_", project_base(&registry.public));
    // No GET on a revision alone (the client never asks); no PUT on a file list.
    let reply = send(
        &app,
        request("GET", &format!("{recipe}/revisions/{}", rrev('a')), None),
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    let reply = send(&app, request("PUT", &format!("{recipe}/latest"), None)).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    let reply = send(&app, request("GET", "/api/v4/packages/conan/v3/ping", None)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}
