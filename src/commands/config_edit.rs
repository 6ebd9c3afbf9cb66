//! `config edit` and `config delete`.

use std::io::BufRead;

use dialoguer::theme::ColorfulTheme;
use dialoguer::{Confirm, Password};
use time::OffsetDateTime;

use super::config::{accept_any, prompt_failed, validate_name, validate_tenant_any_flow, Asker};
use crate::cache;
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
        || args.certificate_path.is_some()
        || args.default_flow.is_some()
        || args.redirect_uri.is_some()
        || args.authority.is_some();

    let (mut edited, new_secret) = if has_flags {
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
    edited.created_at = current.created_at;
    edited.updated_at = OffsetDateTime::now_utc();

    let renamed = edited.name.to_lowercase() != current.name.to_lowercase();
    let keyring = if renamed || new_secret.is_some() {
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
        if let Some(secret) = &new_secret {
            writes.set(&edited.name, SecretKind::ClientSecret, secret)?;
        }
    }

    store.replace(&current.name, edited.clone());
    if let Err(e) = store.save() {
        if let Some(writes) = &mut writes {
            writes.rollback();
        }
        return Err(e);
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
fn apply_flags(current: &Profile, args: &ConfigEditArgs) -> Result<(Profile, Option<Secret>)> {
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
    let secret = if args.client_secret_stdin {
        Some(read_secret_line()?)
    } else {
        None
    };
    Ok((edited, secret))
}

fn non_empty(value: &str) -> Option<String> {
    let value = value.trim();
    (!value.is_empty()).then(|| value.to_string())
}

fn read_secret_line() -> Result<Secret> {
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Error::Other(format!("cannot read the client secret from stdin: {e}")))?;
    let secret = Secret::new(line.trim_end_matches(['\r', '\n']));
    drop(zeroize::Zeroizing::new(line));
    if secret.expose().is_empty() {
        return Err(Error::Usage(
            "--client-secret-stdin was given but stdin held no secret; nothing was saved"
                .to_string(),
        ));
    }
    Ok(secret)
}

/// Walks the same questions as `config create`, each with the current value
/// as its default.
fn ask_changes(current: &Profile) -> Result<(Profile, Option<Secret>)> {
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

    let mut secret = None;
    if edited.auth_method == AuthMethod::ClientSecret {
        let change = Confirm::with_theme(&asker.theme)
            .with_prompt("Store a new client secret?")
            .default(false)
            .interact()
            .map_err(prompt_failed)?;
        if change {
            let value = Password::with_theme(&asker.theme)
                .with_prompt("Client secret (input hidden)")
                .interact()
                .map_err(prompt_failed)?;
            if value.is_empty() {
                return Err(Error::Usage(
                    "the client secret is empty; nothing was saved".to_string(),
                ));
            }
            secret = Some(Secret::new(value));
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
    Ok((edited, secret))
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
