//! The OAuth 2.0 flows. Each takes a resolved [`FlowRequest`] and returns a
//! [`Token`] from the shared [`TokenClient`].

pub mod authorization_code;
pub mod browser;
pub mod client_credentials;
pub mod device_code;
pub mod loopback;
pub mod pkce;
pub mod redirect;

use crate::error::Result;
use crate::profile::{Flow, Profile};
use crate::secrets::Secret;
use crate::token::{Token, TokenClient};

/// Scopes added to every user flow: `openid` and `profile` for the ID token,
/// `offline_access` so the server also returns a refresh token.
pub const USER_FLOW_SCOPES: [&str; 3] = ["offline_access", "openid", "profile"];

/// Client authentication at the token endpoint.
#[derive(Debug, Clone)]
pub enum ClientAuth {
    /// A public client (desktop app, CLI): only `client_id` is sent.
    Public,
    /// A confidential client with a secret, sent as `client_secret_post`,
    /// Entra's default.
    Secret(Secret),
    // A certificate-based client assertion belongs here: `append_to` gets the
    // token endpoint so it can mint a fresh assertion for every request.
}

impl ClientAuth {
    pub fn is_confidential(&self) -> bool {
        !matches!(self, ClientAuth::Public)
    }

    /// Adds the client authentication fields to a token request for
    /// `token_endpoint`.
    pub fn append_to(&self, form: &mut Vec<(&'static str, String)>, _token_endpoint: &str) {
        match self {
            ClientAuth::Public => {}
            ClientAuth::Secret(secret) => form.push(("client_secret", secret.expose().to_string())),
        }
    }
}

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
    pub client_auth: ClientAuth,
    pub browser: BrowserOptions,
    /// `--silent`: no spinner or notes. Device-code instructions and the
    /// sign-in URL are still printed, since sign-in is impossible without them.
    pub silent: bool,
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
/// [`USER_FLOW_SCOPES`], without repeats (compared without case).
pub fn user_flow_scopes(requested: &[String]) -> Vec<String> {
    let mut scopes: Vec<String> = requested.to_vec();
    for extra in USER_FLOW_SCOPES {
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

    #[test]
    fn public_client_sends_no_secret() {
        let mut form = Vec::new();
        ClientAuth::Public.append_to(&mut form, "https://x/token");
        assert!(form.is_empty());
        ClientAuth::Secret(Secret::new("s")).append_to(&mut form, "https://x/token");
        assert_eq!(form, [("client_secret", "s".to_string())]);
    }
}
