//! Fault injection: throttling, server errors, resets, broken bodies.

use std::io::Read;
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::{stderr_of, TestEnv};
use crate::fake_entra::{Canned, CLIENT_SECRET};

fn get_token(env: &TestEnv, extra: &[&str]) -> std::process::Output {
    env.cmd()
        .args(["get-token", "-p", "app", "--no-cache"])
        .args(extra)
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap()
}

fn gap_between(env: &TestEnv, first: usize, second: usize) -> Duration {
    let requests = env.server.token_requests();
    requests[second].received_at - requests[first].received_at
}

#[test]
fn throttled_with_retry_after_seconds_then_succeeds() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    env.server
        .push_canned(Canned::new(429, "application/json", "{}").with_header("Retry-After", "1"));
    let output = get_token(&env, &["-v"]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(env.server.token_requests().len(), 2);
    assert!(gap_between(&env, 0, 1) >= Duration::from_millis(950));
    assert!(stderr.contains("retrying POST"), "{stderr}");
    assert!(stderr.contains("HTTP 429"), "{stderr}");
}

#[test]
fn throttled_with_retry_after_date_then_succeeds() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let at = std::time::SystemTime::now() + Duration::from_secs(2);
    env.server.push_canned(
        Canned::new(429, "text/plain", "slow down")
            .with_header("Retry-After", &httpdate::fmt_http_date(at)),
    );
    let output = get_token(&env, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(env.server.token_requests().len(), 2);
    // HTTP dates have one-second resolution.
    assert!(gap_between(&env, 0, 1) >= Duration::from_millis(900));
}

#[test]
fn retries_are_silent_without_verbose() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    env.server
        .push_canned(Canned::new(500, "text/plain", "oops"));
    let output = get_token(&env, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(output.stderr.is_empty(), "{}", stderr_of(&output));
    assert_eq!(env.server.token_requests().len(), 2);
}

#[test]
fn persistent_503_gives_up_after_three_retries() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    for _ in 0..4 {
        env.server
            .push_canned(Canned::new(503, "text/html", "<html>busy</html>"));
    }
    let output = get_token(&env, &[]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("HTTP 503"), "{stderr}");
    assert_eq!(env.server.token_requests().len(), 4);
}

#[test]
fn retry_after_beyond_the_timeout_is_not_awaited() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    env.server
        .push_canned(Canned::new(429, "application/json", "{}").with_header("Retry-After", "120"));
    let started = Instant::now();
    let output = get_token(&env, &["--timeout", "5s"]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("throttling"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "waited {:?}",
        started.elapsed()
    );
    assert_eq!(env.server.token_requests().len(), 1);
}

#[test]
fn client_errors_are_not_retried() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let output = env
        .cmd()
        .args(["get-token", "-p", "app"])
        .env("ENTRATOOL_CLIENT_SECRET", "wrong")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(env.server.token_requests().len(), 1);
}

#[test]
fn connection_reset_is_retried_then_reported() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { break };
            counter.fetch_add(1, Ordering::SeqCst);
            // Read the request, then close without answering.
            let mut buffer = [0u8; 4096];
            let _ = stream.read(&mut buffer);
            drop(stream);
        }
    });
    let output = get_token(&env, &["--authority", &format!("http://127.0.0.1:{port}")]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        4,
        "one attempt and three retries"
    );
}

/// Serves `body` with `status` and checks the exit code and message.
fn assert_broken_body(
    status: u16,
    content_type: &'static str,
    body: String,
    code: i32,
    expected: &str,
) {
    let env = TestEnv::new();
    env.write_default_profile("app");
    env.server
        .push_canned(Canned::new(status, content_type, body));
    let output = get_token(&env, &[]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(code), "{stderr}");
    assert!(
        stderr.contains(expected),
        "missing `{expected}` in: {stderr}"
    );
    assert!(
        stderr.contains("/oauth2/v2.0/token"),
        "endpoint not named: {stderr}"
    );
    assert!(output.stdout.is_empty());
}

#[test]
fn empty_body_is_reported() {
    assert_broken_body(
        200,
        "application/json",
        String::new(),
        4,
        "unusable token response",
    );
}

#[test]
fn truncated_json_is_reported() {
    assert_broken_body(
        200,
        "application/json",
        r#"{"token_type":"Bearer","access_tok"#.to_string(),
        4,
        "not JSON",
    );
}

#[test]
fn json_without_access_token_is_reported() {
    assert_broken_body(
        200,
        "application/json",
        r#"{"token_type":"Bearer","expires_in":3599}"#.to_string(),
        4,
        "no `access_token` field",
    );
}

#[test]
fn wrong_token_type_is_reported() {
    assert_broken_body(
        200,
        "application/json",
        r#"{"token_type":"pop","access_token":"a.b.c","expires_in":3599}"#.to_string(),
        4,
        "expected `Bearer`",
    );
}

#[test]
fn huge_body_is_cut_off() {
    let body = format!("{{\"access_token\":\"{}\"}}", "a".repeat(2 * 1024 * 1024));
    assert_broken_body(200, "application/json", body, 4, "larger than 1024 KiB");
}

#[test]
fn empty_error_body_is_reported() {
    assert_broken_body(400, "text/plain", String::new(), 4, "an empty body");
}

#[test]
fn html_body_preview_only_with_verbose() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let page = "<html><title>Proxy login required</title></html>";
    env.server.push_canned(Canned::new(407, "text/html", page));
    let quiet = get_token(&env, &[]);
    assert_eq!(quiet.status.code(), Some(4));
    assert!(!stderr_of(&quiet).contains("Proxy login required"));

    env.server.push_canned(Canned::new(407, "text/html", page));
    let verbose = get_token(&env, &["-v"]);
    assert!(
        stderr_of(&verbose).contains("Proxy login required"),
        "{}",
        stderr_of(&verbose)
    );
}
