//! The encrypted profile export file, and the original tool's format for
//! import.
//!
//! Format version 1 is a JSON object:
//!
//! ```text
//! { "format": "entratool-profile-export", "version": 1,
//!   "kdf": "argon2id", "memoryKib": 65536, "iterations": 3, "parallelism": 4,
//!   "salt": b64, "nonce": b64, "passphraseCheck": b64, "ciphertext": b64,
//!   "checksum": "sha256:<hex>" }
//! ```
//!
//! Argon2id turns the passphrase into 64 bytes: the first 32 are the
//! AES-256-GCM key, the SHA-256 of the last 32 is `passphraseCheck`. The
//! header fields are the GCM associated data, so none can be changed
//! unnoticed. `checksum` is an unkeyed SHA-256 over every other field, so a
//! damaged or edited file is distinguished from a wrong passphrase. It is no
//! defence against a deliberate forger, who could recompute it, but GCM still
//! rejects such a file.

use aes_gcm::aead::{Aead, Payload};
use aes_gcm::{Aes256Gcm, KeyInit, Nonce};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cbc::cipher::{block_padding::Pkcs7, BlockDecryptMut, KeyIvInit};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::secrets::Secret;

pub const FORMAT_NAME: &str = "entratool-profile-export";
pub const FORMAT_VERSION: u32 = 1;

/// Argon2id cost for new files: the second recommended option of RFC 9106
/// (section 4): 64 MiB of memory, 3 passes, 4 lanes.
const MEMORY_KIB: u32 = 64 * 1024;
const ITERATIONS: u32 = 3;
const PARALLELISM: u32 = 4;

/// Upper bounds accepted when reading, so a crafted file cannot make the
/// import allocate gigabytes or run for hours.
const MAX_MEMORY_KIB: u32 = 1024 * 1024;
const MAX_ITERATIONS: u32 = 64;
const MAX_PARALLELISM: u32 = 64;

/// The original tool's key derivation: PBKDF2-HMAC-SHA256, 100,000 rounds.
const ORIGINAL_PBKDF2_ROUNDS: u32 = 100_000;
const ORIGINAL_SALT_LEN: usize = 32;
const ORIGINAL_IV_LEN: usize = 16;

/// Reasons an export file cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ExportError {
    #[error("the passphrase is wrong")]
    WrongPassphrase,
    #[error("the file is damaged or was altered: {0}")]
    Damaged(String),
    #[error(
        "the passphrase is wrong or the file is damaged; files from the original tool carry no \
         integrity check, so the two cannot be distinguished"
    )]
    OriginalDecryptFailed,
    #[error("the file is not a profile export: {0}")]
    NotAnExport(String),
    #[error("the file uses export format version {0}, but this entratool reads only version {FORMAT_VERSION}; update entratool")]
    UnsupportedVersion(u64),
}

/// The version 1 file, as stored.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct Envelope {
    format: String,
    version: u32,
    kdf: String,
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
    salt: String,
    nonce: String,
    passphrase_check: String,
    ciphertext: String,
    checksum: String,
}

impl Envelope {
    /// The GCM associated data: every header field in a fixed order.
    fn associated_data(&self) -> Vec<u8> {
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            self.format,
            self.version,
            self.kdf,
            self.memory_kib,
            self.iterations,
            self.parallelism,
            self.salt,
            self.nonce
        )
        .into_bytes()
    }

    fn compute_checksum(&self) -> String {
        let mut hasher = Sha256::new();
        hasher.update(self.associated_data());
        hasher.update(b"\n");
        hasher.update(self.passphrase_check.as_bytes());
        hasher.update(b"\n");
        hasher.update(self.ciphertext.as_bytes());
        format!("sha256:{}", hex(&hasher.finalize()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    getrandom::getrandom(&mut bytes).expect("the OS random number generator failed");
    bytes
}

struct DerivedKeys {
    encryption: Zeroizing<[u8; 32]>,
    check: [u8; 32],
}

fn derive_keys(
    passphrase: &Secret,
    salt: &[u8],
    memory_kib: u32,
    iterations: u32,
    parallelism: u32,
) -> Result<DerivedKeys, String> {
    let params = argon2::Params::new(memory_kib, iterations, parallelism, Some(64))
        .map_err(|e| format!("invalid Argon2id parameters: {e}"))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut output = Zeroizing::new([0u8; 64]);
    argon
        .hash_password_into(passphrase.expose().as_bytes(), salt, output.as_mut())
        .map_err(|e| format!("key derivation failed: {e}"))?;
    let mut encryption = Zeroizing::new([0u8; 32]);
    encryption.copy_from_slice(&output[..32]);
    let check: [u8; 32] = Sha256::digest(&output[32..]).into();
    Ok(DerivedKeys { encryption, check })
}

/// Encrypts `plaintext` into a version 1 export file (text, ends with a
/// newline).
pub fn seal(plaintext: &[u8], passphrase: &Secret) -> String {
    let salt = random_bytes::<16>();
    let nonce = random_bytes::<12>();
    let keys = derive_keys(passphrase, &salt, MEMORY_KIB, ITERATIONS, PARALLELISM)
        .expect("the built-in Argon2id parameters are valid");
    let mut envelope = Envelope {
        format: FORMAT_NAME.to_string(),
        version: FORMAT_VERSION,
        kdf: "argon2id".to_string(),
        memory_kib: MEMORY_KIB,
        iterations: ITERATIONS,
        parallelism: PARALLELISM,
        salt: STANDARD.encode(salt),
        nonce: STANDARD.encode(nonce),
        passphrase_check: STANDARD.encode(keys.check),
        ciphertext: String::new(),
        checksum: String::new(),
    };
    let cipher = Aes256Gcm::new_from_slice(keys.encryption.as_ref()).expect("32-byte key");
    let aad = envelope.associated_data();
    let ciphertext = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    envelope.ciphertext = STANDARD.encode(ciphertext);
    envelope.checksum = envelope.compute_checksum();
    let mut text = serde_json::to_string_pretty(&envelope).expect("the envelope serialises");
    text.push('\n');
    text
}

/// The format an export file was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceFormat {
    Version1,
    /// The original .NET tool's export (AES-256-CBC, no integrity check).
    Original,
}

/// Decrypts an export file of either format. The plaintext is wiped when
/// dropped.
pub fn open(
    file: &[u8],
    passphrase: &Secret,
) -> Result<(Zeroizing<Vec<u8>>, SourceFormat), ExportError> {
    let text = std::str::from_utf8(file)
        .map_err(|_| ExportError::NotAnExport("it is not text".to_string()))?;
    let trimmed = text.trim_start_matches('\u{feff}').trim();
    // A file that mentions the format name is a version 1 file even when a
    // damaged first byte hides the opening brace.
    if trimmed.starts_with('{') || trimmed.contains(FORMAT_NAME) {
        return open_version1(trimmed, passphrase).map(|p| (p, SourceFormat::Version1));
    }
    open_original(trimmed, passphrase).map(|p| (p, SourceFormat::Original))
}

fn open_version1(text: &str, passphrase: &Secret) -> Result<Zeroizing<Vec<u8>>, ExportError> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        ExportError::Damaged(format!(
            "invalid JSON at line {}, column {}",
            e.line(),
            e.column()
        ))
    })?;
    if value.get("format").and_then(|f| f.as_str()) != Some(FORMAT_NAME) {
        return Err(ExportError::Damaged(format!(
            "the `format` field is not `{FORMAT_NAME}`"
        )));
    }
    match value.get("version").and_then(|v| v.as_u64()) {
        Some(1) => {}
        Some(0) => return Err(ExportError::Damaged("the version field is 0".to_string())),
        Some(other) => return Err(ExportError::UnsupportedVersion(other)),
        None => {
            return Err(ExportError::Damaged(
                "the `version` field is missing or not a number".to_string(),
            ))
        }
    }
    let envelope: Envelope = serde_json::from_value(value)
        .map_err(|e| ExportError::Damaged(format!("unexpected content: {e}")))?;
    if envelope.checksum != envelope.compute_checksum() {
        return Err(ExportError::Damaged(
            "the checksum does not match the content".to_string(),
        ));
    }
    if envelope.kdf != "argon2id" {
        return Err(ExportError::Damaged(format!(
            "unknown key derivation `{}`",
            envelope.kdf
        )));
    }
    if envelope.memory_kib > MAX_MEMORY_KIB
        || envelope.iterations > MAX_ITERATIONS
        || envelope.parallelism > MAX_PARALLELISM
    {
        return Err(ExportError::Damaged(
            "the Argon2id cost parameters exceed the accepted limits".to_string(),
        ));
    }
    let decode = |field: &str, value: &str| {
        STANDARD
            .decode(value)
            .map_err(|_| ExportError::Damaged(format!("`{field}` is not valid base64")))
    };
    let salt = decode("salt", &envelope.salt)?;
    let nonce = decode("nonce", &envelope.nonce)?;
    let check = decode("passphraseCheck", &envelope.passphrase_check)?;
    let ciphertext = decode("ciphertext", &envelope.ciphertext)?;
    if nonce.len() != 12 {
        return Err(ExportError::Damaged(
            "the nonce is not 12 bytes".to_string(),
        ));
    }

    let keys = derive_keys(
        passphrase,
        &salt,
        envelope.memory_kib,
        envelope.iterations,
        envelope.parallelism,
    )
    .map_err(ExportError::Damaged)?;
    if check != keys.check {
        return Err(ExportError::WrongPassphrase);
    }
    let cipher = Aes256Gcm::new_from_slice(keys.encryption.as_ref()).expect("32-byte key");
    let aad = envelope.associated_data();
    cipher
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &ciphertext,
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| {
            ExportError::Damaged(
                "authentication failed, so the encrypted content was changed".to_string(),
            )
        })
}

fn open_original(text: &str, passphrase: &Secret) -> Result<Zeroizing<Vec<u8>>, ExportError> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = STANDARD.decode(compact).map_err(|_| {
        ExportError::NotAnExport(
            "it is neither entratool's JSON export nor the original tool's base64 export"
                .to_string(),
        )
    })?;
    let header = ORIGINAL_SALT_LEN + ORIGINAL_IV_LEN;
    if bytes.len() < header + 16 || !(bytes.len() - header).is_multiple_of(16) {
        return Err(ExportError::NotAnExport(
            "its length does not fit the original tool's format (salt, IV, AES blocks)".to_string(),
        ));
    }
    let (salt, rest) = bytes.split_at(ORIGINAL_SALT_LEN);
    let (iv, ciphertext) = rest.split_at(ORIGINAL_IV_LEN);
    let mut key = Zeroizing::new([0u8; 32]);
    pbkdf2::pbkdf2_hmac::<Sha256>(
        passphrase.expose().as_bytes(),
        salt,
        ORIGINAL_PBKDF2_ROUNDS,
        key.as_mut(),
    );
    let decryptor = cbc::Decryptor::<aes::Aes256>::new_from_slices(key.as_ref(), iv)
        .expect("32-byte key and 16-byte IV");
    decryptor
        .decrypt_padded_vec_mut::<Pkcs7>(ciphertext)
        .map(Zeroizing::new)
        .map_err(|_| ExportError::OriginalDecryptFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn passphrase() -> Secret {
        Secret::new("correct horse battery staple")
    }

    #[test]
    fn seal_then_open_round_trips() {
        let file = seal(b"{\"hello\":1}", &passphrase());
        let (plaintext, format) = open(file.as_bytes(), &passphrase()).unwrap();
        assert_eq!(plaintext.as_slice(), b"{\"hello\":1}");
        assert_eq!(format, SourceFormat::Version1);
    }

    #[test]
    fn wrong_passphrase_is_named() {
        let file = seal(b"data", &passphrase());
        let error = open(file.as_bytes(), &Secret::new("wrong")).unwrap_err();
        assert_eq!(error, ExportError::WrongPassphrase);
    }

    #[test]
    fn forged_checksum_still_fails_authentication() {
        let file = seal(b"some plaintext to protect", &passphrase());
        let mut envelope: Envelope = serde_json::from_str(&file).unwrap();
        let mut ciphertext = STANDARD.decode(&envelope.ciphertext).unwrap();
        ciphertext[0] ^= 0x01;
        envelope.ciphertext = STANDARD.encode(ciphertext);
        envelope.checksum = envelope.compute_checksum();
        let forged = serde_json::to_string(&envelope).unwrap();
        let error = open(forged.as_bytes(), &passphrase()).unwrap_err();
        assert!(
            matches!(&error, ExportError::Damaged(m) if m.contains("authentication failed")),
            "{error:?}"
        );
    }

    #[test]
    fn forged_header_fails_authentication() {
        let file = seal(b"some plaintext", &passphrase());
        let mut envelope: Envelope = serde_json::from_str(&file).unwrap();
        // A different nonce with a matching checksum: the key and check value
        // are unchanged, so only GCM can notice.
        envelope.nonce = STANDARD.encode([7u8; 12]);
        envelope.checksum = envelope.compute_checksum();
        let forged = serde_json::to_string(&envelope).unwrap();
        let error = open(forged.as_bytes(), &passphrase()).unwrap_err();
        assert!(matches!(error, ExportError::Damaged(_)), "{error:?}");
    }

    #[test]
    fn excessive_cost_is_rejected_before_derivation() {
        let file = seal(b"x", &passphrase());
        let mut envelope: Envelope = serde_json::from_str(&file).unwrap();
        envelope.memory_kib = u32::MAX;
        envelope.checksum = envelope.compute_checksum();
        let forged = serde_json::to_string(&envelope).unwrap();
        let error = open(forged.as_bytes(), &passphrase()).unwrap_err();
        assert!(
            matches!(&error, ExportError::Damaged(m) if m.contains("limits")),
            "{error:?}"
        );
    }

    #[test]
    fn newer_version_is_reported() {
        let file = seal(b"x", &passphrase()).replace("\"version\": 1", "\"version\": 2");
        let error = open(file.as_bytes(), &passphrase()).unwrap_err();
        assert_eq!(error, ExportError::UnsupportedVersion(2));
    }

    #[test]
    fn garbage_is_not_an_export() {
        let error = open(b"hello, world", &passphrase()).unwrap_err();
        assert!(matches!(error, ExportError::NotAnExport(_)), "{error:?}");
    }
}
