//! Cleanup policies: per project, which recipe revisions, binaries and package revisions a run
//! removes, and the record of every run.
//!
//! - [`CleanupPolicy`] is what a maintainer sets (GitLab's `keep_n_duplicated_package_files`
//!   and `cadence`, plus the Conan rules), checked by [`CleanupPolicy::check`].
//! - [`plan`] decides, for one recipe's history ([`RecipeHistory`]), what the policy removes: a
//!   pure function, the same whichever database or node runs it.
//! - [`execute`] walks a project in bounded batches of recipes, planning each batch from one
//!   snapshot and removing each revision in its own short transaction through
//!   [`CleanupStore::cleanup_remove`], which re-checks the plan under the recipe's lock (the
//!   lock the delete routes take), so an upload or download that lands during a run is never
//!   lost to a plan made before it.
//!
//! - A policy's `source_backups_unused_days` expires the project's source backups not used for
//!   that long; [`execute`] removes them after the recipes, each in its own transaction through
//!   [`CleanupStore::cleanup_remove_backup`], which checks again that the backup is unused.
//!
//! [`CleanupStore::cleanup_remove`]: crate::CleanupStore::cleanup_remove
//! [`CleanupStore::cleanup_remove_backup`]: crate::CleanupStore::cleanup_remove_backup

mod plan;
mod policy;
mod run;

pub use plan::{
    BinaryHistory, PackageRevisionHistory, RecipeHistory, Removal, RemovalReason, RemovalTarget,
    RevisionHistory, plan,
};
pub use policy::{
    Cadence, CleanupPolicy, KeepDuplicates, MAX_KEEP, MAX_PATTERN_LEN, MAX_PATTERNS,
    MAX_UNUSED_DAYS, POLICY_FIELDS, PolicyError, StoredCleanupPolicy, days_before,
};
pub use run::{
    BACKUP_REASON, CleanupRun, CleanupRunId, CleanupRunner, CleanupTotals, DryRunReport,
    RemovedItem, RemovedKind, RunClaim, RunObserver, RunSettings, RunState, RunTrigger,
    backup_item, carry_out, dry_run, execute,
};
