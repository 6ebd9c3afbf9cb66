//! A local stand-in for Entra ID's v2.0 endpoints, strict where Entra is
//! strict, for the integration tests and for trying the tool out.
//!
//! It listens on 127.0.0.1 only, on a port the OS picks unless one is given,
//! responds with Entra's status codes and error shapes (`AADSTS` codes in
//! `error_codes` and `error_description`, `trace_id`, `correlation_id`,
//! `timestamp`) and records every request so tests can check what was sent.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};
use sha2::Digest;

pub const TENANT_ID: &str = "4a8b6c2d-1e3f-4a5b-8c7d-9e0f1a2b3c4d";
pub const TENANT_DOMAIN: &str = "contoso.onmicrosoft.com";
pub const CLIENT_ID: &str = "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0";
pub const CLIENT_SECRET: &str = "s3cr+t/value=with%odd~chars";
/// An app whose only secret has expired.
pub const EXPIRED_CLIENT_ID: &str = "1a2b3c4d-5e6f-4a1b-9c2d-3e4f5a6b7c8d";
pub const EXPIRED_CLIENT_SECRET: &str = "expired-secret-value";
pub const GRAPH_DEFAULT: &str = "https://graph.microsoft.com/.default";
/// A public client ("Allow public client flows" on, a "Mobile and desktop
/// applications" redirect of `http://localhost`), for the user flows.
pub const PUBLIC_CLIENT_ID: &str = "7c6d5e4f-3a2b-4c1d-8e9f-0a1b2c3d4e5f";
/// Registered for both apps: `http://localhost` with any port, as Entra
/// allows for loopback redirects.
pub const LOCALHOST_ANY_PORT: &str = "http://localhost";
/// Scopes Entra adds for OpenID Connect; they name no resource.
pub const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];

/// Resources (application ID URIs) that exist in the fake tenant.
pub const RESOURCES: [&str; 4] = [
    "https://graph.microsoft.com",
    "https://management.azure.com",
    "api://entratool-test",
    AKS_SERVER_APP,
];

/// Application ID of the "Azure Kubernetes Service AAD Server" app, the
/// resource of AKS clusters with Entra ID authentication.
pub const AKS_SERVER_APP: &str = "6dae42f8-4368-4678-94ff-3960e28e3630";

/// A registered secret of an app.
#[derive(Clone)]
pub struct AppSecret {
    pub value: String,
    pub expired: bool,
}

/// An app registration in the fake tenant.
#[derive(Clone)]
pub struct App {
    pub client_id: String,
    pub secrets: Vec<AppSecret>,
    /// DER certificates uploaded under Certificates & secrets; client
    /// assertions must be signed by one of their keys.
    pub certificates: Vec<Vec<u8>>,
    /// "Allow public client flows": the user flows need no secret, and
    /// sending one is an error (AADSTS700025).
    pub public_client: bool,
    /// Registered redirect URIs, compared as exact strings, except that
    /// `http://localhost` accepts any port.
    pub redirect_uris: Vec<String>,
}

/// The response of the fake sign-in page to an authorize request.
#[derive(Clone, Debug)]
pub enum AuthorizeOutcome {
    /// The person signs in and consents: redirect with a code.
    Approve,
    /// Redirect with `error` and an AADSTS `code` in the description.
    Deny {
        error: String,
        code: u64,
        description: String,
    },
}

/// The state of a device code.
#[derive(Clone, Debug, PartialEq)]
pub enum DeviceStatus {
    Pending,
    Approved,
    /// Declined: polls get this OAuth error.
    Declined(String),
}

#[derive(Clone, Debug)]
struct DeviceGrant {
    user_code: String,
    client_id: String,
    scopes: Vec<String>,
    created: Instant,
    status: DeviceStatus,
    /// The interval the client must keep, raised by 5 s on every slow_down.
    required_interval: Duration,
    polls: u32,
    last_poll: Option<Instant>,
}

#[derive(Clone, Debug)]
struct CodeGrant {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    scopes: Vec<String>,
    used: bool,
}

#[derive(Clone, Debug)]
struct RefreshGrant {
    client_id: String,
    scopes: Vec<String>,
    /// Every refresh token that descends from one sign-in shares a family;
    /// replaying a used token revokes the family.
    family: u64,
    used: bool,
}

/// Device flow settings; tests shorten them.
#[derive(Clone, Debug)]
pub struct DeviceSettings {
    /// `interval` sent to the client. Entra sends 5; 1 keeps tests fast.
    pub interval_secs: u64,
    /// `expires_in` sent to the client.
    pub expires_in_secs: u64,
    /// When set, the server treats codes as expired after this long,
    /// whatever `expires_in` was sent.
    pub server_expiry: Option<Duration>,
    /// Poll numbers (1-based) that get a `slow_down` response.
    pub slow_down_on_polls: Vec<u32>,
}

impl Default for DeviceSettings {
    fn default() -> Self {
        DeviceSettings {
            interval_secs: 1,
            expires_in_secs: 900,
            server_expiry: None,
            slow_down_on_polls: Vec::new(),
        }
    }
}

/// A federated identity credential of an app: Entra accepts a token from
/// `issuer` about `subject` for `audience` as the app's client assertion.
/// The test supplies the issuer's public key, since the server fetches no
/// keys from anywhere.
#[derive(Clone)]
pub struct FederatedCredential {
    pub client_id: String,
    pub issuer: String,
    pub subject: String,
    pub audience: String,
    pub public_key: rsa::RsaPublicKey,
}

/// The audience Entra's federated identity credentials use by default.
pub const FEDERATED_AUDIENCE: &str = "api://AzureADTokenExchange";

/// A request as the server received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub form: Vec<(String, String)>,
    pub received_at: Instant,
}

impl RecordedRequest {
    /// Returns the value of a form field, if sent exactly once.
    pub fn field(&self, name: &str) -> Option<&str> {
        let mut values = self.form.iter().filter(|(k, _)| k == name);
        let first = values.next()?;
        if values.next().is_some() {
            return None;
        }
        Some(first.1.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A response served instead of the normal one, for fault injection.
#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
    pub headers: Vec<(String, String)>,
    /// Delay before the response. With `never_answer` the connection is
    /// held open for this long and then dropped without a response.
    pub delay: Duration,
    pub never_answer: bool,
}

impl Canned {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<String>) -> Canned {
        Canned {
            status,
            content_type,
            body: body.into(),
            headers: Vec::new(),
            delay: Duration::ZERO,
            never_answer: false,
        }
    }

    /// Builds a response that never comes: the connection is accepted and
    /// held.
    pub fn hang() -> Canned {
        Canned {
            delay: Duration::from_secs(30),
            never_answer: true,
            ..Canned::new(200, "text/plain", "")
        }
    }

    pub fn with_header(mut self, name: &str, value: &str) -> Canned {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

struct State {
    base_url: String,
    apps: Mutex<Vec<App>>,
    requests: Mutex<Vec<RecordedRequest>>,
    canned: Mutex<VecDeque<Canned>>,
    token_lifetime_secs: AtomicU64,
    expires_in_as_string: AtomicBool,
    issued: AtomicU64,
    /// Seconds added to the server's clock, to simulate clock skew.
    clock_offset_secs: std::sync::atomic::AtomicI64,
    /// `jti` values of accepted client assertions, to reject replays.
    seen_jtis: Mutex<std::collections::HashSet<String>>,
    device: Mutex<DeviceSettings>,
    device_grants: Mutex<HashMap<String, DeviceGrant>>,
    authorize_outcome: Mutex<AuthorizeOutcome>,
    codes: Mutex<HashMap<String, CodeGrant>>,
    refresh_tokens: Mutex<HashMap<String, RefreshGrant>>,
    revoked_families: Mutex<Vec<u64>>,
    refresh_tokens_expired: AtomicBool,
    families: AtomicU64,
    federated: Mutex<Vec<FederatedCredential>>,
}

/// The running server. Dropping it stops the listener.
pub struct FakeEntra {
    state: Arc<State>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    port: u16,
}

impl FakeEntra {
    /// Starts on a free port of 127.0.0.1.
    pub fn start() -> FakeEntra {
        FakeEntra::start_on(0)
    }

    pub fn start_on(port: u16) -> FakeEntra {
        let server = Arc::new(
            tiny_http::Server::http(("127.0.0.1", port)).expect("bind the fake Entra server"),
        );
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let state = Arc::new(State {
            base_url: format!("http://127.0.0.1:{port}"),
            apps: Mutex::new(vec![
                App {
                    client_id: CLIENT_ID.to_string(),
                    secrets: vec![AppSecret {
                        value: CLIENT_SECRET.to_string(),
                        expired: false,
                    }],
                    certificates: Vec::new(),
                    public_client: false,
                    redirect_uris: vec![LOCALHOST_ANY_PORT.to_string()],
                },
                App {
                    client_id: EXPIRED_CLIENT_ID.to_string(),
                    secrets: vec![AppSecret {
                        value: EXPIRED_CLIENT_SECRET.to_string(),
                        expired: true,
                    }],
                    certificates: Vec::new(),
                    public_client: false,
                    redirect_uris: Vec::new(),
                },
                App {
                    client_id: PUBLIC_CLIENT_ID.to_string(),
                    secrets: Vec::new(),
                    certificates: Vec::new(),
                    public_client: true,
                    redirect_uris: vec![LOCALHOST_ANY_PORT.to_string()],
                },
            ]),
            requests: Mutex::new(Vec::new()),
            canned: Mutex::new(VecDeque::new()),
            token_lifetime_secs: AtomicU64::new(3599),
            expires_in_as_string: AtomicBool::new(false),
            issued: AtomicU64::new(0),
            clock_offset_secs: std::sync::atomic::AtomicI64::new(0),
            seen_jtis: Mutex::new(std::collections::HashSet::new()),
            device: Mutex::new(DeviceSettings::default()),
            device_grants: Mutex::new(HashMap::new()),
            authorize_outcome: Mutex::new(AuthorizeOutcome::Approve),
            codes: Mutex::new(HashMap::new()),
            refresh_tokens: Mutex::new(HashMap::new()),
            revoked_families: Mutex::new(Vec::new()),
            refresh_tokens_expired: AtomicBool::new(false),
            families: AtomicU64::new(0),
            federated: Mutex::new(Vec::new()),
        });
        let thread = {
            let server = Arc::clone(&server);
            let state = Arc::clone(&state);
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    let state = Arc::clone(&state);
                    std::thread::spawn(move || handle(&state, request));
                }
            })
        };
        FakeEntra {
            state,
            server,
            thread: Some(thread),
            port,
        }
    }

    /// Returns the authority URL to give the tool, such as
    /// `http://127.0.0.1:41234`.
    pub fn url(&self) -> String {
        self.state.base_url.clone()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    /// Requests that reached a token endpoint.
    pub fn token_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/oauth2/v2.0/token"))
            .collect()
    }

    /// Number of access tokens issued so far.
    pub fn tokens_issued(&self) -> u64 {
        self.state.issued.load(Ordering::SeqCst)
    }

    /// Queues a response for the next request, whatever its path.
    pub fn push_canned(&self, canned: Canned) {
        self.state.canned.lock().unwrap().push_back(canned);
    }

    pub fn set_token_lifetime(&self, seconds: u64) {
        self.state
            .token_lifetime_secs
            .store(seconds, Ordering::SeqCst);
    }

    /// Sends `expires_in` as a string, as some older endpoints do.
    pub fn send_expires_in_as_string(&self, yes: bool) {
        self.state.expires_in_as_string.store(yes, Ordering::SeqCst);
    }

    /// Moves the server's clock by `seconds` (negative is the past), as a
    /// skewed clock between client and server would.
    pub fn set_clock_offset(&self, seconds: i64) {
        self.state
            .clock_offset_secs
            .store(seconds, Ordering::SeqCst);
    }

    pub fn add_app(&self, app: App) {
        self.state.apps.lock().unwrap().push(app);
    }

    /// Registers a federated identity credential on an existing app.
    pub fn add_federated_credential(&self, credential: FederatedCredential) {
        self.state.federated.lock().unwrap().push(credential);
    }

    /// Returns the `client_assertion` values of the token requests, in order.
    pub fn client_assertions(&self) -> Vec<String> {
        self.token_requests()
            .iter()
            .filter_map(|r| r.field("client_assertion").map(str::to_string))
            .collect()
    }

    /// Changes the device flow settings for codes issued from now on.
    pub fn set_device_settings(&self, settings: DeviceSettings) {
        *self.state.device.lock().unwrap() = settings;
    }

    /// Approves the device code with this user code, as a person does on the
    /// verification page. Returns false when no such code is pending.
    pub fn approve_device_code(&self, user_code: &str) -> bool {
        self.set_device_status(user_code, DeviceStatus::Approved)
    }

    /// Declines the device code; the next poll gets `error`
    /// (`authorization_declined` or `access_denied`).
    pub fn decline_device_code(&self, user_code: &str, error: &str) -> bool {
        self.set_device_status(user_code, DeviceStatus::Declined(error.to_string()))
    }

    fn set_device_status(&self, user_code: &str, status: DeviceStatus) -> bool {
        let mut grants = self.state.device_grants.lock().unwrap();
        match grants.values_mut().find(|g| g.user_code == user_code) {
            Some(grant) if grant.status == DeviceStatus::Pending => {
                grant.status = status;
                true
            }
            _ => false,
        }
    }

    /// Token requests with the device code grant, in arrival order.
    pub fn device_polls(&self) -> Vec<RecordedRequest> {
        self.token_requests()
            .into_iter()
            .filter(|r| r.field("grant_type") == Some(DEVICE_CODE_GRANT))
            .collect()
    }

    /// Requests that reached an authorize endpoint.
    pub fn authorize_requests(&self) -> Vec<RecordedRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.path.ends_with("/oauth2/v2.0/authorize"))
            .collect()
    }

    /// Sets how the sign-in page answers the next authorize requests.
    pub fn set_authorize_outcome(&self, outcome: AuthorizeOutcome) {
        *self.state.authorize_outcome.lock().unwrap() = outcome;
    }

    /// Makes every refresh token fail as expired (AADSTS700082).
    pub fn expire_refresh_tokens(&self) {
        self.state
            .refresh_tokens_expired
            .store(true, Ordering::SeqCst);
    }
}

pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

impl RecordedRequest {
    /// Returns the value of a query parameter, if sent exactly once.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let mut values = form_urlencoded::parse(self.query.as_bytes())
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned());
        let first = values.next()?;
        if values.next().is_some() {
            return None;
        }
        Some(first)
    }
}

impl Drop for FakeEntra {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

struct Reply {
    status: u16,
    content_type: &'static str,
    body: String,
    headers: Vec<(String, String)>,
}

impl Reply {
    fn html(status: u16, body: &str) -> Reply {
        Reply {
            status,
            content_type: "text/html; charset=utf-8",
            body: format!("<!doctype html><html><body>{body}</body></html>"),
            headers: Vec::new(),
        }
    }

    fn redirect(location: String) -> Reply {
        Reply {
            status: 302,
            content_type: "text/html; charset=utf-8",
            body: String::new(),
            headers: vec![("Location".to_string(), location)],
        }
    }

    fn json(status: u16, value: Value) -> Reply {
        Reply {
            status,
            content_type: "application/json; charset=utf-8",
            body: value.to_string(),
            headers: Vec::new(),
        }
    }
}

fn handle(state: &State, mut request: tiny_http::Request) {
    let method = request.method().as_str().to_uppercase();
    let url = request.url().to_string();
    let (path, query) = match url.split_once('?') {
        Some((path, query)) => (path.to_string(), query.to_string()),
        None => (url.clone(), String::new()),
    };
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_string(),
                h.value.as_str().to_string(),
            )
        })
        .collect();
    let mut body = String::new();
    let _ = request.as_reader().read_to_string(&mut body);
    let is_form = headers.iter().any(|(k, v)| {
        k.eq_ignore_ascii_case("content-type")
            && v.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
    });
    let form: Vec<(String, String)> = if is_form {
        form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect()
    } else {
        Vec::new()
    };
    let recorded = RecordedRequest {
        method,
        path,
        query,
        headers,
        body,
        form,
        received_at: Instant::now(),
    };
    state.requests.lock().unwrap().push(recorded.clone());

    let canned = state.canned.lock().unwrap().pop_front();
    let reply = match canned {
        Some(canned) => {
            std::thread::sleep(canned.delay);
            if canned.never_answer {
                return;
            }
            Reply {
                status: canned.status,
                content_type: canned.content_type,
                body: canned.body,
                headers: canned.headers,
            }
        }
        None => route(state, &recorded),
    };

    let mut response = tiny_http::Response::from_string(reply.body)
        .with_status_code(reply.status)
        .with_header(header("Content-Type", reply.content_type))
        .with_header(header("Cache-Control", "no-store, no-cache"));
    for (name, value) in &reply.headers {
        response.add_header(header(name, value));
    }
    let _ = request.respond(response);
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("valid header")
}

fn route(state: &State, request: &RecordedRequest) -> Reply {
    let segments: Vec<&str> = request.path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        [tenant, "oauth2", "v2.0", "token"] => token_endpoint(state, tenant, request),
        [tenant, "oauth2", "v2.0", "devicecode"] => device_code_endpoint(state, tenant, request),
        [tenant, "oauth2", "v2.0", "authorize"] => authorize_endpoint(state, tenant, request),
        ["devicelogin"] => Reply::html(200, "<h1>Enter code</h1>"),
        [tenant, "v2.0", ".well-known", "openid-configuration"] => discovery(state, tenant),
        _ => Reply::json(
            404,
            json!({"error": "not_found", "error_description": format!("no endpoint at {}", request.path)}),
        ),
    }
}

fn tenant_known(tenant: &str) -> bool {
    tenant.eq_ignore_ascii_case(TENANT_ID) || tenant.eq_ignore_ascii_case(TENANT_DOMAIN)
}

/// Builds an error body the way Entra does: the AADSTS code leads the
/// description, and trace and correlation IDs follow on their own lines.
fn entra_error(state: &State, status: u16, error: &str, code: u64, message: &str) -> Reply {
    let trace_id = uuid::Uuid::new_v4().to_string();
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let timestamp = "2026-12-04 12:00:00Z";
    Reply::json(
        status,
        json!({
            "error": error,
            "error_description": format!(
                "AADSTS{code}: {message}\r\nTrace ID: {trace_id}\r\nCorrelation ID: {correlation_id}\r\nTimestamp: {timestamp}"
            ),
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": format!("{}/error?code={code}", state.base_url),
        }),
    )
}

fn missing_parameter(state: &State, name: &str) -> Reply {
    entra_error(
        state,
        400,
        "invalid_request",
        900144,
        &format!("The request body must contain the following parameter: '{name}'."),
    )
}

fn token_endpoint(state: &State, tenant: &str, request: &RecordedRequest) -> Reply {
    // The aliases name no tenant, so an app cannot sign in as itself there.
    let user_grant = request
        .field("grant_type")
        .is_some_and(|g| g != "client_credentials");
    let alias = ["common", "organizations", "consumers"].contains(&tenant);
    let tenant_accepted = tenant_known(tenant) || (alias && user_grant);
    if !tenant_accepted {
        return entra_error(
            state,
            400,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud."),
        );
    }
    if request.method != "POST" {
        return entra_error(
            state,
            405,
            "invalid_request",
            900561,
            "The endpoint only accepts POST requests.",
        );
    }
    let Some(grant_type) = request.field("grant_type") else {
        return missing_parameter(state, "grant_type");
    };
    let (client_id, basic_secret) = match basic_credentials(request) {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (request.field("client_id").map(str::to_string), None),
    };
    let Some(client_id) = client_id else {
        return missing_parameter(state, "client_id");
    };
    let app = state
        .apps
        .lock()
        .unwrap()
        .iter()
        .find(|a| a.client_id.eq_ignore_ascii_case(&client_id))
        .cloned();
    let Some(app) = app else {
        return entra_error(
            state,
            400,
            "unauthorized_client",
            700016,
            &format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."),
        );
    };

    match grant_type {
        "client_credentials" => client_credentials(state, &app, request, basic_secret),
        "authorization_code" => authorization_code_grant(state, &app, request, basic_secret),
        DEVICE_CODE_GRANT => device_code_grant(state, &app, request, basic_secret),
        "refresh_token" => refresh_token_grant(state, &app, request, basic_secret),
        other => entra_error(
            state,
            400,
            "unsupported_grant_type",
            70003,
            &format!("The app requested an unsupported grant type '{other}'."),
        ),
    }
}

/// Decodes `Authorization: Basic`, where RFC 6749 section 2.3.1 has the ID
/// and secret form-urlencoded before base64.
fn basic_credentials(request: &RecordedRequest) -> Option<(String, String)> {
    let value = request.header("authorization")?;
    let encoded = value.strip_prefix("Basic ")?;
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let unescape = |s: &str| -> String {
        form_urlencoded::parse(format!("x={s}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Some((unescape(id), unescape(secret)))
}

fn client_credentials(
    state: &State,
    app: &App,
    request: &RecordedRequest,
    basic_secret: Option<String>,
) -> Reply {
    if request.field("client_assertion").is_some()
        || request.field("client_assertion_type").is_some()
    {
        // Entra separates the two kinds by the issuer: the app itself for
        // a certificate assertion, another identity provider for a federated
        // token.
        let issuer = request
            .field("client_assertion")
            .and_then(|jwt| jwt.split('.').nth(1))
            .and_then(|claims| URL_SAFE_NO_PAD.decode(claims).ok())
            .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
            .and_then(|claims| claims["iss"].as_str().map(str::to_string));
        let verified = match issuer {
            Some(issuer) if !issuer.eq_ignore_ascii_case(&app.client_id) => {
                verify_federated_assertion(state, app, request, &issuer)
            }
            _ => verify_client_assertion(state, app, request),
        };
        if let Err(reply) = verified {
            return reply;
        }
        return scoped_token(state, app, request);
    }
    let secret = basic_secret.or_else(|| request.field("client_secret").map(str::to_string));
    let Some(secret) = secret else {
        return entra_error(
            state,
            401,
            "invalid_client",
            7000216,
            "'client_assertion', 'client_secret' or 'request' is required for the 'client_credentials' grant type.",
        );
    };
    match app.secrets.iter().find(|s| s.value == secret) {
        None => {
            return entra_error(
                state,
                401,
                "invalid_client",
                7000215,
                &format!("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{}'.", app.client_id),
            )
        }
        Some(found) if found.expired => {
            return entra_error(
                state,
                401,
                "invalid_client",
                7000222,
                &format!("The provided client secret keys for app '{}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.", app.client_id),
            )
        }
        Some(_) => {}
    }
    scoped_token(state, app, request)
}

/// Checks the `scope` of a client credentials request and issues the token.
fn scoped_token(state: &State, app: &App, request: &RecordedRequest) -> Reply {
    let Some(scope) = request.field("scope").filter(|s| !s.trim().is_empty()) else {
        return missing_parameter(state, "scope");
    };
    let scopes: Vec<&str> = scope.split_whitespace().collect();
    let defaults: Vec<&str> = scopes
        .iter()
        .copied()
        .filter(|s| s.ends_with("/.default"))
        .collect();
    if defaults.is_empty() {
        return entra_error(
            state,
            400,
            "invalid_scope",
            70011,
            &format!("The provided request must include a 'scope' input parameter. The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."),
        );
    }
    if scopes.len() > 1 {
        return entra_error(
            state,
            400,
            "invalid_scope",
            1002012,
            &format!("The provided value for scope {scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)."),
        );
    }
    let resource = defaults[0].trim_end_matches("/.default");
    if !RESOURCES.iter().any(|r| r.eq_ignore_ascii_case(resource)) {
        return entra_error(
            state,
            400,
            "invalid_resource",
            500011,
            &format!("The resource principal named {resource} was not found in the tenant named {TENANT_DOMAIN}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant."),
        );
    }
    issue_token(state, resource, &app.client_id, None)
}

/// Issues a JWT-shaped access token. The signature is random bytes: the
/// tool never verifies access tokens, and neither does an Entra client.
fn issue_token(state: &State, audience: &str, client_id: &str, scope: Option<&str>) -> Reply {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let lifetime = state.token_lifetime_secs.load(Ordering::SeqCst);
    let serial = state.issued.fetch_add(1, Ordering::SeqCst) + 1;
    let header = json!({"typ": "JWT", "alg": "RS256", "kid": "fake-entra-key"});
    let claims = json!({
        "aud": audience,
        "iss": format!("https://sts.windows.net/{TENANT_ID}/"),
        "iat": now,
        "nbf": now,
        "exp": now + lifetime,
        "appid": client_id,
        "azp": client_id,
        "tid": TENANT_ID,
        "oid": "9b1c3f6e-2d4a-4e8b-a1c7-5f3e2d1c0b9a",
        "sub": "9b1c3f6e-2d4a-4e8b-a1c7-5f3e2d1c0b9a",
        "roles": ["Application.Read.All"],
        "uti": format!("fake-{serial}"),
        "ver": "2.0",
    });
    let signature = [
        *uuid::Uuid::new_v4().as_bytes(),
        *uuid::Uuid::new_v4().as_bytes(),
    ]
    .concat();
    let access_token = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    );
    let expires_in = if state.expires_in_as_string.load(Ordering::SeqCst) {
        Value::String(lifetime.to_string())
    } else {
        json!(lifetime)
    };
    let mut body = json!({
        "token_type": "Bearer",
        "expires_in": expires_in,
        "ext_expires_in": expires_in,
        "access_token": access_token,
    });
    if let Some(scope) = scope {
        body["scope"] = json!(scope);
    }
    Reply::json(200, body)
}

fn discovery(state: &State, tenant: &str) -> Reply {
    if !tenant_known(tenant) && !["common", "organizations", "consumers"].contains(&tenant) {
        return entra_error(
            state,
            400,
            "invalid_tenant",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    let base = format!("{}/{tenant}", state.base_url);
    Reply::json(
        200,
        json!({
            "issuer": format!("{}/{TENANT_ID}/v2.0", state.base_url),
            "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
            "token_endpoint": format!("{base}/oauth2/v2.0/token"),
            "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
            "jwks_uri": format!("{base}/discovery/v2.0/keys"),
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "grant_types_supported": ["authorization_code", "client_credentials", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "code_challenge_methods_supported": ["S256"],
        }),
    )
}

/// Decodes the claims of a JWT without checking anything.
pub fn decode_claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT has three parts");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url claims"))
        .expect("JSON claims")
}

/// Parses form fields into a map, for assertions.
pub fn form_map(request: &RecordedRequest) -> HashMap<String, String> {
    request.form.iter().cloned().collect()
}

/// Seconds since the epoch on the server's clock, with the test's skew.
fn server_now(state: &State) -> i64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    now + state.clock_offset_secs.load(Ordering::SeqCst)
}

/// Maximum lifetime of a client assertion (`exp` minus now) that is accepted.
const MAX_ASSERTION_LIFETIME_SECS: i64 = 24 * 60 * 60;

fn assertion_rejected(state: &State, message: &str) -> Reply {
    entra_error(state, 401, "invalid_client", 700027, message)
}

fn assertion_time_rejected(state: &State, message: &str) -> Reply {
    entra_error(state, 401, "invalid_client", 700024, message)
}

/// Verifies a client assertion the way Entra does for certificate
/// credentials: the jwt-bearer type, a registered certificate named by
/// `x5t#S256` (or `x5t`), an RS256 or PS256 signature by its key, `aud` equal
/// to this token endpoint, `iss` = `sub` = client ID, a current and short
/// lifetime, and a `jti` never seen before.
fn verify_client_assertion(
    state: &State,
    app: &App,
    request: &RecordedRequest,
) -> Result<(), Reply> {
    use rsa::pkcs8::DecodePublicKey;
    use rsa::signature::Verifier;
    use sha2::{Digest, Sha256};
    use x509_cert::der::{Decode, Encode};

    match request.field("client_assertion_type") {
        None => return Err(missing_parameter(state, "client_assertion_type")),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer") => {}
        Some(other) => {
            return Err(entra_error(
                state,
                400,
                "invalid_request",
                50027,
                &format!("Invalid client_assertion_type '{other}'. Expected 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'."),
            ))
        }
    }
    let Some(assertion) = request.field("client_assertion") else {
        return Err(missing_parameter(state, "client_assertion"));
    };
    let parts: Vec<&str> = assertion.split('.').collect();
    let decode_json = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
    };
    let (Some(header), Some(claims), Some(signature)) = (
        parts.first().and_then(|p| decode_json(p)),
        parts.get(1).and_then(|p| decode_json(p)),
        parts.get(2).and_then(|p| URL_SAFE_NO_PAD.decode(p).ok()),
    ) else {
        return Err(assertion_rejected(
            state,
            "Client assertion is not a valid JWT.",
        ));
    };
    if parts.len() != 3 {
        return Err(assertion_rejected(
            state,
            "Client assertion is not a valid JWT.",
        ));
    }
    if header["typ"] != "JWT" {
        return Err(assertion_rejected(
            state,
            "Client assertion header 'typ' must be 'JWT'.",
        ));
    }

    let certificate = match (header["x5t#S256"].as_str(), header["x5t"].as_str()) {
        (None, None) => {
            return Err(assertion_rejected(
                state,
                "Client assertion header has neither 'x5t#S256' nor 'x5t', so the signing certificate cannot be found.",
            ))
        }
        (s256, sha1) => {
            let matches = |der: &&Vec<u8>| {
                let s256_ok = s256.is_none_or(|v| v == URL_SAFE_NO_PAD.encode(Sha256::digest(der)));
                let sha1_ok = sha1.is_none_or(|v| v == URL_SAFE_NO_PAD.encode(sha1::Sha1::digest(der)));
                s256_ok && sha1_ok
            };
            match app.certificates.iter().find(matches) {
                Some(der) => der.clone(),
                None => {
                    return Err(assertion_rejected(
                        state,
                        &format!(
                            "The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '{}']",
                            s256.or(sha1).unwrap_or_default()
                        ),
                    ))
                }
            }
        }
    };
    if let Some(x5c) = header.get("x5c") {
        let leaf = x5c
            .as_array()
            .and_then(|chain| chain.first())
            .and_then(Value::as_str)
            .and_then(|b64| STANDARD.decode(b64).ok());
        if leaf.as_deref() != Some(certificate.as_slice()) {
            return Err(assertion_rejected(
                state,
                "The first certificate in the 'x5c' header is not the one named by 'x5t#S256'.",
            ));
        }
    }

    let parsed = x509_cert::Certificate::from_der(&certificate).expect("registered certificate");
    let spki = parsed
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .expect("encodable public key");
    let public = rsa::RsaPublicKey::from_public_key_der(&spki).expect("an RSA certificate");
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    let verified = match header["alg"].as_str() {
        Some("RS256") => rsa::pkcs1v15::Signature::try_from(signature.as_slice())
            .ok()
            .is_some_and(|sig| {
                rsa::pkcs1v15::VerifyingKey::<Sha256>::new(public)
                    .verify(signing_input.as_bytes(), &sig)
                    .is_ok()
            }),
        Some("PS256") => rsa::pss::Signature::try_from(signature.as_slice())
            .ok()
            .is_some_and(|sig| {
                rsa::pss::VerifyingKey::<Sha256>::new(public)
                    .verify(signing_input.as_bytes(), &sig)
                    .is_ok()
            }),
        other => {
            return Err(assertion_rejected(
                state,
                &format!(
                    "Client assertion algorithm {other:?} is not supported; use RS256 or PS256."
                ),
            ))
        }
    };
    if !verified {
        return Err(assertion_rejected(
            state,
            "Client assertion failed signature validation.",
        ));
    }

    let endpoint = format!("{}{}", state.base_url, request.path);
    if claims["aud"] != endpoint.as_str() {
        return Err(assertion_rejected(
            state,
            &format!(
                "Client assertion audience claim {} does not match the token endpoint '{endpoint}'.",
                claims["aud"]
            ),
        ));
    }
    if claims["iss"] != app.client_id.as_str() || claims["sub"] != app.client_id.as_str() {
        return Err(assertion_rejected(
            state,
            &format!(
                "Client assertion 'iss' ({}) and 'sub' ({}) must both be the client ID '{}'.",
                claims["iss"], claims["sub"], app.client_id
            ),
        ));
    }
    let now = server_now(state);
    let (Some(exp), Some(nbf)) = (claims["exp"].as_i64(), claims["nbf"].as_i64()) else {
        return Err(assertion_rejected(
            state,
            "Client assertion must contain numeric 'exp' and 'nbf' claims.",
        ));
    };
    if exp <= now || nbf > now {
        return Err(assertion_time_rejected(
            state,
            &format!("Client assertion is not within its valid time range. Current time: {now}, assertion valid from {nbf}, expiry time of assertion {exp}."),
        ));
    }
    if exp - now > MAX_ASSERTION_LIFETIME_SECS {
        return Err(assertion_time_rejected(
            state,
            &format!("Client assertion lifetime is too long: it expires at {exp}, more than a day after {now}."),
        ));
    }
    let Some(jti) = claims["jti"].as_str().filter(|j| !j.is_empty()) else {
        return Err(assertion_rejected(
            state,
            "Client assertion must contain a 'jti' claim.",
        ));
    };
    if !state.seen_jtis.lock().unwrap().insert(jti.to_string()) {
        return Err(assertion_rejected(
            state,
            &format!("Client assertion with jti '{jti}' was already used; a client assertion may be used only once."),
        ));
    }
    Ok(())
}

fn find_app(state: &State, client_id: &str) -> Option<App> {
    state
        .apps
        .lock()
        .unwrap()
        .iter()
        .find(|a| a.client_id.eq_ignore_ascii_case(client_id))
        .cloned()
}

/// True when `redirect_uri` is registered: an exact string match, or
/// `http://localhost:PORT` against a registered `http://localhost`.
fn redirect_registered(app: &App, redirect_uri: &str) -> bool {
    app.redirect_uris.iter().any(|registered| {
        if registered == redirect_uri {
            return true;
        }
        registered == LOCALHOST_ANY_PORT
            && redirect_uri
                .strip_prefix("http://localhost:")
                .is_some_and(|port| !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()))
    })
}

fn random_value(prefix: &str) -> String {
    format!(
        "{prefix}{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// Splits a scope list into the resource it names and the permissions on it.
/// Bare names (`User.Read`) and the OIDC scopes belong to Microsoft Graph;
/// `.default` stands for the app's consented permission, `User.Read` here.
/// Returns the unknown resource as the error.
fn resolve_user_scopes(scopes: &[String]) -> Result<(String, Vec<String>), String> {
    let mut resource: Option<String> = None;
    let mut permissions = Vec::new();
    for scope in scopes {
        if OIDC_SCOPES.contains(&scope.to_ascii_lowercase().as_str()) {
            continue;
        }
        let (owner, permission) = match scope.rsplit_once('/') {
            Some((owner, permission)) if owner.contains("://") => {
                (owner.to_string(), permission.to_string())
            }
            _ => (RESOURCES[0].to_string(), scope.clone()),
        };
        if !RESOURCES.iter().any(|r| r.eq_ignore_ascii_case(&owner)) {
            return Err(owner);
        }
        resource.get_or_insert(owner);
        let permission = if permission == ".default" {
            "User.Read".to_string()
        } else {
            permission
        };
        if !permissions.contains(&permission) {
            permissions.push(permission);
        }
    }
    let resource = resource.unwrap_or_else(|| RESOURCES[0].to_string());
    if permissions.is_empty() {
        permissions.push("User.Read".to_string());
    }
    Ok((resource, permissions))
}

/// Answers an authorize request as the sign-in page does once the person has
/// signed in. Errors that Entra cannot send back safely (unknown app,
/// unregistered redirect URI) are shown as a page, and the rest go to the
/// redirect URI.
fn authorize_endpoint(state: &State, tenant: &str, request: &RecordedRequest) -> Reply {
    let page = |code: u64, message: String| {
        Reply::html(
            400,
            &format!("<h1>Sign in</h1><p>AADSTS{code}: {message}</p>"),
        )
    };
    if !tenant_known(tenant) && !["common", "organizations", "consumers"].contains(&tenant) {
        return page(90002, format!("Tenant '{tenant}' not found."));
    }
    let Some(client_id) = request.query_param("client_id") else {
        return page(
            900144,
            "The request body must contain the following parameter: 'client_id'.".into(),
        );
    };
    let Some(app) = find_app(state, &client_id) else {
        return page(700016, format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."));
    };
    let Some(redirect_uri) = request.query_param("redirect_uri") else {
        return page(
            900144,
            "The request body must contain the following parameter: 'redirect_uri'.".into(),
        );
    };
    if !redirect_registered(&app, &redirect_uri) {
        return page(50011, format!("The redirect URI '{redirect_uri}' specified in the request does not match the redirect URIs configured for the application '{client_id}'."));
    }
    let state_param = request.query_param("state");
    let redirect_with = |params: &[(&str, &str)]| {
        let mut serializer = form_urlencoded::Serializer::new(String::new());
        for (key, value) in params {
            serializer.append_pair(key, value);
        }
        if let Some(value) = &state_param {
            serializer.append_pair("state", value);
        }
        Reply::redirect(format!("{redirect_uri}?{}", serializer.finish()))
    };
    let deny = |error: &str, code: u64, message: &str| {
        redirect_with(&[
            ("error", error),
            ("error_description", &format!("AADSTS{code}: {message}")),
        ])
    };
    if state_param.as_deref().is_none_or(str::is_empty) {
        return deny(
            "invalid_request",
            900144,
            "This server requires a 'state' parameter.",
        );
    }
    if request.query_param("response_type").as_deref() != Some("code") {
        return deny(
            "unsupported_response_type",
            700054,
            "response_type must be 'code'.",
        );
    }
    let Some(challenge) = request
        .query_param("code_challenge")
        .filter(|c| !c.is_empty())
    else {
        return deny(
            "invalid_request",
            9002325,
            "Proof Key for Code Exchange is required.",
        );
    };
    if request.query_param("code_challenge_method").as_deref() != Some("S256") {
        return deny(
            "invalid_request",
            5000,
            "code_challenge_method must be S256.",
        );
    }
    let scopes: Vec<String> = request
        .query_param("scope")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if scopes.is_empty() {
        return deny(
            "invalid_request",
            900144,
            "The request must contain a 'scope' parameter.",
        );
    }
    if let Err(resource) = resolve_user_scopes(&scopes) {
        return deny("invalid_resource", 500011, &format!("The resource principal named {resource} was not found in the tenant named {TENANT_DOMAIN}."));
    }
    let outcome = state.authorize_outcome.lock().unwrap().clone();
    match outcome {
        AuthorizeOutcome::Deny {
            error,
            code,
            description,
        } => deny(&error, code, &description),
        AuthorizeOutcome::Approve => {
            let code = random_value("0.fake-code-");
            state.codes.lock().unwrap().insert(
                code.clone(),
                CodeGrant {
                    client_id: app.client_id.clone(),
                    redirect_uri: redirect_uri.clone(),
                    code_challenge: challenge,
                    scopes,
                    used: false,
                },
            );
            redirect_with(&[("code", &code)])
        }
    }
}

/// Checks client authentication for the user grants: a public client must
/// send no credential, a confidential one a valid secret or client assertion.
fn check_user_client(
    state: &State,
    app: &App,
    request: &RecordedRequest,
    basic_secret: Option<String>,
) -> Option<Reply> {
    let secret = basic_secret.or_else(|| request.field("client_secret").map(str::to_string));
    let assertion = request.field("client_assertion").is_some()
        || request.field("client_assertion_type").is_some();
    if app.public_client {
        let presented = secret.is_some() || assertion;
        return presented.then(|| {
            entra_error(
                state,
                401,
                "invalid_client",
                700025,
                "Client is public so neither 'client_assertion' nor 'client_secret' should be presented.",
            )
        });
    }
    if assertion {
        return verify_client_assertion(state, app, request).err();
    }
    let Some(secret) = secret else {
        return Some(entra_error(
            state,
            401,
            "invalid_client",
            7000218,
            "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        ));
    };
    match app.secrets.iter().find(|s| s.value == secret) {
        None => Some(entra_error(
            state,
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.",
        )),
        Some(found) if found.expired => Some(entra_error(
            state,
            401,
            "invalid_client",
            7000222,
            "The provided client secret keys are expired.",
        )),
        Some(_) => None,
    }
}

fn authorization_code_grant(
    state: &State,
    app: &App,
    request: &RecordedRequest,
    basic_secret: Option<String>,
) -> Reply {
    if let Some(rejection) = check_user_client(state, app, request, basic_secret) {
        return rejection;
    }
    let Some(code) = request.field("code") else {
        return missing_parameter(state, "code");
    };
    let Some(redirect_uri) = request.field("redirect_uri") else {
        return missing_parameter(state, "redirect_uri");
    };
    let Some(verifier) = request.field("code_verifier") else {
        return missing_parameter(state, "code_verifier");
    };
    let grant = {
        let mut codes = state.codes.lock().unwrap();
        let Some(grant) = codes.get_mut(code) else {
            return entra_error(
                state,
                400,
                "invalid_grant",
                9002313,
                "Invalid request. Request is malformed or invalid.",
            );
        };
        if grant.used {
            return entra_error(state, 400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.");
        }
        // A code is spent by its first redemption attempt, valid or not.
        grant.used = true;
        grant.clone()
    };
    if !grant.client_id.eq_ignore_ascii_case(&app.client_id) {
        return entra_error(
            state,
            400,
            "invalid_grant",
            70000,
            "The code was issued to another client.",
        );
    }
    if grant.redirect_uri != redirect_uri {
        return entra_error(state, 400, "invalid_grant", 70000, &format!("The provided value for 'redirect_uri' ('{redirect_uri}') does not exactly match the one used to obtain the authorization code."));
    }
    let computed = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    if computed != grant.code_challenge {
        return entra_error(state, 400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.");
    }
    issue_user_tokens(state, &app.client_id, &grant.scopes, None)
}

fn device_code_endpoint(state: &State, tenant: &str, request: &RecordedRequest) -> Reply {
    if !tenant_known(tenant) && !["common", "organizations", "consumers"].contains(&tenant) {
        return entra_error(
            state,
            400,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    let Some(client_id) = request.field("client_id") else {
        return missing_parameter(state, "client_id");
    };
    let Some(app) = find_app(state, client_id) else {
        return entra_error(state, 400, "unauthorized_client", 700016, &format!("Application with identifier '{client_id}' was not found in the directory '{tenant}'."));
    };
    let scopes: Vec<String> = request
        .field("scope")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    if scopes.is_empty() {
        return missing_parameter(state, "scope");
    }
    if let Err(resource) = resolve_user_scopes(&scopes) {
        return entra_error(state, 400, "invalid_resource", 500011, &format!("The resource principal named {resource} was not found in the tenant named {TENANT_DOMAIN}."));
    }
    let settings = state.device.lock().unwrap().clone();
    let device_code = random_value("fake-device-code-");
    let user_code = uuid::Uuid::new_v4().simple().to_string()[..8].to_ascii_uppercase();
    state.device_grants.lock().unwrap().insert(
        device_code.clone(),
        DeviceGrant {
            user_code: user_code.clone(),
            client_id: app.client_id.clone(),
            scopes,
            created: Instant::now(),
            status: DeviceStatus::Pending,
            required_interval: Duration::from_secs(settings.interval_secs),
            polls: 0,
            last_poll: None,
        },
    );
    let verification_uri = format!("{}/devicelogin", state.base_url);
    Reply::json(
        200,
        json!({
            "user_code": user_code,
            "device_code": device_code,
            "verification_uri": verification_uri,
            "expires_in": settings.expires_in_secs,
            "interval": settings.interval_secs,
            "message": format!("To sign in, use a web browser to open the page {verification_uri} and enter the code {user_code} to authenticate."),
        }),
    )
}

/// Slack for timer granularity when checking that a client kept the
/// interval between polls.
const POLL_TOLERANCE: Duration = Duration::from_millis(20);

fn device_code_grant(
    state: &State,
    app: &App,
    request: &RecordedRequest,
    basic_secret: Option<String>,
) -> Reply {
    if let Some(rejection) = check_user_client(state, app, request, basic_secret) {
        return rejection;
    }
    let Some(device_code) = request.field("device_code") else {
        return missing_parameter(state, "device_code");
    };
    let settings = state.device.lock().unwrap().clone();
    let mut grants = state.device_grants.lock().unwrap();
    let Some(grant) = grants.get_mut(device_code) else {
        return entra_error(
            state,
            400,
            "bad_verification_code",
            70000,
            "The device code is not valid.",
        );
    };
    if !grant.client_id.eq_ignore_ascii_case(&app.client_id) {
        return entra_error(
            state,
            400,
            "invalid_grant",
            70000,
            "The device code was issued to another client.",
        );
    }
    let now = Instant::now();
    grant.polls += 1;
    let poll = grant.polls;
    let too_soon = grant
        .last_poll
        .is_some_and(|last| now.duration_since(last) + POLL_TOLERANCE < grant.required_interval);
    grant.last_poll = Some(now);
    let lifetime = settings
        .server_expiry
        .unwrap_or(Duration::from_secs(settings.expires_in_secs));
    if now.duration_since(grant.created) >= lifetime {
        return entra_error(
            state,
            400,
            "expired_token",
            70019,
            "Verification code expired.",
        );
    }
    if too_soon || settings.slow_down_on_polls.contains(&poll) {
        grant.required_interval += Duration::from_secs(5);
        return entra_error(
            state,
            400,
            "slow_down",
            70016,
            "The client is polling too often; wait longer between requests.",
        );
    }
    match grant.status.clone() {
        DeviceStatus::Pending => entra_error(
            state,
            400,
            "authorization_pending",
            70016,
            "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
        ),
        DeviceStatus::Declined(error) => entra_error(
            state,
            400,
            &error,
            70000,
            "The user declined the sign-in request.",
        ),
        DeviceStatus::Approved => {
            let grant = grants.remove(device_code).expect("grant present");
            drop(grants);
            issue_user_tokens(state, &app.client_id, &grant.scopes, None)
        }
    }
}

fn refresh_token_grant(
    state: &State,
    app: &App,
    request: &RecordedRequest,
    basic_secret: Option<String>,
) -> Reply {
    if let Some(rejection) = check_user_client(state, app, request, basic_secret) {
        return rejection;
    }
    let Some(token) = request.field("refresh_token") else {
        return missing_parameter(state, "refresh_token");
    };
    if state.refresh_tokens_expired.load(Ordering::SeqCst) {
        return entra_error(
            state,
            400,
            "invalid_grant",
            700082,
            "The refresh token has expired due to inactivity.",
        );
    }
    let grant = {
        let mut tokens = state.refresh_tokens.lock().unwrap();
        let Some(grant) = tokens.get_mut(token) else {
            return entra_error(
                state,
                400,
                "invalid_grant",
                9002313,
                "Invalid request. Request is malformed or invalid.",
            );
        };
        if state
            .revoked_families
            .lock()
            .unwrap()
            .contains(&grant.family)
        {
            return entra_error(
                state,
                400,
                "invalid_grant",
                70000,
                "The refresh token was revoked.",
            );
        }
        if grant.used {
            let family = grant.family;
            state.revoked_families.lock().unwrap().push(family);
            return entra_error(
                state,
                400,
                "invalid_grant",
                70000,
                "The refresh token was already used; every token of this sign-in is revoked.",
            );
        }
        grant.used = true;
        grant.clone()
    };
    if !grant.client_id.eq_ignore_ascii_case(&app.client_id) {
        return entra_error(
            state,
            400,
            "invalid_grant",
            70000,
            "The refresh token was issued to another client.",
        );
    }
    let scopes = match request.field("scope") {
        Some(scope) if !scope.trim().is_empty() => {
            scope.split_whitespace().map(str::to_string).collect()
        }
        _ => grant.scopes.clone(),
    };
    issue_user_tokens(state, &app.client_id, &scopes, Some(grant.family))
}

/// Issues an access token for a signed-in user, with an ID token for
/// `openid`, a refresh token for `offline_access`, and the granted scopes.
fn issue_user_tokens(
    state: &State,
    client_id: &str,
    scopes: &[String],
    family: Option<u64>,
) -> Reply {
    let (resource, permissions) = match resolve_user_scopes(scopes) {
        Ok(resolved) => resolved,
        Err(resource) => {
            return entra_error(
                state,
                400,
                "invalid_resource",
                500011,
                &format!("The resource principal named {resource} was not found."),
            )
        }
    };
    let has = |name: &str| scopes.iter().any(|s| s.eq_ignore_ascii_case(name));
    let mut granted: Vec<String> = permissions
        .iter()
        .map(|p| format!("{resource}/{p}"))
        .collect();
    for oidc in OIDC_SCOPES {
        if has(oidc) {
            granted.push(oidc.to_string());
        }
    }
    let granted = granted.join(" ");
    let mut reply = issue_token(state, &resource, client_id, Some(&granted));
    let mut body: Value = serde_json::from_str(&reply.body).expect("token JSON");
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    if has("openid") {
        let claims = json!({
            "aud": client_id,
            "iss": format!("{}/{TENANT_ID}/v2.0", state.base_url),
            "iat": now,
            "exp": now + 3600,
            "sub": "fake-subject",
            "tid": TENANT_ID,
            "name": "Ada Lovelace",
            "preferred_username": "ada@contoso.onmicrosoft.com",
        });
        body["id_token"] = json!(format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(json!({"typ": "JWT", "alg": "RS256"}).to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
            URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
        ));
    }
    if has("offline_access") {
        let refresh_token = random_value("fake-refresh-");
        let family = family.unwrap_or_else(|| state.families.fetch_add(1, Ordering::SeqCst) + 1);
        state.refresh_tokens.lock().unwrap().insert(
            refresh_token.clone(),
            RefreshGrant {
                client_id: client_id.to_string(),
                scopes: scopes.to_vec(),
                family,
                used: false,
            },
        );
        body["refresh_token"] = json!(refresh_token);
    }
    reply.body = body.to_string();
    reply
}

/// Verifies a federated token sent as the client assertion, the way Entra
/// checks a federated identity credential. It requires the jwt-bearer type
/// and a registered credential whose issuer, subject and audience match the
/// token's `iss`, `sub` and `aud`. The token must carry an RS256 signature
/// by the issuer's key and be within its lifetime.
fn verify_federated_assertion(
    state: &State,
    app: &App,
    request: &RecordedRequest,
    issuer: &str,
) -> Result<(), Reply> {
    use rsa::signature::Verifier;
    use sha2::Sha256;

    if request.field("client_assertion_type")
        != Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    {
        return Err(entra_error(
            state,
            400,
            "invalid_request",
            50027,
            "Invalid client_assertion_type. Expected 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'.",
        ));
    }
    let assertion = request.field("client_assertion").unwrap_or_default();
    let parts: Vec<&str> = assertion.split('.').collect();
    let decode_json = |part: &str| -> Option<Value> {
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
    };
    let (Some(header), Some(claims), Some(signature)) = (
        parts.first().and_then(|p| decode_json(p)),
        parts.get(1).and_then(|p| decode_json(p)),
        parts.get(2).and_then(|p| URL_SAFE_NO_PAD.decode(p).ok()),
    ) else {
        return Err(assertion_rejected(
            state,
            "Client assertion is not a valid JWT.",
        ));
    };
    let credentials: Vec<FederatedCredential> = state
        .federated
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.client_id.eq_ignore_ascii_case(&app.client_id) && c.issuer == issuer)
        .cloned()
        .collect();
    if credentials.is_empty() {
        return Err(entra_error(
            state,
            400,
            "invalid_request",
            700211,
            &format!("No matching federated identity record found for presented assertion issuer '{issuer}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."),
        ));
    }
    let subject = claims["sub"].as_str().unwrap_or_default();
    let credentials: Vec<FederatedCredential> = credentials
        .into_iter()
        .filter(|c| c.subject == subject)
        .collect();
    if credentials.is_empty() {
        return Err(entra_error(
            state,
            400,
            "invalid_request",
            700213,
            &format!("No matching federated identity record found for presented assertion subject '{subject}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion."),
        ));
    }
    let audiences: Vec<String> = match &claims["aud"] {
        Value::String(one) => vec![one.clone()],
        Value::Array(many) => many
            .iter()
            .filter_map(|a| a.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    let Some(credential) = credentials
        .into_iter()
        .find(|c| audiences.iter().any(|a| a == &c.audience))
    else {
        return Err(entra_error(
            state,
            400,
            "invalid_request",
            700212,
            &format!("No matching federated identity record found for presented assertion audience '{}'. Please check your federated identity credential Subject, Audience and Issuer against the presented assertion.", audiences.join(", ")),
        ));
    };
    if header["alg"] != "RS256" {
        return Err(assertion_rejected(
            state,
            &format!(
                "Federated token algorithm {} is not supported.",
                header["alg"]
            ),
        ));
    }
    let signing_input = format!("{}.{}", parts[0], parts[1]);
    let verified = rsa::pkcs1v15::Signature::try_from(signature.as_slice())
        .ok()
        .is_some_and(|sig| {
            rsa::pkcs1v15::VerifyingKey::<Sha256>::new(credential.public_key.clone())
                .verify(signing_input.as_bytes(), &sig)
                .is_ok()
        });
    if !verified {
        return Err(entra_error(
            state,
            401,
            "invalid_client",
            50013,
            "Assertion failed signature validation.",
        ));
    }
    let now = server_now(state);
    let Some(exp) = claims["exp"].as_i64() else {
        return Err(assertion_rejected(
            state,
            "Federated token has no 'exp' claim.",
        ));
    };
    let nbf = claims["nbf"].as_i64().unwrap_or(i64::MIN);
    if exp <= now || nbf > now {
        return Err(assertion_time_rejected(
            state,
            &format!("Assertion is not within its valid time range. Current time: {now}, assertion valid from {nbf}, expiry time of assertion {exp}."),
        ));
    }
    Ok(())
}
