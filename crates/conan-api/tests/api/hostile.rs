//! Hostile paths the router would otherwise soften: percent-encoded bytes that are not UTF-8
//! are decoded lossily (to U+FFFD) by actix-web's router before any parameter is seen, so the
//! raw path is checked first. The black-box suite (`tests/blackbox/test_hostile.py`) covers the
//! rest against the real server.

use actix_web::http::StatusCode;

use crate::support::{Registry, put, request, send};

#[actix_web::test]
async fn percent_encoded_bytes_that_are_not_utf8_are_refused() {
    let registry = Registry::new();
    let app = registry.app().await;
    let auth = registry.callers.developer.as_str();
    let revision = registry.public_revision();
    for path in ["conan%C0%AFfile.py", "%FF%FE.txt", "a/%80/b.txt"] {
        let reply = send(
            &app,
            put(&format!("{revision}/files/{path}"), b"content", auth),
        )
        .await;
        let message = reply.message(StatusCode::BAD_REQUEST);
        assert!(message.contains("not UTF-8"), "{path}: {message}");
    }
    // Nothing was stored (the files of a revision without files are a 404).
    let reply = send(
        &app,
        request("GET", &format!("{revision}/files"), Some(auth)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    let reply = send(
        &app,
        request(
            "GET",
            "/api/v4/packages/conan/v2/conans/zl%FFib/1.3/group+public/stable/latest",
            Some(auth),
        ),
    )
    .await;
    assert!(reply.message(StatusCode::BAD_REQUEST).contains("not UTF-8"));

    // Encoded UTF-8 is fine: a file name with non-ASCII letters is stored under that name.
    let reply = send(
        &app,
        put(
            &format!("{revision}/files/r%C3%A9sum%C3%A9.txt"),
            b"content",
            auth,
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{:?}", reply.body);
    assert_eq!(reply.json()["file_name"], "résumé.txt");
}
