//! What a policy removes from one recipe: a pure function of the policy, the recipe's history
//! and the time.

use conan_model::{PackageId, RecipeReference, Revision, RevisionTime};

use super::CleanupPolicy;
use crate::blob::Sha256Hex;
use crate::records::{PackageRevisionKey, ProjectId, RecipeId, RecipeRevisionKey};

/// A recipe as a run sees it: its committed revisions newest first (the order "latest" uses:
/// commit time, then insertion order), each with its binaries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecipeHistory {
    /// The recipe's id (runs walk recipes in id order and resume after one).
    pub id: RecipeId,
    /// The project.
    pub project: ProjectId,
    /// The reference.
    pub reference: RecipeReference,
    /// Committed revisions, newest first.
    pub revisions: Vec<RevisionHistory>,
}

/// One committed recipe revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionHistory {
    /// The revision.
    pub revision: Revision,
    /// Its commit time.
    pub committed_at: RevisionTime,
    /// When a file of it or of its packages was last downloaded, as far as recorded.
    pub last_downloaded_at: Option<RevisionTime>,
    /// Its own files (the recipe's, not its packages'): content and size.
    pub files: Vec<(Sha256Hex, u64)>,
    /// Its binaries with a committed revision, by package id.
    pub binaries: Vec<BinaryHistory>,
}

/// One binary (package id) of a recipe revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinaryHistory {
    /// The package id.
    pub package_id: PackageId,
    /// Committed package revisions, newest first.
    pub revisions: Vec<PackageRevisionHistory>,
}

/// One committed package revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageRevisionHistory {
    /// The revision.
    pub revision: Revision,
    /// Its commit time.
    pub committed_at: RevisionTime,
    /// When a file of it was last downloaded, as far as recorded.
    pub last_downloaded_at: Option<RevisionTime>,
    /// Its files: content and size.
    pub files: Vec<(Sha256Hex, u64)>,
}

/// Why a policy removes something.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RemovalReason {
    /// Beyond `keep_n_recipe_revisions`.
    KeepRecipeRevisions,
    /// Beyond `keep_n_package_revisions`.
    KeepPackageRevisions,
    /// Not committed nor downloaded in `unused_days`.
    Unused,
}

impl RemovalReason {
    /// The stored and answered form.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::KeepRecipeRevisions => "keep_n_recipe_revisions",
            Self::KeepPackageRevisions => "keep_n_package_revisions",
            Self::Unused => "unused_days",
        }
    }
}

/// What is removed: a recipe revision (with its packages) or one package revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemovalTarget {
    /// A recipe revision with every package built from it.
    RecipeRevision(RecipeRevisionKey),
    /// One package revision.
    PackageRevision(PackageRevisionKey),
}

/// One removal a plan decides, with what the store must re-check before doing it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    /// What goes.
    pub target: RemovalTarget,
    /// Its commit time when planned: a revision deleted and uploaded again since is a different
    /// revision to the plan, and is left alone.
    pub committed_at: RevisionTime,
    /// Whether the plan removes it although it is the newest of its recipe or binary (only when
    /// the whole recipe or binary is unused). Otherwise the store removes it only if a newer
    /// committed revision still exists.
    pub may_be_latest: bool,
    /// For an unused removal: the store removes it only if no download at or after this time
    /// was recorded for it (nor, for the latest, for its recipe) since the plan was made.
    pub unused_before: Option<RevisionTime>,
    /// Why.
    pub reason: RemovalReason,
    /// How many package revisions go with it (itself for a package revision).
    pub package_revisions: u64,
    /// The files that go with it: content and size.
    pub files: Vec<(Sha256Hex, u64)>,
}

impl Removal {
    /// The bytes of its files, counted once per file.
    #[must_use]
    pub fn logical_bytes(&self) -> u64 {
        self.files.iter().map(|(_, size)| size).sum()
    }

    /// A recipe revision or a package revision.
    #[must_use]
    pub fn kind(&self) -> super::RemovedKind {
        match self.target {
            RemovalTarget::RecipeRevision(_) => super::RemovedKind::RecipeRevision,
            RemovalTarget::PackageRevision(_) => super::RemovedKind::PackageRevision,
        }
    }

    /// The reference as Conan prints it: `name/version@user/channel#rrev[:package_id#prev]`.
    #[must_use]
    pub fn reference(&self) -> String {
        match &self.target {
            RemovalTarget::RecipeRevision(key) => format!("{}#{}", key.recipe, key.revision),
            RemovalTarget::PackageRevision(key) => format!(
                "{}#{}:{}#{}",
                key.recipe.recipe, key.recipe.revision, key.package_id, key.revision
            ),
        }
    }
}

/// Whether something committed at `committed_at` and last downloaded at `downloaded` is unused
/// as of `cutoff`.
fn unused(
    cutoff: Option<RevisionTime>,
    committed_at: RevisionTime,
    downloaded: Option<RevisionTime>,
) -> bool {
    cutoff
        .is_some_and(|cutoff| committed_at < cutoff && downloaded.is_none_or(|time| time < cutoff))
}

/// The removals `policy` decides for `recipe` at `now`. Empty when the reference filter does not
/// select it.
///
/// - Recipe revisions: the newest is kept unless every revision and every package revision of
///   the recipe is unused; the others go when beyond `keep_n_recipe_revisions` or unused.
/// - In each kept recipe revision, each binary: its newest package revision is kept unless
///   every revision of the binary is unused; the others go when beyond
///   `keep_n_package_revisions` or unused.
#[must_use]
pub fn plan(policy: &CleanupPolicy, recipe: &RecipeHistory, now: RevisionTime) -> Vec<Removal> {
    if !policy.selects(&recipe.reference) || recipe.revisions.is_empty() {
        return Vec::new();
    }
    let cutoff = policy
        .unused_days
        .map(|days| super::policy::days_before(days, now));
    let revision_unused = |revision: &RevisionHistory| {
        unused(cutoff, revision.committed_at, revision.last_downloaded_at)
            && revision
                .binaries
                .iter()
                .all(|binary| binary_unused(cutoff, binary))
    };
    let whole_recipe_unused = recipe.revisions.iter().all(revision_unused);
    let keep_recipes = policy.keep_n_recipe_revisions.map_or(usize::MAX, to_usize);
    let mut removals = Vec::new();
    for (index, revision) in recipe.revisions.iter().enumerate() {
        let key = RecipeRevisionKey {
            project: recipe.project,
            recipe: recipe.reference.clone(),
            revision: revision.revision.clone(),
        };
        let reason = if whole_recipe_unused {
            Some(RemovalReason::Unused)
        } else if index == 0 {
            None
        } else if index >= keep_recipes {
            Some(RemovalReason::KeepRecipeRevisions)
        } else if revision_unused(revision) {
            Some(RemovalReason::Unused)
        } else {
            None
        };
        if let Some(reason) = reason {
            let mut files = revision.files.clone();
            let mut package_revisions = 0;
            for binary in &revision.binaries {
                for package in &binary.revisions {
                    package_revisions += 1;
                    files.extend(package.files.iter().cloned());
                }
            }
            removals.push(Removal {
                target: RemovalTarget::RecipeRevision(key),
                committed_at: revision.committed_at,
                // Every revision goes, so each may be the newest left when its turn comes.
                may_be_latest: whole_recipe_unused,
                unused_before: (reason == RemovalReason::Unused)
                    .then_some(cutoff)
                    .flatten(),
                reason,
                package_revisions,
                files,
            });
            continue;
        }
        plan_binaries(policy, cutoff, &key, revision, &mut removals);
    }
    removals
}

/// Whether every revision of a binary is unused.
fn binary_unused(cutoff: Option<RevisionTime>, binary: &BinaryHistory) -> bool {
    binary
        .revisions
        .iter()
        .all(|package| unused(cutoff, package.committed_at, package.last_downloaded_at))
}

/// The package-revision removals of a kept recipe revision.
fn plan_binaries(
    policy: &CleanupPolicy,
    cutoff: Option<RevisionTime>,
    recipe: &RecipeRevisionKey,
    revision: &RevisionHistory,
    removals: &mut Vec<Removal>,
) {
    let keep_packages = policy.keep_n_package_revisions.map_or(usize::MAX, to_usize);
    for binary in &revision.binaries {
        let whole_binary_unused = binary_unused(cutoff, binary);
        for (index, package) in binary.revisions.iter().enumerate() {
            let reason = if whole_binary_unused {
                Some(RemovalReason::Unused)
            } else if index == 0 {
                None
            } else if index >= keep_packages {
                Some(RemovalReason::KeepPackageRevisions)
            } else if unused(cutoff, package.committed_at, package.last_downloaded_at) {
                Some(RemovalReason::Unused)
            } else {
                None
            };
            let Some(reason) = reason else { continue };
            removals.push(Removal {
                target: RemovalTarget::PackageRevision(PackageRevisionKey {
                    recipe: recipe.clone(),
                    package_id: binary.package_id.clone(),
                    revision: package.revision.clone(),
                }),
                committed_at: package.committed_at,
                may_be_latest: whole_binary_unused,
                unused_before: (reason == RemovalReason::Unused)
                    .then_some(cutoff)
                    .flatten(),
                reason,
                package_revisions: 1,
                files: package.files.clone(),
            });
        }
    }
}

fn to_usize(count: u32) -> usize {
    usize::try_from(count).unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400 * 1_000_000;

    fn at(days: i64) -> RevisionTime {
        RevisionTime::from_unix_micros(1_000 * DAY + days * DAY).unwrap()
    }

    fn rev(n: u8) -> Revision {
        format!("{n:032x}").parse().unwrap()
    }

    fn package(n: u8, committed: i64, downloaded: Option<i64>) -> PackageRevisionHistory {
        PackageRevisionHistory {
            revision: rev(n),
            committed_at: at(committed),
            last_downloaded_at: downloaded.map(at),
            files: vec![(sha(n), 10)],
        }
    }

    fn sha(n: u8) -> Sha256Hex {
        format!("{n:064x}").parse().unwrap()
    }

    fn revision(
        n: u8,
        committed: i64,
        downloaded: Option<i64>,
        binaries: Vec<BinaryHistory>,
    ) -> RevisionHistory {
        RevisionHistory {
            revision: rev(n),
            committed_at: at(committed),
            last_downloaded_at: downloaded.map(at),
            files: vec![(sha(100 + n), 100)],
            binaries,
        }
    }

    fn binary(id: &str, revisions: Vec<PackageRevisionHistory>) -> BinaryHistory {
        BinaryHistory {
            package_id: id.repeat(40).parse().unwrap(),
            revisions,
        }
    }

    fn recipe(revisions: Vec<RevisionHistory>) -> RecipeHistory {
        RecipeHistory {
            id: RecipeId(1),
            project: ProjectId(1),
            reference: "zlib/1.3".parse().unwrap(),
            revisions,
        }
    }

    fn removed(removals: &[Removal]) -> Vec<String> {
        removals
            .iter()
            .map(|removal| match &removal.target {
                RemovalTarget::RecipeRevision(key) => format!(
                    "r{}",
                    u8::from_str_radix(&key.revision.as_str()[30..], 16).unwrap()
                ),
                RemovalTarget::PackageRevision(key) => format!(
                    "p{}",
                    u8::from_str_radix(&key.revision.as_str()[30..], 16).unwrap()
                ),
            })
            .collect()
    }

    #[test]
    fn keeps_the_newest_recipe_revisions() {
        let history = recipe(
            (1..=5)
                .rev()
                .map(|n| revision(n, i64::from(n), None, vec![]))
                .collect(),
        );
        let policy = CleanupPolicy {
            keep_n_recipe_revisions: Some(2),
            ..CleanupPolicy::default()
        };
        let removals = plan(&policy, &history, at(10));
        assert_eq!(removed(&removals), ["r3", "r2", "r1"]);
        assert!(
            removals
                .iter()
                .all(|removal| !removal.may_be_latest && removal.unused_before.is_none())
        );
        // keep 1 keeps the latest alone; no rule removes nothing.
        let policy = CleanupPolicy {
            keep_n_recipe_revisions: Some(1),
            ..CleanupPolicy::default()
        };
        assert_eq!(
            removed(&plan(&policy, &history, at(10))),
            ["r4", "r3", "r2", "r1"]
        );
        assert!(plan(&CleanupPolicy::default(), &history, at(10)).is_empty());
    }

    #[test]
    fn a_removed_recipe_revision_takes_its_packages_bytes() {
        let history = recipe(vec![
            revision(2, 2, None, vec![]),
            revision(
                1,
                1,
                None,
                vec![binary("a", vec![package(1, 1, None), package(2, 1, None)])],
            ),
        ]);
        let policy = CleanupPolicy {
            keep_n_recipe_revisions: Some(1),
            ..CleanupPolicy::default()
        };
        let removals = plan(&policy, &history, at(10));
        assert_eq!(removals.len(), 1);
        assert_eq!(removals[0].package_revisions, 2);
        assert_eq!(removals[0].logical_bytes(), 120);
    }

    #[test]
    fn keeps_the_newest_package_revisions_of_each_binary_of_kept_revisions() {
        let history = recipe(vec![revision(
            1,
            1,
            None,
            vec![
                binary(
                    "a",
                    (1..=4)
                        .rev()
                        .map(|n| package(n, i64::from(n), None))
                        .collect(),
                ),
                binary("b", vec![package(9, 1, None)]),
            ],
        )]);
        let policy = CleanupPolicy {
            keep_n_package_revisions: Some(2),
            ..CleanupPolicy::default()
        };
        assert_eq!(removed(&plan(&policy, &history, at(10))), ["p2", "p1"]);
    }

    #[test]
    fn ties_in_time_follow_the_given_order() {
        // Three revisions committed in the same microsecond: the first listed is the latest.
        let history = recipe(vec![
            revision(3, 1, None, vec![]),
            revision(2, 1, None, vec![]),
            revision(1, 1, None, vec![]),
        ]);
        let policy = CleanupPolicy {
            keep_n_recipe_revisions: Some(1),
            ..CleanupPolicy::default()
        };
        assert_eq!(removed(&plan(&policy, &history, at(10))), ["r2", "r1"]);
    }

    #[test]
    fn unused_removes_old_revisions_but_never_the_latest_of_a_used_recipe() {
        let history = recipe(vec![
            revision(3, 9, None, vec![]),    // new
            revision(2, 1, Some(8), vec![]), // old but downloaded lately
            revision(1, 1, Some(2), vec![]), // old and unused
        ]);
        let policy = CleanupPolicy {
            unused_days: Some(5),
            ..CleanupPolicy::default()
        };
        let removals = plan(&policy, &history, at(10));
        assert_eq!(removed(&removals), ["r1"]);
        assert_eq!(removals[0].unused_before, Some(at(5)));
        // The latest is old and unused too, but r2 is used: the latest stays.
        let history = recipe(vec![
            revision(3, 1, None, vec![]),
            revision(2, 1, Some(8), vec![]),
        ]);
        assert!(removed(&plan(&policy, &history, at(10))).is_empty());
    }

    #[test]
    fn a_wholly_unused_recipe_goes_entirely() {
        let history = recipe(vec![
            revision(2, 1, Some(2), vec![]),
            revision(1, 1, None, vec![]),
        ]);
        let policy = CleanupPolicy {
            unused_days: Some(5),
            ..CleanupPolicy::default()
        };
        let removals = plan(&policy, &history, at(10));
        assert_eq!(removed(&removals), ["r2", "r1"]);
        assert!(
            removals.iter().all(|removal| removal.may_be_latest),
            "each may be the last left"
        );
        // A package downloaded lately keeps its recipe revision alive, and so the recipe.
        let history = recipe(vec![
            revision(2, 1, None, vec![binary("a", vec![package(1, 1, Some(9))])]),
            revision(1, 1, None, vec![]),
        ]);
        assert_eq!(removed(&plan(&policy, &history, at(10))), ["r1"]);
    }

    #[test]
    fn unused_binaries_of_a_kept_revision_go_with_their_latest() {
        let history = recipe(vec![revision(
            1,
            9,
            None,
            vec![
                binary("a", vec![package(2, 1, None), package(1, 1, None)]),
                binary("b", vec![package(4, 9, None), package(3, 1, None)]),
            ],
        )]);
        let policy = CleanupPolicy {
            unused_days: Some(5),
            ..CleanupPolicy::default()
        };
        let removals = plan(&policy, &history, at(10));
        assert_eq!(removed(&removals), ["p2", "p1", "p3"]);
        assert!(removals[0].may_be_latest && removals[1].may_be_latest);
        assert!(!removals[2].may_be_latest, "binary b keeps its used newest");
    }

    #[test]
    fn the_filter_selects_references() {
        let history = recipe(
            (1..=3)
                .rev()
                .map(|n| revision(n, i64::from(n), None, vec![]))
                .collect(),
        );
        let policy = CleanupPolicy {
            keep_n_recipe_revisions: Some(1),
            exclude: vec!["zlib/*".to_owned()],
            ..CleanupPolicy::default()
        };
        assert!(plan(&policy, &history, at(10)).is_empty());
        assert!(plan(&policy, &recipe(vec![]), at(10)).is_empty());
    }
}
