//! The static assets, embedded in the binary and served under names that carry a hash of their
//! content, so a browser may keep them forever: a new build with other content has another name.

use std::fmt::Write as _;
use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use sha2::{Digest as _, Sha256};

use crate::error::WebError;
use crate::respond;

/// The stylesheet, the only asset: pages work without any script.
const STYLESHEET: &str = include_str!("../assets/web.css");

/// The URL prefix of the assets.
pub(crate) const PREFIX: &str = "/-/web/static";

/// How many hex digits of the sha256 name an asset: 64 bits are plenty to tell builds apart.
const HASH_DIGITS: usize = 16;

/// `/-/web/static/web.<hash>.css`, computed once at the first use.
static STYLESHEET_PATH: LazyLock<String> = LazyLock::new(|| {
    let digest = Sha256::digest(STYLESHEET.as_bytes());
    let mut hash = String::with_capacity(HASH_DIGITS);
    for byte in &digest[..HASH_DIGITS / 2] {
        let _ = write!(hash, "{byte:02x}");
    }
    format!("{PREFIX}/web.{hash}.css")
});

/// The path the stylesheet is served at: `/-/web/static/web.<first 16 hex digits of its
/// sha256>.css`.
#[must_use]
pub fn stylesheet_path() -> &'static str {
    &STYLESHEET_PATH
}

/// `GET /-/web/static/{name}`: an asset under its current hashed name, cached for a year;
/// any other name (an old build's hash, a guess) is the 404 page.
pub(crate) async fn asset(request: HttpRequest) -> Result<HttpResponse, WebError> {
    if request.path() != stylesheet_path() {
        return Err(WebError::NotFound);
    }
    let mut response = HttpResponse::Ok();
    Ok(respond::secure(&mut response)
        .insert_header((header::CONTENT_TYPE, "text/css; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
        .body(STYLESHEET))
}
