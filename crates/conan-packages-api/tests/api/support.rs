//! A registry for one test: the real diesel store (SQLite or PostgreSQL), the Packages API's
//! state, three projects, a token for every role and every kind of bad token; plus request and
//! response helpers and the macro that runs each test on both databases.

use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_http::Request;
use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::http::header::HeaderMap;
use actix_web::web::Bytes;
use actix_web::{App, test, web};
use conan_auth::{AuthConfig, Authenticator, Scope, admin};
use conan_model::RevisionTime;
use conan_packages_api::RestState;
use conan_store::catalog::{
    COUNT_LIMIT, CatalogOrder, CatalogQuery, CatalogStatus, FileOrder, FileQuery,
};
use conan_store::cleanup::{
    CleanupRun, CleanupRunner, CleanupTotals, RemovedItem, RunObserver, RunSettings,
};
use conan_store::db::DieselStore;
use conan_store::{
    CatalogStore, CleanupStore, FileOwner, IdentityStore, MetadataStore, Project, ProtectionStore,
    RecipeId, Role, StoreError, TokenKind, Visibility,
};
use serde_json::Value;

use crate::db::TestDb;
use crate::fixtures::{package_key, put, recipe_key, upload_package, upload_recipe};

/// The URL clients reach the registry at (`api.external_url`).
pub const EXTERNAL_URL: &str = "https://registry.example";

/// Personal access tokens (`api` scope unless said otherwise) and the bad tokens.
pub struct Tokens {
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
    /// The maintainer's `read_api` token.
    pub read_api: String,
    /// The maintainer's revoked token.
    pub revoked: String,
    /// The maintainer's expired token.
    pub expired: String,
    /// A read-write deploy token of the public project.
    pub deploy: String,
}

/// A registry on a fresh database.
pub struct Registry {
    /// The database (dropped with the registry).
    pub db: TestDb,
    /// What the API runs on.
    pub state: web::Data<RestState>,
    /// `demo/packages`, public.
    pub public: Project,
    /// `demo/private`, private.
    pub private: Project,
    /// `demo/sub/nested`, public: a project in a subgroup of `demo`.
    pub nested: Project,
    /// One token per caller.
    pub tokens: Tokens,
    /// The ids of the cleanup runs the API carried out, as each ended (with whether it
    /// finished), from the runner's observer.
    pub runs_ended: Mutex<Receiver<(i64, bool)>>,
}

/// Tells the test when a run the API started in the background ended.
struct RunsEnded(Mutex<Sender<(i64, bool)>>);

impl RunObserver for RunsEnded {
    fn removed(&self, _: &CleanupRun, _: &RemovedItem) {}

    fn ended(&self, run: &CleanupRun, outcome: &Result<CleanupTotals, StoreError>) {
        let _ = self.0.lock().unwrap().send((run.id.0, outcome.is_ok()));
    }
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
        let nested =
            admin::create_project(identity, "demo/sub/nested", Visibility::Public).unwrap();
        let user = |username: &str, is_admin: bool, role: Option<Role>| {
            let user = admin::create_user(identity, username, None, is_admin).unwrap();
            if let Some(role) = role {
                for project in [&public, &private, &nested] {
                    identity.set_membership(project.id, user.id, role).unwrap();
                }
            }
            user.id
        };
        let token = |user, scope: Scope, expires_at: Option<RevisionTime>| {
            admin::create_personal_token(identity, user, "test", &[scope], expires_at).unwrap()
        };
        let api = |username: &str, is_admin: bool, role: Option<Role>| {
            token(user(username, is_admin, role), Scope::Api, None).secret
        };
        let alice = user("alice", false, Some(Role::Maintainer));
        let revoked = token(alice, Scope::Api, None);
        identity
            .revoke_token(TokenKind::Personal, revoked.token.id, now())
            .unwrap();
        let expired = token(
            alice,
            Scope::Api,
            Some(RevisionTime::from_unix_micros(1_000_000).unwrap()),
        );
        let deploy = admin::create_deploy_token(
            identity,
            &public,
            None,
            "deploy",
            &[Scope::WritePackageRegistry],
            None,
        )
        .unwrap();
        let tokens = Tokens {
            admin: api("root", true, None),
            owner: api("olivia", false, Some(Role::Owner)),
            maintainer: token(alice, Scope::Api, None).secret,
            developer: api("dave", false, Some(Role::Developer)),
            reporter: api("rita", false, Some(Role::Reporter)),
            guest: api("gus", false, Some(Role::Guest)),
            outsider: api("otto", false, None),
            read_api: token(alice, Scope::ReadApi, None).secret,
            revoked: revoked.secret,
            expired: expired.secret,
            deploy: deploy.secret,
        };
        let metadata: Arc<dyn MetadataStore> = Arc::new(db.store.clone());
        let auth = Authenticator::new(metadata.clone(), AuthConfig::default());
        let (sender, runs_ended) = channel();
        let cleanup = CleanupRunner::new(
            metadata.clone(),
            RunSettings {
                batch: 2,
                lease: Duration::from_mins(1),
                work_percent: 100,
            },
            Arc::new(RunsEnded(Mutex::new(sender))),
        );
        let state = web::Data::new(RestState {
            metadata,
            auth,
            external_url: Some(format!("{EXTERNAL_URL}/")),
            cleanup,
        });
        Self {
            db,
            state,
            public,
            private,
            nested,
            tokens,
            runs_ended: Mutex::new(runs_ended),
        }
    }

    /// The store, to arrange data and check what requests left.
    pub fn store(&self) -> &DieselStore {
        &self.db.store
    }

    /// The service under test.
    pub async fn app(
        &self,
    ) -> impl Service<Request, Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error>
    {
        test::init_service(
            App::new()
                .app_data(self.state.clone())
                .configure(conan_packages_api::configure),
        )
        .await
    }

    /// Uploads committed recipe revisions `1..=revisions` of `reference`, the newest with
    /// `binaries` packages, and returns the recipe's id.
    pub fn upload(
        &self,
        project: &Project,
        reference: &str,
        revisions: u32,
        binaries: u32,
    ) -> RecipeId {
        let store = self.store();
        for revision in 1..=revisions {
            let key = recipe_key(project.id, reference, revision);
            upload_recipe(store, &key);
            if revision == revisions {
                for package in 1..=binaries {
                    upload_package(store, &package_key(&key, package, 1));
                }
            }
        }
        self.recipe_id(project, reference)
    }

    /// Starts an upload of `reference` that stores no manifest, and returns the recipe's id.
    pub fn start_upload(&self, project: &Project, reference: &str) -> RecipeId {
        let key = recipe_key(project.id, reference, 1);
        put(
            self.store(),
            &FileOwner::Recipe(key),
            "conanfile.py",
            "# uploading",
        );
        self.recipe_id(project, reference)
    }

    /// The id of `reference` in `project`, committed or not.
    pub fn recipe_id(&self, project: &Project, reference: &str) -> RecipeId {
        [CatalogStatus::Committed, CatalogStatus::Uploading]
            .into_iter()
            .flat_map(|status| self.catalog(project, status))
            .find(|(_, text)| text == reference)
            .map_or_else(
                || panic!("{reference} is not in {}", project.path),
                |(id, _)| id,
            )
    }

    fn catalog(&self, project: &Project, status: CatalogStatus) -> Vec<(RecipeId, String)> {
        self.store()
            .catalog_packages(&CatalogQuery {
                projects: vec![project.id],
                name_words: Vec::new(),
                name: None,
                version: None,
                status,
                order: CatalogOrder::Id,
                descending: false,
                offset: 0,
                limit: 1000,
                count_limit: COUNT_LIMIT,
            })
            .unwrap()
            .packages
            .into_iter()
            .map(|package| (package.id, package.reference.to_string()))
            .collect()
    }

    /// Everything a request could change (recipes with what is listed of them, their files,
    /// the protection rules), to prove that a refused request changed nothing.
    pub fn snapshot(&self) -> String {
        let store = self.store();
        let mut lines = Vec::new();
        for project in [&self.public, &self.private, &self.nested] {
            for status in [CatalogStatus::Committed, CatalogStatus::Uploading] {
                for (id, _) in self.catalog(project, status) {
                    lines.push(format!(
                        "{:?}",
                        store.catalog_package(project.id, id).unwrap()
                    ));
                    let files = store
                        .catalog_files(
                            project.id,
                            id,
                            &FileQuery {
                                order: FileOrder::Id,
                                descending: false,
                                offset: 0,
                                limit: 1000,
                            },
                        )
                        .unwrap();
                    lines.push(format!("{files:?}"));
                }
            }
            lines.push(format!("{:?}", store.protection_rules(project.id).unwrap()));
            lines.push(format!("{:?}", store.cleanup_policy(project.id).unwrap()));
            lines.push(format!(
                "{:?}",
                store.cleanup_runs(project.id, 100).unwrap()
            ));
        }
        lines.join("\n")
    }
}

/// Now, as the store records times.
pub fn now() -> RevisionTime {
    RevisionTime::from_system_time(std::time::SystemTime::now()).unwrap()
}

/// An answer, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// A header as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|value| value.to_str().unwrap())
    }

    /// The body as JSON, after checking the `Content-Type` python-gitlab needs to parse it.
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

    /// A JSON answer with `status`.
    pub fn expect(&self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "body {:?}", self.body);
        self.json()
    }

    /// The `message` of an error answer with `status`.
    pub fn message(&self, status: StatusCode) -> String {
        let body = self.expect(status);
        body["message"]
            .as_str()
            .unwrap_or_else(|| panic!("no message in {body}"))
            .to_owned()
    }

    /// The `error` of a parameter error (a 400).
    pub fn param_error(&self) -> String {
        let body = self.expect(StatusCode::BAD_REQUEST);
        body["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error in {body}"))
            .to_owned()
    }

    /// An empty 204.
    pub fn no_content(&self) {
        assert_eq!(self.status, StatusCode::NO_CONTENT, "body {:?}", self.body);
        assert!(self.body.is_empty());
    }

    /// The ids of a list of objects.
    pub fn ids(&self) -> Vec<i64> {
        self.expect(StatusCode::OK)
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item["id"].as_i64().unwrap())
            .collect()
    }

    /// The values of `field` in a list of objects.
    pub fn field(&self, field: &str) -> Vec<String> {
        self.expect(StatusCode::OK)
            .as_array()
            .unwrap()
            .iter()
            .map(|item| item[field].as_str().unwrap().to_owned())
            .collect()
    }
}

/// A request with `method` and `uri` carrying `token` (if any) in `PRIVATE-TOKEN`, as
/// python-gitlab sends it.
pub fn request(method: &str, uri: &str, token: Option<&str>) -> test::TestRequest {
    let request = match method {
        "GET" => test::TestRequest::get(),
        "POST" => test::TestRequest::post(),
        "PATCH" => test::TestRequest::patch(),
        "PUT" => test::TestRequest::put(),
        "DELETE" => test::TestRequest::delete(),
        other => panic!("unsupported method {other}"),
    }
    .uri(uri);
    match token {
        Some(token) => request.insert_header(("PRIVATE-TOKEN", token)),
        None => request,
    }
}

/// A request with a JSON (or not quite JSON) body.
pub fn with_body(method: &str, uri: &str, token: Option<&str>, body: &str) -> test::TestRequest {
    request(method, uri, token)
        .insert_header(("Content-Type", "application/json"))
        .set_payload(body.to_owned())
}

/// Sends `request` to `app` and reads the whole answer.
pub async fn send<S, B>(app: &S, request: test::TestRequest) -> Reply
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
        body,
    }
}

/// `GET uri` as `token`.
pub async fn get<S, B>(app: &S, uri: &str, token: Option<&str>) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, request("GET", uri, token)).await
}

/// `DELETE uri` as `token`.
pub async fn delete<S, B>(app: &S, uri: &str, token: Option<&str>) -> Reply
where
    S: Service<Request, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    send(app, request("DELETE", uri, token)).await
}

/// `/api/v4/projects/<id>/packages`.
pub fn packages_of(project: &Project) -> String {
    format!("/api/v4/projects/{}/packages", project.id)
}

/// `/api/v4/projects/<id>/packages/<package id>`.
pub fn package_uri(project: &Project, id: RecipeId) -> String {
    format!("/api/v4/projects/{}/packages/{id}", project.id)
}

/// `/api/v4/projects/<id>/packages/protection/rules`.
pub fn rules_of(project: &Project) -> String {
    format!("/api/v4/projects/{}/packages/protection/rules", project.id)
}
