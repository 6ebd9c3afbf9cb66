//! The OS keyring boundary and the `Secret` wrapper.
//!
//! Secrets live in the platform store under service `entratool`, one entry
//! per profile and kind. On Linux that store is the Secret Service over
//! D-Bus, which can be missing, locked or hung, so every call runs on a worker
//! thread with a deadline: a D-Bus that accepts connections and never answers
//! costs at most the deadline, never a hang.

use std::fmt;
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use zeroize::Zeroizing;

use crate::env;
use crate::error::{Error, Result};

pub const SERVICE: &str = "entratool";

/// Deadline for connecting to the store. The Secret Service answers in
/// milliseconds when it works (about 60 ms for a debug build, measured on a
/// 2-core Debian 12 VM), so two seconds separates slow from hung.
const DEFAULT_OPEN_TIMEOUT: Duration = Duration::from_secs(2);

/// A secret value. `Debug` prints a placeholder, there is no `Display`, and
/// the memory is wiped on drop; `expose` is the one way to read it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(Zeroizing::new(value.into()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// What a keyring entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SecretKind {
    ClientSecret,
    CertificatePassword,
}

impl SecretKind {
    pub const ALL: [SecretKind; 2] = [SecretKind::ClientSecret, SecretKind::CertificatePassword];

    fn suffix(self) -> &'static str {
        match self {
            SecretKind::ClientSecret => "secret",
            SecretKind::CertificatePassword => "cert-password",
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            SecretKind::ClientSecret => "client secret",
            SecretKind::CertificatePassword => "certificate password",
        }
    }
}

/// The keyring account for a profile's secret. The original tool used
/// `profile:{name}:secret`; names are lower-cased here because profile names
/// match without regard to case.
pub fn account(profile: &str, kind: SecretKind) -> String {
    format!("profile:{}:{}", profile.to_lowercase(), kind.suffix())
}

/// A connection to the OS keyring.
pub struct Keyring {
    operation_timeout: Duration,
}

static STORE_READY: OnceLock<std::result::Result<(), String>> = OnceLock::new();

impl Keyring {
    /// Connects to the platform store, failing within the open deadline when
    /// none answers.
    pub fn open() -> Result<Keyring> {
        let open_timeout = std::env::var(env::KEYRING_TIMEOUT)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|secs| *secs > 0.0)
            .map(Duration::from_secs_f64)
            .unwrap_or(DEFAULT_OPEN_TIMEOUT);

        let ready =
            STORE_READY.get_or_init(|| match run_with_deadline(open_timeout, create_store) {
                Some(Ok(store)) => {
                    keyring_core::set_default_store(store);
                    Ok(())
                }
                Some(Err(e)) => Err(describe_store_error(&e)),
                None => Err(format!(
                    "the OS keyring did not answer within {} s (D-Bus accepted the connection \
                     but the Secret Service never replied)",
                    open_timeout.as_secs_f64()
                )),
            });
        if let Err(message) = ready {
            return Err(unavailable(message));
        }

        // With a desktop session the store may show an unlock prompt, which a
        // person needs time to answer; without one a slow answer means a hang.
        let has_display =
            std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
        let operation_timeout = if cfg!(target_os = "linux") && !has_display {
            Duration::from_secs(10)
        } else {
            Duration::from_secs(120)
        };
        Ok(Keyring { operation_timeout })
    }

    /// Reads a secret; a missing entry is `Ok(None)`.
    pub fn get(&self, profile: &str, kind: SecretKind) -> Result<Option<Secret>> {
        let account = account(profile, kind);
        let outcome = self.call(move || {
            let entry = keyring_core::Entry::new(SERVICE, &account)?;
            entry.get_password()
        })?;
        match outcome {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(operation_failed("read", profile, kind, &e)),
        }
    }

    pub fn set(&self, profile: &str, kind: SecretKind, secret: &Secret) -> Result<()> {
        let account = account(profile, kind);
        let value = Zeroizing::new(secret.expose().to_string());
        let outcome = self.call(move || {
            let entry = keyring_core::Entry::new(SERVICE, &account)?;
            entry.set_password(&value)
        })?;
        outcome.map_err(|e| operation_failed("store", profile, kind, &e))
    }

    /// Removes a secret; removing a missing entry is not an error.
    pub fn delete(&self, profile: &str, kind: SecretKind) -> Result<()> {
        let account = account(profile, kind);
        let outcome = self.call(move || {
            let entry = keyring_core::Entry::new(SERVICE, &account)?;
            entry.delete_credential()
        })?;
        match outcome {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(operation_failed("delete", profile, kind, &e)),
        }
    }

    fn call<T: Send + 'static>(
        &self,
        operation: impl FnOnce() -> keyring_core::Result<T> + Send + 'static,
    ) -> Result<keyring_core::Result<T>> {
        run_with_deadline(self.operation_timeout, operation).ok_or_else(|| {
            unavailable(&format!(
                "the OS keyring did not answer within {} s",
                self.operation_timeout.as_secs()
            ))
        })
    }
}

/// Runs `work` on a worker thread and waits at most `timeout`. On timeout the
/// thread is left behind; it ends with the process.
fn run_with_deadline<T: Send + 'static>(
    timeout: Duration,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let (sender, receiver) = mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("keyring".into())
        .spawn(move || {
            let _ = sender.send(work());
        });
    if spawned.is_err() {
        return None;
    }
    receiver.recv_timeout(timeout).ok()
}

#[cfg(any(target_os = "linux", target_os = "freebsd", target_os = "openbsd"))]
fn create_store() -> keyring_core::Result<std::sync::Arc<keyring_core::CredentialStore>> {
    Ok(zbus_secret_service_keyring_store::Store::new()?)
}

#[cfg(target_os = "macos")]
fn create_store() -> keyring_core::Result<std::sync::Arc<keyring_core::CredentialStore>> {
    Ok(apple_native_keyring_store::keychain::Store::new()?)
}

#[cfg(target_os = "windows")]
fn create_store() -> keyring_core::Result<std::sync::Arc<keyring_core::CredentialStore>> {
    Ok(windows_native_keyring_store::Store::new()?)
}

#[cfg(not(any(
    target_os = "linux",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "macos",
    target_os = "windows"
)))]
fn create_store() -> keyring_core::Result<std::sync::Arc<keyring_core::CredentialStore>> {
    Err(keyring_core::Error::NotSupportedByStore(
        "no OS keyring is supported on this platform".into(),
    ))
}

fn describe_store_error(error: &keyring_core::Error) -> String {
    let text = error.to_string();
    if text.contains("ServiceUnknown") || text.contains("was not provided by any") {
        "no Secret Service is running on the D-Bus session bus".to_string()
    } else if text.contains("Failed to connect") || text.contains("No such file") {
        "no D-Bus session bus is reachable, so the Secret Service cannot be used".to_string()
    } else {
        format!("the OS keyring could not be opened: {text}")
    }
}

fn unavailable(reason: &str) -> Error {
    Error::Keyring(format!(
        "{reason}. Ways out: set {} (or {} for a certificate password) to pass the secret for \
         this run, or start a Secret Service (gnome-keyring or KeePassXC) and unlock it, for \
         example with `gnome-keyring-daemon --unlock`",
        env::CLIENT_SECRET,
        env::CERTIFICATE_PASSWORD
    ))
}

fn operation_failed(
    verb: &str,
    profile: &str,
    kind: SecretKind,
    error: &keyring_core::Error,
) -> Error {
    let reason = match error {
        keyring_core::Error::NoStorageAccess(_) => {
            "the keyring is locked or refused access; unlock it (for example with \
             `gnome-keyring-daemon --unlock`) and try again"
                .to_string()
        }
        other => other.to_string(),
    };
    Error::Keyring(format!(
        "cannot {verb} the {} of profile `{profile}` in the OS keyring: {reason}",
        kind.describe()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_debug_is_redacted() {
        let secret = Secret::new("hunter2-value");
        let printed = format!("{secret:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert_eq!(secret.expose(), "hunter2-value");
    }

    #[test]
    fn account_names_match_the_original_scheme() {
        assert_eq!(
            account("Dev", SecretKind::ClientSecret),
            "profile:dev:secret"
        );
        assert_eq!(
            account("dev", SecretKind::CertificatePassword),
            "profile:dev:cert-password"
        );
    }

    #[test]
    fn deadline_returns_none_for_a_hung_call() {
        let started = std::time::Instant::now();
        let result = run_with_deadline(Duration::from_millis(100), || {
            std::thread::sleep(Duration::from_secs(5));
        });
        assert!(result.is_none());
        assert!(started.elapsed() < Duration::from_secs(2));
    }
}
