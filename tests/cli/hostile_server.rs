//! An authority that responds with values no real Entra sends: redirects of
//! the token request, and lifetimes too large for any clock.

use crate::common::{stderr_of, TestEnv};
use crate::fake_entra::{Canned, FakeEntra, CLIENT_SECRET};

#[test]
fn token_request_redirect_is_not_followed() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let elsewhere = FakeEntra::start();
    let target = format!(
        "{}/{}/oauth2/v2.0/token",
        elsewhere.url(),
        crate::fake_entra::TENANT_ID
    );
    for status in [307, 308] {
        env.server.push_canned(
            Canned::new(status, "text/plain", "moved").with_header("Location", &target),
        );
        let output = env
            .cmd()
            .args(["get-token", "-p", "app", "--no-cache"])
            .env("ENTRATOOL_CLIENT_SECRET", CLIENT_SECRET)
            .output()
            .unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(4), "HTTP {status}: {stderr}");
        assert!(
            stderr.contains(&format!("HTTP {status}")),
            "HTTP {status}: {stderr}"
        );
        assert!(stderr.contains("redirect"), "HTTP {status}: {stderr}");
    }
    assert!(
        elsewhere.requests().is_empty(),
        "the token request, with its client secret, reached the redirect target"
    );
}
