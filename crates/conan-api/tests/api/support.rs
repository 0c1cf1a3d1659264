//! A registry for one test: a real diesel store on a temporary SQLite file, the in-memory blob
//! store, an authenticator, three projects and a caller for every role; plus request and
//! response helpers.

use std::sync::Arc;

use actix_http::Request;
use actix_web::body::{BodySize, MessageBody};
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::{App, test, web};
use bytes::Bytes;
use conan_api::{ApiConfig, AppState, RemoteProjects};
use conan_auth::admin;
use conan_auth::{AuthConfig, Authenticator, Scope};
use conan_model::RevisionTime;
use conan_store::blob::{BlobStoreConfig, open_blob_store};
use conan_store::db::{DatabaseConfig, DieselStore};
use conan_store::{IdentityStore, MetadataStore, Project, Role, Visibility};
use serde_json::Value;
use sha1::Digest as _;

/// The instance prefix.
pub const INSTANCE: &str = "/api/v4/packages/conan";

/// A password some tests log in with.
pub const PASSWORD: &str = "correct horse battery staple";

/// The `Authorization` header values of the callers.
pub struct Callers {
    /// An instance administrator, member of nothing.
    pub admin: String,
    /// Owner of every project.
    pub owner: String,
    /// Maintainer of every project.
    pub maintainer: String,
    /// Developer of every project.
    pub developer: String,
    /// Reporter of every project.
    pub reporter: String,
    /// Guest of every project.
    pub guest: String,
    /// A user who is a member of nothing.
    pub outsider: String,
    /// A read-only deploy token of the private project.
    pub deploy_read: String,
    /// A read-write deploy token of the private project.
    pub deploy_write: String,
}

/// A registry on fresh stores.
pub struct Registry {
    /// The database file and, for [`Registry::with_file_blobs`], the blobs.
    dir: tempfile::TempDir,
    /// What the API runs on.
    pub state: web::Data<AppState>,
    /// `group/public`.
    pub public: Project,
    /// `group/private`.
    pub private: Project,
    /// `group/internal`.
    pub internal: Project,
    /// One caller per role.
    pub callers: Callers,
}

impl Registry {
    /// The project URL of recipe revision `aaaa…` of `zlib/1.3` in the public project.
    pub fn public_revision(&self) -> String {
        format!(
            "{}/v2/conans/zlib/1.3/_/_/revisions/{}",
            project_base(&self.public),
            rrev('a')
        )
    }

    /// A registry with the default settings.
    pub fn new() -> Self {
        Self::with_config(ApiConfig::default())
    }

    /// A registry with `config`.
    pub fn with_config(config: ApiConfig) -> Self {
        Self::with_configs(config, AuthConfig::default())
    }

    /// A registry with `auth` as the authentication settings.
    pub fn with_auth_config(auth: AuthConfig) -> Self {
        Self::with_configs(ApiConfig::default(), auth)
    }

    /// A registry with both settings.
    pub fn with_configs(config: ApiConfig, auth_config: AuthConfig) -> Self {
        Self::build(config, auth_config, false)
    }

    /// A registry with `config` whose blobs are files under [`Registry::blob_root`].
    pub fn with_file_blobs(config: ApiConfig) -> Self {
        Self::build(config, AuthConfig::default(), true)
    }

    /// Where a registry of [`Registry::with_file_blobs`] keeps its blobs.
    pub fn blob_root(&self) -> std::path::PathBuf {
        self.dir.path().join("blobs")
    }

    fn build(config: ApiConfig, auth_config: AuthConfig, file_blobs: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("registry.db").display());
        let store = Arc::new(
            DieselStore::open(&DatabaseConfig {
                url,
                ..DatabaseConfig::default()
            })
            .unwrap(),
        );
        let identity: &dyn IdentityStore = store.as_ref();
        let public = admin::create_project(identity, "group/public", Visibility::Public).unwrap();
        let private =
            admin::create_project(identity, "group/private", Visibility::Private).unwrap();
        let internal =
            admin::create_project(identity, "group/internal", Visibility::Internal).unwrap();

        let token = |username: &str, is_admin: bool, role: Option<Role>| {
            let password = (username == "alice").then_some(PASSWORD);
            let user = admin::create_user(identity, username, password, is_admin).unwrap();
            if let Some(role) = role {
                for project in [&public, &private, &internal] {
                    identity.set_membership(project.id, user.id, role).unwrap();
                }
            }
            let created =
                admin::create_personal_token(identity, user.id, "test", &[Scope::Api], None)
                    .unwrap();
            format!("Bearer {}", created.secret)
        };
        let deploy = |scope: Scope| {
            let created =
                admin::create_deploy_token(identity, &private, None, "deploy", &[scope], None)
                    .unwrap();
            format!("Bearer {}", created.secret)
        };
        let callers = Callers {
            admin: token("root", true, None),
            owner: token("olivia", false, Some(Role::Owner)),
            maintainer: token("alice", false, Some(Role::Maintainer)),
            developer: token("dave", false, Some(Role::Developer)),
            reporter: token("rita", false, Some(Role::Reporter)),
            guest: token("gus", false, Some(Role::Guest)),
            outsider: token("otto", false, None),
            deploy_read: deploy(Scope::ReadPackageRegistry),
            deploy_write: deploy(Scope::WritePackageRegistry),
        };

        let metadata: Arc<dyn MetadataStore> = store.clone();
        let auth = Authenticator::new(metadata.clone(), auth_config);
        auth.ensure_signing_key().unwrap();
        let blobs = open_blob_store(&if file_blobs {
            BlobStoreConfig::Filesystem(conan_store::blob::FilesystemConfig {
                root: dir.path().join("blobs"),
            })
        } else {
            BlobStoreConfig::Memory
        })
        .unwrap();
        let state = web::Data::new(AppState {
            remotes: Arc::new(RemoteProjects::new(
                metadata.clone(),
                blobs.clone(),
                None,
                config.max_upload_size,
            )),
            metadata,
            blobs,
            auth,
            config,
            downloads: Arc::default(),
        });
        Self {
            dir,
            state,
            public,
            private,
            internal,
            callers,
        }
    }

    /// The service under test.
    pub async fn app(
        &self,
    ) -> impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>
    {
        test::init_service(
            App::new()
                .app_data(self.state.clone())
                .configure(conan_api::configure),
        )
        .await
    }
}

/// The project prefix of `project`.
pub fn project_base(project: &Project) -> String {
    format!("/api/v4/projects/{}/packages/conan", project.id)
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
    /// The length the server writes as `Content-Length` (actix-web adds that header when it
    /// writes a sized body, after the service answered).
    pub sized: Option<u64>,
}

impl Reply {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }

    /// The body as JSON, after checking the exact `Content-Type` the Conan client demands.
    pub fn json(&self) -> Value {
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "status {}, body {:?}",
            self.status,
            self.body
        );
        serde_json::from_slice(&self.body).unwrap()
    }

    /// The body of a GitLab structured error with `status`, checked for consistency.
    pub fn error(&self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "body {:?}", self.body);
        let body = self.json();
        let message = body["message"].as_str().unwrap();
        assert!(message.starts_with(status.as_str()), "{message}");
        assert_eq!(
            body["errors"],
            serde_json::json!([{
                "status": status.as_u16(),
                "message": message[4..],
            }])
        );
        body
    }

    /// Just the message of a structured error with `status`.
    pub fn message(&self, status: StatusCode) -> String {
        self.error(status)["message"].as_str().unwrap().to_owned()
    }

    /// A 200 JSON answer.
    pub fn ok_json(&self) -> Value {
        assert_eq!(self.status, StatusCode::OK, "body {:?}", self.body);
        self.json()
    }

    /// The body as text.
    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }
}

/// Sends `request` to `app` and reads the whole answer.
pub async fn send<S, B>(app: &S, request: test::TestRequest) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send_request(app, request.to_request()).await
}

/// Sends a prepared request to `app` and reads the whole answer.
pub async fn send_request<S, B>(app: &S, request: Request) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    let response = test::call_service(app, request).await;
    let status = response.status();
    let headers = response.headers().clone();
    let sized = match response.response().body().size() {
        BodySize::Sized(length) => Some(length),
        _ => None,
    };
    let body = test::read_body(response).await;
    Reply {
        status,
        headers,
        body,
        sized,
    }
}

/// A request with `method`, `uri` and, when given, an `Authorization` header.
pub fn request(method: &str, uri: &str, auth: Option<&str>) -> test::TestRequest {
    let request = match method {
        "GET" => test::TestRequest::get(),
        "PUT" => test::TestRequest::put(),
        "DELETE" => test::TestRequest::delete(),
        "POST" => test::TestRequest::post(),
        other => panic!("unsupported method {other}"),
    }
    .uri(uri);
    match auth {
        Some(value) => request.insert_header(("Authorization", value)),
        None => request,
    }
}

/// The sha1 of `bytes` in hex.
pub fn sha1_hex(bytes: &[u8]) -> String {
    format!("{:x}", sha1::Sha1::digest(bytes))
}

/// A PUT of `content` with its correct `X-Checksum-Sha1`.
pub fn put(uri: &str, content: &[u8], auth: &str) -> test::TestRequest {
    request("PUT", uri, Some(auth))
        .insert_header(("X-Checksum-Sha1", sha1_hex(content)))
        .set_payload(content.to_vec())
}

/// Uploads `files` in order under `base` (a recipe or package revision URL), expecting 200.
pub async fn upload<S, B>(app: &S, base: &str, files: &[(&str, &[u8])], auth: &str)
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    for (path, content) in files {
        let reply = send(app, put(&format!("{base}/files/{path}"), content, auth)).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {:?}", reply.body);
    }
}

/// Replaces every time in `value` (keys `time`, `created_at`, `updated_at`) with `[time]`,
/// after checking it has `RevisionTime`'s exact form (UTC, six fraction digits, `Z`).
pub fn redact(mut value: Value) -> Value {
    fn walk(value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, item) in map.iter_mut() {
                    if matches!(key.as_str(), "time" | "created_at" | "updated_at") {
                        let text = item.as_str().unwrap();
                        let parsed: RevisionTime = text.parse().unwrap();
                        assert_eq!(parsed.to_string(), text, "canonical form");
                        assert_eq!(text.len(), "2024-12-17T09:16:40.334123Z".len(), "{text}");
                        *item = Value::from("[time]");
                    } else {
                        walk(item);
                    }
                }
            }
            Value::Array(items) => items.iter_mut().for_each(walk),
            _ => {}
        }
    }
    walk(&mut value);
    value
}

/// Asserts a JSON snapshot in `tests/snapshots/`.
#[macro_export]
macro_rules! snap {
    ($name:expr, $value:expr) => {{
        let mut settings = insta::Settings::clone_current();
        settings.set_snapshot_path(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/snapshots"));
        settings.set_omit_expression(true);
        settings.bind(|| insta::assert_json_snapshot!($name, $value));
    }};
}

/// A few files a recipe revision holds, sorted the way the client uploads them (the manifest
/// last before metadata).
pub fn recipe_files() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("conan_export.tgz", b"\x1f\x8b export archive bytes\x00\xff"),
        (
            "conan_sources.tgz",
            b"\x1f\x8b sources archive bytes\x00\x01",
        ),
        (
            "conanfile.py",
            b"from conan import ConanFile\n\nclass Pkg(ConanFile):\n    name = 'zlib'\n",
        ),
        (
            "conanmanifest.txt",
            b"1734426000\nconanfile.py: 0123456789abcdef0123456789abcdef\n",
        ),
        ("metadata/logs/build.log", b"build ok\n"),
    ]
}

/// The files of a package revision, in the client's order.
pub fn package_files() -> Vec<(&'static str, &'static [u8])> {
    vec![
        (
            "conan_package.tgz",
            b"\x1f\x8b package archive bytes\x00\x02",
        ),
        (
            "conaninfo.txt",
            b"[settings]\narch=x86_64\nos=Linux\n[options]\nshared=False\n[requires]\nzstd/1.5.Z\n",
        ),
        (
            "conanmanifest.txt",
            b"1734426001\nconaninfo.txt: fedcba9876543210fedcba9876543210\n",
        ),
    ]
}

/// A recipe revision (32 hex digits) made of one repeated character.
pub fn rrev(c: char) -> String {
    c.to_string().repeat(32)
}

/// A package id (40 hex digits) made of one repeated character.
pub fn pkgid(c: char) -> String {
    c.to_string().repeat(40)
}
