//! The protocols that span the metadata store and the blob store: storing an uploaded file,
//! linking a known blob (checksum deploy), collecting garbage and verifying blobs.
//!
//! Storing a file is ordered so that no metadata row ever points at a missing blob and no
//! committed file is ever lost:
//!
//! 1. stage the body in the blob store, hashing it (nothing is visible yet);
//! 2. publish the blob at its content address (durable before step 3);
//! 3. record the file in one transaction, which indexes the blob, locking its index row, and
//!    then checks that the object still exists, publishing it again from the kept staging
//!    object if a collector removed it in the meantime (it may commit the revision too);
//! 4. discard the staging object.
//!
//! The garbage collector deletes a blob object only inside a transaction that holds the blob's
//! index row and re-checks, under that lock, that no file references it and that it is still
//! marked orphaned. Step 3 takes the same lock before its check, so whichever runs second sees
//! the other's outcome: the collector skips a blob that step 3 indexed, and step 3 republishes a
//! blob the collector removed. There is no window in between, whatever the grace period.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use conan_model::{FilePath, Manifest, RevisionTime};
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::StoreError;
use crate::blob::{BlobError, BlobStore, Digests, Md5Hasher, Sha256Hex, StagedBlob};
use crate::records::{FileOutcome, FileOwner, FileRecord, NewFile, RecordedFile, UploadId};
use crate::traits::MetadataStore;

/// A `conaninfo.txt` larger than this is stored but not kept as text for package search
/// (GitLab caps the parsed info at 20,000 characters; real files are a few hundred bytes).
pub const MAX_CONANINFO_BYTES: u64 = 64 * 1024;

/// Why storing, linking or collecting failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransferError {
    /// The metadata store refused or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The blob store refused or failed.
    #[error(transparent)]
    Blob(#[from] BlobError),
    /// The body's sha1 is not the one the client announced; nothing was stored.
    #[error("checksum mismatch: the client announced sha1 {expected}, the body has sha1 {actual}")]
    ChecksumMismatch {
        /// The announced sha1.
        expected: String,
        /// The body's sha1.
        actual: String,
    },
    /// A blocking task panicked or was cancelled.
    #[error("a storage task did not finish: {0}")]
    Task(String),
}

/// Runs a synchronous metadata call on the blocking pool.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, TransferError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|error| TransferError::Task(error.to_string()))?
        .map_err(TransferError::from)
}

/// The result of storing a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    /// What the metadata store did: never [`FileOutcome::Refused`], which is an error here.
    pub recorded: RecordedFile,
    /// Size and checksums of the stored content.
    pub digests: Digests,
}

/// Where an uploaded file goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Destination {
    /// The revision it belongs to.
    pub owner: FileOwner,
    /// Its path inside the revision.
    pub path: FilePath,
    /// The Conan 1 upload it is part of, for revision `0` (see [`UploadId`]).
    pub upload: Option<UploadId>,
    /// For a copy of a revision committed elsewhere (a remote project's fetch), the time it
    /// was committed there: storing its manifest commits it at that time (see
    /// [`NewFile::revision_time`]). `None`: at the registry's clock.
    pub revision_time: Option<RevisionTime>,
}

/// What a manifest upload keeps of its body: enough for any real manifest (one line a file),
/// to compare it with a committed one.
const MAX_MANIFEST_BYTES: u64 = 16 * 1024 * 1024;

/// How much of the body of `destination` to keep as text while it streams: a package's
/// `conaninfo.txt` (for package search) and a `conanmanifest.txt` (to compare with a committed
/// one); `None` for every other file.
fn text_to_keep(destination: &Destination) -> Option<u64> {
    if is_conaninfo(&destination.owner, &destination.path) {
        Some(MAX_CONANINFO_BYTES)
    } else if destination.path.commits_revision() {
        Some(MAX_MANIFEST_BYTES)
    } else {
        None
    }
}

/// Stores an uploaded file at `destination`: the whole protocol of the module docs.
///
/// `expected_sha1` is the client's `X-Checksum-Sha1`: on a mismatch nothing is stored.
/// Bodies over `max_size` bytes are refused while streaming.
///
/// A re-upload to a committed revision with other bytes succeeds, keeping the first bytes, when
/// the content is the same: an archive (see [`conan_model::FileKind::is_archive`]) or a manifest
/// listing the same files (compared here, with the committed manifest read back). Anything else
/// is a [`StoreError::Conflict`].
pub async fn store_file(
    metadata: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    destination: Destination,
    body: BoxStream<'static, Result<Bytes, std::io::Error>>,
    max_size: u64,
    expected_sha1: Option<&str>,
) -> Result<StoredFile, TransferError> {
    // Copy the text to keep while the body streams rather than reading the blob back.
    let limit = text_to_keep(&destination);
    let keep = limit.map(|_| Arc::new(Mutex::new(Vec::new())));
    let body = match (&keep, limit) {
        (Some(copy), Some(limit)) => {
            let copy = Arc::clone(copy);
            body.inspect(move |chunk| {
                if let (Ok(chunk), Ok(mut copy)) = (chunk, copy.lock())
                    && copy.len() as u64 <= limit
                {
                    copy.extend_from_slice(chunk);
                }
            })
            .boxed()
        }
        _ => body,
    };
    let staged = blobs.stage(body, max_size).await?;
    let text = keep.zip(limit).and_then(|(copy, limit)| {
        let bytes = copy.lock().ok()?;
        (bytes.len() as u64 <= limit).then(|| String::from_utf8_lossy(&bytes).into_owned())
    });
    let conaninfo = text
        .as_ref()
        .filter(|_| is_conaninfo(&destination.owner, &destination.path))
        .cloned();
    let record = Record {
        destination,
        conaninfo,
        same_files_as: None,
    };
    let (mut result, mut staged) = commit_staged(
        Arc::clone(&metadata),
        Arc::clone(&blobs),
        record.clone(),
        staged,
        expected_sha1,
    )
    .await;
    if refused(&result)
        && record.destination.path.commits_revision()
        && let Some(text) = &text
        && let Some(again) = staged.take()
    {
        // Another builder's manifest of this revision: the same files with another timestamp
        // keeps the committed one.
        match committed_manifest_with_same_files(&metadata, blobs.as_ref(), &record, text).await {
            Ok(Some(sha256)) => {
                let record = Record {
                    same_files_as: Some(sha256),
                    ..record.clone()
                };
                (result, staged) = commit_staged(
                    Arc::clone(&metadata),
                    Arc::clone(&blobs),
                    record,
                    again,
                    expected_sha1,
                )
                .await;
            }
            Ok(None) => staged = Some(again),
            Err(error) => {
                result = Err(error);
                staged = Some(again);
            }
        }
    }
    // The staging object is only a safety copy from here on; a failure to remove it leaves a
    // stale object that `purge_staging` removes later, so it never fails the upload.
    if let Some(staged) = staged {
        let _ = blobs.discard(staged).await;
    }
    conflict_if_refused(result, &record.destination)
}

/// What [`commit_staged`] records.
#[derive(Debug, Clone)]
struct Record {
    destination: Destination,
    conaninfo: Option<String>,
    same_files_as: Option<String>,
}

/// Whether the store refused the file.
fn refused(result: &Result<StoredFile, TransferError>) -> bool {
    matches!(result, Ok(stored) if stored.recorded.outcome == FileOutcome::Refused)
}

/// Turns a refused file into the conflict the caller reports.
fn conflict_if_refused(
    result: Result<StoredFile, TransferError>,
    destination: &Destination,
) -> Result<StoredFile, TransferError> {
    if !refused(&result) {
        return result;
    }
    let Destination { owner, path, .. } = destination;
    let message = if path.commits_revision() {
        format!(
            "{path} of committed revision {owner} lists other files than the stored one; the \
             files of a revision never change: export the recipe or package again to get a new \
             revision"
        )
    } else {
        format!(
            "{path} of committed revision {owner} already exists with different content; \
             revisions are immutable"
        )
    };
    Err(StoreError::Conflict(message).into())
}

/// The sha256 of the committed manifest at `record`'s destination when it lists the same files
/// as `text`; `None` when it lists others, or either does not parse.
async fn committed_manifest_with_same_files(
    metadata: &Arc<dyn MetadataStore>,
    blobs: &dyn BlobStore,
    record: &Record,
    text: &str,
) -> Result<Option<String>, TransferError> {
    let Ok(new) = Manifest::parse(text) else {
        return Ok(None);
    };
    let store = Arc::clone(metadata);
    let (owner, path) = (
        record.destination.owner.clone(),
        record.destination.path.clone(),
    );
    let Some(committed) = blocking(move || store.file(&owner, &path)).await? else {
        return Ok(None);
    };
    let Some(old) = read_text(blobs, &committed.digests.sha256, MAX_MANIFEST_BYTES).await? else {
        return Ok(None);
    };
    Ok(Manifest::parse(&old)
        .is_ok_and(|old| old.same_files(&new))
        .then(|| committed.digests.sha256.to_string()))
}

/// A blob's content as text, or `None` when it is larger than `limit`.
async fn read_text(
    blobs: &dyn BlobStore,
    sha256: &Sha256Hex,
    limit: u64,
) -> Result<Option<String>, BlobError> {
    let mut reader = blobs.open(sha256, None).await?;
    if reader.size > limit {
        return Ok(None);
    }
    let mut bytes = Vec::with_capacity(usize::try_from(reader.size).unwrap_or(0));
    while let Some(chunk) = reader.body.next().await {
        bytes.extend_from_slice(&chunk?);
    }
    Ok(Some(String::from_utf8_lossy(&bytes).into_owned()))
}

/// Steps 2 and 3; gives the staged blob back for discarding (unless a task died with it).
async fn commit_staged(
    metadata: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    record: Record,
    staged: StagedBlob,
    expected_sha1: Option<&str>,
) -> (Result<StoredFile, TransferError>, Option<StagedBlob>) {
    let digests = staged.digests().clone();
    if let Some(expected) = expected_sha1
        && !expected.eq_ignore_ascii_case(&digests.sha1)
    {
        let mismatch = TransferError::ChecksumMismatch {
            expected: expected.to_owned(),
            actual: digests.sha1,
        };
        return (Err(mismatch), Some(staged));
    }
    // Outside any lock, so the copy does not hold the database. A collector may remove the
    // object right after; step 3 notices and publishes again.
    match blobs.publish(&staged).await {
        Ok(()) => {}
        Err(error) if vanished(&error) => {}
        Err(error) => return (Err(error.into()), Some(staged)),
    }
    let runtime = tokio::runtime::Handle::current();
    let task = tokio::task::spawn_blocking(move || {
        let Record {
            destination,
            conaninfo,
            same_files_as,
        } = record;
        let recorded = metadata.record_file(
            &destination.owner,
            NewFile {
                path: &destination.path,
                digests: &digests,
                conaninfo: conaninfo.as_deref(),
                upload: destination.upload.as_ref(),
                same_files_as: same_files_as.as_deref(),
                revision_time: destination.revision_time,
            },
            &mut || {
                inside_transaction(&runtime, async {
                    if !blobs.contains(staged.sha256()).await? {
                        blobs.publish(&staged).await?;
                    }
                    Ok(())
                })
                .map_err(blob_failure)
            },
        );
        (
            recorded.map(|recorded| StoredFile { recorded, digests }),
            staged,
        )
    });
    match task.await {
        Ok((result, staged)) => (result.map_err(TransferError::from), Some(staged)),
        Err(error) => (Err(TransferError::Task(error.to_string())), None),
    }
}

/// Runs a blob-store call from inside a metadata transaction and waits for it.
///
/// `record_file` and `delete_orphaned_blob` are synchronous (diesel has no async transactions)
/// and must check, publish or delete the blob object while they hold the blob's index row: that
/// lock is what makes uploads and the collector safe beside each other (module docs). So the
/// blob call cannot move out of the transaction, and waiting for it here is the cost. Every
/// caller runs on a blocking-pool thread (inside `spawn_blocking`), never on an async worker,
/// so only that thread waits; `block_on` would panic on a worker, which the tests would show.
pub(crate) fn inside_transaction<T>(
    runtime: &tokio::runtime::Handle,
    work: impl std::future::Future<Output = T>,
) -> T {
    runtime.block_on(work)
}

/// Whether a publish failed because the blob object disappeared under it.
pub(crate) fn vanished(error: &BlobError) -> bool {
    match error {
        BlobError::NotFound { .. } => true,
        BlobError::Io { source, .. } => source.kind() == std::io::ErrorKind::NotFound,
        _ => false,
    }
}

fn is_conaninfo(owner: &FileOwner, path: &FilePath) -> bool {
    matches!(owner, FileOwner::Package(_)) && path.as_str() == "conaninfo.txt"
}

/// A blob store failure inside a metadata transaction, kept as the source of a store error.
pub(crate) fn blob_failure(error: BlobError) -> StoreError {
    StoreError::Backend {
        message: "blob store failed".to_owned(),
        source: Box::new(error),
    }
}

/// The text of a package's `conaninfo.txt`, read back from the blob store (for a linked file,
/// whose body never streamed through), or `None` when it is not one or is too large to keep.
async fn conaninfo_text(
    blobs: &dyn BlobStore,
    owner: &FileOwner,
    path: &FilePath,
    sha256: &Sha256Hex,
) -> Result<Option<String>, BlobError> {
    if !is_conaninfo(owner, path) {
        return Ok(None);
    }
    read_text(blobs, sha256, MAX_CONANINFO_BYTES).await
}

/// Links a blob the server already holds to `owner` at `path`, for the checksum-deploy probe
/// (`X-Checksum-Deploy: true` with an empty body). Returns `None` when no blob has that sha1;
/// otherwise the file is recorded with the same effects as an upload (a manifest commits).
///
/// A manifest that a committed revision holds with other bytes is not linked (`None`), so the
/// client sends its body and [`store_file`] compares the two.
pub async fn link_by_sha1(
    metadata: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    destination: Destination,
    sha1: &str,
) -> Result<Option<StoredFile>, TransferError> {
    let Destination {
        owner,
        path,
        upload,
        revision_time,
    } = &destination;
    let wanted = sha1.to_ascii_lowercase();
    let store = Arc::clone(&metadata);
    let Some(digests) = blocking(move || store.blob_by_sha1(&wanted)).await? else {
        return Ok(None);
    };

    let sha256 = digests.sha256.clone();
    // The index row exists, but the object must too: never record a file without its bytes.
    let conaninfo = match conaninfo_text(blobs.as_ref(), owner, path, &sha256).await {
        Ok(text) => text,
        Err(BlobError::NotFound { .. }) => return Ok(None),
        Err(error) => return Err(error.into()),
    };
    if !blobs.contains(&sha256).await? {
        return Ok(None);
    }
    let runtime = tokio::runtime::Handle::current();
    let (owner, path, upload, revision_time) =
        (owner.clone(), path.clone(), upload.clone(), *revision_time);
    // `None` when `ensure_blob` found the blob collected since the lookup: with no body to
    // publish there is nothing to link. The callback can only answer a `StoreError`, so it
    // also notes the fact in `collected`, and that flag, not the error's message, decides.
    let recorded = blocking(move || {
        let mut collected = false;
        let recorded = metadata.record_file(
            &owner,
            NewFile {
                path: &path,
                digests: &digests,
                conaninfo: conaninfo.as_deref(),
                upload: upload.as_ref(),
                same_files_as: None,
                revision_time,
            },
            &mut || {
                let present = inside_transaction(&runtime, blobs.contains(&sha256));
                collected = matches!(present, Ok(false));
                match present {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(StoreError::NotFound(format!("blob {sha256} was collected"))),
                    Err(error) => Err(blob_failure(error)),
                }
            },
        );
        match recorded {
            Ok(recorded) => Ok(Some(StoredFile { recorded, digests })),
            Err(_) if collected => Ok(None),
            Err(error) => Err(error),
        }
    })
    .await
    .transpose();
    let Some(recorded) = recorded else {
        return Ok(None);
    };
    if refused(&recorded) && destination.path.commits_revision() {
        return Ok(None);
    }
    conflict_if_refused(recorded, &destination).map(Some)
}

/// What a garbage collection did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Blobs newly marked as unreferenced.
    pub marked: u64,
    /// Blobs deleted (object and index row).
    pub deleted: u64,
    /// Bytes those blobs held.
    pub deleted_bytes: u64,
    /// Stale staging objects removed.
    pub staging_purged: usize,
    /// Conan 1 uploads into revision `0` that never sent their manifest, removed (their files'
    /// blobs are collected by a later run, after the grace period).
    pub abandoned_uploads: u64,
}

/// Removes blobs that no file references and that have been unreferenced for at least `grace`,
/// and staging objects and abandoned revision `0` uploads older than `staging_age`. Safe to run
/// at any time, on any node, beside uploads: see the module docs.
pub async fn collect_garbage(
    metadata: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    grace: Duration,
    staging_age: Duration,
) -> Result<GcReport, TransferError> {
    let mut report = GcReport::default();
    let abandoned = RevisionTime::from_system_time(SystemTime::now() - staging_age)
        .map_err(|error| StoreError::Invalid(error.to_string()))?;
    let store = Arc::clone(&metadata);
    report.abandoned_uploads = blocking(move || store.purge_abandoned_uploads(abandoned)).await?;
    let store = Arc::clone(&metadata);
    report.marked = blocking(move || store.mark_orphaned_blobs()).await?;
    let before = RevisionTime::from_system_time(SystemTime::now() - grace)
        .map_err(|error| StoreError::Invalid(error.to_string()))?;
    let handle = tokio::runtime::Handle::current();
    loop {
        let store = Arc::clone(&metadata);
        let batch = blocking(move || store.orphaned_blobs(before, 256)).await?;
        if batch.is_empty() {
            break;
        }
        let mut progressed = false;
        for key in batch {
            let size = blobs
                .open(&key, Some(0..1))
                .await
                .map_or(0, |reader| reader.size);
            let store = Arc::clone(&metadata);
            let objects = Arc::clone(&blobs);
            let runtime = handle.clone();
            let deleted = blocking(move || {
                store.delete_orphaned_blob(&key, before, &mut || {
                    inside_transaction(&runtime, objects.delete(&key)).map_err(|error| {
                        StoreError::Backend {
                            message: format!("cannot delete blob {key}"),
                            source: Box::new(error),
                        }
                    })
                })
            })
            .await?;
            if deleted {
                progressed = true;
                report.deleted += 1;
                report.deleted_bytes += size;
            }
        }
        // Everything left in the batch was referenced again meanwhile; stop instead of spinning.
        if !progressed {
            break;
        }
    }
    report.staging_purged = blobs.purge_staging(staging_age).await?;
    Ok(report)
}

/// One problem `verify_blobs` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BlobProblem {
    /// The index has the blob, the blob store does not.
    Missing {
        /// The blob's sha256.
        sha256: String,
    },
    /// The stored bytes no longer hash to what the index says.
    Corrupt {
        /// The blob's sha256 as indexed.
        sha256: String,
        /// What the bytes hash to now.
        actual: Digests,
    },
}

/// A chunk smaller than this is hashed on the calling thread, which is cheaper than a hand-off
/// to the bulk pool.
const INLINE_HASH_LIMIT: usize = 64 * 1024;

/// Fills in the md5 of the `files` stored without one, for Conan 1's snapshots: each distinct
/// blob is read back once and hashed on the bulk pool, and the md5 is recorded for the blob and
/// every file with its content, so the next request finds it. Files that have an md5 cost
/// nothing; the first v1 snapshot of a large package waits for one read of its blobs.
pub async fn fill_md5(
    metadata: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    files: &mut [FileRecord],
) -> Result<(), TransferError> {
    let mut computed: Vec<(Sha256Hex, String)> = Vec::new();
    for file in files.iter_mut().filter(|file| file.digests.md5.is_none()) {
        let sha256 = &file.digests.sha256;
        let md5 = if let Some((_, md5)) = computed.iter().find(|(known, _)| known == sha256) {
            md5.clone()
        } else {
            let key = sha256.clone();
            // Another file with this content, or another node, may have computed it already.
            let store = Arc::clone(&metadata);
            let lookup = key.clone();
            let md5 = match blocking(move || store.blob_md5(&lookup)).await? {
                Some(md5) => md5,
                None => md5_of_blob(blobs.as_ref(), &key).await?,
            };
            let store = Arc::clone(&metadata);
            let recorded = md5.clone();
            blocking(move || store.record_md5(&key, &recorded)).await?;
            computed.push((sha256.clone(), md5.clone()));
            md5
        };
        file.digests.md5 = Some(md5);
    }
    Ok(())
}

/// Reads a blob back and computes its md5, off the async worker threads for all but small chunks.
async fn md5_of_blob(blobs: &dyn BlobStore, sha256: &Sha256Hex) -> Result<String, TransferError> {
    let mut reader = blobs.open(sha256, None).await?;
    let mut md5 = Md5Hasher::default();
    while let Some(chunk) = reader.body.next().await {
        let chunk = chunk?;
        if chunk.len() < INLINE_HASH_LIMIT {
            md5.update(&chunk);
        } else {
            md5 = crate::bulk::spawn(move || {
                md5.update(&chunk);
                md5
            })
            .await
            .map_err(|error| TransferError::Task(error.to_string()))?;
        }
    }
    Ok(md5.finish())
}

/// Re-reads every indexed blob and compares its size and checksums with the index (the md5 only
/// where one was recorded), calling `progress` after each blob with the count so far.
pub async fn verify_blobs(
    metadata: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    mut progress: impl FnMut(u64),
) -> Result<Vec<BlobProblem>, TransferError> {
    let mut problems = Vec::new();
    let mut after: Option<Sha256Hex> = None;
    let mut checked = 0;
    loop {
        let store = Arc::clone(&metadata);
        let cursor = after.clone();
        let batch = blocking(move || store.indexed_blobs(cursor.as_ref(), 256)).await?;
        let Some(last) = batch.last() else { break };
        after = Some(last.sha256.clone());
        for expected in batch {
            match blobs.open(&expected.sha256, None).await {
                Ok(mut reader) => {
                    let mut hasher = VerifyHasher::default();
                    while let Some(chunk) = reader.body.next().await {
                        hasher.update(&chunk?);
                    }
                    let actual = hasher.finish();
                    if !actual.matches(&expected) {
                        problems.push(BlobProblem::Corrupt {
                            sha256: expected.sha256.to_string(),
                            actual,
                        });
                    }
                }
                Err(BlobError::NotFound { .. }) => {
                    problems.push(BlobProblem::Missing {
                        sha256: expected.sha256.to_string(),
                    });
                }
                Err(error) => return Err(error.into()),
            }
            checked += 1;
            progress(checked);
        }
    }
    Ok(problems)
}

/// The three checksums and the size of a blob read back for verification.
#[derive(Default)]
struct VerifyHasher {
    shas: crate::blob::Hasher,
    md5: Md5Hasher,
}

impl VerifyHasher {
    fn update(&mut self, chunk: &[u8]) {
        self.shas.update(chunk);
        self.md5.update(chunk);
    }

    fn finish(self) -> Digests {
        let (digests, _) = self.shas.finish();
        Digests {
            md5: Some(self.md5.finish()),
            ..digests
        }
    }
}
