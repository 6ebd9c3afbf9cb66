//! The token cache: one encrypted file per cached token, grouped in a folder
//! per profile under `{config}/cache/`.
//!
//! Entries are sealed with AES-256-GCM. The key is a random 256-bit value
//! kept in the OS keyring (account `token-cache-key`), so a cache hit costs
//! one keyring read and no network. When the client secret comes from
//! `ENTRATOOL_CLIENT_SECRET` the key is derived from that secret with
//! HKDF-SHA256 instead, so CI runs without a keyring still get a cache that
//! only holders of the secret can read.
//!
//! Parallel processes coordinate through an advisory lock on
//! `{profile folder}/.lock`. A process that misses takes the lock, reads the
//! entry again (another process may have filled it meanwhile) and only then
//! requests a token from the server.

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use tracing::debug;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::fsutil;
use crate::secrets::{self, Keyring, Secret};
use crate::token::Token;
use crate::ui;

/// Keyring account of the cache encryption key.
pub const KEY_ACCOUNT: &str = "token-cache-key";

/// A token is served from the cache until this long before it expires.
pub const REUSE_MARGIN: time::Duration = time::Duration::minutes(5);

const FORMAT_VERSION: u32 = 1;
const NONCE_LEN: usize = 12;

/// Scopes the user flows add on their own. They do not change which access
/// token is requested, so they are left out of the cache identity.
const IMPLICIT_SCOPES: [&str; 3] = ["offline_access", "openid", "profile"];

/// The request a cached token was issued for. Two requests that differ in any field
/// never share an entry.
#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    pub profile: String,
    pub authority: String,
    pub tenant: String,
    pub client_id: String,
    /// The app credential: `secret`, or a certificate identity.
    pub credential: String,
    /// `app` for client credentials, `user` for the sign-in flows.
    pub kind: &'static str,
    pub scopes: Vec<String>,
}

impl Identity {
    /// Lower-cases, sorts and de-duplicates the scopes and drops the
    /// implicit OpenID ones, so `a b` and `B a` share an entry.
    pub fn normalise_scopes(scopes: &[String]) -> Vec<String> {
        let mut normalised: Vec<String> = scopes
            .iter()
            .map(|s| s.trim().to_lowercase())
            .filter(|s| !s.is_empty() && !IMPLICIT_SCOPES.contains(&s.as_str()))
            .collect();
        normalised.sort();
        normalised.dedup();
        normalised
    }

    /// Computes a stable hex digest of every field, used as the entry's file name and
    /// as associated data, so an entry copied to another name fails to open.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for part in [
            self.profile.to_lowercase().as_str(),
            self.authority.trim_end_matches('/').to_lowercase().as_str(),
            self.tenant.to_lowercase().as_str(),
            self.client_id.to_lowercase().as_str(),
            self.credential.as_str(),
            self.kind,
        ] {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part.as_bytes());
        }
        for scope in Self::normalise_scopes(&self.scopes) {
            hasher.update((scope.len() as u64).to_le_bytes());
            hasher.update(scope.as_bytes());
        }
        hex(&hasher.finalize())
    }
}

/// The plaintext of an entry.
#[derive(Serialize, Deserialize)]
struct CachedToken {
    access_token: String,
    token_type: String,
    expires_on: i64,
    scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

/// An entry as stored on disk.
#[derive(Serialize, Deserialize)]
struct SealedEntry {
    version: u32,
    nonce: String,
    ciphertext: String,
}

/// The result of a lookup.
pub enum Lookup {
    /// A token with more than [`REUSE_MARGIN`] left.
    Fresh(Token),
    /// A token inside the margin or expired; user flows may still hold a
    /// refresh token in it.
    Stale(Token),
    Missing,
}

/// The cache folder of one profile, with the key to open its entries.
pub struct TokenCache {
    dir: PathBuf,
    key: Zeroizing<[u8; 32]>,
}

/// Returns the folder of one profile's entries. The name is a hash of the
/// lower-cased profile name, since profile names may hold any character.
pub fn profile_dir(config_dir: &Path, profile: &str) -> PathBuf {
    let digest = hex(&Sha256::digest(profile.to_lowercase().as_bytes()));
    config_dir.join("cache").join(&digest[..32])
}

/// Removes every cached token of a profile (after an edit, a delete or a
/// new secret).
pub fn remove_profile(config_dir: &Path, profile: &str) -> Result<()> {
    let dir = profile_dir(config_dir, profile);
    match fs::remove_dir_all(&dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io("removing the token cache", dir, e)),
    }
}

/// The source of the cache key for one run.
pub enum KeySource<'a> {
    /// Derived from a client secret given in the environment.
    EnvironmentSecret(&'a Secret),
    /// The random key in the OS keyring, created on first use.
    Keyring,
}

/// Loads (or, with `create`, makes) the cache key. Returns `None` when no
/// key is available, in which case the run goes without a cache.
pub fn load_key(source: &KeySource<'_>, create: bool) -> Result<Option<Zeroizing<[u8; 32]>>> {
    match source {
        KeySource::EnvironmentSecret(secret) => {
            let hkdf = hkdf::Hkdf::<Sha256>::new(
                Some(b"entratool token cache v1"),
                secret.expose().as_bytes(),
            );
            let mut key = Zeroizing::new([0u8; 32]);
            hkdf.expand(b"aes-256-gcm key", key.as_mut())
                .map_err(|_| Error::Other("cannot derive the cache key".into()))?;
            Ok(Some(key))
        }
        KeySource::Keyring => {
            let keyring = Keyring::open()?;
            let stored = keyring
                .get_account(KEY_ACCOUNT)
                .map_err(|e| secrets::operation_failed("read", "the token cache key", &e))?;
            if let Some(stored) = stored {
                if let Some(key) = decode_key(stored.expose()) {
                    return Ok(Some(key));
                }
                ui::warn("the token cache key in the OS keyring is damaged; making a new one");
            }
            if !create {
                return Ok(None);
            }
            let mut key = Zeroizing::new([0u8; 32]);
            getrandom::getrandom(key.as_mut())
                .map_err(|e| Error::Other(format!("cannot generate the cache key: {e}")))?;
            let encoded = Secret::new(STANDARD.encode(key.as_ref()));
            keyring
                .set_account(KEY_ACCOUNT, &encoded)
                .map_err(|e| secrets::operation_failed("store", "the token cache key", &e))?;
            Ok(Some(key))
        }
    }
}

fn decode_key(encoded: &str) -> Option<Zeroizing<[u8; 32]>> {
    let bytes = Zeroizing::new(STANDARD.decode(encoded.trim()).ok()?);
    let array: [u8; 32] = bytes.as_slice().try_into().ok()?;
    Some(Zeroizing::new(array))
}

impl TokenCache {
    pub fn new(config_dir: &Path, profile: &str, key: Zeroizing<[u8; 32]>) -> TokenCache {
        TokenCache {
            dir: profile_dir(config_dir, profile),
            key,
        }
    }

    fn entry_path(&self, identity: &Identity) -> PathBuf {
        self.dir.join(format!("{}.json", &identity.digest()[..40]))
    }

    /// Reads the entry for `identity`. A damaged or undecryptable entry is
    /// reported with a one-line warning and treated as missing.
    pub fn lookup(&self, identity: &Identity, now: OffsetDateTime) -> Lookup {
        let path = self.entry_path(identity);
        let bytes = match fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Lookup::Missing,
            Err(e) => {
                ui::warn(&format!(
                    "cannot read the token cache entry {}: {e}; asking the server instead",
                    path.display()
                ));
                return Lookup::Missing;
            }
        };
        let token = match self.open_entry(&bytes, identity) {
            Some(token) => token,
            None => {
                ui::warn(&format!(
                    "discarding the damaged token cache entry {}",
                    path.display()
                ));
                let _ = fs::remove_file(&path);
                return Lookup::Missing;
            }
        };
        if token.expires_on - now > REUSE_MARGIN {
            Lookup::Fresh(token)
        } else {
            Lookup::Stale(token)
        }
    }

    fn open_entry(&self, bytes: &[u8], identity: &Identity) -> Option<Token> {
        let sealed: SealedEntry = serde_json::from_slice(bytes).ok()?;
        if sealed.version != FORMAT_VERSION {
            return None;
        }
        let nonce = STANDARD.decode(sealed.nonce).ok()?;
        if nonce.len() != NONCE_LEN {
            return None;
        }
        let ciphertext = STANDARD.decode(sealed.ciphertext).ok()?;
        let cipher = Aes256Gcm::new_from_slice(self.key.as_ref()).ok()?;
        let aad = identity.digest();
        let plaintext = Zeroizing::new(
            cipher
                .decrypt(
                    Nonce::from_slice(&nonce),
                    Payload {
                        msg: &ciphertext,
                        aad: aad.as_bytes(),
                    },
                )
                .ok()?,
        );
        let cached: CachedToken = serde_json::from_slice(&plaintext).ok()?;
        Some(Token {
            access_token: Secret::new(cached.access_token),
            token_type: cached.token_type,
            expires_on: OffsetDateTime::from_unix_timestamp(cached.expires_on).ok()?,
            scopes: cached.scopes,
            refresh_token: cached.refresh_token.map(Secret::new),
            from_cache: true,
        })
    }

    /// Writes the entry for `identity` atomically.
    pub fn store(&self, identity: &Identity, token: &Token) -> Result<()> {
        let cached = CachedToken {
            access_token: token.access_token.expose().to_string(),
            token_type: token.token_type.clone(),
            expires_on: token.expires_on.unix_timestamp(),
            scopes: token.scopes.clone(),
            refresh_token: token.refresh_token.as_ref().map(|t| t.expose().to_string()),
        };
        let plaintext = Zeroizing::new(
            serde_json::to_vec(&cached)
                .map_err(|e| Error::Other(format!("cannot serialise the token: {e}")))?,
        );
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::getrandom(&mut nonce)
            .map_err(|e| Error::Other(format!("cannot generate a nonce: {e}")))?;
        let cipher = Aes256Gcm::new_from_slice(self.key.as_ref())
            .map_err(|_| Error::Other("invalid cache key length".into()))?;
        let aad = identity.digest();
        let ciphertext = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plaintext,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| Error::Other("cannot encrypt the token cache entry".into()))?;
        let sealed = SealedEntry {
            version: FORMAT_VERSION,
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ciphertext),
        };
        let json = serde_json::to_vec(&sealed)
            .map_err(|e| Error::Other(format!("cannot serialise the cache entry: {e}")))?;
        fsutil::ensure_private_dir(self.dir.parent().unwrap_or(&self.dir))?;
        fsutil::write_atomic(&self.entry_path(identity), &json)
    }

    /// Removes the entry for `identity`, for example after the server
    /// rejected its refresh token.
    pub fn remove(&self, identity: &Identity) {
        let _ = fs::remove_file(self.entry_path(identity));
    }

    /// Takes the profile's cache lock, waiting until `deadline` at most.
    pub fn lock(&self, deadline: Instant) -> Result<CacheLock> {
        fsutil::ensure_private_dir(&self.dir)?;
        let path = self.dir.join(".lock");
        let file = {
            let mut options = OpenOptions::new();
            options.create(true).truncate(false).write(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            options
                .open(&path)
                .map_err(|e| Error::io("opening the cache lock", &path, e))?
        };
        loop {
            match file.try_lock() {
                Ok(()) => {
                    debug!("cache lock taken");
                    return Ok(CacheLock { _file: file });
                }
                Err(fs::TryLockError::WouldBlock) => {
                    if Instant::now() >= deadline {
                        return Err(Error::Timeout(format!(
                            "another entratool process held the token cache lock {} until the \
                             timeout",
                            path.display()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(Error::io("locking the token cache", &path, e))
                }
            }
        }
    }
}

/// Holds the cache lock until dropped.
pub struct CacheLock {
    _file: File,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn identity(scopes: &[&str]) -> Identity {
        Identity {
            profile: "Dev".into(),
            authority: "https://login.microsoftonline.com".into(),
            tenant: "contoso.onmicrosoft.com".into(),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            credential: "secret".into(),
            kind: "app",
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn token(expires_in: i64) -> Token {
        Token {
            access_token: Secret::new("header.claims.signature"),
            token_type: "Bearer".into(),
            expires_on: OffsetDateTime::now_utc() + time::Duration::seconds(expires_in),
            scopes: vec!["a/.default".into()],
            refresh_token: Some(Secret::new("refresh-value")),
            from_cache: false,
        }
    }

    #[test]
    fn scope_order_case_and_implicit_scopes_do_not_matter() {
        let a = identity(&["User.Read", "Mail.Read", "offline_access"]);
        let b = identity(&["mail.read", "user.read", "openid", "profile"]);
        assert_eq!(a.digest(), b.digest());
        assert_ne!(a.digest(), identity(&["User.Read"]).digest());
    }

    #[test]
    fn round_trip_and_wrong_key() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path(), "dev", Zeroizing::new([7u8; 32]));
        let id = identity(&["a/.default"]);
        cache.store(&id, &token(3600)).unwrap();
        match cache.lookup(&id, OffsetDateTime::now_utc()) {
            Lookup::Fresh(found) => {
                assert_eq!(found.access_token.expose(), "header.claims.signature");
                assert_eq!(found.refresh_token.unwrap().expose(), "refresh-value");
                assert!(found.from_cache);
            }
            _ => panic!("expected a fresh entry"),
        }
        let other_key = TokenCache::new(dir.path(), "dev", Zeroizing::new([8u8; 32]));
        assert!(matches!(
            other_key.lookup(&id, OffsetDateTime::now_utc()),
            Lookup::Missing
        ));
    }

    #[test]
    fn token_inside_the_margin_is_stale() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path(), "dev", Zeroizing::new([7u8; 32]));
        let id = identity(&["a/.default"]);
        cache.store(&id, &token(240)).unwrap();
        assert!(matches!(
            cache.lookup(&id, OffsetDateTime::now_utc()),
            Lookup::Stale(_)
        ));
    }

    #[test]
    fn plaintext_never_reaches_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cache = TokenCache::new(dir.path(), "dev", Zeroizing::new([7u8; 32]));
        cache.store(&identity(&["a"]), &token(3600)).unwrap();
        for entry in fs::read_dir(profile_dir(dir.path(), "dev")).unwrap() {
            let bytes = fs::read(entry.unwrap().path()).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains("header.claims"));
            assert!(!text.contains("refresh-value"));
        }
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn identity_with(scopes: Vec<String>) -> Identity {
        Identity {
            profile: "Dev".into(),
            authority: "https://login.microsoftonline.com".into(),
            tenant: "contoso.onmicrosoft.com".into(),
            client_id: "11111111-2222-3333-4444-555555555555".into(),
            credential: "secret".into(),
            kind: "user",
            scopes,
        }
    }

    #[test]
    fn digest_is_stable_across_versions() {
        // Changing this value orphans every cache entry users have.
        let identity = identity_with(vec!["User.Read".into(), "offline_access".into()]);
        assert_eq!(
            identity.digest(),
            "c59a4649c81306bdfdec068753889deba60e01830c095ab409bca143cc9066c3"
        );
    }

    proptest! {
        #[test]
        fn scope_order_and_case_do_not_change_the_digest(
            scopes in proptest::collection::vec("[A-Za-z.]{1,12}", 1..6),
            seed in any::<u64>(),
        ) {
            let mut shuffled: Vec<String> = scopes.iter().map(|s| s.to_uppercase()).collect();
            let len = shuffled.len();
            shuffled.rotate_left((seed as usize) % len);
            shuffled.push("openid".into());
            prop_assert_eq!(identity_with(scopes).digest(), identity_with(shuffled).digest());
        }

        #[test]
        fn any_field_change_changes_the_digest(field in 0usize..6, value in "[a-z0-9]{1,10}") {
            let base = identity_with(vec!["a/.default".into()]);
            let mut changed = base.clone();
            match field {
                0 => changed.profile = format!("{}{value}", base.profile),
                1 => changed.authority = format!("{}{value}", base.authority),
                2 => changed.tenant = format!("{}{value}", base.tenant),
                3 => changed.client_id = format!("{}{value}", base.client_id),
                4 => changed.credential = format!("{}{value}", base.credential),
                _ => changed.scopes.push(format!("api://{value}/.default")),
            }
            prop_assert_ne!(base.digest(), changed.digest());
        }
    }
}
