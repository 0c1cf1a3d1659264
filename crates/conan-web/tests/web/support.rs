//! A registry for one test: the real diesel store (SQLite or PostgreSQL), a memory blob store,
//! the web state, a public and a private project; helpers to upload real files, send requests
//! and read pages; and the macro that runs each test on both databases.

use std::sync::Arc;

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::{App, test, web};
use bytes::Bytes;
use conan_auth::{AuthConfig, Authenticator, admin};
use conan_store::blob::{BlobStore, BlobStoreConfig, open_blob_store};
use conan_store::db::DieselStore;
use conan_store::transfer::{Destination, store_file};
use conan_store::{
    FileOwner, IdentityStore, MetadataStore, PackageRevisionKey, Project, RecipeRevisionKey,
    Visibility,
};
use conan_web::WebState;
use futures::StreamExt as _;

use crate::db::TestDb;
use crate::fixtures::{path, pkg, reference, rev};

/// The URL clients reach the registry at (`api.external_url`).
pub const EXTERNAL_URL: &str = "https://registry.example";

/// A registry on a fresh database.
/// The key the tests' web state seals upstream credentials with.
pub const CREDENTIALS_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";

pub struct Registry {
    /// The database (dropped with the registry).
    pub db: TestDb,
    /// The blobs.
    pub blobs: Arc<dyn BlobStore>,
    /// What the pages run on.
    pub state: web::Data<WebState>,
    /// `demo/packages`, public.
    pub public: Project,
    /// `demo/private`, private.
    pub private: Project,
    /// `demo/internal`, internal (members and signed-in users only).
    pub internal: Project,
}

impl Registry {
    /// A registry on SQLite.
    pub fn sqlite() -> Self {
        Self::on(TestDb::sqlite())
    }

    /// A registry on PostgreSQL, when a server is configured.
    pub fn postgres() -> Option<Self> {
        TestDb::postgres().map(Self::on)
    }

    fn on(db: TestDb) -> Self {
        let identity: &dyn IdentityStore = &db.store;
        let public = admin::create_project(identity, "demo/packages", Visibility::Public).unwrap();
        let private = admin::create_project(identity, "demo/private", Visibility::Private).unwrap();
        let internal =
            admin::create_project(identity, "demo/internal", Visibility::Internal).unwrap();
        let metadata: Arc<dyn MetadataStore> = Arc::new(db.store.clone());
        let blobs = open_blob_store(&BlobStoreConfig::Memory).unwrap();
        let auth = Authenticator::new(metadata.clone(), AuthConfig::default());
        auth.ensure_signing_key().unwrap();
        let state = web::Data::new(WebState {
            metadata: Arc::clone(&metadata),
            blobs: Arc::clone(&blobs),
            auth,
            external_url: Some(format!("{EXTERNAL_URL}/")),
            credentials_key: Some(Arc::new(
                conan_remote::CredentialKey::from_base64(CREDENTIALS_KEY).unwrap(),
            )),
        });
        Self {
            db,
            blobs,
            state,
            public,
            private,
            internal,
        }
    }

    /// The store, to arrange data.
    pub fn store(&self) -> &DieselStore {
        &self.db.store
    }

    /// The service under test: the pages alone.
    pub async fn app(
        &self,
    ) -> impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>
    {
        test::init_service(
            App::new()
                .app_data(self.state.clone())
                .configure(conan_web::configure),
        )
        .await
    }

    /// Stores one file for real (blob and metadata), as an upload does.
    pub async fn put(&self, owner: &FileOwner, file: &str, content: &str) {
        let body = futures::stream::once({
            let bytes = Bytes::from(content.to_owned());
            async move { Ok::<_, std::io::Error>(bytes) }
        })
        .boxed();
        store_file(
            Arc::new(self.db.store.clone()),
            Arc::clone(&self.blobs),
            Destination {
                owner: owner.clone(),
                path: path(file),
                upload: None,
                revision_time: None,
            },
            body,
            u64::MAX,
            None,
        )
        .await
        .unwrap();
    }

    /// Uploads recipe revision `revision` of `recipe` in `project` with `conanfile` as its
    /// `conanfile.py` (and any `extra` files), manifest last.
    pub async fn upload_recipe(
        &self,
        project: &Project,
        recipe: &str,
        revision: u32,
        conanfile: &str,
        extra: &[&str],
    ) -> RecipeRevisionKey {
        let key = RecipeRevisionKey {
            project: project.id,
            recipe: reference(recipe),
            revision: rev(revision),
        };
        let owner = FileOwner::Recipe(key.clone());
        self.put(&owner, "conanfile.py", conanfile).await;
        self.put(&owner, "conan_export.tgz", "export").await;
        for file in extra {
            self.put(&owner, file, "extra").await;
        }
        self.put(
            &owner,
            "conanmanifest.txt",
            &format!("1\nconanfile.py: {revision}\n"),
        )
        .await;
        key
    }

    /// Uploads package revision `revision` of package `package` with `conaninfo`.
    pub async fn upload_package(
        &self,
        recipe: &RecipeRevisionKey,
        package: u32,
        revision: u32,
        conaninfo: &str,
    ) -> PackageRevisionKey {
        let key = PackageRevisionKey {
            recipe: recipe.clone(),
            package_id: pkg(package),
            revision: rev(revision),
        };
        let owner = FileOwner::Package(key.clone());
        self.put(&owner, "conaninfo.txt", conaninfo).await;
        self.put(
            &owner,
            "conan_package.tgz",
            &format!("binary {package} {revision}"),
        )
        .await;
        self.put(
            &owner,
            "conanmanifest.txt",
            &format!("1\nconaninfo.txt: {revision}\n"),
        )
        .await;
        key
    }
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }

    /// The body of an answer that must have `status`.
    pub fn expect(&self, status: StatusCode) -> &str {
        assert_eq!(self.status, status, "body: {}", self.body);
        &self.body
    }

    /// The body of a 200 page.
    pub fn ok(&self) -> &str {
        self.expect(StatusCode::OK)
    }

    /// How many times `needle` occurs in the body.
    pub fn count(&self, needle: &str) -> usize {
        self.body.matches(needle).count()
    }
}

/// `GET uri`, read whole.
pub async fn get<S, B>(app: &S, uri: &str) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, "GET", uri).await
}

/// `method uri`, read whole.
pub async fn send<S, B>(app: &S, method: &str, uri: &str) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let method = actix_web::http::Method::from_bytes(method.as_bytes()).unwrap();
    call(app, test::TestRequest::default().method(method).uri(uri)).await
}

/// Sends `request`, read whole.
pub async fn call<S, B>(app: &S, request: test::TestRequest) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = test::call_service(app, request.to_request()).await;
    let status = response.status();
    let headers = response.headers().clone();
    let body = test::read_body(response).await;
    Reply {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// A package's web path in `project`.
pub fn recipe_page(project: &Project, reference: &str) -> String {
    let reference = reference.parse::<conan_model::RecipeReference>().unwrap();
    format!(
        "/-/web/projects/{}/-/recipes/{}",
        project.path,
        reference.url_path()
    )
}
