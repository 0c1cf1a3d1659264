//! Where the bytes of package files live: a content-addressed blob store.
//!
//! A file's content is stored once, under its sha256, whatever references point at it. An
//! upload goes through two steps so that a blob never appears half written and never disappears
//! under a metadata row that was just committed:
//!
//! 1. [`BlobStore::stage`] streams the body into a uniquely named staging object while computing
//!    its sha1 and sha256 in one pass, refusing it once it passes the size limit. (The md5 that
//!    Conan 1 clients read is computed later, once, when first asked for:
//!    [`crate::transfer::fill_md5`].)
//! 2. [`BlobStore::publish`] copies the staged content to its content address (a no-op if that
//!    blob exists already); on S3 a blob over 5 GiB, more than one copy request may move, is
//!    re-uploaded from the staging object instead, verified on the way. The caller then commits its metadata and only afterwards
//!    [`discard`](BlobStore::discard)s the staging object, so it can publish again if a garbage
//!    collector removed the blob between the publish and the commit.
//!
//! One implementation over `object_store` serves every backend ([`BlobStoreConfig`]): the local
//! file system (default), S3-compatible servers, and memory (for tests of the layers above).
//! [`open_blob_store`] picks it from the configuration.

mod config;
mod digest;
mod error;
mod layout;
mod object;

use std::fmt;
use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::stream::BoxStream;

pub use config::{BlobStoreConfig, FilesystemConfig, S3Config};
pub use digest::{Digests, InvalidSha256, Sha256Hex, md5_hex};
pub(crate) use digest::{Hasher, Md5Hasher};
pub use error::BlobError;

/// A content-addressed store of file contents, keyed by sha256.
///
/// Every method is safe to call concurrently, from any number of registry processes sharing the
/// same backend.
#[async_trait::async_trait]
pub trait BlobStore: Send + Sync + fmt::Debug {
    /// Streams `body` into a new staging object while computing its size, sha1 and sha256 (no
    /// md5) in one pass, holding at most a few parts (tens of MiB) in memory whatever the size.
    ///
    /// Refuses with [`BlobError::TooLarge`] as soon as more than `max_size` bytes have arrived,
    /// and with [`BlobError::Body`] when the stream yields an error (a client that disconnected);
    /// in both cases the partial staging object is removed. The stream must be `Send`: an
    /// actix-web payload is not, so the HTTP layer forwards its chunks through a bounded channel.
    async fn stage(
        &self,
        body: BoxStream<'static, Result<Bytes, std::io::Error>>,
        max_size: u64,
    ) -> Result<StagedBlob, BlobError>;

    /// Makes the staged content durable at its content address; a no-op when a blob of that
    /// sha256 and size exists already.
    ///
    /// Idempotent, and it keeps the staging object, so the caller can publish again after a
    /// garbage collector removed the blob before the caller's metadata committed. On the file
    /// system the blob file and its directory are fsynced before this returns.
    async fn publish(&self, staged: &StagedBlob) -> Result<(), BlobError>;

    /// Deletes the staging object of `staged`; idempotent.
    async fn discard(&self, staged: StagedBlob) -> Result<(), BlobError>;

    /// Whether a blob with this sha256 is published.
    async fn contains(&self, sha256: &Sha256Hex) -> Result<bool, BlobError>;

    /// Opens a blob for streaming, whole or only the bytes `range` (end exclusive).
    ///
    /// Ranges follow HTTP semantics: an end past the blob is clamped to its size (so
    /// `start..u64::MAX` reads from `start` to the end), while a range that starts at or after
    /// the end, or is empty, is [`BlobError::RangeNotSatisfiable`]. A missing blob is
    /// [`BlobError::NotFound`].
    async fn open(
        &self,
        sha256: &Sha256Hex,
        range: Option<Range<u64>>,
    ) -> Result<BlobReader, BlobError>;

    /// Deletes a published blob; deleting a missing blob succeeds.
    async fn delete(&self, sha256: &Sha256Hex) -> Result<(), BlobError>;

    /// Streams every published blob, in no particular order, for garbage collection and
    /// verification. Objects that do not follow the store's key layout are never reported.
    fn list(&self) -> BoxStream<'static, Result<BlobInfo, BlobError>>;

    /// Deletes the staging objects not modified for at least `age` (left by crashes, killed
    /// uploads, or callers that never discarded) and returns how many it removed.
    ///
    /// Choose `age` far longer than any upload plus metadata commit can take: a staging object
    /// purged before its publish makes that publish fail with [`BlobError::StagingGone`]. On S3,
    /// incomplete multipart uploads of crashed processes are invisible here; a bucket lifecycle
    /// rule (`AbortIncompleteMultipartUpload`) removes them.
    async fn purge_staging(&self, age: Duration) -> Result<usize, BlobError>;

    /// A URL that lets anyone holding it download the published blob directly from the backend
    /// for `expires_in` (an S3 presigned `GET`), or `None` when the backend cannot give one (file
    /// system, memory). The URL is computed locally; the blob is not checked to exist.
    async fn download_url(
        &self,
        sha256: &Sha256Hex,
        expires_in: Duration,
    ) -> Result<Option<String>, BlobError> {
        let _ = (sha256, expires_in);
        Ok(None)
    }

    /// The published blob's path under the file-system store's root, with `/` separators
    /// (`sha256/ab/cd/<sha256>`), for a front server that sends the file itself (nginx's
    /// `X-Accel-Redirect`); `None` for backends that keep no local files. The blob is not
    /// checked to exist.
    fn local_path(&self, sha256: &Sha256Hex) -> Option<String> {
        let _ = sha256;
        None
    }

    /// Checks that the backend answers (the root directory exists, or the bucket exists and the
    /// credentials may list it), for a readiness probe. On S3 a failing server is retried with
    /// backoff for up to a few minutes, so a probe should bound the call with a timeout.
    async fn check(&self) -> Result<(), BlobError>;
}

/// Opens the blob store that `config` describes, creating the file-system root if it is missing.
pub fn open_blob_store(config: &BlobStoreConfig) -> Result<Arc<dyn BlobStore>, BlobError> {
    Ok(Arc::new(open_object_store(config)?))
}

fn open_object_store(config: &BlobStoreConfig) -> Result<object::ObjectBlobStore, BlobError> {
    match config {
        BlobStoreConfig::Filesystem(fs) => object::ObjectBlobStore::filesystem(&fs.root),
        BlobStoreConfig::S3(s3) => object::ObjectBlobStore::s3(s3),
        BlobStoreConfig::Memory => Ok(object::ObjectBlobStore::memory()),
    }
}

/// Like [`open_blob_store`], but every blob larger than `copy_limit` bytes is published the way
/// S3 publishes blobs over 5 GiB (re-uploaded from its staging object, verified on the way),
/// whatever the backend. For tests of that path with small files; the registry never calls it.
pub fn open_blob_store_with_copy_limit(
    config: &BlobStoreConfig,
    copy_limit: u64,
) -> Result<Arc<dyn BlobStore>, BlobError> {
    Ok(Arc::new(
        open_object_store(config)?.with_copy_limit(copy_limit),
    ))
}

/// A body streamed into the store but not yet at its content address.
///
/// Only the store that staged it can make one, so its digests always describe the staged bytes:
/// publishing cannot put content under another sha256. Dropping it without
/// [`discard`](BlobStore::discard) leaves the staging object until
/// [`purge_staging`](BlobStore::purge_staging) removes it.
#[derive(Debug)]
pub struct StagedBlob {
    key: object_store::path::Path,
    sha256: Sha256Hex,
    digests: Digests,
}

impl StagedBlob {
    /// The size and digests of the staged content.
    #[must_use]
    pub fn digests(&self) -> &Digests {
        &self.digests
    }

    /// The staged content's sha256: the address [`BlobStore::publish`] puts it at.
    #[must_use]
    pub fn sha256(&self) -> &Sha256Hex {
        &self.sha256
    }
}

/// One published blob, as [`BlobStore::list`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BlobInfo {
    /// The blob's sha256.
    pub sha256: Sha256Hex,
    /// Its size in bytes.
    pub size: u64,
    /// When the object was last written, so a garbage collector can spare young blobs whose
    /// metadata may not be committed yet.
    pub last_modified: SystemTime,
}

/// An opened blob: its size, the bytes being served, and a stream of them.
#[non_exhaustive]
pub struct BlobReader {
    /// The blob's total size (for `Content-Range: bytes start-end/size`).
    pub size: u64,
    /// The bytes served, end exclusive: the whole blob or the resolved range.
    pub range: Range<u64>,
    /// The content, read as it is consumed; never the whole blob in memory.
    pub body: BoxStream<'static, Result<Bytes, BlobError>>,
}

impl BlobReader {
    /// Assembles a reader (for wrappers and test doubles of [`BlobStore`]).
    #[must_use]
    pub fn new(
        size: u64,
        range: Range<u64>,
        body: BoxStream<'static, Result<Bytes, BlobError>>,
    ) -> Self {
        Self { size, range, body }
    }

    /// How many bytes the body yields (`Content-Length`).
    #[must_use]
    pub fn content_length(&self) -> u64 {
        self.range.end - self.range.start
    }
}

impl fmt::Debug for BlobReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlobReader")
            .field("size", &self.size)
            .field("range", &self.range)
            .finish_non_exhaustive()
    }
}
