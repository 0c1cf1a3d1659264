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
//! [`CleanupStore::cleanup_remove`]: crate::CleanupStore::cleanup_remove

mod plan;
mod policy;
mod run;

pub use plan::{
    BinaryHistory, PackageRevisionHistory, RecipeHistory, Removal, RemovalReason, RemovalTarget,
    RevisionHistory, plan,
};
pub use policy::{
    Cadence, CleanupPolicy, KeepDuplicates, MAX_KEEP, MAX_PATTERN_LEN, MAX_PATTERNS,
    MAX_UNUSED_DAYS, POLICY_FIELDS, PolicyError, StoredCleanupPolicy,
};
pub use run::{
    CleanupRun, CleanupRunId, CleanupRunner, CleanupTotals, DryRunReport, RemovedItem, RemovedKind,
    RunClaim, RunObserver, RunSettings, RunState, RunTrigger, carry_out, dry_run, execute,
};
