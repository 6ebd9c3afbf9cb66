//! The loopback listener that receives the browser's redirect. It is bound
//! to 127.0.0.1 only, serves exactly one authorization response with a short
//! page, and is closed when dropped, on every path out of the flow.

use std::io::ErrorKind;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::debug;

use super::pkce::{code_from_redirect, RedirectParams};
use super::redirect::{redirect_uri_for, RedirectPlan};
use crate::error::{Error, Result};
use crate::secrets::Secret;

/// Largest request head read from the browser. A redirect with a code and
/// state is well under 4 KiB.
const MAX_REQUEST_BYTES: usize = 16 * 1024;

/// Time a connection may take to send its request. Browsers open spare
/// connections that never send one; each is served on its own task, so a
/// silent one only costs its task.
const REQUEST_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound listener and the redirect URI that leads to it.
pub struct Loopback {
    listener: TcpListener,
    pub redirect_uri: String,
    path: String,
}

impl Loopback {
    /// Binds 127.0.0.1 on the port the plan names. A taken candidate port
    /// moves on to the next; a taken fixed port is an error.
    pub async fn bind(plan: &RedirectPlan) -> Result<Loopback> {
        match plan {
            RedirectPlan::Fixed {
                redirect_uri,
                port,
                path,
            } => {
                let listener = bind_port(*port).await.map_err(|e| bind_error(*port, &e))?;
                Ok(Loopback {
                    listener,
                    redirect_uri: redirect_uri.clone(),
                    path: path.clone(),
                })
            }
            RedirectPlan::Candidates {
                ports,
                then_any,
                path,
            } => {
                let mut tried = Vec::new();
                let any = then_any.then_some(0);
                for port in ports.iter().copied().chain(any) {
                    match bind_port(port).await {
                        Ok(listener) => {
                            let bound = listener
                                .local_addr()
                                .map_err(|e| bind_error(port, &e))?
                                .port();
                            if !tried.is_empty() {
                                debug!("ports {tried:?} are taken; listening on {bound}");
                            }
                            return Ok(Loopback {
                                listener,
                                redirect_uri: redirect_uri_for(bound, path),
                                path: path.clone(),
                            });
                        }
                        Err(e) => {
                            debug!("cannot listen on 127.0.0.1:{port}: {e}");
                            tried.push(port);
                        }
                    }
                }
                Err(Error::Other(format!(
                    "cannot listen on 127.0.0.1 for the sign-in redirect: ports {} are taken; \
                     pick another with --port",
                    tried
                        .iter()
                        .map(u16::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        }
    }

    pub fn port(&self) -> Option<u16> {
        self.listener.local_addr().ok().map(|a| a.port())
    }

    /// Waits for the authorization response and returns the code. Other
    /// requests (a favicon, a wrong path) get a 404 and the wait goes on.
    /// The listener closes when this returns, whatever the outcome.
    pub async fn receive_code(
        self,
        expected_state: &str,
        authorize_endpoint: &str,
    ) -> Result<Secret> {
        let (sender, mut receiver) = mpsc::channel::<Result<Secret>>(1);
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept() => {
                    let (stream, peer) = match accepted {
                        Ok(pair) => pair,
                        Err(e) => {
                            // Such as too many open files: pause instead of spinning.
                            debug!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    };
                    debug!("redirect listener: connection from {peer}");
                    let sender = sender.clone();
                    let expected = ExpectedRedirect {
                        path: self.path.clone(),
                        state: expected_state.to_string(),
                        authorize_endpoint: authorize_endpoint.to_string(),
                    };
                    connections.spawn(async move {
                        if let Some(verdict) = serve(stream, &expected).await {
                            let _ = sender.send(verdict).await;
                        }
                    });
                }
                Some(verdict) = receiver.recv() => {
                    // The listener and any other open connection end here.
                    connections.abort_all();
                    return verdict;
                }
            }
        }
    }
}

/// The values a connection task checks a redirect against. The PKCE
/// verifier is not among them, because the listener never needs it.
struct ExpectedRedirect {
    path: String,
    state: String,
    authorize_endpoint: String,
}

async fn bind_port(port: u16) -> std::io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))).await
}

fn bind_error(port: u16, error: &std::io::Error) -> Error {
    let reason = match error.kind() {
        ErrorKind::AddrInUse => "the port is in use by another program".to_string(),
        ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => error.to_string(),
    };
    Error::Other(format!(
        "cannot listen on 127.0.0.1:{port} for the sign-in redirect: {reason}; free the port, or \
         pick another with --port (and register http://localhost:PORT for the app)"
    ))
}

/// Serves one connection. Returns the verdict when the request was the
/// authorization response, `None` for anything else.
async fn serve(mut stream: TcpStream, expected: &ExpectedRedirect) -> Option<Result<Secret>> {
    let head = match tokio::time::timeout(REQUEST_READ_TIMEOUT, read_head(&mut stream)).await {
        Ok(Ok(head)) => head,
        Ok(Err(e)) => {
            debug!("redirect listener: unreadable request: {e}");
            return None;
        }
        Err(_) => return None,
    };
    let Some((method, target)) = request_line(&head) else {
        respond(
            &mut stream,
            400,
            "Bad request",
            "The request was not understood.",
        )
        .await;
        return None;
    };
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let expected_path = if expected.path.is_empty() {
        "/"
    } else {
        expected.path.as_str()
    };
    if method != "GET" || path != expected_path {
        respond(
            &mut stream,
            404,
            "Not found",
            "This address only receives the sign-in redirect.",
        )
        .await;
        return None;
    }
    let params = RedirectParams::from_query(query);
    if !params.is_authorization_response() {
        respond(
            &mut stream,
            400,
            "Sign-in incomplete",
            "This page expects the redirect from the sign-in page.",
        )
        .await;
        return None;
    }
    let verdict = code_from_redirect(&expected.state, &expected.authorize_endpoint, &params, true);
    match &verdict {
        Ok(_) => {
            respond(
                &mut stream,
                200,
                "Signed in",
                "Sign-in complete. You can close this tab and return to the terminal.",
            )
            .await
        }
        Err(error) => {
            respond(
                &mut stream,
                400,
                "Sign-in failed",
                &format!("{error}. Return to the terminal for details."),
            )
            .await
        }
    }
    Some(verdict)
}

async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut buffer = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            break;
        }
        buffer.extend_from_slice(&chunk[..read]);
        if buffer.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
        if buffer.len() > MAX_REQUEST_BYTES {
            return Err(std::io::Error::new(
                ErrorKind::InvalidData,
                "request head too large",
            ));
        }
    }
    Ok(String::from_utf8_lossy(&buffer).into_owned())
}

/// Splits `GET /path?query HTTP/1.1` into the method and the target.
fn request_line(head: &str) -> Option<(&str, &str)> {
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let method = parts.next()?;
    let target = parts.next()?;
    let version = parts.next()?;
    version.starts_with("HTTP/").then_some((method, target))
}

async fn respond(stream: &mut TcpStream, status: u16, title: &str, message: &str) {
    let reason = match status {
        200 => "OK",
        404 => "Not Found",
        _ => "Bad Request",
    };
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
         <body style=\"font-family:sans-serif;margin:3em\"><h1>{title}</h1><p>{}</p>\
         <p>entratool</p></body></html>",
        escape_html(message)
    );
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

fn escape_html(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_line_is_split() {
        assert_eq!(
            request_line("GET /?code=a&state=b HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(("GET", "/?code=a&state=b"))
        );
        assert_eq!(request_line("garbage"), None);
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(escape_html("<b>&\"</b>"), "&lt;b&gt;&amp;&quot;&lt;/b&gt;");
    }
}
