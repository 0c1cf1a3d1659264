//! `GET v2/conans/search`: patterns, GitLab's limits, ordering, scoping and the result cap.

use actix_web::http::StatusCode;
use conan_api::ApiConfig;
use serde_json::{Value, json};

use crate::snap;
use crate::support::{INSTANCE, Registry, project_base, recipe_files, request, rrev, send, upload};

/// Uploads one revision of each `name/version/user/channel` into `project`.
async fn seed<S, B>(app: &S, registry: &Registry, base: &str, references: &[&str])
where
    S: actix_web::dev::Service<
            actix_http::Request,
            Response = actix_web::dev::ServiceResponse<B>,
            Error = actix_web::Error,
        >,
    B: actix_web::body::MessageBody,
{
    for segments in references {
        let url = format!("{base}/v2/conans/{segments}/revisions/{}", rrev('a'));
        upload(app, &url, &recipe_files(), &registry.callers.admin).await;
    }
}

fn results(value: &Value) -> Vec<String> {
    value["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item.as_str().unwrap().to_owned())
        .collect()
}

#[actix_web::test]
async fn search_patterns_order_and_scope() {
    let registry = Registry::new();
    let app = registry.app().await;
    let public = project_base(&registry.public);
    let private = project_base(&registry.private);
    seed(
        &app,
        &registry,
        &public,
        &[
            "zlib/1.3/_/_",
            "zlib/1.3.1/_/_",
            "zlib/1.3/group+public/stable",
            "Zlib/2.0/_/_",
            "zlibx/1.0/_/_",
            "boost/1.86/group+public/_",
        ],
    )
    .await;
    seed(
        &app,
        &registry,
        &private,
        &["openssl/3.0/group+private/stable", "zlib/1.3/_/_"],
    )
    .await;
    // A revision that is never committed is never found.
    let url = format!("{public}/v2/conans/hidden/1.0/_/_/revisions/{}", rrev('a'));
    upload(&app, &url, &recipe_files()[..2], &registry.callers.admin).await;

    let search = |base: &str, query: &str, auth: Option<&str>| {
        request("GET", &format!("{base}/v2/conans/search{query}"), auth)
    };
    let mut answers = serde_json::Map::new();
    for (label, base, query, auth) in [
        ("project, everything", public.as_str(), "", None),
        ("project, star", public.as_str(), "?q=%2A", None),
        ("project, name", public.as_str(), "?q=zlib", None),
        (
            "project, name/version",
            public.as_str(),
            "?q=zlib%2F1.3",
            None,
        ),
        (
            "project, case-sensitive",
            public.as_str(),
            "?q=zlib&ignorecase=False",
            None,
        ),
        ("project, user", public.as_str(), "?q=%2A%2F%2A%40%2A", None),
        (
            "project, plus",
            public.as_str(),
            "?q=zlib%2F1.3%40group%2Bpublic%2Fstable",
            None,
        ),
        ("project, no match", public.as_str(), "?q=nothere", None),
        ("project, empty q", public.as_str(), "?q=", None),
        (
            "private project, member",
            private.as_str(),
            "?q=%2A",
            Some(registry.callers.guest.as_str()),
        ),
        ("instance, anonymous", INSTANCE, "?q=%2A", None),
        (
            "instance, member",
            INSTANCE,
            "?q=%2A",
            Some(registry.callers.reporter.as_str()),
        ),
        (
            "instance, outsider",
            INSTANCE,
            "?q=%2A",
            Some(registry.callers.outsider.as_str()),
        ),
        (
            "instance, admin",
            INSTANCE,
            "?q=%2A",
            Some(registry.callers.admin.as_str()),
        ),
        (
            "instance, deploy token",
            INSTANCE,
            "?q=%2A",
            Some(registry.callers.deploy_read.as_str()),
        ),
    ] {
        let reply = send(&app, search(base, query, auth)).await;
        let body = reply.ok_json();
        let found = results(&body);
        let mut sorted = found.clone();
        sorted.sort();
        assert_eq!(found, sorted, "{label}: sorted");
        assert!(
            found.iter().all(|reference| !reference.contains('_')),
            "{label}"
        );
        answers.insert(label.to_owned(), body);
    }
    snap!("search_results", answers);

    // The private project: anonymous callers log in, outsiders cannot see it.
    let reply = send(&app, search(&private, "?q=%2A", None)).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    let reply = send(
        &app,
        search(&private, "?q=%2A", Some(&registry.callers.outsider)),
    )
    .await;
    assert_eq!(
        reply.message(StatusCode::NOT_FOUND),
        "404 Project Not Found"
    );
    for base in [public.as_str(), INSTANCE] {
        let reply = send(&app, search(base, "", Some("Bearer nonsense"))).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
}

#[actix_web::test]
async fn search_limits() {
    let registry = Registry::with_config(ApiConfig {
        search_limit: 2,
        ..ApiConfig::default()
    });
    let app = registry.app().await;
    let public = project_base(&registry.public);
    seed(
        &app,
        &registry,
        &public,
        &["aa/1.0/_/_", "bb/1.0/_/_", "cc/1.0/_/_"],
    )
    .await;
    for base in [public.as_str(), INSTANCE] {
        let reply = send(
            &app,
            request("GET", &format!("{base}/v2/conans/search?q=%2A"), None),
        )
        .await;
        assert_eq!(reply.ok_json(), json!({"results": ["aa/1.0", "bb/1.0"]}));

        let long = "a".repeat(201);
        let reply = send(
            &app,
            request("GET", &format!("{base}/v2/conans/search?q={long}"), None),
        )
        .await;
        snap!("search_too_long", reply.error(StatusCode::BAD_REQUEST));
        let exactly = "a".repeat(200);
        let reply = send(
            &app,
            request("GET", &format!("{base}/v2/conans/search?q={exactly}"), None),
        )
        .await;
        assert_eq!(reply.ok_json(), json!({"results": []}));

        let stars = "al%2Ah%2A%2F%2A%40%2Ann%2A%2F%2A";
        let reply = send(
            &app,
            request("GET", &format!("{base}/v2/conans/search?q={stars}"), None),
        )
        .await;
        snap!(
            "search_too_many_wildcards",
            reply.error(StatusCode::BAD_REQUEST)
        );
    }
}
