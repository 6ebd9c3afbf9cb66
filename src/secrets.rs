//! The OS keyring boundary and the `Secret` wrapper.
//!
//! Secrets live in the platform store under service `entratool`, one entry
//! per profile and kind. On Linux that store is the Secret Service over
//! D-Bus, which can be missing, locked or hung, so every call runs on a worker
//! thread with a deadline. A D-Bus that accepts connections and never replies
//! costs at most the deadline instead of a hang.

use std::fmt;
use std::sync::mpsc;
use std::sync::OnceLock;
use std::time::Duration;

use tracing::debug;
use zeroize::Zeroizing;

use crate::env;
use crate::error::{Error, Result};

pub const SERVICE: &str = "entratool";

/// Deadline for connecting to the store. The Secret Service replies in
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

/// The kind of secret in a keyring entry.
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

/// Builds the keyring account name for a profile's secret. The original tool used
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
    /// none replies.
    pub fn open() -> Result<Keyring> {
        let open_timeout = std::env::var(env::KEYRING_TIMEOUT)
            .ok()
            .and_then(|v| v.parse::<f64>().ok())
            .filter(|secs| *secs > 0.0)
            // Infinity and values past `Duration::MAX` fall back to the default.
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
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

        // A desktop session may show an unlock prompt, and a person needs time
        // to respond to it. Without a display, a slow reply means a hang.
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
        self.get_account(&account(profile, kind)).map_err(|e| {
            operation_failed(
                "read",
                &format!("the {} of profile `{profile}`", kind.describe()),
                &e,
            )
        })
    }

    pub fn set(&self, profile: &str, kind: SecretKind, secret: &Secret) -> Result<()> {
        self.set_account(&account(profile, kind), secret)
            .map_err(|e| {
                operation_failed(
                    "store",
                    &format!("the {} of profile `{profile}`", kind.describe()),
                    &e,
                )
            })
    }

    /// Removes a secret; removing a missing entry is not an error.
    pub fn delete(&self, profile: &str, kind: SecretKind) -> Result<()> {
        self.delete_account(&account(profile, kind)).map_err(|e| {
            operation_failed(
                "delete",
                &format!("the {} of profile `{profile}`", kind.describe()),
                &e,
            )
        })
    }

    /// Reads the entry for `account` under service `entratool`.
    pub fn get_account(&self, account: &str) -> KeyringResult<Option<Secret>> {
        debug!("keyring read `{account}`");
        let owned = account.to_string();
        match self.call(move || keyring_core::Entry::new(SERVICE, &owned)?.get_password())? {
            Ok(value) => Ok(Some(Secret::new(value))),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(CallError::Store(e)),
        }
    }

    pub fn set_account(&self, account: &str, secret: &Secret) -> KeyringResult<()> {
        debug!("keyring write `{account}`");
        let owned = account.to_string();
        let value = Zeroizing::new(secret.expose().to_string());
        self.call(move || keyring_core::Entry::new(SERVICE, &owned)?.set_password(&value))?
            .map_err(CallError::Store)
    }

    pub fn delete_account(&self, account: &str) -> KeyringResult<()> {
        debug!("keyring delete `{account}`");
        let owned = account.to_string();
        match self.call(move || keyring_core::Entry::new(SERVICE, &owned)?.delete_credential())? {
            Ok(()) | Err(keyring_core::Error::NoEntry) => Ok(()),
            Err(e) => Err(CallError::Store(e)),
        }
    }

    fn call<T: Send + 'static>(
        &self,
        operation: impl FnOnce() -> keyring_core::Result<T> + Send + 'static,
    ) -> KeyringResult<keyring_core::Result<T>> {
        run_with_deadline(self.operation_timeout, operation)
            .ok_or(CallError::Timeout(self.operation_timeout))
    }
}

/// A series of keyring writes that can be undone as a whole, so a command
/// that fails after writing secrets leaves the keyring as it found it.
pub struct KeyringWrites<'a> {
    keyring: &'a Keyring,
    /// The value each written entry had before, oldest write first.
    previous: Vec<(String, SecretKind, Option<Secret>)>,
}

impl<'a> KeyringWrites<'a> {
    pub fn new(keyring: &'a Keyring) -> Self {
        KeyringWrites {
            keyring,
            previous: Vec::new(),
        }
    }

    /// Stores a secret, remembering the entry's old value. A failed write
    /// undoes the earlier ones before returning the error.
    pub fn set(&mut self, profile: &str, kind: SecretKind, secret: &Secret) -> Result<()> {
        let before = match self.keyring.get(profile, kind) {
            Ok(before) => before,
            Err(e) => {
                self.rollback();
                return Err(e);
            }
        };
        self.previous.push((profile.to_string(), kind, before));
        if let Err(e) = self.keyring.set(profile, kind, secret) {
            self.rollback();
            return Err(e);
        }
        Ok(())
    }

    /// Restores every written entry to its old value (or removes it), newest
    /// first. A restore that fails is reported as a warning, since the
    /// caller is already returning an error.
    pub fn rollback(&mut self) {
        while let Some((profile, kind, before)) = self.previous.pop() {
            let restored = match &before {
                Some(value) => self.keyring.set(&profile, kind, value),
                None => self.keyring.delete(&profile, kind),
            };
            if let Err(e) = restored {
                crate::ui::warn(&format!(
                    "could not restore the {} of profile `{profile}` in the keyring: {e}",
                    kind.describe()
                ));
            }
        }
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

/// The failure of a keyring call.
#[derive(Debug)]
pub enum CallError {
    Timeout(Duration),
    Store(keyring_core::Error),
}

pub type KeyringResult<T> = std::result::Result<T, CallError>;

/// Turns a failed call into the user-facing error; `what` names the entry,
/// such as "the client secret of profile `dev`".
pub fn operation_failed(verb: &str, what: &str, error: &CallError) -> Error {
    let error = match error {
        CallError::Timeout(limit) => {
            return unavailable(&format!(
                "the OS keyring did not answer within {} s",
                limit.as_secs()
            ))
        }
        CallError::Store(error) => error,
    };
    let reason = match error {
        keyring_core::Error::NoStorageAccess(_) => {
            "the keyring is locked or refused access; unlock it (for example with \
             `gnome-keyring-daemon --unlock`) and try again"
                .to_string()
        }
        other => other.to_string(),
    };
    Error::Keyring(format!("cannot {verb} {what} in the OS keyring: {reason}"))
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
