//! Settings from flags and environment variables, layered over profiles.
//!
//! Each value is taken from the first layer that sets it: a command-line
//! flag, an `ENTRATOOL_*` variable, the profile, then the `AZURE_*`
//! variable the Azure SDKs read. Without a profile (`--env`, or no
//! profiles at all) the flags and variables alone describe the app, so a
//! CI job needs nothing but its environment.

use std::path::PathBuf;

use tracing::debug;

use crate::certificate::expand_path;
use crate::cli::IdentityArgs;
use crate::env::{self, azure};
use crate::error::{Error, Result};
use crate::federated::{FederatedSource, DEFAULT_AUDIENCE};
use crate::profile::{self, AuthMethod, Profile, DEFAULT_SCOPE};
use crate::secrets::Secret;

/// Name shown for the profile built from the environment.
pub const ENVIRONMENT_PROFILE: &str = "(environment)";

/// Reads one environment variable; tests pass a map instead of the process
/// environment.
pub type Vars<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Reads the process environment, treating empty values as unset.
pub fn process_vars(name: &str) -> Option<String> {
    env::var(name)
}

/// Sources of a profile's fields, for `-v` output and error messages.
#[derive(Debug, Clone, Default)]
pub struct Origins {
    pub tenant: String,
    pub client_id: String,
    /// The flag or variable that chose the credential, or `profile`.
    pub credential: String,
}

/// A profile with the flag and variable layers applied, and the client
/// secret those layers supply.
pub struct Layered {
    pub profile: Profile,
    /// The secret to use before any keyring entry.
    pub secret: Option<Secret>,
    /// `AZURE_CLIENT_SECRET`, used only after the keyring has none.
    pub fallback_secret: Option<Secret>,
    pub origins: Origins,
}

/// Returns the first value set among `(origin, value)` pairs, with its origin.
fn first(candidates: &[(&str, Option<String>)]) -> Option<(String, String)> {
    candidates.iter().find_map(|(origin, value)| {
        value
            .clone()
            .map(|v| (origin.to_string(), v.trim().to_string()))
    })
}

/// Applies the flag and `ENTRATOOL_*` layers over a saved profile, and the
/// `AZURE_*` layer under it.
pub fn layer_over_profile(
    mut profile: Profile,
    args: &IdentityArgs,
    vars: Vars,
) -> Result<Layered> {
    let mut origins = Origins {
        tenant: "profile".to_string(),
        client_id: "profile".to_string(),
        credential: "profile".to_string(),
    };
    if let Some((origin, tenant)) = first(&[
        ("--tenant-id", args.tenant_id.clone()),
        (env::TENANT_ID, vars(env::TENANT_ID)),
    ]) {
        profile.tenant_id = tenant;
        origins.tenant = origin;
    }
    if let Some((origin, client_id)) = first(&[
        ("--client-id", args.client_id.clone()),
        (env::CLIENT_ID, vars(env::CLIENT_ID)),
    ]) {
        profile.client_id = client_id;
        origins.client_id = origin;
    }

    let federated_source = federated_source_override(args, vars)?;
    match federated_source {
        Some((origin, source)) => {
            profile.federated_token_source = Some(source);
            origins.credential = origin;
        }
        None if profile.federated_token_file.is_some()
            && profile.federated_token_source.is_none() =>
        {
            profile.federated_token_source = Some(FederatedSource::File);
        }
        None => {}
    }
    if profile.federated_token_source == Some(FederatedSource::File) {
        let (origin, path) = first(&[
            ("--federated-token-file", args.federated_token_file.clone()),
            (env::FEDERATED_TOKEN_FILE, vars(env::FEDERATED_TOKEN_FILE)),
            (
                "the profile's federatedTokenFile",
                profile.federated_token_file.clone(),
            ),
            (
                azure::FEDERATED_TOKEN_FILE,
                vars(azure::FEDERATED_TOKEN_FILE),
            ),
        ])
        .ok_or_else(|| missing_token_file(&origins.credential))?;
        debug!("federated token file from {origin}");
        profile.federated_token_file = Some(path);
    }
    profile.federated_token_audience =
        audience(args, vars, profile.federated_token_audience.take());

    // Only the flag turns a secret profile into a certificate one: a
    // variable meant for runs without a profile must not change every
    // saved secret profile.
    if profile.federated_token_source.is_none() {
        if let Some(path) = &args.certificate_path {
            if profile.auth_method == AuthMethod::ClientSecret {
                profile.auth_method = AuthMethod::Certificate;
            }
            profile.certificate_path = Some(path.clone());
            origins.credential = "--certificate-path".to_string();
        } else if profile.auth_method.uses_certificate() {
            if let Some(path) = vars(env::CERTIFICATE_PATH) {
                profile.certificate_path = Some(path);
                origins.credential = env::CERTIFICATE_PATH.to_string();
            } else if profile.certificate_path.is_none() {
                profile.certificate_path = vars(azure::CLIENT_CERTIFICATE_PATH);
            }
        }
    }

    Ok(Layered {
        profile,
        secret: vars(env::CLIENT_SECRET).map(Secret::new),
        fallback_secret: vars(azure::CLIENT_SECRET).map(Secret::new),
        origins,
    })
}

/// Builds a profile from flags and variables alone. Nothing is read from
/// profiles.json or the keyring.
pub fn profile_from_environment(args: &IdentityArgs, vars: Vars) -> Result<Layered> {
    let (tenant_origin, tenant) = first(&[
        ("--tenant-id", args.tenant_id.clone()),
        (env::TENANT_ID, vars(env::TENANT_ID)),
        (azure::TENANT_ID, vars(azure::TENANT_ID)),
    ])
    .ok_or_else(|| {
        missing_setting(
            "the tenant",
            "--tenant-id",
            env::TENANT_ID,
            azure::TENANT_ID,
        )
    })?;
    let (client_origin, client_id) = first(&[
        ("--client-id", args.client_id.clone()),
        (env::CLIENT_ID, vars(env::CLIENT_ID)),
        (azure::CLIENT_ID, vars(azure::CLIENT_ID)),
    ])
    .ok_or_else(|| {
        missing_setting(
            "the client ID",
            "--client-id",
            env::CLIENT_ID,
            azure::CLIENT_ID,
        )
    })?;

    let mut profile = Profile::new(ENVIRONMENT_PROFILE.to_string(), tenant, client_id);
    profile.scopes =
        profile::parse_scopes(&vars(env::SCOPES).unwrap_or_else(|| DEFAULT_SCOPE.to_string()));
    profile.default_flow = Some(crate::profile::Flow::ClientCredentials);
    let mut secret = None;
    let credential = choose_credential(args, vars)?;
    let credential_origin = match credential {
        Some((origin, chosen)) => {
            match chosen {
                Credential::Secret(value) => secret = Some(value),
                Credential::Certificate(path) => {
                    profile.auth_method = AuthMethod::Certificate;
                    profile.certificate_path = Some(path);
                }
                Credential::FederatedFile(path) => {
                    profile.federated_token_source = Some(FederatedSource::File);
                    profile.federated_token_file = Some(path);
                }
                Credential::GitHub => {
                    profile.federated_token_source = Some(FederatedSource::GitHub);
                }
            }
            origin
        }
        None => "none".to_string(),
    };
    profile.federated_token_audience = audience(args, vars, None);
    debug!(
        "profile from the environment: tenant from {tenant_origin}, client ID from \
         {client_origin}, credential from {credential_origin}"
    );
    Ok(Layered {
        profile,
        secret,
        fallback_secret: None,
        origins: Origins {
            tenant: tenant_origin,
            client_id: client_origin,
            credential: credential_origin,
        },
    })
}

/// A credential chosen from the flags and variables.
enum Credential {
    Secret(Secret),
    Certificate(String),
    FederatedFile(String),
    GitHub,
}

/// Picks the credential of an environment-only run. Flags win, then the
/// `ENTRATOOL_*` variables, then `AZURE_*`. Within the `AZURE_*` layer a
/// secret wins over a certificate and a certificate over a federated token
/// file, the order of the Azure SDKs' `DefaultAzureCredential`.
fn choose_credential(args: &IdentityArgs, vars: Vars) -> Result<Option<(String, Credential)>> {
    let federated_file = || {
        first(&[
            ("--federated-token-file", args.federated_token_file.clone()),
            (env::FEDERATED_TOKEN_FILE, vars(env::FEDERATED_TOKEN_FILE)),
            (
                azure::FEDERATED_TOKEN_FILE,
                vars(azure::FEDERATED_TOKEN_FILE),
            ),
        ])
    };
    if let Some((origin, source)) = federated_source_override(args, vars)? {
        return match source {
            FederatedSource::GitHub => Ok(Some((origin, Credential::GitHub))),
            FederatedSource::File => {
                let (_, path) = federated_file().ok_or_else(|| missing_token_file(&origin))?;
                Ok(Some((origin, Credential::FederatedFile(path))))
            }
        };
    }
    if let Some(path) = &args.certificate_path {
        return Ok(Some((
            "--certificate-path".to_string(),
            Credential::Certificate(path.clone()),
        )));
    }
    let layers = [
        (
            env::CLIENT_SECRET,
            env::CERTIFICATE_PATH,
            env::FEDERATED_TOKEN_FILE,
        ),
        (
            azure::CLIENT_SECRET,
            azure::CLIENT_CERTIFICATE_PATH,
            azure::FEDERATED_TOKEN_FILE,
        ),
    ];
    for (secret, certificate, token_file) in layers {
        if let Some(value) = vars(secret) {
            return Ok(Some((
                secret.to_string(),
                Credential::Secret(Secret::new(value)),
            )));
        }
        if let Some(path) = vars(certificate) {
            return Ok(Some((
                certificate.to_string(),
                Credential::Certificate(path),
            )));
        }
        if let Some(path) = vars(token_file) {
            return Ok(Some((
                token_file.to_string(),
                Credential::FederatedFile(path),
            )));
        }
    }
    Ok(None)
}

/// Returns `--federated`, `--federated-token-file` (which implies `file`)
/// or `ENTRATOOL_FEDERATED`, first found.
fn federated_source_override(
    args: &IdentityArgs,
    vars: Vars,
) -> Result<Option<(String, FederatedSource)>> {
    if let Some(source) = args.federated {
        if source == FederatedSource::GitHub && args.federated_token_file.is_some() {
            return Err(Error::Usage(
                "--federated github fetches its token from GitHub, so it takes no \
                 --federated-token-file; use one or the other"
                    .to_string(),
            ));
        }
        return Ok(Some(("--federated".to_string(), source)));
    }
    if args.federated_token_file.is_some() {
        return Ok(Some((
            "--federated-token-file".to_string(),
            FederatedSource::File,
        )));
    }
    match vars(env::FEDERATED) {
        Some(value) => value
            .parse()
            .map(|source| Some((env::FEDERATED.to_string(), source)))
            .map_err(|e| Error::Usage(format!("{}: {e}", env::FEDERATED))),
        None => Ok(None),
    }
}

fn audience(args: &IdentityArgs, vars: Vars, from_profile: Option<String>) -> Option<String> {
    first(&[
        ("--federated-audience", args.federated_audience.clone()),
        (env::FEDERATED_AUDIENCE, vars(env::FEDERATED_AUDIENCE)),
        ("profile", from_profile),
    ])
    .map(|(_, value)| value)
}

/// Returns the audience for a GitHub Actions OIDC token.
pub fn github_audience(profile: &Profile) -> &str {
    profile
        .federated_token_audience
        .as_deref()
        .unwrap_or(DEFAULT_AUDIENCE)
}

/// Returns the federated token file of a profile, `~` expanded.
pub fn federated_token_path(profile: &Profile) -> Option<PathBuf> {
    match profile.federated_token_source {
        Some(FederatedSource::File) => profile.federated_token_file.as_deref().map(expand_path),
        _ => None,
    }
}

fn missing_setting(what: &str, flag: &str, own: &str, azure_name: &str) -> Error {
    Error::Usage(format!(
        "no profile is used and {what} is not set: pass {flag}, or set {own} or {azure_name}"
    ))
}

fn missing_token_file(origin: &str) -> Error {
    Error::Usage(format!(
        "{origin} asks for a federated token file, but none is given: pass \
         --federated-token-file, or set {} or {}",
        env::FEDERATED_TOKEN_FILE,
        azure::FEDERATED_TOKEN_FILE
    ))
}

/// True when the environment names an app, so a run without profiles can
/// use it instead of failing with "no profiles".
pub fn names_an_app(args: &IdentityArgs, vars: Vars) -> bool {
    args.client_id.is_some() || vars(env::CLIENT_ID).is_some() || vars(azure::CLIENT_ID).is_some()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const TENANT: &str = "contoso.onmicrosoft.com";
    const CLIENT: &str = "11111111-2222-3333-4444-555555555555";

    fn vars_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn saved_profile() -> Profile {
        let mut profile = Profile::new(
            "saved".into(),
            "saved.onmicrosoft.com".into(),
            CLIENT.into(),
        );
        profile.scopes = vec![DEFAULT_SCOPE.to_string()];
        profile
    }

    #[test]
    fn azure_names_build_a_profile() {
        let vars = vars_of(&[
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            ("AZURE_CLIENT_SECRET", "azure-secret"),
        ]);
        let layered = profile_from_environment(&IdentityArgs::default(), &vars).unwrap();
        assert_eq!(layered.profile.tenant_id, TENANT);
        assert_eq!(layered.profile.client_id, CLIENT);
        assert_eq!(layered.secret.unwrap().expose(), "azure-secret");
        assert_eq!(layered.origins.credential, "AZURE_CLIENT_SECRET");
    }

    #[test]
    fn entratool_names_win_over_azure_names() {
        let vars = vars_of(&[
            ("AZURE_TENANT_ID", "azure.onmicrosoft.com"),
            ("ENTRATOOL_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000000"),
            ("ENTRATOOL_CLIENT_ID", CLIENT),
            ("AZURE_CLIENT_SECRET", "azure-secret"),
            ("ENTRATOOL_FEDERATED_TOKEN_FILE", "/run/token"),
        ]);
        let layered = profile_from_environment(&IdentityArgs::default(), &vars).unwrap();
        assert_eq!(layered.profile.tenant_id, TENANT);
        assert_eq!(layered.profile.client_id, CLIENT);
        assert!(layered.secret.is_none());
        assert_eq!(
            layered.profile.federated_token_file.as_deref(),
            Some("/run/token")
        );
        assert_eq!(layered.origins.credential, "ENTRATOOL_FEDERATED_TOKEN_FILE");
    }

    #[test]
    fn flags_win_over_every_variable() {
        let vars = vars_of(&[
            ("ENTRATOOL_TENANT_ID", "env.onmicrosoft.com"),
            (
                "ENTRATOOL_CLIENT_ID",
                "00000000-0000-0000-0000-000000000000",
            ),
            ("ENTRATOOL_CLIENT_SECRET", "secret"),
        ]);
        let args = IdentityArgs {
            tenant_id: Some(TENANT.into()),
            client_id: Some(CLIENT.into()),
            certificate_path: Some("/certs/app.pem".into()),
            ..IdentityArgs::default()
        };
        let layered = profile_from_environment(&args, &vars).unwrap();
        assert_eq!(layered.profile.tenant_id, TENANT);
        assert_eq!(layered.profile.client_id, CLIENT);
        assert_eq!(layered.profile.auth_method, AuthMethod::Certificate);
        assert!(layered.secret.is_none());
    }

    #[test]
    fn azure_layer_credential_order() {
        let base = [("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_ID", CLIENT)];
        let with = |extra: &[(&'static str, &'static str)]| {
            let mut all = base.to_vec();
            all.extend_from_slice(extra);
            profile_from_environment(&IdentityArgs::default(), &vars_of(&all)).unwrap()
        };
        let both = with(&[
            ("AZURE_CLIENT_CERTIFICATE_PATH", "/c.pem"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/t"),
        ]);
        assert_eq!(both.profile.auth_method, AuthMethod::Certificate);
        assert_eq!(both.profile.federated_token_source, None);
        let token_only = with(&[("AZURE_FEDERATED_TOKEN_FILE", "/t")]);
        assert_eq!(
            token_only.profile.federated_token_source,
            Some(FederatedSource::File)
        );
    }

    #[test]
    fn missing_client_id_names_every_source() {
        let vars = vars_of(&[("AZURE_TENANT_ID", TENANT)]);
        let error = profile_from_environment(&IdentityArgs::default(), &vars)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("--client-id"), "{error}");
        assert!(error.contains("ENTRATOOL_CLIENT_ID"), "{error}");
        assert!(error.contains("AZURE_CLIENT_ID"), "{error}");
    }

    #[test]
    fn profile_sits_between_entratool_and_azure_names() {
        let vars = vars_of(&[
            ("AZURE_TENANT_ID", "azure.onmicrosoft.com"),
            ("AZURE_FEDERATED_TOKEN_FILE", "/azure/token"),
        ]);
        let mut profile = saved_profile();
        profile.federated_token_file = Some("/profile/token".into());
        let layered = layer_over_profile(profile, &IdentityArgs::default(), &vars).unwrap();
        assert_eq!(layered.profile.tenant_id, "saved.onmicrosoft.com");
        assert_eq!(
            layered.profile.federated_token_file.as_deref(),
            Some("/profile/token")
        );

        let vars = vars_of(&[
            ("ENTRATOOL_TENANT_ID", TENANT),
            ("ENTRATOOL_FEDERATED_TOKEN_FILE", "/entratool/token"),
        ]);
        let mut profile = saved_profile();
        profile.federated_token_file = Some("/profile/token".into());
        let layered = layer_over_profile(profile, &IdentityArgs::default(), &vars).unwrap();
        assert_eq!(layered.profile.tenant_id, TENANT);
        assert_eq!(
            layered.profile.federated_token_file.as_deref(),
            Some("/entratool/token")
        );
    }

    #[test]
    fn certificate_variable_keeps_secret_profiles() {
        let vars = vars_of(&[("ENTRATOOL_CERTIFICATE_PATH", "/certs/other.pem")]);
        let layered = layer_over_profile(saved_profile(), &IdentityArgs::default(), &vars).unwrap();
        assert_eq!(layered.profile.auth_method, AuthMethod::ClientSecret);
        assert_eq!(layered.profile.certificate_path, None);

        let mut certificate_profile = saved_profile();
        certificate_profile.auth_method = AuthMethod::Certificate;
        certificate_profile.certificate_path = Some("/certs/app.pem".into());
        let layered =
            layer_over_profile(certificate_profile, &IdentityArgs::default(), &vars).unwrap();
        assert_eq!(
            layered.profile.certificate_path.as_deref(),
            Some("/certs/other.pem")
        );
    }

    #[test]
    fn github_source_rejects_a_token_file() {
        let args = IdentityArgs {
            federated: Some(FederatedSource::GitHub),
            federated_token_file: Some("/run/token".into()),
            ..IdentityArgs::default()
        };
        let vars = vars_of(&[("AZURE_TENANT_ID", TENANT), ("AZURE_CLIENT_ID", CLIENT)]);
        let error = profile_from_environment(&args, &vars)
            .err()
            .unwrap()
            .to_string();
        assert!(error.contains("--federated-token-file"), "{error}");
        assert!(!error.contains("  "), "a run of spaces in: {error}");
    }

    #[test]
    fn github_source_takes_the_default_audience() {
        let vars = vars_of(&[
            ("AZURE_TENANT_ID", TENANT),
            ("AZURE_CLIENT_ID", CLIENT),
            ("ENTRATOOL_FEDERATED", "github"),
        ]);
        let layered = profile_from_environment(&IdentityArgs::default(), &vars).unwrap();
        assert_eq!(
            layered.profile.federated_token_source,
            Some(FederatedSource::GitHub)
        );
        assert_eq!(github_audience(&layered.profile), DEFAULT_AUDIENCE);
        let args = IdentityArgs {
            federated_audience: Some("api://custom".into()),
            ..IdentityArgs::default()
        };
        let layered = profile_from_environment(&args, &vars).unwrap();
        assert_eq!(github_audience(&layered.profile), "api://custom");
    }
}
