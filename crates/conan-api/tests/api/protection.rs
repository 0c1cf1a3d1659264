//! Package protection rules on every Conan write route: v1 and v2, both prefixes, recipe and
//! package uploads, checksum-deploy probes and every delete; who is blocked, the 403 bodies,
//! and that a refused write changes nothing.

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use conan_store::{AccessLevel, NewProtectionRule, PackageType};

use crate::support::{
    INSTANCE, Registry, package_files, pkgid, project_base, put, recipe_files, request, rrev, send,
    sha1_hex, upload,
};

const PUSH_PROTECTED: &str = "403 Forbidden - Package protected.";
const DELETE_PROTECTED: &str = "403 Forbidden - Package is deletion protected.";

/// The recipe every test works on, in the private project (where the deploy tokens are),
/// with its user naming the project so that the instance prefix finds it too.
const SEGMENTS: &str = "zlib/1.3/group+private/stable";

impl Registry {
    /// Adds a Conan protection rule to the private project.
    fn protect(&self, pattern: &str, push: Option<AccessLevel>, delete: Option<AccessLevel>) {
        self.state
            .metadata
            .create_protection_rule(
                self.private.id,
                &NewProtectionRule {
                    package_name_pattern: pattern.parse().unwrap(),
                    package_type: PackageType::Conan,
                    minimum_access_level_for_push: push,
                    minimum_access_level_for_delete: delete,
                },
            )
            .unwrap();
    }
}

/// Both prefixes for the private project.
fn bases(registry: &Registry) -> [String; 2] {
    [project_base(&registry.private), INSTANCE.to_owned()]
}

/// A JSON POST.
fn post(uri: &str, body: &str, auth: &str) -> TestRequest {
    request("POST", uri, Some(auth))
        .insert_header(("Host", "conan.test"))
        .insert_header(("Content-Type", "application/json"))
        .set_payload(body.to_owned())
}

/// Every route that pushes `name`'s recipe or packages under `base`, each with a label.
fn pushes(base: &str, segments: &str, auth: &str) -> Vec<(String, TestRequest)> {
    let v2 = format!("{base}/v2/conans/{segments}/revisions/{}", rrev('b'));
    let v2_package = format!("{v2}/packages/{}/revisions/{}", pkgid('c'), rrev('d'));
    let v1 = format!("{base}/v1/conans/{segments}");
    let v1_files = format!("{base}/v1/files/{segments}/0");
    let (file, content) = recipe_files()[2];
    let probe = |url: &str| {
        request("PUT", url, Some(auth))
            .insert_header(("X-Checksum-Deploy", "true"))
            .insert_header(("X-Checksum-Sha1", sha1_hex(content)))
    };
    vec![
        (
            "v2 recipe file",
            put(&format!("{v2}/files/{file}"), content, auth),
        ),
        ("v2 recipe probe", probe(&format!("{v2}/files/{file}"))),
        (
            "v2 package file",
            put(&format!("{v2_package}/files/conaninfo.txt"), content, auth),
        ),
        (
            "v2 package probe",
            probe(&format!("{v2_package}/files/conaninfo.txt")),
        ),
        (
            "v1 recipe upload_urls",
            post(&format!("{v1}/upload_urls"), r#"{"conanfile.py":1}"#, auth),
        ),
        (
            "v1 package upload_urls",
            post(
                &format!("{v1}/packages/{}/upload_urls", pkgid('c')),
                r#"{"conaninfo.txt":1}"#,
                auth,
            ),
        ),
        (
            "v1 remove_files",
            post(
                &format!("{v1}/remove_files"),
                r#"{"files":["conanfile.py"]}"#,
                auth,
            ),
        ),
        (
            "v1 export file",
            put(&format!("{v1_files}/export/{file}"), content, auth),
        ),
        (
            "v1 export probe",
            probe(&format!("{v1_files}/export/{file}")),
        ),
        (
            "v1 package file",
            put(
                &format!("{v1_files}/package/{}/0/conaninfo.txt", pkgid('c')),
                content,
                auth,
            ),
        ),
    ]
    .into_iter()
    .map(|(label, request)| (format!("{base} {label}"), request))
    .collect()
}

/// Every route that deletes `name`'s recipe, revisions or packages under `base`.
fn deletes(base: &str, segments: &str, auth: &str) -> Vec<(String, TestRequest)> {
    let recipe = format!("{base}/v2/conans/{segments}");
    let revision = format!("{recipe}/revisions/{}", rrev('a'));
    let package = format!("{revision}/packages/{}", pkgid('a'));
    let v1 = format!("{base}/v1/conans/{segments}");
    vec![
        ("v2 recipe", request("DELETE", &recipe, Some(auth))),
        (
            "v2 recipe revision",
            request("DELETE", &revision, Some(auth)),
        ),
        (
            "v2 packages",
            request("DELETE", &format!("{revision}/packages"), Some(auth)),
        ),
        ("v2 package", request("DELETE", &package, Some(auth))),
        (
            "v2 package revision",
            request(
                "DELETE",
                &format!("{package}/revisions/{}", rrev('a')),
                Some(auth),
            ),
        ),
        ("v1 recipe", request("DELETE", &v1, Some(auth))),
        (
            "v1 packages",
            post(
                &format!("{v1}/packages/delete"),
                r#"{"package_ids":[]}"#,
                auth,
            ),
        ),
    ]
    .into_iter()
    .map(|(label, request)| (format!("{base} {label}"), request))
    .collect()
}

/// Sends each request and expects a 403 with `message`.
async fn refused<S, B>(app: &S, requests: Vec<(String, TestRequest)>, message: &str)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    for (label, request) in requests {
        let reply = send(app, request).await;
        assert_eq!(reply.message(StatusCode::FORBIDDEN), message, "{label}");
    }
}

/// Sends each request and expects anything but a 403 (the route's own answer).
async fn not_refused<S, B>(app: &S, requests: Vec<(String, TestRequest)>)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    for (label, request) in requests {
        let reply = send(app, request).await;
        assert_ne!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{label}: {:?}",
            reply.body
        );
    }
}

/// Expects every push and every delete of `segments` under `base` by `auth` to be refused by a
/// protection rule.
async fn protected<S, B>(app: &S, base: &str, segments: &str, auth: &str)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    refused(app, pushes(base, segments, auth), PUSH_PROTECTED).await;
    refused(app, deletes(base, segments, auth), DELETE_PROTECTED).await;
}

/// Expects no push and no delete of `segments` under `base` by `auth` to be refused.
async fn unprotected<S, B>(app: &S, base: &str, segments: &str, auth: &str)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    not_refused(app, pushes(base, segments, auth)).await;
    not_refused(app, deletes(base, segments, auth)).await;
}

/// Uploads recipe revision `a` of the recipe with package `a` revision `a`, as the admin.
async fn seed<S, B>(app: &S, registry: &Registry)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let revision = format!(
        "{}/v2/conans/{SEGMENTS}/revisions/{}",
        project_base(&registry.private),
        rrev('a')
    );
    upload(app, &revision, &recipe_files(), &registry.callers.admin).await;
    let package = format!("{revision}/packages/{}/revisions/{}", pkgid('a'), rrev('a'));
    upload(app, &package, &package_files(), &registry.callers.admin).await;
}

/// What a client sees of the recipe: its revisions and the packages of revision `a`.
async fn state_of<S, B>(app: &S, registry: &Registry) -> (String, String)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let recipe = format!("{}/v2/conans/{SEGMENTS}", project_base(&registry.private));
    let auth = Some(registry.callers.admin.as_str());
    let revisions = send(app, request("GET", &format!("{recipe}/revisions"), auth)).await;
    let packages = send(
        app,
        request(
            "GET",
            &format!("{recipe}/revisions/{}/search", rrev('a')),
            auth,
        ),
    )
    .await;
    (revisions.text().to_owned(), packages.text().to_owned())
}

#[actix_web::test]
async fn a_rule_refuses_every_push_and_delete_route_and_changes_nothing() {
    let registry = Registry::new();
    let app = registry.app().await;
    seed(&app, &registry).await;
    let before = state_of(&app, &registry).await;
    // The pattern matches the name whatever its case, and only the name.
    let (maintainer, owner) = (Some(AccessLevel::Maintainer), Some(AccessLevel::Owner));
    registry.protect("ZL*", maintainer, owner);
    let callers = &registry.callers;

    for base in bases(&registry) {
        // A developer may not push it; a maintainer may not delete it.
        let developer_pushes = pushes(&base, SEGMENTS, &callers.developer);
        refused(&app, developer_pushes, PUSH_PROTECTED).await;
        let maintainer_deletes = deletes(&base, SEGMENTS, &callers.maintainer);
        refused(&app, maintainer_deletes, DELETE_PROTECTED).await;
        // A deploy token is refused both.
        protected(&app, &base, SEGMENTS, &callers.deploy_write).await;
        // The role rules come first: a developer may not delete at all, nor a reporter push.
        let developer_deletes = deletes(&base, SEGMENTS, &callers.developer);
        refused(&app, developer_deletes, "403 Forbidden").await;
        let reporter_pushes = pushes(&base, SEGMENTS, &callers.reporter);
        refused(&app, reporter_pushes, "403 Forbidden").await;
    }
    // A whole refused upload of a new revision leaves nothing behind.
    let revision = format!(
        "{}/v2/conans/{SEGMENTS}/revisions/{}",
        project_base(&registry.private),
        rrev('b')
    );
    for (path, content) in recipe_files() {
        let url = format!("{revision}/files/{path}");
        let reply = send(&app, put(&url, content, &callers.developer)).await;
        assert_eq!(
            reply.message(StatusCode::FORBIDDEN),
            PUSH_PROTECTED,
            "{path}"
        );
    }
    assert_eq!(state_of(&app, &registry).await, before);
    let files = format!("{revision}/files");
    let reply = send(&app, request("GET", &files, Some(&callers.admin))).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);

    // Reads are not affected.
    let latest = format!(
        "{}/v2/conans/{SEGMENTS}/latest",
        project_base(&registry.private)
    );
    let reply = send(&app, request("GET", &latest, Some(&callers.deploy_read))).await;
    assert_eq!(reply.status, StatusCode::OK);

    // Other names are not protected: the same developer pushes `openssl` everywhere.
    for base in bases(&registry) {
        let openssl = "openssl/3.0/group+private/stable";
        not_refused(&app, pushes(&base, openssl, &callers.developer)).await;
    }
}

#[actix_web::test]
async fn the_levels_decide_who_passes() {
    let registry = Registry::new();
    let app = registry.app().await;
    let callers = &registry.callers;
    // A maintainer reaches a maintainer push level; a rule without a delete level leaves
    // deleting to the usual roles.
    registry.protect("zlib", Some(AccessLevel::Maintainer), None);
    for base in bases(&registry) {
        unprotected(&app, &base, SEGMENTS, &callers.maintainer).await;
    }
    // A maintainer's upload goes through whole.
    let revision = format!(
        "{}/v2/conans/{SEGMENTS}/revisions/{}",
        project_base(&registry.private),
        rrev('e')
    );
    upload(&app, &revision, &recipe_files(), &callers.maintainer).await;

    // An owner level stops maintainers, not owners; an admin level stops owners, never an
    // instance administrator.
    let (owner, admin) = (Some(AccessLevel::Owner), Some(AccessLevel::Admin));
    registry.protect("boost*", owner, owner);
    registry.protect("fmt", admin, admin);
    let (boost, fmt) = (
        "boost/1.86/group+private/stable",
        "fmt/11.0/group+private/stable",
    );
    for base in bases(&registry) {
        protected(&app, &base, boost, &callers.maintainer).await;
        unprotected(&app, &base, boost, &callers.owner).await;
        protected(&app, &base, fmt, &callers.owner).await;
        unprotected(&app, &base, fmt, &callers.admin).await;
    }
}

#[actix_web::test]
async fn deploy_tokens_are_stopped_by_any_matching_rule() {
    let registry = Registry::new();
    let app = registry.app().await;
    let token = &registry.callers.deploy_write;
    // Not protected yet: the write token may push and delete.
    for base in bases(&registry) {
        unprotected(&app, &base, SEGMENTS, token).await;
    }
    // A delete-only rule stops its pushes too, and a push-only rule its deletes.
    registry.protect("zlib", None, Some(AccessLevel::Owner));
    registry.protect("boost", Some(AccessLevel::Maintainer), None);
    for base in bases(&registry) {
        protected(&app, &base, SEGMENTS, token).await;
        protected(&app, &base, "boost/1.86/group+private/stable", token).await;
    }
}
