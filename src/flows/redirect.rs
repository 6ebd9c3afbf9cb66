//! Choosing the redirect URI and the loopback port of the browser flows.
//!
//! The redirect URI is handled as a string, never through a URL type: Entra
//! compares it with the registration character by character, and URL
//! libraries turn `http://localhost:8080` into `http://localhost:8080/`.

use crate::error::{Error, Result};

/// Ports tried in order when nothing names one; a free port follows.
pub const DEFAULT_PORTS: [u16; 2] = [8080, 5000];

/// The redirect URI source and the port to listen on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedirectPlan {
    /// A redirect URI with an explicit port, sent exactly as written; the
    /// listener must get that port.
    Fixed {
        redirect_uri: String,
        port: u16,
        path: String,
    },
    /// `http://localhost:PORT` plus `path`, with the first port of `ports`
    /// that can be bound, then any free port when `then_any` is set.
    Candidates {
        ports: Vec<u16>,
        then_any: bool,
        path: String,
    },
}

impl RedirectPlan {
    /// Picks the plan: the redirect URI (flag, then profile) wins, else
    /// `--port`, else [`DEFAULT_PORTS`] and then a free port.
    pub fn choose(redirect_uri: Option<&str>, port: Option<u16>) -> Result<RedirectPlan> {
        if let Some(uri) = redirect_uri {
            let parsed = parse_loopback(uri)?;
            return Ok(match parsed.port {
                Some(port) => RedirectPlan::Fixed {
                    redirect_uri: uri.to_string(),
                    port,
                    path: parsed.path,
                },
                // Entra accepts any port for a `http://localhost` registration
                // (loopback redirects, RFC 8252 section 7.3).
                None => RedirectPlan::Candidates {
                    ports: port
                        .map(|p| vec![p])
                        .unwrap_or_else(|| DEFAULT_PORTS.to_vec()),
                    then_any: port.is_none(),
                    path: parsed.path,
                },
            });
        }
        Ok(match port {
            Some(port) => RedirectPlan::Fixed {
                redirect_uri: redirect_uri_for(port, ""),
                port,
                path: String::new(),
            },
            None => RedirectPlan::Candidates {
                ports: DEFAULT_PORTS.to_vec(),
                then_any: true,
                path: String::new(),
            },
        })
    }
}

/// Builds `http://localhost:PORT` followed by `path` (empty or `/...`).
pub fn redirect_uri_for(port: u16, path: &str) -> String {
    format!("http://localhost:{port}{path}")
}

/// The parts of a loopback redirect URI that the listener needs.
#[derive(Debug, PartialEq, Eq)]
pub struct LoopbackUri {
    pub port: Option<u16>,
    /// The path, empty when the URI has none.
    pub path: String,
}

/// Checks that `uri` is an `http://localhost` or `http://127.0.0.1`
/// address, which a listener on 127.0.0.1 can receive, and splits it.
pub fn parse_loopback(uri: &str) -> Result<LoopbackUri> {
    let invalid = |why: &str| {
        Error::Usage(format!(
            "redirect URI `{uri}` {why}; the browser flows listen on this machine, so use \
             http://localhost:PORT (registered under \"Mobile and desktop applications\"), or \
             -f AuthorizationCode --no-browser to paste the redirect by hand"
        ))
    };
    let rest = uri
        .strip_prefix("http://")
        .ok_or_else(|| invalid("does not start with http://"))?;
    if rest.contains(['?', '#']) {
        return Err(invalid("has a query or fragment"));
    }
    let (authority, path) = match rest.find('/') {
        Some(index) => (&rest[..index], &rest[index..]),
        None => (rest, ""),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => {
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p != 0)
                .ok_or_else(|| invalid("has an invalid port"))?;
            (host, Some(port))
        }
        None => (authority, None),
    };
    if !host.eq_ignore_ascii_case("localhost") && host != "127.0.0.1" {
        return Err(invalid("is not a loopback address"));
    }
    Ok(LoopbackUri {
        port,
        path: path.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_plan_tries_8080_then_5000_then_any() {
        assert_eq!(
            RedirectPlan::choose(None, None).unwrap(),
            RedirectPlan::Candidates {
                ports: vec![8080, 5000],
                then_any: true,
                path: String::new()
            }
        );
    }

    #[test]
    fn port_flag_is_fixed() {
        assert_eq!(
            RedirectPlan::choose(None, Some(9123)).unwrap(),
            RedirectPlan::Fixed {
                redirect_uri: "http://localhost:9123".into(),
                port: 9123,
                path: String::new()
            }
        );
    }

    #[test]
    fn redirect_uri_wins_and_is_kept_verbatim() {
        for uri in [
            "http://localhost:3000",
            "http://localhost:3000/",
            "http://127.0.0.1:3000/cb",
        ] {
            match RedirectPlan::choose(Some(uri), Some(9123)).unwrap() {
                RedirectPlan::Fixed {
                    redirect_uri, port, ..
                } => {
                    assert_eq!(redirect_uri, uri);
                    assert_eq!(port, 3000);
                }
                other => panic!("{uri}: {other:?}"),
            }
        }
    }

    #[test]
    fn portless_localhost_uses_the_candidates() {
        assert_eq!(
            RedirectPlan::choose(Some("http://localhost/callback"), None).unwrap(),
            RedirectPlan::Candidates {
                ports: vec![8080, 5000],
                then_any: true,
                path: "/callback".into()
            }
        );
    }

    #[test]
    fn non_loopback_uris_are_usage_errors() {
        for uri in [
            "https://localhost:8080",
            "http://example.com:8080",
            "http://localhost:0",
            "http://localhost:99999",
            "http://localhost:8080?x=1",
            "http://[::1]:8080",
        ] {
            assert!(
                matches!(parse_loopback(uri), Err(Error::Usage(_))),
                "{uri} was accepted"
            );
        }
    }
}
