//! CI use: the environment-only mode (AZURE_* and ENTRATOOL_* variables),
//! the order in which flags, variables and profiles win, workload identity
//! federation (token files and GitHub Actions OIDC), the `env` and
//! `exec-credential` outputs, and the guarantee that nothing prompts.

use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::Output;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::certificates::{cert, der, CERT_CLIENT_ID, PASSWORD};
use crate::common::{stderr_of, stdout_of, TestEnv};
use crate::fake_entra::{
    decode_claims, App, CLIENT_ID, CLIENT_SECRET, EXPIRED_CLIENT_ID, FEDERATED_AUDIENCE,
    GRAPH_DEFAULT, TENANT_DOMAIN, TENANT_ID,
};
use crate::federation::{
    FakeGitHubOidc, Issuer, GITHUB_ISSUER, GITHUB_SUBJECT, KUBERNETES_ISSUER, KUBERNETES_SUBJECT,
};

/// An unknown app: a request that reaches the server with it fails with
/// AADSTS700016, which shows which value won.
const UNKNOWN_CLIENT_ID: &str = "99999999-8888-4777-8666-555555555555";

/// Builds a command with the fake app in AZURE_* variables and no profiles.
fn azure_cmd(env: &TestEnv) -> assert_cmd::Command {
    let mut cmd = env.cmd();
    cmd.env("AZURE_TENANT_ID", TENANT_ID)
        .env("AZURE_CLIENT_ID", CLIENT_ID);
    cmd
}

fn assert_token(output: &Output) -> String {
    let stdout = stdout_of(output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr: {}",
        stderr_of(output)
    );
    let token = stdout.trim_end_matches('\n');
    assert_eq!(token.split('.').count(), 3, "not a JWT: {stdout}");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    token.to_string()
}

/// Starts a fake server where the certificate app is registered too.
fn env_with_certificate_app() -> TestEnv {
    let env = TestEnv::new();
    env.server.add_app(App {
        client_id: CERT_CLIENT_ID.to_string(),
        secrets: Vec::new(),
        certificates: vec![der("cert.der")],
        public_client: false,
        redirect_uris: Vec::new(),
    });
    env
}

/// Writes a federated token for the Kubernetes test workload into `path`.
fn write_kubernetes_token(path: &Path) -> String {
    let token = Issuer::new(KUBERNETES_ISSUER).token(KUBERNETES_SUBJECT, FEDERATED_AUDIENCE);
    std::fs::write(path, format!("{token}\n")).unwrap();
    token
}

fn trust_kubernetes(env: &TestEnv) {
    Issuer::new(KUBERNETES_ISSUER).trust(&env.server, CLIENT_ID, KUBERNETES_SUBJECT);
}

// Environment-only mode.

#[test]
fn env_only_secret_gets_token() {
    let env = TestEnv::new();
    let output = azure_cmd(&env)
        .args(["get-token"])
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_token(&output);
    let request = &env.server.token_requests()[0];
    assert_eq!(request.field("client_secret"), Some(CLIENT_SECRET));
    assert_eq!(request.field("client_id"), Some(CLIENT_ID));
    assert_eq!(request.field("scope"), Some(GRAPH_DEFAULT));
    assert!(
        !env.config_dir().exists(),
        "the environment-only mode wrote to the config folder"
    );
}

#[test]
fn env_only_certificate_gets_token() {
    let env = env_with_certificate_app();
    let output = env
        .cmd()
        .args(["get-token"])
        .env("AZURE_TENANT_ID", TENANT_ID)
        .env("AZURE_CLIENT_ID", CERT_CLIENT_ID)
        .env("AZURE_CLIENT_CERTIFICATE_PATH", cert("default.pfx"))
        .env("AZURE_CLIENT_CERTIFICATE_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert_token(&output);
    let request = &env.server.token_requests()[0];
    assert_eq!(request.field("client_secret"), None);
    let claims = decode_claims(request.field("client_assertion").unwrap());
    assert_eq!(claims["iss"], CERT_CLIENT_ID);
    assert!(!env.config_dir().exists());
}

#[test]
fn env_only_certificate_password_order() {
    let env = env_with_certificate_app();
    // ENTRATOOL_CERTIFICATE_PASSWORD wins over the AZURE_ name, so a wrong
    // value there is reported even though the AZURE_ one is right.
    let output = env
        .cmd()
        .args(["get-token", "--env"])
        .env("ENTRATOOL_TENANT_ID", TENANT_ID)
        .env("ENTRATOOL_CLIENT_ID", CERT_CLIENT_ID)
        .env("ENTRATOOL_CERTIFICATE_PATH", cert("default.pfx"))
        .env("ENTRATOOL_CERTIFICATE_PASSWORD", "wrong password")
        .env("AZURE_CLIENT_CERTIFICATE_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("ENTRATOOL_CERTIFICATE_PASSWORD"),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert!(env.server.requests().is_empty());
}

#[test]
fn env_only_federated_file_gets_token() {
    let env = TestEnv::new();
    trust_kubernetes(&env);
    let token_file = env.dir.path().join("azure-identity-token");
    let federated = write_kubernetes_token(&token_file);
    let output = azure_cmd(&env)
        .args(["get-token", "-s", "api://entratool-test/.default"])
        .env("AZURE_FEDERATED_TOKEN_FILE", &token_file)
        .output()
        .unwrap();
    assert_token(&output);
    let request = &env.server.token_requests()[0];
    assert_eq!(
        request.field("client_assertion_type"),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    assert_eq!(request.field("client_assertion"), Some(federated.as_str()));
    assert_eq!(request.field("client_secret"), None);
    assert!(!stderr_of(&output).contains(&federated));
}

#[test]
fn federated_file_is_read_for_every_request() {
    let env = TestEnv::new();
    trust_kubernetes(&env);
    let token_file = env.dir.path().join("token");
    let first = write_kubernetes_token(&token_file);
    assert_token(
        &azure_cmd(&env)
            .args(["get-token", "--federated-token-file"])
            .arg(&token_file)
            .output()
            .unwrap(),
    );
    // The platform rotates the file; the next request must carry the new token.
    let second = write_kubernetes_token(&token_file);
    assert_ne!(first, second);
    assert_token(
        &azure_cmd(&env)
            .args(["get-token", "--federated-token-file"])
            .arg(&token_file)
            .output()
            .unwrap(),
    );
    assert_eq!(env.server.client_assertions(), vec![first, second.clone()]);

    // A saved profile with the token cache: the rotated file does not start
    // a new cache entry, and a forced request re-reads the file.
    let name = crate::common::unique_name("workload");
    let profile = serde_json::json!([{
        "name": name,
        "tenantId": TENANT_ID,
        "clientId": CLIENT_ID,
        "scopes": [GRAPH_DEFAULT],
        "authMethod": "ClientSecret",
        "federatedTokenFile": token_file,
        "createdAt": "2026-01-01T00:00:00+00:00",
        "updatedAt": "2026-01-01T00:00:00+00:00"
    }]);
    env.write_profiles(&profile.to_string());
    let third = write_kubernetes_token(&token_file);
    assert_token(&env.cmd().args(["get-token", "-p", &name]).output().unwrap());
    assert_eq!(env.server.client_assertions().last(), Some(&third));
    assert_eq!(env.server.tokens_issued(), 3);

    let fourth = write_kubernetes_token(&token_file);
    let cached = env.cmd().args(["get-token", "-p", &name]).output().unwrap();
    assert_token(&cached);
    assert_eq!(
        env.server.tokens_issued(),
        3,
        "the rotated file missed the cache"
    );

    let forced = env
        .cmd()
        .args(["get-token", "-p", &name, "--force"])
        .output()
        .unwrap();
    assert_token(&forced);
    assert_eq!(env.server.tokens_issued(), 4);
    assert_eq!(env.server.client_assertions().last(), Some(&fourth));
}

#[test]
fn federated_token_problems_are_named() {
    let env = TestEnv::new();
    trust_kubernetes(&env);
    let missing = env.dir.path().join("no-such-token");
    let output = azure_cmd(&env)
        .args(["get-token", "--federated-token-file"])
        .arg(&missing)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no-such-token"), "{stderr}");
    assert!(stderr.contains("--federated-token-file"), "{stderr}");

    let empty = env.dir.path().join("empty-token");
    std::fs::write(&empty, "\n").unwrap();
    let output = azure_cmd(&env)
        .args(["get-token"])
        .env("AZURE_FEDERATED_TOKEN_FILE", &empty)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("is empty"), "{stderr}");
    assert!(env.server.requests().is_empty());

    // A token from an issuer the app does not trust is rejected by the server.
    let stranger = env.dir.path().join("stranger");
    let token =
        Issuer::new("https://issuer.example.test/").token(KUBERNETES_SUBJECT, FEDERATED_AUDIENCE);
    std::fs::write(&stranger, &token).unwrap();
    let output = azure_cmd(&env)
        .args(["get-token", "--federated-token-file"])
        .arg(&stranger)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("700211"), "{stderr}");
    assert!(!stderr.contains(&token), "{stderr}");
}

#[test]
fn env_only_without_credential_names_the_variables() {
    let env = TestEnv::new();
    let output = azure_cmd(&env).args(["get-token"]).output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("AZURE_CLIENT_SECRET"), "{stderr}");
    assert!(stderr.contains("--federated-token-file"), "{stderr}");
    assert!(env.server.requests().is_empty());

    let output = env
        .cmd()
        .args(["get-token", "--env"])
        .env("AZURE_CLIENT_ID", CLIENT_ID)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("AZURE_TENANT_ID"), "{stderr}");
    assert!(stderr.contains("ENTRATOOL_TENANT_ID"), "{stderr}");
}

#[test]
fn no_profiles_and_no_variables_mentions_both_ways() {
    let env = TestEnv::new();
    let output = env.cmd().args(["get-token"]).output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("config create"), "{stderr}");
    assert!(stderr.contains("AZURE_CLIENT_ID"), "{stderr}");
}

#[test]
fn env_flag_ignores_profiles() {
    let env = TestEnv::new();
    env.write_profile("other", TENANT_ID, UNKNOWN_CLIENT_ID, &[GRAPH_DEFAULT]);
    let output = azure_cmd(&env)
        .args(["get-token", "--env"])
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_token(&output);
    assert_eq!(
        env.server.token_requests()[0].field("client_id"),
        Some(CLIENT_ID)
    );
}

// Which value wins: flag, ENTRATOOL_*, profile, AZURE_*.

#[test]
fn entratool_names_win_over_azure_names() {
    let env = TestEnv::new();
    let output = env
        .cmd()
        .args(["get-token"])
        .env("AZURE_TENANT_ID", "unknown.onmicrosoft.com")
        .env("ENTRATOOL_TENANT_ID", TENANT_DOMAIN)
        .env("AZURE_CLIENT_ID", UNKNOWN_CLIENT_ID)
        .env("ENTRATOOL_CLIENT_ID", CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", "wrong-azure-secret")
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_token(&output);
    let request = &env.server.token_requests()[0];
    assert_eq!(request.path, format!("/{TENANT_DOMAIN}/oauth2/v2.0/token"));
    assert_eq!(request.field("client_id"), Some(CLIENT_ID));
    assert_eq!(request.field("client_secret"), Some(CLIENT_SECRET));
}

#[test]
fn flags_win_over_entratool_names() {
    let env = TestEnv::new();
    let output = env
        .cmd()
        .args([
            "get-token",
            "--tenant-id",
            TENANT_ID,
            "--client-id",
            CLIENT_ID,
        ])
        .env("ENTRATOOL_TENANT_ID", "unknown.onmicrosoft.com")
        .env("ENTRATOOL_CLIENT_ID", UNKNOWN_CLIENT_ID)
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_token(&output);
    let request = &env.server.token_requests()[0];
    assert_eq!(request.path, format!("/{TENANT_ID}/oauth2/v2.0/token"));
    assert_eq!(request.field("client_id"), Some(CLIENT_ID));
}

#[test]
fn profile_wins_over_azure_names() {
    let env = TestEnv::new();
    env.write_default_profile("svc");
    let output = env
        .cmd()
        .args(["get-token", "-p", "svc", "--no-cache"])
        .env("AZURE_TENANT_ID", "unknown.onmicrosoft.com")
        .env("AZURE_CLIENT_ID", UNKNOWN_CLIENT_ID)
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_token(&output);
    let request = &env.server.token_requests()[0];
    assert_eq!(request.path, format!("/{TENANT_ID}/oauth2/v2.0/token"));
    assert_eq!(request.field("client_id"), Some(CLIENT_ID));
}

#[test]
fn entratool_names_win_over_profile() {
    let env = TestEnv::new();
    env.write_profile(
        "svc",
        "unknown.onmicrosoft.com",
        UNKNOWN_CLIENT_ID,
        &[GRAPH_DEFAULT],
    );
    let output = env
        .cmd()
        .args(["get-token", "-p", "svc", "--no-cache"])
        .env("ENTRATOOL_TENANT_ID", TENANT_ID)
        .env("ENTRATOOL_CLIENT_ID", CLIENT_ID)
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_token(&output);
    let request = &env.server.token_requests()[0];
    assert_eq!(request.path, format!("/{TENANT_ID}/oauth2/v2.0/token"));
    assert_eq!(request.field("client_id"), Some(CLIENT_ID));
}

#[test]
fn azure_secret_after_empty_keyring() {
    let env = TestEnv::new();
    // A name no keyring entry exists for.
    let name = crate::common::unique_name("azure-fallback");
    env.write_default_profile(&name);
    let output = env
        .cmd()
        .args(["get-token", "-p", &name, "--no-cache"])
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_token(&output);
    assert_eq!(
        env.server.token_requests()[0].field("client_secret"),
        Some(CLIENT_SECRET)
    );
}

#[test]
fn authority_order() {
    let env = TestEnv::new();
    // AZURE_AUTHORITY_HOST is used when nothing above it is set.
    let output = azure_cmd(&env)
        .args(["get-token"])
        .env_remove("ENTRATOOL_AUTHORITY")
        .env("AZURE_AUTHORITY_HOST", format!("{}/", env.server.url()))
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_token(&output);
    assert_eq!(env.server.tokens_issued(), 1);

    // ENTRATOOL_AUTHORITY (set by the test command) wins over it: the
    // closed port in AZURE_AUTHORITY_HOST is never tried.
    let output = azure_cmd(&env)
        .args(["get-token"])
        .env("AZURE_AUTHORITY_HOST", "http://127.0.0.1:9")
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_token(&output);
    assert_eq!(env.server.tokens_issued(), 2);
}

// GitHub Actions OIDC.

#[test]
fn github_oidc_token_is_exchanged() {
    let env = TestEnv::new();
    let issuer = Issuer::new(GITHUB_ISSUER);
    issuer.trust(&env.server, CLIENT_ID, GITHUB_SUBJECT);
    let github = FakeGitHubOidc::start(issuer, GITHUB_SUBJECT);
    let output = azure_cmd(&env)
        .args(["get-token", "--federated", "github"])
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", github.request_url())
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", &github.request_token)
        .output()
        .unwrap();
    assert_token(&output);

    let requests = github.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.method, "GET");
    assert_eq!(
        request.authorization.as_deref(),
        Some(format!("Bearer {}", github.request_token).as_str())
    );
    let audience: Vec<&str> = request
        .query
        .iter()
        .filter(|(k, _)| k == "audience")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(audience, vec!["api://AzureADTokenExchange"]);
    assert!(request
        .query
        .iter()
        .any(|(k, v)| k == "api-version" && v == "2.0"));

    let assertion = &env.server.client_assertions()[0];
    let claims = decode_claims(assertion);
    assert_eq!(claims["iss"], GITHUB_ISSUER);
    assert_eq!(claims["aud"], FEDERATED_AUDIENCE);
    let stderr = stderr_of(&output);
    assert!(!stderr.contains(&github.request_token), "{stderr}");
    assert!(!stderr.contains(assertion.as_str()), "{stderr}");
}

#[test]
fn github_audience_can_be_changed() {
    let env = TestEnv::new();
    let issuer = Issuer::new(GITHUB_ISSUER);
    issuer.trust(&env.server, CLIENT_ID, GITHUB_SUBJECT);
    let github = FakeGitHubOidc::start(issuer, GITHUB_SUBJECT);
    let output = azure_cmd(&env)
        .args(["get-token", "--federated-audience", "api://custom-exchange"])
        .env("ENTRATOOL_FEDERATED", "github")
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", github.request_url())
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", &github.request_token)
        .output()
        .unwrap();
    // The stand-in issues the token for the requested audience, which the
    // app's federated credential does not accept.
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("700212"), "{stderr}");
    let requests = github.requests();
    assert!(requests[0]
        .query
        .iter()
        .any(|(k, v)| k == "audience" && v == "api://custom-exchange"));
}

#[test]
fn github_without_permission_or_with_bad_token_fails() {
    let env = TestEnv::new();
    let output = azure_cmd(&env)
        .args(["get-token", "--federated", "github"])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ACTIONS_ID_TOKEN_REQUEST_URL"), "{stderr}");
    assert!(stderr.contains("id-token: write"), "{stderr}");

    let github = FakeGitHubOidc::start(Issuer::new(GITHUB_ISSUER), GITHUB_SUBJECT);
    let output = azure_cmd(&env)
        .args(["get-token", "--federated", "github"])
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", github.request_url())
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "stale-request-token")
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("HTTP 401"), "{stderr}");
    assert!(!stderr.contains("stale-request-token"), "{stderr}");
    assert!(env.server.requests().is_empty());
}

// Outputs for other tools.

/// Sources `script` in POSIX sh and prints the named variables, one a line.
fn source_in_sh(script: &str, names: &[&str]) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token.env");
    std::fs::write(&path, script).unwrap();
    let printer: String = names
        .iter()
        .map(|name| format!("printf '%s\\n' \"${name}\"; "))
        .collect();
    let output = std::process::Command::new("sh")
        .arg("-euc")
        .arg(format!(". \"$1\"; {printer}"))
        .arg("sh")
        .arg(&path)
        .env_clear()
        .output()
        .expect("run sh");
    assert!(
        output.status.success(),
        "sh could not source the output: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn env_output_is_valid_shell() {
    let env = TestEnv::new();
    env.write_default_profile("svc");
    let json_run = env
        .cmd()
        .args(["get-token", "-p", "svc", "-o", "json"])
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_eq!(json_run.status.code(), Some(0), "{}", stderr_of(&json_run));
    let json: Value = serde_json::from_str(&stdout_of(&json_run)).unwrap();

    // The second run is served from the cache, so both describe one token.
    let env_run = env
        .cmd()
        .args(["get-token", "-p", "svc", "-o", "env"])
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_eq!(env_run.status.code(), Some(0), "{}", stderr_of(&env_run));
    assert_eq!(env.server.tokens_issued(), 1);
    let script = stdout_of(&env_run);
    for line in script.lines() {
        assert!(line.starts_with("export ENTRATOOL_"), "{line}");
    }
    let values = source_in_sh(
        &script,
        &[
            "ENTRATOOL_ACCESS_TOKEN",
            "ENTRATOOL_TOKEN_TYPE",
            "ENTRATOOL_EXPIRES_ON",
            "ENTRATOOL_EXPIRES_ON_EPOCH",
            "ENTRATOOL_SCOPE",
            "ENTRATOOL_EXPIRES_IN",
        ],
    );
    assert_eq!(values[0], json["access_token"].as_str().unwrap());
    assert_eq!(values[1], "Bearer");
    assert_eq!(values[2], json["expires_on"].as_str().unwrap());
    assert!(values[2].ends_with('Z'), "not UTC: {}", values[2]);
    assert_eq!(values[3], json["expires_on_epoch"].to_string());
    let parsed =
        time::OffsetDateTime::parse(&values[2], &time::format_description::well_known::Rfc3339)
            .unwrap();
    assert_eq!(parsed.unix_timestamp().to_string(), values[3]);
    assert_eq!(values[4], json["scope"].as_str().unwrap());
    let left: u64 = values[5].parse().unwrap();
    assert!(left > 3000, "{left}");
    assert!(left <= 3599, "{left}");
}

#[test]
fn env_output_survives_hostile_values() {
    // A server response with a quote, a dollar sign and backticks in the token
    // and scope shows that values are quoted, not expanded, when sourced.
    let env = TestEnv::new();
    let access_token = "eyJ'a.$HOME.`id`";
    let scope = "it's $HOME `id` \"quoted\" \\back";
    let body = serde_json::json!({
        "token_type": "Bearer",
        "expires_in": 3599,
        "access_token": access_token,
        "scope": scope,
    });
    env.server.push_canned(crate::fake_entra::Canned::new(
        200,
        "application/json",
        body.to_string(),
    ));
    let output = azure_cmd(&env)
        .args(["get-token", "-o", "env"])
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let values = source_in_sh(
        &stdout_of(&output),
        &["ENTRATOOL_ACCESS_TOKEN", "ENTRATOOL_SCOPE"],
    );
    assert_eq!(values[0], access_token);
    assert_eq!(values[1], scope);
}

/// Checks an ExecCredential against the fields of the
/// client.authentication.k8s.io schema that kubectl reads.
fn assert_exec_credential(output: &Output, api_version: &str) -> Value {
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(output));
    let value: Value = serde_json::from_str(&stdout_of(output)).expect("JSON on stdout");
    let object = value.as_object().unwrap();
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, vec!["apiVersion", "kind", "spec", "status"]);
    assert_eq!(value["apiVersion"], api_version);
    assert_eq!(value["kind"], "ExecCredential");
    assert!(value["spec"]["interactive"].is_boolean(), "{value}");
    let status = value["status"].as_object().unwrap();
    let mut status_keys: Vec<&str> = status.keys().map(String::as_str).collect();
    status_keys.sort();
    assert_eq!(status_keys, vec!["expirationTimestamp", "token"]);
    let token = value["status"]["token"].as_str().unwrap();
    assert_eq!(token.split('.').count(), 3);
    let expiry = value["status"]["expirationTimestamp"].as_str().unwrap();
    assert!(expiry.ends_with('Z'), "not UTC: {expiry}");
    let parsed =
        time::OffsetDateTime::parse(expiry, &time::format_description::well_known::Rfc3339)
            .unwrap();
    let exp = decode_claims(token)["exp"].as_i64().unwrap();
    assert!(
        (parsed.unix_timestamp() - exp).abs() <= 2,
        "expirationTimestamp {expiry} is not the token's exp {exp}"
    );
    value
}

#[test]
fn exec_credential_matches_the_schema() {
    let env = TestEnv::new();
    let output = azure_cmd(&env)
        .args(["get-token", "-o", "exec-credential"])
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_exec_credential(&output, "client.authentication.k8s.io/v1");
    assert!(stderr_of(&output).is_empty(), "{}", stderr_of(&output));

    // kubectl's request sets the version of the response.
    let output = azure_cmd(&env)
        .args(["get-token", "-o", "exec-credential"])
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
        .env(
            "KUBERNETES_EXEC_INFO",
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":true}}"#,
        )
        .output()
        .unwrap();
    let value = assert_exec_credential(&output, "client.authentication.k8s.io/v1beta1");
    assert_eq!(value["spec"]["interactive"], true);
}

#[test]
fn exec_credential_rejects_bad_requests() {
    let env = TestEnv::new();
    for (info, expected) in [
        ("{not json", "KUBERNETES_EXEC_INFO"),
        (
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1alpha1"}"#,
            "v1alpha1",
        ),
        (
            r#"{"kind":"Pod","apiVersion":"client.authentication.k8s.io/v1"}"#,
            "kind",
        ),
    ] {
        let output = azure_cmd(&env)
            .args(["get-token", "-o", "exec-credential"])
            .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
            .env("KUBERNETES_EXEC_INFO", info)
            .output()
            .unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(1), "{info}: {stderr}");
        assert!(stderr.contains(expected), "{info}: {stderr}");
        assert!(stdout_of(&output).is_empty());
    }
    assert!(env.server.requests().is_empty());
}

#[test]
fn json_output_has_both_expiry_forms() {
    let env = TestEnv::new();
    let output = azure_cmd(&env)
        .args(["get-token", "-o", "json"])
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let json: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    let text = json["expires_on"].as_str().unwrap();
    assert!(text.ends_with('Z'), "{text}");
    let parsed =
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).unwrap();
    assert_eq!(
        json["expires_on_epoch"].as_i64(),
        Some(parsed.unix_timestamp())
    );
    assert_eq!(json["from_cache"], false);
}

// No prompts: --no-interactive, CI=true and KUBERNETES_EXEC_INFO.

/// Runs the tool inside util-linux `script`, so stdin and stderr are a
/// terminal, typing each answer after a pause that lets a prompt appear.
fn run_in_terminal(
    env: &TestEnv,
    args: &str,
    extra_env: &[(&str, &str)],
    answers: &[&str],
) -> Output {
    use std::io::Write;

    let binary = assert_cmd::cargo::cargo_bin("entratool");
    let command = format!("{} {args}", binary.display());
    let mut script = std::process::Command::new("script");
    script.args(["-qec", &command, "/dev/null"]);
    for (name, value) in env.cmd().get_envs() {
        match value {
            Some(value) => script.env(name, value),
            None => script.env_remove(name),
        };
    }
    for (name, value) in extra_env {
        script.env(name, value);
    }
    let mut child = script
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs");
    let mut stdin = child.stdin.take().unwrap();
    for answer in answers {
        std::thread::sleep(Duration::from_millis(1500));
        stdin.write_all(format!("{answer}\r").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    std::thread::sleep(Duration::from_millis(1500));
    drop(stdin);
    child.wait_with_output().unwrap()
}

fn write_two_profiles(env: &TestEnv) {
    let profiles: Vec<Value> = ["first", "second"]
        .iter()
        .map(|name| {
            serde_json::json!({
                "name": name,
                "tenantId": TENANT_ID,
                "clientId": CLIENT_ID,
                "scopes": [GRAPH_DEFAULT],
                "authMethod": "ClientSecret",
                "createdAt": "2026-01-01T00:00:00+00:00",
                "updatedAt": "2026-01-01T00:00:00+00:00"
            })
        })
        .collect();
    env.write_profiles(&Value::Array(profiles).to_string());
}

#[test]
fn profile_pick_prompt_becomes_an_error() {
    let env = TestEnv::new();
    write_two_profiles(&env);
    let secret = [("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)];

    // In a terminal the pick is a prompt, answered here with Enter.
    let prompted = run_in_terminal(&env, "get-token --no-clipboard --no-cache", &secret, &[""]);
    let screen = stdout_of(&prompted);
    assert_eq!(prompted.status.code(), Some(0), "{screen}");
    assert!(screen.contains("Profile"), "{screen}");

    let cases: [(&str, &[(&str, &str)]); 4] = [
        ("--no-interactive get-token --no-cache", &[]),
        ("get-token --no-interactive --no-cache", &[]),
        ("get-token --no-cache", &[("CI", "true")]),
        (
            "get-token --no-cache -o exec-credential",
            &[(
                "KUBERNETES_EXEC_INFO",
                r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#,
            )],
        ),
    ];
    for (args, extra) in cases {
        let mut all_env = secret.to_vec();
        all_env.extend_from_slice(extra);
        let output = run_in_terminal(&env, args, &all_env, &[]);
        let screen = stdout_of(&output);
        assert_eq!(output.status.code(), Some(2), "{args}: {screen}");
        assert!(screen.contains("pass one with -p"), "{args}: {screen}");
        assert!(screen.contains("first, second"), "{args}: {screen}");
    }
    assert_eq!(env.server.tokens_issued(), 1);
}

#[test]
fn config_create_prompt_becomes_an_error() {
    let env = TestEnv::new();
    for (args, extra, reason) in [
        (
            "--no-interactive config create",
            &[][..],
            "--no-interactive is set",
        ),
        ("config create", &[("CI", "true")][..], "CI=true is set"),
    ] {
        let output = run_in_terminal(&env, args, extra, &[]);
        let screen = stdout_of(&output);
        assert_eq!(output.status.code(), Some(64), "{args}: {screen}");
        assert!(screen.contains("--name is required"), "{args}: {screen}");
        assert!(screen.contains(reason), "{args}: {screen}");
        assert!(!screen.contains("Profile name"), "{args}: {screen}");
    }
    assert!(!env.profiles_path().exists());
}

#[test]
fn certificate_password_prompt_becomes_an_error() {
    let env = env_with_certificate_app();
    let profile = serde_json::json!([{
        "name": "cert-app",
        "tenantId": TENANT_ID,
        "clientId": CERT_CLIENT_ID,
        "scopes": [GRAPH_DEFAULT],
        "authMethod": "Certificate",
        "certificatePath": cert("default.pfx"),
        "createdAt": "2026-01-01T00:00:00+00:00",
        "updatedAt": "2026-01-01T00:00:00+00:00"
    }]);
    env.write_profiles(&profile.to_string());
    for (args, extra, reason) in [
        (
            "get-token -p cert-app --no-cache --no-interactive",
            &[][..],
            "--no-interactive is set",
        ),
        (
            "get-token -p cert-app --no-cache",
            &[("TF_BUILD", "True")][..],
            "TF_BUILD=True is set",
        ),
    ] {
        let output = run_in_terminal(&env, args, extra, &[]);
        let screen = stdout_of(&output);
        assert_eq!(output.status.code(), Some(1), "{args}: {screen}");
        assert!(
            screen.contains("ENTRATOOL_CERTIFICATE_PASSWORD"),
            "{args}: {screen}"
        );
        assert!(screen.contains(reason), "{args}: {screen}");
        assert!(!screen.contains("Password for"), "{args}: {screen}");
    }
    assert!(env.server.requests().is_empty());
}

// No keyring, no D-Bus.

/// Listens on a Unix socket posing as the D-Bus session bus and counts the
/// connections made to it.
struct BusWatch {
    address: String,
    connections: Arc<AtomicUsize>,
    _dir: tempfile::TempDir,
}

impl BusWatch {
    fn start() -> BusWatch {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("bus");
        let listener = UnixListener::bind(&socket).unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&connections);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                counter.fetch_add(1, Ordering::SeqCst);
                // Hold the connection open with no reply, like a hung bus.
                std::mem::forget(stream);
            }
        });
        BusWatch {
            address: format!("unix:path={}", socket.display()),
            connections,
            _dir: dir,
        }
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

#[test]
fn env_only_mode_never_touches_the_bus() {
    let env = env_with_certificate_app();
    trust_kubernetes(&env);
    let token_file = env.dir.path().join("token");
    write_kubernetes_token(&token_file);
    let bus = BusWatch::start();
    let runs: [(&str, Vec<(&str, &std::ffi::OsStr)>); 3] = [
        (
            "secret",
            vec![
                ("AZURE_CLIENT_ID", CLIENT_ID.as_ref()),
                ("AZURE_CLIENT_SECRET", CLIENT_SECRET.as_ref()),
            ],
        ),
        (
            "certificate",
            vec![
                ("AZURE_CLIENT_ID", CERT_CLIENT_ID.as_ref()),
                (
                    "AZURE_CLIENT_CERTIFICATE_PATH",
                    cert("default.pfx").into_os_string().leak(),
                ),
                ("AZURE_CLIENT_CERTIFICATE_PASSWORD", PASSWORD.as_ref()),
            ],
        ),
        (
            "federated",
            vec![
                ("AZURE_CLIENT_ID", CLIENT_ID.as_ref()),
                ("AZURE_FEDERATED_TOKEN_FILE", token_file.as_os_str()),
            ],
        ),
    ];
    for (kind, vars) in runs {
        let mut cmd = env.cmd();
        cmd.args(["get-token", "-v", "-v"])
            .env("AZURE_TENANT_ID", TENANT_ID)
            .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
            .timeout(Duration::from_secs(20));
        for (name, value) in vars {
            cmd.env(name, value);
        }
        let output = cmd.output().unwrap();
        assert_token(&output);
        let stderr = stderr_of(&output);
        assert!(stderr.contains("DEBUG"), "{kind}: no debug log: {stderr}");
        assert!(!stderr.contains("keyring"), "{kind}: {stderr}");
        assert_eq!(bus.connections(), 0, "{kind} connected to the bus");
    }
    assert!(!env.config_dir().exists());

    // The same watch records the keyring lookup of a saved profile, so the
    // zero above is a real observation.
    env.write_default_profile("svc");
    let output = env
        .cmd()
        .args(["get-token", "-p", "svc"])
        .env("DBUS_SESSION_BUS_ADDRESS", &bus.address)
        .env("ENTRATOOL_KEYRING_TIMEOUT", "0.5")
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr_of(&output));
    assert!(
        bus.connections() > 0,
        "the control run never reached the bus"
    );
}

#[test]
fn env_only_expired_secret_is_rejected_with_hint() {
    let env = TestEnv::new();
    let output = env
        .cmd()
        .args(["get-token"])
        .env("AZURE_TENANT_ID", TENANT_ID)
        .env("AZURE_CLIENT_ID", EXPIRED_CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", "expired-secret-value")
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("7000222"), "{stderr}");
    assert!(!stderr.contains("expired-secret-value"), "{stderr}");
}

// Federated profiles.

#[test]
fn federated_profile_from_config_create() {
    let env = TestEnv::new();
    let issuer = Issuer::new(GITHUB_ISSUER);
    issuer.trust(&env.server, CLIENT_ID, GITHUB_SUBJECT);
    let github = FakeGitHubOidc::start(issuer, GITHUB_SUBJECT);
    let name = crate::common::unique_name("deploy");
    let output = env
        .cmd()
        .args([
            "config",
            "create",
            "--name",
            &name,
            "--tenant-id",
            TENANT_ID,
        ])
        .args(["--client-id", CLIENT_ID, "--scopes", GRAPH_DEFAULT])
        .args(["--federated", "github"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(env.profiles_path()).unwrap()).unwrap();
    assert_eq!(saved[0]["federatedTokenSource"], "GitHub");

    for _ in 0..2 {
        let output = env
            .cmd()
            .args(["get-token", "-p", &name])
            .env("ACTIONS_ID_TOKEN_REQUEST_URL", github.request_url())
            .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", &github.request_token)
            .output()
            .unwrap();
        assert_token(&output);
    }
    // The second run is served from the token cache, so GitHub and Entra
    // each see one request.
    assert_eq!(github.requests().len(), 1);
    assert_eq!(env.server.tokens_issued(), 1);
}

#[test]
fn federated_file_profile_needs_its_file() {
    let env = TestEnv::new();
    let output = env
        .cmd()
        .args([
            "config",
            "create",
            "--name",
            "k8s",
            "--tenant-id",
            TENANT_ID,
        ])
        .args(["--client-id", CLIENT_ID, "--federated", "file"])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("--federated-token-file"), "{stderr}");
    assert!(!env.profiles_path().exists());

    let token_file = env.dir.path().join("token");
    let output = env
        .cmd()
        .args([
            "config",
            "create",
            "--name",
            "k8s",
            "--tenant-id",
            TENANT_ID,
        ])
        .args(["--client-id", CLIENT_ID, "--federated-token-file"])
        .arg(&token_file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let saved: Value =
        serde_json::from_str(&std::fs::read_to_string(env.profiles_path()).unwrap()).unwrap();
    assert_eq!(saved[0]["federatedTokenSource"], "File");
    assert_eq!(
        saved[0]["federatedTokenFile"],
        token_file.display().to_string()
    );

    trust_kubernetes(&env);
    let federated = write_kubernetes_token(&token_file);
    let output = env
        .cmd()
        .args(["get-token", "-p", "k8s", "--no-cache"])
        .output()
        .unwrap();
    assert_token(&output);
    assert_eq!(env.server.client_assertions(), vec![federated]);
}

#[test]
fn azure_certificate_password_for_a_profile() {
    let env = env_with_certificate_app();
    let profile = serde_json::json!([{
        "name": "cert-app",
        "tenantId": TENANT_ID,
        "clientId": CERT_CLIENT_ID,
        "scopes": [GRAPH_DEFAULT],
        "authMethod": "Certificate",
        "certificatePath": cert("default.pfx"),
        "createdAt": "2026-01-01T00:00:00+00:00",
        "updatedAt": "2026-01-01T00:00:00+00:00"
    }]);
    env.write_profiles(&profile.to_string());
    let output = env
        .cmd()
        .args(["get-token", "-p", "cert-app", "--no-cache"])
        .env("AZURE_CLIENT_CERTIFICATE_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert_token(&output);

    let output = env
        .cmd()
        .args(["get-token", "-p", "cert-app", "--no-cache"])
        .env("AZURE_CLIENT_CERTIFICATE_PASSWORD", "wrong password")
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("AZURE_CLIENT_CERTIFICATE_PASSWORD"),
        "{stderr}"
    );
    assert_eq!(env.server.tokens_issued(), 1);
}
