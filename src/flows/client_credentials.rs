//! Client credentials grant (RFC 6749 section 4.4): the app signs in as
//! itself with a client secret sent as `client_secret_post`, Entra's default.

use super::FlowRequest;
use crate::error::{Error, Result};
use crate::token::{Token, TokenClient};

pub async fn acquire(client: &TokenClient, request: &FlowRequest<'_>) -> Result<Token> {
    let profile = request.profile;
    let secret = request
        .client_secret
        .as_ref()
        .ok_or_else(|| Error::InvalidProfile {
            profile: profile.name.clone(),
            message: "no client secret is available".to_string(),
        })?;
    let scope = request.scopes.join(" ");
    let form = [
        ("client_id", profile.client_id.as_str()),
        ("client_secret", secret.expose()),
        ("grant_type", "client_credentials"),
        ("scope", scope.as_str()),
    ];
    client
        .request_token(&profile.tenant_id, &form, &request.scopes)
        .await
}
