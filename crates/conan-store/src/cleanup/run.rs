//! Running a policy over a project: dry runs that change nothing, and recorded runs that remove
//! in bounded batches under a lease.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use conan_model::RevisionTime;
use serde::Serialize;

use super::{CleanupPolicy, RecipeHistory, Removal, plan};
use crate::StoreError;
use crate::backups::SourceBackup;
use crate::blob::Sha256Hex;
use crate::records::{PackageType, ProjectId, ProtectionRule, RecipeId};
use crate::traits::{CleanupStore, MetadataStore, ProtectionStore};

/// A recorded run's numeric id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub struct CleanupRunId(pub i64);

impl fmt::Display for CleanupRunId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunState {
    /// A node is running it (or died doing so, and the next node to look resumes it once the
    /// lease runs out).
    Running,
    /// It walked the whole project.
    Finished,
    /// It stopped on an error (recorded); what it removed before stays removed and recorded.
    Failed,
}

impl RunState {
    /// The stored form.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Finished => "finished",
            Self::Failed => "failed",
        }
    }

    /// Parses the stored form.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "running" => Some(Self::Running),
            "finished" => Some(Self::Finished),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// Who started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RunTrigger {
    /// The schedule (`next_run_at` passed).
    Schedule,
    /// A request to the HTTP API.
    Api,
    /// The admin CLI.
    Cli,
}

impl RunTrigger {
    /// The stored form.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Schedule => "schedule",
            Self::Api => "api",
            Self::Cli => "cli",
        }
    }

    /// Parses the stored form.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "schedule" => Some(Self::Schedule),
            "api" => Some(Self::Api),
            "cli" => Some(Self::Cli),
            _ => None,
        }
    }
}

/// What a run examined and removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct CleanupTotals {
    /// Recipes the run looked at (selected by the filter or not).
    pub recipes_examined: u64,
    /// Recipes left alone because a protection rule covers their name.
    pub skipped_protected: u64,
    /// Recipe revisions removed (each with its packages).
    pub recipe_revisions: u64,
    /// Package revisions removed, alone or with their recipe revision.
    pub package_revisions: u64,
    /// Source backups removed.
    pub source_backups: u64,
    /// Files removed.
    pub files: u64,
    /// Their bytes, each file counted.
    pub logical_bytes: u64,
    /// Bytes of the contents no file references any more: what garbage collection reclaims.
    pub stored_bytes: u64,
}

impl CleanupTotals {
    /// Adds one removal.
    pub fn add(&mut self, item: &RemovedItem) {
        match item.kind {
            RemovedKind::RecipeRevision => self.recipe_revisions += 1,
            RemovedKind::SourceBackup => self.source_backups += 1,
            RemovedKind::PackageRevision => {}
        }
        self.package_revisions += item.package_revisions;
        self.files += item.files;
        self.logical_bytes += item.logical_bytes;
        self.stored_bytes += item.stored_bytes;
    }
}

/// What a removal removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RemovedKind {
    /// A recipe revision with its packages.
    RecipeRevision,
    /// One package revision.
    PackageRevision,
    /// A source backup (its file and summary).
    SourceBackup,
}

impl RemovedKind {
    /// The stored form.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::RecipeRevision => "recipe_revision",
            Self::PackageRevision => "package_revision",
            Self::SourceBackup => "source_backup",
        }
    }

    /// Parses the stored form.
    #[must_use]
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "recipe_revision" => Some(Self::RecipeRevision),
            "package_revision" => Some(Self::PackageRevision),
            "source_backup" => Some(Self::SourceBackup),
            _ => None,
        }
    }
}

/// One removal of a run (or of a dry run: what would be removed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RemovedItem {
    /// A recipe revision, a package revision or a source backup.
    pub kind: RemovedKind,
    /// `name/version@user/channel#rrev`, with `:package_id#prev` for a package revision; the
    /// source file's sha256 for a source backup.
    pub reference: String,
    /// The rule that removed it (`keep_n_recipe_revisions`, `keep_n_package_revisions`,
    /// `unused_days`, `source_backups_unused_days`).
    pub reason: String,
    /// Package revisions removed with it (itself for a package revision).
    pub package_revisions: u64,
    /// Files removed.
    pub files: u64,
    /// Their bytes.
    pub logical_bytes: u64,
    /// Bytes of contents left unreferenced by this removal (0 in a dry run's items: a dry run
    /// counts these for the whole run, in its totals).
    pub stored_bytes: u64,
    /// When it was removed; `None` in a dry run.
    pub removed_at: Option<RevisionTime>,
}

/// A recorded run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanupRun {
    /// Its id.
    pub id: CleanupRunId,
    /// The project.
    pub project: ProjectId,
    /// Who started it.
    pub trigger: RunTrigger,
    /// The policy it applies, as it was when the run started.
    pub policy: CleanupPolicy,
    /// Where it is.
    pub state: RunState,
    /// The node's claim (a random id per claim); `None` when read back for display.
    pub owner: String,
    /// The last recipe it finished; a resumed run continues after it.
    pub resume_after: Option<RecipeId>,
    /// When it started.
    pub started_at: RevisionTime,
    /// When it finished or failed.
    pub finished_at: Option<RevisionTime>,
    /// Why it failed.
    pub error: Option<String>,
    /// What it examined and removed so far.
    pub totals: CleanupTotals,
}

/// How a node asks for a run to do.
#[derive(Debug, Clone)]
pub enum RunClaim<'a> {
    /// Any project whose enabled policy is due (its `next_run_at` passed; the claim moves it one
    /// cadence on) or whose running run's lease ran out (the claim resumes it).
    Due {
        /// The time now.
        now: RevisionTime,
        /// This claim's owner id.
        owner: &'a str,
        /// Until when the claim holds unless renewed.
        lease_until: RevisionTime,
    },
    /// A run of this project now, by hand: `None` when one is running under a live lease; a run
    /// whose lease ran out is resumed.
    Now {
        /// The project.
        project: ProjectId,
        /// Who asks.
        trigger: RunTrigger,
        /// The time now.
        now: RevisionTime,
        /// This claim's owner id.
        owner: &'a str,
        /// Until when the claim holds unless renewed.
        lease_until: RevisionTime,
    },
}

/// What a dry run would remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DryRunReport {
    /// Everything it would remove, counted in full.
    pub totals: CleanupTotals,
    /// The first removals, at most the limit asked for.
    pub items: Vec<RemovedItem>,
    /// Whether there are more removals than `items` holds.
    pub truncated: bool,
}

/// The Conan protection rules of a project, to skip the recipes they cover.
fn conan_rules(
    store: &(impl ProtectionStore + ?Sized),
    project: ProjectId,
) -> Result<Vec<ProtectionRule>, StoreError> {
    Ok(store
        .protection_rules(project)?
        .into_iter()
        .filter(|rule| rule.package_type == PackageType::Conan)
        .collect())
}

/// Whether a protection rule covers the recipe: cleanup never removes a protected package,
/// whatever levels the rule sets.
fn protected(rules: &[ProtectionRule], recipe: &RecipeHistory) -> bool {
    rules.iter().any(|rule| {
        rule.package_name_pattern
            .matches(recipe.reference.name().as_str())
    })
}

/// The reason a policy gives for removing a source backup.
pub const BACKUP_REASON: &str = "source_backups_unused_days";

/// What removing `backup` removes (before counting what deduplication frees).
#[must_use]
pub fn backup_item(backup: &SourceBackup, removed_at: Option<RevisionTime>) -> RemovedItem {
    RemovedItem {
        kind: RemovedKind::SourceBackup,
        reference: backup.sha256.to_string(),
        reason: BACKUP_REASON.to_owned(),
        package_revisions: 0,
        files: u64::from(backup.size.is_some()),
        logical_bytes: backup.size.unwrap_or(0),
        stored_bytes: 0,
        removed_at,
    }
}

fn planned_item(removal: &Removal) -> RemovedItem {
    RemovedItem {
        kind: removal.kind(),
        reference: removal.reference(),
        reason: removal.reason.as_str().to_owned(),
        package_revisions: removal.package_revisions,
        files: removal.files.len() as u64,
        logical_bytes: removal.logical_bytes(),
        stored_bytes: 0,
        removed_at: None,
    }
}

/// What `policy` would remove from `project` at `now`, changing nothing. Reads the project in
/// batches of `batch` recipes; lists at most `max_items` removals (the totals count them all).
/// The bytes after deduplication count each content that no file outside the removals
/// references; the run keeps one entry per distinct content it would remove to know that.
pub fn dry_run<S: CleanupStore + ProtectionStore + ?Sized>(
    store: &S,
    project: ProjectId,
    policy: &CleanupPolicy,
    now: RevisionTime,
    batch: usize,
    max_items: usize,
) -> Result<DryRunReport, StoreError> {
    let rules = conan_rules(store, project)?;
    let mut report = DryRunReport {
        totals: CleanupTotals::default(),
        items: Vec::new(),
        truncated: false,
    };
    // Per content: its size and how many of the removed files hold it.
    let mut contents: HashMap<Sha256Hex, (u64, u64)> = HashMap::new();
    let mut after = None;
    while policy.has_package_rules() {
        let recipes = store.cleanup_histories(project, after, batch.max(1))?;
        let Some(last) = recipes.last() else { break };
        after = Some(last.id);
        for recipe in &recipes {
            report.totals.recipes_examined += 1;
            if protected(&rules, recipe) {
                report.totals.skipped_protected += 1;
                continue;
            }
            for removal in plan(policy, recipe, now) {
                let item = planned_item(&removal);
                report.totals.add(&item);
                for (sha256, size) in &removal.files {
                    contents.entry(sha256.clone()).or_insert((*size, 0)).1 += 1;
                }
                if report.items.len() < max_items {
                    report.items.push(item);
                } else {
                    report.truncated = true;
                }
            }
        }
    }
    if let Some(unused_before) = policy.source_backups_unused_before(now) {
        let mut after: Option<Sha256Hex> = None;
        loop {
            let backups =
                store.cleanup_backups(project, unused_before, after.as_ref(), batch.max(1))?;
            let Some(last) = backups.last() else { break };
            after = Some(last.sha256.clone());
            for backup in &backups {
                let item = backup_item(backup, None);
                report.totals.add(&item);
                if let Some(size) = backup.size {
                    contents.entry(backup.sha256.clone()).or_insert((size, 0)).1 += 1;
                }
                if report.items.len() < max_items {
                    report.items.push(item);
                } else {
                    report.truncated = true;
                }
            }
        }
    }
    let shas: Vec<Sha256Hex> = contents.keys().cloned().collect();
    for chunk in shas.chunks(500) {
        for (sha256, references) in store.blob_references(chunk)? {
            if let Some((size, removed)) = contents.get(&sha256)
                && *removed >= references
            {
                report.totals.stored_bytes += size;
            }
        }
    }
    Ok(report)
}

/// Carries out a claimed run: walks the project after `run.resume_after` in batches of
/// `settings.batch` recipes, removing what the run's policy decides at `run.started_at` (so a
/// resumed run decides as the first attempt did), each removal in its own transaction. The lease
/// is renewed for `settings.lease` after every batch, and within a batch whenever a third of it
/// has passed, so a live run is never taken over however long a batch takes. After each removal
/// the run pauses so that it works `settings.work_percent` of the time. Returns the run's totals
/// as recorded when it finished; fails when the store fails or the lease was lost to another
/// claim (which then carries the run on).
pub fn execute<S: CleanupStore + ProtectionStore + ?Sized>(
    store: &S,
    run: &CleanupRun,
    settings: RunSettings,
    clock: &dyn Fn() -> RevisionTime,
    on_removed: &mut dyn FnMut(&RemovedItem),
) -> Result<CleanupTotals, StoreError> {
    let lease_micros = i64::try_from(settings.lease.as_micros()).unwrap_or(i64::MAX);
    let until = |now: RevisionTime| {
        RevisionTime::from_unix_micros(now.unix_micros().saturating_add(lease_micros))
            .unwrap_or(RevisionTime::MAX)
    };
    let lost = || {
        StoreError::Conflict(format!(
            "cleanup run {} lost its lease to another node",
            run.id
        ))
    };
    let mut after = run.resume_after;
    let mut totals = run.totals;
    let mut renewed_at = clock();
    // Extends the lease without recording progress: the batch's progress is recorded at its end.
    let keep_lease = |renewed_at: &mut RevisionTime, after: Option<RecipeId>, force: bool| {
        let now = clock();
        if !force && now.unix_micros().saturating_sub(renewed_at.unix_micros()) < lease_micros / 3 {
            return Ok(());
        }
        *renewed_at = now;
        if store.renew_cleanup_run(run.id, &run.owner, after, 0, 0, until(now))? {
            Ok(())
        } else {
            Err(lost())
        }
    };
    while run.policy.has_package_rules() {
        let rules = conan_rules(store, run.project)?;
        let recipes = store.cleanup_histories(run.project, after, settings.batch.max(1))?;
        let Some(batch_end) = recipes.last() else {
            break;
        };
        let mut examined = 0;
        let mut skipped = 0;
        for recipe in &recipes {
            examined += 1;
            if protected(&rules, recipe) {
                skipped += 1;
                continue;
            }
            for removal in plan(&run.policy, recipe, run.started_at) {
                let started = std::time::Instant::now();
                match store.cleanup_remove(run.id, &run.owner, &removal, clock())? {
                    Some(item) => {
                        totals.add(&item);
                        on_removed(&item);
                    }
                    // Nothing removed: the plan no longer holds, or the lease is gone.
                    None => keep_lease(&mut renewed_at, after, true)?,
                }
                settings.pause_after(started.elapsed());
                keep_lease(&mut renewed_at, after, false)?;
            }
        }
        after = Some(batch_end.id);
        totals.recipes_examined += examined;
        totals.skipped_protected += skipped;
        renewed_at = clock();
        if !store.renew_cleanup_run(
            run.id,
            &run.owner,
            after,
            examined,
            skipped,
            until(renewed_at),
        )? {
            return Err(lost());
        }
    }
    // Then the source backups. A resumed run comes here again: what it removed before is gone,
    // so it goes over what is left.
    expire_backups(
        store,
        run,
        settings,
        clock,
        &mut totals,
        on_removed,
        &mut |force| keep_lease(&mut renewed_at, after, force),
    )?;
    if !store.finish_cleanup_run(run.id, &run.owner, None, clock())? {
        return Err(lost());
    }
    Ok(totals)
}

/// The source backup part of [`execute`]: removes the backups the run's policy expires, in
/// batches, each in its own transaction; `keep_lease(force)` renews the lease (always when
/// forced, otherwise when a third of it has passed).
fn expire_backups<S: CleanupStore + ?Sized>(
    store: &S,
    run: &CleanupRun,
    settings: RunSettings,
    clock: &dyn Fn() -> RevisionTime,
    totals: &mut CleanupTotals,
    on_removed: &mut dyn FnMut(&RemovedItem),
    keep_lease: &mut dyn FnMut(bool) -> Result<(), StoreError>,
) -> Result<(), StoreError> {
    let Some(unused_before) = run.policy.source_backups_unused_before(run.started_at) else {
        return Ok(());
    };
    let mut after: Option<Sha256Hex> = None;
    loop {
        let backups = store.cleanup_backups(
            run.project,
            unused_before,
            after.as_ref(),
            settings.batch.max(1),
        )?;
        let Some(batch_end) = backups.last() else {
            return Ok(());
        };
        after = Some(batch_end.sha256.clone());
        for backup in &backups {
            let started = std::time::Instant::now();
            match store.cleanup_remove_backup(
                run.id,
                &run.owner,
                run.project,
                &backup.sha256,
                unused_before,
                clock(),
            )? {
                Some(item) => {
                    totals.add(&item);
                    on_removed(&item);
                }
                // Nothing removed: used since the plan, or the lease is gone.
                None => keep_lease(true)?,
            }
            settings.pause_after(started.elapsed());
            keep_lease(false)?;
        }
    }
}

/// How a node carries out runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RunSettings {
    /// Recipes planned from one snapshot.
    pub batch: usize,
    /// How long a claim holds without renewal (renewed after every batch, and within a batch
    /// whenever a third of it has passed).
    pub lease: Duration,
    /// The share of the time a run works, 1 to 100: after each removal it pauses for as long as
    /// the removal took times `(100 - work_percent) / work_percent`, leaving the CPU and the
    /// database to requests. 100 never pauses.
    pub work_percent: u8,
}

impl RunSettings {
    /// Pauses after a removal that took `spent`, as `work_percent` asks.
    fn pause_after(&self, spent: Duration) {
        let work = u32::from(self.work_percent.clamp(1, 100));
        if work < 100 {
            std::thread::sleep(spent * (100 - work) / work);
        }
    }
}

/// What a node does with the progress of its runs: logs and metrics, kept out of the store.
pub trait RunObserver: Send + Sync {
    /// A removal a run made.
    fn removed(&self, run: &CleanupRun, item: &RemovedItem);
    /// A run ended on this node: finished with its totals, or failed (also when it lost its lease
    /// to another node, which carries it on).
    fn ended(&self, run: &CleanupRun, outcome: &Result<CleanupTotals, StoreError>);
}

/// Carries out a claimed run with [`execute`] and tells `observer`. A run that fails for a
/// reason other than a lost lease is recorded as failed (if the store takes the record: when it
/// does not, the lease runs out and a node resumes the run).
pub fn carry_out<S: CleanupStore + ProtectionStore + ?Sized>(
    store: &S,
    run: &CleanupRun,
    settings: RunSettings,
    observer: &dyn RunObserver,
) -> Result<CleanupTotals, StoreError> {
    let clock = || {
        RevisionTime::from_system_time(std::time::SystemTime::now()).unwrap_or(RevisionTime::MAX)
    };
    let outcome = execute(store, run, settings, &clock, &mut |item| {
        observer.removed(run, item);
    });
    if let Err(error) = &outcome
        && !matches!(error, StoreError::Conflict(_))
    {
        // Best effort: the outcome reported is the run's failure either way.
        let _ = store.finish_cleanup_run(run.id, &run.owner, Some(&error.to_string()), clock());
    }
    observer.ended(run, &outcome);
    outcome
}

/// What a node needs to claim and carry out runs: the store, how it runs them, and what it
/// tells about them. Every claim gets an owner id of its own, so a run is only ever carried on
/// by the claim that holds it: a second claim (on this node or another) can take a run only
/// once its lease ran out, and the first claim then stops at its next renewal. Shared by the
/// scheduler, the API and the CLI.
#[derive(Clone)]
pub struct CleanupRunner {
    store: Arc<dyn MetadataStore>,
    settings: RunSettings,
    observer: Arc<dyn RunObserver>,
}

impl fmt::Debug for CleanupRunner {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("CleanupRunner")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn now() -> RevisionTime {
    RevisionTime::from_system_time(std::time::SystemTime::now()).unwrap_or(RevisionTime::MAX)
}

/// A fresh owner id for one claim.
fn claim_owner() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl CleanupRunner {
    /// A runner that carries out runs with `settings` and tells `observer`.
    #[must_use]
    pub fn new(
        store: Arc<dyn MetadataStore>,
        settings: RunSettings,
        observer: Arc<dyn RunObserver>,
    ) -> Self {
        Self {
            store,
            settings,
            observer,
        }
    }

    fn lease_until(&self, now: RevisionTime) -> RevisionTime {
        let micros = i64::try_from(self.settings.lease.as_micros()).unwrap_or(i64::MAX);
        RevisionTime::from_unix_micros(now.unix_micros().saturating_add(micros))
            .unwrap_or(RevisionTime::MAX)
    }

    /// Claims a run of `project` now: `None` when one is running under a live lease.
    pub fn claim_now(
        &self,
        project: ProjectId,
        trigger: RunTrigger,
    ) -> Result<Option<CleanupRun>, StoreError> {
        let now = now();
        self.store.claim_cleanup_run(&RunClaim::Now {
            project,
            trigger,
            now,
            owner: &claim_owner(),
            lease_until: self.lease_until(now),
        })
    }

    /// Claims a due run (a scheduled policy or an abandoned run), if any.
    pub fn claim_due(&self) -> Result<Option<CleanupRun>, StoreError> {
        let now = now();
        self.store.claim_cleanup_run(&RunClaim::Due {
            now,
            owner: &claim_owner(),
            lease_until: self.lease_until(now),
        })
    }

    /// Carries out a run this runner claimed (see [`carry_out`]) on the calling thread.
    /// Blocking: prefer [`CleanupRunner::start`].
    pub fn carry_out(&self, run: &CleanupRun) -> Result<CleanupTotals, StoreError> {
        carry_out(
            self.store.as_ref(),
            run,
            self.settings,
            self.observer.as_ref(),
        )
    }

    /// Carries out a run this runner claimed on a thread of its own at a lower scheduling
    /// priority (like the bulk transfer threads), so requests keep the CPU first; join the
    /// handle to wait for the outcome. Fails only when the thread cannot start.
    pub fn start(
        &self,
        run: CleanupRun,
    ) -> std::io::Result<std::thread::JoinHandle<Result<CleanupTotals, StoreError>>> {
        let runner = self.clone();
        std::thread::Builder::new()
            .name(format!("cleanup-run-{}", run.id))
            .spawn(move || {
                crate::bulk::lower_priority();
                runner.carry_out(&run)
            })
    }

    /// What `policy` would remove from `project` now, listing at most `max_items` removals.
    pub fn dry_run(
        &self,
        project: ProjectId,
        policy: &CleanupPolicy,
        max_items: usize,
    ) -> Result<DryRunReport, StoreError> {
        dry_run(
            self.store.as_ref(),
            project,
            policy,
            now(),
            self.settings.batch,
            max_items,
        )
    }
}
