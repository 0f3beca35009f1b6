//! Rights of the data subject end to end: export completeness and erasure
//! by byte scan. Native and wasm.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::common;
#[allow(unused_imports)]
use common::Now;

use common::contains;
use common::dataset::*;
use common::people::*;
use serde_json::{json, Value};
use usertrail::privacy::{
    AnonymizeOptions, AuditFilter, EraseOptions, EraseReport, ExportFormat, GrantOptions,
};
use usertrail::session::CreateOptions;
use usertrail::{Storage, UserTrail};

#[test]
fn export_has_every_row_about_the_subject_and_nothing_else() {
    let (trail, _) = open_people(Storage::Memory);
    populate(&trail);
    let ids = "('ann', 'anon-of-ann')";
    let expected = [
        ("events", format!("SELECT count(*) FROM events WHERE user_id IN {ids} OR anonymous_id IN {ids}")),
        ("identities", "SELECT count(*) FROM identities WHERE user_id = 'ann'".into()),
        ("sessions", "SELECT count(*) FROM sessions WHERE user_id = 'ann'".into()),
        ("prefs", "SELECT count(*) FROM prefs WHERE subject = 'ann'".into()),
        ("pref_history", "SELECT count(*) FROM pref_history WHERE subject = 'ann'".into()),
        ("consents", "SELECT count(*) FROM consents WHERE subject = 'ann'".into()),
        ("consent_ledger", "SELECT count(*) FROM consent_ledger WHERE subject = 'ann'".into()),
        ("experiment_assignments", "SELECT count(*) FROM experiment_assignments WHERE user_id = 'ann'".into()),
        ("rollup_user_hours", "SELECT count(*) FROM rollup_user_hours WHERE user_key = 'ann'".into()),
        // One row per session, hour and rate of ann's events (bots' events
        // are not in the rollup).
        ("rollup_session_hours", format!(
            "SELECT count(*) FROM (SELECT DISTINCT ts / 3600000, session_id, sample_rate FROM events \
             WHERE session_id IS NOT NULL AND device IS NOT 'bot' AND (user_id IN {ids} OR anonymous_id IN {ids}))"
        )),
        ("outbox", "SELECT count(*) FROM outbox WHERE event ->> '$.userId' = 'ann' OR event ->> '$.anonymousId' = 'anon-of-ann'".into()),
        ("quarantine", "SELECT count(*) FROM quarantine WHERE event ->> '$.userId' = 'ann'".into()),
        ("audit_log", "SELECT count(*) FROM audit_log WHERE subject = 'ann'".into()),
    ];
    let direct: Vec<u64> = expected.iter().map(|(_, sql)| count(&trail, sql)).collect();
    let mut calls = 0;
    let p = trail.privacy();
    let export = p
        .export("ann", ExportFormat::Json, Some("support"), &mut |_| {
            calls += 1
        })
        .now()
        .unwrap();
    assert_eq!(calls, 13, "one progress call per table");
    for ((table, _), &n) in expected.iter().zip(&direct) {
        assert!(n > 0, "{table} has rows about ann");
        assert_eq!(export.counts[*table], n, "{table}");
    }
    assert_eq!(export.counts.len(), expected.len());
    let doc: Value = serde_json::from_slice(&export.bytes).unwrap();
    assert_eq!(doc["format"], "usertrail.export");
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["ids"], json!(["ann", "anon-of-ann"]));
    assert_eq!(
        doc["tables"]["events"].as_array().unwrap().len() as u64,
        export.counts["events"]
    );
    assert_eq!(
        doc["tables"]["events"][1]["properties"]["email"], EMAIL,
        "JSON columns stay JSON"
    );
    let text = String::from_utf8(export.bytes.clone()).unwrap();
    assert!(!text.contains("bob"), "nothing about other people");
    assert!(
        !text.contains("tokenHash") && !text.contains("fingerprint") && !text.contains("sealed")
    );
    assert!(
        !contains(&export.bytes, b"\"cart\""),
        "session state is not session metadata"
    );

    // The same rows in the other formats.
    let nd = p
        .export("ann", ExportFormat::Ndjson, None, &mut |_| {})
        .now()
        .unwrap();
    assert_eq!(
        nd.counts["audit_log"],
        export.counts["audit_log"] + 1,
        "the first export's entry"
    );
    let total: u64 = nd.counts.values().sum();
    let lines: Vec<Value> = nd
        .bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, 1 + total);
    assert_eq!(lines[0]["version"], 1);
    let csv = p
        .export("ann", ExportFormat::Csv, None, &mut |_| {})
        .now()
        .unwrap();
    assert!(csv.bytes.starts_with(b"PK\x03\x04") && csv.mime_type == "application/zip");
    for name in [
        "manifest.json",
        "events.csv",
        "consent_ledger.csv",
        "audit_log.csv",
    ] {
        assert!(contains(&csv.bytes, name.as_bytes()), "{name}");
    }
    let db = p
        .export("ann", ExportFormat::Sqlite, None, &mut |_| {})
        .now()
        .unwrap();
    assert!(db.bytes.starts_with(b"SQLite format 3\0"));
    assert!(db.file_name.ends_with(".sqlite"));
    assert_eq!(err_code(ExportFormat::parse("xml")), "UNSUPPORTED_FORMAT");

    // Each export is audited.
    let audited = p.audit(&AuditFilter {
        action: Some("export".into()),
        ..AuditFilter::default()
    });
    let audited = audited.unwrap();
    assert_eq!(audited.len(), 4);
    assert_eq!(audited[0].actor, "support");
    assert_eq!(audited[0].details["format"], "json");
}

/// Sessions other subjects share: a subject's export holds only the
/// session-rollup rows its own events are counted in, not the row of
/// another sample rate in the same session and hour, nor one it reaches
/// only through a bot's event (the rollup leaves bots out).
#[test]
fn export_holds_only_the_session_rollup_rows_the_subject_is_counted_in() {
    let sampling = vec![usertrail::tracking::SamplingRule {
        name: Some("buy".into()),
        event_type: None,
        rate: 0.5,
    }];
    let options = usertrail::OpenOptions::new(Storage::Memory).tracking(
        usertrail::tracking::TrackingConfig {
            sampling,
            ..usertrail::tracking::TrackingConfig::default()
        },
    );
    let (trail, _) = common::open_at(D0, options);
    let ev = |who: &str, name: &str, session: &str, bot: bool| {
        let mut e = event(Some(who), None, name, json!({}));
        e.session_id = Some(session.into());
        e.ts = Some(D0 + 1_000);
        if bot {
            e.user_agent = Some(
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)".into(),
            );
        }
        e
    };
    let mut batch = vec![ev("ann", "click", "shared-1", false)];
    batch.extend((0..40).map(|_| ev("bob", "buy", "shared-1", false)));
    batch.push(ev("ann", "click", "shared-2", true));
    batch.extend((0..3).map(|_| ev("carl", "click", "shared-2", false)));
    trail.tracking().track_batch(batch, false).unwrap();
    assert!(count(&trail, "SELECT count(*) FROM events WHERE user_id = 'bob'") > 0);
    assert_eq!(
        count(&trail, "SELECT count(*) FROM events WHERE device = 'bot'"),
        1
    );
    assert_eq!(
        count(&trail, "SELECT count(*) FROM rollup_session_hours"),
        3,
        "shared-1 at two rates, shared-2 at one"
    );
    let export = trail
        .privacy()
        .export("ann", ExportFormat::Ndjson, None, &mut |_| {})
        .now()
        .unwrap();
    assert_eq!(export.counts["rollup_session_hours"], 1);
    let rows: Vec<Value> = String::from_utf8(export.bytes)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|l| l["table"] == "rollupSessionHours")
        .map(|l| l["row"].clone())
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["sessionKey"], "shared-1");
    assert_eq!(rows[0]["rate"], 1.0);
    assert_eq!(rows[0]["events"], 1);
}

/// `identify("alice", "bob")` where "alice" is also another user's user
/// id (ids are free text: an app that uses a login name as a device id):
/// what bob's rights reach, and what they must leave of alice. Found by a
/// review: erasing bob erased alice's own events, sessions and links, and
/// bob's export showed them.
fn linked_id_that_is_another_user() -> UserTrail {
    let (trail, _) = open_people(Storage::Memory);
    let t = trail.tracking();
    // alice, a user, on her own device.
    t.track(event(
        Some("alice"),
        Some("dev-of-alice"),
        "click",
        json!({ "who": "alice" }),
    ))
    .unwrap();
    t.track(event(None, Some("dev-of-alice"), "landing", json!({})))
        .unwrap();
    t.identify("dev-of-alice", "alice").unwrap();
    // A device whose anonymous id is the text "alice", then linked to bob.
    t.track(event(
        None,
        Some("alice"),
        "landing",
        json!({ "who": "bob's device" }),
    ))
    .unwrap();
    t.track(event(
        Some("bob"),
        Some("dev-of-bob"),
        "click",
        json!({ "who": "bob" }),
    ))
    .unwrap();
    t.identify("alice", "bob").unwrap();
    // Walt logged in on that device too, and on one whose anonymous id is
    // the text "bob": his events carry those ids.
    for device in ["alice", "bob"] {
        t.track(event(
            Some("walt"),
            Some(device),
            "click",
            json!({ "who": "walt" }),
        ))
        .unwrap();
    }
    trail
        .sessions()
        .create(CreateOptions {
            user_id: Some("alice"),
            ..CreateOptions::default()
        })
        .now()
        .unwrap();
    // Alice's own consent (with her IP in the ledger), preference and
    // experiment assignment, under the same text.
    trail
        .privacy()
        .grant(
            "alice",
            &GrantOptions {
                purposes: vec!["analytics".into(), "personalization".into()],
                source: "banner".into(),
                ip: Some(IP.into()),
                ..GrantOptions::default()
            },
        )
        .now()
        .unwrap();
    trail
        .prefs()
        .set("alice", "appearance.theme", &json!("dark"), "settings")
        .now()
        .unwrap();
    let ex = trail.experiments();
    ex.define(
        &serde_json::from_value(
            json!({ "key": "buy_button", "variants": [{ "name": "blue", "weight": 1.0 }, { "name": "green", "weight": 1.0 }] }),
        )
        .unwrap(),
    )
    .unwrap();
    ex.assign("buy_button", "alice").unwrap();
    trail
}

/// Alice's rows in the tables keyed by one id: consents, ledger entries
/// that still name her (with her IP), preferences, assignments.
fn alices_own(trail: &UserTrail) -> [u64; 4] {
    [
        "SELECT count(*) FROM consents WHERE subject = 'alice'",
        "SELECT count(*) FROM consent_ledger WHERE subject = 'alice' AND ip_masked IS NOT NULL",
        "SELECT count(*) FROM prefs WHERE subject = 'alice'",
        "SELECT count(*) FROM experiment_assignments WHERE user_id = 'alice'",
    ]
    .map(|sql| count(trail, sql))
}

/// The summary from the engine's fastest source equals SQLite's.
fn summary_agrees(trail: &UserTrail) {
    let summary = |a: usertrail::analytics::Analytics<'_>| {
        serde_json::to_value(a.summary(&Default::default()).unwrap()).unwrap()
    };
    assert_eq!(
        summary(trail.analytics()),
        summary(trail.analytics_from_sqlite())
    );
}

#[test]
fn rights_over_a_user_linked_to_another_users_id_leave_that_user_whole() {
    let trail = linked_id_that_is_another_user();
    let alice =
        |trail: &UserTrail| count(trail, "SELECT count(*) FROM events WHERE user_id = 'alice'");
    assert_eq!(
        alice(&trail),
        3,
        "alice's click, her device's landing and her experiment exposure"
    );

    // Bob's export: his events and his device's, not alice's or walt's.
    let export = trail
        .privacy()
        .export("bob", ExportFormat::Json, None, &mut |_| {})
        .now()
        .unwrap();
    let doc: Value = serde_json::from_slice(&export.bytes).unwrap();
    let whose: Vec<&str> = doc["tables"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["properties"]["who"].as_str().unwrap())
        .collect();
    assert_eq!(whose, ["bob's device", "bob"]);
    assert_eq!(export.counts["sessions"], 0, "alice's session is hers");
    assert_eq!(export.counts["identities"], 1, "the link alice -> bob only");
    assert_eq!(
        export.counts["rollup_user_hours"], 1,
        "bob's row; alice's key counts alice"
    );
    for table in [
        "consents",
        "consent_ledger",
        "prefs",
        "pref_history",
        "experiment_assignments",
    ] {
        assert_eq!(export.counts[table], 0, "alice's {table} are hers");
    }
    let own = alices_own(&trail);
    assert_eq!(own, [2, 1, 1, 1]);

    erase_with(&trail, "bob", None);
    assert_eq!(
        alices_own(&trail),
        own,
        "alice's consents, ledger, prefs and assignment stay"
    );
    assert_eq!(alice(&trail), 3, "alice's events stay");
    assert_eq!(
        count(&trail, "SELECT count(*) FROM events WHERE user_id = 'bob'"),
        0
    );
    assert_eq!(
        count(
            &trail,
            "SELECT count(*) FROM sessions WHERE user_id = 'alice'"
        ),
        1,
        "alice stays logged in"
    );
    assert_eq!(
        count(
            &trail,
            "SELECT count(*) FROM identities WHERE user_id = 'alice'"
        ),
        1,
        "alice's own device link stays"
    );
    // Walt's events stay his, without the ids of bob's devices.
    assert_eq!(
        count(
            &trail,
            "SELECT count(*) FROM events WHERE user_id = 'walt' AND anonymous_id IS NULL"
        ),
        2
    );
    // The rollup counts what is left: alice's three events, walt's two.
    assert_eq!(
        count(
            &trail,
            "SELECT coalesce(sum(events), 0) FROM rollup_user_hours WHERE user_key = 'alice'"
        ),
        3
    );
    summary_agrees(&trail);
    let bytes = trail.export().unwrap();
    assert!(!contains(&bytes, b"dev-of-bob") && !contains(&bytes, b"bob's device"));
}

#[test]
fn anonymising_a_user_linked_to_another_users_id_leaves_that_user_named() {
    let trail = linked_id_that_is_another_user();
    let own = alices_own(&trail);
    trail
        .privacy()
        .anonymize("bob", &AnonymizeOptions::default())
        .now()
        .unwrap();
    assert_eq!(
        count(
            &trail,
            "SELECT count(*) FROM events WHERE user_id = 'alice'"
        ),
        3,
        "alice's events keep her name"
    );
    assert_eq!(
        count(
            &trail,
            "SELECT count(*) FROM events WHERE anonymous_id = 'alice'"
        ),
        0,
        "the device id is a pseudonym, walt's event included"
    );
    assert_eq!(
        count(
            &trail,
            "SELECT count(*) FROM events WHERE user_id = 'walt' AND anonymous_id NOT IN ('alice', 'bob') \
             AND ip_masked IS NOT NULL"
        ),
        2,
        "walt's events keep his user and his IP, with pseudonyms for bob's ids"
    );
    assert_eq!(
        count(
            &trail,
            "SELECT count(*) FROM identities WHERE user_id = 'alice'"
        ),
        1
    );
    for key in ["alice", "walt"] {
        assert_eq!(
            count(
                &trail,
                &format!("SELECT coalesce(sum(events), 0) FROM rollup_user_hours WHERE user_key = '{key}'")
            ),
            count(
                &trail,
                &format!("SELECT count(*) FROM events WHERE coalesce(user_id, anonymous_id) = '{key}'")
            ),
            "{key}'s rollup rows count its events"
        );
    }
    assert_eq!(
        alices_own(&trail),
        own,
        "alice's consents, ledger, prefs and assignment stay"
    );
    summary_agrees(&trail);
}

/// An ordinary device assigned to an experiment before login: the exposure
/// event `assign` records under the device's id does not make it a user's
/// id, so identify moves its preference and assignment, and the user's
/// erasure leaves nothing of it (found by a new user).
#[test]
fn a_device_assigned_before_login_is_still_only_a_device() {
    let (trail, _) = open_people(Storage::Memory);
    let ex = trail.experiments();
    ex.define(
        &serde_json::from_value(json!({
            "key": "btn", "variants": [{ "name": "a", "weight": 1.0 }, { "name": "b", "weight": 1.0 }]
        }))
        .unwrap(),
    )
    .unwrap();
    ex.assign("btn", "dev-of-carol").unwrap();
    trail
        .prefs()
        .set(
            "dev-of-carol",
            "appearance.theme",
            &json!("dark"),
            "settings",
        )
        .now()
        .unwrap();
    let t = trail.tracking();
    t.track(event(None, Some("dev-of-carol"), "landing", json!({})))
        .unwrap();
    t.identify("dev-of-carol", "carol").unwrap();
    let theme = trail
        .prefs()
        .get("carol", "appearance.theme")
        .now()
        .unwrap();
    assert_eq!(theme.value, json!("dark"), "the device's preference moved");
    assert_eq!(
        count(
            &trail,
            "SELECT count(*) FROM experiment_assignments WHERE user_id = 'carol'"
        ),
        1,
        "and its assignment"
    );
    erase_with(&trail, "carol", None);
    assert_eq!(count(&trail, "SELECT count(*) FROM events"), 0);
    let bytes = trail.export().unwrap();
    assert!(!contains(&bytes, b"dev-of-carol") && !contains(&bytes, b"carol"));
    summary_agrees(&trail);
}

/// The same device, anonymised with its user: its exposure (recorded under
/// the device's id as a user id) gets the pseudonym too.
#[test]
fn anonymising_renames_a_device_assigned_before_login() {
    let (trail, _) = open_people(Storage::Memory);
    trail
        .experiments()
        .define(
            &serde_json::from_value(json!({
                "key": "btn", "variants": [{ "name": "a", "weight": 1.0 }, { "name": "b", "weight": 1.0 }]
            }))
            .unwrap(),
        )
        .unwrap();
    trail.experiments().assign("btn", "dev-of-carol").unwrap();
    let t = trail.tracking();
    t.track(event(None, Some("dev-of-carol"), "landing", json!({})))
        .unwrap();
    t.identify("dev-of-carol", "carol").unwrap();
    let before = count(&trail, "SELECT count(*) FROM events");
    trail
        .privacy()
        .anonymize("carol", &AnonymizeOptions::default())
        .now()
        .unwrap();
    assert_eq!(count(&trail, "SELECT count(*) FROM events"), before);
    let bytes = trail.export().unwrap();
    assert!(!contains(&bytes, b"dev-of-carol") && !contains(&bytes, b"carol"));
    summary_agrees(&trail);
}

#[test]
fn withdrawing_for_a_user_linked_to_another_users_id_keeps_that_users_data() {
    let trail = linked_id_that_is_another_user();
    let own = alices_own(&trail);
    let withdraw = serde_json::from_value(json!({
        "purposes": ["analytics", "personalization"], "source": "settings", "erase": true
    }))
    .unwrap();
    trail.privacy().withdraw("bob", &withdraw).now().unwrap();
    assert_eq!(alices_own(&trail), own);
    assert_eq!(
        count(
            &trail,
            "SELECT count(*) FROM events WHERE user_id = 'alice'"
        ),
        3,
        "alice's events stay; bob's analytics data goes"
    );
    assert_eq!(
        count(&trail, "SELECT count(*) FROM events WHERE user_id = 'bob' OR (user_id IS NULL AND anonymous_id = 'alice')"),
        0
    );
    summary_agrees(&trail);
}

#[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
#[test]
fn sqlite_export_opens_on_its_own() {
    let (trail, _) = open_people(Storage::Memory);
    populate(&trail);
    let db = trail
        .privacy()
        .export("bob", ExportFormat::Sqlite, None, &mut |_| {})
        .now()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bob.sqlite");
    std::fs::write(&path, &db.bytes).unwrap();
    let conn = rusqlite::Connection::open(&path).unwrap();
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM events WHERE user_id = 'bob' OR anonymous_id = 'anon-of-bob'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(n as u64, db.counts["events"]);
    let subject: String = conn
        .query_row(
            "SELECT value FROM export_info WHERE key = 'subject'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(subject, "bob");
}

#[test]
fn erase_leaves_no_bytes_of_the_subject_and_keeps_everyone_else() {
    let (trail, _) = open_people(Storage::Memory);
    populate(&trail);
    let before = trail.export().unwrap();
    // The raw IP is stored nowhere, not even in the quarantine (which kept
    // it before issue 16): only its masked form.
    assert_eq!(personal_traces(&before), ["ann", "anon-of-ann", EMAIL]);
    assert!(!contains(&before, IP.as_bytes()) && !contains(&before, BOB_IP.as_bytes()));
    assert!(contains(&before, b"198.51.0.0"), "the masked IPs are there");
    let bob_events = count(&trail, "SELECT count(*) FROM events WHERE user_id = 'bob'");

    let report = trail
        .privacy()
        .erase(
            "ann",
            &EraseOptions {
                reason: "user request".into(),
                actor: Some("dpo".into()),
                vacuum: None,
                wait_ms: None,
            },
        )
        .now()
        .unwrap();
    assert_eq!(report.ids, 2);
    assert_eq!(report.counts["events"], 8);
    assert_eq!(report.counts["consent_ledger"], 1, "cleared, not deleted");

    let after = trail.export().unwrap();
    assert_eq!(personal_traces(&after), Vec::<&str>::new());
    assert!(
        contains(&after, b"198.51.0.0"),
        "bob's rows keep his masked IP"
    );
    assert_eq!(
        count(&trail, "SELECT count(*) FROM events WHERE user_id = 'bob'"),
        bob_events
    );
    assert!(contains(&after, b"bob@example.net"));
    assert_eq!(
        count(
            &trail,
            "SELECT count(*) FROM sessions WHERE user_id = 'bob'"
        ),
        1
    );

    // What remains: a tombstone and ledger rows under the salted hash.
    let p = trail.privacy();
    assert!(p.verify_ledger(None, None).now().unwrap().ok && p.verify_audit().unwrap().ok);
    let tomb = p.audit(&AuditFilter {
        action: Some("erase".into()),
        ..AuditFilter::default()
    });
    let tomb = tomb.unwrap();
    assert_eq!(tomb.len(), 1);
    assert_eq!(
        (tomb[0].subject.as_deref(), tomb[0].actor.as_str()),
        (None, "dpo")
    );
    assert_eq!(
        tomb[0].subject_hash.as_deref(),
        Some(report.subject_hash.as_str())
    );
    assert_eq!(
        count(
            &trail,
            &format!(
                "SELECT count(*) FROM consent_ledger WHERE subject IS NULL AND subject_hash = '{}'",
                report.subject_hash
            )
        ),
        1
    );
    // An export after erasure has nothing but the audit trail.
    let again = p
        .export("ann", ExportFormat::Json, None, &mut |_| {})
        .now()
        .unwrap();
    let rows: u64 = again
        .counts
        .iter()
        .filter(|(t, _)| *t != "audit_log" && *t != "consent_ledger")
        .map(|(_, n)| n)
        .sum();
    assert_eq!(rows, 0);
}

#[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
#[test]
fn erase_leaves_no_bytes_in_the_database_file_or_its_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trail.db");
    let (trail, _) = open_people(Storage::File(path.clone()));
    populate(&trail);
    erase_ann(&trail);
    for file in ["trail.db", "trail.db-wal", "trail.db-journal"] {
        let Ok(bytes) = std::fs::read(dir.path().join(file)) else {
            continue;
        };
        assert_eq!(personal_traces(&bytes), Vec::<&str>::new(), "{file}");
    }
    trail.close().unwrap();
}

#[test]
fn bad_requests_are_refused_and_change_nothing() {
    let (trail, _) = open_people(Storage::Memory);
    populate(&trail);
    let before = trail.export().unwrap();
    {
        let p = trail.privacy();
        let erase = |reason: &str| EraseOptions {
            reason: reason.into(),
            actor: None,
            vacuum: None,
            wait_ms: None,
        };
        assert_eq!(err_code(p.erase("", &erase("x")).now()), "INVALID_INPUT");
        assert_eq!(
            err_code(p.erase("ann", &erase("a\nreason")).now()),
            "INVALID_INPUT"
        );
        assert_eq!(
            err_code(p.erase("ann", &erase(&"x".repeat(1001))).now()),
            "INVALID_INPUT"
        );
        assert_eq!(
            err_code(p.erase(&"a".repeat(257), &erase("x")).now()),
            "INVALID_INPUT"
        );
        assert_eq!(
            err_code(p.erase("ann\0", &erase("x")).now()),
            "INVALID_INPUT"
        );
        assert_eq!(
            err_code(p.anonymize("", &AnonymizeOptions::default()).now()),
            "INVALID_INPUT"
        );
        assert_eq!(
            err_code(p.export("", ExportFormat::Json, None, &mut |_| {}).now()),
            "INVALID_INPUT"
        );
        assert_eq!(
            err_code(
                p.export("ann", ExportFormat::Json, Some(""), &mut |_| {})
                    .now()
            ),
            "INVALID_INPUT"
        );
        assert_eq!(
            err_code(p.audit(&AuditFilter {
                limit: Some(0),
                ..AuditFilter::default()
            })),
            "INVALID_INPUT"
        );
    }
    assert_eq!(trail.export().unwrap(), before);
    let erase = |reason: &str| EraseOptions {
        reason: reason.into(),
        actor: None,
        vacuum: None,
        wait_ms: None,
    };
    // SQL-looking subjects are only names: erasing one touches nobody.
    let report = trail
        .privacy()
        .erase("ann' OR '1'='1", &erase("test"))
        .now()
        .unwrap();
    assert!(
        report
            .counts
            .iter()
            .all(|(t, &n)| n == 0 || t == "audit_log"),
        "{report:?}"
    );
    assert!(count(&trail, "SELECT count(*) FROM events WHERE user_id = 'ann'") > 0);
}

#[test]
fn every_table_with_a_subject_column_is_covered_by_export_and_erasure() {
    let (trail, _) = open_people(Storage::Memory);
    let covered = trail
        .privacy()
        .export("nobody", ExportFormat::Json, None, &mut |_| {})
        .now()
        .unwrap()
        .counts;
    let conn = trail.store().conn();
    let mut stmt = conn
        .prepare(
            "SELECT DISTINCT m.name FROM sqlite_master m, pragma_table_info(m.name) p \
             WHERE m.type = 'table' AND p.name IN ('user_id', 'anonymous_id', 'subject', 'user_key', 'session_key')",
        )
        .unwrap();
    let tables: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(tables.len() >= 9, "{tables:?}");
    for t in tables {
        assert!(
            covered.contains_key(&t),
            "{t} holds subjects but privacy::subject::TABLES misses it"
        );
    }
}

/// Erases `subject` with `vacuum` (default options otherwise).
fn erase_with(trail: &UserTrail, subject: &str, vacuum: Option<bool>) -> EraseReport {
    trail
        .privacy()
        .erase(
            subject,
            &EraseOptions {
                reason: "user request".into(),
                actor: None,
                vacuum,
                wait_ms: None,
            },
        )
        .now()
        .unwrap()
}

/// Erases `ann` with the default options.
fn erase_ann(trail: &UserTrail) -> EraseReport {
    erase_with(trail, "ann", None)
}

/// After `populate` + `populate_at_scale` and erasing `ann`: no trace of
/// her in `bytes` (a file or an export), everyone else intact.
fn assert_erased_at_scale(trail: &UserTrail, what: &str, bytes: &[u8]) {
    assert_eq!(
        personal_traces_at_scale(bytes),
        Vec::<&str>::new(),
        "{what}"
    );
    assert!(!contains(bytes, b"ann-session-"), "{what}");
    assert_eq!(
        count(
            trail,
            "SELECT count(*) FROM events WHERE user_id LIKE 'other-%'"
        ),
        9000
    );
    let check: String = trail
        .store()
        .conn()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn erase_at_scale_leaves_no_bytes_in_multi_level_trees_without_a_rewrite() {
    let (mut trail, _) = open_people(Storage::Memory);
    populate(&trail);
    populate_at_scale(&trail);
    // Users whose ids sort just after ann's, in the hours she was active,
    // over 30 batches in a scattered order: their rows go between hers and
    // the next user's in the rollups and the indexes, so the pages holding
    // hers split, and SQLite leaves stale copies of the cells it moved in
    // the pages' unused space (the control below).
    for round in 0..30u64 {
        let neighbours = (0..100u64)
            .map(|j| {
                // Hours and users in a scattered order across the batches.
                let i = (j * 30 + (round * 7919) % 30) as i64;
                let who = format!("ano{}", (j * 13 + round) % 50);
                let mut e = event(Some(&who), None, "click", json!({ "i": i }));
                e.ts = Some(D0 - 4 * i * 60_000);
                e.session_id = Some(format!("{who}-session"));
                e
            })
            .collect();
        trail.tracking().track_batch(neighbours, false).unwrap();
    }
    let report = erase_ann(&trail);
    assert!(
        !report.vacuumed,
        "a database created scrubbed is not rewritten"
    );
    assert_eq!(report.counts["events"], 3008);
    // The control: SQLite's own pages hold stale bytes in their unused
    // space (secure_delete does not clear those); natively this workload
    // leaves copies of the subject's session ids among them (her rows in
    // the rollup of sessions, moved when her neighbours' rows split their
    // pages), which only the scrub removes (the wasm build's pages, laid
    // out a little differently, hold other stale rows here). Which stale
    // bytes a workload leaves follows the order rows were written in: a
    // control on her bare id held by the order of a hash map's buckets.
    let raw = trail
        .store_mut()
        .conn_mut()
        .serialize(rusqlite::MAIN_DB)
        .unwrap()
        .to_vec();
    let mut scrubbed = raw.clone();
    usertrail::store::scrub::image(&mut scrubbed);
    let stale = raw.iter().zip(&scrubbed).filter(|(a, b)| a != b).count();
    assert!(stale > 10_000, "{stale} stale bytes");
    if cfg!(not(target_family = "wasm")) {
        assert!(contains(&raw, b"ann-session-"));
    }
    assert!(!contains(&scrubbed, b"ann-session-"));
    assert_eq!(personal_traces(&scrubbed), Vec::<&str>::new());
    let bytes = trail.export().unwrap();
    assert!(
        bytes.len() > 2_000_000,
        "a database of {} bytes",
        bytes.len()
    );
    assert_erased_at_scale(&trail, "export", &bytes);
}

#[cfg(not(all(target_family = "wasm", target_os = "unknown")))]
#[test]
fn erase_at_scale_leaves_no_bytes_in_the_files_or_their_logs() {
    use usertrail::store::Durability;
    // WAL with either durability on an OS file, and the rollback journal a
    // host VFS uses with `full` (here the OS VFS by name), which under the
    // exclusive lock outlives its transaction unless erasure empties it.
    let media: [(&str, Durability); 3] = [
        ("file", Durability::Full),
        ("file", Durability::Normal),
        ("vfs", Durability::Full),
    ];
    for (medium, durability) in media {
        let what = format!("{medium} {durability:?}");
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trail.db");
        let storage = |path: &std::path::Path| match medium {
            "file" => Storage::File(path.to_owned()),
            _ => Storage::Vfs {
                name: path.to_str().unwrap().into(),
                vfs: "unix".into(),
            },
        };
        let mut options = people_options(storage(&path));
        options.store.durability = durability;
        let (trail, _) = common::open_at(D0, options);
        populate(&trail);
        populate_at_scale(&trail);
        let report = erase_ann(&trail);
        assert!(!report.vacuumed, "{what}");
        let db = std::fs::read(&path).unwrap();
        assert!(db.len() > 2_000_000, "{what}: {} bytes", db.len());
        for file in ["trail.db", "trail.db-wal", "trail.db-journal"] {
            let Ok(bytes) = std::fs::read(dir.path().join(file)) else {
                continue;
            };
            assert_erased_at_scale(&trail, &format!("{what} {file}"), &bytes);
        }
        trail.close().unwrap();
        // And the file reopens whole.
        let (again, _) = common::open_at(D0, people_options(storage(&path)));
        assert_erased_at_scale(&again, "reopened", &again.export().unwrap());
    }
}

#[test]
fn a_database_from_before_scrubbing_is_rewritten_once_by_erasure() {
    // A database as version 8 left it, with the two people in it.
    let (trail, _) = open_people(Storage::Memory);
    populate(&trail);
    let mut old = rusqlite::Connection::open_in_memory().unwrap();
    let bytes = trail.export().unwrap();
    let len = bytes.len();
    old.deserialize_read_exact(rusqlite::MAIN_DB, bytes.as_slice(), len, false)
        .unwrap();
    old.execute_batch(&common::before_day_rollups()).unwrap();
    old.execute_batch(
        "DELETE FROM meta WHERE key = 'pages_scrubbed'; \
         DROP INDEX consent_ledger_by_subject_hash; ALTER TABLE audit_log DROP COLUMN personal; \
         DROP TABLE rights_tombstones; DROP TABLE rights_aliases; \
         DROP TRIGGER event_blocks_after_delete; DROP TRIGGER event_blocks_after_update; \
         DROP TABLE event_blocks; DROP TRIGGER rollup_session_hours_after_delete; \
         DROP TRIGGER rollup_session_hours_after_update; DROP TABLE rollup_session_hours; \
         PRAGMA user_version = 8",
    )
    .unwrap();
    let image = old.serialize(rusqlite::MAIN_DB).unwrap().to_vec();
    let (upgraded, _) = open_people(Storage::Bytes(image));
    assert_eq!(
        common::pages_scrubbed(&upgraded),
        "0",
        "migration 9 marks older pages as not scrubbed"
    );
    assert!(erase_ann(&upgraded).vacuumed, "the first erasure rewrites");
    let second = erase_with(&upgraded, "bob", None);
    assert!(!second.vacuumed, "after one rewrite, deletion is enough");
    // `vacuum: true` still rewrites.
    let forced = erase_with(&upgraded, "nobody", Some(true));
    assert!(forced.vacuumed);
}
