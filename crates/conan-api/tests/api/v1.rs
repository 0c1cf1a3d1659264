//! The Conan v1 API as the Conan 1.66 client drives it without revisions: snapshots, digests,
//! download and upload URLs, the checksum-deploy probe before each PUT, the legacy package
//! search and the v1 deletes, at both prefixes; and its coexistence with Conan 2 uploads.

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use conan_api::ApiConfig;
use conan_store::blob::md5_hex;
use serde_json::{Value, json};

use crate::snap;
use crate::support::{
    INSTANCE, Registry, package_files, pkgid, project_base, put, recipe_files, redact, request,
    rrev, send, sha1_hex, upload,
};

/// The `Host` the tests' requests carry.
const HOST: &str = "conan.test";
/// The origin URLs are built from without `external_url`.
const ORIGIN: &str = "http://conan.test";

/// The recipe files a Conan 1 client uploads, the manifest last.
fn v1_recipe_files() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("conan_sources.tgz", b"\x1f\x8b v1 sources\x00"),
        ("conanfile.py", b"from conans import ConanFile\n"),
        ("conanmanifest.txt", b"1734426000\nconanfile.py: 00\n"),
    ]
}

/// The package files of a Conan 1 binary, the manifest last.
fn v1_package_files(seed: &str) -> Vec<(&'static str, Vec<u8>)> {
    vec![
        (
            "conan_package.tgz",
            format!("\x1f v1 package {seed}").into_bytes(),
        ),
        (
            "conaninfo.txt",
            format!(
                "[settings]\n    arch=x86_64\n    os=Linux\n\n[requires]\n\n[options]\n    \
                 shared=False\n\n[full_requires]\n    zstd/1.5.5:{}\n\n[recipe_hash]\n    \
                 {seed}\n",
                pkgid('9')
            )
            .into_bytes(),
        ),
        (
            "conanmanifest.txt",
            format!("1734426001\nconaninfo.txt: {seed}\n").into_bytes(),
        ),
    ]
}

/// A request carrying the test `Host`.
fn at_host(method: &str, uri: &str, auth: Option<&str>) -> actix_web::test::TestRequest {
    request(method, uri, auth).insert_header(("Host", HOST))
}

/// A POST of a JSON body.
fn post(uri: &str, body: &[u8], auth: Option<&str>) -> actix_web::test::TestRequest {
    at_host("POST", uri, auth)
        .insert_header(("Content-Type", "application/json"))
        .set_payload(body.to_vec())
}

/// The path of an absolute URL of this origin.
fn path_of(url: &str) -> &str {
    url.strip_prefix(ORIGIN)
        .unwrap_or_else(|| panic!("{url} is not under {ORIGIN}"))
}

/// The URLs of an `upload_urls` answer without their `?upload=<id>`, after checking that every
/// URL names the same, well-formed upload.
fn without_upload(urls: &Value) -> Value {
    let mut ids = std::collections::BTreeSet::new();
    let stripped = urls
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, url)| {
            let (base, id) = url.as_str().unwrap().split_once("?upload=").unwrap();
            assert!(
                id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
                "{url}"
            );
            ids.insert(id.to_owned());
            (name.clone(), Value::from(base))
        })
        .collect::<serde_json::Map<_, _>>();
    assert!(ids.len() <= 1, "one upload per answer: {ids:?}");
    stripped.into()
}

/// Uploads `files` through the URLs of an `upload_urls` answer as the Conan 1 client does:
/// the checksum-deploy probe (404, content unknown), then the real PUT (200).
async fn put_v1<S, B>(app: &S, urls: &Value, files: &[(&str, &[u8])], auth: &str)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    for (name, content) in files {
        let url = path_of(urls[name].as_str().unwrap());
        let probe = request("PUT", url, Some(auth))
            .insert_header(("X-Checksum-Deploy", "true"))
            .insert_header(("X-Checksum-Sha1", sha1_hex(content)));
        let reply = send(app, probe).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{name} probe");
        let reply = send(app, put(url, content, auth)).await;
        let body = reply.ok_json();
        assert_eq!(body["file_name"], *name);
        assert_eq!(body["recipe_revision"], "0");
    }
}

/// Downloads every URL of a `download_urls` answer and compares it with `files`.
async fn get_all<S, B>(app: &S, urls: &Value, files: &[(&str, &[u8])], auth: &str)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let urls = urls.as_object().unwrap();
    assert_eq!(urls.len(), files.len(), "{urls:?}");
    for (name, content) in files {
        let url = urls[*name].as_str().unwrap();
        let reply = send(app, request("GET", path_of(url), Some(auth))).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}");
        assert_eq!(reply.body.as_ref(), *content, "{name} byte for byte");
        assert_eq!(
            reply.header("content-type"),
            Some("application/octet-stream")
        );
    }
}

/// Posts `body` to the `remove_files` route of `recipe`; returns the status.
async fn remove_files<S, B>(app: &S, recipe: &str, body: &[u8], auth: &str) -> StatusCode
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(
        app,
        post(&format!("{recipe}/remove_files"), body, Some(auth)),
    )
    .await
    .status
}

/// Downloads every file of the `download_urls` answer of `at` (a recipe or package
/// `v1/conans` URL) and compares it with `files`.
async fn download_all<S, B>(app: &S, at: &str, files: &[(&str, &[u8])], auth: &str)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let reply = send(
        app,
        at_host("GET", &format!("{at}/download_urls"), Some(auth)),
    )
    .await;
    get_all(app, &reply.ok_json(), files, auth).await;
}

/// `{file: md5}` of `files`.
fn md5s(files: &[(&str, &[u8])]) -> Value {
    files
        .iter()
        .map(|(name, content)| ((*name).to_owned(), Value::from(md5_hex(content))))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The keys of a JSON object, in answer order.
fn keys(body: &[u8]) -> Vec<String> {
    // `serde_json::Value` sorts keys; the raw text keeps the server's order.
    let text = std::str::from_utf8(body).unwrap();
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("\":\"") {
        let before = &rest[..start];
        let open = before.rfind('"').unwrap();
        keys.push(before[open + 1..].to_owned());
        rest = &rest[start + 3..];
        let close = rest.find('"').unwrap();
        rest = &rest[close + 1..];
    }
    keys
}

/// The whole v1 life of a recipe and its packages under one prefix.
async fn v1_flow(registry: &Registry, base: &str, segments: &str, label: &str) {
    let app = registry.app().await;
    let auth = registry.callers.maintainer.as_str();
    let recipe = format!("{base}/v1/conans/{segments}");
    let package = format!("{recipe}/packages/{}", pkgid('b'));
    let files_base = format!("{ORIGIN}{base}/v1/files/{segments}");

    // `conan upload`: digest 404, snapshot `{}`.
    let reply = send(
        &app,
        at_host("GET", &format!("{recipe}/digest"), Some(auth)),
    )
    .await;
    snap!("v1_digest_missing", reply.error(StatusCode::NOT_FOUND));
    let reply = send(
        &app,
        at_host("GET", &format!("{recipe}/download_urls"), Some(auth)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = send(&app, at_host("GET", &recipe, Some(auth))).await;
    assert_eq!(reply.ok_json(), json!({}));

    // Upload URLs: known names only, in request order, under revision `0`.
    let body = br#"{"conanmanifest.txt":30,"conanfile.py":29,"invalid_file.txt":1,"conan_sources.tgz":20,"conaninfo.txt":4,"metadata/x.log":3}"#;
    let reply = send(
        &app,
        post(&format!("{recipe}/upload_urls"), body, Some(auth)),
    )
    .await;
    let urls = reply.ok_json();
    assert_eq!(
        keys(&reply.body),
        ["conanmanifest.txt", "conanfile.py", "conan_sources.tgz"]
    );
    assert_eq!(
        without_upload(&urls)["conanfile.py"],
        format!("{files_base}/0/export/conanfile.py")
    );
    snap!(
        format!("v1_{label}_recipe_upload_urls"),
        without_upload(&urls)
    );
    put_v1(&app, &urls, &v1_recipe_files(), auth).await;

    // Snapshot, digest and download URLs of the committed revision `0`.
    let reply = send(&app, at_host("GET", &recipe, Some(auth))).await;
    assert_eq!(reply.ok_json(), md5s(&v1_recipe_files()));
    snap!("v1_recipe_snapshot", reply.ok_json());
    let reply = send(
        &app,
        at_host("GET", &format!("{recipe}/digest"), Some(auth)),
    )
    .await;
    assert_eq!(
        reply.ok_json(),
        json!({"conanmanifest.txt": format!("{files_base}/0/export/conanmanifest.txt")})
    );
    let reply = send(
        &app,
        at_host("GET", &format!("{recipe}/download_urls"), Some(auth)),
    )
    .await;
    let urls = reply.ok_json();
    snap!(format!("v1_{label}_recipe_download_urls"), urls);
    get_all(&app, &urls, &v1_recipe_files(), auth).await;

    // The package: snapshot `{}`, upload URLs, probe and PUT, then the reads.
    let reply = send(&app, at_host("GET", &package, Some(auth))).await;
    assert_eq!(reply.ok_json(), json!({}));
    let reply = send(
        &app,
        at_host("GET", &format!("{package}/digest"), Some(auth)),
    )
    .await;
    assert_eq!(
        reply.message(StatusCode::NOT_FOUND),
        "404 No recipe manifest found"
    );
    let body = br#"{"conan_package.tgz":1,"conaninfo.txt":2,"conanmanifest.txt":3,"conanfile.py":4,"nope":5}"#;
    let reply = send(
        &app,
        post(&format!("{package}/upload_urls"), body, Some(auth)),
    )
    .await;
    let urls = reply.ok_json();
    assert_eq!(
        keys(&reply.body),
        ["conan_package.tgz", "conaninfo.txt", "conanmanifest.txt"]
    );
    snap!(
        format!("v1_{label}_package_upload_urls"),
        without_upload(&urls)
    );
    let owned = v1_package_files("b");
    let files: Vec<(&str, &[u8])> = owned.iter().map(|(n, c)| (*n, c.as_slice())).collect();
    put_v1(&app, &urls, &files, auth).await;
    let reply = send(&app, at_host("GET", &package, Some(auth))).await;
    assert_eq!(reply.ok_json(), md5s(&files));
    let reply = send(
        &app,
        at_host("GET", &format!("{package}/digest"), Some(auth)),
    )
    .await;
    assert_eq!(
        reply.ok_json(),
        json!({"conanmanifest.txt": format!(
            "{files_base}/0/package/{}/0/conanmanifest.txt", pkgid('b')
        )})
    );
    let reply = send(
        &app,
        at_host("GET", &format!("{package}/download_urls"), Some(auth)),
    )
    .await;
    let urls = reply.ok_json();
    snap!(format!("v1_{label}_package_download_urls"), urls);
    get_all(&app, &urls, &files, auth).await;

    // A second package, then the legacy package search.
    let second = format!("{recipe}/packages/{}", pkgid('2'));
    let reply = send(
        &app,
        post(
            &format!("{second}/upload_urls"),
            br#"{"conan_package.tgz":1,"conaninfo.txt":2,"conanmanifest.txt":3}"#,
            Some(auth),
        ),
    )
    .await;
    let owned2 = v1_package_files("2");
    let files2: Vec<(&str, &[u8])> = owned2.iter().map(|(n, c)| (*n, c.as_slice())).collect();
    put_v1(&app, &reply.ok_json(), &files2, auth).await;
    let reply = send(
        &app,
        at_host("GET", &format!("{recipe}/search"), Some(auth)),
    )
    .await;
    snap!("v1_package_search", reply.ok_json());

    // Deletes: a subset, then everything with an empty list, then the recipe.
    let delete = format!("{recipe}/packages/delete");
    let ids = format!(r#"{{"package_ids":["{}"]}}"#, pkgid('b'));
    let reply = send(&app, post(&delete, ids.as_bytes(), Some(auth))).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let reply = send(
        &app,
        at_host("GET", &format!("{recipe}/search"), Some(auth)),
    )
    .await;
    let found = reply.ok_json();
    assert_eq!(
        found.as_object().unwrap().keys().collect::<Vec<_>>(),
        [&pkgid('2')]
    );
    let reply = send(&app, at_host("GET", &package, Some(auth))).await;
    assert_eq!(reply.ok_json(), json!({}));
    let reply = send(&app, post(&delete, br#"{"package_ids":[]}"#, Some(auth))).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = send(
        &app,
        at_host("GET", &format!("{recipe}/search"), Some(auth)),
    )
    .await;
    assert_eq!(reply.ok_json(), json!({}));

    let reply = send(&app, at_host("DELETE", &recipe, Some(auth))).await;
    snap!(format!("v1_{label}_delete_recipe"), reply.ok_json());
    let reply = send(&app, at_host("GET", &recipe, Some(auth))).await;
    assert_eq!(reply.ok_json(), json!({}));
    let reply = send(
        &app,
        at_host("GET", &format!("{recipe}/digest"), Some(auth)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = send(&app, at_host("DELETE", &recipe, Some(auth))).await;
    snap!("v1_delete_recipe_again", reply.error(StatusCode::NOT_FOUND));
    let reply = send(&app, post(&delete, br#"{"package_ids":[]}"#, Some(auth))).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = send(
        &app,
        at_host("GET", &format!("{recipe}/search"), Some(auth)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[actix_web::test]
async fn v1_flow_at_the_project_prefix() {
    let registry = Registry::new();
    let base = project_base(&registry.public);
    v1_flow(&registry, &base, "zlib/1.3/_/_", "project").await;
}

#[actix_web::test]
async fn v1_flow_at_the_instance_prefix() {
    let registry = Registry::new();
    v1_flow(
        &registry,
        INSTANCE,
        "zlib/1.3/group+public/stable",
        "instance",
    )
    .await;
}

#[actix_web::test]
async fn v1_urls_use_the_external_url_and_the_numeric_project_id() {
    let registry = Registry::with_config(ApiConfig {
        external_url: Some("https://conan.example.com/".to_owned()),
        ..ApiConfig::default()
    });
    let app = registry.app().await;
    let auth = registry.callers.maintainer.as_str();
    let id = registry.public.id;
    // The project named by its URL-encoded path: the URLs name it by id.
    let recipe = "/api/v4/projects/group%2Fpublic/packages/conan/v1/conans/zlib/1.3/user/channel";
    let reply = send(
        &app,
        post(
            &format!("{recipe}/upload_urls"),
            br#"{"conanfile.py":1}"#,
            Some(auth),
        ),
    )
    .await;
    assert_eq!(
        without_upload(&reply.ok_json()),
        json!({"conanfile.py": format!(
            "https://conan.example.com/api/v4/projects/{id}/packages/conan/v1/files/zlib/1.3/user/channel/0/export/conanfile.py"
        )})
    );
    let reply = send(
        &app,
        post(
            &format!("{INSTANCE}/v1/conans/zlib/1.3/group+public/stable/upload_urls"),
            br#"{"conanfile.py":1}"#,
            Some(auth),
        ),
    )
    .await;
    assert_eq!(
        without_upload(&reply.ok_json()),
        json!({"conanfile.py": "https://conan.example.com/api/v4/packages/conan/v1/files/zlib/1.3/group+public/stable/0/export/conanfile.py"})
    );
}

#[actix_web::test]
async fn v1_bad_bodies_are_400() {
    let registry = Registry::new();
    let app = registry.app().await;
    let auth = registry.callers.maintainer.as_str();
    let recipe = format!("{}/v1/conans/zlib/1.3/_/_", project_base(&registry.public));
    let package = format!("{recipe}/packages/{}", pkgid('b'));
    for url in [
        format!("{recipe}/upload_urls"),
        format!("{package}/upload_urls"),
        format!("{recipe}/packages/delete"),
        format!("{recipe}/remove_files"),
    ] {
        for body in [&b"[]"[..], b"garbage", b"\xff\xfe{}", b"", b"\"text\""] {
            let reply = send(&app, post(&url, body, Some(auth))).await;
            reply.error(StatusCode::BAD_REQUEST);
        }
    }
    let reply = send(
        &app,
        post(
            &format!("{recipe}/upload_urls"),
            b"[\"conanfile.py\"]",
            Some(auth),
        ),
    )
    .await;
    snap!("v1_upload_urls_array", reply.error(StatusCode::BAD_REQUEST));
    let reply = send(
        &app,
        post(
            &format!("{recipe}/packages/delete"),
            br#"{"package_ids":["not-an-id!"]}"#,
            Some(auth),
        ),
    )
    .await;
    reply.error(StatusCode::BAD_REQUEST);
    // The manifest cannot be removed, nor a path that is not one; an empty list is a no-op.
    let reply = send(
        &app,
        post(
            &format!("{recipe}/remove_files"),
            br#"{"files":["conanfile.py","conanmanifest.txt"]}"#,
            Some(auth),
        ),
    )
    .await;
    snap!("v1_remove_files", reply.error(StatusCode::BAD_REQUEST));
    let reply = send(
        &app,
        post(
            &format!("{recipe}/remove_files"),
            br#"{"files":["../conanfile.py"]}"#,
            Some(auth),
        ),
    )
    .await;
    reply.error(StatusCode::BAD_REQUEST);
    let reply = send(
        &app,
        post(
            &format!("{recipe}/remove_files"),
            br#"{"files":[]}"#,
            Some(auth),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[actix_web::test]
async fn v1_permissions() {
    let registry = Registry::new();
    let app = registry.app().await;
    let base = project_base(&registry.private);
    let recipe = format!("{base}/v1/conans/zlib/1.3/_/_");
    let body = br#"{"conanfile.py":1}"#;
    // Upload URLs need the upload permission; anonymous callers must log in.
    let reply = send(
        &app,
        post(
            &format!("{recipe}/upload_urls"),
            body,
            Some(&registry.callers.reporter),
        ),
    )
    .await;
    reply.error(StatusCode::FORBIDDEN);
    let reply = send(&app, post(&format!("{recipe}/upload_urls"), body, None)).await;
    reply.error(StatusCode::UNAUTHORIZED);
    let reply = send(
        &app,
        post(
            &format!("{recipe}/upload_urls"),
            body,
            Some(&registry.callers.developer),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    // Reads need read; the snapshot of a private project is not anonymous.
    let reply = send(&app, at_host("GET", &recipe, None)).await;
    reply.error(StatusCode::UNAUTHORIZED);
    let reply = send(
        &app,
        at_host("GET", &recipe, Some(&registry.callers.reporter)),
    )
    .await;
    assert_eq!(reply.ok_json(), json!({}));
    // Package deletes need the delete permission, as the v2 DELETEs.
    let reply = send(
        &app,
        post(
            &format!("{recipe}/packages/delete"),
            br#"{"package_ids":[]}"#,
            Some(&registry.callers.reporter),
        ),
    )
    .await;
    reply.error(StatusCode::FORBIDDEN);
}

#[actix_web::test]
async fn v1_underscore_table() {
    let registry = Registry::new();
    let app = registry.app().await;
    let auth = registry.callers.maintainer.as_str();
    let base = project_base(&registry.public);
    for segments in ["zlib/1.3/user/channel", "zlib/1.3/user/_", "zlib/1.3/_/_"] {
        let reply = send(
            &app,
            at_host("GET", &format!("{base}/v1/conans/{segments}"), Some(auth)),
        )
        .await;
        assert_eq!(reply.ok_json(), json!({}), "{segments}");
    }
    // A channel without a user: a 400 as in v2, for every v1 route.
    for suffix in ["", "/digest", "/download_urls", "/search"] {
        let reply = send(
            &app,
            at_host(
                "GET",
                &format!("{base}/v1/conans/zlib/1.3/_/stable{suffix}"),
                Some(auth),
            ),
        )
        .await;
        reply.error(StatusCode::BAD_REQUEST);
    }
    let reply = send(
        &app,
        post(
            &format!("{base}/v1/conans/zlib/1.3/_/stable/upload_urls"),
            br#"{"conanfile.py":1}"#,
            Some(auth),
        ),
    )
    .await;
    reply.error(StatusCode::BAD_REQUEST);
    let reply = send(
        &app,
        request(
            "GET",
            &format!("{base}/v1/files/zlib/1.3/_/stable/0/export/conanfile.py"),
            Some(auth),
        ),
    )
    .await;
    reply.error(StatusCode::BAD_REQUEST);
    // At the instance prefix a `_` user is a plain 404.
    for segments in ["zlib/1.3/_/_", "zlib/1.3/_/stable"] {
        let reply = send(
            &app,
            at_host(
                "GET",
                &format!("{INSTANCE}/v1/conans/{segments}"),
                Some(auth),
            ),
        )
        .await;
        assert_eq!(reply.message(StatusCode::NOT_FOUND), "404 Not found");
    }
}

#[actix_web::test]
async fn v2_uploads_read_through_v1() {
    let registry = Registry::new();
    let app = registry.app().await;
    let auth = registry.callers.maintainer.as_str();
    for (base, segments) in [
        (project_base(&registry.public), "zlib/1.3/_/_"),
        (INSTANCE.to_owned(), "zlib/1.3/group+public/stable"),
    ] {
        let v2 = format!("{base}/v2/conans/{segments}/revisions/{}", rrev('a'));
        upload(&app, &v2, &recipe_files(), auth).await;
        let v2_package = format!("{v2}/packages/{}/revisions/{}", pkgid('b'), rrev('c'));
        upload(&app, &v2_package, &package_files(), auth).await;

        let recipe = format!("{base}/v1/conans/{segments}");
        let files_base = format!("{ORIGIN}{base}/v1/files/{segments}");
        let reply = send(
            &app,
            at_host("GET", &format!("{recipe}/download_urls"), Some(auth)),
        )
        .await;
        let urls = reply.ok_json();
        // Metadata files are not shown to Conan 1.
        let v1_visible: Vec<_> = recipe_files()
            .into_iter()
            .filter(|(name, _)| !name.starts_with("metadata/"))
            .collect();
        assert_eq!(
            urls["conanfile.py"],
            format!("{files_base}/{}/export/conanfile.py", rrev('a'))
        );
        get_all(&app, &urls, &v1_visible, auth).await;
        let reply = send(&app, at_host("GET", &recipe, Some(auth))).await;
        assert_eq!(reply.ok_json(), md5s(&v1_visible));

        let package = format!("{recipe}/packages/{}", pkgid('b'));
        let reply = send(
            &app,
            at_host("GET", &format!("{package}/download_urls"), Some(auth)),
        )
        .await;
        let urls = reply.ok_json();
        assert_eq!(
            urls["conaninfo.txt"],
            format!(
                "{files_base}/{}/package/{}/{}/conaninfo.txt",
                rrev('a'),
                pkgid('b'),
                rrev('c')
            )
        );
        get_all(&app, &urls, &package_files(), auth).await;
        let reply = send(&app, at_host("GET", &package, Some(auth))).await;
        assert_eq!(reply.ok_json(), md5s(&package_files()));
        // The legacy search shows the Conan 2 binary with a null recipe_hash.
        let reply = send(
            &app,
            at_host("GET", &format!("{recipe}/search"), Some(auth)),
        )
        .await;
        let found = reply.ok_json();
        assert_eq!(found[pkgid('b')]["recipe_hash"], Value::Null);
        assert_eq!(found[pkgid('b')]["settings"]["os"], "Linux");
    }
}

#[actix_web::test]
async fn v1_uploads_show_as_revision_zero_until_a_real_one() {
    let registry = Registry::new();
    let app = registry.app().await;
    let auth = registry.callers.maintainer.as_str();
    let base = project_base(&registry.public);
    let recipe = format!("{base}/v1/conans/zlib/1.3/_/_");
    let reply = send(
        &app,
        post(
            &format!("{recipe}/upload_urls"),
            br#"{"conanfile.py":1,"conan_sources.tgz":1,"conanmanifest.txt":1}"#,
            Some(auth),
        ),
    )
    .await;
    put_v1(&app, &reply.ok_json(), &v1_recipe_files(), auth).await;

    let latest = format!("{base}/v2/conans/zlib/1.3/_/_/latest");
    let reply = send(&app, request("GET", &latest, Some(auth))).await;
    snap!("v1_latest_zero", redact(reply.ok_json()));

    // A real revision arrives through v2: v2 hides `0`, and v1 reads serve the newest.
    let v2 = format!("{base}/v2/conans/zlib/1.3/_/_/revisions/{}", rrev('d'));
    upload(&app, &v2, &recipe_files(), auth).await;
    let reply = send(&app, request("GET", &latest, Some(auth))).await;
    assert_eq!(reply.ok_json()["revision"], rrev('d').as_str());
    let reply = send(
        &app,
        at_host("GET", &format!("{recipe}/digest"), Some(auth)),
    )
    .await;
    assert_eq!(
        reply.ok_json()["conanmanifest.txt"],
        format!(
            "{ORIGIN}{base}/v1/files/zlib/1.3/_/_/{}/export/conanmanifest.txt",
            rrev('d')
        )
    );
    // The v1 files of revision `0` stay downloadable by their URL.
    let reply = send(
        &app,
        request(
            "GET",
            &format!("{base}/v1/files/zlib/1.3/_/_/0/export/conanfile.py"),
            Some(auth),
        ),
    )
    .await;
    assert_eq!(reply.body.as_ref(), v1_recipe_files()[1].1);
    // The v1 recipe search lists it.
    let reply = send(
        &app,
        request(
            "GET",
            &format!("{base}/v1/conans/search?q=zlib*"),
            Some(auth),
        ),
    )
    .await;
    assert_eq!(reply.ok_json(), json!({"results": ["zlib/1.3"]}));
}

#[actix_web::test]
async fn v1_deploy_probe_links_known_content() {
    let registry = Registry::new();
    let app = registry.app().await;
    let auth = registry.callers.maintainer.as_str();
    let base = project_base(&registry.public);
    // The same recipe content uploaded under two references: the second probe links it.
    for (i, name) in ["zlib", "zlib2"].iter().enumerate() {
        let recipe = format!("{base}/v1/conans/{name}/1.3/_/_");
        let reply = send(
            &app,
            post(
                &format!("{recipe}/upload_urls"),
                br#"{"conanfile.py":1,"conanmanifest.txt":1}"#,
                Some(auth),
            ),
        )
        .await;
        let urls = reply.ok_json();
        for file in ["conanfile.py", "conanmanifest.txt"] {
            let content = v1_recipe_files()
                .into_iter()
                .find(|(n, _)| *n == file)
                .unwrap()
                .1;
            let url = path_of(urls[file].as_str().unwrap()).to_owned();
            let probe = request("PUT", &url, Some(auth))
                .insert_header(("X-Checksum-Deploy", "true"))
                .insert_header(("X-Checksum-Sha1", sha1_hex(content)));
            let reply = send(&app, probe).await;
            if i == 0 {
                assert_eq!(reply.status, StatusCode::NOT_FOUND);
                let reply = send(&app, put(&url, content, auth)).await;
                assert_eq!(reply.status, StatusCode::OK);
            } else {
                assert_eq!(reply.status, StatusCode::CREATED, "{file}");
            }
        }
        // The linked manifest committed the revision.
        let reply = send(&app, at_host("GET", &recipe, Some(auth))).await;
        assert_eq!(reply.ok_json().as_object().unwrap().len(), 2, "{name}");
    }
}

/// Asks for upload URLs of `names` under `at` (a recipe or package `v1/conans` URL).
async fn upload_urls_for<S, B>(app: &S, at: &str, names: &[&str], auth: &str) -> Value
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let body = serde_json::to_vec(
        &names
            .iter()
            .map(|name| ((*name).to_owned(), Value::from(1)))
            .collect::<serde_json::Map<_, _>>(),
    )
    .unwrap();
    send(app, post(&format!("{at}/upload_urls"), &body, Some(auth)))
        .await
        .ok_json()
}

/// PUTs `content` to the upload URL of `name`.
async fn put_one<S, B>(app: &S, urls: &Value, name: &str, content: &[u8], auth: &str)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let url = path_of(urls[name].as_str().unwrap()).to_owned();
    let reply = send(app, put(&url, content, auth)).await;
    assert_eq!(reply.status, StatusCode::OK, "{name}: {:?}", reply.body);
}

#[actix_web::test]
async fn v1_reupload_replaces_revision_zero_as_a_whole() {
    let registry = Registry::new();
    let app = registry.app().await;
    let auth = registry.callers.maintainer.as_str();
    let recipe = format!("{}/v1/conans/zlib/1.3/_/_", project_base(&registry.public));
    let names = ["conan_sources.tgz", "conanfile.py", "conanmanifest.txt"];
    let urls = upload_urls_for(&app, &recipe, &names, auth).await;
    put_v1(&app, &urls, &v1_recipe_files(), auth).await;
    let old = md5s(&v1_recipe_files());
    let snapshot = recipe.clone();

    // A changed recipe without exported sources: until its manifest arrives, readers see the
    // old set whole; then exactly the new one (conan_sources.tgz is gone with the old set).
    let new_files: Vec<(&str, &[u8])> = vec![
        ("conanfile.py", b"from conans import ConanFile  # changed\n"),
        ("conanmanifest.txt", b"1734429999\nconanfile.py: 11\n"),
    ];
    let urls = upload_urls_for(&app, &recipe, &["conanfile.py", "conanmanifest.txt"], auth).await;
    // A racing upload of other content, never finished: its files stay out of every set.
    let stray = upload_urls_for(&app, &recipe, &["conan_sources.tgz"], auth).await;
    put_one(&app, &stray, "conan_sources.tgz", b"stray sources", auth).await;
    put_one(&app, &urls, "conanfile.py", new_files[0].1, auth).await;
    let reply = send(&app, at_host("GET", &snapshot, Some(auth))).await;
    assert_eq!(reply.ok_json(), old, "no reader sees half an upload");
    put_one(&app, &urls, "conanmanifest.txt", new_files[1].1, auth).await;
    let reply = send(&app, at_host("GET", &snapshot, Some(auth))).await;
    assert_eq!(reply.ok_json(), md5s(&new_files));
    download_all(&app, &recipe, &new_files, auth).await;

    // The client then asks to remove what its upload no longer has: already gone, 200.
    assert_eq!(
        remove_files(&app, &recipe, br#"{"files":["conan_sources.tgz"]}"#, auth).await,
        StatusCode::OK
    );
    // A file it still holds is removed.
    assert_eq!(
        remove_files(&app, &recipe, br#"{"files":["conanfile.py"]}"#, auth).await,
        StatusCode::OK
    );
    let reply = send(&app, at_host("GET", &snapshot, Some(auth))).await;
    assert_eq!(reply.ok_json(), md5s(&new_files[1..]));

    // A binary of revision `0` is replaced whole too.
    let package = format!("{recipe}/packages/{}", pkgid('b'));
    for seed in ["first", "second"] {
        let owned = v1_package_files(seed);
        let files: Vec<(&str, &[u8])> = owned.iter().map(|(n, c)| (*n, c.as_slice())).collect();
        let urls = upload_urls_for(
            &app,
            &package,
            &["conan_package.tgz", "conaninfo.txt", "conanmanifest.txt"],
            auth,
        )
        .await;
        put_v1(&app, &urls, &files, auth).await;
        let reply = send(&app, at_host("GET", &package, Some(auth))).await;
        assert_eq!(reply.ok_json(), md5s(&files), "{seed}");
        download_all(&app, &package, &files, auth).await;
        // The legacy search reads the new conaninfo.txt.
        let reply = send(
            &app,
            at_host("GET", &format!("{recipe}/search"), Some(auth)),
        )
        .await;
        assert_eq!(
            reply.ok_json()[pkgid('b')]["recipe_hash"],
            json!(seed),
            "{seed}"
        );
    }

    // Permission: removing files is part of uploading, a reporter may not.
    let reporter = registry.callers.reporter.as_str();
    let reply = send(
        &app,
        post(
            &format!("{recipe}/remove_files"),
            br#"{"files":["conanfile.py"]}"#,
            Some(reporter),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::FORBIDDEN);
    // An upload id that is not one is a 400 naming the parameter, and stores nothing.
    let fresh = upload_urls_for(&app, &recipe, &["conanfile.py"], auth).await;
    let url = path_of(urls_base_of(&fresh, "conanfile.py")).to_owned();
    let reply = send(&app, put(&format!("{url}?upload=nope"), b"x", auth)).await;
    assert!(reply.message(StatusCode::BAD_REQUEST).contains("upload"));
}

#[actix_web::test]
async fn v1_packages_go_to_the_newest_recipe_revision() {
    let registry = Registry::new();
    let app = registry.app().await;
    let auth = registry.callers.maintainer.as_str();
    let base = project_base(&registry.public);
    let recipe = format!("{base}/v1/conans/zlib/1.3/_/_");
    let package = format!("{recipe}/packages/{}", pkgid('b'));
    // No recipe yet: nothing to add a binary to.
    let reply = send(
        &app,
        post(
            &format!("{package}/upload_urls"),
            br#"{"conaninfo.txt":1}"#,
            Some(auth),
        ),
    )
    .await;
    assert!(
        reply
            .message(StatusCode::NOT_FOUND)
            .contains("Recipe not found")
    );

    // A recipe uploaded by Conan 2 only: a Conan 1 binary goes under its revision, as package
    // revision `0`, and Conan 1 reads it back.
    let v2 = format!("{base}/v2/conans/zlib/1.3/_/_/revisions/{}", rrev('d'));
    upload(&app, &v2, &recipe_files(), auth).await;
    let urls = upload_urls_for(
        &app,
        &package,
        &["conan_package.tgz", "conaninfo.txt", "conanmanifest.txt"],
        auth,
    )
    .await;
    assert!(
        urls_base_of(&urls, "conaninfo.txt").ends_with(&format!(
            "/{}/package/{}/0/conaninfo.txt",
            rrev('d'),
            pkgid('b')
        )),
        "{urls}"
    );
    let owned = v1_package_files("b");
    let files: Vec<(&str, &[u8])> = owned.iter().map(|(n, c)| (*n, c.as_slice())).collect();
    for (name, content) in &files {
        put_one(&app, &urls, name, content, auth).await;
    }
    let reply = send(&app, at_host("GET", &package, Some(auth))).await;
    assert_eq!(reply.ok_json(), md5s(&files));
    let latest = format!("{v2}/packages/{}/latest", pkgid('b'));
    let reply = send(&app, at_host("GET", &latest, Some(auth))).await;
    assert_eq!(reply.ok_json()["revision"], "0");
}

/// The URL of `name` in an `upload_urls` answer, without its upload id.
fn urls_base_of<'a>(urls: &'a Value, name: &str) -> &'a str {
    urls[name].as_str().unwrap().split_once('?').unwrap().0
}
