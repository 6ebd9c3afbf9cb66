//! `config create` and `config list` without the keyring (scripts and
//! failure paths). Creation with a stored secret is in `keyring.rs`.

use crate::common::{stderr_of, stdout_of, TestEnv};
use crate::fake_entra::{CLIENT_ID, CLIENT_SECRET, TENANT_ID};

const FIXTURE: &str = "tests/fixtures/original-profiles.json";

#[test]
fn list_shows_a_table_of_the_original_fixture() {
    let env = TestEnv::new();
    env.write_profiles(&std::fs::read_to_string(FIXTURE).unwrap());
    let output = env.cmd().args(["config", "list"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let stdout = stdout_of(&output);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    for column in [
        "NAME",
        "TENANT",
        "CLIENT ID",
        "AUTH METHOD",
        "DEFAULT FLOW",
        "UPDATED",
    ] {
        assert!(lines[0].contains(column), "missing {column}: {}", lines[0]);
    }
    assert!(lines[1].starts_with("Graph-Dev"), "{}", lines[1]);
    assert!(lines[1].contains("ClientCredentials"), "{}", lines[1]);
    assert!(
        lines[1].contains("2025-11-21 15:02Z"),
        "UTC update time: {}",
        lines[1]
    );
    assert!(lines[2].starts_with("cert-app"), "{}", lines[2]);
    assert!(lines[2].contains("Certificate"), "{}", lines[2]);
}

#[test]
fn list_json_keeps_the_original_field_names() {
    let env = TestEnv::new();
    env.write_profiles(&std::fs::read_to_string(FIXTURE).unwrap());
    let output = env
        .cmd()
        .args(["config", "list", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let json: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let profiles = json.as_array().unwrap();
    assert_eq!(profiles.len(), 2);
    let cert = &profiles[1];
    assert_eq!(cert["name"], "cert-app");
    assert_eq!(cert["tenantId"], "contoso.onmicrosoft.com");
    assert_eq!(cert["authMethod"], "Certificate");
    assert_eq!(cert["certificatePath"], "/home/dev/certs/app.pfx");
    assert_eq!(cert["cacheCertificatePassword"], true);
    assert_eq!(cert["redirectUri"], "http://localhost:8080");
    assert_eq!(cert["resource"], "api://entratool-test");
}

#[test]
fn list_with_no_profiles_says_how_to_create_one() {
    let env = TestEnv::new();
    let output = env.cmd().args(["config", "list"]).output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    assert!(output.stdout.is_empty());
    assert!(stderr_of(&output).contains("config create"));
}

#[test]
fn create_without_tty_and_missing_field_names_the_flag() {
    let env = TestEnv::new();
    let output = env
        .cmd()
        .args([
            "config",
            "create",
            "--name",
            "x",
            "--client-id",
            CLIENT_ID,
            "--no-secret",
        ])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("--tenant-id"), "{stderr}");
    assert!(!env.profiles_path().exists());
}

#[test]
fn create_without_tty_and_no_secret_saves_nothing() {
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
        ])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("--client-secret-stdin"), "{stderr}");
    assert!(stderr.contains("ENTRATOOL_CLIENT_SECRET"), "{stderr}");
    assert!(!env.profiles_path().exists(), "a profile was saved");
    assert!(!env.config_dir().exists() || crate::common::files_under(&env.config_dir()).is_empty());
}

#[test]
fn create_rejects_a_non_guid_client_id() {
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
            "my-app",
            "--no-secret",
        ])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("`my-app` is not a GUID"), "{stderr}");
    assert!(!env.profiles_path().exists());
}

#[test]
fn create_leaves_a_damaged_file_unchanged() {
    let env = TestEnv::new();
    let damaged = "[{\"name\": \"keep-me\", \"tenantId\": \"t\",,]";
    env.write_profiles(damaged);
    let output = env
        .cmd()
        .args([
            "config",
            "create",
            "--name",
            "new",
            "--tenant-id",
            TENANT_ID,
            "--client-id",
            CLIENT_ID,
            "--client-secret-stdin",
        ])
        .write_stdin("some-secret\n")
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("line 1"), "{stderr}");
    assert!(stderr.contains("left unchanged"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(env.profiles_path()).unwrap(),
        damaged
    );
}

#[test]
fn create_without_secret_then_token_from_environment() {
    let env = TestEnv::new();
    let output = env
        .cmd()
        .args([
            "config",
            "create",
            "--name",
            "ci",
            "--tenant",
            TENANT_ID,
            "--client-id",
            CLIENT_ID,
            "--scopes",
            "https://graph.microsoft.com/.default",
            "--no-secret",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(output.stdout.is_empty(), "create printed on stdout");

    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.profiles_path()).unwrap()).unwrap();
    assert_eq!(saved[0]["name"], "ci");
    assert_eq!(saved[0]["authMethod"], "ClientSecret");
    assert_eq!(
        saved[0]["scopes"][0],
        "https://graph.microsoft.com/.default"
    );
    assert!(saved[0]["createdAt"].is_string());

    let output = env
        .cmd()
        .args(["get-token", "-p", "ci"])
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
}

#[cfg(unix)]
#[test]
fn created_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let env = TestEnv::new();
    let output = env
        .cmd()
        .args([
            "config",
            "create",
            "--name",
            "p",
            "--tenant-id",
            TENANT_ID,
            "--client-id",
            CLIENT_ID,
            "--no-secret",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let dir_mode = std::fs::metadata(env.config_dir())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    let file_mode = std::fs::metadata(env.profiles_path())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dir_mode, 0o700);
    assert_eq!(file_mode, 0o600);
    let leftovers: Vec<_> = crate::common::files_under(&env.config_dir())
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

#[test]
fn create_rejects_a_duplicate_name_in_any_case() {
    let env = TestEnv::new();
    env.write_profiles(&std::fs::read_to_string(FIXTURE).unwrap());
    let before = std::fs::read_to_string(env.profiles_path()).unwrap();
    let output = env
        .cmd()
        .args([
            "config",
            "create",
            "--name",
            "GRAPH-dev",
            "--tenant-id",
            TENANT_ID,
            "--client-id",
            CLIENT_ID,
            "--no-secret",
        ])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("already exists"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(env.profiles_path()).unwrap(),
        before
    );
}

#[test]
fn create_keeps_existing_profiles_and_unknown_fields() {
    let env = TestEnv::new();
    let mut profiles: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(FIXTURE).unwrap()).unwrap();
    profiles[0]["futureField"] = serde_json::json!({"kept": true});
    env.write_profiles(&profiles.to_string());
    let output = env
        .cmd()
        .args([
            "config",
            "create",
            "--name",
            "third",
            "--tenant-id",
            TENANT_ID,
            "--client-id",
            CLIENT_ID,
            "--no-secret",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let saved: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(env.profiles_path()).unwrap()).unwrap();
    let saved = saved.as_array().unwrap();
    assert_eq!(saved.len(), 3);
    assert_eq!(saved[0]["futureField"]["kept"], true);
    assert_eq!(saved[1]["certificatePath"], "/home/dev/certs/app.pfx");
    assert_eq!(saved[2]["name"], "third");
}

#[test]
fn help_shows_examples() {
    let env = TestEnv::new();
    for args in [
        &["--help"][..],
        &["get-token", "--help"],
        &["config", "create", "--help"],
        &["config", "list", "--help"],
    ] {
        let output = env.cmd().args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(0));
        assert!(stdout_of(&output).contains("Examples:"), "{args:?}");
    }
    let output = env.cmd().arg("--version").output().unwrap();
    assert!(stdout_of(&output).starts_with("entratool "));
}
