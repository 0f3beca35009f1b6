//! Data-subject rights across a deployment (native): several engines, each
//! with its own file, on one shared store, each following the rights log on
//! its own thread as a process would. The suite is written once and runs
//! on SQLite (one engine: the deployment is one process), a standalone
//! Redis and a 3-master Redis Cluster. Each test is a finding of issue 25
//! that must not come back. The same runs with real processes through the
//! package in `tests/js/rights.test.mjs`.
#![cfg(not(target_family = "wasm"))]

use crate::common;

use std::path::PathBuf;
use std::sync::Arc;

use common::procs::Proc;
use common::redis as r;
use common::shared::{Clustered, Deployment, Standalone};
use common::*;
use serde_json::json;
use usertrail::clock::ManualClock;
use usertrail::privacy::{
    AnonymizeOptions, EraseOptions, ExportFormat, GrantOptions, RectifyOptions, WithdrawOptions,
};
use usertrail::session::{ClientContext, CreateOptions};
use usertrail::store::remote::Remote;
use usertrail::tracking::{EventInput, OutboxConfig, TrackStatus};
use usertrail::{block_on, OpenOptions, Storage, UserTrail};

/// A deployment: its engines, their clock, the shared store's prefix and
/// servers (none on SQLite), and the folder of their files.
struct Deploy {
    procs: Vec<Proc>,
    clock: Arc<ManualClock>,
    prefix: Option<String>,
    urls: Vec<String>,
    dir: tempfile::TempDir,
}

impl Deploy {
    /// Engine `i` (on SQLite, always the one engine).
    fn at(&self, i: usize) -> &Proc {
        &self.procs[i % self.procs.len()]
    }

    /// Every byte of every engine's files (database, WAL, journal).
    fn files(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in std::fs::read_dir(self.dir.path()).unwrap().flatten() {
            out.extend(std::fs::read(f.path()).unwrap_or_default());
        }
        out
    }

    /// Every key and value under the deployment's prefix.
    fn redis(&self) -> Vec<u8> {
        match &self.prefix {
            Some(p) => r::dump(&self.urls, p),
            None => Vec::new(),
        }
    }

    /// Which of `needles` are in the files or the shared store.
    fn traces(&self, needles: &[&str]) -> Vec<String> {
        let (files, redis) = (self.files(), self.redis());
        let mut found = Vec::new();
        for n in needles {
            if contains(&files, n.as_bytes()) {
                found.push(format!("{n} in a file"));
            }
            if contains(&redis, n.as_bytes()) {
                found.push(format!("{n} in Redis"));
            }
        }
        found
    }
}

/// Where the deployment keeps what it shares.
trait Place {
    /// `n` engines opened with `options()`, each on its own file.
    fn deploy(n: usize, options: fn() -> OpenOptions) -> Deploy;
}

fn open_file(
    dir: PathBuf,
    name: &str,
    mut options: OpenOptions,
    clock: Arc<ManualClock>,
) -> UserTrail {
    options.storage = Storage::File(dir.join(name));
    UserTrail::open(options.clock(clock)).unwrap()
}

struct Sqlite;
impl Place for Sqlite {
    fn deploy(_: usize, options: fn() -> OpenOptions) -> Deploy {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let (path, c) = (dir.path().to_path_buf(), clock.clone());
        let procs = vec![Proc::spawn(
            move || open_file(path, "a.db", options(), c),
            true,
        )];
        Deploy {
            procs,
            clock,
            prefix: None,
            urls: Vec::new(),
            dir,
        }
    }
}

struct OnRedis<D>(std::marker::PhantomData<D>);
impl<D: Deployment> Place for OnRedis<D> {
    fn deploy(n: usize, options: fn() -> OpenOptions) -> Deploy {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(T0));
        let prefix = r::unique_prefix();
        let procs = (0..n)
            .map(|i| {
                let (path, c, p) = (dir.path().to_path_buf(), clock.clone(), prefix.clone());
                Proc::spawn(
                    move || {
                        let remote = Remote::new(D::transport(), &p).unwrap();
                        open_file(path, &format!("{i}.db"), options().shared(remote), c)
                    },
                    true,
                )
            })
            .collect();
        Deploy {
            procs,
            clock,
            prefix: Some(prefix),
            urls: D::urls(),
            dir,
        }
    }
}

fn plain() -> OpenOptions {
    OpenOptions::new(Storage::Memory)
}

fn gated() -> OpenOptions {
    let mut o = OpenOptions::new(Storage::Memory);
    o.privacy.require_consent = vec!["analytics".into()];
    o.tracking.outbox = Some(OutboxConfig {
        third_party: true,
        ..OutboxConfig::default()
    });
    o
}

fn grant(purposes: &[&str]) -> GrantOptions {
    GrantOptions {
        purposes: purposes.iter().map(|p| p.to_string()).collect(),
        source: "banner".into(),
        ip: Some("198.51.100.23".into()),
        user_agent: Some(session_suite::CHROME.into()),
        ..GrantOptions::default()
    }
}

fn erase_options() -> EraseOptions {
    EraseOptions {
        reason: "user request".into(),
        wait_ms: Some(10_000),
        ..EraseOptions::default()
    }
}

/// An event of `user` (or `anon`) with an IP, a user agent and a marker.
fn event(user: Option<&str>, anon: Option<&str>, marker: &str) -> EventInput {
    EventInput {
        name: "page_view".into(),
        user_id: user.map(str::to_owned),
        anonymous_id: anon.map(str::to_owned),
        ip: Some("203.0.113.77".into()),
        user_agent: Some(session_suite::FIREFOX.into()),
        properties: json!({ "note": marker }).as_object().cloned(),
        ..EventInput::default()
    }
}

fn track(t: &UserTrail, e: EventInput) -> TrackStatus {
    block_on(t.track(e)).unwrap().1
}

fn events_of(t: &UserTrail, id: &str) -> i64 {
    t.store()
        .conn()
        .query_row(
            "SELECT count(*) FROM events WHERE user_id = ?1 OR anonymous_id = ?1",
            [id],
            |r| r.get(0),
        )
        .unwrap()
}

macro_rules! rights_suite {
    ($place:ty) => {
        /// Findings 1 and 9: events on several engines, a link made on one;
        /// export on another sees everything, erasure on a third removes it
        /// everywhere; a control user stays.
        #[test]
        fn erasure_on_one_engine_reaches_every_engine_and_export_sees_them_all() {
            let d = <$place>::deploy(3, plain);
            d.at(0).run(|t| {
                block_on(t.identify("anon-c9", "carol-91")).unwrap();
                track(t, event(Some("carol-91"), None, "marker-c-a1"));
                track(t, event(Some("carol-91"), None, "marker-c-a2"));
                track(t, event(None, Some("anon-c9"), "marker-c-a3"));
                track(t, event(Some("dave-control"), None, "marker-d-a"));
            });
            d.at(1).run(|t| {
                track(t, event(Some("carol-91"), None, "marker-c-b1"));
                track(t, event(Some("carol-91"), None, "marker-c-b2"));
                // An event of the anonymous id, on an engine that never
                // saw the link.
                track(t, event(None, Some("anon-c9"), "marker-c-b3"));
                block_on(t.prefs().set("carol-91", "appearance.theme", &json!("dark"), "api")).unwrap();
            });
            let file = d.at(2).run(|t| {
                let f = block_on(t.privacy().export("carol-91", ExportFormat::Json, None, &mut |_| {})).unwrap();
                String::from_utf8(f.bytes).unwrap()
            });
            let v: serde_json::Value = serde_json::from_str(&file).unwrap();
            assert_eq!(v["tables"]["events"].as_array().unwrap().len(), 6, "every engine's events: {file}");
            for m in ["marker-c-a1", "marker-c-b3", "anon-c9"] {
                assert!(file.contains(m), "{m}");
            }
            assert!(!file.contains("marker-d-a"));
            let report = d.at(2).run(|t| block_on(t.privacy().erase("carol-91", &erase_options())).unwrap());
            if let Some(rights) = &report.rights {
                assert!(rights.complete, "every engine applied it: {rights:?}");
                assert_eq!(rights.places.len(), 3);
            }
            for i in 0..3 {
                assert_eq!(d.at(i).run(|t| events_of(t, "carol-91") + events_of(t, "anon-c9")), 0);
            }
            assert_eq!(d.at(0).run(|t| events_of(t, "dave-control")), 1, "the control user stays");
            assert_eq!(
                d.traces(&["carol-91", "anon-c9", "marker-c-a1", "marker-c-b2", "marker-c-b3"]),
                Vec::<String>::new()
            );
            // An export afterwards finds nothing but the audit of it.
            let after = d.at(1).run(|t| {
                block_on(t.privacy().export("carol-91", ExportFormat::Json, None, &mut |_| {})).unwrap().counts
            });
            assert_eq!(after.get("events").copied().unwrap_or(0), 0);
        }

        /// Finding 2: anonymisation reaches the shared store.
        #[test]
        fn anonymisation_reaches_the_shared_store() {
            let d = <$place>::deploy(2, plain);
            let token = d.at(0).run(|t| {
                let client = ClientContext { ip: Some("198.51.100.77"), user_agent: Some(session_suite::CHROME) };
                let s = block_on(t.sessions().create(CreateOptions { user_id: Some("victor-77"), client, ..Default::default() })).unwrap();
                block_on(t.prefs().set("victor-77", "appearance.theme", &json!("dark"), "api")).unwrap();
                block_on(t.privacy().grant("victor-77", &grant(&["analytics"]))).unwrap();
                let st = track(t, event(Some("victor-77"), None, "marker-v"));
                eprintln!("DEBUG tracked {st:?} events={}", events_of(t, "victor-77"));
                s.token
            });
            let report = d.at(1).run(|t| {
                let o = AnonymizeOptions { wait_ms: Some(10_000), ..Default::default() };
                block_on(t.privacy().anonymize("victor-77", &o)).unwrap()
            });
            assert!(report.rights.as_ref().is_none_or(|r| r.complete), "{report:?}");
            d.at(0).run(move |t| {
                assert!(block_on(t.sessions().validate(&token, &session_suite::NONE)).unwrap().is_none());
                assert!(block_on(t.prefs().get("victor-77", "appearance.theme")).unwrap().is_default);
                assert!(!block_on(t.privacy().status("victor-77")).unwrap().decided);
                let subject = t.shared().map(|_| "victor-77");
                assert!(block_on(t.privacy().verify_ledger(subject, None)).unwrap().ok);
                // The events stay, under a pseudonym.
                let all: Vec<(Option<String>, Option<String>)> = t.store().conn().prepare("SELECT user_id, anonymous_id FROM events").unwrap().query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap().map(|r| r.unwrap()).collect();
                eprintln!("DEBUG after {all:?} audit={:?}", t.privacy().audit(&Default::default()).unwrap().iter().map(|e| (e.action.clone(), e.details.to_string())).collect::<Vec<_>>());
                let n: i64 = t.store().conn().query_row("SELECT count(*) FROM events WHERE user_id LIKE 'anon-%'", [], |r| r.get(0)).unwrap();
                assert_eq!(n, 1);
            });
            assert_eq!(d.traces(&["victor-77", "198.51.100", "Firefox/121"]), Vec::<String>::new());
        }

        /// Finding 3: a rename moves what the shared store keeps, and a
        /// later erasure of the new name reaches the old one.
        #[test]
        fn rectification_moves_shared_data_and_a_later_erasure_reaches_the_old_name() {
            let d = <$place>::deploy(2, plain);
            let token = d.at(0).run(|t| {
                let s = block_on(t.sessions().create(session_suite::user("rex-old"))).unwrap();
                block_on(t.prefs().set("rex-old", "appearance.theme", &json!("dark"), "api")).unwrap();
                block_on(t.privacy().grant("rex-old", &grant(&["analytics"]))).unwrap();
                track(t, event(Some("rex-old"), None, "marker-r"));
                s.token
            });
            let report = d.at(1).run(|t| {
                let o = RectifyOptions { user_id: "rex-new".into(), wait_ms: Some(10_000), ..Default::default() };
                block_on(t.privacy().rectify("rex-old", &o)).unwrap()
            });
            assert!(report.rights.as_ref().is_none_or(|r| r.complete), "{report:?}");
            let t2 = token.clone();
            d.at(0).run(move |t| {
                assert_eq!(block_on(t.prefs().get("rex-new", "appearance.theme")).unwrap().value, json!("dark"));
                assert!(block_on(t.privacy().status("rex-new")).unwrap().purposes["analytics"].granted);
                assert_eq!(events_of(t, "rex-new"), 1);
                let s = block_on(t.sessions().validate(&t2, &session_suite::NONE)).unwrap();
                assert!(s.is_none(), "a session ends at a rename");
            });
            d.at(1).run(|t| block_on(t.privacy().erase("rex-new", &erase_options())).unwrap());
            d.at(0).run(move |t| {
                assert!(block_on(t.sessions().validate(&token, &session_suite::NONE)).unwrap().is_none());
                for id in ["rex-old", "rex-new"] {
                    assert!(block_on(t.prefs().get(id, "appearance.theme")).unwrap().is_default);
                    assert!(!block_on(t.privacy().status(id)).unwrap().decided);
                }
            });
            assert_eq!(d.traces(&["rex-old", "rex-new", "marker-r"]), Vec::<String>::new());
        }

        /// A rename does not make whoever takes the old name later part of
        /// the renamed subject: their export, erasure and consent are
        /// their own (a hostile review's finding).
        #[test]
        fn someone_who_takes_an_old_name_later_is_someone_else() {
            let d = <$place>::deploy(2, gated);
            d.at(0).run(|t| {
                block_on(t.privacy().grant("al-old", &grant(&["analytics"]))).unwrap();
                assert_eq!(track(t, event(Some("al-old"), None, "marker-al-1")), TrackStatus::Stored);
            });
            d.at(1).run(|t| {
                let o = RectifyOptions { user_id: "al-new".into(), wait_ms: Some(10_000), ..Default::default() };
                block_on(t.privacy().rectify("al-old", &o)).unwrap();
            });
            d.clock.advance(MIN);
            // Zoe signs up as "al-old": she never consented.
            d.at(0).run(|t| {
                assert!(!block_on(t.privacy().status("al-old")).unwrap().decided, "Zoe has no decision");
                assert_eq!(track(t, event(Some("al-old"), None, "marker-zoe")), TrackStatus::NoConsent);
                block_on(t.privacy().grant("al-old", &grant(&["analytics"]))).unwrap();
                assert_eq!(track(t, event(Some("al-old"), None, "marker-zoe")), TrackStatus::Stored);
            });
            let file = d.at(1).run(|t| {
                let f = block_on(t.privacy().export("al-new", ExportFormat::Json, None, &mut |_| {})).unwrap();
                String::from_utf8(f.bytes).unwrap()
            });
            assert!(file.contains("marker-al-1"), "the renamed events are the subject's");
            assert!(!file.contains("marker-zoe"), "Zoe's events are not: {file}");
            d.at(1).run(|t| block_on(t.privacy().erase("al-new", &erase_options())).unwrap());
            assert_eq!(d.traces(&["marker-al-1"]), Vec::<String>::new());
            let zoe: i64 = (0..d.procs.len()).map(|i| d.at(i).run(|t| events_of(t, "al-old"))).sum();
            assert_eq!(zoe, 1, "Zoe's event stays");
            d.at(0).run(|t| {
                assert!(block_on(t.privacy().status("al-old")).unwrap().purposes["analytics"].granted, "and her consent");
                let ledger = block_on(t.privacy().ledger(Some("al-old"), None, None)).unwrap();
                assert!(ledger.iter().any(|e| e.subject.as_deref() == Some("al-old")), "her ledger row keeps her name");
            });
        }

        /// Finding 4: a withdrawal with `erase` clears the preferences the
        /// purposes serve, wherever they are kept.
        #[test]
        fn withdrawal_with_erase_clears_the_purposes_preferences_everywhere() {
            let d = <$place>::deploy(2, plain);
            for i in 0..2 {
                d.at(i).run(|t| {
                    let def: usertrail::prefs::PrefDefinition = serde_json::from_value(json!({
                        "key": "feed.interests", "category": "feed", "type": "json", "default": [],
                        "purpose": "personalization"
                    })).unwrap();
                    t.prefs().define(&def).unwrap();
                });
            }
            d.at(0).run(|t| {
                block_on(t.privacy().grant("pia", &grant(&["personalization", "analytics"]))).unwrap();
                block_on(t.prefs().set("pia", "feed.interests", &json!(["knitting", "divorce lawyers"]), "api")).unwrap();
                block_on(t.prefs().set("pia", "appearance.theme", &json!("dark"), "api")).unwrap();
            });
            let w = d.at(1).run(|t| {
                let o = WithdrawOptions { purposes: vec!["personalization".into()], source: "settings".into(), erase: true, ..Default::default() };
                block_on(t.privacy().withdraw("pia", &o)).unwrap()
            });
            if let Some(r) = &w.rights {
                let id = r.id.clone();
                let done = d.at(1).run(move |t| block_on(t.privacy().receipt_after(&id, 10_000)).unwrap());
                assert!(done.complete);
            }
            for i in 0..2 {
                d.at(i).run(|t| {
                    assert_eq!(block_on(t.prefs().get("pia", "feed.interests")).unwrap().value, json!([]));
                    assert_eq!(block_on(t.prefs().get("pia", "appearance.theme")).unwrap().value, json!("dark"), "other purposes' preferences stay");
                });
            }
            assert_eq!(d.traces(&["knitting", "divorce lawyers"]), Vec::<String>::new());
        }

        /// Finding 5: every gate follows identify links, as on SQLite.
        #[test]
        fn gates_follow_identify_links() {
            let d = <$place>::deploy(2, gated);
            d.at(0).run(|t| {
                block_on(t.privacy().grant("anon-7", &grant(&["analytics"]))).unwrap();
                block_on(t.identify("anon-7", "alice-5")).unwrap();
                assert_eq!(track(t, event(None, Some("anon-7"), "x")), TrackStatus::Stored);
            });
            d.clock.advance(MIN);
            d.at(1).run(|t| {
                let o = WithdrawOptions { purposes: vec!["analytics".into()], source: "settings".into(), ..Default::default() };
                block_on(t.privacy().withdraw("alice-5", &o)).unwrap();
            });
            for i in 0..2 {
                assert_eq!(d.at(i).run(|t| track(t, event(None, Some("anon-7"), "y"))), TrackStatus::NoConsent);
                assert!(!d.at(i).run(|t| block_on(t.privacy().status("anon-7")).unwrap().purposes["analytics"].granted));
            }
            // The third-party outbox follows the link as well.
            d.at(0).run(|t| {
                block_on(t.privacy().grant("anon-8", &grant(&["analytics"]))).unwrap();
                block_on(t.identify("anon-8", "bea-5")).unwrap();
            });
            d.clock.advance(MIN);
            d.at(1).run(|t| {
                block_on(t.privacy().apply_global_privacy_control("bea-5", None)).unwrap();
            });
            d.at(0).run(|t| {
                // Drain what was queued before, then queue one of anon-8.
                while block_on(t.outbox_take(100)).unwrap().is_some_and(|b| !b.events.is_empty()) {}
                let mut ev = event(None, Some("anon-8"), "z");
                ev.name = "later".into();
                track(t, ev);
                let batch = block_on(t.outbox_take(100)).unwrap();
                assert!(batch.is_none_or(|b| b.events.is_empty()), "an opt-out of the linked user is withheld");
            });
        }

        /// Finding 6: erasing an anonymous visitor (the middleware's id is
        /// the session id) ends their session.
        #[test]
        fn erasing_an_anonymous_visitor_ends_their_session() {
            let d = <$place>::deploy(2, plain);
            let (token, sid) = d.at(0).run(|t| {
                let client = ClientContext { ip: Some("198.51.100.88"), user_agent: None };
                let mut data = serde_json::Map::new();
                data.insert("cart".into(), json!(["sku-secret-cart"]));
                let s = block_on(t.sessions().create(CreateOptions { client, data: Some(data), ..Default::default() })).unwrap();
                track(t, event(None, Some(&s.session.session_id), "marker-anon"));
                (s.token, s.session.session_id)
            });
            let s2 = sid.clone();
            d.at(1).run(move |t| block_on(t.privacy().erase(&s2, &erase_options())).unwrap());
            d.at(0).run(move |t| {
                assert!(block_on(t.sessions().validate(&token, &session_suite::NONE)).unwrap().is_none());
                assert_eq!(events_of(t, &sid), 0);
            });
            assert_eq!(d.traces(&["sku-secret-cart", "198.51", "marker-anon"]), Vec::<String>::new());
        }

        /// A review of the linked-id rule: "alice-62" is a user (her
        /// events, device link, consent and session on engine 1) and also
        /// the text of an anonymous id that engine 0 links to bob-62. Bob's
        /// export and erasure, on engine 0, reach bob and his device on
        /// every engine, and none of alice's own data on any.
        #[test]
        fn rights_over_a_user_leave_another_user_whose_id_is_a_linked_id() {
            let d = <$place>::deploy(2, plain);
            let alice_session = d.at(1).run(|t| {
                track(t, event(Some("alice-62"), Some("dev-of-alice-62"), "marker-alice-b"));
                block_on(t.identify("dev-of-alice-62", "alice-62")).unwrap();
                block_on(t.privacy().grant("alice-62", &grant(&["analytics"]))).unwrap();
                block_on(t.prefs().set("alice-62", "appearance.theme", &json!("dark"), "api")).unwrap();
                let s = block_on(t.sessions().create(CreateOptions { user_id: Some("alice-62"), ..Default::default() }));
                s.unwrap().token
            });
            d.at(0).run(|t| {
                track(t, event(None, Some("alice-62"), "marker-bobs-device"));
                track(t, event(Some("bob-62"), None, "marker-bob"));
                block_on(t.identify("alice-62", "bob-62")).unwrap();
                track(t, event(Some("alice-62"), None, "marker-alice-a"));
            });
            let file = d.at(0).run(|t| {
                let f = block_on(t.privacy().export("bob-62", ExportFormat::Json, None, &mut |_| {})).unwrap();
                String::from_utf8(f.bytes).unwrap()
            });
            for m in ["marker-bob", "marker-bobs-device"] {
                assert!(file.contains(m), "{m} in bob's export");
            }
            for m in ["marker-alice-a", "marker-alice-b", "dev-of-alice-62", "appearance.theme"] {
                assert!(!file.contains(m), "alice's {m} in bob's export: {file}");
            }
            d.at(0).run(|t| block_on(t.privacy().erase("bob-62", &erase_options())).unwrap());
            let alices: i64 = d.procs.iter().map(|p| p.run(|t| {
                t.store().conn().query_row("SELECT count(*) FROM events WHERE user_id = 'alice-62'", [], |r| r.get::<_, i64>(0)).unwrap()
            })).sum();
            assert_eq!(alices, 2, "alice's events on both engines stay");
            d.at(1).run(move |t| {
                let link: i64 = t.store().conn().query_row(
                    "SELECT count(*) FROM identities WHERE anonymous_id = 'dev-of-alice-62' AND user_id = 'alice-62'",
                    [], |r| r.get(0)).unwrap();
                assert_eq!(link, 1, "alice's device link stays");
                let status = block_on(t.privacy().status("alice-62")).unwrap();
                assert!(status.purposes["analytics"].granted, "alice's consent stays");
                let theme = block_on(t.prefs().get("alice-62", "appearance.theme")).unwrap();
                assert_eq!(theme.value, json!("dark"), "alice's preference stays");
                let s = block_on(t.sessions().validate(&alice_session, &session_suite::NONE)).unwrap();
                assert!(s.is_some(), "alice stays logged in");
            });
            assert_eq!(d.traces(&["bob-62", "marker-bob"]), Vec::<String>::new());
        }

        /// Finding 10: no session id of an erased user is left, in the
        /// audit log or in an export afterwards.
        #[test]
        fn no_session_id_is_left_after_erasure() {
            let d = <$place>::deploy(1, plain);
            let sid = d.at(0).run(|t| {
                let anon = block_on(t.sessions().create(CreateOptions::default())).unwrap();
                let s = block_on(t.sessions().login(&anon.token, "sid-user")).unwrap();
                block_on(t.sessions().destroy_by_session_id("sid-user", &s.session.session_id)).unwrap();
                // Before erasure, the audit shows the session id.
                let audit = t.privacy().audit(&Default::default()).unwrap();
                assert!(audit.iter().any(|e| e.details.get("sessionId").is_some()));
                assert!(t.privacy().verify_audit().unwrap().ok);
                s.session.session_id
            });
            d.at(0).run(move |t| {
                block_on(t.privacy().erase("sid-user", &erase_options())).unwrap();
                assert!(t.privacy().verify_audit().unwrap().ok, "the audit chain still verifies");
            });
            assert_eq!(d.traces(&[&sid, "sid-user"]), Vec::<String>::new());
            // An export asked afterwards has none (it is itself audited,
            // under the id it was asked for).
            let exported = d.at(0).run(move |t| {
                let f = block_on(t.privacy().export("sid-user", ExportFormat::Json, None, &mut |_| {})).unwrap();
                String::from_utf8(f.bytes).unwrap()
            });
            assert!(!exported.contains(&sid), "{exported}");
        }
    };
}

mod sqlite {
    use super::*;
    rights_suite!(Sqlite);
}

mod standalone {
    use super::*;
    rights_suite!(OnRedis<Standalone>);
}

mod cluster {
    use super::*;
    rights_suite!(OnRedis<Clustered>);
}

/// Finding 11: a consent decision reads the ledger's head, not the ledger,
/// on a standalone Redis and on a cluster.
#[test]
fn a_consent_decision_reads_the_head_not_the_ledger() {
    for transport in [
        r::RedisTransport::single(&Standalone::urls()[0]),
        r::RedisTransport::cluster(&Clustered::urls()),
    ] {
        let remote = Remote::new(transport.clone(), &r::unique_prefix()).unwrap();
        let (t, _) = open_at(T0, OpenOptions::new(Storage::Memory).shared(remote));
        let mut o = grant(&["analytics"]);
        o.text = Some("a banner".into());
        let cost = |t: &UserTrail| {
            let (trips, bytes) = (transport.trips(), transport.bytes_read());
            block_on(t.privacy().grant("lena", &o)).unwrap();
            (transport.trips() - trips, transport.bytes_read() - bytes)
        };
        cost(&t); // loads the scripts
        let first = cost(&t);
        for _ in 0..300 {
            cost(&t);
        }
        let late = cost(&t);
        assert_eq!(late.0, first.0, "the same round trips after 300 decisions");
        assert!(late.1 < 2_000, "one decision read {} bytes", late.1);
        assert!(
            block_on(t.privacy().verify_ledger(Some("lena"), None))
                .unwrap()
                .ok
        );
    }
}

/// An engine that was down when a subject was erased (its file closed,
/// or a snapshot of it taken before) holds nothing of the subject once it
/// opens and follows; receipts wait for it until then, or until retired.
#[test]
fn an_engine_that_was_down_catches_up_when_it_opens() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = r::unique_prefix();
    let clock = Arc::new(ManualClock::new(T0));
    let open = |name: &str| {
        let remote = Remote::new(Standalone::transport(), &prefix).unwrap();
        open_file(
            dir.path().to_path_buf(),
            name,
            plain().shared(remote),
            clock.clone(),
        )
    };
    let a = open("a.db");
    let b = open("b.db");
    for t in [&a, &b] {
        block_on(t.privacy().follow()).unwrap();
        track(t, event(Some("hal-9"), None, "marker-h"));
    }
    let snapshot = b.export().unwrap();
    let b_place = b.privacy().place_id().unwrap();
    b.close().unwrap();
    let no_wait = EraseOptions {
        wait_ms: None,
        ..erase_options()
    };
    let report = block_on(a.privacy().erase("hal-9", &no_wait)).unwrap();
    let receipt = report.rights.unwrap();
    assert!(!receipt.complete, "b is durable and has not applied it");
    let pending: Vec<_> = receipt
        .places
        .iter()
        .filter(|p| !p.applied)
        .map(|p| p.place.id.clone())
        .collect();
    assert_eq!(pending, std::slice::from_ref(&b_place));
    // b comes back: it catches up, and the receipt is complete.
    let b = open("b.db");
    block_on(b.privacy().follow()).unwrap();
    assert_eq!(events_of(&b, "hal-9"), 0);
    let bytes = std::fs::read(dir.path().join("b.db")).unwrap();
    assert!(!contains(&bytes, b"hal-9") && !contains(&bytes, b"marker-h"));
    assert!(block_on(a.privacy().receipt(&receipt.id)).unwrap().complete);
    // A snapshot from before the erasure, restored, catches up too.
    let restored = UserTrail::open(
        OpenOptions::new(Storage::Bytes(snapshot))
            .shared(Remote::new(Standalone::transport(), &prefix).unwrap())
            .clock(clock.clone()),
    )
    .unwrap();
    assert_eq!(events_of(&restored, "hal-9"), 1);
    block_on(restored.privacy().follow()).unwrap();
    assert_eq!(events_of(&restored, "hal-9"), 0);
    assert!(!contains(&restored.export().unwrap(), b"hal-9"));
    // A durable place gone for good is retired, and stops being waited for.
    b.close().unwrap();
    track(&a, event(Some("ivy-9"), None, "m"));
    let r2 = block_on(a.privacy().erase("ivy-9", &no_wait))
        .unwrap()
        .rights
        .unwrap();
    assert!(!r2.complete);
    block_on(restored.privacy().follow()).unwrap();
    // b closed a moment ago, so it still counts as live: refused without force.
    assert_eq!(
        code(block_on(a.privacy().retire_place(&b_place, false))),
        "INVALID_INPUT"
    );
    assert!(block_on(a.privacy().retire_place(&b_place, true)).unwrap());
    assert!(block_on(a.privacy().receipt(&r2.id)).unwrap().complete);
}

/// The rights log names subjects by hashes only; a rectification's new id
/// travels sealed, under a key the new id's erasure destroys. Bad
/// arguments are refused.
#[test]
fn the_rights_log_holds_no_id_and_refuses_bad_arguments() {
    let transport = Standalone::transport();
    let remote = Remote::new(transport, &r::unique_prefix()).unwrap();
    let prefix = remote.prefix().to_owned();
    let (t, _) = open_at(T0, plain().shared(remote));
    block_on(async {
        t.privacy().follow().await.unwrap();
        track(&t, event(Some("kim-old"), None, "m"));
        let o = RectifyOptions {
            user_id: "kim-new".into(),
            ..Default::default()
        };
        t.privacy().rectify("kim-old", &o).await.unwrap();
        let rights = format!("{prefix}:{{r}}");
        let log = r::dump(&Standalone::urls(), &rights);
        assert!(!contains(&log, b"kim-old"));
        assert!(
            !contains(&log, b"kim-new"),
            "a rename carries the new id sealed"
        );
        let report = t
            .privacy()
            .erase("kim-new", &erase_options())
            .await
            .unwrap();
        assert!(report.rights.unwrap().complete);
        let log = r::dump(&Standalone::urls(), &prefix);
        assert!(!contains(&log, b"kim-new") && !contains(&log, b"kim-old"));
        let p = t.privacy();
        assert_eq!(code(p.receipt("not an id").await), "INVALID_INPUT");
        assert_eq!(code(p.receipt("1-0").await), "NOT_FOUND");
        assert_eq!(code(p.retire_place("", false).await), "INVALID_INPUT");
        let mut o = erase_options();
        o.wait_ms = Some(60_001);
        assert_eq!(code(p.erase("x", &o).await), "INVALID_INPUT");
        assert_eq!(
            code(
                p.export_from("x", ExportFormat::Json, None, 600_001, &mut |_| {})
                    .await
            ),
            "INVALID_INPUT"
        );
        // SQL-looking ids are only names.
        let report = p.erase("x' OR '1'='1", &erase_options()).await.unwrap();
        assert_eq!(report.counts.get("events").copied().unwrap_or(0), 0);
        assert_eq!(events_of(&t, "kim-new") + events_of(&t, "kim-old"), 0);
    });
    // Without a shared store there is no log to read.
    let (alone, _) = open_at(T0, plain());
    assert_eq!(code(block_on(alone.privacy().places())), "INVALID_INPUT");
    assert_eq!(block_on(alone.privacy().follow()).unwrap().applied, 0);
}

/// Finding 8: after the operator's step (an AOF rewrite), Redis's
/// persistence holds no byte of an erased subject.
#[test]
fn the_aof_holds_nothing_of_an_erased_subject_after_the_rewrite() {
    // Uncompressed, so that a byte scan of the rewritten base means something.
    let server = r::Server::start(&["--rdbcompression", "no"]);
    let remote = Remote::new(r::RedisTransport::single(&server.url()), "aof").unwrap();
    let (t, _) = open_at(T0, plain().shared(remote));
    block_on(async {
        t.privacy().follow().await.unwrap();
        let s = t
            .sessions()
            .create(session_suite::user("olga-aof"))
            .await
            .unwrap();
        t.sessions()
            .set(&s.token, "cart", &json!("marker-aof"), None)
            .await
            .unwrap();
        t.prefs()
            .set("olga-aof", "appearance.theme", &json!("dark"), "api")
            .await
            .unwrap();
        t.privacy()
            .grant("olga-aof", &grant(&["analytics"]))
            .await
            .unwrap();
        t.identify("anon-aof", "olga-aof").await.unwrap();
        t.privacy()
            .erase("olga-aof", &erase_options())
            .await
            .unwrap();
    });
    assert!(
        contains(&server.aof_bytes(), b"olga-aof"),
        "before the rewrite the AOF has it"
    );
    server.rewrite_aof();
    let aof = server.aof_bytes();
    for needle in ["olga-aof", "anon-aof", "marker-aof"] {
        assert!(!contains(&aof, needle.as_bytes()), "{needle} in the AOF");
    }
}

/// Anonymisation cannot be undone from the store: no entry maps an id to a
/// pseudonym, and events still on their way are dropped.
#[test]
fn anonymisation_leaves_nothing_to_reverse_it() {
    let prefix = r::unique_prefix();
    let open = || {
        let remote = Remote::new(Standalone::transport(), &prefix).unwrap();
        open_at(T0, plain().shared(remote)).0
    };
    let (a, b) = (open(), open());
    block_on(async {
        for t in [&a, &b] {
            t.privacy().follow().await.unwrap();
        }
        track(&b, event(Some("cara-9"), None, "m"));
        a.privacy()
            .anonymize("cara-9", &AnonymizeOptions::default())
            .await
            .unwrap();
        b.privacy().follow().await.unwrap();
    });
    let pseudonym: String = b
        .store()
        .conn()
        .query_row("SELECT user_id FROM events", [], |r| r.get(0))
        .unwrap();
    assert!(pseudonym.starts_with("anon-"));
    let log = r::dump(&Standalone::urls(), &format!("{prefix}:{{r}}"));
    assert!(
        !contains(&log, pseudonym.as_bytes()),
        "the log maps no id to its pseudonym"
    );
    assert!(!contains(&log, b"anon-"));
}

/// A failure of the store at any step of an erasure, then a retry, leaves
/// nothing of the subject or of an id linked to it (the link is removed
/// last, so a retry still finds it).
#[test]
fn an_erasure_retried_after_a_failure_at_any_step_leaves_nothing() {
    for k in 0..40 {
        let flaky = r::Flaky::new(r::RedisTransport::single(&Standalone::urls()[0]));
        let prefix = r::unique_prefix();
        let remote = Remote::new(flaky.clone(), &prefix).unwrap();
        let (t, _) = open_at(T0, plain().shared(remote));
        block_on(async {
            t.privacy().follow().await.unwrap();
            t.privacy()
                .grant("anon-f", &grant(&["analytics"]))
                .await
                .unwrap();
            t.prefs()
                .set("anon-f", "appearance.theme", &json!("dark"), "api")
                .await
                .unwrap();
            t.identify("anon-f", "fred").await.unwrap();
            t.privacy()
                .grant("fred", &grant(&["marketing"]))
                .await
                .unwrap();
            flaky.fail_call(k);
            let first = t
                .privacy()
                .erase(
                    "fred",
                    &EraseOptions {
                        reason: "r".into(),
                        ..Default::default()
                    },
                )
                .await;
            if first.is_ok() && flaky.calls() <= k {
                return; // the erasure needed fewer calls: nothing to fail
            }
            t.privacy()
                .erase(
                    "fred",
                    &EraseOptions {
                        reason: "r".into(),
                        ..Default::default()
                    },
                )
                .await
                .unwrap();
        });
        let left = r::dump(&Standalone::urls(), &prefix);
        for needle in ["anon-f", "fred", "198.51.100"] {
            assert!(
                !contains(&left, needle.as_bytes()),
                "{needle} left after a failure at call {k}"
            );
        }
    }
}

/// A copy of a database file opened beside the original becomes a place
/// of its own, so receipts wait for both; a restart keeps its place.
#[test]
fn a_copied_database_is_a_place_of_its_own_and_a_restart_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let prefix = r::unique_prefix();
    let clock = Arc::new(ManualClock::new(T0));
    let open = |name: &str| {
        let remote = Remote::new(Standalone::transport(), &prefix).unwrap();
        open_file(
            dir.path().to_path_buf(),
            name,
            plain().shared(remote),
            clock.clone(),
        )
    };
    let a = open("a.db");
    block_on(a.privacy().follow()).unwrap();
    let id = a.privacy().place_id().unwrap();
    a.close().unwrap();
    // A restart: the same place.
    let a = open("a.db");
    block_on(a.privacy().follow()).unwrap();
    assert_eq!(a.privacy().place_id().unwrap(), id);
    a.close().unwrap();
    std::fs::copy(dir.path().join("a.db"), dir.path().join("copy.db")).unwrap();
    let a = open("a.db");
    block_on(a.privacy().follow()).unwrap();
    let copy = open("copy.db");
    // Both report; the later open finds the earlier alive and moves.
    for _ in 0..3 {
        block_on(copy.privacy().places()).unwrap();
        block_on(copy.privacy().follow()).unwrap();
        block_on(a.privacy().follow()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1));
        force_beat(&copy);
        force_beat(&a);
    }
    assert_eq!(
        a.privacy().place_id().unwrap(),
        id,
        "the original keeps its id"
    );
    assert_ne!(
        copy.privacy().place_id().unwrap(),
        id,
        "the copy takes a new one"
    );
    let places = block_on(a.privacy().places()).unwrap();
    assert_eq!(places.len(), 2, "{places:?}");
}

/// Makes an engine report to the places now (as its timer would after 10 s).
fn force_beat(t: &UserTrail) {
    // A follow that applies an entry reports; an erasure of nobody is one.
    block_on(t.privacy().erase(
        "nobody-at-all",
        &EraseOptions {
            reason: "beat".into(),
            ..Default::default()
        },
    ))
    .unwrap();
}

/// Entries are checked before they are applied: a kind this build does
/// not know stops the follow there (not passed over); fields a newer
/// version adds are ignored; with a chain key, an entry without a good
/// signature (written by someone with access to the store but not the
/// key) is refused; a damaged place record is left out, not fatal.
#[test]
fn forged_unknown_and_damaged_entries() {
    let urls = Standalone::urls();
    // Without a chain key: unknown kinds stop, extra fields are ignored.
    let prefix = r::unique_prefix();
    let remote = Remote::new(Standalone::transport(), &prefix).unwrap();
    let (t, _) = open_at(T0, plain().shared(remote));
    let log = format!("{prefix}:{{r}}:log");
    let mut c = r::node_for(&urls, &log);
    block_on(t.privacy().follow()).unwrap();
    let salt: String = ::redis::cmd("GET")
        .arg(format!("{prefix}:{{g}}:salt"))
        .query(&mut c)
        .unwrap();
    let h = usertrail::store::subject_hash::hash(&salt, "ed-1");
    track(&t, event(Some("ed-1"), None, "m"));
    let data = format!(r#"{{"h":["{h}"],"at":1,"by":"x","addedLater":true}}"#);
    let _: String = ::redis::cmd("XADD")
        .arg(&log)
        .arg("*")
        .arg("k")
        .arg("erase")
        .arg("d")
        .arg(&data)
        .arg("s")
        .arg("")
        .query(&mut c)
        .unwrap();
    assert_eq!(block_on(t.privacy().follow()).unwrap().applied, 1);
    assert_eq!(
        events_of(&t, "ed-1"),
        0,
        "an entry with a field added later is applied"
    );
    let _: String = ::redis::cmd("XADD")
        .arg(&log)
        .arg("*")
        .arg("k")
        .arg("erase-everything")
        .arg("d")
        .arg("{}")
        .query(&mut c)
        .unwrap();
    let before = block_on(t.privacy().follow());
    assert_eq!(
        code(before),
        "STORAGE_ERROR",
        "an unknown kind stops the follow"
    );
    assert_eq!(
        code(block_on(t.privacy().follow())),
        "STORAGE_ERROR",
        "and is not passed over"
    );
    // A damaged place record is left out.
    let _: () = ::redis::cmd("HSET")
        .arg(format!("{prefix}:{{r}}:places"))
        .arg("deadbeef")
        .arg("garbage")
        .query(&mut c)
        .unwrap();
    assert!(block_on(t.privacy().places()).is_ok());

    // With a chain key: a forged entry is refused, a signed one applied.
    let prefix = r::unique_prefix();
    let keyed = || {
        let mut o = plain().shared(Remote::new(Standalone::transport(), &prefix).unwrap());
        o.privacy.chain_key = Some(usertrail::kernel::bytes::Bytes(vec![7u8; 32]));
        o
    };
    let (a, _) = open_at(T0, keyed());
    let (b, _) = open_at(T0, keyed());
    block_on(a.privacy().follow()).unwrap();
    block_on(b.privacy().follow()).unwrap();
    track(&b, event(Some("erin-2"), None, "m"));
    let log = format!("{prefix}:{{r}}:log");
    let salt: String = ::redis::cmd("GET")
        .arg(format!("{prefix}:{{g}}:salt"))
        .query(&mut c)
        .unwrap();
    let h = usertrail::store::subject_hash::hash(&salt, "erin-2");
    let data = format!(r#"{{"h":["{h}"],"at":1,"by":"x"}}"#);
    let _: String = ::redis::cmd("XADD")
        .arg(&log)
        .arg("*")
        .arg("k")
        .arg("erase")
        .arg("d")
        .arg(&data)
        .arg("s")
        .arg("forged")
        .query(&mut c)
        .unwrap();
    let followed = block_on(b.privacy().follow()).unwrap();
    assert_eq!(followed.refused, 1);
    assert_eq!(
        events_of(&b, "erin-2"),
        1,
        "a forged erasure erases nothing"
    );
    block_on(a.privacy().erase("erin-2", &erase_options())).unwrap();
    block_on(b.privacy().follow()).unwrap();
    assert_eq!(events_of(&b, "erin-2"), 0, "a signed one does");
}

/// An export reply that comes after the asker stopped waiting is dropped,
/// not left in the store.
#[test]
fn a_late_export_reply_is_not_left_in_the_store() {
    let prefix = r::unique_prefix();
    let clock = Arc::new(ManualClock::new(T0));
    let (p, c) = (prefix.clone(), clock.clone());
    let b = Proc::spawn(
        move || {
            let remote = Remote::new(Standalone::transport(), &p).unwrap();
            UserTrail::open(plain().shared(remote).clock(c)).unwrap()
        },
        true,
    );
    b.run(|t| {
        track(t, event(Some("lou-3"), None, "marker-late"));
    });
    let a = UserTrail::open(
        plain()
            .shared(Remote::new(Standalone::transport(), &prefix).unwrap())
            .clock(clock),
    )
    .unwrap();
    block_on(a.privacy().follow()).unwrap();
    // b is busy for 600 ms from the moment it says so; a asks only then,
    // and waits 150.
    let (started, busy_now) = std::sync::mpsc::channel();
    let busy = std::thread::spawn(move || {
        b.run(move |_| {
            started.send(()).unwrap();
            std::thread::sleep(std::time::Duration::from_millis(600));
        });
        std::thread::sleep(std::time::Duration::from_millis(300)); // b follows and answers
        b
    });
    busy_now.recv().unwrap();
    let file =
        block_on(
            a.privacy()
                .export_from("lou-3", ExportFormat::Json, None, 150, &mut |_| {}),
        )
        .unwrap();
    let text = String::from_utf8(file.bytes).unwrap();
    assert!(
        !text.contains("marker-late") && text.contains(r#""included":false"#),
        "{text}"
    );
    let _b = busy.join().unwrap();
    let left = r::dump(&Standalone::urls(), &prefix);
    assert!(
        !contains(&left, b"marker-late"),
        "the late reply was left in Redis"
    );
}
