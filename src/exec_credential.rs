//! The Kubernetes client-go credential plugin protocol: kubectl runs the
//! tool with `KUBERNETES_EXEC_INFO` set to an `ExecCredential` request and
//! reads an `ExecCredential` with the token from stdout.

use serde_json::{json, Value};

use crate::env;
use crate::error::{Error, Result};
use crate::output::rfc3339;
use crate::token::Token;

/// The API version of the response when kubectl sends no request.
pub const DEFAULT_API_VERSION: &str = "client.authentication.k8s.io/v1";
const SUPPORTED_VERSIONS: [&str; 2] = [
    "client.authentication.k8s.io/v1",
    "client.authentication.k8s.io/v1beta1",
];

/// The request kubectl passes in `KUBERNETES_EXEC_INFO`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExecInfo {
    pub api_version: String,
    /// `spec.interactive`: false when kubectl has no terminal to lend, or the
    /// kubeconfig sets `interactiveMode: Never`.
    pub interactive: Option<bool>,
}

impl Default for ExecInfo {
    fn default() -> Self {
        ExecInfo {
            api_version: DEFAULT_API_VERSION.to_string(),
            interactive: None,
        }
    }
}

impl ExecInfo {
    /// Reads `KUBERNETES_EXEC_INFO`; unset means the defaults.
    pub fn from_env() -> Result<ExecInfo> {
        match std::env::var(env::KUBERNETES_EXEC_INFO) {
            Ok(text) if !text.trim().is_empty() => ExecInfo::parse(&text),
            _ => Ok(ExecInfo::default()),
        }
    }

    pub fn parse(text: &str) -> Result<ExecInfo> {
        let invalid = |why: String| {
            Error::InvalidInput(format!(
                "{} is not a valid ExecCredential request: {why}",
                env::KUBERNETES_EXEC_INFO
            ))
        };
        let value: Value = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let api_version = value["apiVersion"]
            .as_str()
            .ok_or_else(|| invalid("it has no apiVersion".to_string()))?;
        if !SUPPORTED_VERSIONS.contains(&api_version) {
            return Err(Error::Unsupported(format!(
                "kubectl asked for ExecCredential {api_version}, but this tool supports {}; set \
                 the kubeconfig's exec apiVersion to {DEFAULT_API_VERSION}",
                SUPPORTED_VERSIONS.join(" or ")
            )));
        }
        if value["kind"] != "ExecCredential" {
            return Err(invalid(format!(
                "kind is {}, not ExecCredential",
                value["kind"]
            )));
        }
        Ok(ExecInfo {
            api_version: api_version.to_string(),
            interactive: value["spec"]["interactive"].as_bool(),
        })
    }
}

/// Renders the `ExecCredential` response, newline included. The expiry is
/// RFC 3339 in UTC, which client-go requires, so kubectl asks again just
/// before the token expires.
pub fn render(token: &Token, info: &ExecInfo) -> String {
    let value = json!({
        "apiVersion": info.api_version,
        "kind": "ExecCredential",
        "spec": {"interactive": info.interactive.unwrap_or(false)},
        "status": {
            "token": token.access_token.expose(),
            "expirationTimestamp": rfc3339(token.expires_on),
        },
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_versions() {
        let v1 = ExecInfo::parse(
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#,
        )
        .unwrap();
        assert_eq!(v1.interactive, Some(false));
        let beta = ExecInfo::parse(
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{}}"#,
        )
        .unwrap();
        assert_eq!(beta.api_version, "client.authentication.k8s.io/v1beta1");
        assert_eq!(beta.interactive, None);
        assert!(ExecInfo::parse(
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1alpha1"}"#
        )
        .is_err());
        assert!(ExecInfo::parse("not json").is_err());
    }
}
