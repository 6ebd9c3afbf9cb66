//! The authorization code grant with PKCE (RFC 6749 section 4.1, RFC 7636):
//! the authorize URL, the checks on the redirect, and the code redemption.

use oauth2::{CsrfToken, PkceCodeChallenge};

use super::ClientCredential;
use crate::error::{Error, Result, ServerError};
use crate::profile::Profile;
use crate::secrets::Secret;
use crate::token::client::form_urlencode;
use crate::token::{Token, TokenClient};

/// One sign-in attempt: the PKCE verifier (kept for the redemption), its S256
/// challenge and the `state` that the redirect must return unchanged.
pub struct AuthorizationSession {
    pub verifier: Secret,
    pub challenge: String,
    pub state: String,
}

impl AuthorizationSession {
    /// Generates a random verifier (32 bytes, 43 base64url characters) and a
    /// random state.
    pub fn new() -> AuthorizationSession {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        AuthorizationSession {
            verifier: Secret::new(verifier.secret().clone()),
            challenge: challenge.as_str().to_string(),
            state: CsrfToken::new_random().secret().clone(),
        }
    }

    /// Builds the authorize URL. `redirect_uri` is sent exactly as given:
    /// Entra compares it as a string, so no URL library may normalise it.
    pub fn authorize_url(
        &self,
        client: &TokenClient,
        profile: &Profile,
        scopes: &[String],
        redirect_uri: &str,
    ) -> String {
        let scope = scopes.join(" ");
        let query = form_urlencode(&[
            ("client_id", profile.client_id.as_str()),
            ("response_type", "code"),
            ("redirect_uri", redirect_uri),
            ("response_mode", "query"),
            ("scope", scope.as_str()),
            ("state", self.state.as_str()),
            ("code_challenge", self.challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("prompt", "select_account"),
        ]);
        format!("{}?{query}", client.authorize_endpoint(&profile.tenant_id))
    }

    /// Redeems the code at the token endpoint with the PKCE verifier and the
    /// same redirect URI string as the authorize request, as a public client
    /// when `client_credential` is `None`.
    pub async fn redeem(
        &self,
        client: &TokenClient,
        profile: &Profile,
        scopes: &[String],
        code: &Secret,
        redirect_uri: &str,
        client_credential: Option<&ClientCredential>,
    ) -> Result<Token> {
        let scope = scopes.join(" ");
        let form = [
            ("client_id", profile.client_id.as_str()),
            ("grant_type", "authorization_code"),
            ("code", code.expose()),
            ("redirect_uri", redirect_uri),
            ("code_verifier", self.verifier.expose()),
            ("scope", scope.as_str()),
        ];
        client
            .request_token_authenticated(
                &profile.tenant_id,
                &form,
                client_credential,
                &profile.client_id,
                scopes,
            )
            .await
    }
}

impl Default for AuthorizationSession {
    fn default() -> Self {
        AuthorizationSession::new()
    }
}

/// The parameters a redirect can carry. The code is a [`Secret`], so
/// printing this value never shows it.
#[derive(Debug, Default)]
pub struct RedirectParams {
    pub code: Option<Secret>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

impl RedirectParams {
    /// Parses a query string such as `code=...&state=...`.
    pub fn from_query(query: &str) -> RedirectParams {
        let mut params = RedirectParams::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.into_owned();
            match key.as_ref() {
                "code" => params.code = Some(Secret::new(value)),
                "state" => params.state = Some(value),
                "error" => params.error = Some(value),
                "error_description" => params.error_description = Some(value),
                _ => {}
            }
        }
        params
    }

    /// True when this is an authorization response, not some other request
    /// that reached the listener.
    pub fn is_authorization_response(&self) -> bool {
        self.code.is_some() || self.error.is_some()
    }
}

/// Checks the parameters of a redirect and returns the code. `state` must
/// equal `expected_state`, except that a pasted bare code carries none and
/// passes `state_required: false`.
pub fn code_from_redirect(
    expected_state: &str,
    authorize_endpoint: &str,
    params: &RedirectParams,
    state_required: bool,
) -> Result<Secret> {
    match params.state.as_deref() {
        Some(state) if state == expected_state => {}
        None if !state_required => {}
        Some(_) => return Err(state_mismatch("its `state` does not match the one sent")),
        None => return Err(state_mismatch("it carries no `state`")),
    }
    if let Some(error) = &params.error {
        return Err(redirect_error(authorize_endpoint, error, params));
    }
    match &params.code {
        Some(code) if !code.expose().is_empty() => Ok(code.clone()),
        _ => Err(Error::Rejected {
            message: "the redirect carries neither a `code` nor an `error`".to_string(),
            hint: None,
        }),
    }
}

fn state_mismatch(detail: &str) -> Error {
    Error::Rejected {
        message: format!(
            "the sign-in redirect was rejected because {detail}; it may not come from this sign-in"
        ),
        hint: Some(
            "run the command again and finish the sign-in in the browser tab it opens; close \
             older sign-in tabs first"
                .to_string(),
        ),
    }
}

/// Turns an `error=` redirect into an error with the server's description
/// and, for known AADSTS codes (consent, redirect URI), a hint.
fn redirect_error(authorize_endpoint: &str, error: &str, params: &RedirectParams) -> Error {
    let server_error = ServerError {
        endpoint: authorize_endpoint.to_string(),
        status: 302,
        error: crate::ui::printable(error),
        description: params
            .error_description
            .as_deref()
            .map(crate::ui::printable),
        error_codes: Vec::new(),
        trace_id: None,
        correlation_id: None,
    };
    let detail = server_error
        .first_line()
        .map(|line| format!(": {line}"))
        .unwrap_or_default();
    // A person who cancels or declines needs no advice on consent, whatever
    // AADSTS code (such as 65004) the server attached.
    let hint = if error == "access_denied" {
        Some(
            "the sign-in was cancelled or access was denied; run the command again and accept \
             the request"
                .to_string(),
        )
    } else {
        server_error.hint().map(str::to_string).or_else(|| {
            let hint = match error {
                "consent_required" | "interaction_required" => {
                    "consent is required: an admin or the user must grant the app's permissions"
                }
                "invalid_scope" => "check the profile's scopes and the API permissions of the app",
                _ => return None,
            };
            Some(hint.to_string())
        })
    };
    Error::Rejected {
        message: format!("the sign-in failed with `{}`{detail}", server_error.error),
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;

    #[test]
    fn challenge_is_s256_of_the_verifier() {
        use sha2::Digest;
        let session = AuthorizationSession::new();
        assert_eq!(session.verifier.expose().len(), 43);
        let digest = sha2::Sha256::digest(session.verifier.expose().as_bytes());
        assert_eq!(session.challenge, URL_SAFE_NO_PAD.encode(digest));
        assert_ne!(session.state, AuthorizationSession::new().state);
    }

    #[test]
    fn redirect_uri_is_sent_without_a_trailing_slash() {
        let client =
            TokenClient::new("https://login.test", std::time::Duration::from_secs(5)).unwrap();
        let profile = Profile::new("p".into(), "common".into(), "c".into());
        let session = AuthorizationSession::new();
        let url = session.authorize_url(
            &client,
            &profile,
            &["openid".into()],
            "http://localhost:8080",
        );
        assert!(
            url.starts_with("https://login.test/common/oauth2/v2.0/authorize?"),
            "{url}"
        );
        assert!(
            url.contains("redirect_uri=http%3A%2F%2Flocalhost%3A8080&"),
            "{url}"
        );
        assert!(url.contains("code_challenge_method=S256"), "{url}");
        assert!(url.contains("prompt=select_account"), "{url}");
    }

    #[test]
    fn redirect_checks_state_then_error_then_code() {
        let session = AuthorizationSession::new();
        let ok = RedirectParams::from_query(&format!("code=abc&state={}", session.state));
        assert_eq!(
            code_from_redirect(&session.state, "e", &ok, true)
                .unwrap()
                .expose(),
            "abc"
        );

        let forged = RedirectParams::from_query("code=abc&state=forged");
        assert!(matches!(
            code_from_redirect(&session.state, "e", &forged, true),
            Err(Error::Rejected { .. })
        ));
        let stateless = RedirectParams::from_query("code=abc");
        assert!(code_from_redirect(&session.state, "e", &stateless, true).is_err());
        assert!(code_from_redirect(&session.state, "e", &stateless, false).is_ok());

        let denied = RedirectParams::from_query(&format!(
            "error=consent_required&error_description=AADSTS65001%3A+The+user+has+not+consented&state={}",
            session.state
        ));
        let error = code_from_redirect(&session.state, "e", &denied, true).unwrap_err();
        assert!(error.to_string().contains("AADSTS65001"), "{error}");
        assert!(error.hint().unwrap().contains("consent"));
    }

    #[test]
    fn redirect_params_debug_hides_the_code() {
        let params = RedirectParams::from_query("code=super-secret-code&state=s");
        assert!(!format!("{params:?}").contains("super-secret"));
    }
}
