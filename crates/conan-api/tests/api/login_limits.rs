//! Rate limiting of failed logins over HTTP: 429 with `Retry-After` and a GitLab-style body, per
//! user name and per client address (the TCP peer, never `X-Forwarded-For`).

use std::net::SocketAddr;

use actix_web::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use conan_auth::AuthConfig;
use conan_auth::admin;

use crate::support::{INSTANCE, PASSWORD, Registry, project_base, request, send};

fn basic(username: &str, password: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!("{username}:{password}"))
    )
}

fn peer(last: u8) -> SocketAddr {
    SocketAddr::from(([192, 0, 2, last], 40_000))
}

const A: u8 = 1;
const B: u8 = 2;
const C: u8 = 3;

fn limited(per_user: u32, per_address: u32) -> Registry {
    let registry = Registry::with_auth_config(AuthConfig {
        login_max_failures_per_user: per_user,
        login_max_failures_per_address: per_address,
        login_failure_window_secs: 300,
        ..AuthConfig::default()
    });
    admin::create_user(
        registry.state.metadata.as_ref(),
        "bob",
        Some("bob's password"),
        false,
    )
    .unwrap();
    registry
}

#[actix_web::test]
async fn failed_logins_are_limited_per_user_and_per_address() {
    let registry = limited(3, 5);
    let app = registry.app().await;
    let login = format!("{}/v2/users/authenticate", project_base(&registry.public));
    let check = format!("{INSTANCE}/v1/users/check_credentials");
    let attempt =
        |url: &str, auth: &str, from: u8| request("GET", url, Some(auth)).peer_addr(peer(from));

    for _ in 0..3 {
        let reply = send(&app, attempt(&login, &basic("alice", "wrong"), A)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    // Alice's name is blocked now, even with her password and from another address.
    for from in [A, B] {
        let reply = send(&app, attempt(&login, &basic("alice", PASSWORD), from)).await;
        let body = reply.error(StatusCode::TOO_MANY_REQUESTS);
        let retry: u64 = reply.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=300).contains(&retry), "{retry}");
        let message = body["message"].as_str().unwrap();
        assert_eq!(
            message,
            format!(
                "429 Too Many Requests - too many failed login attempts, retry in {retry} seconds"
            )
        );
    }
    // Basic credentials on any other route are the same login.
    let reply = send(&app, attempt(&check, &basic("alice", PASSWORD), C)).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);

    // Bob logs in from the same address: his success does not clear alice's count.
    let reply = send(&app, attempt(&login, &basic("bob", "bob's password"), A)).await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    let reply = send(&app, attempt(&login, &basic("alice", PASSWORD), A)).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);

    // Two more failures from A (five in all) block the address for every name.
    for name in ["nobody", "bob"] {
        let reply = send(&app, attempt(&login, &basic(name, "wrong"), A)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let reply = send(&app, attempt(&login, &basic("bob", "bob's password"), A)).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    // X-Forwarded-For does not change the address that counts.
    let reply = send(
        &app,
        attempt(&login, &basic("bob", "bob's password"), A)
            .insert_header(("X-Forwarded-For", "198.51.100.7")),
    )
    .await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    // Another address is fine.
    let reply = send(&app, attempt(&login, &basic("bob", "bob's password"), B)).await;
    assert_eq!(reply.status, StatusCode::OK);

    // Tokens are not rate-limited: alice's personal access token still works from A, and bad
    // bearer tokens are not counted as failed logins.
    let reply = send(&app, attempt(&check, &registry.callers.maintainer, A)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.text(), "alice");
    for _ in 0..10 {
        let reply = send(&app, attempt(&check, "Bearer not.a.token", C)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let reply = send(&app, attempt(&login, &basic("bob", "bob's password"), C)).await;
    assert_eq!(reply.status, StatusCode::OK);
    // Nor are malformed headers.
    for _ in 0..10 {
        let reply = send(&app, attempt(&login, "Basic !!!", C)).await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let reply = send(&app, attempt(&login, &basic("bob", "bob's password"), C)).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[actix_web::test]
async fn zero_turns_the_limits_off() {
    let registry = limited(0, 0);
    let app = registry.app().await;
    let login = format!("{INSTANCE}/v2/users/authenticate");
    for _ in 0..30 {
        let reply = send(
            &app,
            request("GET", &login, Some(&basic("alice", "wrong"))).peer_addr(peer(A)),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    }
    let reply = send(
        &app,
        request("GET", &login, Some(&basic("alice", PASSWORD))).peer_addr(peer(A)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
}
