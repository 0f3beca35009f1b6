//! Activity tracking rules, with the manual clock. Native and wasm.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::common;

use std::sync::Arc;

use common::*;
use serde_json::{json, Map, Value};
use usertrail::clock::ManualClock;
use usertrail::session::{CreateOptions, SessionConfig};
use usertrail::tracking::{
    EventInput, EventSchema, EventType, HistoryFilter, OutboxConfig, PropType, SamplingRule,
    SimpleType, TrackStatus, TrackingConfig, ValidationMode,
};
use usertrail::{OpenOptions, Storage, UserTrail};

fn open(config: TrackingConfig) -> (UserTrail, Arc<ManualClock>) {
    common::open_at(T0, OpenOptions::new(Storage::Memory).tracking(config))
}

fn ev(name: &str, user: &str) -> EventInput {
    EventInput {
        event_type: Some(EventType::Action),
        name: name.into(),
        user_id: Some(user.into()),
        ..EventInput::default()
    }
}

fn props(v: Value) -> Option<Map<String, Value>> {
    match v {
        Value::Object(m) => Some(m),
        _ => None,
    }
}

fn events(trail: &UserTrail) -> i64 {
    trail
        .store()
        .conn()
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap()
}

fn user(id: &str) -> HistoryFilter {
    HistoryFilter {
        user_id: Some(id.into()),
        ..HistoryFilter::default()
    }
}

#[test]
fn the_same_event_id_is_stored_once() {
    let (trail, _) = open(TrackingConfig::default());
    let t = trail.tracking();
    let (id, status) = t.track(ev("click", "alice")).unwrap();
    assert_eq!(status, TrackStatus::Stored);
    assert_eq!(&id[14..15], "7", "a UUIDv7");
    let again = EventInput {
        event_id: Some(id.to_uppercase()),
        ..ev("click", "alice")
    };
    assert_eq!(t.track(again).unwrap(), (id, TrackStatus::Duplicate));
    assert_eq!(events(&trail), 1);
}

#[test]
fn a_batch_is_all_or_nothing_unless_partial() {
    let (trail, _) = open(TrackingConfig::default());
    let t = trail.tracking();
    let bad = EventInput {
        name: String::new(),
        ..ev("x", "alice")
    };
    let batch = vec![ev("a", "alice"), bad.clone(), ev("b", "alice")];
    let err = t.track_batch(batch.clone(), false).unwrap_err();
    assert_eq!(usertrail::error::ErrorCode::code(&err), "INVALID_INPUT");
    assert!(err.to_string().contains("events[1].name"), "{err}");
    assert_eq!(events(&trail), 0, "part of a failed batch was stored");

    let results = t.track_batch(batch, true).unwrap();
    let statuses: Vec<_> = results
        .iter()
        .map(|r| r.outcome.as_ref().map_err(|e| e.to_string()).cloned())
        .collect();
    assert_eq!(statuses[0], Ok(TrackStatus::Stored));
    assert!(statuses[1]
        .as_ref()
        .is_err_and(|e| e.contains("events[1].name")));
    assert_eq!(statuses[2], Ok(TrackStatus::Stored));
    assert_eq!(events(&trail), 2);
}

#[test]
fn sampling_is_deterministic_per_user_and_recorded() {
    let config = TrackingConfig {
        sampling: vec![SamplingRule {
            name: Some("scroll".into()),
            event_type: None,
            rate: 0.5,
        }],
        ..TrackingConfig::default()
    };
    let (trail, _) = open(config);
    let t = trail.tracking();
    let mut kept_users = 0;
    for u in 0..200 {
        let uid = format!("u{u}");
        let first = t.track(ev("scroll", &uid)).unwrap().1;
        // A user's journey is kept or dropped whole.
        for _ in 0..3 {
            assert_eq!(t.track(ev("scroll", &uid)).unwrap().1, first, "{uid}");
        }
        kept_users += usize::from(first == TrackStatus::Stored);
        assert_eq!(
            t.track(ev("click", &uid)).unwrap().1,
            TrackStatus::Stored,
            "other names are not sampled"
        );
    }
    assert!(
        (70..130).contains(&kept_users),
        "{kept_users} of 200 kept at 50%"
    );
    let rates: Vec<f64> = trail
        .store()
        .conn()
        .prepare("SELECT DISTINCT sample_rate FROM events ORDER BY 1")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rates, [0.5, 1.0]);
}

fn checkout_schema() -> EventSchema {
    EventSchema {
        required: [
            ("total".to_string(), PropType::Simple(SimpleType::Number)),
            (
                "currency".to_string(),
                PropType::Enum {
                    values: vec!["EUR".into(), "USD".into()],
                },
            ),
        ]
        .into(),
        optional: [("coupon".to_string(), PropType::Simple(SimpleType::String))].into(),
        personal: Vec::new(),
    }
}

#[test]
fn strict_schemas_reject_naming_the_field() {
    let (trail, _) = open(TrackingConfig::default());
    let t = trail.tracking();
    t.define_event("checkout", &checkout_schema()).unwrap();
    let with = |p: Value| EventInput {
        properties: props(p),
        ..ev("checkout", "alice")
    };
    let cases = [
        (json!({ "currency": "EUR" }), "properties.total"),
        (
            json!({ "total": "12", "currency": "EUR" }),
            "properties.total",
        ),
        (
            json!({ "total": 12, "currency": "GBP" }),
            "properties.currency",
        ),
        (
            json!({ "total": 12, "currency": "EUR", "coupon": 5 }),
            "properties.coupon",
        ),
    ];
    for (p, field) in cases {
        let err = t.track(with(p)).unwrap_err();
        assert_eq!(usertrail::error::ErrorCode::code(&err), "SCHEMA_VIOLATION");
        assert!(err.to_string().contains(field), "{err} should name {field}");
    }
    assert_eq!(events(&trail), 0);
    assert_eq!(
        t.track(with(
            json!({ "total": 12, "currency": "EUR", "extra": true })
        ))
        .unwrap()
        .1,
        TrackStatus::Stored
    );
}

#[test]
fn quarantine_keeps_invalid_events_and_retries_them() {
    let (trail, _) = open(TrackingConfig {
        validation: ValidationMode::Quarantine,
        ..TrackingConfig::default()
    });
    let t = trail.tracking();
    t.define_event("checkout", &checkout_schema()).unwrap();
    let bad = EventInput {
        properties: props(json!({ "total": "twelve", "currency": "EUR" })),
        ..ev("checkout", "alice")
    };
    assert_eq!(t.track(bad).unwrap().1, TrackStatus::Quarantined);
    assert_eq!(events(&trail), 0);
    let q = t.quarantine_list(None).unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0].code, "SCHEMA_VIOLATION");
    assert_eq!(q[0].field.as_deref(), Some("properties.total"));
    assert_eq!(q[0].event["properties"]["total"], json!("twelve"));

    // Still invalid: it stays.
    assert_eq!(code(t.quarantine_retry(q[0].id)), "SCHEMA_VIOLATION");
    assert_eq!(t.quarantine_list(None).unwrap().len(), 1);
    // The schema is relaxed: the retry stores it, with its original id.
    let mut relaxed = checkout_schema();
    relaxed
        .required
        .insert("total".into(), PropType::Simple(SimpleType::String));
    t.define_event("checkout", &relaxed).unwrap();
    assert_eq!(t.quarantine_retry(q[0].id).unwrap(), TrackStatus::Stored);
    assert!(t.quarantine_list(None).unwrap().is_empty());
    let stored: String = trail
        .store()
        .conn()
        .query_row(
            &format!("SELECT {} FROM events", usertrail::tracking::EVENT_ID_TEXT),
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stored, q[0].event_id);
    assert_eq!(code(t.quarantine_retry(q[0].id)), "NOT_FOUND");
}

#[test]
fn dimensions_strict_and_lenient() {
    let with_plan = || EventInput {
        dimensions: props(json!({ "plan": "pro" })),
        ..ev("upgrade", "alice")
    };
    let (strict, _) = open(TrackingConfig::default());
    assert_eq!(
        code(strict.tracking().track(with_plan())),
        "UNKNOWN_DIMENSION"
    );
    strict
        .tracking()
        .define_dimension("plan", SimpleType::String)
        .unwrap();
    assert_eq!(
        strict.tracking().track(with_plan()).unwrap().1,
        TrackStatus::Stored
    );
    let wrong = || EventInput {
        dimensions: props(json!({ "plan": 3 })),
        ..ev("upgrade", "alice")
    };
    assert_eq!(code(strict.tracking().track(wrong())), "SCHEMA_VIOLATION");
    // The message names the event and the value at fault, not a schema
    // (a dimension's type is not one).
    assert_eq!(
        strict.tracking().track(wrong()).unwrap_err().to_string(),
        "event \"upgrade\": dimensions.plan must be a string"
    );
    assert_eq!(
        code(
            strict
                .tracking()
                .define_dimension("plan", SimpleType::Number)
        ),
        "INVALID_INPUT"
    );

    let (lenient, _) = open(TrackingConfig {
        validation: ValidationMode::Lenient,
        ..TrackingConfig::default()
    });
    lenient.tracking().track(with_plan()).unwrap();
    let page = lenient
        .tracking()
        .history(&user("alice"), None, None)
        .unwrap();
    assert_eq!(page.events[0].properties, json!({ "plan": "pro" }));
    assert_eq!(page.events[0].dimensions, None);
}

#[test]
fn count_without_a_subject_counts_every_event_and_filters_apply() {
    let (trail, clock) = open(TrackingConfig::default());
    let t = trail.tracking();
    let start = T0;
    t.track(ev("signup", "alice")).unwrap();
    clock.advance(1_000);
    t.track(ev("signup", "bob")).unwrap();
    t.track(EventInput {
        event_type: Some(EventType::Page),
        name: "page_view".into(),
        anonymous_id: Some("anon-1".into()),
        ..EventInput::default()
    })
    .unwrap();
    assert_eq!(t.count(&HistoryFilter::default()).unwrap(), 3);
    let by_name = HistoryFilter {
        names: vec!["signup".into()],
        ..HistoryFilter::default()
    };
    assert_eq!(t.count(&by_name).unwrap(), 2);
    let by_type = HistoryFilter {
        types: vec![EventType::Page],
        ..HistoryFilter::default()
    };
    assert_eq!(t.count(&by_type).unwrap(), 1);
    let later = HistoryFilter {
        since: Some(start + 1),
        ..HistoryFilter::default()
    };
    assert_eq!(t.count(&later).unwrap(), 2);
    // Two subjects at once is still ambiguous, and history still needs one.
    let two = HistoryFilter {
        user_id: Some("alice".into()),
        anonymous_id: Some("anon-1".into()),
        ..HistoryFilter::default()
    };
    assert_eq!(code(t.count(&two)), "INVALID_INPUT");
    assert_eq!(
        code(t.history(&HistoryFilter::default(), None, None)),
        "INVALID_INPUT"
    );
    assert_eq!(t.count(&HistoryFilter::default()).unwrap(), 3);
}

#[test]
fn history_pages_are_stable_under_inserts() {
    let (trail, clock) = open(TrackingConfig::default());
    let t = trail.tracking();
    for i in 0..25 {
        clock.advance(1_000);
        t.track(EventInput {
            properties: props(json!({ "i": i })),
            ..ev("step", "alice")
        })
        .unwrap();
    }
    t.track(ev("step", "bob")).unwrap();
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = t
            .history(&user("alice"), Some(10), cursor.as_deref())
            .unwrap();
        seen.extend(
            page.events
                .iter()
                .map(|e| e.properties["i"].as_i64().unwrap()),
        );
        // Newer events arrive between pages; they must not shift what follows.
        clock.advance(1_000);
        t.track(EventInput {
            properties: props(json!({ "i": 100 })),
            ..ev("step", "alice")
        })
        .unwrap();
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, (0..25).rev().collect::<Vec<_>>());
    assert_eq!(t.count(&user("alice")).unwrap(), 28);
    let filtered = HistoryFilter {
        names: vec!["nope".into()],
        ..user("alice")
    };
    assert_eq!(t.count(&filtered).unwrap(), 0);
    let window = HistoryFilter {
        since: Some(T0 + 5_000),
        until: Some(T0 + 10_000),
        ..user("alice")
    };
    assert_eq!(
        t.count(&window).unwrap(),
        5,
        "since is inclusive, until exclusive"
    );
    assert_eq!(
        code(t.history(&HistoryFilter::default(), None, None)),
        "INVALID_INPUT"
    );
    assert_eq!(
        code(t.history(&user("alice"), None, Some("forged"))),
        "INVALID_INPUT"
    );
    assert_eq!(
        code(t.history(&user("alice"), Some(0), None)),
        "INVALID_INPUT"
    );
}

#[test]
fn ips_are_masked_and_user_agents_reduced() {
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    for (raw_kept, ip, masked) in [
        (false, "198.51.100.23", "198.51.0.0"),
        (true, "2001:db8:abcd:1234::9", "2001:db8:abcd::"),
    ] {
        let (trail, _) = open(TrackingConfig {
            store_raw_user_agent: raw_kept,
            ..TrackingConfig::default()
        });
        let t = trail.tracking();
        t.track(EventInput {
            ip: Some(ip.into()),
            user_agent: Some(chrome.into()),
            ..ev("view", "alice")
        })
        .unwrap();
        let e = &t.history(&user("alice"), None, None).unwrap().events[0];
        assert_eq!(e.client.ip.as_deref(), Some(masked));
        assert_eq!(e.client.browser.as_deref(), Some("Chrome 120"));
        assert_eq!(e.client.device.as_deref(), Some("desktop"));
        assert_eq!(e.user_agent.as_deref(), raw_kept.then_some(chrome));
        let trail = trail;
        let bytes = trail.export().unwrap();
        assert!(
            !contains(&bytes, ip.as_bytes()),
            "the full IP reached the database"
        );
    }
}

#[test]
fn identify_links_earlier_and_later_anonymous_events() {
    let (trail, _) = open(TrackingConfig::default());
    let t = trail.tracking();
    let anon = |name: &str| EventInput {
        event_type: Some(EventType::Page),
        name: name.into(),
        anonymous_id: Some("anon-7".into()),
        ..EventInput::default()
    };
    t.track(anon("landing")).unwrap();
    t.track(anon("pricing")).unwrap();
    assert_eq!(t.identify("anon-7", "alice").unwrap(), 2);
    t.track(anon("signup")).unwrap();
    let names: Vec<String> = t
        .history(&user("alice"), None, None)
        .unwrap()
        .events
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert_eq!(names, ["signup", "pricing", "landing"]);
    assert_eq!(code(t.identify("", "alice")), "INVALID_INPUT");
}

#[test]
fn a_session_token_links_the_session_and_is_never_stored() {
    let clock = Arc::new(ManualClock::new(T0));
    let trail = UserTrail::open(
        OpenOptions::new(Storage::Memory)
            .clock(clock.clone())
            .sessions(SessionConfig::default()),
    )
    .unwrap();
    let s = trail
        .sessions()
        .create(CreateOptions::default())
        .now()
        .unwrap();
    trail
        .tracking()
        .track(EventInput {
            session_token: Some(s.token.clone()),
            ..ev("view", "alice")
        })
        .unwrap();
    let e = &trail
        .tracking()
        .history(&user("alice"), None, None)
        .unwrap()
        .events[0];
    assert_eq!(e.session_id.as_deref(), Some(s.session.session_id.as_str()));
    // A token that resolves to no session leaves the id given beside it,
    // or none; the live token wins over an id given beside it.
    for (token, id, expect) in [
        ("not-a-token", Some("app-s1"), Some("app-s1")),
        ("not-a-token", None, None),
        (
            s.token.as_str(),
            Some("app-s2"),
            Some(s.session.session_id.as_str()),
        ),
    ] {
        let (stored, _) = trail
            .tracking()
            .track(EventInput {
                session_token: Some(token.to_owned()),
                session_id: id.map(str::to_owned),
                ..ev("view", "bob")
            })
            .unwrap();
        let events = trail
            .tracking()
            .history(&user("bob"), None, None)
            .unwrap()
            .events;
        let e = events.iter().find(|e| e.event_id == stored).unwrap();
        assert_eq!(e.session_id.as_deref(), expect, "{token} {id:?}");
    }
    assert!(!contains(&trail.export().unwrap(), s.token.as_bytes()));
    assert!(!contains(&trail.export().unwrap(), b"not-a-token"));
}

#[test]
fn the_outbox_leases_acks_and_retries_with_backoff() {
    let (trail, clock) = open(TrackingConfig {
        outbox: Some(OutboxConfig::default()),
        ..TrackingConfig::default()
    });
    let t = trail.tracking();
    for i in 0..5 {
        t.track(EventInput {
            properties: props(json!({ "i": i })),
            ..ev("e", "alice")
        })
        .unwrap();
    }
    let b1 = t.outbox_take(3).unwrap().unwrap();
    assert_eq!(b1.events.len(), 3);
    assert_eq!(b1.events[0]["properties"]["i"], json!(0), "oldest first");
    let b2 = t.outbox_take(10).unwrap().unwrap();
    assert_eq!(b2.events.len(), 2, "leased events are not handed out twice");
    assert!(t.outbox_take(10).unwrap().is_none());
    assert_eq!(t.outbox_stats().unwrap().leased, 5);

    assert_eq!(t.outbox_ack(&b1.batch_id).unwrap(), 3);
    assert_eq!(code(t.outbox_ack(&b1.batch_id)), "NOT_FOUND");
    assert_eq!(t.outbox_nack(&b2.batch_id).unwrap(), 2);
    // Retry 1 waits 1.5 to 3 s.
    clock.advance(1_499);
    assert!(
        t.outbox_take(10).unwrap().is_none(),
        "retried before its backoff"
    );
    clock.advance(1_501);
    let b3 = t.outbox_take(10).unwrap().unwrap();
    assert_eq!(b3.events.len(), 2);
    // A lease that runs out returns its events to the queue.
    clock.advance(60_000);
    let b4 = t.outbox_take(10).unwrap().unwrap();
    assert_eq!(b4.events.len(), 2);
    assert_eq!(
        code(t.outbox_ack(&b3.batch_id)),
        "NOT_FOUND",
        "an expired lease cannot be acked"
    );
    t.outbox_ack(&b4.batch_id).unwrap();
    assert_eq!(t.outbox_stats().unwrap().queued, 0);
}

#[test]
fn the_outbox_is_capped_dropping_the_oldest_and_counting() {
    let (trail, _) = open(TrackingConfig {
        outbox: Some(OutboxConfig {
            cap: 3,
            ..OutboxConfig::default()
        }),
        ..TrackingConfig::default()
    });
    let t = trail.tracking();
    let batch: Vec<_> = (0..5)
        .map(|i| EventInput {
            properties: props(json!({ "i": i })),
            ..ev("e", "alice")
        })
        .collect();
    t.track_batch(batch, false).unwrap();
    t.track(ev("late", "alice")).unwrap();
    let stats = t.outbox_stats().unwrap();
    assert_eq!((stats.queued, stats.dropped), (3, 3));
    let b = t.outbox_take(10).unwrap().unwrap();
    let kept: Vec<Value> = b
        .events
        .iter()
        .map(|e| e["properties"]["i"].clone())
        .collect();
    assert_eq!(kept, [json!(3), json!(4), Value::Null]);
    assert_eq!(events(&trail), 6, "the events themselves are all kept");
}

#[test]
fn bad_events_get_typed_errors_and_change_nothing() {
    let (trail, _) = open(TrackingConfig::default());
    let before = trail.export().unwrap();
    let t = trail.tracking();
    let deep = (0..10).fold(json!(1), |v, _| json!({ "n": v }));
    let cases: Vec<(EventInput, &str)> = vec![
        (
            EventInput {
                name: String::new(),
                ..ev("x", "a")
            },
            "name",
        ),
        (
            EventInput {
                name: "n".repeat(201),
                ..ev("x", "a")
            },
            "name",
        ),
        (
            EventInput {
                ts: Some(-1),
                ..ev("x", "a")
            },
            "ts",
        ),
        (
            EventInput {
                properties: props(json!({ "big": "x".repeat(40_000) })),
                ..ev("x", "a")
            },
            "properties",
        ),
        (
            EventInput {
                properties: props(json!({ "deep": deep })),
                ..ev("x", "a")
            },
            "properties",
        ),
        (
            EventInput {
                url: Some("u".repeat(10 * 1024 * 1024)),
                ..ev("x", "a")
            },
            "url",
        ),
        (
            EventInput {
                ip: Some("999.1.1.1".into()),
                ..ev("x", "a")
            },
            "ip",
        ),
        (
            EventInput {
                event_id: Some("not-a-uuid".into()),
                ..ev("x", "a")
            },
            "eventId",
        ),
        (
            EventInput {
                user_id: Some("a\u{0}b".into()),
                ..ev("x", "")
            },
            "userId",
        ),
    ];
    for (input, field) in cases {
        match t.track(input) {
            Err(usertrail::Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert_eq!(
        code(t.track_batch(vec![ev("x", "a"); 10_001], true)),
        "INVALID_INPUT"
    );
    assert_eq!(trail.export().unwrap(), before);
}

#[test]
fn bad_settings_are_refused_at_open() {
    let bad = |config: TrackingConfig| {
        code(UserTrail::open(
            OpenOptions::new(Storage::Memory)
                .clock(Arc::new(ManualClock::new(0)))
                .tracking(config),
        ))
    };
    let rate = |rate| TrackingConfig {
        sampling: vec![SamplingRule {
            name: None,
            event_type: None,
            rate,
        }],
        ..TrackingConfig::default()
    };
    assert_eq!(bad(rate(0.0)), "INVALID_INPUT");
    assert_eq!(bad(rate(1.5)), "INVALID_INPUT");
    assert_eq!(bad(rate(f64::NAN)), "INVALID_INPUT");
    assert_eq!(
        bad(TrackingConfig {
            outbox: Some(OutboxConfig {
                cap: 0,
                ..OutboxConfig::default()
            }),
            ..TrackingConfig::default()
        }),
        "INVALID_INPUT"
    );
    assert_eq!(bad(rate(1.0)), "OK");
}

#[test]
fn events_parse_from_json_strictly() {
    use usertrail::tracking::parse_event;
    let ok = parse_event(r#"{"type":"page","name":"view","ts":5,"properties":{"a":1}}"#).unwrap();
    assert_eq!((ok.name.as_str(), ok.ts), ("view", Some(5)));
    for bad in [
        r#"{"name":"x","ts":null}"#,
        r#"{"name":"x","ts":1.5}"#,
        r#"{"name":"x","colour":"red"}"#,
        r#"{"name":"x","type":"click"}"#,
        r#"{"name":"x","properties":[1]}"#,
        r#"{"name":"\ud800"}"#,
        r#"[1,2]"#,
        "",
    ] {
        match parse_event(bad) {
            Err(usertrail::Error::InvalidInput { field, .. }) => {
                assert_eq!(field, "event", "{bad}")
            }
            other => panic!("{bad}: {other:?}"),
        }
    }
    let (trail, _) = open(TrackingConfig::default());
    let results = trail
        .tracking()
        .track_batch_parsed(vec![parse_event(r#"{"name":"a"}"#), parse_event("{")], true)
        .unwrap();
    assert!(results[0].outcome.is_ok());
    assert!(results[1]
        .outcome
        .as_ref()
        .is_err_and(|e| e.to_string().contains("events[1]: ")));
}

#[test]
fn a_fingerprint_mismatch_under_warn_is_recorded_once_per_touch_interval() {
    let (trail, clock) = open(TrackingConfig::default());
    let created_from = usertrail::session::ClientContext {
        ip: Some("198.51.100.7"),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0"),
    };
    let other = usertrail::session::ClientContext {
        ip: Some("192.0.2.1"),
        ..created_from.clone()
    };
    let s = trail
        .sessions()
        .create(CreateOptions {
            user_id: Some("alice"),
            client: created_from.clone(),
            ..CreateOptions::default()
        })
        .now()
        .unwrap();
    let by_session = HistoryFilter {
        session_id: Some(s.session.session_id.clone()),
        ..HistoryFilter::default()
    };
    assert!(trail
        .sessions()
        .validate(&s.token, &created_from)
        .now()
        .unwrap()
        .is_some());
    clock.advance(2 * MIN);
    for _ in 0..3 {
        let v = trail
            .sessions()
            .validate(&s.token, &other)
            .now()
            .unwrap()
            .unwrap();
        assert!(v.fingerprint_mismatch);
    }
    let page = trail.tracking().history(&by_session, None, None).unwrap();
    assert_eq!(
        page.events.len(),
        1,
        "recorded more than once per touch interval"
    );
    let e = &page.events[0];
    assert_eq!(
        (e.event_type.as_str(), e.name.as_str()),
        ("session", "session.fingerprint_mismatch")
    );
    assert_eq!(e.user_id.as_deref(), Some("alice"));
    assert_eq!(e.client.ip.as_deref(), Some("192.0.0.0"));
}

#[test]
fn a_withdrawal_stops_the_shipping_of_what_was_queued() {
    use usertrail::privacy::{GrantOptions, WithdrawOptions};
    let mut o = usertrail::OpenOptions::new(usertrail::Storage::Memory);
    o.tracking.outbox = Some(Default::default());
    o.privacy.require_consent = vec!["analytics".into()];
    let (trail, _) = open_at(T0, o);
    let grant = GrantOptions {
        purposes: vec!["analytics".into()],
        source: "banner".into(),
        ..Default::default()
    };
    for who in ["ann", "bob"] {
        usertrail::block_on(trail.privacy().grant(who, &grant)).unwrap();
    }
    let event = |who: &str| usertrail::tracking::EventInput {
        name: "view".into(),
        user_id: Some(who.into()),
        ..Default::default()
    };
    trail
        .tracking()
        .track_batch(vec![event("ann"), event("bob"), event("ann")], false)
        .unwrap();
    let withdraw = WithdrawOptions {
        purposes: vec!["analytics".into()],
        source: "settings".into(),
        ..Default::default()
    };
    usertrail::block_on(trail.privacy().withdraw("ann", &withdraw)).unwrap();
    let batch = trail.tracking().outbox_take(100).unwrap().unwrap();
    let users: Vec<&str> = batch
        .events
        .iter()
        .map(|e| e["userId"].as_str().unwrap())
        .collect();
    assert_eq!(users, ["bob"], "ann's queued events are withheld");
    assert_eq!(trail.tracking().outbox_stats().unwrap().withheld, 2);
}
