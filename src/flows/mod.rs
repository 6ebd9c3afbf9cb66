//! The OAuth 2.0 flows. Each takes a resolved [`FlowRequest`] and returns a
//! [`Token`] from the shared [`TokenClient`].

pub mod client_credentials;
pub mod refresh_token;

use crate::error::{Error, Result};
use crate::profile::{Flow, Profile};
use crate::secrets::Secret;
use crate::token::{Token, TokenClient};

/// Everything a flow needs, resolved from flags, environment and profile.
pub struct FlowRequest<'a> {
    pub profile: &'a Profile,
    pub flow: Flow,
    pub scopes: Vec<String>,
    pub client_secret: Option<Secret>,
}

/// Runs the requested flow against the authority.
pub async fn acquire(client: &TokenClient, request: &FlowRequest<'_>) -> Result<Token> {
    match request.flow {
        Flow::ClientCredentials => client_credentials::acquire(client, request).await,
        other => Err(Error::Unsupported(format!(
            "the {other} flow is not supported yet; use -f ClientCredentials with a \
             ClientSecret profile"
        ))),
    }
}
