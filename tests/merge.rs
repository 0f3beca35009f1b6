//! Analytics merged over partitions equal the same query on one engine
//! that holds every event: a property test over generated event sets (each
//! event's subject decides its partition, as the pipeline's collector
//! does), for every query that merges. Native and wasm.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::common;

use common::*;
use serde_json::{json, Map, Value};
use usertrail::analytics::partial::{merge, Partial, MERGEABLE};
use usertrail::pipeline::partition_of;
use usertrail::tracking::{EventInput, SamplingRule, TrackingConfig};
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
            // Workers of an older version name their journeys' items:
            // their partials merge with numbered ones alike.
            let mixed: Option<Vec<Partial>> = (*query == "paths").then(|| {
                partials
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        let v = serde_json::to_value(p).unwrap();
                        let v = if i % 2 == 0 { named(&v) } else { v };
                        serde_json::from_value(v).unwrap()
                    })
                    .collect()
            });
            let merged = merge(partials).unwrap();
            assert!(
                same(&merged, &expected),
                "seed {seed}, {query} {o:?}:\nmerged {merged}\nwhole  {expected}"
            );
            if let Some(mixed) = mixed {
                let merged = merge(mixed).unwrap();
                assert!(same(&merged, &expected), "seed {seed}, named: {merged}");
            }
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
    // So are breakdowns grouped by something else, and lists cut elsewhere.
    let asked = |query: &str, v: Value| e.analytics().partial(query, options(v)).unwrap();
    assert_eq!(
        code(merge(vec![
            asked("eventBreakdown", json!({ "by": "name" })),
            asked("eventBreakdown", json!({ "by": "type" }))
        ])),
        "INVALID_INPUT"
    );
    assert_eq!(
        code(merge(vec![
            asked("eventBreakdown", json!({ "limit": 3 })),
            asked("eventBreakdown", json!({ "limit": 4 }))
        ])),
        "INVALID_INPUT"
    );
    assert_eq!(
        code(merge(vec![
            asked("topPages", json!({ "limit": 3 })),
            asked("topPages", json!({ "limit": 4 }))
        ])),
        "INVALID_INPUT"
    );
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

/// An engine that keeps events at rates whose weights (1 / rate) are not
/// whole numbers.
fn sampled(rates: &[(&str, f64)]) -> UserTrail {
    let sampling = rates
        .iter()
        .map(|(name, rate)| SamplingRule {
            name: (!name.is_empty()).then(|| name.to_string()),
            event_type: None,
            rate: *rate,
        })
        .collect();
    let tracking = TrackingConfig {
        sampling,
        ..TrackingConfig::default()
    };
    open_at(
        T0 + 25 * DAY,
        OpenOptions::new(Storage::Memory).tracking(tracking),
    )
    .0
}

/// `events` tracked by one engine and by `n` partitions (by subject), all
/// made by `make`: (whole, partitions).
fn split_engines(
    make: &dyn Fn() -> UserTrail,
    n: u32,
    events: &[EventInput],
) -> (UserTrail, Vec<UserTrail>) {
    let whole = make();
    let parts: Vec<UserTrail> = (0..n).map(|_| make()).collect();
    for e in events {
        let subject = e.user_id.clone().or(e.anonymous_id.clone()).unwrap();
        whole.tracking().track(e.clone()).unwrap();
        parts[partition_of(&subject, n) as usize]
            .tracking()
            .track(e.clone())
            .unwrap();
    }
    (whole, parts)
}

/// The merged answer of `parts`, their partials sent as JSON.
fn merged(parts: &[UserTrail], query: &str, o: &Map<String, Value>) -> Value {
    let partials: Vec<Partial> = parts
        .iter()
        .map(|p| {
            let partial = p.analytics().partial(query, o.clone()).unwrap();
            serde_json::from_value(serde_json::to_value(partial).unwrap()).unwrap()
        })
        .collect();
    merge(partials).unwrap()
}

/// One engine's own answer to `query` (one of those the sampled tests
/// ask).
fn plain(e: &UserTrail, query: &str, o: &Map<String, Value>) -> Value {
    use usertrail::analytics::{
        split, BreakdownOptions, FeatureUsageOptions, NoOptions, PathsOptions, PatternsOptions,
    };
    let a = e.analytics();
    match query {
        "paths" => {
            let (q, p): (_, PathsOptions) = split(o.clone()).unwrap();
            serde_json::to_value(a.paths(&q, &p).unwrap()).unwrap()
        }
        "patterns" => {
            let (q, p): (_, PatternsOptions) = split(o.clone()).unwrap();
            serde_json::to_value(a.patterns(&q, &p).unwrap()).unwrap()
        }
        "summary" => {
            let (q, _): (_, NoOptions) = split(o.clone()).unwrap();
            serde_json::to_value(a.summary(&q).unwrap()).unwrap()
        }
        "eventBreakdown" => {
            let (q, p): (_, BreakdownOptions) = split(o.clone()).unwrap();
            serde_json::to_value(a.event_breakdown(&q, &p).unwrap()).unwrap()
        }
        "featureUsage" => {
            let (q, p): (_, FeatureUsageOptions) = split(o.clone()).unwrap();
            serde_json::to_value(a.feature_usage(&q, &p).unwrap()).unwrap()
        }
        _ => unreachable!("{query}"),
    }
}

/// With sampled events, journeys, sequences, summaries, breakdowns and
/// feature usage merged over partitions equal one engine's answer to the
/// last bit: rankings, cuts and `minSupport` compare sums that do not
/// depend on how the data was split.
#[test]
fn sampled_answers_merge_to_the_last_bit() {
    let rates = [
        ("view", 0.3),
        ("add", 0.7),
        ("page_view", 0.9),
        ("buy", 0.45),
    ];
    let range = json!({ "since": T0, "until": T0 + 21 * DAY });
    let with = |extra: Value| {
        let mut m = options(range.clone());
        m.extend(options(extra));
        m
    };
    let queries = [
        ("paths", with(json!({ "items": "path", "limit": 2 }))),
        ("paths", with(json!({ "steps": 3 }))),
        (
            "paths",
            with(json!({ "by": "user", "items": "name", "limit": 5 })),
        ),
        ("patterns", with(json!({ "length": 2, "limit": 4 }))),
        ("patterns", with(json!({ "minSupport": 0.15 }))),
        ("summary", with(json!({}))),
        // By type: `action` holds events kept at three rates.
        ("eventBreakdown", with(json!({ "by": "type" }))),
        ("eventBreakdown", with(json!({ "by": "name", "limit": 2 }))),
        (
            "featureUsage",
            with(json!({ "features": ["view", "add", "buy", "none"] })),
        ),
    ];
    for seed in 1..=30u64 {
        let all = events(seed, 120 + (seed as usize * 53) % 250);
        let n = 2 + (seed % 3) as u32;
        let (whole, parts) = split_engines(&|| sampled(&rates), n, &all);
        for (query, o) in &queries {
            let one = plain(&whole, query, o);
            assert_eq!(merged(&parts, query, o), one, "seed {seed}, {query} {o:?}");
            assert_eq!(
                merged(std::slice::from_ref(&whole), query, o),
                one,
                "seed {seed}, {query}: one engine's partial"
            );
        }
    }
}

/// Sessions of one page each, `count` of them in each partition of 2.
fn one_page_sessions(split: [usize; 2], tag: &str, page: &str, names: &[&str]) -> Vec<EventInput> {
    let mut out = Vec::new();
    let mut found = [0, 0];
    let mut i = 0;
    while found != split {
        let user = format!("{tag}{i}");
        i += 1;
        let p = partition_of(&user, 2) as usize;
        if found[p] == split[p] {
            continue;
        }
        found[p] += 1;
        for (k, name) in names.iter().enumerate() {
            out.push(EventInput {
                name: (*name).into(),
                event_type: Some(
                    if *name == "page_view" {
                        "page"
                    } else {
                        "action"
                    }
                    .parse_type(),
                ),
                user_id: Some(user.clone()),
                session_id: Some(format!("s-{user}")),
                path: (*name == "page_view").then(|| page.to_owned()),
                ts: Some(T0 + DAY + k as i64 * 1000),
                ..Default::default()
            });
        }
    }
    out
}

/// The two cases a review found with per-partition float sums: a tie that
/// flipped the top journey, and a pattern on the `minSupport` boundary.
#[test]
fn sampled_ties_and_support_boundaries_agree() {
    let make = || sampled(&[("", 0.9)]);
    let o = |v: Value| {
        let mut m = options(json!({ "since": T0, "until": T0 + 21 * DAY }));
        m.extend(options(v));
        m
    };
    // Every event is kept at 0.9 (those that are not, leave a partition's
    // count short of the other side's: skip them by keeping more users).
    let mut evs = one_page_sessions([6, 0], "a", "/a", &["page_view"]);
    evs.extend(one_page_sessions([3, 3], "b", "/b", &["page_view"]));
    let kept = |evs: Vec<EventInput>| -> Vec<EventInput> {
        let probe = make();
        evs.into_iter()
            .filter(|e| {
                let (_, status) = probe.tracking().track(e.clone()).unwrap();
                format!("{status:?}") == "Stored"
            })
            .collect()
    };
    let evs = kept(evs);
    let (whole, parts) = split_engines(&make, 2, &evs);
    let q = o(json!({ "items": "path", "limit": 1 }));
    assert_eq!(merged(&parts, "paths", &q), plain(&whole, "paths", &q));

    let mut evs = one_page_sessions([1, 9], "c", "", &["x", "y"]);
    evs.extend(one_page_sessions([3, 7], "d", "", &["z"]));
    let evs = kept(evs);
    let (whole, parts) = split_engines(&make, 2, &evs);
    let q = o(json!({ "length": 2, "minSupport": 0.5 }));
    let one = plain(&whole, "patterns", &q);
    assert_eq!(merged(&parts, "patterns", &q), one);
}

/// Funnels by a dimension and cohorts split by one merge per value: a
/// hundred values and none, spread over partitions.
#[test]
fn segments_and_cohort_values_merge_by_value() {
    use usertrail::tracking::SimpleType;
    let make = || {
        let e = engine();
        e.tracking()
            .define_dimension("tier", SimpleType::String)
            .unwrap();
        e
    };
    let mut all = events(23, 600);
    for (i, e) in all.iter_mut().enumerate() {
        let tier = match i % 4 {
            0 | 1 => json!(format!("t{}", i % 97)),
            2 => json!((i % 7).to_string()),
            _ => Value::Null,
        };
        if !tier.is_null() {
            e.dimensions = Some(json!({ "tier": tier }).as_object().unwrap().clone());
        }
    }
    let (whole, parts) = split_engines(&make, 3, &all);
    let range = json!({ "since": T0, "until": T0 + 21 * DAY });
    for (query, extra, list) in [
        (
            "funnel",
            json!({ "steps": ["view", "add"], "windowSecs": 3 * 86_400, "breakdown": "tier" }),
            "/breakdown",
        ),
        (
            "cohorts",
            json!({ "period": "week", "by": "tier" }),
            "/rows/0/byValue",
        ),
    ] {
        let mut o = options(range.clone());
        o.extend(options(extra));
        let merged = merged(&parts, query, &o);
        let one = whole.analytics().partial(query, o.clone()).unwrap();
        let one = merge(vec![one]).unwrap();
        assert!(
            same(&merged, &one),
            "{query}:\nmerged {merged}\nwhole  {one}"
        );
        let values = merged
            .pointer(list)
            .and_then(Value::as_array)
            .map_or(0, Vec::len);
        assert!(values > 5, "{query}: {values} values");
    }
}

/// A funnel partial whose steps, segments or gaps do not match its step
/// names is refused, first or later (one with a step more in a segment
/// made the merge read past its lists and panic).
#[test]
fn misshapen_funnel_partials_are_refused() {
    use usertrail::tracking::SimpleType;
    let e = engine();
    e.tracking()
        .define_dimension("tier", SimpleType::String)
        .unwrap();
    let mut all = events(5, 300);
    for (i, ev) in all.iter_mut().enumerate() {
        ev.dimensions = Some(
            json!({ "tier": format!("t{}", i % 3) })
                .as_object()
                .unwrap()
                .clone(),
        );
    }
    e.tracking().track_batch(all, false).unwrap();
    let mut o = options(json!({ "since": T0, "until": T0 + 21 * DAY }));
    o.extend(options(
        json!({ "steps": ["view", "add"], "windowSecs": 86_400, "breakdown": "tier" }),
    ));
    let p = serde_json::to_value(e.analytics().partial("funnel", o).unwrap()).unwrap();
    assert!(p["funnel"]["breakdown"]
        .as_array()
        .is_some_and(|b| !b.is_empty()));
    let edit = |f: &dyn Fn(&mut Value)| {
        let mut v = p.clone();
        f(&mut v);
        v
    };
    let step = p["funnel"]["steps"][0].clone();
    for (why, bad) in [
        (
            "a step more in a segment",
            edit(&|v| {
                let s = step.clone();
                v["funnel"]["breakdown"][0]["steps"]
                    .as_array_mut()
                    .unwrap()
                    .push(s)
            }),
        ),
        (
            "a step more",
            edit(&|v| {
                v["funnel"]["steps"]
                    .as_array_mut()
                    .unwrap()
                    .push(step.clone())
            }),
        ),
        (
            "a list of gaps less",
            edit(&|v| {
                v["gaps"].as_array_mut().unwrap().pop();
            }),
        ),
        (
            "a segment's gaps less",
            edit(&|v| {
                v["segmentGaps"][0].as_array_mut().unwrap().pop();
            }),
        ),
        (
            "a segment without gaps",
            edit(&|v| {
                v["segmentGaps"].as_array_mut().unwrap().pop();
            }),
        ),
    ] {
        for parts in [
            vec![p.clone(), bad.clone()],
            vec![bad.clone(), p.clone()],
            vec![bad],
        ] {
            let parts: Vec<Partial> = match parts.into_iter().map(serde_json::from_value).collect()
            {
                Ok(parts) => parts,
                Err(_) => continue, // refused by serde: INVALID_INPUT at the boundary
            };
            assert_eq!(code(merge(parts)), "INVALID_INPUT", "{why}");
        }
    }
}

/// Partials read from their JSON texts (what the wasm binding hands over,
/// one at a time), whatever the order of their keys, answer and refuse as
/// the partials themselves do.
#[test]
fn partials_read_from_text_answer_and_refuse_alike() {
    use usertrail::pipeline::merge::merge_texts;
    let e = engine();
    e.tracking().track_batch(events(11, 300), false).unwrap();
    let o = options(json!({ "since": T0, "until": T0 + 21 * DAY, "steps": 3 }));
    let p = serde_json::to_value(e.analytics().partial("paths", o.clone()).unwrap()).unwrap();
    let whole = plain(&e, "paths", &o);
    let first = p.to_string();
    assert!(first.starts_with(r#"{"query":"paths","#), "{first:.40}");
    // The same object with `query` written last.
    let mut fields = p.as_object().unwrap().clone();
    let query = fields.remove("query").unwrap();
    fields.insert("query".into(), query);
    let last = Value::Object(fields).to_string();
    assert!(!last.starts_with(r#"{"query""#));
    let texts = |t: &[&str]| merge_texts(t.iter().map(|s| Ok(s.to_string())));
    let a = texts(&[&first]).unwrap();
    assert_eq!(a, texts(&[&last]).unwrap());
    assert_eq!(
        a,
        merge(vec![serde_json::from_value(p.clone()).unwrap()]).unwrap()
    );
    assert!(same(&a, &whole), "{a}\n{whole}");
    // A second partial, the first's text twice: counts doubled alike.
    assert_eq!(
        texts(&[&first, &first]).unwrap(),
        texts(&[&last, &first]).unwrap()
    );
    for bad in [
        first.replacen(r#""items":"#, r#""x":1,"items":"#, 1),
        first.replacen('{', r#"{"query":"paths","#, 1),
        first.replacen(r#""query":"paths""#, r#""query":"paths ""#, 1),
        first[..first.len() - 1].to_string(),
        first.replacen(r#""journeys":["#, r#""journeys":[7,"#, 1),
    ] {
        let moved = |t: &str| {
            let v: Value = match serde_json::from_str(t) {
                Ok(v) => v,
                Err(_) => return t.to_string(),
            };
            let mut m = v.as_object().unwrap().clone();
            if let Some(q) = m.remove("query") {
                m.insert("query".into(), q);
            }
            Value::Object(m).to_string()
        };
        // A key written twice is one key once parsed: its moved form is
        // the partial itself.
        let forms = if moved(&bad) == moved(&first) {
            vec![bad]
        } else {
            vec![moved(&bad), bad]
        };
        for t in forms {
            let Err(err) = texts(&[&first, &t]) else {
                panic!("accepted {t:.100}");
            };
            assert!(err.to_string().contains("partials[1]"), "{err}");
            assert_eq!(code(Err::<(), _>(err)), "INVALID_INPUT", "{t:.80}");
        }
    }
    // The reading's own error, in its place.
    let failed = merge_texts([
        Ok(first.clone()),
        Err(usertrail::Error::invalid(
            "partials[1]",
            "could not be read",
        )),
    ]);
    assert!(failed.unwrap_err().to_string().contains("partials[1]"));
    assert_eq!(code(merge_texts(Vec::new())), "INVALID_INPUT");
}

/// A `paths` partial as engines wrote it before journeys were numbered:
/// each journey's items by name, no `items`.
fn named(v: &Value) -> Value {
    let mut v = v.clone();
    let items = v.as_object_mut().unwrap().remove("items").unwrap();
    let journeys: Vec<Value> = v["journeys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| {
            let steps: Vec<Value> = j[0]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| items[n.as_u64().unwrap() as usize].clone())
                .collect();
            json!({ "steps": steps, "count": j[1] })
        })
        .collect();
    v["journeys"] = Value::Array(journeys);
    v
}

/// Partials asked with other options, or holding what their options cannot
/// give (they arrive over HTTP), are refused with `INVALID_INPUT`.
#[test]
fn hostile_journey_partials_are_refused() {
    let e = engine();
    e.tracking().track_batch(events(7, 200), false).unwrap();
    let range = json!({ "since": T0, "until": T0 + 21 * DAY });
    let partial = |query: &str, extra: Value| {
        let mut m = options(range.clone());
        m.extend(options(extra));
        serde_json::to_value(e.analytics().partial(query, m).unwrap()).unwrap()
    };
    let refused = |parts: Vec<Value>, why: &str| {
        let parsed: Result<Vec<Partial>, _> =
            parts.into_iter().map(serde_json::from_value).collect();
        match parsed {
            Err(_) => {} // refused by serde: the wire layer answers INVALID_INPUT
            Ok(p) => assert_eq!(code(merge(p)), "INVALID_INPUT", "{why}"),
        }
    };
    let paths = partial("paths", json!({ "steps": 2 }));
    refused(
        vec![paths.clone(), partial("paths", json!({ "steps": 4 }))],
        "other steps",
    );
    refused(
        vec![
            paths.clone(),
            partial("paths", json!({ "steps": 2, "by": "user" })),
        ],
        "other unit",
    );
    refused(
        vec![
            paths.clone(),
            partial("paths", json!({ "steps": 2, "startAt": "view" })),
        ],
        "other start",
    );
    refused(
        vec![
            partial("patterns", json!({ "length": 2 })),
            partial("patterns", json!({ "length": 3 })),
        ],
        "other length",
    );
    let edit = |v: &Value, f: &dyn Fn(&mut Value)| {
        let mut v = v.clone();
        f(&mut v);
        v
    };
    // Journeys by name, as older engines wrote them.
    let old = named(&paths);
    for (why, bad) in [
        ("limit 0", edit(&old, &|v| v["asked"]["limit"] = json!(0))),
        (
            "limit 1000",
            edit(&old, &|v| v["asked"]["limit"] = json!(1000)),
        ),
        ("steps 21", edit(&old, &|v| v["asked"]["steps"] = json!(21))),
        (
            "a journey too long",
            edit(&old, &|v| {
                v["journeys"][0]["steps"] = json!(["a", "b", "c"])
            }),
        ),
        (
            "an empty journey",
            edit(&old, &|v| v["journeys"][0]["steps"] = json!([])),
        ),
        (
            "a weight below 1",
            edit(&old, &|v| v["journeys"][0]["count"] = json!([[0.5, 1]])),
        ),
        (
            "a negative count",
            edit(&old, &|v| v["journeys"][0]["count"] = json!([[1.0, -1]])),
        ),
        (
            "a float count",
            edit(&old, &|v| v["total"] = json!([[1.0, 1.5]])),
        ),
        (
            "weights out of order",
            edit(&old, &|v| v["total"] = json!([[2.0, 1], [1.0, 1]])),
        ),
        (
            "an unknown field",
            edit(&old, &|v| v["journeys"][0]["x"] = json!(1)),
        ),
        (
            "a zero count",
            edit(&old, &|v| v["journeys"][0]["count"] = json!([[1.0, 0]])),
        ),
        (
            "an empty count",
            edit(&old, &|v| v["journeys"][0]["count"] = json!([])),
        ),
        (
            "a count the total does not hold",
            edit(&old, &|v| v["journeys"][0]["count"] = json!([[1.0, 1000]])),
        ),
        (
            "a total above the journeys'",
            edit(&old, &|v| v["total"][0][1] = json!(100_000)),
        ),
        (
            "a journey listed twice",
            edit(&old, &|v| {
                let first = v["journeys"][0].clone();
                v["journeys"].as_array_mut().unwrap().push(first);
            }),
        ),
        (
            "a step repeated in a row",
            edit(&old, &|v| {
                v["journeys"][0]["steps"] = json!(["view", "view"])
            }),
        ),
        (
            "a value past f64",
            edit(&old, &|v| {
                v["journeys"] = json!([{ "steps": ["a"], "count": [[1e308, 2]] }]);
                v["total"] = json!([[1e308, 2]]);
            }),
        ),
    ] {
        refused(vec![bad], why);
    }
    // Journeys numbered in `items`, as engines write them.
    let numbers = |v: &mut Value, n: Value| v["journeys"][0][0] = n;
    for (why, bad) in [
        (
            "an item past items",
            edit(&paths, &|v| numbers(v, json!([0, 99]))),
        ),
        (
            "a negative number",
            edit(&paths, &|v| numbers(v, json!([-1]))),
        ),
        ("no numbers", edit(&paths, &|v| numbers(v, json!([])))),
        (
            "a journey taken no times",
            edit(&paths, &|v| v["journeys"][0][1] = json!([])),
        ),
        (
            "a repeated number",
            edit(&paths, &|v| numbers(v, json!([0, 0]))),
        ),
        ("a name", edit(&paths, &|v| numbers(v, json!(["view"])))),
        (
            "a third element",
            edit(&paths, &|v| {
                v["journeys"][0].as_array_mut().unwrap().push(json!(1))
            }),
        ),
        (
            "no count",
            edit(&paths, &|v| {
                v["journeys"][0].as_array_mut().unwrap().pop();
            }),
        ),
        (
            "an item listed twice",
            edit(&paths, &|v| {
                let first = v["items"][0].clone();
                v["items"].as_array_mut().unwrap().push(first);
            }),
        ),
        (
            "a journey listed twice",
            edit(&paths, &|v| {
                let first = v["journeys"][0].clone();
                v["journeys"].as_array_mut().unwrap().push(first);
            }),
        ),
        (
            "a journey listed twice, named and numbered",
            edit(&paths, &|v| {
                let first = named(v)["journeys"][0].clone();
                v["journeys"].as_array_mut().unwrap().push(first);
            }),
        ),
        (
            "items not strings",
            edit(&paths, &|v| v["items"] = json!([1, 2])),
        ),
        (
            "an item no journey takes",
            edit(&paths, &|v| {
                v["items"].as_array_mut().unwrap().push(json!("/nowhere"))
            }),
        ),
    ] {
        refused(vec![bad], why);
    }
    // Summaries, breakdowns and feature usage carry tallies, checked the
    // same way; their answers are computed from them.
    let summary = partial("summary", json!({}));
    let breakdown = partial("eventBreakdown", json!({ "by": "name" }));
    let features = partial("featureUsage", json!({ "features": ["view", "buy"] }));
    for (why, bad) in [
        (
            "a summary weight below 1",
            edit(&summary, &|v| v["tallies"]["events"] = json!([[0.5, 3]])),
        ),
        (
            "a summary count of zero",
            edit(&summary, &|v| v["tallies"]["users"] = json!([[1.0, 0]])),
        ),
        (
            "a summary without its tallies",
            edit(&summary, &|v| {
                v.as_object_mut().unwrap().remove("tallies");
            }),
        ),
        (
            "a breakdown group without its tally",
            edit(&breakdown, &|v| {
                v["tallies"].as_array_mut().unwrap().pop();
            }),
        ),
        (
            "a breakdown tally out of order",
            edit(&breakdown, &|v| {
                v["tallies"][0]["events"] = json!([[2.0, 1], [1.0, 1]])
            }),
        ),
        (
            "a negative count of active users",
            edit(&features, &|v| v["active"] = json!([[1.0, -2]])),
        ),
        (
            "a feature tally too many",
            edit(&features, &|v| {
                let t = v["tallies"][0].clone();
                v["tallies"].as_array_mut().unwrap().push(t);
            }),
        ),
        (
            "more events in sessions than events",
            edit(&summary, &|v| {
                v["tallies"]["inSessions"] = json!([[1.0, 1_000_000_000]])
            }),
        ),
        (
            "more users than events",
            edit(&summary, &|v| {
                v["tallies"]["users"] = json!([[1.0, 1_000_000_000]])
            }),
        ),
        (
            "a breakdown group with no events",
            edit(&breakdown, &|v| {
                v["tallies"][0] = json!({ "events": [], "users": [] })
            }),
        ),
        (
            "a feature with more users than were active",
            edit(
                &features,
                &|v| {
                    v["tallies"][0] =
                        json!({ "events": [[1.0, 1_000_000]], "users": [[1.0, 1_000_000]] })
                },
            ),
        ),
    ] {
        refused(vec![bad], why);
    }
    // Parts that are each valid but add up past what counts or floats hold.
    let near_max = edit(
        &summary,
        &|v| v["tallies"] = json!({ "events": [[1.0, u64::MAX - 5]], "inSessions": [], "users": [], "sessions": [] }),
    );
    refused(
        vec![summary.clone(), near_max.clone(), near_max.clone()],
        "counts that would wrap",
    );
    // A refusal names the partial the fold was adding; a sum found wrong
    // once every partial was added names them all.
    let field = |parts: Vec<Value>| {
        let parts: Vec<Partial> = parts
            .into_iter()
            .map(|v| serde_json::from_value(v).unwrap())
            .collect();
        merge(parts).unwrap_err().field().map(str::to_owned)
    };
    let some = |f: &str| Some(f.to_owned());
    assert_eq!(
        field(vec![summary.clone(), near_max.clone(), near_max]),
        some("partials")
    );
    let zero = edit(&summary, &|v| v["tallies"]["users"] = json!([[1.0, 0]]));
    assert_eq!(
        field(vec![summary.clone(), summary.clone(), zero.clone()]),
        some("partials[2]")
    );
    assert_eq!(field(vec![zero]), some("partials[0]"));
    assert_eq!(
        field(vec![summary.clone(), paths.clone()]),
        some("partials[1]")
    );
    let twice = edit(&paths, &|v| {
        let first = v["journeys"][0].clone();
        v["journeys"].as_array_mut().unwrap().push(first);
    });
    assert_eq!(
        field(vec![paths.clone(), paths.clone(), twice]),
        some("partials[2]")
    );
    let widest = edit(
        &summary,
        &|v| {
            v["tallies"] =
                json!({ "events": [[f64::MAX, 1]], "inSessions": [], "users": [], "sessions": [] })
        },
    );
    refused(vec![widest.clone(), widest], "a sum past f64");
    let answer = |v: Value| merge(vec![serde_json::from_value(v).unwrap()]).unwrap();
    let forged = edit(&summary, &|v| {
        v["summary"]["events"] = json!(1e9);
        v["summary"]["reweighted"] = json!(true);
    });
    assert_eq!(
        answer(forged),
        answer(summary.clone()),
        "the tallies answer"
    );
    assert_eq!(answer(summary)["reweighted"], json!(false));
    let started = partial("paths", json!({ "startAt": "view" }));
    refused(
        vec![edit(&named(&started), &|v| {
            v["journeys"][0]["steps"][0] = json!("add")
        })],
        "a journey not at startAt",
    );
    let add = started["items"]
        .as_array()
        .unwrap()
        .iter()
        .position(|s| s != "view");
    if let Some(add) = add {
        refused(
            vec![edit(&started, &|v| v["journeys"][0][0][0] = json!(add))],
            "a numbered journey not at startAt",
        );
    }
    let sampled_engine = sampled(&[("", 0.5)]);
    sampled_engine
        .tracking()
        .track_batch(events(7, 200), false)
        .unwrap();
    let mut m = options(range.clone());
    m.extend(options(json!({ "length": 2 })));
    let weighted =
        serde_json::to_value(sampled_engine.analytics().partial("patterns", m).unwrap()).unwrap();
    assert_eq!(weighted["reweighted"], json!(true));
    refused(
        vec![edit(&weighted, &|v| v["reweighted"] = json!(false))],
        "sampled counts said unsampled",
    );
    let patterns = partial("patterns", json!({ "length": 2 }));
    for (why, bad) in [
        (
            "minSupport 5",
            edit(&patterns, &|v| v["asked"]["minSupport"] = json!(5)),
        ),
        (
            "minSupport -1",
            edit(&patterns, &|v| v["asked"]["minSupport"] = json!(-1)),
        ),
        (
            "a sequence of 3",
            edit(&patterns, &|v| {
                v["sequences"][0]["sequence"] = json!(["a", "b", "c"])
            }),
        ),
        (
            "a zero weight",
            edit(&patterns, &|v| v["totalSessions"] = json!([[0.0, 1]])),
        ),
        (
            "more sessions than occurrences",
            edit(&patterns, &|v| {
                v["sequences"][0]["sessions"] = json!([[1.0, 5]]);
                v["sequences"][0]["occurrences"] = json!([[1.0, 4]]);
            }),
        ),
        (
            "more sessions than there are",
            edit(&patterns, &|v| {
                v["sequences"][0]["sessions"] = json!([[1.0, 100_000]]);
                v["sequences"][0]["occurrences"] = json!([[1.0, 100_000]]);
            }),
        ),
        (
            "a sequence in no session",
            edit(&patterns, &|v| {
                v["sequences"][0]["sessions"] = json!([]);
                v["sequences"][0]["occurrences"] = json!([]);
            }),
        ),
        (
            "a sequence listed twice",
            edit(&patterns, &|v| {
                let first = v["sequences"][0].clone();
                v["sequences"].as_array_mut().unwrap().push(first);
            }),
        ),
    ] {
        refused(vec![bad], why);
    }
    // The untouched ones merge, and a refusal names what is wrong.
    for good in [paths.clone(), started, weighted, patterns] {
        let ok: Vec<Partial> = vec![serde_json::from_value(good).unwrap()];
        assert!(merge(ok).is_ok());
    }
    // One partial in both forms: a number only its named journey's item
    // gave is refused as past `items`.
    let mixed = edit(&paths, &|v| {
        let n = v["items"].as_array().unwrap().len();
        v["journeys"][0][0] = json!([0, n]);
        v["journeys"]
            .as_array_mut()
            .unwrap()
            .push(json!({ "steps": ["/elsewhere"], "count": [[1.0, 1]] }));
    });
    let err = merge(vec![serde_json::from_value(mixed).unwrap()]).unwrap_err();
    assert!(
        err.to_string().contains("journeys[0] numbers an item"),
        "{err}"
    );
    for form in [paths.clone(), named(&paths)] {
        let twice = edit(&form, &|v| {
            let first = v["journeys"][0].clone();
            v["journeys"].as_array_mut().unwrap().push(first);
        });
        let n = twice["journeys"].as_array().unwrap().len() - 1;
        let err = merge(vec![serde_json::from_value(twice).unwrap()]).unwrap_err();
        assert!(
            err.to_string()
                .contains(&format!("journeys[{n}] is listed twice")),
            "{err}"
        );
    }
}
