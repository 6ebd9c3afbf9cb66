//! The recipes in docs/ run as documented. Each test takes the shell
//! commands out of a page: fenced `sh` blocks, and the `run:`, `script:`
//! and `inlineScript:` blocks of its CI YAML. It runs them with the
//! variables the CI system would set, then checks what reached the local
//! Entra stand-in and a local API stand-in.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::common::{stderr_of, stdout_of, TestEnv};
use crate::fake_entra::{
    decode_claims, AKS_SERVER_APP, CLIENT_ID, CLIENT_SECRET, FEDERATED_AUDIENCE, TENANT_DOMAIN,
    TENANT_ID,
};
use crate::federation::{FakeGitHubOidc, Issuer, GITHUB_ISSUER, GITHUB_SUBJECT};
use crate::tls_support::{start_tls_front, TestPki};

/// Issuer and subject of an Azure DevOps service connection's federated token.
const AZURE_DEVOPS_ISSUER: &str =
    "https://vstoken.dev.azure.com/3c2b1a09-8f7e-4d6c-b5a4-9382716f5e4d";
const AZURE_DEVOPS_SUBJECT: &str = "sc://contoso/inventory/my-federated-connection";
const GITLAB_ISSUER: &str = "https://gitlab.com";
const GITLAB_SUBJECT: &str = "project_path:contoso/inventory:ref_type:branch:ref:main";

fn read_doc(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Returns the fenced code blocks of a Markdown page as (language, body).
fn fenced_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(language)) => current = Some((language.trim().to_string(), String::new())),
            (Some(_), Some("")) => blocks.push(current.take().unwrap()),
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    assert!(current.is_none(), "an unclosed code block");
    blocks
}

fn blocks_of(markdown: &str, language: &str) -> Vec<String> {
    fenced_blocks(markdown)
        .into_iter()
        .filter(|(lang, _)| lang == language)
        .map(|(_, body)| body)
        .collect()
}

fn indentation(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// Returns the shell scripts in CI YAML: the block scalars (`|`) under the
/// keys `run`, `script` and `inlineScript`, and list items of a `script:`
/// list written as `- |`.
fn yaml_scripts(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut scripts = Vec::new();
    let mut index = 0;
    while index < lines.len() {
        let line = lines[index];
        let trimmed = line.trim_start().trim_start_matches("- ").trim_start();
        let starts_block = ["run: |", "script: |", "inlineScript: |", "|"]
            .iter()
            .any(|opener| trimmed.trim_end() == *opener)
            && (trimmed.trim_end() != "|" || line.trim_start().starts_with("- "));
        index += 1;
        if !starts_block {
            continue;
        }
        let parent = indentation(line);
        let Some(first) = lines[index..].iter().find(|l| !l.trim().is_empty()) else {
            continue;
        };
        let block = indentation(first);
        assert!(block > parent, "block scalar not indented: {line}");
        let mut script = String::new();
        while index < lines.len() {
            let body = lines[index];
            if !body.trim().is_empty() && indentation(body) < block {
                break;
            }
            script.push_str(body.get(block..).unwrap_or(""));
            script.push('\n');
            index += 1;
        }
        scripts.push(script);
    }
    scripts
}

/// A request the API stand-in received.
#[derive(Clone, Debug)]
struct ApiRequest {
    path: String,
    authorization: Option<String>,
}

/// A local stand-in for the APIs the recipes call (Microsoft Graph, Azure
/// Resource Manager, a Kubernetes API server). It returns 401 without a
/// bearer token, so `curl -f` and kubectl fail when none is sent.
struct FakeApi {
    server: Arc<tiny_http::Server>,
    requests: Arc<Mutex<Vec<ApiRequest>>>,
    thread: Option<std::thread::JoinHandle<()>>,
    port: u16,
}

impl FakeApi {
    fn start() -> FakeApi {
        let server = Arc::new(tiny_http::Server::http(("127.0.0.1", 0)).unwrap());
        let port = server.server_addr().to_ip().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let thread = {
            let server = Arc::clone(&server);
            let requests = Arc::clone(&requests);
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    let authorization = request
                        .headers()
                        .iter()
                        .find(|h| h.field.equiv("Authorization"))
                        .map(|h| h.value.as_str().to_string());
                    let path = request.url().to_string();
                    requests.lock().unwrap().push(ApiRequest {
                        path: path.clone(),
                        authorization: authorization.clone(),
                    });
                    let bearer = authorization
                        .as_deref()
                        .is_some_and(|a| a.starts_with("Bearer ") && a.len() > 20);
                    let (status, body) = if !bearer {
                        (401, r#"{"error":"unauthorized"}"#.to_string())
                    } else if path.starts_with("/api/v1/") {
                        (
                            200,
                            r#"{"kind":"PodList","apiVersion":"v1","metadata":{},"items":[]}"#
                                .to_string(),
                        )
                    } else {
                        (200, r#"{"value":[]}"#.to_string())
                    };
                    let response = tiny_http::Response::from_string(body)
                        .with_status_code(status)
                        .with_header(
                            tiny_http::Header::from_bytes("Content-Type", "application/json")
                                .unwrap(),
                        );
                    let _ = request.respond(response);
                }
            })
        };
        FakeApi {
            server,
            requests,
            thread: Some(thread),
            port,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn requests(&self) -> Vec<ApiRequest> {
        self.requests.lock().unwrap().clone()
    }

    /// Returns the `aud` claims of the bearer tokens received, in order.
    fn audiences(&self) -> Vec<String> {
        self.requests()
            .iter()
            .filter_map(|r| r.authorization.as_deref()?.strip_prefix("Bearer "))
            .map(|token| decode_claims(token)["aud"].as_str().unwrap().to_string())
            .collect()
    }
}

impl Drop for FakeApi {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Returns the folder of the built binary, to put first on PATH.
fn binary_dir() -> PathBuf {
    assert_cmd::cargo::cargo_bin("entratool")
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Runs a script with `shell -e` in `workdir`, with the test command's
/// environment (private config folder, the stand-in as authority), the
/// binary on PATH, and `vars`.
fn run_script(
    env: &TestEnv,
    shell: &str,
    script: &str,
    workdir: &Path,
    vars: &HashMap<&str, String>,
) -> Output {
    let mut command = std::process::Command::new(shell);
    command.arg("-ec").arg(script).current_dir(workdir);
    for (name, value) in env.cmd().get_envs() {
        match value {
            Some(value) => command.env(name, value),
            None => command.env_remove(name),
        };
    }
    let path = format!(
        "{}:{}",
        binary_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    command.env("PATH", path).env("HOME", workdir);
    for (name, value) in vars {
        command.env(name, value);
    }
    let output = command.output().expect("run the recipe's shell");
    assert!(
        output.status.success(),
        "recipe failed with {:?}\n--- script\n{script}--- stdout\n{}--- stderr\n{}",
        output.status.code(),
        stdout_of(&output),
        stderr_of(&output)
    );
    output
}

fn assert_jwt_with_audience(token: &str, audience: &str) {
    assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");
    assert_eq!(decode_claims(token)["aud"], audience);
}

#[test]
fn github_actions_recipe() {
    let doc = read_doc("ci-github-actions.md");
    let yaml = blocks_of(&doc, "yaml");
    let scripts = yaml_scripts(&yaml[0]);
    assert_eq!(scripts.len(), 2, "{scripts:?}");

    let env = TestEnv::new();
    let issuer = Issuer::new(GITHUB_ISSUER);
    issuer.trust(&env.server, CLIENT_ID, GITHUB_SUBJECT);
    let github = FakeGitHubOidc::start(issuer, GITHUB_SUBJECT);
    let api = FakeApi::start();
    let workdir = tempfile::tempdir().unwrap();
    let github_env = workdir.path().join("github-env");
    std::fs::write(&github_env, "").unwrap();
    let vars = HashMap::from([
        ("AZURE_TENANT_ID", TENANT_ID.to_string()),
        ("AZURE_CLIENT_ID", CLIENT_ID.to_string()),
        ("API_URL", api.url()),
        ("ACTIONS_ID_TOKEN_REQUEST_URL", github.request_url()),
        (
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            github.request_token.clone(),
        ),
        ("GITHUB_ENV", github_env.display().to_string()),
        ("CI", "true".to_string()),
    ]);
    let mut masked = 0;
    for script in &scripts {
        let output = run_script(&env, "bash", script, workdir.path(), &vars);
        masked += stdout_of(&output).matches("::add-mask::ey").count();
    }
    assert_eq!(masked, 2, "each token is masked");
    assert_eq!(github.requests().len(), 2);
    assert_eq!(api.audiences(), vec!["https://graph.microsoft.com"]);
    assert!(api.requests()[0].path.starts_with("/applications?$top=5"));
    assert!(workdir.path().join("applications.json").exists());
    let shared = std::fs::read_to_string(&github_env).unwrap();
    let token = shared
        .trim_end()
        .strip_prefix("ARM_ACCESS_TOKEN=")
        .unwrap_or_else(|| panic!("{shared}"));
    assert_jwt_with_audience(token, "https://management.azure.com");
}

#[test]
fn azure_pipelines_recipes() {
    let doc = read_doc("ci-azure-pipelines.md");
    let yaml = blocks_of(&doc, "yaml");
    assert_eq!(yaml.len(), 2);
    let env = TestEnv::new();
    let api = FakeApi::start();
    let workdir = tempfile::tempdir().unwrap();

    // The AzureCLI@2 task's inline script, with the variables the task sets.
    let federated = yaml_scripts(&yaml[0]);
    assert_eq!(federated.len(), 1, "{federated:?}");
    let issuer = Issuer::new(AZURE_DEVOPS_ISSUER);
    issuer.trust(&env.server, CLIENT_ID, AZURE_DEVOPS_SUBJECT);
    let vars = HashMap::from([
        ("tenantId", TENANT_ID.to_string()),
        ("servicePrincipalId", CLIENT_ID.to_string()),
        (
            "idToken",
            issuer.token(AZURE_DEVOPS_SUBJECT, FEDERATED_AUDIENCE),
        ),
        ("TF_BUILD", "True".to_string()),
    ]);
    let output = run_script(&env, "bash", &federated[0], workdir.path(), &vars);
    let stdout = stdout_of(&output);
    let token = stdout
        .trim_end()
        .strip_prefix("##vso[task.setvariable variable=graphToken;issecret=true]")
        .unwrap_or_else(|| panic!("{stdout}"));
    assert_jwt_with_audience(token, "https://graph.microsoft.com");

    // The script step with the secret mapped into its environment.
    let secret = yaml_scripts(&yaml[1]);
    assert_eq!(secret.len(), 1, "{secret:?}");
    let vars = HashMap::from([
        ("AZURE_TENANT_ID", TENANT_DOMAIN.to_string()),
        ("AZURE_CLIENT_ID", CLIENT_ID.to_string()),
        ("AZURE_CLIENT_SECRET", CLIENT_SECRET.to_string()),
        ("API_URL", api.url()),
        ("TF_BUILD", "True".to_string()),
    ]);
    let output = run_script(&env, "bash", &secret[0], workdir.path(), &vars);
    assert!(stdout_of(&output).contains("token valid until 20"));
    assert_eq!(api.audiences(), vec!["https://management.azure.com"]);
    assert!(workdir.path().join("subscriptions.json").exists());
}

#[test]
fn gitlab_recipes() {
    let doc = read_doc("ci-gitlab.md");
    let yaml = blocks_of(&doc, "yaml");
    assert_eq!(yaml.len(), 2);
    let env = TestEnv::new();
    let api = FakeApi::start();
    let workdir = tempfile::tempdir().unwrap();

    let federated = yaml_scripts(&yaml[0]);
    assert_eq!(federated.len(), 1, "{federated:?}");
    let issuer = Issuer::new(GITLAB_ISSUER);
    issuer.trust(&env.server, CLIENT_ID, GITLAB_SUBJECT);
    let vars = HashMap::from([
        ("AZURE_TENANT_ID", TENANT_DOMAIN.to_string()),
        ("AZURE_CLIENT_ID", CLIENT_ID.to_string()),
        (
            "ENTRA_ID_TOKEN",
            issuer.token(GITLAB_SUBJECT, FEDERATED_AUDIENCE),
        ),
        ("API_URL", api.url()),
        ("CI", "true".to_string()),
    ]);
    run_script(&env, "sh", &federated[0], workdir.path(), &vars);
    assert_eq!(api.audiences(), vec!["https://graph.microsoft.com"]);
    assert!(workdir.path().join("applications.json").exists());

    let secret = yaml_scripts(&yaml[1]);
    assert_eq!(secret.len(), 1, "{secret:?}");
    let vars = HashMap::from([
        ("AZURE_TENANT_ID", TENANT_DOMAIN.to_string()),
        ("AZURE_CLIENT_ID", CLIENT_ID.to_string()),
        ("AZURE_CLIENT_SECRET", CLIENT_SECRET.to_string()),
        ("CI", "true".to_string()),
    ]);
    let output = run_script(&env, "sh", &secret[0], workdir.path(), &vars);
    let stdout = stdout_of(&output);
    assert!(stdout.starts_with("token valid until 20"), "{stdout}");
    assert!(stdout.trim_end().ends_with(')'), "{stdout}");
    assert_eq!(env.server.tokens_issued(), 2);
}

#[test]
fn shell_loop_recipes() {
    let doc = read_doc("shell-loops.md");
    let scripts = blocks_of(&doc, "sh");
    assert_eq!(scripts.len(), 3);
    let env = TestEnv::new();
    let api = FakeApi::start();
    let workdir = tempfile::tempdir().unwrap();
    let vars = HashMap::from([
        ("AZURE_TENANT_ID", TENANT_ID.to_string()),
        ("AZURE_CLIENT_ID", CLIENT_ID.to_string()),
        ("AZURE_CLIENT_SECRET", CLIENT_SECRET.to_string()),
        ("API_URL", api.url()),
    ]);

    run_script(&env, "sh", &scripts[0], workdir.path(), &vars);
    // One token serves the whole loop, since it is far from expiry.
    assert_eq!(env.server.tokens_issued(), 1);
    let paths: Vec<String> = api.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        vec!["/applications/1", "/applications/2", "/applications/3"]
    );
    for id in 1..=3 {
        assert!(workdir.path().join(format!("app-{id}.json")).exists());
    }

    let output = run_script(&env, "sh", &scripts[1], workdir.path(), &vars);
    let lines: Vec<String> = stdout_of(&output).lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with("https://graph.microsoft.com/.default until 20"));
    assert!(lines[1].starts_with("https://management.azure.com/.default until 20"));

    let output = run_script(&env, "sh", &scripts[2], workdir.path(), &vars);
    assert!(stdout_of(&output).starts_with("got a token of "));

    // The failure branch names the exit code: 3 for a rejected secret.
    let mut rejected = vars.clone();
    rejected.insert("AZURE_CLIENT_SECRET", "wrong-secret".to_string());
    let output = run_script(&env, "sh", &scripts[2], workdir.path(), &rejected);
    assert!(stderr_of(&output).contains("Entra ID rejected the credentials"));
}

/// The kubeconfig of the kubectl page, with its `exec` entry parsed.
struct ExecEntry {
    kubeconfig: String,
    command: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

fn kubectl_exec_entry() -> ExecEntry {
    let doc = read_doc("kubectl.md");
    let kubeconfig = blocks_of(&doc, "yaml").remove(0);
    let value_of = |key: &str| -> String {
        kubeconfig
            .lines()
            .find_map(|l| l.trim().strip_prefix(key))
            .unwrap_or_else(|| panic!("no `{key}` in the kubeconfig"))
            .trim()
            .to_string()
    };
    let command = value_of("command:");
    let args: Vec<String> = serde_json::from_str(&value_of("args:")).expect("args as a flow list");
    let lines: Vec<&str> = kubeconfig.lines().collect();
    let mut env = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        if let Some(name) = line.trim().strip_prefix("- name: ") {
            if let Some(value) = lines
                .get(index + 1)
                .and_then(|l| l.trim().strip_prefix("value: "))
            {
                env.push((name.to_string(), value.to_string()));
            }
        }
    }
    assert_eq!(value_of("apiVersion: client"), ".authentication.k8s.io/v1");
    ExecEntry {
        kubeconfig,
        command,
        args,
        env,
    }
}

#[test]
fn kubeconfig_exec_entry_answers_kubectl() {
    let entry = kubectl_exec_entry();
    assert_eq!(entry.command, "entratool");
    let env = TestEnv::new();
    // Run the entry as kubectl does: its command and args, its env list on
    // top of the caller's environment, and the request in KUBERNETES_EXEC_INFO.
    let mut cmd = env.cmd();
    cmd.args(&entry.args)
        .env("AZURE_CLIENT_SECRET", CLIENT_SECRET)
        .env(
            "KUBERNETES_EXEC_INFO",
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#,
        );
    for (name, value) in &entry.env {
        cmd.env(name, value);
    }
    let output = cmd.output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let credential: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    assert_eq!(credential["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(credential["kind"], "ExecCredential");
    assert_jwt_with_audience(
        credential["status"]["token"].as_str().unwrap(),
        AKS_SERVER_APP,
    );
    assert!(credential["status"]["expirationTimestamp"]
        .as_str()
        .unwrap()
        .ends_with('Z'));
}

/// Runs the documented kubectl command against the API stand-in, with the
/// documented kubeconfig pointed at it. Needs kubectl 1.22 or later (for
/// client.authentication.k8s.io/v1); scripts/test.sh checks for it.
#[test]
#[ignore = "needs kubectl 1.22 or later; scripts/test.sh runs it when kubectl is installed"]
fn kubectl_runs_the_exec_plugin() {
    let entry = kubectl_exec_entry();
    let doc = read_doc("kubectl.md");
    let commands = blocks_of(&doc, "sh");
    assert_eq!(commands.len(), 1);
    let kubectl = std::process::Command::new("kubectl")
        .args(["version", "--client"])
        .output();
    assert!(
        kubectl.is_ok_and(|o| o.status.success()),
        "kubectl is not installed; install kubectl 1.22 or later to run this test"
    );

    let env = TestEnv::new();
    let api = FakeApi::start();
    // client-go runs exec plugins only for HTTPS servers, so the stand-in
    // sits behind a TLS front with a test CA.
    let pki = TestPki::create();
    let backend: std::net::SocketAddr = ([127, 0, 0, 1], api.port).into();
    let tls_port = start_tls_front(&pki, backend);
    let workdir = tempfile::tempdir().unwrap();
    let server_line = entry
        .kubeconfig
        .lines()
        .find(|l| l.trim().starts_with("server:"))
        .unwrap();
    let indent = " ".repeat(indentation(server_line));
    let local = entry.kubeconfig.replace(
        server_line,
        &format!(
            "{indent}server: https://127.0.0.1:{tls_port}\n{indent}certificate-authority: {}",
            pki.ca_path().display()
        ),
    );
    let kubeconfig = workdir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, local).unwrap();
    let vars = HashMap::from([
        ("CLIENT_SECRET", CLIENT_SECRET.to_string()),
        ("KUBECONFIG_FILE", kubeconfig.display().to_string()),
    ]);
    let output = run_script(&env, "sh", &commands[0], workdir.path(), &vars);
    let pods: Value = serde_json::from_str(&stdout_of(&output)).expect("the pod list");
    assert_eq!(pods["kind"], "PodList");
    // kubectl may ask for /version first; every request carries the token.
    let requests = api.requests();
    assert_eq!(api.audiences().len(), requests.len());
    assert!(api.audiences().iter().all(|aud| aud == AKS_SERVER_APP));
    assert_eq!(
        requests.last().unwrap().path,
        "/api/v1/namespaces/default/pods"
    );
    // kubectl ran the plugin once and reused its token.
    assert_eq!(env.server.tokens_issued(), 1);
}

#[test]
fn yaml_script_extraction() {
    let yaml = "steps:\n  - run: |\n      one\n        indented\n\n      two\n  - name: x\n    script:\n      - |\n        three\n    other: 1\n";
    assert_eq!(
        yaml_scripts(yaml),
        vec![
            "one\n  indented\n\ntwo\n".to_string(),
            "three\n".to_string()
        ]
    );
}
