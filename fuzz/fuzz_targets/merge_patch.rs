//! The session-state merge patch, differentially: the engine's stored state
//! after each patch (SQLite's json_patch) equals RFC 7396 applied in Rust to
//! a shadow copy, and a refused patch leaves the state unchanged.
#![no_main]
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use usertrail::session::CreateOptions;
use usertrail::{block_on, OpenOptions, Storage, UserTrail};

thread_local! {
    static ENGINE: UserTrail = UserTrail::open(
        OpenOptions::new(Storage::Memory)
            .clock(std::sync::Arc::new(usertrail::clock::ManualClock::new(1_700_000_000_000))),
    )
    .unwrap();
}

/// RFC 7396.
fn apply(target: &mut Value, patch: &Value) {
    let Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let Value::Object(doc) = target else { return };
    for (k, v) in patch {
        if v.is_null() {
            doc.remove(k);
        } else {
            apply(doc.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
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
                Ok(_) => apply(&mut shadow, patch),
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
