//! The headers every answer carries: a strict Content-Security-Policy (no inline script or
//! style anywhere, so markup that slipped through could not run), no MIME sniffing, no referrer
//! to other sites, no framing, and no caching of pages (what a visitor may see can change).

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, HttpResponseBuilder};
use maud::Markup;

/// The Content-Security-Policy of every page: resources from this origin only, nothing inline.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'self'";

/// Adds the security headers shared by pages and assets.
pub(crate) fn secure(response: &mut HttpResponseBuilder) -> &mut HttpResponseBuilder {
    response
        .insert_header((header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
}

/// An HTML page with `status`.
pub(crate) fn page(status: StatusCode, markup: Markup) -> HttpResponse {
    let mut response = HttpResponse::build(status);
    secure(&mut response)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(markup.into_string())
}

/// A 200 HTML page.
pub(crate) fn ok(markup: Markup) -> HttpResponse {
    page(StatusCode::OK, markup)
}

/// A `303 See Other` to `location`, a path of this site (after a form).
pub(crate) fn redirect(location: &str) -> HttpResponse {
    let mut response = HttpResponse::SeeOther();
    secure(&mut response)
        .insert_header((header::LOCATION, location))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}
