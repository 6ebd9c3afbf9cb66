//! `config create` and `config list`, and the prompt helpers that
//! `config edit` shares.

use std::io::{BufRead, Write};

use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, Input, Password, Select};

use crate::cache;
use crate::certificate::{self, ClientCertificate, LoadError};
use crate::cli::{ConfigCreateArgs, ConfigListArgs, ListFormat};
use crate::env;
use crate::error::{Error, Result};
use crate::federated::FederatedSource;
use crate::profile::{self, AuthMethod, Flow, Profile, ProfileStore, DEFAULT_SCOPE};
use crate::secrets::{Keyring, Secret, SecretKind};
use crate::ui;

/// Asks for missing fields when a person is at a terminal; otherwise a
/// missing required field is an error naming its flag.
pub(crate) struct Asker {
    pub(crate) interactive: bool,
    pub(crate) theme: ColorfulTheme,
}

impl Asker {
    pub(crate) fn text(
        &self,
        prompt: &str,
        flag: &str,
        default: Option<&str>,
        validate: fn(&str) -> std::result::Result<(), String>,
    ) -> Result<String> {
        if !self.interactive {
            return default.map(str::to_string).ok_or_else(|| missing(flag));
        }
        let mut input = Input::<String>::with_theme(&self.theme).with_prompt(prompt);
        if let Some(default) = default {
            input = input.default(default.to_string());
        }
        input
            .validate_with(|value: &String| validate(value.trim()))
            .interact_text()
            .map(|value| value.trim().to_string())
            .map_err(prompt_failed)
    }

    /// Prompts for optional free text. An empty reply means none.
    pub(crate) fn optional_text(&self, prompt: &str) -> Result<Option<String>> {
        if !self.interactive {
            return Ok(None);
        }
        let value: String = Input::with_theme(&self.theme)
            .with_prompt(prompt)
            .allow_empty(true)
            .interact_text()
            .map_err(prompt_failed)?;
        let value = value.trim();
        Ok((!value.is_empty()).then(|| value.to_string()))
    }

    pub(crate) fn choose(&self, prompt: &str, items: &[&str], default: usize) -> Result<usize> {
        Select::with_theme(&self.theme)
            .with_prompt(prompt)
            .items(items)
            .default(default)
            .interact()
            .map_err(prompt_failed)
    }
}

pub(crate) fn missing(flag: &str) -> Error {
    let reason = ui::non_interactive_reason().unwrap_or_else(|| "secrets come from stdin".into());
    Error::Usage(format!(
        "{flag} is required when no prompt can be shown ({reason}); nothing was saved"
    ))
}

pub(crate) fn prompt_failed(error: dialoguer::Error) -> Error {
    Error::Other(format!("prompt failed: {error}; nothing was saved"))
}

pub(crate) fn validate_name(name: &str) -> std::result::Result<(), String> {
    if name.is_empty() {
        return Err("the profile name is empty".to_string());
    }
    if name.chars().any(char::is_control) {
        return Err("the profile name contains control characters".to_string());
    }
    Ok(())
}

pub(crate) fn validate_tenant_any_flow(tenant: &str) -> std::result::Result<(), String> {
    profile::validate_tenant(tenant, Flow::InteractiveBrowser)
}

pub(crate) fn validate_scopes(scopes: &str) -> std::result::Result<(), String> {
    if profile::parse_scopes(scopes).is_empty() {
        Err("enter at least one scope".to_string())
    } else {
        Ok(())
    }
}

pub(crate) fn accept_any(_: &str) -> std::result::Result<(), String> {
    Ok(())
}

pub fn create(args: &ConfigCreateArgs) -> Result<()> {
    // Open the store first: a damaged file stops everything before any
    // prompt or keyring write, and is never overwritten.
    let mut store = ProfileStore::open_default()?;
    let asker = Asker {
        interactive: ui::can_prompt()
            && !args.client_secret_stdin
            && !args.certificate_password_stdin,
        theme: ColorfulTheme::default(),
    };

    let name = match &args.name {
        Some(name) => name.trim().to_string(),
        None => asker.text("Profile name", "--name", None, validate_name)?,
    };
    validate_name(&name).map_err(Error::Usage)?;
    if let Some(existing) = store.find(&name) {
        return Err(Error::InvalidInput(format!(
            "a profile named `{}` already exists; pick another name",
            existing.name
        )));
    }

    let tenant_id = match &args.tenant_id {
        Some(tenant) => tenant.trim().to_string(),
        None => asker.text(
            "Tenant ID (GUID or domain, such as contoso.onmicrosoft.com)",
            "--tenant-id",
            None,
            validate_tenant_any_flow,
        )?,
    };
    validate_tenant_any_flow(&tenant_id).map_err(Error::Usage)?;

    let client_id = match &args.client_id {
        Some(client_id) => client_id.trim().to_string(),
        None => asker.text(
            "Client ID (Application ID, a GUID)",
            "--client-id",
            None,
            profile::validate_client_id,
        )?,
    };
    profile::validate_client_id(&client_id).map_err(Error::Usage)?;

    let scopes = match (&args.scopes, &args.resource) {
        (Some(scopes), _) => profile::parse_scopes(scopes),
        (None, Some(_)) => Vec::new(),
        (None, None) => {
            if asker.interactive {
                ui::note(
                    "Scopes, separated by commas or spaces. Examples: \
                     https://graph.microsoft.com/.default (app-only), User.Read Mail.Read \
                     (delegated), api://<app-id>/.default",
                );
            }
            let answer = asker.text("Scopes", "--scopes", Some(DEFAULT_SCOPE), validate_scopes)?;
            profile::parse_scopes(&answer)
        }
    };

    let federated = match (args.federated, &args.federated_token_file) {
        (Some(source), _) => Some(source),
        (None, Some(_)) => Some(FederatedSource::File),
        (None, None) => None,
    };
    if federated == Some(FederatedSource::File) && args.federated_token_file.is_none() {
        return Err(Error::Usage(
            "--federated file needs --federated-token-file PATH; nothing was saved".to_string(),
        ));
    }
    let auth_method = match args.auth_method {
        Some(method) => method,
        // A federated profile stores no secret, so there is nothing to ask.
        None if federated.is_some() => AuthMethod::ClientSecret,
        None if asker.interactive => {
            let labels = ["ClientSecret", "Certificate", "PasswordlessCertificate"];
            AuthMethod::ALL[asker.choose("Authentication method", &labels, 0)?]
        }
        None => AuthMethod::ClientSecret,
    };

    let mut new_profile = Profile::new(name, tenant_id, client_id);
    new_profile.scopes = scopes;
    new_profile.resource = args.resource.clone().filter(|r| !r.trim().is_empty());
    new_profile.auth_method = auth_method;
    new_profile.authority = args.authority.clone();
    new_profile.default_flow = args.default_flow;
    new_profile.federated_token_source = federated;
    new_profile.federated_token_file = args.federated_token_file.clone();
    new_profile.federated_token_audience = args.federated_audience.clone();

    let secret =
        if auth_method == AuthMethod::ClientSecret && !args.no_secret && federated.is_none() {
            read_client_secret(args, &asker)?
        } else {
            None
        };

    let mut stored_secret = secret.map(|s| (SecretKind::ClientSecret, s));
    if auth_method.uses_certificate() {
        let path = match &args.certificate_path {
            Some(path) => path.trim().to_string(),
            None => asker.text(
                "Certificate path (.pfx, .p12 or .pem)",
                "--certificate-path",
                None,
                accept_any,
            )?,
        };
        if path.is_empty() {
            return Err(Error::Usage(
                "--certificate-path is empty; nothing was saved".to_string(),
            ));
        }
        new_profile.certificate_path = Some(path.clone());
        new_profile.client_assertion_algorithm = args.assertion_algorithm;
        new_profile.include_x5t = args.include_x5t;
        new_profile.include_x5c = args.include_x5c;
        let password = check_certificate(&path, auth_method, args, &asker)?;
        let cache = match password {
            Some(_) if args.cache_cert_password => true,
            Some(_) if asker.interactive => Confirm::with_theme(&asker.theme)
                .with_prompt("Store the certificate password in the OS keyring?")
                .default(true)
                .interact()
                .map_err(prompt_failed)?,
            _ => args.cache_cert_password,
        };
        new_profile.cache_certificate_password = cache;
        if cache {
            if let Some(password) = password {
                stored_secret = Some((SecretKind::CertificatePassword, password));
            }
        }
    } else if args.certificate_password_stdin || args.cache_cert_password {
        return Err(Error::Usage(format!(
            "--certificate-password-stdin and --cache-cert-password need --auth-method \
             Certificate, not {auth_method}; nothing was saved"
        )));
    }

    if args.default_flow.is_none() && asker.interactive {
        let labels = [
            "(none: infer from the auth method)",
            "ClientCredentials",
            "AuthorizationCode",
            "DeviceCode",
            "InteractiveBrowser",
        ];
        let choice = asker.choose("Default flow", &labels, 0)?;
        new_profile.default_flow = choice.checked_sub(1).map(|i| Flow::ALL[i]);
    }

    new_profile.redirect_uri = match &args.redirect_uri {
        Some(uri) => Some(uri.clone()),
        None => asker.optional_text("Redirect URI (optional, such as http://localhost:8080)")?,
    };

    let flow = new_profile.inferred_flow();
    new_profile.validate(flow)?;
    if flow == Flow::ClientCredentials
        && auth_method == AuthMethod::ClientSecret
        && stored_secret.is_none()
        && !args.no_secret
        && federated.is_none()
    {
        return Err(Error::Usage(format!(
            "a client secret is required for ClientCredentials: pass --client-secret-stdin, set \
             {}, or use --no-secret to supply it at run time; nothing was saved",
            env::CLIENT_SECRET
        )));
    }

    save_with_secret(&mut store, new_profile, stored_secret.as_ref())
}

/// Opens the certificate as get-token will, so a wrong path, password or
/// key is caught before the profile is saved, and shows its thumbprint.
/// Returns the password when the file needs one.
fn check_certificate(
    path: &str,
    auth_method: AuthMethod,
    args: &ConfigCreateArgs,
    asker: &Asker,
) -> Result<Option<Secret>> {
    let expanded = certificate::expand_path(path);
    if !expanded.exists() && !args.certificate_password_stdin {
        ui::warn(&format!(
            "certificate {} does not exist yet; get-token fails until it does",
            expanded.display()
        ));
        return Ok(None);
    }
    let bytes = zeroize::Zeroizing::new(certificate::read_file(&expanded)?);
    let invalid = |message: String| {
        Error::Certificate(format!(
            "certificate {}: {message}; nothing was saved",
            expanded.display()
        ))
    };
    let (loaded, password) = match ClientCertificate::from_bytes(&bytes, None) {
        Ok(loaded) => (loaded, None),
        Err(LoadError::Invalid(message)) => return Err(invalid(message)),
        Err(LoadError::PasswordRequired | LoadError::WrongPassword) => {
            if auth_method == AuthMethod::PasswordlessCertificate {
                return Err(invalid(
                    "it is protected by a password, so use --auth-method Certificate".to_string(),
                ));
            }
            let password = read_certificate_password(args, asker, &expanded)?;
            match ClientCertificate::from_bytes(&bytes, Some(&password)) {
                Ok(loaded) => (loaded, Some(password)),
                Err(LoadError::Invalid(message)) => return Err(invalid(message)),
                Err(_) => return Err(invalid("the password is wrong".to_string())),
            }
        }
    };
    if let Err(e) = loaded.check_validity(&expanded, time::OffsetDateTime::now_utc()) {
        ui::warn(&e.to_string());
    }
    ui::note(&format!(
        "Certificate {}: SHA-1 thumbprint {} (compare it with the app registration's \
         Certificates & secrets), valid until {}",
        loaded.subject(),
        loaded.sha1_thumbprint(),
        loaded.not_after().date()
    ));
    Ok(password)
}

/// Reads the certificate password from stdin, the environment or a hidden
/// prompt.
fn read_certificate_password(
    args: &ConfigCreateArgs,
    asker: &Asker,
    path: &std::path::Path,
) -> Result<Secret> {
    if args.certificate_password_stdin {
        let mut line = zeroize::Zeroizing::new(String::new());
        std::io::stdin().lock().read_line(&mut line).map_err(|e| {
            Error::Other(format!(
                "cannot read the certificate password from stdin: {e}"
            ))
        })?;
        return Ok(Secret::new(line.trim_end_matches(['\r', '\n'])));
    }
    if let Some(value) = std::env::var(env::CERTIFICATE_PASSWORD)
        .ok()
        .filter(|v| !v.is_empty())
    {
        return Ok(Secret::new(value));
    }
    if asker.interactive {
        let value = Password::with_theme(&asker.theme)
            .with_prompt(format!("Password for {} (input hidden)", path.display()))
            .allow_empty_password(true)
            .interact()
            .map_err(prompt_failed)?;
        return Ok(Secret::new(value));
    }
    Err(Error::Usage(format!(
        "certificate {} is protected by a password: pass --certificate-password-stdin or set {}; \
         nothing was saved",
        path.display(),
        env::CERTIFICATE_PASSWORD
    )))
}

/// Reads the secret from stdin, the environment or a hidden prompt.
fn read_client_secret(args: &ConfigCreateArgs, asker: &Asker) -> Result<Option<Secret>> {
    if args.client_secret_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::Other(format!("cannot read the client secret from stdin: {e}")))?;
        let value = line.trim_end_matches(['\r', '\n']);
        if value.is_empty() {
            return Err(Error::Usage(
                "--client-secret-stdin was given but stdin held no secret; nothing was saved"
                    .to_string(),
            ));
        }
        return Ok(Some(Secret::new(value)));
    }
    if let Some(value) = std::env::var(env::CLIENT_SECRET)
        .ok()
        .filter(|v| !v.is_empty())
    {
        return Ok(Some(Secret::new(value)));
    }
    if asker.interactive {
        let value = Password::with_theme(&asker.theme)
            .with_prompt("Client secret (input hidden)")
            .interact()
            .map_err(prompt_failed)?;
        if value.is_empty() {
            return Err(Error::Usage(
                "the client secret is empty; nothing was saved".to_string(),
            ));
        }
        return Ok(Some(Secret::new(value)));
    }
    Ok(None)
}

/// Stores the secret first, then the profile; if saving the profile fails
/// the secret is removed again, so a failure leaves nothing behind.
fn save_with_secret(
    store: &mut ProfileStore,
    profile: Profile,
    secret: Option<&(SecretKind, Secret)>,
) -> Result<()> {
    let name = profile.name.clone();
    let keyring = match secret {
        Some((kind, secret)) => {
            let keyring = Keyring::open()?;
            keyring.set(&name, *kind, secret)?;
            Some((keyring, *kind))
        }
        None => None,
    };
    store.add(profile)?;
    // A deleted profile of the same name may have left cached tokens.
    if let Some(config_dir) = store.path().parent() {
        cache::remove_profile(config_dir, &name)?;
    }
    if let Err(e) = store.save() {
        if let Some((keyring, kind)) = &keyring {
            let _ = keyring.delete(&name, *kind);
        }
        return Err(e);
    }
    let stored = match secret {
        Some((kind, _)) => format!("; the {} is in the OS keyring", kind.describe()),
        None => String::new(),
    };
    ui::note(&format!(
        "Saved profile `{name}` to {}{stored}",
        store.path().display()
    ));
    Ok(())
}

pub fn list(args: &ConfigListArgs) -> Result<()> {
    let store = ProfileStore::open_default()?;
    let text = match args.output {
        ListFormat::Json => {
            let mut json = serde_json::to_string_pretty(store.profiles())
                .map_err(|e| Error::Other(format!("cannot serialise the profiles: {e}")))?;
            json.push('\n');
            json
        }
        ListFormat::Table => {
            if store.profiles().is_empty() {
                ui::note("No profiles yet; create one with `entratool config create`.");
                return Ok(());
            }
            render_table(store.profiles())
        }
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .map_err(|e| Error::Other(format!("cannot write to stdout: {e}")))
}

fn render_table(profiles: &[Profile]) -> String {
    let header = [
        "NAME",
        "TENANT",
        "CLIENT ID",
        "AUTH METHOD",
        "DEFAULT FLOW",
        "UPDATED",
    ];
    let rows: Vec<[String; 6]> = profiles
        .iter()
        .map(|p| {
            [
                p.name.clone(),
                p.tenant_id.clone(),
                p.client_id.clone(),
                p.auth_method.to_string(),
                p.default_flow
                    .map_or_else(|| "-".to_string(), |f| f.to_string()),
                p.updated_at
                    .to_offset(time::UtcOffset::UTC)
                    .format(time::macros::format_description!(
                        "[year]-[month]-[day] [hour]:[minute]Z"
                    ))
                    .unwrap_or_default(),
            ]
        })
        .collect();
    crate::output::render_table(&header, &rows)
}
