//! Client credentials grant (RFC 6749 section 4.4): the app signs in as
//! itself with a client secret (`client_secret_post`, Entra's default) or a
//! certificate-signed client assertion (RFC 7523).

use super::FlowRequest;
use crate::error::{Error, Result};
use crate::token::{Token, TokenClient};

pub async fn acquire(client: &TokenClient, request: &FlowRequest<'_>) -> Result<Token> {
    let profile = request.profile;
    let credential = request
        .client_credential
        .as_ref()
        .ok_or_else(|| Error::InvalidProfile {
            profile: profile.name.clone(),
            message: "no client secret or certificate is available".to_string(),
        })?;
    let scope = request.scopes.join(" ");
    let form = [
        ("client_id", profile.client_id.as_str()),
        ("grant_type", "client_credentials"),
        ("scope", scope.as_str()),
    ];
    client
        .request_token_authenticated(
            &profile.tenant_id,
            &form,
            Some(credential),
            &profile.client_id,
            &request.scopes,
        )
        .await
}
