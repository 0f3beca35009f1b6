//! The session-state merge patch, differentially: the engine's stored state
//! after each patch (SQLite's json_patch) equals the engine's own RFC 7396
//! in Rust (what the Redis backend and the in-memory view use) applied to a
//! shadow copy, and a refused patch leaves the state unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use usertrail::session::{merge_patch, CreateOptions};
use usertrail::{block_on, OpenOptions, Storage, UserTrail};

thread_local! {
    static ENGINE: UserTrail = UserTrail::open(
        OpenOptions::new(Storage::Memory)
            .clock(std::sync::Arc::new(usertrail::clock::ManualClock::new(1_700_000_000_000))),
    )
    .unwrap();
}

fuzz_target!(|data: &[u8]| {
    let Ok(Value::Array(patches)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    ENGINE.with(|trail| {
        let sessions = trail.sessions();
        let issued = block_on(sessions.create(CreateOptions::default())).unwrap();
        let mut shadow = Value::Object(Map::new());
        for patch in patches.iter().take(8) {
            let Value::Object(p) = patch else { continue };
            let before = block_on(sessions.get(&issued.token, None)).unwrap();
            match block_on(sessions.merge(&issued.token, p, None)) {
                Ok(_) => merge_patch(&mut shadow, patch),
                Err(_) => {
                    let after = block_on(sessions.get(&issued.token, None)).unwrap();
                    assert_eq!(before, after, "a refused patch changed the state");
                    continue;
                }
            }
            let stored = block_on(sessions.get(&issued.token, None))
                .unwrap()
                .unwrap();
            assert_eq!(stored, shadow, "patch {patch}");
        }
        block_on(sessions.destroy(&issued.token)).unwrap();
    });
});
