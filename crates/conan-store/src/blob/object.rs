//! The one [`BlobStore`] implementation, over `object_store`, for every backend.
//!
//! Staging differs by backend only inside `object_store`:
//! - File system: a body up to one part is written by `put` (a temporary `staging/<uuid>#1`
//!   file, fsynced, renamed into place); a larger one by a multipart upload into the same kind
//!   of temporary file, renamed on completion. Publishing hard-links the staging file to a
//!   temporary name beside the blob and renames it over the blob, so the blob appears whole or
//!   not at all and shares the staging file's already-written bytes (no second copy).
//! - S3: a small body is one `PUT`; a larger one a multipart upload whose object appears only
//!   when `CompleteMultipartUpload` succeeds. Publishing a blob of up to 5 GiB is a server-side
//!   `CopyObject`; S3 copies nothing larger in one request, so a larger blob is published by
//!   re-uploading it (below).
//! - Memory: the same calls on a map.
//!
//! # Blobs over 5 GiB on S3
//!
//! S3's own answer to large copies, `UploadPartCopy` with byte ranges, is not offered by
//! `object_store` (its multipart copy copies the whole source into one part, which has the same
//! 5 GiB limit). Staging a large body directly under its final key is impossible too: the key is
//! the sha256, known only once the last byte has arrived. So a blob larger than
//! [`S3_COPY_LIMIT`] is published by streaming its staging object (`GET`) into a multipart upload
//! at its content address, [`PART_SIZE`] parts with the same back pressure as staging. The
//! guarantees stay those of a copy:
//! - nothing appears at the content address until it is verified: the bytes are hashed again on
//!   the way, and the upload is completed (the only moment the object becomes visible) only
//!   when size, sha1 and sha256 are exactly the staged ones; otherwise it is aborted and
//!   [`BlobError::StagingChanged`] returned;
//! - concurrent publishers of one sha256 each complete an upload of the same bytes, and S3
//!   makes one whole object the winner, as with concurrent copies;
//! - the garbage collector's protocol (`crate::transfer`) sees no difference: a publish is
//!   still "the blob exists when this returns", repeatable from the kept staging object.
//!
//! The cost is moving the bytes twice between the registry and S3 for those blobs only, and a
//! publish that takes as long as an upload of the file. The largest blob S3 can then hold is
//! [`MAX_PARTS`] parts of [`PART_SIZE`] (about 78 GiB, under S3's 5 TiB object limit); the
//! binary refuses at start-up a maximum upload size above it
//! ([`super::BlobStoreConfig::largest_object`]). The file system needs none of this: publishing
//! is a hard link and a rename whatever the size.

use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt as _, TryStreamExt as _};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::prefix::PrefixStore;
use object_store::signer::Signer as _;
use object_store::{
    ClientOptions, GetOptions, GetRange, ObjectStore, ObjectStoreExt as _, PutPayload,
    WriteMultipart,
};

use super::digest::{BackgroundHasher, Sha256Hex};
use super::error::BlobError;
use super::layout::{self, BLOB_PREFIX, STAGING_PREFIX};
use super::{BlobInfo, BlobReader, BlobStore, S3Config, StagedBlob};

/// The size of every multipart part but the last. S3 requires at least 5 MiB (except the last
/// part) and at most [`MAX_PARTS`] parts, so 8 MiB parts allow objects up to about 78 GiB; some
/// S3-compatible servers (R2) further require equal part sizes, which fixed parts give.
const PART_SIZE: usize = 8 * 1024 * 1024;

/// The most parts one S3 multipart upload may have.
const MAX_PARTS: u64 = 10_000;

/// S3's largest object: 5 TiB.
const S3_MAX_OBJECT: u64 = 5 * 1024 * 1024 * 1024 * 1024;

/// The largest object one S3 `CopyObject` copies: 5 GiB. Larger blobs are published by
/// re-uploading them (see the module docs).
pub(crate) const S3_COPY_LIMIT: u64 = 5 * 1024 * 1024 * 1024;

/// The largest blob the S3 backend can store: [`MAX_PARTS`] parts of [`PART_SIZE`], within S3's
/// object limit.
pub(crate) const S3_LARGEST_OBJECT: u64 = {
    let multipart = MAX_PARTS * PART_SIZE as u64;
    if multipart < S3_MAX_OBJECT {
        multipart
    } else {
        S3_MAX_OBJECT
    }
};

// The re-uploading publish is reachable below the largest object, and that is under S3's limit.
const _: () = assert!(S3_COPY_LIMIT < S3_LARGEST_OBJECT && S3_LARGEST_OBJECT <= S3_MAX_OBJECT);

/// How many parts of one upload may be in flight at once. With the part being filled, one upload
/// holds at most `(MAX_PARTS_IN_FLIGHT + 1) * PART_SIZE` = 24 MiB, whatever the body's size.
const MAX_PARTS_IN_FLIGHT: usize = 2;

/// How long an S3 request may wait for the next bytes of a response before it is abandoned
/// (and retried). This replaces `object_store`'s default 30-second limit on a whole request,
/// which would cut every download that a slow client takes longer than that to read.
const S3_READ_TIMEOUT: Duration = Duration::from_mins(1);

/// How long connecting to the S3 server may take.
const S3_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How many bytes one read of a local blob returns. `object_store` reads local files 8 KiB at a
/// time, each on the blocking pool, which caps a download far below the disk's speed; one
/// blocking read per MiB costs nothing next to the copy.
const LOCAL_READ_CHUNK: u64 = 1024 * 1024;

/// An IO error on a local blob file.
fn local_io_error(action: &'static str, path: &FsPath, source: std::io::Error) -> BlobError {
    BlobError::Io {
        action,
        path: path.to_owned(),
        source,
    }
}

/// Opens a published blob of the file-system backend directly and streams it in large reads.
async fn open_local(
    root: &FsPath,
    sha256: &Sha256Hex,
    range: Option<std::ops::Range<u64>>,
) -> Result<BlobReader, BlobError> {
    use std::io::{Read as _, Seek as _, SeekFrom};

    let path = root.join(layout::blob_file(sha256));
    let opened = {
        let file_path = path.clone();
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(file_path)?;
            let size = file.metadata()?.len();
            Ok::<_, std::io::Error>((file, size))
        })
        .await
        .map_err(|e| local_io_error("open", &path, std::io::Error::other(e)))?
    };
    let (mut file, size) = match opened {
        Ok(opened) => opened,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(BlobError::NotFound {
                sha256: sha256.clone(),
            });
        }
        Err(error) => return Err(local_io_error("open", &path, error)),
    };
    let served = match &range {
        None => 0..size,
        Some(requested) => {
            layout::resolve_range(requested, size).ok_or(BlobError::RangeNotSatisfiable {
                start: requested.start,
                end: requested.end,
                size,
            })?
        }
    };
    if served.start > 0 {
        file.seek(SeekFrom::Start(served.start))
            .map_err(|e| local_io_error("seek in", &path, e))?;
    }
    let remaining = served.end - served.start;
    let body = futures::stream::try_unfold(
        (file, remaining, path),
        |(file, remaining, path)| async move {
            if remaining == 0 {
                return Ok(None);
            }
            let want = remaining.min(LOCAL_READ_CHUNK);
            let read_path = path.clone();
            let (file, chunk) = crate::bulk::spawn(move || {
                let mut chunk = Vec::with_capacity(want as usize);
                let mut limited = file.take(want);
                limited.read_to_end(&mut chunk)?;
                Ok::<_, std::io::Error>((limited.into_inner(), chunk))
            })
            .await
            .map_err(std::io::Error::other)
            .and_then(|read| read)
            .map_err(|e| local_io_error("read", &read_path, e))?;
            if chunk.is_empty() {
                // The file shrank under us: the blob store was tampered with.
                return Err(local_io_error(
                    "read",
                    &path,
                    std::io::Error::from(std::io::ErrorKind::UnexpectedEof),
                ));
            }
            let left = remaining - chunk.len() as u64;
            Ok(Some((Bytes::from(chunk), (file, left, path))))
        },
    )
    .boxed();
    Ok(BlobReader::new(size, served, body))
}

/// A [`BlobStore`] over any `object_store` backend.
pub(crate) struct ObjectBlobStore {
    store: Arc<dyn ObjectStore>,
    /// The canonical root directory of the file-system backend, for the two things
    /// `object_store` does not do for us: an explicit fsync of published blobs, and purging the
    /// temporary files of interrupted uploads, which its listings hide.
    local_root: Option<PathBuf>,
    /// What `Debug` shows: the backend and where it points, never credentials.
    description: String,
    /// The S3 client and the key prefix, for presigned download URLs.
    signer: Option<(AmazonS3, Option<Path>)>,
    /// Blobs larger than this are published by re-uploading them rather than by a copy
    /// ([`S3_COPY_LIMIT`] on S3); `None`: always by a copy (file system, memory).
    copy_limit: Option<u64>,
}

impl std::fmt::Debug for ObjectBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectBlobStore")
            .field("backend", &self.description)
            .finish_non_exhaustive()
    }
}

impl ObjectBlobStore {
    /// The file-system backend rooted at `root`, created if missing.
    pub(crate) fn filesystem(root: &FsPath) -> Result<Self, BlobError> {
        std::fs::create_dir_all(root).map_err(|source| BlobError::Io {
            action: "create the blob directory",
            path: root.to_owned(),
            source,
        })?;
        let canonical = std::fs::canonicalize(root).map_err(|source| BlobError::Io {
            action: "resolve the blob directory",
            path: root.to_owned(),
            source,
        })?;
        // `with_fsync(true)` makes object_store 0.14 `sync_all` each file it writes before
        // renaming it into place and fsync the directories whose entries it changes (including
        // ones it creates), for `put`, multipart completion and `copy`. Without it, it never
        // fsyncs. `publish` still syncs the blob file and its directory itself, so durability of
        // a published blob does not hinge on that option keeping its meaning across releases.
        let store = LocalFileSystem::new_with_prefix(&canonical)
            .map_err(|source| BlobError::Config {
                message: format!("the blob directory {} cannot be used", canonical.display()),
                source: Some(Box::new(source)),
            })?
            .with_fsync(true);
        Ok(Self {
            store: Arc::new(store),
            description: format!("filesystem {}", canonical.display()),
            local_root: Some(canonical),
            signer: None,
            copy_limit: None,
        })
    }

    /// The in-memory backend.
    pub(crate) fn memory() -> Self {
        Self {
            store: Arc::new(InMemory::new()),
            local_root: None,
            description: "memory".to_owned(),
            signer: None,
            copy_limit: None,
        }
    }

    /// The S3-compatible backend.
    pub(crate) fn s3(config: &S3Config) -> Result<Self, BlobError> {
        if config.bucket.is_empty() {
            return Err(BlobError::config("the S3 backend needs `bucket`"));
        }
        if config.access_key_id.is_some() != config.secret_access_key.is_some() {
            return Err(BlobError::config(
                "set both `access_key_id` and `secret_access_key`, or neither to use the \
                 instance's credentials",
            ));
        }
        if let Some(endpoint) = &config.endpoint
            && endpoint.starts_with("http://")
            && !config.allow_http
        {
            return Err(BlobError::config(format!(
                "the S3 endpoint {endpoint} is plain http; use https, or set `allow_http = true` \
                 for a test server"
            )));
        }

        // The client options go first: `with_allow_http` below edits them in place.
        let client = ClientOptions::new()
            .with_timeout_disabled()
            .with_read_timeout(S3_READ_TIMEOUT)
            .with_connect_timeout(S3_CONNECT_TIMEOUT);
        let mut builder = AmazonS3Builder::new()
            .with_client_options(client)
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_virtual_hosted_style_request(!config.path_style)
            .with_allow_http(config.allow_http);
        if let Some(endpoint) = &config.endpoint {
            builder = builder.with_endpoint(endpoint);
        }
        if let (Some(id), Some(secret)) = (&config.access_key_id, &config.secret_access_key) {
            builder = builder
                .with_access_key_id(id)
                .with_secret_access_key(secret);
        }
        if let Some(token) = &config.session_token {
            builder = builder.with_token(token);
        }
        let s3 = builder.build().map_err(|source| BlobError::Config {
            message: format!(
                "the S3 settings for bucket {} are not usable",
                config.bucket
            ),
            source: Some(Box::new(source)),
        })?;

        let endpoint = config.endpoint.as_deref().unwrap_or("AWS");
        let mut description = format!("s3 {endpoint} bucket {}", config.bucket);
        let prefix = match config.prefix.as_deref() {
            None | Some("") => None,
            Some(prefix) => Some(Path::parse(prefix).map_err(|source| BlobError::Config {
                message: format!(
                    "the S3 prefix {prefix:?} is not a valid key prefix (use segments \
                     separated by single `/`, without `.` or `..`)"
                ),
                source: Some(Box::new(source)),
            })?),
        };
        let store: Arc<dyn ObjectStore> = match &prefix {
            None => Arc::new(s3.clone()),
            Some(prefix) => {
                description = format!("{description} prefix {prefix}");
                Arc::new(PrefixStore::new(s3.clone(), prefix.clone()))
            }
        };
        Ok(Self {
            store,
            local_root: None,
            description,
            signer: Some((s3, prefix)),
            copy_limit: Some(S3_COPY_LIMIT),
        })
    }

    /// Publishes blobs larger than `limit` bytes by re-uploading them, whatever the backend: the
    /// path S3 takes above 5 GiB, made reachable by small blobs for tests.
    pub(crate) fn with_copy_limit(mut self, limit: u64) -> Self {
        self.copy_limit = Some(limit);
        self
    }

    /// Whether `size` bytes are too many for one copy on this backend.
    fn needs_reupload(&self, size: u64) -> bool {
        self.copy_limit.is_some_and(|limit| size > limit)
    }

    /// Starts a multipart upload to `key`.
    async fn start_multipart(&self, key: &Path) -> Result<Upload, BlobError> {
        let upload = self
            .store
            .put_multipart(key)
            .await
            .map_err(|e| BlobError::backend("start the upload of", key, e))?;
        Ok(Upload(Some(WriteMultipart::new_with_chunk_size(
            upload, PART_SIZE,
        ))))
    }

    /// Publishes `staged` at `dest` by streaming its staging object into a multipart upload
    /// that is completed only if the bytes read back are exactly the staged content (module
    /// docs: blobs over 5 GiB on S3).
    async fn publish_by_upload(&self, staged: &StagedBlob, dest: &Path) -> Result<(), BlobError> {
        let source = match self.store.get(&staged.key).await {
            Ok(source) => source,
            Err(object_store::Error::NotFound { .. }) => {
                return Err(BlobError::StagingGone {
                    key: staged.key.to_string(),
                });
            }
            Err(e) => return Err(BlobError::backend("read", &staged.key, e)),
        };
        let mut upload = self.start_multipart(dest).await?;
        match copy_verified(source.into_stream(), &mut upload, staged, dest).await {
            // `finish` aborts the upload itself when it fails.
            Ok(()) => upload
                .finish()
                .await
                .map_err(|e| BlobError::backend("publish", dest, e)),
            Err(error) => {
                abort(Some(upload)).await;
                Err(error)
            }
        }
    }

    /// Flushes a published blob file and its directory to disk.
    async fn sync_published(root: &FsPath, sha256: &Sha256Hex) -> Result<(), BlobError> {
        let file = root.join(layout::blob_file(sha256));
        let path = file.clone();
        tokio::task::spawn_blocking(move || sync_file_and_parent(&file))
            .await
            .map_err(|join| BlobError::Io {
                action: "fsync",
                path,
                source: std::io::Error::other(join),
            })?
    }

    /// Purges the file-system staging directory directly, because `object_store` listings hide
    /// the `<uuid>#<n>` temporary files that interrupted uploads leave behind.
    async fn purge_local_staging(root: &FsPath, cutoff: SystemTime) -> Result<usize, BlobError> {
        let dir = root.join(STAGING_PREFIX);
        let path = dir.clone();
        tokio::task::spawn_blocking(move || purge_dir(&dir, cutoff))
            .await
            .map_err(|join| BlobError::Io {
                action: "purge",
                path,
                source: std::io::Error::other(join),
            })?
    }

    /// Purges staging objects through listings (S3, memory).
    async fn purge_listed_staging(&self, cutoff: SystemTime) -> Result<usize, BlobError> {
        let prefix = Path::from(STAGING_PREFIX);
        let stale: Vec<Path> = self
            .store
            .list(Some(&prefix))
            .try_filter_map(|meta| async move {
                Ok((SystemTime::from(meta.last_modified) <= cutoff).then_some(meta.location))
            })
            .try_collect()
            .await
            .map_err(|e| BlobError::backend("list", &prefix, e))?;
        let mut removed = 0;
        for key in stale {
            match self.store.delete(&key).await {
                Ok(()) => removed += 1,
                // Discarded concurrently by its upload: gone is what we wanted.
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(BlobError::backend("delete", &key, e)),
            }
        }
        Ok(removed)
    }
}

#[async_trait::async_trait]
impl BlobStore for ObjectBlobStore {
    async fn stage(
        &self,
        mut body: BoxStream<'static, Result<Bytes, std::io::Error>>,
        max_size: u64,
    ) -> Result<StagedBlob, BlobError> {
        let key = layout::new_staging_key();
        let mut hasher = BackgroundHasher::default();
        let mut received: u64 = 0;
        // Most Conan files are small, so the first part is held back: a body that ends within
        // it is written with one `put` (one request on S3 instead of three), and only a larger
        // one becomes a multipart upload.
        let mut first_part: Vec<Bytes> = Vec::new();
        let mut first_part_len = 0;
        let mut upload: Option<Upload> = None;

        while let Some(next) = body.next().await {
            let chunk = match next {
                Ok(chunk) => chunk,
                Err(source) => {
                    abort(upload).await;
                    return Err(BlobError::Body { source });
                }
            };
            received = received.saturating_add(chunk.len() as u64);
            if received > max_size {
                abort(upload).await;
                return Err(BlobError::TooLarge { limit: max_size });
            }
            if let Err(source) = hasher.update(chunk.clone()).await {
                abort(upload).await;
                return Err(BlobError::Io {
                    action: "hash the upload",
                    path: PathBuf::from(key.as_ref()),
                    source,
                });
            }
            if let Some(active) = upload.as_mut() {
                // Back pressure: stop reading the body while enough parts are in flight.
                if let Err(e) = active.wait_for_capacity().await {
                    abort(upload.take()).await;
                    return Err(BlobError::backend("upload a part of", &key, e));
                }
                active.put(chunk);
            } else {
                first_part_len += chunk.len();
                first_part.push(chunk);
                if first_part_len >= PART_SIZE {
                    let mut started = self.start_multipart(&key).await?;
                    for chunk in first_part.drain(..) {
                        started.put(chunk);
                    }
                    upload = Some(started);
                }
            }
        }

        match upload {
            // `finish` aborts the upload itself when it fails.
            Some(upload) => upload.finish().await,
            None => self
                .store
                .put(&key, PutPayload::from_iter(first_part))
                .await
                .map(drop),
        }
        .map_err(|e| BlobError::backend("write", &key, e))?;

        let (digests, sha256) = hasher.finish().await.map_err(|source| BlobError::Io {
            action: "hash the upload",
            path: PathBuf::from(key.as_ref()),
            source,
        })?;
        Ok(StagedBlob {
            key,
            sha256,
            digests,
        })
    }

    async fn publish(&self, staged: &StagedBlob) -> Result<(), BlobError> {
        let sha256 = &staged.sha256;
        let dest = layout::blob_key(sha256);
        let present = match self.store.head(&dest).await {
            // A blob of another size under this sha256 is damaged (truncated by a disk failure,
            // or written by hand); overwriting it with the verified content repairs it.
            Ok(meta) => meta.size == staged.digests.size,
            Err(object_store::Error::NotFound { .. }) => false,
            Err(e) => return Err(BlobError::backend("look up", &dest, e)),
        };
        if !present && self.needs_reupload(staged.digests.size) {
            self.publish_by_upload(staged, &dest).await?;
        } else if !present {
            // Copying over an existing object is atomic on every backend (rename on the file
            // system, CopyObject on S3), and concurrent publishers of one sha256 write the same
            // bytes, so no conditional copy is needed.
            match self.store.copy(&staged.key, &dest).await {
                Ok(()) => {}
                Err(object_store::Error::NotFound { .. }) => {
                    return Err(BlobError::StagingGone {
                        key: staged.key.to_string(),
                    });
                }
                Err(e) => return Err(BlobError::backend("publish", &dest, e)),
            }
        }
        if let Some(root) = &self.local_root {
            Self::sync_published(root, sha256).await?;
        }
        Ok(())
    }

    async fn discard(&self, staged: StagedBlob) -> Result<(), BlobError> {
        match self.store.delete(&staged.key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(BlobError::backend("delete", &staged.key, e)),
        }
    }

    async fn contains(&self, sha256: &Sha256Hex) -> Result<bool, BlobError> {
        let key = layout::blob_key(sha256);
        match self.store.head(&key).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(BlobError::backend("look up", &key, e)),
        }
    }

    async fn open(
        &self,
        sha256: &Sha256Hex,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<BlobReader, BlobError> {
        if let Some(root) = &self.local_root {
            return open_local(root, sha256, range).await;
        }
        let key = layout::blob_key(sha256);
        let not_found = || BlobError::NotFound {
            sha256: sha256.clone(),
        };
        let options = GetOptions {
            range: range.clone().map(GetRange::Bounded),
            ..GetOptions::default()
        };
        // Ranged reads go straight to the backend (one request); only a failure needs the size,
        // to tell an unsatisfiable range from a real error, since backends report that case in
        // different ways.
        let result = match self.store.get_opts(&key, options).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Err(not_found()),
            Err(e) => {
                let Some(requested) = range else {
                    return Err(BlobError::backend("read", &key, e));
                };
                return match self.store.head(&key).await {
                    Ok(meta) if layout::resolve_range(&requested, meta.size).is_none() => {
                        Err(BlobError::RangeNotSatisfiable {
                            start: requested.start,
                            end: requested.end,
                            size: meta.size,
                        })
                    }
                    Err(object_store::Error::NotFound { .. }) => Err(not_found()),
                    Ok(_) | Err(_) => Err(BlobError::backend("read", &key, e)),
                };
            }
        };

        let size = result.meta.size;
        let served = result.range.clone();
        if let Some(requested) = &range {
            // Backends differ on empty ranges (some serve the whole object), so the contract is
            // enforced here rather than trusted.
            if layout::resolve_range(requested, size) != Some(served.clone()) {
                return Err(BlobError::RangeNotSatisfiable {
                    start: requested.start,
                    end: requested.end,
                    size,
                });
            }
        }
        let body = result
            .into_stream()
            .map_err(move |e| BlobError::backend("read", &key, e))
            .boxed();
        Ok(BlobReader::new(size, served, body))
    }

    async fn delete(&self, sha256: &Sha256Hex) -> Result<(), BlobError> {
        let key = layout::blob_key(sha256);
        match self.store.delete(&key).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(BlobError::backend("delete", &key, e)),
        }
    }

    fn list(&self) -> BoxStream<'static, Result<BlobInfo, BlobError>> {
        let prefix = Path::from(BLOB_PREFIX);
        self.store
            .list(Some(&prefix))
            .map_err(move |e| BlobError::backend("list", &prefix, e))
            .try_filter_map(|meta| async move {
                Ok(
                    layout::parse_blob_key(&meta.location).map(|sha256| BlobInfo {
                        sha256,
                        size: meta.size,
                        last_modified: meta.last_modified.into(),
                    }),
                )
            })
            .boxed()
    }

    async fn purge_staging(&self, age: Duration) -> Result<usize, BlobError> {
        // An age reaching before the epoch covers no object at all.
        let Some(cutoff) = SystemTime::now().checked_sub(age) else {
            return Ok(0);
        };
        match &self.local_root {
            Some(root) => Self::purge_local_staging(root, cutoff).await,
            None => self.purge_listed_staging(cutoff).await,
        }
    }

    async fn download_url(
        &self,
        sha256: &Sha256Hex,
        expires_in: Duration,
    ) -> Result<Option<String>, BlobError> {
        let Some((s3, prefix)) = &self.signer else {
            return Ok(None);
        };
        let key = layout::blob_key(sha256);
        let key = match prefix {
            Some(prefix) => prefix.parts().chain(key.parts()).collect(),
            None => key,
        };
        let url = s3
            .signed_url(http::Method::GET, &key, expires_in)
            .await
            .map_err(|e| BlobError::backend("sign a download URL for", &key, e))?;
        Ok(Some(url.to_string()))
    }

    fn local_path(&self, sha256: &Sha256Hex) -> Option<String> {
        self.local_root
            .as_ref()
            .map(|_| layout::blob_key(sha256).to_string())
    }

    async fn check(&self) -> Result<(), BlobError> {
        if let Some(root) = &self.local_root {
            // object_store lists a missing directory as empty, so look at the root itself.
            let metadata = tokio::fs::metadata(root)
                .await
                .map_err(|source| BlobError::Io {
                    action: "find the blob directory",
                    path: root.clone(),
                    source,
                })?;
            if !metadata.is_dir() {
                return Err(BlobError::Io {
                    action: "use the blob directory",
                    path: root.clone(),
                    source: std::io::Error::other("not a directory"),
                });
            }
            return Ok(());
        }
        // A listing, unlike a `HEAD` of some key, fails when the bucket itself is missing.
        self.store
            .list_with_delimiter(None)
            .await
            .map(drop)
            .map_err(|e| BlobError::backend("list", &"the store's root", e))
    }
}

/// A multipart upload in progress, aborted in the background if dropped unfinished (the request
/// handler was cancelled): S3 keeps the parts of an upload nobody aborts, and bills for them.
#[derive(Default)]
struct Upload(Option<WriteMultipart>);

impl Upload {
    async fn wait_for_capacity(&mut self) -> object_store::Result<()> {
        match self.0.as_mut() {
            Some(upload) => upload.wait_for_capacity(MAX_PARTS_IN_FLIGHT).await,
            None => Ok(()),
        }
    }

    fn put(&mut self, chunk: Bytes) {
        if let Some(upload) = self.0.as_mut() {
            upload.put(chunk);
        }
    }

    async fn finish(mut self) -> object_store::Result<()> {
        match self.0.take() {
            Some(upload) => upload.finish().await.map(drop),
            None => Ok(()),
        }
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if let Some(upload) = self.0.take()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            // Best effort: a failed abort leaves parts that a bucket lifecycle rule removes.
            runtime.spawn(async move { upload.abort().await });
        }
    }
}

/// Feeds `source` (the staging object of `staged`) into `upload` while hashing it, and checks
/// that it is exactly the staged content; the caller completes or aborts the upload.
async fn copy_verified(
    mut source: BoxStream<'static, object_store::Result<Bytes>>,
    upload: &mut Upload,
    staged: &StagedBlob,
    dest: &Path,
) -> Result<(), BlobError> {
    let mut hasher = BackgroundHasher::default();
    while let Some(next) = source.next().await {
        let chunk = next.map_err(|e| BlobError::backend("read", &staged.key, e))?;
        hasher
            .update(chunk.clone())
            .await
            .map_err(|source| BlobError::Io {
                action: "hash the blob being published",
                path: PathBuf::from(staged.key.as_ref()),
                source,
            })?;
        upload
            .wait_for_capacity()
            .await
            .map_err(|e| BlobError::backend("upload a part of", dest, e))?;
        upload.put(chunk);
    }
    let (digests, _) = hasher.finish().await.map_err(|source| BlobError::Io {
        action: "hash the blob being published",
        path: PathBuf::from(staged.key.as_ref()),
        source,
    })?;
    if digests == staged.digests {
        Ok(())
    } else {
        Err(BlobError::StagingChanged {
            key: staged.key.to_string(),
        })
    }
}

/// Aborts an upload, if one was started, before an error is returned.
///
/// A failure to abort is not reported: the caller's error (too large, client gone) is the one
/// that matters, and what is left is removed by `purge_staging` or a bucket lifecycle rule.
async fn abort(upload: Option<Upload>) {
    if let Some(mut upload) = upload
        && let Some(upload) = upload.0.take()
    {
        let _aborted = upload.abort().await;
    }
}

/// Flushes `file` and the directory entry that names it to disk.
fn sync_file_and_parent(file: &FsPath) -> Result<(), BlobError> {
    let sync = |path: &FsPath| std::fs::File::open(path).and_then(|handle| handle.sync_all());
    sync(file).map_err(|source| BlobError::Io {
        action: "fsync",
        path: file.to_owned(),
        source,
    })?;
    // Directories cannot be opened for syncing on Windows; the product runs on Unix.
    #[cfg(unix)]
    if let Some(parent) = file.parent() {
        sync(parent).map_err(|source| BlobError::Io {
            action: "fsync",
            path: parent.to_owned(),
            source,
        })?;
    }
    Ok(())
}

/// Removes the regular files of `dir` last modified at or before `cutoff`.
fn purge_dir(dir: &FsPath, cutoff: SystemTime) -> Result<usize, BlobError> {
    let io_error = |action, path: &FsPath| {
        let path = path.to_owned();
        move |source| BlobError::Io {
            action,
            path,
            source,
        }
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        // Nothing was ever staged.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(io_error("list", dir)(e)),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry.map_err(io_error("list", dir))?;
        let path = entry.path();
        // `symlink_metadata` so a planted symlink is never followed; only plain files are ours.
        let metadata = match std::fs::symlink_metadata(&path) {
            Ok(metadata) => metadata,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(io_error("inspect", &path)(e)),
        };
        let modified = metadata
            .modified()
            .map_err(io_error("read the modification time of", &path))?;
        if !metadata.is_file() || modified > cutoff {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => removed += 1,
            // Discarded or completed concurrently: gone is what we wanted.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error("delete", &path)(e)),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blob::S3Config;

    const MIB: usize = 1024 * 1024;

    fn s3_store() -> ObjectBlobStore {
        ObjectBlobStore::s3(&S3Config {
            endpoint: Some("https://s3.example.invalid".to_owned()),
            bucket: "conan".to_owned(),
            ..S3Config::default()
        })
        .unwrap()
    }

    fn body(data: &[u8]) -> BoxStream<'static, Result<Bytes, std::io::Error>> {
        let chunks: Vec<_> = data
            .chunks(MIB + 7)
            .map(|chunk| Ok(Bytes::copy_from_slice(chunk)))
            .collect();
        futures::stream::iter(chunks).boxed()
    }

    /// Varied bytes, so a part in the wrong place changes the digest.
    fn content(len: usize) -> Vec<u8> {
        (0..len)
            .map(|i| (i % 251) as u8 ^ (i >> 12) as u8)
            .collect()
    }

    async fn read_all(store: &ObjectBlobStore, sha256: &Sha256Hex) -> Vec<u8> {
        let reader = store.open(sha256, None).await.unwrap();
        let chunks: Vec<Bytes> = reader.body.try_collect().await.unwrap();
        chunks.concat()
    }

    #[test]
    fn s3_limits_cover_every_size_up_to_ten_thousand_parts() {
        assert_eq!(S3_LARGEST_OBJECT, 10_000 * 8 * 1024 * 1024);
        assert_eq!(S3_LARGEST_OBJECT.div_ceil(PART_SIZE as u64), MAX_PARTS);
        // One byte more would need a part more than S3 allows.
        assert_eq!(
            (S3_LARGEST_OBJECT + 1).div_ceil(PART_SIZE as u64),
            MAX_PARTS + 1
        );
    }

    #[test]
    fn only_s3_blobs_over_five_gib_are_reuploaded_unless_a_limit_is_given() {
        let s3 = s3_store();
        assert!(!s3.needs_reupload(S3_COPY_LIMIT));
        assert!(s3.needs_reupload(S3_COPY_LIMIT + 1));
        let memory = ObjectBlobStore::memory();
        assert!(!memory.needs_reupload(S3_LARGEST_OBJECT));
        let forced = ObjectBlobStore::memory().with_copy_limit(10);
        assert!(!forced.needs_reupload(10));
        assert!(forced.needs_reupload(11));
    }

    #[tokio::test]
    async fn a_reupload_publishes_exactly_the_staged_bytes_across_parts() {
        let store = ObjectBlobStore::memory().with_copy_limit(0);
        let data = content(2 * PART_SIZE + 12_345);
        let staged = store.stage(body(&data), u64::MAX).await.unwrap();
        store.publish(&staged).await.unwrap();
        assert_eq!(read_all(&store, &staged.sha256).await, data);
        // The staging object is kept, and publishing again is a no-op.
        store.publish(&staged).await.unwrap();
        store.delete(&staged.sha256).await.unwrap();
        store.publish(&staged).await.unwrap();
        assert_eq!(read_all(&store, &staged.sha256).await, data);
    }

    #[tokio::test]
    async fn a_reupload_of_a_changed_staging_object_publishes_nothing() {
        let store = ObjectBlobStore::memory().with_copy_limit(0);
        let data = content(PART_SIZE + 1);
        let staged = store.stage(body(&data), u64::MAX).await.unwrap();
        // Same size, one byte different: only the digests can tell.
        let mut changed = data.clone();
        changed[PART_SIZE / 2] ^= 1;
        for tampered in [changed, data[..data.len() - 1].to_vec()] {
            store
                .store
                .put(&staged.key, PutPayload::from(tampered))
                .await
                .unwrap();
            let error = store.publish(&staged).await.unwrap_err();
            assert!(
                matches!(&error, BlobError::StagingChanged { key } if *key == staged.key.to_string()),
                "{error:?}"
            );
            assert!(!store.contains(&staged.sha256).await.unwrap());
        }

        store.discard(staged).await.unwrap();
        let staged = store.stage(body(&data), u64::MAX).await.unwrap();
        store.store.delete(&staged.key).await.unwrap();
        let error = store.publish(&staged).await.unwrap_err();
        assert!(matches!(error, BlobError::StagingGone { .. }), "{error:?}");
    }
}
