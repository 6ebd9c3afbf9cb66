//! Test stand-ins for workload identity federation: an identity provider
//! that signs tokens with a key made for the test run, and a local copy of
//! the GitHub Actions OIDC token endpoint. Both stay on 127.0.0.1; the
//! issuer URLs in the tokens are only claim values and are never contacted.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::json;

use crate::fake_entra::{FakeEntra, FederatedCredential, FEDERATED_AUDIENCE};

/// Issuer claim of GitHub Actions OIDC tokens.
pub const GITHUB_ISSUER: &str = "https://token.actions.githubusercontent.com";
/// Subject of the test repository's main branch.
pub const GITHUB_SUBJECT: &str = "repo:contoso/inventory:ref:refs/heads/main";
/// Issuer and subject of a Kubernetes projected service account token.
pub const KUBERNETES_ISSUER: &str = "https://oidc.aks.example.test/5e1c7f0a/";
pub const KUBERNETES_SUBJECT: &str = "system:serviceaccount:inventory:worker";

/// Returns an RSA key made once per test run with the openssl command line,
/// since generating one in a debug build of the `rsa` crate takes seconds.
fn signing_key() -> &'static rsa::RsaPrivateKey {
    static KEY: OnceLock<rsa::RsaPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        use rsa::pkcs8::DecodePrivateKey;
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("federation-key-{}.pem", std::process::id()));
        let output = std::process::Command::new("openssl")
            .args(["genpkey", "-quiet", "-algorithm", "RSA"])
            .args(["-pkeyopt", "rsa_keygen_bits:2048", "-out"])
            .arg(&path)
            .output()
            .expect("run openssl genpkey");
        assert!(
            output.status.success(),
            "openssl genpkey failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let pem = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        rsa::RsaPrivateKey::from_pkcs8_pem(&pem).expect("a PKCS#8 RSA key")
    })
}

/// An identity provider whose tokens the fake Entra server trusts.
#[derive(Clone)]
pub struct Issuer {
    pub issuer: String,
}

impl Issuer {
    pub fn new(issuer: &str) -> Issuer {
        Issuer {
            issuer: issuer.to_string(),
        }
    }

    /// Registers a federated identity credential for `client_id` that
    /// trusts this issuer's tokens about `subject` for the default audience.
    pub fn trust(&self, server: &FakeEntra, client_id: &str, subject: &str) {
        server.add_federated_credential(FederatedCredential {
            client_id: client_id.to_string(),
            issuer: self.issuer.clone(),
            subject: subject.to_string(),
            audience: FEDERATED_AUDIENCE.to_string(),
            public_key: signing_key().to_public_key(),
        });
    }

    /// Signs a token (RS256) valid for ten minutes.
    pub fn token(&self, subject: &str, audience: &str) -> String {
        use rsa::signature::{SignatureEncoding, Signer};

        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let header = json!({"typ": "JWT", "alg": "RS256", "kid": "test-federation-key"});
        let claims = json!({
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "iat": now,
            "nbf": now - 5,
            "exp": now + 600,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(signing_key().clone());
        let signature = signer.sign(signing_input.as_bytes()).to_bytes();
        format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }
}

/// A request the OIDC stand-in received.
#[derive(Clone, Debug)]
pub struct OidcRequest {
    pub method: String,
    pub path: String,
    pub query: Vec<(String, String)>,
    pub authorization: Option<String>,
}

/// A local stand-in for the GitHub Actions OIDC token endpoint. For
/// `GET /token?api-version=2.0&audience=...` with the job's bearer request
/// token it returns `{"value": JWT}` for that audience, and rejects a
/// missing or wrong bearer token with 401 as GitHub does.
pub struct FakeGitHubOidc {
    server: Arc<tiny_http::Server>,
    thread: Option<JoinHandle<()>>,
    requests: Arc<Mutex<Vec<OidcRequest>>>,
    port: u16,
    pub request_token: String,
}

impl FakeGitHubOidc {
    pub fn start(issuer: Issuer, subject: &str) -> FakeGitHubOidc {
        let server = Arc::new(tiny_http::Server::http(("127.0.0.1", 0)).expect("bind"));
        let port = server.server_addr().to_ip().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let request_token = format!("ghs-request-{}", uuid::Uuid::new_v4().simple());
        let thread = {
            let server = Arc::clone(&server);
            let requests = Arc::clone(&requests);
            let expected = format!("Bearer {request_token}");
            let subject = subject.to_string();
            std::thread::spawn(move || {
                for request in server.incoming_requests() {
                    let url = request.url().to_string();
                    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
                    let query: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
                        .into_owned()
                        .collect();
                    let authorization = request
                        .headers()
                        .iter()
                        .find(|h| h.field.equiv("Authorization"))
                        .map(|h| h.value.as_str().to_string());
                    let recorded = OidcRequest {
                        method: request.method().as_str().to_string(),
                        path: path.to_string(),
                        query: query.clone(),
                        authorization: authorization.clone(),
                    };
                    requests.lock().unwrap().push(recorded);
                    let audience = query
                        .iter()
                        .find(|(k, _)| k == "audience")
                        .map(|(_, v)| v.clone());
                    let (status, body) = if authorization.as_deref() != Some(expected.as_str()) {
                        (401, json!({"message": "Bad credentials"}))
                    } else if path != "/token" {
                        (404, json!({"message": "Not Found"}))
                    } else {
                        let audience = audience.unwrap_or_else(|| GITHUB_DEFAULT_AUDIENCE.into());
                        (
                            200,
                            json!({"count": 1, "value": issuer.token(&subject, &audience)}),
                        )
                    };
                    let response = tiny_http::Response::from_string(body.to_string())
                        .with_status_code(status)
                        .with_header(
                            tiny_http::Header::from_bytes("Content-Type", "application/json")
                                .unwrap(),
                        );
                    let _ = request.respond(response);
                }
            })
        };
        FakeGitHubOidc {
            server,
            thread: Some(thread),
            requests,
            port,
            request_token,
        }
    }

    /// Returns the value GitHub puts in `ACTIONS_ID_TOKEN_REQUEST_URL`.
    pub fn request_url(&self) -> String {
        format!("http://127.0.0.1:{}/token?api-version=2.0", self.port)
    }

    pub fn requests(&self) -> Vec<OidcRequest> {
        self.requests.lock().unwrap().clone()
    }
}

/// The audience GitHub puts in a token when the request names none: the
/// repository owner's URL.
const GITHUB_DEFAULT_AUDIENCE: &str = "https://github.com/contoso";

impl Drop for FakeGitHubOidc {
    fn drop(&mut self) {
        self.server.unblock();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
