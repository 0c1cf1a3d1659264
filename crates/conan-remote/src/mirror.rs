//! Fetching a revision from the upstream into a project, once.

use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use conan_model::{FilePath, Manifest, RevisionTime};
use conan_store::blob::{BlobStore, Digests};
use conan_store::transfer::{Destination, store_file};
use conan_store::{FileOwner, MetadataStore};
use conan_upstream::{Upstream, UpstreamError, UpstreamFile};
use futures::StreamExt;
use futures::stream::BoxStream;
use md5::{Digest, Md5};

use crate::SingleFlight;
use crate::live::{Ended, Piece, Progress, Seen, Tapped};
use crate::metadata::{ListKey, MetadataCache};

/// The largest `conanmanifest.txt` a fetch holds in memory until it stores it last (a line per
/// file of the package: 16 MiB is some 200,000 files).
const MAX_MANIFEST_BYTES: u64 = 16 << 20;

/// The most "not found" answers a mirror keeps; past it, the oldest tenth goes.
const MAX_NOT_FOUND: usize = 100_000;

/// Why a revision could not be brought from the upstream. Nothing of it is readable then: the
/// revision stays uncommitted until a fetch completes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MirrorError {
    /// The upstream has not got the revision (or one of its files).
    #[error("the upstream has not got {0}")]
    NotFound(String),
    /// The upstream failed or answered wrongly.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The upstream's revision has no `conanmanifest.txt`, so it cannot be committed.
    #[error("the upstream lists no conanmanifest.txt for {0}")]
    Incomplete(String),
    /// A file's body was refused while it was stored (cut short, stalled, over the limit, or
    /// not matching the checksum the upstream announced); nothing of it was kept.
    #[error("the upstream's {path} was refused: {message}")]
    Refused {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// This registry's store failed.
    #[error("storing failed: {0}")]
    Store(String),
}

/// Brings revisions from one upstream into one project (the owners' project), each at most once
/// at a time.
pub struct Mirror {
    upstream: Arc<Upstream>,
    metadata: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    max_file_bytes: u64,
    flights: SingleFlight<FileOwner, Result<bool, MirrorError>>,
    fetched_bytes: Arc<AtomicU64>,
    /// How long an upstream "not found" for a revision is kept (zero: not kept).
    not_found_ttl: Duration,
    /// The revisions the upstream said it has not got, and when.
    not_found: Arc<Mutex<HashMap<FileOwner, Instant>>>,
    /// The revisions being fetched, for their readers.
    live: Mutex<HashMap<FileOwner, Arc<Progress>>>,
    /// Where the upstream's revision times come from (the project's list cache); `None`: the
    /// upstream, asked for each fetch.
    lists: Option<Arc<MetadataCache>>,
}

impl std::fmt::Debug for Mirror {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Mirror")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

/// The revision as Conan prints it, for messages.
fn describe(owner: &FileOwner) -> String {
    match owner {
        FileOwner::Recipe(key) => format!("{}#{}", key.recipe, key.revision),
        FileOwner::Package(key) => format!(
            "{}#{}:{}#{}",
            key.recipe.recipe, key.recipe.revision, key.package_id, key.revision
        ),
    }
}

impl Mirror {
    /// A mirror of `upstream` storing into `metadata` and `blobs`, files of at most
    /// `max_file_bytes`.
    #[must_use]
    pub fn new(
        upstream: Arc<Upstream>,
        metadata: Arc<dyn MetadataStore>,
        blobs: Arc<dyn BlobStore>,
        max_file_bytes: u64,
    ) -> Self {
        Self {
            upstream,
            metadata,
            blobs,
            max_file_bytes,
            flights: SingleFlight::new(),
            fetched_bytes: Arc::new(AtomicU64::new(0)),
            not_found_ttl: Duration::ZERO,
            not_found: Arc::new(Mutex::new(HashMap::new())),
            live: Mutex::new(HashMap::new()),
            lists: None,
        }
    }

    /// Takes the upstream's revision times from `lists` (the project's list cache, which
    /// clients have usually filled by asking for `latest` before the files), instead of asking
    /// the upstream for each fetch.
    #[must_use]
    pub fn with_revision_times(mut self, lists: Arc<MetadataCache>) -> Self {
        self.lists = Some(lists);
        self
    }

    /// Adds the bytes this mirror stores to `counter` (shared with whoever reports them, and
    /// with the mirror that replaces this one when the settings change), as each file is stored.
    #[must_use]
    pub fn with_byte_counter(mut self, counter: Arc<AtomicU64>) -> Self {
        self.fetched_bytes = counter;
        self
    }

    /// Keeps an upstream's "not found" for a revision for `ttl`: asks for it within that time
    /// fail at once, without asking the upstream again (the same time to live as the revision
    /// lists' 404s).
    #[must_use]
    pub fn with_not_found_ttl(mut self, ttl: Duration) -> Self {
        self.not_found_ttl = ttl;
        self
    }

    /// Whether the upstream said, within the time to live, that it has not got `owner`.
    fn known_missing(&self, owner: &FileOwner) -> bool {
        if self.not_found_ttl.is_zero() {
            return false;
        }
        let mut missing = self
            .not_found
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match missing.get(owner) {
            Some(at) if at.elapsed() < self.not_found_ttl => true,
            Some(_) => {
                missing.remove(owner);
                false
            }
            None => false,
        }
    }

    /// The bytes of the files this mirror stored from the upstream (each file once, including
    /// those of fetches that failed later), for `/metrics`.
    #[must_use]
    pub fn fetched_bytes(&self) -> u64 {
        self.fetched_bytes.load(Ordering::Relaxed)
    }

    /// Whether `owner` is committed in its project.
    async fn committed(&self, owner: &FileOwner) -> Result<bool, MirrorError> {
        let store = Arc::clone(&self.metadata);
        let owner = owner.clone();
        tokio::task::spawn_blocking(move || store.files(&owner))
            .await
            .map_err(|error| MirrorError::Store(error.to_string()))?
            .map(|files| files.is_some())
            .map_err(|error| MirrorError::Store(error.to_string()))
    }

    /// Makes sure the revision `owner` names is committed in its project, fetching it from the
    /// upstream if it is not (a package revision's recipe revision first). Returns whether
    /// anything was fetched. Concurrent calls for one revision make one fetch.
    pub async fn ensure(self: &Arc<Self>, owner: &FileOwner) -> Result<bool, MirrorError> {
        let mut fetched = false;
        if let FileOwner::Package(key) = owner {
            fetched |= self
                .ensure_one(&FileOwner::Recipe(key.recipe.clone()))
                .await?;
        }
        Ok(self.ensure_one(owner).await? || fetched)
    }

    async fn ensure_one(self: &Arc<Self>, owner: &FileOwner) -> Result<bool, MirrorError> {
        if self.committed(owner).await? {
            return Ok(false);
        }
        if self.known_missing(owner) {
            return Err(MirrorError::NotFound(describe(owner)));
        }
        let mirror = Arc::clone(self);
        let target = owner.clone();
        let outcome = self
            .flights
            .run(owner.clone(), async move {
                let outcome = mirror.fetch(&target).await;
                if matches!(outcome, Err(MirrorError::NotFound(_)))
                    && !mirror.not_found_ttl.is_zero()
                {
                    let mut missing = mirror
                        .not_found
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner);
                    if missing.len() >= MAX_NOT_FOUND {
                        crate::metadata::drop_oldest_tenth(&mut missing, |at| *at);
                    }
                    missing.insert(target, Instant::now());
                }
                outcome
            })
            .await;
        outcome.as_ref().clone()
    }

    /// The progress of `owner`'s fetch: the one running, or a new one the next fetch takes.
    fn progress(&self, owner: &FileOwner) -> Arc<Progress> {
        Arc::clone(
            self.live
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(owner.clone())
                .or_default(),
        )
    }

    /// Ends `progress` with `outcome` and forgets it (if it is still `owner`'s).
    fn finish(
        &self,
        owner: &FileOwner,
        progress: &Arc<Progress>,
        outcome: &Result<bool, MirrorError>,
    ) {
        progress.end(&match outcome {
            Ok(_) => Ended::Committed,
            Err(error) => Ended::Failed(error.clone()),
        });
        let mut live = self.live.lock().unwrap_or_else(PoisonError::into_inner);
        if live
            .get(owner)
            .is_some_and(|current| Arc::ptr_eq(current, progress))
        {
            live.remove(owner);
        }
    }

    /// The progress of `owner`'s fetch, the fetch started if it is not running, or `None` when
    /// the revision is committed (read it from the store). A package revision's recipe
    /// revision is fetched whole first.
    async fn follow(
        self: &Arc<Self>,
        owner: &FileOwner,
    ) -> Result<Option<Arc<Progress>>, MirrorError> {
        if let FileOwner::Package(key) = owner {
            self.ensure_one(&FileOwner::Recipe(key.recipe.clone()))
                .await?;
        }
        if self.committed(owner).await? {
            return Ok(None);
        }
        if self.known_missing(owner) {
            return Err(MirrorError::NotFound(describe(owner)));
        }
        let progress = self.progress(owner);
        let (mirror, target, followed) = (Arc::clone(self), owner.clone(), Arc::clone(&progress));
        // Joins the running fetch or starts one; ends this progress however it goes, even when
        // the revision turned out committed before a fetch took it.
        tokio::spawn(async move {
            let outcome = mirror.ensure_one(&target).await;
            mirror.finish(&target, &followed, &outcome);
        });
        Ok(Some(progress))
    }

    /// The file list of the revision `owner` names while it is not committed: the upstream's,
    /// as soon as the fetch (started if it is not running) has it; `None` when the revision is
    /// committed (read the store).
    pub async fn listing(
        self: &Arc<Self>,
        owner: &FileOwner,
    ) -> Result<Option<Vec<FilePath>>, MirrorError> {
        let Some(progress) = self.follow(owner).await? else {
            return Ok(None);
        };
        Ok(match progress.listing().await? {
            Seen::Now(paths) => Some(paths),
            Seen::Committed => None,
        })
    }

    /// The file `path` of the revision `owner` names while the revision is not committed, as
    /// its fetch (started if it is not running) has it: streaming from the upstream, stored,
    /// or in memory ([`Tapped`]); `None` when the revision is committed (read the store).
    pub async fn tap(
        self: &Arc<Self>,
        owner: &FileOwner,
        path: &FilePath,
    ) -> Result<Option<Tapped>, MirrorError> {
        let Some(progress) = self.follow(owner).await? else {
            return Ok(None);
        };
        Ok(match progress.tap(path, &describe(owner)).await? {
            Seen::Now(tapped) => Some(tapped),
            Seen::Committed => None,
        })
    }

    /// The revision's file list from the upstream.
    async fn list(&self, owner: &FileOwner) -> Result<Option<Vec<FilePath>>, UpstreamError> {
        match owner {
            FileOwner::Recipe(key) => self.upstream.recipe_files(&key.recipe, &key.revision).await,
            FileOwner::Package(key) => {
                self.upstream
                    .package_files(
                        &key.recipe.recipe,
                        &key.recipe.revision,
                        &key.package_id,
                        &key.revision,
                    )
                    .await
            }
        }
    }

    /// One file of the revision from the upstream.
    async fn open(
        &self,
        owner: &FileOwner,
        path: &FilePath,
    ) -> Result<Option<UpstreamFile>, UpstreamError> {
        match owner {
            FileOwner::Recipe(key) => {
                self.upstream
                    .recipe_file(&key.recipe, &key.revision, path)
                    .await
            }
            FileOwner::Package(key) => {
                self.upstream
                    .package_file(
                        &key.recipe.recipe,
                        &key.recipe.revision,
                        &key.package_id,
                        &key.revision,
                        path,
                    )
                    .await
            }
        }
    }

    /// Fetches every file of the revision, the manifest last (storing it commits the revision),
    /// telling its readers how far it got (see [`crate::live`]).
    async fn fetch(&self, owner: &FileOwner) -> Result<bool, MirrorError> {
        let progress = self.progress(owner);
        let outcome = self.fetch_with(owner, &progress).await;
        // Readers of a streaming file learn only that their transfer was cut: the reason is
        // here (never credentials: conan-upstream keeps them out of its errors).
        if let Err(error) = &outcome
            && !matches!(error, MirrorError::NotFound(_))
        {
            tracing::warn!(revision = %describe(owner), error = %error,
                "remote project's fetch failed, nothing of it was kept");
        }
        self.finish(owner, &progress, &outcome);
        outcome
    }

    async fn fetch_with(
        &self,
        owner: &FileOwner,
        progress: &Progress,
    ) -> Result<bool, MirrorError> {
        // Another node (or an earlier flight) may have finished it meanwhile.
        if self.committed(owner).await? {
            return Ok(false);
        }
        let mut paths = self
            .list(owner)
            .await?
            .ok_or_else(|| MirrorError::NotFound(describe(owner)))?;
        let manifest = paths
            .iter()
            .position(FilePath::commits_revision)
            .ok_or_else(|| MirrorError::Incomplete(describe(owner)))?;
        progress.listed(paths.clone());
        let manifest = paths.remove(manifest);
        // The order Conan 2 downloads in (names in reverse order), so a client reading the
        // files one after another mostly finds the next one streaming or stored.
        paths.sort_unstable_by(|a, b| b.as_str().cmp(a.as_str()));
        // The manifest first, into memory: clients ask for it first, and it is stored last.
        let file = self.open_file(owner, &manifest).await?;
        let manifest_sha1 = file.sha1.clone();
        let manifest_bytes = read_all(file.body, self.max_file_bytes.min(MAX_MANIFEST_BYTES))
            .await
            .map_err(|message| MirrorError::Refused {
                path: manifest.to_string(),
                message,
            })?;
        // The files it lists must have its md5s: a body changed on the way (sha1 header
        // included) is caught here, before any reader has it whole.
        let listed = std::str::from_utf8(&manifest_bytes)
            .ok()
            .and_then(|text| Manifest::parse(text).ok())
            .ok_or_else(|| MirrorError::Refused {
                path: manifest.to_string(),
                message: "it is not a Conan manifest".to_owned(),
            })?;
        progress.in_memory(&manifest, &manifest_bytes);
        for path in paths {
            let file = self.open_file(owner, &path).await?;
            let readers = progress.start(&path);
            readers.deliver(&Piece::Start(file.size)).await;
            let expected_md5 = listed.md5_of(path.as_str()).map(str::to_owned);
            let hasher = Arc::new(Mutex::new(Md5::new()));
            let body = match &expected_md5 {
                Some(_) => {
                    let hasher = Arc::clone(&hasher);
                    file.body
                        .inspect(move |chunk| {
                            if let Ok(bytes) = chunk {
                                hasher
                                    .lock()
                                    .unwrap_or_else(PoisonError::into_inner)
                                    .update(bytes);
                            }
                        })
                        .boxed()
                }
                None => file.body,
            };
            let stored = self
                .store(owner, &path, readers.tee(body), file.sha1.as_deref(), None)
                .await
                .and_then(|digests| {
                    let Some(expected) = &expected_md5 else {
                        return Ok(digests);
                    };
                    let md5 = hasher
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .clone();
                    let actual = format!("{:x}", md5.finalize());
                    if actual == *expected {
                        Ok(digests)
                    } else {
                        Err(MirrorError::Refused {
                            path: path.to_string(),
                            message: format!(
                                "its md5 {actual} is not the {expected} conanmanifest.txt lists"
                            ),
                        })
                    }
                });
            match stored {
                Ok(digests) => {
                    readers.finish().await;
                    progress.stored(&path, digests);
                }
                Err(error) => {
                    readers.deliver(&Piece::Fail(error.to_string())).await;
                    return Err(error);
                }
            }
        }
        // Boxed: the list request would otherwise swell every future that awaits a fetch.
        let time = Box::pin(self.upstream_time(owner)).await;
        let body = futures::stream::once(async move { Ok(manifest_bytes) }).boxed();
        self.store(owner, &manifest, body, manifest_sha1.as_deref(), time)
            .await?;
        Ok(true)
    }

    /// When the upstream says `owner` was committed, which the copy keeps: every node then
    /// gives the upstream's times and `latest`, even from the revisions held with the
    /// upstream down. `None` (the registry's clock) when its list cannot be had or lacks it:
    /// the fetch goes on, since the files are right either way.
    async fn upstream_time(&self, owner: &FileOwner) -> Option<RevisionTime> {
        let key = ListKey::of(owner);
        let listed = match &self.lists {
            Some(lists) => lists.revisions(&key).await.map(|(list, _)| list),
            None => key.ask(&self.upstream).await,
        };
        match listed {
            Ok(list) => list?
                .into_iter()
                .find(|entry| entry.revision == *owner.revision())
                .map(|entry| entry.time),
            Err(error) => {
                tracing::warn!(revision = %describe(owner), error = %error,
                    "remote project's revision list could not be had: the copy is committed at the registry's clock");
                None
            }
        }
    }

    /// One file of the revision from the upstream; the upstream not having it is `NotFound`.
    async fn open_file(
        &self,
        owner: &FileOwner,
        path: &FilePath,
    ) -> Result<UpstreamFile, MirrorError> {
        self.open(owner, path)
            .await?
            .ok_or_else(|| MirrorError::NotFound(format!("{} {path}", describe(owner))))
    }

    /// Stores one file's `body` (checked against the announced `sha1`), committing the revision
    /// at the upstream's `time` when the file is its manifest; its digests.
    async fn store(
        &self,
        owner: &FileOwner,
        path: &FilePath,
        body: BoxStream<'static, io::Result<Bytes>>,
        sha1: Option<&str>,
        time: Option<RevisionTime>,
    ) -> Result<Digests, MirrorError> {
        let destination = Destination {
            owner: owner.clone(),
            path: path.clone(),
            upload: None,
            revision_time: time,
        };
        let stored = store_file(
            Arc::clone(&self.metadata),
            Arc::clone(&self.blobs),
            destination,
            body,
            self.max_file_bytes,
            sha1,
        )
        .await
        .map_err(|error| MirrorError::Refused {
            path: path.to_string(),
            message: error.to_string(),
        })?;
        self.fetched_bytes
            .fetch_add(stored.digests.size, Ordering::Relaxed);
        Ok(stored.digests)
    }
}

/// The whole of `body`, refused past `limit` bytes or when the body fails.
async fn read_all(
    mut body: BoxStream<'static, io::Result<Bytes>>,
    limit: u64,
) -> Result<Bytes, String> {
    let mut all = BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|error| error.to_string())?;
        if (all.len() + chunk.len()) as u64 > limit {
            return Err(format!("larger than {limit} bytes"));
        }
        all.extend_from_slice(&chunk);
    }
    Ok(all.freeze())
}
