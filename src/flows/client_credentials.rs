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
    let endpoint = client.token_endpoint(&profile.tenant_id);
    let credential_fields = credential.form_fields(&profile.client_id, &endpoint)?;
    let scope = request.scopes.join(" ");
    let mut form = vec![
        ("client_id", profile.client_id.as_str()),
        ("grant_type", "client_credentials"),
        ("scope", scope.as_str()),
    ];
    for (name, value) in &credential_fields {
        form.push((name, value.expose()));
    }
    client
        .request_token(&profile.tenant_id, &form, &request.scopes)
        .await
}
