//! Hostile input: ids that are not ids, parameters GitLab validates, pages out of range and
//! methods the routes do not take. Each answer is GitLab's, and nothing changes.

use actix_web::http::StatusCode;
use serde_json::json;

use crate::registry_tests;
use crate::support::{delete, get, package_uri, packages_of, request, send};

registry_tests! {
    async fn parameters_gitlab_validates_are_400s(registry: &Registry) {
        let zlib = registry.upload(&registry.public, "zlib/1.3", 1, 0);
        let app = registry.app().await;
        let list = packages_of(&registry.public);
        let files = format!("{}/package_files", package_uri(&registry.public, zlib));
        for (uri, error) in [
            (format!("{list}?order_by=size"), "order_by does not have a valid value"),
            (format!("{list}?order_by=NAME"), "order_by does not have a valid value"),
            (format!("{list}?order_by="), "order_by does not have a valid value"),
            (format!("{list}?sort=up"), "sort does not have a valid value"),
            (format!("{list}?sort=DESC"), "sort does not have a valid value"),
            (format!("{list}?package_type=cargo"), "package_type does not have a valid value"),
            (format!("{list}?status=deleted"), "status does not have a valid value"),
            (format!("{list}?include_versionless=maybe"), "include_versionless is invalid"),
            (format!("{list}?page=abc"), "page is invalid"),
            (format!("{list}?page=99999999999999999999"), "page is invalid"),
            (format!("{list}?per_page=1e3"), "per_page is invalid"),
            (format!("{list}?per_page=%FF"), "per_page is invalid"),
            (format!("{list}?package_name=%FF%FE"), "package_name is invalid"),
            (format!("{list}?package_version=1.%C0%AF"), "package_version is invalid"),
            (format!("{files}?sort=sideways"), "sort does not have a valid value"),
            (format!("{files}?order_by=name"), "order_by does not have a valid value"),
            (format!("{files}?page=-"), "page is invalid"),
            ("/api/v4/groups/demo/packages?exclude_subgroups=perhaps".to_owned(), "exclude_subgroups is invalid"),
            ("/api/v4/groups/demo/packages?order_by=id".to_owned(), "order_by does not have a valid value"),
            (format!("/api/v4/projects/{}/packages/99999999999999999999", registry.public.id), "package_id is invalid"),
        ] {
            let reply = get(&app, &uri, None).await;
            assert_eq!(reply.param_error(), error, "{uri}");
        }
        // Validation comes before the project lookup, as Grape validates before the endpoint.
        let reply = get(&app, &format!("{}?sort=up", packages_of(&registry.private)), None).await;
        assert_eq!(reply.param_error(), "sort does not have a valid value");
    }

    async fn ids_that_name_nothing_are_404s(registry: &Registry) {
        let zlib = registry.upload(&registry.public, "zlib/1.3", 1, 0);
        let app = registry.app().await;
        for project in ["0", "-1", "99999999999999999999", "demo", "demo%2F", "%2Fdemo%2Fpackages", "demo%2Fpackages%2F", "%FF%FE", "..%2F..%2Fetc"] {
            let reply = get(&app, &format!("/api/v4/projects/{project}/packages"), None).await;
            assert_eq!(reply.message(StatusCode::NOT_FOUND), "404 Project Not Found", "{project}");
        }
        for id in ["0", "00", "9223372036854775807"] {
            let reply = get(&app, &format!("{}/{id}", packages_of(&registry.public)), None).await;
            assert_eq!(reply.message(StatusCode::NOT_FOUND), "404 Not found", "{id}");
        }
        // Ids that are not numbers match no route at all.
        for id in ["abc", "-1", "1.0", "1%2F2"] {
            let reply = get(&app, &format!("{}/{id}", packages_of(&registry.public)), None).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{id}");
        }
        let reply = get(&app, &format!("{}/0{zlib}", packages_of(&registry.public)), None).await;
        assert_eq!(reply.expect(StatusCode::OK)["id"], zlib.0, "leading zeros are the same number");
    }

    async fn hostile_deletes_change_nothing(registry: &Registry) {
        let zlib = registry.upload(&registry.public, "zlib/1.3", 1, 1);
        let app = registry.app().await;
        let token = Some(registry.tokens.maintainer.as_str());
        let before = registry.snapshot();
        let package = package_uri(&registry.public, zlib);
        for (uri, status) in [
            (format!("{}/0", packages_of(&registry.public)), 404),
            (format!("{}/99999999999999999999", packages_of(&registry.public)), 400),
            (format!("{package}/package_files/0"), 404),
            (format!("{package}/package_files/-1"), 404),
            (format!("{package}/package_files/abc"), 400),
            (format!("{package}/package_files/99999999999999999999"), 400),
            (format!("{package}/package_files/1%20OR%201=1"), 400),
            (format!("/api/v4/projects/0/packages/{zlib}"), 404),
            (format!("/api/v4/projects/{}/packages/{zlib}", registry.nested.id), 404),
            (format!("/api/v4/projects/{}/packages/{zlib}?private_token=x", registry.public.id), 401),
        ] {
            let reply = delete(&app, &uri, token).await;
            assert_eq!(reply.status.as_u16(), status, "{uri}: {:?}", reply.body);
            assert!(reply.json().is_object(), "{uri}");
        }
        // Methods the routes do not take: Grape's 405.
        for (method, uri) in [("PUT", package.clone()), ("POST", packages_of(&registry.public)), ("PATCH", format!("{package}/package_files")), ("GET", format!("{package}/package_files/1")), ("PUT", "/api/v4/version".to_owned())] {
            let reply = send(&app, request(method, &uri, token)).await;
            assert_eq!(reply.expect(StatusCode::METHOD_NOT_ALLOWED), json!({"error": "405 Not Allowed"}), "{method} {uri}");
        }
        assert_eq!(registry.snapshot(), before);
    }
}
