//! Anonymisation keeping aggregates, rectification, and the audit of
//! session destruction. Native and wasm.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::common;

use common::dataset::*;
use common::people::*;
use common::Now;
use serde_json::{json, Value};
use usertrail::analytics::{Interval, TopPagesOptions};
use usertrail::privacy::{
    AnonymizeOptions, AuditFilter, EraseOptions, ExportFormat, RectifyOptions,
};
use usertrail::Storage;

#[test]
fn anonymize_keeps_aggregates_and_unlinks_the_person() {
    let (trail, clock) = open_people(Storage::Memory);
    populate(&trail);
    for i in 0..20 {
        let who = ["ann", "bob", "cy"][i % 3];
        let mut e = ev(
            D0 + i as i64 * HOUR,
            who,
            &format!("s{}", i / 4),
            "page",
            &format!("/p{}", i % 4),
        );
        e.anonymous_id = (i % 2 == 0).then(|| format!("anon-of-{who}"));
        track(&trail, vec![e]);
    }
    clock.set(D0 + 2 * DAY);
    let q = range(D0 - DAY, D0 + 2 * DAY);
    let a = trail.analytics();
    let snapshot = |a: &usertrail::analytics::Analytics<'_>| {
        json!([
            serde_json::to_value(a.summary(&q).unwrap()).unwrap(),
            serde_json::to_value(a.active_users(&q, Interval::Day).unwrap()).unwrap(),
            serde_json::to_value(a.top_pages(&q, &TopPagesOptions::default()).unwrap()).unwrap(),
        ])
    };
    let before = snapshot(&a);
    let report = trail
        .privacy()
        .anonymize("ann", &AnonymizeOptions::default())
        .now()
        .unwrap();
    assert_eq!(report.ids, 2);
    assert_eq!(
        snapshot(&trail.analytics()),
        before,
        "aggregates are unchanged"
    );
    let bytes = trail.export().unwrap();
    assert_eq!(personal_traces(&bytes), Vec::<&str>::new());
    // The signup's personal property is gone, its other properties stay.
    let plan: String = trail
        .store()
        .conn()
        .query_row(
            "SELECT properties FROM events WHERE name = 'signup' AND user_id LIKE 'anon-%'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&plan).unwrap(),
        json!({ "plan": "pro" })
    );
    assert_eq!(
        count(&trail, "SELECT count(*) FROM events WHERE user_id LIKE 'anon-%' AND (ip_masked IS NOT NULL OR user_agent IS NOT NULL)"),
        0
    );
    assert!(trail.privacy().verify_ledger(None, None).now().unwrap().ok);
}

#[test]
fn rectify_renames_everywhere_and_the_trail_follows() {
    let (trail, _) = open_people(Storage::Memory);
    populate(&trail);
    let events = count(&trail, "SELECT count(*) FROM events WHERE user_id = 'ann'");
    let p = trail.privacy();
    let counts = p
        .rectify(
            "ann",
            &RectifyOptions {
                user_id: "ann-marie".into(),
                reason: Some("typo".into()),
                actor: None,
                wait_ms: None,
            },
        )
        .now()
        .unwrap()
        .counts;
    assert_eq!(counts["events"], events);
    assert_eq!(
        count(&trail, "SELECT count(*) FROM events WHERE user_id = 'ann'"),
        0
    );
    assert_eq!(
        count(
            &trail,
            "SELECT count(*) FROM events WHERE user_id = 'ann-marie'"
        ),
        events
    );
    // The old name's sessions end: a token names its user's slot.
    assert_eq!(
        count(
            &trail,
            "SELECT count(*) FROM sessions WHERE user_id IN ('ann', 'ann-marie')"
        ),
        0
    );
    assert!(counts["sessions"] > 0);
    for sql in [
        "SELECT count(*) FROM prefs WHERE subject = 'ann-marie'",
        "SELECT count(*) FROM identities WHERE user_id = 'ann-marie'",
        "SELECT count(*) FROM experiment_assignments WHERE user_id = 'ann-marie'",
        "SELECT count(*) FROM rollup_user_hours WHERE user_key = 'ann-marie'",
        "SELECT count(*) FROM quarantine WHERE event ->> '$.userId' = 'ann-marie'",
    ] {
        assert!(count(&trail, sql) > 0, "{sql}");
    }
    assert!(p.status("ann-marie").now().unwrap().purposes["analytics"].granted);
    // The ledger keeps what was recorded, and the new name finds it.
    let export = p
        .export("ann-marie", ExportFormat::Json, None, &mut |_| {})
        .now()
        .unwrap();
    assert_eq!(export.counts["consent_ledger"], 1);
    assert!(export.counts["audit_log"] >= 2);
    assert_eq!(
        err_code(
            p.rectify(
                "bob",
                &RectifyOptions {
                    user_id: "bob".into(),
                    ..RectifyOptions::default()
                }
            )
            .now()
        ),
        "INVALID_INPUT"
    );
    assert_eq!(
        err_code(
            p.rectify(
                "bob",
                &RectifyOptions {
                    user_id: "".into(),
                    ..RectifyOptions::default()
                }
            )
            .now()
        ),
        "INVALID_INPUT"
    );
    // Erasing the new name clears the ledger row recorded under the old one.
    p.erase(
        "ann-marie",
        &EraseOptions {
            reason: "request".into(),
            actor: None,
            vacuum: None,
            wait_ms: None,
        },
    )
    .now()
    .unwrap();
    assert_eq!(
        count(
            &trail,
            "SELECT count(*) FROM consent_ledger WHERE subject = 'ann'"
        ),
        0
    );
    assert!(p.verify_ledger(None, None).now().unwrap().ok && p.verify_audit().unwrap().ok);
}

#[test]
fn ending_every_session_of_a_user_is_audited() {
    let (trail, _) = open_people(Storage::Memory);
    populate(&trail);
    assert_eq!(
        trail
            .sessions()
            .destroy_all_for_user("bob", None)
            .now()
            .unwrap(),
        1
    );
    let entries = trail
        .privacy()
        .audit(&AuditFilter {
            subject: Some("bob".into()),
            action: Some("sessions.destroy_all".into()),
            ..AuditFilter::default()
        })
        .unwrap();
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0].details["sessions"], 1);
}
