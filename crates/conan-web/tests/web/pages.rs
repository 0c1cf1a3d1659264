//! What each page shows: the recipe's declared attributes, revisions, install lines, the
//! binaries table and its setting filter, the package revision's files and download links, and
//! the remote commands.

use conan_auth::admin;
use conan_model::RevisionTime;
use conan_store::remotes::RemoteSettings;
use conan_store::{
    FileOwner, FileStore, IdentityStore, RemoteStore, Role, VirtualLayout, VirtualStore, Visibility,
};

use crate::fixtures::path;
use crate::registry_tests;
use crate::sessions::signed_in;
use crate::support::{EXTERNAL_URL, get, recipe_page};

const CONANFILE: &str = r#"
from conan import ConanFile

class Zlib(ConanFile):
    name = "zlib"
    description = ("A massively spiffy yet delicately unobtrusive "
                   "compression library")
    license = "Zlib"
    homepage = "https://zlib.net"
    topics = ("zlib", "compression")
    author = some_function()
"#;

const LINUX: &str = "[settings]\narch=x86_64\nbuild_type=Release\nos=Linux\n[options]\nshared=False\n[requires]\nbzip2/1.0.Z\n";
const WINDOWS: &str =
    "[settings]\narch=x86_64\nbuild_type=Debug\nos=Windows\n[options]\nshared=True\n";

registry_tests! {
    async fn the_recipe_page_shows_what_the_conanfile_declares_and_how_to_use_it(registry: &Registry) {
        registry.upload_recipe(&registry.public, "zlib/1.3", 1, "# old", &[]).await;
        registry.upload_recipe(&registry.public, "zlib/1.3", 2, CONANFILE, &[]).await;
        let app = registry.app().await;
        let page = get(&app, &recipe_page(&registry.public, "zlib/1.3")).await;
        let body = page.ok();
        assert!(body.contains("<h1>zlib/1.3</h1>"), "{body}");
        assert!(body.contains("A massively spiffy yet delicately unobtrusive compression library"));
        assert!(body.contains("<dd>Zlib</dd>"));
        assert!(body.contains("<a href=\"https://zlib.net\""));
        assert!(body.contains("<dd>zlib, compression</dd>"));
        assert!(!body.contains("some_function"), "a computed value is left out");
        assert!(body.contains("conan install --requires=zlib/1.3 -r demo-packages"));
        assert!(body.contains("[requires]\nzlib/1.3\n"));
        // Both revisions, newest first, each linking its own page.
        let (newest, oldest) = (format!("{:032x}", 2), format!("{:032x}", 1));
        assert!(body.find(&newest).unwrap() < body.find(&oldest).unwrap());
        assert!(body.contains(&format!("/-/web/projects/demo/packages/-/recipes/zlib/1.3/_/_/revisions/{newest}\"")));
    }

    async fn remote_and_virtual_projects_say_what_they_are(registry: &Registry) {
        let store = registry.store();
        let upstream = RemoteSettings {
            upstream_url: "https://center.example:8443/api/conan/internal-path".to_owned(),
            sealed_credentials: None,
            metadata_ttl_secs: 300,
            not_found_ttl_secs: 60,
            updated_at: None,
        };
        let now = RevisionTime::from_system_time(std::time::SystemTime::now()).unwrap();
        store.set_remote(registry.public.id, &upstream, now).unwrap();
        let maint = admin::create_user(store, "maint", Some("password1"), false).unwrap();
        store.set_membership(registry.public.id, maint.id, Role::Maintainer).unwrap();
        let all = store.create_virtual_project("demo/all", Visibility::Public).unwrap();
        let layout = VirtualLayout {
            members: vec![registry.private.id, registry.public.id],
            deploy: Some(registry.private.id),
        };
        store.set_virtual_layout(all.id, &VirtualLayout::default(), &layout).unwrap();
        let app = registry.app().await;

        // Readers learn the upstream's host; those who manage the project its URL.
        let body = get(&app, "/-/web/projects/demo/packages").await.ok().to_owned();
        assert!(body.contains("A remote project") && body.contains("center.example:8443"), "{body}");
        assert!(!body.contains("internal-path"), "{body}");
        let mut maintainer = signed_in(&app, "maint").await;
        assert!(maintainer.get(&app, "/-/web/projects/demo/packages").await.ok().contains(&upstream.upstream_url));

        // A virtual project names the members the visitor may read, never the others.
        let body = get(&app, "/-/web/projects/demo/all").await.ok().to_owned();
        assert!(body.contains("A virtual project"), "{body}");
        assert!(body.contains("href=\"/-/web/projects/demo/packages\""), "{body}");
        assert!(!body.contains("demo/private") && !body.contains("Uploads go to"), "{body}");
    }

    async fn the_project_page_gives_the_exact_remote_commands(registry: &Registry) {
        registry.upload_recipe(&registry.public, "zlib/1.3@team/stable", 1, "x", &[]).await;
        let app = registry.app().await;
        let page = get(&app, "/-/web/projects/demo/packages").await;
        let body = page.ok();
        let id = registry.public.id.0;
        assert!(body.contains(&format!("conan remote add demo-packages {EXTERNAL_URL}/api/v4/projects/{id}/packages/conan\n")), "{body}");
        assert!(body.contains("conan remote login demo-packages YOUR_USERNAME -p YOUR_ACCESS_TOKEN"));
        assert!(body.contains(&format!("conan remote add conan-registry {EXTERNAL_URL}/api/v4/packages/conan\n")));
        assert!(body.contains("name/version@demo+packages/channel"));
        assert!(body.contains(">team/stable<"));
        assert!(!body.contains("A remote project") && !body.contains("A virtual project"));
    }

    async fn the_binaries_table_shows_settings_and_filters_by_them(registry: &Registry) {
        let key = registry.upload_recipe(&registry.public, "zlib/1.3", 1, "x", &[]).await;
        registry.upload_package(&key, 1, 1, LINUX).await;
        registry.upload_package(&key, 2, 1, WINDOWS).await;
        registry.upload_package(&key, 2, 2, WINDOWS).await;
        let app = registry.app().await;
        let uri = format!("{}/revisions/{:032x}", recipe_page(&registry.public, "zlib/1.3"), 1);
        let (linux, windows) = (format!("{:040x}", 1), format!("{:040x}", 2));
        let all = get(&app, &uri).await;
        let body = all.ok();
        for text in [
            "<code>os=Linux</code>", "<code>os=Windows</code>", "<code>shared=False</code>",
            "<code>bzip2/1.0.Z</code>", "<code>build_type=Debug</code>",
            // The filter offers each setting with its values, labelled.
            "name=\"settings.os\"", "<option value=\"Windows\">Windows</option>", "<label for=\"setting-",
        ] {
            assert!(body.contains(text), "{text} missing: {body}");
        }
        // The newest package revision of the Windows binary is the one linked, with its size.
        assert!(body.contains(&format!("/packages/{windows}/revisions/{:032x}\"", 2)));
        for (package, revision) in [(1, 1), (2, 2)] {
            let files = conan_store::FileStore::files(registry.store(), &conan_store::FileOwner::Package(crate::fixtures::package_key(&key, package, revision))).unwrap().unwrap();
            let size: u64 = files.iter().map(|file| file.digests.size).sum();
            assert!(body.contains(&format!("title=\"{size} bytes\"")), "{package}: {size} bytes missing: {body}");
        }
        let filtered = get(&app, &format!("{uri}?settings.os=Windows&settings.arch=x86_64")).await;
        let body = filtered.ok();
        assert!(body.contains(&windows) && !body.contains(&linux), "{body}");
        assert!(body.contains("1 of 2 binaries match"));
        assert!(body.contains("<option value=\"Windows\" selected>Windows</option>"));
        let none = get(&app, &format!("{uri}?settings.os=Macos")).await;
        assert!(none.ok().contains("No binary has these settings."));
        // An empty value (the form's "any") filters nothing.
        let any = get(&app, &format!("{uri}?settings.os=")).await;
        assert!(any.ok().contains(&linux) && any.body.contains(&windows));
    }

    async fn the_package_revision_page_lists_files_with_checksums_and_download_links(registry: &Registry) {
        let key = registry.upload_recipe(&registry.public, "zlib/1.3", 1, "x", &[]).await;
        let package = registry.upload_package(&key, 1, 1, LINUX).await;
        let app = registry.app().await;
        let uri = format!(
            "{}/revisions/{:032x}/packages/{:040x}/revisions/{:032x}",
            recipe_page(&registry.public, "zlib/1.3"), 1, 1, 1
        );
        let page = get(&app, &uri).await;
        let body = page.ok();
        let file = registry
            .store()
            .file(&FileOwner::Package(package), &path("conan_package.tgz"))
            .unwrap()
            .unwrap();
        assert!(body.contains(&file.digests.sha1), "{body}");
        assert!(body.contains(file.digests.sha256.as_str()));
        let id = registry.public.id.0;
        assert!(body.contains(&format!(
            "href=\"/api/v4/projects/{id}/packages/conan/v2/conans/zlib/1.3/_/_/revisions/{:032x}/packages/{:040x}/revisions/{:032x}/files/conan_package.tgz\"",
            1, 1, 1
        )));
        // The configuration comes from the stored conaninfo.txt.
        assert!(body.contains("<code>os=Linux</code>") && body.contains("<code>bzip2/1.0.Z</code>"));
        // The recipe revision page lists the recipe's files the same way.
        let revision = get(&app, &format!("{}/revisions/{:032x}", recipe_page(&registry.public, "zlib/1.3"), 1)).await;
        assert!(revision.ok().contains(&format!(
            "href=\"/api/v4/projects/{id}/packages/conan/v2/conans/zlib/1.3/_/_/revisions/{:032x}/files/conanfile.py\"",
            1
        )));
    }
}
