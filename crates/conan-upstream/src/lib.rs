//! The client side of the Conan v2 protocol, for remote projects: what the registry asks an
//! upstream Conan server (Conan Center's, Artifactory, GitLab, `conan_server`, another
//! conan-registry) on a cache miss.
//!
//! An upstream is not trusted. Every answer is bounded and checked before the caller can keep
//! anything:
//! - time: a connect timeout, a deadline for each metadata answer, and for file bodies an idle
//!   timeout between chunks plus an overall deadline, so an endless or stalled body ends;
//! - size: metadata answers are read up to [`UpstreamConfig::max_metadata_bytes`]; a file larger
//!   than [`UpstreamConfig::max_file_bytes`] is refused from its `Content-Length`, and a body
//!   without one is cut off at the limit;
//! - shape: JSON must parse into the protocol's types, revisions, package ids and file paths
//!   must be valid for conan-model (no `..`, no absolute paths), times must parse;
//! - bytes: a file body shorter or longer than its `Content-Length` ends its stream with an
//!   error, and the announced `X-Checksum-Sha1` is handed to the caller, which stores through
//!   staging and checks it there (conan-store computes the digests once);
//! - redirects are followed only within the upstream's own origin (scheme, host and port):
//!   a redirect elsewhere is an error, so an upstream cannot point the registry at another host.
//!
//! The crate knows nothing of storage: it returns checked values and byte streams.
//! Credentials are used for the upstream's token login (`/v2/users/authenticate`, Basic) and
//! never appear in errors or `Debug` output.

mod body;
mod client;

pub use body::UpstreamFile;
pub use client::{
    Credentials, RevisionEntry, Upstream, UpstreamConfig, UpstreamError, UpstreamPackage,
};
/// The URL type of [`UpstreamConfig::url`], so callers need no HTTP client of their own.
pub use reqwest::Url;
