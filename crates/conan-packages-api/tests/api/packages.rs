//! One package with its `versions`, its files, the deletes of packages and files (a manifest
//! taking its revision), and the instance routes python-gitlab calls first (`/user`,
//! `/version`, `/projects/:id`).

use actix_web::http::StatusCode;
use conan_store::{CatalogStore, FileOwner, FileStore, PackageStore, RecipeStore};
use serde_json::{Value, json};

use crate::fixtures::{package_key, pkg, recipe_key, reference, rev};
use crate::registry_tests;
use crate::support::{delete, get, package_uri, request, send};

/// The files of a package as `(id, file_name, package revision or null)`.
fn files(body: &Value) -> Vec<(i64, String, Value)> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|file| {
            (
                file["id"].as_i64().unwrap(),
                file["file_name"].as_str().unwrap().to_owned(),
                file["conan_package_revision"].clone(),
            )
        })
        .collect()
}

registry_tests! {
    async fn one_package_lists_its_other_versions(registry: &Registry) {
        let public = &registry.public;
        let zlib = registry.upload(public, "zlib/1.3", 1, 1);
        let old = registry.upload(public, "zlib/1.2", 1, 0);
        registry.upload(public, "zlib/1.3@acme/stable", 1, 0);
        let newer = registry.upload(public, "zlib/1.10", 1, 0);
        registry.upload(public, "bzip2/1.0", 1, 0);
        let pending = registry.start_upload(public, "zlib/2.0");
        let other = registry.upload(&registry.nested, "zlib/0.9", 1, 0);
        let app = registry.app().await;

        let body = get(&app, &package_uri(public, zlib), None).await.expect(StatusCode::OK);
        assert_eq!(body["id"], zlib.0);
        assert_eq!(body["name"], "zlib/1.3@_/_");
        assert_eq!(body["conan_binaries_count"], 1);
        let versions = body["versions"].as_array().unwrap();
        let listed: Vec<(i64, &str)> = versions.iter().map(|v| (v["id"].as_i64().unwrap(), v["version"].as_str().unwrap())).collect();
        assert_eq!(listed, [(newer.0, "1.10"), (old.0, "1.2")], "other committed versions of this project, by version string; user and channel ignored");
        assert_eq!(versions[0]["tags"], json!([]));
        assert!(versions[0]["created_at"].as_str().unwrap().ends_with('Z'));
        let list = get(&app, &format!("{}?package_version=1.3&package_name=zlib", crate::support::packages_of(public)), None).await.expect(StatusCode::OK);
        let mut without_versions = body.clone();
        without_versions.as_object_mut().unwrap().remove("versions");
        assert_eq!(list[0], without_versions, "the listing's object plus versions");

        for (id, what) in [(pending, "still uploading"), (other, "in another project"), (conan_store::RecipeId(0), "id 0"), (conan_store::RecipeId(987_654), "unknown")] {
            let reply = get(&app, &package_uri(public, id), None).await;
            assert_eq!(reply.message(StatusCode::NOT_FOUND), "404 Not found", "{what}");
        }
        let reply = get(&app, &package_uri(&registry.private, zlib), None).await;
        assert_eq!(reply.message(StatusCode::NOT_FOUND), "404 Project Not Found");
    }

    async fn package_files_page_and_sort(registry: &Registry) {
        let public = &registry.public;
        let zlib = registry.upload(public, "zlib/1.3", 1, 1);
        let app = registry.app().await;
        let uri = format!("{}/package_files", package_uri(public, zlib));

        let reply = get(&app, &uri, None).await;
        let body = reply.expect(StatusCode::OK);
        assert_eq!(reply.header("x-total"), Some("6"));
        let listed = files(&body);
        let names: Vec<&str> = listed.iter().map(|(_, name, _)| name.as_str()).collect();
        assert_eq!(names, ["conanfile.py", "conan_export.tgz", "conanmanifest.txt", "conaninfo.txt", "conan_package.tgz", "conanmanifest.txt"]);
        let key = recipe_key(public.id, "zlib/1.3", 1);
        let stored = registry.store().files(&FileOwner::Recipe(key)).unwrap().unwrap();
        let conanfile = stored.iter().find(|file| file.path.as_str() == "conanfile.py").unwrap();
        let first = &body[0];
        assert_eq!(first["package_id"], zlib.0);
        assert_eq!(first["size"], conanfile.digests.size);
        assert_eq!(first["file_md5"], json!(conanfile.digests.md5));
        assert_eq!(first["file_sha1"], conanfile.digests.sha1);
        assert_eq!(first["file_sha256"], conanfile.digests.sha256.as_str());
        assert_eq!(first["conan_file_type"], "recipe_file");
        assert_eq!(first["conan_recipe_revision"], rev(1).to_string());
        assert_eq!(first["conan_package_reference"], Value::Null);
        assert_eq!(first["conan_package_revision"], Value::Null);
        assert!(first["created_at"].as_str().unwrap().ends_with('Z'));
        let binary = &body[4];
        assert_eq!(binary["conan_file_type"], "package_file");
        assert_eq!(binary["conan_package_reference"], pkg(1).to_string());
        assert_eq!(binary["conan_package_revision"], rev(1).to_string());

        let sorted = async |query: &str| get(&app, &format!("{uri}?{query}"), None).await.field("file_name");
        assert_eq!(sorted("order_by=file_name").await, ["conan_export.tgz", "conan_package.tgz", "conanfile.py", "conaninfo.txt", "conanmanifest.txt", "conanmanifest.txt"]);
        assert_eq!(sorted("order_by=file_name&sort=desc").await[0], "conanmanifest.txt");
        assert_eq!(sorted("order_by=id&sort=desc").await, names.iter().rev().map(|name| (*name).to_owned()).collect::<Vec<_>>());
        assert_eq!(sorted("order_by=created_at").await, names);
        let page = get(&app, &format!("{uri}?per_page=4&page=2"), None).await;
        assert_eq!(page.field("file_name"), ["conan_package.tgz", "conanmanifest.txt"]);
        assert_eq!((page.header("x-total-pages"), page.header("x-prev-page"), page.header("x-next-page")), (Some("2"), Some("1"), Some("")));
        let past = get(&app, &format!("{uri}?page=3&per_page=4"), None).await;
        assert_eq!((past.ids(), past.header("x-total")), (Vec::new(), Some("6")));

        let reply = get(&app, &format!("{uri}?order_by=size"), None).await;
        assert_eq!(reply.param_error(), "order_by does not have a valid value");
        let reply = get(&app, &format!("{}/package_files", package_uri(public, conan_store::RecipeId(424_242))), None).await;
        assert_eq!(reply.message(StatusCode::NOT_FOUND), "404 Not found");
    }

    async fn deleting_a_package_removes_every_revision(registry: &Registry) {
        let public = &registry.public;
        let zlib = registry.upload(public, "zlib/1.3", 2, 2);
        let kept = registry.upload(public, "zlib/1.2", 1, 0);
        let app = registry.app().await;
        let token = Some(registry.tokens.maintainer.as_str());

        delete(&app, &package_uri(public, zlib), token).await.no_content();
        assert!(registry.store().recipe_revisions(public.id, &reference("zlib/1.3")).unwrap().is_empty());
        assert_eq!(get(&app, &package_uri(public, zlib), token).await.message(StatusCode::NOT_FOUND), "404 Not found");
        assert_eq!(delete(&app, &package_uri(public, zlib), token).await.message(StatusCode::NOT_FOUND), "404 Not found", "already gone");
        assert_eq!(get(&app, &crate::support::packages_of(public), token).await.ids(), [kept.0]);
        // By path too.
        delete(&app, &format!("/api/v4/projects/demo%2Fpackages/packages/{kept}"), token).await.no_content();
        // A recipe still uploading is not displayable: not found, and left to its uploader.
        let pending = registry.start_upload(public, "pending/1.0");
        let before = registry.snapshot();
        assert_eq!(delete(&app, &package_uri(public, pending), token).await.message(StatusCode::NOT_FOUND), "404 Not found");
        assert_eq!(delete(&app, &format!("{}/package_files/1", package_uri(public, pending)), token).await.message(StatusCode::NOT_FOUND), "404 Not found");
        assert_eq!(registry.snapshot(), before);
        assert!(registry.store().catalog_package(public.id, pending).unwrap().is_some());
    }

    async fn deleting_files_and_manifests(registry: &Registry) {
        let public = &registry.public;
        let zlib = registry.upload(public, "zlib/1.3", 2, 2);
        let app = registry.app().await;
        let token = Some(registry.tokens.maintainer.as_str());
        let files_uri = format!("{}/package_files", package_uri(public, zlib));
        let listed = async || files(&get(&app, &format!("{files_uri}?per_page=100"), token).await.expect(StatusCode::OK));
        let find = |all: &[(i64, String, Value)], name: &str, package: bool| {
            all.iter().rev().find(|(_, file, prev)| file == name && prev.is_null() != package).unwrap().0
        };
        let before = listed().await;
        assert_eq!(before.len(), 3 + 3 + 3 + 3, "two recipe revisions and two binaries of the newest");

        // An ordinary file goes alone.
        let export = find(&before, "conan_export.tgz", false);
        delete(&app, &format!("{files_uri}/{export}"), token).await.no_content();
        let after = listed().await;
        assert_eq!(after.len(), before.len() - 1);
        assert!(after.iter().all(|(id, _, _)| *id != export));
        let reply = delete(&app, &format!("{files_uri}/{export}"), token).await;
        assert_eq!(reply.message(StatusCode::NOT_FOUND), "404 Not Found", "a missing file: capital F");

        // A package manifest takes its package revision.
        let second = recipe_key(public.id, "zlib/1.3", 2);
        let binary_manifest = find(&after, "conanmanifest.txt", true);
        delete(&app, &format!("{files_uri}/{binary_manifest}"), token).await.no_content();
        assert_eq!(listed().await.len(), after.len() - 3);
        assert_eq!(registry.store().packages(&second).unwrap().len(), 1);
        let package = get(&app, &package_uri(public, zlib), token).await.expect(StatusCode::OK);
        assert_eq!(package["conan_binaries_count"], 1);

        // A recipe manifest takes its recipe revision with its binaries.
        let recipe_manifest = find(&after, "conanmanifest.txt", false);
        delete(&app, &format!("{files_uri}/{recipe_manifest}"), token).await.no_content();
        assert_eq!(listed().await.len(), 3, "revision 1's files");
        let package = get(&app, &package_uri(public, zlib), token).await.expect(StatusCode::OK);
        assert_eq!(package["conan_recipe_revision"], rev(1).to_string());
        assert_eq!(package["conan_recipe_revisions_count"], 1);
        assert!(registry.store().recipe_revision(&second).unwrap().is_none());
        assert!(registry.store().package_revision(&package_key(&second, 1, 1)).unwrap().is_none());

        // The last revision's manifest takes the package.
        let last = find(&listed().await, "conanmanifest.txt", false);
        delete(&app, &format!("{files_uri}/{last}"), token).await.no_content();
        assert_eq!(get(&app, &package_uri(public, zlib), token).await.message(StatusCode::NOT_FOUND), "404 Not found");

        // Files of another package, or of a package of another project, are not found there.
        let other = registry.upload(public, "bzip2/1.0", 1, 0);
        let foreign = registry.upload(&registry.nested, "lz4/1.0", 1, 0);
        let other_file = files(&get(&app, &format!("{}/package_files", package_uri(public, other)), token).await.expect(StatusCode::OK))[1].0;
        let keep = registry.upload(public, "zstd/1.5", 1, 0);
        let reply = delete(&app, &format!("{}/package_files/{other_file}", package_uri(public, keep)), token).await;
        assert_eq!(reply.message(StatusCode::NOT_FOUND), "404 Not Found");
        let reply = delete(&app, &format!("{}/package_files/{other_file}", package_uri(public, foreign)), token).await;
        assert_eq!(reply.message(StatusCode::NOT_FOUND), "404 Not found", "the package is not in this project");
        assert_eq!(files(&get(&app, &format!("{}/package_files", package_uri(public, other)), token).await.expect(StatusCode::OK)).len(), 3);
    }

    async fn instance_routes_answer_python_gitlab(registry: &Registry) {
        let app = registry.app().await;
        let token = Some(registry.tokens.maintainer.as_str());
        let user = get(&app, "/api/v4/user", token).await.expect(StatusCode::OK);
        assert_eq!(user["username"], "alice");
        assert_eq!(user["state"], "active");
        assert_eq!(user["is_admin"], false);
        assert_eq!(user["web_url"], format!("{}/alice", crate::support::EXTERNAL_URL));
        let read_only = get(&app, "/api/v4/user", Some(registry.tokens.read_api.as_str())).await.expect(StatusCode::OK);
        assert_eq!(read_only["id"], user["id"]);
        assert_eq!(get(&app, "/api/v4/user", Some(registry.tokens.admin.as_str())).await.expect(StatusCode::OK)["is_admin"], true);
        assert_eq!(get(&app, "/api/v4/user", None).await.message(StatusCode::UNAUTHORIZED), "401 Unauthorized");

        let version = get(&app, "/api/v4/version", token).await.expect(StatusCode::OK);
        assert_eq!(version["version"], conan_packages_api::GITLAB_API_LEVEL);
        assert!(version["revision"].as_str().unwrap().starts_with("conan-registry "));
        assert_eq!(get(&app, "/api/v4/version", None).await.message(StatusCode::UNAUTHORIZED), "401 Unauthorized");

        let project = get(&app, "/api/v4/projects/demo%2Fsub%2Fnested", None).await.expect(StatusCode::OK);
        assert_eq!(project["id"], registry.nested.id.0);
        assert_eq!(project["name"], "nested");
        assert_eq!(project["path"], "nested");
        assert_eq!(project["path_with_namespace"], "demo/sub/nested");
        assert_eq!(project["name_with_namespace"], "demo / sub / nested");
        assert_eq!(project["namespace"], json!({"path": "demo/sub", "full_path": "demo/sub"}));
        assert_eq!(project["visibility"], "public");
        assert_eq!(project["web_url"], format!("{}/demo/sub/nested", crate::support::EXTERNAL_URL));
        let by_id = get(&app, &format!("/api/v4/projects/{}", registry.nested.id), None).await.expect(StatusCode::OK);
        assert_eq!(by_id, project);
        let private = format!("/api/v4/projects/{}", registry.private.id);
        assert_eq!(get(&app, &private, None).await.message(StatusCode::NOT_FOUND), "404 Project Not Found");
        assert_eq!(get(&app, &private, Some(registry.tokens.outsider.as_str())).await.message(StatusCode::NOT_FOUND), "404 Project Not Found");
        assert_eq!(get(&app, &private, Some(registry.tokens.guest.as_str())).await.expect(StatusCode::OK)["visibility"], "private");

        // Statistics: for reporters and above and admins, as GitLab; others get the project
        // without them, and the counts are the store's.
        registry.upload(&registry.private, "zlib/1.3", 2, 2);
        let stats = registry.store().project_stats(registry.private.id).unwrap();
        assert_eq!((stats.references, stats.recipe_revisions, stats.binaries), (1, 2, 2));
        let with_stats = format!("{private}?statistics=true");
        for token in [&registry.tokens.reporter, &registry.tokens.maintainer, &registry.tokens.admin, &registry.tokens.read_api] {
            let project = get(&app, &with_stats, Some(token.as_str())).await.expect(StatusCode::OK);
            assert_eq!(
                project["statistics"],
                json!({
                    "packages_size": stats.logical_bytes,
                    "storage_size": stats.logical_bytes,
                    "conan_stored_size": stats.stored_bytes,
                    "conan_references_count": 1,
                    "conan_recipe_revisions_count": 2,
                    "conan_binaries_count": 2,
                    "conan_package_revisions_count": 2,
                    "conan_files_count": stats.files,
                    "conan_source_backups_count": 0,
                    "conan_source_backups_size": 0,
                })
            );
        }
        let guest = get(&app, &with_stats, Some(registry.tokens.guest.as_str())).await.expect(StatusCode::OK);
        assert_eq!(guest.get("statistics"), None, "a guest sees the project, not its statistics");
        let public = format!("/api/v4/projects/{}?statistics=true", registry.public.id);
        assert_eq!(get(&app, &public, None).await.expect(StatusCode::OK).get("statistics"), None);
        let reporter = Some(registry.tokens.reporter.as_str());
        assert_eq!(get(&app, &private, reporter).await.expect(StatusCode::OK).get("statistics"), None, "only when asked");
        assert_eq!(get(&app, &format!("{private}?statistics=maybe"), reporter).await.param_error(), "statistics is invalid");
        assert_eq!(get(&app, &with_stats, Some(registry.tokens.outsider.as_str())).await.message(StatusCode::NOT_FOUND), "404 Project Not Found");

        // Other methods on these routes: Grape's 405, as JSON.
        let reply = send(&app, request("POST", "/api/v4/user", token)).await;
        assert_eq!(reply.expect(StatusCode::METHOD_NOT_ALLOWED), json!({"error": "405 Not Allowed"}));
    }
}
