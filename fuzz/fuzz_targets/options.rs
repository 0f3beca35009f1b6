//! Every option object: the config types read from JSON (unknown keys
//! refused), and an engine opened with whatever they accept, or a typed
//! error: never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use usertrail::consent::PrivacyConfig;
use usertrail::session::SessionConfig;
use usertrail::tracking::TrackingConfig;
use usertrail::{OpenOptions, Storage, UserTrail};

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let mut options = OpenOptions::new(Storage::Memory).clock(std::sync::Arc::new(
        usertrail::clock::ManualClock::new(1_700_000_000_000),
    ));
    match which % 3 {
        0 => match serde_json::from_str::<SessionConfig>(text) {
            Ok(c) => options = options.sessions(c),
            Err(_) => return,
        },
        1 => match serde_json::from_str::<TrackingConfig>(text) {
            Ok(c) => options = options.tracking(c),
            Err(_) => return,
        },
        _ => match serde_json::from_str::<PrivacyConfig>(text) {
            Ok(c) => options = options.privacy(c),
            Err(_) => return,
        },
    }
    if let Ok(trail) = UserTrail::open(options) {
        let _ = trail.tracking().track(Default::default());
    }
});
