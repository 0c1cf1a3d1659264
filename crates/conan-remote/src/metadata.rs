//! Revision lists from the upstream, cached for a time to live, and served stale (with the
//! reason) when the upstream is down.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use conan_model::{PackageId, RecipeReference, Revision};
use conan_upstream::{RevisionEntry, Upstream, UpstreamError};

use crate::SingleFlight;

/// The most lists a cache keeps; past it, the expired go first, then the oldest.
const MAX_ENTRIES: usize = 100_000;

/// What a list is of.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ListKey {
    /// A recipe's revisions.
    Recipe(RecipeReference),
    /// A binary's package revisions in one recipe revision.
    Package(RecipeReference, Revision, PackageId),
}

/// How fresh an answer is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    /// From the upstream within the time to live.
    Fresh,
    /// Older than the time to live: the upstream could not be asked again, for this reason.
    /// The registry answers it all the same, with a warning.
    Stale(UpstreamError),
}

#[derive(Debug, Clone)]
struct Entry {
    /// `None`: the upstream has not got it (cached for the shorter negative time to live).
    revisions: Option<Vec<RevisionEntry>>,
    fetched: Instant,
}

/// Revision lists of one upstream, newest first as the upstream gives them.
pub struct MetadataCache {
    upstream: Arc<Upstream>,
    ttl: Duration,
    negative_ttl: Duration,
    entries: Arc<Mutex<HashMap<ListKey, Entry>>>,
    flights: SingleFlight<ListKey, Result<Option<Vec<RevisionEntry>>, UpstreamError>>,
}

impl std::fmt::Debug for MetadataCache {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MetadataCache")
            .field("ttl", &self.ttl)
            .field("negative_ttl", &self.negative_ttl)
            .finish_non_exhaustive()
    }
}

impl MetadataCache {
    /// A cache of `upstream`'s lists: an answer is fresh for `ttl`, an upstream 404 for
    /// `negative_ttl`.
    #[must_use]
    pub fn new(upstream: Arc<Upstream>, ttl: Duration, negative_ttl: Duration) -> Self {
        Self {
            upstream,
            ttl,
            negative_ttl,
            entries: Arc::new(Mutex::new(HashMap::new())),
            flights: SingleFlight::new(),
        }
    }

    fn cached(&self, key: &ListKey) -> Option<Entry> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn fresh(&self, entry: &Entry) -> bool {
        let ttl = if entry.revisions.is_some() {
            self.ttl
        } else {
            self.negative_ttl
        };
        entry.fetched.elapsed() < ttl
    }

    /// The list `key` names: the cached one while fresh; otherwise the upstream's (one request
    /// however many ask at once), or, when the upstream is unavailable, the cached one marked
    /// stale. `None` when the upstream has not got it. Fails when the upstream cannot answer
    /// and nothing is cached, or answers wrongly.
    pub async fn revisions(
        &self,
        key: &ListKey,
    ) -> Result<(Option<Vec<RevisionEntry>>, Freshness), UpstreamError> {
        let cached = self.cached(key);
        if let Some(entry) = &cached
            && self.fresh(entry)
        {
            return Ok((entry.revisions.clone(), Freshness::Fresh));
        }
        let upstream = Arc::clone(&self.upstream);
        let entries = Arc::clone(&self.entries);
        let fetch_key = key.clone();
        let outcome = self
            .flights
            .run(key.clone(), async move {
                let answer = match &fetch_key {
                    ListKey::Recipe(recipe) => upstream.recipe_revisions(recipe).await,
                    ListKey::Package(recipe, revision, package) => {
                        upstream.package_revisions(recipe, revision, package).await
                    }
                };
                if let Ok(revisions) = &answer {
                    let mut entries = entries.lock().unwrap_or_else(PoisonError::into_inner);
                    if entries.len() >= MAX_ENTRIES {
                        trim(&mut entries);
                    }
                    entries.insert(
                        fetch_key,
                        Entry {
                            revisions: revisions.clone(),
                            fetched: Instant::now(),
                        },
                    );
                }
                answer
            })
            .await;
        match (outcome.as_ref(), cached) {
            (Ok(revisions), _) => Ok((revisions.clone(), Freshness::Fresh)),
            (Err(error), Some(entry)) if error.is_unavailable() => {
                Ok((entry.revisions, Freshness::Stale(error.clone())))
            }
            (Err(error), _) => Err(error.clone()),
        }
    }

    /// Whether the list `key` names is cached and fresh, so that [`revisions`](Self::revisions)
    /// would answer it without the upstream (for the hit and miss counters of `/metrics`).
    #[must_use]
    pub fn is_fresh(&self, key: &ListKey) -> bool {
        self.cached(key).is_some_and(|entry| self.fresh(&entry))
    }

    /// How many lists are cached.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// Whether nothing is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Makes room: drops the oldest tenth of the entries.
fn trim(entries: &mut HashMap<ListKey, Entry>) {
    let mut ages: Vec<Instant> = entries.values().map(|entry| entry.fetched).collect();
    ages.sort_unstable();
    if let Some(&cutoff) = ages.get(ages.len() / 10) {
        entries.retain(|_, entry| entry.fetched > cutoff);
    }
}
