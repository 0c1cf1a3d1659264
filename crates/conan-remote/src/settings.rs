//! Making the settings of a remote project from what an administrator asks for, the one way the
//! admin CLI and the web interface both do it: the URL checked as the server's client will
//! check it, the credentials sealed for the project.

use conan_store::ProjectId;
use conan_store::remotes::RemoteSettings;
use conan_upstream::{Credentials, Upstream, UpstreamConfig, Url};

use crate::{CredentialError, CredentialKey};

/// What an administrator asks a remote project's upstream to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRequest {
    /// The upstream's Conan remote URL, as `conan remote add` takes it.
    pub url: String,
    /// New credentials; `None` keeps `kept` (below).
    pub credentials: Option<Credentials>,
    /// Already sealed credentials to keep when no new ones are given (the project's current
    /// ones), or `None` for an anonymous upstream.
    pub kept: Option<String>,
    /// How long revision lists are fresh, in seconds.
    pub metadata_ttl_secs: u32,
    /// How long an upstream "not found" is kept, in seconds.
    pub not_found_ttl_secs: u32,
}

/// Why the settings cannot be made; the text says what to fix, and never holds a password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SettingsError {
    /// The URL does not parse, or is not one the server's client accepts.
    #[error("the upstream URL is refused: {0}")]
    Url(String),
    /// Credentials were given but no key is configured to seal them.
    #[error(
        "upstream credentials need remote.credentials_key (32 random bytes in base64, \
         `openssl rand -base64 32`, the same on every node); nothing was changed"
    )]
    NoKey,
    /// The user name or password is not usable.
    #[error("{0}")]
    Credentials(&'static str),
    /// Sealing failed.
    #[error(transparent)]
    Seal(#[from] CredentialError),
}

/// The settings `request` asks for `project`: its URL checked (http(s), a host, no user info,
/// query or fragment), new credentials sealed with `key` for this project. The time to live
/// bounds are the store's to check ([`RemoteSettings::check`]).
pub fn upstream_settings(
    project: ProjectId,
    request: UpstreamRequest,
    key: Option<&CredentialKey>,
) -> Result<RemoteSettings, SettingsError> {
    let url = Url::parse(request.url.trim())
        .map_err(|error| SettingsError::Url(format!("it does not parse ({error})")))?;
    // The same checks the server makes when it builds the client.
    Upstream::new(UpstreamConfig::new(url.clone()))
        .map_err(|error| SettingsError::Url(error.to_string()))?;
    let sealed = match request.credentials {
        Some(credentials) => {
            if credentials.user.is_empty() || credentials.password.is_empty() {
                return Err(SettingsError::Credentials(
                    "give both the upstream user and its password or token",
                ));
            }
            if credentials.user.contains(['\n', '\r']) {
                return Err(SettingsError::Credentials(
                    "the user name cannot hold a line break",
                ));
            }
            let key = key.ok_or(SettingsError::NoKey)?;
            Some(key.seal(project, &credentials)?)
        }
        None => request.kept,
    };
    Ok(RemoteSettings {
        upstream_url: url.as_str().trim_end_matches('/').to_owned(),
        sealed_credentials: sealed,
        metadata_ttl_secs: request.metadata_ttl_secs,
        not_found_ttl_secs: request.not_found_ttl_secs,
        updated_at: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str, credentials: Option<Credentials>) -> UpstreamRequest {
        UpstreamRequest {
            url: url.to_owned(),
            credentials,
            kept: Some("kept".to_owned()),
            metadata_ttl_secs: 300,
            not_found_ttl_secs: 60,
        }
    }

    #[test]
    fn urls_are_checked_and_credentials_sealed_or_kept() {
        let key = CredentialKey::from_base64("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
            .expect("a 32-byte key");
        let project = ProjectId(7);
        for url in [
            "",
            "ftp://host/",
            "http://user:secret@host/",
            "https://host/?q=1",
            "not a url",
        ] {
            let error = upstream_settings(project, request(url, None), Some(&key)).unwrap_err();
            assert!(matches!(error, SettingsError::Url(_)), "{url}: {error}");
            assert!(!error.to_string().contains("secret"), "{error}");
        }
        let kept = upstream_settings(
            project,
            request(" https://center.example/api/ ", None),
            None,
        )
        .unwrap();
        assert_eq!(kept.upstream_url, "https://center.example/api");
        assert_eq!(kept.sealed_credentials.as_deref(), Some("kept"));
        let credentials = Credentials {
            user: "mirror".to_owned(),
            password: "s3cr3t".to_owned(),
        };
        assert_eq!(
            upstream_settings(
                project,
                request("https://h/", Some(credentials.clone())),
                None
            ),
            Err(SettingsError::NoKey)
        );
        let sealed = upstream_settings(
            project,
            request("https://h/", Some(credentials.clone())),
            Some(&key),
        )
        .unwrap()
        .sealed_credentials
        .unwrap();
        assert!(!sealed.contains("s3cr3t"));
        assert_eq!(key.open(project, &sealed).unwrap(), credentials);
        for (user, password) in [("", "p"), ("u", ""), ("a\nb", "p")] {
            let bad = Credentials {
                user: user.to_owned(),
                password: password.to_owned(),
            };
            assert!(matches!(
                upstream_settings(project, request("https://h/", Some(bad)), Some(&key)),
                Err(SettingsError::Credentials(_))
            ));
        }
    }
}
