//! Two people with a bit of everything, for the privacy tests.

use super::Now;
use std::sync::Arc;

use super::dataset::*;
use serde_json::{json, Value};
use usertrail::clock::ManualClock;
use usertrail::experiments::{Experiment, Variant};
use usertrail::privacy::{GrantOptions, PrivacyConfig};
use usertrail::session::{ClientContext, CreateOptions};
use usertrail::tracking::{
    EventInput, EventSchema, EventType, OutboxConfig, TrackingConfig, ValidationMode,
};
use usertrail::{OpenOptions, Storage, UserTrail};

pub const IP: &str = "203.0.113.77";
pub const EMAIL: &str = "ann.subject@example.org";
pub const BOB_IP: &str = "198.51.100.9";

pub fn open_people(storage: Storage) -> (UserTrail, Arc<ManualClock>) {
    super::open_at(D0, people_options(storage))
}

/// The options `open_people` opens with.
pub fn people_options(storage: Storage) -> OpenOptions {
    OpenOptions::new(storage)
        .tracking(TrackingConfig {
            validation: ValidationMode::Quarantine,
            outbox: Some(OutboxConfig::default()),
            store_raw_user_agent: true,
            ..TrackingConfig::default()
        })
        // Redaction off: these tests put personal data in on purpose.
        .privacy(PrivacyConfig {
            redact_pii: false,
            ..PrivacyConfig::default()
        })
}

/// 12,000 click events, a quarter of them `ann`'s, spread among 997 other
/// users: enough rows that every table and index has interior pages, and
/// that SQLite has rebuilt pages while balancing its b-trees (which leaves
/// stale copies of cells in their unused space).
pub fn populate_at_scale(trail: &UserTrail) {
    let mut batch = Vec::new();
    for i in 0..12_000 {
        let who = if i % 4 == 0 {
            "ann".to_owned()
        } else {
            format!("other-{}", i % 997)
        };
        let mut e = event(Some(&who), None, "click", json!({ "i": i, "who": who }));
        e.ts = Some(D0 - (i as i64) * 60_000);
        e.session_id = Some(format!("{who}-session-{}", i % 7));
        batch.push(e);
        if batch.len() == 2000 {
            trail
                .tracking()
                .track_batch(std::mem::take(&mut batch), false)
                .unwrap();
        }
    }
}

pub fn event(user: Option<&str>, anon: Option<&str>, name: &str, props: Value) -> EventInput {
    let ip = if user.or(anon).is_some_and(|u| u.contains("bob")) {
        BOB_IP
    } else {
        IP
    };
    EventInput {
        event_type: Some(EventType::Action),
        name: name.into(),
        user_id: user.map(Into::into),
        anonymous_id: anon.map(Into::into),
        ip: Some(ip.into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0".into()),
        properties: props.as_object().cloned(),
        ..EventInput::default()
    }
}

/// Two people with a bit of everything: `ann` (with an anonymous id
/// linked) and `bob`.
pub fn populate(trail: &UserTrail) {
    let t = trail.tracking();
    t.define_event(
        "signup",
        &EventSchema {
            personal: vec!["email".into()],
            ..EventSchema::default()
        },
    )
    .unwrap();
    t.define_event(
        "strict",
        &serde_json::from_value(json!({ "required": { "n": "number" } })).unwrap(),
    )
    .unwrap();
    for who in ["ann", "bob"] {
        let anon = format!("anon-of-{who}");
        let email = if who == "ann" {
            EMAIL.to_owned()
        } else {
            "bob@example.net".into()
        };
        let ip = if who == "ann" { IP } else { BOB_IP };
        t.track(event(
            None,
            Some(&anon),
            "landing",
            json!({ "note": "hello" }),
        ))
        .unwrap();
        t.identify(&anon, who).unwrap();
        t.track(event(
            Some(who),
            None,
            "signup",
            json!({ "email": email, "plan": "pro" }),
        ))
        .unwrap();
        for i in 0..5 {
            t.track(event(Some(who), None, "click", json!({ "i": i })))
                .unwrap();
        }
        // Quarantined: keeps the raw input, IP included.
        t.track(event(
            Some(who),
            None,
            "strict",
            json!({ "n": "not a number" }),
        ))
        .unwrap();
        trail
            .prefs()
            .set(who, "appearance.theme", &json!("dark"), "settings")
            .now()
            .unwrap();
        trail
            .prefs()
            .set(who, "appearance.theme", &json!("light"), "settings")
            .now()
            .unwrap();
        trail
            .privacy()
            .grant(
                who,
                &GrantOptions {
                    purposes: vec!["analytics".into()],
                    source: "banner".into(),
                    ip: Some(ip.into()),
                    ..GrantOptions::default()
                },
            )
            .now()
            .unwrap();
        trail
            .sessions()
            .create(CreateOptions {
                user_id: Some(who),
                client: ClientContext {
                    ip: Some(ip),
                    user_agent: Some("Mozilla/5.0 Firefox/120.0"),
                },
                data: json!({ "cart": [1, 2], "contact": email })
                    .as_object()
                    .cloned(),
                ..CreateOptions::default()
            })
            .now()
            .unwrap();
    }
    let ex = trail.experiments();
    ex.define(&Experiment {
        key: "buy_button".into(),
        variants: vec![
            Variant {
                name: "blue".into(),
                weight: 1.0,
            },
            Variant {
                name: "green".into(),
                weight: 1.0,
            },
        ],
    })
    .unwrap();
    ex.assign("buy_button", "ann").unwrap();
    ex.assign("buy_button", "bob").unwrap();
}

pub fn count(trail: &UserTrail, sql: &str) -> u64 {
    trail
        .store()
        .conn()
        .query_row(sql, [], |r| r.get::<_, i64>(0))
        .unwrap() as u64
}

pub fn personal_traces(bytes: &[u8]) -> Vec<&'static str> {
    ["ann", "anon-of-ann", IP, EMAIL]
        .into_iter()
        .filter(|needle| {
            // "ann" alone would also match inside "anon-of-ann"; look for it quoted or bounded.
            let n = needle.as_bytes();
            bytes.windows(n.len() + 2).any(|w| {
                &w[1..=n.len()] == n
                    && !w[0].is_ascii_alphanumeric()
                    && w[0] != b'-'
                    && !w[n.len() + 1].is_ascii_alphanumeric()
                    && w[n.len() + 1] != b'-'
            })
        })
        .collect()
}
