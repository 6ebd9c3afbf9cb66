//! `discover` against the local Graph stub, with a token from the fake
//! Entra server.

use serde_json::Value;

use crate::common::{stderr_of, stdout_of, TestEnv};
use crate::fake_entra::{App, AppSecret, CLIENT_ID, CLIENT_SECRET, TENANT_ID};
use crate::fake_graph::{FakeGraph, FakeGraphOptions, GraphApp};

const UNPERMITTED_CLIENT_ID: &str = "5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a";
const UNPERMITTED_SECRET: &str = "unpermitted-app-secret";

fn directory() -> Vec<GraphApp> {
    vec![
        GraphApp::new("Contoso API", "11111111-0000-4000-8000-000000000001"),
        GraphApp::new("contoso portal", "11111111-0000-4000-8000-000000000002"),
        GraphApp::new(
            "Fabrikam Api Gateway",
            "11111111-0000-4000-8000-000000000003",
        ),
        GraphApp::new("O'Brien Tools", "11111111-0000-4000-8000-000000000004"),
        GraphApp::new("Zeta Worker", "11111111-0000-4000-8000-000000000005"),
    ]
}

fn start_graph() -> FakeGraph {
    FakeGraph::start(FakeGraphOptions {
        apps: directory(),
        page_size: 2,
        permitted_clients: vec![CLIENT_ID.to_string()],
        foreign_next_link: None,
    })
}

fn discover(env: &TestEnv, graph: &FakeGraph, args: &[&str]) -> std::process::Output {
    env.cmd()
        .arg("discover")
        .args(args)
        .env("ENTRATOOL_GRAPH_URL", graph.url())
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap()
}

fn table_names(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip(1)
        .map(|line| line.split("  11111111").next().unwrap().trim().to_string())
        .collect()
}

#[test]
fn star_lists_every_page() {
    let env = TestEnv::new();
    env.write_default_profile("reader");
    let graph = start_graph();
    let output = discover(&env, &graph, &["-p", "reader", "-s", "*"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let stdout = stdout_of(&output);
    assert!(stdout.starts_with("DISPLAY NAME"), "{stdout}");
    for column in ["APP ID", "CREATED", "PUBLISHER DOMAIN"] {
        assert!(stdout.lines().next().unwrap().contains(column), "{stdout}");
    }
    assert_eq!(
        table_names(&stdout),
        [
            "Contoso API",
            "contoso portal",
            "Fabrikam Api Gateway",
            "O'Brien Tools",
            "Zeta Worker"
        ]
    );
    assert!(stdout.contains("2025-06-01"), "{stdout}");
    assert!(stdout.contains("contoso.onmicrosoft.com"), "{stdout}");

    let requests = graph.requests();
    assert_eq!(requests.len(), 3, "expected three pages: {requests:?}");
    assert_eq!(requests[0].param("$filter"), None);
    assert_eq!(requests[1].param("$skiptoken"), Some("2"));
    assert_eq!(requests[2].param("$skiptoken"), Some("4"));
    assert!(requests.iter().all(|r| r
        .authorization
        .as_deref()
        .is_some_and(|a| a.starts_with("Bearer "))));

    let token_request = &env.server.token_requests()[0];
    assert_eq!(
        token_request.field("scope"),
        Some("https://graph.microsoft.com/.default")
    );
    assert_eq!(
        token_request.field("grant_type"),
        Some("client_credentials")
    );
}

#[test]
fn prefix_pattern_uses_startswith() {
    let env = TestEnv::new();
    env.write_default_profile("reader");
    let graph = start_graph();
    let output = discover(&env, &graph, &["-p", "reader", "-s", "contoso*"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(
        table_names(&stdout_of(&output)),
        ["Contoso API", "contoso portal"]
    );
    assert_eq!(
        graph.requests()[0].param("$filter"),
        Some("startswith(displayName,'contoso')")
    );
}

#[test]
fn quote_in_pattern_is_escaped() {
    let env = TestEnv::new();
    env.write_default_profile("reader");
    let graph = start_graph();
    let output = discover(&env, &graph, &["-p", "reader", "-s", "O'Brien*"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(table_names(&stdout_of(&output)), ["O'Brien Tools"]);
    assert_eq!(
        graph.requests()[0].param("$filter"),
        Some("startswith(displayName,'O''Brien')")
    );
}

#[test]
fn inner_wildcard_is_matched_locally() {
    let env = TestEnv::new();
    env.write_default_profile("reader");
    let graph = start_graph();
    let output = discover(&env, &graph, &["-p", "reader", "-s", "*api*"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(
        table_names(&stdout_of(&output)),
        ["Contoso API", "Fabrikam Api Gateway"]
    );
    let requests = graph.requests();
    assert_eq!(requests[0].param("$filter"), None);
    assert_eq!(requests.len(), 3, "every page is read for a local match");
}

#[test]
fn json_output_lists_the_fields() {
    let env = TestEnv::new();
    env.write_default_profile("reader");
    let graph = start_graph();
    let output = discover(&env, &graph, &["-p", "reader", "-s", "Zeta*", "-o", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let apps: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    let apps = apps.as_array().unwrap();
    assert_eq!(apps.len(), 1);
    assert_eq!(apps[0]["displayName"], "Zeta Worker");
    assert_eq!(apps[0]["appId"], "11111111-0000-4000-8000-000000000005");
    assert_eq!(apps[0]["createdDateTime"], "2025-06-01T12:00:00Z");
    assert_eq!(apps[0]["publisherDomain"], "contoso.onmicrosoft.com");
}

#[test]
fn no_match_prints_nothing_on_stdout() {
    let env = TestEnv::new();
    env.write_default_profile("reader");
    let graph = start_graph();
    let output = discover(&env, &graph, &["-p", "reader", "-s", "Nothing*"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(stdout_of(&output).is_empty());
    assert!(stderr_of(&output).contains("No app registrations"));
}

#[test]
fn forbidden_explains_the_permission() {
    let env = TestEnv::new();
    env.server.add_app(App {
        client_id: UNPERMITTED_CLIENT_ID.to_string(),
        secrets: vec![AppSecret {
            value: UNPERMITTED_SECRET.to_string(),
            expired: false,
        }],
        certificates: Vec::new(),
        public_client: false,
        redirect_uris: Vec::new(),
    });
    env.write_profile(
        "limited",
        TENANT_ID,
        UNPERMITTED_CLIENT_ID,
        &["https://graph.microsoft.com/.default"],
    );
    let graph = start_graph();
    let output = env
        .cmd()
        .args(["discover", "-p", "limited", "-s", "*"])
        .env("ENTRATOOL_GRAPH_URL", graph.url())
        .env("ENTRATOOL_CLIENT_SECRET", UNPERMITTED_SECRET)
        .output()
        .unwrap();
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("Application.Read.All"), "{stderr}");
    assert!(stderr.contains("Insufficient privileges"), "{stderr}");
    assert!(stdout_of(&output).is_empty());
}

#[test]
fn next_link_to_another_host_is_not_followed() {
    let env = TestEnv::new();
    env.write_default_profile("reader");
    let graph = FakeGraph::start(FakeGraphOptions {
        apps: directory(),
        page_size: 2,
        permitted_clients: vec![CLIENT_ID.to_string()],
        // Another origin (host name instead of IP); nothing listens there
        // and the tool must not try.
        foreign_next_link: Some("http://localhost:9".to_string()),
    });
    let output = discover(&env, &graph, &["-p", "reader"]);
    let stderr = stderr_of(&output);
    assert_eq!(output.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("not followed"), "{stderr}");
    assert_eq!(graph.requests().len(), 1);
}

#[test]
fn graph_url_flag_overrides_the_environment() {
    let env = TestEnv::new();
    env.write_default_profile("reader");
    let graph = start_graph();
    let output = env
        .cmd()
        .args(["discover", "-p", "reader", "--graph-url", &graph.url()])
        .env("ENTRATOOL_GRAPH_URL", "http://127.0.0.1:9")
        .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert_eq!(graph.requests().len(), 3);
}

#[test]
fn unknown_profile_exits_2() {
    let env = TestEnv::new();
    env.write_default_profile("reader");
    let graph = start_graph();
    let output = discover(&env, &graph, &["-p", "ghost"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(graph.requests().is_empty());
}

#[test]
fn tenant_flag_picks_the_token_tenant() {
    let env = TestEnv::new();
    env.write_default_profile("reader");
    let graph = start_graph();
    let output = discover(
        &env,
        &graph,
        &[
            "-p",
            "reader",
            "-t",
            crate::fake_entra::TENANT_DOMAIN,
            "-s",
            "Zeta*",
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let token_request = &env.server.token_requests()[0];
    assert_eq!(
        token_request.path,
        format!("/{}/oauth2/v2.0/token", crate::fake_entra::TENANT_DOMAIN)
    );
    // The profile itself is unchanged.
    assert_eq!(env.profiles_json()[0]["tenantId"], TENANT_ID);
}

#[test]
fn device_code_sign_in_lists_apps() {
    use crate::common::{write_public_profile, Running};
    use crate::fake_entra::PUBLIC_CLIENT_ID;

    let env = TestEnv::new();
    write_public_profile(&env, "me", &["User.Read"]);
    let graph = FakeGraph::start(FakeGraphOptions {
        apps: directory(),
        page_size: 2,
        permitted_clients: vec![PUBLIC_CLIENT_ID.to_string()],
        foreign_next_link: None,
    });
    let mut cmd = env.std_cmd();
    cmd.args([
        "discover",
        "-p",
        "me",
        "-f",
        "DeviceCode",
        "-s",
        "*",
        "-o",
        "json",
    ])
    .env("ENTRATOOL_GRAPH_URL", graph.url());
    let mut running = Running::start(cmd, false);
    let wait = std::time::Duration::from_secs(30);
    let stderr = running.wait_for_stderr("  URL:", wait);
    let code = stderr
        .lines()
        .find_map(|line| line.trim().strip_prefix("Code: "))
        .expect("a Code: line")
        .trim()
        .to_string();
    assert!(env.server.approve_device_code(&code));
    let finished = running.finish(wait);
    assert_eq!(finished.code, Some(0), "{}", finished.stderr);

    let listed: serde_json::Value = serde_json::from_str(&finished.stdout).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), directory().len());
    // The sign-in asked for the delegated Graph permission.
    let device_request = env
        .server
        .requests()
        .into_iter()
        .find(|r| r.path.ends_with("/devicecode"))
        .expect("a device code request");
    let scope = device_request
        .field("scope")
        .unwrap_or_default()
        .to_string();
    assert!(scope.contains("graph.microsoft.com"), "{scope}");
}
