//! The one HTTP client every flow uses to talk to the authority.

use std::time::Duration;

use std::time::Instant;

use reqwest::header::{HeaderValue, ACCEPT, CONTENT_TYPE, RETRY_AFTER};
use time::OffsetDateTime;
use tracing::info;

use zeroize::Zeroizing;

use super::response::{self, Token, TokenResponse};
use crate::error::{Error, Result};
use crate::flows::ClientCredential;

pub const DEFAULT_AUTHORITY: &str = "https://login.microsoftonline.com";

/// Largest response body read, so a misbehaving proxy cannot exhaust memory.
/// Token responses are a few kilobytes.
const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Maximum wait for a TCP (and TLS) connection to the authority.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

static EXTRA_CA_FILE: std::sync::OnceLock<std::path::PathBuf> = std::sync::OnceLock::new();

/// Adds the certificates in a PEM file to the trusted roots of every client
/// made afterwards (`--ca-file`). The system store and the bundled Mozilla
/// roots stay trusted too.
pub fn trust_ca_file(path: std::path::PathBuf) {
    let _ = EXTRA_CA_FILE.set(path);
}

/// Builds the HTTP client every request goes through: rustls, proxies from
/// `HTTPS_PROXY`/`HTTP_PROXY`/`NO_PROXY` (either case), and the extra CA
/// file when one was given.
pub fn http_client(timeout: Duration) -> Result<reqwest::Client> {
    // Redirects are not followed: on a 307 or 308 the client would send the
    // form again, client secret or assertion included, to whatever host the
    // `Location` header names.
    let mut builder = reqwest::Client::builder()
        .user_agent(concat!("entratool/", env!("CARGO_PKG_VERSION")))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT.min(timeout))
        .timeout(timeout);
    if let Some(path) = EXTRA_CA_FILE.get() {
        let pem = std::fs::read(path).map_err(|e| Error::io("reading the CA file", path, e))?;
        let certificates = reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| {
            Error::InvalidInput(format!(
                "invalid CA file {}: no usable PEM certificate ({e})",
                path.display()
            ))
        })?;
        if certificates.is_empty() {
            return Err(Error::InvalidInput(format!(
                "invalid CA file {}: no PEM certificate found (expected -----BEGIN CERTIFICATE----- blocks)",
                path.display()
            )));
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    builder
        .build()
        .map_err(|e| Error::Other(format!("cannot set up the HTTP client: {e}")))
}

/// Sends token requests to one authority.
pub struct TokenClient {
    http: reqwest::Client,
    authority: String,
    /// Retries are not started past this point.
    deadline: Instant,
}

impl TokenClient {
    /// `timeout` bounds each request from connect to the last body byte.
    pub fn new(authority: &str, timeout: Duration) -> Result<TokenClient> {
        let http = http_client(timeout)?;
        Ok(TokenClient {
            http,
            authority: authority.trim_end_matches('/').to_string(),
            deadline: Instant::now() + timeout,
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

    /// POSTs a token request authenticated by `credential` (none for a public
    /// client). The credential's fields are built anew for every attempt,
    /// retries included, so each request carries a fresh client assertion
    /// (new `jti`) and re-reads a federated token file: some servers reject a
    /// replayed assertion.
    pub async fn request_token_authenticated(
        &self,
        tenant: &str,
        base_form: &[(&str, &str)],
        credential: Option<&ClientCredential>,
        client_id: &str,
        requested_scopes: &[String],
    ) -> Result<Token> {
        let endpoint = self.token_endpoint(tenant);
        let issued_at = OffsetDateTime::now_utc();
        let build_body = || -> Result<Zeroizing<String>> {
            let fields = match credential {
                Some(credential) => credential.form_fields(client_id, &endpoint)?,
                None => Vec::new(),
            };
            let mut form: Vec<(&str, &str)> = base_form.to_vec();
            for (name, value) in &fields {
                form.push((name, value.expose()));
            }
            Ok(Zeroizing::new(form_urlencode(&form)))
        };
        let (status, body) = self.post_built_body(&endpoint, build_body).await?;
        token_from_body(&endpoint, status, &body, requested_scopes, issued_at)
    }

    /// POSTs an `application/x-www-form-urlencoded` body and returns the
    /// status and body, read up to [`MAX_BODY_BYTES`].
    ///
    /// HTTP 429 and 5xx responses, and connections closed before a response,
    /// are retried up to [`MAX_RETRIES`] times. The wait honours
    /// `Retry-After` (seconds or an HTTP date) and otherwise doubles from
    /// half a second, with jitter. A wait that would pass the client's
    /// deadline is not started, and the last response is returned instead.
    pub async fn post_form(&self, endpoint: &str, form: &[(&str, &str)]) -> Result<(u16, Vec<u8>)> {
        let body = Zeroizing::new(form_urlencode(form));
        self.post_built_body(endpoint, || Ok(body.clone())).await
    }

    /// Does the work of [`TokenClient::post_form`], calling `build_body` for
    /// the body of every attempt.
    async fn post_built_body(
        &self,
        endpoint: &str,
        build_body: impl Fn() -> Result<Zeroizing<String>>,
    ) -> Result<(u16, Vec<u8>)> {
        let mut attempt = 0;
        let outcome = loop {
            let body = build_body()?;
            let started = Instant::now();
            let outcome = self.send_once(endpoint, &body).await;
            let elapsed_ms = started.elapsed().as_millis();
            let (reason, retry_after) = match &outcome {
                Ok(answer) => {
                    info!("POST {endpoint} -> {} in {elapsed_ms} ms", answer.status);
                    if answer.status != 429 && answer.status < 500 {
                        break outcome;
                    }
                    (format!("HTTP {}", answer.status), answer.retry_after)
                }
                Err(SendError::Reset(message)) => {
                    info!("POST {endpoint} failed after {elapsed_ms} ms: {message}");
                    (message.clone(), None)
                }
                Err(SendError::Fatal(_)) => break outcome,
            };
            if attempt >= MAX_RETRIES {
                break outcome;
            }
            let delay = retry_after.unwrap_or_else(|| backoff(attempt));
            let left = self.deadline.saturating_duration_since(Instant::now());
            if delay >= left {
                info!(
                    "not retrying POST {endpoint}: the wait of {} ms would pass the timeout",
                    delay.as_millis()
                );
                break outcome;
            }
            attempt += 1;
            info!(
                "retrying POST {endpoint} in {} ms ({reason}), attempt {attempt} of {MAX_RETRIES}",
                delay.as_millis()
            );
            tokio::time::sleep(delay).await;
        };
        outcome
            .map(|answer| (answer.status, answer.body))
            .map_err(|e| match e {
                SendError::Reset(message) => {
                    Error::Network(format!("request to {endpoint} failed: {message}"))
                }
                SendError::Fatal(error) => error,
            })
    }

    async fn send_once(
        &self,
        endpoint: &str,
        body: &str,
    ) -> std::result::Result<Answer, SendError> {
        let result = self
            .http
            .post(endpoint)
            .header(
                CONTENT_TYPE,
                HeaderValue::from_static("application/x-www-form-urlencoded"),
            )
            .header(ACCEPT, HeaderValue::from_static("application/json"))
            .body(body.to_string())
            .send()
            .await;
        let mut response = result.map_err(|e| classify(endpoint, &e))?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(parse_retry_after);
        let mut bytes = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| classify(endpoint, &e))? {
            if bytes.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(SendError::Fatal(Error::Network(format!(
                    "{endpoint} sent a response larger than {} KiB; a proxy may be interfering",
                    MAX_BODY_BYTES / 1024
                ))));
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(Answer {
            status,
            body: bytes,
            retry_after,
        })
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

/// One HTTP response.
struct Answer {
    status: u16,
    body: Vec<u8>,
    retry_after: Option<Duration>,
}

enum SendError {
    /// The connection closed or reset before a complete response, so the
    /// request is retried.
    Reset(String),
    /// Anything else (refused, timed out, TLS, oversized body): not retried.
    Fatal(Error),
}

fn classify(endpoint: &str, error: &reqwest::Error) -> SendError {
    if error.is_timeout() || error.is_connect() || error.is_builder() {
        return SendError::Fatal(transport_error(endpoint, error));
    }
    SendError::Reset(root_cause(error))
}

/// Maximum number of retries after the first attempt.
pub const MAX_RETRIES: u32 = 3;

/// Returns the wait before retry number `attempt + 1`: 0.5 s, 1 s, 2 s, plus
/// up to 250 ms of jitter so parallel clients do not retry in step.
fn backoff(attempt: u32) -> Duration {
    let base = Duration::from_millis(500) * 2u32.saturating_pow(attempt);
    let mut random = [0u8; 2];
    let _ = getrandom::getrandom(&mut random);
    let jitter = u64::from(u16::from_le_bytes(random)) % 250;
    base + Duration::from_millis(jitter)
}

/// Parses `Retry-After` as delta seconds or an HTTP date (RFC 9110
/// section 10.2.3). A date in the past means no wait.
pub fn parse_retry_after(value: &str) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(
        at.duration_since(std::time::SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
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
    let preview: String = String::from_utf8_lossy(body)
        .chars()
        .take(200)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    info!("first 200 characters of the HTTP {status} body from {endpoint}: {preview}");
    let advice = if (300..400).contains(&status) {
        "the server answered with a redirect, which is not followed because the request carries \
         the client's credential; set the authority to the URL the redirect points to"
    } else if status == 429 {
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
    if is_certificate_problem(error) {
        return Error::Network(format!(
            "TLS with {host} failed: {root}. If a proxy inspects TLS traffic, trust its CA with \
             --ca-file PATH (or SSL_CERT_FILE)"
        ));
    }
    if error.is_connect() {
        return Error::Network(format!("cannot connect to {host}: {root}"));
    }
    Error::Network(format!("request to {endpoint} failed: {root}"))
}

/// True when any error in the chain is a certificate verification failure.
fn is_certificate_problem(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        let text = e.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("unknownissuer") {
            return true;
        }
        current = e.source();
    }
    false
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}
