//! Event validation, JSON in: a collector's batch body is read strictly,
//! each event alone; every event read writes back to the same JSON and
//! reads again to the same event.
#![no_main]
use libfuzzer_sys::fuzz_target;
use usertrail::pipeline::parse_body;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(events) = parse_body(text, 100) else {
        return;
    };
    for event in events.into_iter().flatten() {
        let json = serde_json::to_value(&event).unwrap();
        let again: usertrail::tracking::Event = serde_json::from_value(json).unwrap();
        assert_eq!(again.event_id, event.event_id);
    }
});
