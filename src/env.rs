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
/// Extra CA certificates (PEM) to trust; same as `--ca-file`.
pub const CA_FILE: &str = "ENTRATOOL_CA_FILE";
