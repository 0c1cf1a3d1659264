#![doc = include_str!("../README.md")]

pub mod blob;
mod bulk;
#[cfg(feature = "db")]
pub mod db;
mod error;
mod records;
mod traits;
pub mod transfer;

pub use error::{BackendError, StoreError};
pub use records::{
    FileOutcome, FileOwner, FileRecord, NewFile, NewToken, NewUser, PackageEntry,
    PackageRevisionKey, Project, ProjectId, ProjectKey, RecipeMatch, RecipeRevisionKey,
    RecordedFile, RevisionEntry, Role, SearchScope, SigningKey, SigningKeyId, Token, TokenHolder,
    TokenId, TokenKind, TokenOwner, UploadId, User, UserId, Visibility,
};
pub use traits::{
    FileStore, IdentityStore, MaintenanceStore, MetadataStore, PackageStore, ReadScope,
    RecipeStore, SearchStore, read_scope, read_scope_now,
};
