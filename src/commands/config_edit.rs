//! `config edit` and `config delete`.

use std::io::BufRead;

use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, Password};
use time::OffsetDateTime;

use super::config::{accept_any, prompt_failed, validate_name, validate_tenant_any_flow, Asker};
use crate::cache;
use crate::certificate::{self, ClientCertificate, LoadError};
use crate::cli::{ConfigDeleteArgs, ConfigEditArgs, OptionalFlow};
use crate::error::{Error, Result};
use crate::profile::{self, AuthMethod, Flow, Profile, ProfileStore};
use crate::secrets::{Keyring, KeyringWrites, Secret, SecretKind};
use crate::ui;

pub fn edit(args: &ConfigEditArgs) -> Result<()> {
    let mut store = ProfileStore::open_default()?;
    let current = store.get(&args.profile)?.clone();
    let has_flags = args.rename.is_some()
        || args.tenant_id.is_some()
        || args.client_id.is_some()
        || args.scopes.is_some()
        || args.resource.is_some()
        || args.auth_method.is_some()
        || args.client_secret_stdin
        || args.certificate_password_stdin
        || args.cache_cert_password
        || args.no_cache_cert_password
        || args.certificate_path.is_some()
        || args.default_flow.is_some()
        || args.redirect_uri.is_some()
        || args.authority.is_some();

    let (mut edited, new_secrets) = if has_flags {
        apply_flags(&current, args)?
    } else if ui::can_prompt() {
        ask_changes(&current)?
    } else {
        return Err(Error::Usage(
            "no change given: pass at least one flag such as --tenant-id or --scopes (see \
             `entratool config edit --help`), or run it in a terminal to answer prompts"
                .to_string(),
        ));
    };

    validate_name(&edited.name).map_err(Error::Usage)?;
    if let Some(other) = store.find(&edited.name) {
        if other.name.to_lowercase() != current.name.to_lowercase() {
            return Err(Error::InvalidInput(format!(
                "cannot rename `{}` to `{}`: a profile named `{}` already exists",
                current.name, edited.name, other.name
            )));
        }
    }
    edited.validate(edited.inferred_flow())?;
    let certificate_changed = edited.certificate_path != current.certificate_path
        || edited.auth_method != current.auth_method
        || new_secrets.certificate_password.is_some();
    if edited.auth_method.uses_certificate() && certificate_changed {
        check_certificate(&edited, new_secrets.certificate_password.as_ref())?;
    }
    edited.created_at = current.created_at;
    edited.updated_at = OffsetDateTime::now_utc();

    let renamed = edited.name.to_lowercase() != current.name.to_lowercase();
    // Turning the certificate password cache off (or leaving the
    // Certificate method) removes the stored password once the profile is
    // saved.
    let drop_cert_password = current.cache_certificate_password
        && !(edited.cache_certificate_password && edited.auth_method == AuthMethod::Certificate);
    let keyring = if renamed || !new_secrets.is_empty() || drop_cert_password {
        Some(Keyring::open()?)
    } else {
        None
    };
    let mut writes = keyring.as_ref().map(KeyringWrites::new);
    let mut moved_kinds = Vec::new();
    if let (Some(keyring), Some(writes)) = (&keyring, &mut writes) {
        // Copy the secrets to the new name first; the old entries are
        // removed only once the profile is saved.
        if renamed {
            for kind in SecretKind::ALL {
                if let Some(value) = keyring.get(&current.name, kind)? {
                    writes.set(&edited.name, kind, &value)?;
                    moved_kinds.push(kind);
                }
            }
        }
        if let Some(secret) = &new_secrets.client_secret {
            writes.set(&edited.name, SecretKind::ClientSecret, secret)?;
        }
        if let Some(password) = &new_secrets.certificate_password {
            writes.set(&edited.name, SecretKind::CertificatePassword, password)?;
        }
    }

    store.replace(&current.name, edited.clone());
    if let Err(e) = store.save() {
        if let Some(writes) = &mut writes {
            writes.rollback();
        }
        return Err(e);
    }

    if let (Some(keyring), true) = (&keyring, drop_cert_password) {
        if let Err(e) = keyring.delete(&edited.name, SecretKind::CertificatePassword) {
            ui::warn(&format!(
                "the certificate password of `{}` was not removed from the keyring: {e}",
                edited.name
            ));
        }
    }
    if renamed {
        if let Some(keyring) = &keyring {
            for kind in moved_kinds {
                if let Err(e) = keyring.delete(&current.name, kind) {
                    ui::warn(&format!(
                        "the {} under the old name `{}` was not removed from the keyring: {e}",
                        kind.describe(),
                        current.name
                    ));
                }
            }
        }
    }
    // Cached tokens are bound to the profile's name and settings (the name
    // is part of each entry's associated data), so they cannot follow a
    // rename. Any edit drops them, so the next get-token requests a new token.
    if let Some(config_dir) = store.path().parent() {
        cache::remove_profile(config_dir, &current.name)?;
    }
    ui::note(&format!(
        "Saved profile `{}` to {}",
        edited.name,
        store.path().display()
    ));
    Ok(())
}

/// Applies the change flags to a copy of the profile.
/// Opens a changed certificate as get-token will, so a wrong path, key or
/// password is caught before the profile is saved. A missing file is only a
/// warning, as in `config create`, and a password-protected file without a
/// new password is not opened, since its password comes at run time.
fn check_certificate(profile: &Profile, password: Option<&Secret>) -> Result<()> {
    let Some(path) = profile.certificate_path.as_deref() else {
        return Ok(());
    };
    let expanded = certificate::expand_path(path);
    if !expanded.exists() {
        ui::warn(&format!(
            "certificate {} does not exist yet; get-token fails until it does",
            expanded.display()
        ));
        return Ok(());
    }
    let bytes = zeroize::Zeroizing::new(certificate::read_file(&expanded)?);
    let invalid = |message: &str| {
        Error::Certificate(format!(
            "certificate {}: {message}; nothing was saved",
            expanded.display()
        ))
    };
    let loaded = match ClientCertificate::from_bytes(&bytes, password) {
        Ok(loaded) => loaded,
        Err(LoadError::Invalid(message)) => return Err(invalid(&message)),
        Err(LoadError::PasswordRequired)
            if profile.auth_method == AuthMethod::PasswordlessCertificate =>
        {
            return Err(invalid(
                "it is protected by a password, so use --auth-method Certificate",
            ))
        }
        Err(LoadError::PasswordRequired) => return Ok(()),
        Err(LoadError::WrongPassword) => return Err(invalid("the password is wrong")),
    };
    ui::note(&format!(
        "Certificate {}: SHA-1 thumbprint {}, valid until {}",
        loaded.subject(),
        loaded.sha1_thumbprint(),
        loaded.not_after().date()
    ));
    Ok(())
}

/// Secrets typed or piped in during an edit, stored when the profile is.
#[derive(Default)]
struct EditSecrets {
    client_secret: Option<Secret>,
    certificate_password: Option<Secret>,
}

impl EditSecrets {
    fn is_empty(&self) -> bool {
        self.client_secret.is_none() && self.certificate_password.is_none()
    }
}

fn apply_flags(current: &Profile, args: &ConfigEditArgs) -> Result<(Profile, EditSecrets)> {
    let mut edited = current.clone();
    if let Some(name) = &args.rename {
        edited.name = name.trim().to_string();
    }
    if let Some(tenant) = &args.tenant_id {
        let tenant = tenant.trim();
        validate_tenant_any_flow(tenant).map_err(Error::Usage)?;
        edited.tenant_id = tenant.to_string();
    }
    if let Some(client_id) = &args.client_id {
        let client_id = client_id.trim();
        profile::validate_client_id(client_id).map_err(Error::Usage)?;
        edited.client_id = client_id.to_string();
    }
    if let Some(scopes) = &args.scopes {
        edited.scopes = profile::parse_scopes(scopes);
    }
    if let Some(resource) = &args.resource {
        edited.resource = non_empty(resource);
    }
    if let Some(method) = args.auth_method {
        edited.auth_method = method;
    }
    if let Some(path) = &args.certificate_path {
        edited.certificate_path = non_empty(path);
    }
    if args.cache_cert_password {
        edited.cache_certificate_password = true;
    }
    if args.no_cache_cert_password {
        edited.cache_certificate_password = false;
    }
    if let Some(flow) = args.default_flow {
        edited.default_flow = match flow {
            OptionalFlow::None => None,
            OptionalFlow::Flow(flow) => Some(flow),
        };
    }
    if let Some(uri) = &args.redirect_uri {
        edited.redirect_uri = non_empty(uri);
    }
    if let Some(authority) = &args.authority {
        edited.authority = non_empty(authority);
    }
    if edited.auth_method.uses_certificate() && edited.certificate_path.is_none() {
        return Err(Error::Usage(format!(
            "auth method {} needs --certificate-path; nothing was saved",
            edited.auth_method
        )));
    }
    let mut secrets = EditSecrets::default();
    if args.client_secret_stdin {
        secrets.client_secret = Some(read_secret_line("--client-secret-stdin")?);
    }
    if args.certificate_password_stdin {
        if edited.auth_method != AuthMethod::Certificate || !edited.cache_certificate_password {
            return Err(Error::Usage(
                "--certificate-password-stdin needs auth method Certificate with \
                 --cache-cert-password; nothing was saved"
                    .to_string(),
            ));
        }
        secrets.certificate_password = Some(read_secret_line("--certificate-password-stdin")?);
    }
    Ok((edited, secrets))
}

fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}

/// Reads one line from stdin for the secret named by `flag`.
fn read_secret_line(flag: &str) -> Result<Secret> {
    let mut line = zeroize::Zeroizing::new(String::new());
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Other(format!("cannot read {flag} from stdin: {e}")))?;
    let secret = Secret::new(line.trim_end_matches(['\r', '\n']));
    if secret.expose().is_empty() {
        return Err(Error::Usage(format!(
            "{flag} was given but stdin held no value; nothing was saved"
        )));
    }
    Ok(secret)
}

/// Walks the same questions as `config create`, each with the current value
/// as its default.
fn ask_changes(current: &Profile) -> Result<(Profile, EditSecrets)> {
    let asker = Asker {
        interactive: true,
        theme: ColorfulTheme::default(),
    };
    let mut edited = current.clone();
    ui::note(&format!(
        "Editing profile `{}`; press Enter to keep a value.",
        current.name
    ));
    edited.name = asker.text(
        "Profile name",
        "--rename",
        Some(&current.name),
        validate_name,
    )?;
    edited.tenant_id = asker.text(
        "Tenant ID (GUID or domain)",
        "--tenant-id",
        Some(&current.tenant_id),
        validate_tenant_any_flow,
    )?;
    edited.client_id = asker.text(
        "Client ID (Application ID, a GUID)",
        "--client-id",
        Some(&current.client_id),
        profile::validate_client_id,
    )?;
    let scopes = current.scopes.join(" ");
    let answer = asker.text(
        "Scopes (separated by commas or spaces)",
        "--scopes",
        (!scopes.is_empty()).then_some(scopes.as_str()),
        accept_any,
    )?;
    edited.scopes = profile::parse_scopes(&answer);

    let labels = AuthMethod::ALL.map(AuthMethod::as_str);
    let current_method = AuthMethod::ALL
        .iter()
        .position(|m| *m == current.auth_method)
        .unwrap_or(0);
    edited.auth_method =
        AuthMethod::ALL[asker.choose("Authentication method", &labels, current_method)?];

    let mut secrets = EditSecrets::default();
    if edited.auth_method == AuthMethod::ClientSecret {
        if confirm(&asker, "Store a new client secret?", false)? {
            secrets.client_secret = Some(ask_hidden(&asker, "Client secret")?);
        }
    } else {
        let path = asker.text(
            "Certificate path (.pfx, .p12 or .pem)",
            "--certificate-path",
            current.certificate_path.as_deref(),
            accept_any,
        )?;
        edited.certificate_path = Some(path);
    }
    if edited.auth_method == AuthMethod::Certificate {
        edited.cache_certificate_password = confirm(
            &asker,
            "Keep the certificate password in the OS keyring?",
            current.cache_certificate_password,
        )?;
        if edited.cache_certificate_password
            && confirm(&asker, "Store a new certificate password?", false)?
        {
            secrets.certificate_password = Some(ask_hidden(&asker, "Certificate password")?);
        }
    } else {
        edited.cache_certificate_password = false;
    }

    let flow_labels = [
        "(none: infer from the auth method)",
        "ClientCredentials",
        "AuthorizationCode",
        "DeviceCode",
        "InteractiveBrowser",
    ];
    let current_flow = current
        .default_flow
        .and_then(|flow| Flow::ALL.iter().position(|f| *f == flow))
        .map_or(0, |i| i + 1);
    let choice = asker.choose("Default flow", &flow_labels, current_flow)?;
    edited.default_flow = choice.checked_sub(1).map(|i| Flow::ALL[i]);

    edited.redirect_uri = ask_optional(
        &asker,
        "Redirect URI (optional; `-` clears it)",
        current.redirect_uri.as_deref(),
    )?;
    Ok((edited, secrets))
}

fn confirm(asker: &Asker, prompt: &str, default: bool) -> Result<bool> {
    Confirm::with_theme(&asker.theme)
        .with_prompt(prompt)
        .default(default)
        .interact()
        .map_err(prompt_failed)
}

/// Reads a non-empty value at a hidden-input prompt.
fn ask_hidden(asker: &Asker, what: &str) -> Result<Secret> {
    let value = Password::with_theme(&asker.theme)
        .with_prompt(format!("{what} (input hidden)"))
        .interact()
        .map_err(prompt_failed)?;
    if value.is_empty() {
        return Err(Error::Usage(format!(
            "the {} is empty; nothing was saved",
            what.to_lowercase()
        )));
    }
    Ok(Secret::new(value))
}

/// A free-text answer with the current value as default; `-` clears it.
fn ask_optional(asker: &Asker, prompt: &str, current: Option<&str>) -> Result<Option<String>> {
    let mut input = dialoguer::Input::<String>::with_theme(&asker.theme)
        .with_prompt(prompt)
        .allow_empty(true);
    if let Some(current) = current {
        input = input.default(current.to_string());
    }
    let answer = input.interact_text().map_err(prompt_failed)?;
    let answer = answer.trim();
    Ok((!answer.is_empty() && answer != "-").then(|| answer.to_string()))
}

pub fn delete(args: &ConfigDeleteArgs) -> Result<()> {
    let mut store = ProfileStore::open_default()?;
    let name = store.get(&args.profile)?.name.clone();

    if !args.yes {
        if !ui::can_prompt() {
            return Err(Error::Usage(format!(
                "deleting `{name}` needs confirmation: pass --yes when stdin is not a terminal; \
                 nothing was deleted"
            )));
        }
        let confirmed = Confirm::with_theme(&ColorfulTheme::default())
            .with_prompt(format!(
                "Delete profile `{name}`, its keyring secrets and its cached tokens?"
            ))
            .default(false)
            .interact()
            .map_err(|e| Error::Other(format!("prompt failed: {e}; nothing was deleted")))?;
        if !confirmed {
            ui::note("Nothing was deleted.");
            return Ok(());
        }
    }

    store.remove(&name);
    store.save()?;

    // The profile is gone now. A machine without a keyring (a CI runner)
    // has no entries to remove, so that is only a warning; a keyring that
    // answers but fails to delete is an error.
    match Keyring::open() {
        Ok(keyring) => {
            for kind in SecretKind::ALL {
                keyring.delete(&name, kind).map_err(|e| {
                    Error::Keyring(format!(
                        "profile `{name}` was deleted, but its {} was not: {e}",
                        kind.describe()
                    ))
                })?;
            }
        }
        Err(e) => ui::warn(&format!(
            "profile `{name}` was deleted; its keyring entries, if any, were not: {e}"
        )),
    }
    if let Some(config_dir) = store.path().parent() {
        cache::remove_profile(config_dir, &name)?;
    }
    ui::note(&format!("Deleted profile `{name}` and its cached tokens"));
    Ok(())
}
