//! Consent: status and re-consent, the hash-chained ledger and audit log
//! with tamper detection, gating of events, preferences and experiments,
//! Global Privacy Control. Native and wasm.

#[cfg(all(target_family = "wasm", target_os = "unknown"))]
use wasm_bindgen_test::wasm_bindgen_test as test;

use crate::common;
#[allow(unused_imports)]
use common::Now;

use std::sync::Arc;

use common::dataset::*;
use serde_json::json;
use usertrail::clock::ManualClock;
use usertrail::experiments::{Experiment, Variant};
use usertrail::prefs::{PrefDefinition, PrefType};
use usertrail::privacy::{AuditFilter, GrantOptions, PrivacyConfig, WithdrawOptions};
use usertrail::tracking::{EventInput, EventType, TrackStatus};
use usertrail::{OpenOptions, Storage, UserTrail};

fn open_privacy(privacy: PrivacyConfig) -> (UserTrail, Arc<ManualClock>) {
    common::open_at(D0, OpenOptions::new(Storage::Memory).privacy(privacy))
}

fn gated(purposes: &[&str]) -> PrivacyConfig {
    PrivacyConfig {
        require_consent: purposes.iter().map(|p| p.to_string()).collect(),
        ..PrivacyConfig::default()
    }
}

fn grant(purposes: &[&str]) -> GrantOptions {
    GrantOptions {
        purposes: purposes.iter().map(|p| p.to_string()).collect(),
        source: "banner".into(),
        text: Some("We use analytics to improve the shop.".into()),
        ip: Some("203.0.113.77".into()),
        user_agent: Some("Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0".into()),
        ..GrantOptions::default()
    }
}

fn withdraw(purposes: &[&str], erase: bool) -> WithdrawOptions {
    WithdrawOptions {
        purposes: purposes.iter().map(|p| p.to_string()).collect(),
        source: "settings".into(),
        erase,
        ..WithdrawOptions::default()
    }
}

fn count(trail: &UserTrail, sql: &str) -> i64 {
    trail
        .store()
        .conn()
        .query_row(sql, [], |r| r.get(0))
        .unwrap()
}

#[test]
fn status_follows_grants_and_withdrawals_and_asks_again_after_a_policy_bump() {
    let (trail, clock) = open_privacy(PrivacyConfig::default());
    let p = trail.privacy();
    let before = p.status("ann").now().unwrap();
    assert!(!before.decided && !before.needs_reconsent && before.do_not_sell);
    assert!(before.purposes["necessary"].granted);
    assert!(!before.purposes["analytics"].granted);

    let s = p
        .grant("ann", &grant(&["analytics", "marketing"]))
        .now()
        .unwrap();
    assert!(s.decided && s.purposes["analytics"].granted && s.purposes["marketing"].granted);
    assert_eq!(s.purposes["analytics"].policy_version.as_deref(), Some("1"));
    clock.advance(1000);
    let usertrail::privacy::Withdrawal {
        status: s, erased, ..
    } = p
        .withdraw("ann", &withdraw(&["marketing"], false))
        .now()
        .unwrap();
    assert!(erased.is_empty());
    assert!(s.purposes["analytics"].granted && !s.purposes["marketing"].granted);
    assert_eq!(s.purposes["marketing"].source.as_deref(), Some("settings"));

    // The proof: text hash, masked IP, user agent; never the raw IP.
    let ledger = p.ledger(Some("ann"), None, None).now().unwrap();
    assert_eq!(ledger.len(), 2);
    assert_eq!(ledger[0].ip_masked.as_deref(), Some("203.0.0.0"));
    assert_eq!(ledger[0].text_hash.as_ref().map(String::len), Some(64));
    assert!(ledger[0].user_agent.as_deref().unwrap().contains("Firefox"));
    assert_eq!(ledger[1].action, "withdraw");

    // A newer policy: the earlier decisions need asking again.
    let bytes = trail.export().unwrap();
    let bumped = UserTrail::open(
        OpenOptions::new(Storage::Bytes(bytes))
            .clock(clock.clone())
            .privacy(PrivacyConfig {
                policy_version: "2".into(),
                ..PrivacyConfig::default()
            }),
    )
    .unwrap();
    let s = bumped.privacy().status("ann").now().unwrap();
    assert!(s.needs_reconsent && s.purposes["analytics"].needs_reconsent);
    assert!(
        s.purposes["analytics"].granted,
        "consent stays until withdrawn"
    );
    let s = bumped
        .privacy()
        .grant("ann", &grant(&["analytics", "marketing"]))
        .now()
        .unwrap();
    assert!(!s.needs_reconsent);
    assert_eq!(s.purposes["analytics"].policy_version.as_deref(), Some("2"));
}

#[test]
fn bad_consent_input_is_refused_and_writes_nothing() {
    let config = PrivacyConfig {
        purposes: vec!["newsletter".into()],
        ..PrivacyConfig::default()
    };
    let (trail, _) = open_privacy(config);
    let p = trail.privacy();
    assert_eq!(
        err_code(p.grant("ann", &grant(&["tracking"])).now()),
        "UNKNOWN_PURPOSE"
    );
    assert_eq!(
        err_code(p.grant("", &grant(&["analytics"])).now()),
        "INVALID_INPUT"
    );
    assert_eq!(
        err_code(p.grant(&"x".repeat(300), &grant(&["analytics"])).now()),
        "INVALID_INPUT"
    );
    assert_eq!(
        err_code(p.grant("a\nb", &grant(&["analytics"])).now()),
        "INVALID_INPUT"
    );
    assert_eq!(err_code(p.grant("ann", &grant(&[])).now()), "INVALID_INPUT");
    let mut bad_ip = grant(&["analytics"]);
    bad_ip.ip = Some("not an ip".into());
    assert_eq!(err_code(p.grant("ann", &bad_ip).now()), "INVALID_INPUT");
    let mut bad_version = grant(&["analytics"]);
    bad_version.policy_version = Some("two words".into());
    assert_eq!(
        err_code(p.grant("ann", &bad_version).now()),
        "INVALID_INPUT"
    );
    let mut no_source = grant(&["analytics"]);
    no_source.source = String::new();
    assert_eq!(err_code(p.grant("ann", &no_source).now()), "INVALID_INPUT");
    assert_eq!(
        err_code(p.withdraw("ann", &withdraw(&["necessary"], false)).now()),
        "INVALID_INPUT"
    );
    assert_eq!(count(&trail, "SELECT count(*) FROM consent_ledger"), 0);
    assert_eq!(count(&trail, "SELECT count(*) FROM audit_log"), 0);
    // A custom purpose, and SQL-looking text taken literally.
    let odd = "ann'); DROP TABLE events; --";
    p.grant(odd, &grant(&["newsletter"])).now().unwrap();
    assert!(p.status(odd).now().unwrap().purposes["newsletter"].granted);
    assert!(!p.status("ann").now().unwrap().purposes["newsletter"].granted);
    assert_eq!(count(&trail, "SELECT count(*) FROM events"), 0);
}

#[test]
fn ledger_and_audit_find_edited_and_removed_rows() {
    let (trail, clock) = open_privacy(PrivacyConfig::default());
    let p = trail.privacy();
    for (i, who) in ["ann", "bob", "cy", "dee"].iter().enumerate() {
        clock.advance(1000 * i as i64);
        p.grant(who, &grant(&["analytics"])).now().unwrap();
    }
    assert!(p.verify_ledger(None, None).now().unwrap().ok);
    let audit = p.verify_audit().unwrap();
    assert!(audit.ok && audit.checked == 4, "{audit:?}");
    let conn = trail.store().conn();

    // Edit one field of row 2: the ledger names it.
    conn.execute(
        "UPDATE consent_ledger SET purposes = '[\"marketing\"]' WHERE seq = 2",
        [],
    )
    .unwrap();
    let r = p.verify_ledger(None, None).now().unwrap();
    assert!(!r.ok);
    assert_eq!(r.problems[0].seq, 2, "{r:?}");
    assert!(r.problems[0].problem.contains("edited"));
    conn.execute(
        "UPDATE consent_ledger SET purposes = '[\"analytics\"]' WHERE seq = 2",
        [],
    )
    .unwrap();
    assert!(p.verify_ledger(None, None).now().unwrap().ok);

    // Proof details are covered too.
    conn.execute(
        "UPDATE consent_ledger SET ip_masked = '198.51.0.0' WHERE seq = 3",
        [],
    )
    .unwrap();
    let r = p.verify_ledger(None, None).now().unwrap();
    assert_eq!((r.ok, r.problems[0].seq), (false, 3));

    // Remove a middle row and the last row.
    conn.execute("DELETE FROM consent_ledger WHERE seq IN (2, 4)", [])
        .unwrap();
    let r = p.verify_ledger(None, None).now().unwrap();
    let seqs: Vec<i64> = r.problems.iter().map(|x| x.seq).collect();
    assert!(seqs.contains(&3) && seqs.contains(&4), "{r:?}");

    // The audit log likewise.
    conn.execute(
        "UPDATE audit_log SET actor = 'someone else' WHERE seq = 1",
        [],
    )
    .unwrap();
    let r = p.verify_audit().unwrap();
    assert_eq!((r.ok, r.problems[0].seq), (false, 1));
    conn.execute("DELETE FROM audit_log WHERE seq = 4", [])
        .unwrap();
    let r = p.verify_audit().unwrap();
    assert!(r.problems.iter().any(|x| x.seq == 4), "{r:?}");
}

fn page(user: Option<&str>, anon: Option<&str>) -> EventInput {
    EventInput {
        event_type: Some(EventType::Page),
        name: "page_view".into(),
        path: Some("/".into()),
        user_id: user.map(Into::into),
        anonymous_id: anon.map(Into::into),
        ..EventInput::default()
    }
}

#[test]
fn events_need_analytics_consent_when_the_engine_requires_it() {
    let (trail, _) = open_privacy(gated(&["analytics"]));
    let t = trail.tracking();
    let p = trail.privacy();
    assert_eq!(
        t.track(page(None, Some("a-1"))).unwrap().1,
        TrackStatus::NoConsent
    );
    assert_eq!(t.track(page(None, None)).unwrap().1, TrackStatus::NoConsent);
    // Every event of a subject without consent is gated, whatever its type:
    // a page view sent as a `session` event is not let through.
    let mut disguised = page(Some("ann"), None);
    disguised.event_type = Some(EventType::Session);
    assert_eq!(t.track(disguised).unwrap().1, TrackStatus::NoConsent);

    p.grant("a-1", &grant(&["analytics"])).now().unwrap();
    assert_eq!(
        t.track(page(None, Some("a-1"))).unwrap().1,
        TrackStatus::Stored
    );
    // Consent given anonymously carries over to the user it is linked to.
    t.identify("a-1", "ann").unwrap();
    assert_eq!(
        t.track(page(Some("ann"), None)).unwrap().1,
        TrackStatus::Stored
    );
    p.withdraw("ann", &withdraw(&["analytics"], false))
        .now()
        .unwrap();
    let batch = t
        .track_batch(
            vec![page(Some("ann"), None), page(None, Some("a-1"))],
            false,
        )
        .unwrap();
    assert!(batch
        .iter()
        .all(|r| matches!(r.outcome, Ok(TrackStatus::NoConsent))));
    // Two stored (after the grant); five dropped, the disguised one among them.
    assert_eq!(count(&trail, "SELECT count(*) FROM events"), 2);
    assert_eq!(p.dropped_without_consent().unwrap(), 5);

    // Without gating (the default), everything is stored.
    let (open, _) = open_privacy(PrivacyConfig::default());
    assert_eq!(
        open.tracking().track(page(None, None)).unwrap().1,
        TrackStatus::Stored
    );
}

#[test]
fn withdrawing_with_erase_deletes_what_the_purpose_collected() {
    let (trail, _) = open_privacy(PrivacyConfig::default());
    let p = trail.privacy();
    let t = trail.tracking();
    p.grant("ann", &grant(&["analytics", "personalization"]))
        .now()
        .unwrap();
    for _ in 0..3 {
        t.track(page(Some("ann"), None)).unwrap();
    }
    t.track(page(Some("bob"), None)).unwrap();
    let counts = p
        .withdraw("ann", &withdraw(&["analytics"], true))
        .now()
        .unwrap()
        .erased;
    assert_eq!(counts["events"], 3);
    assert_eq!(counts["rollup_user_hours"], 1);
    assert_eq!(
        count(&trail, "SELECT count(*) FROM events WHERE user_id = 'bob'"),
        1
    );
    assert_eq!(count(&trail, "SELECT count(*) FROM events"), 1);
    assert_eq!(count(&trail, "SELECT count(*) FROM rollup_user_hours"), 1);
    let erased = p.audit(&AuditFilter {
        action: Some("consent.erase".into()),
        ..AuditFilter::default()
    });
    assert_eq!(erased.unwrap()[0].details["counts"]["events"], 3);
}

#[test]
fn personalization_gates_preferences_and_experiments() {
    let (trail, _) = open_privacy(gated(&["personalization"]));
    let prefs = trail.prefs();
    let def = PrefDefinition {
        key: "shop.recommendations".into(),
        category: "personalization".into(),
        pref_type: PrefType::Bool,
        default: json!(false),
        values: None,
        min: None,
        max: None,
        max_length: None,
        max_bytes: None,
        format: None,
        description: None,
        purpose: Some("personalization".into()),
    };
    prefs.define(&def).unwrap();
    let mut unknown = def.clone();
    unknown.purpose = Some("tracking".into());
    assert_eq!(err_code(prefs.define(&unknown)), "UNKNOWN_PURPOSE");
    assert_eq!(
        err_code(
            prefs
                .set("ann", "shop.recommendations", &json!(true), "settings")
                .now()
        ),
        "CONSENT_REQUIRED"
    );
    assert_eq!(count(&trail, "SELECT count(*) FROM prefs"), 0);
    // Preferences without a purpose are not gated.
    prefs
        .set("ann", "appearance.theme", &json!("dark"), "settings")
        .now()
        .unwrap();

    let ex = trail.experiments();
    ex.define(&Experiment {
        key: "buy_button".into(),
        variants: vec![
            Variant {
                name: "blue".into(),
                weight: 0.0001,
            },
            Variant {
                name: "green".into(),
                weight: 1.0,
            },
        ],
    })
    .unwrap();
    assert_eq!(ex.assign("buy_button", "ann").unwrap(), "blue");
    assert_eq!(
        count(&trail, "SELECT count(*) FROM experiment_assignments"),
        0
    );
    assert_eq!(count(&trail, "SELECT count(*) FROM events"), 0);

    let p = trail.privacy();
    p.grant("ann", &grant(&["personalization"])).now().unwrap();
    prefs
        .set("ann", "shop.recommendations", &json!(true), "settings")
        .now()
        .unwrap();
    assert_eq!(ex.assign("buy_button", "ann").unwrap(), "green");
    let counts = p
        .withdraw("ann", &withdraw(&["personalization"], true))
        .now()
        .unwrap()
        .erased;
    assert_eq!(counts["experiment_assignments"], 1);
    assert_eq!(counts["prefs"], 1);
    assert_eq!(
        count(
            &trail,
            "SELECT count(*) FROM prefs WHERE key = 'appearance.theme'"
        ),
        1
    );
}

#[test]
fn global_privacy_control_opts_out_of_sale_and_marketing() {
    let (trail, _) = open_privacy(PrivacyConfig::default());
    let p = trail.privacy();
    p.grant("ann", &grant(&["sale_share", "marketing", "analytics"]))
        .now()
        .unwrap();
    assert!(!p.status("ann").now().unwrap().do_not_sell);
    let s = p.apply_global_privacy_control("ann", None).now().unwrap();
    assert!(s.do_not_sell);
    assert!(!s.purposes["marketing"].granted && s.purposes["analytics"].granted);
    let ledger = p.ledger(Some("ann"), None, None).now().unwrap();
    assert_eq!(ledger.last().unwrap().action, "gpc");
    assert_eq!(ledger.last().unwrap().source, "gpc");
    let audit = p.audit(&AuditFilter {
        subject: Some("ann".into()),
        ..AuditFilter::default()
    });
    let actions: Vec<String> = audit.unwrap().into_iter().map(|e| e.action).collect();
    assert_eq!(actions, ["consent.grant", "consent.gpc"]);
    assert!(p.verify_ledger(None, None).now().unwrap().ok && p.verify_audit().unwrap().ok);
}
