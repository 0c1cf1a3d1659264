//! The admin area: administrators (in a password session) create users and projects, disable
//! and enable users, make and unmake administrators; everyone else gets the 404 page.

use actix_web::http::StatusCode;
use conan_auth::{Scope, admin};
use conan_store::{IdentityStore, Visibility};

use crate::registry_tests;
use crate::sessions::{Browser, csrf_of, signed_in};

registry_tests! {
    async fn administrators_manage_users_and_projects_and_nobody_else_sees_it(registry: &Registry) {
        let store: &dyn IdentityStore = registry.store();
        let root = admin::create_user(store, "root", Some("password1"), true).unwrap();
        let plain = admin::create_user(store, "plain", Some("password1"), false).unwrap();
        let token = admin::create_personal_token(store, root.id, "t", &[Scope::Api], None).unwrap();
        let app = registry.app().await;
        let users = "/-/web/admin/users";
        let projects = "/-/web/admin/projects";

        let mut anonymous = Browser::default();
        let mut user = signed_in(&app, "plain").await;
        let mut by_token = Browser::default();
        by_token.sign_in(&app, "root", &token.secret, "/").await;
        for browser in [&mut anonymous, &mut user, &mut by_token] {
            for page in [users, projects] {
                browser.get(&app, page).await.expect(StatusCode::NOT_FOUND);
            }
        }
        let csrf = csrf_of(user.get(&app, "/").await.ok());
        user.post(&app, projects, &format!("csrf_token={csrf}&path=team/sneaky&visibility=public")).await.expect(StatusCode::NOT_FOUND);
        assert!(store.project_by_path("team/sneaky").unwrap().is_none());

        let mut root_browser = signed_in(&app, "root").await;
        let home = root_browser.get(&app, "/").await;
        assert!(home.ok().contains(&format!("href=\"{users}\"")));
        let page = root_browser.get(&app, users).await;
        assert!(page.ok().contains(">plain<") || page.ok().contains("plain"));
        let csrf = csrf_of(page.ok());
        let post = |form: &str| format!("csrf_token={csrf}&{form}");

        // Create a user; a taken name or a short password is a 400 that creates nothing.
        let created = root_browser.post(&app, users, &post("username=newcomer&password=long+enough+1&admin=true")).await;
        assert_eq!(created.status, StatusCode::SEE_OTHER);
        let newcomer = store.user_by_name("newcomer").unwrap().unwrap();
        assert!(newcomer.is_admin && newcomer.is_active && newcomer.password_hash.is_some());
        root_browser.post(&app, users, &post("username=newcomer&password=another+one+1")).await.expect(StatusCode::BAD_REQUEST);
        root_browser.post(&app, users, &post("username=shorty&password=short")).await.expect(StatusCode::BAD_REQUEST);
        root_browser.post(&app, users, &post("username=bad%3Aname")).await.expect(StatusCode::BAD_REQUEST);
        assert!(store.user_by_name("shorty").unwrap().is_none());
        root_browser.post(&app, users, "username=forged&password=long+enough+1").await.expect(StatusCode::FORBIDDEN);
        assert!(store.user_by_name("forged").unwrap().is_none());

        // Disable and enable, unmake and make administrator; never oneself.
        let flag = |id: conan_store::UserId, field: &str| format!("{users}/{id}/{field}");
        assert_eq!(root_browser.post(&app, &flag(plain.id, "active"), &post("value=false")).await.status, StatusCode::SEE_OTHER);
        assert!(!store.user(plain.id).unwrap().unwrap().is_active);
        // Disabling ends the user's session at once.
        assert!(!user.get(&app, "/").await.ok().contains(">plain<"));
        root_browser.post(&app, &flag(plain.id, "active"), &post("value=true")).await;
        assert!(store.user(plain.id).unwrap().unwrap().is_active);
        root_browser.post(&app, &flag(plain.id, "admin"), &post("value=true")).await;
        assert!(store.user(plain.id).unwrap().unwrap().is_admin);
        root_browser.post(&app, &flag(root.id, "admin"), &post("value=false")).await.expect(StatusCode::BAD_REQUEST);
        root_browser.post(&app, &flag(root.id, "active"), &post("value=false")).await.expect(StatusCode::BAD_REQUEST);
        root_browser.post(&app, &flag(plain.id, "admin"), &post("value=maybe")).await.expect(StatusCode::BAD_REQUEST);
        root_browser.post(&app, &flag(plain.id, "shoe"), &post("value=true")).await.expect(StatusCode::NOT_FOUND);
        root_browser.post(&app, &flag(conan_store::UserId(999_999), "admin"), &post("value=true")).await.expect(StatusCode::NOT_FOUND);
        assert!(store.user(root.id).unwrap().unwrap().is_admin);

        // Create a project; a bad path or visibility is a 400.
        let made = root_browser.post(&app, projects, &post("path=team/new-libs&visibility=internal")).await;
        assert_eq!(made.header("location"), Some("/-/web/projects/team/new-libs"));
        assert_eq!(store.project_by_path("team/new-libs").unwrap().unwrap().visibility, Visibility::Internal);
        for form in ["path=team/new-libs&visibility=public", "path=-bad&visibility=public", "path=team/x&visibility=secret"] {
            root_browser.post(&app, projects, &post(form)).await.expect(StatusCode::BAD_REQUEST);
        }
        assert!(root_browser.get(&app, projects).await.ok().contains("team/new-libs"));
    }
}
