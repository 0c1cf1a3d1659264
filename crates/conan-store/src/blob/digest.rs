//! Content digests: the sha256 that names a blob, the sha1 and sha256 an upload computes in one
//! pass, and the md5 that only Conan 1 clients ask for, computed when first needed.

use std::fmt;
use std::str::FromStr;

use md5::Md5;
use sha1::Sha1;
use sha2::{Digest as _, Sha256};

/// The length of a sha256 in hex.
const SHA256_HEX_LEN: usize = 64;

/// A sha256 digest as exactly 64 lowercase hex characters, the only form a blob key is built from.
///
/// Keys become object names and file paths, so anything else (upper case, a `/`, `..`, a shorter
/// string) is refused here, before it can reach a backend.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Sha256Hex(String);

/// Why a string is not a [`Sha256Hex`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid sha256 {value:?}: expected exactly 64 lowercase hex characters")]
pub struct InvalidSha256 {
    /// The refused value, cut to its first 80 characters so a huge input cannot flood a log.
    pub value: String,
}

impl Sha256Hex {
    /// Whether `s` is exactly 64 lowercase hex characters.
    #[must_use]
    pub fn is_valid(s: &str) -> bool {
        s.len() == SHA256_HEX_LEN && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    }

    /// Parses a sha256 in lowercase hex.
    pub fn parse(s: &str) -> Result<Self, InvalidSha256> {
        if Self::is_valid(s) {
            Ok(Self(s.to_owned()))
        } else {
            Err(InvalidSha256 {
                value: s.chars().take(80).collect(),
            })
        }
    }

    /// The digest as 64 lowercase hex characters.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Sha256Hex {
    type Err = InvalidSha256;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<String> for Sha256Hex {
    type Error = InvalidSha256;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        if Self::is_valid(&s) {
            Ok(Self(s))
        } else {
            Self::parse(&s)
        }
    }
}

impl From<Sha256Hex> for String {
    fn from(value: Sha256Hex) -> Self {
        value.0
    }
}

impl AsRef<str> for Sha256Hex {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// Compares with text as it is (no parsing): equal only to the same 64 lowercase hex digits.
impl PartialEq<str> for Sha256Hex {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Sha256Hex {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl PartialEq<String> for Sha256Hex {
    fn eq(&self, other: &String) -> bool {
        &self.0 == other
    }
}

impl PartialEq<Sha256Hex> for String {
    fn eq(&self, other: &Sha256Hex) -> bool {
        *self == other.0
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Digests and size of one blob's content, all hex lowercase.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Digests {
    /// The content length in bytes.
    pub size: u64,
    /// The md5, which only Conan 1 clients use (in v1 snapshots). An upload does not compute it:
    /// md5 runs at less than half the speed of sha1 or sha256 and cannot be split across
    /// threads, so it would bound every upload's speed. `None` until
    /// [`crate::transfer::fill_md5`] computes it from the stored blob.
    pub md5: Option<String>,
    /// The sha1.
    pub sha1: String,
    /// The sha256, which is also the blob's address.
    pub sha256: Sha256Hex,
}

impl Digests {
    /// The digests of content held in memory as an upload computes them: size, sha1 and sha256,
    /// no md5 (small files, tests).
    #[must_use]
    pub fn of(content: &[u8]) -> Self {
        let mut hasher = Hasher::default();
        hasher.update(content);
        hasher.finish().0
    }

    /// Whether content that hashed to `self` is the content `indexed` describes: the same size,
    /// sha1 and sha256, and the same md5 where `indexed` has one.
    pub(crate) fn matches(&self, indexed: &Self) -> bool {
        self.size == indexed.size
            && self.sha1 == indexed.sha1
            && self.sha256 == indexed.sha256
            && indexed
                .md5
                .as_ref()
                .is_none_or(|md5| self.md5.as_ref() == Some(md5))
    }
}

/// The md5 of `content` in lowercase hex.
#[must_use]
pub fn md5_hex(content: &[u8]) -> String {
    format!("{:x}", Md5::digest(content))
}

/// The md5 of a body fed chunk by chunk, in lowercase hex.
#[derive(Default)]
pub(crate) struct Md5Hasher(Md5);

impl Md5Hasher {
    /// Feeds the next chunk.
    pub(crate) fn update(&mut self, chunk: &[u8]) {
        self.0.update(chunk);
    }

    /// The md5 of everything fed so far.
    pub(crate) fn finish(self) -> String {
        format!("{:x}", self.0.finalize())
    }
}

/// The hashes an upload computes and the byte count of a body, fed chunk by chunk.
#[derive(Default)]
pub(crate) struct Hasher {
    size: u64,
    sha1: Sha1,
    sha256: Sha256,
}

impl Hasher {
    /// Feeds the next chunk of the body.
    pub(crate) fn update(&mut self, chunk: &[u8]) {
        self.size += chunk.len() as u64;
        self.sha1.update(chunk);
        self.sha256.update(chunk);
    }

    /// The digests of everything fed so far (no md5), and the sha256 again as the blob's
    /// address.
    pub(crate) fn finish(self) -> (Digests, Sha256Hex) {
        // A sha256 rendered with `{:x}` is 64 lowercase hex characters by construction.
        let sha256 = Sha256Hex(format!("{:x}", self.sha256.finalize()));
        let digests = Digests {
            size: self.size,
            md5: None,
            sha1: format!("{:x}", self.sha1.finalize()),
            sha256: sha256.clone(),
        };
        (digests, sha256)
    }
}

/// How many bytes of a body are hashed per background job: large enough that the hand-off costs
/// nothing against the hashing, small enough to bound the memory one upload holds.
const HASH_BATCH: usize = 1024 * 1024;

/// The digests of one body, computed off the async worker threads: the body is hashed in
/// batches on the bulk pool, sha1 on one thread and sha256 on another, while the next batch
/// arrives. A body no larger than one batch is hashed inline, which is cheaper than the
/// hand-off.
#[derive(Debug)]
pub(crate) struct BackgroundHasher {
    size: u64,
    pending: Vec<bytes::Bytes>,
    pending_len: usize,
    state: HashState,
}

/// The digest states: owned, or out on the bulk pool with a batch.
#[derive(Debug)]
enum HashState {
    Idle(Sha1, Sha256),
    Busy(
        tokio::task::JoinHandle<Sha1>,
        tokio::task::JoinHandle<Sha256>,
    ),
    /// Only while a transition is under way.
    Taken,
}

impl Default for BackgroundHasher {
    fn default() -> Self {
        Self {
            size: 0,
            pending: Vec::new(),
            pending_len: 0,
            state: HashState::Idle(Sha1::new(), Sha256::new()),
        }
    }
}

impl BackgroundHasher {
    /// Feeds the next chunk; hands a full batch to the blocking pool once the previous batch is
    /// done. Fails only if a hashing thread panicked.
    pub(crate) async fn update(&mut self, chunk: bytes::Bytes) -> Result<(), std::io::Error> {
        self.size += chunk.len() as u64;
        self.pending_len += chunk.len();
        self.pending.push(chunk);
        if self.pending_len >= HASH_BATCH {
            let (mut sha1, mut sha256) = self.idle().await?;
            let batch = std::sync::Arc::new(std::mem::take(&mut self.pending));
            self.pending_len = 0;
            let sha1_batch = std::sync::Arc::clone(&batch);
            self.state = HashState::Busy(
                crate::bulk::spawn(move || {
                    sha1_batch.iter().for_each(|chunk| sha1.update(chunk));
                    sha1
                }),
                crate::bulk::spawn(move || {
                    batch.iter().for_each(|chunk| sha256.update(chunk));
                    sha256
                }),
            );
        }
        Ok(())
    }

    /// Waits for the batch in flight, if any, and takes the digest states back.
    async fn idle(&mut self) -> Result<(Sha1, Sha256), std::io::Error> {
        match std::mem::replace(&mut self.state, HashState::Taken) {
            HashState::Idle(sha1, sha256) => Ok((sha1, sha256)),
            HashState::Busy(sha1, sha256) => {
                let (sha1, sha256) = futures::future::join(sha1, sha256).await;
                Ok((
                    sha1.map_err(std::io::Error::other)?,
                    sha256.map_err(std::io::Error::other)?,
                ))
            }
            HashState::Taken => Err(std::io::Error::other(
                "the upload hasher was reused after a failure",
            )),
        }
    }

    /// The digests of the whole body, and the sha256 again as the blob's address.
    pub(crate) async fn finish(mut self) -> Result<(Digests, Sha256Hex), std::io::Error> {
        let (sha1, sha256) = self.idle().await?;
        let mut hasher = Hasher {
            size: self.size,
            sha1,
            sha256,
        };
        for chunk in &self.pending {
            hasher.sha1.update(chunk);
            hasher.sha256.update(chunk);
        }
        Ok(hasher.finish())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const HELLO_SHA256: &str = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn background_hashing_matches_one_pass_hashing_across_batches() {
        // 3.5 MiB in odd-sized chunks: several full batches, one crossing each boundary, and a
        // remainder hashed inline at the end; and a body smaller than one batch.
        let data: Vec<u8> = (0..3_670_016_u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for body in [&data[..], &data[..1000], &[][..]] {
            let mut hasher = BackgroundHasher::default();
            for chunk in body.chunks(65_521) {
                hasher
                    .update(bytes::Bytes::copy_from_slice(chunk))
                    .await
                    .unwrap();
            }
            let (digests, sha256) = hasher.finish().await.unwrap();
            assert_eq!(digests, Digests::of(body));
            assert_eq!(sha256, digests.sha256);
        }
    }

    #[test]
    fn digests_of_empty_input() {
        let digests = Digests::of(b"");
        assert_eq!(digests.size, 0);
        assert_eq!(digests.md5, None);
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(digests.sha1, "da39a3ee5e6b4b0d3255bfef95601890afd80709");
        assert_eq!(digests.sha256, EMPTY_SHA256);
    }

    #[test]
    fn digests_of_hello() {
        let digests = Digests::of(b"hello");
        assert_eq!(digests.size, 5);
        assert_eq!(digests.md5, None);
        assert_eq!(md5_hex(b"hello"), "5d41402abc4b2a76b9719d911017c592");
        assert_eq!(digests.sha1, "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d");
        assert_eq!(digests.sha256, HELLO_SHA256);
    }

    #[test]
    fn read_back_digests_match_the_index_with_or_without_its_md5() {
        let indexed = Digests::of(b"hello");
        let read_back = Digests {
            md5: Some(md5_hex(b"hello")),
            ..Digests::of(b"hello")
        };
        assert!(read_back.matches(&indexed));
        assert!(read_back.matches(&read_back));
        let other_md5 = Digests {
            md5: Some(md5_hex(b"jello")),
            ..indexed.clone()
        };
        assert!(!read_back.matches(&other_md5));
        assert!(!Digests::of(b"jello").matches(&indexed));
        let longer = Digests {
            size: 6,
            ..indexed.clone()
        };
        assert!(!read_back.matches(&longer));
    }

    #[test]
    fn chunking_does_not_change_digests() {
        let content: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut hasher = Hasher::default();
        for chunk in content.chunks(7) {
            hasher.update(chunk);
        }
        let (digests, sha256) = hasher.finish();
        assert_eq!(digests, Digests::of(&content));
        assert_eq!(sha256, digests.sha256);
    }

    #[test]
    fn sha256_accepts_only_64_lowercase_hex() {
        assert!(Sha256Hex::parse(EMPTY_SHA256).is_ok());
        let cases = [
            "",
            "e3b0",
            &EMPTY_SHA256[..63],
            &format!("{EMPTY_SHA256}0"),
            &EMPTY_SHA256.to_uppercase(),
            &format!("../{}", &EMPTY_SHA256[3..]),
            &format!("{}/", &EMPTY_SHA256[..63]),
            &format!("{}g", &EMPTY_SHA256[..63]),
            // 64 bytes, but not 64 characters of ASCII hex.
            &format!("{}é", &EMPTY_SHA256[..62]),
        ];
        for case in cases {
            assert!(Sha256Hex::parse(case).is_err(), "{case:?} was accepted");
            assert!(!Sha256Hex::is_valid(case), "{case:?} was valid");
        }
    }

    #[test]
    fn sha256_serde_round_trip_refuses_invalid() {
        let hex = Sha256Hex::parse(HELLO_SHA256).unwrap();
        let json = serde_json::to_string(&hex).unwrap();
        assert_eq!(json, format!("\"{HELLO_SHA256}\""));
        assert_eq!(serde_json::from_str::<Sha256Hex>(&json).unwrap(), hex);
        assert!(serde_json::from_str::<Sha256Hex>("\"../../etc/passwd\"").is_err());
    }

    #[test]
    fn invalid_sha256_error_is_bounded() {
        let error = Sha256Hex::parse(&"x".repeat(10_000)).unwrap_err();
        assert_eq!(error.value.len(), 80);
    }
}
