//! Last-download tracking that costs a download nothing measurable: a download notes its
//! revision (recipe or package) in memory ([`DownloadRecorder::note`], a lock and a hash lookup), and a background task
//! writes what was noted in one transaction per interval ([`DownloadRecorder::flush`]). The
//! recorded time is therefore behind by at most the flush interval (plus the time one flush
//! takes), and a node that dies loses at most one interval of notes: `last_downloaded_at` is a
//! hint for people and cleanup policies, never an audit log.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use conan_model::RevisionTime;

use crate::StoreError;
use crate::records::FileOwner;
use crate::traits::CatalogStore;

/// The revisions downloaded since the last flush, with the newest download time of each.
#[derive(Debug, Default)]
pub struct DownloadRecorder {
    pending: Mutex<HashMap<FileOwner, RevisionTime>>,
}

impl DownloadRecorder {
    /// An empty recorder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes that a file of `owner` was downloaded now. Never touches the database.
    pub fn note(&self, owner: &FileOwner) {
        let Ok(now) = RevisionTime::from_system_time(SystemTime::now()) else {
            return;
        };
        // A poisoned lock only means another note panicked mid-insert; the map is still usable.
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(time) = pending.get_mut(owner) {
            *time = (*time).max(now);
        } else {
            pending.insert(owner.clone(), now);
        }
    }

    /// How many revisions wait for the next flush.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .len()
    }

    /// Writes every noted download (synchronous: call it on a blocking thread). On failure the
    /// notes are kept for the next flush, merged with those noted meanwhile. Returns how many
    /// revisions were written.
    pub fn flush(&self, store: &dyn CatalogStore) -> Result<usize, StoreError> {
        let taken = std::mem::take(
            &mut *self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let downloads: Vec<(FileOwner, RevisionTime)> = taken.into_iter().collect();
        if downloads.is_empty() {
            return Ok(0);
        }
        match store.record_downloads(&downloads) {
            Ok(()) => Ok(downloads.len()),
            Err(error) => {
                let mut pending = self
                    .pending
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                for (owner, time) in downloads {
                    let entry = pending.entry(owner).or_insert(time);
                    *entry = (*entry).max(time);
                }
                Err(error)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use conan_model::RecipeReference;

    use super::DownloadRecorder;
    use crate::StoreError;
    use crate::catalog::{
        CatalogFile, CatalogFilePage, CatalogPackage, CatalogPage, CatalogQuery, FileQuery,
        ProjectStats,
    };
    use crate::records::{FileId, FileOwner, ProjectId, RecipeId, RecipeRevisionKey};
    use crate::traits::CatalogStore;

    type Download = (FileOwner, conan_model::RevisionTime);

    /// A catalog that only records downloads, failing while `failing` is set.
    #[derive(Default)]
    struct Recording {
        failing: Mutex<bool>,
        written: Mutex<Vec<Download>>,
    }

    impl CatalogStore for Recording {
        fn catalog_packages(&self, _: &CatalogQuery) -> Result<CatalogPage, StoreError> {
            Err(StoreError::Invalid("not used".to_owned()))
        }

        fn catalog_package(
            &self,
            _: ProjectId,
            _: RecipeId,
        ) -> Result<Option<CatalogPackage>, StoreError> {
            Ok(None)
        }

        fn catalog_files(
            &self,
            _: ProjectId,
            _: RecipeId,
            _: &FileQuery,
        ) -> Result<Option<CatalogFilePage>, StoreError> {
            Ok(None)
        }

        fn catalog_file(
            &self,
            _: ProjectId,
            _: RecipeId,
            _: FileId,
        ) -> Result<Option<CatalogFile>, StoreError> {
            Ok(None)
        }

        fn delete_catalog_file(
            &self,
            _: ProjectId,
            _: RecipeId,
            _: FileId,
        ) -> Result<bool, StoreError> {
            Ok(false)
        }

        fn project_stats(&self, _: ProjectId) -> Result<ProjectStats, StoreError> {
            Err(StoreError::Invalid("not used".to_owned()))
        }

        fn record_downloads(&self, downloads: &[Download]) -> Result<(), StoreError> {
            if *self.failing.lock().unwrap() {
                return Err(StoreError::Busy { source: None });
            }
            self.written.lock().unwrap().extend_from_slice(downloads);
            Ok(())
        }
    }

    /// A recipe revision of `zlib/1.3` in `project`.
    fn zlib(project: i64) -> FileOwner {
        FileOwner::Recipe(RecipeRevisionKey {
            project: ProjectId(project),
            recipe: "zlib/1.3".parse::<RecipeReference>().unwrap(),
            revision: "0".parse().unwrap(),
        })
    }

    #[test]
    fn a_flush_writes_each_noted_recipe_once_with_its_newest_time() {
        let store = Recording::default();
        let recorder = DownloadRecorder::new();
        recorder.note(&zlib(1));
        recorder.note(&zlib(1));
        recorder.note(&zlib(2));
        assert_eq!(recorder.pending(), 2);
        assert!(
            store.written.lock().unwrap().is_empty(),
            "notes never write"
        );

        assert_eq!(recorder.flush(&store).unwrap(), 2);
        assert_eq!(recorder.pending(), 0);
        let mut written = store.written.lock().unwrap().clone();
        written.sort_by_key(|(owner, _)| owner.recipe().project);
        let projects: Vec<ProjectId> = written
            .iter()
            .map(|(owner, _)| owner.recipe().project)
            .collect();
        assert_eq!(projects, [ProjectId(1), ProjectId(2)]);
        assert_eq!(recorder.flush(&store).unwrap(), 0, "nothing left");
        assert_eq!(store.written.lock().unwrap().len(), 2);
    }

    #[test]
    fn a_failed_flush_keeps_its_notes_for_the_next() {
        let store = Recording::default();
        let recorder = DownloadRecorder::new();
        recorder.note(&zlib(1));
        *store.failing.lock().unwrap() = true;
        assert!(matches!(
            recorder.flush(&store),
            Err(StoreError::Busy { .. })
        ));
        assert_eq!(recorder.pending(), 1, "kept");
        // Noted meanwhile: merged with the kept notes, one per recipe.
        recorder.note(&zlib(1));
        recorder.note(&zlib(3));
        assert_eq!(recorder.pending(), 2);

        *store.failing.lock().unwrap() = false;
        assert_eq!(recorder.flush(&store).unwrap(), 2);
        assert_eq!(recorder.pending(), 0);
        let written = store.written.lock().unwrap();
        assert_eq!(written.len(), 2);
    }
}
