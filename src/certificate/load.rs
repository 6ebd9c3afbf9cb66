//! Reading a certificate and its RSA private key from PKCS#12 (`.pfx`,
//! `.p12`) or PEM files, and matching the key to its certificate.

use pkcs8::{DecodePrivateKey, EncryptedPrivateKeyInfo, PrivateKeyInfo};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::DecodePublicKey;
use rsa::{RsaPrivateKey, RsaPublicKey};
use x509_cert::der::{Decode, Encode};
use x509_cert::Certificate;

use super::ClientCertificate;
use crate::secrets::Secret;

/// `rsaEncryption` (RFC 8017).
const RSA_OID: &str = "1.2.840.113549.1.1.1";
/// `id-ecPublicKey` (RFC 5480).
const EC_OID: &str = "1.2.840.10045.2.1";
const ED25519_OID: &str = "1.3.101.112";
const ED448_OID: &str = "1.3.101.113";
const DSA_OID: &str = "1.2.840.10040.4.1";
/// `id-RSASSA-PSS` (RFC 4055): an RSA key restricted to PSS.
const RSA_PSS_OID: &str = "1.2.840.113549.1.1.10";

/// Failure to use a certificate file. The password cases are separate
/// variants so the caller can try the next password source.
#[derive(Debug)]
pub enum LoadError {
    /// The file is encrypted and no password was given.
    PasswordRequired,
    /// The password did not open the file (MAC or decryption failed).
    WrongPassword,
    /// Anything else: damaged file, unsupported key type, no key, mismatch.
    Invalid(String),
}

/// The container format, decided from the file's content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Pkcs12,
    Pem,
}

impl Format {
    pub fn detect(bytes: &[u8]) -> Format {
        let head = &bytes[..bytes.len().min(4096)];
        if String::from_utf8_lossy(head).contains("-----BEGIN ") {
            Format::Pem
        } else {
            Format::Pkcs12
        }
    }

    pub fn describe(self) -> &'static str {
        match self {
            Format::Pkcs12 => "PKCS#12",
            Format::Pem => "PEM",
        }
    }
}

/// Parses a certificate file. Without `password`, a PKCS#12 file is tried
/// with the empty password, which also opens files that have no MAC and no
/// encryption.
pub fn parse(bytes: &[u8], password: Option<&Secret>) -> Result<ClientCertificate, LoadError> {
    match Format::detect(bytes) {
        Format::Pkcs12 => parse_pkcs12(bytes, password),
        Format::Pem => parse_pem(bytes, password),
    }
}

fn parse_pkcs12(bytes: &[u8], password: Option<&Secret>) -> Result<ClientCertificate, LoadError> {
    let text = password.map_or("", Secret::expose);
    let archive = match p12_keystore::Pkcs12Archive::from_pkcs12(bytes, text) {
        Ok(archive) => archive,
        Err(error) => return Err(classify_pkcs12_error(&error, password.is_some())),
    };
    let keys: Vec<Vec<u8>> = archive
        .keys
        .iter()
        .map(|bag| bag.key.as_der().to_vec())
        .collect();
    let certificates: Vec<Vec<u8>> = archive
        .certs
        .iter()
        .map(|bag| bag.cert.as_der().to_vec())
        .collect();
    // NOTE: only the first private key is used. PKCS#12 files from openssl,
    // Windows and Azure Key Vault contain one. A file with several keys whose
    // first key matches no certificate fails with a mismatch error.
    let Some(key_der) = keys.first() else {
        return Err(LoadError::Invalid(
            "the PKCS#12 file contains no private key (or one of a type that cannot be read); \
             export it again with the private key included"
                .to_string(),
        ));
    };
    let key = rsa_key_from_pkcs8(key_der)?;
    assemble(key, certificates)
}

/// Maps a parser error to a password problem or an invalid file.
///
/// NOTE: a file without a MAC but with encrypted contents can decrypt to
/// garbage under a wrong password, because padding checks pass about once in
/// 256 tries. That case is reported as an unreadable file, not a wrong password.
fn classify_pkcs12_error(error: &p12_keystore::error::Error, had_password: bool) -> LoadError {
    use p12_keystore::error::Error as P12;
    let password_failed = matches!(
        error,
        P12::MacError(_) | P12::UnpadError | P12::Pkcs5Error(_) | P12::InvalidLength
    );
    if password_failed {
        return if had_password {
            LoadError::WrongPassword
        } else {
            LoadError::PasswordRequired
        };
    }
    match error {
        P12::DerError(_) | P12::InvalidVersion | P12::UnsupportedContentType => LoadError::Invalid(
            format!("the file is neither a PKCS#12 (.pfx, .p12) nor a PEM file: {error}"),
        ),
        P12::UnsupportedEncryptionScheme | P12::UnsupportedMacAlgorithm => {
            LoadError::Invalid(format!(
                "the PKCS#12 file uses an encryption or MAC algorithm that cannot be read \
                 ({error}); export it again with `openssl pkcs12 -export` (AES-256 and SHA-256, \
                 the OpenSSL 3 default)"
            ))
        }
        other => LoadError::Invalid(format!("the PKCS#12 file cannot be read: {other}")),
    }
}

/// One `-----BEGIN X-----` ... `-----END X-----` block.
struct PemBlock {
    label: String,
    text: String,
}

fn pem_blocks(text: &str) -> Vec<PemBlock> {
    let mut blocks = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN ") {
        let after = &rest[start + "-----BEGIN ".len()..];
        let Some(label_end) = after.find("-----") else {
            break;
        };
        let label = after[..label_end].to_string();
        let end_marker = format!("-----END {label}-----");
        let Some(end) = after.find(&end_marker) else {
            break;
        };
        let block_end = start + "-----BEGIN ".len() + end + end_marker.len();
        blocks.push(PemBlock {
            label,
            text: rest[start..block_end].to_string(),
        });
        rest = &rest[block_end..];
    }
    blocks
}

fn decode_block(block: &PemBlock) -> Result<Vec<u8>, LoadError> {
    pem_rfc7468::decode_vec(block.text.as_bytes())
        .map(|(_, der)| der)
        .map_err(|e| {
            LoadError::Invalid(format!(
                "the PEM block `{}` is not valid base64 PEM: {e}",
                block.label
            ))
        })
}

fn parse_pem(bytes: &[u8], password: Option<&Secret>) -> Result<ClientCertificate, LoadError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| LoadError::Invalid("the PEM file is not valid UTF-8 text".to_string()))?;
    let mut certificates = Vec::new();
    let mut key = None;
    for block in pem_blocks(text) {
        match block.label.as_str() {
            "CERTIFICATE" | "X509 CERTIFICATE" | "TRUSTED CERTIFICATE" => {
                certificates.push(decode_block(&block)?);
            }
            "PRIVATE KEY" => {
                key.get_or_insert(rsa_key_from_pkcs8(&decode_block(&block)?)?);
            }
            "RSA PRIVATE KEY" => {
                if block.text.contains("Proc-Type:") {
                    return Err(LoadError::Invalid(
                        "the RSA PRIVATE KEY is encrypted in the legacy OpenSSL format, which \
                         cannot be read; convert it to encrypted PKCS#8 with `openssl pkcs8 \
                         -topk8 -v2 aes-256-cbc -in old.pem -out key.pem`"
                            .to_string(),
                    ));
                }
                let der = zeroize::Zeroizing::new(decode_block(&block)?);
                let parsed = RsaPrivateKey::from_pkcs1_der(&der).map_err(|e| {
                    LoadError::Invalid(format!("the RSA PRIVATE KEY block is invalid: {e}"))
                })?;
                key.get_or_insert(parsed);
            }
            "ENCRYPTED PRIVATE KEY" => {
                let Some(password) = password else {
                    return Err(LoadError::PasswordRequired);
                };
                let der = decode_block(&block)?;
                let encrypted = EncryptedPrivateKeyInfo::from_der(&der).map_err(|e| {
                    LoadError::Invalid(format!("the ENCRYPTED PRIVATE KEY block is invalid: {e}"))
                })?;
                // pkcs5 0.7 reports bad padding after decryption as
                // `EncryptFailed`, so both variants mean a wrong password. A
                // wrong password also yields valid padding about one time in
                // 256, and the plaintext then fails as DER (`Asn1`).
                let decrypted =
                    encrypted
                        .decrypt(password.expose().as_bytes())
                        .map_err(|e| match e {
                            pkcs8::Error::EncryptedPrivateKey(
                                pkcs8::pkcs5::Error::DecryptFailed
                                | pkcs8::pkcs5::Error::EncryptFailed,
                            )
                            | pkcs8::Error::Asn1(_) => LoadError::WrongPassword,
                            other => LoadError::Invalid(format!(
                                "the ENCRYPTED PRIVATE KEY block cannot be decrypted ({other}); \
                             re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
                            )),
                        })?;
                // A wrong password can still yield valid padding (about one
                // time in 256); the result is then not DER.
                if PrivateKeyInfo::from_der(decrypted.as_bytes()).is_err() {
                    return Err(LoadError::WrongPassword);
                }
                key.get_or_insert(rsa_key_from_pkcs8(decrypted.as_bytes())?);
            }
            "EC PRIVATE KEY" => return Err(unsupported_key("EC (elliptic curve)")),
            "DSA PRIVATE KEY" => return Err(unsupported_key("DSA")),
            _ => {}
        }
    }
    let Some(key) = key else {
        return Err(LoadError::Invalid(
            "the PEM file contains no private key: put the certificate and its key (PRIVATE \
             KEY, RSA PRIVATE KEY or ENCRYPTED PRIVATE KEY) in one file"
                .to_string(),
        ));
    };
    assemble(key, certificates)
}

fn unsupported_key(kind: &str) -> LoadError {
    LoadError::Invalid(format!(
        "the private key is an {kind} key, which is not supported: Entra client assertions are \
         signed with RSA here, so create the certificate with an RSA key (2048 bits or more)"
    ))
}

fn rsa_key_from_pkcs8(der: &[u8]) -> Result<RsaPrivateKey, LoadError> {
    let info = PrivateKeyInfo::from_der(der)
        .map_err(|e| LoadError::Invalid(format!("the private key is not valid PKCS#8: {e}")))?;
    match info.algorithm.oid.to_string().as_str() {
        RSA_OID => {}
        EC_OID => return Err(unsupported_key("EC (elliptic curve)")),
        ED25519_OID => return Err(unsupported_key("Ed25519")),
        ED448_OID => return Err(unsupported_key("Ed448")),
        DSA_OID => return Err(unsupported_key("DSA")),
        RSA_PSS_OID => return Err(unsupported_key("RSA-PSS-only")),
        other => return Err(unsupported_key(&format!("unknown (algorithm OID {other})"))),
    }
    RsaPrivateKey::from_pkcs8_der(der)
        .map_err(|e| LoadError::Invalid(format!("the RSA private key is invalid: {e}")))
}

/// Finds the certificate whose public key belongs to `key`; the other
/// certificates become the chain, in file order.
fn assemble(
    key: RsaPrivateKey,
    certificates: Vec<Vec<u8>>,
) -> Result<ClientCertificate, LoadError> {
    if certificates.is_empty() {
        return Err(LoadError::Invalid(
            "the file contains a private key but no certificate; add the certificate \
             (-----BEGIN CERTIFICATE-----) to the same file"
                .to_string(),
        ));
    }
    let public = key.to_public_key();
    let mut leaf_index = None;
    let mut parsed = Vec::with_capacity(certificates.len());
    for (index, der) in certificates.iter().enumerate() {
        let certificate = Certificate::from_der(der).map_err(|e| {
            LoadError::Invalid(format!("certificate {} is invalid: {e}", index + 1))
        })?;
        if leaf_index.is_none() && certificate_public_key(&certificate).as_ref() == Some(&public) {
            leaf_index = Some(index);
        }
        parsed.push(certificate);
    }
    let Some(leaf_index) = leaf_index else {
        let first = &parsed[0];
        return Err(LoadError::Invalid(format!(
            "the private key does not match the certificate `{}` (nor any other certificate in \
             the file): use the key that the certificate was issued for",
            first.tbs_certificate.subject
        )));
    };
    let mut chain = certificates;
    let leaf_der = chain.remove(leaf_index);
    let leaf = parsed.swap_remove(leaf_index);
    ClientCertificate::new(leaf, leaf_der, chain, key)
        .map_err(|e| LoadError::Invalid(format!("the certificate cannot be used: {e}")))
}

fn certificate_public_key(certificate: &Certificate) -> Option<RsaPublicKey> {
    let spki = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .ok()?;
    // Equal RSA public keys (modulus and exponent) mean the key matches.
    RsaPublicKey::from_public_key_der(&spki).ok()
}

#[cfg(test)]
mod wrong_password_tests {
    use super::*;
    use pkcs8::EncodePrivateKey;

    /// Every wrong password must read as one, including the roughly one in
    /// 256 that decrypts to valid padding.
    #[test]
    fn wrong_passwords_never_read_as_damage() {
        let mut rng = rsa::rand_core::OsRng;
        let key = RsaPrivateKey::new(&mut rng, 512).unwrap();
        let der = key.to_pkcs8_der().unwrap();
        let params =
            pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(1, &[7u8; 16], &[9u8; 16])
                .unwrap();
        let encrypted = pkcs8::PrivateKeyInfo::try_from(der.as_bytes())
            .unwrap()
            .encrypt_with_params(params, b"right password")
            .unwrap();
        let pem = pem_rfc7468::encode_string(
            "ENCRYPTED PRIVATE KEY",
            pem_rfc7468::LineEnding::LF,
            encrypted.as_bytes(),
        )
        .unwrap();
        for attempt in 0..600 {
            let wrong = Secret::new(format!("wrong password {attempt}"));
            match parse_pem(pem.as_bytes(), Some(&wrong)) {
                Err(LoadError::WrongPassword) => {}
                Err(other) => panic!("attempt {attempt}: {other:?}"),
                Ok(_) => panic!("attempt {attempt}: a wrong password was accepted"),
            }
        }
    }
}
