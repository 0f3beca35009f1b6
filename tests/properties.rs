//! Properties, checked on generated inputs with proptest (native and
//! wasm): merge-patch laws, funnel counts never increase along the steps,
//! retention's period 0 is the cohort, export then erase then export gives
//! nothing of the subject, and an import of an export equals the original.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::common;

use common::*;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde_json::{json, Map, Value};
use usertrail::privacy::{EraseOptions, ExportFormat};
use usertrail::session::CreateOptions;
use usertrail::tracking::EventInput;
use usertrail::{block_on, OpenOptions, Storage, UserTrail};

const DAY: i64 = 86_400_000;

/// A few cases per property: each opens engines; the generators vary a lot.
fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// JSON values two or three levels deep, with keys from a small set so
/// that patches collide with the document.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-1000i64..1000).prop_map(|n| json!(n)),
        "[a-z ]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[abc]", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::btree_map("[abc]", json_value(), 0..4).prop_map(|m| m.into_iter().collect())
}

fn engine() -> UserTrail {
    open_at(T0, OpenOptions::new(Storage::Memory)).0
}

/// The state after each merge patch: what the engine stores (SQLite's
/// json_patch) is RFC 7396; patching twice is patching once; a patch of
/// nulls removes exactly its keys.
#[test]
fn merge_patch_laws() {
    let trail = engine();
    let s = trail.sessions();
    runner(48)
        .run(&(json_object(), json_object()), |(start, patch)| {
            let t = block_on(s.create(CreateOptions {
                data: Some(start.clone()),
                ..CreateOptions::default()
            }))
            .unwrap()
            .token;
            block_on(s.merge(&t, &patch, None)).unwrap();
            let once = block_on(s.get(&t, None)).unwrap().unwrap();
            block_on(s.merge(&t, &patch, None)).unwrap();
            let twice = block_on(s.get(&t, None)).unwrap().unwrap();
            prop_assert_eq!(&once, &twice, "idempotent");
            let nulls: Map<String, Value> =
                start.keys().map(|k| (k.clone(), Value::Null)).collect();
            block_on(s.merge(&t, &nulls, None)).unwrap();
            let left = block_on(s.get(&t, None)).unwrap().unwrap();
            for k in start.keys() {
                prop_assert!(left.get(k).is_none(), "{k} removed");
            }
            for (k, v) in once.as_object().unwrap() {
                if !start.contains_key(k) {
                    prop_assert_eq!(left.get(k), Some(v), "{} kept", k);
                }
            }
            block_on(s.destroy(&t)).unwrap();
            Ok(())
        })
        .unwrap();
}

/// Events for `users` users over `days` days: (user, day, step reached).
fn journeys() -> impl Strategy<Value = Vec<(u8, u8, u8)>> {
    prop::collection::vec((0u8..12, 0u8..28, 0u8..4), 1..60)
}

fn ingest(trail: &UserTrail, journeys: &[(u8, u8, u8)]) {
    let mut batch = Vec::new();
    for (i, &(user, day, depth)) in journeys.iter().enumerate() {
        for step in 0..=depth {
            batch.push(EventInput {
                name: ["view", "add", "checkout", "buy"][step as usize].into(),
                user_id: Some(format!("u{user}")),
                ts: Some(
                    T0 - 30 * DAY
                        + i64::from(day) * DAY
                        + i as i64 * 1000
                        + i64::from(step) * 60_000,
                ),
                ..Default::default()
            });
        }
    }
    trail.tracking().track_batch(batch, false).unwrap();
}

/// Funnel step counts never increase along the steps, and retention's
/// period 0 of each cohort is the cohort's size.
#[test]
fn funnels_narrow_and_retention_starts_with_the_cohort() {
    runner(24)
        .run(&journeys(), |journeys| {
            let trail = engine();
            ingest(&trail, &journeys);
            let a = trail.analytics();
            let query = json!({ "since": T0 - 40 * DAY, "until": T0 + DAY });
            let funnel = a
                .partial(
                    "funnel",
                    serde_json::from_value(json!({
                        "since": T0 - 40 * DAY, "until": T0 + DAY,
                        "steps": ["view", "add", "checkout", "buy"], "windowSecs": 86400
                    }))
                    .unwrap(),
                )
                .unwrap();
            let funnel = serde_json::to_value(funnel).unwrap();
            let counts: Vec<f64> = funnel["funnel"]["steps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["count"].as_f64().unwrap())
                .collect();
            prop_assert!(counts.windows(2).all(|w| w[1] <= w[0]), "{counts:?}");
            let retention = a
                .partial(
                    "retention",
                    serde_json::from_value(json!({
                        "since": query["since"], "until": query["until"], "cohort": "week", "periods": 4
                    }))
                    .unwrap(),
                )
                .unwrap();
            let retention = serde_json::to_value(retention).unwrap();
            for row in retention["retention"]["rows"].as_array().unwrap() {
                prop_assert_eq!(&row["counts"][0], &row["users"], "{}", row);
            }
            Ok(())
        })
        .unwrap();
}

/// An import of an export equals the original; export, erase, export again
/// gives nothing of the subject, and leaves the others as they were.
#[test]
fn export_import_and_erase_round_trips() {
    runner(12)
        .run(&(journeys(), 0u8..12), |(journeys, gone)| {
            let trail = engine();
            ingest(&trail, &journeys);
            let subject = format!("u{gone}");
            let bytes = trail.export().unwrap();
            let copy = UserTrail::open(
                OpenOptions::new(Storage::Bytes(bytes))
                    .clock(std::sync::Arc::new(usertrail::clock::ManualClock::new(T0))),
            )
            .unwrap();
            let all = |t: &UserTrail| -> Vec<(String, i64, String)> {
                let conn = t.store().conn();
                let mut stmt = conn
                    .prepare(
                        "SELECT hex(event_id), ts, coalesce(user_id, '') FROM events ORDER BY event_id",
                    )
                    .unwrap();
                let rows = stmt
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .unwrap();
                rows.collect::<Result<_, _>>().unwrap()
            };
            prop_assert_eq!(all(&copy), all(&trail), "import of an export");
            let export = |t: &UserTrail| {
                block_on(
                    t.privacy()
                        .export(&subject, ExportFormat::Json, None, &mut |_| {}),
                )
                .unwrap()
                .counts
            };
            let had = all(&trail).iter().filter(|e| e.2 == subject).count() as u64;
            prop_assert_eq!(export(&trail).get("events").copied().unwrap_or(0), had);
            let erase = EraseOptions {
                reason: "property test".into(),
                ..Default::default()
            };
            block_on(trail.privacy().erase(&subject, &erase)).unwrap();
            // Nothing of the subject is left but the audit of its erasure.
            for (table, n) in export(&trail) {
                prop_assert!(table == "audit_log" || n == 0, "{table}: {n}");
            }
            let others_before: Vec<_> = all(&copy).into_iter().filter(|e| e.2 != subject).collect();
            let others_after: Vec<_> = all(&trail).into_iter().filter(|e| e.2 != subject).collect();
            prop_assert_eq!(others_before, others_after);
            Ok(())
        })
        .unwrap();
}
