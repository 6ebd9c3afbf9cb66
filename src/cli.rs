//! The command-line definition (clap derive). No logic lives here: the
//! commands module turns these values into actions.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::certificate::AssertionAlgorithm;
use crate::federated::FederatedSource;
use crate::profile::{AuthMethod, Flow};

/// Time limit of `get-token` when `--timeout` is not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

const ROOT_EXAMPLES: &str = "\
Examples:
  entratool config create                      Create a profile, answering prompts
  entratool get-token -p my-api                Print an access token for profile my-api
  TOKEN=$(entratool get-token -p svc)          Capture the token in a script
  entratool get-token -p svc -o json | jq .expires_on

Exit codes: 0 success, 1 other error, 2 profile not found, 3 authentication rejected,
4 network error, 5 timeout, 6 token expired (inspect), 64 invalid command-line usage,
130 interrupted (Ctrl-C).";

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

    /// Create, edit, list, delete, export and import profiles
    #[command(subcommand)]
    Config(ConfigCommand),

    /// Decode a JWT access token and show its header, claims and validity
    #[command(after_help = INSPECT_HELP)]
    Inspect(InspectArgs),

    /// List app registrations in a tenant through Microsoft Graph
    #[command(after_help = DISCOVER_HELP)]
    Discover(DiscoverArgs),

    /// Print a shell completion script
    #[command(
        after_help = "Examples:\n  entratool completions bash > ~/.local/share/bash-completion/completions/entratool\n  entratool completions zsh > \"${fpath[1]}/_entratool\"\n  entratool completions fish > ~/.config/fish/completions/entratool.fish"
    )]
    Completions {
        /// Shell to generate the script for
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },

    /// Print the manual page (roff) on stdout
    #[command(after_help = "Examples:\n  entratool man > entratool.1 && man ./entratool.1")]
    Man,
}

const INSPECT_HELP: &str = "\
Examples:
  entratool inspect eyJ0eXAiOi...
  entratool get-token -p my-api | entratool inspect
  entratool inspect --file token.txt -o json | jq .claims.roles
  if ! entratool inspect --file token.txt >/dev/null; then echo renew; fi

The token is decoded locally: its signature is not checked and it is sent nowhere.
Exit codes: 0 readable and not expired, 1 malformed (the message names the part that
failed), 6 readable but expired.";

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum InspectFormat {
    /// Header, highlighted claims, every claim sorted, and validity
    Text,
    /// A JSON object {"header": ..., "claims": ...}
    Json,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The token; `-` or nothing reads it from stdin. A `Bearer ` prefix is accepted
    #[arg(value_name = "TOKEN", conflicts_with = "file")]
    pub token: Option<String>,

    /// Read the token from this file
    #[arg(long, value_name = "PATH")]
    pub file: Option<PathBuf>,

    /// Output format on stdout
    #[arg(short, long, value_enum, default_value_t = InspectFormat::Text)]
    pub output: InspectFormat,

    /// Show only the claims
    #[arg(long, conflicts_with = "header")]
    pub claims: bool,

    /// Show only the header
    #[arg(long)]
    pub header: bool,
}

const DISCOVER_HELP: &str = "\
Examples:
  entratool discover -p graph-reader -s 'Contoso*'
  entratool discover -p graph-reader -t contoso.onmicrosoft.com -s '*api*' -o json

The pattern matches display names, ignoring case; `*` matches any run of characters.
A pattern of the form `prefix*` is sent to Graph as startswith(); any other pattern
is matched locally. The token needs the Application.Read.All permission (application
permission for app-only profiles, delegated for profiles that sign in a user).
For a national cloud, set both --graph-url and --graph-resource, for example to
https://graph.microsoft.us.";

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Tenant to search (GUID or domain) [default: the profile's tenant]
    #[arg(short, long, value_name = "TENANT")]
    pub tenant: Option<String>,

    /// Display name pattern with `*` wildcards
    #[arg(short, long = "search", value_name = "PATTERN", default_value = "*")]
    pub search: String,

    /// Profile whose app gets the Graph token; optional when only one exists
    #[arg(short, long, value_name = "NAME")]
    pub profile: Option<String>,

    /// Flow used to get the Graph token [default: the profile's]
    #[arg(short, long, value_name = "FLOW", value_parser = parse_flow)]
    pub flow: Option<Flow>,

    /// Output format on stdout
    #[arg(short, long, value_enum, default_value_t = ListFormat::Table)]
    pub output: ListFormat,

    /// Microsoft Graph base URL, for national clouds or a local server
    #[arg(
        long,
        value_name = "URL",
        env = "ENTRATOOL_GRAPH_URL",
        default_value = "https://graph.microsoft.com"
    )]
    pub graph_url: String,

    /// Resource whose `/.default` scope the Graph token is requested for
    #[arg(
        long,
        value_name = "URI",
        default_value = "https://graph.microsoft.com"
    )]
    pub graph_resource: String,

    /// Authority URL, for sovereign clouds or a local server [default: $ENTRATOOL_AUTHORITY,
    /// then the profile's, then $AZURE_AUTHORITY_HOST, then https://login.microsoftonline.com]
    #[arg(long, value_name = "URL")]
    pub authority: Option<String>,

    /// Maximum time the whole command may take, such as 30s or 2m (at most 30 days)
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub timeout: Duration,

    #[command(flatten)]
    pub certificate: CertificateArgs,
}

const GET_TOKEN_EXAMPLES: &str = "\
Examples:
  entratool get-token -p my-api
  entratool get-token -p my-api -s https://management.azure.com/.default
  entratool get-token -p my-api -o json
  entratool get-token -p my-api --file token.txt --silent
  entratool get-token -p me -f DeviceCode                (sign in with a code, over SSH too)
  entratool get-token -p me -f InteractiveBrowser --port 8400
  entratool get-token -p web -f AuthorizationCode --no-browser
  ENTRATOOL_CLIENT_SECRET=... entratool get-token -p ci-app      (secret for this run only)
  ENTRATOOL_CERTIFICATE_PASSWORD=... entratool get-token -p cert-app   (PFX password, no prompt)
  entratool get-token -p cert-app --assertion-alg RS256 --include-x5t
  AZURE_TENANT_ID=... AZURE_CLIENT_ID=... AZURE_CLIENT_SECRET=... \\
      entratool get-token -s api://app/.default         (no profile: the app comes from AZURE_*)
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

    /// Warn on stderr when a token served from the cache expires within this many minutes.
    /// Only values above 5 have an effect, because the cache serves only tokens with more
    /// than 5 minutes left
    #[arg(long, value_name = "MINUTES", default_value_t = 5)]
    pub warn_expiry: u64,

    /// Redirect URI for the browser flows, such as http://localhost:8080; wins over the
    /// profile's redirectUri and --port
    #[arg(long, value_name = "URI", conflicts_with = "port")]
    pub redirect_uri: Option<String>,

    /// Port of the loopback listener for the browser flows
    /// [default: 8080, then 5000, then any free port]
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// AuthorizationCode only: print the sign-in URL and read the redirected address
    /// (or the code) from stdin instead of starting a browser
    #[arg(long)]
    pub no_browser: bool,

    /// Maximum time the whole command may take, such as 30s or 2m (at most 30 days)
    /// [default: 60s; for DeviceCode, the lifetime of the code, usually 15 minutes]
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,
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

    /// Flow whose token to refresh, as given to get-token -f; defaults to the profile's
    #[arg(short, long, value_name = "FLOW", value_parser = parse_flow)]
    pub flow: Option<Flow>,

    /// Scopes to request instead of the profile's, separated by commas or spaces
    #[arg(short, long = "scope", visible_alias = "scopes", value_name = "SCOPES")]
    pub scope: Option<String>,

    /// Authority URL, for sovereign clouds or a local server [default: $ENTRATOOL_AUTHORITY,
    /// then the profile's, then $AZURE_AUTHORITY_HOST, then https://login.microsoftonline.com]
    #[arg(long, value_name = "URL")]
    pub authority: Option<String>,

    #[command(flatten)]
    pub output: OutputArgs,

    #[command(flatten)]
    pub certificate: CertificateArgs,

    /// Maximum time the whole command may take, such as 30s or 2m (at most 30 days)
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
        after_help = "Examples:\n  entratool config list\n  entratool config list -o json | jq '.[].name'\n\n\
                      The JSON holds no secrets, because profiles.json holds none."
    )]
    List(ConfigListArgs),

    /// Change a profile; prompts with the current values in a terminal, else takes flags
    #[command(after_help = CONFIG_EDIT_EXAMPLES)]
    Edit(ConfigEditArgs),

    /// Delete a profile, its keyring secrets and its cached tokens
    #[command(
        after_help = "Examples:\n  entratool config delete -p old-app\n  entratool config delete -p old-app --yes   (no confirmation, for scripts)"
    )]
    Delete(ConfigDeleteArgs),

    /// Write a profile to an encrypted file (AES-256-GCM, Argon2id passphrase)
    #[command(after_help = CONFIG_EXPORT_EXAMPLES)]
    Export(ConfigExportArgs),

    /// Read a profile from an export file, including the original tool's exports
    #[command(after_help = CONFIG_IMPORT_EXAMPLES)]
    Import(ConfigImportArgs),
}

const CONFIG_EDIT_EXAMPLES: &str = "\
Examples:
  entratool config edit -p my-api                     (prompts, current values as defaults)
  entratool config edit -p my-api --scopes 'User.Read Mail.Read' --default-flow device-code
  entratool config edit -p my-api --rename my-api-prod
  printf '%s' \"$NEW_SECRET\" | entratool config edit -p svc --client-secret-stdin

With any change flag, no prompt is shown. Renaming moves the keyring secrets with the
profile; any change drops the profile's cached tokens, so the next get-token asks Entra.";

const CONFIG_EXPORT_EXAMPLES: &str = "\
Examples:
  entratool config export -p my-api -o my-api.export
  ENTRATOOL_EXPORT_PASSPHRASE=... entratool config export -p svc --include-secrets > svc.export

The passphrase is prompted for twice in a terminal, else read from
ENTRATOOL_EXPORT_PASSPHRASE. Without --include-secrets the file holds no secret.";

const CONFIG_IMPORT_EXAMPLES: &str = "\
Examples:
  entratool config import -i my-api.export
  entratool config import -i my-api.export -n my-api-copy
  ENTRATOOL_EXPORT_PASSPHRASE=... entratool config import < svc.export

Files exported by the original .NET tool import too. The import changes nothing
unless it succeeds completely.";

#[derive(Debug, Args)]
pub struct ConfigEditArgs {
    /// Profile to change (names match regardless of case)
    #[arg(short, long, value_name = "NAME")]
    pub profile: String,

    /// New name for the profile
    #[arg(long, value_name = "NAME")]
    pub rename: Option<String>,

    /// Directory (tenant) ID or domain
    #[arg(long, visible_alias = "tenant", value_name = "TENANT")]
    pub tenant_id: Option<String>,

    /// Application (client) ID, a GUID
    #[arg(long, value_name = "GUID")]
    pub client_id: Option<String>,

    /// Scopes, separated by commas or spaces (an empty value clears them)
    #[arg(long, value_name = "SCOPES")]
    pub scopes: Option<String>,

    /// Resource (application ID URI); an empty value clears it
    #[arg(long, value_name = "URI")]
    pub resource: Option<String>,

    /// Authentication method: ClientSecret, Certificate or PasswordlessCertificate
    #[arg(long, value_name = "METHOD", value_parser = parse_auth_method)]
    pub auth_method: Option<AuthMethod>,

    /// Read a new client secret from stdin (one line) and store it in the keyring
    #[arg(long)]
    pub client_secret_stdin: bool,

    /// Keep the certificate password in the OS keyring (sets cacheCertificatePassword)
    #[arg(long)]
    pub cache_cert_password: bool,

    /// Stop keeping the certificate password in the OS keyring and remove a stored one
    #[arg(long, conflicts_with = "cache_cert_password")]
    pub no_cache_cert_password: bool,

    /// Read a new certificate password from stdin (one line) and store it in the keyring
    #[arg(long, conflicts_with = "client_secret_stdin")]
    pub certificate_password_stdin: bool,

    /// Path to the certificate file, for certificate auth methods
    #[arg(long, value_name = "PATH")]
    pub certificate_path: Option<String>,

    /// Flow used when get-token gets no -f; `none` clears it
    #[arg(long, value_name = "FLOW", value_parser = parse_optional_flow)]
    pub default_flow: Option<OptionalFlow>,

    /// Redirect URI for the browser flows; an empty value clears it
    #[arg(long, value_name = "URI")]
    pub redirect_uri: Option<String>,

    /// Authority URL for this profile; an empty value clears it
    #[arg(long, value_name = "URL")]
    pub authority: Option<String>,
}

/// A flow, or `none` to clear the profile's default flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OptionalFlow {
    None,
    Flow(Flow),
}

fn parse_optional_flow(value: &str) -> Result<OptionalFlow, String> {
    if value.trim().eq_ignore_ascii_case("none") {
        return Ok(OptionalFlow::None);
    }
    value.parse().map(OptionalFlow::Flow)
}

#[derive(Debug, Args)]
pub struct ConfigDeleteArgs {
    /// Profile to delete (names match regardless of case)
    #[arg(short, long, value_name = "NAME")]
    pub profile: String,

    /// Delete without asking for confirmation
    #[arg(short, long)]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct ConfigExportArgs {
    /// Profile to export
    #[arg(short, long, value_name = "NAME")]
    pub profile: String,

    /// File to write (mode 0600) [default: stdout]
    #[arg(short, long, value_name = "PATH")]
    pub output: Option<PathBuf>,

    /// Also export the client secret and the cached certificate password
    #[arg(long)]
    pub include_secrets: bool,
}

#[derive(Debug, Args)]
pub struct ConfigImportArgs {
    /// Export file to read; `-` or nothing reads stdin
    #[arg(short, long, value_name = "PATH")]
    pub input: Option<PathBuf>,

    /// Name for the imported profile [default: the name in the file]
    #[arg(short = 'n', long = "name", value_name = "NAME")]
    pub new_name: Option<String>,

    /// Replace an existing profile of the same name
    #[arg(long)]
    pub force: bool,
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

    /// Authentication method: ClientSecret, Certificate or PasswordlessCertificate
    /// [default: ClientSecret]
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

    /// Flow used when get-token gets no -f: ClientCredentials, AuthorizationCode, DeviceCode
    /// or InteractiveBrowser
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
    /// A JSON array with one object per listed item
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

/// Maximum duration accepted: 30 days. Far larger values overflow the
/// deadline arithmetic (`Instant` plus the duration).
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Parses `30s`, `2m`, `1m30s`, or a bare number of seconds, up to
/// [`MAX_DURATION`].
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
    if duration > MAX_DURATION {
        return Err(format!(
            "invalid duration `{value}`: the maximum is {} days",
            MAX_DURATION.as_secs() / 86_400
        ));
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
        assert_eq!(parse_duration("30days").unwrap(), MAX_DURATION);
        assert!(parse_duration("31days").is_err());
        assert!(parse_duration("18446744073709551615").is_err());
    }
}
