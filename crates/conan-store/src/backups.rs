//! Conan's source backups: the third-party source files recipes download, kept per project by
//! their sha256 with the JSON summary the client writes beside each (which references used the
//! file, from which URLs).
//!
//! The file's bytes live in the blob store like every package file, so the same content is
//! stored once whoever references it; the metadata row references the blob's index row, and the
//! garbage collector keeps every blob a backup references. Storing a file follows the protocol
//! of [`crate::transfer`] (stage while hashing, publish, record under the index row's lock),
//! with one more check: the body must hash to the sha256 the file is named by.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use bytes::Bytes;
use conan_model::RevisionTime;
use futures::stream::BoxStream;

use crate::StoreError;
use crate::blob::{BlobError, BlobStore, Digests, Hasher, Sha256Hex, StagedBlob};
use crate::records::ProjectId;
use crate::traits::MetadataStore;
use crate::transfer::{TransferError, blob_failure, inside_transaction, vanished};

/// The largest summary kept: real ones list a few references and URLs, a few hundred bytes.
pub const MAX_SUMMARY_BYTES: u64 = 64 * 1024;

/// What a backup file name addresses: `<sha256>` is the source file, `<sha256>.json` its summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupFile {
    /// The source file's sha256.
    pub sha256: Sha256Hex,
    /// Which of the two files of the backup.
    pub part: BackupPart,
}

/// The two files of a backup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackupPart {
    /// The source file itself.
    Content,
    /// Its JSON summary (`<sha256>.json`).
    Summary,
}

/// Why a name is not a [`BackupFile`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid backup file name {0:?}: expected a lowercase hex sha256 (64 characters), optionally \
     followed by .json"
)]
pub struct InvalidBackupFile(String);

impl FromStr for BackupFile {
    type Err = InvalidBackupFile;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let (hex, part) = match name.strip_suffix(".json") {
            Some(hex) => (hex, BackupPart::Summary),
            None => (name, BackupPart::Content),
        };
        let sha256 = Sha256Hex::parse(hex)
            .map_err(|_| InvalidBackupFile(name.chars().take(80).collect()))?;
        Ok(Self { sha256, part })
    }
}

impl fmt::Display for BackupFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.part {
            BackupPart::Content => write!(f, "{}", self.sha256),
            BackupPart::Summary => write!(f, "{}.json", self.sha256),
        }
    }
}

/// A project's backup of one source file, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceBackup {
    /// The project it belongs to.
    pub project: ProjectId,
    /// The source file's sha256.
    pub sha256: Sha256Hex,
    /// The file's size, once the file itself is stored (the client sends the summary first).
    pub size: Option<u64>,
    /// The JSON summary as the client last sent it.
    pub summary: Option<String>,
    /// When either file first arrived.
    pub created_at: RevisionTime,
    /// When either file last changed.
    pub updated_at: RevisionTime,
    /// When it was last used: stored, or its source file downloaded (a download moves this at
    /// most once every [`USE_RECORD_INTERVAL_SECS`]). Cleanup policies expire backups by it.
    pub last_used_at: RevisionTime,
}

/// How often a download records that a backup is used: a build farm fetching one file all day
/// writes its row once an hour, not on every download.
pub const USE_RECORD_INTERVAL_SECS: i64 = 3600;

impl SourceBackup {
    /// Whether a download at `now` should record the use (the last record is older than
    /// [`USE_RECORD_INTERVAL_SECS`]).
    #[must_use]
    pub fn use_is_stale(&self, now: RevisionTime) -> bool {
        now.unix_micros()
            .saturating_sub(self.last_used_at.unix_micros())
            >= USE_RECORD_INTERVAL_SECS * 1_000_000
    }
}

/// Why a backup upload failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BackupError {
    /// Storing failed.
    #[error(transparent)]
    Transfer(#[from] TransferError),
    /// The body does not hash to the sha256 the file is named by; nothing was stored.
    #[error("the body has sha256 {actual}, not the {expected} its name says; nothing was stored")]
    HashMismatch {
        /// The sha256 of the name.
        expected: Sha256Hex,
        /// The body's sha256.
        actual: Sha256Hex,
    },
    /// The summary is not one JSON value of at most [`MAX_SUMMARY_BYTES`].
    #[error("invalid backup summary: {0}")]
    InvalidSummary(String),
}

impl From<StoreError> for BackupError {
    fn from(error: StoreError) -> Self {
        Self::Transfer(error.into())
    }
}

impl From<BlobError> for BackupError {
    fn from(error: BlobError) -> Self {
        Self::Transfer(error.into())
    }
}

/// Checks a summary body: UTF-8 text of at most [`MAX_SUMMARY_BYTES`] that parses as JSON, and
/// whose sha1 is `expected_sha1` when the client announced one (Conan always does).
pub fn parse_summary(body: &[u8], expected_sha1: Option<&str>) -> Result<String, BackupError> {
    if body.len() as u64 > MAX_SUMMARY_BYTES {
        return Err(BackupError::InvalidSummary(format!(
            "{} bytes is over the limit of {MAX_SUMMARY_BYTES} bytes",
            body.len()
        )));
    }
    if let Some(expected) = expected_sha1 {
        let mut hasher = Hasher::default();
        hasher.update(body);
        let (digests, _) = hasher.finish();
        if !expected.eq_ignore_ascii_case(&digests.sha1) {
            return Err(TransferError::ChecksumMismatch {
                expected: expected.to_owned(),
                actual: digests.sha1,
            }
            .into());
        }
    }
    let text = std::str::from_utf8(body)
        .map_err(|_| BackupError::InvalidSummary("it is not UTF-8 text".to_owned()))?;
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map_err(|error| BackupError::InvalidSummary(format!("it is not JSON: {error}")))?;
    Ok(text.to_owned())
}

/// Stores the source file `sha256` of `project` from `body` (at most `max_size` bytes).
/// Returns the stored digests and whether the project did not have the file before.
///
/// The body must hash to `sha256`, and to `expected_sha1` when the client announced one;
/// otherwise nothing is stored. Storing the same file again, or from several clients at once,
/// is idempotent.
pub async fn store_backup_file(
    metadata: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    project: ProjectId,
    sha256: Sha256Hex,
    body: BoxStream<'static, Result<Bytes, std::io::Error>>,
    max_size: u64,
    expected_sha1: Option<&str>,
) -> Result<(Digests, bool), BackupError> {
    let staged = blobs.stage(body, max_size).await?;
    let (result, staged) = commit(
        metadata,
        Arc::clone(&blobs),
        project,
        &sha256,
        staged,
        expected_sha1,
    )
    .await;
    // Only a safety copy from here on; `purge_staging` removes one a failure leaves behind.
    if let Some(staged) = staged {
        let _ = blobs.discard(staged).await;
    }
    result
}

/// Checks the staged body, publishes it and records the backup (steps 2 and 3 of
/// [`crate::transfer`]); gives the staged blob back for discarding (unless a task died with it).
async fn commit(
    metadata: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    project: ProjectId,
    sha256: &Sha256Hex,
    staged: StagedBlob,
    expected_sha1: Option<&str>,
) -> (Result<(Digests, bool), BackupError>, Option<StagedBlob>) {
    let digests = staged.digests().clone();
    if digests.sha256 != *sha256 {
        let mismatch = BackupError::HashMismatch {
            expected: sha256.clone(),
            actual: digests.sha256,
        };
        return (Err(mismatch), Some(staged));
    }
    if let Some(expected) = expected_sha1
        && !expected.eq_ignore_ascii_case(&digests.sha1)
    {
        let mismatch = TransferError::ChecksumMismatch {
            expected: expected.to_owned(),
            actual: digests.sha1,
        };
        return (Err(mismatch.into()), Some(staged));
    }
    match blobs.publish(&staged).await {
        Ok(()) => {}
        Err(error) if vanished(&error) => {}
        Err(error) => return (Err(error.into()), Some(staged)),
    }
    let runtime = tokio::runtime::Handle::current();
    let recorded = digests.clone();
    let task = tokio::task::spawn_blocking(move || {
        let created = metadata.record_backup_file(project, &recorded, &mut || {
            // Under the blob's index-row lock: a collector that removed the object just before
            // cannot remove it again until this transaction ends.
            inside_transaction(&runtime, async {
                if !blobs.contains(staged.sha256()).await? {
                    blobs.publish(&staged).await?;
                }
                Ok(())
            })
            .map_err(blob_failure)
        });
        (created, staged)
    });
    match task.await {
        Ok((created, staged)) => (
            created
                .map(|created| (digests, created))
                .map_err(BackupError::from),
            Some(staged),
        ),
        Err(error) => (Err(TransferError::Task(error.to_string()).into()), None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn names() {
        let content: BackupFile = HEX.parse().unwrap();
        assert_eq!(content.part, BackupPart::Content);
        assert_eq!(content.to_string(), HEX);
        let summary: BackupFile = format!("{HEX}.json").parse().unwrap();
        assert_eq!(summary.part, BackupPart::Summary);
        assert_eq!(summary.sha256.as_str(), HEX);
        assert_eq!(summary.to_string(), format!("{HEX}.json"));
        for bad in [
            "",
            ".json",
            "abc",
            &HEX.to_uppercase(),
            &format!("{HEX}.JSON"),
            &format!("{HEX}.json.json"),
            &format!("{HEX}.txt"),
            &format!("../{HEX}"),
            &format!("{HEX}/"),
            &format!("{HEX}0"),
            &HEX[1..],
        ] {
            assert!(bad.parse::<BackupFile>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn summaries() {
        assert!(parse_summary(br#"{"references": {}}"#, None).is_ok());
        assert!(parse_summary(b"[1, 2]", None).is_ok());
        assert!(parse_summary(b"{", None).is_err());
        assert!(parse_summary(b"", None).is_err());
        assert!(parse_summary(b"{} {}", None).is_err());
        assert!(parse_summary(&[0xff, 0xfe], None).is_err());
        // sha1("{}")
        let sha1 = "bf21a9e8fbc5a3846fb05b4fa0859e0917b2202f";
        assert!(parse_summary(b"{}", Some(sha1)).is_ok());
        assert!(parse_summary(b"{}", Some(&sha1.to_uppercase())).is_ok());
        assert!(matches!(
            parse_summary(b"{}", Some(&"0".repeat(40))),
            Err(BackupError::Transfer(
                TransferError::ChecksumMismatch { .. }
            ))
        ));
        let big = format!("[\"{}\"]", "x".repeat(70_000));
        assert!(matches!(
            parse_summary(big.as_bytes(), None),
            Err(BackupError::InvalidSummary(message)) if message.contains("over the limit")
        ));
    }
}
