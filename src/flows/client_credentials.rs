//! Client credentials grant (RFC 6749 section 4.4): the app signs in as
//! itself with a client secret sent as `client_secret_post`, Entra's default.

use super::FlowRequest;
use crate::error::{Error, Result};
use crate::token::{Token, TokenClient};

pub async fn acquire(client: &TokenClient, request: &FlowRequest<'_>) -> Result<Token> {
    let profile = request.profile;
    if !request.client_auth.is_confidential() {
        return Err(Error::InvalidProfile {
            profile: profile.name.clone(),
            message: "no client secret is available".to_string(),
        });
    }
    let scope = request.scopes.join(" ");
    let mut form: Vec<(&'static str, String)> = vec![
        ("client_id", profile.client_id.clone()),
        ("grant_type", "client_credentials".to_string()),
        ("scope", scope),
    ];
    request
        .client_auth
        .append_to(&mut form, &client.token_endpoint(&profile.tenant_id));
    client
        .request_token_owned(&profile.tenant_id, &form, &request.scopes)
        .await
}
