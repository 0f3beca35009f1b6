//! The preference and consent rules on each place they can live (native):
//! the engine's own SQLite, a standalone Redis and a 3-master Redis
//! Cluster, written once (`store_suite!`). The same contracts run through
//! the wasm package in `tests/js/shared.test.mjs`.
#![cfg(not(target_family = "wasm"))]

use crate::common;

use std::sync::Arc;

use common::redis as r;
use common::shared::{sibling, Clustered, Deployment, Standalone};
use common::*;
use serde_json::json;
use usertrail::clock::ManualClock;
use usertrail::error::ErrorCode;
use usertrail::privacy::{EraseOptions, ExportFormat, GrantOptions, WithdrawOptions};
use usertrail::{block_on, OpenOptions, Storage, UserTrail};

/// Where preferences and consent live, as the suite sees it.
trait Place {
    /// Two engines on the same data (two processes where it is shared; the
    /// same engine twice on SQLite), on one manual clock at [`T0`].
    fn pair(options: fn() -> OpenOptions) -> (UserTrail, Option<UserTrail>, Arc<ManualClock>);
}

struct Sqlite;
impl Place for Sqlite {
    fn pair(options: fn() -> OpenOptions) -> (UserTrail, Option<UserTrail>, Arc<ManualClock>) {
        let (a, clock) = open_at(T0, options());
        (a, None, clock)
    }
}

struct OnRedis<D>(std::marker::PhantomData<D>);
impl<D: Deployment> Place for OnRedis<D> {
    fn pair(options: fn() -> OpenOptions) -> (UserTrail, Option<UserTrail>, Arc<ManualClock>) {
        let remote = r::remote(D::transport());
        let mut first = options();
        first.shared = Some(remote);
        let (a, clock) = open_at(T0, first);
        let b = sibling::<D>(&a, options().clock(clock.clone()));
        (a, Some(b), clock)
    }
}

fn plain() -> OpenOptions {
    OpenOptions::new(Storage::Memory)
}

fn gated() -> OpenOptions {
    let mut o = OpenOptions::new(Storage::Memory);
    o.privacy.require_consent = vec!["analytics".into()];
    o
}

fn grant(purposes: &[&str]) -> GrantOptions {
    GrantOptions {
        purposes: purposes.iter().map(|p| p.to_string()).collect(),
        source: "banner".into(),
        ..GrantOptions::default()
    }
}

macro_rules! store_suite {
    ($place:ty) => {
        #[test]
        fn preferences_are_set_read_reset_and_kept_in_history_everywhere() {
            let (a, b, _) = <$place>::pair(plain);
            let b = b.as_ref().unwrap_or(&a);
            block_on(async {
                assert_eq!(b.prefs().get("ann", "appearance.theme").await.unwrap().value, json!("system"));
                a.prefs().set("ann", "appearance.theme", &json!("dark"), "settings").await.unwrap();
                let v = b.prefs().get("ann", "appearance.theme").await.unwrap();
                assert_eq!((v.value, v.is_default, v.updated_at), (json!("dark"), false, Some(T0)));
                // One bad value and nothing of setMany is written.
                let bad = json!({ "appearance.theme": "light", "locale.language": 42 });
                assert_eq!(code(b.prefs().set_many("ann", bad.as_object().unwrap(), "api").await), "INVALID_INPUT");
                assert_eq!(a.prefs().get("ann", "appearance.theme").await.unwrap().value, json!("dark"));
                // Setting the same value again is not a change.
                a.prefs().set("ann", "appearance.theme", &json!("dark"), "settings").await.unwrap();
                assert_eq!(b.prefs().reset("ann", None, "api").await.unwrap(), 1);
                let history = a.prefs().history("ann").await.unwrap();
                let changes: Vec<_> = history.iter().map(|h| (h.old_value.clone(), h.new_value.clone())).collect();
                assert_eq!(changes, [(None, Some(json!("dark"))), (Some(json!("dark")), None)]);
                for bad in ["", "a\u{0}b", &"x".repeat(300)] {
                    assert_eq!(code(a.prefs().get_all(bad, None).await), "INVALID_INPUT");
                }
                // Preference changes are audited in the engine that made them.
                let audit = a.privacy().audit(&Default::default()).unwrap();
                assert!(audit.iter().any(|e| e.action == "prefs.set"));
            });
        }

        #[test]
        fn a_preference_needing_consent_waits_for_it() {
            let (a, b, _) = <$place>::pair(|| {
                let mut o = OpenOptions::new(Storage::Memory);
                o.privacy.require_consent = vec!["personalization".into()];
                o
            });
            let b = b.as_ref().unwrap_or(&a);
            block_on(async {
                for t in [&a, b] {
                    let def: usertrail::prefs::PrefDefinition = serde_json::from_value(json!({
                        "key": "feed.topics", "category": "feed", "type": "string", "default": "", "purpose": "personalization"
                    })).unwrap();
                    t.prefs().define(&def).unwrap();
                }
                assert_eq!(code(a.prefs().set("ann", "feed.topics", &json!("tea"), "api").await), "CONSENT_REQUIRED");
                b.privacy().grant("ann", &grant(&["personalization"])).await.unwrap();
                a.prefs().set("ann", "feed.topics", &json!("tea"), "api").await.unwrap();
            });
        }

        #[test]
        fn consent_decided_on_one_process_gates_the_other_and_its_ledger_verifies() {
            let (a, b, clock) = <$place>::pair(gated);
            let b = b.as_ref().unwrap_or(&a);
            let subject = a.shared().map(|_| "ann");
            block_on(async {
                let event = |name: &str| usertrail::tracking::EventInput {
                    name: name.into(),
                    user_id: Some("ann".into()),
                    ..Default::default()
                };
                assert_eq!(b.track(event("before")).await.unwrap().1, usertrail::tracking::TrackStatus::NoConsent);
                a.privacy().grant("ann", &grant(&["analytics", "marketing"])).await.unwrap();
                assert_eq!(b.track(event("after")).await.unwrap().1, usertrail::tracking::TrackStatus::Stored);
                clock.advance(MIN);
                let withdraw = WithdrawOptions { purposes: vec!["analytics".into()], source: "settings".into(), ..Default::default() };
                b.privacy().withdraw("ann", &withdraw).await.unwrap();
                assert_eq!(a.track(event("gone")).await.unwrap().1, usertrail::tracking::TrackStatus::NoConsent);
                b.privacy().apply_global_privacy_control("ann", None).await.unwrap();
                let status = a.privacy().status("ann").await.unwrap();
                assert!(status.do_not_sell && !status.purposes["analytics"].granted && status.purposes["marketing"].granted == false);
                let head = a.privacy().ledger_head(subject).await.unwrap();
                assert_eq!(head.seq, 3);
                assert!(b.privacy().verify_ledger(subject, Some(&head)).await.unwrap().ok);
                let ledger = a.privacy().ledger(Some("ann"), None, None).await.unwrap();
                let actions: Vec<&str> = ledger.iter().map(|e| e.action.as_str()).collect();
                assert_eq!(actions, ["grant", "withdraw", "gpc"]);
            });
        }

        #[test]
        fn export_and_erase_reach_every_place_the_subject_is_kept() {
            let (a, b, _) = <$place>::pair(plain);
            let b = b.as_ref().unwrap_or(&a);
            block_on(async {
                let s = a.sessions().create(common::session_suite::user("fay")).await.unwrap();
                a.prefs().set("fay", "appearance.theme", &json!("dark"), "api").await.unwrap();
                a.privacy().grant("fay", &grant(&["analytics"])).await.unwrap();
                let file = b.privacy().export("fay", ExportFormat::Json, None, &mut |_| {}).await.unwrap();
                let prefix = if a.shared().is_some() { "shared_" } else { "" };
                for table in ["sessions", "prefs", "consent_ledger"] {
                    assert_eq!(file.counts[&format!("{prefix}{table}")], 1, "{table}");
                }
                let secret = s.token.rsplit('.').next().unwrap();
                assert!(!String::from_utf8_lossy(&file.bytes).contains(secret));
                let options = EraseOptions { reason: "user request".into(), ..Default::default() };
                b.privacy().erase("fay", &options).await.unwrap();
                assert!(a.sessions().validate(&s.token, &common::session_suite::NONE).await.unwrap().is_none());
                assert!(a.prefs().get("fay", "appearance.theme").await.unwrap().is_default);
                assert!(!a.privacy().status("fay").await.unwrap().decided);
                let subject = a.shared().map(|_| "fay");
                assert!(a.privacy().verify_ledger(subject, None).await.unwrap().ok, "the ledger keeps its proof");
            });
        }

        #[test]
        fn erasing_a_user_linked_to_another_users_id_keeps_that_users_sessions() {
            // identify("alice", "bob") with "alice" also a user id: bob's
            // rights reach bob's sessions, not alice's (found by a review).
            let (a, b, _) = <$place>::pair(plain);
            let b = b.as_ref().unwrap_or(&a);
            block_on(async {
                let alice = a.sessions().create(common::session_suite::user("alice")).await.unwrap();
                let bob = a.sessions().create(common::session_suite::user("bob")).await.unwrap();
                b.identify("alice", "bob").await.unwrap();
                let file = b.privacy().export("bob", ExportFormat::Json, None, &mut |_| {}).await.unwrap();
                let prefix = if a.shared().is_some() { "shared_" } else { "" };
                assert_eq!(file.counts[&format!("{prefix}sessions")], 1, "bob's session only");
                let options = EraseOptions { reason: "user request".into(), ..Default::default() };
                b.privacy().erase("bob", &options).await.unwrap();
                let none = &common::session_suite::NONE;
                assert!(a.sessions().validate(&bob.token, none).await.unwrap().is_none());
                let kept = a.sessions().validate(&alice.token, none).await.unwrap();
                assert_eq!(kept.and_then(|s| s.user_id).as_deref(), Some("alice"), "alice stays logged in");
            });
        }

        #[test]
        fn identify_carries_preferences_and_consent_to_the_user() {
            let (a, b, _) = <$place>::pair(gated);
            let b = b.as_ref().unwrap_or(&a);
            block_on(async {
                a.privacy().grant("anon-1", &grant(&["analytics"])).await.unwrap();
                a.prefs().set("anon-1", "appearance.theme", &json!("dark"), "api").await.unwrap();
                b.identify("anon-1", "eve").await.unwrap();
                assert_eq!(a.prefs().get("eve", "appearance.theme").await.unwrap().value, json!("dark"));
                assert!(a.privacy().status("eve").await.unwrap().purposes["analytics"].granted);
            });
        }
    };
}

mod sqlite {
    use super::*;
    store_suite!(Sqlite);
}

mod standalone {
    use super::*;
    store_suite!(OnRedis<Standalone>);
}

mod cluster {
    use super::*;
    store_suite!(OnRedis<Clustered>);
}

#[test]
fn a_shared_ledger_names_its_subject_and_refuses_an_edited_entry() {
    let (a, _, _) = OnRedis::<Standalone>::pair(plain);
    block_on(async {
        a.privacy()
            .grant("gus", &grant(&["analytics"]))
            .await
            .unwrap();
        assert_eq!(
            code(a.privacy().verify_ledger(None, None).await),
            "INVALID_INPUT"
        );
        assert_eq!(
            code(a.privacy().ledger(None, None, None).await),
            "INVALID_INPUT"
        );
        // Edit the entry in Redis: the chain says so.
        let urls = Standalone::urls();
        let prefix = a.shared().unwrap().prefix().to_owned();
        let key = r::keys(&urls, &prefix)
            .into_iter()
            .find(|k| k.ends_with(":cl"))
            .unwrap();
        let mut c = r::node_for(&urls, &key);
        let entry: String = ::redis::cmd("LINDEX")
            .arg(&key)
            .arg(0)
            .query(&mut c)
            .unwrap();
        let edited = entry.replace("\"banner\"", "\"forged\"");
        let _: () = ::redis::cmd("LSET")
            .arg(&key)
            .arg(0)
            .arg(edited)
            .query(&mut c)
            .unwrap();
        let report = a.privacy().verify_ledger(Some("gus"), None).await.unwrap();
        assert!(
            !report.ok && report.problems[0].problem.contains("edited"),
            "{report:?}"
        );
        // A garbled decision is refused, not read as "no consent".
        let state = key.trim_end_matches('l').to_owned();
        let _: () = ::redis::cmd("HSET")
            .arg(&state)
            .arg("analytics")
            .arg("maybe")
            .query(&mut c)
            .unwrap();
        assert_eq!(
            a.privacy().status("gus").await.unwrap_err().code(),
            "STORAGE_ERROR"
        );
    });
}
