#![no_main]
//! Opens arbitrary bytes as an export file (either format). Damaged input
//! must be an error, never a panic or an absurd allocation.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let passphrase = entratool::secrets::Secret::new("fuzzing passphrase");
    let _ = entratool::export::open(data, &passphrase);
});
