//! The token cache: hits without network, `--force`, `--no-cache`, renewal
//! inside the reuse margin, parallel processes, damage recovery, `refresh`
//! for app-only profiles and the expiry warning.

use std::process::Stdio;

use crate::common::{
    files_under, secret_appears_under, stderr_of, stdout_of, unique_name, TestEnv,
};
use crate::fake_entra::{CLIENT_ID, CLIENT_SECRET, GRAPH_DEFAULT, TENANT_ID};

fn get_token(env: &TestEnv, extra: &[&str]) -> std::process::Output {
    env.cmd()
        .args(["get-token", "-p", "app"])
        .args(extra)
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap()
}

fn succeeded(output: &std::process::Output) {
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(output));
}

fn json_of(output: &std::process::Output) -> serde_json::Value {
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(output));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn second_call_is_served_from_the_cache() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let first = json_of(&get_token(&env, &["-o", "json"]));
    assert_eq!(first["from_cache"], false);
    let second = json_of(&get_token(&env, &["-o", "json"]));
    assert_eq!(second["from_cache"], true);
    assert_eq!(first["access_token"], second["access_token"]);
    assert_eq!(env.server.token_requests().len(), 1);
}

#[test]
fn cache_hit_needs_no_network_and_no_keyring() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let first = get_token(&env, &[]);
    assert_eq!(first.status.code(), Some(0), "{}", stderr_of(&first));
    // An unreachable authority and D-Bus prove the hit touches neither.
    let output = env
        .cmd()
        .args(["get-token", "-p", "app"])
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .env("ENTRATOOL_AUTHORITY", env.server.url())
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/entratool-test-bus",
        )
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(stdout_of(&output), stdout_of(&first));
    assert_eq!(env.server.requests().len(), 1);
}

#[test]
fn force_asks_the_server_and_updates_the_cache() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let first = json_of(&get_token(&env, &["-o", "json"]));
    let forced = json_of(&get_token(&env, &["-o", "json", "--force"]));
    assert_eq!(forced["from_cache"], false);
    assert_ne!(first["access_token"], forced["access_token"]);
    let third = json_of(&get_token(&env, &["-o", "json"]));
    assert_eq!(third["access_token"], forced["access_token"]);
    assert_eq!(env.server.token_requests().len(), 2);
}

#[test]
fn no_cache_neither_reads_nor_writes() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    for _ in 0..2 {
        let output = get_token(&env, &["--no-cache"]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    }
    assert_eq!(env.server.token_requests().len(), 2);
    assert!(
        !env.config_dir().join("cache").exists(),
        "--no-cache wrote a cache"
    );
}

#[test]
fn token_inside_the_reuse_margin_is_renewed() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    // Four minutes is inside the five-minute margin.
    env.server.set_token_lifetime(240);
    json_of(&get_token(&env, &["-o", "json"]));
    let second = json_of(&get_token(&env, &["-o", "json"]));
    assert_eq!(second["from_cache"], false);
    assert_eq!(env.server.token_requests().len(), 2);
}

#[test]
fn scopes_and_secrets_get_separate_entries() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    succeeded(&get_token(&env, &[]));
    succeeded(&get_token(
        &env,
        &["-s", "https://management.azure.com/.default"],
    ));
    assert_eq!(env.server.token_requests().len(), 2);
    // A different secret must not be served the entry the old one made.
    let output = env
        .cmd()
        .args(["get-token", "-p", "app"])
        .env("ENTRATOOL_CLIENT_SECRET", "rotated-wrong-secret")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", stderr_of(&output));
    assert_eq!(env.server.token_requests().len(), 3);
}

#[test]
fn parallel_cold_processes_send_one_request() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let children: Vec<_> = (0..16)
        .map(|_| {
            env.std_cmd()
                .args(["get-token", "-p", "app"])
                .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<_> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for output in &outputs {
        assert_eq!(output.status.code(), Some(0), "{}", stderr_of(output));
    }
    let first = stdout_of(&outputs[0]);
    assert!(
        outputs.iter().all(|o| stdout_of(o) == first),
        "processes got different tokens"
    );
    assert_eq!(env.server.token_requests().len(), 1);
    let entries: Vec<_> = files_under(&env.config_dir().join("cache"))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert_eq!(entries.len(), 1);
    let sealed: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&entries[0]).unwrap()).unwrap();
    assert_eq!(sealed["version"], 1);
}

#[test]
fn damaged_cache_entry_is_discarded_and_rebuilt() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    succeeded(&get_token(&env, &[]));
    let entry = files_under(&env.config_dir().join("cache"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("a cache entry");
    std::fs::write(&entry, b"{\"version\": 1, \"nonce\": \"AAAA\", trunc").unwrap();

    let output = get_token(&env, &["-o", "json"]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert_eq!(
        stderr.lines().count(),
        1,
        "expected one warning line: {stderr}"
    );
    assert!(
        stderr.contains("discarding the damaged token cache entry"),
        "{stderr}"
    );
    assert_eq!(env.server.token_requests().len(), 2);

    let again = json_of(&get_token(&env, &["-o", "json"]));
    assert_eq!(again["from_cache"], true);
    assert_eq!(env.server.token_requests().len(), 2);
}

#[test]
fn unreadable_cache_folder_does_not_crash() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    std::fs::create_dir_all(env.config_dir()).unwrap();
    // A file where the cache folder should be.
    std::fs::write(env.config_dir().join("cache"), b"not a folder").unwrap();
    let output = get_token(&env, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(stdout_of(&output).lines().count(), 1);
}

#[test]
fn tokens_are_not_stored_in_plaintext() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let output = get_token(&env, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let token = stdout_of(&output).trim().to_string();
    let cache_files = files_under(&env.config_dir().join("cache"));
    assert!(!cache_files.is_empty(), "nothing was cached");
    for part in token.split('.') {
        assert_eq!(secret_appears_under(&env.config_dir(), part), None);
    }
    assert_eq!(secret_appears_under(&env.config_dir(), CLIENT_SECRET), None);
}

#[test]
fn refresh_always_asks_the_server_for_app_profiles() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let first = json_of(&get_token(&env, &["-o", "json"]));
    let refreshed = env
        .cmd()
        .args(["refresh", "-p", "APP", "-o", "json"])
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    let refreshed = json_of(&refreshed);
    assert_eq!(refreshed["from_cache"], false);
    assert_ne!(first["access_token"], refreshed["access_token"]);
    let after = json_of(&get_token(&env, &["-o", "json"]));
    assert_eq!(after["access_token"], refreshed["access_token"]);
    assert_eq!(env.server.token_requests().len(), 2);
}

#[test]
fn refresh_of_unknown_profile_exits_2() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let output = env.cmd().args(["refresh", "-p", "nope"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2), "{}", stderr_of(&output));
}

#[test]
fn expiry_warning_follows_the_threshold() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    succeeded(&get_token(&env, &[]));
    let quiet = get_token(&env, &[]);
    assert_eq!(quiet.status.code(), Some(0));
    assert!(
        !stderr_of(&quiet).contains("warning"),
        "{}",
        stderr_of(&quiet)
    );

    let warned = get_token(&env, &["--warn-expiry", "120"]);
    let stderr = stderr_of(&warned);
    assert_eq!(warned.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("expires in 59 min") || stderr.contains("expires in 58 min"),
        "{stderr}"
    );
    assert!(stderr.contains("entratool refresh -p app"), "{stderr}");
    assert_eq!(
        stdout_of(&warned).lines().count(),
        1,
        "warning reached stdout"
    );

    let silent = get_token(&env, &["--warn-expiry", "120", "--silent"]);
    assert!(silent.stderr.is_empty());
}

/// Counts keyring reads from the debug log of one run.
fn keyring_reads(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains("keyring read"))
        .map(str::to_string)
        .collect()
}

#[test]
fn cache_hit_with_keyring_secret_reads_the_keyring_once() {
    let env = TestEnv::new();
    let name = unique_name("rt");
    let output = env
        .cmd()
        .args([
            "config",
            "create",
            "--name",
            &name,
            "--tenant-id",
            TENANT_ID,
            "--client-id",
            CLIENT_ID,
            "--scopes",
            GRAPH_DEFAULT,
            "--client-secret-stdin",
        ])
        .write_stdin(format!("{CLIENT_SECRET}\n"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));

    let cold = env
        .cmd()
        .args(["get-token", "-p", &name])
        .env("RUST_LOG", "entratool=debug")
        .output()
        .unwrap();
    assert_eq!(cold.status.code(), Some(0), "{}", stderr_of(&cold));
    assert_eq!(
        keyring_reads(&stderr_of(&cold)).len(),
        2,
        "{}",
        stderr_of(&cold)
    );

    let hit = env
        .cmd()
        .args(["get-token", "-p", &name])
        .env("RUST_LOG", "entratool=debug")
        .output()
        .unwrap();
    let stderr = stderr_of(&hit);
    assert_eq!(hit.status.code(), Some(0), "{stderr}");
    let reads = keyring_reads(&stderr);
    assert_eq!(reads.len(), 1, "{stderr}");
    assert!(reads[0].contains("token-cache-key"), "{stderr}");
    assert!(stderr.contains("cache hit"), "{stderr}");
    assert_eq!(env.server.token_requests().len(), 1);
    assert!(!stderr.contains(CLIENT_SECRET));
}
