//! Certificate credentials: loading a certificate with its private key,
//! the checks made before any request, and signed client assertions
//! (RFC 7523 `private_key_jwt`).

mod assertion;
mod load;
mod password;

use std::fmt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::RsaPrivateKey;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use x509_cert::Certificate;

pub use assertion::{AssertionAlgorithm, AssertionOptions, CLIENT_ASSERTION_TYPE};
pub use load::{Format, LoadError};
pub use password::{load_for_profile, PasswordSources};

use crate::error::{Error, Result};
use crate::secrets::Secret;

/// A certificate with its matching RSA private key and any chain
/// certificates that came in the same file.
pub struct ClientCertificate {
    leaf: Certificate,
    leaf_der: Vec<u8>,
    chain_der: Vec<Vec<u8>>,
    key: RsaPrivateKey,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("subject", &self.subject())
            .field("sha1_thumbprint", &self.sha1_thumbprint())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl ClientCertificate {
    fn new(
        leaf: Certificate,
        leaf_der: Vec<u8>,
        chain_der: Vec<Vec<u8>>,
        key: RsaPrivateKey,
    ) -> std::result::Result<Self, String> {
        let validity = &leaf.tbs_certificate.validity;
        let to_datetime = |t: x509_cert::time::Time| {
            let seconds = t.to_unix_duration().as_secs();
            i64::try_from(seconds)
                .ok()
                .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok())
                .ok_or_else(|| "its validity dates are out of range".to_string())
        };
        let not_before = to_datetime(validity.not_before)?;
        let not_after = to_datetime(validity.not_after)?;
        Ok(ClientCertificate {
            leaf,
            leaf_der,
            chain_der,
            key,
            not_before,
            not_after,
        })
    }

    /// Parses a certificate file's bytes with an optional password.
    pub fn from_bytes(
        bytes: &[u8],
        password: Option<&Secret>,
    ) -> std::result::Result<Self, LoadError> {
        load::parse(bytes, password)
    }

    pub fn subject(&self) -> String {
        self.leaf.tbs_certificate.subject.to_string()
    }

    pub fn not_before(&self) -> OffsetDateTime {
        self.not_before
    }

    pub fn not_after(&self) -> OffsetDateTime {
        self.not_after
    }

    /// Returns the DER encoding of the certificate that matches the key.
    pub fn der(&self) -> &[u8] {
        &self.leaf_der
    }

    /// Returns the other certificates from the file, in file order.
    pub fn chain(&self) -> &[Vec<u8>] {
        &self.chain_der
    }

    /// Returns the SHA-1 thumbprint in upper-case hex, as the Azure portal shows it
    /// under Certificates & secrets.
    pub fn sha1_thumbprint(&self) -> String {
        hex_upper(&Sha1::digest(&self.leaf_der))
    }

    pub fn sha256_thumbprint(&self) -> String {
        hex_upper(&Sha256::digest(&self.leaf_der))
    }

    /// Returns the `x5t#S256` header value: base64url SHA-256 of the DER
    /// certificate.
    pub fn x5t_s256(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha256::digest(&self.leaf_der))
    }

    /// Returns the `x5t` header value: base64url SHA-1 of the DER certificate.
    pub fn x5t(&self) -> String {
        URL_SAFE_NO_PAD.encode(Sha1::digest(&self.leaf_der))
    }

    /// Rejects a certificate outside its validity period, since Entra rejects
    /// assertions signed with it.
    pub fn check_validity(&self, path: &Path, now: OffsetDateTime) -> Result<()> {
        let range = format!(
            "valid from {} to {}",
            format_date(self.not_before),
            format_date(self.not_after)
        );
        if now < self.not_before {
            return Err(Error::Certificate(format!(
                "certificate {} is not valid yet ({range}); check the system clock or wait until \
                 it becomes valid",
                path.display()
            )));
        }
        if now > self.not_after {
            return Err(Error::Certificate(format!(
                "certificate {} has expired ({range}); create a new certificate, upload it to the \
                 app registration and update the profile's certificatePath",
                path.display()
            )));
        }
        Ok(())
    }

    /// Signs a new client assertion for one token request.
    pub fn client_assertion(
        &self,
        client_id: &str,
        audience: &str,
        options: &AssertionOptions,
    ) -> Result<Secret> {
        assertion::sign(
            self,
            client_id,
            audience,
            options,
            OffsetDateTime::now_utc(),
        )
    }

    fn key(&self) -> &RsaPrivateKey {
        &self.key
    }
}

fn hex_upper(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02X}")).collect()
}

fn format_date(moment: OffsetDateTime) -> String {
    moment
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| moment.unix_timestamp().to_string())
}

/// Expands a leading `~` or `~/` to the home folder.
pub fn expand_path(path: &str) -> PathBuf {
    let trimmed = path.trim();
    if trimmed == "~" {
        if let Some(home) = dirs::home_dir() {
            return home;
        }
    }
    if let Some(rest) = trimmed
        .strip_prefix("~/")
        .or_else(|| trimmed.strip_prefix("~\\"))
    {
        if let Some(home) = dirs::home_dir() {
            return home.join(rest);
        }
    }
    PathBuf::from(trimmed)
}

/// Reads a certificate file, with an error that names the path and the fix.
pub fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::NotFound => {
                "the file does not exist; check the profile's certificatePath".to_string()
            }
            std::io::ErrorKind::PermissionDenied => {
                "permission denied; make the file readable by this user".to_string()
            }
            _ if path.is_dir() => "it is a folder, not a certificate file".to_string(),
            _ => e.to_string(),
        };
        Error::Certificate(format!(
            "cannot read certificate {}: {reason}",
            path.display()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tilde_expands_to_home() {
        let home = dirs::home_dir().expect("a home folder");
        assert_eq!(expand_path("~/certs/app.pfx"), home.join("certs/app.pfx"));
        assert_eq!(expand_path("~"), home);
        assert_eq!(expand_path("/etc/app.pem"), PathBuf::from("/etc/app.pem"));
        assert_eq!(
            expand_path("~other/app.pem"),
            PathBuf::from("~other/app.pem")
        );
    }

    #[test]
    fn assertion_algorithm_parses_any_case() {
        assert_eq!("rs256".parse(), Ok(AssertionAlgorithm::RS256));
        assert_eq!("PS256".parse(), Ok(AssertionAlgorithm::PS256));
        assert!("HS256".parse::<AssertionAlgorithm>().is_err());
        assert_eq!(AssertionAlgorithm::default(), AssertionAlgorithm::PS256);
    }

    #[test]
    fn format_detection() {
        assert_eq!(
            Format::detect(b"-----BEGIN CERTIFICATE-----\n"),
            Format::Pem
        );
        assert_eq!(
            Format::detect(b"Bag Attributes\n-----BEGIN PRIVATE KEY-----"),
            Format::Pem
        );
        assert_eq!(Format::detect(&[0x30, 0x82, 0x0a, 0x00]), Format::Pkcs12);
    }
}
