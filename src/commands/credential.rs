//! The credential a token request carries: a client secret, a certificate
//! assertion or a federated token. It is looked up only on a cache miss.

use std::time::Duration;

use tracing::debug;

use super::get_token::{block_on_with_timeout, Mode, Resolved};
use crate::certificate::{self, AssertionOptions, PasswordSources};
use crate::env;
use crate::environment;
use crate::error::{Error, Result};
use crate::federated::{self, FederatedSource, FederatedToken, GitHubOidc};
use crate::flows::ClientCredential;
use crate::profile::{AuthMethod, Flow};
use crate::secrets::{Keyring, Secret, SecretKind};
use crate::ui;

/// Time allowed for a GitHub Actions OIDC request when the caller gives none.
const DEFAULT_CREDENTIAL_TIMEOUT: Duration = Duration::from_secs(60);

/// Returns the client secret when one exists. A missing entry or keyring is
/// not an error for flows that can run as a public client.
pub fn optional_client_secret(resolved: &Resolved) -> Option<Secret> {
    if let Some(secret) = &resolved.env_secret {
        return Some(secret.clone());
    }
    if resolved.mode == Mode::Environment {
        return None;
    }
    Keyring::open()
        .ok()
        .and_then(|keyring| {
            keyring
                .get(&resolved.profile.name, SecretKind::ClientSecret)
                .ok()
        })
        .flatten()
        .or_else(|| resolved.fallback_secret.clone())
}

/// Returns the credential the flow sends. Client credentials need one.
/// AuthorizationCode is confidential with a certificate profile or a client
/// secret that can be found, and public otherwise, so a missing secret or
/// keyring is no error there. DeviceCode and InteractiveBrowser are public
/// clients and look nothing up.
pub fn flow_credential(resolved: &Resolved, timeout: Duration) -> Result<Option<ClientCredential>> {
    match resolved.flow {
        Flow::ClientCredentials => resolve_client_credential_within(resolved, timeout).map(Some),
        Flow::DeviceCode | Flow::InteractiveBrowser => Ok(None),
        Flow::AuthorizationCode if resolved.profile.auth_method.uses_certificate() => {
            resolve_client_credential_within(resolved, timeout).map(Some)
        }
        Flow::AuthorizationCode => {
            let secret = optional_client_secret(resolved);
            debug!(
                "authorization code redeemed as a {} client",
                if secret.is_some() {
                    "confidential"
                } else {
                    "public"
                }
            );
            Ok(secret.map(ClientCredential::Secret))
        }
    }
}

/// Returns the client's credential, as [`resolve_client_credential_within`]
/// does with a 60-second limit for a GitHub Actions OIDC request.
pub fn resolve_client_credential(resolved: &Resolved) -> Result<ClientCredential> {
    resolve_client_credential_within(resolved, DEFAULT_CREDENTIAL_TIMEOUT)
}

/// Returns the client's credential: a federated token source, the secret,
/// or the certificate opened and checked, so every local problem shows up
/// before any token request is sent. A GitHub Actions OIDC token is
/// requested here, within `timeout`.
pub fn resolve_client_credential_within(
    resolved: &Resolved,
    timeout: Duration,
) -> Result<ClientCredential> {
    let profile = &resolved.profile;
    let args = &resolved.certificate;
    match profile.federated_token_source {
        Some(FederatedSource::File) => {
            let path = environment::federated_token_path(profile).ok_or_else(|| {
                Error::Usage(format!(
                    "{} asks for a federated token file, but none is set",
                    resolved.credential_origin
                ))
            })?;
            federated::check_token_file(&path, &resolved.credential_origin)?;
            debug!("client assertion: federated token from {}", path.display());
            return Ok(ClientCredential::Federated(FederatedToken::File(path)));
        }
        Some(FederatedSource::GitHub) => {
            let oidc = GitHubOidc::from_env(environment::github_audience(profile))?;
            let token = block_on_with_timeout(timeout, oidc.request_token(timeout))?;
            return Ok(ClientCredential::Federated(FederatedToken::Issued(token)));
        }
        None => {}
    }
    if profile.auth_method == AuthMethod::ClientSecret {
        return resolve_client_secret(resolved).map(ClientCredential::Secret);
    }
    let sources = PasswordSources {
        use_keyring: resolved.mode == Mode::Profile
            && (profile.cache_certificate_password || args.cache_cert_password),
        interactive: ui::can_prompt(),
        fallback: env::var(env::azure::CLIENT_CERTIFICATE_PASSWORD).map(Secret::new),
    };
    let (path, certificate) = certificate::load_for_profile(profile, &sources)?;
    let options = AssertionOptions {
        algorithm: args
            .assertion_algorithm
            .or(profile.client_assertion_algorithm)
            .unwrap_or_default(),
        include_x5t: args.include_x5t || profile.include_x5t,
        include_x5c: args.include_x5c || profile.include_x5c,
    };
    debug!(
        "client assertion {} from {} (SHA-1 thumbprint {})",
        options.algorithm,
        path.display(),
        certificate.sha1_thumbprint()
    );
    Ok(ClientCredential::Certificate {
        certificate: Box::new(certificate),
        options,
    })
}

/// Returns the client secret: `ENTRATOOL_CLIENT_SECRET` for this run, else
/// the keyring, else `AZURE_CLIENT_SECRET`. The environment wins so CI never
/// touches a keyring, and without a profile the keyring is never opened.
pub fn resolve_client_secret(resolved: &Resolved) -> Result<Secret> {
    if let Some(secret) = &resolved.env_secret {
        debug!("client secret from {}", resolved.credential_origin);
        return Ok(secret.clone());
    }
    let profile = &resolved.profile;
    if resolved.mode == Mode::Environment {
        return Err(Error::Usage(format!(
            "no client credential is set for {}: set {} or {}, a certificate with \
             --certificate-path, or a federated token with --federated-token-file or \
             --federated github",
            resolved.flow,
            env::CLIENT_SECRET,
            env::azure::CLIENT_SECRET
        )));
    }
    let from_keyring = Keyring::open().and_then(|k| k.get(&profile.name, SecretKind::ClientSecret));
    match (from_keyring, &resolved.fallback_secret) {
        (Ok(Some(secret)), _) => Ok(secret),
        (Ok(None) | Err(_), Some(fallback)) => {
            debug!("client secret from {}", env::azure::CLIENT_SECRET);
            Ok(fallback.clone())
        }
        (Err(e), None) => Err(e),
        (Ok(None), None) => Err(Error::InvalidProfile {
            profile: profile.name.clone(),
            message: format!(
                "no client secret is stored for it in the OS keyring; store one with `entratool \
                 config create`, or set {} for this run",
                env::CLIENT_SECRET
            ),
        }),
    }
}
