//! HTTPS authorities: a private CA through --ca-file or SSL_CERT_FILE, the
//! error for an untrusted certificate, and a CONNECT proxy from
//! HTTPS_PROXY with NO_PROXY honoured.

use std::net::SocketAddr;

use crate::common::{stderr_of, TestEnv};
use crate::fake_entra::CLIENT_SECRET;
use crate::tls_support::{start_tls_front, ConnectProxy, TestPki};

fn https_authority(env: &TestEnv, pki: &TestPki) -> String {
    let backend: SocketAddr = ([127, 0, 0, 1], env.server.port()).into();
    format!("https://localhost:{}", start_tls_front(pki, backend))
}

fn get_token(env: &TestEnv, authority: &str, extra: &[&str]) -> assert_cmd::Command {
    let mut cmd = env.cmd();
    cmd.args([
        "get-token",
        "-p",
        "app",
        "--no-cache",
        "--authority",
        authority,
    ])
    .args(extra)
    .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET);
    cmd
}

#[test]
fn untrusted_certificate_names_host_and_ca_file() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let pki = TestPki::create();
    let authority = https_authority(&env, &pki);
    let output = get_token(&env, &authority, &[]).output().unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("TLS with localhost:"), "{stderr}");
    assert!(stderr.contains("--ca-file"), "{stderr}");
    assert!(env.server.requests().is_empty());
}

#[test]
fn ca_file_flag_trusts_a_private_ca() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let pki = TestPki::create();
    let authority = https_authority(&env, &pki);
    let ca = pki.ca_path();
    let output = get_token(&env, &authority, &["--ca-file", ca.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(env.server.token_requests().len(), 1);
}

#[test]
fn ssl_cert_file_trusts_a_private_ca() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let pki = TestPki::create();
    let authority = https_authority(&env, &pki);
    let output = get_token(&env, &authority, &[])
        .env("SSL_CERT_FILE", pki.ca_path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
}

#[test]
fn ca_file_without_certificates_is_rejected() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let bogus = env.dir.path().join("bogus.pem");
    std::fs::write(&bogus, "not a certificate\n").unwrap();
    let output = get_token(
        &env,
        &env.server.url(),
        &["--ca-file", bogus.to_str().unwrap()],
    )
    .output()
    .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("bogus.pem"), "{stderr}");
}

#[test]
fn https_proxy_carries_the_request() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let pki = TestPki::create();
    let authority = https_authority(&env, &pki);
    let proxy = ConnectProxy::start();
    let output = get_token(
        &env,
        &authority,
        &["--ca-file", pki.ca_path().to_str().unwrap()],
    )
    .env("HTTPS_PROXY", proxy.url())
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let port = authority.rsplit(':').next().unwrap();
    assert_eq!(proxy.targets(), vec![format!("localhost:{port}")]);
    assert_eq!(env.server.token_requests().len(), 1);
}

#[test]
fn no_proxy_bypasses_the_proxy() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let pki = TestPki::create();
    let authority = https_authority(&env, &pki);
    let proxy = ConnectProxy::start();
    let output = get_token(
        &env,
        &authority,
        &["--ca-file", pki.ca_path().to_str().unwrap()],
    )
    .env("https_proxy", proxy.url())
    .env("no_proxy", "localhost")
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(proxy.targets().is_empty(), "{:?}", proxy.targets());
}

#[test]
fn discover_trusts_the_ca_file() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let graph = crate::fake_graph::FakeGraph::start(crate::fake_graph::FakeGraphOptions {
        apps: vec![crate::fake_graph::GraphApp::new(
            "Contoso API",
            "11111111-0000-4000-8000-000000000001",
        )],
        page_size: 10,
        permitted_clients: vec![crate::fake_entra::CLIENT_ID.to_string()],
        foreign_next_link: None,
    });
    let pki = TestPki::create();
    let graph_port: u16 = graph
        .url()
        .rsplit(':')
        .next()
        .and_then(|port| port.parse().ok())
        .expect("a port in the Graph URL");
    let backend: SocketAddr = ([127, 0, 0, 1], graph_port).into();
    let graph_url = format!("https://localhost:{}", start_tls_front(&pki, backend));
    let ca = pki.ca_path();
    let output = env
        .cmd()
        .args(["--ca-file", ca.to_str().unwrap()])
        .args(["discover", "-p", "app", "-s", "Contoso*", "-o", "json"])
        .env("ENTRATOOL_GRAPH_URL", &graph_url)
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let apps: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(apps[0]["displayName"], "Contoso API");
}
