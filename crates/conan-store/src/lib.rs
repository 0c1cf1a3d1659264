#![doc = include_str!("../README.md")]

pub mod backups;
pub mod blob;
mod bulk;
pub mod catalog;
pub mod cleanup;
#[cfg(feature = "db")]
pub mod db;
mod downloads;
mod error;
mod records;
pub mod remotes;
mod traits;
pub mod transfer;
mod virtuals;

pub use downloads::DownloadRecorder;
pub use error::{BackendError, StoreError};
pub use records::{
    AccessLevel, FileId, FileOutcome, FileOwner, FileRecord, LevelUpdate, NewFile,
    NewProtectionRule, NewToken, NewUser, PackageEntry, PackageRevisionKey, PackageType, Project,
    ProjectId, ProjectKey, ProtectionRule, ProtectionRuleId, ProtectionRuleUpdate, RecipeId,
    RecipeMatch, RecipeRevisionKey, RecordedFile, RevisionEntry, Role, SearchScope, SigningKey,
    SigningKeyId, Token, TokenHolder, TokenId, TokenKind, TokenOwner, UploadId, User, UserId,
    Visibility,
};
pub use remotes::RemoteStore;
pub use traits::{
    AccessStore, BackupStore, CatalogStore, CleanupStore, FileStore, IdentityStore,
    MaintenanceStore, MetadataStore, PackageStore, ProtectionStore, ReadScope, RecipeStore,
    SearchStore, read_scope, read_scope_now,
};
pub use virtuals::{VirtualLayout, VirtualStore};
