//! A small upstream on loopback for the tests: serves a catalog of files (file lists derived
//! from it) and a recipe's revision list, counts the requests per path, and can be switched
//! down (every answer a 503).

#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    reason = "test support: each test binary uses a different part; a panic is the failure report"
)]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use md5::Md5;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const RREV: &str = "0123456789abcdef0123456789abcdef";
pub const RREV2: &str = "11111111111111111111111111111111";
pub const PKG: &str = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
pub const PREV: &str = "fedcba9876543210fedcba9876543210";

/// The upstream's files by URL path: (body, announced sha1).
/// When the upstream says zlib/1.3's revisions were committed.
pub const RECIPE_TIME: &str = "2024-05-01T12:00:00Z";
/// When the upstream says zlib's package revision was committed.
pub const PACKAGE_TIME: &str = "2024-05-02T08:30:00.250000Z";

pub fn catalog() -> HashMap<String, (Vec<u8>, String)> {
    let sha1 = |body: &[u8]| format!("{:x}", Sha1::digest(body));
    let mut files = HashMap::new();
    let mut add = |path: String, body: &[u8], announced: Option<&str>| {
        files.insert(
            path,
            (
                body.to_vec(),
                announced.map_or_else(|| sha1(body), str::to_owned),
            ),
        );
    };
    let zlib = format!("/v2/conans/zlib/1.3/_/_/revisions/{RREV}");
    add(
        format!("{zlib}/files/conanfile.py"),
        b"from conan import ConanFile\n",
        None,
    );
    let md5 = |body: &[u8]| format!("{:x}", Md5::digest(body));
    add(
        format!("{zlib}/files/conanmanifest.txt"),
        format!(
            "1700000000\nconanfile.py: {}\n",
            md5(b"from conan import ConanFile\n")
        )
        .as_bytes(),
        None,
    );
    let package = format!("{zlib}/packages/{PKG}/revisions/{PREV}");
    add(
        format!("{package}/files/conaninfo.txt"),
        b"[settings]\nos=Linux\n",
        None,
    );
    add(
        format!("{package}/files/conan_package.tgz"),
        &vec![7u8; 300_000],
        None,
    );
    add(
        format!("{package}/files/conanmanifest.txt"),
        format!(
            "1700000000\nconaninfo.txt: {}\n",
            md5(b"[settings]\nos=Linux\n")
        )
        .as_bytes(),
        None,
    );
    // Its conanfile.py is not the one its manifest lists (its sha1 header is its own).
    let tampered = format!("/v2/conans/tampered/1.0/_/_/revisions/{RREV}");
    add(format!("{tampered}/files/conanfile.py"), b"evil", None);
    add(
        format!("{tampered}/files/conanmanifest.txt"),
        format!("1700000000\nconanfile.py: {}\n", md5(b"good")).as_bytes(),
        None,
    );
    let bad = format!("/v2/conans/bad/1.0/_/_/revisions/{RREV}");
    add(
        format!("{bad}/files/conanfile.py"),
        b"the bytes",
        Some("0000000000000000000000000000000000000000"),
    );
    add(
        format!("{bad}/files/conanmanifest.txt"),
        b"1700000000\n",
        None,
    );
    files
}

/// The running upstream.
pub struct TestUpstream {
    pub url: String,
    /// Requests per path.
    pub counts: Arc<Mutex<HashMap<String, usize>>>,
    /// While set, every answer is a 503.
    pub down: Arc<AtomicBool>,
    /// zlib/1.3's revisions, newest first.
    pub revisions: Arc<Mutex<Vec<&'static str>>>,
}

impl TestUpstream {
    pub fn count(&self, path: &str) -> usize {
        self.counts.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

/// The answer to `path`: status, body and announced sha1.
fn answer(
    path: &str,
    files: &HashMap<String, (Vec<u8>, String)>,
    revisions: &[&str],
) -> (&'static str, Vec<u8>, Option<String>) {
    if path == "/v2/conans/zlib/1.3/_/_/revisions" {
        let list: Vec<String> = revisions
            .iter()
            .map(|revision| {
                format!("{{\"revision\": \"{revision}\", \"time\": \"{RECIPE_TIME}\"}}")
            })
            .collect();
        let body = format!("{{\"revisions\": [{}]}}", list.join(", "));
        return ("200 OK", body.into_bytes(), None);
    }
    if path == format!("/v2/conans/zlib/1.3/_/_/revisions/{RREV}/search") {
        let body = format!("{{\"{PKG}\": {{\"content\": \"[settings]\\nos=Linux\\n\"}}}}");
        return ("200 OK", body.into_bytes(), None);
    }
    if path == format!("/v2/conans/zlib/1.3/_/_/revisions/{RREV}/packages/{PKG}/revisions") {
        let body = format!(
            "{{\"revisions\": [{{\"revision\": \"{PREV}\", \"time\": \"{PACKAGE_TIME}\"}}]}}"
        );
        return ("200 OK", body.into_bytes(), None);
    }
    if let Some((body, sha1)) = files.get(path) {
        return ("200 OK", body.clone(), Some(sha1.clone()));
    }
    if let Some(prefix) = path.strip_suffix("/files") {
        let names: Vec<String> = files
            .keys()
            .filter_map(|key| key.strip_prefix(&format!("{prefix}/files/")))
            .filter(|name| !name.contains('/'))
            .map(|name| format!("\"{name}\": {{}}"))
            .collect();
        if !names.is_empty() {
            let body = format!("{{\"files\": {{{}}}}}", names.join(", "));
            return ("200 OK", body.into_bytes(), None);
        }
    }
    ("404 Not Found", Vec::new(), None)
}

/// Starts the upstream.
pub async fn start() -> TestUpstream {
    let files = Arc::new(catalog());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream = TestUpstream {
        url: format!("http://{}", listener.local_addr().unwrap()),
        counts: Arc::new(Mutex::new(HashMap::new())),
        down: Arc::new(AtomicBool::new(false)),
        revisions: Arc::new(Mutex::new(vec![RREV])),
    };
    let (counted, down, revisions) = (
        Arc::clone(&upstream.counts),
        Arc::clone(&upstream.down),
        Arc::clone(&upstream.revisions),
    );
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let (files, counted, down, revisions) = (
                Arc::clone(&files),
                Arc::clone(&counted),
                Arc::clone(&down),
                Arc::clone(&revisions),
            );
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
                let path = head.split(' ').nth(1).unwrap_or("/").to_owned();
                *counted.lock().unwrap().entry(path.clone()).or_insert(0) += 1;
                // Slow enough that concurrent asks overlap.
                tokio::time::sleep(Duration::from_millis(20)).await;
                let (status, body, sha1) = if down.load(Ordering::SeqCst) {
                    ("503 Service Unavailable", Vec::new(), None)
                } else {
                    let revisions = revisions.lock().unwrap().clone();
                    answer(&path, &files, &revisions)
                };
                let checksum = sha1
                    .map(|sha1| format!("x-checksum-sha1: {sha1}\r\n"))
                    .unwrap_or_default();
                let reply = format!(
                    "HTTP/1.1 {status}\r\ncontent-length: {}\r\n{checksum}connection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(reply.as_bytes()).await;
                let _ = stream.write_all(&body).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    upstream
}
