//! Analytics merged over partitions equal the same query on one engine
//! that holds every event: a property test over generated event sets (each
//! event's subject decides its partition, as the pipeline's collector
//! does), for every query that merges. Native and wasm.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;

use common::*;
use serde_json::{json, Map, Value};
use usertrail::analytics::partial::{merge, Partial, MERGEABLE};
use usertrail::pipeline::partition_of;
use usertrail::tracking::EventInput;
use usertrail::{OpenOptions, Storage, UserTrail};

/// A small deterministic generator (xorshift64*).
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const DAY: i64 = 86_400_000;
const NAMES: [&str; 6] = [
    "view",
    "add",
    "buy",
    "feature.search",
    "feature.share",
    "page_view",
];

fn events(seed: u64, n: usize) -> Vec<EventInput> {
    let mut rng = Rng(seed | 1);
    let users = 5 + rng.below(40);
    (0..n)
        .map(|_| {
            let u = rng.below(users);
            let name = NAMES[rng.below(NAMES.len() as u64) as usize];
            let page = name == "page_view";
            let anonymous = rng.below(5) == 0;
            let subject = if anonymous {
                format!("anon-{u}")
            } else {
                format!("user-{u}")
            };
            EventInput {
                name: name.into(),
                event_type: Some(if page { "page" } else { "action" }.parse_type()),
                user_id: (!anonymous).then(|| format!("user-{u}")),
                anonymous_id: anonymous.then(|| format!("anon-{u}")),
                // A session belongs to one subject, as the pipeline keeps it.
                session_id: Some(format!("s-{subject}-{}", rng.below(3))),
                path: page.then(|| format!("/p/{}", rng.below(6))),
                dimensions: None,
                properties: {
                    let plan = ["free", "pro"][rng.below(2) as usize];
                    Some(json!({ "plan": plan }).as_object().unwrap().clone())
                },
                ts: Some(T0 + rng.below(20) as i64 * DAY + rng.below(DAY as u64) as i64),
                ..Default::default()
            }
        })
        .collect()
}

trait ParseType {
    fn parse_type(self) -> usertrail::tracking::EventType;
}
impl ParseType for &str {
    fn parse_type(self) -> usertrail::tracking::EventType {
        serde_json::from_value(Value::String(self.into())).unwrap()
    }
}

fn engine() -> UserTrail {
    open_at(T0 + 25 * DAY, OpenOptions::new(Storage::Memory)).0
}

/// Float-tolerant equality of two answers.
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            (x - y).abs() <= 1e-9 * x.abs().max(y.abs()).max(1.0)
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

fn options(v: Value) -> Map<String, Value> {
    v.as_object().unwrap().clone()
}

#[test]
fn merged_answers_equal_one_engine_holding_everything() {
    let range = json!({ "since": T0, "until": T0 + 21 * DAY });
    let with = |extra: Value| {
        let mut m = options(range.clone());
        m.extend(options(extra));
        m
    };
    let queries: Vec<(&str, Map<String, Value>)> = vec![
        ("summary", with(json!({}))),
        ("activeUsers", with(json!({ "interval": "day" }))),
        ("activeUsers", with(json!({ "interval": "week" }))),
        ("eventBreakdown", with(json!({ "by": "name", "limit": 3 }))),
        ("featureUsage", with(json!({ "prefix": "feature." }))),
        (
            "funnel",
            with(json!({ "steps": ["view", "add", "buy"], "windowSecs": 3 * 86_400 })),
        ),
        (
            "funnel",
            with(json!({ "steps": ["view", "buy"], "windowSecs": 86_400, "order": "strict" })),
        ),
        ("retention", with(json!({ "cohort": "day", "periods": 7 }))),
        ("cohorts", with(json!({ "period": "week" }))),
        ("topPages", with(json!({ "limit": 4 }))),
        ("sessionDurations", with(json!({}))),
        ("paths", with(json!({}))),
        (
            "paths",
            with(json!({ "startAt": "view", "steps": 3, "limit": 3 })),
        ),
        (
            "paths",
            with(json!({ "by": "user", "items": "name", "endAt": "buy", "limit": 4 })),
        ),
        ("paths", with(json!({ "items": "path", "limit": 2 }))),
        ("patterns", with(json!({ "length": 2, "limit": 5 }))),
        ("patterns", with(json!({ "minSupport": 0.2 }))),
    ];
    for seed in 1..=12u64 {
        let all = events(seed, 150 + (seed as usize * 37) % 300);
        let partitions = 1 + (seed % 4) as u32;
        let whole = engine();
        let parts: Vec<UserTrail> = (0..partitions).map(|_| engine()).collect();
        whole.tracking().track_batch(all.clone(), false).unwrap();
        for e in all {
            let subject = e.user_id.clone().or(e.anonymous_id.clone()).unwrap();
            let p = partition_of(&subject, partitions) as usize;
            parts[p].tracking().track(e).unwrap();
        }
        for (query, o) in &queries {
            let expected = whole.analytics().partial(query, o.clone()).unwrap();
            let expected = merge(vec![expected]).unwrap();
            let partials: Vec<Partial> = parts
                .iter()
                .map(|p| p.analytics().partial(query, o.clone()).unwrap())
                .collect();
            // Partials travel as JSON between a partition and the coordinator.
            let partials: Vec<Partial> = partials
                .into_iter()
                .map(|p| serde_json::from_value(serde_json::to_value(p).unwrap()).unwrap())
                .collect();
            let merged = merge(partials).unwrap();
            assert!(
                same(&merged, &expected),
                "seed {seed}, {query} {o:?}:\nmerged {merged}\nwhole  {expected}"
            );
        }
    }
}

#[test]
fn partials_of_different_queries_do_not_merge() {
    let e = engine();
    let a = e.analytics().partial("summary", Map::new()).unwrap();
    let b = e
        .analytics()
        .partial("sessionDurations", Map::new())
        .unwrap();
    assert_eq!(code(merge(vec![a, b])), "INVALID_INPUT");
    assert_eq!(code(merge(vec![])), "INVALID_INPUT");
    assert_eq!(
        code(e.analytics().partial("journeys", Map::new())),
        "INVALID_INPUT"
    );
    // The same query with another cut, or another support, does not merge.
    let limit = |n: i64| {
        e.analytics()
            .partial("paths", options(json!({ "limit": n })))
            .unwrap()
    };
    assert_eq!(code(merge(vec![limit(3), limit(4)])), "INVALID_INPUT");
    let support = |f: f64| {
        e.analytics()
            .partial("patterns", options(json!({ "minSupport": f })))
            .unwrap()
    };
    assert_eq!(
        code(merge(vec![support(0.1), support(0.2)])),
        "INVALID_INPUT"
    );
    for bad in [
        json!({ "steps": 0 }),
        json!({ "limit": 101 }),
        json!({ "startAt": "x".repeat(5000) }),
        json!({ "by": "team" }),
        json!({ "nope": 1 }),
    ] {
        assert_eq!(
            code(e.analytics().partial("paths", options(bad.clone()))),
            "INVALID_INPUT",
            "{bad}"
        );
    }
    for bad in [
        json!({ "length": 1 }),
        json!({ "minSupport": 1.5 }),
        json!({ "limit": "5" }),
    ] {
        assert_eq!(
            code(e.analytics().partial("patterns", options(bad.clone()))),
            "INVALID_INPUT",
            "{bad}"
        );
    }
    assert_eq!(
        code(
            e.analytics()
                .partial("funnel", options(json!({ "steps": [] })))
        ),
        "INVALID_INPUT"
    );
    assert!(MERGEABLE.contains(&"funnel"));
}
