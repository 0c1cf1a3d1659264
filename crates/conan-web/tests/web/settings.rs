//! Project settings: members, visibility and deploy tokens, each change allowed to the roles
//! that may make it, CSRF-checked, and bad input a 400 that changes nothing.

use actix_web::http::StatusCode;
use conan_auth::admin;
use conan_store::{IdentityStore, Role, TokenHolder, TokenKind, Visibility};

use crate::registry_tests;
use crate::sessions::{Browser, csrf_of, signed_in};

registry_tests! {
    async fn maintainers_and_owners_manage_what_their_role_allows(registry: &Registry) {
        let store: &dyn IdentityStore = registry.store();
        let project = registry.private.id;
        for (name, role) in [("dev", Role::Developer), ("maint", Role::Maintainer), ("own", Role::Owner)] {
            let user = admin::create_user(store, name, Some("password1"), false).unwrap();
            store.set_membership(project, user.id, role).unwrap();
        }
        let newbie = admin::create_user(store, "newbie", Some("password1"), false).unwrap();
        let app = registry.app().await;
        let settings = "/-/web/projects/demo/private/-/settings";

        // Outsiders: a 404 for the private project, a 403 for the public one.
        let mut anonymous = Browser::default();
        anonymous.get(&app, settings).await.expect(StatusCode::NOT_FOUND);
        let public = anonymous.get(&app, "/-/web/projects/demo/packages/-/settings").await;
        assert!(public.expect(StatusCode::FORBIDDEN).contains("Sign in"));
        let mut dev = signed_in(&app, "dev").await;
        assert!(!dev.get(&app, "/-/web/projects/demo/private").await.ok().contains(settings));
        dev.get(&app, settings).await.expect(StatusCode::FORBIDDEN);

        // A maintainer: members below owner, deploy tokens; not the owner role, not visibility.
        let mut maint = signed_in(&app, "maint").await;
        assert!(maint.get(&app, "/-/web/projects/demo/private").await.ok().contains(&format!("href=\"{settings}\"")));
        let page = maint.get(&app, settings).await;
        assert!(page.ok().contains(">own<") && !page.ok().contains("name=\"visibility\""), "{}", page.body);
        let csrf = csrf_of(page.ok());
        let post = |form: String| format!("csrf_token={csrf}&{form}");
        let members = format!("{settings}/members");
        // Without the token nothing changes.
        maint.post(&app, &members, "username=newbie&role=developer").await.expect(StatusCode::FORBIDDEN);
        assert_eq!(store.membership(project, newbie.id).unwrap(), None);
        let added = maint.post(&app, &members, &post("username=newbie&role=developer".into())).await;
        assert_eq!(added.status, StatusCode::SEE_OTHER);
        assert_eq!(added.header("location"), Some(settings));
        assert_eq!(store.membership(project, newbie.id).unwrap(), Some(Role::Developer));
        maint.post(&app, &members, &post("username=newbie&role=reporter".into())).await;
        assert_eq!(store.membership(project, newbie.id).unwrap(), Some(Role::Reporter));
        for (form, status) in [
            ("username=newbie&role=owner", StatusCode::FORBIDDEN),
            ("username=own&role=developer", StatusCode::FORBIDDEN),
            ("username=newbie&role=emperor", StatusCode::BAD_REQUEST),
            ("username=nobody&role=developer", StatusCode::BAD_REQUEST),
        ] {
            maint.post(&app, &members, &post(form.into())).await.expect(status);
        }
        maint.post(&app, &format!("{members}/remove"), &post("username=own".into())).await.expect(StatusCode::FORBIDDEN);
        maint.post(&app, &format!("{settings}/visibility"), &post("visibility=public".into())).await.expect(StatusCode::FORBIDDEN);
        assert_eq!(store.membership(project, newbie.id).unwrap(), Some(Role::Reporter));
        assert_eq!(store.project(project).unwrap().unwrap().visibility, Visibility::Private);
        let removed = maint.post(&app, &format!("{members}/remove"), &post("username=newbie".into())).await;
        assert_eq!(removed.status, StatusCode::SEE_OTHER);
        assert_eq!(store.membership(project, newbie.id).unwrap(), None);

        // Deploy tokens: created with package scopes only, shown once, revoked.
        let tokens = format!("{settings}/deploy-tokens");
        maint.post(&app, &tokens, &post("name=ci&scopes=api".into())).await.expect(StatusCode::BAD_REQUEST);
        let created = maint.post(&app, &tokens, &post("name=ci&scopes=read_package_registry&username=ci-bot&expires_in_days=never".into())).await;
        let body = created.ok();
        assert!(body.contains("crdt-") && body.contains("ci-bot"), "{body}");
        maint.post(&app, &tokens, &post("name=again&scopes=read_package_registry&username=ci-bot".into())).await.expect(StatusCode::BAD_REQUEST);
        let listed = store.tokens(TokenHolder::Project(project)).unwrap();
        assert_eq!(listed.len(), 1);
        let other = admin::create_deploy_token(store, &registry.public, None, "elsewhere", &[conan_auth::Scope::ReadPackageRegistry], None).unwrap();
        maint.post(&app, &format!("{tokens}/{}/revoke", other.token.id.0), &post(String::new())).await.expect(StatusCode::NOT_FOUND);
        assert!(store.token(TokenKind::Deploy, other.token.id).unwrap().unwrap().revoked_at.is_none());
        let revoked = maint.post(&app, &format!("{tokens}/{}/revoke", listed[0].id.0), &post(String::new())).await;
        assert_eq!(revoked.status, StatusCode::SEE_OTHER);
        assert!(store.token(TokenKind::Deploy, listed[0].id).unwrap().unwrap().revoked_at.is_some());

        // An owner: visibility and the owner role, but the last owner stays.
        let mut own = signed_in(&app, "own").await;
        let page = own.get(&app, settings).await;
        assert!(page.ok().contains("name=\"visibility\""));
        let csrf = csrf_of(page.ok());
        let post = |form: &str| format!("csrf_token={csrf}&{form}");
        own.post(&app, &format!("{settings}/visibility"), &post("visibility=everyone")).await.expect(StatusCode::BAD_REQUEST);
        let changed = own.post(&app, &format!("{settings}/visibility"), &post("visibility=internal")).await;
        assert_eq!(changed.status, StatusCode::SEE_OTHER);
        assert_eq!(store.project(project).unwrap().unwrap().visibility, Visibility::Internal);
        own.post(&app, &members, &post("username=own&role=maintainer")).await.expect(StatusCode::BAD_REQUEST);
        own.post(&app, &format!("{members}/remove"), &post("username=own")).await.expect(StatusCode::BAD_REQUEST);
        own.post(&app, &members, &post("username=maint&role=owner")).await;
        assert_eq!(store.membership(project, store.user_by_name("maint").unwrap().unwrap().id).unwrap(), Some(Role::Owner));
        let demoted = own.post(&app, &members, &post("username=own&role=maintainer")).await;
        assert_eq!(demoted.status, StatusCode::SEE_OTHER, "{}", demoted.body);
    }
}
