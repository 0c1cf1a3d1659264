//! The values of the package catalog ([`crate::CatalogStore`]): recipes listed, inspected and
//! deleted by id, the way GitLab's Packages API sees a registry. A catalog package is one recipe
//! reference in one project; its files are every file of every committed recipe and package
//! revision.

use conan_model::{FilePath, PackageId, RecipeReference, Revision, RevisionTime};

use crate::blob::Digests;
use crate::records::{FileId, ProjectId, RecipeId, RevisionEntry};

/// Which recipes a listing shows, as GitLab's `status` filter sees them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CatalogStatus {
    /// Recipes with at least one committed revision (GitLab's `default`).
    #[default]
    Committed,
    /// Recipes whose upload has not committed any revision yet (GitLab's `processing`).
    Uploading,
}

/// The column a listing sorts by; the recipe id breaks ties, in the same direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CatalogOrder {
    /// When the recipe was first uploaded (GitLab's default).
    #[default]
    CreatedAt,
    /// The recipe name, bytewise.
    Name,
    /// The version, as a string (GitLab does not sort versions semantically either).
    Version,
    /// The project's path, then the creation time.
    ProjectPath,
    /// The id alone (GitLab's `type`, which is the same for every Conan package).
    Id,
}

/// A listing of recipes: which, in what order, which page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogQuery {
    /// The projects to list; empty lists nothing.
    pub projects: Vec<ProjectId>,
    /// Words that must each occur in the recipe name, case-insensitively (GitLab's fuzzy
    /// `package_name`); empty matches every name.
    pub name_words: Vec<String>,
    /// An exact recipe name.
    pub name: Option<String>,
    /// An exact version.
    pub version: Option<String>,
    /// Which recipes.
    pub status: CatalogStatus,
    /// The sort column.
    pub order: CatalogOrder,
    /// Largest first.
    pub descending: bool,
    /// How many matching recipes to skip.
    pub offset: u64,
    /// At most this many recipes.
    pub limit: u32,
    /// Count the matches only up to this many ([`COUNT_LIMIT`] for GitLab's behaviour).
    pub count_limit: u64,
}

/// One recipe of the catalog, with what a listing shows of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogPackage {
    /// The recipe's id.
    pub id: RecipeId,
    /// Its project.
    pub project: ProjectId,
    /// The project's full path.
    pub project_path: String,
    /// The reference.
    pub reference: RecipeReference,
    /// When the recipe was first stored.
    pub created_at: RevisionTime,
    /// When a file of it was last downloaded, as far as recorded (see
    /// [`crate::CatalogStore::record_downloads`]).
    pub last_downloaded_at: Option<RevisionTime>,
    /// The newest committed recipe revision; `None` while the first upload is in progress.
    pub latest_revision: Option<RevisionEntry>,
    /// How many committed recipe revisions it has.
    pub revision_count: u64,
    /// How many binaries (package ids with a committed package revision) its newest recipe
    /// revision has.
    pub binary_count: u64,
    /// The bytes of every file of every committed recipe and package revision (before
    /// deduplication).
    pub size: u64,
}

/// How many recipes a listing counts at most, by default. Above it the total is not counted
/// (`None`), as GitLab omits its count headers above 10,000: counting every match of a large
/// project would cost more than the page itself.
pub const COUNT_LIMIT: u64 = 10_000;

/// A page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogPage {
    /// How many recipes match in all: known when at most the query's `count_limit` match, or
    /// when this page is the last.
    pub total: Option<u64>,
    /// Whether recipes follow this page.
    pub has_next: bool,
    /// The page.
    pub packages: Vec<CatalogPackage>,
}

/// The column a file listing sorts by; the file id breaks ties.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FileOrder {
    /// The id (GitLab's default).
    #[default]
    Id,
    /// When the file was stored.
    CreatedAt,
    /// The file's path.
    Name,
}

/// A listing of one recipe's files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileQuery {
    /// The sort column.
    pub order: FileOrder,
    /// Largest first.
    pub descending: bool,
    /// How many files to skip.
    pub offset: u64,
    /// At most this many files.
    pub limit: u32,
}

/// One stored file of a committed revision, with the revision it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogFile {
    /// The file's id.
    pub id: FileId,
    /// The recipe it belongs to.
    pub recipe: RecipeId,
    /// Its path in its revision.
    pub path: FilePath,
    /// Its size and digests.
    pub digests: Digests,
    /// When it was stored.
    pub created_at: RevisionTime,
    /// The recipe revision.
    pub recipe_revision: Revision,
    /// The package id and package revision, for a package file.
    pub package: Option<(PackageId, Revision)>,
}

/// A page of a file listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogFilePage {
    /// How many files the recipe has in all.
    pub total: u64,
    /// The page.
    pub files: Vec<CatalogFile>,
}

/// What one project stores, counting committed revisions only (an upload in progress is not
/// there yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProjectStats {
    /// Recipe references with at least one committed revision.
    pub references: u64,
    /// Committed recipe revisions.
    pub recipe_revisions: u64,
    /// Binaries: package ids of a committed recipe revision with a committed package revision.
    pub binaries: u64,
    /// Committed package revisions of committed recipe revisions.
    pub package_revisions: u64,
    /// Files of every committed recipe and package revision.
    pub files: u64,
    /// Their bytes, each file counted (what clients download).
    pub logical_bytes: u64,
    /// Source backups (with their file stored).
    pub source_backups: u64,
    /// Their files' bytes.
    pub source_backup_bytes: u64,
    /// The bytes of the distinct blobs those files and backups are stored in: what the project
    /// takes in the blob store, were it alone there (blobs shared with other projects count in
    /// each).
    pub stored_bytes: u64,
}
