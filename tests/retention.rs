//! Retention: defaults, dry runs, automatic runs by the clock, hash chains
//! that still verify after pruning, and rollups that stay exact. Native and
//! wasm.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::common;

use std::sync::Arc;

use common::dataset::*;
use common::Now;
use serde_json::{json, Map, Value};
use usertrail::clock::{Clock, ManualClock};
use usertrail::privacy::{GrantOptions, PrivacyConfig, RetentionPolicy};
use usertrail::session::CreateOptions;
use usertrail::{OpenOptions, Storage, UserTrail};

fn open_at(storage: Storage, clock: Arc<ManualClock>, interval_secs: u64) -> UserTrail {
    UserTrail::open(
        OpenOptions::new(storage)
            .clock(clock)
            .privacy(PrivacyConfig {
                retention_interval_secs: interval_secs,
                ..PrivacyConfig::default()
            }),
    )
    .unwrap()
}

fn count(trail: &UserTrail, sql: &str) -> u64 {
    trail
        .store()
        .conn()
        .query_row(sql, [], |r| r.get::<_, i64>(0))
        .unwrap() as u64
}

fn rollup(trail: &UserTrail) -> Vec<(i64, String, i64)> {
    let conn = trail.store().conn();
    let mut stmt = conn
        .prepare("SELECT hour, user_key, events FROM rollup_user_hours ORDER BY 1, 2")
        .unwrap();
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

fn changes(v: Value) -> Map<String, Value> {
    v.as_object().cloned().unwrap()
}

/// Events every 7 hours (at :30) for 500 days before `now`, for 3 users.
fn history(trail: &UserTrail, now: i64) {
    let mut batch = Vec::new();
    let mut ts = now - 500 * DAY + 30 * 60_000;
    let mut i = 0;
    while ts < now {
        batch.push(ev(ts, ["ann", "bob", "cy"][i % 3], "", "page", "/"));
        ts += 7 * HOUR;
        i += 1;
    }
    for chunk in batch.chunks(5000) {
        track(trail, chunk.to_vec());
    }
}

/// The summary of `[since, until)` from the rollups' day rows (written by
/// the first summary, read by the second) equals the one from their hour
/// rows; returns how many day rows there are.
fn days_agree(trail: &UserTrail, since: i64, until: i64) -> u64 {
    let q = range(since, until);
    let hours = trail.analytics_from_sqlite().from_hour_rollups();
    let expected = serde_json::to_value(hours.summary(&q).unwrap()).unwrap();
    for _ in 0..2 {
        let days = trail.analytics_from_sqlite().summary(&q).unwrap();
        assert_eq!(serde_json::to_value(days).unwrap(), expected);
    }
    count(trail, "SELECT count(*) FROM rollup_days")
}

#[test]
fn defaults_keep_13_months_and_dry_runs_count_what_runs_delete() {
    let clock = Arc::new(ManualClock::new(D0));
    let trail = open_at(Storage::Memory, clock.clone(), 86_400);
    assert_eq!(
        trail.privacy().retention().unwrap(),
        RetentionPolicy::default()
    );
    // Ingest runs retention when due; it ran at open, so old events stay for now.
    history(&trail, D0);
    let total = count(&trail, "SELECT count(*) FROM events");
    let dry = trail.privacy().run_retention(true, None).unwrap();
    assert!(dry.dry_run && dry.counts["events"] > 0);
    assert_eq!(
        total,
        count(&trail, "SELECT count(*) FROM events"),
        "a dry run deletes nothing"
    );
    // A row per day with events before today: the 500 days of history.
    assert_eq!(days_agree(&trail, D0 - 600 * DAY, D0), 500);
    let run = trail.privacy().run_retention(false, Some("ops")).unwrap();
    let kept = count(&trail, "SELECT count(*) FROM rollup_days");
    assert!(
        kept > 300 && kept < 500,
        "the rows of the days retention changed go: {kept}"
    );
    let again = days_agree(&trail, D0 - 600 * DAY, D0);
    assert!((kept..kept + 2).contains(&again), "{kept} then {again}");
    assert_eq!(
        run.counts, dry.counts,
        "the dry run counted exactly what the run deleted"
    );
    // 13 calendar months before 2023-11-14 is 2022-10-14.
    let cutoff = 1_665_705_600_000 + (D0 % DAY);
    assert_eq!(
        count(
            &trail,
            &format!("SELECT count(*) FROM events WHERE ts < {cutoff}")
        ),
        0
    );
    assert_eq!(
        count(&trail, "SELECT count(*) FROM events") + run.counts["events"],
        total
    );
    // The rollup matches a rebuild from what is left, partial hour included.
    let kept = rollup(&trail);
    usertrail::tracking::rollup::rebuild(trail.store().conn()).unwrap();
    assert_eq!(kept, rollup(&trail));
    let audit = trail
        .privacy()
        .audit(&usertrail::privacy::AuditFilter {
            action: Some("retention.run".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(audit.len(), 1, "dry runs are not audited");
    assert_eq!(audit[0].actor, "ops");
}

#[test]
fn retention_runs_at_open_and_then_once_per_interval_by_the_clock() {
    let clock = Arc::new(ManualClock::new(D0));
    let trail = open_at(Storage::Memory, clock.clone(), 3600);
    trail
        .privacy()
        .set_retention(&changes(json!({ "events": "1d" })), None)
        .unwrap();
    track(&trail, vec![ev(D0 - 2 * DAY, "ann", "", "page", "/old")]);
    assert_eq!(
        count(&trail, "SELECT count(*) FROM events"),
        1,
        "not due yet"
    );
    clock.advance(3_600_000);
    track(&trail, vec![ev(clock.now_ms(), "ann", "", "page", "/new")]);
    assert_eq!(
        count(&trail, "SELECT count(*) FROM events WHERE path = '/old'"),
        0,
        "due: ran"
    );

    // At open, whatever the interval.
    track(&trail, vec![ev(D0 - 3 * DAY, "bob", "", "page", "/old")]);
    let bytes = trail.export().unwrap();
    let reopened = open_at(Storage::Bytes(bytes), clock.clone(), 3600);
    assert_eq!(
        count(&reopened, "SELECT count(*) FROM events WHERE path = '/old'"),
        0
    );
    assert_eq!(
        reopened.privacy().retention().unwrap().events.as_deref(),
        Some("1d"),
        "the policy is stored in the database"
    );
}

#[test]
fn pruned_chains_still_verify_and_current_consent_keeps_its_proof() {
    let clock = Arc::new(ManualClock::new(D0));
    let trail = open_at(Storage::Memory, clock.clone(), 86_400);
    let p = trail.privacy();
    let grant = GrantOptions {
        purposes: vec!["analytics".into()],
        source: "banner".into(),
        ..GrantOptions::default()
    };
    p.grant("ann", &grant).now().unwrap();
    p.grant("bob", &grant).now().unwrap();
    clock.advance(40 * DAY);
    p.grant("bob", &grant).now().unwrap();
    p.set_retention(&changes(json!({ "audit": "30d", "consent": "30d" })), None)
        .unwrap();
    let run = p.run_retention(false, None).unwrap();
    // Ledger: ann's only grant still proves her consent; it and everything
    // after it stay, so only a prefix could go, and here nothing does.
    assert_eq!(run.counts["consent"], 0);
    // Audit: the first two grants are older than 30 days.
    assert_eq!(run.counts["audit"], 2);
    let report = p.verify_audit().unwrap();
    assert!(report.ok, "{report:?}");
    assert!(p.verify_ledger(None, None).now().unwrap().ok);
    // ann changes her mind: her old grant no longer proves anything current.
    p.withdraw(
        "ann",
        &usertrail::privacy::WithdrawOptions {
            purposes: vec!["analytics".into()],
            source: "settings".into(),
            ..Default::default()
        },
    )
    .now()
    .unwrap();
    clock.advance(DAY);
    let run = p.run_retention(false, None).unwrap();
    assert_eq!(
        run.counts["consent"], 2,
        "ann's first grant and bob's superseded one"
    );
    assert!(p.verify_ledger(None, None).now().unwrap().ok);
    assert!(p.status("bob").now().unwrap().purposes["analytics"].granted);
    assert!(!p.status("ann").now().unwrap().purposes["analytics"].granted);
}

#[test]
fn expired_sessions_go_at_once_and_quarantine_after_30_days() {
    let clock = Arc::new(ManualClock::new(D0));
    let trail = open_at(Storage::Memory, clock.clone(), 86_400);
    trail
        .sessions()
        .create(CreateOptions {
            user_id: Some("ann"),
            idle_timeout_secs: Some(60),
            ..CreateOptions::default()
        })
        .now()
        .unwrap();
    clock.advance(61_000);
    let run = trail.privacy().run_retention(false, None).unwrap();
    assert_eq!(run.counts["sessions"], 1);
    assert_eq!(run.counts["quarantine"], 0);
}

/// The sessions table has no index by expiry (schema 17): retention
/// deletes expired sessions by the engine's bounded walk, from wherever its
/// cursor starts, once around a small table; a dry run counts the same
/// sessions and deletes nothing; live sessions stay.
#[test]
fn retention_walks_the_sessions_from_anywhere_and_its_dry_run_counts_the_same() {
    let clock = Arc::new(ManualClock::new(D0));
    let trail = open_at(Storage::Memory, clock.clone(), 86_400);
    let s = trail.sessions();
    let mut live = Vec::new();
    for i in 0..40 {
        let name = format!("user{i}");
        let created = s
            .create(CreateOptions {
                user_id: (i % 2 == 0).then_some(name.as_str()),
                idle_timeout_secs: (i % 4 != 0).then_some(60),
                ..CreateOptions::default()
            })
            .now()
            .unwrap();
        if i % 4 == 0 {
            live.push(created.token);
        }
    }
    clock.advance(61_000);
    let p = trail.privacy();
    assert_eq!(p.run_retention(true, None).unwrap().counts["sessions"], 30);
    assert_eq!(p.run_retention(true, None).unwrap().counts["sessions"], 30);
    assert_eq!(p.run_retention(false, None).unwrap().counts["sessions"], 30);
    assert_eq!(p.run_retention(false, None).unwrap().counts["sessions"], 0);
    for token in &live {
        assert!(s
            .validate(token, &usertrail::session::ClientContext::default())
            .now()
            .unwrap()
            .is_some());
    }
}

#[test]
fn bad_retention_settings_are_refused_and_change_nothing() {
    let clock = Arc::new(ManualClock::new(D0));
    let trail = open_at(Storage::Memory, clock, 86_400);
    let p = trail.privacy();
    for bad in [
        json!({ "events": "13 months" }),
        json!({ "events": "-1d" }),
        json!({ "events": 30 }),
        json!({ "events": "200y" }),
        json!({ "cookies": "1d" }),
        json!({ "events": "1d", "audit": "soon" }),
    ] {
        assert_eq!(
            err_code(p.set_retention(&changes(bad.clone()), None)),
            "INVALID_INPUT",
            "{bad}"
        );
    }
    assert_eq!(p.retention().unwrap(), RetentionPolicy::default());
    let kept = p
        .set_retention(&changes(json!({ "events": null, "outbox": "7d" })), None)
        .unwrap();
    assert_eq!((kept.events, kept.outbox.as_deref()), (None, Some("7d")));
    assert_eq!(
        kept.audit.as_deref(),
        Some("3y"),
        "others stay as they were"
    );
    assert_eq!(
        PrivacyConfig {
            retention_interval_secs: 0,
            ..PrivacyConfig::default()
        }
        .validate()
        .map_err(|e| usertrail::error::ErrorCode::code(&e).to_owned()),
        Err("INVALID_INPUT".to_owned())
    );
}

#[test]
fn a_version_5_database_migrates_and_gets_retention_and_rights_at_open() {
    use usertrail::store::migrations::migrate_to;
    let mut conn = rusqlite::Connection::open_in_memory().unwrap();
    migrate_to(&mut conn, 5).unwrap();
    for (id, ts) in [(1, D0 - 500 * DAY), (2, D0 - DAY)] {
        conn.execute(
            "INSERT INTO events (event_id, ts, type, name, user_id, properties, sample_rate, received_at) \
             VALUES (?1, ?2, 'page', 'page_view', 'ann', '{}', 1.0, ?2)",
            (format!("00000000-0000-7000-8000-00000000000{id}"), ts),
        )
        .unwrap();
    }
    conn.execute_batch(
        "INSERT INTO rollup_user_hours (hour, user_key, events, weight, max_rate) \
         SELECT ts / 3600000, user_id, 1, 1.0, 1.0 FROM events",
    )
    .unwrap();
    let bytes = conn.serialize(rusqlite::MAIN_DB).unwrap().to_vec();
    let clock = Arc::new(ManualClock::new(D0));
    let trail = open_at(Storage::Bytes(bytes), clock, 86_400);
    assert_eq!(trail.schema_version(), usertrail::store::SCHEMA_VERSION);
    assert_eq!(
        count(&trail, "SELECT count(*) FROM events"),
        1,
        "13 months kept"
    );
    assert_eq!(count(&trail, "SELECT count(*) FROM rollup_user_hours"), 1);
    let p = trail.privacy();
    let runs = p
        .audit(&usertrail::privacy::AuditFilter {
            action: Some("retention.run".into()),
            ..Default::default()
        })
        .unwrap();
    assert_eq!((runs.len(), runs[0].actor.as_str()), (1, "system"));
    assert_eq!(runs[0].details["counts"]["events"], 1);
    assert!(p.verify_audit().unwrap().ok && p.verify_ledger(None, None).now().unwrap().ok);
    let export = p
        .export(
            "ann",
            usertrail::privacy::ExportFormat::Json,
            None,
            &mut |_| {},
        )
        .now()
        .unwrap();
    assert_eq!(export.counts["events"], 1);
}
