//! The source backups page: a project's backups, a page at a time, to whoever may read the
//! project, with the references their summaries name and the settings Conan needs.

use actix_web::http::StatusCode;
use conan_store::BackupStore;
use conan_store::blob::{Digests, Sha256Hex};

use crate::registry_tests;
use crate::sessions::Browser;

registry_tests! {
    async fn readers_see_a_projects_backups_a_page_at_a_time(registry: &Registry) {
        let store: &dyn BackupStore = registry.store();
        let content = b"zlib-1.3.tar.gz, as GitHub served it";
        let digests = Digests::of(content);
        store.record_backup_file(registry.public.id, &digests, &mut || Ok(())).unwrap();
        store
            .record_backup_summary(
                registry.public.id,
                &digests.sha256,
                r#"{"references": {"zlib/1.3": ["https://github.com/madler/zlib/releases/zlib-1.3.tar.gz"]}}"#,
            )
            .unwrap();
        // 25 more, summaries only: two pages in all.
        for n in 0..25 {
            let sha256 = Sha256Hex::parse(&format!("{n:064x}")).unwrap();
            store.record_backup_summary(registry.public.id, &sha256, "{}").unwrap();
        }
        store.record_backup_summary(registry.private.id, &digests.sha256, "{}").unwrap();
        let app = registry.app().await;
        let page = "/-/web/projects/demo/packages/-/backups";

        let first = Browser::default().get(&app, page).await;
        let body = first.ok();
        assert!(body.contains("(summary only)"), "{body}");
        assert!(body.contains("rel=\"next\""), "{body}");
        assert!(!body.contains(digests.sha256.as_str()), "the file's sha256 sorts last: {body}");
        assert!(body.contains(&format!(
            "core.sources:upload_url=https://registry.example/api/v4/projects/{}/packages/conan/backups/",
            registry.public.id.0
        )), "{body}");
        let second = Browser::default().get(&app, &format!("{page}?page=2")).await;
        let body = second.ok();
        assert!(body.contains(&format!("backups/{}\"", digests.sha256)), "{body}");
        assert!(body.contains("<code>zlib/1.3</code>"), "{body}");
        assert!(body.contains(&format!("title=\"{} bytes\"", content.len())), "{body}");
        assert!(!body.contains("rel=\"next\""), "{body}");
        Browser::default().get(&app, &format!("{page}?page=3")).await.expect(StatusCode::NOT_FOUND);
        Browser::default().get(&app, &format!("{page}?page=0")).await.expect(StatusCode::BAD_REQUEST);

        // A private project's backups are as hidden as the project.
        Browser::default().get(&app, "/-/web/projects/demo/private/-/backups").await.expect(StatusCode::NOT_FOUND);
    }
}
