//! The in-memory projection of the events that analytics scan
//! (`analytics::projection`) answers every metric exactly as SQLite does,
//! across appends (in order and late), erasure, anonymisation, rectification
//! and retention, with bots left out or counted. Native and wasm.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

mod common;
#[allow(unused_imports)]
use common::Now;

use common::dataset::*;
use serde_json::{json, Value};
use usertrail::analytics::{Analytics, Interval, Query};
use usertrail::privacy::{AnonymizeOptions, EraseOptions, RectifyOptions};
use usertrail::tracking::{EventInput, SamplingRule, TrackingConfig};
use usertrail::UserTrail;

/// Options read from JSON, as JS passes them.
fn o<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

/// Every metric that scans events, as JSON, for `q`.
fn metrics(a: &Analytics<'_>, q: &Query) -> Value {
    json!({
        "summary": a.summary(q).unwrap(),
        "active": a.active_users(q, Interval::Day).unwrap(),
        "topPages": a.top_pages(q, &o(json!({}))).unwrap(),
        "durations": a.session_durations(q).unwrap(),
        "funnel": a.funnel(q, &o(json!({ "steps": ["page_view", "signup", "buy"], "windowSecs": 3600 }))).unwrap(),
        "paths": a.paths(q, &o(json!({}))).unwrap(),
        "patterns": a.patterns(q, &o(json!({}))).unwrap(),
        "retention": a.retention(q, &o(json!({ "cohort": "day", "periods": 3 }))).unwrap(),
        "retentionByEvent": a.retention(q, &o(json!({ "cohort": "day", "startEvent": "signup", "returnEvent": "buy" }))).unwrap(),
        "cohorts": a.cohorts(q, &o(json!({ "period": "day" }))).unwrap(),
        "breakdown": a.event_breakdown(q, &o(json!({}))).unwrap(),
        "features": a.feature_usage(q, &o(json!({ "features": ["signup", "buy"] }))).unwrap(),
        "realtime": a.realtime(&Query { include_bots: q.include_bots, ..Query::default() }, &o(json!({ "windowSecs": 3_600 }))).unwrap(),
    })
}

/// Checks the projection against SQLite on several ranges and both bot
/// settings, and returns the summary of the whole range.
fn same(trail: &UserTrail, when: &str) -> Value {
    let mut whole = Value::Null;
    for (since, until) in [
        (D0 - DAY, D0 + 31 * DAY),
        (D0 + HOUR, D0 + 2 * DAY + 7 * HOUR),
        (D0 + 2 * DAY + 1234, D0 + 3 * DAY),
    ] {
        for bots in [false, true] {
            let q = Query {
                include_bots: Some(bots),
                ..range(since, until)
            };
            let fast = metrics(&trail.analytics(), &q);
            let slow = metrics(&trail.analytics_from_sqlite(), &q);
            assert_eq!(fast, slow, "{when}: {since}..{until}, bots {bots}");
            if since == D0 - DAY && !bots {
                whole = fast["summary"].clone();
            }
        }
    }
    whole
}

/// An engine that keeps half of the `buy` events (so results are
/// reweighted).
fn engine() -> (UserTrail, std::sync::Arc<usertrail::clock::ManualClock>) {
    open_with(TrackingConfig {
        sampling: vec![SamplingRule {
            name: Some("buy".into()),
            event_type: None,
            rate: 0.5,
        }],
        ..TrackingConfig::default()
    })
}

/// A day of events from `users`, in sessions, with pages, a funnel, a
/// sampled event and a bot.
fn day(day: i64, users: &[&str]) -> Vec<EventInput> {
    let mut out = Vec::new();
    for (i, u) in users.iter().enumerate() {
        let t = D0 + day * DAY + (i as i64) * 7 * 60_000;
        let s = format!("{u}-s{day}");
        out.push(ev(t, u, &s, "page", "/"));
        out.push(ev(t + 30 * SEC, u, &s, "page", &format!("/p/{}", i % 3)));
        if i % 2 == 0 {
            out.push(ev(t + 60 * SEC, u, &s, "action", "signup"));
        }
        if i % 3 == 0 {
            out.push(ev(t + 90 * SEC, u, &s, "action", "buy"));
        }
    }
    let mut bot = ev(D0 + day * DAY + 5 * HOUR, "crawler", "bot-s", "page", "/");
    bot.user_agent = Some("Googlebot/2.1 (+http://www.google.com/bot.html)".into());
    out.push(bot);
    out
}

#[test]
fn the_projection_answers_as_sqlite_does_through_every_change() {
    let (trail, clock) = engine();
    same(&trail, "empty");
    track(&trail, day(0, &["ann", "bob", "cy", "dee"]));
    let first = same(&trail, "first day");
    assert!(first["events"].as_f64().unwrap() > 10.0, "{first}");
    // Appended in order, then late (before what is there), then an
    // anonymous visitor identified.
    track(&trail, day(1, &["ann", "eve", "fay"]));
    same(&trail, "second day");
    track(
        &trail,
        day(0, &["gus", "hal"])
            .into_iter()
            .map(|mut e| {
                e.ts = e.ts.map(|t| t + 11 * SEC);
                e
            })
            .collect(),
    );
    same(&trail, "late events");
    let mut anon = ev(D0 + 2 * DAY + 5000, "", "anon-s", "page", "/");
    anon.anonymous_id = Some("visitor-1".into());
    track(&trail, vec![anon]);
    trail.tracking().identify("visitor-1", "ivy").unwrap();
    same(&trail, "identified");
    // Deletes and updates.
    let erased = trail
        .privacy()
        .erase(
            "bob",
            &EraseOptions {
                reason: "test".into(),
                ..EraseOptions::default()
            },
        )
        .now()
        .unwrap();
    assert!(erased.counts["events"] > 0);
    let after_erase = same(&trail, "erased");
    assert!(after_erase["users"].as_f64() < first["users"].as_f64().map(|u| u + 10.0));
    trail
        .privacy()
        .anonymize("cy", &AnonymizeOptions::default())
        .now()
        .unwrap();
    same(&trail, "anonymized");
    trail
        .privacy()
        .rectify(
            "dee",
            &RectifyOptions {
                user_id: "dora".into(),
                ..RectifyOptions::default()
            },
        )
        .now()
        .unwrap();
    same(&trail, "rectified");
    // More after the changes, then time passes.
    track(&trail, day(2, &["ann", "jo"]));
    same(&trail, "third day");
    clock.set(D0 + 40 * DAY);
    same(&trail, "later");
}

#[test]
fn a_rolled_back_batch_and_a_refused_event_leave_the_projection_right() {
    let (trail, _) = engine();
    track(&trail, day(0, &["ann", "bob"]));
    let before = same(&trail, "before");
    // An all-or-nothing batch with a bad event stores nothing.
    let mut batch = day(1, &["cy"]);
    batch.push(EventInput {
        name: String::new(),
        ..EventInput::default()
    });
    assert!(trail.tracking().track_batch(batch, false).is_err());
    assert_eq!(same(&trail, "after a refused batch"), before);
}
