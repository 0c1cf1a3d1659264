//! Cleanup policies and runs on diesel ([`CleanupStore`]).
//!
//! A run claims its project through its `cleanup_runs` row: a partial unique index allows one
//! `running` row per project, and a claim that loses a race to another node hits it and runs
//! again (see [`super::retry`]), finding the row taken. A removal is one transaction under the
//! recipe's lock that re-checks the plan, deletes through the same rows and cascades as the
//! delete routes, and records itself in `cleanup_removals`, so what a run recorded is exactly
//! what is gone, even after a crash.

use std::collections::{BTreeMap, HashMap};

use conan_model::RevisionTime;
use diesel::dsl::{count_star, exists, sql};
use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::backups::{BACKUP_COLUMNS, BackupRow, backup_of};
use super::lookup::{
    committed_package_revisions, committed_recipe_revisions, delete_package_reference_if_empty,
    delete_recipe_if_empty, find_package_reference, find_package_revision, find_recipe,
    find_recipe_revision, lock_recipe, stored_reference,
};
use super::schema::{
    blobs, cleanup_policies, cleanup_removals, cleanup_runs, files, package_references,
    package_revisions, projects, recipe_revisions, recipes, source_backups,
};
use super::{DbConnection, DbError, DieselStore, parse_stored, time_of};
use crate::StoreError;
use crate::backups::SourceBackup;
use crate::blob::Sha256Hex;
use crate::cleanup::{
    BinaryHistory, CleanupPolicy, CleanupRun, CleanupRunId, CleanupTotals, PackageRevisionHistory,
    RecipeHistory, Removal, RemovalTarget, RemovedItem, RemovedKind, RevisionHistory, RunClaim,
    RunState, RunTrigger, StoredCleanupPolicy, backup_item,
};
use crate::records::{ProjectId, RecipeId};
use crate::traits::CleanupStore;

/// How many finished runs a project keeps on record (with what they removed).
const RUNS_KEPT: i64 = 50;

type PolicyRow = (
    bool,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    String,
    String,
    Option<i64>,
    i64,
    Option<i64>,
);

fn corrupt(message: String) -> DbError {
    DbError::Store(StoreError::Corrupt(message))
}

fn count(value: Option<i64>) -> Result<Option<u32>, DbError> {
    value
        .map(|value| {
            u32::try_from(value).map_err(|_| corrupt(format!("count {value} out of range")))
        })
        .transpose()
}

fn unsigned(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

fn signed(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn policy_of(row: PolicyRow) -> Result<StoredCleanupPolicy, DbError> {
    let (enabled, cadence, keep, recipes, packages, days, include, exclude, next, updated, backups) =
        row;
    let patterns = |text: &str| -> Result<Vec<String>, DbError> {
        serde_json::from_str(text).map_err(|error| corrupt(format!("patterns {text:?}: {error}")))
    };
    Ok(StoredCleanupPolicy {
        policy: CleanupPolicy {
            enabled,
            cadence: parse_stored(&cadence)?,
            keep_n_duplicated_package_files: parse_stored(&keep)?,
            keep_n_recipe_revisions: count(recipes)?,
            keep_n_package_revisions: count(packages)?,
            unused_days: count(days)?,
            source_backups_unused_days: count(backups)?,
            include: patterns(&include)?,
            exclude: patterns(&exclude)?,
        },
        next_run_at: next.map(time_of).transpose()?,
        updated_at: Some(time_of(updated)?),
    })
}

fn load_policy(conn: &mut DbConnection, project: i64) -> Result<StoredCleanupPolicy, DbError> {
    let row: Option<PolicyRow> = native!(conn, c => cleanup_policies::table
        .find(project)
        .select((
            cleanup_policies::enabled,
            cleanup_policies::cadence,
            cleanup_policies::keep_n_duplicated_package_files,
            cleanup_policies::keep_n_recipe_revisions,
            cleanup_policies::keep_n_package_revisions,
            cleanup_policies::unused_days,
            cleanup_policies::include_patterns,
            cleanup_policies::exclude_patterns,
            cleanup_policies::next_run_at,
            cleanup_policies::updated_at,
            cleanup_policies::source_backups_unused_days,
        ))
        .first(c)
        .optional())?;
    row.map_or_else(
        || {
            Ok(StoredCleanupPolicy {
                policy: CleanupPolicy::default(),
                next_run_at: None,
                updated_at: None,
            })
        },
        policy_of,
    )
}

type RunRow = (
    i64,
    i64,
    String,
    String,
    String,
    String,
    Option<i64>,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<String>,
);

const RUN_COLUMNS: (
    cleanup_runs::id,
    cleanup_runs::project_id,
    cleanup_runs::started_by,
    cleanup_runs::policy,
    cleanup_runs::state,
    cleanup_runs::owner,
    cleanup_runs::resume_after,
    cleanup_runs::recipes_examined,
    cleanup_runs::skipped_protected,
    cleanup_runs::started_at,
    cleanup_runs::finished_at,
    cleanup_runs::error,
) = (
    cleanup_runs::id,
    cleanup_runs::project_id,
    cleanup_runs::started_by,
    cleanup_runs::policy,
    cleanup_runs::state,
    cleanup_runs::owner,
    cleanup_runs::resume_after,
    cleanup_runs::recipes_examined,
    cleanup_runs::skipped_protected,
    cleanup_runs::started_at,
    cleanup_runs::finished_at,
    cleanup_runs::error,
);

/// Loads runs with their totals (summed from what they removed).
fn runs_of(conn: &mut DbConnection, rows: Vec<RunRow>) -> Result<Vec<CleanupRun>, DbError> {
    let ids: Vec<i64> = rows.iter().map(|row| row.0).collect();
    let sums: Vec<(i64, String, i64, i64, i64, i64, i64)> = native!(conn, c => cleanup_removals::table
        .filter(cleanup_removals::run_id.eq_any(&ids))
        .group_by((cleanup_removals::run_id, cleanup_removals::kind))
        .select((
            cleanup_removals::run_id,
            cleanup_removals::kind,
            count_star(),
            sql::<BigInt>("CAST(COALESCE(SUM(cleanup_removals.package_revisions), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(cleanup_removals.files), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(cleanup_removals.logical_bytes), 0) AS BIGINT)"),
            sql::<BigInt>("CAST(COALESCE(SUM(cleanup_removals.stored_bytes), 0) AS BIGINT)"),
        ))
        .load(c))?;
    let mut totals: HashMap<i64, CleanupTotals> = HashMap::new();
    for (run, kind, removals, packages, file_count, logical, stored) in sums {
        let entry = totals.entry(run).or_default();
        if kind == RemovedKind::RecipeRevision.as_str() {
            entry.recipe_revisions += unsigned(removals);
        } else if kind == RemovedKind::SourceBackup.as_str() {
            entry.source_backups += unsigned(removals);
        }
        entry.package_revisions += unsigned(packages);
        entry.files += unsigned(file_count);
        entry.logical_bytes += unsigned(logical);
        entry.stored_bytes += unsigned(stored);
    }
    rows.into_iter()
        .map(|row| {
            let (
                id,
                project,
                trigger,
                policy,
                state,
                owner,
                resume,
                examined,
                skipped,
                started,
                finished,
                error,
            ) = row;
            let mut run_totals = totals.remove(&id).unwrap_or_default();
            run_totals.recipes_examined = unsigned(examined);
            run_totals.skipped_protected = unsigned(skipped);
            Ok(CleanupRun {
                id: CleanupRunId(id),
                project: ProjectId(project),
                trigger: RunTrigger::parse(&trigger)
                    .ok_or_else(|| corrupt(format!("run trigger {trigger:?}")))?,
                policy: serde_json::from_str(&policy)
                    .map_err(|error| corrupt(format!("run policy: {error}")))?,
                state: RunState::parse(&state)
                    .ok_or_else(|| corrupt(format!("run state {state:?}")))?,
                owner,
                resume_after: resume.map(RecipeId),
                started_at: time_of(started)?,
                finished_at: finished.map(time_of).transpose()?,
                error,
                totals: run_totals,
            })
        })
        .collect()
}

fn load_run(conn: &mut DbConnection, id: i64) -> Result<Option<CleanupRun>, DbError> {
    let rows: Vec<RunRow> =
        native!(conn, c => cleanup_runs::table.find(id).select(RUN_COLUMNS).load(c))?;
    Ok(runs_of(conn, rows)?.pop())
}

/// Whether `owner` holds run `run` (it is running under that owner's claim).
fn holds(conn: &mut DbConnection, run: i64, owner: &str) -> QueryResult<bool> {
    let held: i64 = native!(conn, c => cleanup_runs::table
        .filter(cleanup_runs::id.eq(run))
        .filter(cleanup_runs::owner.eq(owner))
        .filter(cleanup_runs::state.eq(RunState::Running.as_str()))
        .select(count_star())
        .first(c))?;
    Ok(held > 0)
}

/// Starts a new run of `project` with its current policy, pruning old finished runs.
fn insert_run(
    conn: &mut DbConnection,
    project: i64,
    trigger: RunTrigger,
    now: RevisionTime,
    owner: &str,
    lease_until: RevisionTime,
) -> Result<Option<CleanupRun>, DbError> {
    let policy = load_policy(conn, project)?.policy;
    let policy = serde_json::to_string(&policy).map_err(|error| corrupt(error.to_string()))?;
    native!(conn, c => diesel::insert_into(cleanup_runs::table)
        .values((
            cleanup_runs::project_id.eq(project),
            cleanup_runs::started_by.eq(trigger.as_str()),
            cleanup_runs::policy.eq(&policy),
            cleanup_runs::state.eq(RunState::Running.as_str()),
            cleanup_runs::owner.eq(owner),
            cleanup_runs::lease_until.eq(lease_until.unix_micros()),
            cleanup_runs::started_at.eq(now.unix_micros()),
        ))
        .execute(c))?;
    let id: i64 = native!(conn, c => cleanup_runs::table
        .filter(cleanup_runs::project_id.eq(project))
        .filter(cleanup_runs::state.eq(RunState::Running.as_str()))
        .select(cleanup_runs::id)
        .first(c))?;
    // Keep the newest runs on record; older ones go with what they removed.
    let keep_from: Option<i64> = native!(conn, c => cleanup_runs::table
        .filter(cleanup_runs::project_id.eq(project))
        .order(cleanup_runs::id.desc())
        .offset(RUNS_KEPT)
        .select(cleanup_runs::id)
        .first(c)
        .optional())?;
    if let Some(oldest_dropped) = keep_from {
        let old: Vec<i64> = native!(conn, c => cleanup_runs::table
            .filter(cleanup_runs::project_id.eq(project))
            .filter(cleanup_runs::id.le(oldest_dropped))
            .filter(cleanup_runs::state.ne(RunState::Running.as_str()))
            .select(cleanup_runs::id)
            .load(c))?;
        native!(conn, c => diesel::delete(cleanup_removals::table.filter(cleanup_removals::run_id.eq_any(&old))).execute(c))?;
        native!(conn, c => diesel::delete(cleanup_runs::table.filter(cleanup_runs::id.eq_any(&old))).execute(c))?;
    }
    load_run(conn, id)
}

/// Takes over a run whose lease ran out. `None` when another claim got there first.
fn take_over(
    conn: &mut DbConnection,
    run: i64,
    now: RevisionTime,
    owner: &str,
    lease_until: RevisionTime,
) -> Result<Option<CleanupRun>, DbError> {
    let taken = native!(conn, c => diesel::update(
        cleanup_runs::table
            .find(run)
            .filter(cleanup_runs::state.eq(RunState::Running.as_str()))
            .filter(cleanup_runs::lease_until.lt(now.unix_micros())),
    )
    .set((
        cleanup_runs::owner.eq(owner),
        cleanup_runs::lease_until.eq(lease_until.unix_micros()),
    ))
    .execute(c))?;
    if taken == 0 {
        return Ok(None);
    }
    load_run(conn, run)
}

/// The project's running run: its id and lease.
fn running_run(conn: &mut DbConnection, project: i64) -> QueryResult<Option<(i64, i64)>> {
    native!(conn, c => cleanup_runs::table
        .filter(cleanup_runs::project_id.eq(project))
        .filter(cleanup_runs::state.eq(RunState::Running.as_str()))
        .select((cleanup_runs::id, cleanup_runs::lease_until))
        .first(c)
        .optional())
}

/// Contents and sizes of the files of a recipe revision (with its packages) or of a package
/// revision.
fn files_of(conn: &mut DbConnection, target: &Target) -> QueryResult<Vec<(String, i64)>> {
    match *target {
        Target::Recipe(id) => native!(conn, c => files::table
            .filter(files::recipe_revision_id.eq(id))
            .select((files::sha256, files::size))
            .load(c)),
        Target::Package(id) => native!(conn, c => files::table
            .filter(files::package_revision_id.eq(Some(id)))
            .select((files::sha256, files::size))
            .load(c)),
    }
}

enum Target {
    Recipe(i64),
    Package(i64),
}

/// Fails with [`StoreError::NotFound`] when the project does not exist.
pub(super) fn require_project(conn: &mut DbConnection, project: ProjectId) -> Result<(), DbError> {
    let exists: i64 = native!(conn, c => projects::table
        .filter(projects::id.eq(project.0))
        .select(count_star())
        .first(c))?;
    if exists == 0 {
        return Err(DbError::Store(StoreError::NotFound(format!(
            "project {project} does not exist"
        ))));
    }
    Ok(())
}

/// Whether a recorded last download keeps something alive past `cutoff`.
fn downloaded_since(time: Option<i64>, cutoff: RevisionTime) -> bool {
    time.is_some_and(|time| time >= cutoff.unix_micros())
}

/// Whether a revision is as the plan saw it: committed at the same time, and not the newest of
/// its recipe or binary unless the plan allows that.
fn unchanged<R: PartialEq>(
    removal: &Removal,
    committed: Option<i64>,
    latest: Option<&R>,
    revision: &R,
) -> bool {
    committed == Some(removal.committed_at.unix_micros())
        && (removal.may_be_latest || latest != Some(revision))
}

/// The row a planned removal deletes, if the plan still holds (see
/// [`CleanupStore::cleanup_remove`]); the recipe is locked and its revision found.
fn planned_target(
    conn: &mut DbConnection,
    removal: &Removal,
    recipe_id: i64,
    (recipe_revision_id, recipe_committed): (i64, Option<i64>),
    recipe_downloaded: Option<i64>,
) -> Result<Option<Target>, DbError> {
    Ok(Some(match &removal.target {
        RemovalTarget::RecipeRevision(key) => {
            let latest = committed_recipe_revisions(conn, recipe_id, 1)?;
            if !unchanged(
                removal,
                recipe_committed,
                latest.first().map(|entry| &entry.revision),
                &key.revision,
            ) {
                return Ok(None);
            }
            if let Some(cutoff) = removal.unused_before {
                let downloaded: Option<i64> = native!(conn, c => recipe_revisions::table
                    .find(recipe_revision_id)
                    .select(recipe_revisions::last_downloaded_at)
                    .first(c))?;
                if downloaded_since(downloaded, cutoff)
                    || (removal.may_be_latest && downloaded_since(recipe_downloaded, cutoff))
                {
                    return Ok(None);
                }
            }
            Target::Recipe(recipe_revision_id)
        }
        RemovalTarget::PackageRevision(key) => {
            let Some(reference_id) =
                find_package_reference(conn, recipe_revision_id, &key.package_id)?
            else {
                return Ok(None);
            };
            let Some((revision_id, committed)) =
                find_package_revision(conn, reference_id, key.revision.as_str())?
            else {
                return Ok(None);
            };
            let latest = committed_package_revisions(conn, reference_id, 1)?;
            if !unchanged(
                removal,
                committed,
                latest.first().map(|entry| &entry.revision),
                &key.revision,
            ) {
                return Ok(None);
            }
            if let Some(cutoff) = removal.unused_before {
                let downloaded: Option<i64> = native!(conn, c => package_revisions::table
                    .find(revision_id)
                    .select(package_revisions::last_downloaded_at)
                    .first(c))?;
                if downloaded_since(downloaded, cutoff) {
                    return Ok(None);
                }
            }
            Target::Package(revision_id)
        }
    }))
}

/// The source backups last used before `$cutoff` (rows from before `last_used_at` count from
/// their last change): a filter expression.
macro_rules! unused_since {
    ($cutoff:expr) => {
        source_backups::last_used_at
            .lt($cutoff)
            .or(source_backups::last_used_at
                .is_null()
                .and(source_backups::updated_at.lt($cutoff)))
    };
}

/// Records one removal of a run.
fn record_removal(
    conn: &mut DbConnection,
    run: CleanupRunId,
    item: &RemovedItem,
    now: RevisionTime,
) -> Result<(), DbError> {
    native!(conn, c => diesel::insert_into(cleanup_removals::table)
        .values((
            cleanup_removals::run_id.eq(run.0),
            cleanup_removals::kind.eq(item.kind.as_str()),
            cleanup_removals::reference.eq(&item.reference),
            cleanup_removals::package_revisions.eq(signed(item.package_revisions)),
            cleanup_removals::files.eq(signed(item.files)),
            cleanup_removals::logical_bytes.eq(signed(item.logical_bytes)),
            cleanup_removals::stored_bytes.eq(signed(item.stored_bytes)),
            cleanup_removals::reason.eq(&item.reason),
            cleanup_removals::removed_at.eq(now.unix_micros()),
        ))
        .execute(c))?;
    Ok(())
}

/// A committed recipe revision: id, recipe id, revision, commit and download times.
type RevisionRow = (i64, i64, String, Option<i64>, Option<i64>);
/// A committed package revision: id, recipe revision id, package id, revision, commit and
/// download times.
type PackageRow = (i64, i64, String, String, Option<i64>, Option<i64>);
/// A recorded removal: kind, reference, reason, package revisions, files, bytes, time.
type RemovalRow = (String, String, String, i64, i64, i64, i64, i64);

impl DieselStore {
    /// The guarded removal of [`CleanupStore::cleanup_remove`], inside its transaction.
    fn remove_planned(
        conn: &mut DbConnection,
        run: CleanupRunId,
        owner: &str,
        removal: &Removal,
        now: RevisionTime,
    ) -> Result<Option<RemovedItem>, DbError> {
        if !holds(conn, run.0, owner)? {
            return Ok(None);
        }
        let recipe_key = match &removal.target {
            RemovalTarget::RecipeRevision(key) => key,
            RemovalTarget::PackageRevision(key) => &key.recipe,
        };
        let Some(recipe_id) = find_recipe(conn, recipe_key.project, &recipe_key.recipe)? else {
            return Ok(None);
        };
        lock_recipe(conn, recipe_id)?;
        let Some((recipe_revision_id, recipe_committed)) =
            find_recipe_revision(conn, recipe_id, recipe_key.revision.as_str())?
        else {
            return Ok(None);
        };
        let recipe_downloaded: Option<i64> = native!(conn, c => recipes::table
            .find(recipe_id)
            .select(recipes::last_downloaded_at)
            .first(c))?;
        let Some(target) = planned_target(
            conn,
            removal,
            recipe_id,
            (recipe_revision_id, recipe_committed),
            recipe_downloaded,
        )?
        else {
            return Ok(None);
        };
        let removed_files = files_of(conn, &target)?;
        let package_revisions_removed = match target {
            Target::Recipe(id) => {
                let n: i64 = native!(conn, c => package_revisions::table
                    .inner_join(package_references::table)
                    .filter(package_references::recipe_revision_id.eq(id))
                    .filter(package_revisions::committed_at.is_not_null())
                    .select(count_star())
                    .first(c))?;
                unsigned(n)
            }
            Target::Package(_) => 1,
        };
        // The same deletes as the delete routes: the cascades take files and packages along.
        match target {
            Target::Recipe(id) => {
                native!(conn, c => diesel::delete(recipe_revisions::table.find(id)).execute(c))?;
                delete_recipe_if_empty(conn, recipe_id)?;
            }
            Target::Package(id) => {
                let reference_id: i64 = native!(conn, c => package_revisions::table
                    .find(id)
                    .select(package_revisions::package_reference_id)
                    .first(c))?;
                native!(conn, c => diesel::delete(package_revisions::table.find(id)).execute(c))?;
                delete_package_reference_if_empty(conn, reference_id)?;
            }
        }
        let mut shas: Vec<&str> = removed_files.iter().map(|(sha, _)| sha.as_str()).collect();
        shas.sort_unstable();
        shas.dedup();
        let stored: i64 = if shas.is_empty() {
            0
        } else {
            native!(conn, c => blobs::table
                .filter(blobs::sha256.eq_any(&shas))
                .filter(diesel::dsl::not(exists(files::table.filter(files::sha256.eq(blobs::sha256)))))
                // A blob a source backup keeps is not freed either.
                .filter(diesel::dsl::not(exists(source_backups::table
                    .filter(source_backups::blob_sha256.eq(blobs::sha256.nullable())))))
                .select(sql::<BigInt>("CAST(COALESCE(SUM(blobs.size), 0) AS BIGINT)"))
                .first(c))?
        };
        let item = RemovedItem {
            kind: removal.kind(),
            reference: removal.reference(),
            reason: removal.reason.as_str().to_owned(),
            package_revisions: package_revisions_removed,
            files: removed_files.len() as u64,
            logical_bytes: removed_files.iter().map(|(_, size)| unsigned(*size)).sum(),
            stored_bytes: unsigned(stored),
            removed_at: Some(now),
        };
        record_removal(conn, run, &item, now)?;
        Ok(Some(item))
    }
}

impl CleanupStore for DieselStore {
    fn cleanup_policy(&self, project: ProjectId) -> Result<StoredCleanupPolicy, StoreError> {
        self.read(|conn| load_policy(conn, project.0))
    }

    fn set_cleanup_policy(
        &self,
        project: ProjectId,
        policy: &CleanupPolicy,
        now: RevisionTime,
    ) -> Result<StoredCleanupPolicy, StoreError> {
        let include = serde_json::to_string(&policy.include)
            .map_err(|error| StoreError::Invalid(error.to_string()))?;
        let exclude = serde_json::to_string(&policy.exclude)
            .map_err(|error| StoreError::Invalid(error.to_string()))?;
        // A policy with no rule would walk the project for nothing: it is not scheduled.
        let scheduled = policy.enabled && policy.has_rules();
        let counted = |value: Option<u32>| value.map(i64::from);
        self.transaction(|conn| {
            require_project(conn, project)?;
            // A save that leaves the schedule as it was (still on, same cadence) keeps the next
            // run where it was, as GitLab does: editing a rule does not postpone the cleanup.
            let previous = load_policy(conn, project.0)?;
            let next_run_at = scheduled.then(|| match previous.next_run_at {
                Some(at) if previous.policy.cadence == policy.cadence => at.unix_micros(),
                _ => policy.cadence.after(now).unix_micros(),
            });
            native!(conn, c => diesel::delete(cleanup_policies::table.find(project.0)).execute(c))?;
            native!(conn, c => diesel::insert_into(cleanup_policies::table)
                .values((
                    cleanup_policies::project_id.eq(project.0),
                    cleanup_policies::enabled.eq(policy.enabled),
                    cleanup_policies::cadence.eq(policy.cadence.as_str()),
                    cleanup_policies::keep_n_duplicated_package_files.eq(policy.keep_n_duplicated_package_files.as_string()),
                    cleanup_policies::keep_n_recipe_revisions.eq(counted(policy.keep_n_recipe_revisions)),
                    cleanup_policies::keep_n_package_revisions.eq(counted(policy.keep_n_package_revisions)),
                    cleanup_policies::unused_days.eq(counted(policy.unused_days)),
                    cleanup_policies::include_patterns.eq(&include),
                    cleanup_policies::exclude_patterns.eq(&exclude),
                    cleanup_policies::next_run_at.eq(next_run_at),
                    cleanup_policies::updated_at.eq(now.unix_micros()),
                    cleanup_policies::source_backups_unused_days.eq(counted(policy.source_backups_unused_days)),
                ))
                .execute(c))?;
            load_policy(conn, project.0)
        })
    }

    fn cleanup_histories(
        &self,
        project: ProjectId,
        after: Option<RecipeId>,
        limit: usize,
    ) -> Result<Vec<RecipeHistory>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let after = after.map_or(i64::MIN, |id| id.0);
        self.read(|conn| {
            let recipe_rows: Vec<(i64, String, String, String, String)> = native!(conn, c => recipes::table
                .filter(recipes::project_id.eq(project.0))
                .filter(recipes::id.gt(after))
                .order(recipes::id)
                .limit(limit)
                .select((recipes::id, recipes::name, recipes::version, recipes::user_name, recipes::channel))
                .load(c))?;
            let recipe_ids: Vec<i64> = recipe_rows.iter().map(|row| row.0).collect();
            let revision_rows: Vec<RevisionRow> = native!(conn, c => recipe_revisions::table
                .filter(recipe_revisions::recipe_id.eq_any(&recipe_ids))
                .filter(recipe_revisions::committed_at.is_not_null())
                .order((recipe_revisions::recipe_id, recipe_revisions::committed_at.desc(), recipe_revisions::id.desc()))
                .select((
                    recipe_revisions::id,
                    recipe_revisions::recipe_id,
                    recipe_revisions::revision,
                    recipe_revisions::committed_at,
                    recipe_revisions::last_downloaded_at,
                ))
                .load(c))?;
            let revision_ids: Vec<i64> = revision_rows.iter().map(|row| row.0).collect();
            let package_rows: Vec<PackageRow> = native!(conn, c => package_revisions::table
                .inner_join(package_references::table)
                .filter(package_references::recipe_revision_id.eq_any(&revision_ids))
                .filter(package_revisions::committed_at.is_not_null())
                .order((
                    package_references::recipe_revision_id,
                    package_references::package_id,
                    package_revisions::committed_at.desc(),
                    package_revisions::id.desc(),
                ))
                .select((
                    package_revisions::id,
                    package_references::recipe_revision_id,
                    package_references::package_id,
                    package_revisions::revision,
                    package_revisions::committed_at,
                    package_revisions::last_downloaded_at,
                ))
                .load(c))?;
            let file_rows: Vec<(i64, Option<i64>, String, i64)> = native!(conn, c => files::table
                .filter(files::recipe_revision_id.eq_any(&revision_ids))
                .order(files::id)
                .select((files::recipe_revision_id, files::package_revision_id, files::sha256, files::size))
                .load(c))?;
            // Files by owner: a recipe revision's own, or a package revision's.
            let mut recipe_files: HashMap<i64, Vec<(Sha256Hex, u64)>> = HashMap::new();
            let mut package_files: HashMap<i64, Vec<(Sha256Hex, u64)>> = HashMap::new();
            for (revision, package, sha256, size) in file_rows {
                let entry = (parse_stored::<Sha256Hex>(&sha256)?, unsigned(size));
                match package {
                    Some(package) => package_files.entry(package).or_default().push(entry),
                    None => recipe_files.entry(revision).or_default().push(entry),
                }
            }
            // Binaries by recipe revision, in package id order, revisions newest first.
            let mut binaries: HashMap<i64, BTreeMap<String, Vec<PackageRevisionHistory>>> = HashMap::new();
            for (id, revision_id, package_id, revision, committed, downloaded) in package_rows {
                let Some(committed) = committed else { continue };
                binaries.entry(revision_id).or_default().entry(package_id).or_default().push(
                    PackageRevisionHistory {
                        revision: parse_stored(&revision)?,
                        committed_at: time_of(committed)?,
                        last_downloaded_at: downloaded.map(time_of).transpose()?,
                        files: package_files.remove(&id).unwrap_or_default(),
                    },
                );
            }
            let mut revisions: HashMap<i64, Vec<RevisionHistory>> = HashMap::new();
            for (id, recipe_id, revision, committed, downloaded) in revision_rows {
                let Some(committed) = committed else { continue };
                let binaries = binaries
                    .remove(&id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(package_id, revisions)| {
                        Ok(BinaryHistory { package_id: parse_stored(&package_id)?, revisions })
                    })
                    .collect::<Result<_, DbError>>()?;
                revisions.entry(recipe_id).or_default().push(RevisionHistory {
                    revision: parse_stored(&revision)?,
                    committed_at: time_of(committed)?,
                    last_downloaded_at: downloaded.map(time_of).transpose()?,
                    files: recipe_files.remove(&id).unwrap_or_default(),
                    binaries,
                });
            }
            recipe_rows
                .into_iter()
                .map(|(id, name, version, user, channel)| {
                    Ok(RecipeHistory {
                        id: RecipeId(id),
                        project,
                        reference: stored_reference(&name, &version, &user, &channel)?,
                        revisions: revisions.remove(&id).unwrap_or_default(),
                    })
                })
                .collect()
        })
    }

    fn cleanup_remove(
        &self,
        run: CleanupRunId,
        owner: &str,
        removal: &Removal,
        now: RevisionTime,
    ) -> Result<Option<RemovedItem>, StoreError> {
        self.transaction(|conn| Self::remove_planned(conn, run, owner, removal, now))
    }

    fn blob_references(&self, sha256: &[Sha256Hex]) -> Result<Vec<(Sha256Hex, u64)>, StoreError> {
        let shas: Vec<&str> = sha256.iter().map(Sha256Hex::as_str).collect();
        self.read(|conn| {
            let rows: Vec<(String, i64)> = native!(conn, c => files::table
                .filter(files::sha256.eq_any(&shas))
                .group_by(files::sha256)
                .select((files::sha256, count_star()))
                .load(c))?;
            // A source backup holds its blob as a file does: a removal does not free it.
            let backups: Vec<Option<String>> = source_backups::table
                .filter(source_backups::blob_sha256.eq_any(&shas))
                .select(source_backups::blob_sha256)
                .load(conn)?;
            let mut counts: std::collections::BTreeMap<String, i64> = rows.into_iter().collect();
            for sha in backups.into_iter().flatten() {
                *counts.entry(sha).or_default() += 1;
            }
            counts
                .into_iter()
                .map(|(sha, references)| Ok((parse_stored(&sha)?, unsigned(references))))
                .collect()
        })
    }

    fn cleanup_backups(
        &self,
        project: ProjectId,
        unused_before: RevisionTime,
        after: Option<&Sha256Hex>,
        limit: usize,
    ) -> Result<Vec<SourceBackup>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let after = after.map_or("", Sha256Hex::as_str);
        let cutoff = unused_before.unix_micros();
        self.read(|conn| {
            let rows: Vec<BackupRow> = source_backups::table
                .filter(source_backups::project_id.eq(project.0))
                .filter(unused_since!(cutoff))
                .filter(source_backups::sha256.gt(after))
                .order(source_backups::sha256)
                .limit(limit)
                .select(BACKUP_COLUMNS)
                .load(conn)?;
            rows.into_iter().map(backup_of).collect()
        })
    }

    fn cleanup_remove_backup(
        &self,
        run: CleanupRunId,
        owner: &str,
        project: ProjectId,
        sha256: &Sha256Hex,
        unused_before: RevisionTime,
        now: RevisionTime,
    ) -> Result<Option<RemovedItem>, StoreError> {
        let cutoff = unused_before.unix_micros();
        self.transaction(|conn| {
            if !holds(conn, run.0, owner)? {
                return Ok(None);
            }
            let row: Option<BackupRow> = source_backups::table
                .find((project.0, sha256.as_str()))
                .select(BACKUP_COLUMNS)
                .first(conn)
                .optional()?;
            let Some(backup) = row.map(backup_of).transpose()? else {
                return Ok(None);
            };
            // The condition again in the delete: a download or upload since the plan keeps it.
            let deleted = diesel::delete(
                source_backups::table
                    .find((project.0, sha256.as_str()))
                    .filter(unused_since!(cutoff)),
            )
            .execute(conn)?;
            if deleted == 0 {
                return Ok(None);
            }
            let mut item = backup_item(&backup, Some(now));
            if backup.size.is_some() {
                let sha = sha256.as_str();
                let referenced: bool =
                    diesel::select(exists(files::table.filter(files::sha256.eq(sha))))
                        .get_result(conn)?;
                let kept: bool = diesel::select(exists(
                    source_backups::table.filter(source_backups::blob_sha256.eq(sha)),
                ))
                .get_result(conn)?;
                if !referenced && !kept {
                    item.stored_bytes = item.logical_bytes;
                }
            }
            record_removal(conn, run, &item, now)?;
            Ok(Some(item))
        })
    }

    fn claim_cleanup_run(&self, claim: &RunClaim<'_>) -> Result<Option<CleanupRun>, StoreError> {
        self.transaction(|conn| match *claim {
            RunClaim::Now {
                project,
                trigger,
                now,
                owner,
                lease_until,
            } => {
                require_project(conn, project)?;
                match running_run(conn, project.0)? {
                    Some((_, lease)) if lease >= now.unix_micros() => Ok(None),
                    Some((run, _)) => take_over(conn, run, now, owner, lease_until),
                    None => insert_run(conn, project.0, trigger, now, owner, lease_until),
                }
            }
            RunClaim::Due {
                now,
                owner,
                lease_until,
            } => {
                let expired: Option<i64> = native!(conn, c => cleanup_runs::table
                    .filter(cleanup_runs::state.eq(RunState::Running.as_str()))
                    .filter(cleanup_runs::lease_until.lt(now.unix_micros()))
                    .order(cleanup_runs::id)
                    .select(cleanup_runs::id)
                    .first(c)
                    .optional())?;
                if let Some(run) = expired {
                    return take_over(conn, run, now, owner, lease_until);
                }
                let due: Option<(i64, String)> = native!(conn, c => cleanup_policies::table
                    .filter(cleanup_policies::enabled.eq(true))
                    .filter(cleanup_policies::next_run_at.le(now.unix_micros()))
                    .filter(diesel::dsl::not(exists(
                        cleanup_runs::table
                            .filter(cleanup_runs::project_id.eq(cleanup_policies::project_id))
                            .filter(cleanup_runs::state.eq(RunState::Running.as_str())),
                    )))
                    .order(cleanup_policies::next_run_at)
                    .select((cleanup_policies::project_id, cleanup_policies::cadence))
                    .first(c)
                    .optional())?;
                let Some((project, cadence)) = due else {
                    return Ok(None);
                };
                let cadence: crate::cleanup::Cadence = parse_stored(&cadence)?;
                let moved = native!(conn, c => diesel::update(
                    cleanup_policies::table
                        .find(project)
                        .filter(cleanup_policies::next_run_at.le(now.unix_micros())),
                )
                .set(cleanup_policies::next_run_at.eq(cadence.after(now).unix_micros()))
                .execute(c))?;
                if moved == 0 {
                    return Ok(None);
                }
                insert_run(conn, project, RunTrigger::Schedule, now, owner, lease_until)
            }
        })
    }

    fn renew_cleanup_run(
        &self,
        run: CleanupRunId,
        owner: &str,
        resume_after: Option<RecipeId>,
        examined: u64,
        skipped_protected: u64,
        lease_until: RevisionTime,
    ) -> Result<bool, StoreError> {
        self.transaction(|conn| {
            let updated = native!(conn, c => diesel::update(
                cleanup_runs::table
                    .find(run.0)
                    .filter(cleanup_runs::owner.eq(owner))
                    .filter(cleanup_runs::state.eq(RunState::Running.as_str())),
            )
            .set((
                cleanup_runs::lease_until.eq(lease_until.unix_micros()),
                cleanup_runs::resume_after.eq(resume_after.map(|id| id.0)),
                cleanup_runs::recipes_examined.eq(cleanup_runs::recipes_examined + signed(examined)),
                cleanup_runs::skipped_protected.eq(cleanup_runs::skipped_protected + signed(skipped_protected)),
            ))
            .execute(c))?;
            Ok(updated > 0)
        })
    }

    fn finish_cleanup_run(
        &self,
        run: CleanupRunId,
        owner: &str,
        error: Option<&str>,
        now: RevisionTime,
    ) -> Result<bool, StoreError> {
        let state = if error.is_some() {
            RunState::Failed
        } else {
            RunState::Finished
        };
        self.transaction(|conn| {
            let updated = native!(conn, c => diesel::update(
                cleanup_runs::table
                    .find(run.0)
                    .filter(cleanup_runs::owner.eq(owner))
                    .filter(cleanup_runs::state.eq(RunState::Running.as_str())),
            )
            .set((
                cleanup_runs::state.eq(state.as_str()),
                cleanup_runs::finished_at.eq(Some(now.unix_micros())),
                cleanup_runs::error.eq(error),
            ))
            .execute(c))?;
            Ok(updated > 0)
        })
    }

    fn cleanup_runs(
        &self,
        project: ProjectId,
        limit: usize,
    ) -> Result<Vec<CleanupRun>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|conn| {
            let rows: Vec<RunRow> = native!(conn, c => cleanup_runs::table
                .filter(cleanup_runs::project_id.eq(project.0))
                .order(cleanup_runs::id.desc())
                .limit(limit)
                .select(RUN_COLUMNS)
                .load(c))?;
            runs_of(conn, rows)
        })
    }

    fn cleanup_run(
        &self,
        project: ProjectId,
        run: CleanupRunId,
    ) -> Result<Option<CleanupRun>, StoreError> {
        self.read(|conn| Ok(load_run(conn, run.0)?.filter(|found| found.project == project)))
    }

    fn cleanup_removals(
        &self,
        run: CleanupRunId,
        offset: u64,
        limit: usize,
    ) -> Result<Vec<RemovedItem>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|conn| {
            let rows: Vec<RemovalRow> = native!(conn, c => cleanup_removals::table
                .filter(cleanup_removals::run_id.eq(run.0))
                .order(cleanup_removals::id)
                .offset(signed(offset))
                .limit(limit)
                .select((
                    cleanup_removals::kind,
                    cleanup_removals::reference,
                    cleanup_removals::reason,
                    cleanup_removals::package_revisions,
                    cleanup_removals::files,
                    cleanup_removals::logical_bytes,
                    cleanup_removals::stored_bytes,
                    cleanup_removals::removed_at,
                ))
                .load(c))?;
            rows.into_iter()
                .map(
                    |(kind, reference, reason, packages, file_count, logical, stored, at)| {
                        Ok(RemovedItem {
                            kind: RemovedKind::parse(&kind)
                                .ok_or_else(|| corrupt(format!("removal kind {kind:?}")))?,
                            reference,
                            reason,
                            package_revisions: unsigned(packages),
                            files: unsigned(file_count),
                            logical_bytes: unsigned(logical),
                            stored_bytes: unsigned(stored),
                            removed_at: Some(time_of(at)?),
                        })
                    },
                )
                .collect()
        })
    }
}
