//! The one HTTP client every flow uses to talk to the authority.

use std::time::Duration;

use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE};
use time::OffsetDateTime;
use tracing::debug;

use super::response::{self, Token, TokenResponse};
use crate::error::{Error, Result};

pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// Largest response body read, so a misbehaving proxy cannot exhaust memory.
/// Token responses are a few kilobytes.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Longest wait for a TCP (and TLS) connection to the authority.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Sends token requests to one authority.
pub struct TokenClient {
    http: reqwest::Client,
    authority: String,
}

impl TokenClient {
    /// `timeout` bounds each request from connect to the last body byte.
    pub fn new(authority: &str, timeout: Duration) -> Result<TokenClient> {
        let http = reqwest::Client::builder()
            .user_agent(concat!("entratool/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .timeout(timeout)
            .build()
            .map_err(|e| Error::Other(format!("cannot set up the HTTP client: {e}")))?;
        Ok(TokenClient {
            http,
            authority: authority.trim_end_matches('/').to_string(),
        })
    }

    pub fn authority(&self) -> &str {
        &self.authority
    }

    pub fn token_endpoint(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/token", self.authority)
    }

    pub fn device_code_endpoint(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/devicecode", self.authority)
    }

    pub fn authorize_endpoint(&self, tenant: &str) -> String {
        format!("{}/{tenant}/oauth2/v2.0/authorize", self.authority)
    }

    /// POSTs a token request and turns the response into a [`Token`].
    pub async fn request_token(
        &self,
        tenant: &str,
        form: &[(&str, &str)],
        requested_scopes: &[String],
    ) -> Result<Token> {
        let endpoint = self.token_endpoint(tenant);
        let issued_at = OffsetDateTime::now_utc();
        let (status, body) = self.post_form(&endpoint, form).await?;
        token_from_body(&endpoint, status, &body, requested_scopes, issued_at)
    }

    /// [`TokenClient::request_token`] for a form built from owned values.
    pub async fn request_token_owned(
        &self,
        tenant: &str,
        form: &[(&str, String)],
        requested_scopes: &[String],
    ) -> Result<Token> {
        let borrowed: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
        self.request_token(tenant, &borrowed, requested_scopes)
            .await
    }

    /// POSTs an `application/x-www-form-urlencoded` body and returns the
    /// status and body, read up to [`MAX_BODY_BYTES`].
    pub async fn post_form(&self, endpoint: &str, form: &[(&str, &str)]) -> Result<(u16, Vec<u8>)> {
        let started = std::time::Instant::now();
        let body = form_urlencode(form);
        let result = self
            .http
            .post(endpoint)
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .body(body)
            .send()
            .await;
        let mut response = result.map_err(|e| transport_error(endpoint, &e))?;
        let status = response.status().as_u16();
        let mut bytes = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport_error(endpoint, &e))?
        {
            if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(Error::Network(format!(
                    "{endpoint} sent a response larger than {} KiB; a proxy may be interfering",
                    MAX_BODY_BYTES / 1024
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        debug!(
            "POST {endpoint} -> {status} in {} ms",
            started.elapsed().as_millis()
        );
        Ok((status, bytes))
    }
}

/// Turns a token endpoint response into a [`Token`], or into the error the
/// body describes when the status is not 2xx.
pub fn token_from_body(
    endpoint: &str,
    status: u16,
    body: &[u8],
    requested_scopes: &[String],
    issued_at: OffsetDateTime,
) -> Result<Token> {
    if !(200..300).contains(&status) {
        return Err(error_from_body(endpoint, status, body));
    }
    let parsed = TokenResponse::parse(body).map_err(|e| {
        Error::Network(format!(
            "{endpoint} returned HTTP {status} but an unusable token response: {e}"
        ))
    })?;
    Ok(Token::from_response(parsed, requested_scopes, issued_at))
}

/// Encodes form fields as RFC 6749 requires (`application/x-www-form-urlencoded`).
pub fn form_urlencode(form: &[(&str, &str)]) -> String {
    let mut serializer = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form {
        serializer.append_pair(key, value);
    }
    serializer.finish()
}

/// Builds the error for a non-2xx response: an OAuth error body becomes a
/// [`crate::error::ServerError`]; anything else (an HTML page from a proxy,
/// an empty body) is reported with the status and content kind.
pub fn error_from_body(endpoint: &str, status: u16, body: &[u8]) -> Error {
    if let Some(server_error) = response::parse_error(endpoint, status, body) {
        return Error::Server(Box::new(server_error));
    }
    let kind = describe_body(body);
    let advice = if status == 429 {
        "the server is throttling requests; wait and try again"
    } else if (500..600).contains(&status) {
        "the server or a proxy in between failed; try again, and check proxy settings if it persists"
    } else {
        "a proxy or a wrong authority URL may be answering instead of Entra"
    };
    Error::Network(format!(
        "{endpoint} returned HTTP {status} with {kind} instead of an OAuth response: {advice}"
    ))
}

fn describe_body(body: &[u8]) -> &'static str {
    let text = String::from_utf8_lossy(&body[..body.len().min(512)]).to_ascii_lowercase();
    if body.is_empty() {
        "an empty body"
    } else if text.contains("<html") || text.contains("<!doctype") {
        "an HTML page"
    } else if text.trim_start().starts_with('{') {
        "JSON that is not an OAuth error"
    } else {
        "a body that is not JSON"
    }
}

fn transport_error(endpoint: &str, error: &reqwest::Error) -> Error {
    let host = error
        .url()
        .and_then(|u| {
            u.host_str().map(|h| match u.port() {
                Some(port) => format!("{h}:{port}"),
                None => h.to_string(),
            })
        })
        .unwrap_or_else(|| endpoint.to_string());
    if error.is_timeout() {
        return Error::Timeout(format!(
            "no response from {host} before the timeout; raise it with --timeout, or check the \
             network and proxy settings"
        ));
    }
    let root = root_cause(error);
    if error.is_connect() {
        return Error::Network(format!("cannot connect to {host}: {root}"));
    }
    Error::Network(format!("request to {endpoint} failed: {root}"))
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}
