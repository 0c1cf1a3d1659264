#![doc = include_str!("../README.md")]

pub mod blob;
mod bulk;
pub mod catalog;
#[cfg(feature = "db")]
pub mod db;
mod downloads;
mod error;
mod records;
mod traits;
pub mod transfer;

pub use downloads::DownloadRecorder;
pub use error::{BackendError, StoreError};
pub use records::{
    FileId, FileOutcome, FileOwner, FileRecord, NewFile, NewToken, NewUser, PackageEntry,
    PackageRevisionKey, Project, ProjectId, ProjectKey, RecipeId, RecipeMatch, RecipeRevisionKey,
    RecordedFile, RevisionEntry, Role, SearchScope, SigningKey, SigningKeyId, Token, TokenHolder,
    TokenId, TokenKind, TokenOwner, UploadId, User, UserId, Visibility,
};
pub use traits::{
    CatalogStore, FileStore, IdentityStore, MaintenanceStore, MetadataStore, PackageStore,
    ReadScope, RecipeStore, SearchStore, read_scope, read_scope_now,
};
