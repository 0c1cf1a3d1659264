//! The macro that runs each test of an interface crate on SQLite and on PostgreSQL. Included
//! with `#[path]` by the tests of crates whose `support` module has a `Registry` with
//! `sqlite()` and `postgres()` constructors (conan-packages-api, conan-web).

/// Declares each test once and runs it on SQLite and on PostgreSQL:
/// `registry_tests! { async fn name(registry: &Registry) { ... } }`.
#[macro_export]
macro_rules! registry_tests {
    ($(async fn $name:ident($registry:ident: &Registry) $body:block)+) => {
        mod sqlite {
            $(
                #[actix_web::test]
                async fn $name() {
                    super::cases::$name(&$crate::support::Registry::sqlite()).await;
                }
            )+
        }

        mod postgres {
            $(
                #[actix_web::test]
                async fn $name() {
                    let Some(registry) = $crate::support::Registry::postgres() else { return };
                    super::cases::$name(&registry).await;
                }
            )+
        }

        mod cases {
            #[allow(unused_imports, reason = "not every test uses every import")]
            use super::*;
            $(
                pub(super) async fn $name($registry: &$crate::support::Registry) $body
            )+
        }
    };
}
