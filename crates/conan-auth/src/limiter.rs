//! Rate limiting of failed logins, per user name and per client address, so passwords and
//! tokens cannot be guessed at the speed of the network.
//!
//! Every HTTP Basic check (the `users/authenticate` login, and Basic credentials sent to any
//! other route) first asks [`LoginLimiter::begin`] for an [`Attempt`]. Each key (the user name
//! sent, and the client address) has a fixed window that opens at its first failure and lasts
//! `login_failure_window_secs`; once a key has `login_max_failures_per_*` failures in its
//! window, every further attempt with that key is refused until the window ends, **before** the
//! password is hashed, so a flood of guesses also cannot exhaust the CPU with argon2.
//!
//! - An attempt counts as a failure up front and is taken back when it turns out not to be
//!   one, so parallel guesses cannot slip past the limit between the check and the verdict.
//! - Only wrong credentials stay counted; a store failure (database down) is taken back.
//! - A successful login clears its own user name's count (as GitLab does) and nothing else: it
//!   never resets another user's count, nor the address count, which an attacker holding one
//!   valid account could otherwise use to keep guessing others.
//! - IPv6 clients are counted per /64, the block one subscriber usually gets, since stepping
//!   through addresses inside it costs nothing. An IPv4-mapped IPv6 address counts as IPv4.
//! - User names are kept as keyed 64-bit hashes (std's randomly seeded `SipHash`), so memory per
//!   key is fixed whatever the length of the name sent, and each map holds at most
//!   [`MAX_TRACKED_KEYS`] keys: expired windows are dropped first, then the oldest.
//!
//! The counts live in the memory of one process: with several nodes behind a load balancer
//! each node counts separately, so a client may make up to (nodes x limit) attempts per window.
//! That bound is still what matters against guessing, and keeps logins free of database writes.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// The most keys one map (user names, addresses) tracks at once.
pub const MAX_TRACKED_KEYS: usize = 100_000;

/// The limits, taken from [`AuthConfig`](crate::AuthConfig).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimiterSettings {
    /// Failures one user name may have per window; 0 disables the per-user limit.
    pub max_failures_per_user: u32,
    /// Failures one client address may have per window; 0 disables the per-address limit.
    pub max_failures_per_address: u32,
    /// The window; zero disables limiting altogether.
    pub window: Duration,
}

/// A refused attempt: the key is over its limit for another `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimited {
    /// Time until the blocking window ends (rounded up to whole seconds, at least one).
    pub retry_after: Duration,
}

impl RateLimited {
    /// [`Self::retry_after`] in whole seconds, for a `Retry-After` header.
    #[must_use]
    pub fn retry_after_secs(&self) -> u64 {
        self.retry_after.as_secs()
    }
}

/// The address key: an IPv4 address, or the /64 prefix of an IPv6 address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum AddressKey {
    V4(u32),
    V6(u64),
}

impl AddressKey {
    fn of(address: IpAddr) -> Self {
        match address.to_canonical() {
            IpAddr::V4(v4) => Self::V4(u32::from(v4)),
            // The upper 64 bits always fit: `unwrap_or` is never taken.
            IpAddr::V6(v6) => Self::V6(u64::try_from(u128::from(v6) >> 64).unwrap_or(u64::MAX)),
        }
    }
}

/// The failures of one key in its current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    failures: u32,
}

/// One map of keys to windows, bounded in size.
#[derive(Debug)]
struct Counts<K> {
    windows: HashMap<K, Window>,
}

impl<K: Eq + Hash + Copy> Counts<K> {
    fn new() -> Self {
        Self {
            windows: HashMap::new(),
        }
    }

    /// The live window of `key` at `now`, if any (an expired one is removed).
    fn live(&mut self, key: K, now: Instant, window: Duration) -> Option<Window> {
        let current = *self.windows.get(&key)?;
        if now.saturating_duration_since(current.started) >= window {
            self.windows.remove(&key);
            return None;
        }
        Some(current)
    }

    /// How long `key` stays blocked at `now`, if it has reached `max`.
    fn blocked_for(
        &mut self,
        key: K,
        max: u32,
        now: Instant,
        window: Duration,
    ) -> Option<Duration> {
        let current = self.live(key, now, window)?;
        (current.failures >= max).then(|| (current.started + window).saturating_duration_since(now))
    }

    /// Counts one failure of `key`, opening a window if none is live; returns the window's start.
    fn add(&mut self, key: K, now: Instant, window: Duration) -> Instant {
        if let Some(mut current) = self.live(key, now, window) {
            current.failures = current.failures.saturating_add(1);
            self.windows.insert(key, current);
            return current.started;
        }
        self.make_room(now, window);
        self.windows.insert(
            key,
            Window {
                started: now,
                failures: 1,
            },
        );
        now
    }

    /// Takes back one failure of `key` if its window is still the one that `started` at.
    fn take_back(&mut self, key: K, started: Instant) {
        if let Some(current) = self.windows.get_mut(&key)
            && current.started == started
        {
            current.failures = current.failures.saturating_sub(1);
            if current.failures == 0 {
                self.windows.remove(&key);
            }
        }
    }

    fn clear(&mut self, key: K) {
        self.windows.remove(&key);
    }

    /// Keeps the map under [`MAX_TRACKED_KEYS`] before a new key goes in.
    fn make_room(&mut self, now: Instant, window: Duration) {
        if self.windows.len() < MAX_TRACKED_KEYS {
            return;
        }
        self.windows
            .retain(|_, current| now.saturating_duration_since(current.started) < window);
        while self.windows.len() >= MAX_TRACKED_KEYS {
            let Some(oldest) = self
                .windows
                .iter()
                .min_by_key(|(_, current)| current.started)
                .map(|(key, _)| *key)
            else {
                return;
            };
            self.windows.remove(&oldest);
        }
    }
}

#[derive(Debug)]
struct State {
    users: Counts<u64>,
    addresses: Counts<AddressKey>,
}

/// Counts failed logins and refuses attempts over the limits (see the module docs).
#[derive(Debug)]
pub struct LoginLimiter {
    settings: LimiterSettings,
    hasher: std::hash::RandomState,
    state: Mutex<State>,
}

impl LoginLimiter {
    /// A limiter with `settings` and no failures counted.
    #[must_use]
    pub fn new(settings: LimiterSettings) -> Self {
        Self {
            settings,
            hasher: std::hash::RandomState::new(),
            state: Mutex::new(State {
                users: Counts::new(),
                addresses: Counts::new(),
            }),
        }
    }

    /// The limits in force.
    #[must_use]
    pub fn settings(&self) -> LimiterSettings {
        self.settings
    }

    fn enabled(&self) -> bool {
        !self.settings.window.is_zero()
            && (self.settings.max_failures_per_user > 0
                || self.settings.max_failures_per_address > 0)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The counts stay consistent whatever panicked while holding the lock.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a login attempt by `username` from `address` at `now`: refused while either key is
    /// over its limit, otherwise counted as a failure until [`Attempt`] says how it ended.
    pub fn begin(
        self: &Arc<Self>,
        username: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<Attempt, RateLimited> {
        if !self.enabled() {
            return Ok(Attempt::untracked());
        }
        let LimiterSettings {
            max_failures_per_user,
            max_failures_per_address,
            window,
        } = self.settings;
        let user = (max_failures_per_user > 0).then(|| self.hasher.hash_one(username));
        let address = address
            .filter(|_| max_failures_per_address > 0)
            .map(AddressKey::of);
        let mut state = self.lock();
        let blocked = [
            user.and_then(|key| {
                state
                    .users
                    .blocked_for(key, max_failures_per_user, now, window)
            }),
            address.and_then(|key| {
                state
                    .addresses
                    .blocked_for(key, max_failures_per_address, now, window)
            }),
        ]
        .into_iter()
        .flatten()
        .max();
        if let Some(remaining) = blocked {
            // Whole seconds, rounded up: retrying after `Retry-After` must work.
            let secs = remaining
                .as_secs()
                .saturating_add(u64::from(remaining.subsec_nanos() > 0))
                .max(1);
            return Err(RateLimited {
                retry_after: Duration::from_secs(secs),
            });
        }
        let user = user.map(|key| (key, state.users.add(key, now, window)));
        let address = address.map(|key| (key, state.addresses.add(key, now, window)));
        Ok(Attempt {
            limiter: Some(Arc::clone(self)),
            user,
            address,
        })
    }

    /// How many failures `username` has in its live window at `now` (for tests and operators).
    #[must_use]
    pub fn user_failures(&self, username: &str, now: Instant) -> u32 {
        let key = self.hasher.hash_one(username);
        self.lock()
            .users
            .live(key, now, self.settings.window)
            .map_or(0, |window| window.failures)
    }

    /// How many failures `address` has in its live window at `now`.
    #[must_use]
    pub fn address_failures(&self, address: IpAddr, now: Instant) -> u32 {
        self.lock()
            .addresses
            .live(AddressKey::of(address), now, self.settings.window)
            .map_or(0, |window| window.failures)
    }
}

/// A login attempt in progress, counted as a failure unless told otherwise: dropping it without
/// a verdict keeps the failure counted.
#[derive(Debug)]
#[must_use = "an attempt counts as a failure unless it is marked as a success or as no verdict"]
pub struct Attempt {
    limiter: Option<Arc<LoginLimiter>>,
    user: Option<(u64, Instant)>,
    address: Option<(AddressKey, Instant)>,
}

impl Attempt {
    fn untracked() -> Self {
        Self {
            limiter: None,
            user: None,
            address: None,
        }
    }

    /// The credentials were wrong: the failure stays counted for the user name and the address.
    pub fn failed(self) {}

    /// The credentials were right: the user name's count is cleared and the address's failure
    /// taken back; other user names keep their counts.
    pub fn succeeded(self) {
        if let Some(limiter) = &self.limiter {
            let mut state = limiter.lock();
            if let Some((key, _)) = self.user {
                state.users.clear(key);
            }
            if let Some((key, started)) = self.address {
                state.addresses.take_back(key, started);
            }
        }
    }

    /// No verdict on the credentials (the store failed): nothing stays counted.
    pub fn undecided(self) {
        if let Some(limiter) = &self.limiter {
            let mut state = limiter.lock();
            if let Some((key, started)) = self.user {
                state.users.take_back(key, started);
            }
            if let Some((key, started)) = self.address {
                state.addresses.take_back(key, started);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    const WINDOW: Duration = Duration::from_mins(5);

    fn limiter(per_user: u32, per_address: u32) -> Arc<LoginLimiter> {
        Arc::new(LoginLimiter::new(LimiterSettings {
            max_failures_per_user: per_user,
            max_failures_per_address: per_address,
            window: WINDOW,
        }))
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
    }

    fn fail(limiter: &Arc<LoginLimiter>, user: &str, address: Option<IpAddr>, now: Instant) {
        limiter.begin(user, address, now).unwrap().failed();
    }

    #[test]
    fn a_user_name_is_blocked_after_its_failures_until_the_window_ends() {
        let limiter = limiter(3, 0);
        let start = Instant::now();
        for n in 0..3 {
            fail(
                &limiter,
                "alice",
                Some(ip(n)),
                start + Duration::from_secs(u64::from(n)),
            );
        }
        assert_eq!(limiter.user_failures("alice", start), 3);
        // Blocked from any address, even with the right password (the caller never checks it).
        let refused = limiter
            .begin("alice", Some(ip(9)), start + Duration::from_secs(10))
            .unwrap_err();
        assert_eq!(refused.retry_after, Duration::from_secs(290));
        assert_eq!(refused.retry_after_secs(), 290);
        // Sub-second remainders round up.
        let refused = limiter
            .begin("alice", None, start + Duration::from_millis(299_500))
            .unwrap_err();
        assert_eq!(refused.retry_after_secs(), 1);
        // Other names are not affected.
        limiter
            .begin("bob", Some(ip(1)), start)
            .unwrap()
            .succeeded();
        // The window ends: a fresh start.
        limiter
            .begin("alice", Some(ip(1)), start + WINDOW)
            .unwrap()
            .succeeded();
        assert_eq!(limiter.user_failures("alice", start + WINDOW), 0);
    }

    #[test]
    fn an_address_is_blocked_whatever_the_user_names() {
        let limiter = limiter(0, 4);
        let now = Instant::now();
        for name in ["a", "b", "c", "d"] {
            fail(&limiter, name, Some(ip(7)), now);
        }
        assert_eq!(limiter.address_failures(ip(7), now), 4);
        assert!(limiter.begin("e", Some(ip(7)), now).is_err());
        // Without an address (unknown peer) and from another address: not blocked.
        limiter.begin("e", None, now).unwrap().failed();
        limiter.begin("e", Some(ip(8)), now).unwrap().failed();
    }

    #[test]
    fn success_clears_only_its_own_user_and_never_the_address() {
        let limiter = limiter(3, 5);
        let now = Instant::now();
        fail(&limiter, "alice", Some(ip(1)), now);
        fail(&limiter, "alice", Some(ip(1)), now);
        fail(&limiter, "carol", Some(ip(1)), now);
        limiter.begin("bob", Some(ip(1)), now).unwrap().succeeded();
        assert_eq!(
            limiter.user_failures("alice", now),
            2,
            "bob's login kept alice's"
        );
        assert_eq!(limiter.user_failures("carol", now), 1);
        assert_eq!(limiter.address_failures(ip(1), now), 3);
        limiter
            .begin("alice", Some(ip(1)), now)
            .unwrap()
            .succeeded();
        assert_eq!(limiter.user_failures("alice", now), 0);
        assert_eq!(
            limiter.address_failures(ip(1), now),
            3,
            "a success does not wipe the address's failures"
        );
    }

    #[test]
    fn undecided_attempts_are_not_counted_and_dropped_ones_are() {
        let limiter = limiter(2, 2);
        let now = Instant::now();
        for _ in 0..10 {
            limiter
                .begin("alice", Some(ip(1)), now)
                .unwrap()
                .undecided();
        }
        assert_eq!(limiter.user_failures("alice", now), 0);
        assert_eq!(limiter.address_failures(ip(1), now), 0);
        drop(limiter.begin("alice", Some(ip(1)), now).unwrap());
        assert_eq!(limiter.user_failures("alice", now), 1);
    }

    #[test]
    fn parallel_attempts_cannot_pass_the_limit() {
        let limiter = limiter(5, 0);
        let now = Instant::now();
        // Every attempt is counted when it begins, so the sixth is refused even though none has
        // finished yet.
        let attempts: Vec<Attempt> = (0..5)
            .map(|_| limiter.begin("alice", None, now).unwrap())
            .collect();
        assert!(limiter.begin("alice", None, now).is_err());
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let limiter = Arc::clone(&limiter);
                std::thread::spawn(move || limiter.begin("alice", None, now).is_err())
            })
            .collect();
        assert!(threads.into_iter().all(|thread| thread.join().unwrap()));
        attempts.into_iter().for_each(Attempt::failed);
    }

    #[test]
    fn zero_disables() {
        let now = Instant::now();
        for (user, address, window) in [(0, 0, WINDOW), (3, 3, Duration::ZERO)] {
            let limiter = Arc::new(LoginLimiter::new(LimiterSettings {
                max_failures_per_user: user,
                max_failures_per_address: address,
                window,
            }));
            for _ in 0..100 {
                fail(&limiter, "alice", Some(ip(1)), now);
            }
            assert_eq!(limiter.user_failures("alice", now), 0);
        }
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let limiter = limiter(0, 2);
        let now = Instant::now();
        let a: Ipv6Addr = "2001:db8:1:2::1".parse().unwrap();
        let b: Ipv6Addr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: Ipv6Addr = "2001:db8:1:3::1".parse().unwrap();
        fail(&limiter, "x", Some(a.into()), now);
        fail(&limiter, "y", Some(b.into()), now);
        assert!(limiter.begin("z", Some(a.into()), now).is_err());
        limiter
            .begin("z", Some(other.into()), now)
            .unwrap()
            .failed();

        let v4 = Ipv4Addr::new(198, 51, 100, 1);
        fail(&limiter, "x", Some(v4.into()), now);
        fail(&limiter, "x", Some(v4.to_ipv6_mapped().into()), now);
        assert!(limiter.begin("x", Some(v4.into()), now).is_err());
    }

    #[test]
    fn memory_stays_bounded() {
        let limiter = limiter(1, 0);
        let start = Instant::now();
        for n in 0..MAX_TRACKED_KEYS + 10 {
            fail(&limiter, &format!("user-{n}"), None, start);
        }
        let state = limiter.lock();
        assert_eq!(state.users.windows.len(), MAX_TRACKED_KEYS);
        drop(state);
        // The newest keys are the ones kept.
        let last = format!("user-{}", MAX_TRACKED_KEYS + 9);
        assert!(limiter.begin(&last, None, start).is_err());
        // Once windows expire, they make room before anything is evicted.
        fail(&limiter, "late", None, start + WINDOW);
        assert_eq!(limiter.lock().users.windows.len(), 1);
    }
}
