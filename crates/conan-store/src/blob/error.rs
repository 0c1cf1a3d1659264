//! The error every blob store operation returns.

use std::error::Error as StdError;
use std::path::PathBuf;

use super::digest::Sha256Hex;

/// Why a blob store operation failed.
///
/// Backend errors (`object_store`, the file system) are kept as the `source()` so logs show the
/// whole chain, but no backend type is part of this API.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// The body was longer than the limit; nothing was kept. Maps to 413.
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
    },
    /// The upload body stream failed (typically the client disconnected); nothing was kept.
    #[error("reading the upload body failed")]
    Body {
        /// The stream's error.
        #[source]
        source: std::io::Error,
    },
    /// No blob has this sha256.
    #[error("blob {sha256} is not in the blob store")]
    NotFound {
        /// The missing blob.
        sha256: Sha256Hex,
    },
    /// The staging object of a staged upload is gone, so it cannot be published: it was discarded
    /// already, or [`purge_staging`](super::BlobStore::purge_staging) removed it as stale. The
    /// client has to upload the file again.
    #[error("staged upload {key} is no longer in the blob store (discarded or purged as stale)")]
    StagingGone {
        /// The staging object's key.
        key: String,
    },
    /// The staging object of a staged upload no longer holds the bytes that were staged (it was
    /// overwritten behind the store's back), so it was not published: nothing appeared at the
    /// content address. Only the re-uploading publish of large S3 blobs reads the staging object
    /// back, so only it can tell.
    #[error("staged upload {key} no longer holds the staged content; nothing was published")]
    StagingChanged {
        /// The staging object's key.
        key: String,
    },
    /// The requested byte range does not overlap the blob. Maps to 416 with
    /// `Content-Range: bytes */{size}`.
    #[error("byte range {start}..{end} is not satisfiable for a blob of {size} bytes")]
    RangeNotSatisfiable {
        /// The requested start (inclusive).
        start: u64,
        /// The requested end (exclusive).
        end: u64,
        /// The blob's size.
        size: u64,
    },
    /// The configuration cannot work; the message says which setting to change.
    #[error("invalid blob store configuration: {message}")]
    Config {
        /// What is wrong.
        message: String,
        /// The underlying error, if any.
        #[source]
        source: Option<Box<dyn StdError + Send + Sync>>,
    },
    /// A local file-system operation outside `object_store` failed (creating the root, fsync).
    #[error("blob store could not {action} {}", path.display())]
    Io {
        /// What was being done, as a verb phrase.
        action: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The backend failed (unreachable server, denied credentials, full disk).
    #[error("blob store backend failed to {operation} {key}")]
    Backend {
        /// What was being done, as a verb phrase.
        operation: &'static str,
        /// The object key concerned.
        key: String,
        /// The backend's error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
}

impl BlobError {
    /// Whether the backend could not be reached or answered nothing in time (connection
    /// refused, reset or timed out, after the S3 client's own retries): an outage that a retry
    /// later may get past, not a fault of the request or of this server.
    #[must_use]
    pub fn is_unreachable(&self) -> bool {
        let Self::Backend { source, .. } = self else {
            return false;
        };
        let mut current: Option<&(dyn StdError + 'static)> = Some(source.as_ref());
        while let Some(error) = current {
            if let Some(http) = error.downcast_ref::<object_store::client::HttpError>() {
                use object_store::client::HttpErrorKind;
                if matches!(
                    http.kind(),
                    HttpErrorKind::Connect
                        | HttpErrorKind::Request
                        | HttpErrorKind::Timeout
                        | HttpErrorKind::Interrupted
                ) {
                    return true;
                }
            }
            if let Some(io) = error.downcast_ref::<std::io::Error>() {
                use std::io::ErrorKind;
                if matches!(
                    io.kind(),
                    ErrorKind::ConnectionRefused
                        | ErrorKind::ConnectionReset
                        | ErrorKind::ConnectionAborted
                        | ErrorKind::NotConnected
                        | ErrorKind::TimedOut
                ) {
                    return true;
                }
            }
            current = error.source();
        }
        false
    }

    /// Wraps a backend error without exposing its type.
    pub(crate) fn backend(
        operation: &'static str,
        key: &dyn std::fmt::Display,
        source: object_store::Error,
    ) -> Self {
        Self::Backend {
            operation,
            key: key.to_string(),
            source: Box::new(source),
        }
    }

    /// A configuration error without an underlying cause.
    pub(crate) fn config(message: impl Into<String>) -> Self {
        Self::Config {
            message: message.into(),
            source: None,
        }
    }

    /// Whether this is [`BlobError::NotFound`].
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        matches!(self, Self::NotFound { .. })
    }
}
