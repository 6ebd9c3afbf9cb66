//! Error type shared by every command, with the exit code and the hint each
//! failure maps to.

use std::fmt;
use std::path::PathBuf;

/// Process exit codes. They are part of the command-line contract and are
/// listed in the README, so scripts can branch on them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    Success = 0,
    Other = 1,
    ProfileNotFound = 2,
    AuthRejected = 3,
    Network = 4,
    Timeout = 5,
    /// A token that decoded fine but has expired (`inspect`).
    TokenExpired = 6,
    /// Invalid command-line usage, as in `sysexits.h` (`EX_USAGE`).
    Usage = 64,
    /// Stopped by Ctrl-C: 128 + SIGINT, as shells report it.
    Interrupted = 130,
}

/// An error from Entra (or any OAuth 2.0 server) returned in the standard
/// JSON error body.
#[derive(Debug, Clone)]
pub struct ServerError {
    pub endpoint: String,
    pub status: u16,
    pub error: String,
    pub description: Option<String>,
    pub error_codes: Vec<u64>,
    pub trace_id: Option<String>,
    pub correlation_id: Option<String>,
}

impl ServerError {
    /// Returns the first `AADSTS` code, from `error_codes` or, failing that,
    /// from the description text.
    pub fn aadsts_code(&self) -> Option<u64> {
        if let Some(code) = self.error_codes.first() {
            return Some(*code);
        }
        let description = self.description.as_deref()?;
        let rest = description.strip_prefix("AADSTS")?;
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok()
    }

    /// Returns the first line of the description: Entra appends trace and
    /// correlation IDs and a timestamp on the following lines.
    pub fn first_line(&self) -> Option<&str> {
        self.description
            .as_deref()
            .and_then(|d| d.lines().next())
            .map(str::trim)
            .filter(|line| !line.is_empty())
    }

    /// Returns the advice for the AADSTS codes that users hit most often.
    pub fn hint(&self) -> Option<&'static str> {
        let hint = match self.aadsts_code()? {
            7000215 => {
                "the client secret is wrong: use the secret's Value, not its Secret ID, and store it \
                 again with `entratool config edit -p NAME --client-secret-stdin` or set \
                 ENTRATOOL_CLIENT_SECRET"
            }
            7000222 => {
                "the client secret has expired: create a new one under Certificates & secrets in \
                 the app registration and store it again"
            }
            700016 => {
                "no app with this client ID exists in this tenant: check the profile's clientId \
                 and tenantId, and that the app is registered (or consented) in that tenant"
            }
            90002 => {
                "the tenant was not found: check the tenant ID or domain, and the authority for \
                 sovereign clouds"
            }
            70011 => {
                "a scope is invalid: client credentials take only `<resource>/.default` scopes, \
                 for example https://graph.microsoft.com/.default"
            }
            1002012 => {
                "`.default` cannot be combined with other scopes: request either \
                 `<resource>/.default` alone or a list of named scopes"
            }
            500011 => {
                "the resource was not found in the tenant: check the scope's application ID URI, \
                 and that an admin has consented to the API"
            }
            7000216 | 900144 => "the request is missing a required parameter",
            65001 | 65004 => {
                "consent is required: an admin or the user must grant the app's permissions"
            }
            50011 | 500113 => {
                "the redirect URI does not match the app registration: add it under \
                 Authentication, or set the profile's redirectUri"
            }
            7000218 => {
                "the app is not a public client, so the server wants a client secret: enable \
                 \"Allow public client flows\" under Authentication in the app registration, or \
                 use -f AuthorizationCode with the app's client secret"
            }
            700025 => {
                "the app is a public client, so it must not send a client secret: remove the \
                 secret from this profile, or register a Web redirect URI for the app"
            }
            54005 => "the authorization code was already used: sign in again",
            700027 | 700024 => {
                "the client assertion was rejected: check that the certificate uploaded to the \
                 app registration matches the one in the profile, and the system clock"
            }
            _ => return None,
        };
        Some(hint)
    }
}

impl fmt::Display for ServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.first_line() {
            Some(line) => write!(
                f,
                "{} rejected the request ({}): {line}",
                self.endpoint, self.error
            )?,
            None => write!(
                f,
                "{} rejected the request with HTTP {} ({})",
                self.endpoint, self.status, self.error
            )?,
        }
        if let Some(trace_id) = &self.trace_id {
            write!(f, " [trace ID {trace_id}]")?;
        }
        Ok(())
    }
}

/// Every failure the commands report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("profile `{name}` not found{}", list_suffix(.available))]
    ProfileNotFound {
        name: String,
        available: Vec<String>,
    },

    #[error("no profile given and {}", choose_message(.available))]
    NoProfileChosen { available: Vec<String> },

    #[error("{path} is not valid JSON: {message} at line {line}, column {column}; the file was left unchanged, so fix or move it")]
    DamagedProfiles {
        path: PathBuf,
        message: String,
        line: usize,
        column: usize,
    },

    #[error("invalid profile `{profile}`: {message}")]
    InvalidProfile { profile: String, message: String },

    #[error("{0}")]
    InvalidInput(String),

    #[error("{0}")]
    Usage(String),

    #[error("{what} failed for {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("{0}")]
    Keyring(String),

    /// A certificate that cannot be used: unreadable, wrong password,
    /// outside its validity period, or a key that does not match.
    #[error("{0}")]
    Certificate(String),

    /// A federated token that cannot be had: a missing or empty token
    /// file, or a refused GitHub Actions OIDC request.
    #[error("{0}")]
    Credential(String),

    #[error("{0}")]
    Server(Box<ServerError>),

    /// The user must sign in again (no refresh token, or it was revoked).
    #[error("{0}")]
    SignInRequired(String),

    #[error("{0}")]
    Network(String),

    #[error("{0}")]
    Timeout(String),

    #[error("{0}")]
    Unsupported(String),

    /// A token that `inspect` decoded but that has expired.
    #[error("{0}")]
    TokenExpired(String),

    /// The sign-in was refused or could not be trusted: declined, denied in
    /// the browser, or a redirect whose `state` did not match.
    #[error("{message}")]
    Rejected {
        message: String,
        hint: Option<String>,
    },

    /// No browser could be started for a browser flow.
    #[error("cannot start a browser: {reason}")]
    NoBrowser { reason: String, hint: String },

    #[error("{0}")]
    Interrupted(String),

    #[error("{0}")]
    Other(String),
}

fn list_suffix(available: &[String]) -> String {
    if available.is_empty() {
        "; no profiles exist yet, create one with `entratool config create`".to_string()
    } else {
        format!("; available profiles: {}", available.join(", "))
    }
}

fn choose_message(available: &[String]) -> String {
    if available.is_empty() {
        "no profiles exist yet: create one with `entratool config create`, or set \
         AZURE_TENANT_ID and AZURE_CLIENT_ID (or ENTRATOOL_TENANT_ID and ENTRATOOL_CLIENT_ID) to \
         run without one"
            .to_string()
    } else {
        format!(
            "several profiles exist, so pass one with -p: {}",
            available.join(", ")
        )
    }
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::ProfileNotFound { .. } | Error::NoProfileChosen { .. } => {
                ExitCode::ProfileNotFound
            }
            Error::Server(server) if server.status >= 500 => ExitCode::Network,
            Error::Server(_) | Error::SignInRequired(_) | Error::Rejected { .. } => {
                ExitCode::AuthRejected
            }
            Error::Interrupted(_) => ExitCode::Interrupted,
            Error::Network(_) => ExitCode::Network,
            Error::Timeout(_) => ExitCode::Timeout,
            Error::Usage(_) => ExitCode::Usage,
            Error::TokenExpired(_) => ExitCode::TokenExpired,
            _ => ExitCode::Other,
        }
    }

    /// Returns an extra line of advice to print under the error, if any.
    pub fn hint(&self) -> Option<String> {
        match self {
            Error::Server(server) => server.hint().map(str::to_string),
            Error::Rejected { hint, .. } => hint.clone(),
            Error::NoBrowser { hint, .. } => Some(hint.clone()),
            _ => None,
        }
    }

    pub fn io(what: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            what,
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
