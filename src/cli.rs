//! The command-line definition (clap derive). No logic lives here: the
//! commands module turns these values into actions.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::certificate::AssertionAlgorithm;
use crate::federated::FederatedSource;
use crate::profile::{AuthMethod, Flow};

const ROOT_EXAMPLES: &str = "\
Examples:
  entratool config create                      Create a profile, answering prompts
  entratool get-token -p my-api                Print an access token for profile my-api
  TOKEN=$(entratool get-token -p svc)          Capture the token in a script
  entratool get-token -p svc -o json | jq .expires_on

Exit codes: 0 success, 1 other error, 2 profile not found, 3 authentication rejected,
4 network error, 5 timeout, 64 invalid command-line usage.";

#[derive(Debug, Parser)]
#[command(
    name = "entratool",
    version,
    about = "Get Microsoft Entra ID access tokens from a terminal, a script or a CI step",
    after_help = ROOT_EXAMPLES,
    propagate_version = true
)]
pub struct Cli {
    /// Log decisions and HTTP requests on stderr (-v), with details (-vv); RUST_LOG overrides
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,

    /// Extra CA certificates (PEM) to trust, such as a TLS-inspecting proxy's
    #[arg(long, value_name = "PATH", global = true, env = "ENTRATOOL_CA_FILE")]
    pub ca_file: Option<PathBuf>,

    /// Never prompt or open a browser: fail with an error naming the flag or
    /// variable to set instead (implied by CI=true, TF_BUILD=True, or stdin
    /// not being a terminal)
    #[arg(long, global = true)]
    pub no_interactive: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Get an access token for a profile and print it on stdout
    #[command(after_help = GET_TOKEN_EXAMPLES)]
    GetToken(GetTokenArgs),

    /// Get a new token from the server, skipping the cache
    #[command(after_help = REFRESH_EXAMPLES)]
    Refresh(RefreshArgs),

    /// Create and list profiles
    #[command(subcommand)]
    Config(ConfigCommand),
}

const GET_TOKEN_EXAMPLES: &str = "\
Examples:
  entratool get-token -p my-api
  entratool get-token -p my-api -s https://management.azure.com/.default
  entratool get-token -p my-api -o json
  entratool get-token -p my-api --file token.txt --silent
  ENTRATOOL_CLIENT_SECRET=... entratool get-token -p ci-app      (secret for this run only)
  ENTRATOOL_CERTIFICATE_PASSWORD=... entratool get-token -p cert-app   (PFX password, no prompt)
  entratool get-token -p cert-app --assertion-alg RS256 --include-x5t
  AZURE_TENANT_ID=... AZURE_CLIENT_ID=... AZURE_CLIENT_SECRET=... entratool get-token -s api://app/.default
  entratool get-token --env --federated github -s https://graph.microsoft.com/.default
  eval \"$(entratool get-token -p svc -o env)\"          (sets ENTRATOOL_ACCESS_TOKEN and expiry)
  entratool get-token -p aks -o exec-credential       (kubectl credential plugin)

Without -p and with no profiles (or with --env) the app comes from the environment:
ENTRATOOL_TENANT_ID, ENTRATOOL_CLIENT_ID, ENTRATOOL_CLIENT_SECRET, ENTRATOOL_CERTIFICATE_PATH,
ENTRATOOL_FEDERATED_TOKEN_FILE, or the AZURE_* names the Azure SDKs read. Each value is taken
from, in order: a flag, ENTRATOOL_*, the profile, AZURE_*.

stdout holds only the token and a newline (or JSON with -o json); messages go to stderr.";

const REFRESH_EXAMPLES: &str = "\
Examples:
  entratool refresh -p my-api
  entratool refresh -p my-api -o json

User profiles redeem their stored refresh token; app-only profiles make a new client
credentials request. The new token replaces the cached one.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// The access token alone, followed by a newline
    Token,
    /// A JSON object with the token, its type, expiry and scopes
    Json,
    /// POSIX shell `export` lines: ENTRATOOL_ACCESS_TOKEN, ENTRATOOL_TOKEN_TYPE,
    /// ENTRATOOL_EXPIRES_ON (RFC 3339, UTC), ENTRATOOL_EXPIRES_ON_EPOCH, ENTRATOOL_EXPIRES_IN
    /// and ENTRATOOL_SCOPE
    Env,
    /// A Kubernetes ExecCredential (client.authentication.k8s.io/v1), for kubectl
    ExecCredential,
}

#[derive(Debug, Args)]
pub struct GetTokenArgs {
    /// Profile to use (names match regardless of case); optional when only one exists
    #[arg(short, long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Ignore profiles.json and build the profile from the environment (AZURE_* and
    /// ENTRATOOL_* variables); nothing is read from or written to the keyring or disk
    #[arg(long, conflicts_with = "profile")]
    pub env: bool,

    #[command(flatten)]
    pub identity: IdentityArgs,

    /// Flow: ClientCredentials, AuthorizationCode, DeviceCode or InteractiveBrowser
    /// (any case, kebab-case too); defaults to the profile's defaultFlow
    #[arg(short, long, value_name = "FLOW", value_parser = parse_flow)]
    pub flow: Option<Flow>,

    /// Scopes to request instead of the profile's, separated by commas or spaces
    #[arg(short, long = "scope", visible_alias = "scopes", value_name = "SCOPES")]
    pub scope: Option<String>,

    /// Authority URL, for sovereign clouds or a local server
    /// [default: $ENTRATOOL_AUTHORITY, then the profile's, then $AZURE_AUTHORITY_HOST, then
    /// https://login.microsoftonline.com]
    #[arg(long, value_name = "URL")]
    pub authority: Option<String>,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub certificate: CertificateArgs,

    /// Ask the server for a new token even when a cached one is still valid
    #[arg(long)]
    pub force: bool,

    /// Neither read nor write the token cache
    #[arg(long)]
    pub no_cache: bool,

    /// Warn on stderr when the cached token expires within this many minutes
    #[arg(long, value_name = "MINUTES", default_value_t = 5)]
    pub warn_expiry: u64,

    /// Maximum time the whole command may take, such as 30s or 2m
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// The app's identity and credential, for the environment-only mode and as
/// overrides of a profile's fields.
#[derive(Debug, Clone, Default, Args)]
pub struct IdentityArgs {
    /// Directory (tenant) ID or domain [default: $ENTRATOOL_TENANT_ID, then the
    /// profile's, then $AZURE_TENANT_ID]
    #[arg(long, visible_alias = "tenant", value_name = "TENANT")]
    pub tenant_id: Option<String>,

    /// Application (client) ID [default: $ENTRATOOL_CLIENT_ID, then the profile's,
    /// then $AZURE_CLIENT_ID]
    #[arg(long, value_name = "GUID")]
    pub client_id: Option<String>,

    /// Certificate file (.pfx, .p12 or .pem); a secret profile then uses it instead of
    /// its secret [default: $ENTRATOOL_CERTIFICATE_PATH, then the profile's, then
    /// $AZURE_CLIENT_CERTIFICATE_PATH]
    #[arg(long, value_name = "PATH")]
    pub certificate_path: Option<String>,

    /// Sign in with a federated token instead of a secret or certificate: `file` (a
    /// token file the platform keeps fresh) or `github` (the GitHub Actions OIDC token)
    /// [default: $ENTRATOOL_FEDERATED, then the profile's federatedTokenSource]
    #[arg(long, value_name = "SOURCE", value_parser = parse_federated_source)]
    pub federated: Option<FederatedSource>,

    /// File holding the federated token, read again for every request; implies
    /// --federated file [default: $ENTRATOOL_FEDERATED_TOKEN_FILE, then the profile's
    /// federatedTokenFile, then $AZURE_FEDERATED_TOKEN_FILE]
    #[arg(long, value_name = "PATH")]
    pub federated_token_file: Option<String>,

    /// Audience of the GitHub Actions OIDC token [default: $ENTRATOOL_FEDERATED_AUDIENCE,
    /// then the profile's federatedTokenAudience, then api://AzureADTokenExchange]
    #[arg(long, value_name = "AUDIENCE")]
    pub federated_audience: Option<String>,
}

/// Options shared by the commands that print a token.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Output format on stdout
    #[arg(short, long, value_enum, default_value_t = OutputFormat::Token)]
    pub output: OutputFormat,

    /// Write the output to this file (mode 0600) instead of stdout
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Print nothing on stderr except errors
    #[arg(long)]
    pub silent: bool,

    /// Do not copy the token to the clipboard (it is copied only when stdout is a terminal)
    #[arg(long)]
    pub no_clipboard: bool,
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// Profile to refresh (names match regardless of case)
    #[arg(short, long, value_name = "NAME")]
    pub profile: String,

    /// Scopes to request instead of the profile's, separated by commas or spaces
    #[arg(short, long = "scope", visible_alias = "scopes", value_name = "SCOPES")]
    pub scope: Option<String>,

    /// Authority URL, for sovereign clouds or a local server
    #[arg(long, value_name = "URL")]
    pub authority: Option<String>,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub certificate: CertificateArgs,

    /// Maximum time the whole command may take, such as 30s or 2m
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// Options for certificate profiles, shared by the commands that get tokens.
#[derive(Debug, Clone, Args)]
pub struct CertificateArgs {
    /// Read the certificate password from the OS keyring, and store it there
    /// after a prompt (as the profile's cacheCertificatePassword does)
    #[arg(long)]
    pub cache_cert_password: bool,

    /// Signature algorithm of the client assertion for certificate profiles
    /// [default: the profile's clientAssertionAlgorithm, then PS256]
    #[arg(long = "assertion-alg", value_name = "ALG", value_parser = parse_assertion_algorithm)]
    pub assertion_algorithm: Option<AssertionAlgorithm>,

    /// Add the SHA-1 `x5t` thumbprint header to the client assertion, for
    /// authorities that do not read `x5t#S256`
    #[arg(long)]
    pub include_x5t: bool,

    /// Add the certificate chain (`x5c` header) to the client assertion, for
    /// subject name and issuer authentication
    #[arg(long)]
    pub include_x5c: bool,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Create a profile; prompts for missing fields in a terminal, else takes flags
    #[command(after_help = CONFIG_CREATE_EXAMPLES)]
    Create(Box<ConfigCreateArgs>),

    /// List profiles as a table, or as JSON with -o json
    #[command(
        after_help = "Examples:\n  entratool config list\n  entratool config list -o json | jq '.[].name'"
    )]
    List(ConfigListArgs),
}

const CONFIG_CREATE_EXAMPLES: &str = "\
Examples:
  entratool config create                      (prompts for each field)
  printf '%s' \"$SECRET\" | entratool config create --name svc \\
      --tenant-id contoso.onmicrosoft.com --client-id 11111111-2222-3333-4444-555555555555 \\
      --scopes https://graph.microsoft.com/.default --client-secret-stdin
  entratool config create --name ci --tenant-id <tenant> --client-id <app> --no-secret
      (the secret comes from ENTRATOOL_CLIENT_SECRET at run time)
  printf '%s' \"$PFX_PASSWORD\" | entratool config create --name cert-app \\
      --tenant-id <tenant> --client-id <app> --auth-method Certificate \\
      --certificate-path ~/certs/app.pfx --certificate-password-stdin --cache-cert-password

  entratool config create --name deploy --tenant-id <tenant> --client-id <app> \\
      --scopes https://management.azure.com/.default --federated github
      (GitHub Actions OIDC token instead of a secret; nothing goes to the keyring)

The secret is read from stdin or ENTRATOOL_CLIENT_SECRET and stored in the OS keyring,
never in profiles.json and never from a command-line value. A certificate password comes
from stdin, ENTRATOOL_CERTIFICATE_PASSWORD or a prompt; it is stored in the OS keyring
only with --cache-cert-password.";

#[derive(Debug, Args)]
pub struct ConfigCreateArgs {
    /// Profile name
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// Directory (tenant) ID or domain, such as contoso.onmicrosoft.com
    #[arg(long, visible_alias = "tenant", value_name = "TENANT")]
    pub tenant_id: Option<String>,

    /// Application (client) ID, a GUID
    #[arg(long, value_name = "GUID")]
    pub client_id: Option<String>,

    /// Scopes, separated by commas or spaces [default: https://graph.microsoft.com/.default]
    #[arg(long, value_name = "SCOPES")]
    pub scopes: Option<String>,

    /// Resource (application ID URI) used as `<resource>/.default` when no scope is set
    #[arg(long, value_name = "URI")]
    pub resource: Option<String>,

    /// Authentication method of the app
    #[arg(long, value_name = "METHOD", value_parser = parse_auth_method)]
    pub auth_method: Option<AuthMethod>,

    /// Read the client secret from stdin (one line) instead of prompting
    #[arg(long)]
    pub client_secret_stdin: bool,

    /// Store no secret: it will come from ENTRATOOL_CLIENT_SECRET at run time
    #[arg(long, conflicts_with = "client_secret_stdin")]
    pub no_secret: bool,

    /// Path to the certificate file (.pfx, .p12 or .pem; `~` is expanded), for
    /// the Certificate and PasswordlessCertificate auth methods
    #[arg(long, value_name = "PATH")]
    pub certificate_path: Option<String>,

    /// Read the certificate password from stdin (one line) instead of prompting
    #[arg(long, conflicts_with = "client_secret_stdin")]
    pub certificate_password_stdin: bool,

    /// Store the certificate password in the OS keyring, so get-token reads it
    /// from there (sets the profile's cacheCertificatePassword)
    #[arg(long)]
    pub cache_cert_password: bool,

    /// Signature algorithm of client assertions: PS256 (the default) or RS256
    #[arg(long = "assertion-alg", value_name = "ALG", value_parser = parse_assertion_algorithm)]
    pub assertion_algorithm: Option<AssertionAlgorithm>,

    /// Add the SHA-1 `x5t` header to client assertions
    #[arg(long)]
    pub include_x5t: bool,

    /// Add the certificate chain (`x5c` header) to client assertions
    #[arg(long)]
    pub include_x5c: bool,

    /// Flow used when get-token gets no -f
    #[arg(long, value_name = "FLOW", value_parser = parse_flow)]
    pub default_flow: Option<Flow>,

    /// Redirect URI for the browser flows, such as http://localhost:8080
    #[arg(long, value_name = "URI")]
    pub redirect_uri: Option<String>,

    /// Authority URL for this profile, for sovereign clouds
    #[arg(long, value_name = "URL")]
    pub authority: Option<String>,

    /// Sign in with a federated token instead of a secret: `file` or `github`
    /// (workload identity federation; no secret is stored)
    #[arg(long, value_name = "SOURCE", value_parser = parse_federated_source,
          conflicts_with_all = ["client_secret_stdin", "auth_method"])]
    pub federated: Option<FederatedSource>,

    /// File holding the federated token, read again for every request; implies
    /// --federated file
    #[arg(long, value_name = "PATH", conflicts_with_all = ["client_secret_stdin", "auth_method"])]
    pub federated_token_file: Option<String>,

    /// Audience of the GitHub Actions OIDC token [default: api://AzureADTokenExchange]
    #[arg(long, value_name = "AUDIENCE")]
    pub federated_audience: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    /// A table for people
    Table,
    /// A JSON array of the profiles (no secrets: none are in the file)
    Json,
}

#[derive(Debug, Args)]
pub struct ConfigListArgs {
    /// Output format
    #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
    pub output: ListFormat,
}

fn parse_flow(value: &str) -> Result<Flow, String> {
    value.parse()
}

fn parse_federated_source(value: &str) -> Result<FederatedSource, String> {
    value.parse()
}

fn parse_assertion_algorithm(value: &str) -> Result<AssertionAlgorithm, String> {
    value.parse()
}

fn parse_auth_method(value: &str) -> Result<AuthMethod, String> {
    value.parse()
}

/// Parses `30s`, `2m`, `1m30s`, or a bare number of seconds.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let trimmed = value.trim();
    let duration = match trimmed.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => humantime::parse_duration(trimmed).map_err(|e| {
            format!("invalid duration `{value}` ({e}); use a value such as 30s or 2m")
        })?,
    };
    if duration.is_zero() {
        return Err("the duration must be greater than zero".to_string());
    }
    Ok(duration)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("2s").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("0s").is_err());
        assert!(parse_duration("soon").is_err());
    }
}
