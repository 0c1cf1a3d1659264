//! The settings of the HTTP layer, as a plain `Deserialize + Default` struct the binary fills.

/// GitLab's default `conan_max_file_size`: 3 GiB.
const DEFAULT_MAX_UPLOAD_SIZE: u64 = 3 * 1024 * 1024 * 1024;

/// GitLab's cap on recipe search results.
const DEFAULT_SEARCH_LIMIT: usize = 500;

/// Settings of the Conan API.
///
/// ```toml
/// [api]
/// max_upload_size = 3221225472
/// external_url = "https://conan.example.com"
/// search_limit = 500
/// redirect_downloads = false
/// redirect_ttl_secs = 300
/// accel_redirect = "/_conan_blobs/"
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// The largest file one upload may carry, in bytes (default 3 GiB, GitLab's default). A
    /// larger `Content-Length` is refused before the body is read, and a body that grows past it
    /// is cut off and discarded.
    pub max_upload_size: u64,
    /// The URL clients reach the registry at (`https://conan.example.com`), for answers that
    /// must carry absolute URLs (the Conan v1 routes); the v2 routes never need it.
    pub external_url: Option<String>,
    /// The most references one recipe search returns (default 500, GitLab's cap).
    pub search_limit: usize,
    /// Answers file downloads with a `302` to a presigned URL of the blob store, so the bytes go
    /// straight from the store to the client (default false). Only S3 backends can sign; with
    /// others the server streams the file as usual. Conan clients follow the redirect and drop
    /// their `Authorization` header on the new host.
    pub redirect_downloads: bool,
    /// How long a presigned download URL stays valid, in seconds (default 300).
    pub redirect_ttl_secs: u64,
    /// For a registry behind nginx with the file-system store: the `internal` location under
    /// which nginx serves the blob directory (`/_conan_blobs/`). A download the caller may
    /// read is then answered with an empty 200 naming the file in `X-Accel-Redirect`, and
    /// nginx sends it itself (sendfile, ranges), as GitLab hands transfers to Workhorse. Unset
    /// (the default), the registry sends every file. Without such an nginx in front, clients
    /// would get empty files: never set it on a registry clients reach directly.
    pub accel_redirect: Option<String>,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            max_upload_size: DEFAULT_MAX_UPLOAD_SIZE,
            external_url: None,
            search_limit: DEFAULT_SEARCH_LIMIT,
            redirect_downloads: false,
            redirect_ttl_secs: 300,
            accel_redirect: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_unknown_fields() {
        let config: ApiConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(config, ApiConfig::default());
        assert_eq!(config.max_upload_size, 3_221_225_472);
        assert_eq!(config.search_limit, 500);
        assert!(serde_json::from_str::<ApiConfig>(r#"{"max_upload":1}"#).is_err());
    }
}
