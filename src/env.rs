//! Names of the environment variables the tool reads.

/// Overrides the configuration folder (profiles, token cache).
pub const CONFIG_DIR: &str = "ENTRATOOL_CONFIG_DIR";
/// Overrides the authority URL (sovereign clouds, local test servers).
pub const AUTHORITY: &str = "ENTRATOOL_AUTHORITY";
/// Supplies the client secret for one run without storing it.
pub const CLIENT_SECRET: &str = "ENTRATOOL_CLIENT_SECRET";
/// Supplies the certificate password for one run without storing it.
pub const CERTIFICATE_PASSWORD: &str = "ENTRATOOL_CERTIFICATE_PASSWORD";
/// Seconds to wait for the OS keyring before giving up (default 2).
pub const KEYRING_TIMEOUT: &str = "ENTRATOOL_KEYRING_TIMEOUT";
/// Disables colour, as described at no-color.org.
pub const NO_COLOR: &str = "NO_COLOR";
/// Supplies the passphrase for `config export` and `config import`.
pub const EXPORT_PASSPHRASE: &str = "ENTRATOOL_EXPORT_PASSPHRASE";
/// Overrides the Microsoft Graph base URL used by `discover`.
pub const GRAPH_URL: &str = "ENTRATOOL_GRAPH_URL";
/// Extra CA certificates (PEM) to trust; same as `--ca-file`.
pub const CA_FILE: &str = "ENTRATOOL_CA_FILE";

/// Tenant of the app when no profile is used (and an override of a profile's).
pub const TENANT_ID: &str = "ENTRATOOL_TENANT_ID";
/// Application (client) ID when no profile is used (and an override of a profile's).
pub const CLIENT_ID: &str = "ENTRATOOL_CLIENT_ID";
/// Scopes to request when no profile is used, separated by commas or spaces.
pub const SCOPES: &str = "ENTRATOOL_SCOPES";
/// Certificate file of the app (.pfx, .p12 or .pem).
pub const CERTIFICATE_PATH: &str = "ENTRATOOL_CERTIFICATE_PATH";
/// File holding a federated token (workload identity federation).
pub const FEDERATED_TOKEN_FILE: &str = "ENTRATOOL_FEDERATED_TOKEN_FILE";
/// Source of the federated token: `file` or `github`; same as `--federated`.
pub const FEDERATED: &str = "ENTRATOOL_FEDERATED";
/// Audience requested for a GitHub Actions OIDC token.
pub const FEDERATED_AUDIENCE: &str = "ENTRATOOL_FEDERATED_AUDIENCE";

/// Names used by the Azure SDKs (`EnvironmentCredential`,
/// `WorkloadIdentityCredential`). They rank below `ENTRATOOL_*` and profiles.
pub mod azure {
    pub const TENANT_ID: &str = "AZURE_TENANT_ID";
    pub const CLIENT_ID: &str = "AZURE_CLIENT_ID";
    pub const CLIENT_SECRET: &str = "AZURE_CLIENT_SECRET";
    pub const CLIENT_CERTIFICATE_PATH: &str = "AZURE_CLIENT_CERTIFICATE_PATH";
    pub const CLIENT_CERTIFICATE_PASSWORD: &str = "AZURE_CLIENT_CERTIFICATE_PASSWORD";
    pub const FEDERATED_TOKEN_FILE: &str = "AZURE_FEDERATED_TOKEN_FILE";
    pub const AUTHORITY_HOST: &str = "AZURE_AUTHORITY_HOST";
}

/// Set by GitHub Actions in jobs with `permissions: id-token: write`.
pub const GITHUB_ID_TOKEN_REQUEST_URL: &str = "ACTIONS_ID_TOKEN_REQUEST_URL";
/// Bearer token for [`GITHUB_ID_TOKEN_REQUEST_URL`].
pub const GITHUB_ID_TOKEN_REQUEST_TOKEN: &str = "ACTIONS_ID_TOKEN_REQUEST_TOKEN";

/// Set by kubectl for credential plugins (client.authentication.k8s.io).
pub const KUBERNETES_EXEC_INFO: &str = "KUBERNETES_EXEC_INFO";

/// Set to `true` by most CI systems (GitHub Actions, GitLab CI); prompts are then off.
pub const CI: &str = "CI";
/// Set to `True` by Azure Pipelines, which does not set `CI`.
pub const TF_BUILD: &str = "TF_BUILD";

/// Returns the variable's value, or `None` when it is unset, empty or not UTF-8.
pub fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}
