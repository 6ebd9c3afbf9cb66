//! `config export` and `config import`: moving a profile between machines
//! in an encrypted file.

use std::io::{IsTerminal, Read, Write};

use dialoguer::theme::ColorfulTheme;
use dialoguer::Password;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tracing::debug;
use zeroize::Zeroizing;

use super::config::validate_name;
use crate::cache;
use crate::cli::{ConfigExportArgs, ConfigImportArgs};
use crate::env;
use crate::error::{Error, Result};
use crate::export::{self, ExportError, SourceFormat};
use crate::fsutil;
use crate::profile::{self, AuthMethod, Profile, ProfileStore};
use crate::secrets::{Keyring, KeyringWrites, Secret, SecretKind};
use crate::ui;

/// Shortest passphrase accepted for a new export file.
const MIN_PASSPHRASE_CHARS: usize = 8;

/// Largest export file read; a profile export is a few kilobytes.
const MAX_IMPORT_BYTES: u64 = 1024 * 1024;

/// The encrypted content. Field names are camelCase; the PascalCase names of
/// the original tool's files are accepted as aliases.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ExportPayload {
    #[serde(alias = "Profile")]
    profile: Profile,
    #[serde(
        default,
        alias = "ClientSecret",
        skip_serializing_if = "Option::is_none"
    )]
    client_secret: Option<String>,
    #[serde(
        default,
        alias = "CertificatePassword",
        skip_serializing_if = "Option::is_none"
    )]
    certificate_password: Option<String>,
    #[serde(default, alias = "ExportedAt", skip_serializing_if = "Option::is_none")]
    exported_at: Option<String>,
}

impl Drop for ExportPayload {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        if let Some(secret) = &mut self.client_secret {
            secret.zeroize();
        }
        if let Some(password) = &mut self.certificate_password {
            password.zeroize();
        }
    }
}

pub fn export(args: &ConfigExportArgs) -> Result<()> {
    let store = ProfileStore::open_default()?;
    let profile = store.get(&args.profile)?.clone();

    let mut payload = ExportPayload {
        profile,
        client_secret: None,
        certificate_password: None,
        exported_at: Some(crate::output::rfc3339(OffsetDateTime::now_utc())),
    };
    if args.include_secrets {
        let keyring = Keyring::open()?;
        let name = payload.profile.name.clone();
        if payload.profile.auth_method == AuthMethod::ClientSecret {
            match keyring.get(&name, SecretKind::ClientSecret)? {
                Some(secret) => payload.client_secret = Some(secret.expose().to_string()),
                None => ui::warn(&format!(
                    "profile `{name}` has no client secret in the keyring, so the file holds none"
                )),
            }
        }
        if let Some(password) = keyring.get(&name, SecretKind::CertificatePassword)? {
            payload.certificate_password = Some(password.expose().to_string());
        }
    }

    let passphrase = new_passphrase()?;
    let plaintext = Zeroizing::new(
        serde_json::to_vec(&payload)
            .map_err(|e| Error::Other(format!("cannot serialise the profile: {e}")))?,
    );
    let file = export::seal(&plaintext, &passphrase);
    debug!(
        "sealed profile `{}` into a format {} export of {} bytes",
        payload.profile.name,
        export::FORMAT_VERSION,
        file.len()
    );

    let carried = match (&payload.client_secret, &payload.certificate_password) {
        (None, None) => "no secrets",
        (Some(_), None) => "the client secret",
        (None, Some(_)) => "the certificate password",
        (Some(_), Some(_)) => "the client secret and the certificate password",
    };
    match &args.output {
        Some(path) => {
            fsutil::write_private(path, file.as_bytes())?;
            ui::note(&format!(
                "Exported profile `{}` with {carried} to {}",
                payload.profile.name,
                path.display()
            ));
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout
                .write_all(file.as_bytes())
                .and_then(|()| stdout.flush())
                .map_err(|e| Error::Other(format!("cannot write to stdout: {e}")))?;
            ui::note(&format!(
                "Exported profile `{}` with {carried}",
                payload.profile.name
            ));
        }
    }
    Ok(())
}

/// The passphrase for a new file: the environment variable, else a prompt
/// asked twice.
fn new_passphrase() -> Result<Secret> {
    let passphrase = match passphrase_from_env() {
        Some(passphrase) => passphrase,
        None if ui::can_prompt() => {
            let value = Password::with_theme(&ColorfulTheme::default())
                .with_prompt("Passphrase for the export file (input hidden)")
                .with_confirmation("Repeat the passphrase", "The passphrases differ")
                .interact()
                .map_err(|e| Error::Other(format!("prompt failed: {e}; nothing was written")))?;
            Secret::new(value)
        }
        None => return Err(missing_passphrase("nothing was written")),
    };
    if passphrase.expose().chars().count() < MIN_PASSPHRASE_CHARS {
        return Err(Error::Usage(format!(
            "the passphrase is shorter than {MIN_PASSPHRASE_CHARS} characters; choose a longer \
             one (nothing was written)"
        )));
    }
    Ok(passphrase)
}

fn passphrase_from_env() -> Option<Secret> {
    std::env::var(env::EXPORT_PASSPHRASE)
        .ok()
        .filter(|v| !v.is_empty())
        .map(Secret::new)
}

fn missing_passphrase(outcome: &str) -> Error {
    Error::Usage(format!(
        "no passphrase: set {} or run in a terminal to be prompted; {outcome}",
        env::EXPORT_PASSPHRASE
    ))
}

pub fn import(args: &ConfigImportArgs) -> Result<()> {
    let file = read_import_file(args)?;
    let passphrase = match passphrase_from_env() {
        Some(passphrase) => passphrase,
        None if ui::can_prompt() => {
            let value = Password::with_theme(&ColorfulTheme::default())
                .with_prompt("Passphrase of the export file (input hidden)")
                .interact()
                .map_err(|e| Error::Other(format!("prompt failed: {e}; nothing was imported")))?;
            Secret::new(value)
        }
        None => return Err(missing_passphrase("nothing was imported")),
    };

    let (plaintext, format) = export::open(&file, &passphrase).map_err(|e| {
        let advice = match e {
            ExportError::WrongPassphrase | ExportError::OriginalDecryptFailed => {
                "; check the passphrase"
            }
            ExportError::Damaged(_) => "; ask for the file again",
            _ => "",
        };
        Error::InvalidInput(format!("cannot import: {e}{advice}; nothing was imported"))
    })?;
    debug!("opened a {format:?} export of {} bytes", file.len());
    let mut payload: ExportPayload = serde_json::from_slice(&plaintext).map_err(|e| {
        Error::InvalidInput(format!(
            "cannot import: the decrypted content is not a profile ({e}); nothing was imported"
        ))
    })?;
    drop(plaintext);

    if let Some(name) = &args.new_name {
        payload.profile.name = name.trim().to_string();
    }
    let imported = &mut payload.profile;
    validate_name(&imported.name).map_err(Error::Usage)?;
    profile::validate_client_id(&imported.client_id)
        .map_err(|m| invalid_import(&imported.name, &m))?;
    super::config::validate_tenant_any_flow(&imported.tenant_id)
        .map_err(|m| invalid_import(&imported.name, &m))?;
    imported.updated_at = OffsetDateTime::now_utc();

    let mut store = ProfileStore::open_default()?;
    let existing = store.find(&imported.name).map(|p| p.name.clone());
    if let Some(existing) = &existing {
        if !args.force {
            return Err(Error::InvalidInput(format!(
                "a profile named `{existing}` already exists: pass --force to replace it, or -n \
                 NEWNAME to import under another name; nothing was imported"
            )));
        }
    }

    let name = imported.name.clone();
    let secrets: Vec<(SecretKind, Secret)> = [
        (SecretKind::ClientSecret, &payload.client_secret),
        (
            SecretKind::CertificatePassword,
            &payload.certificate_password,
        ),
    ]
    .into_iter()
    .filter_map(|(kind, value)| {
        value
            .as_deref()
            .filter(|v| !v.trim().is_empty())
            .map(|v| (kind, Secret::new(v)))
    })
    .collect();

    // Secrets first, then the profile; a failed save undoes the secrets.
    let keyring = if secrets.is_empty() {
        None
    } else {
        Some(Keyring::open()?)
    };
    let mut writes = keyring.as_ref().map(KeyringWrites::new);
    if let Some(writes) = &mut writes {
        for (kind, secret) in &secrets {
            writes.set(&name, *kind, secret)?;
        }
    }
    store.replace(
        existing.as_deref().unwrap_or(&name),
        payload.profile.clone(),
    );
    if let Err(e) = store.save() {
        if let Some(writes) = &mut writes {
            writes.rollback();
        }
        return Err(e);
    }
    // Tokens cached for a replaced profile (or a deleted one of the same
    // name) belong to other settings.
    if let Some(config_dir) = store.path().parent() {
        cache::remove_profile(config_dir, &name)?;
    }

    let source = match format {
        SourceFormat::Version1 => "",
        SourceFormat::Original => " (a file from the original tool)",
    };
    let with = if secrets.is_empty() {
        String::new()
    } else {
        let kinds: Vec<&str> = secrets.iter().map(|(kind, _)| kind.describe()).collect();
        format!("; its {} went to the OS keyring", kinds.join(" and "))
    };
    ui::note(&format!(
        "Imported profile `{name}`{source}{with}{}",
        if existing.is_some() {
            ", replacing the existing one"
        } else {
            ""
        }
    ));
    if payload.client_secret.is_none() && payload.profile.auth_method == AuthMethod::ClientSecret {
        ui::note(&format!(
            "The file held no client secret: store one with `entratool config edit -p {name} \
             --client-secret-stdin`, or set {} at run time.",
            env::CLIENT_SECRET
        ));
    }
    Ok(())
}

fn invalid_import(name: &str, message: &str) -> Error {
    Error::InvalidProfile {
        profile: name.to_string(),
        message: format!("{message}; nothing was imported"),
    }
}

fn read_import_file(args: &ConfigImportArgs) -> Result<Vec<u8>> {
    let mut bytes = Vec::new();
    match args.input.as_deref() {
        Some(path) if path.as_os_str() != "-" => {
            let file = std::fs::File::open(path).map_err(|e| Error::io("reading", path, e))?;
            file.take(MAX_IMPORT_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::io("reading", path, e))?;
        }
        _ => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                return Err(Error::Usage(
                    "no export file: pass -i FILE, or pipe the file into stdin".to_string(),
                ));
            }
            stdin
                .lock()
                .take(MAX_IMPORT_BYTES + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::Other(format!("cannot read the export from stdin: {e}")))?;
        }
    }
    if bytes.len() as u64 > MAX_IMPORT_BYTES {
        return Err(Error::InvalidInput(format!(
            "the export file is larger than {} KiB, so it is not a profile export",
            MAX_IMPORT_BYTES / 1024
        )));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::InvalidInput(
            "the export file is empty; nothing was imported".to_string(),
        ));
    }
    Ok(bytes)
}
