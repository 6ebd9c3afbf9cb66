//! `get-token`: resolve the profile, flow, scopes and authority, serve the
//! token from the cache when it is fresh, else get one from the server, and
//! print only the token (or JSON) on stdout.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use time::OffsetDateTime;
use tracing::debug;

use super::credential::flow_credential;
use crate::cache::{self, Identity, KeySource, Lookup, TokenCache};
use crate::cli::{
    CertificateArgs, GetTokenArgs, IdentityArgs, OutputArgs, OutputFormat, DEFAULT_TIMEOUT,
};
use crate::clipboard;
use crate::env;
use crate::environment::{self, Layered};
use crate::error::{Error, Result};
use crate::exec_credential::{self, ExecInfo};
use crate::federated::FederatedSource;
use crate::flows::{self, BrowserOptions, FlowRequest};
use crate::output;
use crate::profile::{self, AuthMethod, Flow, Profile, ProfileStore};
use crate::secrets::Secret;
use crate::token::{Token, TokenClient, DEFAULT_AUTHORITY};
use crate::ui;

/// A request resolved from flags, environment and profile.
pub struct Resolved {
    pub profile: Profile,
    pub flow: Flow,
    pub scopes: Vec<String>,
    pub authority: String,
    /// The client secret from the environment: `ENTRATOOL_CLIENT_SECRET`,
    /// or in [`Mode::Environment`] also `AZURE_CLIENT_SECRET`.
    pub env_secret: Option<Secret>,
    /// `AZURE_CLIENT_SECRET` for a saved profile, used only when the keyring
    /// has no secret for it.
    pub fallback_secret: Option<Secret>,
    /// Certificate options from the command line.
    pub certificate: CertificateArgs,
    /// Options of the user flows from the command line.
    pub sign_in: SignInOptions,
    pub mode: Mode,
    /// The flag, variable or profile that chose the credential.
    pub credential_origin: String,
}

/// Options of the user flows from the command line. The defaults suit
/// callers such as `refresh` that never start a sign-in.
#[derive(Debug, Clone, Default)]
pub struct SignInOptions {
    pub browser: BrowserOptions,
    /// `--timeout` as given. Without it the device flow waits as long as its
    /// code lives.
    pub explicit_timeout: Option<Duration>,
    pub silent: bool,
}

/// Source of the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// A profile from profiles.json, with flag and variable overrides.
    Profile,
    /// Built from flags and environment variables alone. Nothing is read
    /// from or written to the keyring, the token cache or the clipboard.
    Environment,
}

/// The cache reads and writes allowed in one run.
#[derive(Debug, Clone, Copy)]
pub struct CachePolicy {
    pub read: bool,
    pub write: bool,
}

pub fn run(args: &GetTokenArgs) -> Result<()> {
    if args.output.output == OutputFormat::ExecCredential {
        // Checked before any request, and a kubectl without a terminal to
        // lend turns the prompts off.
        let info = ExecInfo::from_env()?;
        if info.interactive == Some(false) {
            ui::disable_interaction(&format!(
                "{} has spec.interactive=false",
                env::KUBERNETES_EXEC_INFO
            ));
        }
    }
    let (layered, mode) = select_source(args)?;
    if mode == Mode::Environment && args.certificate.cache_cert_password {
        return Err(Error::Usage(
            "--cache-cert-password needs a saved profile (-p): without one nothing is stored in \
             the OS keyring"
                .to_string(),
        ));
    }
    let mut resolved = resolve_layered(
        layered,
        mode,
        args.flow,
        args.scope.as_deref(),
        args.authority.as_deref(),
        &args.certificate,
    )?;
    if args.no_browser && resolved.flow != Flow::AuthorizationCode {
        return Err(Error::Usage(format!(
            "--no-browser only applies to -f AuthorizationCode, not {}; over SSH or without a \
             browser, use -f DeviceCode or -f AuthorizationCode --no-browser",
            resolved.flow
        )));
    }
    resolved.sign_in = SignInOptions {
        browser: BrowserOptions {
            redirect_uri: args.redirect_uri.clone(),
            port: args.port,
            no_browser: args.no_browser,
        },
        explicit_timeout: args.timeout,
        silent: args.output.silent,
    };
    let policy = match mode {
        Mode::Profile => CachePolicy {
            read: !args.no_cache && !args.force,
            write: !args.no_cache,
        },
        Mode::Environment => CachePolicy {
            read: false,
            write: false,
        },
    };
    let token = obtain(&resolved, policy, args.timeout.unwrap_or(DEFAULT_TIMEOUT))?;
    if token.from_cache && !args.output.silent {
        warn_if_expiring(&token, &resolved.profile.name, args.warn_expiry);
    }
    emit(&token, &resolved, &args.output)
}

/// Picks the profile, or builds one from the environment: with `--env`,
/// or with no `-p` while no profile exists and a client ID is set in the
/// environment.
fn select_source(args: &GetTokenArgs) -> Result<(Layered, Mode)> {
    let vars: environment::Vars = &environment::process_vars;
    if args.env {
        return Ok((
            environment::profile_from_environment(&args.identity, vars)?,
            Mode::Environment,
        ));
    }
    let store = ProfileStore::open_default()?;
    if args.profile.is_none()
        && store.profiles().is_empty()
        && environment::names_an_app(&args.identity, vars)
    {
        debug!("no profiles exist; using the environment");
        return Ok((
            environment::profile_from_environment(&args.identity, vars)?,
            Mode::Environment,
        ));
    }
    let profile = select_profile(&store, args.profile.as_deref())?;
    Ok((
        environment::layer_over_profile(profile, &args.identity, vars)?,
        Mode::Profile,
    ))
}

/// Checks the request for a saved profile, with the `ENTRATOOL_*` and
/// `AZURE_*` layers applied, and fills in everything but the secret, which
/// is read only on a cache miss.
pub fn resolve(
    profile: Profile,
    flow: Option<Flow>,
    scope_override: Option<&str>,
    authority_flag: Option<&str>,
    certificate: &CertificateArgs,
) -> Result<Resolved> {
    let layered = environment::layer_over_profile(
        profile,
        &IdentityArgs::default(),
        &environment::process_vars,
    )?;
    resolve_layered(
        layered,
        Mode::Profile,
        flow,
        scope_override,
        authority_flag,
        certificate,
    )
}

/// Checks the request and fills in everything but the secret.
pub fn resolve_layered(
    layered: Layered,
    mode: Mode,
    flow: Option<Flow>,
    scope_override: Option<&str>,
    authority_flag: Option<&str>,
    certificate: &CertificateArgs,
) -> Result<Resolved> {
    let Layered {
        profile,
        secret,
        fallback_secret,
        origins,
    } = layered;
    let flow = flow.unwrap_or_else(|| profile.inferred_flow());
    debug!("profile `{}`, flow {flow}", profile.name);
    let scopes = match scope_override {
        Some(list) => {
            let scopes = profile::parse_scopes(list);
            if scopes.is_empty() {
                return Err(Error::Usage(
                    "-s/--scope is empty: give at least one scope".to_string(),
                ));
            }
            scopes
        }
        None => profile.effective_scopes(),
    };
    let mut effective = profile;
    effective.scopes.clone_from(&scopes);
    effective.validate(flow)?;
    let authority = resolve_authority(authority_flag, &effective)?;
    debug!(
        "tenant from {}, client ID from {}, credential from {}",
        origins.tenant, origins.client_id, origins.credential
    );
    Ok(Resolved {
        profile: effective,
        flow,
        scopes,
        authority,
        env_secret: secret,
        fallback_secret,
        certificate: certificate.clone(),
        sign_in: SignInOptions::default(),
        mode,
        credential_origin: origins.credential,
    })
}

/// Returns a token: from the cache when `policy.read` allows and the entry is
/// fresh, else from the server, holding the cache lock so parallel processes
/// send one request between them.
pub fn obtain(resolved: &Resolved, policy: CachePolicy, timeout: Duration) -> Result<Token> {
    let deadline = Instant::now() + timeout;
    let identity = cache_identity(resolved);
    let cache = if policy.read || policy.write {
        open_cache(resolved)
    } else {
        None
    };

    if policy.read {
        if let Some(Lookup::Fresh(token)) = cache
            .as_ref()
            .map(|c| c.lookup(&identity, OffsetDateTime::now_utc()))
        {
            debug!("cache hit");
            return Ok(token);
        }
        debug!("cache miss");
    }

    let mut cache = cache;
    let _lock = match cache.as_ref().map(|c| c.lock(deadline)) {
        Some(Ok(lock)) => Some(lock),
        Some(Err(e @ Error::Timeout(_))) => return Err(e),
        Some(Err(e)) => {
            ui::warn(&format!("running without the token cache: {e}"));
            cache = None;
            None
        }
        None => None,
    };
    let mut stale = None;
    if policy.read {
        // Another process may have filled the entry while this one waited.
        match cache
            .as_ref()
            .map(|c| c.lookup(&identity, OffsetDateTime::now_utc()))
        {
            Some(Lookup::Fresh(token)) => {
                debug!("cache filled by another process");
                return Ok(token);
            }
            Some(Lookup::Stale(token)) => stale = Some(token),
            _ => {}
        }
    }

    // A user token near expiry is renewed silently with its refresh token.
    if let Some(refresh_token) = stale.and_then(|t| t.refresh_token) {
        if resolved.flow.is_user_flow() {
            debug!("renewing the cached token with its refresh token");
            match redeem_refresh_token(resolved, &refresh_token, remaining(deadline)?) {
                Ok(token) => {
                    store_in(cache.as_ref(), policy, &identity, &token);
                    return Ok(token);
                }
                Err(e) if is_invalid_grant(&e) => {
                    if let Some(cache) = &cache {
                        cache.remove(&identity);
                    }
                    if !ui::can_prompt() {
                        return Err(sign_in_again(&resolved.profile.name, &e));
                    }
                    ui::warn("the stored sign-in was rejected; signing in again");
                }
                Err(e) => return Err(e),
            }
        }
    }

    let token = fetch(resolved, remaining(deadline)?)?;
    store_in(cache.as_ref(), policy, &identity, &token);
    Ok(token)
}

fn store_in(cache: Option<&TokenCache>, policy: CachePolicy, identity: &Identity, token: &Token) {
    if !policy.write {
        return;
    }
    if let Some(cache) = cache {
        if let Err(e) = cache.store(identity, token) {
            ui::warn(&format!("the token was not cached: {e}"));
        }
    }
}

/// Returns true for the server error sent for a revoked or expired refresh token.
pub fn is_invalid_grant(error: &Error) -> bool {
    matches!(error, Error::Server(server) if server.error == "invalid_grant")
}

fn sign_in_again(profile: &str, cause: &Error) -> Error {
    Error::SignInRequired(format!(
        "the stored sign-in of profile `{profile}` is no longer valid ({cause}); sign in again \
         with `entratool get-token -p {profile}` in a terminal"
    ))
}

/// Redeems a refresh token for the resolved scopes. Confidential profiles
/// (a client secret in the environment or keyring) send their secret too.
pub fn redeem_refresh_token(
    resolved: &Resolved,
    refresh_token: &Secret,
    timeout: Duration,
) -> Result<Token> {
    // A confidential AuthorizationCode profile proves itself again with its
    // secret or a new certificate assertion; the public flows send nothing.
    let credential = flow_credential(resolved, timeout)?;
    let client = TokenClient::new(&resolved.authority, timeout)?;
    block_on_with_timeout(
        timeout,
        flows::refresh_token::acquire(
            &client,
            &resolved.profile,
            &resolved.scopes,
            refresh_token,
            credential.as_ref(),
        ),
    )
}

fn remaining(deadline: Instant) -> Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Error::Timeout(
            "the timeout passed while waiting for the token cache; raise it with --timeout"
                .to_string(),
        ));
    }
    Ok(left)
}

/// Asks the server for a token with the resolved flow. `timeout` bounds the
/// whole flow, except a device flow without an explicit `--timeout`, which
/// ends when its code expires.
pub fn fetch(resolved: &Resolved, timeout: Duration) -> Result<Token> {
    let deadline = Instant::now() + timeout;
    let client_credential = flow_credential(resolved, timeout)?;
    let timeout = remaining(deadline)?;
    let request = FlowRequest {
        profile: &resolved.profile,
        flow: resolved.flow,
        scopes: resolved.scopes.clone(),
        client_credential,
        browser: resolved.sign_in.browser.clone(),
        silent: resolved.sign_in.silent,
    };
    let client = TokenClient::new(&resolved.authority, timeout)?;
    let limit = overall_limit(resolved.flow, resolved.sign_in.explicit_timeout, timeout);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    // Messages name the limit as the user set it, not the time left of it
    // after waiting for the cache lock.
    let stated = resolved
        .sign_in
        .explicit_timeout
        .unwrap_or_else(|| Duration::from_secs(timeout.as_secs_f64().ceil() as u64));
    let result = runtime.block_on(acquire_until_stopped(&client, &request, limit, stated));
    // A stdin reader or a browser process may still run; do not wait for them.
    runtime.shutdown_background();
    result
}

/// Runs a future on a single-threaded runtime, bounded by `timeout`.
pub fn block_on_with_timeout<T>(
    timeout: Duration,
    future: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Other(format!("cannot start the async runtime: {e}")))?;
    runtime.block_on(async {
        tokio::time::timeout(timeout, future).await.map_err(|_| {
            Error::Timeout(format!(
                "no token within {}; raise the limit with --timeout",
                humantime::format_duration(timeout)
            ))
        })?
    })
}

/// Returns the cache identity of a request. The credential part never
/// contains a secret: a secret from the environment is represented by a
/// hash, which also separates entries made with different secrets.
pub fn cache_identity(resolved: &Resolved) -> Identity {
    let profile = &resolved.profile;
    let credential = match (resolved.flow, profile.auth_method) {
        (Flow::DeviceCode | Flow::InteractiveBrowser, _) => "public".to_string(),
        // A federated token rotates, so the entry is tied to where it comes
        // from, never to its value.
        _ if profile.federated_token_source == Some(FederatedSource::GitHub) => {
            format!("federated-github:{}", environment::github_audience(profile))
        }
        _ if profile.federated_token_source == Some(FederatedSource::File) => format!(
            "federated-file:{}",
            environment::federated_token_path(profile)
                .unwrap_or_default()
                .display()
        ),
        (_, AuthMethod::ClientSecret) => match &resolved.env_secret {
            Some(secret) => {
                use sha2::{Digest, Sha256};
                let digest = Sha256::digest(secret.expose().as_bytes());
                let short: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("secret-env:{short}")
            }
            None => "secret".to_string(),
        },
        (_, AuthMethod::Certificate | AuthMethod::PasswordlessCertificate) => {
            certificate_stamp(profile)
        }
    };
    Identity {
        profile: profile.name.clone(),
        authority: resolved.authority.clone(),
        tenant: profile.tenant_id.clone(),
        client_id: profile.client_id.clone(),
        credential,
        kind: if resolved.flow.is_user_flow() {
            "user"
        } else {
            "app"
        },
        scopes: resolved.scopes.clone(),
    }
}

/// Identifies a certificate by path, size and modification time, so a
/// replaced file starts a new entry without parsing the certificate on the
/// cached path.
fn certificate_stamp(profile: &Profile) -> String {
    let path = profile.certificate_path.clone().unwrap_or_default();
    let stamp = std::fs::metadata(&path)
        .ok()
        .map(|m| {
            let modified = m
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos());
            format!("{}:{modified}", m.len())
        })
        .unwrap_or_default();
    format!("cert:{path}:{stamp}")
}

/// Opens the profile's cache, or returns `None` (and runs uncached) when no
/// key can be had.
fn open_cache(resolved: &Resolved) -> Option<TokenCache> {
    let source = match &resolved.env_secret {
        Some(secret) if resolved.flow == Flow::ClientCredentials => {
            KeySource::EnvironmentSecret(secret)
        }
        _ => KeySource::Keyring,
    };
    let config_dir = profile::config_dir().ok()?;
    match cache::load_key(&source, true) {
        Ok(Some(key)) => Some(TokenCache::new(&config_dir, &resolved.profile.name, key)),
        Ok(None) => None,
        Err(e) => {
            debug!("running without the token cache: {e}");
            None
        }
    }
}

fn warn_if_expiring(token: &Token, profile: &str, warn_minutes: u64) {
    let left = token.expires_in(OffsetDateTime::now_utc());
    if left < warn_minutes.saturating_mul(60) {
        ui::warn(&format!(
            "the cached token of profile `{profile}` expires in {} min; get a new one with \
             `entratool refresh -p {profile}`",
            left / 60
        ));
    }
}

/// Prints the token on stdout or into `--file`, and the summary on stderr
/// when it is a terminal.
pub fn emit(token: &Token, resolved: &Resolved, options: &OutputArgs) -> Result<()> {
    let now = OffsetDateTime::now_utc();
    let rendered = match options.output {
        OutputFormat::ExecCredential => exec_credential::render(token, &ExecInfo::from_env()?),
        format => output::render(token, format, now),
    };
    output::deliver(&rendered, options.file.as_deref(), options.silent)?;
    // kubectl shows the plugin's stderr on every call, so the summary stays
    // out of the ExecCredential output.
    let summary = options.output != OutputFormat::ExecCredential;
    if summary && !options.silent && ui::stderr_is_terminal() {
        output::print_summary(token, &resolved.profile.name, resolved.flow.as_str(), now);
    }
    // Only a person at a terminal wants the copy, and scripts capturing
    // stdout must not leave token files behind. The environment-only mode
    // skips it because the clipboard fallback is a file.
    let to_terminal = std::io::stdout().is_terminal() && options.file.is_none();
    let copyable = matches!(options.output, OutputFormat::Token | OutputFormat::Json)
        && resolved.mode == Mode::Profile;
    if to_terminal && copyable && !options.no_clipboard {
        match clipboard::copy_token(&token.access_token, &profile::config_dir()?)? {
            clipboard::Outcome::Copied if !options.silent => ui::note(&format!(
                "Copied to the clipboard for {} s.",
                clipboard::HOLD_FOR.as_secs()
            )),
            clipboard::Outcome::WroteFile(path) if !options.silent => ui::note(&format!(
                "No clipboard is available; the token was also written to {} (mode 0600).",
                path.display()
            )),
            _ => {}
        }
    }
    Ok(())
}

/// Returns the time limit of the whole acquisition: `remaining`, or `None`
/// for a device flow without `--timeout`, which waits as long as its code
/// lives so that the 60 s default never cuts it short.
pub fn overall_limit(
    flow: Flow,
    explicit: Option<Duration>,
    remaining: Duration,
) -> Option<Duration> {
    match (flow, explicit) {
        (Flow::DeviceCode, None) => None,
        _ => Some(remaining),
    }
}

/// Runs the flow until it ends, the limit passes or Ctrl-C arrives.
/// Dropping the flow's future on the way out closes its listener and clears
/// its spinner.
async fn acquire_until_stopped(
    client: &TokenClient,
    request: &FlowRequest<'_>,
    limit: Option<Duration>,
    stated: Duration,
) -> Result<Token> {
    let flow = async {
        match limit {
            Some(limit) => tokio::time::timeout(limit, flows::acquire(client, request))
                .await
                .map_err(|_| timeout_error(request.flow, stated))?,
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

/// Returns the authority, first found: the flag, `ENTRATOOL_AUTHORITY`, the profile,
/// `AZURE_AUTHORITY_HOST`, the public cloud.
pub fn resolve_authority(flag: Option<&str>, profile: &Profile) -> Result<String> {
    let authority = flag
        .map(str::to_string)
        .or_else(|| env::var(env::AUTHORITY))
        .or_else(|| profile.authority.clone())
        .or_else(|| env::var(env::azure::AUTHORITY_HOST))
        .unwrap_or_else(|| DEFAULT_AUTHORITY.to_string());
    profile::validate_authority(&authority).map_err(Error::Usage)?;
    Ok(authority.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_limit_never_cuts_the_device_flow_short() {
        let remaining = Duration::from_secs(60);
        assert_eq!(overall_limit(Flow::DeviceCode, None, remaining), None);
        let explicit = Duration::from_secs(30);
        assert_eq!(
            overall_limit(Flow::DeviceCode, Some(explicit), explicit),
            Some(explicit)
        );
        for flow in [
            Flow::ClientCredentials,
            Flow::InteractiveBrowser,
            Flow::AuthorizationCode,
        ] {
            assert_eq!(
                overall_limit(flow, None, remaining),
                Some(remaining),
                "{flow}"
            );
        }
    }
}
