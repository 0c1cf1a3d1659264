#![doc = include_str!("../README.md")]

mod access;
mod assets;
mod conanfile;
mod error;
mod layout;
mod pages;
mod params;
mod respond;
mod session;
mod urls;

use std::sync::Arc;

use actix_web::web;
use conan_auth::Authenticator;
use conan_store::MetadataStore;
use conan_store::blob::BlobStore;

pub use assets::stylesheet_path;
pub use error::WebError;

/// What every page needs, built once by the binary and registered as `web::Data<WebState>`.
#[derive(Clone)]
pub struct WebState {
    /// Projects, recipes, revisions, packages and files (synchronous: called on the blocking
    /// pool, one read scope per page).
    pub metadata: Arc<dyn MetadataStore>,
    /// File contents, for the `conanfile.py` a recipe page reads its description from.
    pub blobs: Arc<dyn BlobStore>,
    /// The permission decision, the same one the API asks.
    pub auth: Authenticator,
    /// The URL clients reach the registry at (`api.external_url`), for the `conan remote add`
    /// lines; without it, the request's own scheme and host.
    pub external_url: Option<String>,
    /// The key that seals remote projects' upstream credentials (`remote.credentials_key`),
    /// for the administrators' remote project form; `None` when it is not configured.
    pub credentials_key: Option<Arc<conan_remote::CredentialKey>>,
}

impl std::fmt::Debug for WebState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebState")
            .field("external_url", &self.external_url)
            .finish_non_exhaustive()
    }
}

/// Registers the pages: `/` and everything under `/-/web/`. The caller registers the
/// [`WebState`] as `web::Data<WebState>` app data. Register it before conan-api's routes:
/// conan-api sets the default service (GitLab's JSON 404 for unknown paths), and this module's
/// own catch-all under `/-/web/` answers an HTML 404 there instead.
pub fn configure(config: &mut web::ServiceConfig) {
    pages::configure(config);
}
