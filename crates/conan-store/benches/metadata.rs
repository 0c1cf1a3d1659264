//! Metadata benchmark: `latest` lookup, revision listing and recipe search with 100,000 recipes,
//! on SQLite and (when `CONAN_REGISTRY_TEST_POSTGRES_URL` is set) on PostgreSQL.
//!
//! Run: `cargo bench -p conan-store --bench metadata` (docs/BENCHMARKS.md records the figures).
//! Not a test: it measures and prints, and asserts nothing about time. Without `--bench` on its
//! command line (as when `cargo test --all-targets` or nextest list it) it exits at once.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::print_stdout,
    clippy::cast_precision_loss,
    clippy::cast_sign_loss,
    reason = "a benchmark binary: panics are failures, printing is its output, figures are approximate"
)]

use std::fmt::Write as _;

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use conan_model::{CaseSensitivity, RecipeReference, SearchPattern};
use conan_store::db::{DbConnection, DieselStore};
use conan_store::{IdentityStore, ProjectId, RecipeStore, SearchScope, SearchStore, Visibility};
use diesel::connection::SimpleConnection;

const RECIPES: usize = 100_000;
const REVISIONS_PER_RECIPE: usize = 3;
const QUERIES: usize = 2_000;

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        return;
    }
    let recipes = std::env::var("BENCH_RECIPES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(RECIPES);
    println!(
        "metadata benchmark: {recipes} recipes x {REVISIONS_PER_RECIPE} revisions, {QUERIES} queries per row"
    );
    println!(
        "{:<10} {:<28} {:>10} {:>10} {:>10}",
        "backend", "operation", "p50 us", "p99 us", "ops/s"
    );
    let sqlite = support::TestDb::sqlite();
    run("sqlite", &sqlite.store, recipes);
    if std::env::var(support::POSTGRES_URL_VAR).is_ok() {
        let postgres = support::TestDb::postgres().unwrap();
        run("postgres", &postgres.store, recipes);
    } else {
        println!("postgres: skipped (set {})", support::POSTGRES_URL_VAR);
    }
}

fn run(backend: &str, store: &DieselStore, recipes: usize) {
    let project = store
        .create_project("bench/project", Visibility::Public)
        .unwrap()
        .id;
    let started = Instant::now();
    populate(store, project, recipes);
    println!(
        "{backend:<10} {:<28} {:>10.1}s",
        "populate",
        started.elapsed().as_secs_f64()
    );

    // Spread the lookups over the whole table rather than its first rows.
    let name_of = |i: usize| {
        let j = i * 7_919 % recipes;
        format!("pkg{j:06}/1.{}.0", j % 10)
    };
    let reference = |i: usize| -> RecipeReference { name_of(i).parse().unwrap() };
    measure(backend, "latest recipe revision", |i| {
        assert!(
            store
                .latest_recipe_revision(project, &reference(i))
                .unwrap()
                .is_some()
        );
    });
    measure(backend, "recipe revisions (3)", |i| {
        assert_eq!(
            store
                .recipe_revisions(project, &reference(i))
                .unwrap()
                .len(),
            REVISIONS_PER_RECIPE
        );
    });
    let scope = SearchScope::Projects(vec![project]);
    measure(backend, "search exact name", |i| {
        let pattern = SearchPattern::new(
            &format!("pkg{:06}", i * 7_919 % recipes),
            CaseSensitivity::Insensitive,
        )
        .unwrap();
        assert_eq!(
            store.search_recipes(&scope, &pattern, 500).unwrap().len(),
            1
        );
    });
    measure(backend, "search prefix wildcard", |i| {
        let pattern = SearchPattern::new(
            &format!("pkg{:04}*", i * 7_919 % (recipes / 100).max(1)),
            CaseSensitivity::Insensitive,
        )
        .unwrap();
        assert!(
            !store
                .search_recipes(&scope, &pattern, 500)
                .unwrap()
                .is_empty()
        );
    });
    measure(backend, "search * (capped 500)", |_| {
        let pattern = SearchPattern::new("*", CaseSensitivity::Insensitive).unwrap();
        assert_eq!(
            store.search_recipes(&scope, &pattern, 500).unwrap().len(),
            500.min(recipes)
        );
    });
}

/// Bulk-loads committed recipes and revisions with plain SQL (the trait API commits one file
/// per transaction, which would make loading the benchmark slower than running it).
fn populate(store: &DieselStore, project: ProjectId, recipes: usize) {
    store
        .with_connection(|conn| {
            let mut sql = String::from("BEGIN;");
            for chunk in (0..recipes).collect::<Vec<_>>().chunks(1_000) {
                sql.push_str("INSERT INTO recipes (project_id, name, version, user_name, channel, created_at, updated_at) VALUES ");
                let rows: Vec<String> = chunk
                    .iter()
                    .map(|i| format!("({}, 'pkg{i:06}', '1.{}.0', '', '', 1, 1)", project.0, i % 10))
                    .collect();
                sql.push_str(&rows.join(","));
                sql.push(';');
            }
            write!(
                sql,
                "INSERT INTO recipe_revisions (recipe_id, revision, committed_at, created_at) \
                 SELECT id, '{}', 1000000, 1 FROM recipes;",
                "a".repeat(32)
            )
            .unwrap();
            for n in 1..REVISIONS_PER_RECIPE {
                write!(
                    sql,
                    "INSERT INTO recipe_revisions (recipe_id, revision, committed_at, created_at) \
                     SELECT id, '{n:032x}', {}, 1 FROM recipes;",
                    1_000_000 + n
                )
                .unwrap();
            }
            sql.push_str("COMMIT;");
            match conn {
                DbConnection::Sqlite(c) => c.batch_execute(&sql),
                DbConnection::Postgresql(c) => c.batch_execute(&format!("{sql} ANALYZE;")),
            }
        })
        .unwrap()
        .unwrap();
}

fn measure(backend: &str, operation: &str, mut query: impl FnMut(usize)) {
    for i in 0..QUERIES / 10 {
        query(i);
    }
    let mut samples: Vec<Duration> = Vec::with_capacity(QUERIES);
    let started = Instant::now();
    for i in 0..QUERIES {
        let one = Instant::now();
        query(i);
        samples.push(one.elapsed());
    }
    let total = started.elapsed();
    samples.sort();
    let percentile = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "{backend:<10} {operation:<28} {:>10.0} {:>10.0} {:>10.0}",
        percentile(0.50).as_secs_f64() * 1e6,
        percentile(0.99).as_secs_f64() * 1e6,
        QUERIES as f64 / total.as_secs_f64()
    );
}
