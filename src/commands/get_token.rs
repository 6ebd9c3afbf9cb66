//! `get-token`: resolve the profile, flow, scopes and authority, get a token
//! and print only the token (or JSON) on stdout.

use time::OffsetDateTime;
use tracing::debug;

use crate::certificate::{self, AssertionOptions, PasswordSources};
use crate::cli::GetTokenArgs;
use crate::env;
use crate::error::{Error, Result};
use crate::flows::{self, ClientCredential, FlowRequest};
use crate::output;
use crate::profile::{self, AuthMethod, Flow, Profile, ProfileStore};
use crate::secrets::{Keyring, Secret, SecretKind};
use crate::token::{TokenClient, DEFAULT_AUTHORITY};
use crate::ui;

pub fn run(args: &GetTokenArgs) -> Result<()> {
    let store = ProfileStore::open_default()?;
    let profile = select_profile(&store, args.profile.as_deref())?;
    let flow = args.flow.unwrap_or_else(|| profile.inferred_flow());
    debug!("profile `{}`, flow {flow}", profile.name);

    let scopes = match &args.scope {
        Some(list) => {
            let scopes = profile::parse_scopes(list);
            if scopes.is_empty() {
                return Err(Error::Usage(
                    "-s/--scope was given but holds no scope".to_string(),
                ));
            }
            scopes
        }
        None => profile.effective_scopes(),
    };
    let mut effective = profile.clone();
    effective.scopes.clone_from(&scopes);
    effective.validate(flow)?;

    let authority = resolve_authority(args.authority.as_deref(), &profile)?;
    let client_credential = match flow {
        Flow::ClientCredentials => Some(resolve_client_credential(&profile, args)?),
        _ => None,
    };

    let request = FlowRequest {
        profile: &effective,
        flow,
        scopes,
        client_credential,
    };
    let client = TokenClient::new(&authority, args.timeout)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    let token = runtime.block_on(async {
        tokio::time::timeout(args.timeout, flows::acquire(&client, &request))
            .await
            .map_err(|_| {
                Error::Timeout(format!(
                    "no token within {}; raise the limit with --timeout",
                    humantime::format_duration(args.timeout)
                ))
            })?
    })?;

    let now = OffsetDateTime::now_utc();
    let rendered = output::render(&token, args.output, now);
    output::deliver(&rendered, args.file.as_deref(), args.silent)?;
    if !args.silent && ui::stderr_is_terminal() {
        output::print_summary(&token, &profile.name, flow.as_str(), now);
    }
    Ok(())
}

/// Picks the profile: the named one, else the only one, else a prompt in a
/// terminal, else an error listing the names.
pub fn select_profile(store: &ProfileStore, name: Option<&str>) -> Result<Profile> {
    if let Some(name) = name {
        return store.get(name).cloned();
    }
    match store.profiles() {
        [only] => Ok(only.clone()),
        [] => Err(Error::NoProfileChosen {
            available: Vec::new(),
        }),
        many if ui::can_prompt() => {
            let names = store.names();
            let index = dialoguer::Select::with_theme(&dialoguer::theme::ColorfulTheme::default())
                .with_prompt("Profile")
                .items(&names)
                .default(0)
                .interact()
                .map_err(|e| Error::Other(format!("prompt failed: {e}")))?;
            Ok(many[index].clone())
        }
        _ => Err(Error::NoProfileChosen {
            available: store.names(),
        }),
    }
}

/// The authority, first found: the flag, `ENTRATOOL_AUTHORITY`, the profile,
/// the public cloud.
pub fn resolve_authority(flag: Option<&str>, profile: &Profile) -> Result<String> {
    let from_env = std::env::var(env::AUTHORITY).ok().filter(|v| !v.is_empty());
    let authority = flag
        .map(str::to_string)
        .or(from_env)
        .or_else(|| profile.authority.clone())
        .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string());
    profile::validate_authority(&authority).map_err(Error::Usage)?;
    Ok(authority.trim_end_matches('/').to_string())
}

/// The client's credential for the profile's auth method: the secret, or
/// the certificate opened and checked, so every certificate problem shows
/// up before any request is sent.
pub fn resolve_client_credential(
    profile: &Profile,
    args: &GetTokenArgs,
) -> Result<ClientCredential> {
    if profile.auth_method == AuthMethod::ClientSecret {
        return resolve_client_secret(profile).map(ClientCredential::Secret);
    }
    let sources = PasswordSources {
        use_keyring: profile.cache_certificate_password || args.cache_cert_password,
        interactive: ui::can_prompt(),
    };
    let (path, certificate) = certificate::load_for_profile(profile, &sources)?;
    let options = AssertionOptions {
        algorithm: args
            .assertion_algorithm
            .or(profile.client_assertion_algorithm)
            .unwrap_or_default(),
        include_x5t: args.include_x5t || profile.include_x5t,
        include_x5c: args.include_x5c || profile.include_x5c,
    };
    debug!(
        "client assertion {} from {} (SHA-1 thumbprint {})",
        options.algorithm,
        path.display(),
        certificate.sha1_thumbprint()
    );
    Ok(ClientCredential::Certificate {
        certificate: Box::new(certificate),
        options,
    })
}

/// The client secret: `ENTRATOOL_CLIENT_SECRET` for this run, else the
/// keyring. The environment wins so CI never touches a keyring.
pub fn resolve_client_secret(profile: &Profile) -> Result<Secret> {
    if let Some(value) = std::env::var(env::CLIENT_SECRET)
        .ok()
        .filter(|v| !v.is_empty())
    {
        debug!("client secret from {}", env::CLIENT_SECRET);
        return Ok(Secret::new(value));
    }
    let keyring = Keyring::open()?;
    keyring
        .get(&profile.name, SecretKind::ClientSecret)?
        .ok_or_else(|| Error::InvalidProfile {
            profile: profile.name.clone(),
            message: format!(
                "no client secret is stored for it in the OS keyring; store one with `entratool \
                 config create`, or set {} for this run",
                env::CLIENT_SECRET
            ),
        })
}
