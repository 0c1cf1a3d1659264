//! The storage traits, grouped by aggregate. Synchronous: async callers run them on a blocking
//! thread (`web::block`, `spawn_blocking`). Each write is one transaction of its own; each read
//! is one too, unless it runs inside a [`ReadScope`], where every read of the scope shares one
//! transaction (one snapshot) and a write still commits on its own.

use conan_model::{FilePath, PackageId, RecipeReference, Revision, RevisionTime, SearchPattern};

use crate::StoreError;
use crate::backups::SourceBackup;
use crate::blob::{Digests, Sha256Hex};
use crate::catalog::{
    CatalogFile, CatalogFilePage, CatalogPackage, CatalogPage, CatalogQuery, FileQuery,
    ProjectStats,
};
use crate::cleanup::{
    CleanupPolicy, CleanupRun, CleanupRunId, RecipeHistory, Removal, RemovedItem, RunClaim,
    StoredCleanupPolicy,
};
use crate::records::{
    FileId, FileOwner, FileRecord, NewFile, NewProtectionRule, NewToken, NewUser, PackageEntry,
    PackageRevisionKey, PackageType, Project, ProjectId, ProjectKey, ProtectionRule,
    ProtectionRuleId, ProtectionRuleUpdate, RecipeId, RecipeMatch, RecipeRevisionKey, RecordedFile,
    RevisionEntry, Role, SearchScope, SigningKey, SigningKeyId, Token, TokenHolder, TokenId,
    TokenKind, User, UserId, Visibility,
};
use crate::remotes::RemoteStore;
use crate::virtuals::VirtualStore;

/// Recipes and their revisions.
///
/// Only committed revisions (whose `conanmanifest.txt` is stored) are visible. Lists are newest
/// first; a revision's time is its commit time and never changes.
pub trait RecipeStore: Send + Sync {
    /// The newest committed revision of a recipe, if any.
    fn latest_recipe_revision(
        &self,
        project: ProjectId,
        recipe: &RecipeReference,
    ) -> Result<Option<RevisionEntry>, StoreError>;

    /// Every committed revision of a recipe, newest first; empty if the recipe is unknown.
    fn recipe_revisions(
        &self,
        project: ProjectId,
        recipe: &RecipeReference,
    ) -> Result<Vec<RevisionEntry>, StoreError>;

    /// One committed recipe revision, if it exists.
    fn recipe_revision(&self, key: &RecipeRevisionKey)
    -> Result<Option<RevisionEntry>, StoreError>;

    /// Deletes a recipe revision with its files and packages, committed or not, in one
    /// transaction; deleting the last revision removes the recipe. Returns whether it existed.
    fn delete_recipe_revision(&self, key: &RecipeRevisionKey) -> Result<bool, StoreError>;

    /// Deletes a recipe with every revision, package and file. Returns whether it existed.
    fn delete_recipe(
        &self,
        project: ProjectId,
        recipe: &RecipeReference,
    ) -> Result<bool, StoreError>;
}

/// Binary packages of a recipe revision and their revisions.
pub trait PackageStore: Send + Sync {
    /// The packages of a recipe revision that have a committed revision, each with its newest
    /// one, ordered by package id.
    fn packages(&self, recipe: &RecipeRevisionKey) -> Result<Vec<PackageEntry>, StoreError>;

    /// The total file size of every committed package revision of a committed recipe revision,
    /// as (package id, package revision, bytes), in one query: what a page showing many binaries
    /// with their sizes needs, instead of one file listing per binary.
    fn package_revision_sizes(
        &self,
        recipe: &RecipeRevisionKey,
    ) -> Result<Vec<(PackageId, Revision, u64)>, StoreError>;

    /// The newest committed revision of a package, if any.
    fn latest_package_revision(
        &self,
        recipe: &RecipeRevisionKey,
        package_id: &PackageId,
    ) -> Result<Option<RevisionEntry>, StoreError>;

    /// Every committed revision of a package, newest first.
    fn package_revisions(
        &self,
        recipe: &RecipeRevisionKey,
        package_id: &PackageId,
    ) -> Result<Vec<RevisionEntry>, StoreError>;

    /// One committed package revision, if it exists.
    fn package_revision(
        &self,
        key: &PackageRevisionKey,
    ) -> Result<Option<RevisionEntry>, StoreError>;

    /// Deletes one package revision with its files; the package goes with its last revision.
    fn delete_package_revision(&self, key: &PackageRevisionKey) -> Result<bool, StoreError>;

    /// Deletes every revision of a package. Returns whether the package existed.
    fn delete_package(
        &self,
        recipe: &RecipeRevisionKey,
        package_id: &PackageId,
    ) -> Result<bool, StoreError>;

    /// Deletes every package of a recipe revision. Returns whether there was any.
    fn delete_packages(&self, recipe: &RecipeRevisionKey) -> Result<bool, StoreError>;
}

/// Files of revisions, and the index of their content blobs.
///
/// Storing a file goes around the blob store (see [`crate::transfer`]): publish the blob, then
/// record the file, which indexes the blob and re-checks that its object exists while holding
/// the blob's index row, the lock the garbage collector needs to delete it. Recording
/// `conanmanifest.txt` commits its revision.
pub trait FileStore: Send + Sync {
    /// The files of a committed revision, ordered by path; `None` when the revision does not
    /// exist or is not committed.
    fn files(&self, owner: &FileOwner) -> Result<Option<Vec<FileRecord>>, StoreError>;

    /// One file of a committed revision.
    fn file(&self, owner: &FileOwner, path: &FilePath) -> Result<Option<FileRecord>, StoreError>;

    /// Records a file, creating the recipe, revision and package rows it needs and indexing its
    /// blob. `ensure_blob` runs inside the transaction once the blob's index row is locked: it
    /// must make sure the object exists (publishing it again if a collector removed it) or
    /// fail, which rolls everything back.
    ///
    /// Storing the same content again is [`crate::FileOutcome::Unchanged`]; different content
    /// for an immutable file of a committed revision is a [`StoreError::Conflict`]. A package
    /// file needs its recipe revision committed ([`StoreError::NotFound`] otherwise).
    fn record_file(
        &self,
        owner: &FileOwner,
        file: NewFile<'_>,
        ensure_blob: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<RecordedFile, StoreError>;

    /// Removes `paths` from the recipe files of revision `0` (Conan 1's `remove_files`; every
    /// other revision is immutable) in one transaction. Paths it does not hold are ignored.
    /// Returns how many files were removed.
    fn remove_revision_zero_files(
        &self,
        project: ProjectId,
        recipe: &RecipeReference,
        paths: &[FilePath],
    ) -> Result<u64, StoreError>;

    /// The md5 recorded for the blob with this sha256; `None` when it has not been computed yet
    /// (uploads do not compute it) or the blob is not indexed.
    fn blob_md5(&self, sha256: &Sha256Hex) -> Result<Option<String>, StoreError>;

    /// Records the md5 of the blob with this sha256, on the blob and on every file with that
    /// content that has none yet. An md5 recorded already is kept.
    fn record_md5(&self, sha256: &Sha256Hex, md5: &str) -> Result<(), StoreError>;

    /// A stored blob with this sha1, for the checksum-deploy probe.
    fn blob_by_sha1(&self, sha1: &str) -> Result<Option<Digests>, StoreError>;
}

/// Recipe search.
pub trait SearchStore: Send + Sync {
    /// The recipes in `scope` that have a committed revision and match `pattern`, ordered by
    /// name, version, user and channel (bytewise), at most `limit` of them.
    fn search_recipes(
        &self,
        scope: &SearchScope,
        pattern: &SearchPattern,
        limit: usize,
    ) -> Result<Vec<RecipeMatch>, StoreError>;
}

/// The package catalog: recipes by id, as GitLab's Packages API lists, inspects and deletes
/// them (see [`crate::catalog`]). Deleting a whole recipe or revision goes through
/// [`RecipeStore`] and [`PackageStore`], as for the Conan routes.
pub trait CatalogStore: Send + Sync {
    /// A page of the recipes `query` selects, with the total count.
    fn catalog_packages(&self, query: &CatalogQuery) -> Result<CatalogPage, StoreError>;

    /// One recipe of `project`, committed or still uploading.
    fn catalog_package(
        &self,
        project: ProjectId,
        id: RecipeId,
    ) -> Result<Option<CatalogPackage>, StoreError>;

    /// A page of the files of every committed recipe and package revision of a recipe of
    /// `project`; `None` when the project has no such recipe.
    fn catalog_files(
        &self,
        project: ProjectId,
        recipe: RecipeId,
        query: &FileQuery,
    ) -> Result<Option<CatalogFilePage>, StoreError>;

    /// One file of a committed revision of a recipe of `project`.
    fn catalog_file(
        &self,
        project: ProjectId,
        recipe: RecipeId,
        file: FileId,
    ) -> Result<Option<CatalogFile>, StoreError>;

    /// Removes one file of a committed revision of a recipe of `project`, in one transaction
    /// under the recipe's lock. A manifest is refused ([`StoreError::Invalid`]): removing it
    /// removes its revision, which [`RecipeStore::delete_recipe_revision`] and
    /// [`PackageStore::delete_package_revision`] do. Returns whether the file existed.
    fn delete_catalog_file(
        &self,
        project: ProjectId,
        recipe: RecipeId,
        file: FileId,
    ) -> Result<bool, StoreError>;

    /// What `project` stores, from one snapshot; an unknown project stores nothing.
    fn project_stats(&self, project: ProjectId) -> Result<ProjectStats, StoreError>;

    /// Records that files of these revisions were downloaded at these times, in one
    /// transaction: on the recipe, the recipe revision (for a package's file too: using a binary
    /// uses its recipe revision) and the package revision. A recorded time only moves forward,
    /// and what no longer exists is skipped.
    fn record_downloads(&self, downloads: &[(FileOwner, RevisionTime)]) -> Result<(), StoreError>;
}

/// Cleanup policies, the reads and guarded removals their runs make, and the runs' records (see
/// [`crate::cleanup`]).
pub trait CleanupStore: Send + Sync {
    /// A project's policy; the default (disabled, no rules) when it never saved one.
    fn cleanup_policy(&self, project: ProjectId) -> Result<StoredCleanupPolicy, StoreError>;

    /// Saves a project's policy (checked by the caller), scheduling its next run one cadence
    /// after `now` when enabled. A missing project is [`StoreError::NotFound`].
    fn set_cleanup_policy(
        &self,
        project: ProjectId,
        policy: &CleanupPolicy,
        now: RevisionTime,
    ) -> Result<StoredCleanupPolicy, StoreError>;

    /// Up to `limit` recipes of `project` with an id above `after`, in id order, each with its
    /// committed revisions, binaries and files as [`crate::cleanup::plan`] needs them, all from
    /// one snapshot. Recipes with no committed revision are included with no revisions.
    fn cleanup_histories(
        &self,
        project: ProjectId,
        after: Option<RecipeId>,
        limit: usize,
    ) -> Result<Vec<RecipeHistory>, StoreError>;

    /// Carries out one planned removal for run `run` held by `owner`, in one transaction under
    /// the recipe's lock (the lock the delete routes take), recording it in the run. Removes
    /// nothing and returns `None` when the plan no longer holds: the run is not held by `owner`
    /// any more, the revision is gone or was committed again, it became the newest of its recipe
    /// or binary (unless [`Removal::may_be_latest`]), or a download at or after
    /// [`Removal::unused_before`] was recorded for it since.
    fn cleanup_remove(
        &self,
        run: CleanupRunId,
        owner: &str,
        removal: &Removal,
        now: RevisionTime,
    ) -> Result<Option<RemovedItem>, StoreError>;

    /// For each of these contents that is indexed: how many files and source backups reference
    /// it.
    fn blob_references(&self, sha256: &[Sha256Hex]) -> Result<Vec<(Sha256Hex, u64)>, StoreError>;

    /// The backups of `project` last used before `unused_before`, in sha256 order after
    /// `after`, at most `limit`: what a policy's `source_backups_unused_days` selects.
    fn cleanup_backups(
        &self,
        project: ProjectId,
        unused_before: RevisionTime,
        after: Option<&Sha256Hex>,
        limit: usize,
    ) -> Result<Vec<SourceBackup>, StoreError>;

    /// Removes the backup of `sha256` from `project` for run `run` in one transaction, if
    /// `owner` still holds the run and the backup is still unused since before `unused_before`
    /// (a download or upload since the run planned it keeps it), recording the removal with the
    /// run. `None` when nothing was removed.
    fn cleanup_remove_backup(
        &self,
        run: CleanupRunId,
        owner: &str,
        project: ProjectId,
        sha256: &Sha256Hex,
        unused_before: RevisionTime,
        now: RevisionTime,
    ) -> Result<Option<RemovedItem>, StoreError>;

    /// Claims a run as `claim` says, in one transaction: at most one run per project is running,
    /// whatever the number of nodes. `None` when there is nothing to claim.
    fn claim_cleanup_run(&self, claim: &RunClaim<'_>) -> Result<Option<CleanupRun>, StoreError>;

    /// Records a finished batch (the last recipe done, how many recipes it examined and skipped
    /// as protected) and renews the lease, if `owner` still holds the run. Returns whether it
    /// does.
    fn renew_cleanup_run(
        &self,
        run: CleanupRunId,
        owner: &str,
        resume_after: Option<RecipeId>,
        examined: u64,
        skipped_protected: u64,
        lease_until: RevisionTime,
    ) -> Result<bool, StoreError>;

    /// Ends a run `owner` holds: finished, or failed with `error`. Returns whether it held it.
    fn finish_cleanup_run(
        &self,
        run: CleanupRunId,
        owner: &str,
        error: Option<&str>,
        now: RevisionTime,
    ) -> Result<bool, StoreError>;

    /// The newest `limit` runs of a project, newest first, with their totals.
    fn cleanup_runs(&self, project: ProjectId, limit: usize)
    -> Result<Vec<CleanupRun>, StoreError>;

    /// One run of a project.
    fn cleanup_run(
        &self,
        project: ProjectId,
        run: CleanupRunId,
    ) -> Result<Option<CleanupRun>, StoreError>;

    /// What a run removed, in the order it removed it, skipping `offset`, at most `limit`.
    fn cleanup_removals(
        &self,
        run: CleanupRunId,
        offset: u64,
        limit: usize,
    ) -> Result<Vec<RemovedItem>, StoreError>;
}

/// Users, projects, memberships, tokens and JWT signing keys.
pub trait IdentityStore: Send + Sync {
    /// Creates a project; a taken path is a [`StoreError::Conflict`].
    fn create_project(&self, path: &str, visibility: Visibility) -> Result<Project, StoreError>;
    /// A project by id.
    fn project(&self, id: ProjectId) -> Result<Option<Project>, StoreError>;
    /// A project by its full path.
    fn project_by_path(&self, path: &str) -> Result<Option<Project>, StoreError>;
    /// Every project, by path.
    fn projects(&self) -> Result<Vec<Project>, StoreError>;
    /// The public and internal projects (what any signed-in user may read), by path.
    fn projects_with_visibility(
        &self,
        visibilities: &[Visibility],
    ) -> Result<Vec<Project>, StoreError>;
    /// Changes a project's visibility. Returns whether the project exists.
    fn set_project_visibility(
        &self,
        id: ProjectId,
        visibility: Visibility,
    ) -> Result<bool, StoreError>;

    /// Creates a user; a taken name is a [`StoreError::Conflict`].
    fn create_user(&self, user: &NewUser) -> Result<User, StoreError>;
    /// A user by id.
    fn user(&self, id: UserId) -> Result<Option<User>, StoreError>;
    /// A user by name.
    fn user_by_name(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// Every user, by name.
    fn users(&self) -> Result<Vec<User>, StoreError>;
    /// How many users exist (zero means first start).
    fn user_count(&self) -> Result<u64, StoreError>;
    /// Sets or clears a user's password hash. Returns whether the user exists.
    fn set_password_hash(&self, id: UserId, hash: Option<&str>) -> Result<bool, StoreError>;
    /// Enables or disables a user. Returns whether the user exists.
    fn set_user_active(&self, id: UserId, active: bool) -> Result<bool, StoreError>;
    /// Makes a user an instance administrator or not. Returns whether the user exists.
    fn set_user_admin(&self, id: UserId, admin: bool) -> Result<bool, StoreError>;

    /// Gives a user a role in a project, replacing any earlier role.
    fn set_membership(
        &self,
        project: ProjectId,
        user: UserId,
        role: Role,
    ) -> Result<(), StoreError>;
    /// Removes a membership. Returns whether it existed.
    fn remove_membership(&self, project: ProjectId, user: UserId) -> Result<bool, StoreError>;
    /// A user's role in a project.
    fn membership(&self, project: ProjectId, user: UserId) -> Result<Option<Role>, StoreError>;
    /// The project `key` names and, when `user` is given, that user's role in it: what an
    /// authorization decision needs, in one query. `None` when there is no such project.
    fn project_and_role(
        &self,
        key: ProjectKey<'_>,
        user: Option<UserId>,
    ) -> Result<Option<(Project, Option<Role>)>, StoreError>;
    /// The members of a project with their roles.
    fn project_members(&self, project: ProjectId) -> Result<Vec<(User, Role)>, StoreError>;
    /// The projects a user is a member of, with the role.
    fn user_memberships(&self, user: UserId) -> Result<Vec<(ProjectId, Role)>, StoreError>;

    /// Stores a new token (personal or deploy); a taken deploy-token user name is a conflict.
    fn create_token(&self, token: &NewToken) -> Result<Token, StoreError>;
    /// A token of this kind by the hash of its secret.
    fn token_by_hash(&self, kind: TokenKind, hash: &str) -> Result<Option<Token>, StoreError>;
    /// A token of this kind by id.
    fn token(&self, kind: TokenKind, id: TokenId) -> Result<Option<Token>, StoreError>;
    /// A user's personal access tokens or a project's deploy tokens, newest first.
    fn tokens(&self, holder: TokenHolder) -> Result<Vec<Token>, StoreError>;
    /// Revokes a token of this kind. Returns whether it existed and was not revoked yet.
    fn revoke_token(
        &self,
        kind: TokenKind,
        id: TokenId,
        at: RevisionTime,
    ) -> Result<bool, StoreError>;
    /// Records that a personal access token was used (deploy tokens keep no last-use time).
    ///
    /// May return before the write: inside a scope opened by [`ReadScope::read_scope_now`] on a
    /// tokio runtime (an async worker, which must not wait for the write lock) the write is
    /// handed to the runtime's blocking pool, `Ok` says only that it was handed over, and its
    /// failure is lost. Anywhere else it is written in its own transaction before returning.
    fn touch_personal_token(&self, id: TokenId, at: RevisionTime) -> Result<(), StoreError>;

    /// The identity epoch: a counter that every committed change to projects, users,
    /// memberships, tokens (except a personal token's last-use time) or signing keys increases,
    /// in the changing transaction itself. Reads that see the same epoch see the same
    /// identities, so a process may reuse what it read after reading an epoch for as long as the
    /// epoch it reads stays the same. Inside a [`ReadScope`] it is read once, from the scope's
    /// snapshot, and later calls in the scope cost nothing.
    fn identity_epoch(&self) -> Result<i64, StoreError>;

    /// Adds a JWT signing key; it becomes the newest.
    fn add_signing_key(&self, secret: &str) -> Result<SigningKey, StoreError>;
    /// Every signing key, newest first.
    fn signing_keys(&self) -> Result<Vec<SigningKey>, StoreError>;
    /// Removes a signing key. Returns whether it existed.
    fn remove_signing_key(&self, id: SigningKeyId) -> Result<bool, StoreError>;
}

/// Package protection rules: per project, which package names only higher access levels may
/// push or delete (GitLab's package protection rules).
///
/// Every change moves the identity epoch (see [`IdentityStore::identity_epoch`]) in its own
/// transaction, as identity changes do: rules take part in authorization, so whatever a node
/// keeps under one epoch stays true only while no rule changes.
pub trait ProtectionStore: Send + Sync {
    /// The rules of a project, every package type, ordered by id.
    fn protection_rules(&self, project: ProjectId) -> Result<Vec<ProtectionRule>, StoreError>;

    /// One rule of a project; `None` when there is no rule `id` in that project.
    fn protection_rule(
        &self,
        project: ProjectId,
        id: ProtectionRuleId,
    ) -> Result<Option<ProtectionRule>, StoreError>;

    /// Creates a rule in `project`. Its levels are checked ([`NewProtectionRule::check`],
    /// [`StoreError::Invalid`]); a rule with the same pattern and package type in the project is
    /// a [`StoreError::Conflict`]; a missing project is [`StoreError::NotFound`].
    fn create_protection_rule(
        &self,
        project: ProjectId,
        rule: &NewProtectionRule,
    ) -> Result<ProtectionRule, StoreError>;

    /// Changes the rule `id` of `project` as `update` says, returning the rule as it is now, or
    /// `None` when there is no rule `id` in that project. A result without any level or with a
    /// delete level of `maintainer` is [`StoreError::Invalid`]; a result with the pattern and
    /// package type of another rule of the project is a [`StoreError::Conflict`]. A refused
    /// update changes nothing.
    fn update_protection_rule(
        &self,
        project: ProjectId,
        id: ProtectionRuleId,
        update: &ProtectionRuleUpdate,
    ) -> Result<Option<ProtectionRule>, StoreError>;

    /// Deletes the rule `id` of `project`. Returns whether it existed there.
    fn delete_protection_rule(
        &self,
        project: ProjectId,
        id: ProtectionRuleId,
    ) -> Result<bool, StoreError>;

    /// The rules of `project` for `package_type` whose pattern matches the package `name`
    /// ([`conan_model::PackageNamePattern::matches`]: the same on every database), ordered by
    /// id. For Conan, `name` is the recipe name alone.
    fn matching_protection_rules(
        &self,
        project: ProjectId,
        package_type: PackageType,
        name: &str,
    ) -> Result<Vec<ProtectionRule>, StoreError>;
}

/// What an access decision reads: identities, and the protection rules that may narrow what
/// they allow, and the virtual projects whose members answer for them. The authenticator holds
/// one of these.
pub trait AccessStore: IdentityStore + ProtectionStore + VirtualStore + RemoteStore {}

impl<T> AccessStore for T where
    T: IdentityStore + ProtectionStore + VirtualStore + RemoteStore + ?Sized
{
}

/// Conan's source backups of a project (see [`crate::backups`]): a source file by its sha256
/// and its JSON summary. The file's blob is indexed like a package file's, and the collector
/// keeps every blob a backup references.
pub trait BackupStore: Send + Sync {
    /// The backup of `sha256` in `project`, if either of its files is stored.
    fn backup(
        &self,
        project: ProjectId,
        sha256: &Sha256Hex,
    ) -> Result<Option<SourceBackup>, StoreError>;

    /// Records the source file `digests.sha256` of `project` in one transaction: indexes its
    /// blob (taking the index row's lock, as [`FileStore::record_file`] does), calls
    /// `ensure_blob` under that lock, then creates or completes the backup's row. Returns whether
    /// the project did not have the file before; recording it again changes nothing.
    fn record_backup_file(
        &self,
        project: ProjectId,
        digests: &Digests,
        ensure_blob: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<bool, StoreError>;

    /// Sets the JSON summary of `sha256` in `project` (already checked by
    /// [`crate::backups::parse_summary`]), replacing the one stored: the client rewrites it as
    /// more references use the file. Returns whether the backup is new.
    fn record_backup_summary(
        &self,
        project: ProjectId,
        sha256: &Sha256Hex,
        summary: &str,
    ) -> Result<bool, StoreError>;

    /// Removes the backup of `sha256` from `project`, both files; whether there was one. Its
    /// blob is left to the collector.
    fn delete_backup(&self, project: ProjectId, sha256: &Sha256Hex) -> Result<bool, StoreError>;

    /// Records that the backup of `sha256` in `project` was used at `at` (its source file was
    /// downloaded), unless a later use is recorded; nothing when there is no such backup.
    fn record_backup_use(
        &self,
        project: ProjectId,
        sha256: &Sha256Hex,
        at: RevisionTime,
    ) -> Result<(), StoreError>;

    /// The backups of `project` in sha256 order, skipping the first `offset`, at most `limit`
    /// (the pages of the Packages API).
    fn backups(
        &self,
        project: ProjectId,
        offset: u64,
        limit: usize,
    ) -> Result<Vec<SourceBackup>, StoreError>;
}

/// Maintenance: health, garbage collection of unreferenced blobs, verification.
pub trait MaintenanceStore: Send + Sync {
    /// Checks the database answers (for a readiness probe).
    fn check(&self) -> Result<(), StoreError>;

    /// Marks every blob that no file references and that is not marked yet as orphaned now.
    /// Returns how many were marked.
    fn mark_orphaned_blobs(&self) -> Result<u64, StoreError>;

    /// Blobs marked orphaned before `before`, at most `limit`.
    fn orphaned_blobs(
        &self,
        before: RevisionTime,
        limit: usize,
    ) -> Result<Vec<Sha256Hex>, StoreError>;

    /// Deletes the index row of an orphaned blob if it is still unreferenced and was marked
    /// before `before`, calling `delete_object` while the row is locked, so that no upload can
    /// index the blob between the object's deletion and the row's. Returns whether it was
    /// deleted; a failing `delete_object` keeps the row.
    fn delete_orphaned_blob(
        &self,
        sha256: &Sha256Hex,
        before: RevisionTime,
        delete_object: &mut dyn FnMut() -> Result<(), StoreError>,
    ) -> Result<bool, StoreError>;

    /// Deletes the staging revisions of Conan 1 uploads into revision `0` that never sent their
    /// manifest (see [`crate::UploadId`]): begun before `before` and with no file recorded since,
    /// with their files, so their blobs become garbage; and recipes left with no revision at
    /// all. Returns how many uploads were removed.
    fn purge_abandoned_uploads(&self, before: RevisionTime) -> Result<u64, StoreError>;

    /// Whether a blob has an index row (referenced or not yet collected).
    fn blob_indexed(&self, sha256: &Sha256Hex) -> Result<bool, StoreError>;

    /// Index rows of blobs in sha256 order, starting after `after`, at most `limit`.
    fn indexed_blobs(
        &self,
        after: Option<&Sha256Hex>,
        limit: usize,
    ) -> Result<Vec<Digests>, StoreError>;
}

/// Several reads as one: the reads a request makes (who is calling, the project, the answer)
/// served from one snapshot.
pub trait ReadScope: Send + Sync {
    /// Runs `work` so that every read this store makes for it on this thread comes from one
    /// transaction on one connection: one consistent snapshot, and one pool checkout and one
    /// `BEGIN`/`COMMIT` instead of one per call. Scopes nest (the inner joins the outer). A
    /// write inside still runs in its own transaction on another connection, and reads after it
    /// in the same scope do not see it: meant for paths that only read.
    ///
    /// Fails only when the snapshot cannot be opened (no connection); `work` then does not run.
    /// [`read_scope`] is the generic form.
    fn read_scope(&self, work: &mut dyn FnMut()) -> Result<(), StoreError>;

    /// Runs `work` as [`read_scope`](Self::read_scope) does, on this thread, when opening the
    /// scope cannot make the thread wait: the database is embedded (its reads are this
    /// thread's own work on pages in memory, not round trips to a server) and the pool has an
    /// idle connection. Otherwise returns `None` without running `work`, and the caller hands
    /// the read to a thread that may wait. [`read_scope_now`] is the generic form.
    fn read_scope_now(&self, work: &mut dyn FnMut()) -> Option<Result<(), StoreError>> {
        let _ = work;
        None
    }
}

/// Runs `work` inside [`ReadScope::read_scope`], returning its value.
pub fn read_scope<T>(
    store: &(impl ReadScope + ?Sized),
    work: impl FnOnce() -> T,
) -> Result<T, StoreError> {
    let mut work = Some(work);
    let mut value = None;
    store.read_scope(&mut || {
        if let Some(work) = work.take() {
            value = Some(work());
        }
    })?;
    value.ok_or_else(work_not_run)
}

/// Runs `work` inside [`ReadScope::read_scope_now`], returning its value, or gives `work` back
/// unrun when the scope cannot be opened without waiting.
pub fn read_scope_now<T, F: FnOnce() -> T>(
    store: &(impl ReadScope + ?Sized),
    work: F,
) -> Result<Result<T, StoreError>, F> {
    let mut work = Some(work);
    let mut value = None;
    let opened = store.read_scope_now(&mut || {
        if let Some(work) = work.take() {
            value = Some(work());
        }
    });
    match (opened, work) {
        // Not opened, and the work is still here: the caller runs it elsewhere.
        (None, Some(work)) => Err(work),
        (Some(Err(error)), _) => Ok(Err(error)),
        _ => Ok(value.ok_or_else(work_not_run)),
    }
}

/// The error of a [`ReadScope`] implementation that opened a scope but skipped its work.
fn work_not_run() -> StoreError {
    StoreError::Backend {
        message: "the read scope did not run its work".to_owned(),
        source: "ReadScope implementation skipped the closure".into(),
    }
}

/// Everything the registry stores about packages and people, in one object.
pub trait MetadataStore:
    RecipeStore
    + PackageStore
    + FileStore
    + SearchStore
    + CatalogStore
    + CleanupStore
    + IdentityStore
    + ProtectionStore
    + AccessStore
    + MaintenanceStore
    + BackupStore
    + RemoteStore
    + VirtualStore
    + ReadScope
{
}

impl<T> MetadataStore for T where
    T: RecipeStore
        + PackageStore
        + FileStore
        + SearchStore
        + CatalogStore
        + CleanupStore
        + IdentityStore
        + ProtectionStore
        + MaintenanceStore
        + BackupStore
        + RemoteStore
        + VirtualStore
        + ReadScope
{
}
