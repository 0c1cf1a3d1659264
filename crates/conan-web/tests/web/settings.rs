//! Project settings: members, visibility and deploy tokens, each change allowed to the roles
//! that may make it, CSRF-checked, and bad input a 400 that changes nothing.

use actix_web::http::StatusCode;
use conan_auth::admin;
use conan_store::{
    IdentityStore, RemoteStore, Role, TokenHolder, TokenKind, VirtualStore, Visibility,
};

use crate::registry_tests;
use crate::sessions::{Browser, csrf_of, signed_in};
use crate::support::CREDENTIALS_KEY;

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

    async fn only_administrators_make_a_project_remote_through_its_settings(registry: &Registry) {
        let store = registry.store();
        admin::create_user(store, "root", Some("password1"), true).unwrap();
        let owner = admin::create_user(store, "own", Some("password1"), false).unwrap();
        let project = registry.private.id;
        store.set_membership(project, owner.id, Role::Owner).unwrap();
        let app = registry.app().await;
        let settings = "/-/web/projects/demo/private/-/settings";
        let remote = format!("{settings}/remote");

        // An owner neither sees the section nor may post it.
        let mut own = signed_in(&app, "own").await;
        let page = own.get(&app, settings).await;
        assert!(!page.ok().contains("Remote project"), "{}", page.body);
        let csrf = csrf_of(page.ok());
        let form = format!("csrf_token={csrf}&url=http%3A%2F%2F10.0.0.1%2F&metadata_ttl_secs=300&not_found_ttl_secs=60");
        own.post(&app, &remote, &form).await.expect(StatusCode::FORBIDDEN);
        assert_eq!(store.remote(project).unwrap(), None);

        // An administrator: refusals say why and change nothing.
        let mut root = signed_in(&app, "root").await;
        let page = root.get(&app, settings).await;
        assert!(page.ok().contains("Make it a remote project"), "{}", page.body);
        let csrf = csrf_of(page.ok());
        let post = |fields: &str| format!("csrf_token={csrf}&{fields}");
        for (fields, says) in [
            ("url=ftp%3A%2F%2Fhost%2F&metadata_ttl_secs=300&not_found_ttl_secs=60", "http"),
            ("url=http%3A%2F%2Fu%3Apw%40host%2F&metadata_ttl_secs=300&not_found_ttl_secs=60", "credentials"),
            ("url=http%3A%2F%2Fhost%2F&metadata_ttl_secs=0&not_found_ttl_secs=60", "metadata_ttl_secs"),
            ("url=http%3A%2F%2Fhost%2F&metadata_ttl_secs=x&not_found_ttl_secs=60", "metadata_ttl_secs"),
            ("url=http%3A%2F%2Fhost%2F&metadata_ttl_secs=300&not_found_ttl_secs=60&user=mirror", "both"),
        ] {
            let reply = root.post(&app, &remote, &post(fields)).await;
            assert!(reply.expect(StatusCode::BAD_REQUEST).contains(says), "{fields}: {}", reply.body);
            assert_eq!(store.remote(project).unwrap(), None, "{fields}");
        }

        // Set with credentials: sealed for this project, never shown back.
        let fields = "url=https%3A%2F%2Fcenter.example%2Fapi%2F&metadata_ttl_secs=120&not_found_ttl_secs=5&user=mirror&password=s3cr3t-pw";
        root.post(&app, &remote, &post(fields)).await.expect(StatusCode::SEE_OTHER);
        let set = store.remote(project).unwrap().expect("remote now");
        assert_eq!((set.upstream_url.as_str(), set.metadata_ttl_secs, set.not_found_ttl_secs), ("https://center.example/api", 120, 5));
        let key = conan_remote::CredentialKey::from_base64(CREDENTIALS_KEY).unwrap();
        let sealed = set.sealed_credentials.clone().unwrap();
        assert_eq!(key.open(project, &sealed).unwrap().password, "s3cr3t-pw");
        let page = root.get(&app, settings).await;
        assert!(page.ok().contains("with credentials") && !page.ok().contains("s3cr3t-pw"), "{}", page.body);
        // Saved again without a password: the credentials stay; forgotten on request.
        let fields = "url=https%3A%2F%2Fcenter.example%2Fv2%2F&metadata_ttl_secs=60&not_found_ttl_secs=5";
        root.post(&app, &remote, &post(fields)).await.expect(StatusCode::SEE_OTHER);
        let kept = store.remote(project).unwrap().unwrap();
        assert_eq!((kept.upstream_url.as_str(), kept.sealed_credentials.as_deref()), ("https://center.example/v2", Some(sealed.as_str())));
        root.post(&app, &remote, &post(&format!("{fields}&forget_credentials=yes"))).await.expect(StatusCode::SEE_OTHER);
        assert_eq!(store.remote(project).unwrap().unwrap().sealed_credentials, None);

        // Ordinary again; a virtual project is refused.
        let own_csrf = csrf_of(own.get(&app, settings).await.ok());
        own.post(&app, &format!("{remote}/clear"), &format!("csrf_token={own_csrf}")).await.expect(StatusCode::FORBIDDEN);
        root.post(&app, &format!("{remote}/clear"), &post("")).await.expect(StatusCode::SEE_OTHER);
        assert_eq!(store.remote(project).unwrap(), None);
        let all = store.create_virtual_project("demo/all", Visibility::Public).unwrap();
        let page = root.get(&app, "/-/web/projects/demo/all/-/settings").await;
        assert!(page.ok().contains("cannot be a remote project"), "{}", page.body);
        let reply = root.post(&app, "/-/web/projects/demo/all/-/settings/remote", &post("url=http%3A%2F%2Fhost%2F&metadata_ttl_secs=300&not_found_ttl_secs=60")).await;
        reply.expect(StatusCode::BAD_REQUEST);
        assert_eq!(store.remote(all.id).unwrap(), None);
    }
}
