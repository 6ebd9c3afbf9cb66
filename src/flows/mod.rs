//! The OAuth 2.0 flows. Each takes a resolved [`FlowRequest`] and returns a
//! [`Token`] from the shared [`TokenClient`].

pub mod authorization_code;
pub mod browser;
pub mod client_credentials;
pub mod device_code;
pub mod loopback;
pub mod pkce;
pub mod redirect;
pub mod refresh_token;

use crate::certificate::{AssertionOptions, ClientCertificate, CLIENT_ASSERTION_TYPE};
use crate::error::Result;
use crate::federated::FederatedToken;
use crate::profile::{Flow, Profile};
use crate::secrets::Secret;
use crate::token::{Token, TokenClient};

/// Options of the browser flows, from the command line.
#[derive(Debug, Clone, Default)]
pub struct BrowserOptions {
    /// `--redirect-uri`, which wins over the profile's `redirectUri`.
    pub redirect_uri: Option<String>,
    /// `--port`, used when no redirect URI names a port.
    pub port: Option<u16>,
    /// `--no-browser`: print the URL and read the redirected URL from stdin.
    pub no_browser: bool,
}

/// Everything a flow needs, resolved from flags, environment and profile.
pub struct FlowRequest<'a> {
    pub profile: &'a Profile,
    pub flow: Flow,
    pub scopes: Vec<String>,
    /// The confidential client's credential, `None` for a public client.
    pub client_credential: Option<ClientCredential>,
    pub browser: BrowserOptions,
    /// `--silent`: no spinner or notes. Device-code instructions and the
    /// sign-in URL are still printed, since sign-in is impossible without them.
    pub silent: bool,
}

/// Credential of a confidential client at the token endpoint.
pub enum ClientCredential {
    /// `client_secret` in the form (`client_secret_post`, Entra's default).
    Secret(Secret),
    /// A client assertion signed with the certificate's key
    /// (`private_key_jwt`), minted anew for every request.
    Certificate {
        certificate: Box<ClientCertificate>,
        options: AssertionOptions,
    },
    /// A token from another identity provider, sent as the client assertion
    /// (workload identity federation). A token file is read again on every
    /// call, since the platform rotates it.
    Federated(FederatedToken),
}

impl ClientCredential {
    /// Returns the form fields that authenticate `client_id` at
    /// `token_endpoint`. A certificate signs a new assertion with a fresh
    /// `jti` on every call, because Entra rejects a replayed assertion.
    pub fn form_fields(
        &self,
        client_id: &str,
        token_endpoint: &str,
    ) -> Result<Vec<(&'static str, Secret)>> {
        match self {
            ClientCredential::Secret(secret) => Ok(vec![("client_secret", secret.clone())]),
            ClientCredential::Certificate {
                certificate,
                options,
            } => {
                let assertion = certificate.client_assertion(client_id, token_endpoint, options)?;
                Ok(vec![
                    ("client_assertion_type", Secret::new(CLIENT_ASSERTION_TYPE)),
                    ("client_assertion", assertion),
                ])
            }
            ClientCredential::Federated(token) => Ok(vec![
                ("client_assertion_type", Secret::new(CLIENT_ASSERTION_TYPE)),
                ("client_assertion", token.assertion()?),
            ]),
        }
    }
}

/// Runs the requested flow against the authority.
pub async fn acquire(client: &TokenClient, request: &FlowRequest<'_>) -> Result<Token> {
    match request.flow {
        Flow::ClientCredentials => client_credentials::acquire(client, request).await,
        Flow::DeviceCode => device_code::acquire(client, request).await,
        Flow::InteractiveBrowser | Flow::AuthorizationCode => {
            authorization_code::acquire(client, request).await
        }
    }
}

/// Returns the scopes for a user flow: the requested ones followed by
/// `offline_access openid profile` ([`refresh_token::OPENID_SCOPES`]), so a
/// refresh token and an ID token come back, without repeats (compared
/// without case).
pub fn user_flow_scopes(requested: &[String]) -> Vec<String> {
    let mut scopes: Vec<String> = requested.to_vec();
    for extra in refresh_token::OPENID_SCOPES {
        if !scopes.iter().any(|s| s.eq_ignore_ascii_case(extra)) {
            scopes.push(extra.to_string());
        }
    }
    scopes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_flow_scopes_are_added_once() {
        let scopes = user_flow_scopes(&["User.Read".to_string(), "OpenID".to_string()]);
        assert_eq!(scopes, ["User.Read", "OpenID", "offline_access", "profile"]);
    }
}
