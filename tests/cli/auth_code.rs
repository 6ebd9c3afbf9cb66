//! `get-token -f AuthorizationCode`: public and confidential redemption with
//! the scripted browser, and `--no-browser`, where the test pastes the
//! redirected address on stdin as a person would.

use std::io::Write;
use std::time::Duration;

use crate::browser::{use_scripted_browser, BrowserFiles};
use crate::common::{
    free_port, location_of, stderr_of, unique_name, url_containing, write_public_profile, Running,
    TestEnv,
};
use crate::fake_entra::{CLIENT_ID, CLIENT_SECRET, PUBLIC_CLIENT_ID, TENANT_ID};

const WAIT: Duration = Duration::from_secs(30);

fn run(env: &TestEnv, profile: &str, secret: Option<&str>) -> std::process::Output {
    let files = BrowserFiles::new(env);
    let port = free_port().to_string();
    let mut cmd = env.cmd();
    cmd.args(["get-token", "-p", profile, "-f", "AuthorizationCode"])
        .args(["--port", &port]);
    if let Some(secret) = secret {
        cmd.env("ENTRATOOL_CLIENT_SECRET", secret);
    }
    use_scripted_browser(&mut cmd, &files, "follow");
    let output = cmd.output().unwrap();
    files.wait_until_done();
    output
}

#[test]
fn public_profile_redeems_without_a_secret() {
    let env = TestEnv::new();
    // A name no keyring entry exists for, in case a keyring is running.
    let name = unique_name("ac-public");
    write_public_profile(&env, &name, &["User.Read"]);
    let output = run(&env, &name, None);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));

    let authorize = env.server.authorize_requests().pop().unwrap();
    assert_eq!(
        authorize.query_param("prompt").as_deref(),
        Some("select_account")
    );
    let request = env.server.token_requests().pop().unwrap();
    assert_eq!(request.field("grant_type"), Some("authorization_code"));
    assert_eq!(request.field("client_id"), Some(PUBLIC_CLIENT_ID));
    assert!(request.field("client_secret").is_none());
    assert!(request.field("code_verifier").is_some());
}

#[test]
fn confidential_profile_redeems_with_its_secret() {
    let env = TestEnv::new();
    env.write_profile("web", TENANT_ID, CLIENT_ID, &["User.Read"]);
    let output = run(&env, "web", Some(CLIENT_SECRET));
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let request = env.server.token_requests().pop().unwrap();
    assert_eq!(request.field("client_secret"), Some(CLIENT_SECRET));
    assert!(request.field("code_verifier").is_some());
}

#[test]
fn confidential_redemption_with_wrong_secret_is_rejected() {
    let env = TestEnv::new();
    env.write_profile("web", TENANT_ID, CLIENT_ID, &["User.Read"]);
    let output = run(&env, "web", Some("wrong-secret-value"));
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("AADSTS7000215"), "{stderr}");
    assert!(
        !stderr.contains("wrong-secret-value"),
        "the secret leaked: {stderr}"
    );
}

#[test]
fn secret_sent_for_a_public_app_gets_a_hint() {
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let output = run(&env, "me", Some("a-secret-the-app-does-not-have"));
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("AADSTS700025"), "{stderr}");
    assert!(stderr.contains("public client"), "{stderr}");
}

/// Starts `--no-browser` for the public profile and returns the process
/// and the sign-in URL it printed.
fn start_paste_mode(env: &TestEnv) -> (Running, String) {
    write_public_profile(env, "me", &["User.Read"]);
    let mut cmd = env.std_cmd();
    cmd.args([
        "get-token",
        "-p",
        "me",
        "-f",
        "AuthorizationCode",
        "--no-browser",
        "-o",
        "json",
    ])
    .env_remove("BROWSER");
    let mut running = Running::start(cmd, true);
    let stderr = running.wait_for_stderr("address bar", WAIT);
    let url = url_containing(&stderr, "/oauth2/v2.0/authorize?").expect("the sign-in URL");
    (running, url)
}

fn paste(running: &mut Running, text: &str) {
    let stdin = running.stdin.as_mut().unwrap();
    writeln!(stdin, "{text}").unwrap();
    stdin.flush().unwrap();
}

#[test]
fn paste_mode_takes_the_redirected_address() {
    let env = TestEnv::new();
    let (mut running, url) = start_paste_mode(&env);
    let location = location_of(&url).expect("the sign-in page redirects");
    assert!(
        location.starts_with("http://localhost:8080?code="),
        "{location}"
    );
    paste(&mut running, &location);
    let finished = running.finish(WAIT);
    assert_eq!(finished.code, Some(0), "{}", finished.stderr);
    let json: serde_json::Value = serde_json::from_str(&finished.stdout).unwrap();
    assert!(json["scope"].as_str().unwrap().contains("offline_access"));
    let request = env.server.token_requests().pop().unwrap();
    assert_eq!(request.field("redirect_uri"), Some("http://localhost:8080"));
    assert!(request.field("client_secret").is_none());
}

#[test]
fn paste_mode_takes_a_bare_code() {
    let env = TestEnv::new();
    let (mut running, url) = start_paste_mode(&env);
    let location = location_of(&url).unwrap();
    let code = location
        .split(['?', '&'])
        .find_map(|part| part.strip_prefix("code="))
        .unwrap()
        .to_string();
    paste(&mut running, &code);
    let finished = running.finish(WAIT);
    assert_eq!(finished.code, Some(0), "{}", finished.stderr);
    let request = env.server.token_requests().pop().unwrap();
    assert_eq!(request.field("code"), Some(code.as_str()));
}

#[test]
fn paste_mode_rejects_a_foreign_state() {
    let env = TestEnv::new();
    let (mut running, url) = start_paste_mode(&env);
    let location = location_of(&url).unwrap();
    let (before, _) = location.split_once("state=").unwrap();
    paste(&mut running, &format!("{before}state=from-another-sign-in"));
    let finished = running.finish(WAIT);
    assert_eq!(finished.code, Some(3), "{}", finished.stderr);
    assert!(finished.stderr.contains("`state` does not match"));
    assert!(env.server.token_requests().is_empty());
}

#[test]
fn paste_mode_with_empty_stdin_fails() {
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let output = env
        .cmd()
        .args([
            "get-token",
            "-p",
            "me",
            "-f",
            "AuthorizationCode",
            "--no-browser",
        ])
        .write_stdin("")
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no redirected address or code"), "{stderr}");
    assert!(
        stderr.contains("/oauth2/v2.0/authorize?"),
        "URL missing: {stderr}"
    );
}
