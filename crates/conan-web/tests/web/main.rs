//! The web pages through `actix_web::test`, over the real diesel store on a temporary SQLite
//! file and, when `CONAN_REGISTRY_TEST_POSTGRES_URL` is set, on PostgreSQL (each test on both,
//! see `registry_tests!`), with a memory blob store holding the files uploaded for real.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    clippy::too_many_lines,
    unreachable_pub,
    reason = "test code: a panic is the failure report"
)]

// conan-store's test databases and upload fixtures, shared rather than copied.
#[path = "../../../conan-store/tests/support/mod.rs"]
mod db;
#[path = "../../../conan-store/tests/fixtures/mod.rs"]
mod fixtures;
#[path = "../../../conan-store/tests/support/registry_tests.rs"]
mod registry_tests;
mod support;

mod access;
mod admin;
mod backups;
mod cleanup;
mod deletes;
mod lists;
mod pages;
mod safety;
mod sessions;
mod settings;
mod storage;
