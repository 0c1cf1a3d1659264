#![doc = include_str!("../README.md")]

mod access;
mod backups;
mod cleanup;
mod error;
mod instance;
mod packages;
mod params;
mod protection;

use actix_web::web;

pub use access::RestState;
pub use error::RestError;
pub use instance::GITLAB_API_LEVEL;

/// Registers the Packages API routes under `/api/v4`. The caller registers the [`RestState`]
/// as `web::Data<RestState>` app data. Register it before conan-api's routes: conan-api sets the
/// default service (GitLab's JSON 404 for unknown paths).
pub fn configure(config: &mut web::ServiceConfig) {
    backups::configure(config);
    cleanup::configure(config);
    instance::configure(config);
    packages::configure(config);
    protection::configure(config);
}
