//! Analytics volume and page metrics on small hand-built datasets, each
//! answer worked out in the test by other means. Native and wasm.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use common::dataset::*;
use serde_json::{json, Map, Value};
use usertrail::analytics::*;
use usertrail::clock::{Clock, ManualClock};
use usertrail::tracking::{EventInput, EventType, SamplingRule, SimpleType, TrackingConfig};
use usertrail::{OpenOptions, Storage, UserTrail};
#[test]
fn summary_counts_events_users_and_sessions() {
    let (trail, _) = open();
    track(
        &trail,
        vec![
            ev(D0, "ann", "s1", "page", "/"),
            ev(D0 + SEC, "ann", "s1", "action", "click"),
            ev(D0 + 2 * SEC, "ann", "s2", "page", "/"),
            ev(D0 + 3 * SEC, "bob", "s3", "page", "/"),
            ev(D0 + 4 * SEC, "", "", "action", "orphan"),
            ev(D0 + DAY, "cat", "s4", "page", "/"), // outside the range
        ],
    );
    let s = trail.analytics().summary(&range(D0, D0 + DAY)).unwrap();
    // 5 events; ann and bob; s1, s2, s3; 4 of the events are in sessions.
    assert_eq!((s.events, s.users, s.sessions), (5.0, 2.0, 3.0), "{s:?}");
    assert_eq!(s.events_per_user, 2.5);
    assert!((s.events_per_session - 4.0 / 3.0).abs() < 1e-12);
    assert!(!s.reweighted);

    let empty = trail.analytics().summary(&range(0, D0)).unwrap();
    assert_eq!(
        (empty.events, empty.users, empty.events_per_user),
        (0.0, 0.0, 0.0)
    );
    let single = trail
        .analytics()
        .summary(&range(D0 + DAY, D0 + 2 * DAY))
        .unwrap();
    assert_eq!(
        (single.events, single.users, single.sessions),
        (1.0, 1.0, 1.0)
    );
}

#[test]
fn filters_narrow_by_type_name_dimension_and_segment() {
    let (trail, _) = open();
    trail
        .tracking()
        .define_dimension("plan", SimpleType::String)
        .unwrap();
    let mut a = ev(D0, "ann", "s1", "page", "/pricing");
    a.referrer = Some("https://search.example".into());
    a.dimensions = Some(Map::from_iter([("plan".to_owned(), json!("pro"))]));
    let mut b = ev(D0 + SEC, "bob", "s2", "page", "/");
    b.dimensions = Some(Map::from_iter([("plan".to_owned(), json!("free"))]));
    track(
        &trail,
        vec![
            a,
            b,
            ev(D0 + 2 * SEC, "ann", "s1", "action", "signup"),
            ev(D0 + 3 * SEC, "bob", "s2", "action", "signup"),
        ],
    );
    let a = trail.analytics();
    let base = range(D0, D0 + DAY);
    let pages = Query {
        event_type: Some(EventType::Page),
        ..base.clone()
    };
    assert_eq!(a.summary(&pages).unwrap().events, 2.0);
    let signups = Query {
        name: Some(Names::One("signup".into())),
        ..base.clone()
    };
    assert_eq!(a.summary(&signups).unwrap().events, 2.0);
    let pro = Query {
        dimension: Some(DimensionFilter {
            name: "plan".into(),
            value: Scalar::String("pro".into()),
        }),
        ..base.clone()
    };
    assert_eq!(a.summary(&pro).unwrap().events, 1.0);
    // Users whose first event came from search: only ann, all 2 of her events.
    let from_search = Query {
        segment: Some(Segment {
            property: "referrer".into(),
            equals: Scalar::String("https://search.example".into()),
        }),
        ..base.clone()
    };
    let s = a.summary(&from_search).unwrap();
    assert_eq!((s.events, s.users), (2.0, 1.0));
    let by_dim = Query {
        segment: Some(Segment {
            property: "dimensions.plan".into(),
            equals: Scalar::String("free".into()),
        }),
        ..base.clone()
    };
    assert_eq!(a.summary(&by_dim).unwrap().users, 1.0);
    // SQL-looking text is a value like any other.
    let sneaky = Query {
        name: Some(Names::One("x' OR 1=1 --".into())),
        ..base.clone()
    };
    assert_eq!(a.summary(&sneaky).unwrap().events, 0.0);
    let unknown = Query {
        dimension: Some(DimensionFilter {
            name: "nope".into(),
            value: Scalar::Bool(true),
        }),
        ..base.clone()
    };
    assert_eq!(err_code(a.summary(&unknown)), "UNKNOWN_DIMENSION");
    let bad_segment = Query {
        segment: Some(Segment {
            property: "user_agent; DROP TABLE events".into(),
            equals: Scalar::Number(1.0),
        }),
        ..base
    };
    assert_eq!(err_code(a.summary(&bad_segment)), "INVALID_INPUT");
}

/// A `dimension` filter or a segment on a dimension refuses a value of
/// another type than the dimension's (it would keep nothing, silently), an
/// array for the option's object, and a name no path can hold; each error
/// names the option at fault, its message stays short, and nothing changes.
#[test]
fn dimension_filters_refuse_what_they_could_never_keep() {
    let (trail, _) = open();
    for (name, ty) in [
        ("plan", SimpleType::String),
        ("beta", SimpleType::Bool),
        ("seats", SimpleType::Number),
    ] {
        trail.tracking().define_dimension(name, ty).unwrap();
    }
    let mut e = ev(D0, "ann", "s1", "page", "/");
    e.dimensions = Some(Map::from_iter([
        ("plan".to_owned(), json!("pro")),
        ("beta".to_owned(), json!(true)),
        ("seats".to_owned(), json!(3)),
    ]));
    track(&trail, vec![e]);
    let a = trail.analytics();
    let with = |options: Value| -> Query {
        let mut q = json!({ "since": D0, "until": D0 + DAY });
        q.as_object_mut()
            .unwrap()
            .extend(options.as_object().unwrap().clone());
        serde_json::from_value(q).unwrap()
    };
    let fault = |q: &Query| -> (String, Option<String>, usize) {
        let e = a.summary(q).unwrap_err();
        (
            usertrail::error::ErrorCode::code(&e).to_owned(),
            e.field().map(str::to_owned),
            e.to_string().len(),
        )
    };
    // Each type kept by a value of its own.
    for (name, value) in [
        ("plan", json!("pro")),
        ("beta", json!(true)),
        ("seats", json!(3.0)),
    ] {
        let q = with(json!({ "dimension": { "name": name, "value": value } }));
        assert_eq!(a.summary(&q).unwrap().events, 1.0, "{name}");
    }
    for (name, value) in [
        ("plan", json!(1)),
        ("plan", json!(true)),
        ("beta", json!(1)),
        ("beta", json!("true")),
        ("seats", json!("3")),
    ] {
        let q = with(json!({ "dimension": { "name": name, "value": value } }));
        let (code, field, _) = fault(&q);
        assert_eq!(
            (code.as_str(), field.as_deref()),
            ("INVALID_INPUT", Some("dimension.value")),
            "{name} {value}"
        );
    }
    for (property, equals) in [
        ("dimensions.plan", json!(1)),
        ("name", json!(1)),
        ("type", json!(true)),
    ] {
        let q = with(json!({ "segment": { "property": property, "equals": equals } }));
        assert_eq!(
            fault(&q).1.as_deref(),
            Some("segment.equals"),
            "a segment on {property}"
        );
    }
    // The option that names an unknown dimension, and a short message for
    // a long name.
    let q = with(json!({ "dimension": { "name": "nope", "value": 1 } }));
    assert_eq!(
        fault(&q),
        (
            "UNKNOWN_DIMENSION".into(),
            Some("dimension.name".into()),
            fault(&q).2
        )
    );
    let long = "x".repeat(1_000_000);
    let (code, field, len) = fault(&with(json!({ "dimension": { "name": long, "value": 1 } })));
    assert_eq!(
        (code.as_str(), field.as_deref()),
        ("INVALID_INPUT", Some("dimension.name"))
    );
    assert!(len < 1_000, "{len}");
    let by = a
        .event_breakdown(
            &with(json!({})),
            &serde_json::from_value(json!({ "by": "nope" })).unwrap(),
        )
        .unwrap_err();
    assert_eq!(by.field(), Some("by"));
    // A value inside an object option is named by its key.
    for (options, field) in [
        (
            json!({ "segment": { "property": "os", "equals": null } }),
            "segment.equals",
        ),
        (
            json!({ "segment": { "property": 3, "equals": "x" } }),
            "segment.property",
        ),
        (
            json!({ "dimension": { "name": "plan", "value": {} } }),
            "dimension.value",
        ),
        (json!({ "segment": { "property": "os" } }), "segment.equals"),
        (json!({ "segment": { "equals": "x", "x": 1 } }), "segment"),
        (json!({ "dimension": "plan" }), "dimension"),
    ] {
        let e = usertrail::analytics::split::<usertrail::analytics::NoOptions>(
            options.as_object().unwrap().clone(),
        )
        .unwrap_err();
        assert_eq!(e.field(), Some(field), "{options}");
        assert!(!e.to_string().contains("at `"), "{e}");
    }
    // A property or dimension with no key says so.
    for property in ["properties.", "dimensions."] {
        let q = with(json!({ "segment": { "property": property, "equals": 1 } }));
        let e = a.summary(&q).unwrap_err();
        assert_eq!(e.field(), Some("segment.property"));
        assert!(e.to_string().contains("no key after"), "{e}");
    }
    // An array is not the option's object.
    let array: Result<Query, _> = serde_json::from_value(json!({ "dimension": ["plan", "pro"] }));
    assert!(array.is_err());
    let array: Result<Query, _> =
        serde_json::from_value(json!({ "segment": ["dimensions.plan", "pro"] }));
    assert!(array.is_err());
    // A dimension no query could name is refused when declared.
    for name in ["a\"b", "a\\b"] {
        let e = trail
            .tracking()
            .define_dimension(name, SimpleType::String)
            .unwrap_err();
        assert_eq!(e.field(), Some("name"), "{name}");
    }
    assert_eq!(
        a.summary(&with(json!({}))).unwrap().events,
        1.0,
        "nothing changed"
    );
}

/// Of several events at a user's first time (a batch sent without times
/// stores them so), one that has the segment's value puts the user in it,
/// whichever was stored first; a later event does not.
#[test]
fn a_segment_takes_any_of_a_users_first_events() {
    let (trail, _) = open();
    trail
        .tracking()
        .define_dimension("plan", SimpleType::String)
        .unwrap();
    let with = |mut e: EventInput, plan: &str| {
        e.dimensions = Some(Map::from_iter([("plan".to_owned(), json!(plan))]));
        e
    };
    track(
        &trail,
        vec![
            with(ev(D0, "ann", "s1", "action", "open"), "free"),
            with(ev(D0, "ann", "s1", "page", "/"), "pro"),
            with(ev(D0, "bob", "s2", "page", "/"), "pro"),
            with(ev(D0, "bob", "s2", "action", "open"), "free"),
            with(ev(D0, "cy", "s3", "action", "open"), "free"),
            with(ev(D0 + SEC, "cy", "s3", "page", "/"), "pro"),
        ],
    );
    let users = |property: &str, equals: Value| -> f64 {
        let q: Query = serde_json::from_value(json!({
            "since": D0, "until": D0 + DAY,
            "segment": { "property": property, "equals": equals },
        }))
        .unwrap();
        let a = trail.analytics().summary(&q).unwrap().users;
        let b = trail.analytics_from_sqlite().summary(&q).unwrap().users;
        assert_eq!(a, b, "{property}");
        a
    };
    assert_eq!(users("dimensions.plan", json!("pro")), 2.0, "ann and bob");
    assert_eq!(users("dimensions.plan", json!("free")), 3.0, "everyone");
    assert_eq!(users("name", json!("page_view")), 2.0);
    assert_eq!(users("type", json!("action")), 3.0);
    assert_eq!(users("referrer", json!("nowhere")), 0.0);
}

/// A deterministic pseudo-random dataset: (ts, user) pairs over 20 days.
fn random_activity(n: usize) -> Vec<(i64, String)> {
    let mut x: u64 = 42;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    (0..n)
        .map(|_| {
            let ts = D0 + (next() % (20 * DAY as u64)) as i64;
            (ts, format!("u{}", next() % 60))
        })
        .collect()
}

#[test]
fn active_users_match_a_brute_force_count_in_any_offset() {
    let (trail, _) = open();
    let data = random_activity(3000);
    track(
        &trail,
        data.iter()
            .map(|(ts, u)| ev(*ts, u, "", "action", "tick"))
            .collect(),
    );
    // +60 min is answered by the rollup, +30 min by the events: both must
    // agree with counting by hand.
    for offset_min in [0i64, 60, 30, -300] {
        let q = Query {
            timezone: Some(offset_min as i32),
            ..range(D0 + 2 * DAY, D0 + 18 * DAY)
        };
        for interval in [Interval::Day, Interval::Week, Interval::Month] {
            let got = trail.analytics().active_users(&q, interval).unwrap();
            let mut want: HashMap<i64, HashSet<&str>> = HashMap::new();
            for (ts, u) in data
                .iter()
                .filter(|(ts, _)| *ts >= D0 + 2 * DAY && *ts < D0 + 18 * DAY)
            {
                want.entry(interval.bucket(*ts, offset_min * 60_000))
                    .or_default()
                    .insert(u);
            }
            let total: usize = want.values().map(HashSet::len).sum();
            let got_total: f64 = got.buckets.iter().map(|b| b.users).sum();
            assert_eq!(got_total, total as f64, "{interval:?} at {offset_min}");
            for b in &got.buckets {
                let key = interval.bucket(b.start, offset_min * 60_000);
                assert_eq!(b.users, want.get(&key).map_or(0, HashSet::len) as f64);
            }
        }
    }
    // Day buckets cover the range exactly: 16 days.
    let day = trail
        .analytics()
        .active_users(&range(D0 + 2 * DAY, D0 + 18 * DAY), Interval::Day)
        .unwrap();
    assert_eq!(day.buckets.len(), 16);
    assert_eq!(day.buckets[0].label, "2023-11-16");
    // Stickiness: mean daily users over distinct users in those 16 days.
    let daily: f64 = day.buckets.iter().map(|b| b.users).sum::<f64>() / 16.0;
    let distinct: HashSet<&String> = data
        .iter()
        .filter(|(ts, _)| *ts >= D0 + 2 * DAY && *ts < D0 + 18 * DAY)
        .map(|(_, u)| u)
        .collect();
    assert!((day.stickiness.dau - daily).abs() < 1e-9);
    assert_eq!(day.stickiness.mau, distinct.len() as f64);
    assert!((day.stickiness.ratio - daily / distinct.len() as f64).abs() < 1e-9);
}

#[test]
fn rollup_kept_at_ingest_equals_a_rebuild_after_identify() {
    let (trail, _) = open();
    let mut anon = ev(D0, "", "s1", "page", "/");
    anon.anonymous_id = Some("a-1".into());
    let mut anon2 = ev(D0 + 2 * HOUR, "", "s1", "page", "/x");
    anon2.anonymous_id = Some("a-1".into());
    track(
        &trail,
        vec![anon, anon2, ev(D0 + 2 * HOUR, "ann", "s2", "page", "/")],
    );
    let q = range(D0, D0 + DAY);
    assert_eq!(
        trail
            .analytics()
            .active_users(&q, Interval::Day)
            .unwrap()
            .buckets[0]
            .users,
        2.0
    );
    trail.tracking().identify("a-1", "ann").unwrap();
    // One person now, in both the rollup and the events.
    assert_eq!(
        trail
            .analytics()
            .active_users(&q, Interval::Day)
            .unwrap()
            .buckets[0]
            .users,
        1.0
    );
    assert_eq!(trail.analytics().summary(&q).unwrap().users, 1.0);
    let snapshot = |t: &UserTrail| -> Vec<(i64, String, i64)> {
        let conn = t.store().conn();
        let mut s = conn
            .prepare("SELECT hour, user_key, events FROM rollup_user_hours ORDER BY 1, 2")
            .unwrap();
        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    let kept = snapshot(&trail);
    usertrail::tracking::rollup::rebuild(trail.store().conn()).unwrap();
    assert_eq!(snapshot(&trail), kept);
    assert_eq!(kept.len(), 2, "{kept:?}"); // ann at hour 0 and hour 2
}

#[test]
fn sampled_events_are_reweighted() {
    let rule = SamplingRule {
        name: Some("tick".into()),
        event_type: None,
        rate: 0.5,
    };
    let (trail, _) = open_with(TrackingConfig {
        sampling: vec![rule],
        ..TrackingConfig::default()
    });
    track(
        &trail,
        (0..400)
            .map(|i| ev(D0 + i, &format!("u{i}"), "", "action", "tick"))
            .collect(),
    );
    let kept: f64 = trail
        .store()
        .conn()
        .query_row("SELECT count(*) FROM events", [], |r| r.get::<_, i64>(0))
        .unwrap() as f64;
    assert!(kept > 100.0 && kept < 300.0, "{kept}");
    let s = trail.analytics().summary(&range(D0, D0 + DAY)).unwrap();
    assert!(s.reweighted);
    assert_eq!((s.events, s.users), (2.0 * kept, 2.0 * kept));
    let active = trail
        .analytics()
        .active_users(&range(D0, D0 + DAY), Interval::Day)
        .unwrap();
    assert!(active.reweighted);
    assert_eq!(active.buckets[0].users, 2.0 * kept);
}

#[test]
fn realtime_counts_the_last_window_by_the_clock() {
    let (trail, clock) = open();
    let now = clock.now_ms();
    track(
        &trail,
        vec![
            ev(now - 10 * SEC, "ann", "", "action", "a"),
            ev(now - 70 * SEC, "bob", "", "action", "a"),
            ev(now - 80 * SEC, "bob", "", "action", "a"),
            ev(now - 400 * SEC, "cat", "", "action", "a"),
        ],
    );
    let r = trail
        .analytics()
        .realtime(&Query::default(), &RealtimeOptions::default())
        .unwrap();
    assert_eq!((r.window_secs, r.events, r.active_users), (300, 3.0, 2.0));
    assert_eq!(r.per_minute.len(), 5);
    let counts: Vec<f64> = r.per_minute.iter().map(|m| m.events).collect();
    assert_eq!(counts, vec![0.0, 0.0, 0.0, 2.0, 1.0]);
    assert_eq!(r.per_minute[4].start, now + 1 - 60 * SEC);
    clock.advance(600 * SEC);
    let later = trail
        .analytics()
        .realtime(&Query::default(), &RealtimeOptions::default())
        .unwrap();
    assert_eq!(later.events, 0.0);
    let bad = RealtimeOptions {
        window_secs: Some(-5),
    };
    assert_eq!(
        err_code(trail.analytics().realtime(&Query::default(), &bad)),
        "INVALID_INPUT"
    );
    assert_eq!(
        err_code(
            trail
                .analytics()
                .realtime(&range(0, 5), &RealtimeOptions::default())
        ),
        "INVALID_INPUT"
    );
}

#[test]
fn top_pages_time_on_page_is_the_gap_to_the_next_event_capped() {
    let (trail, _) = open();
    track(
        &trail,
        vec![
            ev(D0, "ann", "s1", "page", "/a"),
            ev(D0 + 10 * SEC, "ann", "s1", "page", "/b"),
            ev(D0 + 10 * SEC + 45 * 60 * SEC, "ann", "s1", "page", "/a"),
            ev(D0 + 5 * SEC, "bob", "s2", "page", "/a"),
            ev(D0 + 9 * SEC, "bob", "s2", "action", "click"),
        ],
    );
    let p = trail
        .analytics()
        .top_pages(&range(D0, D0 + DAY), &TopPagesOptions::default())
        .unwrap();
    assert_eq!(p.pages.len(), 2);
    let a = &p.pages[0];
    // /a: 3 views by 2 people; timed: ann's first (10 s) and bob's (4 s).
    assert_eq!(
        (a.path.as_str(), a.views, a.unique_viewers, a.timed_views),
        ("/a", 3.0, 2.0, 2)
    );
    assert_eq!(a.avg_time_on_page_ms, Some(7000.0));
    let b = &p.pages[1];
    // /b: 45 min until the next event, capped at 30.
    assert_eq!(
        (b.views, b.avg_time_on_page_ms),
        (1.0, Some(TIME_ON_PAGE_CAP_MS as f64))
    );
    let one = trail
        .analytics()
        .top_pages(&range(D0, D0 + DAY), &TopPagesOptions { limit: Some(1) })
        .unwrap();
    assert_eq!(one.pages.len(), 1);
    assert_eq!(
        err_code(
            trail
                .analytics()
                .top_pages(&range(D0, D0 + DAY), &TopPagesOptions { limit: Some(0) })
        ),
        "INVALID_INPUT"
    );
}

#[test]
fn session_durations_from_first_to_last_event() {
    let (trail, _) = open();
    let lengths = [0, 5 * SEC, 20 * SEC, 120 * SEC, 2 * HOUR];
    let mut events = Vec::new();
    for (i, len) in lengths.iter().enumerate() {
        let s = format!("s{i}");
        events.push(ev(D0 + i as i64 * DAY / 10, "ann", &s, "action", "start"));
        events.push(ev(
            D0 + i as i64 * DAY / 10 + len,
            "ann",
            &s,
            "action",
            "end",
        ));
    }
    track(&trail, events);
    let d = trail
        .analytics()
        .session_durations(&range(D0, D0 + DAY))
        .unwrap();
    let mean = lengths.iter().sum::<i64>() as f64 / 5.0;
    assert_eq!(d.count, 5.0);
    assert_eq!(d.mean_ms, Some(mean));
    assert_eq!(d.median_ms, Some(20_000.0));
    assert_eq!(d.p90_ms, Some(7_200_000.0)); // rank ceil(0.9 * 5) = 5
    assert_eq!(d.max_ms, Some(7_200_000.0));
    let hist: Vec<f64> = d.histogram.iter().map(|b| b.sessions).collect();
    // 0 | 5 s | 20 s | 2 min | 2 h in buckets [0,10s) [10s,30s) [30s,1m) [1m,3m) ... [1h,∞).
    assert_eq!(hist, vec![2.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]);
    let none = trail.analytics().session_durations(&range(0, D0)).unwrap();
    assert_eq!((none.count, none.median_ms), (0.0, None));
}

#[test]
fn breakdowns_and_feature_usage() {
    let (trail, _) = open();
    trail
        .tracking()
        .define_dimension("plan", SimpleType::String)
        .unwrap();
    let with_plan = |mut e: EventInput, plan: &str| {
        e.dimensions = Some(Map::from_iter([("plan".to_owned(), json!(plan))]));
        e
    };
    track(
        &trail,
        vec![
            with_plan(ev(D0, "ann", "", "action", "feature.export"), "pro"),
            with_plan(ev(D0 + 1, "ann", "", "action", "feature.export"), "pro"),
            with_plan(ev(D0 + 2, "bob", "", "action", "feature.share"), "free"),
            ev(D0 + 3, "cat", "", "page", "/"),
            ev(D0 + 4, "dan", "", "action", "feature.export"),
        ],
    );
    let a = trail.analytics();
    let q = range(D0, D0 + DAY);
    let by_name = a.event_breakdown(&q, &BreakdownOptions::default()).unwrap();
    let rows: Vec<(Value, f64, f64)> = by_name
        .rows
        .iter()
        .map(|r| (r.value.clone(), r.events, r.users))
        .collect();
    assert_eq!(
        rows,
        vec![
            (json!("feature.export"), 3.0, 2.0),
            (json!("feature.share"), 1.0, 1.0),
            (json!("page_view"), 1.0, 1.0)
        ]
    );
    let by_plan = a
        .event_breakdown(
            &q,
            &BreakdownOptions {
                by: Some("plan".into()),
                limit: None,
            },
        )
        .unwrap();
    let plan: Vec<(Value, f64)> = by_plan
        .rows
        .iter()
        .map(|r| (r.value.clone(), r.events))
        .collect();
    assert_eq!(
        plan,
        vec![
            (json!("pro"), 2.0),
            (Value::Null, 2.0),
            (json!("free"), 1.0)
        ]
    );
    let by_type = a
        .event_breakdown(
            &q,
            &BreakdownOptions {
                by: Some("type".into()),
                limit: Some(1),
            },
        )
        .unwrap();
    assert_eq!(
        (by_type.rows.len(), &by_type.rows[0].value),
        (1, &json!("action"))
    );
    assert_eq!(
        err_code(a.event_breakdown(
            &q,
            &BreakdownOptions {
                by: Some("color".into()),
                limit: None
            }
        )),
        "UNKNOWN_DIMENSION"
    );

    let f = a
        .feature_usage(
            &q,
            &FeatureUsageOptions {
                prefix: Some("feature.".into()),
                features: None,
            },
        )
        .unwrap();
    assert_eq!(f.active_users, 4.0);
    let export = &f.features[0];
    // 2 of 4 active users, 3 uses.
    assert_eq!(
        (
            export.feature.as_str(),
            export.users,
            export.uses,
            export.adoption
        ),
        ("feature.export", 2.0, 3.0, 50.0)
    );
    assert_eq!(export.uses_per_user, 1.5);
    let listed = a
        .feature_usage(
            &q,
            &FeatureUsageOptions {
                features: Some(vec!["feature.share".into(), "feature.never".into()]),
                prefix: None,
            },
        )
        .unwrap();
    let names: Vec<(&str, f64)> = listed
        .features
        .iter()
        .map(|f| (f.feature.as_str(), f.adoption))
        .collect();
    assert_eq!(names, vec![("feature.share", 25.0), ("feature.never", 0.0)]);
    assert_eq!(
        err_code(a.feature_usage(&q, &FeatureUsageOptions::default())),
        "INVALID_INPUT"
    );
}

#[test]
fn bad_queries_are_typed_errors() {
    let (trail, _) = open();
    let a = trail.analytics();
    for q in [
        Query {
            since: Some(-1),
            ..Query::default()
        },
        Query {
            since: Some(10),
            until: Some(10),
            ..Query::default()
        },
        Query {
            timezone: Some(900),
            ..Query::default()
        },
        Query {
            name: Some(Names::Many(vec![])),
            ..Query::default()
        },
        Query {
            name: Some(Names::One("a\u{0}b".into())),
            ..Query::default()
        },
    ] {
        assert_eq!(err_code(a.summary(&q)), "INVALID_INPUT", "{q:?}");
    }
    // What JS sends: one object, split in the core.
    let parse = |v: Value| split::<ActiveUsersOptions>(v.as_object().unwrap().clone());
    assert!(parse(json!({"interval": "week", "since": 0})).is_ok());
    // Each error names the option at fault (docs/ERRORS.md), shared or
    // the query's own, by its path.
    for (bad, field) in [
        (json!({"interval": "year"}), "interval"),
        (json!({"since": "yesterday"}), "since"),
        (json!({"since": 0, "until": "now"}), "until"),
        (json!({"sinse": 0}), "sinse"),
        (json!({"since": 1.5}), "since"),
        (json!({"dimension": 5}), "dimension"),
        (
            json!({"dimension": {"name": "plan", "value": [1]}}),
            "dimension.value",
        ),
        (
            json!({"dimension": {"key": "plan", "value": 1}}),
            "dimension",
        ),
        (
            json!({"interval": "week", "since": 0, "until": "x"}),
            "until",
        ),
        (json!({"name": ["a", 2]}), "name[1]"),
        (json!({"name": "a", "interval": ["day"]}), "interval"),
        // An unknown key inside an option, named like a shared one.
        (
            json!({"since": 0, "dimension": {"name": "p", "value": 1, "since": 1}}),
            "dimension",
        ),
        // Two keys wrong alike: the first.
        (json!({"since": "x", "until": "x"}), "since"),
        (json!({"since": true, "until": true}), "since"),
    ] {
        assert_eq!(err_code(parse(bad.clone())), "INVALID_INPUT", "{bad}");
        let e = parse(bad.clone()).unwrap_err();
        assert_eq!(e.field(), Some(field), "{bad}: {e}");
    }
    // An unknown key is told what the query takes, shared keys included.
    let e = split::<NoOptions>(json!({"since": 0, "limit": 5}).as_object().unwrap().clone())
        .unwrap_err();
    assert_eq!(e.field(), Some("limit"));
    assert!(
        e.to_string().contains("every query takes since, until,"),
        "{e}"
    );
    // A key spelled to look like serde's message names itself.
    let e = split::<TopPagesOptions>(
        json!({"limit": 5, "limit`, expected `x": 1})
            .as_object()
            .unwrap()
            .clone(),
    )
    .unwrap_err();
    assert_eq!(e.field(), Some("limit`, expected `x"), "{e}");
    let e = split::<TopPagesOptions>(json!({"limt": 5}).as_object().unwrap().clone()).unwrap_err();
    assert_eq!(e.field(), Some("limt"));
    assert!(
        e.to_string()
            .ends_with("includeBots; this one also takes `limit`"),
        "{e}"
    );
    // A hostile object (a bad value among 50,000 keys) costs one read,
    // not one per key.
    let mut huge = Map::new();
    huge.insert("interval".into(), json!(5));
    for i in 0..50_000 {
        huge.insert(format!("z{i}"), json!(i));
    }
    assert_eq!(err_code(split::<ActiveUsersOptions>(huge)), "INVALID_INPUT");
    // In the words of JSON, not of Rust's types.
    let e = parse(json!({"since": "yesterday"}))
        .unwrap_err()
        .to_string();
    assert!(
        e.ends_with("ms since the epoch (a Date's getTime()), not \"yesterday\""),
        "{e}"
    );
    let e = parse(json!({"name": ["a", 2]})).unwrap_err().to_string();
    assert!(!e.contains("enum") && !e.contains("Names"), "{e}");
    // An item of a list is named by its index, whether serde or a check
    // refuses it.
    let funnel = |v: Value| split::<FunnelOptions>(v.as_object().unwrap().clone());
    assert_eq!(
        funnel(json!({"steps": ["a", 3, 4]})).unwrap_err().field(),
        Some("steps[1]")
    );
    // Two items wrong alike: the first; far down a long list: still named.
    let e = funnel(json!({"steps": ["a", 5, 5]})).unwrap_err();
    assert_eq!(e.field(), Some("steps[1]"));
    let mut long: Vec<Value> = (0..5000).map(|i| json!(format!("s{i}"))).collect();
    long[4321] = json!(7);
    let e = funnel(json!({ "steps": long })).unwrap_err();
    assert_eq!(e.field(), Some("steps[4321]"));
    let (q, o) = funnel(json!({"steps": ["a", ""]})).unwrap();
    assert_eq!(a.funnel(&q, &o).unwrap_err().field(), Some("steps[1]"));
    // A required option of the query's own, missing, is named.
    let e = split::<FunnelOptions>(json!({"since": 0}).as_object().unwrap().clone()).unwrap_err();
    assert_eq!(e.field(), Some("steps"), "{e}");
    assert_eq!(
        err_code(a.active_users(&range(0, 20_000 * 86_400_000), Interval::Day)),
        "INVALID_INPUT"
    );
    // Nothing was written by any of it.
    let n: i64 = trail
        .store()
        .conn()
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(n, 0);
}

#[test]
fn migrating_from_version_4_builds_the_rollup_from_old_events() {
    use usertrail::store::migrations::migrate_to;
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    migrate_to(&mut conn, 4).unwrap();
    for (i, (user, anon)) in [
        (Some("ann"), None),
        (None, Some("a-1")),
        (Some("ann"), Some("a-2")),
    ]
    .iter()
    .enumerate()
    {
        conn.execute(
            "INSERT INTO events (event_id, ts, type, name, user_id, anonymous_id, properties, sample_rate, received_at) \
             VALUES (?1, ?2, 'action', 'x', ?3, ?4, '{}', 1.0, 0)",
            rusqlite::params![format!("00000000-0000-7000-8000-00000000000{i}"), D0 + i as i64 * HOUR, user, anon],
        )
        .unwrap();
    }
    let bytes = conn.serialize(rusqlite::MAIN_DB).unwrap().to_vec();
    let clock = Arc::new(ManualClock::new(D0 + DAY));
    let trail = UserTrail::open(OpenOptions::new(Storage::Bytes(bytes)).clock(clock)).unwrap();
    let q = range(D0, D0 + DAY);
    // ann and a-1; a-2's event carries ann's user id.
    assert_eq!(
        trail
            .analytics()
            .active_users(&q, Interval::Day)
            .unwrap()
            .buckets[0]
            .users,
        2.0
    );
    let rows: i64 = trail
        .store()
        .conn()
        .query_row("SELECT count(*) FROM rollup_user_hours", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 3);
}

const HUMAN_UA: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
const BOT_UA: &str = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/// 3 people and 2 crawlers, 4 events each over a day.
fn people_and_bots() -> UserTrail {
    let clock = Arc::new(ManualClock::new(D0 + DAY));
    let trail = UserTrail::open(OpenOptions::new(Storage::Memory).clock(clock)).unwrap();
    let mut batch = Vec::new();
    for (who, ua) in [
        ("ann", HUMAN_UA),
        ("bob", HUMAN_UA),
        ("cy", HUMAN_UA),
        ("g-1", BOT_UA),
        ("g-2", BOT_UA),
    ] {
        for k in 0..4 {
            batch.push(EventInput {
                name: "view".into(),
                user_id: Some(who.into()),
                session_id: Some(format!("s-{who}")),
                user_agent: Some(ua.into()),
                ts: Some(D0 + k * 3 * HOUR + 1000),
                ..Default::default()
            });
        }
    }
    trail.tracking().track_batch(batch, false).unwrap();
    trail
}

#[test]
fn bots_are_left_out_of_every_metric_unless_included() {
    let trail = people_and_bots();
    let a = trail.analytics();
    let q = range(D0, D0 + DAY);
    let with_bots = Query {
        include_bots: Some(true),
        ..q.clone()
    };
    let s = a.summary(&q).unwrap();
    assert_eq!((s.users, s.events, s.sessions), (3.0, 12.0, 3.0));
    let s = a.summary(&with_bots).unwrap();
    assert_eq!((s.users, s.events, s.sessions), (5.0, 20.0, 5.0));
    // Nothing counted is 0, not -0 (which JS would show).
    let empty = a.summary(&range(D0 + 2 * DAY, D0 + 3 * DAY)).unwrap();
    assert!(empty.users.is_sign_positive() && empty.events.is_sign_positive());
    // Whole hours: the rollup answers (it counts no bots); a filter makes
    // the events answer; both leave the bots out, and include them on request.
    let users = |q: &Query| a.active_users(q, Interval::Day).unwrap().buckets[0].users;
    let filtered = Query {
        name: Some(Names::One("view".into())),
        ..q.clone()
    };
    assert_eq!(users(&q), 3.0);
    assert_eq!(users(&filtered), 3.0);
    assert_eq!(users(&with_bots), 5.0);
    assert_eq!(
        users(&Query {
            include_bots: Some(true),
            ..filtered
        }),
        5.0
    );
    let rows: i64 = trail
        .store()
        .conn()
        .query_row(
            "SELECT count(*) FROM rollup_user_hours WHERE user_key LIKE 'g-%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 0, "the rollup counts no bots");
    // The JS shape: `includeBots` beside the other query keys; wrong types refused.
    let opts = |v: Value| v.as_object().cloned().unwrap();
    let partial = a
        .partial(
            "summary",
            opts(json!({ "since": D0, "until": D0 + DAY, "includeBots": true })),
        )
        .unwrap();
    assert_eq!(
        serde_json::to_value(partial).unwrap()["summary"]["users"],
        5.0
    );
    assert!(a
        .partial("summary", opts(json!({ "includeBots": "yes" })))
        .is_err());
}

#[test]
fn migrating_from_version_7_takes_bots_out_of_the_rollup() {
    use usertrail::store::migrations::migrate_to;
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    migrate_to(&mut conn, 7).unwrap();
    for (i, (user, device)) in [("ann", "desktop"), ("g-1", "bot"), ("bob", "mobile")]
        .iter()
        .enumerate()
    {
        conn.execute(
            "INSERT INTO events (event_id, ts, type, name, user_id, device, properties, sample_rate, received_at) \
             VALUES (?1, ?2, 'action', 'x', ?3, ?4, '{}', 1.0, 0)",
            rusqlite::params![format!("00000000-0000-7000-8000-00000000000{i}"), D0 + i as i64 * HOUR, user, device],
        )
        .unwrap();
        // As version 7 kept it: bots counted.
        conn.execute(
            "INSERT INTO rollup_user_hours (hour, user_key, events, weight, max_rate) VALUES (?1, ?2, 1, 1.0, 1.0)",
            rusqlite::params![(D0 + i as i64 * HOUR) / HOUR, user],
        )
        .unwrap();
    }
    let bytes = conn.serialize(rusqlite::MAIN_DB).unwrap().to_vec();
    let clock = Arc::new(ManualClock::new(D0 + DAY));
    let trail = UserTrail::open(OpenOptions::new(Storage::Bytes(bytes)).clock(clock)).unwrap();
    let keys: Vec<String> = {
        let conn = trail.store().conn();
        let mut stmt = conn
            .prepare("SELECT user_key FROM rollup_user_hours ORDER BY user_key")
            .unwrap();
        let rows = stmt.query_map([], |r| r.get(0)).unwrap();
        rows.collect::<Result<_, _>>().unwrap()
    };
    assert_eq!(keys, ["ann", "bob"]);
    let q = range(D0, D0 + DAY);
    assert_eq!(
        trail
            .analytics()
            .active_users(&q, Interval::Day)
            .unwrap()
            .buckets[0]
            .users,
        2.0
    );
}
