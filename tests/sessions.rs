//! Session rules, with the manual clock, on the engine's own SQLite
//! database: the shared suite (`tests/common/session_suite.rs`, every rule
//! written once for every backend), and the settings checks of the engine.
//! Native and wasm.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;

use common::session_suite::*;
use common::*;
use serde_json::{json, Map};
use usertrail::session::{ClientContext, CreateOptions, FingerprintPolicy, SessionConfig};
use usertrail::UserTrail;

crate::session_suite!(Sqlite);

#[test]
fn bad_engine_settings_are_refused_at_open() {
    use std::sync::Arc;
    use usertrail::clock::ManualClock;
    use usertrail::{OpenOptions, Storage};
    let open = |config: SessionConfig| {
        code(UserTrail::open(
            OpenOptions::new(Storage::Memory)
                .clock(Arc::new(ManualClock::new(0)))
                .sessions(config),
        ))
    };
    let d = SessionConfig::default;
    assert_eq!(
        open(SessionConfig {
            idle_timeout_secs: 0,
            ..d()
        }),
        "INVALID_INPUT"
    );
    assert_eq!(
        open(SessionConfig {
            touch_interval_secs: 4000,
            ..d()
        }),
        "INVALID_INPUT"
    );
    assert_eq!(
        open(SessionConfig {
            max_sessions_per_user: Some(0),
            ..d()
        }),
        "INVALID_INPUT"
    );
    assert_eq!(
        open(SessionConfig {
            max_state_bytes: 1,
            ..d()
        }),
        "INVALID_INPUT"
    );
    assert_eq!(open(d()), "OK");
}
