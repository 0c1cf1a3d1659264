//! The revision-list cache against the counting upstream: fresh within the time to live, one
//! request for many concurrent misses, a new upstream revision visible after the time to live
//! and not before, stale answers when the upstream is down, 404s cached briefly.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test code: a panic is the failure report"
)]

mod upstream;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use conan_remote::{Freshness, ListKey, MetadataCache};
use conan_upstream::{Upstream, UpstreamConfig, UpstreamError};
use upstream::{RREV, RREV2};

const LIST: &str = "/v2/conans/zlib/1.3/_/_/revisions";

fn cache(url: &str, ttl: Duration) -> Arc<MetadataCache> {
    let mut config = UpstreamConfig::new(url.parse().unwrap());
    config.metadata_timeout = Duration::from_secs(2);
    let client = Arc::new(Upstream::new(config).unwrap());
    Arc::new(MetadataCache::new(client, ttl, Duration::from_secs(1)))
}

fn zlib() -> ListKey {
    ListKey::Recipe("zlib/1.3".parse().unwrap())
}

fn revisions(answer: &(Option<Vec<conan_upstream::RevisionEntry>>, Freshness)) -> Vec<String> {
    answer
        .0
        .iter()
        .flatten()
        .map(|entry| entry.revision.to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lists_are_fresh_for_the_ttl_then_asked_again() {
    let upstream = upstream::start().await;
    let cache = cache(&upstream.url, Duration::from_secs(2));
    let asks = (0..16).map(|_| {
        let cache = Arc::clone(&cache);
        tokio::spawn(async move { cache.revisions(&zlib()).await })
    });
    for answer in futures::future::join_all(asks).await {
        let answer = answer.unwrap().unwrap();
        assert_eq!(revisions(&answer), [RREV]);
        assert_eq!(answer.1, Freshness::Fresh);
    }
    assert_eq!(upstream.count(LIST), 1);
    // A new upstream revision: not visible before the time to live ends, visible after.
    upstream.revisions.lock().unwrap().insert(0, RREV2);
    assert_eq!(revisions(&cache.revisions(&zlib()).await.unwrap()), [RREV]);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(
        revisions(&cache.revisions(&zlib()).await.unwrap()),
        [RREV2, RREV]
    );
    assert_eq!(upstream.count(LIST), 2);
}

#[tokio::test]
async fn a_down_upstream_gets_the_last_list_marked_stale() {
    let upstream = upstream::start().await;
    let cache = cache(&upstream.url, Duration::from_millis(100));
    assert!(!cache.is_fresh(&zlib()));
    cache.revisions(&zlib()).await.unwrap();
    assert!(cache.is_fresh(&zlib()));
    upstream.down.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert!(!cache.is_fresh(&zlib()));
    let answer = cache.revisions(&zlib()).await.unwrap();
    assert_eq!(revisions(&answer), [RREV]);
    assert_eq!(answer.1, Freshness::Stale(UpstreamError::Status(503)));
    // What was never cached fails, clearly.
    let other = ListKey::Recipe("openssl/3.0".parse().unwrap());
    assert_eq!(
        cache.revisions(&other).await.unwrap_err(),
        UpstreamError::Status(503)
    );
    // Back up: fresh again.
    upstream.down.store(false, Ordering::SeqCst);
    assert_eq!(cache.revisions(&zlib()).await.unwrap().1, Freshness::Fresh);
}

#[tokio::test]
async fn a_404_is_cached_for_the_shorter_ttl() {
    let upstream = upstream::start().await;
    let cache = cache(&upstream.url, Duration::from_mins(1));
    let missing = ListKey::Recipe("openssl/3.0".parse().unwrap());
    let path = "/v2/conans/openssl/3.0/_/_/revisions";
    assert_eq!(
        cache.revisions(&missing).await.unwrap(),
        (None, Freshness::Fresh)
    );
    assert_eq!(cache.revisions(&missing).await.unwrap().0, None);
    assert_eq!(upstream.count(path), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(cache.revisions(&missing).await.unwrap().0, None);
    assert_eq!(upstream.count(path), 2);
    assert_eq!(cache.len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_package_searches_make_one_request() {
    let upstream = upstream::start().await;
    let cache = cache(&upstream.url, Duration::from_mins(1));
    let recipe: conan_model::RecipeReference = "zlib/1.3".parse().unwrap();
    let revision: conan_model::Revision = RREV.parse().unwrap();
    let asks = (0..16).map(|_| {
        let (cache, recipe, revision) = (Arc::clone(&cache), recipe.clone(), revision.clone());
        tokio::spawn(async move { cache.packages(&recipe, &revision).await })
    });
    for answer in futures::future::join_all(asks).await {
        let (packages, freshness) = answer.unwrap().unwrap();
        let packages = packages.unwrap();
        assert_eq!(packages[0].package_id.as_str(), upstream::PKG);
        assert_eq!(
            packages[0].conaninfo.as_deref(),
            Some("[settings]\nos=Linux\n")
        );
        assert_eq!(freshness, Freshness::Fresh);
    }
    assert_eq!(
        upstream.count(&format!("/v2/conans/zlib/1.3/_/_/revisions/{RREV}/search")),
        1
    );
    assert!(cache.is_packages_fresh(&recipe, &revision));
}
