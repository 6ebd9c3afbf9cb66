//! Decoding a JWT (JWS compact serialisation, RFC 7515 section 7.1) without
//! verifying it: enough to read the header and the claims.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

/// A decoded token: header and claims as JSON objects.
#[derive(Debug, Clone)]
pub struct DecodedJwt {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
}

/// A decoding failure, naming the part of the token that failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    #[error("the token is empty")]
    Empty,
    #[error(
        "the token has {0} segment(s) separated by dots, but a JWT has 3 (header.claims.signature)"
    )]
    Segments(usize),
    #[error(
        "the token has 5 segments, so it is an encrypted JWT (JWE), which cannot be read \
         without the recipient's key"
    )]
    Encrypted,
    #[error("the {part} segment is not valid base64url: {detail}")]
    Base64 { part: &'static str, detail: String },
    #[error("the {part} segment is not a JSON object: {detail}")]
    Json { part: &'static str, detail: String },
}

/// Removes surrounding whitespace and an optional `Bearer ` prefix (any
/// case), as copied from an `Authorization` header.
pub fn clean_token(input: &str) -> &str {
    let trimmed = input.trim();
    let lower_prefix = trimmed.get(..7).map(str::to_ascii_lowercase);
    match lower_prefix.as_deref() {
        Some("bearer ") => trimmed[7..].trim(),
        _ => trimmed,
    }
}

/// Decodes a token's header and claims. The signature is not checked.
pub fn decode(input: &str) -> Result<DecodedJwt, JwtError> {
    let token = clean_token(input);
    if token.is_empty() {
        return Err(JwtError::Empty);
    }
    let segments: Vec<&str> = token.split('.').collect();
    match segments.len() {
        3 => {}
        5 => return Err(JwtError::Encrypted),
        n => return Err(JwtError::Segments(n)),
    }
    let header = decode_segment(segments[0], "header")?;
    let claims = decode_segment(segments[1], "claims")?;
    Ok(DecodedJwt { header, claims })
}

fn decode_segment(segment: &str, part: &'static str) -> Result<Map<String, Value>, JwtError> {
    // Padding is not part of base64url in JWTs, but some tools add it.
    let bytes = URL_SAFE_NO_PAD
        .decode(segment.trim_end_matches('='))
        .map_err(|e| JwtError::Base64 {
            part,
            detail: e.to_string(),
        })?;
    let value: Value = serde_json::from_slice(&bytes).map_err(|e| JwtError::Json {
        part,
        detail: e.to_string(),
    })?;
    match value {
        Value::Object(map) => Ok(map),
        other => Err(JwtError::Json {
            part,
            detail: format!("found a JSON {}", json_kind(&other)),
        }),
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Reads a NumericDate claim (seconds since the epoch; RFC 7519 allows
/// fractions, and some issuers send it as a string).
pub fn numeric_date(claims: &Map<String, Value>, name: &str) -> Option<i64> {
    match claims.get(name)? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<f64>().ok().map(|f| f as i64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encode(value: &str) -> String {
        URL_SAFE_NO_PAD.encode(value)
    }

    #[test]
    fn bearer_prefix_and_whitespace_are_removed() {
        assert_eq!(clean_token("  Bearer abc.def.ghi \n"), "abc.def.ghi");
        assert_eq!(clean_token("bearer abc"), "abc");
        assert_eq!(clean_token("abc.def.ghi"), "abc.def.ghi");
    }

    #[test]
    fn each_part_failure_is_named() {
        let header = encode(r#"{"alg":"none"}"#);
        let claims = encode(r#"{"sub":"x"}"#);
        assert_eq!(decode("a.b").unwrap_err(), JwtError::Segments(2));
        assert_eq!(decode("a.b.c.d.e").unwrap_err(), JwtError::Encrypted);
        assert!(matches!(
            decode(&format!("{header}.%%%.sig")).unwrap_err(),
            JwtError::Base64 { part: "claims", .. }
        ));
        assert!(matches!(
            decode(&format!("{}.{claims}.sig", encode("not json"))).unwrap_err(),
            JwtError::Json { part: "header", .. }
        ));
        assert!(matches!(
            decode(&format!("{header}.{}.sig", encode("[1]"))).unwrap_err(),
            JwtError::Json { part: "claims", .. }
        ));
    }

    #[test]
    fn numeric_dates_accept_numbers_and_strings() {
        let claims: Map<String, Value> =
            serde_json::from_str(r#"{"a": 10, "b": 10.7, "c": "12", "d": true}"#).unwrap();
        assert_eq!(numeric_date(&claims, "a"), Some(10));
        assert_eq!(numeric_date(&claims, "b"), Some(10));
        assert_eq!(numeric_date(&claims, "c"), Some(12));
        assert_eq!(numeric_date(&claims, "d"), None);
        assert_eq!(numeric_date(&claims, "missing"), None);
    }
}
