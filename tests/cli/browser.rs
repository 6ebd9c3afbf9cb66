//! `get-token -f InteractiveBrowser` with a scripted browser
//! (`tests/support/fake_browser.sh`, set as BROWSER) that loads the sign-in
//! URL from the fake server and follows its redirect to the loopback
//! listener.

use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::Digest;

use crate::common::{
    free_port, port_is_free, stderr_of, stdout_of, wait_until, write_public_profile, Running,
    TestEnv,
};
use crate::fake_entra::{AuthorizeOutcome, PUBLIC_CLIENT_ID, TENANT_ID};

/// Serialises the tests that use the default ports 8080 and 5000.
static DEFAULT_PORTS: Mutex<()> = Mutex::new(());

/// Files the scripted browser writes, in the test's folder.
pub struct BrowserFiles {
    pub log: PathBuf,
    pub page: PathBuf,
}

impl BrowserFiles {
    pub fn new(env: &TestEnv) -> BrowserFiles {
        BrowserFiles {
            log: env.dir.path().join("browser.log"),
            page: env.dir.path().join("browser-page.html"),
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn page(&self) -> String {
        std::fs::read_to_string(&self.page).unwrap_or_default()
    }

    /// Waits until the scripted browser has ended, when it was started:
    /// it may still be writing the page after the tool has exited.
    pub fn wait_until_done(&self) {
        if self.log.exists() {
            wait_until(
                "the scripted browser to end",
                Duration::from_secs(20),
                || self.log().lines().any(|line| line == "done"),
            );
        }
    }
}

/// Returns the BROWSER value that runs the scripted browser.
pub fn scripted_browser() -> String {
    format!(
        "sh {}/tests/support/fake_browser.sh",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Sets BROWSER to the scripted browser in `mode` and removes any desktop
/// session variables, so nothing else opens.
pub fn use_scripted_browser<C: CommandEnv>(cmd: &mut C, files: &BrowserFiles, mode: &str) {
    cmd.set("BROWSER", &scripted_browser());
    cmd.set("FAKE_BROWSER_MODE", mode);
    cmd.set("FAKE_BROWSER_LOG", files.log.to_str().unwrap());
    cmd.set("FAKE_BROWSER_PAGE", files.page.to_str().unwrap());
    for name in ["DISPLAY", "WAYLAND_DISPLAY"] {
        cmd.unset(name);
    }
}

/// Environment setters shared by `assert_cmd` and `std` commands.
pub trait CommandEnv {
    fn set(&mut self, name: &str, value: &str);
    fn unset(&mut self, name: &str);
}

impl CommandEnv for assert_cmd::Command {
    fn set(&mut self, name: &str, value: &str) {
        self.env(name, value);
    }
    fn unset(&mut self, name: &str) {
        self.env_remove(name);
    }
}

impl CommandEnv for std::process::Command {
    fn set(&mut self, name: &str, value: &str) {
        self.env(name, value);
    }
    fn unset(&mut self, name: &str) {
        self.env_remove(name);
    }
}

/// Runs `get-token -p me -f InteractiveBrowser` with the scripted browser.
fn run(env: &TestEnv, files: &BrowserFiles, mode: &str, extra: &[&str]) -> std::process::Output {
    let mut cmd = env.cmd();
    cmd.args(["get-token", "-p", "me", "-f", "InteractiveBrowser"])
        .args(extra);
    use_scripted_browser(&mut cmd, files, mode);
    let output = cmd.output().unwrap();
    files.wait_until_done();
    output
}

/// Returns the port of the redirect URI sent to the authorize endpoint.
fn redirect_port(env: &TestEnv) -> u16 {
    let request = env
        .server
        .authorize_requests()
        .pop()
        .expect("an authorize request");
    let redirect = request.query_param("redirect_uri").unwrap();
    redirect
        .strip_prefix("http://localhost:")
        .and_then(|port| port.parse().ok())
        .unwrap_or_else(|| panic!("unexpected redirect URI {redirect}"))
}

#[test]
fn interactive_browser_signs_in_with_pkce() {
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let files = BrowserFiles::new(&env);
    let port = free_port();
    let port_arg = port.to_string();
    // A secret in the environment must not turn this public flow confidential
    // (the fake rejects a secret from a public client with AADSTS700025).
    let mut cmd = env.cmd();
    cmd.args([
        "get-token",
        "-p",
        "me",
        "-f",
        "interactive-browser",
        "-o",
        "json",
    ])
    .args(["--port", &port_arg])
    .env("ENTRATOOL_CLIENT_SECRET", "must-not-be-sent");
    use_scripted_browser(&mut cmd, &files, "follow");
    let output = cmd.output().unwrap();
    files.wait_until_done();
    let stderr = stderr_of(&output);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{stderr}\nbrowser: {}",
        files.log()
    );

    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["token_type"], "Bearer");
    assert_eq!(
        json["scope"],
        "https://graph.microsoft.com/User.Read openid profile offline_access"
    );

    let authorize = env.server.authorize_requests().pop().unwrap();
    assert_eq!(
        authorize.path,
        format!("/{TENANT_ID}/oauth2/v2.0/authorize")
    );
    let redirect_uri = format!("http://localhost:{port}");
    assert_eq!(
        authorize.query_param("redirect_uri"),
        Some(redirect_uri.clone())
    );
    assert_eq!(
        authorize.query_param("client_id").as_deref(),
        Some(PUBLIC_CLIENT_ID)
    );
    assert_eq!(
        authorize.query_param("response_type").as_deref(),
        Some("code")
    );
    assert_eq!(
        authorize.query_param("code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        authorize.query_param("prompt").as_deref(),
        Some("select_account")
    );
    assert_eq!(
        authorize.query_param("scope").as_deref(),
        Some("User.Read offline_access openid profile")
    );
    let state = authorize.query_param("state").unwrap();
    assert!(state.len() >= 16, "weak state {state}");
    assert!(
        stderr.contains(&format!("{}{}", env.server.url(), authorize.path)),
        "the sign-in URL is not on stderr: {stderr}"
    );

    let token_request = env.server.token_requests().pop().unwrap();
    assert_eq!(
        token_request.field("grant_type"),
        Some("authorization_code")
    );
    assert_eq!(
        token_request.field("redirect_uri"),
        Some(redirect_uri.as_str())
    );
    assert!(token_request.field("client_secret").is_none());
    let verifier = token_request.field("code_verifier").unwrap();
    let challenge = URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(verifier.as_bytes()));
    assert_eq!(authorize.query_param("code_challenge"), Some(challenge));
    let code = token_request.field("code").unwrap();
    assert!(files.log().contains(code), "code not from the redirect");
    assert!(
        !stderr.contains(code),
        "the authorization code reached stderr"
    );
    assert!(
        !stderr.contains(verifier),
        "the PKCE verifier reached stderr"
    );

    assert!(
        files.page().contains("Sign-in complete"),
        "{}",
        files.page()
    );
    assert!(port_is_free(port), "the listener was not released");
}

#[test]
fn listener_ignores_other_requests() {
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let files = BrowserFiles::new(&env);
    let port = free_port().to_string();
    let output = run(&env, &files, "favicon-first", &["--port", &port]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(stdout_of(&output).lines().count(), 1);
}

#[test]
fn state_mismatch_is_rejected() {
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let files = BrowserFiles::new(&env);
    let port = free_port();
    let output = run(&env, &files, "tamper-state", &["--port", &port.to_string()]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("`state` does not match"), "{stderr}");
    assert!(output.stdout.is_empty());
    assert!(
        env.server.token_requests().is_empty(),
        "a forged code was redeemed"
    );
    assert!(files.page().contains("Sign-in failed"), "{}", files.page());
    assert!(port_is_free(port));
}

#[test]
fn error_redirects_are_rejected_with_description() {
    let cases = [
        (
            "access_denied",
            65004,
            "User declined to consent to access the app.",
            "cancelled",
        ),
        (
            "consent_required",
            65001,
            "The user or administrator has not consented to use the application.",
            "consent is required",
        ),
    ];
    for (error, code, description, hint) in cases {
        let env = TestEnv::new();
        write_public_profile(&env, "me", &["User.Read"]);
        env.server.set_authorize_outcome(AuthorizeOutcome::Deny {
            error: error.to_string(),
            code,
            description: description.to_string(),
        });
        let files = BrowserFiles::new(&env);
        let port = free_port();
        let output = run(&env, &files, "follow", &["--port", &port.to_string()]);
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(3), "{error}: {stderr}");
        assert!(stderr.contains(&format!("`{error}`")), "{stderr}");
        assert!(
            stderr.contains(&format!("AADSTS{code}: {description}")),
            "{stderr}"
        );
        assert!(stderr.contains(hint), "{stderr}");
        assert!(env.server.token_requests().is_empty());
        assert!(files.page().contains("Sign-in failed"));
        assert!(port_is_free(port));
    }
}

#[test]
fn default_port_is_8080() {
    let _guard = DEFAULT_PORTS.lock().unwrap_or_else(|e| e.into_inner());
    assert!(
        port_is_free(8080),
        "port 8080 is taken by another program on this machine; free it to run this test"
    );
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let files = BrowserFiles::new(&env);
    let output = run(&env, &files, "follow", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(redirect_port(&env), 8080);
    assert!(port_is_free(8080), "the listener was not released");
}

#[test]
fn busy_8080_moves_to_5000() {
    let _guard = DEFAULT_PORTS.lock().unwrap_or_else(|e| e.into_inner());
    let holder = std::net::TcpListener::bind("127.0.0.1:8080");
    assert!(
        port_is_free(5000),
        "port 5000 is taken by another program on this machine; free it to run this test"
    );
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let files = BrowserFiles::new(&env);
    let output = run(&env, &files, "follow", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(redirect_port(&env), 5000);
    assert!(port_is_free(5000), "the listener was not released");
    drop(holder);
}

#[test]
fn busy_default_ports_move_to_a_free_port() {
    let _guard = DEFAULT_PORTS.lock().unwrap_or_else(|e| e.into_inner());
    // Held by this test, or already by another program: either way taken.
    let _holders = [
        std::net::TcpListener::bind("127.0.0.1:8080"),
        std::net::TcpListener::bind("127.0.0.1:5000"),
    ];
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let files = BrowserFiles::new(&env);
    let output = run(&env, &files, "follow", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let port = redirect_port(&env);
    assert_ne!(port, 8080, "used the taken port");
    assert_ne!(port, 5000, "used the taken port");
    assert!(port_is_free(port));
}

#[test]
fn busy_explicit_port_is_an_error() {
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let files = BrowserFiles::new(&env);
    let output = run(&env, &files, "follow", &["--port", &port.to_string()]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
    assert!(env.server.authorize_requests().is_empty());
}

#[test]
fn timeout_releases_the_listener() {
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let files = BrowserFiles::new(&env);
    let port = free_port();
    let output = run(
        &env,
        &files,
        "stay",
        &["--port", &port.to_string(), "--timeout", "2s"],
    );
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("did not finish within 2s"), "{stderr}");
    assert_eq!(env.server.authorize_requests().len(), 1);
    assert!(port_is_free(port), "the listener was not released");
}

#[cfg(unix)]
#[test]
fn ctrl_c_releases_the_listener() {
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let files = BrowserFiles::new(&env);
    let port = free_port();
    let mut cmd = env.std_cmd();
    cmd.args(["get-token", "-p", "me", "-f", "InteractiveBrowser"])
        .args(["--port", &port.to_string()]);
    use_scripted_browser(&mut cmd, &files, "stay");
    let running = Running::start(cmd, false);
    wait_until("the authorize request", Duration::from_secs(20), || {
        !env.server.authorize_requests().is_empty()
    });
    assert!(!port_is_free(port), "nothing listens while waiting");
    // SAFETY: the pid is our own child, still waiting for the redirect.
    assert_eq!(
        unsafe { libc::kill(running.pid() as libc::pid_t, libc::SIGINT) },
        0
    );
    let finished = running.finish(Duration::from_secs(20));
    files.wait_until_done();
    assert_eq!(finished.code, Some(130), "{}", finished.stderr);
    assert!(port_is_free(port), "the listener was not released");
}

#[test]
fn no_browser_prints_url_and_suggests_device_code() {
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let port = free_port();
    let mut cmd = env.cmd();
    cmd.args(["get-token", "-p", "me", "-f", "InteractiveBrowser"])
        .args(["--port", &port.to_string()]);
    for name in [
        "BROWSER",
        "DISPLAY",
        "WAYLAND_DISPLAY",
        "WSL_DISTRO_NAME",
        "SSH_CONNECTION",
        "SSH_TTY",
    ] {
        cmd.env_remove(name);
    }
    let output = cmd.output().unwrap();

    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("cannot start a browser"), "{stderr}");
    assert!(stderr.contains("DISPLAY"), "{stderr}");
    assert!(stderr.contains("-f DeviceCode"), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "{}/{TENANT_ID}/oauth2/v2.0/authorize?",
            env.server.url()
        )),
        "the URL is not on stderr: {stderr}"
    );
    assert!(output.stdout.is_empty());
    assert!(port_is_free(port), "the listener was not released");
}

#[test]
fn redirect_uri_is_sent_verbatim_and_flag_wins() {
    let env = TestEnv::new();
    let profile_port = free_port();
    env.write_profiles(
        &serde_json::json!([{
            "name": "me", "tenantId": TENANT_ID, "clientId": PUBLIC_CLIENT_ID,
            "scopes": ["User.Read"], "redirectUri": format!("http://localhost:{profile_port}"),
            "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"
        }])
        .to_string(),
    );
    let files = BrowserFiles::new(&env);
    // Both runs must sign in, so neither may use the token cache.
    let output = run(&env, &files, "follow", &["--no-cache"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(redirect_port(&env), profile_port);

    // With a trailing slash the URI no longer equals the registered
    // `http://localhost` form, so the sign-in page shows an error and no
    // redirect arrives. The slash must still reach the server unchanged.
    let flag_port = free_port();
    let with_slash = format!("http://localhost:{flag_port}/");
    let output = run(
        &env,
        &files,
        "follow",
        &[
            "--redirect-uri",
            &with_slash,
            "--timeout",
            "2s",
            "--no-cache",
        ],
    );
    assert_eq!(output.status.code(), Some(5), "{}", stderr_of(&output));
    let authorize = env.server.authorize_requests().pop().unwrap();
    assert_eq!(authorize.query_param("redirect_uri"), Some(with_slash));
    assert!(port_is_free(flag_port));
}

#[test]
fn no_browser_flag_is_a_usage_error_here() {
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let output = env
        .cmd()
        .args([
            "get-token",
            "-p",
            "me",
            "-f",
            "InteractiveBrowser",
            "--no-browser",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains("-f AuthorizationCode --no-browser"));
}

#[test]
fn no_interactive_blocks_the_browser_launch() {
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let marker = env.dir.path().join("browser-started");
    let browser = format!("touch {}", marker.display());
    for (flag, variable) in [
        (Some("--no-interactive"), None),
        (None, Some(("CI", "true"))),
    ] {
        let port = free_port();
        let mut cmd = env.cmd();
        cmd.args(["get-token", "-p", "me", "-f", "InteractiveBrowser"])
            .args(["--port", &port.to_string()])
            .env("BROWSER", &browser);
        if let Some(flag) = flag {
            cmd.arg(flag);
        }
        if let Some((name, value)) = variable {
            cmd.env(name, value);
        }
        let output = cmd.output().unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("interaction is off"), "{stderr}");
        assert!(stderr.contains("-f DeviceCode"), "{stderr}");
        assert!(!marker.exists(), "the browser command ran");
        assert!(port_is_free(port), "the listener was not released");
    }
    assert!(env.server.token_requests().is_empty());
}

#[test]
fn no_terminal_and_no_browser_variable_starts_nothing() {
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let port = free_port();
    let output = env
        .cmd()
        .args(["get-token", "-p", "me", "-f", "InteractiveBrowser"])
        .args(["--port", &port.to_string()])
        .env_remove("BROWSER")
        .env("DISPLAY", ":99")
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("stdin is not a terminal"), "{stderr}");
    assert!(
        stderr.contains("authorize?"),
        "the URL is not on stderr: {stderr}"
    );
    assert!(port_is_free(port), "the listener was not released");
}
