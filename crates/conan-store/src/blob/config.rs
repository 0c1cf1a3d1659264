//! Which blob backend to use, as plain `Deserialize + Default` settings.

use std::fmt;
use std::path::PathBuf;

/// Which backend keeps the blobs, tagged by `kind`.
///
/// ```toml
/// [blobs]
/// kind = "s3"
/// endpoint = "https://minio.internal:9000"
/// bucket = "conan"
/// access_key_id = "registry"
/// secret_access_key = "..."
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum BlobStoreConfig {
    /// Files under a local directory (the default).
    Filesystem(FilesystemConfig),
    /// An S3-compatible object store (AWS S3, `MinIO`, Ceph RGW, Garage, ...).
    S3(S3Config),
    /// Process memory, lost on exit: for tests of the layers above.
    Memory,
}

impl BlobStoreConfig {
    /// The largest file this backend can store, in bytes, or `None` when only free space bounds
    /// it (file system, memory).
    ///
    /// On S3 it is 10,000 multipart parts of 8 MiB (83,886,080,000 bytes, about 78 GiB), under
    /// S3's 5 TiB object limit; blobs over 5 GiB are published by a verified re-upload rather
    /// than a copy, so every size up to this one can be published. A registry must not accept
    /// uploads larger than this.
    #[must_use]
    pub fn largest_object(&self) -> Option<u64> {
        match self {
            Self::S3(_) => Some(super::object::S3_LARGEST_OBJECT),
            Self::Filesystem(_) | Self::Memory => None,
        }
    }
}

impl Default for BlobStoreConfig {
    fn default() -> Self {
        Self::Filesystem(FilesystemConfig::default())
    }
}

/// Settings of the file-system backend.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesystemConfig {
    /// The directory that holds the blobs; created if missing. Default `./data/blobs` (the
    /// binary derives it from its data directory). Staging files live under it too, so that
    /// publishing is a rename on the same file system.
    pub root: PathBuf,
}

impl Default for FilesystemConfig {
    fn default() -> Self {
        Self {
            root: PathBuf::from("./data/blobs"),
        }
    }
}

/// Settings of the S3-compatible backend.
#[derive(Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct S3Config {
    /// The server's base URL, e.g. `https://minio.internal:9000`; unset means AWS S3 itself.
    pub endpoint: Option<String>,
    /// The bucket; it must exist already.
    pub bucket: String,
    /// The region the requests are signed for. Default `us-east-1`, which most S3-compatible
    /// servers accept.
    pub region: String,
    /// The access key id; unset (together with the secret) means the instance's or pod's
    /// credentials from the metadata service.
    pub access_key_id: Option<String>,
    /// The secret access key; never printed by `Debug`.
    pub secret_access_key: Option<String>,
    /// A session token for temporary credentials; never printed by `Debug`.
    pub session_token: Option<String>,
    /// A key prefix inside the bucket (e.g. `conan/prod`) so one bucket can serve several
    /// registries; unset uses the whole bucket.
    pub prefix: Option<String>,
    /// Path-style addressing (`https://host/bucket/key`) rather than virtual-hosted style
    /// (`https://bucket.host/key`). Default true: `MinIO`, Ceph and most self-hosted servers need
    /// it, and AWS still accepts it.
    pub path_style: bool,
    /// Allows a plain `http://` endpoint. Default false; only for test servers and trusted
    /// networks, since credentials and content then travel unencrypted.
    pub allow_http: bool,
}

impl Default for S3Config {
    fn default() -> Self {
        Self {
            endpoint: None,
            bucket: String::new(),
            region: "us-east-1".to_owned(),
            access_key_id: None,
            secret_access_key: None,
            session_token: None,
            prefix: None,
            path_style: true,
            allow_http: false,
        }
    }
}

impl fmt::Debug for S3Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redact = |secret: &Option<String>| secret.as_ref().map(|_| "<redacted>");
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("bucket", &self.bucket)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &redact(&self.secret_access_key))
            .field("session_token", &redact(&self.session_token))
            .field("prefix", &self.prefix)
            .field("path_style", &self.path_style)
            .field("allow_http", &self.allow_http)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_the_file_system_under_data() {
        assert_eq!(
            BlobStoreConfig::default(),
            BlobStoreConfig::Filesystem(FilesystemConfig {
                root: PathBuf::from("./data/blobs")
            })
        );
    }

    #[test]
    fn kinds_deserialize_from_a_tagged_table() {
        let fs: BlobStoreConfig =
            serde_json::from_str(r#"{"kind": "filesystem", "root": "/srv/blobs"}"#).unwrap();
        assert_eq!(
            fs,
            BlobStoreConfig::Filesystem(FilesystemConfig {
                root: PathBuf::from("/srv/blobs")
            })
        );
        let defaulted: BlobStoreConfig = serde_json::from_str(r#"{"kind": "filesystem"}"#).unwrap();
        assert_eq!(defaulted, BlobStoreConfig::default());
        let memory: BlobStoreConfig = serde_json::from_str(r#"{"kind": "memory"}"#).unwrap();
        assert_eq!(memory, BlobStoreConfig::Memory);

        let s3: BlobStoreConfig = serde_json::from_str(
            r#"{"kind": "s3", "endpoint": "http://127.0.0.1:9000", "bucket": "conan",
                "access_key_id": "id", "secret_access_key": "secret", "allow_http": true}"#,
        )
        .unwrap();
        let BlobStoreConfig::S3(s3) = s3 else {
            panic!("not s3: {s3:?}");
        };
        assert_eq!(s3.bucket, "conan");
        assert_eq!(s3.region, "us-east-1");
        assert!(s3.path_style);
        assert!(s3.allow_http);
        assert_eq!(s3.secret_access_key.as_deref(), Some("secret"));
    }

    #[test]
    fn unknown_kinds_and_misspelt_fields_are_refused() {
        assert!(serde_json::from_str::<BlobStoreConfig>(r#"{"kind": "gcs"}"#).is_err());
        assert!(
            serde_json::from_str::<BlobStoreConfig>(
                r#"{"kind": "s3", "bucket": "b", "secret_acces_key": "x"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn only_s3_bounds_the_object_size_by_its_parts() {
        assert_eq!(
            BlobStoreConfig::S3(S3Config::default()).largest_object(),
            Some(10_000 * 8 * 1024 * 1024)
        );
        assert_eq!(BlobStoreConfig::default().largest_object(), None);
        assert_eq!(BlobStoreConfig::Memory.largest_object(), None);
    }

    #[test]
    fn debug_never_prints_secrets() {
        let config = S3Config {
            access_key_id: Some("AKIDEXAMPLE".to_owned()),
            secret_access_key: Some("wJalrXUtnFEMI".to_owned()),
            session_token: Some("FwoGZXIvYXdzEJr".to_owned()),
            ..S3Config::default()
        };
        let printed = format!("{:?}", BlobStoreConfig::S3(config));
        assert!(printed.contains("AKIDEXAMPLE"), "{printed}");
        assert!(!printed.contains("wJalrXUtnFEMI"), "{printed}");
        assert!(!printed.contains("FwoGZXIvYXdzEJr"), "{printed}");
        assert!(printed.contains("<redacted>"), "{printed}");
    }
}
