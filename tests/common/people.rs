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
    // A dimension that holds ann's email on her events: the packed blocks'
    // dimensions kept beside them hold it too.
    let _ = trail
        .tracking()
        .define_dimension("contact", usertrail::tracking::SimpleType::String);
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
        let contact = if who == "ann" {
            EMAIL.to_owned()
        } else {
            format!("{who}@example.net")
        };
        e.dimensions = Some(serde_json::Map::from_iter([(
            "contact".to_owned(),
            json!(contact),
        )]));
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
        // In a session of their own, whose id names them: the session
        // rollup keeps it as its key.
        for i in 0..5 {
            let mut e = event(Some(who), None, "click", json!({ "i": i }));
            e.session_id = Some(format!("{who}-web-session"));
            t.track(e).unwrap();
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

/// [`personal_traces`] for megabytes of a database at scale, where random
/// bytes (event ids, token hashes, packed columns) spell a bounded "ann" by
/// chance: measured about once per 80 MB for any three lowercase letters
/// ("xqz", "kpv" as often as "ann"), so a scan of a few such files failed
/// now and then with nothing of the subject in them. A bare "ann" counts
/// here where the bytes say it is stored as a value: the text column of an
/// SQLite record (a header whose serial types put a 3-byte text exactly
/// there), a length-prefixed string (a packed block's dictionary), or a
/// quoted JSON string. Each hit is printed with its neighbourhood, so a
/// failure says which it was.
pub fn personal_traces_at_scale(bytes: &[u8]) -> Vec<&'static str> {
    let mut found = personal_traces(bytes);
    if found.first() == Some(&"ann") {
        let mut real = false;
        let mut at = 0;
        while let Some(i) = find_bounded(&bytes[at..], b"ann").map(|i| i + at) {
            let stored = in_record(bytes, i, 3)
                || bytes[i - 1] == 3
                || (bytes[i - 1] == b'"' && bytes.get(i + 3) == Some(&b'"'));
            eprintln!(
                "a bare \"ann\" at byte {i} (page {}), {}: {:02x?}",
                i / 4096,
                if stored {
                    "stored as a value"
                } else {
                    "among other bytes: chance"
                },
                &bytes[i.saturating_sub(16)..(i + 19).min(bytes.len())]
            );
            real |= stored;
            at = i + 1;
        }
        if !real {
            found.remove(0);
        }
    }
    found
}

/// Whether a text of `len` bytes at `at` is a column of an SQLite record:
/// some record header within the 40 bytes before (a one-byte header size,
/// one-byte serial types) has a text of that length whose body starts at
/// `at`, counting the sizes of the columns before it.
fn in_record(bytes: &[u8], at: usize, len: u8) -> bool {
    let text = 2 * len + 13;
    let size = |t: u8| -> Option<usize> {
        Some(match t {
            0 | 8 | 9 => 0,
            1..=4 => usize::from(t),
            5 => 6,
            6 | 7 => 8,
            t if (12..0x80).contains(&t) => usize::from((t - 12 - (t & 1)) / 2),
            _ => return None,
        })
    };
    (at.saturating_sub(40)..at).any(|start| {
        let h = usize::from(bytes[start]);
        if !(2..=24).contains(&h) || start + h > at {
            return false;
        }
        let types = &bytes[start + 1..start + h];
        let mut offset = start + h;
        for &t in types {
            if t == text && offset == at {
                return true;
            }
            match size(t) {
                Some(n) => offset += n,
                None => return false,
            }
        }
        false
    })
}

/// The offset of the first `needle` in `bytes` bounded by bytes that are
/// neither alphanumeric nor '-', as [`personal_traces`] looks for it.
fn find_bounded(bytes: &[u8], needle: &[u8]) -> Option<usize> {
    let n = needle.len();
    let edge = |b: u8| !b.is_ascii_alphanumeric() && b != b'-';
    bytes
        .windows(n + 2)
        .position(|w| &w[1..=n] == needle && edge(w[0]) && edge(w[n + 1]))
        .map(|p| p + 1)
}

/// Which of the subject's traces (her id, her anonymous id, her IP, her
/// email) appear in `bytes`, each bounded as a whole word.
pub fn personal_traces(bytes: &[u8]) -> Vec<&'static str> {
    ["ann", "anon-of-ann", IP, EMAIL]
        .into_iter()
        // "ann" alone would also match inside "anon-of-ann"; look for it bounded.
        .filter(|needle| find_bounded(bytes, needle.as_bytes()).is_some())
        .collect()
}
