//! Certificate credentials: every file format the tool loads, the password
//! sources, the signed client assertion as the verifying test server checks
//! it, and the failures caught before any request is sent.
//!
//! The certificates are made once per test run by
//! `scripts/make-test-certificates.sh` with the openssl command line.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{secret_appears_under, stderr_of, stdout_of, unique_name, TestEnv};
use crate::fake_entra::{decode_claims, App, GRAPH_DEFAULT, LOCALHOST_ANY_PORT, TENANT_ID};

/// The app registration that has the test certificates uploaded.
pub const CERT_CLIENT_ID: &str = "5c6d7e8f-9a0b-4c1d-8e2f-3a4b5c6d7e8f";
/// Password of the protected test files, with spaces, quotes and a slash so
/// any shell or encoding slip shows up.
pub const PASSWORD: &str = "Test Pa55 w/ \"quotes\"";

/// Returns the folder of generated certificates, making them on first use.
fn certs() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("test-certificates-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/make-test-certificates.sh");
        let output = std::process::Command::new("bash")
            .arg(&script)
            .arg(&dir)
            .env("CERT_PASSWORD", PASSWORD)
            .output()
            .expect("run scripts/make-test-certificates.sh (needs openssl)");
        assert!(
            output.status.success(),
            "make-test-certificates.sh failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        dir
    })
}

pub fn cert(name: &str) -> PathBuf {
    certs().join(name)
}

pub fn der(name: &str) -> Vec<u8> {
    std::fs::read(cert(name)).unwrap()
}

/// Starts a test server whose app registration has these certificates.
fn env_with_certificates(registered: &[&str]) -> TestEnv {
    let env = TestEnv::new();
    env.server.add_app(App {
        client_id: CERT_CLIENT_ID.to_string(),
        secrets: Vec::new(),
        certificates: registered.iter().map(|name| der(name)).collect(),
        public_client: false,
        redirect_uris: vec![LOCALHOST_ANY_PORT.to_string()],
    });
    env
}

fn cert_env() -> TestEnv {
    env_with_certificates(&["cert.der"])
}

/// Writes a certificate profile; `extra` fields are merged into it.
fn write_cert_profile(env: &TestEnv, name: &str, method: &str, path: &str, extra: Value) {
    let mut profile = serde_json::json!({
        "name": name,
        "tenantId": TENANT_ID,
        "clientId": CERT_CLIENT_ID,
        "scopes": [GRAPH_DEFAULT],
        "authMethod": method,
        "certificatePath": path,
        "cacheCertificatePassword": false,
        "defaultFlow": "ClientCredentials",
        "createdAt": "2026-01-01T00:00:00+00:00",
        "updatedAt": "2026-01-01T00:00:00+00:00"
    });
    if let Value::Object(fields) = extra {
        for (key, value) in fields {
            profile[key] = value;
        }
    }
    env.write_profiles(&Value::Array(vec![profile]).to_string());
}

fn get_token(env: &TestEnv, profile: &str, args: &[&str], password: Option<&str>) -> Output {
    let mut cmd = env.cmd();
    // Each call must reach the server, since the tests check what it receives.
    cmd.args(["get-token", "-p", profile, "--no-cache"])
        .args(args);
    if let Some(password) = password {
        cmd.env("ENTRATOOL_CERTIFICATE_PASSWORD", password);
    }
    cmd.output().unwrap()
}

/// Runs get-token for a profile on `file` and checks that the server
/// accepted the assertion and issued a token.
fn assert_token_with(file: &str, method: &str, password: Option<&str>) -> TestEnv {
    let env = cert_env();
    let path = cert(file);
    write_cert_profile(&env, "app", method, path.to_str().unwrap(), Value::Null);
    let output = get_token(&env, "app", &[], password);
    assert!(
        output.status.success(),
        "{file}: exit {:?}, stderr: {}",
        output.status.code(),
        stderr_of(&output)
    );
    assert_eq!(env.server.tokens_issued(), 1, "{file}");
    assert_eq!(stdout_of(&output).matches('.').count(), 2, "{file}: a JWT");
    env
}

fn header_of(jwt: &str) -> Value {
    let part = jwt.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

/// Returns the client assertion of the only token request.
fn sent_assertion(env: &TestEnv) -> String {
    let requests = env.server.token_requests();
    assert_eq!(requests.len(), 1);
    requests[0].field("client_assertion").unwrap().to_string()
}

/// Checks a failure before the network: exit code 1, the message parts on
/// stderr, and no request at the server.
fn assert_pre_network_failure(env: &TestEnv, output: &Output, parts: &[&str]) {
    let stderr = stderr_of(output);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    for part in parts {
        assert!(stderr.contains(part), "expected `{part}` in: {stderr}");
    }
    assert!(stdout_of(output).is_empty());
    assert!(env.server.requests().is_empty(), "a request was sent");
    assert!(!stderr.contains(PASSWORD), "the password leaked: {stderr}");
}

// Loading: one test per format.

#[test]
fn pfx_openssl3_default_with_password() {
    assert_token_with("default.pfx", "Certificate", Some(PASSWORD));
}

#[test]
fn pfx_legacy_rc2_3des_with_password() {
    assert_token_with("legacy.pfx", "Certificate", Some(PASSWORD));
}

#[test]
fn pfx_with_empty_password() {
    assert_token_with("empty-password.pfx", "Certificate", None);
}

#[test]
fn pfx_without_encryption_or_mac() {
    assert_token_with("no-password.pfx", "PasswordlessCertificate", None);
}

#[test]
fn pfx_with_chain() {
    let env = env_with_certificates(&["leaf.der"]);
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        cert("chain.pfx").to_str().unwrap(),
        Value::Null,
    );
    let output = get_token(&env, "app", &["--include-x5c"], Some(PASSWORD));
    assert!(output.status.success(), "{}", stderr_of(&output));
    let header = header_of(&sent_assertion(&env));
    let x5c = header["x5c"].as_array().expect("x5c array");
    assert_eq!(x5c.len(), 2);
    assert_eq!(
        STANDARD.decode(x5c[0].as_str().unwrap()).unwrap(),
        der("leaf.der")
    );
}

#[test]
fn pem_pkcs8_key() {
    assert_token_with("pem-pkcs8.pem", "PasswordlessCertificate", None);
}

#[test]
fn pem_pkcs1_key() {
    assert_token_with("pem-pkcs1.pem", "Certificate", None);
}

#[test]
fn pem_encrypted_pkcs8_key() {
    assert_token_with("pem-encrypted.pem", "Certificate", Some(PASSWORD));
}

#[test]
fn pem_key_before_certificate() {
    assert_token_with("pem-key-first.pem", "Certificate", None);
}

#[test]
fn pem_chain_picks_leaf_by_key() {
    // The file has the CA first; only the leaf matches the key.
    let env = env_with_certificates(&["leaf.der"]);
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        cert("pem-chain.pem").to_str().unwrap(),
        Value::Null,
    );
    let output = get_token(&env, "app", &["--include-x5c"], None);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let header = header_of(&sent_assertion(&env));
    let x5c: Vec<Vec<u8>> = header["x5c"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| STANDARD.decode(c.as_str().unwrap()).unwrap())
        .collect();
    let ca = std::process::Command::new("openssl")
        .args(["x509", "-outform", "DER", "-in"])
        .arg(cert("ca.pem"))
        .output()
        .unwrap()
        .stdout;
    assert_eq!(x5c, vec![der("leaf.der"), ca]);
}

#[test]
fn tilde_in_path_is_expanded() {
    let env = cert_env();
    let home = env.dir.path().join("home");
    std::fs::create_dir_all(home.join("certs")).unwrap();
    std::fs::copy(cert("pem-pkcs8.pem"), home.join("certs/app.pem")).unwrap();
    write_cert_profile(&env, "app", "Certificate", "~/certs/app.pem", Value::Null);
    let output = env
        .cmd()
        .env("HOME", &home)
        .args(["get-token", "-p", "app"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(env.server.tokens_issued(), 1);
}

#[test]
fn ec_key_in_pem_is_rejected_by_name() {
    let env = cert_env();
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        cert("pem-ec.pem").to_str().unwrap(),
        Value::Null,
    );
    let output = get_token(&env, "app", &[], None);
    assert_pre_network_failure(
        &env,
        &output,
        &["EC (elliptic curve)", "not supported", "RSA"],
    );
}

#[test]
fn ec_key_in_pfx_is_rejected_by_name() {
    let env = cert_env();
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        cert("ec.pfx").to_str().unwrap(),
        Value::Null,
    );
    let output = get_token(&env, "app", &[], None);
    assert_pre_network_failure(&env, &output, &["EC (elliptic curve)", "not supported"]);
}

// Password sources.

#[test]
fn no_tty_and_no_password_names_the_variable() {
    for file in ["default.pfx", "legacy.pfx", "pem-encrypted.pem"] {
        let env = cert_env();
        write_cert_profile(
            &env,
            "app",
            "Certificate",
            cert(file).to_str().unwrap(),
            Value::Null,
        );
        let output = get_token(&env, "app", &[], None);
        assert_pre_network_failure(
            &env,
            &output,
            &[
                "protected by a password",
                "ENTRATOOL_CERTIFICATE_PASSWORD",
                file,
            ],
        );
    }
}

#[test]
fn wrong_password_from_environment() {
    for file in ["default.pfx", "legacy.pfx", "pem-encrypted.pem"] {
        let env = cert_env();
        write_cert_profile(
            &env,
            "app",
            "Certificate",
            cert(file).to_str().unwrap(),
            Value::Null,
        );
        let output = get_token(&env, "app", &[], Some("not the password"));
        assert_pre_network_failure(
            &env,
            &output,
            &["ENTRATOOL_CERTIFICATE_PASSWORD", "does not open", file],
        );
    }
}

#[test]
fn passwordless_profile_with_protected_file() {
    let env = cert_env();
    write_cert_profile(
        &env,
        "app",
        "PasswordlessCertificate",
        cert("default.pfx").to_str().unwrap(),
        Value::Null,
    );
    let output = get_token(&env, "app", &[], None);
    assert_pre_network_failure(
        &env,
        &output,
        &["PasswordlessCertificate", "--auth-method Certificate"],
    );
}

/// Stores a certificate password for `profile` the way config create does.
fn store_cached_password(profile: &str, password: &str) {
    let status = std::process::Command::new("secret-tool")
        .args([
            "store",
            "--label",
            "entratool test",
            "service",
            "entratool",
            "username",
            &format!("profile:{}:cert-password", profile.to_lowercase()),
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(password.as_bytes())?;
            child.wait()
        })
        .expect("secret-tool (libsecret-tools) runs");
    assert!(status.success(), "secret-tool store failed");
}

#[test]
fn cached_password_from_keyring() {
    let env = cert_env();
    let name = unique_name("cert-cached");
    write_cert_profile(
        &env,
        &name,
        "Certificate",
        cert("default.pfx").to_str().unwrap(),
        serde_json::json!({"cacheCertificatePassword": true}),
    );
    store_cached_password(&name, PASSWORD);
    let output = get_token(&env, &name, &[], None);
    assert!(output.status.success(), "{}", stderr_of(&output));
    assert_eq!(env.server.tokens_issued(), 1);
}

#[test]
fn cache_flag_reads_keyring() {
    let env = cert_env();
    let name = unique_name("cert-flag");
    write_cert_profile(
        &env,
        &name,
        "Certificate",
        cert("legacy.pfx").to_str().unwrap(),
        Value::Null,
    );
    store_cached_password(&name, PASSWORD);

    let without_flag = get_token(&env, &name, &[], None);
    assert_pre_network_failure(&env, &without_flag, &["ENTRATOOL_CERTIFICATE_PASSWORD"]);

    let with_flag = get_token(&env, &name, &["--cache-cert-password"], None);
    assert!(with_flag.status.success(), "{}", stderr_of(&with_flag));
    assert_eq!(env.server.tokens_issued(), 1);
}

#[test]
fn wrong_cached_password_falls_through() {
    let env = cert_env();
    let name = unique_name("cert-stale");
    write_cert_profile(
        &env,
        &name,
        "Certificate",
        cert("default.pfx").to_str().unwrap(),
        serde_json::json!({"cacheCertificatePassword": true}),
    );
    store_cached_password(&name, "an old password");
    let output = get_token(&env, &name, &[], None);
    assert_pre_network_failure(
        &env,
        &output,
        &[
            "warning: the certificate password stored in the OS keyring",
            "the password cached in the OS keyring is wrong",
            "ENTRATOOL_CERTIFICATE_PASSWORD",
        ],
    );
}

// The client assertion.

#[test]
fn assertion_defaults_to_ps256_with_x5t_s256() {
    let env = assert_token_with("pem-pkcs8.pem", "Certificate", None);
    let requests = env.server.token_requests();
    let request = &requests[0];
    assert_eq!(
        request.field("client_assertion_type"),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    assert_eq!(request.field("client_secret"), None);
    assert_eq!(request.field("grant_type"), Some("client_credentials"));
    let assertion = request.field("client_assertion").unwrap();

    let header = header_of(assertion);
    assert_eq!(header["alg"], "PS256");
    assert_eq!(header["typ"], "JWT");
    assert_eq!(
        header["x5t#S256"],
        URL_SAFE_NO_PAD.encode(Sha256::digest(der("cert.der")))
    );
    assert!(header.get("x5t").is_none(), "{header}");
    assert!(header.get("x5c").is_none(), "{header}");

    let claims = decode_claims(assertion);
    let endpoint = format!("{}/{TENANT_ID}/oauth2/v2.0/token", env.server.url());
    assert_eq!(claims["aud"], endpoint.as_str());
    assert_eq!(claims["iss"], CERT_CLIENT_ID);
    assert_eq!(claims["sub"], CERT_CLIENT_ID);
    let jti = claims["jti"].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(jti).is_ok(), "jti {jti}");
    let nbf = claims["nbf"].as_i64().expect("numeric nbf");
    let iat = claims["iat"].as_i64().expect("numeric iat");
    let exp = claims["exp"].as_i64().expect("numeric exp");
    assert_eq!(nbf, iat);
    assert_eq!(exp - iat, 600);
}

#[test]
fn rs256_and_x5t_by_flag() {
    let env = cert_env();
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        cert("pem-pkcs1.pem").to_str().unwrap(),
        Value::Null,
    );
    let output = get_token(
        &env,
        "app",
        &["--assertion-alg", "rs256", "--include-x5t"],
        None,
    );
    assert!(output.status.success(), "{}", stderr_of(&output));
    let header = header_of(&sent_assertion(&env));
    assert_eq!(header["alg"], "RS256");
    let sha1 = std::fs::read_to_string(cert("cert.sha1")).unwrap();
    let sha1_bytes: Vec<u8> = (0..40)
        .step_by(2)
        .map(|i| u8::from_str_radix(&sha1.trim()[i..i + 2], 16).unwrap())
        .collect();
    assert_eq!(header["x5t"], URL_SAFE_NO_PAD.encode(sha1_bytes));
}

#[test]
fn rs256_from_profile_fields() {
    let env = cert_env();
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        cert("pem-pkcs8.pem").to_str().unwrap(),
        serde_json::json!({"clientAssertionAlgorithm": "RS256", "includeX5c": true}),
    );
    let output = get_token(&env, "app", &[], None);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let header = header_of(&sent_assertion(&env));
    assert_eq!(header["alg"], "RS256");
    assert_eq!(header["x5c"].as_array().map(Vec::len), Some(1));
}

#[test]
fn each_request_gets_a_new_jti() {
    let env = cert_env();
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        cert("pem-pkcs8.pem").to_str().unwrap(),
        Value::Null,
    );
    for _ in 0..2 {
        let output = get_token(&env, "app", &[], None);
        assert!(output.status.success(), "{}", stderr_of(&output));
    }
    let jtis: Vec<String> = env
        .server
        .token_requests()
        .iter()
        .map(|r| decode_claims(r.field("client_assertion").unwrap())["jti"].to_string())
        .collect();
    assert_eq!(jtis.len(), 2);
    assert_ne!(jtis[0], jtis[1]);
}

#[test]
fn audience_follows_the_authority() {
    // A trailing slash on the authority must not change the audience.
    let env = cert_env();
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        cert("pem-pkcs8.pem").to_str().unwrap(),
        Value::Null,
    );
    let authority = format!("{}/", env.server.url());
    let output = get_token(&env, "app", &["--authority", &authority], None);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let claims = decode_claims(&sent_assertion(&env));
    assert_eq!(
        claims["aud"],
        format!("{}/{TENANT_ID}/oauth2/v2.0/token", env.server.url()).as_str()
    );
}

#[test]
fn unregistered_certificate_is_rejected_with_hint() {
    // The app registration has only the chain's leaf, not cert.pem.
    let env = env_with_certificates(&["leaf.der"]);
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        cert("pem-pkcs8.pem").to_str().unwrap(),
        Value::Null,
    );
    let output = get_token(&env, "app", &[], None);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("AADSTS700027"), "{stderr}");
    assert!(stderr.contains("not registered on application"), "{stderr}");
    assert!(
        stderr.contains("hint: the client assertion was rejected"),
        "{stderr}"
    );
    assert_eq!(env.server.token_requests().len(), 1);
}

#[test]
fn skewed_clock_is_rejected_with_hint() {
    let env = cert_env();
    env.server.set_clock_offset(3600);
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        cert("pem-pkcs8.pem").to_str().unwrap(),
        Value::Null,
    );
    let output = get_token(&env, "app", &[], None);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("AADSTS700024"), "{stderr}");
    assert!(
        stderr.contains("not within its valid time range"),
        "{stderr}"
    );
    assert!(stderr.contains("system clock"), "{stderr}");
}

// Checks before the network.

#[test]
fn missing_file_fails_before_request() {
    let env = cert_env();
    let path = env.dir.path().join("absent.pfx");
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        path.to_str().unwrap(),
        Value::Null,
    );
    let output = get_token(&env, "app", &[], None);
    assert_pre_network_failure(&env, &output, &["absent.pfx", "does not exist"]);
}

#[test]
fn unreadable_file_fails_before_request() {
    // A folder cannot be read as a file, even by root (tests may run as root,
    // where file modes do not stop reads).
    let env = cert_env();
    let path = env.dir.path().join("folder.pem");
    std::fs::create_dir_all(&path).unwrap();
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        path.to_str().unwrap(),
        Value::Null,
    );
    let output = get_token(&env, "app", &[], None);
    assert_pre_network_failure(&env, &output, &["cannot read certificate", "folder.pem"]);
}

#[test]
fn garbage_file_fails_before_request() {
    let env = cert_env();
    let path = env.dir.path().join("garbage.pfx");
    std::fs::write(&path, b"this is not a certificate").unwrap();
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        path.to_str().unwrap(),
        Value::Null,
    );
    let output = get_token(&env, "app", &[], None);
    assert_pre_network_failure(&env, &output, &["garbage.pfx", "neither a PKCS#12"]);
}

#[test]
fn expired_certificate_fails_with_dates() {
    let env = cert_env();
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        cert("pem-expired.pem").to_str().unwrap(),
        Value::Null,
    );
    let output = get_token(&env, "app", &[], None);
    assert_pre_network_failure(
        &env,
        &output,
        &[
            "has expired",
            "2020-01-01T00:00:00Z",
            "2021-01-01T00:00:00Z",
        ],
    );
}

#[test]
fn future_certificate_fails_with_dates() {
    let env = cert_env();
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        cert("pem-future.pem").to_str().unwrap(),
        Value::Null,
    );
    let output = get_token(&env, "app", &[], None);
    assert_pre_network_failure(&env, &output, &["not valid yet", "2099-01-01T00:00:00Z"]);
}

#[test]
fn mismatched_key_fails_before_request() {
    let env = cert_env();
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        cert("pem-mismatch.pem").to_str().unwrap(),
        Value::Null,
    );
    let output = get_token(&env, "app", &[], None);
    assert_pre_network_failure(
        &env,
        &output,
        &["does not match the certificate", "CN=entratool test app"],
    );
}

#[test]
fn missing_certificate_path_fails_before_request() {
    let env = cert_env();
    write_cert_profile(&env, "app", "Certificate", "", Value::Null);
    let output = get_token(&env, "app", &[], None);
    assert_pre_network_failure(&env, &output, &["no certificatePath"]);
}

// config create.

fn create_cert_profile(
    env: &TestEnv,
    name: &str,
    file: &str,
    extra: &[&str],
    stdin: &str,
) -> Output {
    env.cmd()
        .args([
            "config",
            "create",
            "--name",
            name,
            "--tenant-id",
            TENANT_ID,
            "--client-id",
            CERT_CLIENT_ID,
            "--scopes",
            GRAPH_DEFAULT,
            "--auth-method",
            "Certificate",
            "--certificate-path",
        ])
        .arg(cert(file))
        .args(extra)
        .write_stdin(stdin.to_string())
        .output()
        .unwrap()
}

#[test]
fn config_create_caches_password_in_keyring() {
    let env = cert_env();
    let name = unique_name("cert-create");
    let output = create_cert_profile(
        &env,
        &name,
        "default.pfx",
        &[
            "--certificate-password-stdin",
            "--cache-cert-password",
            "--assertion-alg",
            "RS256",
        ],
        &format!("{PASSWORD}\n"),
    );
    let stderr = stderr_of(&output);
    assert!(output.status.success(), "{stderr}");
    let thumbprint = std::fs::read_to_string(cert("cert.sha1")).unwrap();
    assert!(
        stderr.contains(thumbprint.trim()),
        "thumbprint missing: {stderr}"
    );
    assert!(
        stderr.contains("certificate password is in the OS keyring"),
        "{stderr}"
    );

    let saved: Value =
        serde_json::from_slice(&std::fs::read(env.profiles_path()).unwrap()).unwrap();
    assert_eq!(saved[0]["authMethod"], "Certificate");
    assert_eq!(saved[0]["cacheCertificatePassword"], true);
    assert_eq!(saved[0]["clientAssertionAlgorithm"], "RS256");
    assert!(saved[0]["certificatePath"]
        .as_str()
        .unwrap()
        .ends_with("default.pfx"));
    assert_eq!(secret_appears_under(&env.config_dir(), PASSWORD), None);

    let token = get_token(&env, &name, &[], None);
    assert!(token.status.success(), "{}", stderr_of(&token));
    assert_eq!(header_of(&sent_assertion(&env))["alg"], "RS256");
}

#[test]
fn config_create_rejects_wrong_password() {
    let env = cert_env();
    let name = unique_name("cert-wrong");
    let output = create_cert_profile(
        &env,
        &name,
        "legacy.pfx",
        &["--certificate-password-stdin", "--cache-cert-password"],
        "wrong password\n",
    );
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the password is wrong"), "{stderr}");
    assert!(stderr.contains("nothing was saved"), "{stderr}");
    assert!(!env.profiles_path().exists());
}

#[test]
fn config_create_without_password_needs_no_keyring() {
    let env = cert_env();
    let name = unique_name("cert-plain");
    let output = create_cert_profile(&env, &name, "pem-pkcs8.pem", &["--include-x5t"], "");
    assert!(output.status.success(), "{}", stderr_of(&output));
    let saved: Value =
        serde_json::from_slice(&std::fs::read(env.profiles_path()).unwrap()).unwrap();
    assert_eq!(saved[0]["cacheCertificatePassword"], false);
    assert_eq!(saved[0]["includeX5t"], true);
    let token = get_token(&env, &name, &[], None);
    assert!(token.status.success(), "{}", stderr_of(&token));
    assert!(header_of(&sent_assertion(&env)).get("x5t").is_some());
}

#[test]
fn config_create_protected_file_without_password_source() {
    let env = cert_env();
    let name = unique_name("cert-nopw");
    let output = create_cert_profile(&env, &name, "default.pfx", &[], "");
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(64), "{stderr}");
    assert!(stderr.contains("--certificate-password-stdin"), "{stderr}");
    assert!(
        stderr.contains("ENTRATOOL_CERTIFICATE_PASSWORD"),
        "{stderr}"
    );
    assert!(!env.profiles_path().exists());
}

// Prompts, in a pseudo-terminal made by util-linux `script`.

/// Runs get-token inside `script`, so stdin and stderr are a terminal, and
/// types each answer after a pause that lets the prompt appear first.
fn get_token_in_terminal(env: &TestEnv, profile: &str, args: &str, answers: &[&str]) -> Output {
    use std::io::Write;

    let binary = assert_cmd::cargo::cargo_bin("entratool");
    let command = format!(
        "{} get-token -p {profile} --no-cache --no-clipboard {args}",
        binary.display()
    );
    let mut script = std::process::Command::new("script");
    script.args(["-qec", &command, "/dev/null"]);
    for (name, value) in env.cmd().get_envs() {
        match value {
            Some(value) => script.env(name, value),
            None => script.env_remove(name),
        };
    }
    let mut child = script
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("util-linux `script` runs");
    let mut stdin = child.stdin.take().unwrap();
    for answer in answers {
        std::thread::sleep(std::time::Duration::from_millis(1500));
        stdin.write_all(format!("{answer}\r").as_bytes()).unwrap();
        stdin.flush().unwrap();
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn prompt_retries_then_caches_password() {
    let env = cert_env();
    let name = unique_name("cert-prompt");
    write_cert_profile(
        &env,
        &name,
        "Certificate",
        cert("default.pfx").to_str().unwrap(),
        Value::Null,
    );
    let output = get_token_in_terminal(&env, &name, "--cache-cert-password", &["wrong", PASSWORD]);
    // `script` puts everything the terminal shows on its stdout.
    let screen = stdout_of(&output);
    assert!(output.status.success(), "{screen}");
    assert!(screen.contains("Password for"), "{screen}");
    assert!(screen.contains("wrong password for"), "{screen}");
    assert!(screen.contains("2 tries left"), "{screen}");
    assert!(
        !screen.contains(PASSWORD),
        "the password was echoed: {screen}"
    );
    assert_eq!(env.server.tokens_issued(), 1);

    // The prompted password was cached, so the next run needs no terminal.
    let cached = get_token(&env, &name, &["--cache-cert-password"], None);
    assert!(cached.status.success(), "{}", stderr_of(&cached));
    assert_eq!(env.server.tokens_issued(), 2);
}

#[test]
fn prompt_gives_up_after_three_tries() {
    let env = cert_env();
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        cert("legacy.pfx").to_str().unwrap(),
        Value::Null,
    );
    let output = get_token_in_terminal(&env, "app", "", &["one", "two", "three"]);
    let screen = stdout_of(&output);
    assert_eq!(output.status.code(), Some(1), "{screen}");
    assert!(screen.contains("after 3 tries"), "{screen}");
    assert!(env.server.requests().is_empty());
}

// The test server's own checks, so a lax server cannot hide a bad client.

/// POSTs a form to the test server over a plain TCP connection and returns
/// the status code and body.
fn post_form(env: &TestEnv, form: &[(&str, &str)]) -> (u16, Value) {
    use std::io::{Read, Write};

    let body: String = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form)
        .finish();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", env.server.port())).unwrap();
    write!(
        stream,
        "POST /{TENANT_ID}/oauth2/v2.0/token HTTP/1.1\r\nHost: 127.0.0.1\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let json = response.split_once("\r\n\r\n").unwrap().1;
    (status, serde_json::from_str(json).unwrap())
}

fn replay(env: &TestEnv, assertion: &str, assertion_type: &str) -> (u16, Value) {
    post_form(
        env,
        &[
            ("client_id", CERT_CLIENT_ID),
            ("grant_type", "client_credentials"),
            ("scope", GRAPH_DEFAULT),
            ("client_assertion_type", assertion_type),
            ("client_assertion", assertion),
        ],
    )
}

const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

#[test]
fn server_rejects_replayed_or_altered_assertions() {
    let env = assert_token_with("pem-pkcs8.pem", "Certificate", None);
    let assertion = sent_assertion(&env);

    let (status, body) = replay(&env, &assertion, JWT_BEARER);
    assert_eq!(status, 401);
    assert_eq!(body["error_codes"][0], 700027);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("already used"));

    // Same signature, other audience: the signature no longer matches.
    let parts: Vec<&str> = assertion.split('.').collect();
    let mut claims = decode_claims(&assertion);
    claims["aud"] = Value::from("https://login.microsoftonline.com/other/oauth2/v2.0/token");
    claims["jti"] = Value::from(uuid::Uuid::new_v4().to_string());
    let altered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    let (status, body) = replay(&env, &altered, JWT_BEARER);
    assert_eq!(status, 401);
    assert_eq!(body["error_codes"][0], 700027);
    assert!(body["error_description"]
        .as_str()
        .unwrap()
        .contains("failed signature validation"));

    let (status, body) = replay(&env, &assertion, "urn:example:wrong-type");
    assert_eq!(status, 400);
    assert_eq!(body["error_codes"][0], 50027);
    assert_eq!(env.server.tokens_issued(), 1);
}

#[test]
fn server_rejects_expired_assertion() {
    // With the server clock two days behind, the assertion's nbf lies in
    // the server's future.
    let env = cert_env();
    env.server.set_clock_offset(-2 * 24 * 3600);
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        cert("pem-pkcs8.pem").to_str().unwrap(),
        Value::Null,
    );
    let output = get_token(&env, "app", &[], None);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("AADSTS700024"), "{stderr}");
}

#[test]
fn wrong_cached_password_falls_back_to_prompt() {
    let env = cert_env();
    let name = unique_name("cert-reprompt");
    write_cert_profile(
        &env,
        &name,
        "Certificate",
        cert("default.pfx").to_str().unwrap(),
        serde_json::json!({"cacheCertificatePassword": true}),
    );
    store_cached_password(&name, "an old password");
    let output = get_token_in_terminal(&env, &name, "", &[PASSWORD]);
    let screen = stdout_of(&output);
    assert!(output.status.success(), "{screen}");
    assert!(screen.contains("stored in the OS keyring"), "{screen}");
    assert!(screen.contains("Password for"), "{screen}");
    assert_eq!(env.server.tokens_issued(), 1);

    // The prompt replaced the stale keyring entry.
    let again = get_token(&env, &name, &[], None);
    assert!(again.status.success(), "{}", stderr_of(&again));
}

/// Checks an assertion's signature with the openssl command line, which
/// shares no code with the tool, for both algorithms.
#[test]
fn signatures_verify_with_openssl() {
    let work = tempfile::tempdir().unwrap();
    let public_key = work.path().join("public.pem");
    let status = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-pubkey", "-in"])
        .arg(cert("cert.pem"))
        .stdout(std::fs::File::create(&public_key).unwrap())
        .status()
        .unwrap();
    assert!(status.success());

    for (algorithm, padding) in [
        (
            "PS256",
            vec![
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
            ],
        ),
        ("RS256", vec![]),
    ] {
        let env = cert_env();
        write_cert_profile(
            &env,
            "app",
            "Certificate",
            cert("pem-pkcs8.pem").to_str().unwrap(),
            Value::Null,
        );
        let output = get_token(&env, "app", &["--assertion-alg", algorithm], None);
        assert!(
            output.status.success(),
            "{algorithm}: {}",
            stderr_of(&output)
        );
        let assertion = sent_assertion(&env);
        let (signing_input, signature) = assertion.rsplit_once('.').unwrap();
        let input_file = work.path().join(format!("{algorithm}.input"));
        let signature_file = work.path().join(format!("{algorithm}.sig"));
        std::fs::write(&input_file, signing_input).unwrap();
        std::fs::write(&signature_file, URL_SAFE_NO_PAD.decode(signature).unwrap()).unwrap();
        let verify = std::process::Command::new("openssl")
            .args(["dgst", "-sha256", "-verify"])
            .arg(&public_key)
            .args(&padding)
            .arg("-signature")
            .arg(&signature_file)
            .arg(&input_file)
            .output()
            .unwrap();
        assert!(
            verify.status.success(),
            "{algorithm}: openssl rejected the signature: {}{}",
            String::from_utf8_lossy(&verify.stdout),
            String::from_utf8_lossy(&verify.stderr)
        );
        assert_eq!(header_of(&assertion)["alg"], algorithm);
    }
}

#[test]
fn cache_hit_skips_certificate_and_password() {
    let env = cert_env();
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        cert("default.pfx").to_str().unwrap(),
        Value::Null,
    );
    let first = env
        .cmd()
        .args(["get-token", "-p", "app"])
        .env("ENTRATOOL_CERTIFICATE_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert!(first.status.success(), "{}", stderr_of(&first));
    // No password now: only a cache hit that never opens the file succeeds.
    let second = env.cmd().args(["get-token", "-p", "app"]).output().unwrap();
    assert!(second.status.success(), "{}", stderr_of(&second));
    assert_eq!(stdout_of(&first), stdout_of(&second));
    assert_eq!(env.server.tokens_issued(), 1);
}

#[test]
fn authorization_code_redeems_with_an_assertion() {
    let env = cert_env();
    let path = cert("no-password.pfx");
    write_cert_profile(
        &env,
        "app",
        "PasswordlessCertificate",
        path.to_str().unwrap(),
        serde_json::json!({"scopes": ["User.Read"]}),
    );
    let files = crate::browser::BrowserFiles::new(&env);
    let port = crate::common::free_port().to_string();
    let mut cmd = env.cmd();
    cmd.args([
        "get-token",
        "-p",
        "app",
        "-f",
        "AuthorizationCode",
        "--no-cache",
    ])
    .args(["--port", &port]);
    crate::browser::use_scripted_browser(&mut cmd, &files, "follow");
    let output = cmd.output().unwrap();
    files.wait_until_done();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));

    let request = env.server.token_requests().pop().unwrap();
    assert_eq!(request.field("grant_type"), Some("authorization_code"));
    assert!(request.field("client_secret").is_none());
    assert_eq!(
        request.field("client_assertion_type"),
        Some("urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
    );
    let assertion = request.field("client_assertion").unwrap();
    assert_eq!(decode_claims(assertion)["iss"], CERT_CLIENT_ID);
}

#[test]
fn retry_after_server_error_mints_a_new_assertion() {
    let env = cert_env();
    write_cert_profile(
        &env,
        "app",
        "Certificate",
        cert("pem-pkcs8.pem").to_str().unwrap(),
        Value::Null,
    );
    env.server
        .push_canned(crate::fake_entra::Canned::new(503, "text/plain", "busy"));
    let output = get_token(&env, "app", &[], None);
    assert!(output.status.success(), "{}", stderr_of(&output));
    let assertions: Vec<String> = env
        .server
        .token_requests()
        .iter()
        .map(|r| r.field("client_assertion").unwrap().to_string())
        .collect();
    assert_eq!(assertions.len(), 2, "one attempt and one retry");
    assert_ne!(
        assertions[0], assertions[1],
        "the retry resent the assertion"
    );
    let jti = |jwt: &str| decode_claims(jwt)["jti"].to_string();
    assert_ne!(jti(&assertions[0]), jti(&assertions[1]));
}
