//! Fetching a revision from the upstream into a project, once.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use conan_model::FilePath;
use conan_store::blob::BlobStore;
use conan_store::transfer::{Destination, store_file};
use conan_store::{FileOwner, MetadataStore};
use conan_upstream::{Upstream, UpstreamError, UpstreamFile};

use crate::SingleFlight;

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
    fetched_bytes: AtomicU64,
    /// How long an upstream "not found" for a revision is kept (zero: not kept).
    not_found_ttl: Duration,
    /// The revisions the upstream said it has not got, and when.
    not_found: Arc<Mutex<HashMap<FileOwner, Instant>>>,
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
            fetched_bytes: AtomicU64::new(0),
            not_found_ttl: Duration::ZERO,
            not_found: Arc::new(Mutex::new(HashMap::new())),
        }
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

    /// Fetches every file of the revision, the manifest last (storing it commits the revision).
    async fn fetch(&self, owner: &FileOwner) -> Result<bool, MirrorError> {
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
        let manifest = paths.remove(manifest);
        paths.push(manifest);
        for path in paths {
            let file = self
                .open(owner, &path)
                .await?
                .ok_or_else(|| MirrorError::NotFound(format!("{} {path}", describe(owner))))?;
            let destination = Destination {
                owner: owner.clone(),
                path: path.clone(),
                upload: None,
            };
            let stored = store_file(
                Arc::clone(&self.metadata),
                Arc::clone(&self.blobs),
                destination,
                file.body,
                self.max_file_bytes,
                file.sha1.as_deref(),
            )
            .await
            .map_err(|error| MirrorError::Refused {
                path: path.to_string(),
                message: error.to_string(),
            })?;
            self.fetched_bytes
                .fetch_add(stored.digests.size, Ordering::Relaxed);
        }
        Ok(true)
    }
}
