//! The redaction scan: every command that handles a secret runs with `-vv`
//! and `RUST_LOG=entratool=trace`, and neither its stderr nor its stdout may
//! contain any secret value it used, in any common encoding. Values the tool
//! generates or receives (client assertions, authorization codes, PKCE
//! verifiers, device codes, refresh tokens) are taken from the fake
//! server's records of what it was sent.
//!
//! Stdout may carry the requested access token, which is not among the
//! values scanned for. These tests need the keyring, so they run under
//! `scripts/with-secret-service.sh`.

use std::process::Output;
use std::time::Duration;

use serde_json::Value;

use crate::browser::{use_scripted_browser, BrowserFiles};
use crate::certificates::{cert, CERT_CLIENT_ID, PASSWORD};
use crate::common::{free_port, stderr_of, stdout_of, unique_name, wait_until, Running, TestEnv};
use crate::fake_entra::{
    App, AppSecret, DeviceSettings, DEVICE_CODE_GRANT, GRAPH_DEFAULT, LOCALHOST_ANY_PORT, TENANT_ID,
};

/// Client ID of an app registered with [`TRICKY_SECRET`] and
/// [`MULTILINE_SECRET`].
const TRICKY_CLIENT_ID: &str = "3e2d1c0b-a987-4654-8321-0fedcba98765";

/// A client secret with every character that shells, URL encoding and JSON
/// treat specially.
const TRICKY_SECRET: &str = "Tr1cky+/=%'\"$HOME`x`\\n&?#;";

/// A second secret of the same app, with a newline inside, which only an
/// environment variable can carry.
const MULTILINE_SECRET: &str = "first-line+/=%\nsecond-line'\"$";

const PASSPHRASE: &str = "export pass phrase +/=%'\"$";

const WAIT: Duration = Duration::from_secs(30);

fn redaction_env() -> TestEnv {
    let env = TestEnv::new();
    env.server.add_app(App {
        client_id: TRICKY_CLIENT_ID.to_string(),
        secrets: [TRICKY_SECRET, MULTILINE_SECRET]
            .iter()
            .map(|value| AppSecret {
                value: value.to_string(),
                expired: false,
            })
            .collect(),
        certificates: Vec::new(),
        public_client: false,
        redirect_uris: vec![LOCALHOST_ANY_PORT.to_string()],
    });
    env
}

/// Returns the forms a secret may take in text: as is, form-urlencoded,
/// percent-encoded with `%20` for spaces, JSON-escaped, Rust-`Debug`
/// escaped, and each line on its own for a secret with newlines.
fn encodings(secret: &str) -> Vec<String> {
    let mut forms = vec![secret.to_string()];
    forms.push(form_urlencoded::byte_serialize(secret.as_bytes()).collect());
    forms.push(
        form_urlencoded::byte_serialize(secret.as_bytes())
            .collect::<String>()
            .replace('+', "%20"),
    );
    let json = serde_json::to_string(secret).unwrap();
    forms.push(json[1..json.len() - 1].to_string());
    let debug = format!("{secret:?}");
    forms.push(debug[1..debug.len() - 1].to_string());
    if secret.contains('\n') {
        forms.extend(secret.lines().map(str::to_string));
    }
    forms.sort();
    forms.dedup();
    forms
}

/// Runs `cmd` with the most verbose logging the tool has.
fn verbose(mut cmd: assert_cmd::Command) -> assert_cmd::Command {
    cmd.arg("-vv").env("RUST_LOG", "entratool=trace");
    cmd
}

/// Fails when stdout or stderr of `output` contains any form of any secret.
fn assert_no_secret(what: &str, output: &Output, secrets: &[&str]) {
    assert_text_clean(what, "stderr", &stderr_of(output), secrets);
    assert_text_clean(what, "stdout", &stdout_of(output), secrets);
}

fn assert_text_clean(what: &str, stream: &str, text: &str, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !secret.is_empty(),
            "{what}: an empty value cannot be scanned for"
        );
        for form in encodings(secret) {
            assert!(
                !text.contains(&form),
                "{what}: {stream} contains a secret (as `{form}`):\n{text}"
            );
        }
    }
}

fn assert_success(what: &str, output: &Output) {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{what} failed: {}",
        stderr_of(output)
    );
}

/// Returns every value of form field `name` the server received.
fn sent_values(env: &TestEnv, name: &str) -> Vec<String> {
    env.server
        .requests()
        .iter()
        .flat_map(|request| request.form.clone())
        .filter(|(key, _)| key == name)
        .map(|(_, value)| value)
        .collect()
}

fn create_secret_profile(env: &TestEnv, name: &str, secret: &str) -> Output {
    verbose(env.cmd())
        .args(["config", "create", "--name", name, "--tenant-id", TENANT_ID])
        .args(["--client-id", TRICKY_CLIENT_ID, "--scopes", GRAPH_DEFAULT])
        .arg("--client-secret-stdin")
        .write_stdin(format!("{secret}\n"))
        .output()
        .unwrap()
}

fn delete_profile(env: &TestEnv, name: &str) {
    let output = env
        .cmd()
        .args(["config", "delete", "-p", name, "--yes"])
        .output()
        .unwrap();
    assert_success("config delete", &output);
}

#[test]
fn client_secret_never_printed() {
    let env = redaction_env();
    let name = unique_name("redact-secret");
    let output = create_secret_profile(&env, &name, TRICKY_SECRET);
    assert_success("config create", &output);
    assert_no_secret(
        "config create --client-secret-stdin",
        &output,
        &[TRICKY_SECRET],
    );

    for format in ["token", "json", "env"] {
        let output = verbose(env.cmd())
            .args(["get-token", "-p", &name, "--no-clipboard", "--force"])
            .args(["-o", format])
            .output()
            .unwrap();
        assert_success("get-token", &output);
        assert_no_secret(
            &format!("get-token -o {format} (keyring secret)"),
            &output,
            &[TRICKY_SECRET],
        );
    }
    // Every crate's trace output, including the D-Bus messages that carry
    // the secret from the keyring and the HTTP client's.
    let output = env
        .cmd()
        .args(["-vv", "get-token", "-p", &name, "--no-clipboard", "--force"])
        .env("RUST_LOG", "trace")
        .output()
        .unwrap();
    assert_success("get-token with RUST_LOG=trace", &output);
    assert_no_secret("get-token with RUST_LOG=trace", &output, &[TRICKY_SECRET]);
    assert_eq!(
        sent_values(&env, "client_secret"),
        vec![TRICKY_SECRET.to_string(); 4],
        "the keyring secret was not the one sent"
    );

    // A wrong secret makes the server reject the request; the error must
    // not repeat what was sent.
    let wrong = "Wr0ng+/=%'\"$secret";
    let output = verbose(env.cmd())
        .args(["get-token", "-p", &name, "--no-cache"])
        .env("ENTRATOOL_CLIENT_SECRET", wrong)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(3), "{}", stderr_of(&output));
    assert_no_secret(
        "get-token with a wrong secret",
        &output,
        &[wrong, TRICKY_SECRET],
    );

    delete_profile(&env, &name);
}

#[test]
fn environment_secrets_never_printed() {
    let env = redaction_env();
    let name = unique_name("redact-env");
    env.write_profile(&name, TENANT_ID, TRICKY_CLIENT_ID, &[GRAPH_DEFAULT]);
    for secret in [TRICKY_SECRET, MULTILINE_SECRET] {
        let output = verbose(env.cmd())
            .args(["get-token", "-p", &name, "-o", "json"])
            .env("ENTRATOOL_CLIENT_SECRET", secret)
            .output()
            .unwrap();
        assert_success("get-token", &output);
        assert_no_secret("get-token with ENTRATOOL_CLIENT_SECRET", &output, &[secret]);
    }

    // Without a profile, from the Azure SDK variable.
    let output = verbose(env.cmd())
        .args(["get-token", "--env", "-o", "json"])
        .env("AZURE_TENANT_ID", TENANT_ID)
        .env("AZURE_CLIENT_ID", TRICKY_CLIENT_ID)
        .env("AZURE_CLIENT_SECRET", MULTILINE_SECRET)
        .output()
        .unwrap();
    assert_success("get-token --env", &output);
    assert_no_secret("get-token --env", &output, &[MULTILINE_SECRET]);
    assert_eq!(
        sent_values(&env, "client_secret"),
        vec![
            TRICKY_SECRET.to_string(),
            MULTILINE_SECRET.to_string(),
            MULTILINE_SECRET.to_string()
        ]
    );
}

#[test]
fn edited_secret_never_printed() {
    let env = redaction_env();
    let name = unique_name("redact-edit");
    let output = create_secret_profile(&env, &name, "placeholder-secret-value");
    assert_success("config create", &output);

    let output = verbose(env.cmd())
        .args(["config", "edit", "-p", &name, "--client-secret-stdin"])
        .write_stdin(format!("{TRICKY_SECRET}\n"))
        .output()
        .unwrap();
    assert_success("config edit", &output);
    assert_no_secret(
        "config edit --client-secret-stdin",
        &output,
        &[TRICKY_SECRET],
    );

    let renamed = unique_name("redact-renamed");
    let output = verbose(env.cmd())
        .args(["config", "edit", "-p", &name, "--rename", &renamed])
        .output()
        .unwrap();
    assert_success("config edit --rename", &output);
    assert_no_secret("config edit --rename", &output, &[TRICKY_SECRET]);

    let output = verbose(env.cmd())
        .args(["refresh", "-p", &renamed])
        .output()
        .unwrap();
    assert_success("refresh", &output);
    assert_no_secret("refresh (client credentials)", &output, &[TRICKY_SECRET]);
    assert_eq!(sent_values(&env, "client_secret"), vec![TRICKY_SECRET]);

    delete_profile(&env, &renamed);
}

#[test]
fn export_and_import_never_print_secrets() {
    let env = redaction_env();
    let name = unique_name("redact-export");
    let output = create_secret_profile(&env, &name, TRICKY_SECRET);
    assert_success("config create", &output);
    let file = env.dir.path().join("profile.export");

    let output = verbose(env.cmd())
        .args(["config", "export", "-p", &name, "--include-secrets", "-o"])
        .arg(&file)
        .env("ENTRATOOL_EXPORT_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert_success("config export", &output);
    assert_no_secret("config export -o", &output, &[TRICKY_SECRET, PASSPHRASE]);
    let exported = std::fs::read_to_string(&file).unwrap();
    assert_text_clean(
        "config export",
        "the file",
        &exported,
        &[TRICKY_SECRET, PASSPHRASE],
    );

    // To stdout, the file is the requested output; it must still be sealed.
    let output = verbose(env.cmd())
        .args(["config", "export", "-p", &name, "--include-secrets"])
        .env("ENTRATOOL_EXPORT_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert_success("config export to stdout", &output);
    assert_no_secret(
        "config export to stdout",
        &output,
        &[TRICKY_SECRET, PASSPHRASE],
    );

    let imported = unique_name("redact-import");
    let output = verbose(env.cmd())
        .args(["config", "import", "-n", &imported, "-i"])
        .arg(&file)
        .env("ENTRATOOL_EXPORT_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert_success("config import", &output);
    assert_no_secret("config import", &output, &[TRICKY_SECRET, PASSPHRASE]);

    let wrong = "not the pass phrase +/=%";
    let output = verbose(env.cmd())
        .args(["config", "import", "-n", "never-created", "-i"])
        .arg(&file)
        .env("ENTRATOOL_EXPORT_PASSPHRASE", wrong)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", stderr_of(&output));
    assert_no_secret(
        "config import with a wrong passphrase",
        &output,
        &[TRICKY_SECRET, PASSPHRASE, wrong],
    );

    let output = verbose(env.cmd())
        .args(["get-token", "-p", &imported, "--no-clipboard"])
        .output()
        .unwrap();
    assert_success("get-token with the imported secret", &output);
    assert_no_secret("get-token (imported)", &output, &[TRICKY_SECRET]);

    delete_profile(&env, &name);
    delete_profile(&env, &imported);
}

#[test]
fn certificate_password_and_assertion_never_printed() {
    let env = redaction_env();
    env.server.add_app(App {
        client_id: CERT_CLIENT_ID.to_string(),
        secrets: Vec::new(),
        certificates: vec![std::fs::read(cert("cert.der")).unwrap()],
        public_client: false,
        redirect_uris: vec![LOCALHOST_ANY_PORT.to_string()],
    });
    let name = unique_name("redact-cert");
    let output = verbose(env.cmd())
        .args([
            "config",
            "create",
            "--name",
            &name,
            "--tenant-id",
            TENANT_ID,
        ])
        .args(["--client-id", CERT_CLIENT_ID, "--scopes", GRAPH_DEFAULT])
        .args(["--auth-method", "Certificate", "--certificate-path"])
        .arg(cert("default.pfx"))
        .args(["--certificate-password-stdin", "--cache-cert-password"])
        .write_stdin(format!("{PASSWORD}\n"))
        .output()
        .unwrap();
    assert_success("config create (certificate)", &output);
    assert_no_secret(
        "config create --certificate-password-stdin",
        &output,
        &[PASSWORD],
    );

    let mut outputs = Vec::new();
    for (label, password) in [("keyring", None), ("environment", Some(PASSWORD))] {
        let mut cmd = verbose(env.cmd());
        cmd.args(["get-token", "-p", &name, "--no-cache", "-o", "json"]);
        if let Some(password) = password {
            cmd.env("ENTRATOOL_CERTIFICATE_PASSWORD", password);
        }
        let output = cmd.output().unwrap();
        assert_success(label, &output);
        outputs.push((label, output));
    }

    let export_file = env.dir.path().join("cert.export");
    let output = verbose(env.cmd())
        .args(["config", "export", "-p", &name, "--include-secrets", "-o"])
        .arg(&export_file)
        .env("ENTRATOOL_EXPORT_PASSPHRASE", PASSPHRASE)
        .output()
        .unwrap();
    assert_success("config export (certificate)", &output);
    outputs.push(("config export (certificate)", output));

    let assertions = env.server.client_assertions();
    assert_eq!(assertions.len(), 2, "one assertion per token request");
    let mut secrets: Vec<&str> = assertions.iter().map(String::as_str).collect();
    secrets.push(PASSWORD);
    secrets.push(PASSPHRASE);
    for (label, output) in &outputs {
        assert_no_secret(label, output, &secrets);
        // The signature part alone identifies an assertion.
        for assertion in &assertions {
            let signature = assertion.rsplit('.').next().unwrap();
            assert_text_clean(label, "stderr", &stderr_of(output), &[signature]);
        }
    }

    delete_profile(&env, &name);
}

#[test]
fn device_code_and_refresh_token_never_printed() {
    let env = TestEnv::new();
    env.server.set_device_settings(DeviceSettings::default());
    let name = unique_name("redact-device");
    crate::common::write_public_profile(&env, &name, &["User.Read"]);

    let mut cmd = env.std_cmd();
    cmd.args([
        "-vv",
        "get-token",
        "-p",
        &name,
        "-f",
        "DeviceCode",
        "-o",
        "json",
    ])
    .env("RUST_LOG", "entratool=trace");
    let mut running = Running::start(cmd, false);
    let stderr = running.wait_for_stderr("  URL:", WAIT);
    let code = stderr
        .lines()
        .find_map(|line| line.trim().strip_prefix("Code: "))
        .expect("a Code: line")
        .trim()
        .to_string();
    wait_until("a pending poll", WAIT, || {
        !env.server.device_polls().is_empty()
    });
    assert!(env.server.approve_device_code(&code));
    let finished = running.finish(WAIT);
    assert_eq!(finished.code, Some(0), "{}", finished.stderr);

    let device_codes: Vec<String> = env
        .server
        .device_polls()
        .iter()
        .filter(|poll| poll.field("grant_type") == Some(DEVICE_CODE_GRANT))
        .filter_map(|poll| poll.field("device_code").map(str::to_string))
        .collect();
    assert!(!device_codes.is_empty());

    let output = verbose(env.cmd())
        .args(["refresh", "-p", &name, "-f", "DeviceCode", "-o", "json"])
        .output()
        .unwrap();
    assert_success("refresh", &output);
    let second = verbose(env.cmd())
        .args(["refresh", "-p", &name, "-f", "DeviceCode"])
        .output()
        .unwrap();
    assert_success("second refresh", &second);

    let refresh_tokens = sent_values(&env, "refresh_token");
    assert_eq!(
        refresh_tokens.len(),
        2,
        "each refresh sends its refresh token"
    );
    assert_ne!(
        refresh_tokens[0], refresh_tokens[1],
        "refresh tokens rotate"
    );
    let mut secrets: Vec<&str> = device_codes.iter().map(String::as_str).collect();
    secrets.extend(refresh_tokens.iter().map(String::as_str));

    assert_text_clean("device code sign-in", "stderr", &finished.stderr, &secrets);
    assert_text_clean("device code sign-in", "stdout", &finished.stdout, &secrets);
    assert_no_secret("refresh -o json", &output, &secrets);
    assert_no_secret("second refresh", &second, &secrets);
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(json.get("refresh_token").is_none(), "{json}");

    delete_profile(&env, &name);
}

#[test]
fn browser_sign_in_never_prints_code_or_verifier() {
    let env = redaction_env();
    let name = unique_name("redact-browser");
    env.write_profile(&name, TENANT_ID, TRICKY_CLIENT_ID, &["User.Read"]);
    let files = BrowserFiles::new(&env);
    let port = free_port().to_string();
    let mut cmd = verbose(env.cmd());
    cmd.args([
        "get-token",
        "-p",
        &name,
        "-f",
        "AuthorizationCode",
        "-o",
        "json",
    ])
    .args(["--port", &port])
    .env("ENTRATOOL_CLIENT_SECRET", TRICKY_SECRET);
    use_scripted_browser(&mut cmd, &files, "follow");
    let output = cmd.output().unwrap();
    files.wait_until_done();
    assert_success("get-token -f AuthorizationCode", &output);

    let codes = sent_values(&env, "code");
    let verifiers = sent_values(&env, "code_verifier");
    assert_eq!(codes.len(), 1);
    assert_eq!(verifiers.len(), 1);
    let mut secrets = vec![TRICKY_SECRET, codes[0].as_str(), verifiers[0].as_str()];
    assert_no_secret("get-token -f AuthorizationCode", &output, &secrets);

    let output = verbose(env.cmd())
        .args(["refresh", "-p", &name, "-f", "AuthorizationCode"])
        .env("ENTRATOOL_CLIENT_SECRET", TRICKY_SECRET)
        .output()
        .unwrap();
    assert_success("refresh -f AuthorizationCode", &output);
    let refresh_tokens = sent_values(&env, "refresh_token");
    assert_eq!(refresh_tokens.len(), 1);
    secrets.push(refresh_tokens[0].as_str());
    assert_no_secret("refresh -f AuthorizationCode", &output, &secrets);
}
