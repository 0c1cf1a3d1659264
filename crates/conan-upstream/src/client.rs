//! The upstream client: configuration, the protocol's requests, and what can go wrong.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use conan_model::{FilePath, PackageId, PackageInfo, RecipeReference, Revision, RevisionTime};
use reqwest::header::{AUTHORIZATION, HeaderValue};
use reqwest::{StatusCode, Url};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tokio::sync::RwLock;

use crate::body::{FileBounds, UpstreamFile, file_stream, read_limited};

/// How many redirects within the upstream's origin a request follows.
const MAX_REDIRECTS: usize = 5;

/// A user name and password (or token) for the upstream's token login.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    /// The user name.
    pub user: String,
    /// The password or access token; never printed.
    pub password: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Credentials")
            .field("user", &self.user)
            .field("password", &"[redacted]")
            .finish()
    }
}

/// Where the upstream is and the bounds on what it may take and send.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// The upstream's Conan remote URL, as `conan remote add` takes it (`http://host:9300`,
    /// `https://center2.conan.io`, `https://host/api/v4/projects/1/packages/conan`).
    pub url: Url,
    /// Credentials for the upstream, if it needs them.
    pub credentials: Option<Credentials>,
    /// How long connecting may take.
    pub connect_timeout: Duration,
    /// How long one metadata answer (revisions, file lists, search) may take in all.
    pub metadata_timeout: Duration,
    /// The longest a file body may pause between two chunks.
    pub idle_timeout: Duration,
    /// The longest a whole file body may take.
    pub file_timeout: Duration,
    /// The slowest a file body may arrive, in bytes a second, averaged over each span of
    /// `idle_timeout` (0: no minimum). Without it an upstream trickling a byte a second would
    /// hold a fetch, and the clients waiting for it, for the whole `file_timeout`.
    pub min_file_rate: u64,
    /// The largest metadata answer read.
    pub max_metadata_bytes: u64,
    /// The largest file fetched.
    pub max_file_bytes: u64,
}

impl UpstreamConfig {
    /// A configuration for `url` with bounds that suit a CI fleet: 5 s to connect, 30 s for a
    /// metadata answer, 30 s of silence, less than 1 KiB a second (over 30 s) or an hour for a
    /// file, 8 MiB of metadata, 5 GiB a file.
    #[must_use]
    pub fn new(url: Url) -> Self {
        Self {
            url,
            credentials: None,
            connect_timeout: Duration::from_secs(5),
            metadata_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            file_timeout: Duration::from_hours(1),
            min_file_rate: 1024,
            max_metadata_bytes: 8 * 1024 * 1024,
            max_file_bytes: 5 * 1024 * 1024 * 1024,
        }
    }
}

/// Why the upstream could not answer, or why its answer was refused. Messages name the
/// upstream's origin, never credentials.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UpstreamError {
    /// The configuration cannot be used.
    #[error("invalid upstream: {0}")]
    Config(String),
    /// The upstream did not answer in time.
    #[error("the upstream did not answer in time: {0}")]
    Timeout(String),
    /// The upstream could not be reached, or the connection failed.
    #[error("the upstream cannot be reached: {0}")]
    Unreachable(String),
    /// The upstream refused the registry's credentials (or asked for some it has not got).
    #[error("the upstream refused the registry's credentials (HTTP {0})")]
    Refused(u16),
    /// The upstream answered with an error status.
    #[error("the upstream answered HTTP {0}")]
    Status(u16),
    /// The upstream redirected outside its own origin.
    #[error("the upstream redirected to another host ({0}); not followed")]
    Redirect(String),
    /// The answer is larger than the limit.
    #[error("the upstream's answer is larger than the limit of {limit} bytes")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// The answer is not what the protocol says.
    #[error("the upstream's answer is invalid: {0}")]
    Invalid(String),
}

impl UpstreamError {
    /// Classifies a transport error, without its URL (the path names nothing secret, but the
    /// message says which upstream elsewhere).
    pub(crate) fn transport(error: &reqwest::Error) -> Self {
        let mut message = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(cause) = source {
            message = format!("{message}: {cause}");
            source = cause.source();
        }
        if error.is_timeout() {
            Self::Timeout(message)
        } else {
            Self::Unreachable(message)
        }
    }

    /// Whether the upstream is unavailable (down, slow, failing) rather than answering wrongly:
    /// a remote project serves what it has cached, marked stale, in that case.
    #[must_use]
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            Self::Timeout(_) | Self::Unreachable(_) | Self::Status(500..=599)
        )
    }
}

/// A revision and its time, as the upstream lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevisionEntry {
    /// The revision.
    pub revision: Revision,
    /// When the upstream says it was uploaded.
    pub time: RevisionTime,
}

/// One binary of a recipe revision, as the upstream's package search gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamPackage {
    /// The package id.
    pub package_id: PackageId,
    /// The raw `conaninfo.txt` of its latest revision, as Conan 2 servers send it (`content`).
    pub conaninfo: Option<String>,
    /// Without `content`, the parsed fields servers like GitLab send instead (`settings`,
    /// `options`, `requires`, and `recipe_hash` for Conan 1 binaries); `None` when the answer
    /// had neither (a `list_only` answer).
    pub info: Option<PackageInfo>,
}

/// A package search entry: every field optional, unknown ones ignored.
#[derive(Deserialize)]
struct WirePackage {
    content: Option<String>,
    settings: Option<BTreeMap<String, String>>,
    options: Option<BTreeMap<String, String>>,
    requires: Option<Vec<String>>,
    recipe_hash: Option<String>,
}

#[derive(Deserialize)]
struct WireRevision {
    revision: String,
    time: String,
}

#[derive(Deserialize)]
struct WireRevisions {
    revisions: Vec<WireRevision>,
}

#[derive(Deserialize)]
struct WireFiles {
    files: serde_json::Map<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct WireSearch {
    results: Vec<String>,
}

/// Parses a time as Conan servers write it: RFC 3339, or Artifactory's `+0000` offsets.
fn parse_time(text: &str) -> Result<RevisionTime, UpstreamError> {
    if let Ok(time) = text.parse() {
        return Ok(time);
    }
    let bytes = text.as_bytes();
    let normalized = (bytes.len() > 5
        && matches!(bytes[bytes.len() - 5], b'+' | b'-')
        && bytes[bytes.len() - 4..].iter().all(u8::is_ascii_digit))
    .then(|| format!("{}:{}", &text[..text.len() - 2], &text[text.len() - 2..]));
    normalized
        .and_then(|text| text.parse().ok())
        .ok_or_else(|| UpstreamError::Invalid(format!("time {:?}", truncated(text))))
}

fn truncated(text: &str) -> String {
    text.chars().take(80).collect()
}

fn package_of(id: &str, wire: WirePackage) -> Result<UpstreamPackage, UpstreamError> {
    let package_id = id
        .parse()
        .map_err(|_| UpstreamError::Invalid(format!("package id {:?}", truncated(id))))?;
    let parsed = wire.settings.is_some()
        || wire.options.is_some()
        || wire.requires.is_some()
        || wire.recipe_hash.is_some();
    let info = (wire.content.is_none() && parsed).then(|| PackageInfo {
        settings: wire.settings.unwrap_or_default(),
        options: wire.options.unwrap_or_default(),
        requires: wire.requires.unwrap_or_default(),
        recipe_hash: wire.recipe_hash,
    });
    Ok(UpstreamPackage {
        package_id,
        conaninfo: wire.content,
        info,
    })
}

fn revision_of(wire: &WireRevision) -> Result<RevisionEntry, UpstreamError> {
    Ok(RevisionEntry {
        revision: wire.revision.parse().map_err(|_| {
            UpstreamError::Invalid(format!("revision {:?}", truncated(&wire.revision)))
        })?,
        time: parse_time(&wire.time)?,
    })
}

/// What is fetched: a recipe revision's files or a package revision's.
enum Owner<'a> {
    Recipe(&'a Revision),
    Package(&'a Revision, &'a PackageId, &'a Revision),
}

/// A client of one upstream Conan v2 server.
pub struct Upstream {
    config: UpstreamConfig,
    client: reqwest::Client,
    /// The token of the last login, when the upstream wanted one.
    token: RwLock<Option<HeaderValue>>,
}

impl fmt::Debug for Upstream {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Upstream")
            .field("url", &self.config.url.as_str())
            .finish_non_exhaustive()
    }
}

/// The origin (scheme, host, port) of a URL.
fn origin(url: &Url) -> (String, Option<String>, Option<u16>) {
    (
        url.scheme().to_owned(),
        url.host_str().map(str::to_owned),
        url.port_or_known_default(),
    )
}

impl Upstream {
    /// A client for the upstream `config` describes. Refuses URLs that are not `http` or
    /// `https`, or that carry credentials, a query or a fragment.
    pub fn new(config: UpstreamConfig) -> Result<Self, UpstreamError> {
        let url = &config.url;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(UpstreamError::Config(
                "the URL must be http:// or https:// with a host".to_owned(),
            ));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(UpstreamError::Config(
                "credentials belong in the upstream's credentials, not in its URL".to_owned(),
            ));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(UpstreamError::Config(
                "the URL must not have a query or a fragment".to_owned(),
            ));
        }
        let home = origin(url);
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() > MAX_REDIRECTS || origin(attempt.url()) != home {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .redirect(policy)
            .user_agent(concat!("conan-registry/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|error| UpstreamError::Config(error.to_string()))?;
        Ok(Self {
            config,
            client,
            token: RwLock::new(None),
        })
    }

    /// The upstream's URL.
    #[must_use]
    pub fn url(&self) -> &Url {
        &self.config.url
    }

    /// `<url>/v2/<segments...>`, each segment percent-encoded as one path segment.
    fn endpoint(&self, segments: &[&str]) -> Result<Url, UpstreamError> {
        let mut url = self.config.url.clone();
        {
            let mut path = url
                .path_segments_mut()
                .map_err(|()| UpstreamError::Config("the URL cannot have a path".to_owned()))?;
            path.pop_if_empty().push("v2");
            for segment in segments {
                path.push(segment);
            }
        }
        Ok(url)
    }

    fn recipe_segments<'a>(recipe: &'a RecipeReference, rest: &[&'a str]) -> Vec<&'a str> {
        let mut segments = vec!["conans"];
        segments.extend(recipe.url_segments());
        segments.extend_from_slice(rest);
        segments
    }

    /// Sends a GET, logging in and retrying once when the upstream asks for credentials and the
    /// registry has some. `timeout` bounds the whole exchange up to the response head.
    async fn get(&self, url: Url, timeout: Duration) -> Result<reqwest::Response, UpstreamError> {
        let response = self.send(url.clone(), timeout).await?;
        if response.status() == StatusCode::UNAUTHORIZED && self.config.credentials.is_some() {
            self.login(timeout).await?;
            return self.send(url, timeout).await;
        }
        Ok(response)
    }

    async fn send(&self, url: Url, timeout: Duration) -> Result<reqwest::Response, UpstreamError> {
        let mut request = self.client.get(url);
        if let Some(token) = self.token.read().await.clone() {
            request = request.header(AUTHORIZATION, token);
        }
        match tokio::time::timeout(timeout, request.send()).await {
            Err(_) => Err(UpstreamError::Timeout(format!(
                "no answer within {timeout:?}"
            ))),
            Ok(Err(error)) => Err(UpstreamError::transport(&error)),
            Ok(Ok(response)) => Ok(response),
        }
    }

    /// Logs in with the credentials (`GET /v2/users/authenticate`, Basic) and keeps the token.
    async fn login(&self, timeout: Duration) -> Result<(), UpstreamError> {
        let Some(credentials) = &self.config.credentials else {
            return Ok(());
        };
        let url = self.endpoint(&["users", "authenticate"])?;
        let request = self
            .client
            .get(url)
            .basic_auth(&credentials.user, Some(&credentials.password));
        let response = match tokio::time::timeout(timeout, request.send()).await {
            Err(_) => {
                return Err(UpstreamError::Timeout(format!(
                    "no login answer within {timeout:?}"
                )));
            }
            Ok(Err(error)) => return Err(UpstreamError::transport(&error)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(UpstreamError::Refused(status.as_u16()));
        }
        if !status.is_success() {
            return Err(UpstreamError::Status(status.as_u16()));
        }
        let body = read_limited(response, 64 * 1024).await?;
        let token = std::str::from_utf8(&body)
            .ok()
            .map(str::trim)
            .filter(|token| !token.is_empty() && token.bytes().all(|byte| byte.is_ascii_graphic()))
            .ok_or_else(|| UpstreamError::Invalid("the login answer is not a token".to_owned()))?;
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| UpstreamError::Invalid("the login answer is not a token".to_owned()))?;
        *self.token.write().await = Some(value);
        Ok(())
    }

    /// Checks a response's status: `None` for a 404, the response for a 2xx, an error for the
    /// rest (a 3xx here is a redirect the policy refused to follow).
    fn checked(response: reqwest::Response) -> Result<Option<reqwest::Response>, UpstreamError> {
        let status = response.status();
        if status.is_success() {
            return Ok(Some(response));
        }
        if status == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if status.is_redirection() {
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|value| value.to_str().ok())
                .and_then(|location| response.url().join(location).ok())
                .and_then(|url| url.host_str().map(str::to_owned))
                .unwrap_or_else(|| "an unknown place".to_owned());
            return Err(UpstreamError::Redirect(location));
        }
        if matches!(status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) {
            return Err(UpstreamError::Refused(status.as_u16()));
        }
        Err(UpstreamError::Status(status.as_u16()))
    }

    /// A metadata answer parsed as `T`; `None` when the upstream has not got it (404).
    async fn metadata<T: DeserializeOwned>(
        &self,
        segments: &[&str],
    ) -> Result<Option<T>, UpstreamError> {
        self.json_at(self.endpoint(segments)?).await
    }

    /// The answer at `url` parsed as `T`, read whole within the metadata deadline and size.
    async fn json_at<T: DeserializeOwned>(&self, url: Url) -> Result<Option<T>, UpstreamError> {
        let timeout = self.config.metadata_timeout;
        let work = async {
            let Some(response) = Self::checked(self.get(url, timeout).await?)? else {
                return Ok(None);
            };
            let body = read_limited(response, self.config.max_metadata_bytes).await?;
            serde_json::from_slice(&body)
                .map(Some)
                .map_err(|error| UpstreamError::Invalid(format!("malformed JSON: {error}")))
        };
        tokio::time::timeout(timeout, work)
            .await
            .unwrap_or_else(|_| {
                Err(UpstreamError::Timeout(format!(
                    "no whole answer within {timeout:?}"
                )))
            })
    }

    /// The recipe's latest revision; `None` when the upstream has not got the recipe.
    pub async fn recipe_latest(
        &self,
        recipe: &RecipeReference,
    ) -> Result<Option<RevisionEntry>, UpstreamError> {
        let segments = Self::recipe_segments(recipe, &["latest"]);
        self.metadata::<WireRevision>(&segments)
            .await?
            .as_ref()
            .map(revision_of)
            .transpose()
    }

    /// The recipe's revisions, newest first as the upstream lists them.
    pub async fn recipe_revisions(
        &self,
        recipe: &RecipeReference,
    ) -> Result<Option<Vec<RevisionEntry>>, UpstreamError> {
        let segments = Self::recipe_segments(recipe, &["revisions"]);
        self.revisions(&segments).await
    }

    /// The package's latest revision in a recipe revision.
    pub async fn package_latest(
        &self,
        recipe: &RecipeReference,
        revision: &Revision,
        package: &PackageId,
    ) -> Result<Option<RevisionEntry>, UpstreamError> {
        let rest = [
            "revisions",
            revision.as_str(),
            "packages",
            package.as_str(),
            "latest",
        ];
        let segments = Self::recipe_segments(recipe, &rest);
        self.metadata::<WireRevision>(&segments)
            .await?
            .as_ref()
            .map(revision_of)
            .transpose()
    }

    /// The package's revisions in a recipe revision.
    pub async fn package_revisions(
        &self,
        recipe: &RecipeReference,
        revision: &Revision,
        package: &PackageId,
    ) -> Result<Option<Vec<RevisionEntry>>, UpstreamError> {
        let rest = [
            "revisions",
            revision.as_str(),
            "packages",
            package.as_str(),
            "revisions",
        ];
        self.revisions(&Self::recipe_segments(recipe, &rest)).await
    }

    async fn revisions(
        &self,
        segments: &[&str],
    ) -> Result<Option<Vec<RevisionEntry>>, UpstreamError> {
        self.metadata::<WireRevisions>(segments)
            .await?
            .map(|wire| wire.revisions.iter().map(revision_of).collect())
            .transpose()
    }

    fn owner_segments<'a>(owner: &'a Owner<'a>) -> Vec<&'a str> {
        match owner {
            Owner::Recipe(revision) => vec!["revisions", revision.as_str()],
            Owner::Package(revision, package, package_revision) => vec![
                "revisions",
                revision.as_str(),
                "packages",
                package.as_str(),
                "revisions",
                package_revision.as_str(),
            ],
        }
    }

    async fn files(
        &self,
        recipe: &RecipeReference,
        owner: &Owner<'_>,
    ) -> Result<Option<Vec<FilePath>>, UpstreamError> {
        let mut rest = Self::owner_segments(owner);
        rest.push("files");
        let Some(wire) = self
            .metadata::<WireFiles>(&Self::recipe_segments(recipe, &rest))
            .await?
        else {
            return Ok(None);
        };
        wire.files
            .keys()
            .map(|path| {
                path.parse::<FilePath>()
                    .map_err(|_| UpstreamError::Invalid(format!("file path {:?}", truncated(path))))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// The files of a recipe revision.
    pub async fn recipe_files(
        &self,
        recipe: &RecipeReference,
        revision: &Revision,
    ) -> Result<Option<Vec<FilePath>>, UpstreamError> {
        self.files(recipe, &Owner::Recipe(revision)).await
    }

    /// The files of a package revision.
    pub async fn package_files(
        &self,
        recipe: &RecipeReference,
        revision: &Revision,
        package: &PackageId,
        package_revision: &Revision,
    ) -> Result<Option<Vec<FilePath>>, UpstreamError> {
        self.files(recipe, &Owner::Package(revision, package, package_revision))
            .await
    }

    async fn download(
        &self,
        recipe: &RecipeReference,
        owner: &Owner<'_>,
        path: &FilePath,
    ) -> Result<Option<UpstreamFile>, UpstreamError> {
        let mut rest = Self::owner_segments(owner);
        rest.push("files");
        rest.extend(path.segments());
        let url = self.endpoint(&Self::recipe_segments(recipe, &rest))?;
        let Some(response) = Self::checked(self.get(url, self.config.metadata_timeout).await?)?
        else {
            return Ok(None);
        };
        let limit = self.config.max_file_bytes;
        let size = response.content_length();
        if size.is_some_and(|size| size > limit) {
            return Err(UpstreamError::TooLarge { limit });
        }
        let sha1 = response
            .headers()
            .get("x-checksum-sha1")
            .and_then(|value| value.to_str().ok())
            .map(str::to_ascii_lowercase);
        if let Some(sha1) = &sha1
            && !(sha1.len() == 40 && sha1.bytes().all(|byte| byte.is_ascii_hexdigit()))
        {
            return Err(UpstreamError::Invalid(format!(
                "X-Checksum-Sha1 {:?}",
                truncated(sha1)
            )));
        }
        let bounds = FileBounds {
            idle: self.config.idle_timeout,
            deadline: self.config.file_timeout,
            limit,
            min_rate: self.config.min_file_rate,
        };
        Ok(Some(UpstreamFile {
            size,
            sha1,
            body: file_stream(response, bounds),
        }))
    }

    /// A file of a recipe revision, streaming; `None` when the upstream has not got it.
    pub async fn recipe_file(
        &self,
        recipe: &RecipeReference,
        revision: &Revision,
        path: &FilePath,
    ) -> Result<Option<UpstreamFile>, UpstreamError> {
        self.download(recipe, &Owner::Recipe(revision), path).await
    }

    /// A file of a package revision, streaming; `None` when the upstream has not got it.
    pub async fn package_file(
        &self,
        recipe: &RecipeReference,
        revision: &Revision,
        package: &PackageId,
        package_revision: &Revision,
        path: &FilePath,
    ) -> Result<Option<UpstreamFile>, UpstreamError> {
        self.download(
            recipe,
            &Owner::Package(revision, package, package_revision),
            path,
        )
        .await
    }

    /// The binaries of a recipe revision (`.../revisions/<rrev>/search`), each with the
    /// `conaninfo.txt` of its latest revision; `None` when the upstream has not got the recipe.
    pub async fn package_search(
        &self,
        recipe: &RecipeReference,
        revision: &Revision,
    ) -> Result<Option<Vec<UpstreamPackage>>, UpstreamError> {
        let segments = Self::recipe_segments(recipe, &["revisions", revision.as_str(), "search"]);
        let Some(wire) = self
            .metadata::<BTreeMap<String, WirePackage>>(&segments)
            .await?
        else {
            return Ok(None);
        };
        wire.into_iter()
            .map(|(id, package)| package_of(&id, package))
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// The references matching a Conan search pattern (`zlib/*`).
    pub async fn search(&self, pattern: &str) -> Result<Vec<RecipeReference>, UpstreamError> {
        let mut url = self.endpoint(&["conans", "search"])?;
        url.query_pairs_mut().append_pair("q", pattern);
        let Some(wire) = self.json_at::<WireSearch>(url).await? else {
            return Ok(Vec::new());
        };
        wire.results
            .iter()
            .map(|text| {
                text.parse()
                    .map_err(|_| UpstreamError::Invalid(format!("reference {:?}", truncated(text))))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_as_servers_write_them() {
        for text in [
            "2024-05-01T12:00:00.123456+00:00",
            "2024-05-01T12:00:00Z",
            "2019-10-24T07:55:32.117+0000",
        ] {
            assert!(parse_time(text).is_ok(), "{text}");
        }
        for text in ["", "yesterday", "2019-10-24T07:55:32.117+00", "1700000000"] {
            assert!(parse_time(text).is_err(), "{text}");
        }
    }

    #[test]
    fn urls_with_credentials_queries_or_other_schemes_are_refused() {
        for url in [
            "ftp://host/",
            "http://user:secret@host/",
            "http://host/?q=1",
            "http://host/#x",
            "file:///etc/passwd",
        ] {
            let config = UpstreamConfig::new(url.parse().unwrap());
            let error = Upstream::new(config).unwrap_err();
            assert!(!error.to_string().contains("secret"), "{error}");
        }
        let upstream = Upstream::new(UpstreamConfig::new(
            "https://host/api/conan/".parse().unwrap(),
        ))
        .unwrap();
        let recipe: RecipeReference = "zlib/1.3@acme/stable".parse().unwrap();
        let url = upstream
            .endpoint(&Upstream::recipe_segments(&recipe, &["latest"]))
            .unwrap();
        assert_eq!(
            url.as_str(),
            "https://host/api/conan/v2/conans/zlib/1.3/acme/stable/latest"
        );
    }

    fn packages(json: &str) -> Result<Vec<UpstreamPackage>, UpstreamError> {
        let wire: BTreeMap<String, WirePackage> = serde_json::from_str(json)
            .map_err(|error| UpstreamError::Invalid(error.to_string()))?;
        wire.into_iter()
            .map(|(id, package)| package_of(&id, package))
            .collect()
    }

    #[test]
    fn package_search_answers_as_conan_2_servers_and_gitlab_send_them() {
        let id = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        let raw = packages(&format!(
            r#"{{"{id}": {{"content": "[settings]\nos=Linux\n", "extra": 1}}}}"#
        ))
        .unwrap();
        assert_eq!(raw[0].package_id.as_str(), id);
        assert_eq!(raw[0].conaninfo.as_deref(), Some("[settings]\nos=Linux\n"));
        assert_eq!(raw[0].info, None);
        let parsed = packages(&format!(
            r#"{{"{id}": {{"settings": {{"os": "Linux"}}, "requires": ["zlib/1.3"]}}}}"#
        ))
        .unwrap();
        let info = parsed[0].info.clone().unwrap();
        assert_eq!(info.settings["os"], "Linux");
        assert_eq!(info.requires, ["zlib/1.3"]);
        assert!(info.options.is_empty() && info.recipe_hash.is_none());
        let ids_only = packages(&format!(r#"{{"{id}": {{}}}}"#)).unwrap();
        assert_eq!(
            (ids_only[0].conaninfo.clone(), ids_only[0].info.clone()),
            (None, None)
        );
        // A package id that is not one, or fields of the wrong shape: the answer is wrong.
        for wrong in [
            r#"{"../x": {}}"#.to_owned(),
            format!(r#"{{"{id}": {{"settings": {{"os": 1}}}}}}"#),
            format!(r#"{{"{id}": []}}"#),
            r#"["not an object"]"#.to_owned(),
        ] {
            assert!(
                matches!(packages(&wrong), Err(UpstreamError::Invalid(_))),
                "{wrong}"
            );
        }
    }

    #[test]
    fn credentials_never_print() {
        let credentials = Credentials {
            user: "mirror".to_owned(),
            password: "s3cr3t".to_owned(),
        };
        assert!(!format!("{credentials:?}").contains("s3cr3t"));
    }
}
