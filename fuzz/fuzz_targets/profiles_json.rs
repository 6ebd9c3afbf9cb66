#![no_main]
//! Parses arbitrary bytes as `profiles.json`; a parsed file must serialise
//! and parse again to the same profiles.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(profiles) = entratool::profile::parse_profiles(data) {
        let json = serde_json::to_vec(&profiles).expect("parsed profiles serialise");
        let again = entratool::profile::parse_profiles(&json).expect("serialised profiles parse");
        assert_eq!(profiles.len(), again.len());
        for profile in &profiles {
            let _ = profile.effective_scopes();
            let _ = profile.validate(profile.inferred_flow());
        }
    }
});
