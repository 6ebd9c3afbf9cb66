//! `get-token -f DeviceCode` against the fake server. The tests read the
//! code from stderr and approve or decline it on the server, as a person
//! does on the verification page. The server's interval is 1 s.

use std::time::Duration;

use crate::common::{stderr_of, wait_until, write_public_profile, Running, TestEnv};
use crate::fake_entra::{
    DeviceSettings, CLIENT_ID, DEVICE_CODE_GRANT, PUBLIC_CLIENT_ID, TENANT_ID,
};

const WAIT: Duration = Duration::from_secs(30);

/// Starts `get-token -p me -f DeviceCode` with `extra` arguments.
fn start(env: &TestEnv, extra: &[&str]) -> Running {
    let mut cmd = env.std_cmd();
    cmd.args(["get-token", "-p", "me", "-f", "DeviceCode"])
        .args(extra);
    Running::start(cmd, false)
}

/// Waits for the instructions and returns the user code from the `Code:` line.
fn user_code(running: &mut Running) -> String {
    let stderr = running.wait_for_stderr("  URL:", WAIT);
    stderr
        .lines()
        .find_map(|line| line.trim().strip_prefix("Code: "))
        .expect("a Code: line")
        .trim()
        .to_string()
}

#[test]
fn device_code_succeeds_after_pending_polls() {
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let mut running = start(&env, &["-o", "json"]);

    // Both stdout and stderr are pipes here: the instructions must still
    // arrive on stderr before the sign-in, not at exit.
    let code = user_code(&mut running);
    let stderr = running.stderr_so_far();
    assert!(stderr.contains("To sign in, use a web browser"), "{stderr}");
    assert!(
        stderr.contains(&format!("enter the code {code} to authenticate")),
        "server message missing: {stderr}"
    );
    assert!(
        stderr.contains(&format!("  URL:  {}/devicelogin", env.server.url())),
        "{stderr}"
    );

    wait_until("three pending polls", WAIT, || {
        env.server.device_polls().len() >= 3
    });
    assert!(env.server.approve_device_code(&code));
    let finished = running.finish(WAIT);
    assert_eq!(finished.code, Some(0), "{}", finished.stderr);

    let json: serde_json::Value = serde_json::from_str(&finished.stdout).unwrap();
    let scope = json["scope"].as_str().unwrap();
    assert!(
        scope.contains("https://graph.microsoft.com/User.Read"),
        "granted scope not reported: {scope}"
    );
    assert!(scope.contains("offline_access"), "{scope}");
    assert!(json.get("refresh_token").is_none());

    let polls = env.server.device_polls();
    assert_eq!(
        polls.len(),
        4,
        "three pending polls and the one that succeeds"
    );
    for pair in polls.windows(2) {
        let gap = pair[1].received_at - pair[0].received_at;
        assert!(gap >= Duration::from_millis(990), "polled after {gap:?}");
    }
    for poll in &polls {
        assert_eq!(poll.field("client_id"), Some(PUBLIC_CLIENT_ID));
        assert!(poll.field("device_code").is_some());
        assert!(
            poll.field("client_secret").is_none(),
            "a public client sent a secret"
        );
    }
    let request = env
        .server
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/devicecode"))
        .unwrap();
    assert_eq!(request.path, format!("/{TENANT_ID}/oauth2/v2.0/devicecode"));
    assert_eq!(
        request.field("scope"),
        Some("User.Read offline_access openid profile")
    );
    // stderr is a pipe, so no spinner frames.
    assert!(!finished.stderr.contains('\r'), "{:?}", finished.stderr);
    assert!(!finished.stderr.contains("Waiting for sign-in"));
}

#[test]
fn slow_down_adds_five_seconds_to_the_interval() {
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    env.server.set_device_settings(DeviceSettings {
        slow_down_on_polls: vec![2],
        ..DeviceSettings::default()
    });
    let mut running = start(&env, &[]);
    let code = user_code(&mut running);
    wait_until("the poll after slow_down", WAIT, || {
        env.server.device_polls().len() >= 3
    });
    assert!(env.server.approve_device_code(&code));
    let finished = running.finish(WAIT);
    assert_eq!(finished.code, Some(0), "{}", finished.stderr);

    let polls = env.server.device_polls();
    assert_eq!(polls.len(), 4, "the server saw a poll that came too soon");
    let gaps: Vec<Duration> = polls
        .windows(2)
        .map(|pair| pair[1].received_at - pair[0].received_at)
        .collect();
    assert!(gaps[0] >= Duration::from_millis(990), "{gaps:?}");
    assert!(
        gaps[0] < Duration::from_secs(4),
        "slowed down too early: {gaps:?}"
    );
    // Interval 1 s + 5 s after slow_down, for that poll and every later one.
    assert!(gaps[1] >= Duration::from_millis(5990), "{gaps:?}");
    assert!(gaps[2] >= Duration::from_millis(5990), "{gaps:?}");
}

#[test]
fn expired_token_from_server_stops_with_timeout_code() {
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    env.server.set_device_settings(DeviceSettings {
        server_expiry: Some(Duration::from_secs(2)),
        ..DeviceSettings::default()
    });
    // --silent keeps the instructions, since sign-in is impossible without them.
    let mut running = start(&env, &["--silent"]);
    user_code(&mut running);
    let finished = running.finish(WAIT);
    assert_eq!(finished.code, Some(5), "{}", finished.stderr);
    assert!(finished.stderr.contains("expired"), "{}", finished.stderr);
    assert!(
        finished.stderr.contains("AADSTS70019"),
        "{}",
        finished.stderr
    );
    assert!(finished.stdout.is_empty());
}

#[test]
fn code_lifetime_bounds_the_wait_without_server_help() {
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    // The code claims 2 s of life, but the server would keep returning
    // authorization_pending for an hour, so the client must stop by itself.
    env.server.set_device_settings(DeviceSettings {
        expires_in_secs: 2,
        server_expiry: Some(Duration::from_secs(3600)),
        ..DeviceSettings::default()
    });
    let running = start(&env, &[]);
    let finished = running.finish(WAIT);
    assert_eq!(finished.code, Some(5), "{}", finished.stderr);
    assert!(
        finished.stderr.contains("expired after 2s"),
        "{}",
        finished.stderr
    );
    assert!(finished.elapsed < Duration::from_secs(10));
}

#[test]
fn declined_sign_in_is_rejected() {
    for error in ["authorization_declined", "access_denied"] {
        let env = TestEnv::new();
        write_public_profile(&env, "me", &["User.Read"]);
        let mut running = start(&env, &[]);
        let code = user_code(&mut running);
        assert!(env.server.decline_device_code(&code, error));
        let finished = running.finish(WAIT);
        assert_eq!(finished.code, Some(3), "{error}: {}", finished.stderr);
        assert!(
            finished
                .stderr
                .contains(&format!("the sign-in was declined ({error})")),
            "{}",
            finished.stderr
        );
        assert!(finished.stdout.is_empty());
    }
}

#[test]
fn explicit_timeout_stops_the_wait() {
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let running = start(&env, &["--timeout", "2s"]);
    let finished = running.finish(WAIT);
    assert_eq!(finished.code, Some(5), "{}", finished.stderr);
    assert!(
        finished.stderr.contains("within 2s (--timeout)"),
        "{}",
        finished.stderr
    );
    assert!(finished.elapsed < Duration::from_secs(10));
}

#[cfg(unix)]
#[test]
fn ctrl_c_stops_the_wait() {
    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let mut running = start(&env, &[]);
    user_code(&mut running);
    let pid = running.pid() as libc::pid_t;
    // SAFETY: the pid is our own child, still running (it waits for sign-in).
    assert_eq!(unsafe { libc::kill(pid, libc::SIGINT) }, 0);
    let finished = running.finish(WAIT);
    assert_eq!(finished.code, Some(130), "{}", finished.stderr);
    assert!(finished.stderr.contains("Ctrl-C"), "{}", finished.stderr);
    assert!(finished.stdout.is_empty());
}

#[test]
fn confidential_app_gets_public_client_hint() {
    let env = TestEnv::new();
    env.write_profile("me", TENANT_ID, CLIENT_ID, &["User.Read"]);
    let mut running = start(&env, &[]);
    user_code(&mut running);
    let finished = running.finish(WAIT);
    assert_eq!(finished.code, Some(3), "{}", finished.stderr);
    assert!(
        finished.stderr.contains("AADSTS7000218"),
        "{}",
        finished.stderr
    );
    assert!(
        finished.stderr.contains("Allow public client flows"),
        "{}",
        finished.stderr
    );
}

#[test]
fn tenant_alias_and_default_profile_scope_work() {
    let env = TestEnv::new();
    env.write_profile(
        "me",
        "organizations",
        PUBLIC_CLIENT_ID,
        &["https://graph.microsoft.com/.default"],
    );
    let mut running = start(&env, &["-o", "json"]);
    let code = user_code(&mut running);
    assert!(env.server.approve_device_code(&code));
    let finished = running.finish(WAIT);
    assert_eq!(finished.code, Some(0), "{}", finished.stderr);
    let poll = env.server.device_polls().pop().unwrap();
    assert_eq!(poll.path, "/organizations/oauth2/v2.0/token");
    assert_eq!(poll.field("grant_type"), Some(DEVICE_CODE_GRANT));
    let json: serde_json::Value = serde_json::from_str(&finished.stdout).unwrap();
    // The server grants the consented permission for `.default`.
    assert_eq!(
        json["scope"],
        "https://graph.microsoft.com/User.Read openid profile offline_access"
    );
}

#[test]
fn unknown_app_fails_before_polling() {
    let env = TestEnv::new();
    env.write_profile(
        "me",
        TENANT_ID,
        "99999999-8888-4777-8666-555555555555",
        &["User.Read"],
    );
    let output = env
        .cmd()
        .args(["get-token", "-p", "me", "-f", "device-code"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", stderr_of(&output));
    assert!(stderr_of(&output).contains("AADSTS700016"));
    assert!(env.server.device_polls().is_empty());
}

/// Runs the flow in a pseudo-terminal (util-linux `script`), where stderr is
/// a terminal, so the spinner must be drawn there and only there.
#[cfg(target_os = "linux")]
#[test]
fn spinner_is_drawn_in_a_terminal() {
    use std::io::Read;
    use std::sync::{Arc, Mutex};

    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let tool = assert_cmd::cargo::cargo_bin("entratool");
    let mut script = std::process::Command::new("script");
    script
        .args(["--quiet", "--return", "--command"])
        .arg(format!("{} get-token -p me -f DeviceCode", tool.display()))
        .arg("/dev/null");
    // The same environment as every other test run of the tool.
    for (name, value) in env.std_cmd().get_envs() {
        match value {
            Some(value) => script.env(name, value),
            None => script.env_remove(name),
        };
    }
    script
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = KillOnDrop(script.spawn().expect("util-linux script"));
    let terminal = Arc::new(Mutex::new(String::new()));
    let mut pipe = child.0.stdout.take().unwrap();
    let sink = Arc::clone(&terminal);
    let reader = std::thread::spawn(move || {
        let mut buffer = [0u8; 4096];
        while let Ok(read) = pipe.read(&mut buffer) {
            if read == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buffer[..read]));
        }
    });
    wait_until("the spinner", WAIT, || {
        terminal
            .lock()
            .unwrap()
            .contains("Waiting for sign-in with code")
    });
    let text = terminal.lock().unwrap().clone();
    let code = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("Code: "))
        .expect("a Code: line")
        .trim()
        .to_string();
    assert!(env.server.approve_device_code(&code));
    let status = child.0.wait().unwrap();
    reader.join().unwrap();
    assert_eq!(status.code(), Some(0), "{}", terminal.lock().unwrap());
}

/// Kills the process if the test ends before it exits. Closing the
/// terminal of `script` also ends the tool running in it (SIGHUP).
#[cfg(target_os = "linux")]
struct KillOnDrop(std::process::Child);

#[cfg(target_os = "linux")]
impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
