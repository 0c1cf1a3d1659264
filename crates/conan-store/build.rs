//! Rebuilds the crate when a migration folder gains or loses a migration: `embed_migrations!`
//! reads the folders at compile time, and cargo tracks only the files it already included.

fn main() {
    println!("cargo:rerun-if-changed=migrations");
    println!("cargo:rerun-if-changed=migrations/sqlite");
    println!("cargo:rerun-if-changed=migrations/postgres");
}
