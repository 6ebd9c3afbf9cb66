//! `config edit` and `config delete`, by flags and at a terminal.

use expectrl::Expect;

use crate::common::{
    cert_password_account, keyring_lookup, keyring_store, output_with_tiny_file_limit,
    pty_exit_code, secret_account, send_hidden_line, stderr_of, unique_name, TestEnv,
};
use crate::fake_entra::{CLIENT_ID, CLIENT_SECRET, GRAPH_DEFAULT, TENANT_DOMAIN, TENANT_ID};

const OTHER_CLIENT_ID: &str = "22222222-3333-4444-5555-666666666666";

/// A profile with an unknown field, so edits can show it survives.
fn write_profile_with_extra(env: &TestEnv, name: &str) {
    env.write_profiles(
        &serde_json::json!([{
            "name": name,
            "tenantId": TENANT_ID,
            "clientId": CLIENT_ID,
            "scopes": [GRAPH_DEFAULT],
            "authMethod": "ClientSecret",
            "cacheCertificatePassword": false,
            "defaultFlow": "ClientCredentials",
            "createdAt": "2026-01-01T00:00:00+00:00",
            "updatedAt": "2026-01-01T00:00:00+00:00",
            "futureField": {"kept": true}
        }])
        .to_string(),
    );
}

#[test]
fn edit_by_flags_changes_fields_and_timestamps() {
    let env = TestEnv::new();
    write_profile_with_extra(&env, "app");
    let output = env
        .cmd()
        .args([
            "config",
            "edit",
            "-p",
            "APP",
            "--tenant-id",
            TENANT_DOMAIN,
            "--client-id",
            OTHER_CLIENT_ID,
            "--scopes",
            "User.Read, Mail.Read",
            "--default-flow",
            "device-code",
            "--redirect-uri",
            "http://localhost:5000",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));

    let profile = &env.profiles_json()[0];
    assert_eq!(profile["name"], "app");
    assert_eq!(profile["tenantId"], TENANT_DOMAIN);
    assert_eq!(profile["clientId"], OTHER_CLIENT_ID);
    assert_eq!(
        profile["scopes"],
        serde_json::json!(["User.Read", "Mail.Read"])
    );
    assert_eq!(profile["defaultFlow"], "DeviceCode");
    assert_eq!(profile["redirectUri"], "http://localhost:5000");
    assert_eq!(profile["createdAt"], "2026-01-01T00:00:00Z");
    assert_ne!(profile["updatedAt"], "2026-01-01T00:00:00Z");
    assert_eq!(profile["futureField"], serde_json::json!({"kept": true}));
}

#[test]
fn edit_clears_optional_fields() {
    let env = TestEnv::new();
    write_profile_with_extra(&env, "app");
    let output = env
        .cmd()
        .args(["config", "edit", "-p", "app", "--default-flow", "none"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(env.profiles_json()[0].get("defaultFlow").is_none());
}

#[test]
fn edit_rejects_invalid_values_and_saves_nothing() {
    let env = TestEnv::new();
    write_profile_with_extra(&env, "app");
    let before = std::fs::read(env.profiles_path()).unwrap();
    for (flag, value) in [("--client-id", "not-a-guid"), ("--tenant-id", "no spaces")] {
        let output = env
            .cmd()
            .args(["config", "edit", "-p", "app", flag, value])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(64), "{}", stderr_of(&output));
        assert!(stderr_of(&output).contains(value), "{}", stderr_of(&output));
    }
    assert_eq!(std::fs::read(env.profiles_path()).unwrap(), before);
}

#[test]
fn edit_unknown_profile_exits_2() {
    let env = TestEnv::new();
    write_profile_with_extra(&env, "app");
    let output = env
        .cmd()
        .args(["config", "edit", "-p", "nope", "--scopes", "a"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("app"), "{}", stderr_of(&output));
}

#[test]
fn edit_without_flags_or_terminal_is_usage_error() {
    let env = TestEnv::new();
    write_profile_with_extra(&env, "app");
    let output = env
        .cmd()
        .args(["config", "edit", "-p", "app"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(stderr_of(&output).contains("--tenant-id"));
}

#[test]
fn edit_rename_to_existing_name_is_rejected() {
    let env = TestEnv::new();
    env.write_profiles(
        &serde_json::json!([
            {"name": "one", "tenantId": TENANT_ID, "clientId": CLIENT_ID, "scopes": [GRAPH_DEFAULT],
             "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"},
            {"name": "two", "tenantId": TENANT_ID, "clientId": CLIENT_ID, "scopes": [GRAPH_DEFAULT],
             "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"}
        ])
        .to_string(),
    );
    let output = env
        .cmd()
        .args(["config", "edit", "-p", "one", "--rename", "TWO"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr_of(&output).contains("already exists"));
    assert_eq!(env.profiles_json()[0]["name"], "one");
}

#[test]
fn edit_rename_moves_secrets_and_drops_cache() {
    let env = TestEnv::new();
    let old = unique_name("ren-old");
    let new = unique_name("ren-new");
    write_profile_with_extra(&env, &old);
    keyring_store(&secret_account(&old), CLIENT_SECRET);
    keyring_store(&cert_password_account(&old), "pfx-password");
    let old_cache = env.fill_cache(&old);

    let output = env
        .cmd()
        .args(["config", "edit", "-p", &old, "--rename", &new])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));

    assert_eq!(env.profiles_json()[0]["name"], new.as_str());
    assert_eq!(
        keyring_lookup(&secret_account(&new)).as_deref(),
        Some(CLIENT_SECRET)
    );
    assert_eq!(
        keyring_lookup(&cert_password_account(&new)).as_deref(),
        Some("pfx-password")
    );
    assert_eq!(keyring_lookup(&secret_account(&old)), None);
    assert_eq!(keyring_lookup(&cert_password_account(&old)), None);
    // Cache entries are bound to the profile name, so a rename drops them.
    assert!(!old_cache.exists(), "the old cache folder is still there");

    // The moved secret works under the new name.
    let output = env
        .cmd()
        .args(["get-token", "-p", &new, "--no-clipboard"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
}

#[test]
fn edit_stores_new_secret_from_stdin() {
    let env = TestEnv::new();
    let name = unique_name("newsecret");
    write_profile_with_extra(&env, &name);
    keyring_store(&secret_account(&name), "old-secret");
    let output = env
        .cmd()
        .args(["config", "edit", "-p", &name, "--client-secret-stdin"])
        .write_stdin(format!("{CLIENT_SECRET}\n"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(
        keyring_lookup(&secret_account(&name)).as_deref(),
        Some(CLIENT_SECRET)
    );
    assert!(!stderr_of(&output).contains(CLIENT_SECRET));
}

#[test]
fn edit_at_terminal_keeps_defaults_and_takes_answers() {
    let env = TestEnv::new();
    let name = unique_name("pty-edit");
    write_profile_with_extra(&env, &name);
    let mut session = env.spawn_in_pty(env.pty_cmd(&["config", "edit", "-p", &name]));

    session.expect("Profile name").unwrap();
    session.send_line("").unwrap();
    session.expect("Tenant ID").unwrap();
    session.send_line(TENANT_DOMAIN).unwrap();
    session.expect("Client ID").unwrap();
    session.send_line("").unwrap();
    session.expect("Scopes").unwrap();
    session.send_line("api://entratool-test/.default").unwrap();
    session.expect("Authentication method").unwrap();
    session.send_line("").unwrap();
    session.expect("Store a new client secret?").unwrap();
    // A confirmation takes a single key, without Enter.
    session.send("n").unwrap();
    session.expect("Default flow").unwrap();
    session.send_line("").unwrap();
    session.expect("Redirect URI").unwrap();
    session.send_line("http://localhost:8400").unwrap();
    assert_eq!(pty_exit_code(session), 0);

    let profile = &env.profiles_json()[0];
    assert_eq!(profile["name"], name.as_str());
    assert_eq!(profile["tenantId"], TENANT_DOMAIN);
    assert_eq!(profile["clientId"], CLIENT_ID);
    assert_eq!(
        profile["scopes"],
        serde_json::json!(["api://entratool-test/.default"])
    );
    assert_eq!(profile["authMethod"], "ClientSecret");
    assert_eq!(profile["defaultFlow"], "ClientCredentials");
    assert_eq!(profile["redirectUri"], "http://localhost:8400");
    assert_eq!(profile["createdAt"], "2026-01-01T00:00:00Z");
    assert_ne!(profile["updatedAt"], "2026-01-01T00:00:00Z");
}

#[test]
fn edit_at_terminal_stores_a_new_secret() {
    let env = TestEnv::new();
    let name = unique_name("pty-secret");
    write_profile_with_extra(&env, &name);
    let mut session = env.spawn_in_pty(env.pty_cmd(&["config", "edit", "-p", &name]));
    for prompt in ["Profile name", "Tenant ID", "Client ID", "Scopes"] {
        session.expect(prompt).unwrap();
        session.send_line("").unwrap();
    }
    session.expect("Authentication method").unwrap();
    session.send_line("").unwrap();
    session.expect("Store a new client secret?").unwrap();
    session.send("y").unwrap();
    session.expect("Client secret").unwrap();
    send_hidden_line(&mut session, "typed-at-the-terminal");
    session.expect("Default flow").unwrap();
    session.send_line("").unwrap();
    session.expect("Redirect URI").unwrap();
    session.send_line("").unwrap();
    assert_eq!(pty_exit_code(session), 0);
    assert_eq!(
        keyring_lookup(&secret_account(&name)).as_deref(),
        Some("typed-at-the-terminal")
    );
}

#[test]
fn delete_removes_profile_secrets_and_cache() {
    let env = TestEnv::new();
    let name = unique_name("del");
    let neighbour = format!("{name}-neighbour");
    env.write_profiles(
        &serde_json::json!([
            {"name": name, "tenantId": TENANT_ID, "clientId": CLIENT_ID, "scopes": [GRAPH_DEFAULT],
             "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"},
            {"name": neighbour, "tenantId": TENANT_ID, "clientId": CLIENT_ID,
             "scopes": [GRAPH_DEFAULT],
             "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z"}
        ])
        .to_string(),
    );
    keyring_store(&secret_account(&name), CLIENT_SECRET);
    keyring_store(&cert_password_account(&name), "pfx-to-be-deleted");
    keyring_store(&secret_account(&neighbour), CLIENT_SECRET);
    let cache = env.fill_cache(&name);
    let neighbour_cache = env.fill_cache(&neighbour);

    let output = env
        .cmd()
        .args(["config", "delete", "-p", &name.to_uppercase(), "--yes"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));

    let profiles = env.profiles_json();
    assert_eq!(profiles.as_array().unwrap().len(), 1);
    assert_eq!(profiles[0]["name"], neighbour.as_str());
    assert_eq!(keyring_lookup(&secret_account(&name)), None);
    assert_eq!(keyring_lookup(&cert_password_account(&name)), None);
    assert!(!cache.exists(), "the cache folder was not deleted");
    assert!(
        neighbour_cache.exists(),
        "another profile's cache was deleted"
    );
}

#[test]
fn delete_unknown_profile_exits_2() {
    let env = TestEnv::new();
    write_profile_with_extra(&env, "app");
    let output = env
        .cmd()
        .args(["config", "delete", "-p", "ghost", "--yes"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr_of(&output).contains("ghost"));
}

#[test]
fn delete_without_yes_or_terminal_deletes_nothing() {
    let env = TestEnv::new();
    write_profile_with_extra(&env, "app");
    let output = env
        .cmd()
        .args(["config", "delete", "-p", "app"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(stderr_of(&output).contains("--yes"));
    assert_eq!(env.profiles_json().as_array().unwrap().len(), 1);
}

#[test]
fn delete_at_terminal_asks_first() {
    let env = TestEnv::new();
    let name = unique_name("pty-del");
    write_profile_with_extra(&env, &name);

    let mut session = env.spawn_in_pty(env.pty_cmd(&["config", "delete", "-p", &name]));
    session.expect("Delete profile").unwrap();
    session.send("n").unwrap();
    assert_eq!(pty_exit_code(session), 0);
    assert_eq!(env.profiles_json().as_array().unwrap().len(), 1);

    let mut session = env.spawn_in_pty(env.pty_cmd(&["config", "delete", "-p", &name]));
    session.expect("Delete profile").unwrap();
    session.send("y").unwrap();
    assert_eq!(pty_exit_code(session), 0);
    assert_eq!(env.profiles_json().as_array().unwrap().len(), 0);
}

#[test]
fn edit_certificate_password_by_flags() {
    let env = TestEnv::new();
    let name = unique_name("certpw");
    write_profile_with_extra(&env, &name);

    let output = env
        .cmd()
        .args([
            "config",
            "edit",
            "-p",
            &name,
            "--auth-method",
            "Certificate",
            "--certificate-path",
            "/etc/entratool-test/app.pfx",
            "--cache-cert-password",
            "--certificate-password-stdin",
        ])
        .write_stdin("pfx-from-stdin\n")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let profile = &env.profiles_json()[0];
    assert_eq!(profile["authMethod"], "Certificate");
    assert_eq!(profile["certificatePath"], "/etc/entratool-test/app.pfx");
    assert_eq!(profile["cacheCertificatePassword"], true);
    assert_eq!(
        keyring_lookup(&cert_password_account(&name)).as_deref(),
        Some("pfx-from-stdin")
    );

    // Turning the cache off removes the stored password.
    let output = env
        .cmd()
        .args(["config", "edit", "-p", &name, "--no-cache-cert-password"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(env.profiles_json()[0]["cacheCertificatePassword"], false);
    assert_eq!(keyring_lookup(&cert_password_account(&name)), None);
}

#[test]
fn edit_certificate_method_needs_a_path() {
    let env = TestEnv::new();
    write_profile_with_extra(&env, "app");
    let output = env
        .cmd()
        .args([
            "config",
            "edit",
            "-p",
            "app",
            "--auth-method",
            "certificate",
        ])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(64));
    assert!(stderr_of(&output).contains("--certificate-path"));
    assert_eq!(env.profiles_json()[0]["authMethod"], "ClientSecret");
}

#[test]
fn edit_at_terminal_asks_certificate_questions() {
    let env = TestEnv::new();
    let name = unique_name("pty-cert");
    write_profile_with_extra(&env, &name);
    let mut session = env.spawn_in_pty(env.pty_cmd(&["config", "edit", "-p", &name]));
    for prompt in ["Profile name", "Tenant ID", "Client ID", "Scopes"] {
        session.expect(prompt).unwrap();
        session.send_line("").unwrap();
    }
    session.expect("Authentication method").unwrap();
    // Down once, from ClientSecret to Certificate.
    session.send("\x1b[B").unwrap();
    session.send_line("").unwrap();
    session.expect("Certificate path").unwrap();
    session.send_line("/srv/app.pfx").unwrap();
    session.expect("Keep the certificate password").unwrap();
    session.send("y").unwrap();
    session.expect("Store a new certificate password?").unwrap();
    session.send("y").unwrap();
    session.expect("Certificate password").unwrap();
    send_hidden_line(&mut session, "typed-pfx-password");
    session.expect("Default flow").unwrap();
    session.send_line("").unwrap();
    session.expect("Redirect URI").unwrap();
    session.send_line("").unwrap();
    assert_eq!(pty_exit_code(session), 0);

    let profile = &env.profiles_json()[0];
    assert_eq!(profile["authMethod"], "Certificate");
    assert_eq!(profile["certificatePath"], "/srv/app.pfx");
    assert_eq!(profile["cacheCertificatePassword"], true);
    assert_eq!(
        keyring_lookup(&cert_password_account(&name)).as_deref(),
        Some("typed-pfx-password")
    );
}

#[test]
fn failed_rename_leaves_keyring_unchanged() {
    let env = TestEnv::new();
    let old = unique_name("ren-fail-old");
    let new = unique_name("ren-fail-new");
    write_profile_with_extra(&env, &old);
    keyring_store(&secret_account(&old), "kept-secret");
    let before = std::fs::read(env.profiles_path()).unwrap();

    let mut cmd = env.std_cmd();
    cmd.args(["config", "edit", "-p", &old, "--rename", &new]);
    let output = output_with_tiny_file_limit(cmd);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("writing failed"), "{stderr}");

    assert_eq!(std::fs::read(env.profiles_path()).unwrap(), before);
    assert_eq!(
        keyring_lookup(&secret_account(&old)).as_deref(),
        Some("kept-secret")
    );
    assert_eq!(keyring_lookup(&secret_account(&new)), None);
}

#[test]
fn delete_without_keyring_warns_and_deletes() {
    let env = TestEnv::new();
    write_profile_with_extra(&env, "app");
    let output = env
        .cmd()
        .args(["config", "delete", "-p", "app", "--yes"])
        .env(
            "DBUS_SESSION_BUS_ADDRESS",
            "unix:path=/nonexistent/entratool-test-bus",
        )
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("warning:"), "{stderr}");
    assert!(stderr.contains("keyring entries"), "{stderr}");
    assert_eq!(env.profiles_json().as_array().unwrap().len(), 0);
}

/// Makes a password-protected PKCS#12 file with the openssl command line.
fn make_pfx(dir: &std::path::Path, password: &str) -> std::path::PathBuf {
    let run = |args: &[&str]| {
        let output = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl is missing; scripts/test.sh installs it");
        assert!(
            output.status.success(),
            "openssl {args:?} failed: {}",
            stderr_of(&output)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
        "-subj",
        "/CN=entratool edit test",
        "-days",
        "2",
    ]);
    run(&[
        "pkcs12",
        "-export",
        "-inkey",
        "key.pem",
        "-in",
        "cert.pem",
        "-passout",
        &format!("pass:{password}"),
        "-out",
        "app.pfx",
    ]);
    dir.join("app.pfx")
}

#[test]
fn edit_checks_the_certificate() {
    let env = TestEnv::new();
    let name = unique_name("certcheck");
    write_profile_with_extra(&env, &name);
    let pfx = make_pfx(env.dir.path(), "right-password");
    let pfx = pfx.to_str().unwrap();
    let before = std::fs::read(env.profiles_path()).unwrap();
    let to_certificate = |method: &str, password: &str| {
        env.cmd()
            .args([
                "config",
                "edit",
                "-p",
                &name,
                "--auth-method",
                method,
                "--certificate-path",
                pfx,
                "--cache-cert-password",
                "--certificate-password-stdin",
            ])
            .write_stdin(format!("{password}\n"))
            .output()
            .unwrap()
    };

    let output = to_certificate("Certificate", "wrong-password");
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the password is wrong"), "{stderr}");
    assert_eq!(std::fs::read(env.profiles_path()).unwrap(), before);
    assert_eq!(keyring_lookup(&cert_password_account(&name)), None);

    let output = env
        .cmd()
        .args([
            "config",
            "edit",
            "-p",
            &name,
            "--auth-method",
            "PasswordlessCertificate",
            "--certificate-path",
            pfx,
        ])
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("protected by a password"), "{stderr}");
    assert_eq!(std::fs::read(env.profiles_path()).unwrap(), before);

    let output = to_certificate("Certificate", "right-password");
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stderr.contains("SHA-1 thumbprint"), "{stderr}");
    assert_eq!(env.profiles_json()[0]["certificatePath"], pfx);
    assert_eq!(
        keyring_lookup(&cert_password_account(&name)).as_deref(),
        Some("right-password")
    );
}
