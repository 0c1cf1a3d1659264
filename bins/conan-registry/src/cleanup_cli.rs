//! `conan-registry cleanup ...`: a project's cleanup policy, dry runs, runs now and the record
//! of runs, over the same [`conan_store::cleanup`] calls as the API.

#![expect(clippy::print_stdout, reason = "printing is these commands' job")]

use std::sync::Arc;

use anyhow::Context as _;
use clap::{Args, Subcommand};
use conan_auth::admin;
use conan_store::cleanup::{
    CleanupRun, CleanupRunId, CleanupRunner, CleanupTotals, RemovedItem, RunObserver, RunTrigger,
    StoredCleanupPolicy,
};
use conan_store::{MetadataStore, StoreError};
use serde_json::{Map, Value};

use crate::settings::Settings;

/// `cleanup ...`
#[derive(Debug, Subcommand)]
pub(crate) enum CleanupCommand {
    /// Show a project's cleanup policy and when it runs next.
    Show {
        /// The project path.
        project: String,
    },
    /// Change a project's cleanup policy: the options given are set, the others kept.
    Set(SetOptions),
    /// Print what the saved policy would remove now, changing nothing.
    DryRun {
        /// The project path.
        project: String,
        /// List at most this many removals (the totals count them all).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Run the saved policy now, here, and print what it removed.
    Run {
        /// The project path.
        project: String,
    },
    /// List a project's newest runs, or show one run and what it removed.
    Runs {
        /// The project path.
        project: String,
        /// A run id: show what that run removed.
        run: Option<i64>,
    },
}

/// `cleanup set PROJECT ...`: each option sets one field; `none` clears a rule.
#[derive(Debug, Args)]
pub(crate) struct SetOptions {
    /// The project path.
    project: String,
    /// Whether the policy runs by itself every cadence.
    #[arg(long)]
    enabled: Option<bool>,
    /// How often: 1d, 7d, 14d, 1month or 3month.
    #[arg(long)]
    cadence: Option<String>,
    /// Keep the newest N recipe revisions of each reference (`none`: no such rule).
    #[arg(long, value_name = "N|none")]
    keep_recipe_revisions: Option<String>,
    /// Keep the newest N package revisions of each binary (`none`: no such rule).
    #[arg(long, value_name = "N|none")]
    keep_package_revisions: Option<String>,
    /// Remove what was neither uploaded nor downloaded in D days (`none`: no such rule).
    #[arg(long, value_name = "D|none")]
    unused_days: Option<String>,
    /// Remove source backups neither uploaded nor downloaded in D days (`none`: keep them).
    #[arg(long, value_name = "D|none")]
    source_backups_unused_days: Option<String>,
    /// GitLab's `keep_n_duplicated_package_files`: all, 1, 10, 20, 30, 40 or 50.
    #[arg(long)]
    keep_duplicated_files: Option<String>,
    /// Only references matching these Conan search patterns (repeat; `--include ''` clears).
    #[arg(long)]
    include: Vec<String>,
    /// Never references matching these (repeat; `--exclude ''` clears).
    #[arg(long)]
    exclude: Vec<String>,
}

impl SetOptions {
    /// The fields to change, as the policy's JSON names them.
    fn changes(&self) -> anyhow::Result<Map<String, Value>> {
        let count = |name: &str, text: &Option<String>| -> anyhow::Result<Option<Value>> {
            Ok(match text.as_deref() {
                None => None,
                Some("none") => Some(Value::Null),
                Some(text) => {
                    Some(Value::from(text.parse::<u32>().with_context(|| {
                        format!("--{name} takes a number or `none`")
                    })?))
                }
            })
        };
        let patterns = |patterns: &[String]| -> Option<Value> {
            (!patterns.is_empty()).then(|| {
                Value::from(
                    patterns
                        .iter()
                        .filter(|pattern| !pattern.is_empty())
                        .cloned()
                        .collect::<Vec<_>>(),
                )
            })
        };
        let mut changes = Map::new();
        for (field, value) in [
            ("enabled", self.enabled.map(Value::from)),
            ("cadence", self.cadence.clone().map(Value::from)),
            (
                "keep_n_recipe_revisions",
                count("keep-recipe-revisions", &self.keep_recipe_revisions)?,
            ),
            (
                "keep_n_package_revisions",
                count("keep-package-revisions", &self.keep_package_revisions)?,
            ),
            ("unused_days", count("unused-days", &self.unused_days)?),
            (
                "source_backups_unused_days",
                count(
                    "source-backups-unused-days",
                    &self.source_backups_unused_days,
                )?,
            ),
            (
                "keep_n_duplicated_package_files",
                self.keep_duplicated_files.clone().map(Value::from),
            ),
            ("include", patterns(&self.include)),
            ("exclude", patterns(&self.exclude)),
        ] {
            if let Some(value) = value {
                changes.insert(field.to_owned(), value);
            }
        }
        Ok(changes)
    }
}

/// Prints each removal of a run carried out here.
struct Printer;

impl RunObserver for Printer {
    fn removed(&self, _: &CleanupRun, item: &RemovedItem) {
        println!(
            "removed {} ({}, {} bytes)",
            item.reference, item.reason, item.logical_bytes
        );
    }

    fn ended(&self, _: &CleanupRun, _: &Result<CleanupTotals, StoreError>) {}
}

fn print_policy(stored: &StoredCleanupPolicy) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(&stored.policy)?);
    println!(
        "next run: {}",
        stored.next_run_at.map_or_else(
            || "never (disabled or no rule)".to_owned(),
            |time| time.to_string()
        )
    );
    Ok(())
}

fn print_totals(totals: &CleanupTotals) {
    println!(
        "recipes examined {}, skipped as protected {}; removed {} recipe revisions, {} package \
         revisions, {} source backups, {} files, {} bytes ({} bytes of blobs left for gc)",
        totals.recipes_examined,
        totals.skipped_protected,
        totals.recipe_revisions,
        totals.package_revisions,
        totals.source_backups,
        totals.files,
        totals.logical_bytes,
        totals.stored_bytes
    );
}

fn print_run(run: &CleanupRun) {
    println!(
        "run {} ({}, {}) started {} finished {}{}",
        run.id,
        run.trigger.as_str(),
        run.state.as_str(),
        run.started_at,
        run.finished_at
            .map_or_else(|| "-".to_owned(), |time| time.to_string()),
        run.error
            .as_ref()
            .map(|error| format!(": {error}"))
            .unwrap_or_default()
    );
    print!("  ");
    print_totals(&run.totals);
}

/// Runs a `cleanup` command.
pub(crate) fn cleanup(
    settings: &Settings,
    store: &Arc<dyn MetadataStore>,
    command: CleanupCommand,
) -> anyhow::Result<()> {
    let runner = CleanupRunner::new(
        Arc::clone(store),
        settings.cleanup_run_settings(),
        Arc::new(Printer),
    );
    let project = |path: &str| admin::find_project(store.as_ref(), path);
    match command {
        CleanupCommand::Show { project: path } => {
            let stored = store.cleanup_policy(project(&path)?.id)?;
            print_policy(&stored)?;
        }
        CleanupCommand::Set(options) => {
            let id = project(&options.project)?.id;
            let changes = options.changes()?;
            let current = store.cleanup_policy(id)?;
            let policy = current.policy.updated_with(&changes)?;
            let now = conan_model::RevisionTime::from_system_time(std::time::SystemTime::now())?;
            let stored = store.set_cleanup_policy(id, &policy, now)?;
            print_policy(&stored)?;
        }
        CleanupCommand::DryRun {
            project: path,
            limit,
        } => {
            let id = project(&path)?.id;
            let policy = store.cleanup_policy(id)?.policy;
            let report = runner.dry_run(id, &policy, limit)?;
            for item in &report.items {
                println!(
                    "would remove {} ({}, {} package revisions, {} bytes)",
                    item.reference, item.reason, item.package_revisions, item.logical_bytes
                );
            }
            if report.truncated {
                println!("... and more (raise --limit to list them)");
            }
            print_totals(&report.totals);
        }
        CleanupCommand::Run { project: path } => {
            let id = project(&path)?.id;
            anyhow::ensure!(
                store.cleanup_policy(id)?.policy.has_rules(),
                "the cleanup policy of {path} has no rule: set --keep-recipe-revisions, \
                 --keep-package-revisions, --unused-days or --source-backups-unused-days first"
            );
            let run = runner
                .claim_now(id, RunTrigger::Cli)?
                .with_context(|| format!("a cleanup run of {path} is already running"))?;
            let run_id = run.id;
            runner
                .start(run)?
                .join()
                .map_err(|_| anyhow::anyhow!("the cleanup run panicked"))??;
            let done = store
                .cleanup_run(id, run_id)?
                .context("the run's record is gone")?;
            print_run(&done);
        }
        CleanupCommand::Runs { project: path, run } => {
            print_runs(store.as_ref(), project(&path)?.id, &path, run)?;
        }
    }
    Ok(())
}

/// `cleanup runs PROJECT [RUN]`.
fn print_runs(
    store: &dyn MetadataStore,
    id: conan_store::ProjectId,
    path: &str,
    run: Option<i64>,
) -> anyhow::Result<()> {
    let Some(run) = run else {
        for run in store.cleanup_runs(id, 50)? {
            print_run(&run);
        }
        return Ok(());
    };
    let run = store
        .cleanup_run(id, CleanupRunId(run))?
        .with_context(|| format!("{path} has no cleanup run {run}"))?;
    print_run(&run);
    let mut offset = 0;
    loop {
        let items = store.cleanup_removals(run.id, offset, 500)?;
        if items.is_empty() {
            return Ok(());
        }
        for item in &items {
            println!(
                "  {} {} ({}, {} bytes, {} bytes of blobs)",
                item.removed_at
                    .map_or_else(String::new, |time| time.to_string()),
                item.reference,
                item.reason,
                item.logical_bytes,
                item.stored_bytes
            );
        }
        offset += items.len() as u64;
    }
}
