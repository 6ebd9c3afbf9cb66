//! Token and error response bodies, parsed leniently: servers differ in
//! which optional fields they send and in whether numbers arrive as strings.

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;

use crate::error::ServerError;
use crate::secrets::Secret;

/// A successful token response (RFC 6749 section 5.1).
#[derive(Debug, Clone)]
pub struct TokenResponse {
    pub access_token: Secret,
    pub token_type: String,
    pub expires_in: Option<u64>,
    pub scope: Option<String>,
    pub refresh_token: Option<Secret>,
    pub id_token: Option<String>,
}

#[derive(Deserialize)]
struct RawTokenResponse {
    access_token: Option<String>,
    token_type: Option<String>,
    #[serde(default)]
    expires_in: Option<Value>,
    #[serde(default)]
    scope: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    id_token: Option<String>,
}

/// The reason a 2xx body could not be used as a token response.
#[derive(Debug, thiserror::Error)]
pub enum TokenParseError {
    #[error("the body is not JSON ({0})")]
    NotJson(String),
    #[error("the JSON has no `{0}` field")]
    Missing(&'static str),
    #[error("`token_type` is `{0}`, expected `Bearer`")]
    WrongTokenType(String),
}

impl TokenResponse {
    pub fn parse(body: &[u8]) -> Result<TokenResponse, TokenParseError> {
        let raw: RawTokenResponse =
            serde_json::from_slice(body).map_err(|e| TokenParseError::NotJson(e.to_string()))?;
        let access_token = raw
            .access_token
            .filter(|t| !t.is_empty())
            .ok_or(TokenParseError::Missing("access_token"))?;
        let token_type = raw
            .token_type
            .ok_or(TokenParseError::Missing("token_type"))?;
        // Entra issues Bearer tokens. A PoP or other token type needs handling
        // this tool does not do, so using it as a bearer token would fail later.
        if !token_type.eq_ignore_ascii_case("bearer") {
            return Err(TokenParseError::WrongTokenType(token_type));
        }
        Ok(TokenResponse {
            access_token: Secret::new(access_token),
            token_type: "Bearer".to_string(),
            expires_in: raw.expires_in.as_ref().and_then(lenient_u64),
            scope: raw.scope.filter(|s| !s.trim().is_empty()),
            refresh_token: raw.refresh_token.filter(|t| !t.is_empty()).map(Secret::new),
            id_token: raw.id_token,
        })
    }
}

/// Reads a number that may arrive as a JSON number or a string of digits.
pub fn lenient_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| *f >= 0.0).map(|f| f as u64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[derive(Deserialize)]
struct RawErrorResponse {
    error: String,
    #[serde(default)]
    error_description: Option<String>,
    #[serde(default)]
    error_codes: Vec<u64>,
    #[serde(default)]
    trace_id: Option<String>,
    #[serde(default)]
    correlation_id: Option<String>,
}

/// Parses an OAuth error body (`error`, `error_description`, and Entra's
/// `error_codes`, `trace_id`, `correlation_id`). Returns `None` for any body
/// that is not such JSON.
pub fn parse_error(endpoint: &str, status: u16, body: &[u8]) -> Option<ServerError> {
    let raw: RawErrorResponse = serde_json::from_slice(body).ok()?;
    // Every text field reaches the terminal in the error message.
    let printable = |text: String| crate::ui::printable(&text);
    Some(ServerError {
        endpoint: endpoint.to_string(),
        status,
        error: printable(raw.error),
        description: raw.error_description.map(printable),
        error_codes: raw.error_codes,
        trace_id: raw.trace_id.map(printable),
        correlation_id: raw.correlation_id.map(printable),
    })
}

/// A token ready to hand to the user.
#[derive(Debug, Clone)]
pub struct Token {
    pub access_token: Secret,
    pub token_type: String,
    pub expires_on: OffsetDateTime,
    /// Scopes the server granted, or those requested when the response
    /// names none.
    pub scopes: Vec<String>,
    pub refresh_token: Option<Secret>,
    pub from_cache: bool,
}

/// Lifetime assumed when a server omits `expires_in`: one hour, Entra's
/// usual default for access tokens.
const DEFAULT_LIFETIME_SECS: u64 = 3600;

/// Maximum lifetime accepted from a server: one year. Larger values (up to
/// `u64::MAX` from a broken server or proxy) would overflow the date
/// arithmetic, and a shorter stated lifetime only means an earlier renewal.
const MAX_LIFETIME_SECS: u64 = 366 * 24 * 3600;

impl Token {
    pub fn from_response(
        response: TokenResponse,
        requested_scopes: &[String],
        issued_at: OffsetDateTime,
    ) -> Token {
        let lifetime = response
            .expires_in
            .unwrap_or(DEFAULT_LIFETIME_SECS)
            .min(MAX_LIFETIME_SECS);
        let scopes = match &response.scope {
            Some(granted) => granted.split_whitespace().map(str::to_string).collect(),
            None => requested_scopes.to_vec(),
        };
        Token {
            access_token: response.access_token,
            token_type: response.token_type,
            expires_on: issued_at + time::Duration::seconds(lifetime as i64),
            scopes,
            refresh_token: response.refresh_token,
            from_cache: false,
        }
    }

    /// Seconds until expiry, zero once expired.
    pub fn expires_in(&self, now: OffsetDateTime) -> u64 {
        (self.expires_on - now).whole_seconds().max(0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_accepts_number_and_string() {
        let number = TokenResponse::parse(
            br#"{"access_token":"a","token_type":"Bearer","expires_in":3599}"#,
        )
        .unwrap();
        assert_eq!(number.expires_in, Some(3599));
        let string = TokenResponse::parse(
            br#"{"access_token":"a","token_type":"bearer","expires_in":"3599"}"#,
        )
        .unwrap();
        assert_eq!(string.expires_in, Some(3599));
    }

    #[test]
    fn only_access_token_and_type_are_required() {
        let minimal =
            TokenResponse::parse(br#"{"access_token":"a","token_type":"Bearer"}"#).unwrap();
        assert_eq!(minimal.expires_in, None);
        assert!(minimal.scope.is_none());
        assert!(matches!(
            TokenResponse::parse(br#"{"token_type":"Bearer"}"#),
            Err(TokenParseError::Missing("access_token"))
        ));
        assert!(matches!(
            TokenResponse::parse(br#"{"access_token":"a","token_type":"pop"}"#),
            Err(TokenParseError::WrongTokenType(_))
        ));
    }

    #[test]
    fn plain_oauth_error_without_entra_fields() {
        let error = parse_error(
            "t",
            400,
            br#"{"error":"invalid_grant","error_description":"bad code"}"#,
        )
        .unwrap();
        assert_eq!(error.error, "invalid_grant");
        assert_eq!(error.aadsts_code(), None);
        assert_eq!(error.first_line(), Some("bad code"));
    }

    #[test]
    fn aadsts_code_from_description_when_codes_absent() {
        let error = parse_error(
            "t",
            401,
            br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret.\r\nTrace ID: x"}"#,
        )
        .unwrap();
        assert_eq!(error.aadsts_code(), Some(7000215));
        assert_eq!(
            error.first_line(),
            Some("AADSTS7000215: Invalid client secret.")
        );
        assert!(error.hint().is_some());
    }
}
