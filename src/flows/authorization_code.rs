//! The browser flows: `InteractiveBrowser` (always a public client) and
//! `AuthorizationCode` (confidential when the profile has a client secret or
//! a certificate),
//! both the authorization code grant with PKCE. The redirect arrives on a
//! loopback listener, or, with `--no-browser`, is pasted on stdin.

use std::io::IsTerminal;

use super::loopback::Loopback;
use super::pkce::{code_from_redirect, AuthorizationSession, RedirectParams};
use super::redirect::{parse_loopback, redirect_uri_for, RedirectPlan, DEFAULT_PORTS};
use super::{browser, user_flow_scopes, FlowRequest};
use crate::error::{Error, Result};
use crate::profile::Flow;
use crate::secrets::Secret;
use crate::token::{Token, TokenClient};
use crate::ui;

pub async fn acquire(client: &TokenClient, request: &FlowRequest<'_>) -> Result<Token> {
    let profile = request.profile;
    let scopes = user_flow_scopes(&request.scopes);
    // InteractiveBrowser is a public client even when a credential exists.
    let client_credential = match request.flow {
        Flow::AuthorizationCode => request.client_credential.as_ref(),
        _ => None,
    };
    let redirect_setting = request
        .browser
        .redirect_uri
        .as_deref()
        .or(profile.redirect_uri.as_deref())
        .map(str::trim)
        .filter(|uri| !uri.is_empty());
    let session = AuthorizationSession::new();
    let authorize_endpoint = client.authorize_endpoint(&profile.tenant_id);

    let (code, redirect_uri) = if request.browser.no_browser {
        let redirect_uri = redirect_setting.map(str::to_string).unwrap_or_else(|| {
            redirect_uri_for(request.browser.port.unwrap_or(DEFAULT_PORTS[0]), "")
        });
        let url = session.authorize_url(client, profile, &scopes, &redirect_uri);
        let code = receive_pasted_code(&session, &authorize_endpoint, &url, &redirect_uri).await?;
        (code, redirect_uri)
    } else {
        warn_if_port_ignored(redirect_setting, request.browser.port);
        let plan = RedirectPlan::choose(redirect_setting, request.browser.port)?;
        let loopback = Loopback::bind(&plan).await?;
        let redirect_uri = loopback.redirect_uri.clone();
        let url = session.authorize_url(client, profile, &scopes, &redirect_uri);
        ui::note(&format!(
            "Opening the sign-in page in your browser. If it does not open, open this URL on \
             this machine:\n  {url}"
        ));
        if let Err(reason) = browser::open_url(&url) {
            return Err(no_browser(reason, request.flow));
        }
        let spinner = ui::Spinner::start("Waiting for the sign-in in the browser", !request.silent);
        let code = loopback
            .receive_code(&session.state, &authorize_endpoint)
            .await?;
        drop(spinner);
        (code, redirect_uri)
    };
    session
        .redeem(
            client,
            profile,
            &scopes,
            &code,
            &redirect_uri,
            client_credential,
        )
        .await
}

fn warn_if_port_ignored(redirect_setting: Option<&str>, port: Option<u16>) {
    let (Some(uri), Some(port)) = (redirect_setting, port) else {
        return;
    };
    if matches!(parse_loopback(uri), Ok(parsed) if parsed.port.is_some_and(|p| p != port)) {
        ui::warn(&format!(
            "--port {port} is ignored because the redirect URI {uri} names its own port"
        ));
    }
}

fn no_browser(reason: String, flow: Flow) -> Error {
    let mut hint = String::from(
        "sign in with `-f DeviceCode` instead, which shows a code to enter in a browser on any \
         device",
    );
    if flow == Flow::AuthorizationCode {
        hint.push_str(
            ", or add --no-browser to open the URL elsewhere and paste the redirected address",
        );
    } else {
        hint.push_str(", or set BROWSER to a browser command");
    }
    Error::NoBrowser { reason, hint }
}

/// Prints the URL, reads the redirected address (or the bare code) from
/// stdin and checks it.
async fn receive_pasted_code(
    session: &AuthorizationSession,
    authorize_endpoint: &str,
    url: &str,
    redirect_uri: &str,
) -> Result<Secret> {
    ui::note(&format!(
        "Open this URL in a browser on any device and sign in:\n  {url}\nThe browser then goes \
         to {redirect_uri}?code=...; the page may fail to load, which is expected. Copy the \
         address from the address bar."
    ));
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        ui::note("Paste the address (or only the code) and press Enter:");
    }
    let line = read_stdin_line().await?;
    let input = line.trim();
    if input.is_empty() {
        return Err(Error::InvalidInput(
            "no redirected address or code was given on stdin; paste the address the browser \
             ended on after the sign-in"
                .to_string(),
        ));
    }
    let (params, state_required) = parse_pasted(input);
    code_from_redirect(&session.state, authorize_endpoint, &params, state_required)
}

/// Reads one line from stdin on a thread of its own, so Ctrl-C and the
/// timeout can end the wait: a read on the async runtime's blocking pool
/// would keep the process alive until a line arrives.
async fn read_stdin_line() -> Result<String> {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut line = String::new();
            let result = std::io::stdin().read_line(&mut line).map(|_| line);
            let _ = sender.send(result);
        })
        .map_err(|e| Error::Other(format!("cannot read stdin: {e}")))?;
    match receiver.await {
        Ok(Ok(line)) => Ok(line),
        Ok(Err(e)) => Err(Error::Other(format!("cannot read stdin: {e}"))),
        Err(_) => Err(Error::Other("cannot read stdin".to_string())),
    }
}

/// Parses what was pasted: a full address with a query, a bare query, or a
/// bare code. Only a bare code may come without `state`.
fn parse_pasted(input: &str) -> (RedirectParams, bool) {
    let without_fragment = input.split('#').next().unwrap_or(input);
    if let Some((_, query)) = without_fragment.split_once('?') {
        return (RedirectParams::from_query(query), true);
    }
    if without_fragment.contains("code=") || without_fragment.contains("error=") {
        return (RedirectParams::from_query(without_fragment), true);
    }
    let params = RedirectParams {
        code: Some(Secret::new(without_fragment)),
        ..RedirectParams::default()
    };
    (params, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasted_address_and_bare_code_are_understood() {
        let (params, state_required) = parse_pasted("http://localhost:8080/?code=abc&state=xyz#");
        assert_eq!(params.code.unwrap().expose(), "abc");
        assert_eq!(params.state.as_deref(), Some("xyz"));
        assert!(state_required);

        let (params, state_required) = parse_pasted("code=abc&state=xyz");
        assert_eq!(params.code.unwrap().expose(), "abc");
        assert!(state_required);

        let (params, state_required) = parse_pasted("0.AXcA-bare_code");
        assert_eq!(params.code.unwrap().expose(), "0.AXcA-bare_code");
        assert!(!state_required);
    }
}
