//! Secrets in a real Secret Service. `scripts/test.sh` starts a private
//! gnome-keyring on a private D-Bus session for these tests, so they never
//! skip; without it they use the desktop's own keyring.

use std::os::unix::net::UnixListener;
use std::time::{Duration, Instant};

use crate::browser::{use_scripted_browser, BrowserFiles};
use crate::common::{free_port, secret_appears_under, stderr_of, stdout_of, unique_name, TestEnv};
use crate::fake_entra::{CLIENT_ID, CLIENT_SECRET, GRAPH_DEFAULT, PUBLIC_CLIENT_ID, TENANT_ID};

fn create_with_secret(env: &TestEnv, name: &str, secret: &str) -> std::process::Output {
    env.cmd()
        .args([
            "config",
            "create",
            "--name",
            name,
            "--tenant-id",
            TENANT_ID,
            "--client-id",
            CLIENT_ID,
            "--scopes",
            GRAPH_DEFAULT,
            "--client-secret-stdin",
        ])
        .write_stdin(format!("{secret}\n"))
        .output()
        .unwrap()
}

/// Reads an entry with libsecret's own tool, when installed, to show the
/// secret sits in the Secret Service under the documented names.
fn secret_tool_lookup(account: &str) -> Option<String> {
    let output = std::process::Command::new("secret-tool")
        .args(["lookup", "service", "entratool", "username", account])
        .output()
        .ok()?;
    output
        .status
        .success()
        .then(|| String::from_utf8_lossy(&output.stdout).into_owned())
}

#[test]
fn secret_from_create_is_used_by_get_token() {
    let env = TestEnv::new();
    let name = unique_name("kr");
    let output = create_with_secret(&env, &name, CLIENT_SECRET);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains("OS keyring"));

    let output = env.cmd().args(["get-token", "-p", &name]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(stdout_of(&output).lines().count(), 1);
    let request = &env.server.token_requests()[0];
    assert_eq!(request.field("client_secret"), Some(CLIENT_SECRET));

    if let Some(stored) = secret_tool_lookup(&format!("profile:{}:secret", name.to_lowercase())) {
        assert_eq!(stored.trim_end(), CLIENT_SECRET);
    }
}

#[test]
fn no_secret_reaches_the_config_folder() {
    let env = TestEnv::new();
    let name = unique_name("scan");
    let marker = format!("MARKER-{}-SECRET", unique_name("m"));
    let output = create_with_secret(&env, &name, &marker);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(env.profiles_path().exists(), "the profile was not written");
    assert_eq!(secret_appears_under(&env.config_dir(), &marker), None);
    assert!(!stderr_of(&output).contains(&marker));

    // The wrong secret is rejected, and the error does not echo it.
    let output = env.cmd().args(["get-token", "-p", &name]).output().unwrap();
    assert_eq!(output.status.code(), Some(3));
    assert!(!stderr_of(&output).contains(&marker));
    assert_eq!(secret_appears_under(&env.config_dir(), &marker), None);
}

#[test]
fn environment_secret_wins_over_keyring() {
    let env = TestEnv::new();
    let name = unique_name("envwins");
    let output = create_with_secret(&env, &name, "stale-secret-in-keyring");
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let output = env
        .cmd()
        .args(["get-token", "-p", &name])
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(
        env.server.token_requests()[0].field("client_secret"),
        Some(CLIENT_SECRET)
    );
}

#[test]
fn missing_keyring_entry_names_the_ways_out() {
    let env = TestEnv::new();
    let name = unique_name("nosecret");
    env.write_default_profile(&name);
    let output = env.cmd().args(["get-token", "-p", &name]).output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no client secret is stored"), "{stderr}");
    assert!(stderr.contains("ENTRATOOL_CLIENT_SECRET"), "{stderr}");
    assert!(env.server.requests().is_empty());
}

#[test]
fn unreachable_bus_fails_fast_and_names_the_ways_out() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let started = Instant::now();
    let output = env
        .cmd()
        .args(["get-token", "-p", "app"])
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/entratool-test-bus",
        )
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ENTRATOOL_CLIENT_SECRET"), "{stderr}");
    assert!(stderr.contains("Secret Service"), "{stderr}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn hung_bus_fails_within_the_deadline() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let socket = env.dir.path().join("hung-bus");
    let listener = UnixListener::bind(&socket).unwrap();
    // Accept connections and never reply, like a wedged dbus-daemon.
    let holder = std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().take(4) {
            held.push(stream);
        }
        std::thread::sleep(Duration::from_secs(10));
    });
    let started = Instant::now();
    let output = env
        .cmd()
        .args(["get-token", "-p", "app"])
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            format!("unix:path={}", socket.display()),
        )
        .timeout(Duration::from_secs(20))
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("did not answer within 2 s"), "{stderr}");
    assert!(elapsed < Duration::from_secs(6), "took {elapsed:?}");
    drop(holder);
}

#[test]
fn create_without_keyring_saves_nothing() {
    let env = TestEnv::new();
    let output = env
        .cmd()
        .args([
            "config",
            "create",
            "--name",
            "x",
            "--tenant-id",
            TENANT_ID,
            "--client-id",
            CLIENT_ID,
            "--client-secret-stdin",
        ])
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/entratool-test-bus",
        )
        .write_stdin("a-secret\n")
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("ENTRATOOL_CLIENT_SECRET"), "{stderr}");
    assert!(!env.profiles_path().exists());
}

/// Runs a browser flow for `profile` with the scripted browser, with extra
/// environment variables.
fn browser_flow(
    env: &TestEnv,
    profile: &str,
    flow: &str,
    vars: &[(&str, &str)],
) -> std::process::Output {
    let files = BrowserFiles::new(env);
    let port = free_port().to_string();
    let mut cmd = env.cmd();
    cmd.args(["get-token", "-p", profile, "-f", flow, "--port", &port]);
    use_scripted_browser(&mut cmd, &files, "follow");
    for (name, value) in vars {
        cmd.env(name, value);
    }
    let output = cmd.output().unwrap();
    files.wait_until_done();
    output
}

#[test]
fn authorization_code_redeems_with_the_keyring_secret() {
    let env = TestEnv::new();
    let name = unique_name("kr-ac");
    let output = create_with_secret(&env, &name, CLIENT_SECRET);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let output = browser_flow(&env, &name, "AuthorizationCode", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let request = env.server.token_requests().pop().unwrap();
    assert_eq!(request.field("grant_type"), Some("authorization_code"));
    assert_eq!(request.field("client_secret"), Some(CLIENT_SECRET));
}

#[test]
fn public_user_flows_need_no_keyring() {
    let unreachable = (
        "DBUS_SESSION_BUS_ADDRESS",
        "unix:path=/nonexistent/entratool-test-bus",
    );
    for flow in ["AuthorizationCode", "InteractiveBrowser"] {
        let env = TestEnv::new();
        env.write_profile("me", TENANT_ID, PUBLIC_CLIENT_ID, &["User.Read"]);
        let output = browser_flow(&env, "me", flow, &[unreachable]);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{flow}: {}",
            stderr_of(&output)
        );
        assert!(
            !stderr_of(&output).contains("warning"),
            "{}",
            stderr_of(&output)
        );
        let request = env.server.token_requests().pop().unwrap();
        assert!(request.field("client_secret").is_none());
    }
}

#[test]
fn browser_sign_in_is_cached_then_renewed() {
    let env = TestEnv::new();
    let name = unique_name("kr-ib");
    env.write_profile(&name, TENANT_ID, PUBLIC_CLIENT_ID, &["User.Read"]);
    // Two minutes is inside the 5-minute renewal margin.
    env.server.set_token_lifetime(120);
    let output = browser_flow(&env, &name, "InteractiveBrowser", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(env.server.authorize_requests().len(), 1);

    // The cached token is close to expiry: renewed with the refresh token,
    // without a browser.
    env.server.set_token_lifetime(3599);
    let output = browser_flow(&env, &name, "InteractiveBrowser", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(env.server.authorize_requests().len(), 1);
    let renewal = env.server.token_requests().pop().unwrap();
    assert_eq!(renewal.field("grant_type"), Some("refresh_token"));
    assert!(renewal.field("client_secret").is_none());

    // The renewed token is fresh, so the next run sends nothing.
    let requests_before = env.server.requests().len();
    let output = browser_flow(&env, &name, "InteractiveBrowser", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(env.server.requests().len(), requests_before);
}

/// Writes a public-client profile whose default flow signs in a person.
fn write_user_profile(env: &TestEnv, name: &str) {
    env.write_profiles(
        &serde_json::json!([{
            "name": name, "tenantId": TENANT_ID, "clientId": PUBLIC_CLIENT_ID,
            "scopes": ["User.Read"], "defaultFlow": "InteractiveBrowser",
            "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"
        }])
        .to_string(),
    );
}

#[test]
fn refresh_user_profile_redeems_its_refresh_token() {
    let env = TestEnv::new();
    let name = unique_name("kr-refresh");
    write_user_profile(&env, &name);
    let output = browser_flow(&env, &name, "InteractiveBrowser", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let signed_in = stdout_of(&output);

    let output = env
        .cmd()
        .args(["refresh", "-p", &name, "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let refreshed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(refreshed["from_cache"], false);
    assert_ne!(
        refreshed["access_token"].as_str().unwrap(),
        signed_in.trim()
    );
    assert!(
        refreshed.get("refresh_token").is_none(),
        "refresh token printed"
    );
    let request = env.server.token_requests().pop().unwrap();
    assert_eq!(request.field("grant_type"), Some("refresh_token"));
    assert_eq!(
        env.server.authorize_requests().len(),
        1,
        "refresh opened a browser"
    );

    // get-token now serves the refreshed token from the cache.
    let output = env.cmd().args(["get-token", "-p", &name]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(
        stdout_of(&output).trim(),
        refreshed["access_token"].as_str().unwrap()
    );
}

#[test]
fn refresh_without_a_sign_in_exits_3() {
    let env = TestEnv::new();
    let name = unique_name("kr-nosignin");
    write_user_profile(&env, &name);
    let output = env.cmd().args(["refresh", "-p", &name]).output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("sign in with `entratool get-token"),
        "{stderr}"
    );
    assert!(env.server.requests().is_empty());
}

#[test]
fn revoked_sign_in_without_terminal_exits_3() {
    let env = TestEnv::new();
    let name = unique_name("kr-revoked");
    write_user_profile(&env, &name);
    // Inside the renewal margin, so the next get-token uses the refresh token.
    env.server.set_token_lifetime(120);
    let output = browser_flow(&env, &name, "InteractiveBrowser", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    env.server.expire_refresh_tokens();

    let output = env.cmd().args(["get-token", "-p", &name]).output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("sign in again"), "{stderr}");
    assert!(output.stdout.is_empty());
    assert_eq!(
        env.server.authorize_requests().len(),
        1,
        "a browser was opened without a terminal"
    );

    // The rejected refresh token was dropped: refresh has nothing to use.
    let output = env.cmd().args(["refresh", "-p", &name]).output().unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", stderr_of(&output));
    assert!(
        stderr_of(&output).contains("get-token"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn invalid_keyring_timeout_is_ignored() {
    let env = TestEnv::new();
    let name = unique_name("keyring-timeout");
    env.write_default_profile(&name);
    for value in ["1e300", "inf", "-5", "soon"] {
        let output = env
            .cmd()
            .args(["get-token", "-p", &name, "--no-cache"])
            .env("ENTRATOOL_KEYRING_TIMEOUT", value)
            .output()
            .unwrap();
        let stderr = stderr_of(&output);
        // The profile has no secret in the keyring, so the run fails. The
        // check is that the variable does not crash the tool.
        assert_eq!(output.status.code(), Some(1), "{value}: {stderr}");
        assert!(
            stderr.contains("no client secret is stored"),
            "{value}: {stderr}"
        );
    }
}

#[test]
fn revoked_sign_in_in_a_terminal_signs_in_again() {
    let env = TestEnv::new();
    let name = unique_name("kr-again");
    write_user_profile(&env, &name);
    env.server.set_token_lifetime(120);
    let output = browser_flow(&env, &name, "InteractiveBrowser", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    env.server.expire_refresh_tokens();
    env.server.set_token_lifetime(3599);

    // A terminal on stdin and stderr: the tool may start the browser again.
    let files = BrowserFiles::new(&env);
    let binary = assert_cmd::cargo::cargo_bin("entratool");
    let port = free_port();
    let mut script = std::process::Command::new("script");
    script.args([
        "-qec",
        &format!(
            "{} get-token -p {name} --no-clipboard --port {port}",
            binary.display()
        ),
        "/dev/null",
    ]);
    for (variable, value) in env.cmd().get_envs() {
        match value {
            Some(value) => script.env(variable, value),
            None => script.env_remove(variable),
        };
    }
    use_scripted_browser(&mut script, &files, "follow");
    let output = script.stdin(std::process::Stdio::null()).output().unwrap();
    files.wait_until_done();
    let screen = stdout_of(&output);
    assert!(output.status.success(), "{screen}");
    assert!(screen.contains("signing in again"), "{screen}");
    assert_eq!(
        env.server.authorize_requests().len(),
        2,
        "no second sign-in"
    );
    let last = env.server.token_requests().pop().unwrap();
    assert_eq!(last.field("grant_type"), Some("authorization_code"));
}
