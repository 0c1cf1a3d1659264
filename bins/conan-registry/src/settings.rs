//! The effective configuration: built-in defaults < TOML file (`--config` or
//! `CONAN_REGISTRY_CONFIG`) < `CONAN_REGISTRY__SECTION__KEY` environment variables < CLI flags.
//! Everything derives from one data directory unless set explicitly.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use conan_api::ApiConfig;
use conan_auth::AuthConfig;
use conan_store::Visibility;
use conan_store::blob::{BlobStoreConfig, FilesystemConfig};
use conan_store::db::DatabaseConfig;
use serde::Deserialize;

/// The environment variable naming a configuration file.
pub(crate) const CONFIG_FILE_VAR: &str = "CONAN_REGISTRY_CONFIG";

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct Settings {
    /// Listening and the data directory.
    pub(crate) server: ServerSettings,
    /// The metadata database.
    pub(crate) database: DatabaseSettings,
    /// Where package files live; default: the filesystem under `<data_dir>/blobs`.
    pub(crate) blobs: Option<BlobStoreConfig>,
    /// The Conan API.
    pub(crate) api: ApiConfig,
    /// Authentication.
    pub(crate) auth: AuthConfig,
    /// What the first start creates.
    pub(crate) bootstrap: BootstrapSettings,
    /// Background garbage collection of unreferenced blobs.
    pub(crate) gc: GcSettings,
}

/// Listening and the data directory.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ServerSettings {
    /// The address to listen on.
    pub(crate) bind: String,
    /// The directory the embedded defaults keep their data in.
    pub(crate) data_dir: PathBuf,
    /// HTTP worker threads; default: one per core.
    pub(crate) workers: Option<usize>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:9300".to_owned(),
            data_dir: PathBuf::from("./data"),
            workers: None,
        }
    }
}

/// The metadata database; without a URL, SQLite at `<data_dir>/registry.db`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct DatabaseSettings {
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`.
    pub(crate) url: Option<String>,
    /// The most connections the pool opens.
    pub(crate) max_connections: u32,
    /// How long a request waits for a connection, in milliseconds.
    pub(crate) acquire_timeout_ms: u64,
    /// How long SQLite waits on a lock, in milliseconds.
    pub(crate) sqlite_busy_timeout_ms: u64,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        let defaults = DatabaseConfig::default();
        Self {
            url: None,
            max_connections: defaults.max_connections,
            acquire_timeout_ms: defaults.acquire_timeout_ms,
            sqlite_busy_timeout_ms: defaults.sqlite_busy_timeout_ms,
        }
    }
}

/// What the first start on an empty database creates.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct BootstrapSettings {
    /// The administrator's user name.
    pub(crate) admin_username: String,
    /// The first project's path.
    pub(crate) project_path: String,
    /// The first project's visibility: `public`, `internal` or `private`.
    pub(crate) project_visibility: String,
}

impl Default for BootstrapSettings {
    fn default() -> Self {
        Self {
            admin_username: "admin".to_owned(),
            project_path: "demo/packages".to_owned(),
            project_visibility: Visibility::Private.as_str().to_owned(),
        }
    }
}

/// Background garbage collection.
#[expect(
    clippy::struct_field_names,
    reason = "the unit is part of each configuration key"
)]
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct GcSettings {
    /// Seconds between runs; 0 turns the background collector off.
    pub(crate) interval_secs: u64,
    /// How long a blob stays unreferenced before it is deleted, in seconds.
    pub(crate) grace_secs: u64,
    /// How old an abandoned staging upload must be before it is removed, in seconds.
    pub(crate) staging_age_secs: u64,
}

impl Default for GcSettings {
    fn default() -> Self {
        Self {
            interval_secs: 600,
            grace_secs: 600,
            staging_age_secs: 24 * 3600,
        }
    }
}

/// The CLI flags that override the configuration.
#[derive(Debug, Clone, Default)]
pub(crate) struct Overrides {
    /// `--config`.
    pub(crate) config_file: Option<PathBuf>,
    /// `--data-dir`.
    pub(crate) data_dir: Option<PathBuf>,
    /// `--bind`.
    pub(crate) bind: Option<String>,
}

impl Settings {
    /// Loads the layered configuration.
    pub(crate) fn load(overrides: &Overrides) -> anyhow::Result<Self> {
        let file = overrides
            .config_file
            .clone()
            .or_else(|| std::env::var_os(CONFIG_FILE_VAR).map(PathBuf::from));
        let mut builder = config::Config::builder();
        if let Some(file) = &file {
            anyhow::ensure!(
                file.exists(),
                "configuration file {} does not exist",
                file.display()
            );
            builder = builder
                .add_source(config::File::from(file.as_path()).format(config::FileFormat::Toml));
        }
        builder = builder.add_source(
            config::Environment::with_prefix("CONAN_REGISTRY")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true),
        );
        let layered = builder.build().context("cannot read the configuration")?;
        let mut settings: Self = layered.try_deserialize().map_err(|error| {
            anyhow::anyhow!(
                "invalid configuration{}: {error}",
                file.as_ref()
                    .map(|file| format!(" in {}", file.display()))
                    .unwrap_or_default()
            )
        })?;
        if let Some(data_dir) = &overrides.data_dir {
            settings.server.data_dir.clone_from(data_dir);
        }
        if let Some(bind) = &overrides.bind {
            settings.server.bind.clone_from(bind);
        }
        settings.validate()?;
        Ok(settings)
    }

    fn validate(&self) -> anyhow::Result<()> {
        self.project_visibility()?;
        if let Some(url) = &self.api.external_url {
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "invalid configuration: api.external_url {url:?} must start with http:// or https://"
            );
        }
        Ok(())
    }

    /// The first project's visibility.
    pub(crate) fn project_visibility(&self) -> anyhow::Result<Visibility> {
        self.bootstrap.project_visibility.parse().map_err(|error| {
            anyhow::anyhow!("invalid configuration: bootstrap.project_visibility: {error}")
        })
    }

    /// The database settings, with the URL derived from the data directory when not set.
    #[must_use]
    pub(crate) fn database(&self) -> DatabaseConfig {
        DatabaseConfig {
            url: self.database.url.clone().unwrap_or_else(|| {
                format!(
                    "sqlite://{}",
                    self.server.data_dir.join("registry.db").display()
                )
            }),
            max_connections: self.database.max_connections,
            acquire_timeout_ms: self.database.acquire_timeout_ms,
            sqlite_busy_timeout_ms: self.database.sqlite_busy_timeout_ms,
        }
    }

    /// The blob store settings, the filesystem under the data directory by default.
    #[must_use]
    pub(crate) fn blobs(&self) -> BlobStoreConfig {
        self.blobs.clone().unwrap_or_else(|| {
            BlobStoreConfig::Filesystem(FilesystemConfig {
                root: self.server.data_dir.join("blobs"),
            })
        })
    }

    /// The data directory.
    #[must_use]
    pub(crate) fn data_dir(&self) -> &Path {
        &self.server.data_dir
    }
}
