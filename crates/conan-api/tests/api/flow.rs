//! Upload, install, search, ranges, checksum deploy, deletes and revision `0`: the flows of the
//! Conan client, route by route.

use std::pin::Pin;

use actix_web::error::PayloadError;
use actix_web::http::StatusCode;
use actix_web::http::header;
use bytes::Bytes;
use conan_api::ApiConfig;
use futures::Stream;
use serde_json::json;

use crate::snap;
use crate::support::{
    INSTANCE, Registry, package_files, pkgid, project_base, put, recipe_files, redact, request,
    rrev, send, send_request, sha1_hex, upload,
};

/// The whole life of a recipe and a package under one prefix, as `conan upload` then
/// `conan install`, `conan list` and `conan download` drive it.
async fn upload_then_install(registry: &Registry, base: &str, segments: &str, label: &str) {
    let app = registry.app().await;
    let auth = registry.callers.developer.as_str();
    let recipe = format!("{base}/v2/conans/{segments}");
    let revision = rrev('a');
    let recipe_revision = format!("{recipe}/revisions/{revision}");
    let package = format!("{recipe_revision}/packages/{}", pkgid('b'));
    let package_revision = format!("{package}/revisions/{}", rrev('c'));

    // The client's existence checks come first and must be 404.
    let reply = send(
        &app,
        request("GET", &format!("{recipe}/revisions"), Some(auth)),
    )
    .await;
    snap!(
        "recipe_revisions_missing",
        reply.error(StatusCode::NOT_FOUND)
    );
    let reply = send(
        &app,
        request("GET", &format!("{package}/revisions"), Some(auth)),
    )
    .await;
    snap!(
        "package_revisions_missing",
        reply.error(StatusCode::NOT_FOUND)
    );

    // Recipe files, sorted, the manifest last: nothing is visible before it.
    for (path, content) in recipe_files() {
        let reply = send(
            &app,
            put(&format!("{recipe_revision}/files/{path}"), content, auth),
        )
        .await;
        let body = redact(reply.ok_json());
        assert_eq!(body["file_name"], path);
        assert_eq!(body["file_sha1"], sha1_hex(content));
        if path == "conanfile.py" {
            snap!(format!("{label}_upload_recipe_file"), body);
            let latest = send(
                &app,
                request("GET", &format!("{recipe}/latest"), Some(auth)),
            )
            .await;
            snap!("recipe_latest_missing", latest.error(StatusCode::NOT_FOUND));
            let files = send(
                &app,
                request("GET", &format!("{recipe_revision}/files"), Some(auth)),
            )
            .await;
            snap!("recipe_files_missing", files.error(StatusCode::NOT_FOUND));
        }
    }

    // `conan install`: latest, file list, files.
    let latest = send(
        &app,
        request("GET", &format!("{recipe}/latest"), Some(auth)),
    )
    .await;
    let latest = latest.ok_json();
    assert_eq!(latest["revision"], revision.as_str());
    snap!("recipe_latest", redact(latest));
    let revisions = send(
        &app,
        request("GET", &format!("{recipe}/revisions"), Some(auth)),
    )
    .await;
    snap!(
        format!("{label}_recipe_revisions"),
        redact(revisions.ok_json())
    );
    let files = send(
        &app,
        request("GET", &format!("{recipe_revision}/files"), Some(auth)),
    )
    .await;
    snap!("recipe_files", files.ok_json());
    for (path, content) in recipe_files() {
        let reply = send(
            &app,
            request(
                "GET",
                &format!("{recipe_revision}/files/{path}"),
                Some(auth),
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.body.as_ref(), content, "{path} byte for byte");
        assert_eq!(
            reply.header("content-type"),
            Some("application/octet-stream")
        );
        assert_eq!(reply.header("accept-ranges"), Some("bytes"));
        assert_eq!(reply.sized, Some(content.len() as u64), "Content-Length");
        assert_eq!(reply.header("content-encoding"), None);
    }
    let missing = send(
        &app,
        request(
            "GET",
            &format!("{recipe_revision}/files/nothere.txt"),
            Some(auth),
        ),
    )
    .await;
    snap!("recipe_file_missing", missing.error(StatusCode::NOT_FOUND));

    // A known recipe revision without binaries is `{}`.
    let search = send(
        &app,
        request("GET", &format!("{recipe_revision}/search"), Some(auth)),
    )
    .await;
    assert_eq!(search.ok_json(), json!({}));

    // The package: nothing before its manifest.
    for (path, content) in package_files() {
        let reply = send(
            &app,
            put(&format!("{package_revision}/files/{path}"), content, auth),
        )
        .await;
        let body = redact(reply.ok_json());
        if path == "conaninfo.txt" {
            snap!(format!("{label}_upload_package_file"), body);
            let latest = send(
                &app,
                request("GET", &format!("{package}/latest"), Some(auth)),
            )
            .await;
            snap!(
                "package_latest_missing",
                latest.error(StatusCode::NOT_FOUND)
            );
            let files = send(
                &app,
                request("GET", &format!("{package_revision}/files"), Some(auth)),
            )
            .await;
            snap!("package_files_missing", files.error(StatusCode::NOT_FOUND));
        }
    }
    let latest = send(
        &app,
        request("GET", &format!("{package}/latest"), Some(auth)),
    )
    .await;
    let latest = latest.ok_json();
    assert_eq!(latest["revision"], rrev('c').as_str());
    let revisions = send(
        &app,
        request("GET", &format!("{package}/revisions"), Some(auth)),
    )
    .await;
    snap!(
        format!("{label}_package_revisions"),
        redact(revisions.ok_json())
    );
    let files = send(
        &app,
        request("GET", &format!("{package_revision}/files"), Some(auth)),
    )
    .await;
    snap!("package_files", files.ok_json());
    for (path, content) in package_files() {
        let reply = send(
            &app,
            request(
                "GET",
                &format!("{package_revision}/files/{path}"),
                Some(auth),
            ),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{path}");
        assert_eq!(reply.body.as_ref(), content, "{path} byte for byte");
    }

    // Package search, full and ids only, by revision and for the latest revision.
    let search = send(
        &app,
        request("GET", &format!("{recipe_revision}/search"), Some(auth)),
    )
    .await;
    let search = search.ok_json();
    snap!("package_search", search);
    for query in ["", "?list_only=False", "?list_only=false"] {
        let reply = send(
            &app,
            request(
                "GET",
                &format!("{recipe_revision}/search{query}"),
                Some(auth),
            ),
        )
        .await;
        assert_eq!(reply.ok_json(), search, "{query}");
        let reply = send(
            &app,
            request("GET", &format!("{recipe}/search{query}"), Some(auth)),
        )
        .await;
        assert_eq!(reply.ok_json(), search, "latest {query}");
    }
    for query in ["?list_only=True", "?list_only=true", "?list_only=1"] {
        let reply = send(
            &app,
            request(
                "GET",
                &format!("{recipe_revision}/search{query}"),
                Some(auth),
            ),
        )
        .await;
        assert_eq!(reply.ok_json(), json!({ pkgid('b'): {} }), "{query}");
    }
    // An unknown revision of a known recipe has no binaries.
    let other = format!("{recipe}/revisions/{}/search", rrev('f'));
    let reply = send(&app, request("GET", &other, Some(auth))).await;
    assert_eq!(reply.ok_json(), json!({}));

    // Anyone may read the public project.
    let reply = send(&app, request("GET", &format!("{recipe}/latest"), None)).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = send(
        &app,
        request(
            "GET",
            &format!("{package_revision}/files/conaninfo.txt"),
            None,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[actix_web::test]
async fn upload_then_install_at_the_project_prefix() {
    let registry = Registry::new();
    let base = project_base(&registry.public);
    upload_then_install(&registry, &base, "zlib/1.3/_/_", "project").await;
}

#[actix_web::test]
async fn upload_then_install_at_the_instance_prefix() {
    let registry = Registry::new();
    upload_then_install(
        &registry,
        INSTANCE,
        "zlib/1.3/group+public/stable",
        "instance",
    )
    .await;
    // The same recipe through the project prefix, by id and by URL-encoded path.
    let app = registry.app().await;
    for base in [
        project_base(&registry.public),
        "/api/v4/projects/group%2Fpublic/packages/conan".to_owned(),
        "/api/v4/projects/group%2fpublic/packages/conan".to_owned(),
    ] {
        let url = format!("{base}/v2/conans/zlib/1.3/group+public/stable/latest");
        let reply = send(&app, request("GET", &url, None)).await;
        assert_eq!(reply.ok_json()["revision"], rrev('a').as_str(), "{base}");
    }
}

#[actix_web::test]
async fn reuploads_are_idempotent_and_committed_files_immutable() {
    let registry = Registry::new();
    let app = registry.app().await;
    let auth = registry.callers.developer.as_str();
    let recipe = format!("{}/v2/conans/zlib/1.3/_/_", project_base(&registry.public));
    let revision = format!("{recipe}/revisions/{}", rrev('a'));
    upload(&app, &revision, &recipe_files(), auth).await;
    let before = send(
        &app,
        request("GET", &format!("{recipe}/revisions"), Some(auth)),
    )
    .await
    .ok_json();

    // The same content again, the manifest included: 200 and nothing moves.
    upload(&app, &revision, &recipe_files(), auth).await;
    let after = send(
        &app,
        request("GET", &format!("{recipe}/revisions"), Some(auth)),
    )
    .await
    .ok_json();
    assert_eq!(
        before, after,
        "a re-upload keeps the revision's time and position"
    );

    // The answer of a re-upload tells when the file first arrived.
    let (path, content) = recipe_files()[2];
    let reply = send(
        &app,
        put(&format!("{revision}/files/{path}"), content, auth),
    )
    .await;
    let body = reply.ok_json();
    assert_ne!(body["created_at"], json!(null));

    // Different content for an immutable file of a committed revision.
    let reply = send(
        &app,
        put(&format!("{revision}/files/conanfile.py"), b"changed", auth),
    )
    .await;
    snap!("conflict", reply.error(StatusCode::CONFLICT));
    let reply = send(
        &app,
        request("GET", &format!("{revision}/files/conanfile.py"), Some(auth)),
    )
    .await;
    assert_eq!(reply.body.as_ref(), content);

    // Another builder's archive of the same revision (other bytes, same files): 200, and the
    // first bytes stay, also in the answer.
    let (archive, first) = recipe_files()[0];
    let reply = send(
        &app,
        put(
            &format!("{revision}/files/{archive}"),
            b"\x1f\x8b rebuilt",
            auth,
        ),
    )
    .await;
    assert_eq!(
        reply.ok_json()["file_sha1"],
        json!(crate::support::sha1_hex(first))
    );
    let reply = send(
        &app,
        request("GET", &format!("{revision}/files/{archive}"), Some(auth)),
    )
    .await;
    assert_eq!(reply.body.as_ref(), first);

    // Its manifest: the same files with another timestamp line is kept as the first; another
    // file list is a conflict naming the manifest, and nothing changes.
    let (manifest, first) = recipe_files()[3];
    let later = String::from_utf8(first.to_vec())
        .unwrap()
        .replace("1734426000", "1734429999");
    let reply = send(
        &app,
        put(
            &format!("{revision}/files/{manifest}"),
            later.as_bytes(),
            auth,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let other = format!("{later}conandata.yml: 0123456789abcdef0123456789abcdef\n");
    let reply = send(
        &app,
        put(
            &format!("{revision}/files/{manifest}"),
            other.as_bytes(),
            auth,
        ),
    )
    .await;
    snap!("manifest_conflict", reply.error(StatusCode::CONFLICT));
    let reply = send(
        &app,
        request("GET", &format!("{revision}/files/{manifest}"), Some(auth)),
    )
    .await;
    assert_eq!(reply.body.as_ref(), first);
    let after_builders = send(
        &app,
        request("GET", &format!("{recipe}/revisions"), Some(auth)),
    )
    .await
    .ok_json();
    assert_eq!(before, after_builders, "kept files move nothing either");

    // Metadata stays mutable.
    let reply = send(
        &app,
        put(
            &format!("{revision}/files/metadata/logs/build.log"),
            b"rebuilt\n",
            auth,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = send(
        &app,
        request(
            "GET",
            &format!("{revision}/files/metadata/logs/build.log"),
            Some(auth),
        ),
    )
    .await;
    assert_eq!(reply.body.as_ref(), b"rebuilt\n");
}

#[actix_web::test]
async fn checksum_mismatch_stores_nothing() {
    let registry = Registry::new();
    let app = registry.app().await;
    let auth = registry.callers.developer.as_str();
    let recipe = format!("{}/v2/conans/zlib/1.3/_/_", project_base(&registry.public));
    let revision = format!("{recipe}/revisions/{}", rrev('a'));
    upload(&app, &revision, &recipe_files()[..3], auth).await;

    let manifest = recipe_files()[3].1;
    let wrong = request(
        "PUT",
        &format!("{revision}/files/conanmanifest.txt"),
        Some(auth),
    )
    .insert_header(("X-Checksum-Sha1", sha1_hex(b"something else")))
    .set_payload(manifest.to_vec());
    let reply = send(&app, wrong).await;
    let body = reply.error(StatusCode::BAD_REQUEST);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("400 Bad request - checksum mismatch"),
        "{body}"
    );
    // The manifest did not commit the revision.
    let latest = send(
        &app,
        request("GET", &format!("{recipe}/latest"), Some(auth)),
    )
    .await;
    assert_eq!(latest.status, StatusCode::NOT_FOUND);

    let malformed = request(
        "PUT",
        &format!("{revision}/files/conanmanifest.txt"),
        Some(auth),
    )
    .insert_header(("X-Checksum-Sha1", "not-a-sha1"))
    .set_payload(manifest.to_vec());
    let reply = send(&app, malformed).await;
    snap!(
        "checksum_header_malformed",
        reply.error(StatusCode::BAD_REQUEST)
    );

    // The upper-case form of the right sha1 is accepted.
    let upper = request(
        "PUT",
        &format!("{revision}/files/conanmanifest.txt"),
        Some(auth),
    )
    .insert_header(("X-Checksum-Sha1", sha1_hex(manifest).to_uppercase()))
    .set_payload(manifest.to_vec());
    assert_eq!(send(&app, upper).await.status, StatusCode::OK);
    let latest = send(
        &app,
        request("GET", &format!("{recipe}/latest"), Some(auth)),
    )
    .await;
    assert_eq!(latest.status, StatusCode::OK);
}

#[actix_web::test]
async fn oversized_uploads_are_refused() {
    let registry = Registry::with_config(ApiConfig {
        max_upload_size: 16,
        ..ApiConfig::default()
    });
    let app = registry.app().await;
    let auth = registry.callers.developer.as_str();
    let recipe = format!("{}/v2/conans/zlib/1.3/_/_", project_base(&registry.public));
    let revision = format!("{recipe}/revisions/{}", rrev('a'));
    let url = format!("{revision}/files/conanfile.py");

    // An announced length over the limit: refused before the body is read.
    let reply = send(&app, put(&url, &[b'x'; 17], auth)).await;
    snap!("too_large_announced", reply.error(StatusCode::BAD_REQUEST));

    // A body that grows past the limit without announcing its length (chunked).
    let mut unannounced = put(&url, &[b'x'; 64], auth).to_request();
    unannounced.headers_mut().remove(header::CONTENT_LENGTH);
    unannounced.headers_mut().insert(
        header::TRANSFER_ENCODING,
        header::HeaderValue::from_static("chunked"),
    );
    let reply = send_request(&app, unannounced).await;
    snap!("too_large_streamed", reply.error(StatusCode::BAD_REQUEST));

    // At the limit it fits.
    upload(
        &app,
        &revision,
        &[("conanfile.py", &[b'x'; 16]), ("conanmanifest.txt", b"1\n")],
        auth,
    )
    .await;
    let files = send(
        &app,
        request("GET", &format!("{revision}/files"), Some(auth)),
    )
    .await;
    assert_eq!(
        files.ok_json(),
        json!({"files": {"conanfile.py": {}, "conanmanifest.txt": {}}})
    );
}

#[actix_web::test]
async fn a_client_that_disconnects_mid_body_leaves_nothing() {
    let registry = Registry::new();
    let app = registry.app().await;
    let auth = registry.callers.developer.as_str();
    let recipe = format!("{}/v2/conans/zlib/1.3/_/_", project_base(&registry.public));
    let revision = format!("{recipe}/revisions/{}", rrev('a'));
    upload(&app, &revision, &recipe_files()[..3], auth).await;

    let manifest = recipe_files()[3].1;
    let broken: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
        Box::pin(futures::stream::iter(vec![
            Ok(Bytes::copy_from_slice(&manifest[..10])),
            Err(PayloadError::Incomplete(None)),
        ]));
    let request = put(
        &format!("{revision}/files/conanmanifest.txt"),
        manifest,
        auth,
    )
    .to_request();
    let (request, _) = request.replace_payload(actix_web::dev::Payload::from(broken));
    let reply = send_request(&app, request).await;
    snap!("body_interrupted", reply.error(StatusCode::BAD_REQUEST));
    let latest = send(
        &app,
        crate::support::request("GET", &format!("{recipe}/latest"), Some(auth)),
    )
    .await;
    assert_eq!(latest.status, StatusCode::NOT_FOUND, "nothing committed");
}

#[actix_web::test]
async fn checksum_deploy_links_known_content_and_commits() {
    let registry = Registry::new();
    let app = registry.app().await;
    let auth = registry.callers.developer.as_str();
    let recipe = format!("{}/v2/conans/zlib/1.3/_/_", project_base(&registry.public));
    let first = format!("{recipe}/revisions/{}", rrev('a'));
    let second = format!("{recipe}/revisions/{}", rrev('b'));
    let probe = |url: &str, sha1: Option<String>| {
        let request = request("PUT", url, Some(auth)).insert_header(("X-Checksum-Deploy", "true"));
        match sha1 {
            Some(sha1) => request.insert_header(("X-Checksum-Sha1", sha1)),
            None => request,
        }
    };

    // Nothing stored yet: every probe is a 404 and stores nothing, not even an empty file.
    for (path, content) in recipe_files() {
        let url = format!("{first}/files/{path}");
        let reply = send(&app, probe(&url, Some(sha1_hex(content)))).await;
        snap!("deploy_probe_unknown", reply.error(StatusCode::NOT_FOUND));
    }
    let reply = send(&app, probe(&format!("{first}/files/conanfile.py"), None)).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let empty = sha1_hex(b"");
    let reply = send(
        &app,
        probe(&format!("{first}/files/empty.txt"), Some(empty)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let latest = send(
        &app,
        request("GET", &format!("{recipe}/latest"), Some(auth)),
    )
    .await;
    assert_eq!(latest.status, StatusCode::NOT_FOUND);

    // Once the content is stored, probes for another revision link it: 201, manifest included,
    // which commits that revision.
    upload(&app, &first, &recipe_files(), auth).await;
    for (path, content) in recipe_files() {
        let reply = send(
            &app,
            probe(&format!("{second}/files/{path}"), Some(sha1_hex(content))),
        )
        .await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{path}: {:?}",
            reply.body
        );
        let body = redact(reply.json());
        if path == "conanmanifest.txt" {
            snap!("deploy_probe_linked", body);
        }
    }
    let latest = send(
        &app,
        request("GET", &format!("{recipe}/latest"), Some(auth)),
    )
    .await;
    assert_eq!(latest.ok_json()["revision"], rrev('b').as_str());
    for (path, content) in recipe_files() {
        let reply = send(
            &app,
            request("GET", &format!("{second}/files/{path}"), Some(auth)),
        )
        .await;
        assert_eq!(reply.body.as_ref(), content, "{path}");
    }

    // Package files too: conaninfo.txt linked this way feeds the package search.
    let package = format!("{second}/packages/{}", pkgid('d'));
    upload(
        &app,
        &format!("{package}/revisions/{}", rrev('e')),
        &package_files(),
        auth,
    )
    .await;
    let linked = format!("{package}/revisions/{}", rrev('f'));
    for (path, content) in package_files() {
        let reply = send(
            &app,
            probe(&format!("{linked}/files/{path}"), Some(sha1_hex(content))),
        )
        .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{path}");
    }
    let latest = send(
        &app,
        request("GET", &format!("{package}/latest"), Some(auth)),
    )
    .await;
    assert_eq!(latest.ok_json()["revision"], rrev('f').as_str());
    let search = send(
        &app,
        request("GET", &format!("{second}/search"), Some(auth)),
    )
    .await;
    assert_eq!(
        search.ok_json()[pkgid('d')]["settings"],
        json!({"arch": "x86_64", "os": "Linux"})
    );
}

#[actix_web::test]
async fn downloads_serve_byte_ranges() {
    let registry = Registry::new();
    let app = registry.app().await;
    let auth = registry.callers.reporter.as_str();
    let revision = registry.public_revision();
    upload(
        &app,
        &revision,
        &recipe_files(),
        &registry.callers.developer,
    )
    .await;
    let url = format!("{revision}/files/conanfile.py");
    let content = recipe_files()[2].1;
    let total = content.len();
    let ranged = |range: &str| request("GET", &url, Some(auth)).insert_header(("Range", range));

    for (range, start, end) in [
        ("bytes=5-", 5, total - 1),
        ("bytes=0-9", 0, 9),
        ("bytes=3-3", 3, 3),
        ("bytes=10-100000", 10, total - 1),
        (&format!("bytes=-{}", 7) as &str, total - 7, total - 1),
    ] {
        let reply = send(&app, ranged(range)).await;
        assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(
            reply.header("content-range"),
            Some(format!("bytes {start}-{end}/{total}").as_str()),
            "{range}"
        );
        assert_eq!(reply.body.as_ref(), &content[start..=end], "{range}");
        assert_eq!(
            reply.sized,
            Some((end - start + 1) as u64),
            "Content-Length"
        );
        assert_eq!(reply.header("accept-ranges"), Some("bytes"));
        assert_eq!(
            reply.header("content-type"),
            Some("application/octet-stream")
        );
    }

    for range in [
        format!("bytes={total}-"),
        format!("bytes={}-", total + 10),
        "bytes=-0".into(),
    ] {
        let reply = send(&app, ranged(&range)).await;
        snap!(
            "range_not_satisfiable",
            reply.error(StatusCode::RANGE_NOT_SATISFIABLE)
        );
        assert_eq!(
            reply.header("content-range"),
            Some(format!("bytes */{total}").as_str())
        );
    }

    // Ranges the server does not serve partially: the whole file.
    for range in ["bytes=0-1,3-4", "lines=1-2", "bytes=9-2"] {
        let reply = send(&app, ranged(range)).await;
        assert_eq!(reply.status, StatusCode::OK, "{range}");
        assert_eq!(reply.body.as_ref(), content);
    }
}

/// With `api.accel_redirect`, a download the caller may read is an empty 200 naming the blob
/// file for nginx; everything the registry decides (access, 404s, unsatisfiable ranges) stays
/// its own, and a store without local files streams as before.
#[actix_web::test]
async fn accel_redirect_names_the_blob_file_for_nginx() {
    let config = ApiConfig {
        accel_redirect: Some("/_conan_blobs/".to_owned()),
        ..ApiConfig::default()
    };
    let registry = Registry::with_file_blobs(config.clone());
    let app = registry.app().await;
    let writer = registry.callers.developer.as_str();
    let private = format!(
        "{}/v2/conans/zlib/1.3/_/_/revisions/{}",
        project_base(&registry.private),
        rrev('a')
    );
    for revision in [registry.public_revision(), private.clone()] {
        upload(&app, &revision, &recipe_files(), writer).await;
    }
    let content = recipe_files()[2].1;
    for (url, auth) in [
        (
            format!("{}/files/conanfile.py", registry.public_revision()),
            None,
        ),
        (
            format!("{private}/files/conanfile.py"),
            Some(registry.callers.reporter.as_str()),
        ),
    ] {
        for range in [None, Some("bytes=3-9")] {
            let mut get = request("GET", &url, auth);
            if let Some(range) = range {
                get = get.insert_header(("Range", range));
            }
            let reply = send(&app, get).await;
            assert_eq!(reply.status, StatusCode::OK, "{url} {range:?}");
            assert!(reply.body.is_empty(), "nginx sends the bytes");
            assert_eq!(
                reply.header("content-type"),
                Some("application/octet-stream")
            );
            let location = reply.header("x-accel-redirect").unwrap();
            let path = location.strip_prefix("/_conan_blobs/").unwrap();
            let parts: Vec<&str> = path.split('/').collect();
            assert_eq!(parts.len(), 4, "{path}");
            assert_eq!(parts[0], "sha256");
            assert_eq!(parts[3].len(), 64);
            assert!(parts[3].bytes().all(|b| b.is_ascii_hexdigit()));
            assert_eq!((parts[1], parts[2]), (&parts[3][..2], &parts[3][2..4]));
            assert_eq!(
                std::fs::read(registry.blob_root().join(path)).unwrap(),
                content,
                "the named file is the file"
            );
        }
    }
    // What the registry refuses never names a file.
    let private_file = format!("{private}/files/conanfile.py");
    for reply in [
        send(
            &app,
            request("GET", &private_file, Some(&registry.callers.outsider)),
        )
        .await,
        send(&app, request("GET", &private_file, None)).await,
        send(
            &app,
            request(
                "GET",
                &format!("{private}/files/missing.txt"),
                Some(&registry.callers.reporter),
            ),
        )
        .await,
        send(
            &app,
            request("GET", &private_file, Some(&registry.callers.reporter))
                .insert_header(("Range", "bytes=100000-")),
        )
        .await,
    ] {
        assert!(reply.status.is_client_error(), "{:?}", reply.status);
        assert_eq!(reply.header("x-accel-redirect"), None);
    }
    // A store without local files (memory here, S3 in production) streams the bytes itself.
    let memory = Registry::with_config(config);
    let app = memory.app().await;
    upload(
        &app,
        &memory.public_revision(),
        &recipe_files(),
        &memory.callers.developer,
    )
    .await;
    let reply = send(
        &app,
        request(
            "GET",
            &format!("{}/files/conanfile.py", memory.public_revision()),
            None,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.body.as_ref(), content);
    assert_eq!(reply.header("x-accel-redirect"), None);
}

#[actix_web::test]
async fn deletes_answer_200_then_404() {
    let registry = Registry::new();
    let app = registry.app().await;
    let writer = registry.callers.developer.as_str();
    let auth = registry.callers.maintainer.as_str();
    for base in [project_base(&registry.public), INSTANCE.to_owned()] {
        let recipe = format!("{base}/v2/conans/zlib/1.3/group+public/stable");
        let rrev_a = format!("{recipe}/revisions/{}", rrev('a'));
        let rrev_b = format!("{recipe}/revisions/{}", rrev('b'));
        for revision in [&rrev_a, &rrev_b] {
            upload(&app, revision, &recipe_files(), writer).await;
            for (id, prevs) in [('1', &['3', '4'][..]), ('2', &['5'][..])] {
                for prev in prevs {
                    let url = format!(
                        "{revision}/packages/{}/revisions/{}",
                        pkgid(id),
                        rrev(*prev)
                    );
                    upload(&app, &url, &package_files(), writer).await;
                }
            }
        }
        let delete = |url: String| request("DELETE", &url, Some(auth));
        let cases = [
            (
                "delete_package_revision",
                format!("{rrev_a}/packages/{}/revisions/{}", pkgid('1'), rrev('3')),
            ),
            (
                "delete_package",
                format!("{rrev_a}/packages/{}", pkgid('1')),
            ),
            ("delete_all_packages", format!("{rrev_a}/packages")),
            ("delete_recipe_revision", rrev_a.clone()),
            ("delete_recipe", recipe.clone()),
        ];
        for (name, url) in cases {
            let reply = send(&app, delete(url.clone())).await;
            assert_eq!(reply.status, StatusCode::OK, "{name}: {:?}", reply.body);
            assert!(reply.body.is_empty(), "{name}");
            let reply = send(&app, delete(url)).await;
            snap!(format!("{name}_again"), reply.error(StatusCode::NOT_FOUND));

            // What each delete leaves.
            let get = |url: String| request("GET", &url, Some(auth));
            match name {
                "delete_package_revision" => {
                    let url = format!("{rrev_a}/packages/{}/revisions", pkgid('1'));
                    let revisions = send(&app, get(url)).await.ok_json();
                    assert_eq!(revisions["revisions"][0]["revision"], rrev('4').as_str());
                    assert_eq!(revisions["revisions"].as_array().unwrap().len(), 1);
                }
                "delete_package" => {
                    let url = format!("{rrev_a}/search?list_only=True");
                    let search = send(&app, get(url)).await.ok_json();
                    assert_eq!(search, json!({ pkgid('2'): {} }));
                }
                "delete_all_packages" => {
                    let search = send(&app, get(format!("{rrev_a}/search"))).await.ok_json();
                    assert_eq!(search, json!({}));
                    let latest = send(&app, get(format!("{recipe}/latest"))).await.ok_json();
                    assert_eq!(latest["revision"], rrev('b').as_str());
                }
                "delete_recipe_revision" => {
                    let revisions = send(&app, get(format!("{recipe}/revisions")))
                        .await
                        .ok_json();
                    assert_eq!(revisions["revisions"].as_array().unwrap().len(), 1);
                    assert_eq!(revisions["revisions"][0]["revision"], rrev('b').as_str());
                }
                _ => {
                    let latest = send(&app, get(format!("{recipe}/latest"))).await;
                    assert_eq!(latest.status, StatusCode::NOT_FOUND);
                    let search = send(&app, get(format!("{rrev_b}/search"))).await;
                    assert_eq!(search.status, StatusCode::NOT_FOUND, "an unknown recipe");
                }
            }
        }
    }
}

#[actix_web::test]
async fn revision_zero_shows_only_when_alone() {
    let registry = Registry::new();
    let app = registry.app().await;
    let auth = registry.callers.developer.as_str();
    let recipe = format!("{}/v2/conans/zlib/1.3/_/_", project_base(&registry.public));
    let zero = format!("{recipe}/revisions/0");
    upload(&app, &zero, &recipe_files(), auth).await;
    let zero_package = format!("{zero}/packages/{}", pkgid('1'));
    upload(
        &app,
        &format!("{zero_package}/revisions/0"),
        &package_files(),
        auth,
    )
    .await;

    let latest = send(
        &app,
        request("GET", &format!("{recipe}/latest"), Some(auth)),
    )
    .await;
    assert_eq!(latest.ok_json()["revision"], "0");
    let revisions = send(
        &app,
        request("GET", &format!("{recipe}/revisions"), Some(auth)),
    )
    .await;
    snap!("revision_zero_alone", redact(revisions.ok_json()));
    let latest = send(
        &app,
        request("GET", &format!("{zero_package}/latest"), Some(auth)),
    )
    .await;
    assert_eq!(latest.ok_json()["revision"], "0");

    // A real revision uploaded after it hides it, although `0` is not the newest.
    let real = format!("{recipe}/revisions/{}", rrev('a'));
    upload(&app, &real, &recipe_files(), auth).await;
    // And a `0` uploaded after a real one does not become latest either.
    upload(
        &app,
        &format!("{zero_package}/revisions/{}", rrev('c')),
        &package_files(),
        auth,
    )
    .await;
    upload(&app, &zero, &recipe_files(), auth).await;
    let latest = send(
        &app,
        request("GET", &format!("{recipe}/latest"), Some(auth)),
    )
    .await;
    assert_eq!(latest.ok_json()["revision"], rrev('a').as_str());
    let revisions = send(
        &app,
        request("GET", &format!("{recipe}/revisions"), Some(auth)),
    )
    .await;
    snap!("revision_zero_hidden", redact(revisions.ok_json()));
    let latest = send(
        &app,
        request("GET", &format!("{zero_package}/latest"), Some(auth)),
    )
    .await;
    assert_eq!(latest.ok_json()["revision"], rrev('c').as_str());
    let revisions = send(
        &app,
        request("GET", &format!("{zero_package}/revisions"), Some(auth)),
    )
    .await;
    let revisions = revisions.ok_json();
    assert_eq!(revisions["revisions"].as_array().unwrap().len(), 1);
    assert_eq!(
        revisions["packageReference"],
        format!("zlib/1.3#0:{}", pkgid('1')).as_str()
    );
    // The files of revision 0 stay reachable by name.
    let files = send(&app, request("GET", &format!("{zero}/files"), Some(auth))).await;
    assert_eq!(files.status, StatusCode::OK);
}

#[actix_web::test]
async fn package_uploads_need_a_committed_recipe_revision() {
    let registry = Registry::new();
    let app = registry.app().await;
    let auth = registry.callers.developer.as_str();
    let recipe = format!("{}/v2/conans/zlib/1.3/_/_", project_base(&registry.public));
    let url = format!(
        "{recipe}/revisions/{}/packages/{}/revisions/{}/files/conaninfo.txt",
        rrev('a'),
        pkgid('1'),
        rrev('2')
    );
    let reply = send(&app, put(&url, b"[settings]\n", auth)).await;
    snap!(
        "package_upload_without_recipe",
        reply.error(StatusCode::NOT_FOUND)
    );
}

#[actix_web::test]
async fn package_search_serves_conan1_and_unparsable_conaninfo() {
    let registry = Registry::new();
    let app = registry.app().await;
    let auth = registry.callers.developer.as_str();
    let revision = registry.public_revision();
    upload(&app, &revision, &recipe_files(), auth).await;
    let conan1: &[u8] = b"[settings]\n    os=Linux\n[options]\n    shared=True\n[full_requires]\n    zstd/1.5.5:aaaa\n[recipe_hash]\n    4f8e3d2c1b0a99887766554433221100\n";
    let broken: &[u8] = b"[settings\nnot ini at all\n";
    for (id, info) in [('1', conan1), ('2', broken)] {
        let url = format!("{revision}/packages/{}/revisions/{}", pkgid(id), rrev('c'));
        upload(
            &app,
            &url,
            &[("conaninfo.txt", info), ("conanmanifest.txt", b"1\n")],
            auth,
        )
        .await;
    }
    let url = format!("{revision}/packages/{}/revisions/{}", pkgid('3'), rrev('c'));
    upload(&app, &url, &[("conanmanifest.txt", b"1\n")], auth).await;
    let search = send(
        &app,
        request("GET", &format!("{revision}/search"), Some(auth)),
    )
    .await;
    snap!("package_search_mixed", search.ok_json());
}
