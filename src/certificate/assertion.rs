//! Client assertions: JWTs signed with the certificate's private key that
//! stand in for a client secret (RFC 7523, Entra's certificate credentials).

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use sha2::Sha256;
use time::OffsetDateTime;

use super::ClientCertificate;
use crate::error::{Error, Result};
use crate::secrets::Secret;

pub const CLIENT_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Lifetime of one assertion. Each token request gets a new one, so it only
/// needs to outlast a slow request and some clock skew.
const LIFETIME_SECS: i64 = 600;

/// The JWS algorithm of the assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AssertionAlgorithm {
    /// RSASSA-PSS with SHA-256 and a 32-byte salt.
    #[default]
    PS256,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    RS256,
}

impl AssertionAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            AssertionAlgorithm::PS256 => "PS256",
            AssertionAlgorithm::RS256 => "RS256",
        }
    }
}

impl fmt::Display for AssertionAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AssertionAlgorithm {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        match s.trim().to_ascii_uppercase().as_str() {
            "PS256" => Ok(AssertionAlgorithm::PS256),
            "RS256" => Ok(AssertionAlgorithm::RS256),
            _ => Err(format!(
                "invalid assertion algorithm `{s}`: expected PS256 or RS256"
            )),
        }
    }
}

/// Optional parts of the assertion.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AssertionOptions {
    pub algorithm: AssertionAlgorithm,
    /// Adds the SHA-1 `x5t` header, which older authorities (AD FS, some
    /// sovereign clouds) look up the certificate by.
    pub include_x5t: bool,
    /// Adds the `x5c` header (leaf first, then the chain), needed for
    /// subject name and issuer authentication.
    pub include_x5c: bool,
}

pub(super) fn sign(
    certificate: &ClientCertificate,
    client_id: &str,
    audience: &str,
    options: &AssertionOptions,
    now: OffsetDateTime,
) -> Result<Secret> {
    let mut header = Map::new();
    header.insert("alg".into(), json!(options.algorithm.as_str()));
    header.insert("typ".into(), json!("JWT"));
    header.insert("x5t#S256".into(), json!(certificate.x5t_s256()));
    if options.include_x5t {
        header.insert("x5t".into(), json!(certificate.x5t()));
    }
    if options.include_x5c {
        let chain: Vec<Value> = std::iter::once(certificate.der())
            .chain(certificate.chain().iter().map(Vec::as_slice))
            .map(|der| json!(STANDARD.encode(der)))
            .collect();
        header.insert("x5c".into(), Value::Array(chain));
    }

    let issued_at = now.unix_timestamp();
    let claims = json!({
        "aud": audience,
        "iss": client_id,
        "sub": client_id,
        "jti": uuid::Uuid::new_v4().to_string(),
        "nbf": issued_at,
        "iat": issued_at,
        "exp": issued_at + LIFETIME_SECS,
    });

    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(Value::Object(header).to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = certificate.key().clone();
    let signature: Box<[u8]> = match options.algorithm {
        AssertionAlgorithm::RS256 => rsa::pkcs1v15::SigningKey::<Sha256>::new(key)
            .try_sign(signing_input.as_bytes())
            .map_err(signing_failed)?
            .to_bytes(),
        AssertionAlgorithm::PS256 => {
            let mut rng = rsa::rand_core::OsRng;
            rsa::pss::BlindedSigningKey::<Sha256>::new(key)
                .try_sign_with_rng(&mut rng, signing_input.as_bytes())
                .map_err(signing_failed)?
                .to_bytes()
        }
    };
    Ok(Secret::new(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    )))
}

fn signing_failed(error: rsa::signature::Error) -> Error {
    Error::Certificate(format!("cannot sign the client assertion: {error}"))
}
