#![doc = include_str!("../README.md")]

mod access;
mod config;
mod error;
mod params;
mod remote;
mod respond;
mod routes;
mod state;
mod streaming;

pub use config::ApiConfig;
pub use error::ApiError;
pub use remote::{RemoteCounters, RemoteProjects};
pub use routes::{CAPABILITIES, INSTANCE_PREFIX, PROJECT_PREFIX, configure};
pub use state::AppState;
