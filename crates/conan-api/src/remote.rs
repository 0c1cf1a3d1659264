//! Remote projects at the Conan routes: the one place where a project that caches an upstream
//! differs from an ordinary one. `access.rs` asks [`RemoteProjects::node`] after it has
//! authorized a request; the routes themselves stay as they are.
//!
//! Each node builds a remote project's [`Upstream`], [`Mirror`] and [`MetadataCache`] the first
//! time a request needs them, from conan-store's `RemoteStore`, and builds them again when the
//! settings' `updated_at` changes (another node, or the admin CLI, changed them).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use conan_model::{FilePath, RecipeReference, Revision, RevisionTime};
use conan_remote::{CredentialKey, Freshness, ListKey, MetadataCache, Mirror, MirrorError, Tapped};
use conan_store::blob::BlobStore;
use conan_store::remotes::RemoteSettings;
use conan_store::{FileOwner, MetadataStore, ProjectId, RevisionEntry};
use conan_upstream::{Upstream, UpstreamConfig, UpstreamError, UpstreamPackage, Url};

use crate::error::ApiError;

/// Counters of one remote project, for `/metrics` (the label is the project id, so their
/// number is bounded by the number of remote projects).
#[derive(Debug, Default)]
pub struct RemoteCounters {
    /// Requests made to the upstream for revision lists and revisions not yet held.
    pub upstream_requests: AtomicU64,
    /// Of those, the ones that failed (unavailable or wrong answers).
    pub upstream_errors: AtomicU64,
    /// Reads answered without asking the upstream (a fresh list, a revision already held).
    pub cache_hits: AtomicU64,
    /// Reads that had to ask the upstream.
    pub cache_misses: AtomicU64,
    /// Answers served stale because the upstream was unavailable.
    pub stale_answers: AtomicU64,
    /// Bytes of the files fetched from the upstream and stored (the mirror adds to it as each
    /// file is stored, also after the reads that started the fetch have their answers).
    pub fetched_bytes: Arc<AtomicU64>,
}

/// One remote project's upstream, as this node built it.
pub(crate) struct RemoteNode {
    updated_at: Option<RevisionTime>,
    /// The upstream's host, for messages (never its credentials).
    pub(crate) host: String,
    mirror: Arc<Mirror>,
    cache: Arc<MetadataCache>,
    counters: Arc<RemoteCounters>,
}

/// The remote projects this node has served, built lazily.
pub struct RemoteProjects {
    metadata: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    key: Option<CredentialKey>,
    max_file_bytes: u64,
    nodes: Mutex<HashMap<ProjectId, Arc<RemoteNode>>>,
    counters: Mutex<HashMap<ProjectId, Arc<RemoteCounters>>>,
}

impl std::fmt::Debug for RemoteProjects {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("RemoteProjects")
            .field("credentials_key", &self.key.is_some())
            .finish_non_exhaustive()
    }
}

/// How a failed upstream maps to an answer: 504 when it did not answer in time or cannot be
/// reached, 502 otherwise. The reason is the error's own text, which never holds credentials
/// (conan-upstream keeps them out of its errors).
fn upstream_error(host: &str, error: &UpstreamError) -> ApiError {
    let timeout = matches!(
        error,
        UpstreamError::Timeout(_) | UpstreamError::Unreachable(_)
    );
    let reason = match error {
        UpstreamError::Timeout(_) => "did not answer in time".to_owned(),
        UpstreamError::Unreachable(_) => "cannot be reached".to_owned(),
        UpstreamError::Status(status) => format!("answered HTTP {status}"),
        UpstreamError::Refused(status) => {
            format!("refused the registry's credentials (HTTP {status})")
        }
        _ => "answered wrongly".to_owned(),
    };
    tracing::warn!(upstream = host, error = %error, "remote project's upstream failed");
    ApiError::Upstream {
        host: host.to_owned(),
        reason,
        timeout,
    }
}

impl RemoteProjects {
    /// Remote projects storing into `metadata` and `blobs` (files of at most `max_file_bytes`),
    /// opening sealed upstream credentials with `key` when one is configured.
    #[must_use]
    pub fn new(
        metadata: Arc<dyn MetadataStore>,
        blobs: Arc<dyn BlobStore>,
        key: Option<CredentialKey>,
        max_file_bytes: u64,
    ) -> Self {
        Self {
            metadata,
            blobs,
            key,
            max_file_bytes,
            nodes: Mutex::new(HashMap::new()),
            counters: Mutex::new(HashMap::new()),
        }
    }

    /// The counters of every remote project this node has served, by project id.
    #[must_use]
    pub fn counters(&self) -> Vec<(ProjectId, Arc<RemoteCounters>)> {
        let mut all: Vec<_> = self
            .counters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|(id, counters)| (*id, Arc::clone(counters)))
            .collect();
        all.sort_by_key(|(id, _)| id.0);
        all
    }

    /// The node of `project`, whose settings are `settings`: the one built before while the
    /// settings have not changed, else a new one.
    pub(crate) fn node(
        &self,
        project: ProjectId,
        settings: &RemoteSettings,
    ) -> Result<Arc<RemoteNode>, ApiError> {
        let mut nodes = self.nodes.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(node) = nodes.get(&project)
            && node.updated_at == settings.updated_at
        {
            return Ok(Arc::clone(node));
        }
        let node = Arc::new(self.build(project, settings)?);
        nodes.insert(project, Arc::clone(&node));
        Ok(node)
    }

    fn build(&self, project: ProjectId, settings: &RemoteSettings) -> Result<RemoteNode, ApiError> {
        let url = Url::parse(&settings.upstream_url)
            .map_err(|error| ApiError::internal("a remote project's URL does not parse", error))?;
        let host = url.host_str().unwrap_or("the upstream").to_owned();
        let mut config = UpstreamConfig::new(url);
        config.max_file_bytes = self.max_file_bytes;
        if let Some(sealed) = &settings.sealed_credentials {
            let key = self.key.as_ref().ok_or_else(|| {
                ApiError::bug(
                    "a remote project has upstream credentials but remote.credentials_key is not set",
                )
            })?;
            config.credentials = Some(
                key.open(project, sealed)
                    .map_err(|error| ApiError::internal("upstream credentials", error))?,
            );
        }
        let upstream = Arc::new(
            Upstream::new(config)
                .map_err(|error| ApiError::internal("a remote project's upstream", error))?,
        );
        let counters = Arc::clone(
            self.counters
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(project)
                .or_default(),
        );
        let cache = Arc::new(MetadataCache::new(
            Arc::clone(&upstream),
            Duration::from_secs(settings.metadata_ttl_secs.into()),
            Duration::from_secs(settings.not_found_ttl_secs.into()),
        ));
        Ok(RemoteNode {
            updated_at: settings.updated_at,
            host,
            mirror: Arc::new(
                Mirror::new(
                    upstream,
                    Arc::clone(&self.metadata),
                    Arc::clone(&self.blobs),
                    self.max_file_bytes,
                )
                .with_not_found_ttl(Duration::from_secs(settings.not_found_ttl_secs.into()))
                .with_byte_counter(Arc::clone(&counters.fetched_bytes))
                .with_revision_times(Arc::clone(&cache)),
            ),
            cache,
            counters,
        })
    }
}

/// A revision list (or another answer, `T`) from the upstream, through the cache.
pub(crate) enum Listed<T = Vec<RevisionEntry>> {
    /// The upstream's answer (`None`: it has not got it), and whether it is stale.
    Upstream(Option<T>, bool),
    /// The upstream is unavailable and nothing is cached: answer from what the project holds.
    Unavailable(ApiError),
}

impl RemoteNode {
    /// Makes sure the revision `owner` names is held, fetching it from the upstream if not.
    /// A revision the upstream has not got is a 404 (the route's own, from the store).
    pub(crate) async fn ensure(&self, owner: &FileOwner) -> Result<(), ApiError> {
        let outcome = self.mirror.ensure(owner).await;
        self.answer(outcome.map(|fetched| (fetched, ())))
            .map(|_| ())
    }

    /// The file list of `owner` while it is not committed (the upstream's, as soon as the fetch
    /// has it); `None` when the project holds it, or when the upstream has not got it (the
    /// route's own 404, from the store).
    pub(crate) async fn listing(
        &self,
        owner: &FileOwner,
    ) -> Result<Option<Vec<FilePath>>, ApiError> {
        let outcome = self.mirror.listing(owner).await;
        Ok(self
            .answer(outcome.map(|listed| (listed.is_some(), listed)))?
            .flatten())
    }

    /// The file `path` of `owner` while the revision is not committed, as its fetch has it
    /// ([`Tapped`]); `None` as for [`listing`](Self::listing).
    pub(crate) async fn tap(
        &self,
        owner: &FileOwner,
        path: &FilePath,
    ) -> Result<Option<Tapped>, ApiError> {
        let outcome = self.mirror.tap(owner, path).await;
        Ok(self
            .answer(outcome.map(|tapped| (tapped.is_some(), tapped)))?
            .flatten())
    }

    /// Counts a mirror's outcome (`fetched`: it needed the upstream) and maps its failure to the
    /// answer: `None` for a revision the upstream has not got (the route then reads nothing and
    /// answers its usual 404).
    fn answer<T>(&self, outcome: Result<(bool, T), MirrorError>) -> Result<Option<T>, ApiError> {
        let counters = &self.counters;
        match outcome {
            Ok((fetched, value)) => {
                let counter = if fetched {
                    counters.upstream_requests.fetch_add(1, Ordering::Relaxed);
                    &counters.cache_misses
                } else {
                    &counters.cache_hits
                };
                counter.fetch_add(1, Ordering::Relaxed);
                Ok(Some(value))
            }
            Err(MirrorError::NotFound(_)) => {
                counters.upstream_requests.fetch_add(1, Ordering::Relaxed);
                counters.cache_misses.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            Err(MirrorError::Upstream(error)) => {
                counters.upstream_requests.fetch_add(1, Ordering::Relaxed);
                counters.upstream_errors.fetch_add(1, Ordering::Relaxed);
                Err(upstream_error(&self.host, &error))
            }
            Err(MirrorError::Store(message)) => Err(ApiError::Unavailable {
                message: "storing the upstream's revision failed, retry later".to_owned(),
                source: Some(message.into()),
            }),
            Err(error) => {
                counters.upstream_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(upstream = %self.host, error = %error, "remote project's fetch refused");
                Err(ApiError::Upstream {
                    host: self.host.clone(),
                    reason: "answered wrongly".to_owned(),
                    timeout: false,
                })
            }
        }
    }

    /// What the upstream finds for the search `pattern`, through the cache, and whether it is
    /// stale. An upstream that is unavailable with nothing cached finds nothing (the route
    /// answers what the project holds, with the warning); a wrong answer is an error.
    pub(crate) async fn search(
        &self,
        pattern: &str,
    ) -> Result<(Vec<RecipeReference>, bool), ApiError> {
        let hit = self.cache.is_search_fresh(pattern);
        let outcome = self
            .cache
            .search(pattern)
            .await
            .map(|(found, freshness)| (Some(found), freshness));
        Ok(match self.listed(outcome, hit, "search answer")? {
            Listed::Upstream(found, stale) => (found.unwrap_or_default(), stale),
            Listed::Unavailable(_) => (Vec::new(), true),
        })
    }

    /// Counts an answer of the metadata cache (a hit, a miss that asked the upstream, or a
    /// stale answer, which is logged); whether it is stale.
    fn count_answer(&self, freshness: &Freshness, hit: bool, what: &str) -> bool {
        let counters = &self.counters;
        if let Freshness::Stale(error) = freshness {
            counters.stale_answers.fetch_add(1, Ordering::Relaxed);
            counters.upstream_errors.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(upstream = %self.host, error = %error,
                "remote project's upstream unavailable: serving a stale {what}");
            return true;
        }
        if hit {
            counters.cache_hits.fetch_add(1, Ordering::Relaxed);
        } else {
            counters.cache_misses.fetch_add(1, Ordering::Relaxed);
            counters.upstream_requests.fetch_add(1, Ordering::Relaxed);
        }
        false
    }

    /// The upstream's list `key` names, through the cache.
    pub(crate) async fn list(&self, key: &ListKey) -> Result<Listed, ApiError> {
        let hit = self.cache.is_fresh(key);
        let outcome = self
            .cache
            .revisions(key)
            .await
            .map(|(revisions, freshness)| {
                let revisions = revisions.map(|list| {
                    list.into_iter()
                        .map(|entry| RevisionEntry {
                            revision: entry.revision,
                            time: entry.time,
                        })
                        .collect()
                });
                (revisions, freshness)
            });
        self.listed(outcome, hit, "revision list")
    }

    /// The upstream's package search of `revision` of `recipe`, through the cache.
    pub(crate) async fn packages(
        &self,
        recipe: &RecipeReference,
        revision: &Revision,
    ) -> Result<Listed<Vec<UpstreamPackage>>, ApiError> {
        let hit = self.cache.is_packages_fresh(recipe, revision);
        let outcome = self.cache.packages(recipe, revision).await;
        self.listed(outcome, hit, "package search")
    }

    /// Counts an answer of the metadata cache (`hit`: it was fresh) and maps it: an unavailable
    /// upstream with nothing cached is [`Listed::Unavailable`] (the route answers from what
    /// the project holds), a wrong answer an error.
    fn listed<T>(
        &self,
        outcome: Result<(Option<T>, Freshness), UpstreamError>,
        hit: bool,
        what: &str,
    ) -> Result<Listed<T>, ApiError> {
        let counters = &self.counters;
        match outcome {
            Ok((answer, freshness)) => {
                let stale = self.count_answer(&freshness, hit, what);
                Ok(Listed::Upstream(answer, stale))
            }
            Err(error) => {
                counters.upstream_requests.fetch_add(1, Ordering::Relaxed);
                counters.upstream_errors.fetch_add(1, Ordering::Relaxed);
                let answer = upstream_error(&self.host, &error);
                if error.is_unavailable() {
                    Ok(Listed::Unavailable(answer))
                } else {
                    Err(answer)
                }
            }
        }
    }
}
