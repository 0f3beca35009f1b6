//! Journeys, funnels, retention and cohorts on small hand-built datasets,
//! each answer worked out in the test by other means. Native and wasm.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::common;

use common::dataset::*;
use serde_json::{json, Map, Value};
use usertrail::analytics::*;
use usertrail::tracking::{EventInput, SimpleType};
#[test]
fn paths_and_transitions_collapse_repeats() {
    let (trail, _) = open();
    let journey = |s: &str, start: i64, items: &[&str]| -> Vec<EventInput> {
        items
            .iter()
            .enumerate()
            .map(|(i, it)| {
                let kind = if it.starts_with('/') {
                    "page"
                } else {
                    "action"
                };
                ev(start + i as i64 * SEC, s, s, kind, it)
            })
            .collect()
    };
    let mut events = journey("s1", D0, &["/", "/", "/p", "add_to_cart", "/cart"]);
    events.extend(journey(
        "s2",
        D0 + 100 * SEC,
        &["/", "/p", "add_to_cart", "/cart"],
    ));
    events.extend(journey("s3", D0 + 200 * SEC, &["/p", "/", "/p"]));
    track(&trail, events);
    let a = trail.analytics();
    let q = range(D0, D0 + DAY);
    let p = a.paths(&q, &PathsOptions::default()).unwrap();
    assert_eq!(p.total, 3.0);
    assert_eq!(p.journeys[0].steps, vec!["/", "/p", "add_to_cart", "/cart"]);
    assert_eq!(p.journeys[0].count, 2.0);
    let t = |step: usize, from: &str, to: &str| {
        p.transitions
            .iter()
            .find(|t| t.step == step && t.from == from && t.to == to)
            .map(|t| t.count)
    };
    assert_eq!(t(0, "/", "/p"), Some(2.0));
    assert_eq!(t(0, "/p", "/"), Some(1.0));
    assert_eq!(t(2, "add_to_cart", "/cart"), Some(2.0));
    // From "/p" to "/cart", pages only: s1 and s2 go /p -> /cart.
    let only_pages = a
        .paths(
            &q,
            &PathsOptions {
                start_at: Some("/p".into()),
                end_at: Some("/cart".into()),
                items: Some(PathItems::Path),
                ..PathsOptions::default()
            },
        )
        .unwrap();
    assert_eq!(only_pages.total, 2.0);
    assert_eq!(only_pages.journeys[0].steps, vec!["/p", "/cart"]);
    let short = a
        .paths(
            &q,
            &PathsOptions {
                steps: Some(2),
                ..PathsOptions::default()
            },
        )
        .unwrap();
    assert!(short.journeys.iter().all(|j| j.steps.len() <= 2));
    assert_eq!(
        err_code(a.paths(
            &q,
            &PathsOptions {
                steps: Some(0),
                ..PathsOptions::default()
            }
        )),
        "INVALID_INPUT"
    );

    // Patterns of event names: every session here is page_view, add_to_cart,
    // page_view or just page_view.
    let pat = a
        .patterns(
            &q,
            &PatternsOptions {
                length: Some(3),
                ..PatternsOptions::default()
            },
        )
        .unwrap();
    assert_eq!(pat.total_sessions, 3.0);
    assert_eq!(pat.patterns.len(), 1);
    assert_eq!(
        pat.patterns[0].sequence,
        vec!["page_view", "add_to_cart", "page_view"]
    );
    assert_eq!(
        (pat.patterns[0].sessions, pat.patterns[0].occurrences),
        (2.0, 2.0)
    );
    let none = a
        .patterns(
            &q,
            &PatternsOptions {
                min_support: Some(0.9),
                ..PatternsOptions::default()
            },
        )
        .unwrap();
    assert!(none.patterns.is_empty());
    assert_eq!(
        err_code(a.patterns(
            &q,
            &PatternsOptions {
                length: Some(1),
                ..PatternsOptions::default()
            }
        )),
        "INVALID_INPUT"
    );
}

#[test]
fn funnel_orders_windows_and_repeated_steps() {
    let (trail, _) = open();
    trail
        .tracking()
        .define_dimension("plan", SimpleType::String)
        .unwrap();
    let mut first = ev(D0, "ann", "", "action", "view");
    first.dimensions = Some(Map::from_iter([("plan".to_owned(), json!("pro"))]));
    track(
        &trail,
        vec![
            // ann: view, cart, buy, in order with a page between.
            first,
            ev(D0 + 10 * SEC, "ann", "", "action", "cart"),
            ev(D0 + 20 * SEC, "ann", "", "page", "/x"),
            ev(D0 + 50 * SEC, "ann", "", "action", "buy"),
            // bob: cart before view, then view, buy two days later.
            ev(D0, "bob", "", "action", "cart"),
            ev(D0 + SEC, "bob", "", "action", "view"),
            ev(D0 + 2 * DAY, "bob", "", "action", "buy"),
            // cat: view, cart straight away.
            ev(D0, "cat", "", "action", "view"),
            ev(D0 + 30 * SEC, "cat", "", "action", "cart"),
        ],
    );
    let a = trail.analytics();
    let q = range(D0, D0 + 3 * DAY);
    let steps = vec!["view".to_owned(), "cart".into(), "buy".into()];
    let any = a
        .funnel(
            &q,
            &FunnelOptions {
                steps: steps.clone(),
                window_secs: Some(3600),
                ..FunnelOptions::default()
            },
        )
        .unwrap();
    let counts: Vec<f64> = any.steps.iter().map(|s| s.count).collect();
    // view: 3; cart after view: ann, cat; buy within 1 h: ann.
    assert_eq!(counts, vec![3.0, 2.0, 1.0]);
    assert_eq!(any.steps[1].conversion_from_previous, 2.0 / 3.0);
    assert_eq!(any.steps[2].conversion_from_start, 1.0 / 3.0);
    // ann took 10 s, cat 30 s: median 20 s; then 40 s to buy.
    assert_eq!(any.steps[1].median_ms_from_previous, Some(20_000.0));
    assert_eq!(any.steps[2].median_ms_from_previous, Some(40_000.0));
    assert_eq!(any.steps[0].median_ms_from_previous, None);
    // Strict: ann's page view breaks her run after cart.
    let strict = a
        .funnel(
            &q,
            &FunnelOptions {
                steps: steps.clone(),
                window_secs: Some(3600),
                order: Some(FunnelOrder::Strict),
                ..FunnelOptions::default()
            },
        )
        .unwrap();
    assert_eq!(
        strict.steps.iter().map(|s| s.count).collect::<Vec<_>>(),
        vec![3.0, 2.0, 0.0]
    );
    // A 3-day window lets bob buy, but he never carted after viewing.
    let wide = a
        .funnel(
            &q,
            &FunnelOptions {
                steps: steps.clone(),
                window_secs: Some(3 * 86_400),
                ..FunnelOptions::default()
            },
        )
        .unwrap();
    assert_eq!(wide.steps[2].count, 1.0);
    // A repeated step needs a second event: only bob has view... no one views twice.
    let twice = a
        .funnel(
            &q,
            &FunnelOptions {
                steps: vec!["view".into(), "view".into()],
                ..FunnelOptions::default()
            },
        )
        .unwrap();
    assert_eq!(
        twice.steps.iter().map(|s| s.count).collect::<Vec<_>>(),
        vec![3.0, 0.0]
    );
    // Breakdown by the plan on the first step: ann is "pro", the others unset.
    let split = a
        .funnel(
            &q,
            &FunnelOptions {
                steps: steps.clone(),
                window_secs: Some(3600),
                breakdown: Some("plan".into()),
                ..FunnelOptions::default()
            },
        )
        .unwrap();
    let segs = split.breakdown.unwrap();
    assert_eq!(segs.len(), 2);
    assert_eq!(
        (segs[0].value.clone(), segs[0].steps[0].count),
        (Value::Null, 2.0)
    );
    assert_eq!(
        (segs[1].value.clone(), segs[1].steps[2].count),
        (json!("pro"), 1.0)
    );

    for bad in [
        FunnelOptions {
            steps: vec![],
            ..FunnelOptions::default()
        },
        FunnelOptions {
            steps: steps.clone(),
            window_secs: Some(-1),
            ..FunnelOptions::default()
        },
        FunnelOptions {
            steps: vec!["".into()],
            ..FunnelOptions::default()
        },
    ] {
        assert_eq!(err_code(a.funnel(&q, &bad)), "INVALID_INPUT");
    }
}

#[test]
fn funnel_step_repeated_counts_distinct_events() {
    let (trail, _) = open();
    track(
        &trail,
        vec![
            ev(D0, "ann", "", "action", "view"),
            ev(D0 + SEC, "ann", "", "action", "view"),
            ev(D0 + 2 * SEC, "ann", "", "action", "buy"),
            ev(D0, "bob", "", "action", "view"),
            ev(D0 + SEC, "bob", "", "action", "buy"),
        ],
    );
    let f = trail
        .analytics()
        .funnel(
            &range(D0, D0 + DAY),
            &FunnelOptions {
                steps: vec!["view".into(), "view".into(), "buy".into()],
                ..FunnelOptions::default()
            },
        )
        .unwrap();
    assert_eq!(
        f.steps.iter().map(|s| s.count).collect::<Vec<_>>(),
        vec![2.0, 1.0, 1.0]
    );
}

#[test]
fn retention_matrix_by_day() {
    let (trail, _) = open();
    track(
        &trail,
        vec![
            // ann: first seen day 0, back on days 1 and 3.
            ev(D0 + HOUR, "ann", "", "action", "open"),
            ev(D0 + DAY + HOUR, "ann", "", "action", "open"),
            ev(D0 + 3 * DAY + HOUR, "ann", "", "action", "buy"),
            // bob: day 0, back day 1.
            ev(D0 + 2 * HOUR, "bob", "", "action", "open"),
            ev(D0 + DAY + 5 * HOUR, "bob", "", "action", "buy"),
            // cat: first seen day 1, never back.
            ev(D0 + DAY + 3 * HOUR, "cat", "", "action", "open"),
            // dan: seen before the range, so in no cohort of it.
            ev(D0 - DAY, "dan", "", "action", "open"),
            ev(D0 + HOUR, "dan", "", "action", "open"),
        ],
    );
    let a = trail.analytics();
    let q = range(D0, D0 + 4 * DAY);
    let opts = RetentionOptions {
        cohort: Some(Interval::Day),
        periods: Some(4),
        ..RetentionOptions::default()
    };
    let r = a.retention(&q, &opts).unwrap();
    assert_eq!(r.rows.len(), 4);
    let day0 = &r.rows[0];
    assert_eq!(day0.users, 2.0);
    assert_eq!(
        day0.counts,
        vec![Some(2.0), Some(2.0), Some(0.0), Some(1.0)]
    );
    assert_eq!(
        day0.percentages,
        vec![Some(100.0), Some(100.0), Some(0.0), Some(50.0)]
    );
    let day1 = &r.rows[1];
    assert_eq!(day1.users, 1.0);
    // Periods after the range have no value yet.
    assert_eq!(day1.counts, vec![Some(1.0), Some(0.0), Some(0.0), None]);
    assert_eq!(r.rows[3].counts, vec![Some(0.0), None, None, None]);
    // The same matrix from the events (a half-hour offset skips the rollup)
    // shifted by 30 min changes nothing here.
    let shifted = a
        .retention(
            &Query {
                timezone: Some(30),
                ..q.clone()
            },
            &opts,
        )
        .unwrap();
    assert_eq!(shifted.rows[0].counts, day0.counts);
    // Returning means buying: ann on day 3, bob on day 1.
    let buys = a
        .retention(
            &q,
            &RetentionOptions {
                return_event: Some("buy".into()),
                ..opts.clone()
            },
        )
        .unwrap();
    assert_eq!(
        buys.rows[0].counts,
        vec![Some(0.0), Some(1.0), Some(0.0), Some(1.0)]
    );
    for bad in [
        RetentionOptions {
            periods: Some(367),
            ..opts.clone()
        },
        RetentionOptions {
            periods: Some(0),
            ..opts.clone()
        },
    ] {
        assert_eq!(err_code(a.retention(&q, &bad)), "INVALID_INPUT");
    }
}

#[test]
fn a_user_near_midnight_falls_in_the_cohort_of_their_offset() {
    let (trail, _) = open();
    // 23:30 UTC on day 0, and 00:30 UTC on day 2.
    track(
        &trail,
        vec![
            ev(D0 + DAY - 30 * 60 * SEC, "ann", "", "action", "open"),
            ev(D0 + 2 * DAY + 30 * 60 * SEC, "ann", "", "action", "open"),
        ],
    );
    let a = trail.analytics();
    let opts = RetentionOptions {
        cohort: Some(Interval::Day),
        periods: Some(3),
        ..RetentionOptions::default()
    };
    // In UTC: cohort day 0, back two days later.
    let utc = a.retention(&range(D0, D0 + 3 * DAY), &opts).unwrap();
    assert_eq!(utc.rows[0].users, 1.0);
    assert_eq!(utc.rows[0].counts, vec![Some(1.0), Some(0.0), Some(1.0)]);
    // At UTC+1 they are 00:30 on day 1 and 01:30 on day 2: cohort day 1,
    // back the next day.
    let plus1 = Query {
        timezone: Some(60),
        ..range(D0, D0 + 3 * DAY)
    };
    let r = a.retention(&plus1, &opts).unwrap();
    assert_eq!(r.rows[0].users, 0.0);
    assert_eq!(r.rows[1].users, 1.0);
    assert_eq!(r.rows[1].counts, vec![Some(1.0), Some(1.0), Some(0.0)]);
    // At UTC-1 they are 22:30 on day 0 and 23:30 on day 1. The range now
    // starts at 23:00 on the day before day 0, which gets the first row.
    let minus1 = Query {
        timezone: Some(-60),
        ..range(D0, D0 + 3 * DAY)
    };
    let m = a.retention(&minus1, &opts).unwrap();
    assert_eq!(m.rows[0].label, "2023-11-13");
    assert_eq!(m.rows[1].counts, vec![Some(1.0), Some(1.0), Some(0.0)]);
    let cohorts = a
        .cohorts(
            &plus1,
            &CohortsOptions {
                period: Some(Interval::Day),
                by: None,
            },
        )
        .unwrap();
    assert_eq!(
        cohorts.rows.iter().map(|r| r.users).collect::<Vec<_>>(),
        vec![0.0, 1.0, 0.0, 0.0]
    );
}

#[test]
fn cohorts_split_by_a_dimension_of_the_first_event() {
    let (trail, _) = open();
    trail
        .tracking()
        .define_dimension("source", SimpleType::String)
        .unwrap();
    let src = |mut e: EventInput, s: &str| {
        e.dimensions = Some(Map::from_iter([("source".to_owned(), json!(s))]));
        e
    };
    track(
        &trail,
        vec![
            src(ev(D0, "ann", "", "action", "open"), "ads"),
            src(ev(D0 + HOUR, "bob", "", "action", "open"), "mail"),
            src(ev(D0 + 2 * HOUR, "bob", "", "action", "open"), "ads"), // not bob's first
            src(ev(D0 + 8 * DAY, "cat", "", "action", "open"), "ads"),
        ],
    );
    let c = trail
        .analytics()
        .cohorts(
            &range(D0, D0 + 14 * DAY),
            &CohortsOptions {
                period: Some(Interval::Week),
                by: Some("source".into()),
            },
        )
        .unwrap();
    // D0 is a Tuesday: weeks start on Mondays 13th, 20th, 27th.
    let labels: Vec<&str> = c.rows.iter().map(|r| r.label.as_str()).collect();
    assert_eq!(labels, vec!["2023-11-13", "2023-11-20", "2023-11-27"]);
    assert_eq!(c.rows[0].users, 2.0);
    let split: Vec<(Value, f64)> = c.rows[0]
        .by_value
        .as_ref()
        .unwrap()
        .iter()
        .map(|v| (v.value.clone(), v.users))
        .collect();
    assert_eq!(split, vec![(json!("ads"), 1.0), (json!("mail"), 1.0)]);
    assert_eq!(c.rows[1].users, 1.0);
}

/// A return counts from the user's first start on, whatever order the
/// events were stored in: on the cohort's own day a return before the
/// first start does not count, one in the same millisecond does; every
/// source (memory, SQLite, the blocks read in chunks) agrees.
#[test]
fn a_return_counts_from_the_first_start_on_in_any_stored_order() {
    let (trail, _) = open();
    track(
        &trail,
        vec![
            // ann buys at 01:00 and signs up at 02:00 (stored first): no
            // return on day 0; back on day 1.
            ev(D0 + 2 * HOUR, "ann", "", "action", "signup"),
            ev(D0 + HOUR, "ann", "", "action", "buy"),
            ev(D0 + DAY, "ann", "", "action", "buy"),
            // bob's buy is stored before his signup, in the same ms.
            ev(D0 + 3 * HOUR, "bob", "", "action", "buy"),
            ev(D0 + 3 * HOUR, "bob", "", "action", "signup"),
            // cy signs up twice: the earlier counts, so the buy between
            // them returns on day 0.
            ev(D0 + 9 * HOUR, "cy", "", "action", "signup"),
            ev(D0 + 5 * HOUR, "cy", "", "action", "signup"),
            ev(D0 + 6 * HOUR, "cy", "", "action", "buy"),
        ],
    );
    let q = range(D0, D0 + 2 * DAY);
    let opts = RetentionOptions {
        cohort: Some(Interval::Day),
        periods: Some(2),
        start_event: Some("signup".into()),
        return_event: Some("buy".into()),
    };
    for a in [
        trail.analytics(),
        trail.analytics_from_sqlite(),
        trail.analytics_from_blocks().chunk_rows(1),
    ] {
        let r = a.retention(&q, &opts).unwrap();
        assert_eq!(r.rows[0].users, 3.0);
        assert_eq!(r.rows[0].counts, vec![Some(2.0), Some(1.0)]);
        assert_eq!(r.rows[1].users, 0.0);
    }
}
