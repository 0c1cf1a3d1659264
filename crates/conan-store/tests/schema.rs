//! The two migration folders must produce the same schema, and every migration must revert
//! cleanly: up, down, up.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers: a panic is the failure report"
)]

mod support;

use std::collections::BTreeSet;

use conan_model::FilePath;
use conan_store::blob::{Digests, md5_hex};
use conan_store::db::{DbConnection, DieselStore};
use conan_store::{FileOwner, FileStore, IdentityStore, NewFile, RecipeRevisionKey, Visibility};
use diesel::RunQueryDsl;
use diesel::sql_types::{BigInt, Text};
use support::TestDb;

/// One column as both databases can describe it: table, column, normalized type, nullable.
type Column = (String, String, &'static str, bool);

#[derive(diesel::QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(diesel::QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text, column_name = "type")]
    kind: String,
    #[diesel(sql_type = BigInt)]
    notnull: i64,
    #[diesel(sql_type = BigInt)]
    pk: i64,
}

#[derive(diesel::QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

/// Maps each dialect's spelling of a type to one name.
fn normalize(kind: &str) -> &'static str {
    match kind.to_ascii_lowercase().as_str() {
        "integer" | "bigint" => "integer",
        "text" => "text",
        "boolean" => "boolean",
        other => panic!("type {other:?} is not portable: use BIGINT, TEXT or BOOLEAN"),
    }
}

/// Tables, columns and named indexes of the schema, excluding diesel's bookkeeping.
fn describe(store: &DieselStore) -> (BTreeSet<Column>, BTreeSet<String>) {
    store
        .with_connection(|conn| match conn {
            DbConnection::Sqlite(conn) => {
                let tables: Vec<Name> = diesel::sql_query(
                    "SELECT name FROM sqlite_master WHERE type = 'table' \
                     AND name NOT LIKE 'sqlite_%' AND name <> '__diesel_schema_migrations'",
                )
                .load(conn)
                .unwrap();
                let mut columns = BTreeSet::new();
                for table in tables {
                    let rows: Vec<SqliteColumn> =
                        diesel::sql_query(format!("PRAGMA table_info({})", table.name))
                            .load(conn)
                            .unwrap();
                    for row in rows {
                        // INTEGER PRIMARY KEY is the rowid: never NULL, though not declared so.
                        let nullable = row.notnull == 0 && row.pk == 0;
                        columns.insert((
                            table.name.clone(),
                            row.name,
                            normalize(&row.kind),
                            nullable,
                        ));
                    }
                }
                let indexes: Vec<Name> = diesel::sql_query(
                    "SELECT name FROM sqlite_master WHERE type = 'index' \
                     AND name NOT LIKE 'sqlite_autoindex_%'",
                )
                .load(conn)
                .unwrap();
                (
                    columns,
                    indexes.into_iter().map(|index| index.name).collect(),
                )
            }
            DbConnection::Postgresql(conn) => {
                let rows: Vec<PgColumn> = diesel::sql_query(
                    "SELECT table_name::text AS table_name, column_name::text AS column_name, \
                     data_type::text AS data_type, is_nullable::text AS is_nullable \
                     FROM information_schema.columns WHERE table_schema = 'public' \
                     AND table_name <> '__diesel_schema_migrations'",
                )
                .load(conn)
                .unwrap();
                let columns = rows
                    .into_iter()
                    .map(|row| {
                        (
                            row.table_name,
                            row.column_name,
                            normalize(&row.data_type),
                            row.is_nullable == "YES",
                        )
                    })
                    .collect();
                // Named indexes only: primary keys and UNIQUE constraints are compared as columns
                // by the conformance suite's behaviour, and their generated names differ.
                let indexes: Vec<Name> = diesel::sql_query(
                    "SELECT indexname::text AS name FROM pg_indexes WHERE schemaname = 'public' \
                     AND indexname NOT LIKE '%_pkey' AND indexname NOT LIKE '%_key'",
                )
                .load(conn)
                .unwrap();
                (
                    columns,
                    indexes.into_iter().map(|index| index.name).collect(),
                )
            }
        })
        .unwrap()
}

fn up_down_up(db: &TestDb) {
    let before = describe(&db.store);
    assert!(!before.0.is_empty());
    db.store.revert_migrations(None).unwrap();
    let (columns, indexes) = describe(&db.store);
    assert!(columns.is_empty(), "down left columns behind: {columns:?}");
    assert!(indexes.is_empty(), "down left indexes behind: {indexes:?}");
    db.store.run_migrations().unwrap();
    assert_eq!(describe(&db.store), before);
}

#[test]
fn sqlite_migrations_go_up_down_and_up_again() {
    up_down_up(&TestDb::sqlite());
}

#[test]
fn postgres_migrations_go_up_down_and_up_again() {
    let Some(db) = TestDb::postgres() else { return };
    up_down_up(&db);
}

#[test]
fn both_dialects_yield_the_same_schema() {
    let Some(postgres) = TestDb::postgres() else {
        return;
    };
    let sqlite = TestDb::sqlite();
    let (sqlite_columns, sqlite_indexes) = describe(&sqlite.store);
    let (postgres_columns, postgres_indexes) = describe(&postgres.store);
    let only_sqlite: Vec<_> = sqlite_columns.difference(&postgres_columns).collect();
    let only_postgres: Vec<_> = postgres_columns.difference(&sqlite_columns).collect();
    assert!(
        only_sqlite.is_empty() && only_postgres.is_empty(),
        "columns differ:\n only in SQLite: {only_sqlite:#?}\n only in PostgreSQL: {only_postgres:#?}"
    );
    // PostgreSQL alone has a trigram index for name searches (pg_trgm; SQLite has no such
    // index type and scans its covering index instead).
    let mut postgres_indexes = postgres_indexes;
    assert!(
        postgres_indexes.remove("recipes_name_trigrams"),
        "pg_trgm ships with PostgreSQL: the name-search index should exist"
    );
    assert_eq!(sqlite_indexes, postgres_indexes);
    let tables: BTreeSet<&str> = sqlite_columns
        .iter()
        .map(|column| column.0.as_str())
        .collect();
    assert_eq!(tables.len(), 21, "{tables:?}");
}

/// The migration that made md5 optional keeps every recorded md5 going up and down, and its
/// down refuses (changing nothing) while any blob or file has none.
fn md5_survives_its_migration(db: &TestDb) {
    let store = &db.store;
    let project = store
        .create_project("group/md5", Visibility::Public)
        .unwrap()
        .id;
    let owner = |revision: &str| {
        FileOwner::Recipe(RecipeRevisionKey {
            project,
            recipe: "zlib/1.3".parse().unwrap(),
            revision: revision.parse().unwrap(),
        })
    };
    let record = |owner: &FileOwner, content: &[u8], with_md5: bool| {
        let digests = Digests {
            md5: with_md5.then(|| md5_hex(content)),
            ..Digests::of(content)
        };
        for name in ["conanfile.py", "conanmanifest.txt"] {
            let path: FilePath = name.parse().unwrap();
            let file = NewFile {
                path: &path,
                digests: &digests,
                conaninfo: None,
                upload: None,
                same_files_as: None,
                revision_time: None,
            };
            store.record_file(owner, file, &mut || Ok(())).unwrap();
        }
        digests
    };
    let eager = owner("1111111111111111111111111111111111111111");
    let recorded = record(&eager, b"recorded with its md5", true);
    let md5s = || -> Vec<Option<String>> {
        let files = store.files(&eager).unwrap().unwrap();
        files.into_iter().map(|file| file.digests.md5).collect()
    };
    let expected = vec![recorded.md5.clone(); 2];
    assert_eq!(md5s(), expected);

    // The migrations after `lazy_md5` come off first, so each revert below reaches it.
    let later = migrations_after_lazy_md5();
    store.revert_migrations(Some(later + 1)).unwrap();
    store.run_migrations().unwrap();
    assert_eq!(md5s(), expected);
    assert_eq!(store.blob_md5(&recorded.sha256).unwrap(), recorded.md5);

    let lazy = owner("2222222222222222222222222222222222222222");
    let pending = record(&lazy, b"recorded without", false);
    store.revert_migrations(Some(later)).unwrap();
    let before = describe(store);
    assert!(store.revert_migrations(Some(1)).is_err());
    assert_eq!(describe(store), before);
    store.run_migrations().unwrap();
    assert_eq!(md5s(), expected);
    assert_eq!(store.blob_md5(&pending.sha256).unwrap(), None);
    assert_eq!(store.files(&lazy).unwrap().unwrap().len(), 2);
}

/// How many migrations come after `2026-12-03-000002_lazy_md5`.
fn migrations_after_lazy_md5() -> usize {
    let folder = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations/sqlite");
    std::fs::read_dir(folder)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|name| name.as_str() > "2026-12-03-000002_lazy_md5")
        .count()
}

#[test]
fn sqlite_md5_survives_its_migration() {
    md5_survives_its_migration(&TestDb::sqlite());
}

#[test]
fn postgres_md5_survives_its_migration() {
    let Some(db) = TestDb::postgres() else { return };
    md5_survives_its_migration(&db);
}
