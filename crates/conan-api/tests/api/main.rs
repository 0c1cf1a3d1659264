//! The Conan v1 and v2 APIs through `actix_web::test`: every route at both prefixes, over a real diesel
//! store on SQLite and the in-memory blob store, with snapshots of the bodies in
//! `tests/snapshots/`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    clippy::too_many_lines,
    unreachable_pub,
    reason = "test code: a panic is the failure report"
)]

mod support;

mod access;
mod flow;
mod hostile;
mod login_limits;
mod protection;
mod remote;
mod search;
mod users;
mod v1;
mod virtuals;
mod wire;
