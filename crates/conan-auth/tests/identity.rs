//! Authentication end to end over the real store: bootstrap, password and token logins, Conan
//! tokens, revocation, disabled users, expiry, key rotation, permissions and search scope. Each
//! test runs on SQLite and, when configured, PostgreSQL.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is the failure report"
)]

#[path = "../../conan-store/tests/support/mod.rs"]
mod support;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine as _;
use conan_auth::admin::{self, BootstrapOptions};
use conan_auth::{
    Access, Action, AuthConfig, AuthError, Authenticator, Credentials, Decision, Principal, Scope,
};
use conan_model::RevisionTime;
use conan_store::{AccessStore, ProjectKey, Role, SearchScope, TokenKind, Visibility};
use support::TestDb;

fn databases() -> Vec<TestDb> {
    let mut all = vec![TestDb::sqlite()];
    all.extend(TestDb::postgres());
    all
}

fn store(db: &TestDb) -> Arc<dyn AccessStore> {
    Arc::new(db.store.clone())
}

fn basic(username: &str, password: &str) -> Credentials {
    let header = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
    );
    Credentials::from_header(&header).unwrap()
}

fn bearer(token: &str) -> Credentials {
    Credentials::Bearer(token.to_owned())
}

fn at(offset: Duration, future: bool) -> RevisionTime {
    let now = SystemTime::now();
    RevisionTime::from_system_time(if future { now + offset } else { now - offset }).unwrap()
}

fn setup(db: &TestDb) -> Authenticator {
    setup_with(db, AuthConfig::default().identity_cache_entries)
}

/// An authenticator (a node) with an identity cache of `cache_entries` (0: none).
fn setup_with(db: &TestDb, cache_entries: usize) -> Authenticator {
    let config = AuthConfig {
        identity_cache_entries: cache_entries,
        ..AuthConfig::default()
    };
    let auth = Authenticator::new(store(db), config);
    assert!(auth.ensure_signing_key().unwrap());
    assert!(
        !auth.ensure_signing_key().unwrap(),
        "only the first start creates a key"
    );
    auth
}

#[test]
fn bootstrap_creates_an_admin_a_project_and_a_working_token_once() {
    for db in databases() {
        let store = store(&db);
        let auth = setup(&db);
        let report = admin::bootstrap(store.as_ref(), &BootstrapOptions::default())
            .unwrap()
            .unwrap();
        assert!(report.admin.is_admin);
        assert_eq!(report.project.path, "demo/packages");
        assert_eq!(
            store
                .membership(report.project.id, report.admin.id)
                .unwrap(),
            Some(Role::Owner)
        );
        let secret = report.token.as_ref().unwrap().secret.clone();
        assert!(secret.starts_with("crpat-"));
        // Stored only as a hash.
        assert_ne!(report.token.as_ref().unwrap().token.token_hash, secret);

        let (principal, issued) = auth.login(Some(&basic("admin", &secret))).unwrap();
        assert_eq!(principal.name(), "admin");
        let again = auth.authenticate(Some(&bearer(&issued.token))).unwrap();
        assert!(matches!(
            again,
            Principal::User {
                access: Access::FULL,
                ..
            }
        ));
        assert!(
            auth.authenticate(Some(&bearer(&secret))).is_ok(),
            "a raw token works as a bearer"
        );

        assert!(
            admin::bootstrap(store.as_ref(), &BootstrapOptions::default())
                .unwrap()
                .is_none()
        );

        // With a password instead of a token.
        let other = TestDb::sqlite();
        let with_password = BootstrapOptions {
            admin_password: Some("s3cret-pass".into()),
            ..BootstrapOptions::default()
        };
        let report = admin::bootstrap(&other.store, &with_password)
            .unwrap()
            .unwrap();
        assert!(report.token.is_none());
        let other_auth = setup(&other);
        assert!(
            other_auth
                .login(Some(&basic("admin", "s3cret-pass")))
                .is_ok()
        );
    }
}

#[test]
fn password_logins() {
    for db in databases() {
        let store = store(&db);
        let auth = setup(&db);
        admin::create_user(store.as_ref(), "alice", Some("correct horse"), false).unwrap();
        let (principal, issued) = auth.login(Some(&basic("alice", "correct horse"))).unwrap();
        assert!(matches!(principal, Principal::User { ref user, .. } if user.username == "alice"));
        assert!(
            issued.expires_at > at(Duration::from_hours(89 * 24), true),
            "90 days by default"
        );
        assert!(issued.expires_at < at(Duration::from_hours(91 * 24), true));

        for wrong in [
            basic("alice", "wrong horse"),
            basic("nobody", "correct horse"),
            basic("", ""),
        ] {
            assert!(matches!(
                auth.login(Some(&wrong)),
                Err(AuthError::InvalidCredentials)
            ));
        }
        assert!(matches!(
            auth.login(None),
            Err(AuthError::InvalidCredentials)
        ));
        assert_eq!(auth.authenticate(None).unwrap(), Principal::Anonymous);

        // Password logins switched off: no new logins, and earlier password tokens stop working.
        let strict = Authenticator::new(
            Arc::clone(&store),
            AuthConfig {
                password_login: false,
                ..AuthConfig::default()
            },
        );
        assert!(matches!(
            strict.login(Some(&basic("alice", "correct horse"))),
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(
            strict.authenticate(Some(&bearer(&issued.token))),
            Err(AuthError::InvalidToken)
        ));
    }
}

#[test]
fn personal_tokens_revocation_expiry_and_disabled_users() {
    for db in databases() {
        let store = store(&db);
        let auth = setup(&db);
        let bob = admin::create_user(store.as_ref(), "bob", None, false).unwrap();
        let token = admin::create_personal_token(
            store.as_ref(),
            bob.id,
            "ci",
            &[Scope::ReadPackageRegistry],
            None,
        )
        .unwrap();
        let (principal, issued) = auth.login(Some(&basic("bob", &token.secret))).unwrap();
        assert!(matches!(
            principal,
            Principal::User {
                access: Access {
                    read: true,
                    write: false
                },
                ..
            }
        ));
        assert!(
            matches!(
                auth.login(Some(&basic("mallory", &token.secret))),
                Err(AuthError::InvalidCredentials)
            ),
            "the owner's name is required"
        );
        assert!(
            store
                .token(TokenKind::Personal, token.token.id)
                .unwrap()
                .unwrap()
                .last_used_at
                .is_some()
        );

        // The JWT claims never carry the secret.
        let payload = issued.token.split('.').nth(1).unwrap();
        let claims = String::from_utf8(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        assert!(
            !claims.contains(&token.secret) && claims.contains(&format!("pat:{}", token.token.id)),
            "{claims}"
        );

        store
            .revoke_token(
                TokenKind::Personal,
                token.token.id,
                at(Duration::ZERO, false),
            )
            .unwrap();
        assert!(matches!(
            auth.authenticate(Some(&bearer(&issued.token))),
            Err(AuthError::InvalidToken)
        ));
        assert!(matches!(
            auth.login(Some(&basic("bob", &token.secret))),
            Err(AuthError::InvalidCredentials)
        ));

        // A token that expires soon caps its JWT; an expired one fails.
        let soon = at(Duration::from_hours(1), true);
        let short = admin::create_personal_token(
            store.as_ref(),
            bob.id,
            "short",
            &[Scope::Api],
            Some(soon),
        )
        .unwrap();
        let (_, capped) = auth.login(Some(&basic("bob", &short.secret))).unwrap();
        assert!(capped.expires_at <= soon);
        let expired = admin::create_personal_token(
            store.as_ref(),
            bob.id,
            "old",
            &[Scope::Api],
            Some(at(Duration::from_mins(1), false)),
        )
        .unwrap();
        assert!(matches!(
            auth.login(Some(&basic("bob", &expired.secret))),
            Err(AuthError::InvalidCredentials)
        ));

        // Disabling the user stops every credential at once.
        store.set_user_active(bob.id, false).unwrap();
        assert!(matches!(
            auth.authenticate(Some(&bearer(&capped.token))),
            Err(AuthError::InvalidToken)
        ));
        assert!(matches!(
            auth.login(Some(&basic("bob", &short.secret))),
            Err(AuthError::InvalidCredentials)
        ));
    }
}

#[test]
fn deploy_tokens() {
    for db in databases() {
        let store = store(&db);
        let auth = setup(&db);
        let own = admin::create_project(store.as_ref(), "team/lib", Visibility::Private).unwrap();
        let other =
            admin::create_project(store.as_ref(), "team/other", Visibility::Private).unwrap();
        let token = admin::create_deploy_token(
            store.as_ref(),
            &own,
            Some("ci-deploy"),
            "ci",
            &[Scope::WritePackageRegistry],
            None,
        )
        .unwrap();
        assert!(token.secret.starts_with("crdt-"));
        assert!(
            admin::create_deploy_token(store.as_ref(), &own, None, "x", &[Scope::Api], None)
                .is_err()
        );

        let (principal, issued) = auth
            .login(Some(&basic("ci-deploy", &token.secret)))
            .unwrap();
        assert!(matches!(principal, Principal::DeployToken { .. }));
        let principal = auth.authenticate(Some(&bearer(&issued.token))).unwrap();
        assert_eq!(
            auth.authorize(&principal, &own, Action::Delete).unwrap(),
            Decision::Allow
        );
        assert_eq!(
            auth.authorize(&principal, &other, Action::Read).unwrap(),
            Decision::NotFound
        );

        store
            .revoke_token(TokenKind::Deploy, token.token.id, at(Duration::ZERO, false))
            .unwrap();
        assert!(matches!(
            auth.authenticate(Some(&bearer(&issued.token))),
            Err(AuthError::InvalidToken)
        ));
    }
}

#[test]
fn signing_keys_rotate() {
    for db in databases() {
        let store = store(&db);
        let auth = setup(&db);
        admin::create_user(store.as_ref(), "carol", Some("long enough"), false).unwrap();
        let old_key = store.signing_keys().unwrap()[0].id;
        let (_, before) = auth.login(Some(&basic("carol", "long enough"))).unwrap();
        let new_key = auth.rotate_signing_key().unwrap();
        assert_ne!(new_key, old_key);
        let (_, after) = auth.login(Some(&basic("carol", "long enough"))).unwrap();
        assert!(
            auth.authenticate(Some(&bearer(&before.token))).is_ok(),
            "old keys verify until removed"
        );
        store.remove_signing_key(old_key).unwrap();
        assert!(matches!(
            auth.authenticate(Some(&bearer(&before.token))),
            Err(AuthError::InvalidToken)
        ));
        assert!(auth.authenticate(Some(&bearer(&after.token))).is_ok());
    }
}

#[test]
fn permissions_and_search_scope_come_from_memberships() {
    for db in databases() {
        let store = store(&db);
        let auth = setup(&db);
        let public = admin::create_project(store.as_ref(), "open/pub", Visibility::Public).unwrap();
        let internal =
            admin::create_project(store.as_ref(), "corp/int", Visibility::Internal).unwrap();
        let private =
            admin::create_project(store.as_ref(), "corp/secret", Visibility::Private).unwrap();
        let hidden =
            admin::create_project(store.as_ref(), "corp/hidden", Visibility::Private).unwrap();
        let dave = admin::create_user(store.as_ref(), "dave", Some("password1"), false).unwrap();
        store
            .set_membership(private.id, dave.id, Role::Reporter)
            .unwrap();
        let root = admin::create_user(store.as_ref(), "root", Some("password1"), true).unwrap();

        let dave = auth
            .authenticate(Some(&basic("dave", "password1")))
            .unwrap();
        assert_eq!(
            auth.authorize(&dave, &private, Action::Read).unwrap(),
            Decision::Allow
        );
        assert_eq!(
            auth.authorize(&dave, &private, Action::Upload).unwrap(),
            Decision::Forbidden
        );
        assert_eq!(
            auth.authorize(&dave, &hidden, Action::Read).unwrap(),
            Decision::NotFound
        );
        assert_eq!(
            auth.authorize(&Principal::Anonymous, &hidden, Action::Read)
                .unwrap(),
            Decision::Unauthorized
        );
        // The one-query form the API uses decides the same, by id and by path.
        for principal in [&dave, &Principal::Anonymous] {
            for project in [&public, &internal, &private, &hidden] {
                for action in [Action::Read, Action::Upload, Action::Delete] {
                    let expected = auth.authorize(principal, project, action).unwrap();
                    for key in [ProjectKey::Id(project.id), ProjectKey::Path(&project.path)] {
                        assert_eq!(
                            auth.authorize_project(principal, key, action).unwrap(),
                            Some((project.clone(), expected))
                        );
                    }
                }
            }
        }
        assert_eq!(
            auth.authorize_project(&dave, ProjectKey::Path("corp/none"), Action::Read)
                .unwrap(),
            None
        );

        let ids = |scope: SearchScope| match scope {
            SearchScope::Projects(ids) => ids,
            SearchScope::All => panic!("unexpected All"),
        };
        assert_eq!(
            ids(auth.readable_projects(&Principal::Anonymous).unwrap()),
            [public.id]
        );
        assert_eq!(
            ids(auth.readable_projects(&dave).unwrap()),
            [public.id, internal.id, private.id]
        );
        let root = auth
            .authenticate(Some(&basic(&root.username, "password1")))
            .unwrap();
        assert_eq!(auth.readable_projects(&root).unwrap(), SearchScope::All);
    }
}

#[test]
fn failed_logins_are_rate_limited_per_user_and_address() {
    for db in databases() {
        let store = store(&db);
        let auth = Authenticator::new(
            Arc::clone(&store),
            AuthConfig {
                login_max_failures_per_user: 2,
                login_max_failures_per_address: 4,
                login_failure_window_secs: 60,
                ..AuthConfig::default()
            },
        );
        auth.ensure_signing_key().unwrap();
        admin::create_user(store.as_ref(), "alice", Some("alice's password"), false).unwrap();
        let bob = admin::create_user(store.as_ref(), "bob", Some("bob's password"), false).unwrap();
        let bob_token =
            admin::create_personal_token(store.as_ref(), bob.id, "ci", &[Scope::Api], None)
                .unwrap();
        let here: Option<IpAddr> = Some([203, 0, 113, 5].into());
        let there: Option<IpAddr> = Some([203, 0, 113, 6].into());

        for _ in 0..2 {
            assert!(matches!(
                auth.login_from(Some(&basic("alice", "guess")), here),
                Err(AuthError::InvalidCredentials)
            ));
        }
        // The right password no longer helps, from anywhere, and is not even checked.
        for address in [here, there, None] {
            match auth.login_from(Some(&basic("alice", "alice's password")), address) {
                Err(AuthError::RateLimited { retry_after_secs }) => {
                    assert!((1..=60).contains(&retry_after_secs), "{retry_after_secs}");
                }
                other => panic!("expected a rate limit, got {other:?}"),
            }
        }
        // Basic credentials on data routes go through `authenticate`, limited the same way.
        assert!(matches!(
            auth.authenticate_from(Some(&basic("alice", "alice's password")), there),
            Err(AuthError::RateLimited { .. })
        ));
        // Bob's success from the same address leaves alice's count alone.
        auth.login_from(Some(&basic("bob", "bob's password")), here)
            .unwrap();
        assert_eq!(
            auth.login_limiter().user_failures("alice", Instant::now()),
            2
        );
        // A wrong token in the password field is a failed login too.
        assert!(matches!(
            auth.login_from(Some(&basic("bob", "crpat-0000")), here),
            Err(AuthError::InvalidCredentials)
        ));
        assert!(matches!(
            auth.login_from(Some(&basic("carol", "guess")), here),
            Err(AuthError::InvalidCredentials)
        ));
        // Four failures from `here`: the address is blocked for every name, the others are not.
        assert!(matches!(
            auth.login_from(Some(&basic("bob", &bob_token.secret)), here),
            Err(AuthError::RateLimited { .. })
        ));
        auth.login_from(Some(&basic("bob", &bob_token.secret)), there)
            .unwrap();
        // Bearer tokens are never limited.
        auth.authenticate_from(Some(&bearer(&bob_token.secret)), here)
            .unwrap();
    }
}

#[test]
fn store_failures_are_errors_never_refusals() {
    // Without the identity cache every lookup fails; with it, the identity epoch read first.
    for (db, cache_entries) in [0, 10_000]
        .into_iter()
        .flat_map(|entries| databases().into_iter().map(move |db| (db, entries)))
    {
        let store = store(&db);
        let auth = setup_with(&db, cache_entries);
        let alice =
            admin::create_user(store.as_ref(), "alice", Some("alice's password"), false).unwrap();
        let project =
            admin::create_project(store.as_ref(), "team/libs", Visibility::Private).unwrap();
        let pat = admin::create_personal_token(store.as_ref(), alice.id, "ci", &[Scope::Api], None)
            .unwrap();
        let deploy = admin::create_deploy_token(
            store.as_ref(),
            &project,
            None,
            "deployer",
            &[Scope::ReadPackageRegistry],
            None,
        )
        .unwrap();
        let (_, issued) = auth
            .login(Some(&basic("alice", "alice's password")))
            .unwrap();
        let (_, deploy_jwt) = auth.login(Some(&bearer(&deploy.secret))).unwrap();

        // The tables the checks read vanish: an unreachable database must not look like bad
        // credentials (a 401 sends the client back to its login prompt).
        db.store
            .with_connection(|connection| {
                use diesel::connection::SimpleConnection as _;
                connection.batch_execute(
                    "ALTER TABLE users RENAME TO users_gone; \
                     ALTER TABLE projects RENAME TO projects_gone; \
                     ALTER TABLE identity_epoch RENAME TO identity_epoch_gone;",
                )
            })
            .unwrap()
            .unwrap();
        for credentials in [
            bearer(&issued.token),
            bearer(&deploy_jwt.token),
            bearer(&pat.secret),
            bearer(&deploy.secret),
            basic("alice", "alice's password"),
            basic("alice", &pat.secret),
        ] {
            let result = auth.authenticate(Some(&credentials));
            assert!(
                matches!(result, Err(AuthError::Store(_))),
                "{credentials:?}: {result:?}"
            );
        }
        // Such attempts are no verdict, so they are not counted as failed logins.
        assert_eq!(
            auth.login_limiter().user_failures("alice", Instant::now()),
            0
        );
    }
}

/// Renames the identity tables away (`gone`) or back: DDL, which no trigger sees, so the
/// identity epoch stays where it was. A node that still answers reads nothing but the epoch.
fn hide_identity_tables(db: &TestDb, gone: bool) {
    use std::fmt::Write as _;
    let mut statements = String::new();
    for table in [
        "users",
        "projects",
        "memberships",
        "personal_access_tokens",
        "deploy_tokens",
        "signing_keys",
    ] {
        let hidden = format!("{table}_hidden");
        let (from, to) = if gone {
            (table, hidden.as_str())
        } else {
            (hidden.as_str(), table)
        };
        write!(statements, "ALTER TABLE {from} RENAME TO {to};").unwrap();
    }
    db.store
        .with_connection(|connection| {
            use diesel::connection::SimpleConnection as _;
            connection.batch_execute(&statements)
        })
        .unwrap()
        .unwrap();
}

/// The project the warm-node tests ask about.
const WARM_PROJECT: ProjectKey<'static> = ProjectKey::Path("team/libs");

/// Whether `credentials` may read [`WARM_PROJECT`], as the API asks it.
fn decide(auth: &Authenticator, credentials: &Credentials) -> Result<Option<Decision>, AuthError> {
    let principal = auth.authenticate(Some(credentials))?;
    Ok(auth
        .authorize_project(&principal, WARM_PROJECT, Action::Read)?
        .map(|(_, decision)| decision))
}

/// A node whose cache has served every kind of credential once, and what it was asked with.
struct WarmNode {
    node: Authenticator,
    project: conan_store::Project,
    alice: conan_store::User,
    pat: admin::CreatedToken,
    deploy: admin::CreatedToken,
    /// A password JWT, a personal token's JWT, the personal token, a deploy token's JWT and the
    /// deploy token: all allowed to read.
    everyone: [Credentials; 5],
}

fn warm_node(db: &TestDb) -> WarmNode {
    let store = store(db);
    let node = setup(db);
    let project = admin::create_project(store.as_ref(), "team/libs", Visibility::Private).unwrap();
    let alice = admin::create_user(store.as_ref(), "alice", Some("password1"), false).unwrap();
    store
        .set_membership(project.id, alice.id, Role::Developer)
        .unwrap();
    let pat =
        admin::create_personal_token(store.as_ref(), alice.id, "ci", &[Scope::Api], None).unwrap();
    let deploy = admin::create_deploy_token(
        store.as_ref(),
        &project,
        None,
        "deployer",
        &[Scope::ReadPackageRegistry],
        None,
    )
    .unwrap();
    let (_, jwt) = node.login(Some(&basic("alice", "password1"))).unwrap();
    let (_, pat_jwt) = node.login(Some(&bearer(&pat.secret))).unwrap();
    let (_, deploy_jwt) = node.login(Some(&bearer(&deploy.secret))).unwrap();
    let everyone = [
        bearer(&jwt.token),
        bearer(&pat_jwt.token),
        bearer(&pat.secret),
        bearer(&deploy_jwt.token),
        bearer(&deploy.secret),
    ];
    for credentials in &everyone {
        assert_eq!(decide(&node, credentials).unwrap(), Some(Decision::Allow));
    }
    WarmNode {
        node,
        project,
        alice,
        pat,
        deploy,
        everyone,
    }
}

#[test]
fn a_warm_node_reads_nothing_but_the_identity_epoch() {
    for db in databases() {
        let warm = warm_node(&db);
        let cold = Authenticator::new(store(&db), AuthConfig::default());
        // With the identity tables gone the warm node still answers; a cold one cannot.
        hide_identity_tables(&db, true);
        for credentials in &warm.everyone {
            assert_eq!(
                decide(&warm.node, credentials).unwrap(),
                Some(Decision::Allow),
                "{credentials:?} was not served from the cache"
            );
            assert!(matches!(
                decide(&cold, credentials),
                Err(AuthError::Store(_))
            ));
        }
        hide_identity_tables(&db, false);
    }
}

#[test]
fn a_warm_node_sees_every_identity_change_at_its_next_request() {
    for db in databases() {
        // Changes go through the store, as from another node or the command line.
        let store = store(&db);
        let WarmNode {
            node,
            project,
            alice,
            pat,
            deploy,
            everyone,
        } = warm_node(&db);
        let node = &node;
        let [jwt, pat_jwt, pat_secret, deploy_jwt, deploy_secret] = everyone;
        let key = WARM_PROJECT;
        let at_once = at(Duration::ZERO, false);
        store.remove_membership(project.id, alice.id).unwrap();
        assert_eq!(decide(node, &jwt).unwrap(), Some(Decision::NotFound));
        store
            .set_membership(project.id, alice.id, Role::Developer)
            .unwrap();
        assert_eq!(decide(node, &jwt).unwrap(), Some(Decision::Allow));
        store
            .revoke_token(TokenKind::Personal, pat.token.id, at_once)
            .unwrap();
        for credentials in [&pat_secret, &pat_jwt] {
            assert!(decide(node, credentials).is_err());
        }
        store
            .revoke_token(TokenKind::Deploy, deploy.token.id, at_once)
            .unwrap();
        for credentials in [&deploy_secret, &deploy_jwt] {
            assert!(decide(node, credentials).is_err());
        }
        let old_key = store.signing_keys().unwrap()[0].id;
        node.rotate_signing_key().unwrap();
        assert_eq!(decide(node, &jwt).unwrap(), Some(Decision::Allow));
        store.remove_signing_key(old_key).unwrap();
        assert!(matches!(decide(node, &jwt), Err(AuthError::InvalidToken)));
        let (_, fresh) = node.login(Some(&basic("alice", "password1"))).unwrap();
        assert_eq!(
            decide(node, &bearer(&fresh.token)).unwrap(),
            Some(Decision::Allow)
        );
        store.set_user_active(alice.id, false).unwrap();
        assert!(matches!(
            decide(node, &bearer(&fresh.token)),
            Err(AuthError::InvalidToken)
        ));
        store.set_user_active(alice.id, true).unwrap();
        for (visibility, expected) in [
            (Visibility::Public, Decision::Allow),
            (Visibility::Private, Decision::Unauthorized),
        ] {
            store
                .set_project_visibility(project.id, visibility)
                .unwrap();
            assert_eq!(
                node.authorize_project(&Principal::Anonymous, key, Action::Read)
                    .unwrap()
                    .map(|(_, decision)| decision),
                Some(expected)
            );
        }
    }
}

#[test]
fn no_request_that_starts_after_a_revocation_gets_through() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    for db in databases() {
        let store = store(&db);
        let auth = setup(&db);
        let alice = admin::create_user(store.as_ref(), "alice", None, false).unwrap();
        let pat = admin::create_personal_token(store.as_ref(), alice.id, "ci", &[Scope::Api], None)
            .unwrap();
        let (_, jwt) = auth.login(Some(&bearer(&pat.secret))).unwrap();
        let revoked = AtomicBool::new(false);
        let (before, after) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let both = [bearer(&pat.secret), bearer(&jwt.token)];
        std::thread::scope(|threads| {
            for credentials in both.iter().cycle().take(4) {
                let (auth, revoked, before, after) = (&auth, &revoked, &before, &after);
                threads.spawn(move || {
                    let deadline = Instant::now() + Duration::from_secs(2);
                    while Instant::now() < deadline {
                        let started_after = revoked.load(Ordering::SeqCst);
                        let result = auth.authenticate(Some(credentials));
                        if started_after {
                            assert!(
                                matches!(result, Err(AuthError::InvalidToken)),
                                "{credentials:?} got through after the revocation: {result:?}"
                            );
                            after.fetch_add(1, Ordering::Relaxed);
                        } else if result.is_ok() {
                            before.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
            std::thread::sleep(Duration::from_millis(500));
            store
                .revoke_token(TokenKind::Personal, pat.token.id, at(Duration::ZERO, false))
                .unwrap();
            revoked.store(true, Ordering::SeqCst);
        });
        assert!(
            before.load(Ordering::Relaxed) > 0,
            "nothing got through before"
        );
        assert!(after.load(Ordering::Relaxed) > 0, "nothing ran after");
    }
}

#[test]
fn web_sessions_end_with_what_they_were_opened_with() {
    for db in databases() {
        let store = store(&db);
        let auth = setup(&db);
        let alice =
            admin::create_user(store.as_ref(), "alice", Some("correct horse"), false).unwrap();
        let principal = auth
            .authenticate(Some(&basic("alice", "correct horse")))
            .unwrap();
        let session = auth.open_session(&principal).unwrap();
        assert!(
            !format!("{session:?}").contains(&session.cookie),
            "Debug hides the cookie"
        );
        assert!(session.expires_at < at(Duration::from_hours(7 * 24 + 1), true));
        assert!(matches!(auth.session(&session.cookie).unwrap(),
            Principal::User { ref user, .. } if user.id == alice.id));

        // The two kinds of JWT never stand in for each other.
        let (_, conan_token) = auth.login(Some(&basic("alice", "correct horse"))).unwrap();
        assert!(matches!(
            auth.session(&conan_token.token),
            Err(AuthError::InvalidToken)
        ));
        assert!(matches!(
            auth.authenticate(Some(&bearer(&session.cookie))),
            Err(AuthError::InvalidToken)
        ));
        assert!(matches!(
            auth.session("garbage"),
            Err(AuthError::InvalidToken)
        ));

        // A password change ends every password session of the user; the new password opens one.
        admin::set_password(store.as_ref(), alice.id, Some("battery staple")).unwrap();
        assert!(matches!(
            auth.session(&session.cookie),
            Err(AuthError::InvalidToken)
        ));
        let principal = auth
            .authenticate(Some(&basic("alice", "battery staple")))
            .unwrap();
        let session = auth.open_session(&principal).unwrap();
        auth.session(&session.cookie).unwrap();

        // A session opened with a personal access token lives no longer than the token, keeps
        // its scopes, and ends when it is revoked.
        let expiry = at(Duration::from_hours(2), true);
        let token = admin::create_personal_token(
            store.as_ref(),
            alice.id,
            "web",
            &[Scope::ReadApi],
            Some(expiry),
        )
        .unwrap();
        let by_token = auth
            .authenticate(Some(&basic("alice", &token.secret)))
            .unwrap();
        let token_session = auth.open_session(&by_token).unwrap();
        assert!(token_session.expires_at <= expiry);
        assert!(matches!(auth.session(&token_session.cookie).unwrap(),
            Principal::User { access, .. } if access == Access { read: true, write: false }));
        assert!(
            store
                .revoke_token(
                    TokenKind::Personal,
                    token.token.id,
                    at(Duration::ZERO, false)
                )
                .unwrap()
        );
        assert!(matches!(
            auth.session(&token_session.cookie),
            Err(AuthError::InvalidToken)
        ));

        // Disabling the user ends the password session.
        assert!(store.set_user_active(alice.id, false).unwrap());
        assert!(matches!(
            auth.session(&session.cookie),
            Err(AuthError::InvalidToken)
        ));

        // Deploy tokens and anonymous visitors cannot open a session.
        assert!(matches!(
            auth.open_session(&Principal::Anonymous),
            Err(AuthError::InvalidCredentials)
        ));
    }
}
