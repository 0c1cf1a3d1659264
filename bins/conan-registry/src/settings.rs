//! The effective configuration: built-in defaults < TOML file (`--config` or
//! `CONAN_REGISTRY_CONFIG`) < `CONAN_REGISTRY__SECTION__KEY` environment variables < CLI flags.
//! Everything derives from one data directory unless set explicitly.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context as _;
use conan_api::ApiConfig;
use conan_auth::AuthConfig;
use conan_store::Visibility;
use conan_store::blob::{BlobStoreConfig, FilesystemConfig};
use conan_store::db::{DatabaseConfig, redact_url_password};
use serde::{Deserialize, Serialize};

/// The environment variable naming a configuration file.
pub(crate) const CONFIG_FILE_VAR: &str = "CONAN_REGISTRY_CONFIG";

/// The whole configuration.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
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
    /// The package catalog (GitLab's Packages API).
    pub(crate) catalog: CatalogSettings,
    /// Cleanup policies' runs.
    pub(crate) cleanup: CleanupSettings,
    /// Logging.
    pub(crate) log: LogSettings,
    /// Remote projects (`docs/REMOTE_PROJECTS.md`).
    pub(crate) remote: RemoteProjectSettings,
}

/// Remote projects' settings for every node.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct RemoteProjectSettings {
    /// 32 random bytes in base64 (`openssl rand -base64 32`) that seal upstream credentials
    /// in the database; the same on every node. Needed only when some remote project has
    /// credentials; never written to the database, redacted by `config show`.
    pub(crate) credentials_key: Option<String>,
}

impl RemoteProjectSettings {
    /// The credentials key, when one is configured; a malformed one is an error.
    pub(crate) fn key(&self) -> anyhow::Result<Option<conan_remote::CredentialKey>> {
        self.credentials_key
            .as_deref()
            .map(|text| conan_remote::CredentialKey::from_base64(text).map_err(anyhow::Error::from))
            .transpose()
    }
}

/// Listening and the data directory.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct ServerSettings {
    /// The address to listen on.
    pub(crate) bind: String,
    /// The directory the embedded defaults keep their data in.
    pub(crate) data_dir: PathBuf,
    /// HTTP worker threads; default: one per core.
    pub(crate) workers: Option<usize>,
    /// On SIGTERM or SIGINT, how long in-flight requests may take to finish, in seconds.
    pub(crate) shutdown_timeout_secs: u64,
    /// Serve HTTPS directly, without a proxy in front.
    pub(crate) tls: Option<TlsSettings>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:9300".to_owned(),
            data_dir: PathBuf::from("./data"),
            workers: None,
            shutdown_timeout_secs: 30,
            tls: None,
        }
    }
}

/// The certificate and key of HTTPS serving, both PEM files.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TlsSettings {
    /// The certificate chain, leaf first.
    pub(crate) cert_file: PathBuf,
    /// The private key (PKCS#8, PKCS#1 or SEC1).
    pub(crate) key_file: PathBuf,
}

/// How logs look; they go to standard error.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct LogSettings {
    /// `human` (one readable line per event) or `json` (one JSON object per line).
    pub(crate) format: LogFormat,
    /// What to log, as a `tracing` filter (`info`, `warn,conan_registry=debug`); `RUST_LOG`
    /// overrides it.
    pub(crate) level: String,
    /// Lines are gathered and written by a writer thread in batches (one `write` per 5 ms)
    /// instead of one `write` per line from the thread that logs. No line is dropped (past
    /// 1 MiB pending a logger writes the batch itself) and the rest is written when the server
    /// stops; a process killed outright loses the current batch (see `log_writer`).
    pub(crate) buffered: bool,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            format: LogFormat::Human,
            level: "info".to_owned(),
            buffered: false,
        }
    }
}

/// The log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum LogFormat {
    /// Readable lines.
    Human,
    /// One JSON object per line.
    Json,
}

/// The metadata database; without a URL, SQLite at `<data_dir>/registry.db`.
#[derive(Debug, Clone, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Deserialize, Serialize)]
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
#[derive(Debug, Clone, Deserialize, Serialize)]
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

/// The package catalog (GitLab's Packages API).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct CatalogSettings {
    /// How often each node writes the downloads it noted to `last_downloaded_at`, in seconds
    /// (at least 1): how stale that time may be.
    pub(crate) download_flush_secs: u64,
    /// How often each node recounts what every project stores for `/metrics`, in seconds; 0
    /// (the default) turns the per-project gauges off. They name every project, private ones
    /// too, on the unauthenticated `/metrics`: an operator turns them on knowingly.
    pub(crate) stats_interval_secs: u64,
}

impl Default for CatalogSettings {
    fn default() -> Self {
        Self {
            download_flush_secs: 60,
            stats_interval_secs: 0,
        }
    }
}

/// How this node runs cleanup policies (the policies themselves are per project, in the
/// database).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub(crate) struct CleanupSettings {
    /// How often this node looks for a due policy or an abandoned run, in seconds; 0 turns the
    /// scheduler off on this node (runs started by hand still run).
    pub(crate) poll_interval_secs: u64,
    /// Recipes planned from one snapshot (at least 1); each removal is its own short
    /// transaction.
    pub(crate) batch_recipes: usize,
    /// How long a node's claim on a run holds without renewal, in seconds (renewed after every
    /// batch and within one whenever a third of it has passed): how soon another node resumes a
    /// run whose node died.
    pub(crate) lease_secs: u64,
    /// The share of the time a run works, 1 to 100: after each removal it pauses for as long as
    /// the removal took times `(100 - work_percent) / work_percent`, so a long run leaves the CPU
    /// and the database to requests. 100 runs flat out. Default: 50 on PostgreSQL, 100 on
    /// SQLite (where pausing measured worse for reads: docs/BENCHMARKS.md).
    pub(crate) work_percent: Option<u8>,
}

impl Default for CleanupSettings {
    fn default() -> Self {
        Self {
            poll_interval_secs: 300,
            batch_recipes: 100,
            lease_secs: 120,
            work_percent: None,
        }
    }
}

impl Settings {
    /// The run settings of [`conan_store::cleanup`].
    pub(crate) fn cleanup_run_settings(&self) -> conan_store::cleanup::RunSettings {
        let cleanup = &self.cleanup;
        let postgres = self.database().url.starts_with("postgres");
        conan_store::cleanup::RunSettings {
            batch: cleanup.batch_recipes.max(1),
            lease: Duration::from_secs(cleanup.lease_secs.max(1)),
            work_percent: cleanup
                .work_percent
                .unwrap_or(if postgres { 50 } else { 100 }),
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
        self.database()
            .url
            .parse::<conan_store::db::DatabaseUrl>()
            .map_err(|error| {
                anyhow::anyhow!(
                    "invalid configuration: database.url {}: {error}",
                    conan_store::db::redact_url_password(&self.database().url)
                )
            })?;
        tracing_subscriber::EnvFilter::try_new(&self.log.level).map_err(|error| {
            anyhow::anyhow!(
                "invalid configuration: log.level {:?}: {error}",
                self.log.level
            )
        })?;
        let port = self.server.bind.rsplit_once(':').map(|(_, port)| port);
        anyhow::ensure!(
            port.is_some_and(|port| port.parse::<u16>().is_ok()),
            "invalid configuration: server.bind {:?} must be HOST:PORT",
            self.server.bind
        );
        // Checked here rather than per upload: a store that cannot hold the largest accepted
        // file would fail such uploads only after the whole body had arrived.
        if let Some(largest) = self.blobs().largest_object() {
            anyhow::ensure!(
                self.api.max_upload_size <= largest,
                "invalid configuration: api.max_upload_size {} is larger than the largest file \
                 the S3 blob store can hold ({largest} bytes: 10,000 multipart parts of 8 MiB)",
                self.api.max_upload_size
            );
        }
        if let Some(percent) = self.cleanup.work_percent {
            anyhow::ensure!(
                (1..=100).contains(&percent),
                "invalid configuration: cleanup.work_percent {percent} must be 1 to 100"
            );
        }
        if let Some(url) = &self.api.external_url {
            anyhow::ensure!(
                url.starts_with("http://") || url.starts_with("https://"),
                "invalid configuration: api.external_url {url:?} must start with http:// or https://"
            );
        }
        if let Some(location) = &self.api.accel_redirect {
            // It goes into a header and names a location in nginx's configuration.
            let plain = location.bytes().all(|byte| {
                byte.is_ascii_alphanumeric() || matches!(byte, b'/' | b'-' | b'_' | b'.')
            });
            anyhow::ensure!(
                plain
                    && location.len() > 2
                    && location.starts_with('/')
                    && location.ends_with('/')
                    && !location.contains("//")
                    && !location.split('/').any(|part| part == ".." || part == "."),
                "invalid configuration: api.accel_redirect {location:?} must be a location path \
                 like /_conan_blobs/ (starting and ending with /; letters, digits, - _ . and /)"
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

/// What `config show` prints in place of a secret.
const REDACTED: &str = "***";

impl Settings {
    /// The effective configuration as TOML, with derived values filled in and secrets redacted.
    pub(crate) fn to_redacted_toml(&self) -> anyhow::Result<String> {
        let mut effective = self.clone();
        effective.database.url = Some(redact_url_password(&self.database().url));
        effective.blobs = Some(self.blobs());
        let mut value =
            toml::Value::try_from(&effective).context("cannot render the configuration")?;
        if let Some(blobs) = value.get_mut("blobs").and_then(toml::Value::as_table_mut) {
            for key in ["secret_access_key", "session_token"] {
                if let Some(secret) = blobs.get_mut(key) {
                    *secret = toml::Value::String(REDACTED.to_owned());
                }
            }
        }
        if let Some(remote) = value.get_mut("remote").and_then(toml::Value::as_table_mut)
            && let Some(key) = remote.get_mut("credentials_key")
        {
            *key = toml::Value::String(REDACTED.to_owned());
        }
        toml::to_string_pretty(&value).context("cannot render the configuration")
    }
}

#[cfg(test)]
mod tests {
    use conan_store::blob::S3Config;

    use super::*;

    const EXAMPLE: &str = include_str!("../../../deploy/conan-registry.example.toml");

    /// Every leaf key of a TOML value, as `section.key`.
    fn leaf_keys(value: &toml::Value, prefix: &str, keys: &mut Vec<String>) {
        if let Some(table) = value.as_table() {
            for (key, value) in table {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                leaf_keys(value, &path, keys);
            }
        } else {
            keys.push(prefix.to_owned());
        }
    }

    #[test]
    fn the_example_gives_exactly_the_defaults() {
        let example: Settings = toml::from_str(EXAMPLE).unwrap();
        example.validate().unwrap();
        assert_eq!(
            example.to_redacted_toml().unwrap(),
            Settings::default().to_redacted_toml().unwrap()
        );
    }

    #[test]
    fn the_example_names_every_key() {
        let mut settings = Settings::default();
        settings.server.workers = Some(4);
        settings.server.tls = Some(TlsSettings {
            cert_file: "c".into(),
            key_file: "k".into(),
        });
        settings.api.external_url = Some("https://conan.example.com".to_owned());
        settings.api.accel_redirect = Some("/_conan_blobs/".to_owned());
        let mut keys = Vec::new();
        leaf_keys(&toml::Value::try_from(&settings).unwrap(), "", &mut keys);
        let s3 = BlobStoreConfig::S3(S3Config {
            access_key_id: Some(String::new()),
            secret_access_key: Some(String::new()),
            session_token: Some(String::new()),
            endpoint: Some(String::new()),
            prefix: Some(String::new()),
            ..S3Config::default()
        });
        leaf_keys(&toml::Value::try_from(&s3).unwrap(), "blobs", &mut keys);
        leaf_keys(
            &toml::Value::try_from(settings.blobs()).unwrap(),
            "blobs",
            &mut keys,
        );
        let missing: Vec<_> = keys
            .iter()
            .filter(|key| {
                let name = key.rsplit('.').next().unwrap();
                !EXAMPLE.lines().any(|line| {
                    line.trim_start_matches(['#', ' '])
                        .starts_with(&format!("{name} ="))
                })
            })
            .collect();
        assert!(
            missing.is_empty(),
            "keys missing from the example: {missing:?}"
        );
        assert!(keys.len() > 30, "{keys:?}");
    }

    #[test]
    fn secrets_are_redacted() {
        let mut settings = Settings::default();
        settings.database.url = Some("postgres://user:pa55word@db/conan".to_owned());
        settings.blobs = Some(BlobStoreConfig::S3(S3Config {
            bucket: "b".to_owned(),
            access_key_id: Some("id".to_owned()),
            secret_access_key: Some("s3cret-key".to_owned()),
            session_token: Some("t0ken".to_owned()),
            ..S3Config::default()
        }));
        settings.remote.credentials_key =
            Some("c2VhbGluZy1rZXktMzItYnl0ZXMtbG9uZy4uLi4uLi4=".to_owned());
        let shown = settings.to_redacted_toml().unwrap();
        assert!(shown.contains("postgres://user:***@db/conan"), "{shown}");
        for secret in ["pa55word", "s3cret-key", "t0ken", "c2VhbGluZy1rZXktMzIt"] {
            assert!(!shown.contains(secret), "{shown}");
        }
    }

    #[test]
    fn validation_names_the_key() {
        let mut settings = Settings::default();
        settings.server.bind = "nowhere".to_owned();
        assert!(
            settings
                .validate()
                .unwrap_err()
                .to_string()
                .contains("server.bind")
        );
        let mut settings = Settings::default();
        settings.log.level = "a==b".to_owned();
        assert!(
            settings
                .validate()
                .unwrap_err()
                .to_string()
                .contains("log.level")
        );
        let mut settings = Settings {
            blobs: Some(BlobStoreConfig::S3(conan_store::blob::S3Config::default())),
            ..Settings::default()
        };
        settings.api.max_upload_size = 10_000 * 8 * 1024 * 1024;
        assert!(settings.validate().is_ok());
        settings.api.max_upload_size += 1;
        assert!(
            settings
                .validate()
                .unwrap_err()
                .to_string()
                .contains("api.max_upload_size")
        );
        let mut settings = Settings::default();
        settings.api.max_upload_size = u64::MAX;
        assert!(
            settings.validate().is_ok(),
            "the file system holds any size"
        );
        let mut settings = Settings::default();
        settings.database.url = Some("mysql://x".to_owned());
        assert!(
            settings
                .validate()
                .unwrap_err()
                .to_string()
                .contains("database.url")
        );
    }

    #[test]
    fn accel_redirect_is_a_plain_location() {
        for good in ["/_conan_blobs/", "/internal/blobs-v1/", "/a.b/"] {
            let mut settings = Settings::default();
            settings.api.accel_redirect = Some(good.to_owned());
            assert!(settings.validate().is_ok(), "{good}");
        }
        for bad in [
            "",
            "/",
            "//",
            "_conan_blobs/",
            "/_conan_blobs",
            "/a//b/",
            "/a/../b/",
            "/./",
            "/a b/",
            "/a\r\nX-Evil: 1/",
            "/caf\u{e9}/",
            "/a?b/",
            "/a%2e/",
        ] {
            let mut settings = Settings::default();
            settings.api.accel_redirect = Some(bad.to_owned());
            let error = settings.validate().unwrap_err().to_string();
            assert!(error.contains("api.accel_redirect"), "{bad:?}: {error}");
        }
    }
}
