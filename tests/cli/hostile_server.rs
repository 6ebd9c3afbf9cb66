//! Servers that respond with what no real Entra or Graph sends: redirects
//! of the token request, lifetimes too large for any clock, terminal escape
//! sequences in their text and endless bodies.

use crate::common::{stderr_of, write_public_profile, TestEnv};
use crate::fake_entra::{Canned, FakeEntra, CLIENT_SECRET, GRAPH_DEFAULT};

/// Exit code of a Rust process that panicked.
const PANIC_EXIT_CODE: i32 = 101;

#[test]
fn token_request_redirect_is_not_followed() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let elsewhere = FakeEntra::start();
    let target = format!(
        "{}/{}/oauth2/v2.0/token",
        elsewhere.url(),
        crate::fake_entra::TENANT_ID
    );
    for status in [307, 308] {
        env.server.push_canned(
            Canned::new(status, "text/plain", "moved").with_header("Location", &target),
        );
        let output = env
            .cmd()
            .args(["get-token", "-p", "app", "--no-cache"])
            .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
            .output()
            .unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(4), "HTTP {status}: {stderr}");
        assert!(
            stderr.contains(&format!("HTTP {status}")),
            "HTTP {status}: {stderr}"
        );
        assert!(stderr.contains("redirect"), "HTTP {status}: {stderr}");
    }
    assert!(
        elsewhere.requests().is_empty(),
        "the token request, with its client secret, reached the redirect target"
    );
}

#[test]
fn huge_expires_in_does_not_panic() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    for expires_in in ["1e300", "18446744073709551615", "\"99999999999999999\""] {
        env.server.push_canned(Canned::new(
            200,
            "application/json",
            format!(
                r#"{{"access_token":"a.b.c","token_type":"Bearer","expires_in":{expires_in}}}"#
            ),
        ));
        let output = env
            .cmd()
            .args(["get-token", "-p", "app", "--no-cache", "-o", "json"])
            .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
            .output()
            .unwrap();
        let stderr = stderr_of(&output);
        assert_ne!(
            output.status.code(),
            Some(PANIC_EXIT_CODE),
            "expires_in {expires_in}: {stderr}"
        );
        assert_eq!(
            output.status.code(),
            Some(0),
            "expires_in {expires_in}: {stderr}"
        );
        let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(json["access_token"], "a.b.c");
    }
}

#[test]
fn huge_device_code_lifetimes_do_not_panic() {
    let env = TestEnv::new();
    write_public_profile(&env, "user", &[GRAPH_DEFAULT]);
    let huge = u64::MAX;
    env.server.push_canned(Canned::new(
        200,
        "application/json",
        format!(
            r#"{{"device_code":"d","user_code":"HUGE-CODE","verification_uri":"http://127.0.0.1/device","expires_in":{huge},"interval":1}}"#
        ),
    ));
    // The first poll is declined, which ends the flow with an error.
    env.server.push_canned(Canned::new(
        400,
        "application/json",
        r#"{"error":"access_denied","error_description":"declined"}"#,
    ));
    let output = env
        .cmd()
        .args(["get-token", "-p", "user", "-f", "DeviceCode", "--no-cache"])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_ne!(output.status.code(), Some(PANIC_EXIT_CODE), "{stderr}");
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("HUGE-CODE"), "{stderr}");
}

#[test]
fn huge_device_code_interval_does_not_panic() {
    let env = TestEnv::new();
    write_public_profile(&env, "user", &[GRAPH_DEFAULT]);
    let huge = u64::MAX;
    env.server.push_canned(Canned::new(
        200,
        "application/json",
        format!(
            r#"{{"device_code":"d","user_code":"SLOW-CODE","verification_uri":"http://127.0.0.1/device","expires_in":2,"interval":{huge}}}"#
        ),
    ));
    let output = env
        .cmd()
        .args(["get-token", "-p", "user", "-f", "DeviceCode", "--no-cache"])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_ne!(output.status.code(), Some(PANIC_EXIT_CODE), "{stderr}");
    assert_eq!(output.status.code(), Some(5), "{stderr}");
}

/// ESC, BEL and a carriage return: enough to retitle a terminal window or
/// overwrite what the line showed.
const ESCAPES: &str = "\\u001b]0;retitled\\u0007\\r\\u001b[2K";

#[test]
fn server_text_cannot_send_terminal_escapes() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    env.server.push_canned(Canned::new(
        400,
        "application/json",
        format!(
            r#"{{"error":"invalid_client{ESCAPES}","error_description":"AADSTS7000215: bad{ESCAPES}","trace_id":"t{ESCAPES}"}}"#
        ),
    ));
    let output = env
        .cmd()
        .args(["get-token", "-p", "app", "--no-cache"])
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("AADSTS7000215: bad"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(!stderr.contains('\u{7}'), "{stderr:?}");
    assert!(!stderr.contains('\r'), "{stderr:?}");

    write_public_profile(&env, "user", &[GRAPH_DEFAULT]);
    env.server.push_canned(Canned::new(
        200,
        "application/json",
        format!(
            r#"{{"device_code":"d","user_code":"CODE{ESCAPES}","verification_uri":"http://127.0.0.1/device{ESCAPES}","message":"Sign in{ESCAPES}","expires_in":60,"interval":1}}"#
        ),
    ));
    env.server.push_canned(Canned::new(
        400,
        "application/json",
        format!(r#"{{"error":"access_denied","error_description":"declined{ESCAPES}"}}"#),
    ));
    let output = env
        .cmd()
        .args(["get-token", "-p", "user", "-f", "DeviceCode", "--no-cache"])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("Sign in"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "{stderr:?}");
    assert!(!stderr.contains('\u{7}'), "{stderr:?}");
    assert!(!stderr.contains('\r'), "{stderr:?}");
}

/// Starts a server on 127.0.0.1 that answers one request with a JSON body
/// of `body_bytes` spaces, and returns its URL and the number of body bytes
/// it managed to send before the client closed the connection.
fn start_endless_graph(body_bytes: usize) -> (String, std::thread::JoinHandle<usize>) {
    use std::io::{Read, Write};

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let sender = std::thread::spawn(move || {
        let (mut stream, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap_or(0) == 1 {
            head.push(byte[0]);
        }
        let header = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: \
             {body_bytes}\r\n\r\n"
        );
        if stream.write_all(header.as_bytes()).is_err() {
            return 0;
        }
        let chunk = vec![b' '; 64 * 1024];
        let mut sent = 0;
        while sent < body_bytes {
            match stream.write(&chunk[..chunk.len().min(body_bytes - sent)]) {
                Ok(0) | Err(_) => break,
                Ok(written) => sent += written,
            }
        }
        sent
    });
    (url, sender)
}

#[test]
fn graph_body_read_stops_at_the_limit() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let body_bytes = 256 * 1024 * 1024;
    let (graph_url, sender) = start_endless_graph(body_bytes);
    let output = env
        .cmd()
        .args(["discover", "-p", "app", "-s", "*", "--timeout", "60s"])
        .env("ENTRATOOL_GRAPH_URL", &graph_url)
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("larger than 16 MiB"), "{stderr}");
    let sent = sender.join().unwrap();
    assert!(
        sent < body_bytes / 2,
        "the client read {sent} of {body_bytes} bytes before giving up"
    );
}
