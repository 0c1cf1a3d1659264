//! Virtual projects over HTTP: which member answers a recipe (the first readable one that has
//! it, so a public member never shadows a private one's package for a caller who may read both),
//! skipping members a caller may not read, merged search, uploads and deletes in the deploy
//! member with its permissions, the refusal without one, and nesting refused.

use actix_web::http::StatusCode;
use conan_auth::virtuals::{self, Position};
use conan_store::{AccessStore, Project, Visibility};
use serde_json::Value;

use crate::support::{Registry, project_base, recipe_files, request, rrev, send, upload};

/// `group/virtual` (internal) = [private, public], deploying to private, with `zlib/1.3` at
/// revision `aaaa…` in public and `bbbb…` in private, and `onlypub/1.0` in public alone.
fn virtual_project(registry: &Registry) -> Project {
    let store: &dyn AccessStore = registry.state.metadata.as_ref();
    let project =
        virtuals::create_virtual_project(store, "group/virtual", Visibility::Internal).unwrap();
    for member in ["group/private", "group/public"] {
        virtuals::add_member(store, "group/virtual", member, Position::End).unwrap();
    }
    virtuals::set_deploy_member(store, "group/virtual", Some("group/private")).unwrap();
    project
}

fn recipe_url(project: &Project, reference: &str, revision: char) -> String {
    format!(
        "{}/v2/conans/{reference}/_/_/revisions/{}",
        project_base(project),
        rrev(revision)
    )
}

fn latest_url(project: &Project, reference: &str) -> String {
    format!("{}/v2/conans/{reference}/_/_/latest", project_base(project))
}

#[actix_web::test]
async fn the_first_readable_member_with_the_recipe_answers_everything_under_it() {
    let registry = Registry::new();
    let app = registry.app().await;
    let callers = &registry.callers;
    let v = virtual_project(&registry);
    let files = recipe_files();
    let owner = callers.owner.as_str();
    upload(
        &app,
        &recipe_url(&registry.public, "zlib/1.3", 'a'),
        &files,
        owner,
    )
    .await;
    upload(
        &app,
        &recipe_url(&registry.private, "zlib/1.3", 'b'),
        &files,
        owner,
    )
    .await;
    upload(
        &app,
        &recipe_url(&registry.public, "onlypub/1.0", 'c'),
        &files,
        owner,
    )
    .await;

    let zlib = latest_url(&v, "zlib/1.3");
    // A member of the private project gets its package, never the public one of the same name.
    let insider = callers.developer.as_str();
    let answer = send(&app, request("GET", &zlib, Some(insider))).await;
    assert_eq!(answer.ok_json()["revision"], rrev('b'));
    // Someone who may not read the private project is answered by the public one.
    let outsider = callers.outsider.as_str();
    let answer = send(&app, request("GET", &zlib, Some(outsider))).await;
    assert_eq!(answer.ok_json()["revision"], rrev('a'));
    // ... and cannot reach the private revision through the virtual project by its id.
    let hidden = send(
        &app,
        request(
            "GET",
            &format!("{}/files", recipe_url(&v, "zlib/1.3", 'b')),
            Some(outsider),
        ),
    )
    .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    // The private revision's files, through the virtual project, for the insider.
    let listed = send(
        &app,
        request(
            "GET",
            &format!("{}/files", recipe_url(&v, "zlib/1.3", 'b')),
            Some(insider),
        ),
    )
    .await;
    assert_eq!(listed.status, StatusCode::OK, "{:?}", listed.body);
    // A read-only deploy token of the private project belongs to another project than the
    // virtual one's... and the virtual project is internal: it may not use the URL.
    let token = send(
        &app,
        request(
            "GET",
            &latest_url(&v, "zlib/1.3"),
            Some(&callers.deploy_read),
        ),
    )
    .await;
    assert_eq!(token.status, StatusCode::NOT_FOUND);
    // A deploy token of the virtual project itself may use its URL, but reads its members as
    // a token of another project: the private member is skipped, the public one answers.
    let identity: &dyn conan_store::IdentityStore = registry.state.metadata.as_ref();
    let own = conan_auth::admin::create_deploy_token(
        identity,
        &v,
        None,
        "reader",
        &[conan_auth::Scope::ReadPackageRegistry],
        None,
    )
    .unwrap();
    let own = format!("Bearer {}", own.secret);
    let answer = send(
        &app,
        request("GET", &latest_url(&v, "zlib/1.3"), Some(&own)),
    )
    .await;
    assert_eq!(answer.ok_json()["revision"], rrev('a'));
    // Anonymous callers may not use an internal virtual project.
    let anonymous = send(&app, request("GET", &latest_url(&v, "zlib/1.3"), None)).await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);

    // A reference only the public member has; one no member has is a 404.
    let only = send(
        &app,
        request("GET", &latest_url(&v, "onlypub/1.0"), Some(insider)),
    )
    .await;
    assert_eq!(only.ok_json()["revision"], rrev('c'));
    let none = send(
        &app,
        request("GET", &latest_url(&v, "none/1.0"), Some(insider)),
    )
    .await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);

    // Search merges the readable members, each reference once.
    let search = format!("{}/v2/conans/search?q=%2A", project_base(&v));
    for auth in [insider, outsider] {
        let found: Value = send(&app, request("GET", &search, Some(auth)))
            .await
            .ok_json();
        assert_eq!(
            found["results"],
            serde_json::json!(["onlypub/1.0", "zlib/1.3"]),
            "{auth}"
        );
    }
}

#[actix_web::test]
async fn writes_go_to_the_deploy_member_with_its_permissions() {
    let registry = Registry::new();
    let app = registry.app().await;
    let callers = &registry.callers;
    let v = virtual_project(&registry);
    let files = recipe_files();

    upload(
        &app,
        &recipe_url(&v, "fresh/1.0", 'd'),
        &files,
        &callers.developer,
    )
    .await;
    let in_private = send(
        &app,
        request(
            "GET",
            &latest_url(&registry.private, "fresh/1.0"),
            Some(&callers.owner),
        ),
    )
    .await;
    assert_eq!(in_private.ok_json()["revision"], rrev('d'));
    let in_public = send(
        &app,
        request(
            "GET",
            &latest_url(&registry.public, "fresh/1.0"),
            Some(&callers.owner),
        ),
    )
    .await;
    assert_eq!(in_public.status, StatusCode::NOT_FOUND);

    // A reporter of the deploy member may read through V but not upload; an outsider, who may
    // use V but not see the deploy member, is refused too. Nothing is stored.
    let (path, content) = files[0];
    let url = format!("{}/files/{path}", recipe_url(&v, "other/1.0", 'e'));
    for auth in [&callers.reporter, &callers.outsider] {
        let refused = send(&app, crate::support::put(&url, content, auth)).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{auth}");
    }
    let nothing = send(
        &app,
        request(
            "GET",
            &latest_url(&registry.private, "other/1.0"),
            Some(&callers.owner),
        ),
    )
    .await;
    assert_eq!(nothing.status, StatusCode::NOT_FOUND);

    // Deletes go to the deploy member too (a maintainer there may).
    let delete = send(
        &app,
        request(
            "DELETE",
            &recipe_url(&v, "fresh/1.0", 'd'),
            Some(&callers.maintainer),
        ),
    )
    .await;
    assert_eq!(delete.status, StatusCode::OK, "{:?}", delete.body);
    let gone = send(
        &app,
        request(
            "GET",
            &latest_url(&registry.private, "fresh/1.0"),
            Some(&callers.owner),
        ),
    )
    .await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);

    // Without a deploy member every write is refused, saying why.
    let store: &dyn AccessStore = registry.state.metadata.as_ref();
    virtuals::set_deploy_member(store, "group/virtual", None).unwrap();
    let refused = send(&app, crate::support::put(&url, content, &callers.owner)).await;
    let message = refused.message(StatusCode::FORBIDDEN);
    assert!(message.contains("no deploy member"), "{message}");
    let delete = send(
        &app,
        request(
            "DELETE",
            &recipe_url(&v, "zlib/1.3", 'a'),
            Some(&callers.owner),
        ),
    )
    .await;
    assert!(
        delete
            .message(StatusCode::FORBIDDEN)
            .contains("no deploy member")
    );
}

#[actix_web::test]
async fn nesting_duplicates_and_strangers_are_refused_and_change_nothing() {
    let registry = Registry::new();
    let store: &dyn AccessStore = registry.state.metadata.as_ref();
    let v = virtual_project(&registry);
    virtuals::create_virtual_project(store, "group/other", Visibility::Public).unwrap();
    let before = store.virtual_layout(v.id).unwrap();
    let refusals = [
        virtuals::add_member(store, "group/virtual", "group/other", Position::End),
        virtuals::add_member(store, "group/other", "group/virtual", Position::End),
        virtuals::add_member(store, "group/virtual", "group/virtual", Position::End),
        virtuals::add_member(store, "group/virtual", "group/public", Position::End),
        virtuals::add_member(store, "group/virtual", "no/such", Position::End),
        virtuals::add_member(store, "group/virtual", "group/internal", Position::At(9)),
        virtuals::add_member(store, "group/public", "group/internal", Position::End),
        virtuals::set_deploy_member(store, "group/virtual", Some("group/internal")),
    ];
    for refusal in refusals {
        let error = refusal.unwrap_err().to_string();
        assert!(!error.is_empty());
    }
    assert_eq!(store.virtual_layout(v.id).unwrap(), before);
    assert!(store.virtual_layout(registry.public.id).unwrap().is_none());
}
