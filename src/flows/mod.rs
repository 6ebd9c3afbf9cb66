//! The OAuth 2.0 flows. Each takes a resolved [`FlowRequest`] and returns a
//! [`Token`] from the shared [`TokenClient`].

pub mod client_credentials;
pub mod refresh_token;

use crate::certificate::{AssertionOptions, ClientCertificate, CLIENT_ASSERTION_TYPE};
use crate::error::{Error, Result};
use crate::federated::FederatedToken;
use crate::profile::{Flow, Profile};
use crate::secrets::Secret;
use crate::token::{Token, TokenClient};

/// Everything a flow needs, resolved from flags, environment and profile.
pub struct FlowRequest<'a> {
    pub profile: &'a Profile,
    pub flow: Flow,
    pub scopes: Vec<String>,
    pub client_credential: Option<ClientCredential>,
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
        other => Err(Error::Unsupported(format!(
            "the {other} flow is not supported yet; use -f ClientCredentials with a \
             ClientSecret or certificate profile"
        ))),
    }
}
