//! Workload identity federation: the app signs in with a token issued by
//! another identity provider (Kubernetes, GitHub Actions, a CI system),
//! sent as the client assertion of a client credentials request. Entra
//! accepts it when the app has a federated identity credential whose
//! issuer, subject and audience match the token's claims.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tracing::{debug, info};

use crate::env;
use crate::error::{Error, Result};
use crate::secrets::Secret;
use crate::token::client::http_client;

/// Audience Entra expects in federated tokens from public clouds.
pub const DEFAULT_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Largest token file or OIDC response read; such tokens are a few kilobytes.
const MAX_TOKEN_BYTES: u64 = 64 * 1024;

/// Source of the federated token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum FederatedSource {
    /// A file that the platform writes and rotates.
    File,
    /// The OIDC token of a GitHub Actions job.
    GitHub,
}

impl FederatedSource {
    pub fn as_str(self) -> &'static str {
        match self {
            FederatedSource::File => "File",
            FederatedSource::GitHub => "GitHub",
        }
    }
}

impl fmt::Display for FederatedSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FederatedSource {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "file" => Ok(FederatedSource::File),
            "github" | "github-actions" => Ok(FederatedSource::GitHub),
            _ => Err(format!(
                "invalid federated token source `{s}`: expected `file` or `github`"
            )),
        }
    }
}

impl TryFrom<String> for FederatedSource {
    type Error = String;

    fn try_from(value: String) -> std::result::Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<FederatedSource> for String {
    fn from(value: FederatedSource) -> Self {
        value.as_str().to_string()
    }
}

/// A federated token as a client credential.
#[derive(Debug, Clone)]
pub enum FederatedToken {
    /// A token file, read again for every request because platforms
    /// rotate it (Kubernetes projected tokens live about an hour).
    File(PathBuf),
    /// A token fetched for this request, such as a GitHub Actions OIDC token.
    Issued(Secret),
}

impl FederatedToken {
    /// Returns the token to send as `client_assertion`.
    pub fn assertion(&self) -> Result<Secret> {
        match self {
            FederatedToken::File(path) => read_token_file(path),
            FederatedToken::Issued(token) => Ok(token.clone()),
        }
    }
}

/// Checks that the token file exists and is a file, without reading it, so
/// a file that can be read once (such as `/dev/stdin`) still works.
pub fn check_token_file(path: &Path, origin: &str) -> Result<()> {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.is_dir() => Err(Error::Credential(format!(
            "the federated token file {} (from {origin}) is a folder, not a file",
            path.display()
        ))),
        Ok(_) => Ok(()),
        Err(e) => Err(Error::Credential(format!(
            "cannot use the federated token file {} (from {origin}): {e}; check that the \
             platform mounts the token there",
            path.display()
        ))),
    }
}

/// Reads the token file anew. The error names the file but never shows its
/// contents.
pub fn read_token_file(path: &Path) -> Result<Secret> {
    use std::io::Read;

    let file = std::fs::File::open(path).map_err(|e| {
        Error::Credential(format!(
            "cannot read the federated token file {}: {e}",
            path.display()
        ))
    })?;
    let mut bytes = zeroize::Zeroizing::new(Vec::new());
    file.take(MAX_TOKEN_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| {
            Error::Credential(format!(
                "cannot read the federated token file {}: {e}",
                path.display()
            ))
        })?;
    if bytes.len() as u64 > MAX_TOKEN_BYTES {
        return Err(Error::Credential(format!(
            "the federated token file {} is larger than {} KiB, too large for one token",
            path.display(),
            MAX_TOKEN_BYTES / 1024
        )));
    }
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Error::Credential(format!(
            "the federated token file {} is not UTF-8 text",
            path.display()
        ))
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(Error::Credential(format!(
            "the federated token file {} is empty",
            path.display()
        )));
    }
    if token.split('.').count() != 3 {
        return Err(Error::Credential(format!(
            "the federated token file {} does not hold a JWT (three dot-separated parts)",
            path.display()
        )));
    }
    debug!("federated token read from {}", path.display());
    Ok(Secret::new(token))
}

/// The GitHub Actions OIDC endpoint of the running job.
pub struct GitHubOidc {
    request_url: String,
    request_token: Secret,
    audience: String,
}

impl GitHubOidc {
    /// Reads `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`,
    /// which GitHub sets only in jobs granted `id-token: write`.
    pub fn from_env(audience: &str) -> Result<GitHubOidc> {
        let missing = |name: &str| {
            Error::Credential(format!(
                "{name} is not set, so no GitHub Actions OIDC token can be requested; give the \
                 job `permissions: id-token: write`, or use --federated-token-file outside \
                 GitHub Actions"
            ))
        };
        let request_url = env::var(env::GITHUB_ID_TOKEN_REQUEST_URL)
            .ok_or_else(|| missing(env::GITHUB_ID_TOKEN_REQUEST_URL))?;
        let request_token = env::var(env::GITHUB_ID_TOKEN_REQUEST_TOKEN)
            .map(Secret::new)
            .ok_or_else(|| missing(env::GITHUB_ID_TOKEN_REQUEST_TOKEN))?;
        Ok(GitHubOidc {
            request_url,
            request_token,
            audience: audience.to_string(),
        })
    }

    /// Requests an OIDC token for the audience: `GET {url}&audience=...`
    /// with the request token as bearer, which returns `{"value": JWT}`.
    pub async fn request_token(&self, timeout: Duration) -> Result<Secret> {
        let mut url = reqwest::Url::parse(&self.request_url).map_err(|e| {
            Error::Credential(format!(
                "{} is not a valid URL: {e}",
                env::GITHUB_ID_TOKEN_REQUEST_URL
            ))
        })?;
        url.query_pairs_mut()
            .append_pair("audience", &self.audience);
        let origin = format!("{}://{}", url.scheme(), url.host_str().unwrap_or_default());
        info!(
            "requesting a GitHub Actions OIDC token from {origin} (audience {})",
            self.audience
        );
        let response = http_client(timeout)?
            .get(url)
            .bearer_auth(self.request_token.expose())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| {
                Error::Network(format!(
                    "cannot reach the GitHub Actions OIDC endpoint {origin}: {e}"
                ))
            })?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| {
            Error::Network(format!(
                "the GitHub Actions OIDC endpoint {origin} closed the connection before the response ended: {e}"
            ))
        })?;
        if !(200..300).contains(&status) {
            let message = format!(
                "the GitHub Actions OIDC endpoint {origin} answered HTTP {status}; check that the \
                 job has `permissions: id-token: write`"
            );
            return Err(if status >= 500 {
                Error::Network(message)
            } else {
                Error::Credential(message)
            });
        }
        #[derive(Deserialize)]
        struct OidcResponse {
            value: Option<String>,
        }
        let parsed: OidcResponse = serde_json::from_slice(&body).map_err(|e| {
            Error::Credential(format!(
                "the GitHub Actions OIDC endpoint {origin} returned no JSON token ({e})"
            ))
        })?;
        let token = parsed
            .value
            .filter(|v| v.split('.').count() == 3)
            .ok_or_else(|| {
                Error::Credential(format!(
                    "the GitHub Actions OIDC endpoint {origin} returned no JWT in `value`"
                ))
            })?;
        Ok(Secret::new(token))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_parses_any_spelling() {
        assert_eq!("github".parse(), Ok(FederatedSource::GitHub));
        assert_eq!("GitHub_Actions".parse(), Ok(FederatedSource::GitHub));
        assert_eq!("FILE".parse(), Ok(FederatedSource::File));
        assert!("vault".parse::<FederatedSource>().is_err());
    }

    #[test]
    fn token_file_is_read_on_every_call() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "a.b.c\n").unwrap();
        let token = FederatedToken::File(path.clone());
        assert_eq!(token.assertion().unwrap().expose(), "a.b.c");
        std::fs::write(&path, "d.e.f").unwrap();
        assert_eq!(token.assertion().unwrap().expose(), "d.e.f");
    }

    #[test]
    fn token_file_errors_hide_the_contents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "not-a-jwt-secret-value").unwrap();
        let error = read_token_file(&path).unwrap_err().to_string();
        assert!(error.contains("does not hold a JWT"), "{error}");
        assert!(!error.contains("not-a-jwt-secret-value"), "{error}");
        std::fs::write(&path, "  \n").unwrap();
        let error = read_token_file(&path).unwrap_err().to_string();
        assert!(error.contains("is empty"), "{error}");
    }
}
