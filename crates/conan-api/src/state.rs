//! What every handler needs, built once by the binary.

use std::fmt;
use std::sync::Arc;

use conan_auth::Authenticator;
use conan_store::blob::BlobStore;
use conan_store::{DownloadRecorder, MetadataStore};

use crate::config::ApiConfig;
use crate::remote::RemoteProjects;

/// The application state of the Conan API: the stores, the authenticator and the settings.
///
/// The binary builds it once and registers it as `web::Data<AppState>` app data before calling
/// [`configure`](crate::configure); every worker shares it.
#[derive(Clone)]
pub struct AppState {
    /// Recipes, packages, files, search and identity (synchronous: called on the blocking pool).
    pub metadata: Arc<dyn MetadataStore>,
    /// The content of the files.
    pub blobs: Arc<dyn BlobStore>,
    /// Authentication and the permission decision.
    pub auth: Authenticator,
    /// The API's settings.
    pub config: ApiConfig,
    /// Where file downloads note their revision for `last_downloaded_at`; the binary flushes it.
    pub downloads: Arc<DownloadRecorder>,
    /// Remote projects' upstreams, built on first use (`docs/REMOTE_PROJECTS.md`).
    pub remotes: Arc<RemoteProjects>,
}

impl fmt::Debug for AppState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppState")
            .field("blobs", &self.blobs)
            .field("auth", &self.auth)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}
