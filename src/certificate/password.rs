//! Opening a profile's certificate: the password sources in order, and the
//! checks made before any request is sent.

use std::path::{Path, PathBuf};

use time::OffsetDateTime;
use tracing::debug;

use super::{expand_path, read_file, ClientCertificate, Format, LoadError};
use crate::env;
use crate::error::{Error, Result};
use crate::profile::{AuthMethod, Profile};
use crate::secrets::{Keyring, Secret, SecretKind};
use crate::ui;

/// Hidden prompts allowed before giving up.
const MAX_PROMPTS: u32 = 3;

/// Password sources other than the environment.
#[derive(Debug, Clone)]
pub struct PasswordSources {
    /// Read (and after a prompt, store) the password in the OS keyring. Set
    /// by the profile's `cacheCertificatePassword` or `--cache-cert-password`.
    pub use_keyring: bool,
    /// Whether a hidden prompt can be shown.
    pub interactive: bool,
    /// A password from a lower-ranked source (`AZURE_CLIENT_CERTIFICATE_PASSWORD`),
    /// tried after the keyring copy and before the prompt.
    pub fallback: Option<Secret>,
}

/// Loads the profile's certificate and checks it, trying in order: no
/// password, `ENTRATOOL_CERTIFICATE_PASSWORD`, the keyring copy (when
/// enabled), the fallback password, and a hidden prompt (in a terminal, at
/// most three times).
///
/// Every failure here happens before any request is sent.
pub fn load_for_profile(
    profile: &Profile,
    sources: &PasswordSources,
) -> Result<(PathBuf, ClientCertificate)> {
    let Some(configured) = profile
        .certificate_path
        .as_deref()
        .filter(|p| !p.trim().is_empty())
    else {
        return Err(Error::InvalidProfile {
            profile: profile.name.clone(),
            message: format!(
                "it uses {} authentication but has no certificatePath; recreate it with \
                 `entratool config create --certificate-path PATH`",
                profile.auth_method
            ),
        });
    };
    let path = expand_path(configured);
    let bytes = zeroize::Zeroizing::new(read_file(&path)?);
    let certificate = open(profile, &path, &bytes, sources)?;
    certificate.check_validity(&path, OffsetDateTime::now_utc())?;
    debug!(
        "certificate {} (SHA-1 {}), chain of {}",
        path.display(),
        certificate.sha1_thumbprint(),
        certificate.chain().len()
    );
    Ok((path, certificate))
}

fn open(
    profile: &Profile,
    path: &Path,
    bytes: &[u8],
    sources: &PasswordSources,
) -> Result<ClientCertificate> {
    let format = Format::detect(bytes);
    match ClientCertificate::from_bytes(bytes, None) {
        Ok(certificate) => return Ok(certificate),
        Err(LoadError::PasswordRequired | LoadError::WrongPassword) => {}
        Err(LoadError::Invalid(message)) => return Err(invalid(path, &message)),
    }
    debug!("{} needs a password", path.display());

    if profile.auth_method == AuthMethod::PasswordlessCertificate {
        return Err(Error::Certificate(format!(
            "certificate {} is protected by a password, but profile `{}` uses \
             PasswordlessCertificate; recreate the profile with --auth-method Certificate, or \
             export the certificate without a password",
            path.display(),
            profile.name
        )));
    }

    if let Some(value) = std::env::var(env::CERTIFICATE_PASSWORD)
        .ok()
        .filter(|v| !v.is_empty())
    {
        let password = Secret::new(value);
        return match ClientCertificate::from_bytes(bytes, Some(&password)) {
            Ok(certificate) => Ok(certificate),
            Err(LoadError::PasswordRequired | LoadError::WrongPassword) => {
                Err(Error::Certificate(format!(
                    "the password in {} does not open certificate {} ({} file); set it to the \
                     password the file was exported with",
                    env::CERTIFICATE_PASSWORD,
                    path.display(),
                    format.describe()
                )))
            }
            Err(LoadError::Invalid(message)) => Err(invalid(path, &message)),
        };
    }

    let mut cached_was_wrong = false;
    if sources.use_keyring {
        match cached_password(&profile.name) {
            Some(password) => match ClientCertificate::from_bytes(bytes, Some(&password)) {
                Ok(certificate) => {
                    debug!("certificate password from the OS keyring");
                    return Ok(certificate);
                }
                Err(LoadError::PasswordRequired | LoadError::WrongPassword) => {
                    cached_was_wrong = true;
                    ui::warn(&format!(
                        "the certificate password stored in the OS keyring for profile `{}` \
                         does not open {}",
                        profile.name,
                        path.display()
                    ));
                }
                Err(LoadError::Invalid(message)) => return Err(invalid(path, &message)),
            },
            None => debug!("no certificate password in the OS keyring"),
        }
    }

    if let Some(password) = &sources.fallback {
        return match ClientCertificate::from_bytes(bytes, Some(password)) {
            Ok(certificate) => {
                debug!(
                    "certificate password from {}",
                    env::azure::CLIENT_CERTIFICATE_PASSWORD
                );
                Ok(certificate)
            }
            Err(LoadError::PasswordRequired | LoadError::WrongPassword) => {
                Err(Error::Certificate(format!(
                    "the password in {} does not open certificate {} ({} file); set it, or {}, to \
                     the password the file was exported with",
                    env::azure::CLIENT_CERTIFICATE_PASSWORD,
                    path.display(),
                    format.describe(),
                    env::CERTIFICATE_PASSWORD
                )))
            }
            Err(LoadError::Invalid(message)) => Err(invalid(path, &message)),
        };
    }

    if !sources.interactive {
        let cached_note = if cached_was_wrong {
            "the password cached in the OS keyring is wrong and "
        } else {
            ""
        };
        let reason = ui::non_interactive_reason().unwrap_or_else(|| "prompts are off".into());
        return Err(Error::Certificate(format!(
            "certificate {} is protected by a password; {cached_note}no prompt can be shown \
             ({reason}): set {} or {}",
            path.display(),
            env::CERTIFICATE_PASSWORD,
            env::azure::CLIENT_CERTIFICATE_PASSWORD
        )));
    }

    for attempt in 1..=MAX_PROMPTS {
        let password = prompt_password(path)?;
        match ClientCertificate::from_bytes(bytes, Some(&password)) {
            Ok(certificate) => {
                if sources.use_keyring {
                    remember_password(&profile.name, &password);
                }
                return Ok(certificate);
            }
            Err(LoadError::PasswordRequired | LoadError::WrongPassword) => {
                if attempt < MAX_PROMPTS {
                    ui::warn(&format!(
                        "wrong password for {} ({} tries left)",
                        path.display(),
                        MAX_PROMPTS - attempt
                    ));
                }
            }
            Err(LoadError::Invalid(message)) => return Err(invalid(path, &message)),
        }
    }
    Err(Error::Certificate(format!(
        "wrong password for certificate {} after {MAX_PROMPTS} tries",
        path.display()
    )))
}

fn invalid(path: &Path, message: &str) -> Error {
    Error::Certificate(format!("certificate {}: {message}", path.display()))
}

/// Reads the cached password; keyring failures only warn, since the prompt
/// or the environment can still supply the password.
fn cached_password(profile: &str) -> Option<Secret> {
    let result = Keyring::open().and_then(|k| k.get(profile, SecretKind::CertificatePassword));
    match result {
        Ok(password) => password,
        Err(e) => {
            ui::warn(&format!("cannot read the cached certificate password: {e}"));
            None
        }
    }
}

fn remember_password(profile: &str, password: &Secret) {
    let result =
        Keyring::open().and_then(|k| k.set(profile, SecretKind::CertificatePassword, password));
    if let Err(e) = result {
        ui::warn(&format!("the certificate password was not cached: {e}"));
    }
}

fn prompt_password(path: &Path) -> Result<Secret> {
    let theme = dialoguer::theme::ColorfulTheme::default();
    dialoguer::Password::with_theme(&theme)
        .with_prompt(format!("Password for {}", path.display()))
        .allow_empty_password(true)
        .interact()
        .map(Secret::new)
        .map_err(|e| Error::Other(format!("password prompt failed: {e}")))
}
