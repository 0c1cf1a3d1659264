//! Markup from recipes renders as text, every answer carries the security headers, and the
//! stylesheet is served under its content hash with a year-long immutable cache.

use actix_web::http::StatusCode;

use crate::registry_tests;
use crate::support::{get, recipe_page, send};

const HOSTILE: &str = r#"
class Evil(ConanFile):
    description = "<script>alert(1)</script> and \"onmouseover=alert(2) x=\""
    homepage = "javascript:alert(3)"
    license = "<img src=x onerror=alert(4)>"
    topics = ("</dd><script>alert(5)</script>",)
"#;

/// A file name full of markup: file paths only refuse control characters and `..`.
const HOSTILE_FILE: &str = "licenses/<img src=x onerror=alert(6)>\"onmouseover=alert(7).txt";

/// The Content-Security-Policy every page must carry.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

registry_tests! {
    async fn markup_in_recipes_renders_as_text(registry: &Registry) {
        let key = registry.upload_recipe(&registry.public, "evil/1.0", 1, HOSTILE, &[HOSTILE_FILE]).await;
        registry.upload_package(&key, 1, 1, "[settings]\nos=<script>alert(8)</script>\n[options]\nx=\"onmouseover=alert(9)\n").await;
        let app = registry.app().await;
        let recipe = get(&app, &recipe_page(&registry.public, "evil/1.0")).await;
        let body = recipe.ok();
        assert!(body.contains("&lt;script&gt;alert(1)&lt;/script&gt; and &quot;onmouseover=alert(2) x=&quot;"), "{body}");
        assert!(body.contains("&lt;img src=x onerror=alert(4)&gt;"));
        assert!(body.contains("&lt;/dd&gt;&lt;script&gt;alert(5)&lt;/script&gt;"));
        // A javascript: URL is shown, never linked.
        assert!(body.contains("javascript:alert(3)"));
        assert!(!body.contains("href=\"javascript:"));
        let revision = get(&app, &format!("{}/revisions/{:032x}", recipe_page(&registry.public, "evil/1.0"), 1)).await;
        let body = revision.ok();
        assert!(body.contains("licenses/&lt;img src=x onerror=alert(6)&gt;&quot;onmouseover=alert(7).txt"), "{body}");
        // In the download link the name is percent-encoded.
        assert!(body.contains("/files/licenses/%3Cimg%20src%3Dx%20onerror%3Dalert(6)%3E%22onmouseover%3Dalert(7).txt\""));
        assert!(body.contains("os=&lt;script&gt;alert(8)&lt;/script&gt;"));
        assert!(body.contains("x=&quot;onmouseover=alert(9)"));
        for page in [&recipe, &revision] {
            for raw in ["<script", "<img", "\"onmouseover", "alert(1)</script>"] {
                assert!(!page.body.contains(raw), "{raw} appears unescaped");
            }
        }
        // What is typed into the search box comes back as text too.
        let search = get(&app, "/-/web/search?q=%22%3E%3Cscript%3Ealert(10)").await;
        let body = search.ok();
        assert!(body.contains("value=\"&quot;&gt;&lt;script&gt;alert(10)\""), "{body}");
        assert!(!body.contains("<script"));
    }

    async fn every_answer_carries_the_security_headers(registry: &Registry) {
        registry.upload_recipe(&registry.public, "zlib/1.3", 1, "x", &[]).await;
        let app = registry.app().await;
        for (uri, status) in [
            ("/".to_owned(), StatusCode::OK),
            ("/-/web/search?q=zlib".to_owned(), StatusCode::OK),
            ("/-/web/projects/demo/packages".to_owned(), StatusCode::OK),
            (recipe_page(&registry.public, "zlib/1.3"), StatusCode::OK),
            ("/-/web/projects/demo/private".to_owned(), StatusCode::NOT_FOUND),
            ("/-/web/nothing/here".to_owned(), StatusCode::NOT_FOUND),
            ("/?page=0".to_owned(), StatusCode::BAD_REQUEST),
        ] {
            let reply = get(&app, &uri).await;
            assert_eq!(reply.status, status, "{uri}");
            assert_eq!(reply.header("content-security-policy"), Some(CSP), "{uri}");
            assert_eq!(reply.header("x-content-type-options"), Some("nosniff"), "{uri}");
            assert_eq!(reply.header("referrer-policy"), Some("same-origin"), "{uri}");
            assert_eq!(reply.header("x-frame-options"), Some("DENY"), "{uri}");
            assert_eq!(reply.header("cache-control"), Some("no-store"), "{uri}");
            assert_eq!(reply.header("content-type"), Some("text/html; charset=utf-8"), "{uri}");
            // Nothing inline for the policy to forbid: no style attribute, no inline script.
            assert!(!reply.body.contains("style=") && !reply.body.contains("<script"), "{uri}");
            assert!(reply.body.starts_with("<!DOCTYPE html><html lang=\"en\">"), "{uri}");
        }
    }

    async fn pages_only_read_and_other_methods_are_a_405_page(registry: &Registry) {
        registry.upload_recipe(&registry.public, "zlib/1.3", 1, "x", &[]).await;
        let app = registry.app().await;
        for uri in ["/".to_owned(), "/-/web/search".to_owned(), "/-/web/projects/demo/packages".to_owned(), recipe_page(&registry.public, "zlib/1.3")] {
            for method in ["POST", "PUT", "DELETE", "PATCH"] {
                let reply = send(&app, method, &uri).await;
                assert!(reply.expect(StatusCode::METHOD_NOT_ALLOWED).contains("<h1>Method not allowed</h1>"), "{method} {uri}");
                assert_eq!(reply.header("allow"), Some("GET, HEAD"));
                assert_eq!(reply.header("content-security-policy"), Some(CSP));
            }
            let head = send(&app, "HEAD", &uri).await;
            assert_eq!(head.status, StatusCode::OK, "HEAD {uri}");
            assert_eq!(head.header("content-type"), Some("text/html; charset=utf-8"));
        }
        // Nothing was changed by any of them.
        assert!(get(&app, &recipe_page(&registry.public, "zlib/1.3")).await.ok().contains("<h1>zlib/1.3</h1>"));
    }

    async fn the_stylesheet_is_served_under_its_content_hash_for_a_year(registry: &Registry) {
        let app = registry.app().await;
        let path = conan_web::stylesheet_path();
        let hash = path
            .strip_prefix("/-/web/static/web.")
            .and_then(|rest| rest.strip_suffix(".css"))
            .unwrap();
        assert_eq!(hash.len(), 16);
        assert!(hash.bytes().all(|byte| byte.is_ascii_hexdigit() && !byte.is_ascii_uppercase()));
        let home = get(&app, "/").await;
        assert!(home.ok().contains(&format!("<link rel=\"stylesheet\" href=\"{path}\">")));
        let css = get(&app, path).await;
        assert!(css.ok().contains("prefers-color-scheme: dark"));
        assert_eq!(css.header("cache-control"), Some("public, max-age=31536000, immutable"));
        assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
        assert_eq!(css.header("x-content-type-options"), Some("nosniff"));
        // The hash is the content's: recompute it.
        let digest = <sha2::Sha256 as sha2::Digest>::digest(css.body.as_bytes());
        let expected: String = digest[..8]
            .iter()
            .flat_map(|byte| [byte >> 4, byte & 15])
            .map(|nibble| char::from_digit(u32::from(nibble), 16).unwrap())
            .collect();
        assert_eq!(hash, expected);
        // Another build's name, or a guess, is the 404 page, never the stylesheet.
        for other in ["/-/web/static/web.0000000000000000.css", "/-/web/static/web.css"] {
            let reply = get(&app, other).await;
            assert_eq!(reply.status, StatusCode::NOT_FOUND, "{other}");
            assert_eq!(reply.header("cache-control"), Some("no-store"));
        }
    }
}
