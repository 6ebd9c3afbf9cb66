//! `config export` and `config import`: round trips, wrong passphrases,
//! damaged files, the original tool's files and all-or-nothing imports.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use cbc::cipher::{block_padding::Pkcs7, BlockEncryptMut, KeyIvInit};
use expectrl::Expect;

use crate::common::{
    cert_password_account, files_under, keyring_lookup, keyring_store, output_with_tiny_file_limit,
    pty_exit_code, secret_account, secret_appears_under, send_hidden_line, stderr_of, stdout_of,
    unique_name, TestEnv,
};
use crate::fake_entra::{CLIENT_ID, CLIENT_SECRET, GRAPH_DEFAULT, TENANT_ID};

const PASSPHRASE: &str = "a long test passphrase";

/// Builds a file as the original .NET tool's `config export` wrote it:
/// base64 of salt (32 bytes), IV (16 bytes) and AES-256-CBC ciphertext with
/// PKCS#7 padding, keyed by PBKDF2-HMAC-SHA256 with 100,000 rounds.
fn original_export(plaintext: &str, passphrase: &str) -> String {
    let salt: [u8; 32] = std::array::from_fn(|i| (i * 7 + 3) as u8);
    let iv: [u8; 16] = std::array::from_fn(|i| (i * 13 + 5) as u8);
    let mut key = [0u8; 32];
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(passphrase.as_bytes(), &salt, 100_000, &mut key);
    let ciphertext = cbc::Encryptor::<aes::Aes256>::new_from_slices(&key, &iv)
        .unwrap()
        .encrypt_padded_vec_mut::<Pkcs7>(plaintext.as_bytes());
    let mut bytes = salt.to_vec();
    bytes.extend_from_slice(&iv);
    bytes.extend_from_slice(&ciphertext);
    STANDARD.encode(bytes)
}

/// The JSON the original tool encrypted: PascalCase wrapper, camelCase
/// profile, .NET's seven-digit fractional seconds.
fn original_payload(name: &str, client_secret: Option<&str>) -> String {
    serde_json::to_string_pretty(&serde_json::json!({
        "Profile": {
            "name": name,
            "tenantId": TENANT_ID,
            "clientId": CLIENT_ID,
            "scopes": [GRAPH_DEFAULT],
            "resource": null,
            "authMethod": "ClientSecret",
            "redirectUri": null,
            "certificatePath": null,
            "cacheCertificatePassword": false,
            "defaultFlow": "ClientCredentials",
            "createdAt": "2025-11-20T09:15:42.1234567+00:00",
            "updatedAt": "2025-11-21T16:02:11.7654321+01:00"
        },
        "ClientSecret": client_secret,
        "CertificatePassword": null,
        "ExportedAt": "2025-11-22T10:00:00.0000000+00:00"
    }))
    .unwrap()
}

fn write_app_profile(env: &TestEnv, name: &str) {
    env.write_profiles(
        &serde_json::json!([{
            "name": name,
            "tenantId": TENANT_ID,
            "clientId": CLIENT_ID,
            "scopes": [GRAPH_DEFAULT],
            "authMethod": "ClientSecret",
            "cacheCertificatePassword": true,
            "defaultFlow": "ClientCredentials",
            "createdAt": "2026-01-01T00:00:00Z",
            "updatedAt": "2026-01-01T00:00:00Z",
            "futureField": [1, 2]
        }])
        .to_string(),
    );
}

fn export(env: &TestEnv, name: &str, file: &Path, extra: &[&str]) -> std::process::Output {
    env.cmd()
        .args(["config", "export", "-p", name, "-o"])
        .arg(file)
        .args(extra)
        .env("ENTRATOOL_EXPORT_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap()
}

fn import(env: &TestEnv, file: &Path, passphrase: &str, extra: &[&str]) -> std::process::Output {
    env.cmd()
        .args(["config", "import", "-i"])
        .arg(file)
        .args(extra)
        .env("ENTRATOOL_EXPORT_PASSPHRASE", passphrase)
        .output()
        .unwrap()
}

fn export_file(env: &TestEnv) -> PathBuf {
    env.dir.path().join("profile.export")
}

#[test]
fn round_trip_without_secrets() {
    let source = TestEnv::new();
    let name = unique_name("rt-plain");
    write_app_profile(&source, &name);
    keyring_store(&secret_account(&name), "must-not-travel");
    let file = export_file(&source);
    let output = export(&source, &name, &file, &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(stdout_of(&output).is_empty());

    let bytes = std::fs::read(&file).unwrap();
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains("entratool-profile-export"));
    assert!(!text.contains(CLIENT_ID), "the profile is not encrypted");
    assert!(!text.contains("must-not-travel"));
    let mode = std::os::unix::fs::MetadataExt::mode(&std::fs::metadata(&file).unwrap());
    assert_eq!(mode & 0o777, 0o600);

    let target = TestEnv::new();
    let imported = unique_name("rt-plain-in");
    let output = import(&target, &file, PASSPHRASE, &["-n", &imported]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let profile = &target.profiles_json()[0];
    assert_eq!(profile["name"], imported.as_str());
    assert_eq!(profile["tenantId"], TENANT_ID);
    assert_eq!(profile["clientId"], CLIENT_ID);
    assert_eq!(profile["scopes"], serde_json::json!([GRAPH_DEFAULT]));
    assert_eq!(profile["defaultFlow"], "ClientCredentials");
    assert_eq!(profile["createdAt"], "2026-01-01T00:00:00Z");
    assert_eq!(profile["futureField"], serde_json::json!([1, 2]));
    assert_eq!(keyring_lookup(&secret_account(&imported)), None);
    assert!(stderr_of(&output).contains("held no client secret"));
}

#[test]
fn round_trip_with_secrets_gets_a_token() {
    let source = TestEnv::new();
    let name = unique_name("rt-secret");
    write_app_profile(&source, &name);
    keyring_store(&secret_account(&name), CLIENT_SECRET);
    keyring_store(&cert_password_account(&name), "pfx-password");
    let file = export_file(&source);
    let output = export(&source, &name, &file, &["--include-secrets"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(!text.contains(CLIENT_SECRET));
    assert!(!text.contains("pfx-password"));

    let target = TestEnv::new();
    let imported = unique_name("rt-secret-in");
    let output = import(&target, &file, PASSPHRASE, &["-n", &imported]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(!stderr_of(&output).contains(CLIENT_SECRET));
    assert_eq!(
        keyring_lookup(&secret_account(&imported)).as_deref(),
        Some(CLIENT_SECRET)
    );
    assert_eq!(
        keyring_lookup(&cert_password_account(&imported)).as_deref(),
        Some("pfx-password")
    );
    let output = target
        .cmd()
        .args(["get-token", "-p", &imported])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
}

#[test]
fn export_to_stdout_and_import_from_stdin() {
    let source = TestEnv::new();
    write_app_profile(&source, "app");
    let output = source
        .cmd()
        .args(["config", "export", "-p", "app"])
        .env("ENTRATOOL_EXPORT_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let exported = stdout_of(&output);
    assert!(exported.contains("entratool-profile-export"));

    let target = TestEnv::new();
    let output = target
        .cmd()
        .args(["config", "import"])
        .env("ENTRATOOL_EXPORT_PASSPHRASE", PASSPHRASE)
        .write_stdin(exported)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(target.profiles_json()[0]["name"], "app");
}

#[test]
fn wrong_passphrase_is_reported() {
    let source = TestEnv::new();
    write_app_profile(&source, "app");
    let file = export_file(&source);
    assert_eq!(export(&source, "app", &file, &[]).status.code(), Some(0));

    let target = TestEnv::new();
    let output = import(&target, &file, "not the passphrase", &[]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the passphrase is wrong"), "{stderr}");
    assert!(!stderr.contains("damaged"), "{stderr}");
    assert!(!target.profiles_path().exists());
}

#[test]
fn flipped_byte_is_reported_as_damage() {
    let source = TestEnv::new();
    write_app_profile(&source, "app");
    let file = export_file(&source);
    assert_eq!(export(&source, "app", &file, &[]).status.code(), Some(0));
    let original = std::fs::read(&file).unwrap();

    // One flipped bit at positions spread over the whole file: the header,
    // the salt, the check value, the ciphertext and the checksum.
    let target = TestEnv::new();
    let damaged = target.dir.path().join("damaged.export");
    let positions: Vec<usize> = (0..original.len()).step_by(11).collect();
    assert!(positions.len() > 40, "the export is unexpectedly short");
    for position in positions {
        let mut bytes = original.clone();
        bytes[position] ^= 0x01;
        std::fs::write(&damaged, &bytes).unwrap();
        let output = import(&target, &damaged, PASSPHRASE, &[]);
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(1), "byte {position}: {stderr}");
        assert!(
            stderr.contains("damaged or was altered"),
            "byte {position}: {stderr}"
        );
        assert!(!target.profiles_path().exists(), "byte {position} imported");
    }
}

#[test]
fn original_tool_export_imports() {
    let env = TestEnv::new();
    let name = unique_name("from-dotnet");
    let file = env.dir.path().join("original.export");
    std::fs::write(
        &file,
        original_export(&original_payload(&name, Some(CLIENT_SECRET)), PASSPHRASE),
    )
    .unwrap();

    let output = import(&env, &file, PASSPHRASE, &[]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("original tool"), "{stderr}");
    let profile = &env.profiles_json()[0];
    assert_eq!(profile["name"], name.as_str());
    assert_eq!(profile["clientId"], CLIENT_ID);
    assert_eq!(profile["defaultFlow"], "ClientCredentials");
    assert_eq!(
        keyring_lookup(&secret_account(&name)).as_deref(),
        Some(CLIENT_SECRET)
    );
    let output = env.cmd().args(["get-token", "-p", &name]).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
}

#[test]
fn original_tool_export_with_wrong_passphrase() {
    let env = TestEnv::new();
    let file = env.dir.path().join("original.export");
    std::fs::write(
        &file,
        original_export(&original_payload("dotnet", None), PASSPHRASE),
    )
    .unwrap();
    let output = import(&env, &file, "wrong passphrase", &[]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    // PKCS#7 padding catches most wrong keys; the rest fail as non-JSON.
    assert!(
        stderr.contains("passphrase is wrong or the file is damaged")
            || stderr.contains("not a profile"),
        "{stderr}"
    );
    assert!(!env.profiles_path().exists());
}

#[test]
fn import_refuses_to_overwrite_without_force() {
    let source = TestEnv::new();
    write_app_profile(&source, "app");
    let file = export_file(&source);
    assert_eq!(export(&source, "app", &file, &[]).status.code(), Some(0));

    let target = TestEnv::new();
    target.write_profile(
        "APP",
        TENANT_ID,
        "33333333-4444-5555-6666-777777777777",
        &[GRAPH_DEFAULT],
    );
    let before = std::fs::read(target.profiles_path()).unwrap();
    let output = import(&target, &file, PASSPHRASE, &[]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read(target.profiles_path()).unwrap(), before);

    let output = import(&target, &file, PASSPHRASE, &["--force"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let profiles = target.profiles_json();
    assert_eq!(profiles.as_array().unwrap().len(), 1);
    assert_eq!(profiles[0]["name"], "app");
    assert_eq!(profiles[0]["clientId"], CLIENT_ID);
}

fn import_with_failing_save(env: &TestEnv, file: &Path, extra: &[&str]) -> std::process::Output {
    let mut cmd = env.std_cmd();
    cmd.args(["config", "import", "-i"])
        .arg(file)
        .args(extra)
        .env("ENTRATOOL_EXPORT_PASSPHRASE", PASSPHRASE);
    output_with_tiny_file_limit(cmd)
}

#[test]
fn failed_import_leaves_profiles_and_keyring_unchanged() {
    let source = TestEnv::new();
    let exported = unique_name("atomic-src");
    write_app_profile(&source, &exported);
    keyring_store(&secret_account(&exported), "secret-from-the-file");
    let file = export_file(&source);
    let output = export(&source, &exported, &file, &["--include-secrets"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));

    let target = TestEnv::new();
    let existing = unique_name("atomic-existing");
    let fresh = unique_name("atomic-fresh");
    write_app_profile(&target, &existing);
    keyring_store(&secret_account(&existing), "secret-already-here");
    let before = std::fs::read(target.profiles_path()).unwrap();

    // A new name: the secret written for it must be removed again.
    let output = import_with_failing_save(&target, &file, &["-n", &fresh]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("writing failed"), "{stderr}");
    assert_eq!(std::fs::read(target.profiles_path()).unwrap(), before);
    assert_eq!(keyring_lookup(&secret_account(&fresh)), None);

    // Replacing a profile: its old secret must come back.
    let output = import_with_failing_save(&target, &file, &["-n", &existing, "--force"]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr_of(&output));
    assert_eq!(std::fs::read(target.profiles_path()).unwrap(), before);
    assert_eq!(
        keyring_lookup(&secret_account(&existing)).as_deref(),
        Some("secret-already-here")
    );
    let leftovers: Vec<_> = files_under(&target.config_dir())
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");

    // The same import without the limit succeeds, so the limit was the cause.
    let output = import(&target, &file, PASSPHRASE, &["-n", &fresh]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(
        keyring_lookup(&secret_account(&fresh)).as_deref(),
        Some("secret-from-the-file")
    );
}

#[test]
fn passphrase_is_required_without_terminal() {
    let env = TestEnv::new();
    write_app_profile(&env, "app");
    let output = env
        .cmd()
        .args(["config", "export", "-p", "app"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(stderr_of(&output).contains("ENTRATOOL_EXPORT_PASSPHRASE"));
    assert!(stdout_of(&output).is_empty());

    let output = env
        .cmd()
        .args(["config", "export", "-p", "app"])
        .env("ENTRATOOL_EXPORT_PASSPHRASE", "short")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(stderr_of(&output).contains("shorter than 8"));
}

#[test]
fn export_unknown_profile_exits_2() {
    let env = TestEnv::new();
    write_app_profile(&env, "app");
    let output = env
        .cmd()
        .args(["config", "export", "-p", "ghost"])
        .env("ENTRATOOL_EXPORT_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn export_at_terminal_asks_passphrase_twice() {
    let env = TestEnv::new();
    write_app_profile(&env, "app");
    let file = export_file(&env);
    let mut session = env.spawn_in_pty(env.pty_cmd(&[
        "config",
        "export",
        "-p",
        "app",
        "-o",
        file.to_str().unwrap(),
    ]));
    session.expect("Passphrase for the export file").unwrap();
    send_hidden_line(&mut session, "typed passphrase 1");
    session.expect("Repeat the passphrase").unwrap();
    send_hidden_line(&mut session, "typed passphrase 2");
    session.expect("The passphrases differ").unwrap();
    session.expect("Passphrase for the export file").unwrap();
    send_hidden_line(&mut session, "typed passphrase");
    session.expect("Repeat the passphrase").unwrap();
    send_hidden_line(&mut session, "typed passphrase");
    assert_eq!(pty_exit_code(session), 0);

    let target = TestEnv::new();
    let output = import(&target, &file, "typed passphrase", &[]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
}

#[test]
fn import_at_terminal_asks_passphrase_once() {
    let source = TestEnv::new();
    write_app_profile(&source, "app");
    let file = export_file(&source);
    assert_eq!(export(&source, "app", &file, &[]).status.code(), Some(0));

    let target = TestEnv::new();
    let mut session =
        target.spawn_in_pty(target.pty_cmd(&["config", "import", "-i", file.to_str().unwrap()]));
    session.expect("Passphrase of the export file").unwrap();
    send_hidden_line(&mut session, PASSPHRASE);
    session.expect("Imported profile `app`").unwrap();
    assert_eq!(pty_exit_code(session), 0);
    assert_eq!(target.profiles_json()[0]["name"], "app");
}

#[test]
fn secrets_stay_out_of_verbose_output() {
    let source = TestEnv::new();
    let name = unique_name("verbose");
    write_app_profile(&source, &name);
    keyring_store(&secret_account(&name), CLIENT_SECRET);
    let file = export_file(&source);
    let output = export(&source, &name, &file, &["--include-secrets", "-vv"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let mut logs = stderr_of(&output);

    let target = TestEnv::new();
    let imported = unique_name("verbose-in");
    let output = import(&target, &file, PASSPHRASE, &["-n", &imported, "-vv"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    logs.push_str(&stderr_of(&output));
    let output = import(&target, &file, "a wrong passphrase", &["-n", "x", "-vv"]);
    assert_eq!(output.status.code(), Some(1));
    logs.push_str(&stderr_of(&output));

    for needle in [CLIENT_SECRET, PASSPHRASE, "a wrong passphrase"] {
        assert!(!logs.contains(needle), "{needle:?} appears in:\n{logs}");
    }
    assert_eq!(
        secret_appears_under(&target.config_dir(), CLIENT_SECRET),
        None
    );
}
