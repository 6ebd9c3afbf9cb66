//! `discover`: list app registrations through Microsoft Graph
//! (`GET /v1.0/applications`), filtered by a display name pattern.

use std::io::Write;
use std::time::{Duration, Instant};

use reqwest::header::{ACCEPT, AUTHORIZATION};
use serde::{Deserialize, Serialize};
use tracing::debug;

use super::get_token::{block_on_with_timeout, obtain, resolve, select_profile, CachePolicy};
use crate::cli::{DiscoverArgs, ListFormat};
use crate::error::{Error, Result, ServerError};
use crate::profile::{self, Flow, ProfileStore};
use crate::secrets::Secret;
use crate::ui;

/// Fields requested from Graph for each application.
const SELECT: &str = "id,appId,displayName,createdDateTime,publisherDomain";

/// Applications per page requested from Graph (its maximum for this
/// endpoint is 999).
const PAGE_SIZE: u32 = 100;

/// Pages followed at most, so a server that keeps sending `@odata.nextLink`
/// cannot keep the command running forever.
const MAX_PAGES: usize = 1000;

const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// An app registration as Graph returns it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Application {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub app_id: Option<String>,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub created_date_time: Option<String>,
    #[serde(default)]
    pub publisher_domain: Option<String>,
}

#[derive(Deserialize)]
struct Page {
    #[serde(default)]
    value: Vec<Application>,
    #[serde(rename = "@odata.nextLink", default)]
    next_link: Option<String>,
}

pub fn run(args: &DiscoverArgs) -> Result<()> {
    let graph_url = args.graph_url.trim().trim_end_matches('/').to_string();
    profile::validate_authority(&graph_url)
        .map_err(|_| Error::Usage(format!("--graph-url `{graph_url}` is not an http(s) URL")))?;
    let pattern = args.search.trim();

    let store = ProfileStore::open_default()?;
    let mut profile = select_profile(&store, args.profile.as_deref())?;
    if let Some(tenant) = &args.tenant {
        profile.tenant_id = tenant.trim().to_string();
    }
    let flow = args.flow.unwrap_or_else(|| profile.inferred_flow());
    let resource = args.graph_resource.trim().trim_end_matches('/');
    // App-only tokens carry the app's granted permissions through
    // `.default`; a signed-in user needs the delegated permission by name.
    let scope = if flow == Flow::ClientCredentials {
        format!("{resource}/.default")
    } else {
        format!("{resource}/Application.Read.All")
    };
    let resolved = resolve(
        profile,
        Some(flow),
        Some(&scope),
        args.authority.as_deref(),
        &args.certificate,
    )?;

    let deadline = Instant::now() + args.timeout;
    let policy = CachePolicy {
        read: true,
        write: true,
    };
    let token = obtain(&resolved, policy, args.timeout)?;
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Error::Timeout(format!(
            "discover did not finish within {}; raise the limit with --timeout",
            humantime::format_duration(args.timeout)
        )));
    }
    let apps = block_on_with_timeout(
        left,
        list_applications(&graph_url, &token.access_token, pattern, left),
    )?;

    let text = match args.output {
        ListFormat::Json => {
            let mut text = serde_json::to_string_pretty(&apps)
                .map_err(|e| Error::Other(format!("cannot serialise the result: {e}")))?;
            text.push('\n');
            text
        }
        ListFormat::Table if apps.is_empty() => {
            ui::note(&format!(
                "No app registrations in tenant {} match `{pattern}`.",
                resolved.profile.tenant_id
            ));
            return Ok(());
        }
        ListFormat::Table => render_table(&apps),
    };
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Error::Other(format!("cannot write to stdout: {e}")))
}

/// How a pattern is sent to Graph: a `startswith` filter on the literal
/// text before the first `*`, or no filter when the pattern starts with `*`.
/// Results are always matched locally too, since `startswith` is only a
/// first cut for patterns such as `a*b`.
pub fn graph_filter(pattern: &str) -> Option<String> {
    let prefix = pattern.split('*').next().unwrap_or_default();
    if prefix.is_empty() {
        return None;
    }
    Some(format!(
        "startswith(displayName,'{}')",
        escape_odata_string(prefix)
    ))
}

/// Escapes a value for an OData string literal: a single quote is doubled.
pub fn escape_odata_string(value: &str) -> String {
    value.replace('\'', "''")
}

/// Matches `text` against a pattern where `*` is any run of characters,
/// ignoring case.
pub fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.to_lowercase().chars().collect();
    let text: Vec<char> = text.to_lowercase().chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut backtrack: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == '*' {
            backtrack = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star, matched)) = backtrack {
            p = star + 1;
            t = matched + 1;
            backtrack = Some((star, matched + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|c| *c == '*')
}

async fn list_applications(
    graph_url: &str,
    token: &Secret,
    pattern: &str,
    timeout: Duration,
) -> Result<Vec<Application>> {
    // The shared client trusts `--ca-file` and follows no redirect, so the
    // token is sent only to the URLs checked below.
    let http = crate::token::client::http_client(timeout)?;
    let mut url = reqwest::Url::parse(&format!("{graph_url}/v1.0/applications"))
        .map_err(|e| Error::Usage(format!("--graph-url `{graph_url}` is invalid: {e}")))?;
    let origin = url.origin();
    {
        let mut query = url.query_pairs_mut();
        query.append_pair("$select", SELECT);
        query.append_pair("$top", &PAGE_SIZE.to_string());
        if let Some(filter) = graph_filter(pattern) {
            query.append_pair("$filter", &filter);
        }
    }

    let mut apps = Vec::new();
    for _ in 0..MAX_PAGES {
        debug!("GET {url}");
        let page = fetch_page(&http, &url, token).await?;
        apps.extend(
            page.value
                .into_iter()
                .filter(|app| wildcard_match(pattern, app.display_name.as_deref().unwrap_or(""))),
        );
        let Some(next) = page.next_link else {
            apps.sort_by_key(|app| app.display_name.clone().unwrap_or_default().to_lowercase());
            return Ok(apps);
        };
        let next_url = reqwest::Url::parse(&next).map_err(|e| {
            Error::Network(format!(
                "Graph sent an invalid @odata.nextLink `{next}`: {e}"
            ))
        })?;
        // The token goes only to the Graph host it was requested for.
        if next_url.origin() != origin {
            return Err(Error::Network(format!(
                "Graph sent an @odata.nextLink to another host ({next}); it was not followed, \
                 so the token stays with {graph_url}"
            )));
        }
        url = next_url;
    }
    Err(Error::Network(format!(
        "Graph kept sending more pages after {MAX_PAGES}; narrow the pattern"
    )))
}

async fn fetch_page(http: &reqwest::Client, url: &reqwest::Url, token: &Secret) -> Result<Page> {
    let endpoint = format!("{}{}", url.origin().ascii_serialization(), url.path());
    let mut response = http
        .get(url.clone())
        .header(AUTHORIZATION, format!("Bearer {}", token.expose()))
        .header(ACCEPT, "application/json")
        .send()
        .await
        .map_err(|e| {
            if e.is_timeout() {
                Error::Timeout(format!("no response from {endpoint} before the timeout"))
            } else {
                Error::Network(format!("request to {endpoint} failed: {}", root_cause(&e)))
            }
        })?;
    let status = response.status().as_u16();
    // Read chunk by chunk, so an oversized body is dropped at the limit
    // instead of being held in memory first.
    let mut body = Vec::new();
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|e| Error::Network(format!("reading the response of {endpoint} failed: {e}")))?
    {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(Error::Network(format!(
                "{endpoint} sent a response larger than {} MiB",
                MAX_BODY_BYTES / 1024 / 1024
            )));
        }
        body.extend_from_slice(&chunk);
    }
    if !(200..300).contains(&status) {
        return Err(graph_error(&endpoint, status, &body));
    }
    serde_json::from_slice(&body).map_err(|e| {
        Error::Network(format!(
            "{endpoint} returned HTTP {status} but not a Graph collection: {e}"
        ))
    })
}

/// Turns a Graph error (`{"error": {"code", "message"}}`) into an error
/// with the next step; for 403 it names the permission the token lacks.
fn graph_error(endpoint: &str, status: u16, body: &[u8]) -> Error {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let code = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/code"))
        .and_then(|v| v.as_str())
        .unwrap_or("error")
        .to_string();
    let message = parsed
        .as_ref()
        .and_then(|v| v.pointer("/error/message"))
        .and_then(|v| v.as_str())
        .map(|m| ui::printable(m.lines().next().unwrap_or_default().trim()));
    let advice = match status {
        403 => Some(
            "the token lacks permission to read app registrations: add the Microsoft Graph \
             permission Application.Read.All to the app registration (an application \
             permission for client credentials, a delegated one when a user signs in) and have \
             an admin grant consent",
        ),
        401 => Some("Graph did not accept the token; check the tenant and --graph-resource"),
        429 => Some("Graph is throttling requests; wait and try again"),
        _ => None,
    };
    if status == 401 || status == 403 {
        let description = match (message, advice) {
            (Some(message), Some(advice)) => format!("{message}; {advice}"),
            (Some(message), None) => message,
            (None, Some(advice)) => advice.to_string(),
            (None, None) => String::new(),
        };
        return Error::Server(Box::new(ServerError {
            endpoint: endpoint.to_string(),
            status,
            error: code,
            description: Some(description),
            error_codes: Vec::new(),
            trace_id: None,
            correlation_id: None,
        }));
    }
    Error::Network(format!(
        "{endpoint} returned HTTP {status} ({code}){}{}",
        message.map(|m| format!(": {m}")).unwrap_or_default(),
        advice.map(|a| format!("; {a}")).unwrap_or_default()
    ))
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut current = error;
    while let Some(source) = current.source() {
        current = source;
    }
    current.to_string()
}

fn render_table(apps: &[Application]) -> String {
    let header = ["DISPLAY NAME", "APP ID", "CREATED", "PUBLISHER DOMAIN"];
    let rows: Vec<[String; 4]> = apps
        .iter()
        .map(|app| {
            [
                app.display_name.clone().unwrap_or_else(|| "-".to_string()),
                app.app_id.clone().unwrap_or_else(|| "-".to_string()),
                app.created_date_time
                    .as_deref()
                    .map(|d| d.get(..10).unwrap_or(d).to_string())
                    .unwrap_or_else(|| "-".to_string()),
                app.publisher_domain
                    .clone()
                    .unwrap_or_else(|| "-".to_string()),
            ]
        })
        .collect();
    crate::output::render_table(&header, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_ignoring_case() {
        assert!(wildcard_match("*", "anything"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("Contoso*", "contoso API"));
        assert!(wildcard_match("*api*", "Contoso API v2"));
        assert!(wildcard_match("a*b*c", "aXXbYYc"));
        assert!(wildcard_match("exact", "EXACT"));
        assert!(!wildcard_match("exact", "exactly"));
        assert!(!wildcard_match("a*b", "acd"));
        assert!(wildcard_match("*b", "abab"));
    }

    #[test]
    fn filters_use_startswith_for_a_literal_prefix() {
        assert_eq!(
            graph_filter("Contoso*").as_deref(),
            Some("startswith(displayName,'Contoso')")
        );
        assert_eq!(
            graph_filter("a*b").as_deref(),
            Some("startswith(displayName,'a')")
        );
        assert_eq!(graph_filter("*api*"), None);
        assert_eq!(graph_filter("*"), None);
        assert_eq!(
            graph_filter("O'Brien*").as_deref(),
            Some("startswith(displayName,'O''Brien')")
        );
    }
}
