//! Reading small text files of a revision (`conanfile.py`, `conaninfo.txt`) from the blob
//! store for display: bounded in size, and best effort (a missing or unreadable blob shows
//! nothing rather than failing the page).

use std::sync::Arc;

use conan_store::blob::{BlobStore, Digests};
use futures::StreamExt as _;

/// The text of the blob `digests` names, at most `limit` bytes of it (lossily decoded), or
/// `None` when it cannot be read (which is logged).
pub(crate) async fn read_text(
    blobs: &Arc<dyn BlobStore>,
    digests: &Digests,
    limit: usize,
) -> Option<String> {
    if digests.size == 0 {
        return Some(String::new());
    }
    let reader = match blobs.open(&digests.sha256, Some(0..limit as u64)).await {
        Ok(reader) => reader,
        Err(error) => {
            tracing::warn!(sha256 = %digests.sha256, %error, "cannot read a file to show");
            return None;
        }
    };
    let mut bytes = Vec::new();
    let mut body = reader.body;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => bytes.extend_from_slice(&chunk),
            Err(error) => {
                tracing::warn!(sha256 = %digests.sha256, %error, "cannot read a file to show");
                return None;
            }
        }
        if bytes.len() >= limit {
            bytes.truncate(limit);
            break;
        }
    }
    Some(String::from_utf8_lossy(&bytes).into_owned())
}
