//! Profiles: the JSON model (field names match the original .NET tool, so
//! its `profiles.json` loads unchanged), the file store and validation.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::certificate::AssertionAlgorithm;
use crate::env;
use crate::error::{Error, Result};
use crate::federated::FederatedSource;
use crate::fsutil;

pub const PROFILES_FILE: &str = "profiles.json";
pub const DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";

/// The method a profile uses to prove the app's identity to the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum AuthMethod {
    #[default]
    ClientSecret,
    Certificate,
    PasswordlessCertificate,
}

impl AuthMethod {
    pub const ALL: [AuthMethod; 3] = [
        AuthMethod::ClientSecret,
        AuthMethod::Certificate,
        AuthMethod::PasswordlessCertificate,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecret => "ClientSecret",
            AuthMethod::Certificate => "Certificate",
            AuthMethod::PasswordlessCertificate => "PasswordlessCertificate",
        }
    }

    pub fn uses_certificate(self) -> bool {
        !matches!(self, AuthMethod::ClientSecret)
    }
}

impl fmt::Display for AuthMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AuthMethod {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = normalise_enum_name(s);
        AuthMethod::ALL
            .into_iter()
            .find(|m| normalise_enum_name(m.as_str()) == wanted)
            .ok_or_else(|| {
                format!(
                    "invalid auth method `{s}`: expected ClientSecret, Certificate or \
                     PasswordlessCertificate"
                )
            })
    }
}

/// The OAuth 2.0 grant used to get a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Flow {
    AuthorizationCode,
    ClientCredentials,
    DeviceCode,
    InteractiveBrowser,
}

impl Flow {
    pub const ALL: [Flow; 4] = [
        Flow::ClientCredentials,
        Flow::AuthorizationCode,
        Flow::DeviceCode,
        Flow::InteractiveBrowser,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Flow::AuthorizationCode => "AuthorizationCode",
            Flow::ClientCredentials => "ClientCredentials",
            Flow::DeviceCode => "DeviceCode",
            Flow::InteractiveBrowser => "InteractiveBrowser",
        }
    }

    /// True for flows that sign in a person rather than the app itself.
    pub fn is_user_flow(self) -> bool {
        !matches!(self, Flow::ClientCredentials)
    }
}

impl fmt::Display for Flow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Flow {
    type Err = String;

    /// Accepts the PascalCase names of the original tool in any case, and
    /// kebab-case or snake_case spellings (`client-credentials`).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = normalise_enum_name(s);
        Flow::ALL
            .into_iter()
            .find(|f| normalise_enum_name(f.as_str()) == wanted)
            .ok_or_else(|| {
                format!(
                    "invalid flow `{s}`: expected ClientCredentials, AuthorizationCode, DeviceCode \
                     or InteractiveBrowser (kebab-case also works)"
                )
            })
    }
}

fn normalise_enum_name(s: &str) -> String {
    s.trim()
        .chars()
        .filter(|c| *c != '-' && *c != '_')
        .flat_map(char::to_lowercase)
        .collect()
}

/// One saved profile. Unknown fields are kept and written back, so a file
/// from a newer version loses nothing when this version saves it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    #[serde(alias = "Name")]
    pub name: String,
    #[serde(alias = "TenantId")]
    pub tenant_id: String,
    #[serde(alias = "ClientId")]
    pub client_id: String,
    #[serde(default, alias = "Scopes")]
    pub scopes: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "Resource")]
    pub resource: Option<String>,
    #[serde(default, alias = "AuthMethod")]
    pub auth_method: AuthMethod,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "RedirectUri"
    )]
    pub redirect_uri: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "CertificatePath"
    )]
    pub certificate_path: Option<String>,
    #[serde(default, alias = "CacheCertificatePassword")]
    pub cache_certificate_password: bool,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        alias = "DefaultFlow"
    )]
    pub default_flow: Option<Flow>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authority: Option<String>,
    /// JWS algorithm of client assertions (PS256 unless set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_assertion_algorithm: Option<AssertionAlgorithm>,
    /// Adds the SHA-1 `x5t` header to client assertions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_x5t: bool,
    /// Adds the `x5c` certificate chain header to client assertions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub include_x5c: bool,
    /// Federated credential source; when set (or when `federatedTokenFile`
    /// is), client credentials use a federated token instead of the auth
    /// method's secret or certificate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated_token_source: Option<FederatedSource>,
    /// File holding the federated token, such as a Kubernetes projected
    /// service account token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated_token_file: Option<String>,
    /// Audience requested for a GitHub Actions OIDC token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub federated_token_audience: Option<String>,
    #[serde(with = "time::serde::rfc3339", alias = "CreatedAt")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339", alias = "UpdatedAt")]
    pub updated_at: OffsetDateTime,
    #[serde(flatten)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl Profile {
    pub fn new(name: String, tenant_id: String, client_id: String) -> Self {
        let now = OffsetDateTime::now_utc();
        Profile {
            name,
            tenant_id,
            client_id,
            scopes: Vec::new(),
            resource: None,
            auth_method: AuthMethod::ClientSecret,
            redirect_uri: None,
            certificate_path: None,
            cache_certificate_password: false,
            default_flow: None,
            authority: None,
            client_assertion_algorithm: None,
            include_x5t: false,
            include_x5c: false,
            federated_token_source: None,
            federated_token_file: None,
            federated_token_audience: None,
            created_at: now,
            updated_at: now,
            extra: serde_json::Map::new(),
        }
    }

    /// Picks the flow as the original does: the profile's default, else
    /// client credentials for `ClientSecret` and `Certificate`, else the
    /// interactive browser.
    pub fn inferred_flow(&self) -> Flow {
        self.default_flow.unwrap_or(match self.auth_method {
            AuthMethod::ClientSecret | AuthMethod::Certificate => Flow::ClientCredentials,
            AuthMethod::PasswordlessCertificate => Flow::InteractiveBrowser,
        })
    }

    /// Returns the scopes to request: the profile's list, else
    /// `{resource}/.default`.
    pub fn effective_scopes(&self) -> Vec<String> {
        if !self.scopes.is_empty() {
            return self.scopes.clone();
        }
        match self.resource.as_deref().map(str::trim) {
            Some(resource) if !resource.is_empty() => {
                vec![format!("{}/.default", resource.trim_end_matches('/'))]
            }
            _ => Vec::new(),
        }
    }

    /// Checks the fields that must be right before any request is sent.
    pub fn validate(&self, flow: Flow) -> Result<()> {
        let invalid = |message: String| Error::InvalidProfile {
            profile: self.name.clone(),
            message,
        };
        validate_client_id(&self.client_id).map_err(invalid)?;
        validate_tenant(&self.tenant_id, flow).map_err(invalid)?;
        if self.effective_scopes().is_empty() {
            return Err(invalid(
                "it has no scopes and no resource: add one with `--scopes` (for example \
                 https://graph.microsoft.com/.default)"
                    .to_string(),
            ));
        }
        if let Some(authority) = &self.authority {
            validate_authority(authority).map_err(invalid)?;
        }
        Ok(())
    }
}

/// Splits a scope list given as one string, separated by commas and/or
/// whitespace, dropping empty items and repeats but keeping the order.
pub fn parse_scopes(input: &str) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for item in input.split(|c: char| c == ',' || c.is_whitespace()) {
        let item = item.trim();
        if !item.is_empty() && !scopes.iter().any(|s| s == item) {
            scopes.push(item.to_string());
        }
    }
    scopes
}

/// True for the 8-4-4-4-12 hexadecimal form Entra uses for IDs.
pub fn is_guid(value: &str) -> bool {
    let groups: Vec<&str> = value.split('-').collect();
    let lengths = [8, 4, 4, 4, 12];
    groups.len() == lengths.len()
        && groups
            .iter()
            .zip(lengths)
            .all(|(group, len)| group.len() == len && group.chars().all(|c| c.is_ascii_hexdigit()))
}

pub const TENANT_ALIASES: [&str; 3] = ["common", "organizations", "consumers"];

pub fn validate_client_id(client_id: &str) -> std::result::Result<(), String> {
    if is_guid(client_id) {
        Ok(())
    } else {
        Err(format!(
            "client ID `{client_id}` is not a GUID: copy the Application (client) ID from the app \
             registration's Overview page, for example 11111111-2222-3333-4444-555555555555"
        ))
    }
}

pub fn validate_tenant(tenant: &str, flow: Flow) -> std::result::Result<(), String> {
    let lower = tenant.to_ascii_lowercase();
    if TENANT_ALIASES.contains(&lower.as_str()) {
        if flow.is_user_flow() {
            return Ok(());
        }
        return Err(format!(
            "tenant `{tenant}` is only valid when a user signs in; {flow} needs the tenant ID \
             (GUID) or domain, such as contoso.onmicrosoft.com"
        ));
    }
    if is_guid(tenant) || is_domain(tenant) {
        return Ok(());
    }
    Err(format!(
        "tenant `{tenant}` is not a GUID, a domain (contoso.onmicrosoft.com) or one of common, \
         organizations, consumers"
    ))
}

fn is_domain(value: &str) -> bool {
    let labels: Vec<&str> = value.split('.').collect();
    labels.len() >= 2
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

pub fn validate_authority(authority: &str) -> std::result::Result<(), String> {
    let rest = authority
        .strip_prefix("https://")
        .or_else(|| authority.strip_prefix("http://"));
    match rest {
        Some(host) if !host.is_empty() && !host.contains(['?', '#', ' ']) => Ok(()),
        _ => Err(format!(
            "authority `{authority}` is not an http(s) URL such as https://login.microsoftonline.com"
        )),
    }
}

/// Returns the folder that contains `profiles.json` and the token cache.
pub fn config_dir() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os(env::CONFIG_DIR).filter(|v| !v.is_empty()) {
        return Ok(PathBuf::from(dir));
    }
    #[cfg(windows)]
    let base = dirs::config_dir();
    #[cfg(not(windows))]
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| dirs::home_dir().map(|home| home.join(".config")));
    base.map(|dir| dir.join("entratool")).ok_or_else(|| {
        Error::Other(format!(
            "cannot find a home folder for the configuration; set {}",
            env::CONFIG_DIR
        ))
    })
}

/// The profiles file and its contents.
pub struct ProfileStore {
    path: PathBuf,
    profiles: Vec<Profile>,
}

impl ProfileStore {
    pub fn open_default() -> Result<Self> {
        Self::open(config_dir()?.join(PROFILES_FILE))
    }

    /// Reads the file. A missing file is an empty store; a damaged one is an
    /// error with the parser's position, and the file is not touched.
    pub fn open(path: PathBuf) -> Result<Self> {
        if let Some(dir) = path.parent() {
            fsutil::warn_if_exposed(dir, 0o700);
        }
        fsutil::warn_if_exposed(&path, 0o600);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ProfileStore {
                    path,
                    profiles: Vec::new(),
                })
            }
            Err(e) => return Err(Error::io("reading", path, e)),
        };
        let profiles = parse_profiles(&bytes).map_err(|e| Error::DamagedProfiles {
            path: path.clone(),
            message: strip_position(&e.to_string()),
            line: e.line(),
            column: e.column(),
        })?;
        Ok(ProfileStore { path, profiles })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn profiles(&self) -> &[Profile] {
        &self.profiles
    }

    pub fn names(&self) -> Vec<String> {
        self.profiles.iter().map(|p| p.name.clone()).collect()
    }

    /// Finds a profile by name, ignoring case as the original does.
    pub fn find(&self, name: &str) -> Option<&Profile> {
        let wanted = name.to_lowercase();
        self.profiles
            .iter()
            .find(|p| p.name.to_lowercase() == wanted)
    }

    pub fn get(&self, name: &str) -> Result<&Profile> {
        self.find(name).ok_or_else(|| Error::ProfileNotFound {
            name: name.to_string(),
            available: self.names(),
        })
    }

    pub fn add(&mut self, profile: Profile) -> Result<()> {
        if let Some(existing) = self.find(&profile.name) {
            return Err(Error::InvalidInput(format!(
                "a profile named `{}` already exists: pick another name, or change it with \
                 `entratool config edit -p {}`",
                existing.name, existing.name
            )));
        }
        self.profiles.push(profile);
        Ok(())
    }

    /// Removes a profile by name (any case) and returns it.
    pub fn remove(&mut self, name: &str) -> Option<Profile> {
        let wanted = name.to_lowercase();
        let index = self
            .profiles
            .iter()
            .position(|p| p.name.to_lowercase() == wanted)?;
        Some(self.profiles.remove(index))
    }

    /// Replaces the profile named `old_name` (any case) in place, keeping its
    /// position in the file; adds `profile` at the end when none matches.
    pub fn replace(&mut self, old_name: &str, profile: Profile) {
        let wanted = old_name.to_lowercase();
        match self
            .profiles
            .iter_mut()
            .find(|p| p.name.to_lowercase() == wanted)
        {
            Some(slot) => *slot = profile,
            None => self.profiles.push(profile),
        }
    }

    /// Writes all profiles atomically (folder 0700, file 0600).
    pub fn save(&self) -> Result<()> {
        let mut json = serde_json::to_vec_pretty(&self.profiles)
            .map_err(|e| Error::Other(format!("cannot serialise the profiles: {e}")))?;
        json.push(b'\n');
        fsutil::write_atomic(&self.path, &json)
    }
}

/// Parses the profiles file: a JSON array of profiles. An empty file counts
/// as no profiles.
pub fn parse_profiles(bytes: &[u8]) -> std::result::Result<Vec<Profile>, serde_json::Error> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    // The original wrote UTF-8 with a byte-order mark on some platforms.
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    serde_json::from_slice(bytes)
}

/// serde_json appends " at line L column C" to its messages; the error
/// message prints the position itself.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_names_parse_in_every_spelling() {
        for spelling in [
            "ClientCredentials",
            "clientcredentials",
            "client-credentials",
            "CLIENT_CREDENTIALS",
        ] {
            assert_eq!(
                spelling.parse::<Flow>().unwrap(),
                Flow::ClientCredentials,
                "{spelling}"
            );
        }
        assert_eq!("device-code".parse::<Flow>().unwrap(), Flow::DeviceCode);
        assert!("password".parse::<Flow>().is_err());
    }

    #[test]
    fn scopes_split_on_commas_and_spaces() {
        assert_eq!(
            parse_scopes("a/.default, b  c,,a/.default"),
            vec!["a/.default".to_string(), "b".to_string(), "c".to_string()]
        );
        assert!(parse_scopes(" , ").is_empty());
    }

    #[test]
    fn guid_check_is_strict() {
        assert!(is_guid("11111111-2222-3333-4444-555555555555"));
        assert!(is_guid("ABCDEF01-2222-3333-4444-555555555555"));
        assert!(!is_guid("11111111222233334444555555555555"));
        assert!(!is_guid("{11111111-2222-3333-4444-555555555555}"));
        assert!(!is_guid("my-app"));
    }

    #[test]
    fn tenant_aliases_only_for_user_flows() {
        assert!(validate_tenant("common", Flow::DeviceCode).is_ok());
        assert!(validate_tenant("common", Flow::ClientCredentials).is_err());
        assert!(validate_tenant("contoso.onmicrosoft.com", Flow::ClientCredentials).is_ok());
        assert!(validate_tenant("contoso", Flow::ClientCredentials).is_err());
        assert!(validate_tenant("bad_domain.com", Flow::ClientCredentials).is_err());
    }

    #[test]
    fn resource_becomes_default_scope() {
        let mut profile = Profile::new("a".into(), "t.com".into(), "c".into());
        profile.resource = Some("api://my-api/".into());
        assert_eq!(
            profile.effective_scopes(),
            vec!["api://my-api/.default".to_string()]
        );
    }

    #[test]
    fn damaged_file_reports_position() {
        let error = parse_profiles(b"[\n  {\"name\": }\n]").unwrap_err();
        assert_eq!(error.line(), 2);
        assert!(error.column() > 0);
    }
}

#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    fn spell_with_separators(name: &str, upper: &[bool], separators: &[u8]) -> String {
        let mut spelled = String::new();
        for (i, c) in name.chars().enumerate() {
            match separators.get(i).copied().unwrap_or(0) % 4 {
                1 => spelled.push('-'),
                2 => spelled.push('_'),
                _ => {}
            }
            if upper.get(i).copied().unwrap_or(false) {
                spelled.extend(c.to_uppercase());
            } else {
                spelled.extend(c.to_lowercase());
            }
        }
        spelled
    }

    proptest! {
        #[test]
        fn parsed_scopes_are_clean_and_stable(input in "[a-zA-Z0-9:/._, \\t-]{0,80}") {
            let scopes = parse_scopes(&input);
            for scope in &scopes {
                prop_assert!(!scope.is_empty());
                prop_assert!(!scope.contains(',') && !scope.contains(char::is_whitespace));
            }
            let mut unique = scopes.clone();
            unique.dedup();
            unique.sort();
            unique.dedup();
            prop_assert_eq!(unique.len(), scopes.len());
            prop_assert_eq!(parse_scopes(&scopes.join(" ")), scopes.clone());
            prop_assert_eq!(parse_scopes(&scopes.join(",")), scopes);
        }

        #[test]
        fn flow_names_parse_in_any_spelling(
            index in 0usize..4,
            upper in proptest::collection::vec(any::<bool>(), 24),
            separators in proptest::collection::vec(any::<u8>(), 24),
        ) {
            let flow = Flow::ALL[index];
            let spelled = spell_with_separators(flow.as_str(), &upper, &separators);
            prop_assert_eq!(spelled.parse::<Flow>(), Ok(flow));
        }

        #[test]
        fn other_flow_names_are_rejected(name in "[a-zA-Z_-]{0,30}") {
            let known = Flow::ALL.iter().any(|f| normalise_enum_name(f.as_str()) == normalise_enum_name(&name));
            prop_assert_eq!(name.parse::<Flow>().is_ok(), known);
        }
    }
}
