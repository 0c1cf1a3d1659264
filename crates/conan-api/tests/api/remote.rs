//! Remote projects over HTTP: a project of one registry caching another registry served on a
//! real loopback port (the upstream), which counts the requests it gets. A miss fetches, a hit
//! does not; with the upstream stopped what is cached is served (lists marked stale) and what
//! is not is a 502/504 naming the upstream's host; uploads are refused; reading needs only read
//! permission, and a private remote project is a 404 to outsiders.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use actix_web::dev::{Service as _, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, HttpServer};
use conan_model::RevisionTime;
use conan_store::remotes::RemoteSettings;
use conan_store::{FileOwner, Project, RecipeRevisionKey, RemoteStore};
use futures::future::LocalBoxFuture;
use md5::Digest as _;

use crate::support::{
    Registry, package_files, pkgid, project_base, put, recipe_files, request, rrev, send, upload,
};

/// `files` with a manifest that lists the md5 of the file it names, as a real client's does
/// (the mirror checks them; the shared fixtures' manifests list placeholder sums).
fn consistent(
    files: Vec<(&'static str, &'static [u8])>,
    listed: &str,
) -> Vec<(&'static str, Vec<u8>)> {
    let content = files.iter().find(|(path, _)| *path == listed).unwrap().1;
    let manifest = format!("1734426000\n{listed}: {:x}\n", md5::Md5::digest(content));
    files
        .into_iter()
        .map(|(path, content)| match path {
            "conanmanifest.txt" => (path, manifest.clone().into_bytes()),
            _ => (path, content.to_vec()),
        })
        .collect()
}

/// The upstream's recipe revision files.
fn mirrored_recipe() -> Vec<(&'static str, Vec<u8>)> {
    consistent(recipe_files(), "conanfile.py")
}

/// The upstream's package revision files.
fn mirrored_package() -> Vec<(&'static str, Vec<u8>)> {
    consistent(package_files(), "conaninfo.txt")
}

/// `files` as the upload helper takes them.
fn borrowed<'a>(files: &'a [(&'static str, Vec<u8>)]) -> Vec<(&'static str, &'a [u8])> {
    files
        .iter()
        .map(|(path, content)| (*path, content.as_slice()))
        .collect()
}

/// Requests the upstream got: all of them, and file downloads.
#[derive(Default)]
struct Counts {
    /// When set, the upstream answers every request with a 503.
    failing: AtomicBool,
    all: AtomicUsize,
    files: AtomicUsize,
    lists: AtomicUsize,
    searches: AtomicUsize,
    package_searches: AtomicUsize,
}

/// The upstream: `zlib/1.3#aaaa…:bbbb…#cccc…` in its public project, served on loopback.
async fn upstream() -> (Registry, String, Arc<Counts>, actix_web::dev::ServerHandle) {
    let registry = Registry::new();
    {
        let app = registry.app().await;
        let base = registry.public_revision();
        let auth = registry.callers.developer.clone();
        upload(&app, &base, &borrowed(&mirrored_recipe()), &auth).await;
        let package = format!("{base}/packages/{}/revisions/{}", pkgid('b'), rrev('c'));
        upload(&app, &package, &borrowed(&mirrored_package()), &auth).await;
    }

    let counts = Arc::new(Counts::default());
    let state = registry.state.clone();
    let counting = Arc::clone(&counts);
    let server = HttpServer::new(move || {
        let counts = Arc::clone(&counting);
        App::new()
            .app_data(state.clone())
            .wrap_fn(move |request, service| {
                counts.all.fetch_add(1, Ordering::SeqCst);
                if request.path().contains("/files/") {
                    counts.files.fetch_add(1, Ordering::SeqCst);
                }
                if request.path().ends_with("/revisions") {
                    counts.lists.fetch_add(1, Ordering::SeqCst);
                }
                if request.path().ends_with("/conans/search") {
                    counts.searches.fetch_add(1, Ordering::SeqCst);
                } else if request.path().ends_with("/search") {
                    counts.package_searches.fetch_add(1, Ordering::SeqCst);
                }
                let answer: LocalBoxFuture<'static, _> = if counts.failing.load(Ordering::SeqCst) {
                    let response =
                        request.into_response(HttpResponse::ServiceUnavailable().finish());
                    Box::pin(async move { Ok(response) })
                } else {
                    let call = service.call(request);
                    Box::pin(async move { call.await.map(ServiceResponse::map_into_boxed_body) })
                };
                answer
            })
            .configure(conan_api::configure)
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let address = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let url = format!("http://{address}{}", project_base(&registry.public));
    (registry, url, counts, handle)
}

/// Makes `project` of `registry` a remote project of `url`, lists fresh for `ttl_secs`.
fn make_remote(registry: &Registry, project: &Project, url: &str, ttl_secs: u32) {
    let store: &dyn RemoteStore = registry.state.metadata.as_ref();
    let settings = RemoteSettings {
        upstream_url: url.to_owned(),
        sealed_credentials: None,
        metadata_ttl_secs: ttl_secs,
        not_found_ttl_secs: 1,
        updated_at: None,
    };
    store
        .set_remote(
            project.id,
            &settings,
            RevisionTime::from_system_time(std::time::SystemTime::now()).unwrap(),
        )
        .unwrap();
}

/// `zlib/1.3#aaaa…` in `project`.
fn zlib_revision(project: &Project) -> RecipeRevisionKey {
    RecipeRevisionKey {
        project: project.id,
        recipe: "zlib/1.3".parse().unwrap(),
        revision: rrev('a').parse().unwrap(),
    }
}

/// Waits (a bounded time) until `project` of `registry` holds `zlib/1.3#aaaa…`: a fetch goes
/// on in the background after the client has its answers, and commits the revision last.
async fn held(registry: &Registry, project: &Project) {
    committed(registry, &FileOwner::Recipe(zlib_revision(project))).await;
}

/// Waits (a bounded time) until `registry` holds the revision `owner` names.
async fn committed(registry: &Registry, owner: &FileOwner) {
    let started = Instant::now();
    while registry.state.metadata.files(owner).unwrap().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "never committed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[actix_web::test]
async fn a_miss_fetches_a_hit_does_not_and_the_upstream_down_is_served_or_a_clear_502() {
    let (_upstream, url, counts, handle) = upstream().await;
    let registry = Registry::new();
    make_remote(&registry, &registry.public, &url, 2);
    let app = registry.app().await;
    let recipe = format!("{}/v2/conans/zlib/1.3/_/_", project_base(&registry.public));
    let revision = format!("{recipe}/revisions/{}", rrev('a'));
    let package = format!("{revision}/packages/{}", pkgid('b'));

    // Lists: one upstream request however often asked within the time to live.
    for _ in 0..3 {
        let reply = send(&app, request("GET", &format!("{recipe}/latest"), None)).await;
        assert_eq!(reply.ok_json()["revision"], rrev('a'));
        assert_eq!(reply.header("Warning"), None);
    }
    assert_eq!(counts.lists.load(Ordering::SeqCst), 1);
    let counters = registry.state.remotes.counters();
    let (project, counters) = &counters[0];
    assert_eq!(*project, registry.public.id);
    let load = |counter: &std::sync::atomic::AtomicU64| counter.load(Ordering::SeqCst);
    assert_eq!(load(&counters.cache_misses), 1);
    assert_eq!(load(&counters.cache_hits), 2);
    assert_eq!(load(&counters.upstream_requests), 1);

    // Nothing fetched yet; the first file read starts the revision's fetch and answers from
    // it (the upstream's list, each file as it arrives), each file fetched once.
    assert_eq!(counts.files.load(Ordering::SeqCst), 0);
    let reply = send(&app, request("GET", &format!("{revision}/files"), None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let listed = reply.ok_json()["files"].as_object().unwrap().len();
    assert_eq!(listed, mirrored_recipe().len());
    for (path, content) in mirrored_recipe() {
        let reply = send(
            &app,
            request("GET", &format!("{revision}/files/{path}"), None),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.body.as_ref(), content.as_slice(), "{path}");
    }
    let fetched = counts.files.load(Ordering::SeqCst);
    assert_eq!(fetched, mirrored_recipe().len());
    // Held now (the manifest stored last commits it): read again, nothing is fetched.
    for (path, content) in mirrored_recipe() {
        let reply = send(
            &app,
            request("GET", &format!("{revision}/files/{path}"), None),
        )
        .await;
        assert_eq!(reply.body.as_ref(), content.as_slice(), "{path}");
    }
    assert_eq!(counts.files.load(Ordering::SeqCst), fetched);
    let sizes: usize = mirrored_recipe()
        .iter()
        .map(|(_, content)| content.len())
        .sum();
    // The fetch stores the manifest last, after the clients may have all their answers (the
    // manifest is answered from memory): its bytes count once it is stored.
    let started = Instant::now();
    while load(&counters.fetched_bytes) < sizes as u64
        && started.elapsed() < Duration::from_secs(20)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(load(&counters.fetched_bytes), sizes as u64);
    let reply = send(&app, request("GET", &format!("{package}/latest"), None)).await;
    assert_eq!(reply.ok_json()["revision"], rrev('c'));

    // Uploads are refused, whoever sends them, and store nothing.
    let (path, content) = recipe_files()[0];
    let other = format!("{recipe}/revisions/{}/files/{path}", rrev('d'));
    let reply = send(&app, put(&other, content, &registry.callers.admin)).await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    assert!(
        reply
            .message(StatusCode::FORBIDDEN)
            .contains("remote project")
    );
    assert!(reply.message(StatusCode::FORBIDDEN).contains("127.0.0.1"));

    // An upstream 404 is a 404.
    let missing = format!(
        "{}/v2/conans/absent/1.0/_/_/latest",
        project_base(&registry.public)
    );
    let reply = send(&app, request("GET", &missing, None)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);

    handle.stop(false).await;
    tokio::time::sleep(Duration::from_millis(2200)).await;

    // Cached: served, the expired list marked stale.
    let reply = send(&app, request("GET", &format!("{recipe}/latest"), None)).await;
    assert_eq!(reply.ok_json()["revision"], rrev('a'));
    assert_eq!(reply.header("Warning"), Some("110 - \"Response is Stale\""));
    assert_eq!(load(&counters.stale_answers), 1);
    let reply = send(
        &app,
        request("GET", &format!("{revision}/files/conanfile.py"), None),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);

    // Not cached: a clear 502/504 naming the upstream, fast.
    let started = Instant::now();
    let files = format!("{package}/revisions/{}/files", rrev('c'));
    let reply = send(&app, request("GET", &files, None)).await;
    assert!(
        matches!(
            reply.status,
            StatusCode::BAD_GATEWAY | StatusCode::GATEWAY_TIMEOUT
        ),
        "{reply:?}"
    );
    assert!(
        String::from_utf8_lossy(&reply.body).contains("127.0.0.1"),
        "{reply:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[actix_web::test]
async fn reading_a_private_remote_project_needs_read_permission_only() {
    let (_upstream, url, counts, _handle) = upstream().await;
    let registry = Registry::new();
    make_remote(&registry, &registry.private, &url, 300);
    let app = registry.app().await;
    let revision = format!(
        "{}/v2/conans/zlib/1.3/_/_/revisions/{}",
        project_base(&registry.private),
        rrev('a')
    );
    let files = format!("{revision}/files");
    // Outsiders get a 404, anonymous callers a 401, and neither makes the upstream fetch: for
    // the file list, and for the package search, which asks the upstream only for a caller who
    // may read.
    for path in [files.clone(), format!("{revision}/search")] {
        let outsider = request("GET", &path, Some(&registry.callers.outsider));
        assert_eq!(
            send(&app, outsider).await.status,
            StatusCode::NOT_FOUND,
            "{path}"
        );
        let anonymous = request("GET", &path, None);
        assert_eq!(
            send(&app, anonymous).await.status,
            StatusCode::UNAUTHORIZED,
            "{path}"
        );
    }
    assert_eq!(counts.all.load(Ordering::SeqCst), 0);
    // A guest may read the project, and the cache writes on the registry's behalf.
    let reply = send(
        &app,
        request("GET", &files, Some(&registry.callers.reporter)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{reply:?}");
    let reply = send(
        &app,
        request(
            "GET",
            &format!("{revision}/files/conanfile.py"),
            Some(&registry.callers.reporter),
        ),
    )
    .await;
    assert_eq!(reply.body.as_ref(), mirrored_recipe()[2].1);
    held(&registry, &registry.private).await;
    // A reporter may not delete; a maintainer removes cached content as usual.
    let reply = send(
        &app,
        request("DELETE", &revision, Some(&registry.callers.reporter)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    let reply = send(
        &app,
        request("DELETE", &revision, Some(&registry.callers.maintainer)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[actix_web::test]
async fn conan_1_gets_only_what_is_cached_and_cannot_upload() {
    let (_upstream, url, counts, _handle) = upstream().await;
    let registry = Registry::new();
    make_remote(&registry, &registry.public, &url, 300);
    let app = registry.app().await;
    let v1 = format!("{}/v1/conans/zlib/1.3/_/_", project_base(&registry.public));
    // Nothing cached: v1 sees an empty recipe and never asks the upstream.
    let reply = send(&app, request("GET", &v1, None)).await;
    assert_eq!(reply.ok_json(), serde_json::json!({}));
    assert_eq!(counts.all.load(Ordering::SeqCst), 0);
    let reply = send(
        &app,
        request(
            "POST",
            &format!("{v1}/upload_urls"),
            Some(&registry.callers.admin),
        )
        .insert_header(("Content-Type", "application/json"))
        .set_payload(r#"{"conanfile.py": 10}"#),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // Once Conan 2 has brought the revision, v1 serves it.
    let files = format!(
        "{}/v2/conans/zlib/1.3/_/_/revisions/{}/files",
        project_base(&registry.public),
        rrev('a')
    );
    assert_eq!(
        send(&app, request("GET", &files, None)).await.status,
        StatusCode::OK
    );
    held(&registry, &registry.public).await;
    let snapshot = send(&app, request("GET", &v1, None)).await.ok_json();
    assert!(snapshot.get("conanfile.py").is_some(), "{snapshot}");
}

#[actix_web::test]
async fn an_upstream_answering_5xx_is_a_502_and_its_stale_list_is_served() {
    let (_upstream, url, counts, _handle) = upstream().await;
    let registry = Registry::new();
    make_remote(&registry, &registry.public, &url, 1);
    let app = registry.app().await;
    let recipe = format!("{}/v2/conans/zlib/1.3/_/_", project_base(&registry.public));
    let reply = send(&app, request("GET", &format!("{recipe}/revisions"), None)).await;
    assert_eq!(reply.ok_json()["revisions"][0]["revision"], rrev('a'));

    counts.failing.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply = send(&app, request("GET", &format!("{recipe}/revisions"), None)).await;
    assert_eq!(reply.ok_json()["revisions"][0]["revision"], rrev('a'));
    assert_eq!(reply.header("Warning"), Some("110 - \"Response is Stale\""));
    let files = format!("{recipe}/revisions/{}/files", rrev('a'));
    let reply = send(&app, request("GET", &files, None)).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{reply:?}");
    let message = reply.message(StatusCode::BAD_GATEWAY);
    assert!(
        message.contains("127.0.0.1") && message.contains("HTTP 503"),
        "{message}"
    );
    // Nothing was kept from the failure: the upstream back, the same read fetches.
    counts.failing.store(false, Ordering::SeqCst);
    assert_eq!(
        send(&app, request("GET", &files, None)).await.status,
        StatusCode::OK
    );
}

#[actix_web::test]
async fn a_search_at_a_remote_project_asks_its_upstream_once_per_ttl() {
    let (_upstream, url, counts, _handle) = upstream().await;
    let registry = Registry::new();
    make_remote(&registry, &registry.public, &url, 1);
    let app = registry.app().await;
    let search = |q: &str| format!("{}/v2/conans/search?q={q}", project_base(&registry.public));
    // Nothing is held yet: the upstream's answer, filtered by our own pattern matching.
    for _ in 0..3 {
        let reply = send(&app, request("GET", &search("zlib*"), None)).await;
        assert_eq!(reply.ok_json()["results"], serde_json::json!(["zlib/1.3"]));
        assert_eq!(reply.header("Warning"), None);
    }
    assert_eq!(
        counts.searches.load(Ordering::SeqCst),
        1,
        "cached for the TTL"
    );
    let reply = send(&app, request("GET", &search("openssl*"), None)).await;
    assert_eq!(reply.ok_json()["results"], serde_json::json!([]));
    // A case-sensitive search does not take the upstream's looser matches.
    let reply = send(
        &app,
        request(
            "GET",
            &format!("{}&ignorecase=False", search("ZLIB*")),
            None,
        ),
    )
    .await;
    assert_eq!(reply.ok_json()["results"], serde_json::json!([]));
    // The instance prefix searches only what projects hold.
    let reply = send(
        &app,
        request(
            "GET",
            "/api/v4/packages/conan/v2/conans/search?q=zlib*",
            None,
        ),
    )
    .await;
    assert_eq!(reply.ok_json()["results"], serde_json::json!([]));
    // The upstream failing: the last answer, marked stale; an uncached search answers what
    // the project holds (nothing), marked stale too.
    counts.failing.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply = send(&app, request("GET", &search("zlib*"), None)).await;
    assert_eq!(reply.ok_json()["results"], serde_json::json!(["zlib/1.3"]));
    assert_eq!(reply.header("Warning"), Some("110 - \"Response is Stale\""));
    let reply = send(&app, request("GET", &search("boost*"), None)).await;
    assert_eq!(reply.ok_json()["results"], serde_json::json!([]));
    assert_eq!(reply.header("Warning"), Some("110 - \"Response is Stale\""));
}

#[actix_web::test]
async fn a_package_search_at_a_remote_project_lists_the_upstreams_binaries() {
    let (_upstream, url, counts, _handle) = upstream().await;
    let registry = Registry::new();
    make_remote(&registry, &registry.public, &url, 1);
    let app = registry.app().await;
    let recipe = format!("{}/v2/conans/zlib/1.3/_/_", project_base(&registry.public));
    let search = format!("{recipe}/revisions/{}/search", rrev('a'));
    let conaninfo = String::from_utf8(mirrored_package()[1].1.clone()).unwrap();
    // Nothing is held: the upstream's binaries, with their conaninfo.txt, one upstream
    // request per time to live, no file fetched.
    for _ in 0..3 {
        let reply = send(&app, request("GET", &search, None)).await;
        let found = reply.ok_json();
        assert_eq!(found[pkgid('b')]["content"], conaninfo.as_str(), "{found}");
        assert_eq!(found[pkgid('b')]["settings"]["os"], "Linux", "{found}");
        assert_eq!(found.as_object().unwrap().len(), 1);
        assert_eq!(reply.header("Warning"), None);
    }
    assert_eq!(counts.package_searches.load(Ordering::SeqCst), 1);
    assert_eq!(counts.files.load(Ordering::SeqCst), 0);
    let reply = send(
        &app,
        request("GET", &format!("{search}?list_only=True"), None),
    )
    .await;
    assert_eq!(reply.ok_json(), serde_json::json!({ pkgid('b'): {} }));
    // `R/search` takes the upstream's latest revision.
    let reply = send(&app, request("GET", &format!("{recipe}/search"), None)).await;
    assert_eq!(reply.ok_json()[pkgid('b')]["content"], conaninfo.as_str());
    // A recipe neither the upstream nor the project has is a 404; a revision the upstream
    // has not got, of a recipe it has, is an empty answer as from any Conan server.
    let absent = format!(
        "{}/v2/conans/absent/1.0/_/_/revisions/{}/search",
        project_base(&registry.public),
        rrev('a')
    );
    assert_eq!(
        send(&app, request("GET", &absent, None)).await.status,
        StatusCode::NOT_FOUND
    );
    let other = format!("{recipe}/revisions/{}/search", rrev('d'));
    assert_eq!(
        send(&app, request("GET", &other, None)).await.ok_json(),
        serde_json::json!({})
    );

    // The upstream failing: the last answer, marked stale; a search never cached, of a recipe
    // the project does not hold, is a 502 naming the upstream.
    counts.failing.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let reply = send(&app, request("GET", &search, None)).await;
    assert_eq!(reply.ok_json()[pkgid('b')]["content"], conaninfo.as_str());
    assert_eq!(reply.header("Warning"), Some("110 - \"Response is Stale\""));
    let uncached = format!("{recipe}/revisions/{}/search", rrev('e'));
    let reply = send(&app, request("GET", &uncached, None)).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{reply:?}");
    assert!(reply.message(StatusCode::BAD_GATEWAY).contains("127.0.0.1"));

    // Once a binary is held, it is answered with the upstream failing and nothing cached.
    counts.failing.store(false, Ordering::SeqCst);
    let package = format!(
        "{recipe}/revisions/{}/packages/{}/revisions/{}",
        rrev('a'),
        pkgid('b'),
        rrev('c')
    );
    let reply = send(
        &app,
        request("GET", &format!("{package}/files/conaninfo.txt"), None),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let owner = FileOwner::Package(conan_store::PackageRevisionKey {
        recipe: zlib_revision(&registry.public),
        package_id: pkgid('b').parse().unwrap(),
        revision: rrev('c').parse().unwrap(),
    });
    committed(&registry, &owner).await;
    counts.failing.store(true, Ordering::SeqCst);
    // The settings saved again: the node builds the project's upstream anew, with an empty
    // cache (as after a restart). The held binary is answered, stale.
    make_remote(&registry, &registry.public, &url, 1);
    let reply = send(&app, request("GET", &search, None)).await;
    assert_eq!(reply.ok_json()[pkgid('b')]["content"], conaninfo.as_str());
    assert_eq!(reply.header("Warning"), Some("110 - \"Response is Stale\""));
}
