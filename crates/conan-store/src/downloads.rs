//! Last-download tracking that costs a download nothing measurable: a download notes its recipe
//! in memory ([`DownloadRecorder::note`], a lock and a hash lookup), and a background task
//! writes what was noted in one transaction per interval ([`DownloadRecorder::flush`]). The
//! recorded time is therefore behind by at most the flush interval (plus the time one flush
//! takes), and a node that dies loses at most one interval of notes: `last_downloaded_at` is a
//! hint for people and cleanup policies, never an audit log.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::SystemTime;

use conan_model::{RecipeReference, RevisionTime};

use crate::StoreError;
use crate::records::ProjectId;
use crate::traits::CatalogStore;

/// The recipes downloaded since the last flush, with the newest download time of each.
#[derive(Debug, Default)]
pub struct DownloadRecorder {
    pending: Mutex<HashMap<ProjectId, HashMap<RecipeReference, RevisionTime>>>,
}

impl DownloadRecorder {
    /// An empty recorder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes that a file of `recipe` was downloaded now. Never touches the database.
    pub fn note(&self, project: ProjectId, recipe: &RecipeReference) {
        let Ok(now) = RevisionTime::from_system_time(SystemTime::now()) else {
            return;
        };
        // A poisoned lock only means another note panicked mid-insert; the map is still usable.
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let recipes = pending.entry(project).or_default();
        if let Some(time) = recipes.get_mut(recipe) {
            *time = (*time).max(now);
        } else {
            recipes.insert(recipe.clone(), now);
        }
    }

    /// How many recipes wait for the next flush.
    #[must_use]
    pub fn pending(&self) -> usize {
        self.pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .values()
            .map(HashMap::len)
            .sum()
    }

    /// Writes every noted download (synchronous: call it on a blocking thread). On failure the
    /// notes are kept for the next flush, merged with those noted meanwhile. Returns how many
    /// recipes were written.
    pub fn flush(&self, store: &dyn CatalogStore) -> Result<usize, StoreError> {
        let taken = std::mem::take(
            &mut *self
                .pending
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        let downloads: Vec<(ProjectId, RecipeReference, RevisionTime)> = taken
            .into_iter()
            .flat_map(|(project, recipes)| {
                recipes
                    .into_iter()
                    .map(move |(recipe, time)| (project, recipe, time))
            })
            .collect();
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
                for (project, recipe, time) in downloads {
                    let entry = pending
                        .entry(project)
                        .or_default()
                        .entry(recipe)
                        .or_insert(time);
                    *entry = (*entry).max(time);
                }
                Err(error)
            }
        }
    }
}
