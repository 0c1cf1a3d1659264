//! The client against a small upstream on loopback that misbehaves on purpose: each kind of bad
//! answer is an error within bounded time, and the good answers parse.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is the failure report"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use base64::Engine;
use conan_model::{FilePath, RecipeReference, Revision};
use conan_upstream::{Credentials, Upstream, UpstreamConfig, UpstreamError};
use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const RREV: &str = "0123456789abcdef0123456789abcdef";

/// The package search answers: a good one, a bad package id, fields of the wrong shape.
fn package_search(key: &str) -> Option<String> {
    let id = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
    Some(match key {
        p if p == format!("/revisions/{RREV}/search") => {
            format!(r#"{{"{id}": {{"content": "[settings]\nos=Linux\n"}}}}"#)
        }
        "/bad-package-id" => r#"{"../../x": {"content": ""}}"#.to_owned(),
        "/bad-package-info" => format!(r#"{{"{id}": {{"settings": ["os"]}}}}"#),
        _ => return None,
    })
}

/// What the upstream does for a path.
async fn answer(stream: &mut TcpStream, path: &str, authorization: Option<&str>, port: u16) {
    let recipe = "/v2/conans/zlib/1.3/_/_";
    let ok_json = |body: &str| {
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    // `/s/<scenario>/...`: the scenario decides, whatever the rest of the path.
    let key = match path.strip_prefix("/s/") {
        Some(rest) => {
            let (scenario, rest) = rest.split_once('/').unwrap_or((rest, ""));
            if scenario == "private" && rest == "v2/users/authenticate" {
                "/v2/users/authenticate".to_owned()
            } else {
                format!("/{scenario}")
            }
        }
        None => path.strip_prefix(recipe).unwrap_or(path).to_owned(),
    };
    let reply = match key.as_str() {
        "/latest" => ok_json(&format!(r#"{{"revision": "{RREV}", "time": "2024-05-01T12:00:00.123+0000"}}"#)),
        "/revisions" => ok_json(&format!(
            r#"{{"reference": "zlib/1.3", "revisions": [{{"revision": "{RREV}", "time": "2024-05-01T12:00:00Z"}}]}}"#
        )),
        p if p == format!("/revisions/{RREV}/files") => {
            ok_json(r#"{"files": {"conanfile.py": {}, "conanmanifest.txt": {}}}"#)
        }
        p if p == format!("/revisions/{RREV}/files/conanfile.py") => {
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nx-checksum-sha1: AAF4C61DDCC5E8A2DABEDE0F3B482CD9AEA9434D\r\nconnection: close\r\n\r\nhello".to_owned()
        }
        "/v2/conans/search" => ok_json(r#"{"results": ["zlib/1.3", "zlib/1.2.13@acme/stable"]}"#),
        "/bad-search" => ok_json(r#"{"results": ["zlib/1.3", "../../x"]}"#),
        p if let Some(body) = package_search(p) => ok_json(&body),
        "/dotdot" => ok_json(r#"{"files": {"../../etc/passwd": {}}}"#),
        "/absolute" => ok_json(r#"{"files": {"/etc/passwd": {}}}"#),
        "/malformed" => ok_json(r#"{"revision": "#),
        "/wrong-shape" => ok_json(r#"{"revision": "not a revision!", "time": "2024-05-01T12:00:00Z"}"#),
        "/huge" => {
            let body = format!(r#"{{"files": {{"a": "{}"}}}}"#, "x".repeat(200_000));
            ok_json(&body)
        }
        "/short" => "HTTP/1.1 200 OK\r\ncontent-length: 100\r\nconnection: close\r\n\r\nonly fifty bytes..................................".to_owned(),
        "/too-large" => "HTTP/1.1 200 OK\r\ncontent-length: 999999999\r\nconnection: close\r\n\r\n".to_owned(),
        "/bad-checksum-header" => "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nx-checksum-sha1: nope\r\nconnection: close\r\n\r\nhi".to_owned(),
        "/chunked-large" => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n").await;
            for _ in 0..64 {
                let chunk = vec![b'x'; 4096];
                if stream.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.is_err()
                    || stream.write_all(&chunk).await.is_err()
                    || stream.write_all(b"\r\n").await.is_err()
                {
                    return;
                }
            }
            "0\r\n\r\n".to_owned()
        }
        "/endless" => {
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n").await;
            loop {
                if stream.write_all(b"1\r\nx\r\n").await.is_err() {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        "/silent-head" => {
            tokio::time::sleep(Duration::from_mins(1)).await;
            return;
        }
        "/redirect-away" => format!(
            "HTTP/1.1 302 Found\r\nlocation: http://localhost:{port}/v2/conans/zlib/1.3/_/_/latest\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ),
        "/redirect-home" => "HTTP/1.1 302 Found\r\nlocation: /v2/conans/zlib/1.3/_/_/latest\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
        "/failing" => "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
        "/v2/users/authenticate" => {
            let expected = format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode("mirror:s3cr3t")
            );
            if authorization == Some(expected.as_str()) {
                "HTTP/1.1 200 OK\r\ncontent-length: 9\r\nconnection: close\r\n\r\ntoken-abc".to_owned()
            } else {
                "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
            }
        }
        "/private" => {
            if authorization == Some("Bearer token-abc") {
                ok_json(&format!(r#"{{"revision": "{RREV}", "time": "2024-05-01T12:00:00Z"}}"#))
            } else {
                "HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
            }
        }
        _ => "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned(),
    };
    let _ = stream.write_all(reply.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Starts the upstream; returns its URL and a count of the requests it took.
async fn upstream() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&requests);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            counted.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if stream.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).to_string();
                let path = head
                    .split(' ')
                    .nth(1)
                    .unwrap_or("/")
                    .split('?')
                    .next()
                    .unwrap_or("/")
                    .to_owned();
                let authorization = head
                    .lines()
                    .find_map(|line| {
                        line.strip_prefix("authorization: ")
                            .or_else(|| line.strip_prefix("Authorization: "))
                    })
                    .map(str::to_owned);
                answer(&mut stream, &path, authorization.as_deref(), port).await;
            });
        }
    });
    (format!("http://127.0.0.1:{port}"), requests)
}

fn config(url: &str) -> UpstreamConfig {
    let mut config = UpstreamConfig::new(url.parse().unwrap());
    config.metadata_timeout = Duration::from_secs(2);
    config.idle_timeout = Duration::from_millis(500);
    config.file_timeout = Duration::from_secs(2);
    config.max_metadata_bytes = 64 * 1024;
    config.max_file_bytes = 64 * 1024;
    // Each bound is tested alone: the minimum rate has its own test.
    config.min_file_rate = 0;
    config
}

fn zlib() -> RecipeReference {
    "zlib/1.3".parse().unwrap()
}

fn rrev() -> Revision {
    RREV.parse().unwrap()
}

/// A client whose recipe paths all land on `path` of the upstream (the URL ends where the
/// upstream's scenario path begins).
fn at(url: &str, prefix: &str) -> Upstream {
    Upstream::new(config(&format!("{url}{prefix}"))).unwrap()
}

/// Reads a file body to its end: its bytes, or the error that ended it.
async fn drain(
    mut body: futures::stream::BoxStream<'static, Result<bytes::Bytes, std::io::Error>>,
) -> Result<Vec<u8>, String> {
    let mut all = Vec::new();
    while let Some(chunk) = body.next().await {
        all.extend_from_slice(&chunk.map_err(|error| error.to_string())?);
    }
    Ok(all)
}

#[tokio::test]
async fn good_answers_parse() {
    let (url, _) = upstream().await;
    let client = Upstream::new(config(&url)).unwrap();
    let latest = client.recipe_latest(&zlib()).await.unwrap().unwrap();
    assert_eq!(latest.revision, rrev());
    assert_eq!(latest.time.to_string(), "2024-05-01T12:00:00.123000Z");
    let revisions = client.recipe_revisions(&zlib()).await.unwrap().unwrap();
    assert_eq!(revisions.len(), 1);
    let files = client
        .recipe_files(&zlib(), &rrev())
        .await
        .unwrap()
        .unwrap();
    let names: Vec<&str> = files.iter().map(FilePath::as_str).collect();
    assert_eq!(names, ["conanfile.py", "conanmanifest.txt"]);
    let file = client
        .recipe_file(&zlib(), &rrev(), &"conanfile.py".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (file.size, file.sha1.as_deref()),
        (Some(5), Some("aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d"))
    );
    assert_eq!(drain(file.body).await.unwrap(), b"hello");
    let found: Vec<String> = client
        .search("zlib/*")
        .await
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(found, ["zlib/1.3", "zlib/1.2.13@acme/stable"]);
    let packages = client
        .package_search(&zlib(), &rrev())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(packages.len(), 1);
    assert_eq!(
        packages[0].conaninfo.as_deref(),
        Some("[settings]\nos=Linux\n")
    );
    for name in ["bad-package-id", "bad-package-info"] {
        let error = scenario(&url, name)
            .package_search(&zlib(), &rrev())
            .await
            .unwrap_err();
        assert!(
            matches!(error, UpstreamError::Invalid(_)),
            "{name}: {error}"
        );
    }
    let error = scenario(&url, "bad-search").search("*").await.unwrap_err();
    assert!(
        matches!(&error, UpstreamError::Invalid(message) if message.contains("reference")),
        "{error}"
    );
    // What the upstream has not got is `None`, not an error.
    let other: RecipeReference = "openssl/3.0".parse().unwrap();
    assert_eq!(client.recipe_latest(&other).await.unwrap(), None);
    assert!(
        client
            .recipe_file(&zlib(), &rrev(), &"conan_export.tgz".parse().unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

/// A client whose requests all land on the upstream's `scenario`.
fn scenario(url: &str, scenario: &str) -> Upstream {
    at(url, &format!("/s/{scenario}"))
}

type Check = fn(&UpstreamError) -> bool;

#[tokio::test]
async fn bad_metadata_is_refused() {
    let (url, _) = upstream().await;
    for name in ["dotdot", "absolute"] {
        let error = scenario(&url, name)
            .recipe_files(&zlib(), &rrev())
            .await
            .unwrap_err();
        assert!(
            matches!(&error, UpstreamError::Invalid(message) if message.contains("file path")),
            "{name}: {error}"
        );
    }
    let checks: [(&str, Check); 5] = [
        (
            "malformed",
            |error| matches!(error, UpstreamError::Invalid(m) if m.contains("malformed JSON")),
        ),
        (
            "wrong-shape",
            |error| matches!(error, UpstreamError::Invalid(m) if m.contains("revision")),
        ),
        ("huge", |error| {
            matches!(error, UpstreamError::TooLarge { limit: 65_536 })
        }),
        ("failing", |error| {
            matches!(error, UpstreamError::Status(503)) && error.is_unavailable()
        }),
        (
            "redirect-away",
            |error| matches!(error, UpstreamError::Redirect(host) if host == "localhost"),
        ),
    ];
    for (name, check) in checks {
        let error = scenario(&url, name)
            .recipe_latest(&zlib())
            .await
            .unwrap_err();
        assert!(check(&error), "{name}: {error}");
    }
    // A redirect within the upstream's origin is followed.
    assert!(
        scenario(&url, "redirect-home")
            .recipe_latest(&zlib())
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn bad_file_bodies_end_in_an_error_within_bounds() {
    let (url, _) = upstream().await;
    let path: FilePath = "conan_package.tgz".parse().unwrap();
    let fetch = |name: &'static str| {
        let client = scenario(&url, name);
        let path = path.clone();
        async move { client.recipe_file(&zlib(), &rrev(), &path).await }
    };
    // Announced larger than the limit: refused before the body.
    assert!(matches!(
        fetch("too-large").await,
        Err(UpstreamError::TooLarge { limit: 65_536 })
    ));
    // A checksum header that is not a sha1.
    assert!(matches!(
        fetch("bad-checksum-header").await,
        Err(UpstreamError::Invalid(_))
    ));
    for (name, expected) in [
        ("short", "failed after 50 bytes"),
        ("chunked-large", "larger than the limit"),
        ("endless", "longer than"),
    ] {
        let started = Instant::now();
        let file = fetch(name).await.unwrap().unwrap();
        let error = drain(file.body).await.unwrap_err();
        assert!(error.contains(expected), "{name}: {error}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{name}: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn a_trickling_body_is_cut_at_the_minimum_rate() {
    // A byte every 100 ms never trips the idle timeout; with an hour's deadline only the
    // minimum rate stops it, after one span of the idle timeout.
    let (url, _) = upstream().await;
    let mut config = config(&format!("{url}/s/endless"));
    config.file_timeout = Duration::from_hours(1);
    config.min_file_rate = 1024;
    let client = Upstream::new(config).unwrap();
    let started = Instant::now();
    let path: FilePath = "conan_package.tgz".parse().unwrap();
    let file = client
        .recipe_file(&zlib(), &rrev(), &path)
        .await
        .unwrap()
        .unwrap();
    let error = drain(file.body).await.unwrap_err();
    assert!(error.contains("slower than 1024 bytes a second"), "{error}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_unreachable_or_silent_upstream_fails_fast() {
    let (url, _) = upstream().await;
    let started = Instant::now();
    let error = scenario(&url, "silent-head")
        .recipe_latest(&zlib())
        .await
        .unwrap_err();
    assert!(
        matches!(error, UpstreamError::Timeout(_)) && error.is_unavailable(),
        "{error}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // A port nothing listens on.
    let closed = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let error = Upstream::new(config(&format!("http://127.0.0.1:{port}")))
        .unwrap()
        .recipe_latest(&zlib())
        .await
        .unwrap_err();
    assert!(
        matches!(error, UpstreamError::Unreachable(_)) && error.is_unavailable(),
        "{error}"
    );
}

#[tokio::test]
async fn credentials_log_in_once_and_never_show() {
    let (url, requests) = upstream().await;
    let anonymous = scenario(&url, "private")
        .recipe_latest(&zlib())
        .await
        .unwrap_err();
    assert_eq!(anonymous, UpstreamError::Refused(401));
    let mut with = config(&format!("{url}/s/private"));
    with.credentials = Some(Credentials {
        user: "mirror".to_owned(),
        password: "s3cr3t".to_owned(),
    });
    let client = Upstream::new(with.clone()).unwrap();
    let before = requests.load(Ordering::SeqCst);
    assert_eq!(
        client
            .recipe_latest(&zlib())
            .await
            .unwrap()
            .unwrap()
            .revision,
        rrev()
    );
    // Asked, refused, logged in, asked again: then the token is reused.
    assert_eq!(requests.load(Ordering::SeqCst) - before, 3);
    client.recipe_latest(&zlib()).await.unwrap();
    assert_eq!(requests.load(Ordering::SeqCst) - before, 4);
    assert!(!format!("{client:?} {with:?}").contains("s3cr3t"));
    with.credentials = Some(Credentials {
        user: "mirror".to_owned(),
        password: "wrong".to_owned(),
    });
    let error = Upstream::new(with)
        .unwrap()
        .recipe_latest(&zlib())
        .await
        .unwrap_err();
    assert_eq!(error, UpstreamError::Refused(401));
    assert!(!error.to_string().contains("wrong"));
}
