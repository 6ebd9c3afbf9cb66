#![no_main]
//! Feeds arbitrary bodies to the token and error response parsers, which
//! must never panic, and to the error formatting the user sees.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = entratool::token::response::TokenResponse::parse(data);
    if let Some(error) = entratool::token::response::parse_error("https://example.test/token", 400, data) {
        let _ = error.to_string();
        let _ = error.hint();
        let _ = error.aadsts_code();
    }
    let _ = entratool::token::client::error_from_body("https://example.test/token", 502, data).to_string();
});
