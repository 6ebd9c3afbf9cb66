//! The fake server's own strictness, driven through the library's token
//! client: a fake that accepted a reused code, a wrong PKCE verifier or a
//! different redirect URI string would let the flow tests pass for a client
//! that Entra rejects.

use std::time::Duration;

use entratool::error::Error;
use entratool::secrets::Secret;
use entratool::token::TokenClient;

use crate::common::location_of;
use crate::fake_entra::{FakeEntra, DEVICE_CODE_GRANT, PUBLIC_CLIENT_ID, TENANT_ID};

const REDIRECT: &str = "http://localhost:8080";
const VERIFIER: &str = "test-verifier-0123456789-0123456789-0123456789";
/// Returns the S256 challenge of VERIFIER: base64url(SHA-256(verifier)), as
/// RFC 7636 section 4.2 defines it.
fn challenge() -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(VERIFIER))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Signs in at the fake authorize endpoint and returns the code.
fn authorize(server: &FakeEntra, scope: &str) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", PUBLIC_CLIENT_ID)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("scope", scope)
        .append_pair("state", "test-state")
        .append_pair("code_challenge", &challenge())
        .append_pair("code_challenge_method", "S256")
        .finish();
    let url = format!("{}/{TENANT_ID}/oauth2/v2.0/authorize?{query}", server.url());
    let location = location_of(&url).expect("a redirect");
    let (_, query) = location.split_once('?').unwrap();
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .expect("a code")
}

fn redeem(
    client: &TokenClient,
    code: &str,
    redirect: &str,
    verifier: &str,
) -> Result<entratool::token::Token, Error> {
    let form = [
        ("client_id", PUBLIC_CLIENT_ID),
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
    ];
    runtime().block_on(client.request_token(TENANT_ID, &form, &[]))
}

fn refresh(client: &TokenClient, token: &Secret) -> Result<entratool::token::Token, Error> {
    let form = [
        ("client_id", PUBLIC_CLIENT_ID),
        ("grant_type", "refresh_token"),
        ("refresh_token", token.expose()),
    ];
    runtime().block_on(client.request_token(TENANT_ID, &form, &[]))
}

/// Returns the AADSTS code of a server rejection.
fn aadsts(result: Result<entratool::token::Token, Error>) -> u64 {
    match result {
        Err(Error::Server(server)) => server.aadsts_code().expect("an AADSTS code"),
        Err(other) => panic!("not a server rejection: {other}"),
        Ok(_) => panic!("the server accepted the request"),
    }
}

fn client(server: &FakeEntra) -> TokenClient {
    TokenClient::new(&server.url(), Duration::from_secs(10)).unwrap()
}

#[test]
fn challenge_matches_verifier() {
    // RFC 7636 appendix B gives this pair; it checks the encoding used above.
    use base64::Engine;
    use sha2::Digest;
    let digest = sha2::Sha256::digest("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
    assert_eq!(
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    );
}

#[test]
fn code_is_single_use() {
    let server = FakeEntra::start();
    let client = client(&server);
    let code = authorize(&server, "User.Read offline_access");
    assert!(redeem(&client, &code, REDIRECT, VERIFIER).is_ok());
    assert_eq!(aadsts(redeem(&client, &code, REDIRECT, VERIFIER)), 54005);
}

#[test]
fn wrong_verifier_is_rejected() {
    let server = FakeEntra::start();
    let code = authorize(&server, "User.Read");
    let result = redeem(&client(&server), &code, REDIRECT, "another-verifier");
    assert_eq!(aadsts(result), 501481);
}

#[test]
fn redirect_uri_must_match_as_a_string() {
    let server = FakeEntra::start();
    let code = authorize(&server, "User.Read");
    let result = redeem(&client(&server), &code, "http://localhost:8080/", VERIFIER);
    assert_eq!(aadsts(result), 70000);
}

#[test]
fn refresh_tokens_rotate_and_replay_revokes() {
    let server = FakeEntra::start();
    let client = client(&server);
    let code = authorize(&server, "User.Read openid offline_access");
    let first = redeem(&client, &code, REDIRECT, VERIFIER).unwrap();
    let first_refresh = first
        .refresh_token
        .expect("offline_access gives a refresh token");

    let second = refresh(&client, &first_refresh).unwrap();
    let second_refresh = second.refresh_token.expect("a rotated refresh token");
    assert_ne!(first_refresh, second_refresh);
    assert!(second
        .scopes
        .contains(&"https://graph.microsoft.com/User.Read".to_string()));

    // Replaying the old token is refused and revokes the newer one too.
    assert_eq!(aadsts(refresh(&client, &first_refresh)), 70000);
    assert_eq!(aadsts(refresh(&client, &second_refresh)), 70000);
}

#[test]
fn expired_refresh_token_is_rejected() {
    let server = FakeEntra::start();
    let client = client(&server);
    let code = authorize(&server, "User.Read offline_access");
    let token = redeem(&client, &code, REDIRECT, VERIFIER).unwrap();
    server.expire_refresh_tokens();
    assert_eq!(
        aadsts(refresh(&client, &token.refresh_token.unwrap())),
        700082
    );
}

#[test]
fn device_code_polls_too_soon_get_slow_down() {
    let server = FakeEntra::start();
    let client = client(&server);
    let runtime = runtime();
    let (_, body) = runtime
        .block_on(client.post_form(
            &client.device_code_endpoint(TENANT_ID),
            &[("client_id", PUBLIC_CLIENT_ID), ("scope", "User.Read")],
        ))
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let device_code = json["device_code"].as_str().unwrap();
    let poll = || {
        let form = [
            ("client_id", PUBLIC_CLIENT_ID),
            ("grant_type", DEVICE_CODE_GRANT),
            ("device_code", device_code),
        ];
        runtime.block_on(client.request_token(TENANT_ID, &form, &[]))
    };
    let error = |result| match result {
        Err(Error::Server(server)) => server.error.clone(),
        _ => panic!("expected an OAuth error"),
    };
    assert_eq!(error(poll()), "authorization_pending");
    assert_eq!(error(poll()), "slow_down");
}
