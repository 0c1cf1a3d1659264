//! Revision lists and search answers from the upstream, cached for a time to live, and served
//! stale (with the reason) when the upstream is down.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use conan_model::{PackageId, RecipeReference, Revision};
use conan_store::FileOwner;
use conan_upstream::{RevisionEntry, Upstream, UpstreamError, UpstreamPackage};

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

impl ListKey {
    /// The list `owner`'s revision is listed in.
    #[must_use]
    pub fn of(owner: &FileOwner) -> Self {
        match owner {
            FileOwner::Recipe(key) => Self::Recipe(key.recipe.clone()),
            FileOwner::Package(key) => Self::Package(
                key.recipe.recipe.clone(),
                key.recipe.revision.clone(),
                key.package_id.clone(),
            ),
        }
    }

    /// Asks `upstream` for the list, uncached.
    pub async fn ask(
        &self,
        upstream: &Upstream,
    ) -> Result<Option<Vec<RevisionEntry>>, UpstreamError> {
        match self {
            Self::Recipe(recipe) => upstream.recipe_revisions(recipe).await,
            Self::Package(recipe, revision, package) => {
                upstream.package_revisions(recipe, revision, package).await
            }
        }
    }
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
struct Entry<V> {
    /// `None`: the upstream has not got it (cached for the shorter negative time to live).
    value: Option<V>,
    fetched: Instant,
}

type Fetched<V> = Result<Option<V>, UpstreamError>;

/// Answers of one kind from the upstream, each fresh for a time to live (a "not found" for a
/// shorter one), asked once however many miss together, and kept to be served stale.
struct TtlCache<K, V> {
    ttl: Duration,
    negative_ttl: Duration,
    entries: Arc<Mutex<HashMap<K, Entry<V>>>>,
    flights: SingleFlight<K, Fetched<V>>,
}

impl<K, V> TtlCache<K, V>
where
    K: Eq + Hash + Clone + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    fn new(ttl: Duration, negative_ttl: Duration) -> Self {
        Self {
            ttl,
            negative_ttl,
            entries: Arc::new(Mutex::new(HashMap::new())),
            flights: SingleFlight::new(),
        }
    }

    fn cached(&self, key: &K) -> Option<Entry<V>> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(key)
            .cloned()
    }

    fn fresh(&self, entry: &Entry<V>) -> bool {
        let ttl = if entry.value.is_some() {
            self.ttl
        } else {
            self.negative_ttl
        };
        entry.fetched.elapsed() < ttl
    }

    fn is_fresh(&self, key: &K) -> bool {
        self.cached(key).is_some_and(|entry| self.fresh(&entry))
    }

    fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The answer for `key`: the cached one while fresh; otherwise `fetch`'s (one fetch
    /// however many ask at once), or, when the upstream is unavailable, the cached one marked
    /// stale.
    async fn get<F>(&self, key: &K, fetch: F) -> Result<(Option<V>, Freshness), UpstreamError>
    where
        F: Future<Output = Fetched<V>> + Send + 'static,
    {
        let cached = self.cached(key);
        if let Some(entry) = &cached
            && self.fresh(entry)
        {
            return Ok((entry.value.clone(), Freshness::Fresh));
        }
        let entries = Arc::clone(&self.entries);
        let fetch_key = key.clone();
        let outcome = self
            .flights
            .run(key.clone(), async move {
                let answer = fetch.await;
                if let Ok(value) = &answer {
                    let mut entries = entries.lock().unwrap_or_else(PoisonError::into_inner);
                    if entries.len() >= MAX_ENTRIES {
                        drop_oldest_tenth(&mut entries, |entry| entry.fetched);
                    }
                    entries.insert(
                        fetch_key,
                        Entry {
                            value: value.clone(),
                            fetched: Instant::now(),
                        },
                    );
                }
                answer
            })
            .await;
        match (outcome.as_ref(), cached) {
            (Ok(value), _) => Ok((value.clone(), Freshness::Fresh)),
            (Err(error), Some(entry)) if error.is_unavailable() => {
                Ok((entry.value, Freshness::Stale(error.clone())))
            }
            (Err(error), _) => Err(error.clone()),
        }
    }
}

/// Revision lists, search results and package searches of one upstream, revision lists newest
/// first as the upstream gives them.
pub struct MetadataCache {
    upstream: Arc<Upstream>,
    lists: TtlCache<ListKey, Vec<RevisionEntry>>,
    searches: TtlCache<String, Vec<RecipeReference>>,
    packages: TtlCache<(RecipeReference, Revision), Vec<UpstreamPackage>>,
}

impl std::fmt::Debug for MetadataCache {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("MetadataCache")
            .field("ttl", &self.lists.ttl)
            .field("negative_ttl", &self.lists.negative_ttl)
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
            lists: TtlCache::new(ttl, negative_ttl),
            searches: TtlCache::new(ttl, negative_ttl),
            packages: TtlCache::new(ttl, negative_ttl),
        }
    }

    /// The list `key` names: the cached one while fresh; otherwise the upstream's (one request
    /// however many ask at once), or, when the upstream is unavailable, the cached one marked
    /// stale. `None` when the upstream has not got it. Fails when the upstream cannot answer
    /// and nothing is cached, or answers wrongly.
    pub async fn revisions(
        &self,
        key: &ListKey,
    ) -> Result<(Option<Vec<RevisionEntry>>, Freshness), UpstreamError> {
        let upstream = Arc::clone(&self.upstream);
        let fetch_key = key.clone();
        self.lists
            .get(key, async move { fetch_key.ask(&upstream).await })
            .await
    }

    /// The references the upstream finds for the Conan search `pattern` (`zlib/*`), as
    /// [`revisions`](Self::revisions) caches lists: fresh for the time to live, one request
    /// for concurrent misses, the last answer marked stale when the upstream is unavailable.
    pub async fn search(
        &self,
        pattern: &str,
    ) -> Result<(Vec<RecipeReference>, Freshness), UpstreamError> {
        let upstream = Arc::clone(&self.upstream);
        let sent = pattern.to_owned();
        let (found, freshness) = self
            .searches
            .get(&pattern.to_owned(), async move {
                upstream.search(&sent).await.map(Some)
            })
            .await?;
        Ok((found.unwrap_or_default(), freshness))
    }

    /// The binaries of the recipe revision `revision` of `recipe` (the upstream's package
    /// search), cached as [`revisions`](Self::revisions) caches lists. `None` when the upstream
    /// has not got the recipe.
    pub async fn packages(
        &self,
        recipe: &RecipeReference,
        revision: &Revision,
    ) -> Result<(Option<Vec<UpstreamPackage>>, Freshness), UpstreamError> {
        let upstream = Arc::clone(&self.upstream);
        let key = (recipe.clone(), revision.clone());
        let (recipe, revision) = key.clone();
        self.packages
            .get(&key, async move {
                upstream.package_search(&recipe, &revision).await
            })
            .await
    }

    /// Whether the package search of `revision` of `recipe` is cached and fresh.
    #[must_use]
    pub fn is_packages_fresh(&self, recipe: &RecipeReference, revision: &Revision) -> bool {
        self.packages.is_fresh(&(recipe.clone(), revision.clone()))
    }

    /// Whether the list `key` names is cached and fresh, so that [`revisions`](Self::revisions)
    /// would answer it without the upstream (for the hit and miss counters of `/metrics`).
    #[must_use]
    pub fn is_fresh(&self, key: &ListKey) -> bool {
        self.lists.is_fresh(key)
    }

    /// Whether the search `pattern` is cached and fresh.
    #[must_use]
    pub fn is_search_fresh(&self, pattern: &str) -> bool {
        self.searches.is_fresh(&pattern.to_owned())
    }

    /// How many lists are cached.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lists.len()
    }

    /// Whether nothing is cached.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Makes room in a cache whose values carry the time they were stored (`at`): drops the oldest
/// tenth.
pub(crate) fn drop_oldest_tenth<K, V>(entries: &mut HashMap<K, V>, at: impl Fn(&V) -> Instant) {
    let mut ages: Vec<Instant> = entries.values().map(&at).collect();
    ages.sort_unstable();
    if let Some(&cutoff) = ages.get(ages.len() / 10) {
        entries.retain(|_, entry| at(entry) > cutoff);
    }
}
