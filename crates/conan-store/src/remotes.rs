//! Remote projects: a project whose content comes from an upstream Conan server, with where
//! that upstream is and how long its answers are kept (conan-remote does the fetching).

use conan_model::RevisionTime;

use crate::StoreError;
use crate::records::ProjectId;

/// The longest upstream URL kept.
pub const MAX_URL_LEN: usize = 2048;
/// The longest time to live of the upstream's revision lists (30 days).
pub const MAX_TTL_SECS: u32 = 30 * 86_400;

/// A remote project's upstream, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSettings {
    /// The upstream's Conan remote URL (checked by conan-upstream before it is stored).
    pub upstream_url: String,
    /// The upstream's credentials, sealed by conan-remote with a key that is not in the
    /// database; `None` for an anonymous upstream.
    pub sealed_credentials: Option<String>,
    /// How long the upstream's revision lists are fresh, in seconds (at least 1).
    pub metadata_ttl_secs: u32,
    /// How long an upstream "not found" is kept, in seconds (0: not kept).
    pub not_found_ttl_secs: u32,
    /// When these were last set (ignored when storing).
    pub updated_at: Option<RevisionTime>,
}

impl RemoteSettings {
    /// Checks the sizes and bounds; the error names the field.
    pub fn check(&self) -> Result<(), StoreError> {
        if self.upstream_url.is_empty() || self.upstream_url.len() > MAX_URL_LEN {
            return Err(StoreError::Invalid(format!(
                "the upstream URL must be 1 to {MAX_URL_LEN} bytes"
            )));
        }
        if !(1..=MAX_TTL_SECS).contains(&self.metadata_ttl_secs) {
            return Err(StoreError::Invalid(format!(
                "metadata_ttl_secs must be between 1 and {MAX_TTL_SECS}"
            )));
        }
        if self.not_found_ttl_secs > MAX_TTL_SECS {
            return Err(StoreError::Invalid(format!(
                "not_found_ttl_secs must be at most {MAX_TTL_SECS}"
            )));
        }
        if self
            .sealed_credentials
            .as_ref()
            .is_some_and(|sealed| sealed.is_empty() || sealed.len() > 8192)
        {
            return Err(StoreError::Invalid(
                "sealed credentials must be 1 to 8192 bytes".to_owned(),
            ));
        }
        Ok(())
    }
}

/// Which projects are remote, and their upstreams.
pub trait RemoteStore: Send + Sync {
    /// Makes `project` a remote project of the upstream `settings` describes, or changes its
    /// upstream; [checked](RemoteSettings::check) first. Fails with `NotFound` for a project
    /// that does not exist.
    fn set_remote(
        &self,
        project: ProjectId,
        settings: &RemoteSettings,
        now: RevisionTime,
    ) -> Result<(), StoreError>;

    /// The upstream of `project`, if it is a remote project.
    fn remote(&self, project: ProjectId) -> Result<Option<RemoteSettings>, StoreError>;

    /// Every remote project, in project id order.
    fn remotes(&self) -> Result<Vec<(ProjectId, RemoteSettings)>, StoreError>;

    /// Makes `project` an ordinary project again (what it cached stays); whether it was remote.
    fn clear_remote(&self, project: ProjectId) -> Result<bool, StoreError>;
}
