//! Device authorization grant (RFC 8628): the tool shows a code, the person
//! enters it on any device with a browser, and the tool polls the token
//! endpoint until the sign-in is approved, declined or expired.

use std::time::{Duration, Instant};

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use tracing::debug;

use super::{user_flow_scopes, FlowRequest};
use crate::error::{Error, Result, ServerError};
use crate::secrets::Secret;
use crate::token::client::{error_from_body, token_from_body};
use crate::token::response::{lenient_u64, parse_error};
use crate::token::{Token, TokenClient};
use crate::ui;

pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Polling interval when the server sends none (RFC 8628 section 3.2).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// Added to the interval on each `slow_down` (RFC 8628 section 3.5).
const SLOW_DOWN_STEP: Duration = Duration::from_secs(5);

/// Code lifetime assumed when the server sends no `expires_in`: 15 minutes,
/// the lifetime Entra's device codes usually have.
const DEFAULT_EXPIRES_IN: Duration = Duration::from_secs(900);

/// Maximum code lifetime and polling interval accepted from a server: one
/// day. Larger values (up to `u64::MAX` from a broken server) would
/// overflow the deadline arithmetic.
const MAX_WAIT: Duration = Duration::from_secs(24 * 3600);

/// Polls in a row that may fail with a network error or a 5xx before the
/// flow gives up. A person may take minutes to sign in, and one dropped
/// request should not waste that.
const MAX_TRANSIENT_FAILURES: u32 = 3;

/// The device authorization response (RFC 8628 section 3.2).
#[derive(Debug)]
pub struct DeviceAuthorization {
    pub device_code: Secret,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    pub expires_in: Duration,
    pub interval: Duration,
    pub message: Option<String>,
}

#[derive(Deserialize)]
struct RawDeviceAuthorization {
    device_code: Option<String>,
    user_code: Option<String>,
    verification_uri: Option<String>,
    /// The name older Entra (v1.0) endpoints use for `verification_uri`.
    verification_url: Option<String>,
    verification_uri_complete: Option<String>,
    expires_in: Option<Value>,
    interval: Option<Value>,
    message: Option<String>,
}

impl DeviceAuthorization {
    /// Parses the response leniently: numbers may be strings, `interval`
    /// and `message` may be missing.
    pub fn parse(body: &[u8]) -> std::result::Result<DeviceAuthorization, String> {
        let raw: RawDeviceAuthorization =
            serde_json::from_slice(body).map_err(|e| format!("the body is not JSON ({e})"))?;
        let required = |value: Option<String>, name: &str| {
            value
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| format!("the JSON has no `{name}` field"))
        };
        // The texts below are printed on the terminal as the server sent them.
        let printable = |text: String| ui::printable(&text);
        let seconds = |value: Option<Value>| {
            value
                .as_ref()
                .and_then(lenient_u64)
                .filter(|s| *s > 0)
                .map(|s| Duration::from_secs(s).min(MAX_WAIT))
        };
        Ok(DeviceAuthorization {
            device_code: Secret::new(required(raw.device_code, "device_code")?),
            user_code: printable(required(raw.user_code, "user_code")?),
            verification_uri: printable(required(
                raw.verification_uri.or(raw.verification_url),
                "verification_uri",
            )?),
            verification_uri_complete: raw
                .verification_uri_complete
                .filter(|v| !v.is_empty())
                .map(printable),
            expires_in: seconds(raw.expires_in).unwrap_or(DEFAULT_EXPIRES_IN),
            interval: seconds(raw.interval).unwrap_or(DEFAULT_INTERVAL),
            message: raw.message.filter(|m| !m.trim().is_empty()).map(printable),
        })
    }

    /// Returns the instructions for stderr: a heading, the server's message,
    /// then the code and the URL on lines of their own.
    pub fn instructions(&self) -> String {
        let mut text = String::from("To sign in, use a web browser on any device.\n");
        match &self.message {
            Some(message) => text.push_str(message.trim()),
            None => text.push_str(&format!(
                "Open {} and enter the code {} to authenticate.",
                self.verification_uri, self.user_code
            )),
        }
        text.push_str(&format!(
            "\n  Code: {}\n  URL:  {}",
            self.user_code, self.verification_uri
        ));
        if let Some(complete) = &self.verification_uri_complete {
            text.push_str(&format!(
                "\n  Or open this URL, which holds the code: {complete}"
            ));
        }
        text
    }
}

/// The outcome of one poll of the token endpoint.
enum PollOutcome {
    Token(Box<Token>),
    Pending,
    SlowDown,
    Failed(Error),
    Transient(Error),
}

pub async fn acquire(client: &TokenClient, request: &FlowRequest<'_>) -> Result<Token> {
    let profile = request.profile;
    let scopes = user_flow_scopes(&request.scopes);
    let scope = scopes.join(" ");
    let endpoint = client.device_code_endpoint(&profile.tenant_id);
    let form = [
        ("client_id", profile.client_id.as_str()),
        ("scope", scope.as_str()),
    ];
    let (status, body) = client.post_form(&endpoint, &form).await?;
    if !(200..300).contains(&status) {
        return Err(error_from_body(&endpoint, status, &body));
    }
    let authorization = DeviceAuthorization::parse(&body).map_err(|e| {
        Error::Network(format!(
            "{endpoint} returned HTTP {status} but an unusable device authorization: {e}"
        ))
    })?;
    // Printed even with --silent, since sign-in is impossible without the code.
    ui::note(&authorization.instructions());
    poll(client, request, &authorization, &scopes).await
}

/// Polls until the person finishes, the code expires or a poll fails.
async fn poll(
    client: &TokenClient,
    request: &FlowRequest<'_>,
    authorization: &DeviceAuthorization,
    scopes: &[String],
) -> Result<Token> {
    let profile = request.profile;
    let endpoint = client.token_endpoint(&profile.tenant_id);
    let expires_at = Instant::now() + authorization.expires_in;
    let mut interval = authorization.interval;
    let mut transient_failures = 0;
    let spinner = ui::Spinner::start(
        &format!("Waiting for sign-in with code {}", authorization.user_code),
        !request.silent,
    );

    loop {
        let now = Instant::now();
        let remaining = expires_at.saturating_duration_since(now);
        if remaining.is_zero() {
            return Err(expired(authorization));
        }
        tokio::time::sleep(interval.min(remaining)).await;
        if Instant::now() >= expires_at {
            return Err(expired(authorization));
        }

        let form = [
            ("grant_type", GRANT_TYPE),
            ("client_id", profile.client_id.as_str()),
            ("device_code", authorization.device_code.expose()),
        ];
        let issued_at = OffsetDateTime::now_utc();
        let outcome = match client.post_form(&endpoint, &form).await {
            Ok((status, body)) => classify(&endpoint, status, &body, scopes, issued_at),
            Err(error @ (Error::Network(_) | Error::Timeout(_))) => PollOutcome::Transient(error),
            Err(error) => PollOutcome::Failed(error),
        };
        match outcome {
            PollOutcome::Token(token) => {
                drop(spinner);
                return Ok(*token);
            }
            PollOutcome::Pending => transient_failures = 0,
            PollOutcome::SlowDown => {
                transient_failures = 0;
                interval += SLOW_DOWN_STEP;
                debug!("slow_down: polling every {} s now", interval.as_secs());
            }
            PollOutcome::Transient(error) => {
                transient_failures += 1;
                debug!("poll failed ({transient_failures} in a row): {error}");
                if transient_failures >= MAX_TRANSIENT_FAILURES {
                    return Err(error);
                }
            }
            PollOutcome::Failed(error) => return Err(error),
        }
    }
}

fn classify(
    endpoint: &str,
    status: u16,
    body: &[u8],
    scopes: &[String],
    issued_at: OffsetDateTime,
) -> PollOutcome {
    if (200..300).contains(&status) {
        return match token_from_body(endpoint, status, body, scopes, issued_at) {
            Ok(token) => PollOutcome::Token(Box::new(token)),
            Err(error) => PollOutcome::Failed(error),
        };
    }
    let Some(server_error) = parse_error(endpoint, status, body) else {
        let error = error_from_body(endpoint, status, body);
        return if status >= 500 {
            PollOutcome::Transient(error)
        } else {
            PollOutcome::Failed(error)
        };
    };
    match server_error.error.as_str() {
        "authorization_pending" => PollOutcome::Pending,
        "slow_down" => PollOutcome::SlowDown,
        "expired_token" | "code_expired" => PollOutcome::Failed(Error::Timeout(format!(
            "the device code expired before the sign-in finished ({}); run the command again \
             and enter the new code sooner",
            server_error.first_line().unwrap_or("expired_token")
        ))),
        "authorization_declined" | "access_denied" => PollOutcome::Failed(Error::Rejected {
            message: format!(
                "the sign-in was declined ({}){}",
                server_error.error,
                server_detail(&server_error)
            ),
            hint: Some(
                "run the command again and approve the request, or check that the account may \
                 use this app"
                    .to_string(),
            ),
        }),
        "bad_verification_code" => PollOutcome::Failed(Error::Rejected {
            message: format!(
                "the server does not know this device code{}",
                server_detail(&server_error)
            ),
            hint: Some("run the command again to get a new code".to_string()),
        }),
        _ => PollOutcome::Failed(Error::Server(Box::new(server_error))),
    }
}

fn server_detail(error: &ServerError) -> String {
    match error.first_line() {
        Some(line) => format!(": {line}"),
        None => String::new(),
    }
}

fn expired(authorization: &DeviceAuthorization) -> Error {
    Error::Timeout(format!(
        "the device code {} expired after {} before the sign-in finished; run the command again \
         and enter the new code sooner",
        authorization.user_code,
        humantime::format_duration(authorization.expires_in)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_response_gets_defaults_and_built_message() {
        let parsed = DeviceAuthorization::parse(
            br#"{"device_code":"d","user_code":"ABC-DEF","verification_uri":"https://example.test/device"}"#,
        )
        .unwrap();
        assert_eq!(parsed.interval, DEFAULT_INTERVAL);
        assert_eq!(parsed.expires_in, DEFAULT_EXPIRES_IN);
        let text = parsed.instructions();
        assert!(text.contains("enter the code ABC-DEF"), "{text}");
        assert!(text.contains("  Code: ABC-DEF"), "{text}");
        assert!(
            text.contains("  URL:  https://example.test/device"),
            "{text}"
        );
    }

    #[test]
    fn lenient_numbers_and_v1_field_name() {
        let parsed = DeviceAuthorization::parse(
            br#"{"device_code":"d","user_code":"U","verification_url":"https://v1.test","expires_in":"600","interval":"3","verification_uri_complete":"https://v1.test?c=U"}"#,
        )
        .unwrap();
        assert_eq!(parsed.verification_uri, "https://v1.test");
        assert_eq!(parsed.expires_in, Duration::from_secs(600));
        assert_eq!(parsed.interval, Duration::from_secs(3));
        assert!(parsed.instructions().contains("https://v1.test?c=U"));
    }

    #[test]
    fn missing_user_code_is_an_error() {
        let error = DeviceAuthorization::parse(br#"{"device_code":"d","verification_uri":"u"}"#)
            .unwrap_err();
        assert!(error.contains("user_code"), "{error}");
    }

    #[test]
    fn device_code_is_redacted_in_debug() {
        let parsed = DeviceAuthorization::parse(
            br#"{"device_code":"very-secret-device-code","user_code":"U","verification_uri":"u"}"#,
        )
        .unwrap();
        assert!(!format!("{parsed:?}").contains("very-secret"));
    }
}
