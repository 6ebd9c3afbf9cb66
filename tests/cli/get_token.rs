//! `get-token` with client credentials and a secret, against the fake
//! server. These tests pass the secret through ENTRATOOL_CLIENT_SECRET; the
//! keyring path is in `keyring.rs`.

use std::time::{Duration, Instant};

use crate::common::{stderr_of, stdout_of, TestEnv};
use crate::fake_entra::{
    decode_claims, Canned, CLIENT_ID, CLIENT_SECRET, EXPIRED_CLIENT_ID, EXPIRED_CLIENT_SECRET,
    GRAPH_DEFAULT, TENANT_DOMAIN, TENANT_ID,
};

/// Runs `get-token -p app` with the right secret unless one is given.
fn get_token(env: &TestEnv, secret: &str, extra: &[&str]) -> std::process::Output {
    env.cmd()
        .args(["get-token", "-p", "app"])
        .args(extra)
        .env("ENTRATOOL_CLIENT_SECRET", secret)
        .output()
        .unwrap()
}

#[test]
fn success_prints_only_the_token() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let output = get_token(&env, CLIENT_SECRET, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));

    let stdout = stdout_of(&output);
    assert!(stdout.ends_with('\n'));
    assert_eq!(stdout.lines().count(), 1, "stdout: {stdout:?}");
    let token = stdout.trim_end();
    assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");
    assert_eq!(decode_claims(token)["aud"], "https://graph.microsoft.com");

    let requests = env.server.token_requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path, format!("/{TENANT_ID}/oauth2/v2.0/token"));
    assert_eq!(request.field("grant_type"), Some("client_credentials"));
    assert_eq!(request.field("client_id"), Some(CLIENT_ID));
    assert_eq!(request.field("client_secret"), Some(CLIENT_SECRET));
    assert_eq!(request.field("scope"), Some(GRAPH_DEFAULT));
    assert!(request
        .header("content-type")
        .unwrap()
        .starts_with("application/x-www-form-urlencoded"));
}

#[test]
fn json_output_has_the_documented_fields() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let output = get_token(&env, CLIENT_SECRET, &["-o", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(json["access_token"].as_str().unwrap().split('.').count(), 3);
    let expires_in = json["expires_in"].as_u64().unwrap();
    assert!((3500..=3599).contains(&expires_in), "{expires_in}");
    let expires_on = json["expires_on"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(expires_on, &time::format_description::well_known::Rfc3339)
            .is_ok(),
        "{expires_on}"
    );
    assert_eq!(json["scope"], GRAPH_DEFAULT);
    assert_eq!(json["from_cache"], false);
    assert!(json.get("refresh_token").is_none());
}

#[test]
fn expires_in_as_string_is_accepted() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    env.server.send_expires_in_as_string(true);
    let output = get_token(&env, CLIENT_SECRET, &["-o", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(json["expires_in"].as_u64().unwrap() > 3500);
}

#[test]
fn scope_override_accepts_commas_and_spaces() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let output = get_token(
        &env,
        CLIENT_SECRET,
        &["-s", "https://management.azure.com/.default,"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let request = &env.server.token_requests()[0];
    assert_eq!(
        request.field("scope"),
        Some("https://management.azure.com/.default")
    );

    let output = get_token(&env, CLIENT_SECRET, &["-s", "User.Read, Mail.Read"]);
    assert_eq!(output.status.code(), Some(3));
    let request = &env.server.token_requests()[1];
    assert_eq!(request.field("scope"), Some("User.Read Mail.Read"));
}

#[test]
fn domain_tenant_and_resource_profile_work() {
    let env = TestEnv::new();
    env.write_profiles(
        &serde_json::json!([{
            "name": "app", "tenantId": TENANT_DOMAIN, "clientId": CLIENT_ID,
            "resource": "api://entratool-test",
            "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"
        }])
        .to_string(),
    );
    let output = get_token(&env, CLIENT_SECRET, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let request = &env.server.token_requests()[0];
    assert_eq!(request.path, format!("/{TENANT_DOMAIN}/oauth2/v2.0/token"));
    assert_eq!(
        request.field("scope"),
        Some("api://entratool-test/.default")
    );
}

#[test]
fn file_option_writes_private_file_and_nothing_on_stdout() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let path = env.dir.path().join("token with space.txt");
    let output = get_token(
        &env,
        CLIENT_SECRET,
        &["--file", path.to_str().unwrap(), "--silent"],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(output.stdout.is_empty());
    assert!(
        output.stderr.is_empty(),
        "--silent printed: {}",
        stderr_of(&output)
    );
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(written.trim_end().split('.').count(), 3);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}

#[test]
fn file_option_without_silent_says_where() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let path = env.dir.path().join("t.txt");
    let output = get_token(&env, CLIENT_SECRET, &["--file", path.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    assert!(stderr_of(&output).contains("t.txt"));
}

/// Runs against the fake server and checks the exit code and that the
/// AADSTS code, the server's first line and the hint reach the user.
fn assert_rejected(output: &std::process::Output, code: &str, first_line: &str, hint: &str) {
    let stderr = stderr_of(output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(output.stdout.is_empty(), "stdout must stay empty on error");
    assert!(stderr.contains(code), "missing {code} in: {stderr}");
    assert!(
        stderr.contains(first_line),
        "missing `{first_line}` in: {stderr}"
    );
    assert!(stderr.contains(hint), "missing hint `{hint}` in: {stderr}");
    assert!(stderr.contains("trace ID"), "missing trace ID in: {stderr}");
    assert!(
        !stderr.contains("Correlation ID:"),
        "later lines leaked: {stderr}"
    );
}

#[test]
fn wrong_secret_is_rejected_with_hint() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let output = get_token(&env, "not-the-secret", &[]);
    assert_rejected(
        &output,
        "AADSTS7000215",
        "Invalid client secret provided",
        "not its Secret ID",
    );
    assert!(
        stderr_of(&output).contains("config edit -p NAME --client-secret-stdin"),
        "the hint must name a command that works for an existing profile"
    );
    assert!(
        !stderr_of(&output).contains("not-the-secret"),
        "secret leaked into the error"
    );
}

#[test]
fn expired_secret_is_rejected_with_hint() {
    let env = TestEnv::new();
    env.write_profile("app", TENANT_ID, EXPIRED_CLIENT_ID, &[GRAPH_DEFAULT]);
    let output = get_token(&env, EXPIRED_CLIENT_SECRET, &[]);
    assert_rejected(&output, "AADSTS7000222", "are expired", "has expired");
}

#[test]
fn unknown_app_is_rejected_with_hint() {
    let env = TestEnv::new();
    env.write_profile(
        "app",
        TENANT_ID,
        "99999999-9999-4999-8999-999999999999",
        &[GRAPH_DEFAULT],
    );
    let output = get_token(&env, CLIENT_SECRET, &[]);
    assert_rejected(
        &output,
        "AADSTS700016",
        "was not found in the directory",
        "no app with this client ID",
    );
}

#[test]
fn unknown_tenant_is_rejected_with_hint() {
    let env = TestEnv::new();
    env.write_profile(
        "app",
        "fabrikam.onmicrosoft.com",
        CLIENT_ID,
        &[GRAPH_DEFAULT],
    );
    let output = get_token(&env, CLIENT_SECRET, &[]);
    assert_rejected(
        &output,
        "AADSTS90002",
        "Tenant 'fabrikam.onmicrosoft.com' not found",
        "tenant was not found",
    );
}

#[test]
fn delegated_scope_with_client_credentials_is_rejected_with_hint() {
    let env = TestEnv::new();
    env.write_profile("app", TENANT_ID, CLIENT_ID, &["User.Read"]);
    let output = get_token(&env, CLIENT_SECRET, &[]);
    assert_rejected(
        &output,
        "AADSTS70011",
        "is not valid",
        "only `<resource>/.default` scopes",
    );
}

#[test]
fn default_mixed_with_other_scopes_is_rejected_with_hint() {
    let env = TestEnv::new();
    env.write_profile("app", TENANT_ID, CLIENT_ID, &[GRAPH_DEFAULT, "User.Read"]);
    let output = get_token(&env, CLIENT_SECRET, &[]);
    assert_rejected(
        &output,
        "AADSTS1002012",
        "is not valid",
        "cannot be combined",
    );
}

#[test]
fn html_502_from_a_proxy_is_a_network_error() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    // The first attempt and its three retries all meet the proxy's page.
    for _ in 0..4 {
        env.server.push_canned(Canned::new(
            502,
            "text/html",
            "<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>",
        ));
    }
    let output = get_token(&env, CLIENT_SECRET, &[]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("HTTP 502"), "{stderr}");
    assert!(stderr.contains("HTML page"), "{stderr}");
    assert!(!stderr.contains("<h1>"), "raw HTML shown: {stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn server_that_never_answers_times_out() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    env.server.push_canned(Canned::hang());
    let started = Instant::now();
    let output = get_token(&env, CLIENT_SECRET, &["--timeout", "2s"]);
    let elapsed = started.elapsed();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("--timeout"), "{stderr}");
    assert!(elapsed < Duration::from_secs(15), "took {elapsed:?}");
}

#[test]
fn connection_refused_is_a_network_error() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    // Bind and drop a listener to find a port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let output = get_token(
        &env,
        CLIENT_SECRET,
        &["--authority", &format!("http://127.0.0.1:{port}")],
    );
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
}

#[test]
fn unknown_profile_exits_2_and_lists_profiles() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let output = env
        .cmd()
        .args(["get-token", "-p", "nope"])
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("`nope` not found"), "{stderr}");
    assert!(stderr.contains("app"), "{stderr}");
    assert!(env.server.requests().is_empty());
}

#[test]
fn profile_names_match_without_case() {
    let env = TestEnv::new();
    env.write_default_profile("My-App");
    let output = env
        .cmd()
        .args(["get-token", "-p", "my-app"])
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
}

#[test]
fn only_profile_is_used_without_p() {
    let env = TestEnv::new();
    env.write_default_profile("solo");
    let output = env
        .cmd()
        .arg("get-token")
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
}

#[test]
fn several_profiles_without_p_and_no_tty_lists_them() {
    let env = TestEnv::new();
    env.write_profiles(&std::fs::read_to_string("tests/fixtures/original-profiles.json").unwrap());
    let output = env
        .cmd()
        .arg("get-token")
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("Graph-Dev") && stderr.contains("cert-app"),
        "{stderr}"
    );
}

#[test]
fn non_guid_client_id_fails_before_any_request() {
    let env = TestEnv::new();
    env.write_profile("app", TENANT_ID, "my-client", &[GRAPH_DEFAULT]);
    let output = get_token(&env, CLIENT_SECRET, &[]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("`my-client` is not a GUID"), "{stderr}");
    assert!(env.server.requests().is_empty());
}

#[test]
fn invalid_tenant_fails_before_any_request() {
    let env = TestEnv::new();
    for tenant in ["common", "not a tenant"] {
        env.write_profile("app", tenant, CLIENT_ID, &[GRAPH_DEFAULT]);
        let output = get_token(&env, CLIENT_SECRET, &[]);
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains(&format!("tenant `{tenant}`")), "{stderr}");
    }
    assert!(env.server.requests().is_empty());
}

#[test]
fn profile_without_scopes_fails_before_any_request() {
    let env = TestEnv::new();
    env.write_profile("app", TENANT_ID, CLIENT_ID, &[]);
    let output = get_token(&env, CLIENT_SECRET, &[]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no scopes and no resource"), "{stderr}");
    assert!(env.server.requests().is_empty());
}

#[test]
fn flow_names_accept_kebab_case_and_any_case() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    for flow in [
        "client-credentials",
        "CLIENTCREDENTIALS",
        "ClientCredentials",
    ] {
        let output = get_token(&env, CLIENT_SECRET, &["-f", flow]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{flow}: {}",
            stderr_of(&output)
        );
    }
    let output = get_token(&env, CLIENT_SECRET, &["-f", "password-grant"]);
    assert_eq!(output.status.code(), Some(64), "{}", stderr_of(&output));
}

#[test]
fn unknown_option_is_a_usage_error() {
    let env = TestEnv::new();
    let output = env.cmd().args(["get-token", "--bogus"]).output().unwrap();
    assert_eq!(output.status.code(), Some(64));
}

#[test]
fn huge_timeout_is_a_usage_error() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    for command in ["get-token", "refresh"] {
        let output = env
            .cmd()
            .args([command, "-p", "app", "--timeout"])
            .arg(u64::MAX.to_string())
            .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
            .output()
            .unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(64), "{command}: {stderr}");
        assert!(
            stderr.contains("the maximum is 30 days"),
            "{command}: {stderr}"
        );
        assert!(env.server.requests().is_empty(), "{command}");
    }
}

#[test]
fn authority_flag_beats_environment_beats_profile() {
    let env = TestEnv::new();
    let other = crate::fake_entra::FakeEntra::start();
    let profile_server = crate::fake_entra::FakeEntra::start();
    env.write_profiles(
        &serde_json::json!([{
            "name": "app", "tenantId": TENANT_ID, "clientId": CLIENT_ID,
            "scopes": [GRAPH_DEFAULT], "authority": profile_server.url(),
            "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"
        }])
        .to_string(),
    );
    // The flag wins over ENTRATOOL_AUTHORITY (env.server) and the profile.
    let output = get_token(&env, CLIENT_SECRET, &["--authority", &other.url()]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(other.token_requests().len(), 1);
    // ENTRATOOL_AUTHORITY wins over the profile.
    let output = get_token(&env, CLIENT_SECRET, &[]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(env.server.token_requests().len(), 1);
    // The profile's authority is used when neither is set.
    let output = env
        .cmd()
        .env_remove("ENTRATOOL_AUTHORITY")
        .args(["get-token", "-p", "app"])
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(profile_server.token_requests().len(), 1);
}

#[test]
fn damaged_profiles_file_is_reported_and_left_unchanged() {
    let env = TestEnv::new();
    let damaged = "[\n  {\n    \"name\": \"app\",\n    \"tenantId\": \n  }\n";
    env.write_profiles(damaged);
    let output = get_token(&env, CLIENT_SECRET, &[]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(&env.profiles_path().display().to_string()),
        "{stderr}"
    );
    assert!(stderr.contains("line 5"), "{stderr}");
    assert!(stderr.contains("column"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(env.profiles_path()).unwrap(),
        damaged
    );
    assert!(env.server.requests().is_empty());
}

#[test]
fn fixture_from_the_original_tool_gets_a_token() {
    let env = TestEnv::new();
    env.write_profiles(&std::fs::read_to_string("tests/fixtures/original-profiles.json").unwrap());
    let output = env
        .cmd()
        .args(["get-token", "-p", "graph-dev", "-o", "json"])
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(
        env.server.token_requests()[0].field("client_id"),
        Some(CLIENT_ID)
    );
}
