//! What only a real socket shows: the headers actix-web writes (`Content-Length`, no chunking,
//! no compression), the raw `%2F` project path, and a client that hangs up mid-body.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use actix_web::{App, HttpServer};

use crate::support::{Registry, recipe_files, rrev, sha1_hex};

/// One raw HTTP/1.1 exchange; `hang_up_after` sends only that much of the body, then closes.
fn exchange(
    address: SocketAddr,
    head: &str,
    body: &[u8],
    hang_up_after: Option<usize>,
) -> (String, Vec<u8>) {
    let mut stream = TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    match hang_up_after {
        Some(sent) => {
            stream.write_all(&body[..sent]).unwrap();
            stream.flush().unwrap();
            std::thread::sleep(Duration::from_millis(100));
            stream.shutdown(Shutdown::Both).unwrap();
            return (String::new(), Vec::new());
        }
        None => stream.write_all(body).unwrap(),
    }
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).unwrap();
    let split = answer
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .unwrap();
    let head = String::from_utf8(answer[..split].to_vec())
        .unwrap()
        .to_ascii_lowercase();
    (head, answer[split + 4..].to_vec())
}

fn put_head(path: &str, auth: &str, content: &[u8]) -> String {
    format!(
        "PUT {path} HTTP/1.1\r\nHost: test\r\nAuthorization: {auth}\r\nX-Checksum-Sha1: {}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        sha1_hex(content),
        content.len()
    )
}

fn get_head(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: test\r\nAccept-Encoding: gzip, deflate\r\n\
         Connection: close\r\n\r\n"
    )
}

#[actix_web::test]
async fn over_a_real_socket() {
    let registry = Registry::new();
    let state = registry.state.clone();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .configure(conan_api::configure)
    })
    .workers(1)
    .bind(("127.0.0.1", 0))
    .unwrap();
    let address = server.addrs()[0];
    let server = server.run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let auth = registry.callers.developer.clone();
    actix_web::rt::task::spawn_blocking(move || {
        // The project named by its URL-encoded path, exactly as a client sends it.
        let recipe = "/api/v4/projects/group%2Fpublic/packages/conan/v2/conans/zlib/1.3/_/_";
        let revision = format!("{recipe}/revisions/{}", rrev('a'));

        // A manifest whose upload is cut short: nothing may be stored or committed.
        let files = recipe_files();
        for (path, content) in &files[..3] {
            let url = format!("{revision}/files/{path}");
            let (head, _) = exchange(address, &put_head(&url, &auth, content), content, None);
            assert!(head.starts_with("http/1.1 200"), "{head}");
        }
        let (path, manifest) = files[3];
        let url = format!("{revision}/files/{path}");
        exchange(
            address,
            &put_head(&url, &auth, manifest),
            manifest,
            Some(10),
        );
        let (head, _) = exchange(address, &get_head(&format!("{recipe}/latest")), b"", None);
        assert!(head.starts_with("http/1.1 404"), "{head}");

        // The whole upload, then a download: sized, not chunked, not compressed.
        for (path, content) in &files {
            let url = format!("{revision}/files/{path}");
            let (head, _) = exchange(address, &put_head(&url, &auth, content), content, None);
            assert!(head.starts_with("http/1.1 200"), "{head}");
        }
        let (head, body) = exchange(address, &get_head(&format!("{recipe}/latest")), b"", None);
        assert!(
            head.contains("content-type: application/json\r\n"),
            "{head}"
        );
        assert!(String::from_utf8(body).unwrap().contains(&rrev('a')));
        let (path, content) = files[1];
        let (head, body) = exchange(
            address,
            &get_head(&format!("{revision}/files/{path}")),
            b"",
            None,
        );
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}\r\n", content.len())),
            "{head}"
        );
        assert!(!head.contains("transfer-encoding"), "{head}");
        assert!(!head.contains("content-encoding"), "{head}");
        assert!(head.contains("accept-ranges: bytes"), "{head}");
        assert_eq!(body, content);

        // An upload that announces no length is refused (its body would be empty by
        // definition); a chunked one is stored.
        let other = format!("{recipe}/revisions/{}/files/conanfile.py", rrev('b'));
        let (head, body) = exchange(
            address,
            &format!(
                "PUT {other} HTTP/1.1\r\nHost: test\r\nAuthorization: {auth}\r\n\
                 Connection: close\r\n\r\n"
            ),
            b"",
            None,
        );
        assert!(head.starts_with("http/1.1 411"), "{head}");
        assert!(
            String::from_utf8(body).unwrap().contains("Content-Length"),
            "names the header"
        );
        let chunked = b"5\r\nhello\r\n0\r\n\r\n";
        let (head, body) = exchange(
            address,
            &format!(
                "PUT {other} HTTP/1.1\r\nHost: test\r\nAuthorization: {auth}\r\n\
                 Transfer-Encoding: chunked\r\nX-Checksum-Sha1: {}\r\n\
                 Connection: close\r\n\r\n",
                sha1_hex(b"hello")
            ),
            chunked,
            None,
        );
        assert!(head.starts_with("http/1.1 200"), "{head}");
        assert!(String::from_utf8(body).unwrap().contains("\"size\":5"));
    })
    .await
    .unwrap();
    handle.stop(true).await;
}
