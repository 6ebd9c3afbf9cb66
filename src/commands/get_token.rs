//! `get-token`: resolve the profile, flow, scopes and authority, get a token
//! and print only the token (or JSON) on stdout.

use std::time::Duration;

use time::OffsetDateTime;
use tracing::debug;

use crate::cli::{GetTokenArgs, DEFAULT_TIMEOUT};
use crate::env;
use crate::error::{Error, Result};
use crate::flows::{self, BrowserOptions, ClientAuth, FlowRequest};
use crate::output;
use crate::profile::{self, AuthMethod, Flow, Profile, ProfileStore};
use crate::secrets::{Keyring, Secret, SecretKind};
use crate::token::{Token, TokenClient, DEFAULT_AUTHORITY};
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
    ensure_supported(&profile, flow)?;
    if args.no_browser && flow != Flow::AuthorizationCode {
        return Err(Error::Usage(format!(
            "--no-browser only applies to -f AuthorizationCode, not {flow}; over SSH or without \
             a browser, use -f DeviceCode or -f AuthorizationCode --no-browser"
        )));
    }
    let client_auth = resolve_client_auth(&profile, flow)?;

    let request = FlowRequest {
        profile: &effective,
        flow,
        scopes,
        client_auth,
        browser: BrowserOptions {
            redirect_uri: args.redirect_uri.clone(),
            port: args.port,
            no_browser: args.no_browser,
        },
        silent: args.silent,
    };
    let request_timeout = args.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let client = TokenClient::new(&authority, request_timeout)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    let limit = overall_limit(flow, args.timeout);
    let result = runtime.block_on(acquire_until_stopped(&client, &request, limit));
    // A stdin reader or a browser process may still run; do not wait for them.
    runtime.shutdown_background();
    let token = result?;

    let now = OffsetDateTime::now_utc();
    let rendered = output::render(&token, args.output, now);
    output::deliver(&rendered, args.file.as_deref(), args.silent)?;
    if !args.silent && ui::stderr_is_terminal() {
        output::print_summary(&token, &profile.name, flow.as_str(), now);
    }
    Ok(())
}

/// Returns the time limit of the whole acquisition, `None` when the flow
/// bounds itself. Without `--timeout` the device flow waits as long as its
/// code lives, so the 60 s default never cuts it short.
pub fn overall_limit(flow: Flow, explicit: Option<Duration>) -> Option<Duration> {
    match (flow, explicit) {
        (_, Some(limit)) => Some(limit),
        (Flow::DeviceCode, None) => None,
        (_, None) => Some(DEFAULT_TIMEOUT),
    }
}

/// Runs the flow until it ends, the limit passes or Ctrl-C arrives.
/// Dropping the flow's future on the way out closes its listener and clears
/// its spinner.
async fn acquire_until_stopped(
    client: &TokenClient,
    request: &FlowRequest<'_>,
    limit: Option<Duration>,
) -> Result<Token> {
    let flow = async {
        match limit {
            Some(limit) => tokio::time::timeout(limit, flows::acquire(client, request))
                .await
                .map_err(|_| timeout_error(request.flow, limit))?,
            None => flows::acquire(client, request).await,
        }
    };
    tokio::select! {
        result = flow => result,
        _ = tokio::signal::ctrl_c() => Err(Error::Interrupted(format!(
            "{} stopped by Ctrl-C; no token was issued",
            request.flow
        ))),
    }
}

fn timeout_error(flow: Flow, limit: Duration) -> Error {
    let limit = humantime::format_duration(limit);
    Error::Timeout(match flow {
        Flow::InteractiveBrowser | Flow::AuthorizationCode => format!(
            "the sign-in did not finish within {limit}; finish it sooner, or raise the limit \
             with --timeout (such as --timeout 5m)"
        ),
        Flow::DeviceCode => format!(
            "the device code sign-in did not finish within {limit} (--timeout); drop --timeout \
             to wait as long as the code is valid"
        ),
        Flow::ClientCredentials => {
            format!("no token within {limit}; raise the limit with --timeout")
        }
    })
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

fn ensure_supported(profile: &Profile, flow: Flow) -> Result<()> {
    if flow == Flow::ClientCredentials && profile.auth_method != AuthMethod::ClientSecret {
        return Err(Error::Unsupported(format!(
            "profile `{}` uses {} authentication, which is not supported yet",
            profile.name, profile.auth_method
        )));
    }
    Ok(())
}

/// Decides how the app authenticates at the token endpoint for `flow`. Client
/// credentials need a secret. AuthorizationCode is confidential when a secret
/// is found and public otherwise, so a missing secret or keyring is no error
/// there. DeviceCode and InteractiveBrowser are public and look nothing up.
pub fn resolve_client_auth(profile: &Profile, flow: Flow) -> Result<ClientAuth> {
    match flow {
        Flow::ClientCredentials => Ok(ClientAuth::Secret(resolve_client_secret(profile)?)),
        Flow::DeviceCode | Flow::InteractiveBrowser => Ok(ClientAuth::Public),
        Flow::AuthorizationCode => {
            if profile.auth_method.uses_certificate() {
                return Err(Error::Unsupported(format!(
                    "profile `{}` uses {} authentication, which AuthorizationCode does not \
                     support yet; use -f InteractiveBrowser or -f DeviceCode",
                    profile.name, profile.auth_method
                )));
            }
            optional_client_secret(profile).map(|secret| match secret {
                Some(secret) => ClientAuth::Secret(secret),
                None => ClientAuth::Public,
            })
        }
    }
}

/// Looks up the client secret, if one exists: `ENTRATOOL_CLIENT_SECRET`,
/// else the keyring. A missing or unreachable keyring means "no secret".
fn optional_client_secret(profile: &Profile) -> Result<Option<Secret>> {
    if let Some(value) = std::env::var(env::CLIENT_SECRET)
        .ok()
        .filter(|v| !v.is_empty())
    {
        debug!("client secret from {}", env::CLIENT_SECRET);
        return Ok(Some(Secret::new(value)));
    }
    let keyring = match Keyring::open() {
        Ok(keyring) => keyring,
        Err(error) => {
            debug!("no keyring, so the code is redeemed as a public client: {error}");
            return Ok(None);
        }
    };
    match keyring.get(&profile.name, SecretKind::ClientSecret) {
        Ok(found) => {
            debug!(
                "client secret in the keyring: {}",
                if found.is_some() { "found" } else { "none" }
            );
            Ok(found)
        }
        Err(error) => {
            ui::warn(&format!(
                "{error}; the code is redeemed as a public client (without a client secret)"
            ));
            Ok(None)
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limit_never_cuts_the_device_flow_short() {
        assert_eq!(overall_limit(Flow::DeviceCode, None), None);
        let explicit = Duration::from_secs(30);
        assert_eq!(
            overall_limit(Flow::DeviceCode, Some(explicit)),
            Some(explicit)
        );
        for flow in [
            Flow::ClientCredentials,
            Flow::InteractiveBrowser,
            Flow::AuthorizationCode,
        ] {
            assert_eq!(overall_limit(flow, None), Some(DEFAULT_TIMEOUT), "{flow}");
        }
    }
}
