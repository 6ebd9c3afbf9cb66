//! A local stand-in for Microsoft Graph's `GET /v1.0/applications`, on
//! 127.0.0.1 only. It pages with `@odata.nextLink`, understands the one
//! filter the tool sends (`startswith(displayName,'...')`, with OData's
//! doubled quotes), rejects malformed filters with 400 as Graph does, and
//! answers 403 to tokens of apps not granted Application.Read.All.

use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

/// An app registration in the fake directory.
#[derive(Clone)]
pub struct GraphApp {
    pub display_name: String,
    pub app_id: String,
    pub created: String,
    pub publisher_domain: String,
}

impl GraphApp {
    pub fn new(display_name: &str, app_id: &str) -> GraphApp {
        GraphApp {
            display_name: display_name.to_string(),
            app_id: app_id.to_string(),
            created: "2025-06-01T12:00:00Z".to_string(),
            publisher_domain: "contoso.onmicrosoft.com".to_string(),
        }
    }
}

/// A request to the applications endpoint, with its query decoded.
#[derive(Clone, Debug)]
pub struct GraphRequest {
    pub query: Vec<(String, String)>,
    pub authorization: Option<String>,
}

impl GraphRequest {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.as_str())
    }
}

struct State {
    base_url: String,
    apps: Vec<GraphApp>,
    page_size: usize,
    /// Client IDs (`appid` claim) granted Application.Read.All.
    permitted_clients: Vec<String>,
    /// When set, the first page's nextLink points at this base URL instead.
    foreign_next_link: Option<String>,
    requests: Mutex<Vec<GraphRequest>>,
}

pub struct FakeGraph {
    state: Arc<State>,
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
}

pub struct FakeGraphOptions {
    pub apps: Vec<GraphApp>,
    pub page_size: usize,
    pub permitted_clients: Vec<String>,
    pub foreign_next_link: Option<String>,
}

impl FakeGraph {
    pub fn start(options: FakeGraphOptions) -> FakeGraph {
        let server = Arc::new(
            tiny_http::Server::http(("127.0.0.1", 0)).expect("bind the fake Graph server"),
        );
        let port = server.server_addr().to_ip().expect("an IP listener").port();
        let state = Arc::new(State {
            base_url: format!("http://127.0.0.1:{port}"),
            apps: options.apps,
            page_size: options.page_size,
            permitted_clients: options.permitted_clients,
            foreign_next_link: options.foreign_next_link,
            requests: Mutex::new(Vec::new()),
        });
        let thread = {
            let server = Arc::clone(&server);
            let state = Arc::clone(&state);
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    handle(&state, request);
                }
            })
        };
        FakeGraph {
            state,
            server,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        self.state.base_url.clone()
    }

    pub fn requests(&self) -> Vec<GraphRequest> {
        self.state.requests.lock().unwrap().clone()
    }
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn handle(state: &State, request: tiny_http::Request) {
    let url = request.url().to_string();
    let (path, raw_query) = url.split_once('?').unwrap_or((&url, ""));
    let query: Vec<(String, String)> = form_urlencoded::parse(raw_query.as_bytes())
        .into_owned()
        .collect();
    let authorization = request
        .headers()
        .iter()
        .find(|h| h.field.equiv("Authorization"))
        .map(|h| h.value.as_str().to_string());
    let recorded = GraphRequest {
        query: query.clone(),
        authorization: authorization.clone(),
    };
    state.requests.lock().unwrap().push(recorded.clone());

    let (status, body) =
        if request.method() != &tiny_http::Method::Get || path != "/v1.0/applications" {
            graph_error(404, "Request_ResourceNotFound", "Resource not found.")
        } else {
            list(state, &recorded, raw_query)
        };
    let header =
        tiny_http::Header::from_bytes("Content-Type", "application/json; charset=utf-8").unwrap();
    let response = tiny_http::Response::from_string(body.to_string())
        .with_status_code(status)
        .with_header(header);
    let _ = request.respond(response);
}

fn graph_error(status: u16, code: &str, message: &str) -> (u16, Value) {
    (
        status,
        json!({"error": {"code": code, "message": message, "innerError": {"request-id": "fake"}}}),
    )
}

fn list(state: &State, request: &GraphRequest, raw_query: &str) -> (u16, Value) {
    let Some(token) = request
        .authorization
        .as_deref()
        .and_then(|h| h.strip_prefix("Bearer "))
    else {
        return graph_error(401, "InvalidAuthenticationToken", "Access token is empty.");
    };
    let client = app_id_of(token);
    if !client
        .as_deref()
        .is_some_and(|c| state.permitted_clients.iter().any(|p| p == c))
    {
        return graph_error(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        );
    }
    let Some(select) = request.param("$select") else {
        return graph_error(400, "BadRequest", "the tool is expected to send $select");
    };
    for field in ["displayName", "appId", "createdDateTime", "publisherDomain"] {
        if !select.split(',').any(|s| s == field) {
            return graph_error(400, "BadRequest", &format!("$select lacks {field}"));
        }
    }

    let prefix = match request.param("$filter") {
        None => None,
        Some(filter) => match parse_startswith(filter) {
            Ok(prefix) => Some(prefix),
            Err(message) => return graph_error(400, "BadRequest", &message),
        },
    };
    let matching: Vec<&GraphApp> = state
        .apps
        .iter()
        .filter(|app| {
            prefix.as_deref().is_none_or(|p| {
                app.display_name
                    .to_lowercase()
                    .starts_with(&p.to_lowercase())
            })
        })
        .collect();

    let skip: usize = request
        .param("$skiptoken")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = matching
        .iter()
        .skip(skip)
        .take(state.page_size)
        .map(|app| {
            json!({
                "id": format!("obj-{}", app.app_id),
                "appId": app.app_id,
                "displayName": app.display_name,
                "createdDateTime": app.created,
                "publisherDomain": app.publisher_domain,
            })
        })
        .collect();
    let mut body = json!({
        "@odata.context": format!("{}/v1.0/$metadata#applications", state.base_url),
        "value": page,
    });
    let next = skip + state.page_size;
    if next < matching.len() {
        let without_skip: Vec<&str> = raw_query
            .split('&')
            .filter(|pair| !pair.starts_with("%24skiptoken=") && !pair.starts_with("$skiptoken="))
            .collect();
        let base = match (&state.foreign_next_link, skip) {
            (Some(foreign), 0) => foreign.clone(),
            _ => state.base_url.clone(),
        };
        body["@odata.nextLink"] = json!(format!(
            "{base}/v1.0/applications?{}&$skiptoken={next}",
            without_skip.join("&")
        ));
    }
    (200, body)
}

/// Parses `startswith(displayName,'literal')`, where a quote inside the
/// literal is written as two quotes. A lone quote is a syntax error, as in
/// Graph.
fn parse_startswith(filter: &str) -> Result<String, String> {
    let literal = filter
        .strip_prefix("startswith(displayName,'")
        .and_then(|rest| rest.strip_suffix("')"))
        .ok_or_else(|| format!("Invalid filter clause: unsupported filter `{filter}`"))?;
    let mut value = String::new();
    let mut chars = literal.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\'' {
            if chars.peek() == Some(&'\'') {
                chars.next();
            } else {
                return Err(format!(
                    "Invalid filter clause: syntax error at an unescaped quote in `{filter}`"
                ));
            }
        }
        value.push(c);
    }
    Ok(value)
}

fn app_id_of(jwt: &str) -> Option<String> {
    let payload = jwt.split('.').nth(1)?;
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    claims
        .get("appid")
        .and_then(Value::as_str)
        .map(str::to_string)
}
