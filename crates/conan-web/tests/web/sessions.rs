//! Signing in and out, the session cookie, the CSRF check of every form, and the token page.

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test;
use conan_auth::{Scope, admin};
use conan_store::{IdentityStore, Role, TokenHolder, TokenKind};

use crate::registry_tests;
use crate::support::{Reply, call};

/// A browser: the cookies it holds, sent with every request.
#[derive(Default)]
pub struct Browser {
    cookies: Vec<(String, String)>,
}

impl Browser {
    async fn send<S, B>(&mut self, app: &S, method: &str, uri: &str, form: Option<&str>) -> Reply
    where
        S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let method = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = test::TestRequest::default()
            .method(method)
            .uri(uri)
            .peer_addr("192.0.2.7:4000".parse().unwrap());
        for (name, value) in &self.cookies {
            request = request.cookie(actix_web::cookie::Cookie::new(name.clone(), value.clone()));
        }
        if let Some(form) = form {
            request = request
                .insert_header(("content-type", "application/x-www-form-urlencoded"))
                .set_payload(form.to_owned());
        }
        let reply = call(app, request).await;
        for cookie in set_cookies(&reply) {
            let cookie = actix_web::cookie::Cookie::parse(cookie).unwrap();
            self.cookies.retain(|(name, _)| name != cookie.name());
            if !cookie.value().is_empty() {
                self.cookies
                    .push((cookie.name().to_owned(), cookie.value().to_owned()));
            }
        }
        reply
    }

    pub async fn get<S, B>(&mut self, app: &S, uri: &str) -> Reply
    where
        S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        self.send(app, "GET", uri, None).await
    }

    pub async fn post<S, B>(&mut self, app: &S, uri: &str, form: &str) -> Reply
    where
        S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        self.send(app, "POST", uri, Some(form)).await
    }

    fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Signs in through the form; returns the answer to the `POST`.
    pub async fn sign_in<S, B>(
        &mut self,
        app: &S,
        username: &str,
        password: &str,
        next: &str,
    ) -> Reply
    where
        S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
        B: MessageBody,
    {
        let form = self
            .get(app, &format!("/-/web/sign-in?next={}", encode(next)))
            .await;
        let token = csrf_of(form.ok());
        self.post(
            app,
            "/-/web/sign-in",
            &format!(
                "csrf_token={token}&username={}&password={}&next={}",
                encode(username),
                encode(password),
                encode(next)
            ),
        )
        .await
    }
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The CSRF token of the first form on a page.
pub fn csrf_of(body: &str) -> String {
    let at = body
        .find("name=\"csrf_token\" value=\"")
        .expect("a form with a CSRF token")
        + 25;
    body[at..at + 32].to_owned()
}

fn set_cookies(reply: &Reply) -> Vec<String> {
    reply
        .headers
        .get_all("set-cookie")
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

registry_tests! {
    async fn signing_in_shows_private_projects_and_signing_out_ends_it(registry: &Registry) {
        let store: &dyn IdentityStore = registry.store();
        let alice = admin::create_user(store, "alice", Some("correct horse"), false).unwrap();
        store.set_membership(registry.private.id, alice.id, Role::Developer).unwrap();
        let app = registry.app().await;
        let mut browser = Browser::default();

        let form = browser.get(&app, "/-/web/sign-in").await;
        form.ok();
        let csrf_cookie = set_cookies(&form).join("\n");
        assert!(csrf_cookie.contains("conan_registry_csrf="), "{csrf_cookie}");
        for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
            assert!(csrf_cookie.contains(attribute), "{attribute}: {csrf_cookie}");
        }

        let private = "/-/web/projects/demo/private";
        assert_eq!(browser.get(&app, private).await.status, StatusCode::NOT_FOUND);
        let signed_in = browser.sign_in(&app, "alice", "correct horse", private).await;
        assert_eq!(signed_in.status, StatusCode::SEE_OTHER, "{}", signed_in.body);
        assert_eq!(signed_in.header("location"), Some(private));
        let session_cookie = set_cookies(&signed_in).join("\n");
        for attribute in ["conan_registry_session=", "HttpOnly", "SameSite=Lax", "Secure", "Path=/"] {
            assert!(session_cookie.contains(attribute), "{attribute}: {session_cookie}");
        }
        let session = browser.cookie("conan_registry_session").unwrap().to_owned();
        assert!(!signed_in.header("location").unwrap().contains(&session));

        let page = browser.get(&app, private).await;
        let body = page.ok();
        assert!(body.contains(">alice<"), "the header names the user: {body}");
        assert!(body.contains("Sign out"));
        let home = browser.get(&app, "/").await;
        assert!(home.ok().contains("demo/private"));

        // Signing out needs the form's token, then removes the cookie.
        let csrf = csrf_of(home.ok());
        assert_eq!(browser.post(&app, "/-/web/sign-out", "csrf_token=forged0000000000000000000000000").await.status, StatusCode::FORBIDDEN);
        assert!(browser.cookie("conan_registry_session").is_some());
        let out = browser.post(&app, "/-/web/sign-out", &format!("csrf_token={csrf}")).await;
        assert_eq!(out.status, StatusCode::SEE_OTHER);
        assert!(set_cookies(&out).join("\n").contains("Max-Age=0"), "{:?}", set_cookies(&out));
        assert!(browser.cookie("conan_registry_session").is_none());
        assert_eq!(browser.get(&app, private).await.status, StatusCode::NOT_FOUND);

        // Only a path of this site is followed after signing in.
        let elsewhere = browser.sign_in(&app, "alice", "correct horse", "//evil.example/").await;
        assert_eq!(elsewhere.header("location"), Some("/"));
    }

    async fn wrong_credentials_are_refused_and_rate_limited(registry: &Registry) {
        let store: &dyn IdentityStore = registry.store();
        admin::create_user(store, "bob", Some("right password"), false).unwrap();
        let app = registry.app().await;
        let mut browser = Browser::default();
        let wrong = browser.sign_in(&app, "bob", "wrong password", "/").await;
        let body = wrong.expect(StatusCode::UNAUTHORIZED);
        assert!(body.contains("Wrong user name, password or token."));
        assert!(browser.cookie("conan_registry_session").is_none());
        let mut last = wrong;
        for _ in 0..12 {
            last = browser.sign_in(&app, "bob", "wrong password", "/").await;
        }
        last.expect(StatusCode::TOO_MANY_REQUESTS);
        assert!(last.header("retry-after").unwrap().parse::<u64>().unwrap() > 0);
        // Even the right password waits out the window.
        let right = browser.sign_in(&app, "bob", "right password", "/").await;
        right.expect(StatusCode::TOO_MANY_REQUESTS);
        assert!(browser.cookie("conan_registry_session").is_none());
    }

    async fn a_forged_form_changes_nothing(registry: &Registry) {
        let store: &dyn IdentityStore = registry.store();
        let carol = admin::create_user(store, "carol", Some("password1"), false).unwrap();
        let app = registry.app().await;

        // Sign-in without the form's token, or with a token of another browser's cookie.
        let mut forger = Browser::default();
        let no_token = forger.post(&app, "/-/web/sign-in", "username=carol&password=password1").await;
        no_token.expect(StatusCode::FORBIDDEN);
        let mut other = Browser::default();
        let token = csrf_of(other.get(&app, "/-/web/sign-in").await.ok());
        forger.get(&app, "/-/web/sign-in").await;
        let swapped = forger.post(&app, "/-/web/sign-in", &format!("csrf_token={token}&username=carol&password=password1")).await;
        swapped.expect(StatusCode::FORBIDDEN);
        assert!(forger.cookie("conan_registry_session").is_none());

        // A signed-in victim's browser sends its cookie with a forged token creation or revocation.
        let mut victim = Browser::default();
        victim.sign_in(&app, "carol", "password1", "/").await;
        let existing = admin::create_personal_token(store, carol.id, "keep", &[Scope::Api], None).unwrap();
        for (uri, form) in [
            ("/-/web/user/tokens", "name=evil&scopes=api&expires_in_days=never".to_owned()),
            ("/-/web/user/tokens", "csrf_token=00000000000000000000000000000000&name=evil&scopes=api".to_owned()),
            (&*format!("/-/web/user/tokens/{}/revoke", existing.token.id.0), String::new()),
        ] {
            victim.post(&app, uri, &form).await.expect(StatusCode::FORBIDDEN);
        }
        let tokens = store.tokens(TokenHolder::User(carol.id)).unwrap();
        assert_eq!(tokens.len(), 1);
        assert!(tokens[0].revoked_at.is_none());
    }

    async fn sessions_end_with_a_new_password_or_a_disabled_user(registry: &Registry) {
        let store: &dyn IdentityStore = registry.store();
        let dave = admin::create_user(store, "dave", Some("first password"), false).unwrap();
        let app = registry.app().await;
        let mut browser = Browser::default();
        browser.sign_in(&app, "dave", "first password", "/").await;
        assert!(browser.get(&app, "/").await.ok().contains(">dave<"));
        admin::set_password(store, dave.id, Some("second password")).unwrap();
        let home = browser.get(&app, "/").await;
        assert!(!home.ok().contains(">dave<") && home.ok().contains("Sign in"));

        browser.sign_in(&app, "dave", "second password", "/").await;
        assert!(browser.get(&app, "/").await.ok().contains(">dave<"));
        store.set_user_active(dave.id, false).unwrap();
        assert!(!browser.get(&app, "/").await.ok().contains(">dave<"));
    }

    async fn users_create_see_and_revoke_their_tokens(registry: &Registry) {
        let store: &dyn IdentityStore = registry.store();
        let erin = admin::create_user(store, "erin", Some("password1"), false).unwrap();
        let frank = admin::create_user(store, "frank", Some("password1"), false).unwrap();
        let franks = admin::create_personal_token(store, frank.id, "franks", &[Scope::Api], None).unwrap();
        let app = registry.app().await;
        let mut browser = Browser::default();

        // Anonymous visitors are sent to sign in first.
        let anonymous = browser.get(&app, "/-/web/user/tokens").await;
        assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
        assert_eq!(anonymous.header("location"), Some("/-/web/sign-in?next=%2F-%2Fweb%2Fuser%2Ftokens"));

        browser.sign_in(&app, "erin", "password1", "/-/web/user/tokens").await;
        let page = browser.get(&app, "/-/web/user/tokens").await;
        assert!(page.ok().contains("You have no tokens yet."));
        let csrf = csrf_of(page.ok());
        let created = browser
            .post(&app, "/-/web/user/tokens", &format!("csrf_token={csrf}&name=ci+%3Cb%3E&scopes=read_package_registry&scopes=write_package_registry&expires_in_days=30"))
            .await;
        let body = created.ok().to_owned();
        let at = body.find("crpat-").expect("the secret is shown");
        let secret = &body[at..at + 46];
        assert_eq!(created.header("cache-control"), Some("no-store"));
        assert!(body.contains("ci &lt;b&gt;"));
        assert!(body.contains(">erin<"), "the header still names the user");
        let tokens = store.tokens(TokenHolder::User(erin.id)).unwrap();
        assert_eq!(tokens.len(), 1);
        assert_eq!(tokens[0].scopes, ["read_package_registry", "write_package_registry"]);
        assert!(tokens[0].expires_at.is_some());
        // The secret works as a password, and is shown only once.
        assert!(registry.state.auth.authenticate(Some(&conan_auth::Credentials::Basic { username: "erin".into(), password: secret.into() })).is_ok());
        let list = browser.get(&app, "/-/web/user/tokens").await;
        assert!(!list.ok().contains(secret) && list.ok().contains("active"));

        // Bad input is a 400 and creates nothing.
        for form in ["name=&scopes=api", "name=x", "name=x&scopes=root", "name=x&scopes=api&expires_in_days=0", "name=x&scopes=api&expires_in_days=soon"] {
            let reply = browser.post(&app, "/-/web/user/tokens", &format!("csrf_token={csrf}&{form}")).await;
            reply.expect(StatusCode::BAD_REQUEST);
        }
        assert_eq!(store.tokens(TokenHolder::User(erin.id)).unwrap().len(), 1);

        // Someone else's token is a 404; one's own is revoked.
        let theirs = browser.post(&app, &format!("/-/web/user/tokens/{}/revoke", franks.token.id.0), &format!("csrf_token={csrf}")).await;
        theirs.expect(StatusCode::NOT_FOUND);
        assert!(store.token(TokenKind::Personal, franks.token.id).unwrap().unwrap().revoked_at.is_none());
        let revoked = browser.post(&app, &format!("/-/web/user/tokens/{}/revoke", tokens[0].id.0), &format!("csrf_token={csrf}")).await;
        assert_eq!(revoked.status, StatusCode::SEE_OTHER);
        assert!(store.token(TokenKind::Personal, tokens[0].id).unwrap().unwrap().revoked_at.is_some());
        assert!(browser.get(&app, "/-/web/user/tokens").await.ok().contains("revoked"));

        // A session opened with a token cannot manage tokens.
        let mut with_token = Browser::default();
        with_token.sign_in(&app, "frank", &franks.secret, "/").await;
        assert!(with_token.get(&app, "/").await.ok().contains(">frank<"));
        with_token.get(&app, "/-/web/user/tokens").await.expect(StatusCode::FORBIDDEN);
    }
}

/// Signs `username` in on a new browser.
pub async fn signed_in<S, B>(app: &S, username: &str) -> Browser
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let mut browser = Browser::default();
    let reply = browser.sign_in(app, username, "password1", "/").await;
    assert_eq!(reply.status, StatusCode::SEE_OTHER, "{}", reply.body);
    browser
}
