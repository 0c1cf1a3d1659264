//! The identity cache: what authentication and authorization read (signing keys, verified
//! Conan tokens, users, tokens, projects, memberships, virtual projects' layouts), kept per process and valid only under the
//! identity epoch it was read at.
//!
//! The store's identity epoch ([`IdentityStore::identity_epoch`](conan_store::IdentityStore))
//! moves forward in the same transaction as every change to identities, so a request that reads
//! epoch `E` in its snapshot would read exactly what was read before under `E`. Every request
//! reads the epoch first and uses only entries read under that same epoch; a request that sees a
//! newer epoch empties the cache. A revocation is therefore seen by every node at its next
//! request, as without the cache, and a request whose snapshot is older than the cache (it began
//! before a change another request already saw) neither reads nor fills it.
//!
//! An entry is always loaded after its epoch was read, so it is never older than its epoch's
//! state (outside a read scope it may be newer, which is what a later request would see anyway).
//! Expiry times are not identity changes: callers check them on every use. Each map holds at most
//! `capacity` entries and is emptied when full, so hostile lookups cost memory only up to that.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, PoisonError};

use conan_store::{
    Project, ProjectId, ProjectKey, Role, SigningKey, Token, TokenId, TokenKind, User, UserId,
};

use crate::jwt::Claims;

/// A project named by id or by path, owned (the cache's form of [`ProjectKey`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum ProjectName {
    Id(ProjectId),
    Path(String),
}

impl From<ProjectKey<'_>> for ProjectName {
    fn from(key: ProjectKey<'_>) -> Self {
        match key {
            ProjectKey::Id(id) => Self::Id(id),
            ProjectKey::Path(path) => Self::Path(path.to_owned()),
        }
    }
}

/// A project with the caller's role in it, as `IdentityStore::project_and_role` answers.
pub(crate) type ProjectRole = Option<(Project, Option<Role>)>;

/// The cached lookups, each keyed as the store call it stands for.
#[derive(Default)]
pub(crate) struct Maps {
    pub(crate) signing_keys: HashMap<(), Vec<SigningKey>>,
    /// Verified Conan tokens by their text: verification depends on the signing keys only.
    pub(crate) claims: HashMap<String, Claims>,
    pub(crate) users: HashMap<UserId, Option<User>>,
    pub(crate) personal_tokens: HashMap<TokenId, Option<Token>>,
    pub(crate) deploy_tokens: HashMap<TokenId, Option<Token>>,
    pub(crate) personal_tokens_by_hash: HashMap<String, Option<Token>>,
    pub(crate) deploy_tokens_by_hash: HashMap<String, Option<Token>>,
    pub(crate) projects: HashMap<ProjectId, Option<Project>>,
    pub(crate) project_roles: HashMap<(ProjectName, Option<UserId>), ProjectRole>,
    pub(crate) memberships: HashMap<(ProjectId, UserId), Option<Role>>,
    pub(crate) user_memberships: HashMap<UserId, Vec<(ProjectId, Role)>>,
    pub(crate) open_projects: HashMap<Vec<conan_store::Visibility>, Vec<Project>>,
    pub(crate) virtual_layouts: HashMap<ProjectId, Option<conan_store::VirtualLayout>>,
    pub(crate) remotes: HashMap<ProjectId, Option<conan_store::remotes::RemoteSettings>>,
}

/// A map of [`Maps`], chosen by a function so that the cache can reach it under its lock.
type MapOf<K, V> = fn(&mut Maps) -> &mut HashMap<K, V>;

impl Maps {
    /// The tokens of `kind` by id. Each kind keeps its own map (and its own bound), since ids
    /// are per kind.
    pub(crate) fn tokens(kind: TokenKind) -> MapOf<TokenId, Option<Token>> {
        match kind {
            TokenKind::Personal => |maps| &mut maps.personal_tokens,
            TokenKind::Deploy => |maps| &mut maps.deploy_tokens,
        }
    }

    /// The tokens of `kind` by the hash of their secret.
    pub(crate) fn tokens_by_hash(kind: TokenKind) -> MapOf<String, Option<Token>> {
        match kind {
            TokenKind::Personal => |maps| &mut maps.personal_tokens_by_hash,
            TokenKind::Deploy => |maps| &mut maps.deploy_tokens_by_hash,
        }
    }
}

struct State {
    /// The epoch every entry was read under; `None` before the first request.
    epoch: Option<i64>,
    maps: Maps,
}

/// See the module documentation.
pub(crate) struct IdentityCache {
    capacity: usize,
    state: Mutex<State>,
}

impl IdentityCache {
    /// A cache of at most `capacity` entries per kind of lookup.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            state: Mutex::new(State {
                epoch: None,
                maps: Maps::default(),
            }),
        }
    }

    /// Runs `work` on the maps if they hold entries of `epoch`: after emptying them when `epoch`
    /// is newer than theirs, not at all (`None`) when it is older.
    fn at_epoch<R>(&self, epoch: i64, work: impl FnOnce(&mut Maps) -> R) -> Option<R> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.epoch.is_none_or(|current| epoch > current) {
            state.epoch = Some(epoch);
            state.maps = Maps::default();
        }
        (state.epoch == Some(epoch)).then(|| work(&mut state.maps))
    }

    /// The value of the lookup `key` in `map` under `epoch`, from the cache or else from `load`
    /// (whose value is then kept if the cache is still at `epoch`). Errors are never kept.
    pub(crate) fn get_or_load<K, V, E>(
        &self,
        epoch: i64,
        map: fn(&mut Maps) -> &mut HashMap<K, V>,
        key: K,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<V, E>
    where
        K: Eq + Hash,
        V: Clone,
    {
        if let Some(value) = self
            .at_epoch(epoch, |maps| map(maps).get(&key).cloned())
            .flatten()
        {
            return Ok(value);
        }
        let value = load()?;
        let capacity = self.capacity;
        self.at_epoch(epoch, |maps| {
            let entries = map(maps);
            if entries.len() >= capacity {
                entries.clear();
            }
            entries.insert(key, value.clone());
        });
        Ok(value)
    }

    /// Changes the entry `key` of `map` in place if the cache holds one under `epoch`, for data
    /// that is not part of the epoch (a token's last-use time).
    pub(crate) fn update<K, V>(
        &self,
        epoch: i64,
        map: fn(&mut Maps) -> &mut HashMap<K, V>,
        key: &K,
        change: impl FnOnce(&mut V),
    ) where
        K: Eq + Hash,
    {
        self.at_epoch(epoch, |maps| map(maps).get_mut(key).map(change));
    }

    /// How many signing-key, verified-token and user entries are cached (for tests).
    #[cfg(test)]
    fn len(&self) -> usize {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let maps = &state.maps;
        maps.signing_keys.len() + maps.claims.len() + maps.users.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users(maps: &mut Maps) -> &mut HashMap<UserId, Option<User>> {
        &mut maps.users
    }

    /// A store read that counts itself.
    #[allow(
        clippy::unnecessary_wraps,
        reason = "stands in for a fallible store read"
    )]
    fn load(calls: &mut u32, value: Option<User>) -> Result<Option<User>, ()> {
        *calls += 1;
        Ok(value)
    }

    fn user(name: &str) -> User {
        User {
            id: UserId(1),
            username: name.to_owned(),
            password_hash: None,
            is_admin: false,
            is_active: true,
            created_at: conan_model::RevisionTime::from_unix_micros(0).unwrap(),
        }
    }

    #[test]
    fn entries_serve_their_epoch_only() {
        let cache = IdentityCache::new(100);
        let mut calls = 0;
        let get = |cache: &IdentityCache, epoch, calls: &mut u32, name: &str| {
            cache
                .get_or_load(epoch, users, UserId(1), || load(calls, Some(user(name))))
                .unwrap()
                .unwrap()
                .username
        };
        assert_eq!(get(&cache, 5, &mut calls, "a"), "a");
        assert_eq!(
            get(&cache, 5, &mut calls, "b"),
            "a",
            "served from the cache"
        );
        assert_eq!(calls, 1);
        // A newer epoch empties the cache and loads again.
        assert_eq!(get(&cache, 6, &mut calls, "c"), "c");
        assert_eq!(calls, 2);
        // An older snapshot neither reads nor fills the cache.
        assert_eq!(get(&cache, 5, &mut calls, "old"), "old");
        assert_eq!(get(&cache, 6, &mut calls, "d"), "c");
        assert_eq!(calls, 3);
    }

    #[test]
    fn a_load_from_an_older_epoch_is_not_kept_under_a_newer_one() {
        let cache = IdentityCache::new(100);
        // A request at epoch 7 loads while another one moves the cache to epoch 8.
        let loaded = cache.get_or_load(7, users, UserId(1), || {
            cache
                .get_or_load(8, users, UserId(1), || Ok::<_, ()>(Some(user("new"))))
                .unwrap();
            Ok::<_, ()>(Some(user("old")))
        });
        assert_eq!(loaded.unwrap().unwrap().username, "old");
        let mut calls = 0;
        let kept = cache
            .get_or_load(8, users, UserId(1), || load(&mut calls, None))
            .unwrap();
        assert_eq!(kept.unwrap().username, "new");
        assert_eq!(calls, 0);
    }

    #[test]
    fn errors_are_not_kept_and_full_maps_are_emptied() {
        let cache = IdentityCache::new(2);
        assert!(
            cache
                .get_or_load(1, users, UserId(1), || Err::<Option<User>, _>(()))
                .is_err()
        );
        assert_eq!(cache.len(), 0);
        for id in 1..=3 {
            cache
                .get_or_load(1, users, UserId(id), || Ok::<_, ()>(None))
                .unwrap();
        }
        assert_eq!(cache.len(), 1, "the third entry found the map full");
        let mut calls = 0;
        cache
            .get_or_load(1, users, UserId(3), || load(&mut calls, None))
            .unwrap();
        assert_eq!(calls, 0);
    }

    #[test]
    fn updates_touch_entries_of_the_current_epoch() {
        let cache = IdentityCache::new(10);
        cache
            .get_or_load(3, users, UserId(1), || Ok::<_, ()>(Some(user("a"))))
            .unwrap();
        cache.update(2, users, &UserId(1), |entry| *entry = None);
        cache.update(3, users, &UserId(1), |entry| {
            if let Some(user) = entry {
                user.username = "b".to_owned();
            }
        });
        let mut calls = 0;
        let cached = cache
            .get_or_load(3, users, UserId(1), || load(&mut calls, None))
            .unwrap();
        assert_eq!(cached.unwrap().username, "b");
    }
}
