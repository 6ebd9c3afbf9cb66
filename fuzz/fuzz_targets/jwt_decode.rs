#![no_main]
//! Decodes arbitrary text as a JWT the way `inspect` does; it must never
//! panic, and a decoded token's dates must be readable.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let cleaned = entratool::jwt::clean_token(text);
    if let Ok(decoded) = entratool::jwt::decode(cleaned) {
        for claim in ["exp", "nbf", "iat"] {
            let _ = entratool::jwt::numeric_date(&decoded.claims, claim);
        }
    }
});
