//! Refresh token grant (RFC 6749 section 6). Entra rotates refresh tokens,
//! so the response's new refresh token replaces the old one in the cache.

use super::ClientCredential;
use crate::error::Result;
use crate::profile::Profile;
use crate::secrets::Secret;
use crate::token::{Token, TokenClient};

/// Scopes the user flows always add, so a new refresh token comes back.
pub const OPENID_SCOPES: [&str; 3] = ["offline_access", "openid", "profile"];

/// Returns the scopes to request in a user flow: the profile's plus the
/// OpenID ones.
pub fn user_scopes(scopes: &[String]) -> String {
    let mut all: Vec<&str> = scopes.iter().map(String::as_str).collect();
    for extra in OPENID_SCOPES {
        if !all.iter().any(|s| s.eq_ignore_ascii_case(extra)) {
            all.push(extra);
        }
    }
    all.join(" ")
}

pub async fn acquire(
    client: &TokenClient,
    profile: &Profile,
    scopes: &[String],
    refresh_token: &Secret,
    credential: Option<&ClientCredential>,
) -> Result<Token> {
    let scope = user_scopes(scopes);
    let form = [
        ("client_id", profile.client_id.as_str()),
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token.expose()),
        ("scope", scope.as_str()),
    ];
    let mut token = client
        .request_token_authenticated(
            &profile.tenant_id,
            &form,
            credential,
            &profile.client_id,
            scopes,
        )
        .await?;
    // A server that does not rotate returns no refresh token; keep the old.
    if token.refresh_token.is_none() {
        token.refresh_token = Some(refresh_token.clone());
    }
    Ok(token)
}
