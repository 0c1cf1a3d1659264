//! Test support: a fresh metadata store per test, on SQLite always and on PostgreSQL when
//! `CONAN_REGISTRY_TEST_POSTGRES_URL` names a server (each test creates and drops its own
//! database there).

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses a different part of the support module"
)]
#![allow(
    clippy::expect_used,
    reason = "test set-up: a panic is the failure report"
)]

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use conan_store::db::{DatabaseConfig, DieselStore};
use diesel::{Connection, PgConnection, RunQueryDsl};

/// The variable naming an administrative PostgreSQL URL, such as
/// `postgres://postgres@127.0.0.1:5432/postgres`.
pub const POSTGRES_URL_VAR: &str = "CONAN_REGISTRY_TEST_POSTGRES_URL";

/// When set to `1`, PostgreSQL tests fail instead of skipping if the URL is missing, so CI can
/// never pass without running them.
pub const REQUIRE_POSTGRES_VAR: &str = "CONAN_REGISTRY_TEST_REQUIRE_POSTGRES";

/// A store on a database that disappears with this value.
pub struct TestDb {
    pub store: DieselStore,
    /// The URL the store was opened with.
    pub url: String,
    cleanup: Cleanup,
}

enum Cleanup {
    Sqlite(#[allow(dead_code, reason = "held for its Drop")] tempfile::TempDir),
    Postgres { admin_url: String, database: String },
}

impl TestDb {
    /// A fresh SQLite database in a temporary directory.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary directory");
        let path: PathBuf = dir.path().join("registry.db");
        let url = format!("sqlite://{}", path.display());
        let store = DieselStore::open(&DatabaseConfig {
            url: url.clone(),
            ..DatabaseConfig::default()
        })
        .expect("open SQLite store");
        Self {
            store,
            url,
            cleanup: Cleanup::Sqlite(dir),
        }
    }

    /// A fresh PostgreSQL database, or `None` (after saying so) when no server is configured.
    pub fn postgres() -> Option<Self> {
        let Ok(admin_url) = std::env::var(POSTGRES_URL_VAR) else {
            assert!(
                std::env::var(REQUIRE_POSTGRES_VAR).as_deref() != Ok("1"),
                "{REQUIRE_POSTGRES_VAR}=1 but {POSTGRES_URL_VAR} is not set"
            );
            eprintln!("skipped: set {POSTGRES_URL_VAR} to run this test on PostgreSQL");
            return None;
        };
        let database = unique_database_name();
        let mut admin = PgConnection::establish(&admin_url).expect("connect to PostgreSQL");
        diesel::sql_query(format!("CREATE DATABASE {database}"))
            .execute(&mut admin)
            .expect("create test database");
        let url = database_url(&admin_url, &database);
        let store = DieselStore::open(&DatabaseConfig {
            url: url.clone(),
            ..DatabaseConfig::default()
        })
        .expect("open PostgreSQL store");
        Some(Self {
            store,
            url,
            cleanup: Cleanup::Postgres {
                admin_url,
                database,
            },
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Cleanup::Postgres {
            admin_url,
            database,
        } = &self.cleanup
        {
            // The store's pool still holds connections; FORCE ends them.
            if let Ok(mut admin) = PgConnection::establish(admin_url) {
                let _ =
                    diesel::sql_query(format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                        .execute(&mut admin);
            }
        }
    }
}

/// A database name no other test or run uses.
fn unique_database_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.subsec_nanos());
    format!(
        "conan_registry_test_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos
    )
}

/// The admin URL with its database replaced.
fn database_url(admin_url: &str, database: &str) -> String {
    let (base, query) = match admin_url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin_url, None),
    };
    let scheme_end = base.find("://").map_or(0, |index| index + 3);
    let path_start = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |index| scheme_end + index);
    let mut url = format!("{}/{database}", &base[..path_start]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    url
}

/// Runs one statement on the store's database (to set times the clock would never repeat).
pub fn execute_sql(store: &DieselStore, statement: &str) {
    use conan_store::db::DbConnection;
    store
        .with_connection(|conn| match conn {
            DbConnection::Sqlite(conn) => diesel::sql_query(statement).execute(conn),
            DbConnection::Postgresql(conn) => diesel::sql_query(statement).execute(conn),
        })
        .unwrap()
        .unwrap();
}

/// Declares each test once and runs it on SQLite and on PostgreSQL:
/// `backend_tests! { fn name(store: &DieselStore) { ... } }`.
#[macro_export]
macro_rules! backend_tests {
    ($(fn $name:ident($store:ident: &DieselStore) $body:block)+) => {
        mod sqlite {
            #[allow(unused_imports, reason = "not every test uses every import")]
            use super::*;
            $(
                #[test]
                fn $name() {
                    let db = $crate::support::TestDb::sqlite();
                    super::cases::$name(&db.store);
                }
            )+
        }

        mod postgres {
            #[allow(unused_imports, reason = "not every test uses every import")]
            use super::*;
            $(
                #[test]
                fn $name() {
                    let Some(db) = $crate::support::TestDb::postgres() else { return };
                    super::cases::$name(&db.store);
                }
            )+
        }

        mod cases {
            #[allow(unused_imports, reason = "not every test uses every import")]
            use super::*;
            $(
                pub(super) fn $name($store: &DieselStore) $body
            )+
        }
    };
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_urls() {
        assert_eq!(
            super::database_url("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
        assert_eq!(
            super::database_url("postgres://u:p@h/db?sslmode=disable", "t2"),
            "postgres://u:p@h/t2?sslmode=disable"
        );
        assert_eq!(super::database_url("postgres://h", "t3"), "postgres://h/t3");
    }
}
