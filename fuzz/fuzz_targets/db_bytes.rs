//! Opening hostile database bytes (`{ bytes }` import): refused with a typed
//! error, or opened and usable (queries, an export that opens again).
#![no_main]
use libfuzzer_sys::fuzz_target;
use usertrail::{OpenOptions, Storage, UserTrail};

fuzz_target!(|data: &[u8]| {
    let open = |bytes: Vec<u8>| {
        UserTrail::open(
            OpenOptions::new(Storage::Bytes(bytes)).clock(std::sync::Arc::new(
                usertrail::clock::ManualClock::new(1_700_000_000_000),
            )),
        )
    };
    let Ok(trail) = open(data.to_vec()) else {
        return;
    };
    let _ = trail.tracking().track(Default::default());
    let _ = trail.analytics().partial("summary", Default::default());
    if let Ok(bytes) = trail.export() {
        let _ = open(bytes);
    }
});
