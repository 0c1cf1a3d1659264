//! Remote projects' cache (issue 21): what an upstream Conan server has, fetched into a project
//! of this registry the first time a client asks, and served from there afterwards.
//!
//! - [`Mirror::ensure`] makes sure a recipe revision or a package revision is stored: a
//!   revision committed in the project is never fetched again (a revision is immutable);
//!   otherwise its files are fetched from the upstream and stored through conan-store's
//!   [`store_file`](conan_store::transfer::store_file), which stages each body while it hashes
//!   it, checks the sha1 the upstream announced, and commits the revision when its
//!   `conanmanifest.txt` is stored, which the mirror stores last. A fetch that fails anywhere
//!   (the upstream fails, a body is cut short, a checksum differs) leaves the revision
//!   uncommitted: nothing a client can read, and the next ask fetches again.
//! - Concurrent asks for the same revision make one fetch ([`SingleFlight`]): the first starts
//!   it on a task of its own (so a client that disconnects does not cancel it for the others),
//!   the others wait for its outcome.
//!
//! - [`MetadataCache`] keeps the upstream's revision lists and search answers for a time to
//!   live (an upstream 404 for a shorter one), asks the upstream once however many miss together, and when the
//!   upstream is down, slow or failing answers the last list it had, marked
//!   [`Freshness::Stale`] so the route can warn. It lives in each node's memory: after a
//!   restart with the upstream down, the routes fall back to the revisions the project already
//!   holds.
//!
//! - [`CredentialKey`] seals the upstream's credentials for storage (conan-store's
//!   `RemoteStore` keeps the sealed text) with AES-256-GCM under a key from the configuration,
//!   bound to the project, so a database dump alone does not reveal them.
//!
//! conan-api's `remote.rs` calls these from the Conan routes; the admin CLI manages the
//! settings (`docs/REMOTE_PROJECTS.md`).

mod credentials;
mod flight;
mod live;
mod metadata;
mod mirror;
mod settings;

pub use credentials::{CredentialError, CredentialKey};
pub use flight::SingleFlight;
pub use live::Tapped;
pub use metadata::{Freshness, ListKey, MetadataCache};
pub use mirror::{Mirror, MirrorError};
pub use settings::{SettingsError, UpstreamRequest, upstream_settings};
