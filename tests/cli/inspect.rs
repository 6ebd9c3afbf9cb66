//! `inspect`: decoding tokens from every input, validity and exit codes.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::common::{stderr_of, stdout_of, TestEnv};

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn make_jwt(header: &Value, claims: &Value) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(b"not-a-real-signature")
    )
}

fn header() -> Value {
    json!({"alg": "RS256", "typ": "JWT", "kid": "key-1"})
}

/// A token valid from ten minutes ago for another hour.
fn valid_token() -> String {
    let now = now();
    make_jwt(
        &header(),
        &json!({
            "aud": "https://graph.microsoft.com",
            "tid": "4a8b6c2d-1e3f-4a5b-8c7d-9e0f1a2b3c4d",
            "scp": "User.Read Mail.Read",
            "roles": ["Application.Read.All", "User.Read.All"],
            "appid": "0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0",
            "oid": "9b1c3f6e-2d4a-4e8b-a1c7-5f3e2d1c0b9a",
            "upn": "ada@contoso.onmicrosoft.com",
            "zz_custom": "last",
            "iat": now - 600,
            "nbf": now - 600,
            "exp": now + 3600,
        }),
    )
}

fn expired_token() -> String {
    let now = now();
    make_jwt(
        &header(),
        &json!({"aud": "api://x", "iat": now - 7200, "nbf": now - 7200, "exp": now - 3600}),
    )
}

#[test]
fn valid_token_shows_header_claims_and_validity() {
    let env = TestEnv::new();
    let output = env
        .cmd()
        .args(["inspect", &valid_token()])
        .env("TZ", "IST-5:30")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let stdout = stdout_of(&output);
    for expected in [
        "Header",
        "alg  RS256",
        "typ  JWT",
        "kid  key-1",
        "Key claims",
        "scp    User.Read Mail.Read",
        "roles  Application.Read.All, User.Read.All",
        "upn    ada@contoso.onmicrosoft.com",
        "Validity",
        "valid from",
        "valid to",
        "+05:30",
        "UTC)",
        "valid, ",
        " left",
        "Claims",
    ] {
        assert!(
            stdout.contains(expected),
            "missing {expected:?} in:\n{stdout}"
        );
    }
    // The full claim list is sorted by name.
    let claims = &stdout[stdout.find("\nClaims\n").unwrap()..];
    let positions: Vec<usize> = [
        "appid",
        "aud",
        "exp",
        "iat",
        "nbf",
        "oid",
        "tid",
        "zz_custom",
    ]
    .iter()
    .map(|name| claims.find(&format!("  {name} ")).unwrap())
    .collect();
    let mut sorted = positions.clone();
    sorted.sort_unstable();
    assert_eq!(positions, sorted, "claims are not sorted:\n{claims}");
    assert!(env.server.requests().is_empty(), "inspect sent a request");
}

#[test]
fn expired_token_exits_6_after_printing() {
    let env = TestEnv::new();
    let output = env
        .cmd()
        .args(["inspect", &expired_token()])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(6), "{}", stderr_of(&output));
    assert!(
        stdout_of(&output).contains("EXPIRED 1h 0m ago"),
        "{}",
        stdout_of(&output)
    );
    assert!(
        stderr_of(&output).contains("expired"),
        "{}",
        stderr_of(&output)
    );
}

#[test]
fn malformed_tokens_name_the_failing_part() {
    let env = TestEnv::new();
    let good_header = URL_SAFE_NO_PAD.encode(header().to_string());
    let good_claims = URL_SAFE_NO_PAD.encode(r#"{"aud":"x"}"#);
    let cases = [
        ("only.two".to_string(), "2 segment(s)"),
        ("a.b.c.d".to_string(), "4 segment(s)"),
        ("a.b.c.d.e".to_string(), "encrypted JWT (JWE)"),
        (
            format!("!!!.{good_claims}.sig"),
            "header segment is not valid base64url",
        ),
        (
            format!("{good_header}.@@@.sig"),
            "claims segment is not valid base64url",
        ),
        (
            format!("{}.{good_claims}.sig", URL_SAFE_NO_PAD.encode("nope")),
            "header segment is not a JSON object",
        ),
        (
            format!("{good_header}.{}.sig", URL_SAFE_NO_PAD.encode("[1,2]")),
            "claims segment is not a JSON object",
        ),
        ("   ".to_string(), "the token is empty"),
    ];
    for (token, expected) in cases {
        let output = env.cmd().args(["inspect", &token]).output().unwrap();
        let stderr = stderr_of(&output);
        assert_eq!(output.status.code(), Some(1), "{token}: {stderr}");
        assert!(stderr.contains(expected), "{token}: {stderr}");
        assert!(stdout_of(&output).is_empty(), "{token}: stdout not empty");
    }
}

#[test]
fn bearer_prefix_and_whitespace_are_accepted() {
    let env = TestEnv::new();
    for input in [
        format!("Bearer {}", valid_token()),
        format!("  bearer   {}\n", valid_token()),
        format!("\n\t{}  \n", valid_token()),
    ] {
        let output = env.cmd().args(["inspect", &input]).output().unwrap();
        assert_eq!(
            output.status.code(),
            Some(0),
            "{input:?}: {}",
            stderr_of(&output)
        );
        assert!(stdout_of(&output).contains("kid  key-1"));
    }
}

#[test]
fn token_from_stdin_dash_and_file() {
    let env = TestEnv::new();
    let token = format!("Bearer {}\n", valid_token());

    let output = env
        .cmd()
        .arg("inspect")
        .write_stdin(token.clone())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(stdout_of(&output).contains("kid  key-1"));

    let output = env
        .cmd()
        .args(["inspect", "-"])
        .write_stdin(token.clone())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));

    let file = env.dir.path().join("token.txt");
    std::fs::write(&file, &token).unwrap();
    let output = env
        .cmd()
        .args(["inspect", "--file"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    assert!(stdout_of(&output).contains("kid  key-1"));
}

#[test]
fn json_output_and_narrowing() {
    let env = TestEnv::new();
    let token = valid_token();
    let output = env
        .cmd()
        .args(["inspect", &token, "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let value: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    assert_eq!(value["header"]["kid"], "key-1");
    assert_eq!(value["claims"]["aud"], "https://graph.microsoft.com");
    assert_eq!(value["claims"]["roles"][0], "Application.Read.All");
    assert_eq!(value.as_object().unwrap().len(), 2);

    let output = env
        .cmd()
        .args(["inspect", &token, "-o", "json", "--claims"])
        .output()
        .unwrap();
    let claims: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    assert_eq!(claims["upn"], "ada@contoso.onmicrosoft.com");
    assert!(claims.get("header").is_none());

    let output = env
        .cmd()
        .args(["inspect", &token, "-o", "json", "--header"])
        .output()
        .unwrap();
    let header: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    assert_eq!(
        header,
        json!({"alg": "RS256", "typ": "JWT", "kid": "key-1"})
    );

    let output = env
        .cmd()
        .args(["inspect", &token, "--header"])
        .output()
        .unwrap();
    let text = stdout_of(&output);
    assert!(text.contains("alg  RS256"));
    assert!(!text.contains("Claims"), "{text}");

    let output = env
        .cmd()
        .args(["inspect", &token, "--claims"])
        .output()
        .unwrap();
    let text = stdout_of(&output);
    assert!(text.contains("upn"));
    assert!(!text.contains("Header"), "{text}");
}

#[test]
fn token_from_get_token_pipes_into_inspect() {
    let env = TestEnv::new();
    env.write_default_profile("app");
    let output = env
        .cmd()
        .args(["get-token", "-p", "app"])
        .env("ENTRATOOL_CLIENT_SECRET", crate::fake_entra::CLIENT_SECRET)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let requests_before = env.server.requests().len();

    let output = env
        .cmd()
        .args(["inspect", "-o", "json"])
        .write_stdin(stdout_of(&output))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", stderr_of(&output));
    let value: Value = serde_json::from_str(&stdout_of(&output)).unwrap();
    assert_eq!(value["claims"]["appid"], crate::fake_entra::CLIENT_ID);
    assert_eq!(value["header"]["kid"], "fake-entra-key");
    assert_eq!(env.server.requests().len(), requests_before);
}
